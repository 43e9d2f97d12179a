//! Fuzzes the response head parser with arbitrary bytes: it must never panic; a
//! complete head lies within the input and ends with a blank line (which the
//! reader's cheap test finds); and the parser answers the same for a buffer
//! that grew in pieces as for the whole: "incomplete" before the head's end, the
//! same head from there on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxyhealth_engine::http1::head::{HeadError, MAX_HEAD_BYTES, has_blank_line, parse};

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose where a reader's buffer stood before its last read.
    let Some((split, input)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)) % (input.len() + 1);
    let whole = parse(input);
    match &whole {
        Ok(Some(head)) => {
            assert!(head.len > 0 && head.len <= input.len());
            assert!(
                has_blank_line(&input[..head.len], head.len - 1),
                "a complete head must end with a blank line the reader can see"
            );
            let at_split = parse(&input[..split]);
            if split < head.len {
                assert_eq!(at_split, Ok(None), "a prefix of the head is incomplete");
            } else {
                assert_eq!(at_split.as_ref(), Ok(&Some(head.clone())));
            }
        }
        Ok(None) => {
            assert!(input.len() <= MAX_HEAD_BYTES);
            assert_eq!(parse(&input[..split]), Ok(None));
        }
        Err(HeadError::TooLarge) => assert!(input.len() > MAX_HEAD_BYTES),
        Err(_) => {}
    }
});
