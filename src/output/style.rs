//! Colours, and making text that proxies supplied safe to print on a terminal.

use proxyhealth_core::Status;

/// ANSI colours used on terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Errors and failing statuses.
    Red,
    /// Warnings and in-between statuses.
    Yellow,
    /// `ok`.
    Green,
    /// Statuses that are neither good nor bad yet.
    Grey,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Red => "31",
            Colour::Yellow => "33",
            Colour::Green => "32",
            Colour::Grey => "90",
        }
    }
}

/// Wraps `text` in the colour's escape codes when `enabled`; returns it unchanged otherwise.
pub fn paint(text: &str, colour: Colour, enabled: bool) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", colour.code())
    } else {
        text.to_owned()
    }
}

/// The colour a status is shown in.
pub fn status_colour(status: Status) -> Colour {
    match status {
        Status::Ok => Colour::Green,
        Status::Unhealthy | Status::Unreachable => Colour::Red,
        Status::Unregistered => Colour::Yellow,
        Status::Unknown => Colour::Grey,
    }
}

/// The colour for a status given as text (from the API); unknown text is grey.
pub fn status_text_colour(status: &str) -> Colour {
    status
        .parse::<Status>()
        .map(status_colour)
        .unwrap_or(Colour::Grey)
}

/// Replaces control characters (escape sequences a proxy could use to rewrite
/// the operator's terminal) with `\u{..}` escapes. Newlines and tabs are kept
/// when `keep_newlines`, so multi-line messages stay readable; a carriage
/// return then ends a line too (`\r\n` and a lone `\r` become `\n`, as an
/// HTTP error page's lines are), rather than showing as an escape.
pub fn sanitize(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if keep_newlines && c == '\r' {
            if chars.peek() != Some(&'\n') {
                out.push('\n');
            }
            continue;
        }
        let allowed = keep_newlines && (c == '\n' || c == '\t');
        if c.is_control() && !allowed {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_from_a_proxy_are_made_visible() {
        assert_eq!(sanitize("bad\x1b[2Jthing", true), "bad\\u{1b}[2Jthing");
        assert_eq!(sanitize("a\nb\tc", true), "a\nb\tc");
        assert_eq!(sanitize("a\nb", false), "a\\u{a}b");
    }

    #[test]
    fn carriage_returns_end_lines_in_multi_line_text() {
        assert_eq!(sanitize("a\r\nb\rc\n", true), "a\nb\nc\n");
        assert_eq!(sanitize("a\r\nb", false), "a\\u{d}\\u{a}b");
    }

    #[test]
    fn colours_are_only_written_when_enabled() {
        assert_eq!(paint("ok", Colour::Green, false), "ok");
        assert_eq!(paint("ok", Colour::Green, true), "\x1b[32mok\x1b[0m");
    }
}
