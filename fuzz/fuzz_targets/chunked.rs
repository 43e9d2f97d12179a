//! Fuzzes the chunked body decoder with arbitrary bytes: it must never panic,
//! never use more bytes than it was offered nor write more than it used, and
//! decoding a stream in one piece must give the same body, the same end and the
//! same error as decoding it split at any point (the way the reader offers the
//! bytes: what was not used is offered again with the next bytes after it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxyhealth_engine::http1::chunked::{ChunkedDecoder, ChunkedError};

/// The body, whether the last chunk arrived, and the error if the stream broke.
type Decoded = (Vec<u8>, bool, Option<ChunkedError>);

/// Offers `pieces` in turn as the reader does.
fn decode(pieces: &[&[u8]]) -> Decoded {
    let mut decoder = ChunkedDecoder::new();
    let mut pending = Vec::new();
    let mut body = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        let before = body.len();
        match decoder.decode(&pending, &mut body) {
            Ok(used) => {
                assert!(used <= pending.len(), "used more than offered");
                assert!(body.len() - before <= used, "wrote more than it used");
                pending.drain(..used);
            }
            Err(err) => return (body, decoder.is_done(), Some(err)),
        }
    }
    if decoder.is_done() {
        assert_eq!(decoder.decode(b"more", &mut body), Ok(0), "nothing is used after the end");
    }
    (body, decoder.is_done(), None)
}

fuzz_target!(|data: &[u8]| {
    let Some((split, input)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)) % (input.len() + 1);
    let whole = decode(&[input]);
    let (first, second) = input.split_at(split);
    let pieces = decode(&[first, second]);
    assert_eq!(whole, pieces, "split at {split}");
    let bytes = decode(&input.chunks(1).collect::<Vec<_>>());
    assert_eq!(whole, bytes, "split at every byte");
});
