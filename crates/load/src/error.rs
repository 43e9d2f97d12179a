//! Why a load run could not go on: the server did not start, a call failed,
//! the fleet never became `ok`. Failed requests of the load itself are not
//! errors: they are counted in the [`Samples`](crate::stats::Samples).

use proxyhealth_api::ApiError;
use std::path::PathBuf;
use std::time::Duration;

/// Why a load run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `proxyhealth serve` exited or closed its output before printing its address.
    #[error("the server printed no address; see {}", log.display())]
    NoAddress {
        /// The server's log file.
        log: PathBuf,
    },
    /// `/proc/PID/status` has no readable `VmRSS` line.
    #[error("no VmRSS line for pid {0}")]
    NoRss(u32),
    /// A call of the setup (create, register, read back) failed (boxed: an
    /// API error carries the server's whole envelope).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The fleet did not become `ok` in time.
    #[error("after {waited:?}, {listed} proxies listed and {ok} ok of {want}")]
    NotReady {
        /// How long it was waited for.
        waited: Duration,
        /// Proxies the summary counted.
        listed: usize,
        /// Of them `ok`.
        ok: usize,
        /// Proxies expected.
        want: usize,
    },
}

impl From<ApiError> for LoadError {
    fn from(err: ApiError) -> Self {
        LoadError::Api(Box::new(err))
    }
}

impl LoadError {
    /// An [`LoadError::Io`] saying what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LoadError {
        let what = what.into();
        move |source| LoadError::Io { what, source }
    }
}
