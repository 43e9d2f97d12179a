//! Trust and certificates: real TLS proxies on loopback with
//! certificates the test makes (a private CA, leaves with chosen names and
//! dates, a proxy requiring a client certificate), the CA and client files
//! given to the engine, the certificate's expiry in the status, its warning
//! and metric; the TLS files refused when the engine is built; and the
//! warning for a slow answer.

use crate::helpers::*;
use proxyhealth_core::advice::certificate_date;
use proxyhealth_core::{ProxyStatus, Status};
use proxyhealth_engine::metrics::render;
use proxyhealth_engine::{CaMode, Engine, EngineError, EngineOptions, TlsFileError};
use proxyhealth_testkit::tls_server::{Leaf, TestCa, TlsProxy};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

fn opts() -> EngineOptions {
    EngineOptions {
        timeout: Duration::from_secs(3),
        ..EngineOptions::default()
    }
}

/// Writes `text` to `name` in `dir`; returns the path.
fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

/// Options trusting `ca` (in addition to the system's roots).
fn trusting(dir: &Path, ca: &TestCa) -> EngineOptions {
    EngineOptions {
        tls_ca_file: Some(file(dir, "ca.pem", &ca.pem())),
        ..opts()
    }
}

/// Checks `url` once with `options`; the engine and the proxy's status.
async fn check(url: &str, options: EngineOptions) -> (Engine, Uuid, Arc<ProxyStatus>) {
    let p = proxy("tls", url);
    let engine = engine_with(ListSource::with(vec![p.clone()]), options);
    engine.force_update().await.expect("the sweep succeeds");
    let status = engine.status_of(&p.id).expect("a status");
    (engine, p.id, status)
}

/// The one error of an unreachable proxy, asserting its prefix.
fn unreachable_error(status: &ProxyStatus, url: &str) -> String {
    assert_eq!(status.status, Status::Unreachable, "{:?}", status.report);
    assert_eq!(status.report.errors.len(), 1, "{:?}", status.report);
    let error = status.report.errors[0].clone();
    let prefix = format!("request to proxy failed: Get \"{url}/healthz-report\": ");
    assert!(error.starts_with(&prefix), "{error}");
    error[prefix.len()..].to_owned()
}

fn assert_ok_without_warnings(status: &ProxyStatus) {
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    assert!(status.report.errors.is_empty(), "{:?}", status.report);
    assert!(status.report.warnings.is_empty(), "{:?}", status.report);
}

#[tokio::test]
async fn a_proxy_signed_by_a_trusted_private_ca_is_ok_with_its_certificates_expiry() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let leaf = ca.leaf(ca.spec());
    let server = TlsProxy::start(&leaf).await;
    let (_engine, _id, status) = check(&server.url, trusting(dir.path(), &ca)).await;
    assert_ok_without_warnings(&status);
    let not_after = status.tls_not_after.expect("the certificate's expiry");
    assert_eq!(not_after.unix_timestamp(), leaf.not_after.unix_timestamp());
    assert_eq!(status.tls_days_left, Some(89));
}

#[tokio::test]
async fn a_proxy_signed_by_an_untrusted_ca_is_unreachable_saying_so() {
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec())).await;
    let (_engine, _id, status) = check(&server.url, opts()).await;
    let error = unreachable_error(&status, &server.url);
    assert!(
        error.starts_with(
            "the proxy's TLS certificate is not signed by a certificate authority this checker \
             trusts (a private CA is trusted with --tls-ca-file) ("
        ),
        "{error}"
    );
    assert!(
        error.contains("UnknownIssuer"),
        "the library's words stay: {error}"
    );
    assert_eq!(status.tls_not_after, None);
}

#[tokio::test]
async fn replacing_the_roots_trusts_the_bundle_and_nothing_else() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (ours, theirs) = (TestCa::new("our CA"), TestCa::new("their CA"));
    let server = TlsProxy::start(&ours.leaf(ours.spec())).await;
    let replace = |ca: &TestCa, name: &str| EngineOptions {
        tls_ca_file: Some(file(dir.path(), name, &ca.pem())),
        tls_ca_mode: CaMode::Replace,
        ..opts()
    };
    let (_engine, _id, status) = check(&server.url, replace(&ours, "ours.pem")).await;
    assert_ok_without_warnings(&status);
    let (_engine, _id, status) = check(&server.url, replace(&theirs, "theirs.pem")).await;
    let error = unreachable_error(&status, &server.url);
    assert!(
        error.contains("not signed by a certificate authority"),
        "{error}"
    );
}

#[tokio::test]
async fn a_bundle_of_several_cas_trusts_each_of_them() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (first, second) = (TestCa::new("first CA"), TestCa::new("second CA"));
    let bundle = file(
        dir.path(),
        "bundle.pem",
        &format!("{}\n{}", first.pem(), second.pem()),
    );
    let server = TlsProxy::start(&second.leaf(second.spec())).await;
    let (_engine, _id, status) = check(
        &server.url,
        EngineOptions {
            tls_ca_file: Some(bundle),
            ..opts()
        },
    )
    .await;
    assert_ok_without_warnings(&status);
}

#[tokio::test]
async fn a_certificate_expiring_in_3_days_is_ok_with_a_warning_and_its_metric() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let leaf = ca.leaf(ca.spec().expires_in_days(3));
    let server = TlsProxy::start(&leaf).await;
    let (engine, id, status) = check(&server.url, trusting(dir.path(), &ca)).await;
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    assert!(status.report.errors.is_empty(), "{:?}", status.report);
    assert_eq!(
        status.report.warnings,
        [format!(
            "the proxy's TLS certificate expires on {} (in 3 days; warning at 14 days before expiry)",
            certificate_date(leaf.not_after)
        )]
    );
    assert_eq!(status.tls_days_left, Some(3));
    let text = render(engine.registry());
    let line = format!(
        "proxyhealth_tls_not_after_seconds{{proxy_id=\"{id}\"}} {}\n",
        leaf.not_after.unix_timestamp()
    );
    assert!(text.contains(&line), "missing {line} in\n{text}");
    assert!(
        text.contains("# TYPE proxyhealth_tls_not_after_seconds gauge\n"),
        "{text}"
    );
}

#[tokio::test]
async fn the_expiry_warning_follows_its_threshold() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec().expires_in_days(20))).await;
    let (_engine, _id, status) = check(&server.url, trusting(dir.path(), &ca)).await;
    assert_ok_without_warnings(&status);
    let (_engine, _id, status) = check(
        &server.url,
        EngineOptions {
            tls_expiry_warning: Duration::from_secs(30 * 86_400),
            ..trusting(dir.path(), &ca)
        },
    )
    .await;
    assert_eq!(status.status, Status::Ok);
    assert_eq!(status.report.warnings.len(), 1, "{:?}", status.report);
    assert!(
        status.report.warnings[0].ends_with("(in 20 days; warning at 30 days before expiry)"),
        "{:?}",
        status.report
    );
    let (_engine, _id, status) = check(
        &server.url,
        EngineOptions {
            tls_expiry_warning: Duration::ZERO,
            ..trusting(dir.path(), &ca)
        },
    )
    .await;
    assert_ok_without_warnings(&status);
}

#[tokio::test]
async fn an_expired_certificate_is_unreachable_saying_when_it_expired() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let leaf = ca.leaf(ca.spec().expired_days_ago(3));
    let server = TlsProxy::start(&leaf).await;
    let (engine, id, status) = check(&server.url, trusting(dir.path(), &ca)).await;
    let error = unreachable_error(&status, &server.url);
    let words = format!(
        "the proxy's TLS certificate expired on {} (3 days ago) (",
        certificate_date(leaf.not_after)
    );
    assert!(error.starts_with(&words), "{error}");
    assert_eq!(
        status.tls_not_after.map(|at| at.unix_timestamp()),
        Some(leaf.not_after.unix_timestamp())
    );
    assert_eq!(status.tls_days_left, Some(-4));
    let text = render(engine.registry());
    assert!(
        text.contains(&format!(
            "proxyhealth_tls_not_after_seconds{{proxy_id=\"{id}\"}}"
        )),
        "an expired certificate keeps its metric, for alerts:\n{text}"
    );
}

#[tokio::test]
async fn a_certificate_not_valid_yet_is_unreachable_saying_when_it_will_be() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let spec = ca.spec().valid_from_days_ahead(5);
    let not_before = spec.not_before;
    let server = TlsProxy::start(&ca.leaf(spec)).await;
    let (_engine, _id, status) = check(&server.url, trusting(dir.path(), &ca)).await;
    let error = unreachable_error(&status, &server.url);
    let words = format!(
        "the proxy's TLS certificate is not valid yet: it becomes valid on {} (in 5 days); \
         check the certificate's dates and this machine's clock (",
        certificate_date(not_before)
    );
    assert!(error.starts_with(&words), "{error}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_unreachable_naming_both() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec().names(&["proxy.example.internal"]))).await;
    let (_engine, _id, status) = check(&server.url, trusting(dir.path(), &ca)).await;
    let error = unreachable_error(&status, &server.url);
    assert!(
        error.starts_with(
            "the proxy's TLS certificate is not valid for the name \"127.0.0.1\" the proxy URL \
             uses: it is for proxy.example.internal ("
        ),
        "{error}"
    );
}

/// Options trusting `ca` and offering a client certificate for "checker"
/// issued by `issuer`, written to `dir` as `name`.
fn offering_client_certificate(
    dir: &std::path::Path,
    ca: &TestCa,
    issuer: &TestCa,
    name: &str,
) -> EngineOptions {
    let (cert, key) = issuer
        .leaf(issuer.spec().names(&["checker"]).client())
        .write(dir, name);
    EngineOptions {
        tls_client_cert: Some(cert),
        tls_client_key: Some(key),
        ..trusting(dir, ca)
    }
}

#[tokio::test]
async fn a_proxy_requiring_a_client_certificate_is_ok_with_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (ca, clients) = (TestCa::new("company CA"), TestCa::new("client CA"));
    let server = TlsProxy::requiring_client_certificate(&ca.leaf(ca.spec()), &clients).await;
    let options = offering_client_certificate(dir.path(), &ca, &clients, "client");
    let (_engine, _id, status) = check(&server.url, options).await;
    assert_ok_without_warnings(&status);
    assert!(status.tls_not_after.is_some());
}

#[tokio::test]
async fn a_proxy_requiring_a_client_certificate_is_unreachable_without_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (ca, clients) = (TestCa::new("company CA"), TestCa::new("client CA"));
    let server = TlsProxy::requiring_client_certificate(&ca.leaf(ca.spec()), &clients).await;
    let (_engine, _id, status) = check(&server.url, trusting(dir.path(), &ca)).await;
    let error = unreachable_error(&status, &server.url);
    assert!(
        error.starts_with(
            "the proxy requires a TLS client certificate (mutual TLS) and this checker sent none \
             (set --tls-client-cert and --tls-client-key) ("
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_proxy_refusing_the_client_certificate_is_unreachable_saying_so() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (ca, clients, strangers) = (
        TestCa::new("company CA"),
        TestCa::new("client CA"),
        TestCa::new("stranger CA"),
    );
    let server = TlsProxy::requiring_client_certificate(&ca.leaf(ca.spec()), &clients).await;
    let options = offering_client_certificate(dir.path(), &ca, &strangers, "stranger");
    let (_engine, _id, status) = check(&server.url, options).await;
    let error = unreachable_error(&status, &server.url);
    assert!(
        error.starts_with("the proxy refused this checker's TLS client certificate (it answered "),
        "{error}"
    );
}

#[tokio::test]
async fn the_certificate_metric_goes_with_the_proxy() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec())).await;
    let plain = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let (tls, http) = (proxy("tls", &server.url), proxy("http", &plain.url));
    let source = ListSource::with(vec![tls.clone(), http.clone()]);
    let engine = engine_with(Arc::clone(&source), trusting(dir.path(), &ca));
    engine.force_update().await.expect("sweep");
    let text = render(engine.registry());
    assert!(
        text.contains(&format!(
            "proxyhealth_tls_not_after_seconds{{proxy_id=\"{}\"}}",
            tls.id
        )),
        "{text}"
    );
    assert!(
        !text.contains(&format!(
            "proxyhealth_tls_not_after_seconds{{proxy_id=\"{}\"}}",
            http.id
        )),
        "an http:// proxy has no certificate series:\n{text}"
    );
    assert_eq!(
        engine.status_of(&http.id).map(|s| s.tls_not_after),
        Some(None)
    );
    source.set(vec![http.clone()]);
    engine.force_update().await.expect("sweep");
    let text = render(engine.registry());
    assert!(
        !text.contains("proxyhealth_tls_not_after_seconds"),
        "the series went with the proxy:\n{text}"
    );
}

#[tokio::test]
async fn tls_insecure_still_accepts_a_certificate_that_does_not_verify_and_keeps_its_expiry() {
    let ca = TestCa::new("unknown CA");
    let leaf = ca.leaf(ca.spec().names(&["elsewhere.example"]));
    let server = TlsProxy::start(&leaf).await;
    let (_engine, _id, status) = check(
        &server.url,
        EngineOptions {
            tls_insecure: true,
            ..opts()
        },
    )
    .await;
    assert_ok_without_warnings(&status);
    assert_eq!(
        status.tls_not_after.map(|at| at.unix_timestamp()),
        Some(leaf.not_after.unix_timestamp())
    );
}

// === bad files: refused when the engine is built ===

/// The error building an engine with `options` gives.
fn build_error(options: EngineOptions) -> TlsFileError {
    match Engine::builder()
        .store(ListSource::with(Vec::new()))
        .options(options)
        .build()
    {
        Err(EngineError::TlsFile(err)) => err,
        other => panic!("expected a TLS file error, got {other:?}"),
    }
}

#[test]
fn a_ca_file_that_does_not_exist_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("missing.pem");
    let err = build_error(EngineOptions {
        tls_ca_file: Some(path.clone()),
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        format!("TLS CA file {}: the file does not exist", path.display())
    );
}

#[test]
fn a_ca_file_that_is_not_pem_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = file(dir.path(), "ca.txt", "just some words\n");
    let err = build_error(EngineOptions {
        tls_ca_file: Some(path.clone()),
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        format!(
            "TLS CA file {}: not a PEM file (expected one or more -----BEGIN CERTIFICATE----- blocks)",
            path.display()
        )
    );
}

#[test]
fn a_ca_file_without_a_certificate_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let leaf = ca.leaf(ca.spec());
    let path = file(dir.path(), "key-only.pem", &leaf.key_pem);
    let err = build_error(EngineOptions {
        tls_ca_file: Some(path.clone()),
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        format!(
            "TLS CA file {}: holds no certificate (no -----BEGIN CERTIFICATE----- block)",
            path.display()
        )
    );
}

#[test]
fn a_certificate_block_that_is_not_x509_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = file(
        dir.path(),
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    );
    let err = build_error(EngineOptions {
        tls_ca_file: Some(path.clone()),
        ..opts()
    })
    .to_string();
    assert!(
        err.starts_with(&format!(
            "TLS CA file {}: certificate 1 is not a valid X.509 certificate: ",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn a_client_key_that_does_not_match_the_certificate_is_refused_naming_both() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("client CA");
    let (cert, _key) = ca.leaf(ca.spec().client()).write(dir.path(), "one");
    let (_cert, other_key) = ca.leaf(ca.spec().client()).write(dir.path(), "other");
    let err = build_error(EngineOptions {
        tls_client_cert: Some(cert.clone()),
        tls_client_key: Some(other_key.clone()),
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        format!(
            "TLS client key {} does not match the certificate in {}",
            other_key.display(),
            cert.display()
        )
    );
}

#[test]
fn a_client_key_file_without_a_key_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("client CA");
    let leaf: Leaf = ca.leaf(ca.spec().client());
    let (cert, _key) = leaf.write(dir.path(), "client");
    let err = build_error(EngineOptions {
        tls_client_cert: Some(cert.clone()),
        tls_client_key: Some(cert.clone()),
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        format!(
            "TLS client key {}: holds no private key (no -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)",
            cert.display()
        )
    );
}

#[test]
fn a_client_certificate_without_its_key_and_a_key_without_its_certificate_are_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("client CA");
    let (cert, key) = ca.leaf(ca.spec().client()).write(dir.path(), "client");
    let err = build_error(EngineOptions {
        tls_client_cert: Some(cert.clone()),
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        format!(
            "TLS client certificate {} is given without its key (set tls_client_key, --tls-client-key)",
            cert.display()
        )
    );
    let err = build_error(EngineOptions {
        tls_client_key: Some(key.clone()),
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        format!(
            "TLS client key {} is given without its certificate (set tls_client_cert, --tls-client-cert)",
            key.display()
        )
    );
}

#[test]
fn replacing_the_roots_without_a_ca_file_is_refused() {
    let err = build_error(EngineOptions {
        tls_ca_mode: CaMode::Replace,
        ..opts()
    });
    assert_eq!(
        err.to_string(),
        "TLS CA mode replace needs a CA file (set tls_ca_file, --tls-ca-file): without one no proxy certificate could be trusted"
    );
}

// === slow but up ===

/// A proxy that answers a healthy report after `delay`.
async fn slow_proxy(delay: Duration) -> FakeProxy {
    FakeProxy::start(move |_| async move {
        tokio::time::sleep(delay).await;
        json(200, r#"{"errors":[],"warnings":[]}"#)
    })
    .await
}

#[tokio::test]
async fn a_slow_answer_is_ok_with_a_warning_giving_its_latency_and_the_threshold() {
    let server = slow_proxy(Duration::from_millis(300)).await;
    let (_engine, _id, status) = check(
        &server.url,
        EngineOptions {
            latency_warning: Some(Duration::from_millis(100)),
            ..opts()
        },
    )
    .await;
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    assert_eq!(status.report.warnings.len(), 1, "{:?}", status.report);
    let warning = &status.report.warnings[0];
    assert!(
        warning.starts_with("the proxy is slow: it answered in ")
            && warning.ends_with(", above the latency warning threshold of 100ms"),
        "{warning}"
    );
    let latency = status.latency.expect("a latency");
    assert!(latency >= Duration::from_millis(300), "{latency:?}");
}

#[tokio::test]
async fn a_slow_answer_gets_no_warning_without_a_threshold_or_below_it() {
    let server = slow_proxy(Duration::from_millis(150)).await;
    let (_engine, _id, status) = check(&server.url, opts()).await;
    assert_ok_without_warnings(&status);
    let (_engine, _id, status) = check(
        &server.url,
        EngineOptions {
            latency_warning: Some(Duration::from_secs(2)),
            ..opts()
        },
    )
    .await;
    assert_ok_without_warnings(&status);
}

#[tokio::test]
async fn a_slow_failure_gets_no_latency_warning() {
    let server = FakeProxy::start(|_| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        json(500, r#"{"message":"down"}"#)
    })
    .await;
    let (_engine, _id, status) = check(
        &server.url,
        EngineOptions {
            latency_warning: Some(Duration::from_millis(100)),
            ..opts()
        },
    )
    .await;
    assert_eq!(status.status, Status::Unhealthy);
    assert!(status.report.warnings.is_empty(), "{:?}", status.report);
}
