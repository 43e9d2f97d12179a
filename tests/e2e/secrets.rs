//! A proxy URL with a password (`http://ops:PASSWORD@host`) is registered and
//! checked, and the password appears in no output: the API's every route, the
//! event stream, `/metrics`, the dashboard's files, the server's log, and the
//! CLI's `proxies` and `check` tables and JSON. Where the URL is shown, it is
//! shown redacted (`http://ops:xxxxx@host`), as Prometheus shows its targets.

use crate::support::{Server, async_command, stderr, stdout, write};
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_sim::{Kind, spawn};
use proxyhealth_testkit::api::registration;
use std::time::Duration;

/// The password: long and unlike anything else the outputs hold.
const PASSWORD: &str = "Pa55w0rd-never-shown-7f3a";

/// `url` with the user `ops` and the password.
fn with_password(url: &str) -> String {
    url.replacen("http://", &format!("http://ops:{PASSWORD}@"), 1)
}

/// `url` as it must be shown.
fn redacted(url: &str) -> String {
    url.replacen("http://", "http://ops:xxxxx@", 1)
}

/// Asserts that `text`, one output named `what`, holds no password.
fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "the password appears in {what}:\n{text}"
    );
}

/// A request to the server with the admin token: the status and the body.
async fn request(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut builder = proxyhealth_api::http::client()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(&server.token)
        .timeout(Duration::from_secs(30));
    if let Some(body) = body {
        builder = builder
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = builder.send().await.expect("a request to the server");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// The first bytes of the event stream (its first `sweep` event).
async fn first_event(server: &Server) -> String {
    let mut response = proxyhealth_api::http::client()
        .get(format!("{}/api/v2/proxyhealth/events", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("open the event stream");
    let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("an event within 10 s")
        .expect("a chunk")
        .expect("not the end");
    String::from_utf8_lossy(&chunk).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_a_proxy_url_appears_in_no_output_and_the_url_is_shown_redacted() {
    let reachable = spawn(Kind::Ok).await.expect("spawn");
    let failing = spawn(Kind::ServerError).await.expect("spawn");
    let refused = spawn(Kind::Refused).await.expect("spawn");
    let server = tokio::task::spawn_blocking(|| {
        Server::start_with(
            &["--interval", "1s", "--timeout", "2s"],
            &[("RUST_LOG", "debug")],
            None,
        )
    })
    .await
    .expect("start serve");
    let api = server.api();
    let proxies = [
        ("reachable", reachable.url()),
        ("failing", failing.url()),
        ("refused", refused.url()),
    ];
    for (name, url) in proxies {
        let created = api
            .create_proxy(&CreateProxyRequest {
                name: name.to_owned(),
                ..CreateProxyRequest::default()
            })
            .await
            .expect("create a proxy");
        api.register(
            &created.value.proxy_token,
            &registration(&with_password(url), name),
        )
        .await
        .expect("a URL with a password may be registered");
    }

    // Every route that returns proxies or their URLs, after a sweep has
    // checked them all (the refresh waits for it).
    let (status, refreshed) = request(
        &server,
        reqwest::Method::POST,
        "/api/v2/workspaceproxies/refresh",
        None,
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let list: serde_json::Value = serde_json::from_str(&refreshed).expect("JSON");
    let by_name = |name: &str| {
        list["regions"]
            .as_array()
            .expect("regions")
            .iter()
            .find(|proxy| proxy["name"] == name)
            .cloned()
            .expect("the proxy is listed")
    };
    assert_eq!(
        by_name("reachable")["status"]["status"],
        "ok",
        "{refreshed}"
    );
    assert_eq!(
        by_name("failing")["status"]["status"],
        "unhealthy",
        "{refreshed}"
    );
    assert_eq!(
        by_name("refused")["status"]["status"],
        "unreachable",
        "{refreshed}"
    );
    for (name, url) in proxies {
        assert_eq!(by_name(name)["path_app_url"], redacted(url), "{refreshed}");
    }
    let failing_error = by_name("failing")["status"]["report"]["errors"][0]
        .as_str()
        .expect("an error")
        .to_owned();
    assert!(
        failing_error.contains(&format!("{}/healthz-report", redacted(failing.url()))),
        "the message names the URL, redacted: {failing_error}"
    );
    let refused_error = by_name("refused")["status"]["report"]["errors"][0]
        .as_str()
        .expect("an error")
        .to_owned();
    assert!(
        refused_error.contains(&redacted(refused.url())),
        "{refused_error}"
    );

    let mut outputs: Vec<(String, String)> = vec![("POST refresh".into(), refreshed)];
    let id = by_name("failing")["id"].as_str().expect("an id").to_owned();
    for path in [
        "/api/v2/workspaceproxies".to_owned(),
        "/api/v2/workspaceproxies/failing".to_owned(),
        format!("/api/v2/workspaceproxies/{id}"),
        "/api/v2/regions".to_owned(),
        "/api/v2/proxyhealth/summary".to_owned(),
        "/api/v2/proxyhealth/replicas".to_owned(),
        "/healthz".to_owned(),
        "/metrics".to_owned(),
        "/".to_owned(),
        "/assets/app.js".to_owned(),
        "/assets/style.css".to_owned(),
        "/assets/favicon.svg".to_owned(),
    ] {
        let (status, body) = request(&server, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        outputs.push((format!("GET {path}"), body));
    }
    let (status, patched) = request(
        &server,
        reqwest::Method::PATCH,
        "/api/v2/workspaceproxies/failing",
        Some(r#"{"display_name":"Failing"}"#),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert!(patched.contains(&redacted(failing.url())), "{patched}");
    outputs.push(("PATCH".into(), patched));
    outputs.push(("the event stream".into(), first_event(&server).await));

    // The CLI over the API: tables and JSON.
    for args in [
        vec!["proxies", "list"],
        vec!["proxies", "list", "-o", "json"],
        vec!["proxies", "show", "failing"],
        vec!["proxies", "show", "failing", "-o", "json"],
    ] {
        let output = tokio::process::Command::from(server.cli())
            .args(&args)
            .output()
            .await
            .expect("run the CLI");
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            text.contains(&redacted(failing.url())),
            "{args:?} shows the URL redacted:\n{text}"
        );
        outputs.push((format!("{args:?}"), text));
    }

    // `check` on the same URLs, as a table and as JSON.
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = proxies
        .iter()
        .map(|(name, url)| format!("{}\t{name}\n", with_password(url)))
        .collect::<String>();
    let targets = write(dir.path(), "targets.txt", &targets);
    for format in ["table", "json"] {
        let output = async_command()
            .arg("check")
            .arg("--targets")
            .arg(&targets)
            .args(["--timeout", "2s", "-o", format])
            .output()
            .await
            .expect("run check");
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&redacted(reachable.url())) && text.contains(&redacted(failing.url())),
            "check {format} shows the URLs redacted:\n{text}"
        );
        outputs.push((format!("check -o {format}"), text));
    }

    // The server logged the registrations (with the URL) at least.
    let log = server.log_text();
    assert!(
        log.contains(&redacted(reachable.url())),
        "the registration is logged with the URL redacted:\n{log}"
    );
    outputs.push(("the server's log".into(), log));

    for (what, text) in &outputs {
        assert_clean(what, text);
    }
    reachable.shutdown().await;
    failing.shutdown().await;
    refused.shutdown().await;
}

/// The `url` label of `proxyhealth_proxy_info` for the proxy named `name`.
fn info_url(metrics: &str, name: &str) -> Option<String> {
    let line = metrics.lines().find(|line| {
        line.starts_with("proxyhealth_proxy_info{") && line.contains(&format!("name=\"{name}\""))
    })?;
    let start = line.find("url=\"")? + "url=\"".len();
    let end = start + line[start..].find('"')?;
    Some(line[start..end].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_hidden_one_way_in_the_api_the_metrics_and_a_notification() {
    let receiver = proxyhealth_testkit::receiver::Receiver::start().await;
    let refused = spawn(Kind::Refused).await.expect("spawn");
    let target = format!("ops={}", receiver.url);
    let server = tokio::task::spawn_blocking(move || {
        Server::start(&[
            "--interval",
            "1s",
            "--timeout",
            "2s",
            "--notify-webhook",
            &target,
        ])
    })
    .await
    .expect("start serve");
    let api = server.api();
    let created = api
        .create_proxy(&CreateProxyRequest {
            name: "guarded".to_owned(),
            ..CreateProxyRequest::default()
        })
        .await
        .expect("create a proxy");
    // No path, so a URL library would add a trailing `/`: shown as given.
    let url = with_password(refused.url());
    api.register(&created.value.proxy_token, &registration(&url, "guarded"))
        .await
        .expect("register");
    let shown = redacted(refused.url());

    let notifications = receiver.wait_for_accepted(1, Duration::from_secs(30)).await;
    let body = notifications[0].json();
    assert_eq!(body["type"], "status_change", "{body}");
    assert_eq!(body["proxy"]["url"], shown.as_str(), "{body}");

    let proxy = api.proxy("guarded").await.expect("the proxy").value;
    assert_eq!(proxy.region.path_app_url, shown);
    let (status, metrics) = request(&server, reqwest::Method::GET, "/metrics", None).await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(
        info_url(&metrics, "guarded").as_deref(),
        Some(shown.as_str()),
        "{metrics}"
    );
    assert_clean("the notification", &body.to_string());
    refused.shutdown().await;
}

/// The sign-in client secret: long and unlike anything else the outputs hold.
const CLIENT_SECRET: &str = "oidc-client-secret-never-shown-91c2";

#[tokio::test]
async fn the_sign_in_client_secret_appears_in_no_log_line() {
    // a provider at a closed port: the login fails and says why, at warn level
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let issuer = format!("http://{closed}");
    let mut server = Server::start_with(
        &[
            "--oidc-issuer-url",
            &issuer,
            "--oidc-client-id",
            "proxyhealth",
            "--oidc-default-role",
            "viewer",
            "--public-url",
            "http://127.0.0.1:1",
        ],
        &[
            ("PROXYHEALTH_OIDC_CLIENT_SECRET", CLIENT_SECRET),
            ("RUST_LOG", "debug"),
        ],
        None,
    );
    let login = proxyhealth_api::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/auth/login", server.url))
        .send()
        .await
        .expect("GET /auth/login");
    assert_eq!(login.status().as_u16(), 502);
    let body = login.text().await.expect("a body");
    assert!(
        body.contains("The identity provider could not be used."),
        "{body}"
    );
    assert!(!body.contains(CLIENT_SECRET), "{body}");
    server.terminate(Duration::from_secs(10));
    let log = server.log_text();
    assert!(log.contains("the identity provider failed"), "{log}");
    assert!(
        !log.contains(CLIENT_SECRET),
        "the client secret appears in the log:\n{log}"
    );
}
