//! The engine: the sweep loop, on-demand sweeps, single-proxy re-checks (on
//! demand, or in the background coalesced per proxy) and the readers.

use crate::dispatch;
use crate::error::EngineError;
use crate::history::{HistoryWriter, checks_of};
use crate::metrics::EngineMetrics;
use crate::options::{DEFAULT_INTERVAL, EngineOptions};
use crate::probe::Prober;
use crate::recheck::RecheckRequests;
use crate::snapshot::{Change, Snapshot, SweepInfo, ViewRead};
use crate::sweep::{CheckResult, check_all, check_proxy};
use arc_swap::{ArcSwap, Guard};
use proxyhealth_core::{HistoryRecorder, ProxySource, ProxyStatus, Status};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Mutex as AsyncMutex, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Checks every proxy of a store on an interval and keeps the results for
/// lock-free reads. Cheap to clone: clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    source: Arc<dyn ProxySource>,
    prober: Prober,
    options: EngineOptions,
    /// The published snapshot; readers load it without a lock.
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Serialises writers of `snapshot` (sweeps and re-checks); never held across an await.
    publish: parking_lot::Mutex<()>,
    /// Orders the start of every check, so no result replaces a newer one.
    check_seq: AtomicU64,
    /// Numbers the calls for a sweep, so a caller shares only a sweep that started after it.
    sweep_requests: AtomicU64,
    /// Held while a sweep runs: one sweep at a time; holds the last sweep's outcome.
    sweep: AsyncMutex<LastSweep>,
    /// How the last sweep went, for `/healthz`.
    state: ArcSwap<SweepState>,
    /// The generation of each stored snapshot, for waiters (server-sent events).
    generations: watch::Sender<u64>,
    /// Proxies with a background re-check in flight, and whether another is
    /// wanted after it (see [`Engine::recheck_in_background`]).
    background_rechecks: parking_lot::Mutex<HashMap<Uuid, bool>>,
    /// Who runs background re-checks instead of this engine (a cluster).
    recheck_requests: Option<Arc<dyn RecheckRequests>>,
    /// Where history is written before a snapshot showing it is published.
    history: Option<HistoryWriter>,
    /// Held by a sweep or re-check from its merge to its publication while
    /// history is written in between (an await), so merges stay in order.
    recording: AsyncMutex<()>,
    /// When a shared view was last read successfully (cluster mode only).
    view_read_at: parking_lot::Mutex<Option<Instant>>,
    metrics: EngineMetrics,
    registry: prometheus::Registry,
}

/// The outcome of the last sweep, shared with the callers it covered.
struct LastSweep {
    /// The highest request number this sweep started after.
    covers: u64,
    result: Result<Arc<Snapshot>, EngineError>,
}

/// How the engine's sweeps have been going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepState {
    /// The last sweep's error, `None` when it succeeded (or none ran yet).
    pub last_error: Option<String>,
    /// Failed sweeps since the last success.
    pub consecutive_failures: u32,
    /// When the last sweep (failed or not) started.
    pub last_attempt_at: Option<OffsetDateTime>,
}

/// Builds an [`Engine`]; the store is required, everything else has a default.
#[derive(Default)]
pub struct EngineBuilder {
    source: Option<Arc<dyn ProxySource>>,
    options: EngineOptions,
    client: Option<reqwest::Client>,
    registry: Option<prometheus::Registry>,
    recheck_requests: Option<Arc<dyn RecheckRequests>>,
    history: Option<Arc<dyn HistoryRecorder>>,
}

impl EngineBuilder {
    /// The store the proxies are read from at every sweep (required).
    pub fn store(mut self, source: Arc<dyn ProxySource>) -> Self {
        self.source = Some(source);
        self
    }

    /// All settings at once.
    pub fn options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// Time between sweeps; zero means one minute.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.options.interval = interval;
        self
    }

    /// Bound on one check including its body (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Checks in flight at once.
    pub fn parallelism(mut self, parallelism: usize) -> Self {
        self.options.parallelism = parallelism;
        self
    }

    /// The HTTP client to use; the engine's own timeout and body cap still apply.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The registry to put the metrics on; a private one is made when none is given.
    pub fn registry(mut self, registry: prometheus::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Who runs the re-checks [`Engine::recheck_in_background`] asks for,
    /// instead of the engine itself (a cluster asks for one check in the
    /// cluster). Unset, the engine re-checks the proxy alone.
    pub fn recheck_requests(mut self, requests: Arc<dyn RecheckRequests>) -> Self {
        self.recheck_requests = Some(requests);
        self
    }

    /// Where to write history (issue 15): every sweep's and re-check's
    /// checks and the status transitions they cause, in one transaction,
    /// before the snapshot showing them is published. Unset, nothing is
    /// written (a cluster replica writes history with its results instead).
    pub fn history(mut self, recorder: Arc<dyn HistoryRecorder>) -> Self {
        self.history = Some(recorder);
        self
    }

    /// Builds the engine, checking the settings.
    pub fn build(self) -> Result<Engine, EngineError> {
        let source = self.source.ok_or(EngineError::MissingStore)?;
        let mut options = self.options;
        if options.interval.is_zero() {
            options.interval = DEFAULT_INTERVAL;
        }
        if options.timeout.is_zero() {
            return Err(invalid("timeout", "must be more than zero"));
        }
        if options.parallelism == 0 {
            return Err(invalid("parallelism", "must be at least 1"));
        }
        if options.body_cap == 0 {
            return Err(invalid("body_cap", "must be at least 1 byte"));
        }
        if options.hysteresis.rise == 0 || options.hysteresis.fall == 0 {
            return Err(invalid("hysteresis", "rise and fall must be at least 1"));
        }
        let prober = match self.client {
            Some(client) => Prober::with_client(client, &options),
            None => Prober::new(&options)?,
        };
        let registry = self.registry.unwrap_or_default();
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        let metrics = EngineMetrics::register(&registry, Arc::clone(&snapshot), options.interval)?;
        let (generations, _) = watch::channel(0);
        let history = self
            .history
            .map(|recorder| HistoryWriter::new(recorder, &registry))
            .transpose()?;
        Ok(Engine {
            inner: Arc::new(Inner {
                source,
                prober,
                options,
                snapshot,
                publish: parking_lot::Mutex::new(()),
                check_seq: AtomicU64::new(0),
                sweep_requests: AtomicU64::new(0),
                sweep: AsyncMutex::new(LastSweep {
                    covers: 0,
                    result: Err(EngineError::ShuttingDown),
                }),
                state: ArcSwap::from_pointee(SweepState::default()),
                generations,
                background_rechecks: parking_lot::Mutex::new(HashMap::new()),
                recheck_requests: self.recheck_requests,
                history,
                recording: AsyncMutex::new(()),
                view_read_at: parking_lot::Mutex::new(None),
                metrics,
                registry,
            }),
        })
    }
}

fn invalid(option: &'static str, detail: &str) -> EngineError {
    EngineError::InvalidOption {
        option,
        detail: detail.to_owned(),
    }
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The settings in force (after defaults were applied).
    pub fn options(&self) -> &EngineOptions {
        &self.inner.options
    }

    /// The registry holding the engine's metrics.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.inner.registry
    }

    /// The current snapshot, without a lock and without copying. Hold it briefly;
    /// use [`Engine::snapshot_arc`] to keep it across an `.await`.
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.inner.snapshot.load()
    }

    /// The current snapshot as an `Arc`, to keep as long as needed.
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    /// The status of one proxy from the current snapshot.
    pub fn status_of(&self, id: &Uuid) -> Option<Arc<ProxyStatus>> {
        self.inner.snapshot.load().get(id).cloned()
    }

    /// The snapshot whose [`Snapshot::hosts`] lists the hosts of every registered
    /// proxy (for security headers); shares the snapshot, copies nothing.
    pub fn proxy_hosts(&self) -> Arc<Snapshot> {
        self.snapshot_arc()
    }

    /// How the sweeps have been going.
    pub fn sweep_state(&self) -> Arc<SweepState> {
        self.inner.state.load_full()
    }

    /// A receiver that sees the generation of every stored snapshot.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.generations.subscribe()
    }

    /// Sweeps at once, then every interval, until `shutdown` is cancelled. Never
    /// runs two sweeps at a time; a tick missed while a sweep ran is skipped, not
    /// caught up. A failed sweep is logged and leaves the snapshot as it was.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.inner.options.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                result = self.force_update() => {
                    if let Err(err) = result {
                        tracing::error!(error = %err, "proxy health check failed");
                    }
                }
            }
        }
    }

    /// Runs a sweep now and returns the snapshot it stored, or its error (then the
    /// snapshot is left as it was).
    ///
    /// Concurrent callers share one sweep, and a caller never gets a sweep that
    /// started before its call: a caller arriving while a sweep runs waits for it
    /// and then shares the next one with everyone else who arrived meanwhile.
    ///
    /// With a [`RecheckRequests`] (a cluster), a re-check of every proxy is
    /// asked of it instead, and this waits (at most twice the timeout and 5 s
    /// more) for their results to reach the snapshot, then returns it.
    pub async fn force_update(&self) -> Result<Arc<Snapshot>, EngineError> {
        if let Some(requests) = &self.inner.recheck_requests {
            return self.refresh_through(requests.as_ref()).await;
        }
        let ticket = self.inner.sweep_requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last = self.inner.sweep.lock().await;
        if last.covers >= ticket {
            return last.result.clone();
        }
        last.covers = self.inner.sweep_requests.load(Ordering::SeqCst);
        last.result = self.sweep_once().await;
        last.result.clone()
    }

    /// Re-checks one proxy alone (after it registers, say) and merges the result
    /// into the snapshot, unless a newer result for it is already there. A proxy
    /// that is gone or deleted is taken out of the snapshot.
    ///
    /// With a [`RecheckRequests`] (a cluster), the re-check is asked of it and
    /// this waits for its result to reach the snapshot (one check in the
    /// cluster); only when none arrives within twice the timeout and 5 s more
    /// does the engine check the proxy itself, and then it returns that status
    /// without publishing it.
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
        match &self.inner.history {
            None => {
                let _guard = self.inner.publish.lock();
                let current = self.inner.snapshot.load();
                if let Some((next, change)) =
                    current.after_recheck(result, self.inner.options.hysteresis)
                {
                    self.note_changes(change.as_slice());
                    self.publish(next);
                }
            }
            Some(history) => self.recheck_recorded(history, result).await,
        }
        self.inner
            .snapshot
            .load()
            .get(&id)
            .cloned()
            .ok_or(EngineError::ProxyNotFound(id))
    }

    /// Merges a re-check's result, writes its history, then publishes.
    async fn recheck_recorded(&self, history: &HistoryWriter, result: CheckResult) {
        let hysteresis = self.inner.options.hysteresis;
        let _recording = self.inner.recording.lock().await;
        let current = self.snapshot_arc();
        let checks = checks_of(std::slice::from_ref(&result));
        let Some((next, change)) = current.after_recheck(result.clone(), hysteresis) else {
            return;
        };
        history.record(checks, change.as_slice()).await;
        let _guard = self.inner.publish.lock();
        let latest = self.inner.snapshot.load();
        // only a deletion (`forget`) can have published meanwhile: merge again
        let next = if latest.generation() == current.generation() {
            Some(next)
        } else {
            latest
                .after_recheck(result, hysteresis)
                .map(|(next, _)| next)
        };
        self.note_changes(change.as_slice());
        if let Some(next) = next {
            self.publish(next);
        }
    }

    /// Asks `requests` for a re-check of every proxy and waits for newer
    /// statuses of all of them (or the deadline); returns the snapshot then.
    async fn refresh_through(
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

    /// How long a re-check asked of a [`RecheckRequests`] is waited for:
    /// twice the timeout and 5 s more (a claim, a check, a write, a read).
    fn recheck_wait(&self) -> Duration {
        self.inner
            .options
            .timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(5))
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

    /// Takes a proxy out of the snapshot at once (it was deleted).
    pub fn forget(&self, id: &Uuid) {
        let _guard = self.inner.publish.lock();
        if let Some(next) = self.inner.snapshot.load().without(id) {
            self.publish(next);
        }
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
        current.merged(result, self.inner.options.hysteresis)
    }

    /// Publishes statuses read from a shared view (a cluster's store), merged
    /// as [`ViewRead`] says: new results, each unless the snapshot holds a
    /// newer one (a higher [`ProxyStatus::check_seq`], which a cluster sets
    /// to the result's generation), or the whole set. Status changes are
    /// logged and counted. Also records a successful read of the view (see
    /// [`Engine::view_age`]) and a successful "sweep" for `/healthz`.
    pub fn publish_view(&self, statuses: Vec<ProxyStatus>, read: ViewRead, info: SweepInfo) {
        if read != ViewRead::Since || !statuses.is_empty() {
            let _guard = self.inner.publish.lock();
            let current = self.inner.snapshot.load();
            let (next, changes) = current.with_view(statuses, read, info);
            self.note_changes(&changes);
            self.publish(next);
        }
        *self.inner.view_read_at.lock() = Some(Instant::now());
        self.inner.state.store(Arc::new(SweepState {
            last_error: None,
            consecutive_failures: 0,
            last_attempt_at: Some(info.started_at),
        }));
    }

    /// Records that reading the shared view failed: the snapshot stays as it
    /// was (the last view keeps being served) and the error is reported as a
    /// failed sweep would be (`/healthz`, the summary, and
    /// `proxyhealth_sweeps_total{outcome="failed"}`: a replica's sweep is its
    /// read of the view).
    pub fn view_failed(&self, error: String) {
        self.inner
            .metrics
            .sweeps
            .with_label_values(&["failed"])
            .inc();
        let previous = self.inner.state.load();
        self.inner.state.store(Arc::new(SweepState {
            last_error: Some(error),
            consecutive_failures: previous.consecutive_failures.saturating_add(1),
            last_attempt_at: Some(OffsetDateTime::now_utc()),
        }));
    }

    /// How long ago a shared view was last read successfully; `None` when the
    /// engine serves no shared view (it runs its own sweeps) or none was read
    /// yet. `/healthz` calls the view stale past two intervals.
    pub fn view_age(&self) -> Option<Duration> {
        self.inner
            .view_read_at
            .lock()
            .map(|read_at| read_at.elapsed())
    }

    fn next_check_seq(&self) -> u64 {
        self.inner.check_seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn count_check(&self, result: &CheckResult) {
        self.inner
            .metrics
            .checks
            .with_label_values(&[result.verdict.status.as_str()])
            .inc();
    }

    async fn sweep_once(&self) -> Result<Arc<Snapshot>, EngineError> {
        let started = Instant::now();
        let started_at = OffsetDateTime::now_utc();
        let seq = self.next_check_seq();
        let outcome = self.sweep_inner(started, started_at, seq).await;
        self.inner
            .metrics
            .sweep_duration
            .observe(started.elapsed().as_secs_f64());
        let previous = self.inner.state.load();
        let state = match &outcome {
            Ok(_) => SweepState {
                last_error: None,
                consecutive_failures: 0,
                last_attempt_at: Some(started_at),
            },
            Err(err) => SweepState {
                last_error: Some(err.to_string()),
                consecutive_failures: previous.consecutive_failures.saturating_add(1),
                last_attempt_at: Some(started_at),
            },
        };
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        self.inner.metrics.sweeps.with_label_values(&[label]).inc();
        self.inner.state.store(Arc::new(state));
        outcome
    }

    async fn sweep_inner(
        &self,
        started: Instant,
        started_at: OffsetDateTime,
        seq: u64,
    ) -> Result<Arc<Snapshot>, EngineError> {
        let proxies: Vec<_> = self
            .inner
            .source
            .list_proxies()
            .await?
            .into_iter()
            .filter(|proxy| !proxy.deleted)
            .collect();
        let count = proxies.len();
        // The checks that took longest last time start first (see `dispatch`).
        let previous = self.inner.snapshot.load();
        let order = dispatch::longest_first(
            &proxies,
            |proxy| previous.get(&proxy.id).map(AsRef::as_ref),
            self.inner.options.timeout,
        );
        drop(previous);
        let results = check_all(
            &self.inner.prober,
            &self.inner.options,
            proxies,
            Some(order),
            started_at,
            seq,
            None,
        )
        .await;
        for result in &results {
            self.count_check(result);
        }
        let info = SweepInfo {
            started_at,
            duration: started.elapsed(),
            proxies: count,
        };
        let hysteresis = self.inner.options.hysteresis;
        let Some(history) = &self.inner.history else {
            let _guard = self.inner.publish.lock();
            let current = self.inner.snapshot.load();
            let (next, changes) = current.after_sweep(results, info, hysteresis, seq);
            self.note_changes(&changes);
            return Ok(self.publish(next));
        };
        // history first, then the snapshot that shows it
        let _recording = self.inner.recording.lock().await;
        let current = self.snapshot_arc();
        let checks = checks_of(&results);
        let (next, changes) = current.after_sweep(results.clone(), info, hysteresis, seq);
        history.record(checks, &changes).await;
        let _guard = self.inner.publish.lock();
        let latest = self.inner.snapshot.load();
        // only a deletion (`forget`) can have published meanwhile: merge again
        let next = if latest.generation() == current.generation() {
            next
        } else {
            latest.after_sweep(results, info, hysteresis, seq).0
        };
        self.note_changes(&changes);
        Ok(self.publish(next))
    }

    /// Logs each status change a merge made and counts it in the metrics:
    /// every path that publishes changes (sweep, re-check, a cluster's view)
    /// goes through here once per change.
    fn note_changes(&self, changes: &[Change]) {
        log_changes(changes);
        self.inner.metrics.changes.count(changes);
    }

    /// Stores `next` (the caller holds the publish lock and has counted its
    /// changes) and trims the change counts to its proxies.
    fn publish(&self, next: Snapshot) -> Arc<Snapshot> {
        self.inner.metrics.changes.retain(&next);
        let next = Arc::new(next);
        let generation = next.generation();
        self.inner.snapshot.store(Arc::clone(&next));
        self.inner.generations.send_replace(generation);
        next
    }
}

/// One log line per status change: which proxy, from, to, and why.
fn log_changes(changes: &[Change]) {
    for change in changes {
        let status = &change.status;
        let why = status
            .report
            .errors
            .first()
            .map(|error| error.lines().next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let from = change.from.map_or("none", Status::as_str);
        if status.status == Status::Ok || status.status == Status::Unregistered {
            tracing::info!(proxy = %status.proxy.name, proxy_id = %status.proxy.id, from, to = %status.status, "proxy status changed");
        } else {
            tracing::warn!(proxy = %status.proxy.name, proxy_id = %status.proxy.id, from, to = %status.status, why, "proxy status changed");
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.inner.options)
            .field("generation", &self.inner.snapshot.load().generation())
            .finish()
    }
}
