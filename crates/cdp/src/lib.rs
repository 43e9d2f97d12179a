//! A headless Chromium driven over the Chrome DevTools Protocol, for the
//! dashboard's browser tests (`tests/browser`) and its bench row
//! (`proxyhealth-bench`): both drive the real page the same way.
//!
//! # Layout
//! - [`chromium`]: finding a Chromium, starting it headless on a fresh
//!   profile, and refusing to go on without one (a failure with `CI=true`).
//! - [`cdp`]: [`Cdp`], the protocol client over one websocket, and [`Page`],
//!   one attached page (navigate, evaluate, screenshot).

pub mod cdp;
pub mod chromium;

pub use cdp::{Cdp, Page};
pub use chromium::Chromium;
