//! `proxyhealth agent`: the agent of a vantage (see [`crate::agent`]).

pub use crate::agent::run;
