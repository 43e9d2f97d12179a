//! Integration tests of the engine against real HTTP servers on 127.0.0.1:0.
#![allow(missing_docs, clippy::unwrap_used)]

mod background_rechecks;
mod classification;
mod connecting;
mod defects;
mod framing;
mod helpers;
mod history;
mod host_names;
mod hostile;
mod loop_and_cache;
mod metrics;
mod seed;
mod shared_view;
mod source_address;
mod starting;
mod stores;
mod streaming;
mod tls_failures;
mod tls_trust;
mod userinfo;
