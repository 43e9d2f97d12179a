//! [`EventStreams`]: the cap on open server-sent-event streams, and the signal
//! that ends them all when the server shuts down.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Most server-sent-event streams open at once; more are answered 503.
pub(crate) const MAX_EVENT_STREAMS: usize = 1024;

/// The open event streams. Cheap to clone: clones share the permits and the signal.
#[derive(Clone)]
pub(crate) struct EventStreams {
    /// One permit per open stream.
    permits: Arc<Semaphore>,
    /// Cancelled when the server shuts down, so streams end and in-flight
    /// requests can finish.
    stop: CancellationToken,
}

impl EventStreams {
    /// Room for `max` streams at once.
    pub fn new(max: usize) -> Self {
        EventStreams {
            permits: Arc::new(Semaphore::new(max)),
            stop: CancellationToken::new(),
        }
    }

    /// A permit for one more stream (held as long as it stays open), or `None`
    /// when the cap is reached.
    pub fn open(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// The signal that ends every stream.
    pub fn stop_signal(&self) -> CancellationToken {
        self.stop.clone()
    }
}

impl Default for EventStreams {
    fn default() -> Self {
        EventStreams::new(MAX_EVENT_STREAMS)
    }
}
