//! The TLS certificate's expiry on the dashboard: `proxyhealth
//! serve` trusting a private CA, an HTTPS proxy whose certificate expires in
//! 3 days, and the tag beside its name and the warning under it, as text.

use crate::dashboard::{row, wait_for_rows};
use crate::{SETTLE, TEST_TIMEOUT, browser, close};
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_testkit::Program;
use proxyhealth_testkit::tls_server::{TestCa, TlsProxy};
use serde_json::json;

const ADMIN_TOKEN: &str = "certificate-test-admin-token";

/// Starts `serve` on an in-memory store trusting `ca_file`; the program
/// (killed when dropped) and its base URL.
async fn serve(ca_file: &std::path::Path) -> (Program, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxyhealth"));
    command
        .args(["serve", "--db", "memory:", "--listen", "127.0.0.1:0"])
        .args(["--admin-token", ADMIN_TOKEN, "--interval", "1s"])
        .arg("--tls-ca-file")
        .arg(ca_file)
        .env_remove("RUST_LOG");
    let mut program = Program::spawn(command, None);
    let url = program.banner_async().await.url;
    (program, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_near_its_expiry_shows_its_date_and_days_left_as_text() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = TestCa::new("company CA");
        let leaf = ca.leaf(ca.spec().expires_in_days(3));
        let proxy = TlsProxy::start(&leaf).await;
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write the CA");
        let (_server, base) = serve(&ca_file).await;

        let api = proxyhealth_testkit::api::client(&base, ADMIN_TOKEN);
        let created = api
            .create_proxy(&CreateProxyRequest {
                name: "secure".to_owned(),
                ..CreateProxyRequest::default()
            })
            .await
            .expect("create the proxy");
        api.register(
            &created.value.proxy_token,
            &proxyhealth_testkit::api::registration(&proxy.url, "certificate-test"),
        )
        .await
        .expect("the TLS proxy registers");

        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&format!("{base}/#token={ADMIN_TOKEN}"))
            .await
            .expect("load the dashboard");
        let rows = wait_for_rows(&page, SETTLE, "the TLS proxy is checked", |rows| {
            match row(rows, "secure") {
                Some(r) if r.status == "ok" && !r.warnings.is_empty() => None,
                Some(r) => Some(format!("{:?} with warnings {:?}", r.status, r.warnings)),
                None => Some("no row for the TLS proxy".into()),
            }
        })
        .await;
        let secure = row(&rows, "secure").expect("the row");
        assert_eq!(secure.badge, "ok", "a warning never changes the status");
        assert!(
            secure.warnings[0].starts_with("the proxy's TLS certificate expires on ")
                && secure.warnings[0].contains("(in 3 days; warning at 14 days before expiry)"),
            "{:?}",
            secure.warnings
        );
        let date = leaf
            .not_after
            .format(time::macros::format_description!("[year]-[month]-[day]"))
            .expect("a date");
        assert_eq!(
            page.eval(
                "(() => { const t = document.querySelector('tr.proxy-row[data-proxy-name=\"secure\"] .tag.cert'); \
                 return t ? [t.textContent, t.children.length, t.dataset.daysLeft] : null; })()"
            )
            .await
            .expect("read the certificate tag"),
            json!([format!("TLS certificate until {date} · 3 days left"), 0, "3"]),
            "the tag is text only"
        );

        close(browser, cdp).await;
    })
    .await
    .expect("the test finishes within its time limit");
}
