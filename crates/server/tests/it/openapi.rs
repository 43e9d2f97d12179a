//! The OpenAPI description at `/api/v2/openapi.json`: OpenAPI 3.1, every route
//! the router serves and nothing else, Coder's shapes, the security schemes,
//! and the answers it promises (every error in the envelope).

use crate::helpers::{ADMIN, TestApp, answer, config, spawn_app, spawn_with};
use proxyhealth_server::ServiceConfig;
use proxyhealth_store::MemoryStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The route tables of docs/api.md.
const API_DOCS: &str = include_str!("../../../../docs/api.md");

/// The methods a route can be described with, as the description spells them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn description(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/api/v2/openapi.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the description is JSON"
    );
    response.json().await.expect("the description parses")
}

/// Every `(method, path)` the description lists, methods upper-case.
fn described_routes(description: &Value) -> BTreeSet<(String, String)> {
    let paths = description["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            item.keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Every `(method, path)` of the route tables of docs/api.md, the path
/// parameter named as in the router (`{proxy}`) and the query left out.
fn documented_routes() -> BTreeSet<(String, String)> {
    API_DOCS
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let method = cells.next()?;
            let path = cells.next()?.strip_prefix('`')?;
            if !METHODS.contains(&method.to_lowercase().as_str()) {
                return None;
            }
            let path = path.split(['`', '?']).next()?;
            Some((method.to_owned(), path.replace("{id or name}", "{proxy}")))
        })
        .collect()
}

/// The path with its parameter filled in with `proxy`.
fn concrete(path: &str, proxy: &str) -> String {
    path.replace("{proxy}", proxy)
}

/// A request with the admin token and, for the routes of a proxy, its token.
async fn send(app: &TestApp, method: &str, path: &str, proxy_token: &str) -> reqwest::Response {
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(ADMIN)
        .header("Coder-External-Proxy-Token", proxy_token);
    if method != Method::GET && method != Method::DELETE {
        request = request.json(&json!({}));
    }
    request.send().await.expect("send")
}

#[tokio::test]
async fn the_description_is_openapi_3_1_and_lists_every_route_the_router_serves_and_no_other() {
    let (app, _) = spawn_app().await;
    let (_, proxy_token) = app.create_proxy("eu-west").await;
    let description = description(&app).await;
    assert_eq!(description["openapi"], "3.1.0");
    assert_eq!(description["info"]["title"], "proxyhealth");

    let described = described_routes(&description);
    assert_eq!(
        described,
        documented_routes(),
        "the description lists the routes of docs/api.md"
    );
    assert!(described.contains(&("GET".to_owned(), "/api/v2/openapi.json".to_owned())));

    for (method, path) in &described {
        let target = concrete(path, "eu-west");
        let response = send(&app, method, &target, &proxy_token).await;
        let status = response.status();
        if path == "/api/v2/proxyhealth/events" {
            // A stream that does not end: its head is enough.
            assert_eq!(status, StatusCode::OK, "{method} {path}");
            continue;
        }
        let answer = answer(response).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && answer.message() != "Route not found.",
            "the router serves the described {method} {path}: {status} {}",
            answer.body
        );
    }

    let paths: BTreeSet<&String> = described.iter().map(|(_, path)| path).collect();
    for path in paths {
        for method in METHODS.map(str::to_uppercase) {
            if described.contains(&(method.clone(), path.clone())) {
                continue;
            }
            let answer =
                answer(send(&app, &method, &concrete(path, "eu-west"), &proxy_token).await).await;
            assert_eq!(
                (answer.status, answer.message()),
                (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
                "the router serves {method} {path}, which is not described"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_has_a_unique_id_and_every_error_answer_is_the_envelope() {
    let (app, _) = spawn_app().await;
    let description = description(&app).await;
    let envelope = json!({"$ref": "#/components/schemas/ErrorEnvelope"});
    let mut ids = BTreeSet::new();
    for (method, path) in described_routes(&description) {
        let operation = &description["paths"][&path][method.to_lowercase()];
        let id = operation["operationId"].as_str().expect("an operation id");
        assert!(
            ids.insert(id.to_owned()),
            "{id} is the id of two operations"
        );
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path} describes its success"
        );
        for (status, response) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            if path == "/healthz" && status == "503" {
                // Degraded health is no error of the request: the `Healthz` body.
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Healthz"
                );
                continue;
            }
            let response = match response["$ref"].as_str() {
                Some(reference) => {
                    let name = reference.trim_start_matches("#/components/responses/");
                    &description["components"]["responses"][name]
                }
                None => response,
            };
            assert_eq!(
                response["content"]["application/json"]["schema"], envelope,
                "the {status} of {method} {path} is the error envelope"
            );
        }
    }
}

#[tokio::test]
async fn coders_shapes_are_described_with_their_fields() {
    let (app, _) = spawn_app().await;
    let description = description(&app).await;
    let schemas = &description["components"]["schemas"];
    let required = |schema: &Value| -> BTreeSet<String> {
        schema["required"]
            .as_array()
            .expect("required fields")
            .iter()
            .map(|field| field.as_str().expect("a name").to_owned())
            .collect()
    };
    let names = |fields: &[&str]| -> BTreeSet<String> {
        fields.iter().map(|field| (*field).to_owned()).collect()
    };

    assert_eq!(
        required(&schemas["Region"]),
        names(&[
            "id",
            "name",
            "display_name",
            "icon_url",
            "healthy",
            "path_app_url",
            "wildcard_hostname"
        ])
    );
    // WorkspaceProxy embeds Region (Go's embedding, serde's flatten) and adds its own.
    let proxy = &schemas["WorkspaceProxy"]["allOf"];
    assert_eq!(proxy[0]["$ref"], "#/components/schemas/Region");
    let own = required(&proxy[1]);
    for field in [
        "derp_enabled",
        "derp_only",
        "status",
        "created_at",
        "updated_at",
        "deleted",
        "version",
    ] {
        assert!(own.contains(field), "WorkspaceProxy requires {field}");
    }
    assert_eq!(
        proxy[1]["properties"]["status"]["$ref"],
        "#/components/schemas/WireStatus"
    );
    assert_eq!(
        schemas["Status"]["enum"],
        json!(["ok", "unhealthy", "unreachable", "unregistered", "unknown"])
    );
    assert_eq!(
        required(&schemas["UpdateWorkspaceProxyResponse"]),
        names(&["proxy", "proxy_token"])
    );
    assert_eq!(required(&schemas["CreateProxyRequest"]), names(&["name"]));
    assert_eq!(
        schemas["CreateProxyRequest"]["additionalProperties"], false,
        "unknown fields are refused"
    );
    let register = schemas["RegisterRequest"]["properties"]
        .as_object()
        .expect("properties");
    assert_eq!(
        register.keys().cloned().collect::<BTreeSet<_>>(),
        names(&[
            "access_url",
            "wildcard_hostname",
            "derp_enabled",
            "derp_only",
            "replica_id",
            "hostname",
            "replica_error",
            "replica_relay_address",
            "version"
        ])
    );
    assert_eq!(
        required(&schemas["RegisterResponse"]),
        names(&[
            "derp_mesh_key",
            "derp_region_id",
            "derp_map",
            "derp_force_websockets",
            "sibling_replicas"
        ])
    );
    assert_eq!(required(&schemas["ErrorEnvelope"]), names(&["message"]));
    let envelope = schemas["ErrorEnvelope"]["properties"]
        .as_object()
        .expect("properties");
    assert_eq!(
        envelope.keys().cloned().collect::<BTreeSet<_>>(),
        names(&["message", "detail", "validations"])
    );
    assert_eq!(
        required(&schemas["Validation"]),
        names(&["field", "detail"])
    );

    let paths = &description["paths"];
    assert_eq!(
        paths["/api/v2/regions"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/RegionsResponse_Region"
    );
    // The generic `RegionsResponse<T>` holds its `T` inline.
    assert_eq!(
        schemas["RegionsResponse_WorkspaceProxy"]["properties"]["regions"]["items"]["allOf"],
        schemas["WorkspaceProxy"]["allOf"]
    );
    assert_eq!(
        paths["/api/v2/workspaceproxies"]["post"]["responses"]["201"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/UpdateWorkspaceProxyResponse"
    );
}

/// The security requirement of an operation.
fn security(description: &Value, method: &str, path: &str) -> Value {
    description["paths"][path][method]["security"].clone()
}

#[tokio::test]
async fn admin_routes_need_the_admin_token_proxy_routes_a_proxy_token_and_reads_nothing() {
    let (app, _) = spawn_app().await;
    let description = description(&app).await;
    let admin = json!([{"admin_bearer": []}, {"admin_session_token": []}]);
    assert_eq!(
        security(&description, "get", "/api/v2/workspaceproxies"),
        admin
    );
    assert_eq!(
        security(&description, "delete", "/api/v2/workspaceproxies/{proxy}"),
        admin
    );
    assert_eq!(
        security(&description, "post", "/api/v2/workspaceproxies/me/register"),
        json!([{"proxy_token": []}])
    );
    assert_eq!(
        security(&description, "get", "/api/v2/regions"),
        json!([{}]),
        "a read needs no credentials while public_reads is on"
    );
    assert_eq!(
        security(&description, "get", "/api/v2/openapi.json"),
        json!([{}])
    );
    let schemes = &description["components"]["securitySchemes"];
    assert_eq!(schemes["admin_bearer"]["scheme"], "bearer");
    assert_eq!(
        schemes["admin_session_token"]["name"],
        "Coder-Session-Token"
    );
    assert_eq!(schemes["proxy_token"]["name"], "Coder-External-Proxy-Token");
    let refusal = &description["paths"]["/api/v2/workspaceproxies"]["get"]["responses"];
    assert_eq!(
        refusal["401"]["$ref"],
        "#/components/responses/Unauthorized"
    );
    assert_eq!(refusal["403"]["$ref"], "#/components/responses/Forbidden");
    assert!(
        description["paths"]["/api/v2/regions"]["get"]["responses"]
            .get("401")
            .is_none(),
        "an open read is never refused"
    );
}

#[tokio::test]
async fn without_public_reads_the_description_is_an_admin_read_and_says_reads_need_the_token() {
    let app = spawn_with(
        Arc::new(MemoryStore::new()),
        ServiceConfig {
            public_reads: false,
            ..config()
        },
    )
    .await;
    let refused = app.get("/api/v2/openapi.json").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.message(), "Missing admin token.");

    let description = app.admin_get("/api/v2/openapi.json").await.body;
    let admin = json!([{"admin_bearer": []}, {"admin_session_token": []}]);
    for path in [
        "/api/v2/regions",
        "/healthz",
        "/metrics",
        "/api/v2/openapi.json",
    ] {
        assert_eq!(security(&description, "get", path), admin, "{path}");
        assert_eq!(
            description["paths"][path]["get"]["responses"]["401"]["$ref"],
            "#/components/responses/Unauthorized",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_a_400_in_the_envelope() {
    let (app, _) = spawn_app().await;
    for path in [
        "/api/v2/workspaceproxies/%FF",
        "/api/v2/workspaceproxies/%FF/history",
    ] {
        let answer = app.admin_get(path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.headers["content-type"], "application/json", "{path}");
        assert_eq!(answer.message(), "Invalid URL.", "{path}");
        assert!(
            answer.detail().contains("Invalid UTF-8 in `proxy`"),
            "{path}: {}",
            answer.detail()
        );
    }
}

#[tokio::test]
async fn a_body_that_is_an_array_is_refused_and_creates_nothing() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!(["eu-west"]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Invalid request body.");
    assert_eq!(answer.detail(), "expected a JSON object, got an array");
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.body["regions"], json!([]));
}

#[tokio::test]
async fn the_name_rule_in_the_description_is_the_one_the_api_enforces() {
    let (app, _) = spawn_app().await;
    let description = description(&app).await;
    let schemas = &description["components"]["schemas"];
    for schema in ["CreateProxyRequest", "PatchProxyRequest"] {
        let name = &schemas[schema]["properties"]["name"];
        assert_eq!(
            name["maxLength"],
            proxyhealth_core::validate::MAX_NAME_CHARS,
            "{schema}: {name}"
        );
        let pattern = name["pattern"].as_str().expect("a pattern");
        // The pattern accepts exactly what the rule accepts, on examples of both.
        let re = regex::Regex::new(pattern).expect("the pattern is a regex");
        for candidate in [
            "eu-west-1",
            "EU",
            "a-b",
            "bad name!",
            "-a",
            "a-",
            "a--b",
            "Upper_Case",
            "",
        ] {
            let by_rule = proxyhealth_core::validate::validate_name(candidate).is_ok();
            assert_eq!(re.is_match(candidate), by_rule, "{schema}: {candidate:?}");
        }
    }
}

#[tokio::test]
async fn every_route_of_docs_api_md_states_the_role_the_description_gives_it() {
    let (app, _) = spawn_app().await;
    let description = description(&app).await;
    let mut checked = 0;
    for line in API_DOCS.lines() {
        // an escaped bar is inside a cell
        let line = line.replace("\\|", "/");
        let cells: Vec<&str> = line.split('|').map(str::trim).skip(1).collect();
        let [method, path, auth, ..] = cells.as_slice() else {
            continue;
        };
        if !METHODS.contains(&method.to_lowercase().as_str()) {
            continue;
        }
        let Some(path) = path
            .strip_prefix('`')
            .and_then(|p| p.split(['`', '?']).next())
        else {
            continue;
        };
        let path = path.replace("{id or name}", "{proxy}");
        let operation = &description["paths"][&path][method.to_lowercase()];
        let role = operation["x-proxyhealth-role"].as_str().unwrap_or("none");
        // the test service has public reads on
        let documented = if auth.starts_with("viewer, open with public_reads") {
            "public"
        } else {
            auth
        };
        assert_eq!(
            role, documented,
            "{method} {path}: docs/api.md says {auth:?}"
        );
        checked += 1;
    }
    assert!(
        checked >= 28,
        "the route tables were read ({checked} routes)"
    );
}
