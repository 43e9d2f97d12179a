//! Waiting in a test for something that happens on its own time (a sweep, a
//! delivery, a replica's view): one polling helper for every test binary.

use std::fmt::Display;
use std::time::Duration;

/// How often [`eventually`] asks again: short enough not to slow a test
/// down, long enough not to load the 2 cores the tests share.
pub const POLL: Duration = Duration::from_millis(25);

/// What one try of an [`eventually`] check gives: settled with a value, or
/// not yet, with why (shown when the wait gives up).
pub trait Settled {
    /// The value a settled check gives.
    type Value;
    /// `Ok` once settled, else what the check saw.
    fn settled(self) -> Result<Self::Value, String>;
}

impl Settled for bool {
    type Value = ();
    fn settled(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("still false".to_owned())
        }
    }
}

impl<T> Settled for Option<T> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".to_owned())
    }
}

impl<T, E: Display> Settled for Result<T, E> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self.map_err(|why| why.to_string())
    }
}

/// Tries `check` every [`POLL`] until it settles and returns its value;
/// panics after `limit` naming `what` and what the last try said. It waits
/// on tokio's clock, so under paused time the wait costs no wall time.
pub async fn eventually<S: Settled>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> S,
) -> S::Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match check().await.settled() {
            Ok(value) => return value,
            Err(why) if tokio::time::Instant::now() >= deadline => {
                panic!("{what} did not happen within {limit:?}; last: {why}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
