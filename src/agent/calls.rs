//! The thread the agent's calls to the service run on.
//!
//! The agent's checks run on one runtime thread (a second one, sharing the
//! checks, made the allocator keep each thread's pages: the agent's peak
//! memory went over its bound). A call's every step (connecting, writing
//! the batch, reading the answer) was then a task among a round's thousand
//! check workers, queued behind them at each wake-up: measured on a loaded
//! two-core machine, a batch that left 20 ms after its newest check reached
//! the service 0.4-0.9 s later during a round, and at once after it. On a
//! thread of their own the calls wait for no check; they allocate little
//! (a batch's body, a connection's buffers), so the second thread costs
//! little memory.

use std::future::Future;
use tokio::runtime::Runtime;

/// A runtime of one thread for the calls to the service; stopped (without
/// waiting for calls on their way) when dropped.
pub struct CallThread {
    runtime: Option<Runtime>,
}

impl CallThread {
    /// Starts the thread. Fails only when the system refuses a thread.
    pub fn start() -> std::io::Result<CallThread> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("proxyhealth-calls")
            .enable_all()
            .build()?;
        Ok(CallThread {
            runtime: Some(runtime),
        })
    }

    /// Runs `call` on the thread; the returned future (awaited on any
    /// runtime) gives its output. A call that panicked panics the awaiting
    /// task too, as if it had run there.
    pub fn run<F>(&self, call: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.runtime.as_ref().map(|runtime| runtime.spawn(call));
        async move {
            let Some(handle) = handle else {
                // only while being dropped, when no call is made
                std::panic::resume_unwind(Box::new("the call thread has stopped"));
            };
            match handle.await {
                Ok(output) => output,
                Err(err) => match err.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_cancelled) => {
                        std::panic::resume_unwind(Box::new("the call thread has stopped"))
                    }
                },
            }
        }
    }
}

impl Drop for CallThread {
    fn drop(&mut self) {
        // dropping a runtime waits for its thread, which an async context
        // (where the agent ends) must not do
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_runs_on_its_own_thread_and_gives_its_output_back() {
        let calls = CallThread::start().expect("a thread");
        let here = std::thread::current().id();
        let there = calls.run(async { std::thread::current().id() }).await;
        assert_ne!(here, there, "the call ran on the call thread");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_goes_on_while_the_awaiting_thread_is_busy() {
        let calls = CallThread::start().expect("a thread");
        let (done, finished) = std::sync::mpsc::channel();
        let call = calls.run(async move {
            let _ = done.send(());
        });
        // the awaiting thread never yields, yet the call completes
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the call ran without the awaiting thread");
        call.await;
    }
}
