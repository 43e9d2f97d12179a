//! Running the real binary: a `serve` process with a temp SQLite file, CLI
//! invocations, and small helpers around them.

use proxyhealth_testkit::Program;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

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

/// A running `proxyhealth serve` on a store of its own (the testkit's
/// [`Program`], with the store's folder); killed when dropped.
pub struct Server {
    /// The process.
    pub program: Program,
    /// `http://127.0.0.1:PORT`, as printed.
    pub url: String,
    /// The admin token: generated and printed, or the one given.
    pub token: String,
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

    /// Starts `serve` on the store `db_spec` listening on `listen` (say the
    /// address of a server stopped a moment ago, so its clients find it again).
    pub fn start_at(db_spec: &str, listen: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("not-a-sqlite-store");
        let mut args = vec!["--listen", listen];
        args.extend_from_slice(extra);
        Server::spawn(dir, db, db_spec, &args, &[], Some("flag"))
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
        let mut cmd = command();
        cmd.arg("serve").arg("--db").arg(db_spec);
        if listen_from.is_none() {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(extra).envs(env.iter().copied());
        let mut program = Program::spawn(cmd, Some(&dir.path().join("serve.log")));
        let banner = program.banner();
        Server {
            program,
            url: banner.url,
            token: banner.generated_token.unwrap_or_default(),
            db,
            _dir: dir,
        }
    }

    /// What the server printed and logged so far.
    pub fn log_text(&self) -> String {
        self.program.output()
    }

    /// Sends SIGTERM and waits up to `bound` for the exit; `None` if it did not exit.
    pub fn terminate(&mut self, bound: Duration) -> Option<(ExitStatus, Duration)> {
        self.program.terminate(bound)
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
        proxyhealth_api::http::client()
            .get(url)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    })
}
