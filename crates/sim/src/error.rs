//! The one error type of the simulator.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop a simulated proxy or fleet from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A listener could not be bound on `addr`.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address the bind was tried on.
        addr: SocketAddr,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// No port was free on every address of the fleet after several attempts.
    #[error(
        "no port was free on all {listeners} fleet addresses after {attempts} attempts (last conflict on {last_conflict})"
    )]
    NoCommonPort {
        /// How many listeners the fleet (or shard) needs.
        listeners: usize,
        /// How many ports were tried.
        attempts: u32,
        /// The address whose bind failed last.
        last_conflict: SocketAddr,
    },
    /// The open-file limit is too low for the fleet.
    #[error(
        "the fleet needs about {needed} file descriptors but the limit is {limit}: raise it (ulimit -n {needed}) or split the fleet into several processes with --shard i/n"
    )]
    FdLimit {
        /// File descriptors the fleet needs (listeners, connections, a reserve).
        needed: u64,
        /// The soft limit after trying to raise it to the hard limit.
        limit: u64,
    },
    /// The fleet spec is inconsistent (percentages over 100, a bad shard, too many proxies).
    #[error("invalid fleet spec: {0}")]
    InvalidSpec(String),
    /// Reading or changing the file-descriptor limit failed.
    #[error("cannot read or raise the open-file limit: {0}")]
    Rlimit(#[source] io::Error),
    /// Writing a targets file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(#[source] io::Error),
}
