//! Child processes of the orchestrator: this same binary run with a subcommand,
//! each measured alone. Every child is started here and ended here, by its handle.
//! Also where the stages that start `proxyhealth serve` find its binary.

use anyhow::{Context, anyhow, bail};
use serde::de::DeserializeOwned;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The `proxyhealth` binary: `given`, else the one next to this binary
/// (`scripts/bench` builds both); an error saying how to get it when absent.
pub fn proxyhealth_binary(given: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    let binary = match given {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary's directory")?
            .join("proxyhealth"),
    };
    if !binary.is_file() {
        bail!(
            "{} not found: build it (cargo build --release -p proxyhealth) or pass --proxyhealth",
            binary.display()
        );
    }
    Ok(binary)
}

/// This binary with `args`, stdout piped, stderr passed through.
fn command(args: &[String]) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("find the bench binary")?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    Ok(command)
}

/// Runs `args` to the end (killed after `limit`) and parses its last stdout line.
pub async fn run_json<T: DeserializeOwned>(args: &[String], limit: Duration) -> anyhow::Result<T> {
    run_json_with_env(args, &[], limit).await
}

/// [`run_json`] with environment variables set for the child.
pub async fn run_json_with_env<T: DeserializeOwned>(
    args: &[String],
    env: &[(&str, &std::ffi::OsStr)],
    limit: Duration,
) -> anyhow::Result<T> {
    let mut command = command(args)?;
    command.stdin(Stdio::null());
    command.envs(env.iter().copied());
    let child = command.spawn().context("start a child")?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("`{}` did not finish within {limit:?}", args.join(" ")))??;
    if !output.status.success() {
        bail!("`{}` failed: {}", args.join(" "), output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow!("`{}` printed nothing", args.join(" ")))?;
    serde_json::from_str(line).with_context(|| format!("parse {line:?}"))
}

/// A long-running child (a fleet, a server) that prints a ready line, answers
/// commands on stdin line by line, and stops when its stdin closes.
pub struct Service {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    name: String,
}

impl Service {
    /// Starts `args` and waits (at most `limit`) for its ready line.
    pub async fn start<T: DeserializeOwned>(
        args: &[String],
        limit: Duration,
    ) -> anyhow::Result<(Service, T)> {
        let mut command = command(args)?;
        command.stdin(Stdio::piped());
        let mut child = command.spawn().context("start a child")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("child stdout")?;
        let mut service = Service {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            name: args.join(" "),
        };
        let ready = service.read_line(limit).await?;
        Ok((service, ready))
    }

    async fn read_line<T: DeserializeOwned>(&mut self, limit: Duration) -> anyhow::Result<T> {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .map_err(|_| anyhow!("`{}` said nothing within {limit:?}", self.name))??
            .ok_or_else(|| anyhow!("`{}` exited early", self.name))?;
        serde_json::from_str(&line).with_context(|| format!("parse {line:?}"))
    }

    /// Sends one command line and parses the answer line.
    pub async fn ask<T: DeserializeOwned>(&mut self, command: &str) -> anyhow::Result<T> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        stdin.write_all(format!("{command}\n").as_bytes()).await?;
        stdin.flush().await?;
        self.read_line(Duration::from_secs(10)).await
    }

    /// Closes its stdin and waits for it to exit (killing it after 15 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("`{}` exited with {status}", self.name);
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("`{}` did not stop within 15 s and was killed", self.name)
            }
        }
    }
}
