//! Property tests over the create, patch and register bodies: any input gets a
//! 2xx or a 4xx with a JSON envelope message, never a 500 or a panic; hostile
//! display names are stored and returned byte for byte, hostile names refused
//! by the name rule.
//!
//! Requests go through the real router (`Service::router`) with
//! `tower::ServiceExt::oneshot`, over a real SQLite store, without a socket.

use crate::helpers::{ADMIN, config, engine_for, through_router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use proxyhealth_server::Service;
use proxyhealth_store::{OpenOptions, ProxyStore, open_store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Cases per property: enough to find the usual suspects, small enough to keep
/// the suite fast.
const CASES: u32 = 64;

/// A router over a fresh SQLite store, and the runtime that drives it.
struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
    /// Makes every created name unique, so a case never collides with another.
    counter: AtomicU64,
}

impl Harness {
    fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = format!("sqlite://{}", dir.path().join("p.db").display());
        let router = runtime.block_on(async {
            let store: Arc<dyn ProxyStore> = open_store(&spec, OpenOptions::default())
                .await
                .expect("open sqlite");
            let engine = engine_for(store.clone());
            let (service, _) = Service::new(engine, store, config())
                .await
                .expect("service");
            service.router()
        });
        Harness {
            runtime,
            router,
            _dir: dir,
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends one request; returns the status and the body as JSON (`Null` when
    /// it is not JSON).
    fn send(&self, method: &str, path: &str, auth: Auth<'_>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        request = match auth {
            Auth::Admin => request.header("authorization", format!("Bearer {ADMIN}")),
            Auth::Proxy(token) => request.header("Coder-External-Proxy-Token", token),
        };
        let request = request.body(Body::from(body)).expect("request");
        self.runtime.block_on(through_router(&self.router, request))
    }

    /// Creates a proxy with a plain unique name; returns its id and token.
    fn create_plain(&self) -> (String, String) {
        let name = format!("plain-{}", self.next());
        let (status, body) = self.send(
            "POST",
            "/api/v2/workspaceproxies",
            Auth::Admin,
            json!({"name": name}).to_string().into_bytes(),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["proxy"]["id"].as_str().expect("id").to_owned(),
            body["proxy_token"].as_str().expect("token").to_owned(),
        )
    }
}

enum Auth<'a> {
    Admin,
    Proxy(&'a str),
}

/// A 2xx, or a 4xx with Coder's envelope and a message; never a 5xx.
fn assert_answered(status: StatusCode, body: &Value, input: &str) {
    assert!(
        status.is_success() || status.is_client_error(),
        "{status} for {input:?}: {body}"
    );
    if status.is_client_error() {
        let message = body["message"].as_str().unwrap_or("");
        assert!(
            !message.is_empty(),
            "{status} without a message for {input:?}: {body}"
        );
    }
}

/// Strings built from what breaks naive code: quotes, backslashes, SQL, control
/// characters, NUL, emoji, right-to-left marks and long runs.
fn hostile_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("'; DROP TABLE workspace_proxies; --".to_owned()),
        Just("\" OR 1=1 --".to_owned()),
        Just("%s%n{}".to_owned()),
        Just("<script>alert(1)</script>".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{202e}".to_owned()),
        Just("😀".to_owned()),
        Just("🇪🇺".to_owned()),
        Just("👩‍👩‍👧".to_owned()),
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('?').to_string()),
        "[a-z0-9 -]{1,8}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        4 => proptest::collection::vec(piece, 0..12).prop_map(|parts| parts.concat()),
        1 => any::<String>(),
        1 => (1usize..20_000).prop_map(|n| "x".repeat(n)),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("display_name".to_owned()),
                    Just("icon".to_owned()),
                    Just("access_url".to_owned()),
                    Just("regenerate_token".to_owned()),
                    Just("replica_id".to_owned()),
                    hostile_string(),
                ],
                inner,
                0..6,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body: a JSON value's text, or raw bytes that may not be JSON at all.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|value| value.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

/// An access URL that is either refused by the rules or points at loopback, so
/// a re-check never leaves the machine.
fn loopback_or_refused(raw: String) -> String {
    match proxyhealth_core::validate::validate_access_url(&raw) {
        Ok(url) if url.host_str() != Some("127.0.0.1") => "http://127.0.0.1:9".to_owned(),
        _ => raw,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_create_body_gets_a_2xx_or_a_4xx_with_a_message(body in any_body()) {
        let harness = Harness::new();
        let text = String::from_utf8_lossy(&body).into_owned();
        let (status, answer) = harness.send("POST", "/api/v2/workspaceproxies", Auth::Admin, body);
        assert_answered(status, &answer, &text);
    }

    #[test]
    fn any_strings_in_a_create_body_get_a_2xx_or_a_4xx_with_a_message(
        name in hostile_string(),
        display_name in hostile_string(),
        icon in hostile_string(),
    ) {
        let harness = Harness::new();
        let body = json!({"name": name, "display_name": display_name, "icon": icon});
        let (status, answer) = harness.send(
            "POST", "/api/v2/workspaceproxies", Auth::Admin, body.to_string().into_bytes());
        assert_answered(status, &answer, &body.to_string());
    }

    #[test]
    fn hostile_display_names_are_stored_byte_for_byte_and_hostile_names_refused_by_the_rule(
        text in hostile_string(),
    ) {
        let harness = Harness::new();
        let name = format!("plain-{}", harness.next());
        let display_name: String = text.chars().take(128).collect();
        let body = json!({"name": name, "display_name": display_name});
        let (status, created) = harness.send(
            "POST", "/api/v2/workspaceproxies", Auth::Admin, body.to_string().into_bytes());
        prop_assert_eq!(status, StatusCode::CREATED, "{}", created);
        prop_assert_eq!(created["proxy"]["display_name"].as_str(), Some(display_name.as_str()));
        let id = created["proxy"]["id"].as_str().expect("id").to_owned();
        let (status, fetched) = harness.send(
            "GET", &format!("/api/v2/workspaceproxies/{id}"), Auth::Admin, Vec::new());
        prop_assert_eq!(status, StatusCode::OK);
        prop_assert_eq!(fetched["display_name"].as_str(), Some(display_name.as_str()));
        let (_, list) = harness.send("GET", "/api/v2/workspaceproxies", Auth::Admin, Vec::new());
        let listed = list["regions"]
            .as_array()
            .expect("regions")
            .iter()
            .any(|proxy| proxy["display_name"].as_str() == Some(display_name.as_str()));
        prop_assert!(listed, "{} not in the list", display_name);

        // the same text as a name: created when it follows the rule, else a
        // 400 naming the field, and nothing stored
        let body = json!({"name": text});
        let (status, answer) = harness.send(
            "POST", "/api/v2/workspaceproxies", Auth::Admin, body.to_string().into_bytes());
        if proxyhealth_core::validate::validate_name(&text).is_ok() {
            prop_assert_eq!(status, StatusCode::CREATED, "{}", answer);
            prop_assert_eq!(answer["proxy"]["name"].as_str(), Some(text.as_str()));
        } else {
            prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{:?}: {}", text, answer);
            prop_assert_eq!(answer["validations"][0]["field"].as_str(), Some("name"));
            let (_, list) = harness.send("GET", "/api/v2/workspaceproxies", Auth::Admin, Vec::new());
            prop_assert_eq!(list["regions"].as_array().map(Vec::len), Some(1), "{}", list);
        }
    }

    #[test]
    fn any_patch_body_gets_a_2xx_or_a_4xx_with_a_message(body in any_body()) {
        let harness = Harness::new();
        let (id, _) = harness.create_plain();
        let text = String::from_utf8_lossy(&body).into_owned();
        let (status, answer) = harness.send(
            "PATCH", &format!("/api/v2/workspaceproxies/{id}"), Auth::Admin, body);
        assert_answered(status, &answer, &text);
    }

    #[test]
    fn any_strings_in_a_patch_body_get_a_2xx_or_a_4xx_with_a_message(
        name in hostile_string(),
        display_name in hostile_string(),
        icon in hostile_string(),
        regenerate_token in any::<bool>(),
    ) {
        let harness = Harness::new();
        let (id, _) = harness.create_plain();
        let body = json!({
            "name": name, "display_name": display_name, "icon": icon,
            "regenerate_token": regenerate_token,
        });
        let (status, answer) = harness.send(
            "PATCH", &format!("/api/v2/workspaceproxies/{id}"), Auth::Admin, body.to_string().into_bytes());
        assert_answered(status, &answer, &body.to_string());
    }

    #[test]
    fn any_register_body_gets_a_2xx_or_a_4xx_with_a_message(body in any_body()) {
        // Only an object with an "access_url" string could be accepted: keep it
        // on loopback.
        let body = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(mut map)) => {
                if let Some(Value::String(url)) = map.get("access_url").cloned() {
                    map.insert("access_url".into(), Value::String(loopback_or_refused(url)));
                }
                Value::Object(map).to_string().into_bytes()
            }
            _ => body,
        };
        let harness = Harness::new();
        let (_, token) = harness.create_plain();
        let text = String::from_utf8_lossy(&body).into_owned();
        let (status, answer) = harness.send(
            "POST", "/api/v2/workspaceproxies/me/register", Auth::Proxy(&token), body);
        assert_answered(status, &answer, &text);
    }

    #[test]
    fn any_strings_in_a_register_body_get_a_2xx_or_a_4xx_with_a_message(
        access_url in hostile_string(),
        wildcard_hostname in hostile_string(),
        hostname in hostile_string(),
        version in hostile_string(),
        replica_error in hostile_string(),
        derp in any::<(bool, bool)>(),
    ) {
        let harness = Harness::new();
        let (_, token) = harness.create_plain();
        let body = json!({
            "access_url": loopback_or_refused(access_url),
            "wildcard_hostname": wildcard_hostname,
            "derp_enabled": derp.0,
            "derp_only": derp.1,
            "replica_id": uuid::Uuid::new_v4(),
            "hostname": hostname,
            "replica_error": replica_error,
            "replica_relay_address": "",
            "version": version,
        });
        let (status, answer) = harness.send(
            "POST", "/api/v2/workspaceproxies/me/register", Auth::Proxy(&token),
            body.to_string().into_bytes());
        assert_answered(status, &answer, &body.to_string());
    }
}
