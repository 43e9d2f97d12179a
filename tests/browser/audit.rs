//! The audit log panel on the dashboard: shown to an admin with the newest
//! changes people made, as text (an object with markup in it stays text);
//! hidden for a viewer.
//!
//! Test hooks: `#audit` (hidden or not), `#audit-rows tr.audit-row[data-action]`.

use crate::{TEST_TIMEOUT, browser, close};
use proxyhealth_api::wire::{CreatePersonalTokenRequest, CreateProxyRequest};
use proxyhealth_cdp::Page;
use proxyhealth_core::access::Role;
use proxyhealth_testkit::Program;
use serde_json::Value;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "audit-test-admin-token";
/// A path segment with markup in it, which must reach the page as text.
const MARKUP: &str = "<img src=x onerror=\"window.__pwned=5\">";

/// Starts `serve` on an in-memory store; the program and its base URL.
async fn serve() -> (Program, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxyhealth"));
    command
        .args(["serve", "--db", "memory:", "--listen", "127.0.0.1:0"])
        .args(["--admin-token", ADMIN_TOKEN, "--interval", "1s"])
        .env_remove("RUST_LOG");
    let mut program = Program::spawn(command, None);
    let url = program.banner_async().await.url;
    (program, url)
}

/// What the panel shows: whether it is visible, and each row's cells.
async fn panel(page: &Page<'_>) -> Value {
    page.eval(
        "(() => ({ shown: !document.querySelector('#audit').hidden, \
           rows: [...document.querySelectorAll('#audit-rows tr.audit-row')].map(tr => \
             ({ action: tr.dataset.action, cells: [...tr.cells].map(td => td.textContent) })) }))()",
    )
    .await
    .expect("read the panel")
}

/// The panel once `done` holds, or a failure naming what it showed.
async fn wait(page: &Page<'_>, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = panel(page).await;
        if done(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{what}: the panel shows {seen}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_the_audit_log_as_text_and_a_viewer_does_not() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let (_server, base) = serve().await;
        let api = proxyhealth_testkit::api::client(&base, ADMIN_TOKEN);
        api.create_proxy(&CreateProxyRequest {
            name: "eu-west".to_owned(),
            ..CreateProxyRequest::default()
        })
        .await
        .expect("create a proxy");
        let viewer = api
            .create_personal_token(&CreatePersonalTokenRequest {
                name: "watcher".to_owned(),
                role: Role::Viewer,
                expires_in_seconds: None,
            })
            .await
            .expect("create a viewer token")
            .value
            .value;
        let markup_path: String = url::form_urlencoded::byte_serialize(MARKUP.as_bytes()).collect();
        let gone = proxyhealth_api::http::client()
            .delete(format!(
                "{base}/api/v2/workspaceproxies/{}",
                markup_path.replace('+', "%20")
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("send");
        assert_eq!(gone.status(), reqwest::StatusCode::NOT_FOUND);

        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&format!("{base}/#token={ADMIN_TOKEN}"))
            .await
            .expect("load the dashboard");
        let seen = wait(&page, "the admin sees three changes", |p| {
            p["shown"] == true && p["rows"].as_array().is_some_and(|r| r.len() == 3)
        })
        .await;
        let actions: Vec<&str> = seen["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["action"].as_str())
            .collect();
        assert_eq!(actions, ["proxy.delete", "token.create", "proxy.create"]);
        assert_eq!(
            seen["rows"][0]["cells"][3], MARKUP,
            "the object is shown as text"
        );
        assert_eq!(seen["rows"][0]["cells"][4], "404");
        assert_eq!(seen["rows"][2]["cells"][1], "admin token");
        let pwned = page
            .eval("window.__pwned === undefined")
            .await
            .expect("eval");
        assert_eq!(pwned, Value::Bool(true), "no markup ran");

        let viewer_page = cdp.new_page().await.expect("open a page");
        viewer_page
            .navigate(&format!("{base}/#token={viewer}"))
            .await
            .expect("load the dashboard");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let seen = panel(&viewer_page).await;
        assert_eq!(seen["shown"], false, "a viewer has no audit panel: {seen}");
        close(browser, cdp).await;
    })
    .await
    .expect("the test finishes in time");
}
