//! HTTPS proxies on loopback with certificates the test makes: a private CA
//! ([`TestCa`]), leaf certificates with the names and dates a test chooses
//! ([`LeafSpec`]), and a real rustls server ([`TlsProxy`]) that answers every
//! request with a healthy report, optionally requiring a client certificate
//! signed by a given CA (mutual TLS).
//!
//! ```no_run
//! # async fn run() {
//! use proxyhealth_testkit::tls_server::{TestCa, TlsProxy};
//! let ca = TestCa::new("test CA");
//! let leaf = ca.leaf(ca.spec().expires_in_days(3));
//! let proxy = TlsProxy::start(&leaf).await;
//! // check `proxy.url` (https://127.0.0.1:PORT) trusting `ca.pem()`
//! # }
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The report every [`TlsProxy`] serves.
pub const HEALTHY_REPORT: &str = r#"{"errors":[],"warnings":[]}"#;

/// A private certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA whose common name is `name`, valid from a day ago for ten years.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let key = KeyPair::generate().expect("a CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a self-signed CA"),
        }
    }

    /// The CA certificate as PEM, for a CA bundle.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA certificate as DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf for `127.0.0.1`, valid from a day ago for 90 days: change what the
    /// test is about, then [`TestCa::leaf`] it.
    pub fn spec(&self) -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            names: vec!["127.0.0.1".to_owned()],
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(90),
            client: false,
        }
    }

    /// Issues the leaf `spec` describes, signed by this CA.
    pub fn leaf(&self, spec: LeafSpec) -> Leaf {
        let mut params = CertificateParams::new(spec.names.clone()).expect("leaf parameters");
        params.distinguished_name.push(
            DnType::CommonName,
            spec.names.first().cloned().unwrap_or_default(),
        );
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if spec.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params
            .signed_by(&key, &*self.issuer)
            .expect("a signed leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
            not_after: spec.not_after,
        }
    }
}

/// What a leaf certificate is for and when it is valid.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// The names (DNS names or IP addresses) it is valid for.
    pub names: Vec<String>,
    /// The start of its validity.
    pub not_before: OffsetDateTime,
    /// The end of its validity.
    pub not_after: OffsetDateTime,
    /// A client certificate (mutual TLS) rather than a server's.
    pub client: bool,
}

impl LeafSpec {
    /// Valid for these names instead of `127.0.0.1`.
    pub fn names(mut self, names: &[&str]) -> Self {
        self.names = names.iter().map(|name| (*name).to_owned()).collect();
        self
    }

    /// Expires `days` days (and an hour, so the whole days left are `days`)
    /// from now.
    pub fn expires_in_days(mut self, days: i64) -> Self {
        self.not_after = OffsetDateTime::now_utc() + Duration::days(days) + Duration::hours(1);
        self
    }

    /// Expired `days` days (and an hour) ago, after a validity of 90 days.
    pub fn expired_days_ago(mut self, days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_after = now - Duration::days(days) - Duration::hours(1);
        self.not_before = self.not_after - Duration::days(90);
        self
    }

    /// Becomes valid `days` days (and an hour) from now.
    pub fn valid_from_days_ahead(mut self, days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before = now + Duration::days(days) + Duration::hours(1);
        self.not_after = self.not_before + Duration::days(90);
        self
    }

    /// A client certificate, for mutual TLS.
    pub fn client(mut self) -> Self {
        self.client = true;
        self
    }
}

/// An issued leaf certificate and its key.
pub struct Leaf {
    /// The certificate as PEM.
    pub cert_pem: String,
    /// Its private key as PEM (PKCS #8).
    pub key_pem: String,
    /// The certificate as DER.
    pub cert_der: CertificateDer<'static>,
    /// The key as DER (PKCS #8).
    key_der: Vec<u8>,
    /// When it expires.
    pub not_after: OffsetDateTime,
}

impl Leaf {
    /// Writes the certificate and key as `NAME.crt` and `NAME.key` in `dir`;
    /// returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write the certificate");
        std::fs::write(&key, &self.key_pem).expect("write the key");
        (cert, key)
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// An HTTPS proxy on `127.0.0.1:0` that presents a leaf certificate and answers
/// every request with [`HEALTHY_REPORT`]. Stops when dropped.
pub struct TlsProxy {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// The address the last connection came from.
    pub last_peer: Arc<parking_lot::Mutex<Option<std::net::SocketAddr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsProxy {
    /// Serves with `leaf`; asks for no client certificate.
    pub async fn start(leaf: &Leaf) -> TlsProxy {
        let config = server_config()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.cert_der.clone()], leaf.key())
            .expect("a server config");
        TlsProxy::serve(config).await
    }

    /// Serves with `leaf` and refuses a client without a certificate signed
    /// by `clients` (mutual TLS).
    pub async fn requiring_client_certificate(leaf: &Leaf, clients: &TestCa) -> TlsProxy {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(clients.der()).expect("the client CA as a root");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("a client verifier");
        let config = server_config()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![leaf.cert_der.clone()], leaf.key())
            .expect("a server config");
        TlsProxy::serve(config).await
    }

    async fn serve(config: rustls::ServerConfig) -> TlsProxy {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let last_peer = Arc::new(parking_lot::Mutex::new(None));
        let peer_seen = last_peer.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, peer)) = listener.accept().await {
                *peer_seen.lock() = Some(peer);
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{HEALTHY_REPORT}",
                        HEALTHY_REPORT.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsProxy {
            url: format!("https://{addr}"),
            addr,
            last_peer,
            task,
        }
    }
}

pub(crate) fn server_config() -> rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>
{
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
}
