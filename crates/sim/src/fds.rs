//! File-descriptor budgeting: a fleet needs one descriptor per listener and per connection.

use crate::error::SimError;
use std::io;

/// Descriptors kept aside for everything else the process opens (stdio, epoll, files, logs).
pub const FD_RESERVE: u64 = 64;

/// The descriptors a process needs to hold `n_listeners` listeners and up to
/// `max_connections` open connections at once, plus [`FD_RESERVE`].
///
/// When the checker runs in the same process, its own client sockets count as
/// connections too (one per proxy it talks to at the same time).
pub fn fds_needed(n_listeners: usize, max_connections: usize) -> u64 {
    let listeners = u64::try_from(n_listeners).unwrap_or(u64::MAX);
    let connections = u64::try_from(max_connections).unwrap_or(u64::MAX);
    listeners
        .saturating_add(connections)
        .saturating_add(FD_RESERVE)
}

/// Raises the soft open-file limit as far as the hard limit allows and returns the new
/// soft limit (a process may always do this without privileges).
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The current soft open-file limit (`u64::MAX` where the platform has none).
pub fn fd_limit() -> io::Result<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _hard)| soft)
    }
    #[cfg(not(unix))]
    {
        Ok(u64::MAX)
    }
}

/// Makes sure `needed` descriptors are allowed, raising the soft limit if it is lower;
/// returns the limit in force, or [`SimError::FdLimit`] when even the hard limit is too low.
pub(crate) fn ensure_fds(needed: u64) -> Result<u64, SimError> {
    let mut limit = fd_limit().map_err(SimError::Rlimit)?;
    if limit < needed {
        limit = raise_fd_limit().map_err(SimError::Rlimit)?;
    }
    if limit < needed {
        return Err(SimError::FdLimit { needed, limit });
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_need_is_listeners_plus_connections_plus_the_reserve() {
        assert_eq!(fds_needed(10_000, 1_000), 11_000 + FD_RESERVE);
        assert_eq!(fds_needed(usize::MAX, usize::MAX), u64::MAX);
    }

    #[test]
    fn an_impossible_need_is_refused_with_both_numbers_and_the_shard_hint() {
        let err = ensure_fds(u64::MAX).expect_err("no process may hold u64::MAX files");
        let text = err.to_string();
        assert!(text.contains(&u64::MAX.to_string()), "{text}");
        assert!(text.contains("--shard i/n"), "{text}");
    }
}
