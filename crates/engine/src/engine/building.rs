//! [`EngineBuilder`]: the settings and collaborators of an [`Engine`], checked
//! once when it is built.

use super::{Engine, Inner, LastSweep, SweepState};
use crate::error::EngineError;
use crate::history::HistoryWriter;
use crate::metrics::EngineMetrics;
use crate::options::{DEFAULT_INTERVAL, EngineOptions};
use crate::probe::Prober;
use crate::recheck::RecheckRequests;
use crate::snapshot::Snapshot;
use crate::vantages::RemoteBook;
use arc_swap::ArcSwap;
use proxyhealth_core::{HistoryRecorder, OwnHistoryRecorder, PartialRecorder, ProxySource};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{Mutex as AsyncMutex, watch};

/// Builds an [`Engine`]; the store is required, everything else has a default.
#[derive(Default)]
pub struct EngineBuilder {
    source: Option<Arc<dyn ProxySource>>,
    options: EngineOptions,
    client: Option<reqwest::Client>,
    registry: Option<prometheus::Registry>,
    recheck_requests: Option<Arc<dyn RecheckRequests>>,
    history: Option<Arc<dyn HistoryRecorder>>,
    partial: Option<Arc<dyn PartialRecorder>>,
    own_history: Option<Arc<dyn OwnHistoryRecorder>>,
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

    /// Answers read and judged at once (checks start ahead of them, up to
    /// the open-files limit).
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

    /// Where to write history: every sweep's and re-check's checks and the
    /// status transitions they cause, in one transaction, before the snapshot
    /// showing them is published, so nothing shown can be missing from it
    /// after a crash. Unset, nothing is written (a cluster replica writes
    /// history with its results instead).
    pub fn history(mut self, recorder: Arc<dyn HistoryRecorder>) -> Self {
        self.history = Some(recorder);
        self
    }

    /// Where to keep partial outages (a proxy failing from fewer vantages
    /// than the quorum): each start, change of vantages and end a merge
    /// sees, handed over after the merge's history is written. Used only
    /// with [`EngineBuilder::history`] (a cluster replica keeps none).
    pub fn partial_outages(mut self, recorder: Arc<dyn PartialRecorder>) -> Self {
        self.partial = Some(recorder);
        self
    }

    /// Where to keep the own vantage's history (its checks and its damped
    /// status changes, apart from the overall ones), handed over after the
    /// merge's history is written. Used only with [`EngineBuilder::history`]
    /// (a cluster replica hands its vantage's results over itself).
    pub fn own_history(mut self, recorder: Arc<dyn OwnHistoryRecorder>) -> Self {
        self.own_history = Some(recorder);
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
                state: watch::channel(Arc::new(SweepState::default())).0,
                generations,
                background_rechecks: parking_lot::Mutex::new(HashMap::new()),
                recheck_requests: self.recheck_requests,
                history,
                partial: self.partial,
                own_history: self.own_history,
                recording: AsyncMutex::new(()),
                view_read_at: parking_lot::Mutex::new(None),
                remote: parking_lot::RwLock::new(RemoteBook::default()),
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
