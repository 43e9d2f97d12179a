//! Running `proxyhealth demo` as a child process and reading what it prints.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How long the demo may take to print its dashboard line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running demo; killed on drop if still running (its output is printed when
/// a test fails, to say why).
pub struct Demo {
    child: Child,
    /// `http://127.0.0.1:PORT`, no slash.
    pub base: String,
    /// The dashboard URL with the token in the fragment, as printed.
    pub dashboard: String,
    /// The admin token.
    pub admin_token: String,
    /// The targets file in the demo's temporary directory.
    pub targets: PathBuf,
    output: Arc<Mutex<Vec<String>>>,
}

fn drain(reader: impl AsyncRead + Unpin + Send + 'static, output: Arc<Mutex<Vec<String>>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            output.lock().expect("output lock").push(line);
        }
    });
}

impl Demo {
    /// Starts the demo on a free loopback port with a fixed admin token and
    /// waits until it printed the dashboard and targets lines.
    pub async fn start(admin_token: &str) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_proxyhealth"))
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                admin_token,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start proxyhealth demo");
        let output: Arc<Mutex<Vec<String>>> = Arc::default();
        drain(
            child.stderr.take().expect("stderr pipe"),
            Arc::clone(&output),
        );
        drain(
            child.stdout.take().expect("stdout pipe"),
            Arc::clone(&output),
        );
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let (dashboard, targets) = loop {
            let found = {
                let lines = output.lock().expect("output lock");
                let find = |prefix: &str| {
                    lines
                        .iter()
                        .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
                };
                (find("dashboard: "), find("targets: "))
            };
            if let (Some(dashboard), Some(targets)) = found {
                break (dashboard, PathBuf::from(targets));
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the demo exited ({status}) before printing its dashboard line:\n{}",
                    output.lock().expect("output lock").join("\n")
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the demo printed no dashboard line within {START_TIMEOUT:?}:\n{}",
                output.lock().expect("output lock").join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let base = dashboard
            .split("/#token=")
            .next()
            .expect("split always yields")
            .to_owned();
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "the dashboard line names a loopback address: {dashboard}"
        );
        assert_eq!(
            dashboard,
            format!("{base}/#token={admin_token}"),
            "the dashboard URL carries the admin token in its fragment"
        );
        Demo {
            child,
            base,
            dashboard,
            admin_token: admin_token.to_owned(),
            targets,
            output,
        }
    }

    /// Everything the demo printed so far.
    pub fn output(&self) -> String {
        self.output.lock().expect("output lock").join("\n")
    }

    /// Sends SIGTERM and waits for the demo to exit.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().expect("the demo is still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => status.expect("wait for the demo"),
            Err(_) => panic!(
                "the demo did not stop within 15 s of SIGTERM:\n{}",
                self.output()
            ),
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- the demo's output ---\n{}\n---", self.output());
        }
    }
}
