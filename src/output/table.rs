//! A table of proxies, one line each, with their errors and warnings printed
//! under their line.
//!
//! comfy-table lays out the columns; the notes are put between its lines
//! afterwards, so a long error never widens the table.

use super::style::{Colour, paint, sanitize};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

/// What a note under a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// An error (red).
    Error,
    /// A warning (yellow).
    Warning,
}

/// One line of the table, and the notes printed under it.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// The cells, as plain text (control characters are escaped when rendered).
    pub cells: Vec<String>,
    /// An optional colour for each cell.
    pub colours: Vec<Option<Colour>>,
    /// Errors and warnings, printed under the row in this order.
    pub notes: Vec<(NoteKind, String)>,
}

impl Row {
    /// A row without colours or notes.
    pub fn new(cells: Vec<String>) -> Self {
        Row {
            colours: vec![None; cells.len()],
            cells,
            notes: Vec::new(),
        }
    }

    /// Colours one cell.
    pub fn colour(mut self, index: usize, colour: Colour) -> Self {
        if let Some(slot) = self.colours.get_mut(index) {
            *slot = Some(colour);
        }
        self
    }

    /// Adds the errors, then the warnings, as notes.
    pub fn notes(mut self, errors: &[String], warnings: &[String]) -> Self {
        self.notes
            .extend(errors.iter().map(|e| (NoteKind::Error, e.clone())));
        self.notes
            .extend(warnings.iter().map(|w| (NoteKind::Warning, w.clone())));
        self
    }
}

fn comfy_colour(colour: Colour) -> Color {
    match colour {
        Colour::Red => Color::Red,
        Colour::Yellow => Color::Yellow,
        Colour::Green => Color::Green,
        Colour::Grey => Color::DarkGrey,
    }
}

/// Renders the table; colours are written only when `colour` is set (stdout is a
/// terminal). The result ends with a newline.
pub fn render(headers: &[&str], rows: &[Row], colour: bool) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if colour {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header(headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row.cells.iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(sanitize(text, false));
            match row.colours.get(i).copied().flatten() {
                Some(c) if colour => cell.fg(comfy_colour(c)),
                _ => cell,
            }
        }));
    }
    let laid_out: Vec<String> = table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .filter(|line| !line.trim().is_empty())
        .collect();
    // The preset's invisible left border and padding indent every line alike.
    let margin = laid_out
        .iter()
        .map(|line| line.len() - line.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    let mut lines = laid_out
        .into_iter()
        .map(|line| line.get(margin..).unwrap_or_default().to_owned());
    let mut out = String::new();
    if let Some(header) = lines.next() {
        out.push_str(&header);
        out.push('\n');
    }
    for row in rows {
        if let Some(line) = lines.next() {
            out.push_str(&line);
            out.push('\n');
        }
        for (kind, text) in &row.notes {
            out.push_str(&note(*kind, text, colour));
        }
    }
    out
}

/// One note: `    error: first line`, further lines indented under the first.
fn note(kind: NoteKind, text: &str, colour: bool) -> String {
    let (label, tint) = match kind {
        NoteKind::Error => ("error: ", Colour::Red),
        NoteKind::Warning => ("warning: ", Colour::Yellow),
    };
    let indent = " ".repeat(4 + label.len());
    let clean = sanitize(text, true);
    let mut out = String::new();
    for (i, line) in clean.lines().enumerate() {
        if i == 0 {
            out.push_str("    ");
            out.push_str(&paint(label, tint, colour));
        } else {
            out.push_str(&indent);
        }
        out.push_str(&paint(line, tint, colour));
        out.push('\n');
    }
    if clean.is_empty() {
        out.push_str("    ");
        out.push_str(&paint(label.trim_end(), tint, colour));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_go_under_their_row_with_later_lines_indented() {
        let rows = vec![
            Row::new(vec!["eu".into(), "http://eu".into(), "unhealthy".into()])
                .notes(&["first\nsecond".into()], &["careful".into()]),
            Row::new(vec!["us".into(), "http://us".into(), "ok".into()]),
        ];
        let text = render(&["name", "url", "status"], &rows, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].starts_with("NAME"), "{text}");
        assert!(
            lines[1].contains("eu") && lines[1].contains("unhealthy"),
            "{text}"
        );
        assert_eq!(lines[2], "    error: first");
        assert_eq!(lines[3], "           second");
        assert_eq!(lines[4], "    warning: careful");
        assert!(lines[5].contains("us"), "{text}");
    }

    #[test]
    fn columns_line_up() {
        let rows = vec![
            Row::new(vec!["a".into(), "x".into()]),
            Row::new(vec!["longer".into(), "y".into()]),
        ];
        let text = render(&["name", "url"], &rows, false);
        let columns: Vec<usize> = text
            .lines()
            .filter_map(|l| l.find("URL").or_else(|| l.find(['x', 'y'])))
            .collect();
        assert_eq!(columns.len(), 3, "{text}");
        assert!(columns.windows(2).all(|w| w[0] == w[1]), "{text}");
    }
}
