//! The cluster's [`RecheckRequests`]: a create, edit or registration through
//! any replica asks the cluster for one check (`request_check`), instead of
//! this replica checking alone; the claim decides which replica runs it.

use proxyhealth_engine::RecheckRequests;
use proxyhealth_store::{Claims, StoreError};
use std::sync::Arc;
use uuid::Uuid;

/// Asks the cluster for one re-check of a proxy; give it to
/// [`proxyhealth_engine::EngineBuilder::recheck_requests`].
#[derive(Debug, Clone)]
pub struct ClusterRechecks {
    coordination: Arc<dyn Claims>,
}

impl ClusterRechecks {
    /// Requests go through `coordination`'s claims (all a request needs).
    pub fn new(coordination: Arc<dyn Claims>) -> ClusterRechecks {
        ClusterRechecks { coordination }
    }
}

impl RecheckRequests for ClusterRechecks {
    fn request_recheck(&self, id: Uuid) {
        let coordination = Arc::clone(&self.coordination);
        tokio::spawn(async move {
            match coordination.request_check(id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(err) => {
                    // the check row is made due by the claim's periodic
                    // ensure step anyway; the proxy is checked within an interval
                    tracing::warn!(proxy_id = %id, error = %err, "asking the cluster for a re-check failed");
                }
            }
        });
    }
}
