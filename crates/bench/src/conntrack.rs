//! Room in the kernel's connection-tracking table before a measured run.
//!
//! Where netfilter's connection tracking is loaded (a host with a firewall or
//! containers), every loopback connection keeps an entry for two minutes after
//! it closes (`nf_conntrack_tcp_timeout_time_wait`). A bench makes hundreds of
//! thousands of connections within minutes; once the table is full, the kernel
//! drops new SYNs, the client resends them after one second, then three, and
//! healthy proxies time out: thousands of `ok` proxies reported as timed out
//! and a sweep of 17-20 s instead of 5, neither the checker's fault nor the
//! fleet's (`nstat` shows tens of thousands of SYN retransmissions and no
//! listen-queue overflow while `nf_conntrack_count` equals `nf_conntrack_max`).
//! So before a run of `n` connections the bench waits, within a bound, until
//! the table has room for them, and says so when it had to wait or could not.

use std::time::{Duration, Instant};

const COUNT: &str = "/proc/sys/net/netfilter/nf_conntrack_count";
const MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";

/// The longest wait: closed connections leave the table two minutes after
/// they closed, so this is enough for a full table to drain.
const LONGEST_WAIT: Duration = Duration::from_secs(130);

/// Entries in use and the table's size; `None` without connection tracking.
pub fn usage() -> Option<(u64, u64)> {
    let read =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    Some((read(COUNT)?, read(MAX)?))
}

/// Waits until the table has room for `connections` more entries (at most
/// [`LONGEST_WAIT`]); gives a note when it waited or the room never came.
pub async fn make_room(connections: usize) -> Option<String> {
    let needed = u64::try_from(connections).unwrap_or(u64::MAX);
    let (count, max) = usage()?;
    if count.saturating_add(needed) <= max {
        return None;
    }
    eprintln!(
        "   connection tracking: {count} of {max} entries in use, {needed} needed: waiting for closed ones to expire"
    );
    let started = Instant::now();
    while started.elapsed() < LONGEST_WAIT {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (count, max) = usage()?;
        if count.saturating_add(needed) <= max {
            return Some(format!(
                "waited {:.0} s for room in the connection-tracking table ({count} of {max} in use after)",
                started.elapsed().as_secs_f64()
            ));
        }
    }
    let (count, max) = usage()?;
    Some(format!(
        "the connection-tracking table stayed full ({count} of {max} in use, {needed} needed): \
         new connections may be dropped and healthy proxies time out in this run"
    ))
}

/// [`make_room`], its note (if any) said on stderr: for the rows that keep no notes.
pub async fn wait_for_room(connections: usize) {
    if let Some(note) = make_room(connections).await {
        eprintln!("   {note}");
    }
}
