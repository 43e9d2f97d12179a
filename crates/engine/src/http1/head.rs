//! The response head of a plain-HTTP check: parsed with `httparse` (the parser
//! hyper uses), kept to what the classifier needs, and how the body that follows
//! is delimited.
//!
//! [`parse`] is called on a buffer that grows as bytes arrive: it answers
//! `Ok(None)` until the head is complete, and the same [`Head`] for every longer
//! buffer after that. [`has_blank_line`] is the cheap test a reader uses to
//! decide when parsing again is worth it.

/// Header a Coder server (primary or proxy) sets on every response; a [`Head`]
/// keeps its value.
pub const BUILD_VERSION_HEADER: &str = "X-Coder-Build-Version";
/// Most header lines a response head may carry (hyper's default, too).
pub const MAX_HEADERS: usize = 100;
/// Most bytes a response head may take; a proxy that sends more is not answering.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the body after a head ends (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: a 1xx, 204 or 304 answer.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the proxy closes the connection.
    UntilClose,
}

/// What the checker keeps of a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// `Content-Type`, when sent.
    pub content_type: Option<String>,
    /// `X-Coder-Build-Version`, when sent.
    pub build_version: Option<String>,
    /// `Location`, when sent (whatever the status: the checker itself keeps it
    /// only for a 3xx answer).
    pub location: Option<String>,
    /// How the body ends.
    pub framing: Framing,
    /// Length of the head in bytes, blank line included.
    pub len: usize,
}

/// Why a response head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not HTTP/1.x, or a malformed line.
    #[error("invalid HTTP response: {0}")]
    Invalid(httparse::Error),
    /// `Content-Length` values that are not one number.
    #[error("invalid content-length parsed: {0:?}")]
    ContentLength(String),
    /// More than [`MAX_HEAD_BYTES`] without the end of the head.
    #[error("the response head is larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete.
///
/// A complete head's [`Head::len`] is at most `buf.len()`; the bytes after it
/// are the start of the body. [`HeadError::TooLarge`] comes only once `buf`
/// holds more than [`MAX_HEAD_BYTES`] without the head's end.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Err(err) => return Err(HeadError::Invalid(err)),
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        // Refused however it arrived: in one read or in many.
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Complete(len)) => len,
    };
    let status = response.code.unwrap_or_default();
    let first = |name: &str| {
        response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| String::from_utf8_lossy(header.value).into_owned())
    };
    let head = Head {
        status,
        content_type: first("content-type"),
        build_version: first(BUILD_VERSION_HEADER),
        location: first("location"),
        framing: framing(status, response.headers)?,
        len,
    };
    Ok(Some(head))
}

/// Whether `buf` holds a blank line at or after `from`: the cheap test for
/// "the head may be complete now", so a proxy trickling its head byte by byte
/// costs one scan of each byte rather than a parse per read.
pub fn has_blank_line(buf: &[u8], from: usize) -> bool {
    let start = from.saturating_sub(3);
    buf.get(start..).is_some_and(|tail| {
        tail.windows(2).any(|pair| pair == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
    })
}

fn framing(status: u16, headers: &[httparse::Header<'_>]) -> Result<Framing, HeadError> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
    };
    if let Some(last) = named("transfer-encoding").next_back() {
        let last_coding = last.value.rsplit(|&b| b == b',').next().unwrap_or_default();
        return Ok(
            if last_coding.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked
            } else {
                Framing::UntilClose
            },
        );
    }
    let mut length = None;
    for header in named("content-length") {
        for value in header.value.split(|&b| b == b',') {
            let text = String::from_utf8_lossy(value.trim_ascii());
            let parsed = text
                .parse::<u64>()
                .ok()
                .filter(|_| !text.starts_with('+'))
                .ok_or_else(|| HeadError::ContentLength(text.clone().into_owned()))?;
            if length.is_some_and(|seen| seen != parsed) {
                return Err(HeadError::ContentLength(
                    String::from_utf8_lossy(header.value).into_owned(),
                ));
            }
            length = Some(parsed);
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse(text.as_bytes()) {
            Ok(Some(head)) => head,
            other => panic!("{text:?} did not parse: {other:?}"),
        }
    }

    #[test]
    fn a_json_answer_keeps_its_type_version_and_length() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-coder-build-version: v2.1\r\nContent-Length: 13\r\n\r\n{\"errors\":[]}";
        let parsed = head(text);
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.content_type.as_deref(), Some("application/json"));
        assert_eq!(parsed.build_version.as_deref(), Some("v2.1"));
        assert_eq!(parsed.framing, Framing::Length(13));
        assert_eq!(parsed.len, text.len() - 13);
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Ty"), Ok(None));
    }

    #[test]
    fn garbage_is_invalid() {
        let err = parse(b"\x00\x01 not http\r\n\r\n").expect_err("garbage must not parse");
        assert_eq!(
            err.to_string(),
            "invalid HTTP response: invalid HTTP version"
        );
    }

    #[test]
    fn an_endless_head_is_too_large() {
        let mut text = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
        text.resize(MAX_HEAD_BYTES + 1, b'a');
        assert_eq!(parse(&text), Err(HeadError::TooLarge));
    }

    #[test]
    fn a_head_over_the_limit_is_too_large_even_when_complete() {
        let mut text = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
        text.resize(MAX_HEAD_BYTES, b'a');
        text.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&text), Err(HeadError::TooLarge));
        let fits = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let mut with_body = fits.clone();
        with_body.resize(MAX_HEAD_BYTES + 1, b'a');
        assert_eq!(
            parse(&with_body).map(|head| head.map(|h| h.len)),
            Ok(Some(fits.len()))
        );
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let parsed = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
        );
        assert_eq!(parsed.framing, Framing::Chunked);
    }

    #[test]
    fn another_transfer_coding_reads_until_close() {
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").framing,
            Framing::UntilClose
        );
    }

    #[test]
    fn no_length_reads_until_close() {
        assert_eq!(head("HTTP/1.1 200 OK\r\n\r\n").framing, Framing::UntilClose);
    }

    #[test]
    fn no_content_and_not_modified_have_no_body() {
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n").framing,
            Framing::Empty
        );
        assert_eq!(
            head("HTTP/1.1 304 Not Modified\r\n\r\n").framing,
            Framing::Empty
        );
    }

    #[test]
    fn repeated_equal_lengths_are_one_length() {
        let parsed = head("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\ncontent-length: 7\r\n\r\n");
        assert_eq!(parsed.framing, Framing::Length(7));
    }

    #[test]
    fn conflicting_lengths_are_refused() {
        let err = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n")
            .expect_err("two lengths must not parse");
        assert_eq!(err.to_string(), "invalid content-length parsed: \"8\"");
    }

    #[test]
    fn a_signed_or_wordy_length_is_refused() {
        for bad in ["+5", "-5", "five", ""] {
            let text = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(
                parse(text.as_bytes()),
                Err(HeadError::ContentLength(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn location_is_kept_whatever_the_status() {
        // The checker keeps it for 3xx answers only: see `probe`'s tests.
        let redirect =
            head("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(redirect.location.as_deref(), Some("/elsewhere"));
        let ok = head("HTTP/1.1 200 OK\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(ok.location.as_deref(), Some("/elsewhere"));
    }

    #[test]
    fn a_blank_line_is_found_across_reads() {
        let text = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
        assert!(has_blank_line(text, text.len() - 1));
        assert!(!has_blank_line(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0));
        assert!(has_blank_line(b"HTTP/1.1 200 OK\n\n", 16));
    }
}
