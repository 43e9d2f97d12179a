//! Waiting for SIGINT or SIGTERM: the first asks to stop, a second one to exit
//! at once.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Counts SIGINT and SIGTERM from the moment it is made. Clones share the count,
/// so one clone can wait for the first signal while another waits for the second.
#[derive(Clone)]
pub struct Signals {
    /// How many signals came so far, and the name of the last one.
    seen: watch::Receiver<(u32, &'static str)>,
}

impl Signals {
    /// Installs the handlers (do this before announcing readiness, so an early
    /// signal is not lost). Needs a Tokio runtime: a task counts the signals.
    pub fn install() -> anyhow::Result<Signals> {
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let (count, seen) = watch::channel((0, ""));
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                    () = count.closed() => return,
                };
                count.send_modify(|(n, last)| {
                    *n += 1;
                    *last = name;
                });
            }
        });
        Ok(Signals { seen })
    }

    /// Waits for the `nth` signal since installation (1 for the first) and
    /// returns its name.
    pub async fn nth(&self, nth: u32) -> &'static str {
        let mut seen = self.seen.clone();
        match seen.wait_for(|(n, _)| *n >= nth).await {
            Ok(seen) => seen.1,
            // The counting task is gone (the runtime is stopping): no signal will come.
            Err(_) => std::future::pending().await,
        }
    }
}
