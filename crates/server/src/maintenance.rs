//! Maintenance windows in the running service: [`Maintenance`], the windows
//! read from the store and compiled into a
//! `MaintenanceBook` that
//! every lookup reads in constant time; [`MaintenanceRecorder`], the history
//! recorder that leaves the windows out of uptime and notifications; and the
//! `proxyhealth_maintenance{proxy_id}` gauge.
//!
//! The windows are re-read from the store at each refresh (every sweep
//! interval, [`Maintenance::run`]) and at once after a change made through
//! this process, so a window made through one replica is seen by the others
//! within a sweep interval. The book is recompiled from the windows held
//! (O(windows)) only when a window starts or stops, or after a refresh:
//! never per proxy or per check.

use crate::held_changes::{HeldChanges, Sorted};
use parking_lot::{Mutex, RwLock};
use prometheus::{IntGaugeVec, Opts, Registry};
use proxyhealth_core::maintenance::{ActiveMaintenance, MaintenanceBook, MaintenanceWindow};
use proxyhealth_core::{HistoryBatch, HistoryRecorder, RecordError, Transition};
use proxyhealth_store::{MaintenanceError, MaintenanceStore};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What the windows are judged against: the wall clock, or a test's.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The maintenance windows as this process knows them. Cheap to clone.
#[derive(Clone)]
pub struct Maintenance {
    inner: Arc<Inner>,
}

struct Inner {
    store: Option<Arc<dyn MaintenanceStore>>,
    clock: Clock,
    /// The windows last read from the store.
    windows: RwLock<Arc<Vec<MaintenanceWindow>>>,
    /// Compiled from `windows`, for the instant it says.
    book: RwLock<Arc<MaintenanceBook>>,
    /// The gauge, once registered.
    gauge: Mutex<Option<IntGaugeVec>>,
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("windows", &self.inner.windows.read().len())
            .finish_non_exhaustive()
    }
}

impl Maintenance {
    /// The windows of `store` (none when the store keeps none), judged on
    /// the wall clock. Nothing is read until [`Maintenance::refresh`].
    pub fn new(store: Option<Arc<dyn MaintenanceStore>>) -> Self {
        Maintenance::with_clock(store, Arc::new(OffsetDateTime::now_utc))
    }

    /// [`Maintenance::new`] judged on `clock` (tests move it instead of
    /// waiting for a window to start or end).
    pub fn with_clock(store: Option<Arc<dyn MaintenanceStore>>, clock: Clock) -> Self {
        Maintenance {
            inner: Arc::new(Inner {
                store,
                clock,
                windows: RwLock::default(),
                book: RwLock::default(),
                gauge: Mutex::default(),
            }),
        }
    }

    /// The store's windows, when it keeps them.
    pub(crate) fn store(&self) -> Option<&Arc<dyn MaintenanceStore>> {
        self.inner.store.as_ref()
    }

    /// Now, on this handle's clock.
    pub fn now(&self) -> OffsetDateTime {
        (self.inner.clock)()
    }

    /// Re-reads the windows from the store and recompiles the book.
    pub async fn refresh(&self) -> Result<(), MaintenanceError> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let windows = Arc::new(store.list().await?);
        let book = Arc::new(MaintenanceBook::compile(&windows, self.now()));
        *self.inner.windows.write() = windows;
        *self.inner.book.write() = book;
        Ok(())
    }

    /// Refreshes every `every` until `shutdown`; a failed read is logged and
    /// the windows last read are kept.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.refresh().await {
                tracing::warn!(error = %err, "reading the maintenance windows failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Every window last read.
    pub fn windows(&self) -> Arc<Vec<MaintenanceWindow>> {
        self.inner.windows.read().clone()
    }

    /// The book of the windows active now: the one held while it holds,
    /// else compiled again from the windows held (a window started or
    /// stopped since).
    pub fn book(&self) -> Arc<MaintenanceBook> {
        let now = self.now();
        let held = self.inner.book.read().clone();
        if held.holds_at(now) {
            return held;
        }
        let book = Arc::new(MaintenanceBook::compile(&self.windows(), now));
        *self.inner.book.write() = book.clone();
        book
    }

    /// The window `proxy` is in now, if it is in one.
    pub fn of(&self, proxy: &Uuid) -> Option<ActiveMaintenance> {
        self.book().of(proxy).cloned()
    }

    /// Registers `proxyhealth_maintenance{proxy_id}` on `registry`.
    pub fn register_gauge(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "proxyhealth_maintenance",
                "1 while the proxy is in a maintenance window; absent otherwise.",
            ),
            &["proxy_id"],
        )?;
        registry.register(Box::new(gauge.clone()))?;
        *self.inner.gauge.lock() = Some(gauge);
        Ok(())
    }

    /// Sets the gauge for `proxies` (the ones checked): 1 for each in a
    /// window, no series for the others. Called before the metrics are
    /// rendered, so a scrape sees the windows of that moment.
    pub fn update_gauge<'a>(&self, proxies: impl Iterator<Item = &'a Uuid>) {
        let gauge = self.inner.gauge.lock();
        let Some(gauge) = gauge.as_ref() else {
            return;
        };
        gauge.reset();
        let book = self.book();
        for proxy in proxies.filter(|proxy| book.covers(proxy)) {
            gauge.with_label_values(&[&proxy.to_string()]).set(1);
        }
    }
}

/// The history recorder in front of the store's: leaves the checks of a
/// proxy in maintenance out of the batch (they count for no uptime) and
/// holds back its status changes (not recorded, so not notified). When the
/// window is over, the newest change held is recorded then, once: the store
/// drops it when the status is again the one it last recorded before the
/// window (down and back inside the window notifies nothing).
///
/// Held changes live in this process: a restart inside a window forgets
/// them, and the engine's first sweep after it records the status anew.
pub struct MaintenanceRecorder {
    inner: Arc<dyn HistoryRecorder>,
    maintenance: Maintenance,
    held: HeldChanges<Transition>,
}

impl MaintenanceRecorder {
    /// `inner`, with `maintenance`'s windows left out.
    pub fn new(inner: Arc<dyn HistoryRecorder>, maintenance: Maintenance) -> Self {
        MaintenanceRecorder {
            inner,
            maintenance,
            held: HeldChanges::default(),
        }
    }
}

#[async_trait::async_trait]
impl HistoryRecorder for MaintenanceRecorder {
    async fn record(&self, batch: HistoryBatch) -> Result<Vec<Transition>, RecordError> {
        let book = self.maintenance.book();
        let now = self.maintenance.now();
        let mut out = HistoryBatch {
            checks: batch
                .checks
                .into_iter()
                .filter(|check| !book.covers(&check.proxy_id))
                .collect(),
            transitions: Vec::new(),
        };
        let Sorted { released, passed } =
            self.held
                .sort(batch.transitions, |proxy| book.covers(proxy), now);
        out.transitions = released;
        out.transitions.extend(passed);
        if out.is_empty() {
            return Ok(Vec::new());
        }
        self.inner.record(out).await
    }
}
