//! Dashboard sign-in in a real browser: `proxyhealth serve` with OpenID
//! Connect against a real provider (`oidc-provider-mock`, started by the
//! test), a person choosing their user on the provider's page, the role
//! from the `groups` claim shown beside their name, the buttons a viewer may
//! not use hidden (and refused by the server anyway), signing out, and a
//! session the server ended by its expiry.
//!
//! Test hooks: `#sso-sign-in`, `#who .who-name`, `#who .who-role`, `#audit`,
//! `#sign-out`, `#check-now`.

use crate::{TEST_TIMEOUT, browser, close};
use proxyhealth_cdp::Page;
use proxyhealth_testkit::{OidcProvider, Program};
use serde_json::{Value, json};
use std::time::Duration;

const ADMIN_TOKEN: &str = "sign-in-test-admin-token";
/// How long the page may take to show what a step changed.
const SHOWN: Duration = Duration::from_secs(20);

/// Starts `serve` on an in-memory store with sign-in against `provider`;
/// the program (killed when dropped) and its base URL, which is also its
/// public URL (so the provider sends the browser back to it).
async fn serve(provider: &OidcProvider, session_lifetime: &str) -> (Program, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxyhealth"));
    command
        .args([
            "serve",
            "--db",
            "memory:",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--admin-token", ADMIN_TOKEN, "--public-url", &base])
        .args([
            "--oidc-issuer-url",
            &provider.issuer,
            "--oidc-client-id",
            "proxyhealth",
        ])
        .args([
            "--oidc-role-claim",
            "groups",
            "--oidc-admin-values",
            "ph-admins",
        ])
        .args([
            "--oidc-operator-values",
            "ph-operators",
            "--oidc-default-role",
            "viewer",
        ])
        .args(["--session-lifetime", session_lifetime])
        .env("PROXYHEALTH_OIDC_CLIENT_SECRET", "browser-test-secret")
        .env_remove("RUST_LOG");
    let mut program = Program::spawn(command, None);
    let url = program.banner_async().await.url;
    assert_eq!(url, base, "serve listens where its public URL says");
    (program, base)
}

/// Waits until `expression` is true in the page (across navigations).
async fn wait_until(page: &Page<'_>, expression: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + SHOWN;
    loop {
        if page.eval(expression).await.ok() == Some(Value::Bool(true)) {
            return;
        }
        let location = page.eval("location.href").await.unwrap_or_default();
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {SHOWN:?} (at {location})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SIGN_IN_SHOWN: &str = "(() => { const a = document.querySelector('#sso-sign-in'); \
     return Boolean(a) && !a.hidden; })()";
const WHO_SHOWN: &str = "(() => { const w = document.querySelector('#who'); \
     return Boolean(w) && !w.hidden; })()";

/// Clicks "Sign in" on the dashboard and chooses `sub` on the provider's page.
async fn sign_in(page: &Page<'_>, provider: &OidcProvider, sub: &str) {
    wait_until(page, SIGN_IN_SHOWN, "the dashboard offers \"Sign in\"").await;
    page.eval("document.querySelector('#sso-sign-in').click()")
        .await
        .expect("click Sign in");
    let at_provider = format!(
        "location.href.startsWith({}) && Boolean(document.querySelector('input[name=sub]'))",
        json!(provider.issuer)
    );
    wait_until(page, &at_provider, "the provider's authorization page").await;
    page.eval(&format!(
        "(() => {{ const input = document.querySelector('input[name=sub]'); \
         input.value = {}; input.form.submit(); return true; }})()",
        json!(sub)
    ))
    .await
    .expect("authorize at the provider");
    wait_until(page, WHO_SHOWN, "the dashboard shows who is signed in").await;
}

async fn text(page: &Page<'_>, selector: &str) -> String {
    page.eval(&format!(
        "document.querySelector({})?.textContent ?? ''",
        json!(selector)
    ))
    .await
    .expect("read the page")
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

async fn hidden(page: &Page<'_>, selector: &str) -> bool {
    page.eval(&format!(
        "document.querySelector({}).hidden",
        json!(selector)
    ))
    .await
    .expect("read the page")
        == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_signs_in_sees_their_role_is_not_offered_check_now_and_signs_out() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some(provider) = OidcProvider::start().await else {
            return;
        };
        let Some((chromium, cdp)) = browser().await else {
            return;
        };
        provider
            .set_user(
                "vera",
                json!({"email": "vera@example.com", "name": "Vera", "groups": ["staff"]}),
            )
            .await;
        let (_server, base) = serve(&provider, "1h").await;
        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&format!("{base}/"))
            .await
            .expect("open the dashboard");
        assert!(hidden(&page, "#who").await, "nobody is signed in yet");

        sign_in(&page, &provider, "vera").await;
        assert_eq!(text(&page, "#who .who-name").await, "Vera");
        assert_eq!(text(&page, "#who .who-role").await, "viewer");
        assert!(hidden(&page, "#sso-sign-in").await);
        assert!(!hidden(&page, "#sign-out").await);
        assert!(
            hidden(&page, "#check-now").await,
            "a viewer is not offered check now"
        );

        // the server refuses it anyway, CSRF token and all
        let refused = page
            .eval(
                "(async () => { \
                   const s = await (await fetch('/api/v2/proxyhealth/session')).json(); \
                   const r = await fetch('/api/v2/workspaceproxies/refresh', { method: 'POST', \
                     headers: { 'X-Proxyhealth-CSRF': s.csrf_token } }); \
                   return { role: s.role, status: r.status }; })()",
            )
            .await
            .expect("ask for a check");
        assert_eq!(refused["role"], "viewer");
        let status = refused["status"].as_u64().unwrap_or_default();
        assert!(
            status == 401 || status == 403,
            "a viewer's check now is refused: {refused}"
        );

        page.eval("document.querySelector('#sign-out').click()")
            .await
            .expect("click Sign out");
        wait_until(&page, SIGN_IN_SHOWN, "\"Sign in\" again after signing out").await;
        assert!(hidden(&page, "#who").await);
        let session = page
            .eval("fetch('/api/v2/proxyhealth/session').then((r) => r.json())")
            .await
            .expect("the session route");
        assert_eq!(session["signed_in"], false, "{session}");
        close(chromium, cdp).await;
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_shows_sign_in_again_even_with_its_cookie_kept() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some(provider) = OidcProvider::start().await else {
            return;
        };
        let Some((chromium, cdp)) = browser().await else {
            return;
        };
        provider
            .set_user(
                "otto",
                json!({"email": "otto@example.com", "groups": ["ph-operators"]}),
            )
            .await;
        let (_server, base) = serve(&provider, "2s").await;
        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&format!("{base}/"))
            .await
            .expect("open the dashboard");
        sign_in(&page, &provider, "otto").await;
        assert_eq!(text(&page, "#who .who-role").await, "operator");
        assert!(
            !hidden(&page, "#check-now").await,
            "an operator is offered check now"
        );

        let cookies = page
            .call("Network.getCookies", json!({"urls": [base.clone()]}))
            .await
            .expect("the cookies");
        let session = cookies["cookies"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["name"] == "proxyhealth_session"))
            .cloned()
            .expect("the session cookie");
        assert_eq!(session["httpOnly"], true);
        assert_eq!(session["sameSite"], "Lax");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // the cookie put back without its Max-Age: only the server's expiry is left
        page.call(
            "Network.setCookie",
            json!({"name": "proxyhealth_session", "value": session["value"], "url": base,
                   "httpOnly": true, "sameSite": "Lax"}),
        )
        .await
        .expect("keep the cookie");
        page.navigate(&format!("{base}/")).await.expect("reload");
        wait_until(&page, SIGN_IN_SHOWN, "\"Sign in\" once the session expired").await;
        assert!(hidden(&page, "#who").await);
        close(chromium, cdp).await;
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_session_is_shown_the_audit_panel_a_viewer_is_not() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some(provider) = OidcProvider::start().await else {
            return;
        };
        let Some((chromium, cdp)) = browser().await else {
            return;
        };
        provider
            .set_user("ada", json!({"name": "Ada", "groups": ["ph-admins"]}))
            .await;
        provider
            .set_user("vera", json!({"groups": ["staff"]}))
            .await;
        let (_server, base) = serve(&provider, "1h").await;
        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&format!("{base}/"))
            .await
            .expect("open the dashboard");
        sign_in(&page, &provider, "ada").await;
        assert_eq!(text(&page, "#who .who-role").await, "admin");
        wait_until(
            &page,
            "!document.querySelector('#audit').hidden",
            "the audit panel shown to an admin",
        )
        .await;

        page.eval("document.querySelector('#sign-out').click()")
            .await
            .expect("click Sign out");
        wait_until(&page, SIGN_IN_SHOWN, "\"Sign in\" again after signing out").await;
        wait_until(
            &page,
            "document.querySelector('#audit').hidden",
            "the audit panel hidden once signed out",
        )
        .await;
        sign_in(&page, &provider, "vera").await;
        assert_eq!(text(&page, "#who .who-role").await, "viewer");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            hidden(&page, "#audit").await,
            "a viewer is not shown the audit panel"
        );
        close(chromium, cdp).await;
    })
    .await
    .expect("the test finishes in time");
}
