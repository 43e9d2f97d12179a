//! What the process has used so far, read from `/proc` (no unsafe code, no libc).
//!
//! CPU time is the sum of every live thread's on-CPU nanoseconds
//! (`/proc/self/task/*/schedstat`, user and system together), which is precise to
//! the nanosecond; `/proc/self/stat` (utime + stime, in clock ticks of 10 ms) is the
//! fallback and the cross-check, and also counts threads that have exited.

use std::fs;

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// CPU seconds used by this process so far (user + system, all threads).
pub fn cpu_seconds() -> f64 {
    let by_ticks = stat_cpu_seconds().unwrap_or(0.0);
    match schedstat_cpu_seconds() {
        // A thread that exited is missing from the per-thread sum; the tick count
        // still has it, so the larger of the two is the better estimate.
        Some(precise) if precise + 0.02 >= by_ticks => precise,
        _ => by_ticks,
    }
}

/// utime + stime of the whole process from `/proc/self/stat`, in seconds.
fn stat_cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the whole line, utime 14, stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// The on-CPU time of every live thread from `schedstat`, in seconds.
fn schedstat_cpu_seconds() -> Option<f64> {
    let mut total_ns: u128 = 0;
    for entry in fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may exit between the listing and the read: skip it.
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        let ns: u128 = text.split_whitespace().next()?.parse().ok()?;
        total_ns += ns;
    }
    Some(total_ns as f64 / 1e9)
}

/// The peak resident memory of this process (`VmHWM`), in KiB.
pub fn peak_rss_kib() -> u64 {
    status_field("VmHWM:").unwrap_or(0)
}

/// A `kB` field of `/proc/self/status`.
fn status_field(name: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}
