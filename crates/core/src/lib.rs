//! The pure core of proxyhealth: the model and the rules, with no I/O.
//!
//! # Layout
//! - [`status`]: the five health statuses, their wire strings and gauge values.
//! - [`report`]: the `{errors, warnings}` health report a proxy serves, how it is
//!   decoded from a response body and how it is bounded before it is kept.
//! - [`proxy`]: the proxy record (Coder's `workspace_proxies` row) and its hosts.
//! - [`proxy_status`]: what the engine knows about one proxy after a check.
//! - [`outcome`]: what a probe saw on the wire, handed from the engine to the classifier.
//! - [`mod@classify`]: turns an outcome into a status and report, branch by branch as the seed.
//! - [`envelope`]: Coder's error envelope and the seed's "read body as error" text.
//! - [`hysteresis`]: the optional rise/fall damping of status changes.
//! - [`advice`]: the checker's own warnings (a TLS certificate near its expiry,
//!   a slow answer) and the words for a certificate refused for its dates.
//! - [`validate`]: rules for names, registered URLs and wildcard hostnames.
//! - [`source`]: the interface the engine reads proxies through.
//! - [`secrets`]: a proxy URL's password kept out of everything shown: the URL
//!   as shown (`https://user:xxxxx@host`, Prometheus's convention) and
//!   messages cleaned of it.
//! - [`history`]: the recording seam of persisted history: checks and status
//!   transitions handed to the store in one transaction ([`HistoryRecorder`]).
//! - [`rollup`]: the hourly rollup of a proxy's checks and its latency sketch.
//! - [`human`]: how long something lasted, and an error with its causes,
//!   as people read them.
//! - [`vantage`]: the places probes come from, and the quorum rule that
//!   turns one result per vantage into the overall status.
//! - [`maintenance_filter`]: what a write of shared results records while
//!   windows are in force (a cluster's fenced writes).
//! - [`maintenance`]: maintenance windows, one-off and weekly, and the
//!   per-proxy book of the active ones that lookups read in constant time.
//! - [`access`]: the roles people hold and the principal a request is made by.
//!
//! # Features
//! - `openapi`: `utoipa::ToSchema` on the types the API sends (the status, the
//!   report, the error envelope), for the server's OpenAPI description; turned
//!   on by `proxyhealth-api`.

pub mod access;
pub mod advice;
pub mod classify;
pub mod envelope;
pub mod history;
pub mod human;
pub mod hysteresis;
pub mod maintenance;
pub mod maintenance_filter;
pub mod outcome;
pub mod partial;
pub mod proxy;
pub mod proxy_status;
pub mod report;
pub mod rollup;
pub mod secrets;
pub mod source;
pub mod status;
pub mod validate;
pub mod vantage;
pub mod vantage_history;

pub use access::{Credential, Principal, Role, UnknownRole};
pub use classify::{Classified, classify, health_report_url};
pub use history::{
    CheckRecord, HistoryBatch, HistoryRecorder, IncidentEnd, RecordError, Transition,
};
pub use hysteresis::Hysteresis;
pub use outcome::{BodyError, ProbeOutcome, ProbeResponse, TransportError, TransportErrorKind};
pub use partial::{PartialChange, PartialRecorder, partial_vantages};
pub use proxy::{Proxy, ProxyHost, app_host_for_csp};
pub use proxy_status::{HISTORY_LEN, HistoryPoint, ProxyStatus};
pub use report::{HealthReport, ReportLimits};
pub use rollup::{LatencySketch, Rollup};
pub use secrets::{redact_in, redact_report, redact_url};
pub use source::{ProxySource, SourceError};
pub use status::Status;
pub use vantage::{Quorum, VantageName, VantageReading, Verdict};
pub use vantage_history::{OwnHistoryRecorder, VantageHistory, VantageTransition};
