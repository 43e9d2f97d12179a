//! Finding and starting a headless Chromium with a fresh profile, and reading its
//! DevTools address.
//!
//! Without Chromium the tests skip with a loud message, unless `CI=true`: then
//! they fail, so CI never passes without having run them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long Chromium may take to announce its DevTools address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the tests run in CI (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Refuses to go on without a browser: a failure in CI, a loud skip elsewhere.
/// Returns `None` when the caller should return (skip).
pub fn unavailable(why: &str) -> Option<()> {
    if in_ci() {
        panic!("CI=true and Chromium is unavailable: {why}");
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! SKIPPED: the dashboard's browser test needs Chromium: {why}\n\
         !! Install Debian's `chromium` (scripts/test does) or set PROXYHEALTH_CHROMIUM.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    None
}

/// The Chromium to use: `PROXYHEALTH_CHROMIUM`, else `/usr/bin/chromium`, else
/// the first of `chromium`, `chromium-browser`, `google-chrome` on the `PATH`.
pub fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PROXYHEALTH_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.exists() {
        return Some(debian);
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A running headless Chromium; killed on drop, its profile removed.
pub struct Chromium {
    child: Child,
    /// The browser's DevTools websocket address.
    pub ws_url: String,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium headless on a fresh profile with DevTools on a free
    /// loopback port, and waits for it to print the address.
    pub async fn launch(binary: &PathBuf) -> Result<Chromium, String> {
        let profile = tempfile::Builder::new()
            .prefix("proxyhealth-chromium-")
            .tempdir()
            .map_err(|err| format!("creating a profile directory: {err}"))?;
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--mute-audio",
                "--hide-scrollbars",
                "--password-store=basic",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("starting {}: {err}", binary.display()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| "no stderr pipe".to_owned())?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("DevTools listening on ") {
                    return Some(
                        line[at + "DevTools listening on ".len()..]
                            .trim()
                            .to_owned(),
                    );
                }
                seen.push(line);
            }
            None
        })
        .await;
        let ws_url = match found {
            Ok(Some(url)) => url,
            Ok(None) => {
                return Err(format!(
                    "{} exited without a DevTools address; it said:\n{}",
                    binary.display(),
                    seen.join("\n")
                ));
            }
            Err(_) => {
                return Err(format!(
                    "{} printed no DevTools address within {START_TIMEOUT:?}; it said:\n{}",
                    binary.display(),
                    seen.join("\n")
                ));
            }
        };
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Chromium {
            child,
            ws_url,
            _profile: profile,
        })
    }

    /// Waits (briefly) for the browser to exit after `Browser.close`, killing it otherwise.
    pub async fn close(mut self) {
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
