//! The engine's settings and their defaults.

use proxyhealth_core::{Hysteresis, Quorum, ReportLimits, VantageName};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default time between sweeps (Coder's `--proxy-health-interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default bound on one check, from connecting to the last byte of the body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of answers read and judged at once.
///
/// The seed used 5, so a fleet with a few hanging proxies took minutes: each hang
/// holds a slot for a whole timeout. With 1,024 slots, a sweep takes about one
/// timeout as long as fewer than 1,024 proxies hang, and healthy checks (under a
/// millisecond each on a LAN) go through the slots left. The checks themselves
/// are started ahead of the slots (`crate::starter`), as far as the file limit
/// the binary raises at start allows (up to the hard limit, 20,000 on our
/// machines); a slot costs a task of a few kilobytes.
pub const DEFAULT_PARALLELISM: usize = 1024;
/// Default cap on a report body: a real report is a few hundred bytes.
pub const DEFAULT_BODY_CAP: u64 = 1024 * 1024;

/// Default warning threshold for a proxy's TLS certificate: a certificate that
/// expires within 14 days adds a warning (the proxy stays `ok`).
pub const DEFAULT_TLS_EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// A result older than this many intervals is stale, and so is a replica's
/// view not read for as long: the newest result is normally up to one
/// interval old, and the second interval lets a slow sweep or a busy replica
/// catch up before a proxy or a view is reported stale.
pub const STALE_INTERVALS: u32 = 2;

/// What [`EngineOptions::result_within`] adds to twice the timeout: the time
/// around a check (a claim, the write, a read, a scheduler hiccup).
pub const RESULT_SLACK: Duration = Duration::from_secs(5);

/// The age at which a result of a proxy checked every `interval` is stale
/// ([`STALE_INTERVALS`] intervals): [`EngineOptions::stale_after`] for an
/// interval held elsewhere (a replica's cluster settings).
pub fn stale_after(interval: Duration) -> Duration {
    interval.saturating_mul(STALE_INTERVALS)
}

/// How a CA bundle (`tls_ca_file`) is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaMode {
    /// The bundle's certificates are trusted in addition to the system's roots
    /// (the default): a fleet behind a company CA, checked by a host that also
    /// trusts public CAs.
    #[default]
    Add,
    /// Only the bundle's certificates are trusted: the system's roots are not,
    /// so a proxy with a publicly trusted certificate that is not from the
    /// bundle is refused.
    Replace,
}

impl CaMode {
    /// The mode as configuration writes it: `add` or `replace`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaMode::Add => "add",
            CaMode::Replace => "replace",
        }
    }
}

impl std::fmt::Display for CaMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CaMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "add" => Ok(CaMode::Add),
            "replace" => Ok(CaMode::Replace),
            other => Err(format!(
                "unknown CA mode {other:?}: expected add (with the system's roots) or replace (instead of them)"
            )),
        }
    }
}

/// Whether the checker follows redirects from a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectPolicy {
    /// Never follow: a 3xx is `unhealthy` and the message names the `Location`.
    /// The default, because a proxy must serve its report at its own URL.
    #[default]
    None,
    /// Follow up to 10 redirects that stay on the same host (scheme and port may
    /// change); a redirect to another host is not followed.
    SameHost,
}

/// The engine's settings. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Time between sweeps; zero means one minute, as in the seed.
    pub interval: Duration,
    /// Bound on one check, including reading the body (default 5 s).
    pub timeout: Duration,
    /// Checks whose answers are read and judged at once (default
    /// [`DEFAULT_PARALLELISM`]). A sweep starts its checks ahead of reading
    /// them, as far as the open-files limit allows, so more requests than
    /// this may be in flight; the limit bounds the open connections.
    pub parallelism: usize,
    /// Most body bytes read from a proxy (default 1 MiB).
    pub body_cap: u64,
    /// Whether redirects are followed (default: not).
    pub redirects: RedirectPolicy,
    /// Rise/fall damping of status changes (default: none, the seed's semantics).
    pub hysteresis: Hysteresis,
    /// How much of a proxy's report is kept and shown.
    pub report_limits: ReportLimits,
    /// Accept TLS certificates that do not verify (for test fleets only).
    pub tls_insecure: bool,
    /// The DNS server that proxies' host names are looked up at (asked
    /// directly, no hosts file); `None`, the default, uses the system's
    /// resolver. Either way the lookup counts inside the timeout.
    pub dns_server: Option<std::net::SocketAddr>,
    /// A PEM file of one or more CA certificates trusted for proxies (default:
    /// none). Read when the engine is built: a missing or bad file fails then,
    /// naming the file (see [`crate::tls_files`]).
    pub tls_ca_file: Option<PathBuf>,
    /// Whether `tls_ca_file` is trusted with the system's roots or instead of
    /// them (default: with them). `Replace` needs a `tls_ca_file`.
    pub tls_ca_mode: CaMode,
    /// A PEM file with the client certificate (and any intermediates, leaf
    /// first) sent to proxies that ask for one (mutual TLS); needs `tls_client_key`.
    pub tls_client_cert: Option<PathBuf>,
    /// The PEM private key of `tls_client_cert` (PKCS #8, PKCS #1 or SEC1);
    /// must match that certificate.
    pub tls_client_key: Option<PathBuf>,
    /// A proxy whose TLS certificate expires within this long gets a warning
    /// (default [`DEFAULT_TLS_EXPIRY_WARNING`]); zero turns the warning off.
    pub tls_expiry_warning: Duration,
    /// A proxy that answers `ok` but slower than this gets a warning giving
    /// its latency and the threshold (default: none, no warning).
    pub latency_warning: Option<Duration>,
    /// The vantage this engine probes from (default
    /// [`VantageName::DEFAULT`]): its results count as that vantage's in
    /// the quorum over vantages.
    pub vantage: VantageName,
    /// How many vantages with a fresh result must see a proxy fail before
    /// it is down overall (default: a majority of them).
    pub quorum: Quorum,
    /// The local address every check's connection is made from (default:
    /// none, the system picks): a host with several addresses probes from
    /// the one its firewall rules or routes expect, and tests put several
    /// vantages on one machine. A proxy of the other address family cannot
    /// be reached from it.
    pub source_address: Option<IpAddr>,
}

impl EngineOptions {
    /// A result older than this is stale, and so is a replica's view not
    /// read for this long ([`stale_after`] of the interval).
    pub fn stale_after(&self) -> Duration {
        stale_after(self.interval)
    }

    /// The longest a check asked for now may take to become a result: twice
    /// the timeout, so a check that runs to its timeout is done well within
    /// it, and [`RESULT_SLACK`] more. A replica's lease of a claim lasts this
    /// long, and a re-check asked of the replicas is waited for this long.
    pub fn result_within(&self) -> Duration {
        self.timeout.saturating_mul(2).saturating_add(RESULT_SLACK)
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            parallelism: DEFAULT_PARALLELISM,
            body_cap: DEFAULT_BODY_CAP,
            redirects: RedirectPolicy::None,
            hysteresis: Hysteresis::default(),
            report_limits: ReportLimits::default(),
            tls_insecure: false,
            dns_server: None,
            tls_ca_file: None,
            tls_ca_mode: CaMode::Add,
            tls_client_cert: None,
            tls_client_key: None,
            tls_expiry_warning: DEFAULT_TLS_EXPIRY_WARNING,
            latency_warning: None,
            vantage: VantageName::default(),
            quorum: Quorum::Majority,
            source_address: None,
        }
    }
}
