//! Running the real binary: a `serve` process with a temp SQLite file, CLI
//! invocations, and small helpers around them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_proxyhealth");

/// A `Command` for the binary with no PROXYHEALTH_* variables inherited from
/// the developer's shell, and no colours.
pub fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PROXYHEALTH_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// The same, for async tests that must keep their runtime running (the fake
/// proxies are served by it) while the binary works.
pub fn async_command() -> tokio::process::Command {
    tokio::process::Command::from(command())
}

/// A running `proxyhealth serve`; killed when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`, as printed.
    pub url: String,
    /// The admin token: generated and printed, or the one given.
    pub token: String,
    /// Everything the server logged, for failure messages.
    pub log: PathBuf,
    /// The SQLite file the server stores proxies in.
    pub db: PathBuf,
    /// Keeps the database directory alive until the server is dropped.
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `serve` on a temp SQLite file at 127.0.0.1:0 with `extra` flags and
    /// waits for it to print its address (and its generated token, if any).
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(extra, &[], None)
    }

    /// Like [`Server::start`], with environment variables. When `listen_from` is
    /// set (saying where the address comes from: the file, env or a flag),
    /// `--listen 127.0.0.1:0` is not passed.
    pub fn start_with(extra: &[&str], env: &[(&str, &str)], listen_from: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("proxyhealth.db");
        let spec = format!("sqlite://{}", db.display());
        Server::spawn(dir, db, &spec, extra, env, listen_from)
    }

    /// Starts `serve` on the store `db_spec` (a `postgres://` URL, say) at
    /// 127.0.0.1:0 with `extra` flags; `db` is then a path where no store is.
    pub fn start_on(db_spec: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("not-a-sqlite-store");
        Server::spawn(dir, db, db_spec, extra, &[], None)
    }

    /// Like [`Server::start_on`], with environment variables.
    pub fn start_on_with(db_spec: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("not-a-sqlite-store");
        Server::spawn(dir, db, db_spec, extra, env, None)
    }

    fn spawn(
        dir: tempfile::TempDir,
        db: PathBuf,
        db_spec: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        listen_from: Option<&str>,
    ) -> Server {
        let log = dir.path().join("serve.log");
        let mut cmd = command();
        cmd.arg("serve").arg("--db").arg(db_spec);
        if listen_from.is_none() {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let mut child = cmd.spawn().expect("start proxyhealth serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (url, token) = read_banner(stdout, &log);
        Server {
            child,
            url,
            token: token.unwrap_or_default(),
            log,
            db,
            _dir: dir,
        }
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `bound` for the exit; `None` if it did not exit.
    pub fn terminate(&mut self, bound: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        while started.elapsed() < bound {
            if let Some(status) = self.child.try_wait().expect("wait for serve") {
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The typed API client of this server, with its admin token.
    pub fn api(&self) -> proxyhealth_api::ApiClient {
        proxyhealth_testkit::api::client(&self.url, &self.token)
    }

    /// A CLI command pointed at this server with its token.
    pub fn cli(&self) -> Command {
        let mut cmd = command();
        cmd.env("PROXYHEALTH_URL", &self.url)
            .env("PROXYHEALTH_ADMIN_TOKEN", &self.token)
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `serve`'s first lines: the listen URL, the dashboard, and the token
/// line when one was generated. Stdout keeps being drained afterwards.
fn read_banner(stdout: std::process::ChildStdout, log: &Path) -> (String, Option<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more: keep draining so the server never blocks.
                continue;
            }
        }
    });
    let mut url = None;
    let mut token = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "serve printed no banner; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
        if let Some(rest) = line.strip_prefix("proxyhealth listening on ") {
            url = Some(rest.trim().to_owned());
        } else if let Some((_, rest)) = line.split_once("admin token (shown only this once") {
            token = rest.rsplit(' ').next().map(str::to_owned);
        } else if line.starts_with("dashboard: ") {
            // The token, when generated, comes right after the dashboard line.
            if let Ok(next) = rx.recv_timeout(Duration::from_millis(300))
                && let Some((_, rest)) = next.split_once("admin token (shown only this once")
            {
                token = rest.rsplit(' ').next().map(str::to_owned);
            }
            break;
        }
    }
    (url.expect("a listen URL"), token)
}

/// Stdout of a finished command, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a finished command, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run proxyhealth")
}

/// Writes a file in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// A blocking GET returning JSON, for tests that run without an async runtime.
pub fn get_json(url: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        reqwest::get(url)
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    })
}
