//! Starting the real `proxyhealth serve` and reading its memory.

use crate::error::LoadError;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How `proxyhealth serve` is started.
#[derive(Debug, Clone)]
pub struct ServeSpec {
    /// `--db`: `sqlite://FILE` or a `postgres://` URL.
    pub db: String,
    /// `--interval`, the time between sweeps.
    pub interval: Duration,
    /// `--admin-token`.
    pub admin_token: String,
    /// Where the server's stderr (its log) goes.
    pub log: PathBuf,
}

impl ServeSpec {
    /// A server on the SQLite file `db`.
    pub fn sqlite(db: &Path, interval: Duration, admin_token: &str, log: &Path) -> ServeSpec {
        ServeSpec {
            db: format!("sqlite://{}", db.display()),
            interval,
            admin_token: admin_token.to_owned(),
            log: log.to_owned(),
        }
    }
}

/// A running `proxyhealth serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, as printed.
    pub url: String,
}

impl Server {
    /// Starts `bin serve` as `spec` says, on 127.0.0.1:0, and waits for the
    /// line with its address. Settings from the caller's environment
    /// (`PROXYHEALTH_CONFIG`, parallelism, rise and fall) are removed, so they
    /// cannot change what is measured.
    pub fn start(bin: &Path, spec: &ServeSpec) -> Result<Server, LoadError> {
        let log =
            std::fs::File::create(&spec.log).map_err(LoadError::io("create the server log"))?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--db")
            .arg(&spec.db)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--interval")
            .arg(format!("{}ms", spec.interval.as_millis()))
            .arg("--admin-token")
            .arg(&spec.admin_token)
            .env_remove("PROXYHEALTH_CONFIG")
            .env_remove("PROXYHEALTH_PARALLELISM")
            .env_remove("PROXYHEALTH_SECOND_OPINION")
            .env_remove("PROXYHEALTH_RISE")
            .env_remove("PROXYHEALTH_FALL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(LoadError::io(format!("start {} serve", bin.display())))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(LoadError::NoAddress {
                log: spec.log.clone(),
            });
        };
        let mut lines = BufReader::new(stdout).lines();
        let url = lines.by_ref().map_while(Result::ok).find_map(|line| {
            line.strip_prefix("proxyhealth listening on ")
                .map(|url| url.trim().to_owned())
        });
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LoadError::NoAddress {
                log: spec.log.clone(),
            });
        };
        // keep reading stdout so the server never blocks on a full pipe
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server { child, url })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory (VmRSS) in KiB, from /proc.
    pub fn rss_kib(&self) -> Result<u64, LoadError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .map_err(LoadError::io("read /proc/PID/status"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or(LoadError::NoRss(self.pid()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
