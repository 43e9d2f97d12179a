//! The engine's settings and their defaults.

use proxyhealth_core::{Hysteresis, ReportLimits};
use std::time::Duration;

/// Default time between sweeps (Coder's `--proxy-health-interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default bound on one check, from connecting to the last byte of the body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of checks in flight at once.
///
/// The seed used 5, so a fleet with a few hanging proxies took minutes: each hang
/// holds a slot for a whole timeout. With 1,024 slots, a sweep takes about one
/// timeout as long as fewer than 1,024 proxies hang, and healthy checks (under a
/// millisecond each on a LAN) go through the slots left. A slot costs one socket
/// and a few kilobytes, so 1,024 stays far below the file limit the binary raises
/// at start (up to the hard limit, 20,000 on our machines).
pub const DEFAULT_PARALLELISM: usize = 1024;
/// Default cap on a report body: a real report is a few hundred bytes.
pub const DEFAULT_BODY_CAP: u64 = 1024 * 1024;

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
    /// Checks in flight at once (default [`DEFAULT_PARALLELISM`]).
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
        }
    }
}
