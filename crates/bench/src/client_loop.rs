//! `proxyhealth-bench client-loop`: the loopback limit. The plainest HTTP client
//! with the checker's connection policy: for each target a fresh TCP connection,
//! one `GET /healthz-report` with `Connection: close`, read to EOF, close; at most
//! `concurrency` at once. What it reaches is what the loopback and the simulated
//! fleet allow; the checker is measured against it.

use crate::procstat::{cpu_seconds, peak_rss_kib};
use crate::targets::read_targets;
use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on one request, as the checker's default timeout.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The options of `client-loop`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientLoopArgs {
    /// The targets file the fleet wrote.
    #[arg(long)]
    pub targets: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 1024)]
    pub concurrency: usize,
}

/// What one `client-loop` run prints, as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientLoopReport {
    /// Requests made (one per target).
    pub requests: usize,
    /// Requests answered `200`.
    pub ok: usize,
    /// Wall time of the whole loop.
    pub wall_s: f64,
    /// CPU seconds (user + system) the process used during the loop.
    pub cpu_s: f64,
    /// Peak resident memory of the process (VmHWM), KiB.
    pub peak_rss_kib: u64,
}

/// Runs the loop over every target once and prints the report.
pub async fn run(args: ClientLoopArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let targets = read_targets(&args.targets)?;
    let mut requests = Vec::with_capacity(targets.len());
    for target in &targets {
        let rest = target
            .url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("{} is not an http:// URL", target.url))?;
        let addr: SocketAddr = rest
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("{} has no ip:port", target.url))?;
        let request = format!(
            "GET /healthz-report HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: proxyhealth-bench\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        );
        requests.push((addr, request.into_bytes()));
    }
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1).min(requests.len().max(1)) {
        let requests = Arc::clone(&requests);
        let next = Arc::clone(&next);
        let ok = Arc::clone(&ok);
        workers.spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            while let Some((addr, request)) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
                buf.clear();
                let answered = tokio::time::timeout(TIMEOUT, fetch(*addr, request, &mut buf)).await;
                if matches!(answered, Ok(Ok(()))) && buf.starts_with(b"HTTP/1.1 200") {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let report = ClientLoopReport {
        requests: requests.len(),
        ok: ok.load(Ordering::Relaxed),
        wall_s: started.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu_before,
        peak_rss_kib: peak_rss_kib(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// One request on a fresh connection, the answer read to EOF into `buf`.
async fn fetch(addr: SocketAddr, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request).await?;
    stream.read_to_end(buf).await?;
    Ok(())
}
