//! Running `proxyhealth demo` as a child process and reading what it prints.

use proxyhealth_testkit::Program;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// How long the demo may take to print its dashboard line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running demo (the testkit's [`Program`]); killed on drop if still
/// running, its output printed when a test fails.
pub struct Demo {
    program: Program,
    /// `http://127.0.0.1:PORT`, no slash.
    pub base: String,
    /// The dashboard URL with the token in the fragment, as printed.
    pub dashboard: String,
    /// The admin token.
    pub admin_token: String,
    /// The targets file in the demo's temporary directory.
    pub targets: PathBuf,
}

impl Demo {
    /// Starts the demo on a free loopback port with a fixed admin token and
    /// waits until it printed the dashboard and targets lines.
    pub async fn start(admin_token: &str) -> Demo {
        let mut command = Command::new(env!("CARGO_BIN_EXE_proxyhealth"));
        command
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                admin_token,
            ])
            .env_remove("RUST_LOG");
        let mut program = Program::spawn(command, None);
        let (dashboard, targets) = program
            .wait_for_async(START_TIMEOUT, "the demo's dashboard line", |lines| {
                let find = |prefix: &str| {
                    lines
                        .iter()
                        .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
                };
                Some((find("dashboard: ")?, PathBuf::from(find("targets: ")?)))
            })
            .await;
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
            program,
            base,
            dashboard,
            admin_token: admin_token.to_owned(),
            targets,
        }
    }

    /// Everything the demo printed so far.
    pub fn output(&self) -> String {
        self.program.output()
    }

    /// Sends SIGTERM and waits for the demo to exit.
    pub async fn terminate(mut self) -> ExitStatus {
        match self.program.terminate_async(Duration::from_secs(15)).await {
            Some((status, _)) => status,
            None => panic!(
                "the demo did not stop within 15 s of SIGTERM:\n{}",
                self.output()
            ),
        }
    }
}
