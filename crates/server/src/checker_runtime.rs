//! The checker's own threads, apart from the ones that answer HTTP.
//!
//! A sweep of a large fleet starts and answers thousands of checks within a
//! second or so. On the runtime that also serves the API, those tasks queue
//! ahead of every request that arrives meanwhile (a proxy registering again, a
//! dashboard's read), which then waits for the burst to drain. On threads of
//! their own, the checks compete with the API only through the operating
//! system's scheduler, which wakes a thread that was idle (an API worker with
//! one request to answer) ahead of busy ones: a request waits for its share of
//! a core, not for the sweep.
//!
//! A current-thread runtime (the tests that pause time) keeps everything on
//! itself: a second runtime would run its own clock, which a paused test could
//! not move.

use std::future::Future;
use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};
use tokio::task::JoinHandle;

/// Where the checker's loops run while the service runs; see the module docs.
pub(crate) struct CheckerRuntime {
    /// `None` when the caller's own runtime is used.
    runtime: Option<Runtime>,
}

impl CheckerRuntime {
    /// Threads of their own, as many as the calling runtime's workers, when it
    /// is a multi-thread runtime; the calling runtime otherwise, or when the
    /// threads cannot be started (the service still works, as before).
    pub(crate) fn beside_current() -> Self {
        let current = Handle::current();
        if current.runtime_flavor() != RuntimeFlavor::MultiThread {
            return Self { runtime: None };
        }
        let threads = current.metrics().num_workers().max(1);
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("proxyhealth-checker")
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => Self {
                runtime: Some(runtime),
            },
            Err(err) => {
                tracing::warn!(error = %err, "could not start the checker's threads; checking on the service's own");
                Self { runtime: None }
            }
        }
    }

    /// Runs `task` on the checker's threads (or the caller's runtime).
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        }
    }
}

impl Drop for CheckerRuntime {
    fn drop(&mut self) {
        // dropped inside the service's own runtime, where blocking to join the
        // threads is not allowed; the loops were told to stop and awaited
        // (or their grace ran out) before this
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
