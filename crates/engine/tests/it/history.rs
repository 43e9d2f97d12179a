//! Recording history from the engine: a sweep's and a re-check's
//! checks and transitions reach the recorder before a snapshot shows them,
//! and a failing recorder never stops the statuses from being published.

use crate::helpers::{FakeProxy, ListSource, proxy};
use proxyhealth_core::{HistoryBatch, HistoryRecorder, RecordError, Status, Transition};
use proxyhealth_engine::Engine;
use proxyhealth_store::{HistoryStore, MemoryStore, ProxyStore};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Records into a memory store's history, noting for every transition
/// whether the engine's snapshot already showed it when it was recorded.
struct Watching {
    history: Arc<dyn HistoryStore>,
    engine: OnceLock<Engine>,
    shown_early: parking_lot::Mutex<Vec<Transition>>,
    fail: bool,
}

#[async_trait::async_trait]
impl HistoryRecorder for Watching {
    async fn record(&self, batch: HistoryBatch) -> Result<Vec<Transition>, RecordError> {
        if let Some(engine) = self.engine.get() {
            for transition in &batch.transitions {
                let shown = engine.status_of(&transition.proxy_id);
                if shown.is_some_and(|status| {
                    status.status == transition.to && status.checked_at == transition.at
                }) {
                    self.shown_early.lock().push(transition.clone());
                }
            }
        }
        if self.fail {
            return Err(RecordError::new("disk full"));
        }
        self.history
            .record_batch(batch)
            .await
            .map_err(|err| RecordError::new(err.to_string()))
    }
}

fn watched(source: Arc<ListSource>, fail: bool) -> (Engine, Arc<Watching>) {
    let store = MemoryStore::new();
    let watching = Arc::new(Watching {
        history: store.history().expect("history"),
        engine: OnceLock::new(),
        shown_early: parking_lot::Mutex::new(Vec::new()),
        fail,
    });
    let engine = Engine::builder()
        .store(source)
        .timeout(Duration::from_secs(2))
        .history(watching.clone())
        .build()
        .expect("engine");
    let _ = watching.engine.set(engine.clone());
    (engine, watching)
}

#[tokio::test]
async fn sweeps_and_rechecks_record_their_transitions_before_a_snapshot_shows_them() {
    let healthy = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let broken =
        FakeProxy::fixed(200, Some("application/json"), r#"{"errors":["disk full"]}"#).await;
    let p = proxy("eu", &healthy.url);
    let id = p.id;
    let source = ListSource::with(vec![p]);
    let (engine, watching) = watched(source.clone(), false);
    engine.force_update().await.expect("sweep");
    source.update(id, |p| p.url = broken.url.clone());
    engine.recheck(id).await.expect("re-check");
    engine.force_update().await.expect("sweep");

    assert!(
        watching.shown_early.lock().is_empty(),
        "{:?}",
        watching.shown_early.lock()
    );
    let recorded = watching
        .history
        .transitions(Some(id), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("read");
    let moves: Vec<(Option<Status>, Status)> = recorded.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        moves,
        [(None, Status::Ok), (Some(Status::Ok), Status::Unhealthy)]
    );
    assert_eq!(recorded[1].report.errors, ["disk full"]);
    let shown = engine.status_of(&id).expect("a status");
    assert_eq!(recorded[1].at, shown.status_changed_at);
    let checks = watching
        .history
        .uptimes(
            time::OffsetDateTime::now_utc() - Duration::from_secs(7200),
            None,
        )
        .await
        .expect("read");
    assert_eq!(checks.get(&id).map(|c| (c.ok, c.checks)), Some((1, 3)));
}

#[tokio::test]
async fn a_failing_history_write_is_counted_and_the_statuses_are_published_anyway() {
    let healthy = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let p = proxy("eu", &healthy.url);
    let id = p.id;
    let (engine, _watching) = watched(ListSource::with(vec![p]), true);
    engine.force_update().await.expect("the sweep succeeds");
    assert_eq!(engine.status_of(&id).map(|s| s.status), Some(Status::Ok));
    let text = proxyhealth_engine::metrics::render(engine.registry());
    assert!(
        text.contains("proxyhealth_history_writes_total{outcome=\"failed\"} 1"),
        "{text}"
    );
}
