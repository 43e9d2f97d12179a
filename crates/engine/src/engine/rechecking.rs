//! Re-checks of one proxy: awaited, or in the background coalesced per
//! proxy; and, in a cluster, asked of the cluster and waited for.

use super::Engine;
use crate::error::EngineError;
use crate::history::checks_of;
use crate::recheck::RecheckRequests;
use crate::snapshot::Snapshot;
use crate::sweep::{CheckResult, check_proxy};
use proxyhealth_core::ProxyStatus;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

impl Engine {
    /// Re-checks one proxy alone (after it registers, say) and merges the result
    /// into the snapshot, unless a newer result for it is already there. A proxy
    /// that is gone or deleted is taken out of the snapshot.
    ///
    /// With a [`RecheckRequests`] (a cluster), the re-check is asked of it and
    /// this waits for its result to reach the snapshot (one check in the
    /// cluster); only when none arrives within
    /// [`EngineOptions::result_within`](crate::EngineOptions::result_within)
    /// does the engine check the proxy itself, and then it returns that
    /// status without publishing it.
    pub async fn recheck(&self, id: Uuid) -> Result<Arc<ProxyStatus>, EngineError> {
        let proxy = match self.inner.source.proxy_by_id(id).await? {
            Some(proxy) if !proxy.deleted => proxy,
            _ => {
                self.forget(&id);
                return Err(EngineError::ProxyNotFound(id));
            }
        };
        if let Some(requests) = &self.inner.recheck_requests {
            if let Some(status) = self.recheck_through(requests.as_ref(), id).await {
                return Ok(status);
            }
            // Nobody answered in time: check here for the caller, but publish
            // nothing; the snapshot shows only the cluster's results (their
            // order is the cluster's generation, not this engine's count).
            let result = self.check(proxy).await;
            return Ok(Arc::new(self.status_after(result)));
        }
        let result = self.check(proxy).await;
        self.merge_and_publish(
            result,
            |result| checks_of(std::slice::from_ref(result)),
            |current, result| {
                let remote = self.inner.remote.read();
                current
                    .after_recheck(result, &self.judge(&remote))
                    .map(|(next, change)| (next, change.into_iter().collect()))
            },
        )
        .await;
        self.status_of(&id).ok_or(EngineError::ProxyNotFound(id))
    }

    /// Re-checks one proxy in the background, as [`Engine::recheck`] does (never
    /// a full sweep), and returns at once; the outcome is logged.
    ///
    /// Requests are coalesced per proxy: at most one background re-check of a
    /// proxy is in flight at a time, and any number of requests arriving while
    /// it runs make it run exactly once more after it finishes. So a re-check
    /// never misses a change made while the previous one ran, and a burst of
    /// requests costs at most two checks. A request arriving once that is done
    /// starts a new re-check.
    ///
    /// Returns `true` when this call started a re-check, `false` when it was
    /// folded into the one in flight. Must be called within a Tokio runtime.
    ///
    /// With a [`RecheckRequests`] set by the builder, the request goes there
    /// instead (and this returns `true`): in a cluster, one replica checks.
    pub fn recheck_in_background(&self, id: Uuid) -> bool {
        if let Some(requests) = &self.inner.recheck_requests {
            requests.request_recheck(id);
            return true;
        }
        {
            let mut in_flight = self.inner.background_rechecks.lock();
            if let Some(again) = in_flight.get_mut(&id) {
                *again = true;
                return false;
            }
            in_flight.insert(id, false);
        }
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                match engine.recheck(id).await {
                    Ok(status) => {
                        tracing::debug!(proxy_id = %id, status = %status.status, "proxy re-checked");
                    }
                    Err(EngineError::ProxyNotFound(_)) => {}
                    Err(err) => {
                        tracing::warn!(proxy_id = %id, error = %err, "proxy re-check failed");
                    }
                }
                let mut in_flight = engine.inner.background_rechecks.lock();
                match in_flight.get_mut(&id) {
                    Some(again) if *again => *again = false,
                    _ => {
                        in_flight.remove(&id);
                        return;
                    }
                }
            }
        });
        true
    }

    /// Whether a background re-check of `id` is in flight or wanted again
    /// (see [`Engine::recheck_in_background`]).
    pub fn recheck_pending(&self, id: &Uuid) -> bool {
        self.inner.background_rechecks.lock().contains_key(id)
    }

    /// Checks one proxy now and returns the result without merging it into
    /// the snapshot (the check is counted in the metrics). A replica of a
    /// cluster checks what it claimed this way and writes the result to the
    /// shared store; see [`Engine::status_after`].
    pub async fn check(&self, proxy: proxyhealth_core::Proxy) -> CheckResult {
        let seq = self.next_check_seq();
        let result = check_proxy(
            &self.inner.prober,
            &self.inner.options,
            proxy,
            OffsetDateTime::now_utc(),
            seq,
        )
        .await;
        self.count_check(&result);
        result
    }

    /// The status a proxy would have after `result`, merged with its current
    /// status in the snapshot (streak, hysteresis, history), without
    /// publishing it.
    pub fn status_after(&self, result: CheckResult) -> ProxyStatus {
        let current = self.inner.snapshot.load();
        let remote = self.inner.remote.read();
        current.merged(result, &self.judge(&remote))
    }

    /// Asks `requests` for a re-check of every proxy and waits for newer
    /// statuses of all of them (or the deadline); returns the snapshot then.
    pub(super) async fn refresh_through(
        &self,
        requests: &dyn RecheckRequests,
    ) -> Result<Arc<Snapshot>, EngineError> {
        let ids: Vec<Uuid> = self
            .inner
            .source
            .list_proxies()
            .await?
            .into_iter()
            .filter(|proxy| !proxy.deleted)
            .map(|proxy| proxy.id)
            .collect();
        self.await_rechecks(requests, &ids).await;
        Ok(self.snapshot_arc())
    }

    /// How long a re-check asked of a [`RecheckRequests`] is waited for
    /// ([`EngineOptions::result_within`](crate::EngineOptions::result_within):
    /// a claim, a check, a write, a read).
    fn recheck_wait(&self) -> Duration {
        self.inner.options.result_within()
    }

    /// Asks `requests` for a re-check of `id` and waits for a newer status of
    /// it in the snapshot; `None` when none came in time.
    async fn recheck_through(
        &self,
        requests: &dyn RecheckRequests,
        id: Uuid,
    ) -> Option<Arc<ProxyStatus>> {
        if self.await_rechecks(requests, &[id]).await {
            self.status_of(&id)
        } else {
            None
        }
    }

    /// Asks `requests` for a re-check of each of `ids` and waits (at most
    /// [`Engine::recheck_wait`]) until the snapshot holds a newer status of
    /// every one; `true` when all came in time.
    async fn await_rechecks(&self, requests: &dyn RecheckRequests, ids: &[Uuid]) -> bool {
        let mut generations = self.subscribe();
        let before: HashMap<Uuid, u64> = {
            let snapshot = self.snapshot();
            ids.iter()
                .filter_map(|id| snapshot.get(id).map(|status| (*id, status.check_seq)))
                .collect()
        };
        for id in ids {
            requests.request_recheck(*id);
        }
        let deadline = Instant::now() + self.recheck_wait();
        loop {
            let snapshot = self.snapshot_arc();
            let done = ids.iter().all(|id| {
                snapshot.get(id).is_some_and(|status| {
                    before
                        .get(id)
                        .is_none_or(|before| status.check_seq > *before)
                })
            });
            if done {
                return true;
            }
            match tokio::time::timeout_at(deadline, generations.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }
}
