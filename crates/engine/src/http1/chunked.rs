//! Decoding a `Transfer-Encoding: chunked` body as it arrives, in pieces of any size.
//!
//! The caller keeps the bytes it has not yet handed over: [`ChunkedDecoder::decode`]
//! says how many of the offered bytes it used, and the rest (an incomplete size
//! line or terminator) is offered again with more bytes after it. Decoding a
//! stream in one piece or split anywhere gives the same body.

/// Longest chunk-size line (size, extensions, CRLF) accepted.
pub const MAX_SIZE_LINE: usize = 4096;

/// Where the decoder is in the chunk stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, with this many bytes still to come.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// The last chunk arrived; trailers, if any, are not needed.
    Done,
}

/// A broken chunk stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A size line that is not hexadecimal, too long, or overflows.
    #[error("invalid chunk size line")]
    Size,
    /// A chunk's data not followed by CRLF.
    #[error("invalid chunk terminator: expected CRLF after the chunk data")]
    Terminator,
}

/// Turns chunked bytes into body bytes.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        ChunkedDecoder { state: State::Size }
    }

    /// Whether the last chunk has arrived.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what it can of `input` into `out`; returns how many bytes of
    /// `input` it used (the rest is an incomplete line, to be offered again with
    /// more bytes after it). The bytes used are never more than `input.len()`,
    /// and once the last chunk has arrived nothing more is used.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkedError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Done => return Ok(used),
                State::Size => match httparse::parse_chunk_size(rest) {
                    Err(_) => return Err(ChunkedError::Size),
                    Ok(httparse::Status::Partial) if rest.len() > MAX_SIZE_LINE => {
                        return Err(ChunkedError::Size);
                    }
                    Ok(httparse::Status::Partial) => return Ok(used),
                    // Refused however it arrived: in one read or in many.
                    Ok(httparse::Status::Complete((line, _))) if line > MAX_SIZE_LINE => {
                        return Err(ChunkedError::Size);
                    }
                    Ok(httparse::Status::Complete((line, 0))) => {
                        used += line;
                        self.state = State::Done;
                    }
                    Ok(httparse::Status::Complete((line, size))) => {
                        used += line;
                        self.state = State::Data(size);
                    }
                },
                State::Data(remaining) => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    out.extend_from_slice(&rest[..take]);
                    used += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|&b| b != b'\r') {
                            return Err(ChunkedError::Terminator);
                        }
                        return Ok(used);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ChunkedError::Terminator);
                    }
                    used += 2;
                    self.state = State::Size;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> (Vec<u8>, bool) {
        let mut decoder = ChunkedDecoder::new();
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for bytes in input.chunks(piece) {
            pending.extend_from_slice(bytes);
            let used = decoder.decode(&pending, &mut out).expect("valid stream");
            pending.drain(..used);
        }
        (out, decoder.is_done())
    }

    #[test]
    fn a_whole_stream_decodes_at_once() {
        let (out, done) = decode_in_pieces(b"4\r\nRust\r\n6\r\n rules\r\n0\r\n\r\n", 1024);
        assert_eq!(out, b"Rust rules");
        assert!(done);
    }

    #[test]
    fn a_stream_split_at_every_byte_decodes_the_same() {
        let (out, done) = decode_in_pieces(b"4;ext=1\r\nRust\r\n6\r\n rules\r\n0\r\n\r\n", 1);
        assert_eq!(out, b"Rust rules");
        assert!(done);
    }

    #[test]
    fn a_stream_without_its_last_chunk_is_not_done() {
        let (out, done) = decode_in_pieces(b"4\r\nRust\r\n", 3);
        assert_eq!(out, b"Rust");
        assert!(!done);
    }

    #[test]
    fn a_size_that_is_not_hex_is_refused() {
        let err = ChunkedDecoder::new().decode(b"zz\r\n", &mut Vec::new());
        assert_eq!(err, Err(ChunkedError::Size));
    }

    #[test]
    fn an_endless_size_line_is_refused() {
        let line = format!("4;{}", "x".repeat(MAX_SIZE_LINE + 1));
        let err = ChunkedDecoder::new().decode(line.as_bytes(), &mut Vec::new());
        assert_eq!(err, Err(ChunkedError::Size));
    }

    #[test]
    fn an_overlong_size_line_is_refused_even_when_complete() {
        let line = format!("4;{}\r\nRust\r\n0\r\n\r\n", "x".repeat(MAX_SIZE_LINE));
        let err = ChunkedDecoder::new().decode(line.as_bytes(), &mut Vec::new());
        assert_eq!(err, Err(ChunkedError::Size));
    }

    #[test]
    fn data_longer_than_its_size_is_refused() {
        let err = ChunkedDecoder::new().decode(b"2\r\nRust\r\n", &mut Vec::new());
        assert_eq!(err, Err(ChunkedError::Terminator));
    }
}
