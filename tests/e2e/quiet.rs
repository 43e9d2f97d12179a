//! `check` prints its results and nothing else: no log lines from libraries
//! (a TLS verifier's complaint, say) unless `-v` asks for them; and a message
//! with carriage returns and escape sequences is shown readably, with no
//! control character reaching the terminal.

use crate::support::{async_command, stderr, stdout, write};
use proxyhealth_sim::{Kind, spawn};
use proxyhealth_testkit::FakeProxy;
use proxyhealth_testkit::fake_proxy::response;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A TLS server on 127.0.0.1 with a self-signed certificate for `localhost`
/// (which no client trusts); returns its `https://localhost:PORT` URL.
async fn self_signed_tls_server() -> (String, tokio::task::JoinHandle<()>) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let chain = vec![cert.cert.der().clone()];
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(
        cert.signing_key.serialize_der().into(),
    );
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let _ = tls.read(&mut buf).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://localhost:{port}"), task)
}

/// Runs `check` over `targets` (a targets file's text) with `extra` flags.
async fn check(targets: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "targets.txt", targets);
    async_command()
        .arg("check")
        .arg("--targets")
        .arg(&path)
        .args(["--timeout", "1s"])
        .args(extra)
        .output()
        .await
        .expect("run check")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_only_its_results_on_a_mixed_fleet_and_logs_only_when_asked() {
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let refused = spawn(Kind::Refused).await.expect("spawn");
    let hanging = spawn(Kind::Hang).await.expect("spawn");
    let (tls_url, tls_task) = self_signed_tls_server().await;
    let targets = format!(
        "{}\tok\n{tls_url}\ttls\n{}\trefused\n{}\thanging\n",
        ok.url(),
        refused.url(),
        hanging.url()
    );

    let quiet = check(&targets, &[]).await;
    let text = stdout(&quiet);
    assert_eq!(quiet.status.code(), Some(1), "{text}");
    assert_eq!(stderr(&quiet), "", "nothing but the results:\n{text}");
    for name in ["ok", "tls", "refused", "hanging"] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{name} "))),
            "a row for {name}:\n{text}"
        );
    }
    assert!(
        text.contains("certificate"),
        "the TLS failure says why:\n{text}"
    );
    assert!(text.contains("4 proxies: 1 ok, 3 unreachable"), "{text}");

    let json = check(&targets, &["-o", "json"]).await;
    assert_eq!(stderr(&json), "", "nothing but the JSON");
    serde_json::from_str::<serde_json::Value>(&stdout(&json)).expect("stdout is JSON alone");

    let verbose = check(&targets, &["-vvv"]).await;
    assert!(
        !stderr(&verbose).is_empty(),
        "-v shows the log lines (debug with -vvv)"
    );
    assert!(
        stdout(&verbose).contains("4 proxies: 1 ok, 3 unreachable"),
        "the results are still on stdout alone:\n{}",
        stdout(&verbose)
    );

    tls_task.abort();
    ok.shutdown().await;
    refused.shutdown().await;
    hanging.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_with_carriage_returns_and_escapes_shows_readably_without_control_characters() {
    let proxy = FakeProxy::start(|_| async {
        response(
            502,
            Some("text/plain"),
            "first line\r\nsecond line\rthird line \x1b[2Jcleared\x07",
        )
    })
    .await;
    let output = check(&format!("{}\tcrlf\n", proxy.url), &[]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "no control character but line ends and tabs (Coder's messages indent with them) \
         reaches the terminal: {text:?}"
    );
    assert!(
        !text.contains("\\u{d}"),
        "carriage returns end lines: {text}"
    );
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for line in ["second line", "third line \\u{1b}[2Jcleared\\u{7}"] {
        assert!(
            lines.iter().any(|l| l.ends_with(line)),
            "{line:?} on a line of its own:\n{text}"
        );
    }
    assert!(
        lines.iter().any(|l| l.ends_with("first line")),
        "the first line ends at its CR LF:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_v_logs_each_failing_check_on_stderr_and_vv_every_check_and_the_sweep() {
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let refused = spawn(Kind::Refused).await.expect("spawn");
    let errors = spawn(Kind::Errors).await.expect("spawn");
    let targets = format!(
        "{}\tup\n{}\trefused\n{}\tbroken\n",
        ok.url(),
        refused.url(),
        errors.url()
    );
    let verbose = check(&targets, &["-v"]).await;
    assert_eq!(verbose.status.code(), Some(1));
    let results_alone = |output: &std::process::Output| {
        let text = stdout(output);
        assert!(
            text.starts_with("NAME ")
                && text.ends_with("\n3 proxies: 1 ok, 1 unhealthy, 1 unreachable\n")
                && !text.contains("WARN")
                && !text.contains("INFO"),
            "stdout keeps the results alone:\n{text}"
        );
    };
    results_alone(&verbose);
    let log = stderr(&verbose);
    let line = |name: &str| -> String {
        log.lines()
            .find(|line| line.contains(&format!(" {name} (")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{log}"))
            .to_owned()
    };
    let refused_line = line("refused");
    assert!(
        refused_line.contains("WARN")
            && refused_line.contains(&format!("refused ({}) is unreachable: ", refused.url())),
        "{log}"
    );
    let broken_line = line("broken");
    assert!(broken_line.contains(") is unhealthy: "), "{log}");
    assert!(!log.contains(" up ("), "-v shows only what failed:\n{log}");

    let more = check(&targets, &["-vv"]).await;
    let log = stderr(&more);
    assert!(
        log.lines()
            .any(|l| l.contains("INFO") && l.contains(&format!(" up ({}) is ok in ", ok.url()))),
        "-vv shows the ok check too:\n{log}"
    );
    assert!(
        log.contains("checked 3 proxies in ") && log.contains(": 1 ok, 1 unhealthy, 1 unreachable"),
        "and the sweep's summary:\n{log}"
    );
    results_alone(&more);
    ok.shutdown().await;
    refused.shutdown().await;
    errors.shutdown().await;
}
