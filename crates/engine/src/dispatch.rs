//! The order in which a sweep starts its checks: the longest expected first.
//!
//! A sweep ends when its last check ends, and a check that will hang ends one
//! timeout after it starts. Started in list order, the hanging proxies near the
//! end of the list start only once the checks before them have gone through the
//! slots, so a 10,000-proxy sweep on a busy machine took the timeout plus the
//! whole dispatch (about a second). Starting the checks that took longest last
//! time first (longest-processing-time-first, the classic rule for a short
//! makespan) puts every hang of the previous sweep in the first slots: the
//! sweep then ends about one timeout after its start, while the quick checks go
//! through the slots left over.
//!
//! A leaf: it reads the previous statuses it is given and nothing else.

use proxyhealth_core::{Proxy, ProxyStatus};
use std::time::Duration;

/// How long the check of a proxy is expected to take, from its last result:
/// the last check's latency (a timeout counts its whole duration); a proxy
/// never checked may hang, so it counts as a full `timeout`; a last check
/// that made no request (unregistered, bad URL) counts as nothing.
pub(crate) fn expected_duration(last: Option<&ProxyStatus>, timeout: Duration) -> Duration {
    match last {
        None => timeout,
        Some(status) => status.latency.unwrap_or(Duration::ZERO),
    }
}

/// The indices of `proxies` in the order to start their checks: longest
/// expected duration first ([`expected_duration`]), ties in list order, so a
/// first sweep (nothing known) keeps the list order.
pub(crate) fn longest_first<'a>(
    proxies: &[Proxy],
    last: impl Fn(&Proxy) -> Option<&'a ProxyStatus>,
    timeout: Duration,
) -> Vec<usize> {
    let expected: Vec<Duration> = proxies
        .iter()
        .map(|proxy| expected_duration(last(proxy), timeout))
        .collect();
    let mut order: Vec<usize> = (0..proxies.len()).collect();
    // Stable: equal expectations keep their list order.
    order.sort_by(|&a, &b| expected[b].cmp(&expected[a]));
    order
}
