//! The seam for background re-checks: who runs the re-check a create, edit or
//! registration asks for.
//!
//! Alone, the engine re-checks the proxy itself. In a cluster of replicas
//! that would make every replica that heard of the change check it;
//! instead the replica runtime plugs in an implementation that asks the
//! cluster for one check (`Claims::request_check`), so the server's
//! routes stay the same whichever runs.

use uuid::Uuid;

/// Runs (or has someone run) a re-check of a proxy, without waiting for it.
pub trait RecheckRequests: Send + Sync + 'static {
    /// Asks for one re-check of `id` soon. Must return at once (spawn any
    /// I/O); must be called within a Tokio runtime.
    fn request_recheck(&self, id: Uuid);
}
