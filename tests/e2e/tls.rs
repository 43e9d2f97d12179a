//! The TLS options and the certificate's expiry through the binary (issue
//! 14): `check` trusting a private CA and sending a client certificate, from
//! flags and from the configuration file, the expiry in its JSON and table;
//! a bad TLS file stopping `check` and `serve` at start with exit code 2; and
//! `serve` giving the expiry in the API and `proxies list`.

use crate::metrics::{promtool_available, promtool_check};
use crate::support::{Server, async_command, command, run, stderr, stdout, write};
use proxyhealth_testkit::tls_server::{TestCa, TlsProxy};
use serde_json::Value;
use std::ffi::OsStr;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_trusts_a_private_ca_and_shows_the_certificates_expiry_and_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec().expires_in_days(3))).await;
    let ca_file = write(dir.path(), "ca.pem", &ca.pem());
    let targets = write(
        dir.path(),
        "targets.txt",
        &format!("{}\tsecure\n", server.url),
    );

    let output = check(&[
        OsStr::new("--targets"),
        targets.as_os_str(),
        OsStr::new("--tls-ca-file"),
        ca_file.as_os_str(),
        OsStr::new("--output"),
        OsStr::new("json"),
    ])
    .await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    let json: Value = serde_json::from_str(&text).expect("JSON");
    let proxy = &json["proxies"][0];
    assert_eq!(proxy["status"], "ok", "{proxy}");
    assert_eq!(proxy["tls_days_left"], 3, "{proxy}");
    assert!(proxy["tls_not_after"].is_string(), "{proxy}");
    let warning = proxy["report"]["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("the proxy's TLS certificate expires on ")
            && warning.ends_with(" (in 3 days; warning at 14 days before expiry)"),
        "{proxy}"
    );

    let output = check(&[
        OsStr::new("--targets"),
        targets.as_os_str(),
        OsStr::new("--tls-ca-file"),
        ca_file.as_os_str(),
        OsStr::new("--tls-expiry-warning"),
        OsStr::new("1d"),
    ])
    .await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("CERTIFICATE"), "{text}");
    assert!(
        lines[1].starts_with("secure ") && lines[1].contains(" (3 days left) "),
        "{text}"
    );
    assert!(!text.contains("warning:"), "no warning at 1 day: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_without_the_ca_says_the_certificate_is_not_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec())).await;
    let targets = write(dir.path(), "targets.txt", &format!("{}\n", server.url));
    let output = check(&[OsStr::new("--targets"), targets.as_os_str()]).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    assert!(
        text.contains(
            "error: request to proxy failed: Get \"https://127.0.0.1:"
        ) && text.contains(
            "the proxy's TLS certificate is not signed by a certificate authority this checker trusts"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_sends_the_client_certificate_the_config_file_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, clients) = (TestCa::new("company CA"), TestCa::new("client CA"));
    let server = TlsProxy::requiring_client_certificate(&ca.leaf(ca.spec()), &clients).await;
    let ca_file = write(dir.path(), "ca.pem", &ca.pem());
    let (cert, key) = clients
        .leaf(clients.spec().names(&["checker"]).client())
        .write(dir.path(), "checker");
    let config = write(
        dir.path(),
        "proxyhealth.toml",
        &format!(
            "tls_ca_file = {:?}\ntls_ca_mode = \"replace\"\ntls_client_cert = {:?}\ntls_client_key = {:?}\n",
            ca_file.display().to_string(),
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    let targets = write(dir.path(), "targets.txt", &format!("{}\n", server.url));
    let output = check(&[
        OsStr::new("--config"),
        config.as_os_str(),
        OsStr::new("--targets"),
        targets.as_os_str(),
        OsStr::new("--output"),
        OsStr::new("json"),
    ])
    .await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));

    // the same without the client certificate: refused, in words
    let without = write(
        dir.path(),
        "without.toml",
        &format!("tls_ca_file = {:?}\n", ca_file.display().to_string()),
    );
    let output = check(&[
        OsStr::new("--config"),
        without.as_os_str(),
        OsStr::new("--targets"),
        targets.as_os_str(),
        OsStr::new("--output"),
        OsStr::new("json"),
    ])
    .await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    let json: Value = serde_json::from_str(&text).expect("JSON");
    let error = json["proxies"][0]["report"]["errors"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains(
            "the proxy requires a TLS client certificate (mutual TLS) and this checker sent none"
        ),
        "{text}"
    );
}

#[test]
fn a_missing_ca_file_stops_check_with_exit_two_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(dir.path(), "targets.txt", "https://127.0.0.1:1\n");
    let missing = dir.path().join("missing-ca.pem");
    let output = run(command()
        .arg("check")
        .arg("--targets")
        .arg(&targets)
        .arg("--tls-ca-file")
        .arg(&missing));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "error: TLS CA file {}: the file does not exist\n",
            missing.display()
        )
    );
    assert_eq!(stdout(&output), "", "nothing was checked");
}

#[test]
fn a_client_key_that_does_not_match_stops_serve_with_exit_two_naming_both() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("client CA");
    let (cert, _key) = ca.leaf(ca.spec().client()).write(dir.path(), "one");
    let (_cert, other_key) = ca.leaf(ca.spec().client()).write(dir.path(), "other");
    let output = run(command()
        .args(["serve", "--db", "memory:", "--listen", "127.0.0.1:0"])
        .env("PROXYHEALTH_TLS_CLIENT_CERT", &cert)
        .env("PROXYHEALTH_TLS_CLIENT_KEY", &other_key));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "TLS client key {} does not match the certificate in {}",
            other_key.display(),
            cert.display()
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn serve_refuses_a_ca_file_that_is_not_pem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_pem = write(dir.path(), "ca.der", "not a certificate\n");
    let output = run(command()
        .args(["serve", "--db", "memory:", "--listen", "127.0.0.1:0"])
        .arg("--tls-ca-file")
        .arg(&not_pem));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "TLS CA file {}: not a PEM file (expected one or more -----BEGIN CERTIFICATE----- blocks)",
            not_pem.display()
        )),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_gives_the_certificates_expiry_in_the_api_and_the_proxies_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("company CA");
    let proxy = TlsProxy::start(&ca.leaf(ca.spec().expires_in_days(3))).await;
    let ca_file = write(dir.path(), "ca.pem", &ca.pem());
    let ca_arg = ca_file.display().to_string();
    let server = Server::start(&["--tls-ca-file", &ca_arg, "--interval", "1s"]);
    let created = server
        .api()
        .create_proxy(&proxyhealth_api::wire::CreateProxyRequest {
            name: "secure".into(),
            ..Default::default()
        })
        .await
        .expect("create");
    let registration = proxyhealth_testkit::api::registration(&proxy.url, "e2e");
    let registered = server
        .api()
        .register(&created.value.proxy_token, &registration)
        .await
        .expect("register");
    assert_eq!(registered.status, 201);
    let id = created.value.proxy.region.id;
    let mut status = Value::Null;
    for _ in 0..100 {
        let answer = server.api().proxy(&id.to_string()).await.expect("get");
        status = answer.raw().expect("raw JSON")["status"].clone();
        if status["status"] == "ok" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "ok", "{status}");
    assert_eq!(status["tls_days_left"], 3, "{status}");
    assert!(status["tls_not_after"].is_string(), "{status}");

    let output = run(server.cli().args(["proxies", "list"]));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.lines()
            .next()
            .is_some_and(|header| header.contains("CERTIFICATE")),
        "{text}"
    );
    assert!(text.contains(" (3 days left)"), "{text}");
    assert!(
        text.contains("warning: the proxy's TLS certificate expires on "),
        "{text}"
    );

    let scrape = proxyhealth_api::http::client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("the scrape's body");
    assert!(
        scrape.contains(&format!(
            "proxyhealth_tls_not_after_seconds{{proxy_id=\"{id}\"}} "
        )),
        "{scrape}"
    );
    if promtool_available() {
        promtool_check(&scrape);
    }
}

/// Runs `proxyhealth check` with `args`.
async fn check(args: &[&OsStr]) -> std::process::Output {
    async_command()
        .arg("check")
        .args(args)
        .output()
        .await
        .expect("run check")
}
