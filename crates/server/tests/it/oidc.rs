//! Dashboard sign-in against a real OpenID Connect provider
//! (`oidc-provider-mock`, started by the test): the login flow end to end,
//! and each refusal: a replayed state, a callback in another browser, a
//! tampered or expired session cookie, an ID token from another issuer or
//! for another client, a `return_to` off the site, a user with no role, and
//! the CSRF rule. Skipped loudly without the provider, failed with CI=true.

use crate::helpers::{Answer, TestApp, answer, config, spawn_with};
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use proxyhealth_server::ServiceConfig;
use proxyhealth_server::oidc::OidcSettings;
use proxyhealth_store::{MemoryStore, ProxyStore};
use proxyhealth_testkit::OidcProvider;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The public URL the services are configured with (the tests send the
/// provider's redirects to the service's real address themselves).
const PUBLIC_URL: &str = "http://dashboard.test";
const CLIENT_ID: &str = "proxyhealth-test";

fn settings(issuer: &str) -> OidcSettings {
    OidcSettings {
        issuer_url: issuer.parse().expect("issuer URL"),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some("client-secret".to_owned()),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        role_claim: Some("groups".to_owned()),
        admin_values: vec!["ph-admins".to_owned()],
        operator_values: vec!["ph-operators".to_owned()],
        default_role: None,
        allowed_domains: Vec::new(),
        public_url: PUBLIC_URL.parse().expect("public URL"),
        session_lifetime: Duration::from_secs(3600),
    }
}

async fn service(oidc: OidcSettings) -> TestApp {
    let store: Arc<dyn ProxyStore> = Arc::new(MemoryStore::new());
    spawn_with(
        store,
        ServiceConfig {
            oidc: Some(oidc),
            ..config()
        },
    )
    .await
}

/// A browser without redirects: its cookies kept by hand.
struct Browser {
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new() -> Self {
        Browser {
            client: proxyhealth_api::http::client_builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(key, _)| key != name);
        if !value.is_empty() {
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Sends `request` with the cookies, keeps the ones it sets.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("cookie", self.cookie_header())
        };
        let response = request.send().await.expect("request");
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().expect("ascii cookie");
            let pair = text.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.set_cookie(name, value);
            }
        }
        answer(response).await
    }

    async fn get(&mut self, url: &str) -> Answer {
        let request = self.client.get(url);
        self.send(request).await
    }
}

fn location(answer: &Answer) -> String {
    answer
        .headers
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("a Location")
        .to_owned()
}

/// The provider's redirect back to the callback, sent to the service's real address.
fn on_service(app: &TestApp, callback: &str) -> String {
    let rest = callback
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("the callback {callback} is not under {PUBLIC_URL}"));
    app.url(rest)
}

/// Begins a login at the service, has `sub` authorize it at the provider:
/// the callback URL on the service.
async fn authorize(
    app: &TestApp,
    provider: &OidcProvider,
    browser: &mut Browser,
    return_to: &str,
    sub: &str,
) -> String {
    let login = browser
        .get(&app.url(&format!("/auth/login?return_to={}", url_escape(return_to))))
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{:?}", login.body);
    let callback = provider.authorize(&location(&login), sub).await;
    on_service(app, &callback)
}

fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Signs `sub` in: the callback's answer.
async fn sign_in(
    app: &TestApp,
    provider: &OidcProvider,
    browser: &mut Browser,
    return_to: &str,
    sub: &str,
) -> Answer {
    let callback = authorize(app, provider, browser, return_to, sub).await;
    browser.get(&callback).await
}

#[tokio::test]
async fn signing_in_opens_a_session_with_the_role_the_claim_maps() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user(
            "ana",
            json!({"email": "ana@example.com", "name": "Ana", "groups": ["staff", "ph-operators"]}),
        )
        .await;
    let app = service(settings(&provider.issuer)).await;
    let mut browser = Browser::new();
    let done = sign_in(&app, &provider, &mut browser, "/proxies/abc", "ana").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    assert_eq!(location(&done), "/proxies/abc");
    let set_cookie: Vec<_> = done
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let session_cookie = set_cookie
        .iter()
        .find(|cookie| cookie.starts_with("proxyhealth_session="))
        .expect("a session cookie");
    assert!(
        session_cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"),
        "{session_cookie}"
    );
    let session = browser.get(&app.url("/api/v2/proxyhealth/session")).await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.body["signed_in"], true);
    assert_eq!(session.body["oidc"], true);
    assert_eq!(session.body["role"], "operator");
    assert_eq!(session.body["email"], "ana@example.com");
    assert_eq!(session.body["name"], "Ana");
    assert_eq!(session.body["subject"], "ana");
    assert!(
        session.body["csrf_token"]
            .as_str()
            .is_some_and(|t| t.len() == 43)
    );
}

#[tokio::test]
async fn the_session_route_says_whether_sign_in_is_configured() {
    let store: Arc<dyn ProxyStore> = Arc::new(MemoryStore::new());
    let app = spawn_with(store, config()).await;
    let mut browser = Browser::new();
    let session = browser.get(&app.url("/api/v2/proxyhealth/session")).await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.body["oidc"], false);
    assert_eq!(session.body["signed_in"], false);
    let login = browser.get(&app.url("/auth/login")).await;
    assert_eq!(login.status, StatusCode::NOT_FOUND);
    assert_eq!(login.message(), "Sign-in is not configured.");
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user(
            "ana",
            json!({"email": "ana@example.com", "groups": "ph-admins"}),
        )
        .await;
    let app = service(settings(&provider.issuer)).await;
    let mut browser = Browser::new();
    let callback = authorize(&app, &provider, &mut browser, "/", "ana").await;
    let login_cookie = browser
        .cookie("proxyhealth_login")
        .expect("login cookie")
        .to_owned();
    let first = browser.get(&callback).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{:?}", first.body);
    // the same callback again, with the login cookie it began with
    browser.set_cookie("proxyhealth_login", &login_cookie);
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.message(), "Sign-in refused.");
    assert!(
        replay.detail().contains("already used"),
        "{}",
        replay.detail()
    );
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let app = service(settings(&provider.issuer)).await;
    let mut began = Browser::new();
    let callback = authorize(&app, &provider, &mut began, "/", "ana").await;
    let mut other = Browser::new();
    let refused = other.get(&callback).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.message(), "Sign-in refused.");
    assert!(
        refused.detail().contains("did not begin in this browser"),
        "{}",
        refused.detail()
    );
    assert!(other.cookie("proxyhealth_session").is_none());
}

#[tokio::test]
async fn a_tampered_session_cookie_is_refused() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let app = service(settings(&provider.issuer)).await;
    let mut browser = Browser::new();
    let done = sign_in(&app, &provider, &mut browser, "/", "ana").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    let id = browser
        .cookie("proxyhealth_session")
        .expect("session")
        .to_owned();
    let flipped = if id.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{flipped}{}", &id[1..]);
    for cookie in [tampered.as_str(), "not-a-session", ""] {
        let mut forger = Browser::new();
        forger
            .cookies
            .push(("proxyhealth_session".into(), cookie.into()));
        let session = forger.get(&app.url("/api/v2/proxyhealth/session")).await;
        assert_eq!(session.status, StatusCode::UNAUTHORIZED, "{cookie:?}");
        assert_eq!(session.message(), "Invalid session.");
    }
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let app = service(OidcSettings {
        session_lifetime: Duration::from_secs(1),
        ..settings(&provider.issuer)
    })
    .await;
    let mut browser = Browser::new();
    let done = sign_in(&app, &provider, &mut browser, "/", "ana").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    let id = browser
        .cookie("proxyhealth_session")
        .expect("session")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // the browser would have dropped it (Max-Age=1); the server refuses it anyway
    browser.set_cookie("proxyhealth_session", &id);
    let session = browser.get(&app.url("/api/v2/proxyhealth/session")).await;
    assert_eq!(session.status, StatusCode::UNAUTHORIZED);
    assert_eq!(session.message(), "Invalid session.");
}

#[tokio::test]
async fn a_return_to_on_another_site_is_replaced_by_the_root() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let app = service(settings(&provider.issuer)).await;
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "evil",
    ] {
        let mut browser = Browser::new();
        let done = sign_in(&app, &provider, &mut browser, evil, "ana").await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "{evil}: {:?}",
            done.body
        );
        assert_eq!(location(&done), "/", "{evil}");
    }
}

#[tokio::test]
async fn a_user_no_claim_value_maps_is_refused_without_a_default_role() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider.set_user("eve", json!({"groups": ["staff"]})).await;
    let app = service(settings(&provider.issuer)).await;
    let mut browser = Browser::new();
    let refused = sign_in(&app, &provider, &mut browser, "/", "eve").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.message(), "Sign-in refused.");
    assert!(refused.detail().contains("no role"), "{}", refused.detail());
    assert!(browser.cookie("proxyhealth_session").is_none());
}

#[tokio::test]
async fn an_email_outside_the_allowed_domains_is_refused() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user(
            "eve",
            json!({"email": "eve@evil.example", "groups": "ph-admins"}),
        )
        .await;
    let app = service(OidcSettings {
        allowed_domains: vec!["example.com".into()],
        ..settings(&provider.issuer)
    })
    .await;
    let mut browser = Browser::new();
    let refused = sign_in(&app, &provider, &mut browser, "/", "eve").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.message(), "Sign-in refused.");
    assert_eq!(
        refused.detail(),
        "the email domain of \"eve@evil.example\" is not allowed to sign in"
    );
}

#[tokio::test]
async fn a_state_changing_request_with_the_cookie_needs_the_csrf_token_and_this_origin() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let app = service(settings(&provider.issuer)).await;
    let mut browser = Browser::new();
    let done = sign_in(&app, &provider, &mut browser, "/", "ana").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    let session = browser.get(&app.url("/api/v2/proxyhealth/session")).await;
    let csrf = session.body["csrf_token"]
        .as_str()
        .expect("csrf token")
        .to_owned();

    let logout = app.url("/auth/logout");
    let without = browser.send(browser.client.post(&logout)).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert_eq!(without.message(), "Missing or wrong CSRF token.");

    let wrong = browser
        .send(
            browser
                .client
                .post(&logout)
                .header("x-proxyhealth-csrf", "0".repeat(43)),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.message(), "Missing or wrong CSRF token.");

    let cross_site = browser
        .send(
            browser
                .client
                .post(&logout)
                .header("origin", "https://evil.example")
                .header("x-proxyhealth-csrf", &csrf),
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert_eq!(cross_site.message(), "Cross-site request refused.");

    let ended = browser
        .send(
            browser
                .client
                .post(&logout)
                .header("origin", PUBLIC_URL)
                .header("x-proxyhealth-csrf", &csrf),
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    assert!(
        browser.cookie("proxyhealth_session").is_none(),
        "the cookie is removed"
    );
    // the ended session is refused even if a copy of the cookie is sent
    let id = done
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| cookie.strip_prefix("proxyhealth_session="))
        .and_then(|rest| rest.split(';').next())
        .expect("the session id")
        .to_owned();
    browser.set_cookie("proxyhealth_session", &id);
    let after = browser.get(&app.url("/api/v2/proxyhealth/session")).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.message(), "Invalid session.");
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_again() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let app = service(settings(&provider.issuer)).await;
    let mut browser = Browser::new();
    let first = sign_in(&app, &provider, &mut browser, "/", "ana").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{:?}", first.body);
    // the same provider with a new key pair: the service's kept key set no
    // longer holds the key its ID tokens are signed with
    let port = provider.port;
    provider.stop().await;
    let rotated = OidcProvider::start_on(port)
        .await
        .expect("the provider restarts");
    rotated
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let mut browser = Browser::new();
    let second = sign_in(&app, &rotated, &mut browser, "/", "ana").await;
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{:?}", second.body);
    assert!(browser.cookie("proxyhealth_session").is_some());
}

/// What the middlebox in front of the provider changes in the token request.
#[derive(Clone, Copy)]
enum Tamper {
    /// The token request reaches the provider under its own address, so the
    /// ID token's issuer is not the one the service discovered.
    OtherIssuer,
    /// The token request authenticates as another client, for which the
    /// code was issued: the ID token's audience is not this service.
    OtherClient,
}

const OTHER_CLIENT: &str = "someone-else";

/// A forwarding proxy on loopback in front of `provider` (the service's
/// issuer URL is the proxy's), changing the token request as `tamper` says.
async fn middlebox(provider: &OidcProvider, tamper: Tamper) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let front = format!("http://{}", listener.local_addr().expect("addr"));
    let upstream = provider.issuer.clone();
    let front_host = front.trim_start_matches("http://").to_owned();
    let upstream_host = upstream.trim_start_matches("http://").to_owned();
    let client = proxyhealth_api::http::client_builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let forward = move |request: Request| {
        let client = client.clone();
        let upstream = upstream.clone();
        let front_host = front_host.clone();
        let upstream_host = upstream_host.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.expect("body");
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let token = path.starts_with("/oauth2/token");
            let host = match tamper {
                Tamper::OtherIssuer if token => upstream_host.clone(),
                _ => front_host.clone(),
            };
            let mut outgoing = client
                .request(parts.method.clone(), format!("{upstream}{path}"))
                .header("host", host)
                .body(body.to_vec());
            for (name, value) in &parts.headers {
                if name == "host" || name == "content-length" {
                    continue;
                }
                if name == "authorization" && token && matches!(tamper, Tamper::OtherClient) {
                    let basic = base64::engine::general_purpose::STANDARD
                        .encode(format!("{OTHER_CLIENT}:client-secret"));
                    outgoing = outgoing.header("authorization", format!("Basic {basic}"));
                    continue;
                }
                outgoing = outgoing.header(name, value);
            }
            let answer = outgoing.send().await.expect("the provider answers");
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.expect("the provider's body");
            response.body(Body::from(bytes)).expect("a response")
        }
    };
    let router = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, router).await });
    front
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let front = middlebox(&provider, Tamper::OtherIssuer).await;
    let app = service(settings(&front)).await;
    let mut browser = Browser::new();
    let refused = sign_in(&app, &provider, &mut browser, "/", "ana").await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.message(), "Sign-in refused.");
    assert!(
        refused.detail().contains("Invalid issuer"),
        "{}",
        refused.detail()
    );
    assert!(browser.cookie("proxyhealth_session").is_none());
}

#[tokio::test]
async fn an_id_token_for_another_client_is_refused() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let front = middlebox(&provider, Tamper::OtherClient).await;
    let app = service(settings(&front)).await;
    let mut browser = Browser::new();
    let login = browser.get(&app.url("/auth/login")).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{:?}", login.body);
    // the provider issues the code to the other client
    let authorize_url = location(&login).replace(
        &format!("client_id={CLIENT_ID}"),
        &format!("client_id={OTHER_CLIENT}"),
    );
    let callback = provider.authorize(&authorize_url, "ana").await;
    let refused = browser.get(&on_service(&app, &callback)).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.message(), "Sign-in refused.");
    assert!(
        refused.detail().contains("Invalid audiences"),
        "{}",
        refused.detail()
    );
    assert!(browser.cookie("proxyhealth_session").is_none());
}

#[tokio::test]
async fn a_session_acts_in_its_role_and_changes_nothing_without_the_csrf_token() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user("vera", json!({"groups": ["staff"]}))
        .await;
    provider
        .set_user("otto", json!({"groups": ["ph-operators"]}))
        .await;
    let app = service(OidcSettings {
        default_role: Some(proxyhealth_core::Role::Viewer),
        ..settings(&provider.issuer)
    })
    .await;
    let refresh = app.url("/api/v2/workspaceproxies/refresh");

    let mut viewer = Browser::new();
    let done = sign_in(&app, &provider, &mut viewer, "/", "vera").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    let list = viewer.get(&app.url("/api/v2/workspaceproxies")).await;
    assert_eq!(
        list.status,
        StatusCode::OK,
        "a viewer reads the list: {:?}",
        list.body
    );
    let csrf = viewer
        .get(&app.url("/api/v2/proxyhealth/session"))
        .await
        .body["csrf_token"]
        .as_str()
        .expect("csrf token")
        .to_owned();
    let refused = viewer
        .send(
            viewer
                .client
                .post(&refresh)
                .header("x-proxyhealth-csrf", &csrf),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.message(), "This route needs the operator role.");

    let mut operator = Browser::new();
    let done = sign_in(&app, &provider, &mut operator, "/", "otto").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    let without = operator.send(operator.client.post(&refresh)).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert_eq!(without.message(), "Missing or wrong CSRF token.");
    let csrf = operator
        .get(&app.url("/api/v2/proxyhealth/session"))
        .await
        .body["csrf_token"]
        .as_str()
        .expect("csrf token")
        .to_owned();
    let checked = operator
        .send(
            operator
                .client
                .post(&refresh)
                .header("x-proxyhealth-csrf", &csrf),
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{:?}", checked.body);
    assert!(checked.body["regions"].is_array());
}

#[tokio::test]
async fn a_login_begun_on_one_replica_finishes_on_another_and_its_session_works_on_both() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    let Some(db) = proxyhealth_testkit::TestDatabase::create().await else {
        return;
    };
    provider
        .set_user("ana", json!({"groups": "ph-admins"}))
        .await;
    let open = || async {
        proxyhealth_store::open_store(&db.url, proxyhealth_store::OpenOptions::default())
            .await
            .expect("open postgres")
    };
    let config = || ServiceConfig {
        oidc: Some(settings(&provider.issuer)),
        ..config()
    };
    let a = spawn_with(open().await, config()).await;
    let b = spawn_with(open().await, config()).await;
    let mut browser = Browser::new();
    let callback = authorize(&a, &provider, &mut browser, "/proxies/x", "ana").await;
    // the load balancer sends the callback to the other replica
    let callback_on_b = callback.replacen(&a.base, &b.base, 1);
    let done = browser.get(&callback_on_b).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    assert_eq!(location(&done), "/proxies/x");
    for app in [&a, &b] {
        let session = browser.get(&app.url("/api/v2/proxyhealth/session")).await;
        assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
        assert_eq!(session.body["role"], "admin");
    }
    // a replay on the first replica finds the state used
    browser.set_cookie(
        "proxyhealth_login",
        callback
            .split("state=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .unwrap_or(""),
    );
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.message(), "Sign-in refused.");
    assert!(
        replay.detail().contains("already used"),
        "{}",
        replay.detail()
    );
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn signing_in_and_out_are_in_the_audit_log_under_the_user() {
    let Some(provider) = OidcProvider::start().await else {
        return;
    };
    provider
        .set_user(
            "ana",
            json!({"email": "ana@example.com", "groups": "ph-operators"}),
        )
        .await;
    let app = service(settings(&provider.issuer)).await;
    let mut browser = Browser::new();
    let done = sign_in(&app, &provider, &mut browser, "/", "ana").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{:?}", done.body);
    let session = browser.get(&app.url("/api/v2/proxyhealth/session")).await;
    let csrf = session.body["csrf_token"]
        .as_str()
        .expect("csrf token")
        .to_owned();
    let out = browser
        .send(
            browser
                .client
                .post(app.url("/auth/logout"))
                .header("x-proxyhealth-csrf", &csrf),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);

    let log = app.admin_get("/api/v2/proxyhealth/audit").await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let entries = log.body["entries"].as_array().expect("entries");
    let seen: Vec<(&str, &str, &str, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or(""),
                e["credential"].as_str().unwrap_or(""),
                e["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("session.sign_out", "ana@example.com", "oidc", 204),
            ("session.sign_in", "ana@example.com", "oidc", 303),
        ],
        "newest first"
    );
    assert_eq!(entries[1]["subject"], "ana");
    assert_eq!(entries[1]["role"], "operator");
    let stored = log.body.to_string();
    assert!(
        !stored.contains(&csrf) && !stored.contains("code="),
        "no session secret in the audit log: {stored}"
    );
}
