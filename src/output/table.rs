//! A table of proxies, one line each, with their errors and warnings printed
//! under their line.
//!
//! Columns are left-aligned, two spaces apart, as wide as their widest cell
//! (in terminal columns); the notes go between the lines, so a long error
//! never widens the table. The table is written as it is laid out, a row at a
//! time: a check of 100,000 proxies never holds its table as text or cells.

use super::style::{Colour, paint, sanitize};
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

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

/// Renders the table; colours are written only when `colour` is set (stdout is a
/// terminal). The result ends with a newline.
pub fn render(headers: &[&str], rows: &[Row], colour: bool) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_table(&mut out, headers, || rows.iter().cloned(), colour);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes the table to `out` as [`render`] lays it out. `rows` is called
/// twice, once to measure the columns and once to write the lines, so the
/// caller can make each row as it is needed instead of holding them all.
pub fn write_table<W, I>(
    out: &mut W,
    headers: &[&str],
    rows: impl Fn() -> I,
    colour: bool,
) -> io::Result<()>
where
    W: Write,
    I: Iterator<Item = Row>,
{
    let headers: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows() {
        for (i, cell) in row.cells.iter().enumerate() {
            let width = sanitize(cell, false).width();
            match widths.get_mut(i) {
                Some(widest) => *widest = (*widest).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut line = String::new();
    let plain = vec![None; headers.len()];
    write_line(out, &mut line, &widths, &headers, &plain, colour)?;
    for row in rows() {
        write_line(out, &mut line, &widths, &row.cells, &row.colours, colour)?;
        for (kind, text) in &row.notes {
            out.write_all(note(*kind, text, colour).as_bytes())?;
        }
    }
    Ok(())
}

/// One line: each cell (escaped, painted when `colour`) padded to its
/// column's width, two spaces between columns, no trailing spaces.
fn write_line<W: Write>(
    out: &mut W,
    line: &mut String,
    widths: &[usize],
    cells: &[String],
    colours: &[Option<Colour>],
    colour: bool,
) -> io::Result<()> {
    line.clear();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let text = sanitize(cell, false);
        match colours.get(i).copied().flatten() {
            Some(tint) if colour => line.push_str(&paint(&text, tint, true)),
            _ => line.push_str(&text),
        }
        let width = widths.get(i).copied().unwrap_or(0);
        line.extend(std::iter::repeat_n(' ', width.saturating_sub(text.width())));
    }
    out.write_all(line.trim_end().as_bytes())?;
    out.write_all(b"\n")
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
