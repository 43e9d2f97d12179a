//! One `proxyhealth serve` child on PostgreSQL (a replica): started with a
//! free loopback port, its address read from its stdout, its log written to a
//! file, stopped with SIGTERM (SIGKILL after a grace period) by its own pid.

use anyhow::{Context, anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What the replicas are started with.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    /// The `proxyhealth` binary.
    pub binary: PathBuf,
    /// The `postgres://` URL of the shared database.
    pub db: String,
    /// `--interval`.
    pub interval: Duration,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--admin-token` (the same on every replica).
    pub admin_token: String,
}

/// A running replica.
pub struct ReplicaProcess {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl ReplicaProcess {
    /// Starts replica number `index` and waits (at most a minute) for its
    /// "listening" line.
    pub async fn start(
        spec: &ReplicaSpec,
        index: usize,
        log_dir: &Path,
    ) -> anyhow::Result<ReplicaProcess> {
        let log = log_dir.join(format!("replica-{index}.log"));
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let mut command = Command::new(&spec.binary);
        command
            .arg("serve")
            .arg("--db")
            .arg(&spec.db)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--interval")
            .arg(format!("{}ms", spec.interval.as_millis()))
            .arg("--timeout")
            .arg(format!("{}ms", spec.timeout.as_millis()))
            .arg("--admin-token")
            .arg(&spec.admin_token)
            // the parent's settings must not change what is measured
            .env_remove("PROXYHEALTH_CONFIG")
            .env_remove("PROXYHEALTH_PARALLELISM")
            .env_remove("PROXYHEALTH_SECOND_OPINION")
            .env_remove("PROXYHEALTH_RISE")
            .env_remove("PROXYHEALTH_FALL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("start {}", spec.binary.display()))?;
        let stdout = child.stdout.take().context("replica stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("proxyhealth listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            Err(anyhow!("exited before listening"))
        })
        .await
        .map_err(|_| anyhow!("did not listen within 60 s"));
        let url = match url.and_then(|inner| inner) {
            Ok(url) => url,
            Err(err) => {
                let _ = child.kill().await;
                bail!("replica {index}: {err}; log: {}", tail(&log));
            }
        };
        // keep reading stdout so the child never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ReplicaProcess { child, url, log })
    }

    /// SIGTERM, then waits up to 15 s for a clean exit (SIGKILL after that).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("replica {} exited with {status}", self.url);
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!(
                    "replica {} did not stop within 15 s and was killed",
                    self.url
                )
            }
        }
    }
}

/// The last lines of a log file, for an error message.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
