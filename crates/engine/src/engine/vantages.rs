//! Other vantages' results: taken in from their agents, judged with the own
//! results by the quorum, and published through the one publishing path (so
//! an overall change is logged, counted, recorded and notified like any
//! other); restored at start, forgotten with their vantage.

use super::Engine;
use crate::snapshot::Snapshot;
use crate::vantages::{Intake, RemoteCheck};
use proxyhealth_core::{VantageName, VantageReading};
use time::OffsetDateTime;
use uuid::Uuid;

impl Engine {
    /// Takes a batch of results from `vantage`'s agents and publishes what
    /// they change: [`Engine::accept_vantage_results`], then
    /// [`Engine::publish_vantage_results`] for its proxies.
    pub async fn take_vantage_results(
        &self,
        vantage: &VantageName,
        checks: Vec<RemoteCheck>,
    ) -> Intake {
        let intake = self.accept_vantage_results(vantage, checks);
        let ids: Vec<Uuid> = intake.accepted.iter().map(|(id, _)| *id).collect();
        self.publish_vantage_results(ids).await;
        intake
    }

    /// Takes a batch of results from `vantage`'s agents into the book: each
    /// result for a proxy this engine has, not older than the vantage's
    /// newest for it and not timed in the future (on this engine's clock),
    /// replaces the vantage's reading of its proxy. Nothing is published
    /// yet (the next [`Engine::publish_vantage_results`] of the proxies
    /// does, or the next sweep), so several batches can share one
    /// publication. Returns what was taken (for the store to keep) and what
    /// was refused, and why.
    pub fn accept_vantage_results(
        &self,
        vantage: &VantageName,
        checks: Vec<RemoteCheck>,
    ) -> Intake {
        let snapshot = self.inner.snapshot.load();
        self.inner.remote.write().take(
            vantage,
            checks,
            |id| snapshot.get(id).is_some_and(|s| s.host.is_some()),
            OffsetDateTime::now_utc(),
            self.inner.options.hysteresis,
        )
    }

    /// Judges the proxies `ids` again with the book's readings (other
    /// vantages' results of them were taken) and publishes one snapshot
    /// when an overall status, report or reading changed; an overall change
    /// is logged, counted, recorded and notified like any other.
    pub async fn publish_vantage_results(&self, ids: Vec<Uuid>) {
        self.rejudge(ids, OffsetDateTime::now_utc()).await;
    }

    /// Puts readings a store kept back (at start, before the first sweep
    /// judges with them), each unless a newer one of its vantage is there.
    pub fn restore_vantage_readings(&self, readings: Vec<(Uuid, VantageReading)>) {
        self.inner.remote.write().restore(readings);
    }

    /// Takes readings other replicas have (their vantages' own results, or
    /// agents' results another replica received), each unless a newer one
    /// of its vantage is there, and judges their proxies again, publishing
    /// what changed. Readings of this engine's own vantage are left out:
    /// those are its own results.
    pub async fn take_peer_readings(&self, readings: Vec<(Uuid, VantageReading)>) {
        let own = &self.inner.options.vantage;
        let readings: Vec<(Uuid, VantageReading)> = readings
            .into_iter()
            .filter(|(_, reading)| &reading.vantage != own)
            .collect();
        if readings.is_empty() {
            return;
        }
        let mut ids: Vec<Uuid> = readings.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        self.inner.remote.write().restore(readings);
        self.rejudge(ids, OffsetDateTime::now_utc()).await;
    }

    /// Judges `ids` again with the readings held (a shared view replaced
    /// their statuses with another replica's judgement of them).
    pub async fn rejudge_proxies(&self, ids: Vec<Uuid>) {
        self.rejudge(ids, OffsetDateTime::now_utc()).await;
    }

    /// Forgets every reading of `vantage` (it was deleted) and judges its
    /// proxies again without them.
    pub async fn forget_vantage(&self, vantage: &VantageName) {
        let ids: Vec<Uuid> = self.snapshot().statuses().keys().copied().collect();
        self.inner.remote.write().forget_vantage(vantage);
        self.rejudge(ids, OffsetDateTime::now_utc()).await;
    }

    /// Judges `ids` again at `now` and publishes what changed: at once when
    /// only readings changed (nothing to write to history first, so it does
    /// not wait behind a sweep's history write), else in order with the
    /// other merges.
    async fn rejudge(&self, ids: Vec<Uuid>, now: OffsetDateTime) {
        if ids.is_empty() {
            return;
        }
        let merge = |current: &Snapshot, ids: Vec<Uuid>| {
            let remote = self.inner.remote.read();
            current.rejudged(&ids, &self.judge(&remote), now)
        };
        if self.publish_if_quiet(&ids, merge) {
            return;
        }
        self.merge_and_publish(ids, |_| Vec::new(), merge).await;
    }
}
