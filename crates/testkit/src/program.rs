//! [`Program`]: the real binary under test run as a child process (`serve`,
//! `demo`), the one harness every test binary starts it with: its output
//! read line by line as it comes, its banner (the listen address, the
//! dashboard, a generated admin token) waited for, its output kept for
//! failure messages, signals sent by pid, and killed when dropped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// How long a program may take to print its banner: a cold debug binary on
/// two busy cores can be slow to start.
pub const BANNER_LIMIT: Duration = Duration::from_secs(60);

/// What `serve` and `demo` print once they listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// `http://127.0.0.1:PORT`, as printed after `proxyhealth listening on`.
    pub url: String,
    /// The dashboard URL line, as printed after `dashboard: `.
    pub dashboard: String,
    /// The admin token, when the program generated one and printed it once.
    pub generated_token: Option<String>,
}

/// Lines a program printed, shared with the threads that read them.
#[derive(Default)]
struct Printed {
    lines: Mutex<Vec<String>>,
    /// Signalled on every new line and when an output ends.
    changed: Condvar,
}

impl Printed {
    /// Adds the lines of one read together, so what the program wrote at
    /// once (a banner with its token) is seen at once.
    fn push_all(&self, lines: impl Iterator<Item = String>) {
        self.lines.lock().extend(lines);
        self.changed.notify_all();
    }
}

/// A running program; killed and reaped when dropped. Its output is printed
/// when a test fails while it is alive, to say why.
pub struct Program {
    child: Child,
    printed: Arc<Printed>,
    /// Where stderr goes when the test wants it in a file of its own.
    log: Option<PathBuf>,
}

impl Program {
    /// Starts `command` with stdout read into memory, and stderr too unless
    /// `log` names a file to write it to.
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn spawn(mut command: Command, log: Option<&Path>) -> Program {
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        match log {
            Some(path) => command.stderr(std::fs::File::create(path).expect("a log file")),
            None => command.stderr(Stdio::piped()),
        };
        let mut child = command.spawn().expect("start the program under test");
        let printed = Arc::new(Printed::default());
        if let Some(stdout) = child.stdout.take() {
            read_lines(stdout, Arc::clone(&printed));
        }
        if let Some(stderr) = child.stderr.take() {
            read_lines(stderr, Arc::clone(&printed));
        }
        Program {
            child,
            printed,
            log: log.map(Path::to_path_buf),
        }
    }

    /// Waits until `find` finds what it looks for in the lines printed so
    /// far, and returns it. Blocks the calling thread: from an async test
    /// whose runtime serves something the program needs, use
    /// [`Program::wait_for_async`].
    ///
    /// # Panics
    /// After `limit`, or when the program exits first, with its output.
    pub fn wait_for<T>(
        &mut self,
        limit: Duration,
        what: &str,
        find: impl Fn(&[String]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        let printed = Arc::clone(&self.printed);
        let mut lines = printed.lines.lock();
        loop {
            if let Some(found) = find(&lines) {
                return found;
            }
            drop(lines);
            self.panic_if_exited(what);
            assert!(
                Instant::now() < deadline,
                "{what}: not printed within {limit:?}; output:\n{}",
                self.output()
            );
            lines = printed.lines.lock();
            // wakes on a new line, or rechecks the exit every 100 ms
            printed
                .changed
                .wait_for(&mut lines, Duration::from_millis(100));
        }
    }

    /// [`Program::wait_for`] on tokio's clock, keeping the test's runtime
    /// free to serve what the program talks to (fake proxies, receivers).
    pub async fn wait_for_async<T>(
        &mut self,
        limit: Duration,
        what: &str,
        find: impl Fn(&[String]) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(found) = find(&self.printed.lines.lock()) {
                return found;
            }
            self.panic_if_exited(what);
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not printed within {limit:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(crate::eventually::POLL).await;
        }
    }

    /// Waits for `serve`'s or `demo`'s banner (see [`Program::wait_for`]).
    pub fn banner(&mut self) -> Banner {
        self.wait_for(BANNER_LIMIT, "the banner", banner_in)
    }

    /// [`Program::banner`], keeping the test's runtime free.
    pub async fn banner_async(&mut self) -> Banner {
        self.wait_for_async(BANNER_LIMIT, "the banner", banner_in)
            .await
    }

    /// Everything printed so far: the lines read, then the log file's text.
    pub fn output(&self) -> String {
        let mut out = self.printed.lines.lock().join("\n");
        if let Some(log) = &self.log {
            out.push('\n');
            out.push_str(&std::fs::read_to_string(log).unwrap_or_default());
        }
        out
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `KILL`, `STOP`, `CONT`, …) by pid.
    ///
    /// # Panics
    /// When `kill` fails (the process is gone).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {} failed", self.pid());
    }

    /// The exit status, if the program has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for the program")
    }

    /// Sends SIGTERM and waits up to `bound` for the exit: the status and how
    /// long it took, or `None` when it is still running.
    pub fn terminate(&mut self, bound: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        self.signal("TERM");
        while started.elapsed() < bound {
            if let Some(status) = self.try_wait() {
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// [`Program::terminate`] on tokio's clock, keeping the runtime free.
    pub async fn terminate_async(&mut self, bound: Duration) -> Option<(ExitStatus, Duration)> {
        let started = tokio::time::Instant::now();
        self.signal("TERM");
        while started.elapsed() < bound {
            if let Some(status) = self.try_wait() {
                return Some((status, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// SIGKILL, then reaps the process: how it ended.
    pub fn kill_hard(&mut self) -> ExitStatus {
        self.signal("KILL");
        self.child.wait().expect("reap the program")
    }

    fn panic_if_exited(&mut self, what: &str) {
        if let Some(status) = self.try_wait() {
            panic!(
                "{what}: the program exited ({status}) first; output:\n{}",
                self.output()
            );
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- the program's output ---\n{}\n---", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `from` into `printed` on a thread of its own, the complete lines
/// of each read together, until the stream ends (so the program never
/// blocks on a full pipe).
fn read_lines(mut from: impl Read + Send + 'static, printed: Arc<Printed>) {
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
            let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            let complete: Vec<u8> = pending.drain(..=end).collect();
            printed.push_all(
                String::from_utf8_lossy(&complete)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
        }
        if !pending.is_empty() {
            printed.push_all(std::iter::once(
                String::from_utf8_lossy(&pending).into_owned(),
            ));
        }
        printed.changed.notify_all();
    });
}

/// The banner in `lines`, once its dashboard line is there (it comes after
/// the listen line; a generated token comes right after it, in the same
/// write, so it is there too).
fn banner_in(lines: &[String]) -> Option<Banner> {
    let url = lines.iter().find_map(|line| {
        line.strip_prefix("proxyhealth listening on ")
            .map(|url| url.trim().to_owned())
    })?;
    let dashboard = lines
        .iter()
        .find_map(|line| line.strip_prefix("dashboard: ").map(str::to_owned))?;
    let generated_token = lines.iter().find_map(|line| {
        let (_, rest) = line.split_once("admin token (shown only this once")?;
        rest.rsplit(' ').next().map(str::to_owned)
    });
    Some(Banner {
        url,
        dashboard,
        generated_token,
    })
}
