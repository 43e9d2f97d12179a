//! Raising the open-files limit: every check in flight holds a socket, and the
//! server holds one per client, so the default soft limit (often 1,024) is too low.

/// Raises the soft limit on open files to the hard limit and returns the limit in
/// force. A failure is logged, not fatal: the process can still run with fewer files.
pub fn raise_open_files() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::debug!(limit, "open-files limit");
            Some(limit)
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not raise the open-files limit");
            None
        }
    }
}
