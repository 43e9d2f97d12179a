//! `proxyhealth demo`: the work is in [`crate::demo`].

pub use crate::demo::run;
