//! The two parsers of untrusted bytes on the plain-HTTP path, public so that
//! `fuzz/` can reach them: the response head ([`head`]) and chunked body
//! decoding ([`chunked`]).
//!
//! Both are pure: they read byte slices a caller already holds and do no I/O,
//! keep no state between calls beyond what they return, and never panic on any
//! input (the fuzz targets `response_head` and `chunked` hold them to that).
//! The transport that drives them over a socket is private to the engine.

pub mod chunked;
pub mod head;
