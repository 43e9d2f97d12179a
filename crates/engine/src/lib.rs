//! The proxyhealth engine: checks every proxy of a store on an interval and keeps
//! the results in memory for lock-free reads.
//!
//! # Layout
//! Modules point one way, from the engine down to the transports and parsers;
//! none imports a module that uses it.
//! - [`options`]: the engine's settings and their defaults, with the reasoning.
//! - `probe`: the probe pipeline: one `GET <url>/healthz-report` under a
//!   whole-request deadline and a body cap, following same-host redirects when
//!   told to; it owns the deadline (the host name's lookup included), the
//!   redirect loop, the cap and the response the classifier judges.
//! - `transport`: one request, no redirects, until a deadline, into a lent
//!   buffer, under a cap: `transport::plain_http`, the lean HTTP/1 client for
//!   `http://`; `transport::lean_tls`, the same client over a fresh rustls
//!   handshake for `https://`; and `transport::client`, `reqwest`, for every
//!   URL when the caller supplies a client; `transport::resolve` looks host
//!   names up for the lean ones (the system's resolver, or the DNS server of
//!   [`EngineOptions::dns_server`]); `transport::exchange` holds what all
//!   give back; `transport::refusal` words TLS failures for both TLS paths.
//! - [`http1`]: the pure parsers of untrusted bytes the lean client uses, the
//!   response head and chunked decoding (public for the fuzz targets).
//! - `sweep`: one pass over all proxies with bounded parallelism, and
//!   [`sweep_once`], the one-shot sweep `proxyhealth check` runs.
//! - `starter`: a sweep's checks started (connection opened, request
//!   written) on a thread of its own ahead of the workers that read the
//!   answers, as far as the open-files limit allows, so that a first sweep,
//!   where any proxy may hang, starts every check within a moment.
//! - `stream`: [`sweep_streaming`], the one-shot sweep an agent runs, each
//!   result handed on as its check ends, stamped with its own start.
//! - `dispatch`: the order a sweep of the engine starts its checks in: the
//!   longest expected (from the previous sweep) first, so the proxies that hung
//!   last time start at once and a sweep ends about one timeout after its start.
//! - [`snapshot`]: the immutable snapshot readers see, and how new results merge into it.
//! - [`metrics`]: the Prometheus metrics (Coder's names), computed from the snapshot.
//! - [`proxy_metrics`]: the per-proxy series beside Coder's (an info series with
//!   the names, latency, last check time, status changes) and the last sweep's
//!   time, for dashboards and alerts.
//! - [`engine`]: the engine itself, one job per file: building it, the loop
//!   and on-demand sweeps shared by concurrent callers, single-proxy
//!   re-checks (awaited, or in the background with at most one in flight per
//!   proxy), the shared view a cluster replica publishes instead of sweeping,
//!   and the one publishing protocol all of them go through (merge, record
//!   the history, merge again after a deletion, publish); and the readers.
//! - `history`: writing a sweep's or re-check's checks and transitions to
//!   the [`proxyhealth_core::HistoryRecorder`] set on the builder, before
//!   the snapshot showing them is published.
//! - [`recheck`]: [`RecheckRequests`], the seam that lets a cluster run the
//!   background re-checks the engine is asked for (one check in the cluster).
//! - [`tls_files`]: the TLS files the options name (CA bundle, client
//!   certificate and key), read and checked when the engine is built.
//! - [`vantage_metrics`]: the per-vantage series (each vantage's status and
//!   latency per proxy, each vantage's newest result and whether it is live).
//! - [`vantages`]: other vantages' newest readings per proxy (what agents
//!   send, damped and checked for age and clock), and the judge that turns
//!   them and the own result into the overall status by the quorum.
//! - [`error`]: the engine's errors.
//! - `x509`: the shape and the expiry of a certificate, read from its DER.
//!
//! Who uses whom (`use crate::` edges; `options`, `recheck`, `x509`,
//! `tls_files` (→ options, x509) and `error` (→ tls_files) are leaves any
//! module may use):
//! ```text
//! engine     → sweep, dispatch, snapshot, metrics, probe, recheck, history, vantages
//! history    → snapshot, sweep (CheckResult)
//! stream     → sweep, probe
//! metrics    → proxy_metrics, vantage_metrics, snapshot
//! vantage_metrics → proxy_metrics, snapshot
//! proxy_metrics → snapshot
//! snapshot   → sweep (CheckResult), vantages
//! sweep      → probe, starter
//! starter    → probe
//! probe      → transport
//! transport  → transport::{exchange, plain_http, lean_tls, client, resolve}
//! plain_http → transport::{exchange, resolve}, http1
//! lean_tls   → transport::{plain_http, certificate, refusal, exchange, resolve}, tls_files
//! certificate → x509
//! client     → transport::{certificate, refusal, exchange}, http1::head
//! refusal    → transport::exchange
//! resolve    → transport::exchange
//! http1      → nothing of this crate
//! dispatch   → nothing of this crate
//! ```

mod dispatch;
pub mod engine;
pub mod error;
mod history;
pub mod http1;
pub mod metrics;
pub mod options;
pub mod own_history;
mod probe;
pub mod proxy_metrics;
pub mod recheck;
pub mod snapshot;
mod starter;
mod stream;
mod sweep;
pub mod tls_files;
mod transport;
pub mod vantage_metrics;
pub mod vantages;
mod x509;

pub use engine::{Engine, EngineBuilder, SweepState};
pub use error::EngineError;
pub use options::{CaMode, EngineOptions, RedirectPolicy};
pub use recheck::RecheckRequests;
pub use snapshot::{Snapshot, SweepInfo, VantageFreshness, ViewRead};
pub use stream::sweep_streaming;
pub use sweep::{CheckResult, sweep_once};
pub use tls_files::{TlsFileError, TlsFiles};
