//! Starting the real `proxyhealth serve` and reading its memory.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `proxyhealth serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, as printed.
    pub url: String,
}

impl Server {
    /// Starts `bin serve` on the SQLite file `db`, on 127.0.0.1:0, sweeping every
    /// second, with `admin` as the admin token; logs go to `log`.
    pub fn start(bin: &Path, db: &Path, admin: &str, log: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--db")
            .arg(format!("sqlite://{}", db.display()))
            .args(["--listen", "127.0.0.1:0", "--interval", "1s"])
            .args(["--admin-token", admin])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).context("create the server log")?)
            .spawn()
            .with_context(|| format!("start {} serve", bin.display()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = lines.by_ref().map_while(Result::ok).find_map(|line| {
            line.strip_prefix("proxyhealth listening on ")
                .map(str::to_owned)
        });
        let Some(url) = url else {
            let _ = child.kill();
            bail!("the server printed no address; see {}", log.display());
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server { child, url })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory (VmRSS) in KiB, from /proc.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .context("read /proc/PID/status")?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .context("no VmRSS line")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
