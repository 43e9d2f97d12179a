//! The monitoring stack of the alerting test: the real Prometheus and
//! Alertmanager from Debian's packages, each on a loopback port of its own
//! with a temp directory, and the webhook receiver Alertmanager delivers to.

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Debian's Prometheus server binary.
pub const PROMETHEUS: &str = "prometheus";
/// Debian's Alertmanager binary (the package `prometheus-alertmanager`).
pub const ALERTMANAGER: &str = "prometheus-alertmanager";

/// Whether both binaries are installed; without them the test skips, or
/// fails with `CI=true` (scripts/test installs them).
pub fn binaries_available() -> bool {
    let missing: Vec<&str> = [PROMETHEUS, ALERTMANAGER]
        .into_iter()
        .filter(|bin| {
            !Command::new(bin)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !proxyhealth_testkit::in_ci(),
        "{} not installed and CI=true: scripts/test installs Debian's prometheus and prometheus-alertmanager packages",
        missing.join(" and ")
    );
    eprintln!(
        "!!! skipped: {} not installed (install Debian's prometheus and prometheus-alertmanager packages) !!!",
        missing.join(" and ")
    );
    false
}

/// A server process of the stack on `127.0.0.1:port`; killed when dropped.
pub struct Daemon {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: PathBuf,
    child: Child,
}

impl Daemon {
    /// Starts `bin` with `args` (and `--web.listen-address` on a free port)
    /// and waits until `/-/ready` answers. The port is found by binding
    /// 127.0.0.1:0 and letting it go, since neither server takes port 0: when
    /// another process takes it meanwhile, the start is tried again on
    /// another port.
    pub fn start(bin: &str, args: &[String], dir: &Path) -> Daemon {
        let mut failures = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let log = dir.join(format!("{bin}-{attempt}.log"));
            let child = Command::new(bin)
                .args(args)
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).expect("log file"))
                .stderr(std::fs::File::create(&log).expect("log file"))
                .spawn()
                .unwrap_or_else(|err| panic!("start {bin}: {err}"));
            let mut daemon = Daemon {
                url: format!("http://{addr}"),
                addr,
                log,
                child,
            };
            if daemon.wait_ready(Duration::from_secs(30)) {
                return daemon;
            }
            failures.push_str(&format!(
                "attempt {attempt} on port {port}:\n{}\n",
                daemon.log_text()
            ));
        }
        panic!("{bin} did not start:\n{failures}");
    }

    /// Waits for `/-/ready`; `false` when the process exited or the time ran out.
    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let ready = format!("{}/-/ready", self.url);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if get_is_200(&ready) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// What the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// A blocking GET that says whether the answer was 200 (a plain TCP
/// exchange, so the check needs no runtime of its own).
fn get_is_200(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}

/// Starts Alertmanager: every alert goes at once (no group wait) to the
/// webhook `receiver_url`.
pub fn alertmanager(receiver_url: &str, dir: &Path) -> Daemon {
    let config = format!(
        "route:\n  receiver: test\n  group_by: [alertname, proxy_id]\n  group_wait: 0s\n  \
         group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: test\n    webhook_configs:\n      - url: \"{receiver_url}\"\n        \
         send_resolved: true\n"
    );
    let config_file = dir.join("alertmanager.yml");
    std::fs::write(&config_file, config).expect("write the Alertmanager config");
    let args = vec![
        format!("--config.file={}", config_file.display()),
        format!("--storage.path={}", dir.join("alertmanager-data").display()),
        // no gossip port: one Alertmanager, no cluster
        "--cluster.listen-address=".to_owned(),
    ];
    Daemon::start(ALERTMANAGER, &args, dir)
}

/// Starts Prometheus: scrapes `target` (`127.0.0.1:PORT`) as job
/// `proxyhealth` every second, evaluates `rules` every second and sends the
/// alerts to `alertmanager` (`127.0.0.1:PORT`).
pub fn prometheus(target: &str, rules: &Path, alertmanager: &str, dir: &Path) -> Daemon {
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - \"{}\"\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{alertmanager}\"]\n\
         scrape_configs:\n  - job_name: proxyhealth\n    static_configs:\n      - targets: [\"{target}\"]\n",
        rules.display()
    );
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).expect("write the Prometheus config");
    let args = vec![
        format!("--config.file={}", config_file.display()),
        format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ),
    ];
    Daemon::start(PROMETHEUS, &args, dir)
}

/// The webhook receiver: a real HTTP server on 127.0.0.1:0 that keeps every
/// notification Alertmanager posts to `/alerts`.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/alerts`.
    pub url: String,
    received: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts the receiver on the current runtime.
    pub async fn start() -> Receiver {
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let app = axum::Router::new()
            .route("/alerts", post(keep))
            .with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/alerts"),
            received,
            task,
        }
    }

    /// Every notification received so far.
    pub fn notifications(&self) -> Vec<Value> {
        self.received.lock().expect("receiver lock").clone()
    }

    /// Every alert of every notification so far.
    pub fn alerts(&self) -> Vec<Value> {
        self.notifications()
            .iter()
            .flat_map(|notification| {
                notification["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn keep(State(received): State<Arc<Mutex<Vec<Value>>>>, Json(notification): Json<Value>) {
    received.lock().expect("receiver lock").push(notification);
}
