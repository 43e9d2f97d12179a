//! `proxyhealth-bench client-loop`: the loopback limit. The plainest HTTP client
//! with the checker's connection policy: for each target a fresh TCP connection,
//! one `GET /healthz-report` with `Connection: close`, read to EOF, close; at most
//! `concurrency` at once. What it reaches is what the loopback and the simulated
//! fleet allow; the checker is measured against it.
//!
//! For `https://` targets the connection is wrapped in rustls directly (the
//! checker's provider, ring): a full handshake per request (no session
//! resumption), certificates accepted without verification as the checker's
//! `tls_insecure` does (reqwest's verifier then checks neither the chain nor
//! the handshake signature), ALPN `http/1.1`.

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
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};

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
    let mut tls = false;
    for target in &targets {
        let (rest, https) = match target.url.strip_prefix("https://") {
            Some(rest) => (rest, true),
            None => (
                target
                    .url
                    .strip_prefix("http://")
                    .ok_or_else(|| anyhow!("{} is not an http(s):// URL", target.url))?,
                false,
            ),
        };
        tls |= https;
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
    let connector = if tls { Some(tls_connector()?) } else { None };
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
        let connector = connector.clone();
        workers.spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            while let Some((addr, request)) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
                buf.clear();
                let fetched = async {
                    match &connector {
                        Some(connector) => fetch_tls(connector, *addr, request, &mut buf).await,
                        None => fetch(*addr, request, &mut buf).await,
                    }
                };
                let answered = tokio::time::timeout(TIMEOUT, fetched).await;
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

/// One request over a fresh connection and a full TLS handshake; the answer
/// read to the end into `buf` (a peer that closes without `close_notify` after
/// the answer still counts as answered).
async fn fetch_tls(
    connector: &TlsConnector,
    addr: SocketAddr,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut stream = connector
        .connect(ServerName::IpAddress(addr.ip().into()), stream)
        .await?;
    stream.write_all(request).await?;
    match stream.read_to_end(buf).await {
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// A rustls client on ring that accepts any certificate, without session
/// resumption, offering ALPN `http/1.1`.
fn tls_connector() -> anyhow::Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAny(Arc::clone(&provider)));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Accepts every certificate and handshake signature, as reqwest's
/// `danger_accept_invalid_certs` does: the bench's fleet has a self-made certificate.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
