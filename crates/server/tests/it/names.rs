//! Proxy names through the API: one rule on create and rename (Coder's
//! letters, digits and single hyphens, at most 32; not a reserved name, not a
//! UUID), refused naming the field; lookups by name in any case, as names are
//! unique; names an attached Coder database holds are shown whatever they are.

use crate::helpers::{TestApp, config, spawn_app, spawn_with};
use proxyhealth_core::validate::NAME_RULE;
use proxyhealth_store::{OpenOptions, SqliteStore, open_store};
use proxyhealth_testkit::TestDatabase;
use proxyhealth_testkit::coder_db::{CoderProxyRow, create_coder_table, insert_coder_proxy};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// Names the help promised to refuse ("letters, digits and dashes") and the
/// API once stored.
const OUTSIDE_THE_RULE: [&str; 9] = [
    "bad name!",
    "a b/c",
    "x\u{0}y",
    " padded ",
    "Upper_Case",
    "refresh ",
    "-eu",
    "eu--west",
    "eu.west",
];

#[tokio::test]
async fn names_outside_the_rule_are_refused_on_create_and_rename_naming_the_field() {
    let (app, _) = spawn_app().await;
    for name in OUTSIDE_THE_RULE {
        let answer = app
            .admin_send(
                Method::POST,
                "/api/v2/workspaceproxies",
                &json!({"name": name}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(answer.message(), "Validation failed.");
        assert_eq!(answer.first_field(), "name");
        assert_eq!(
            answer.detail(),
            format!("{name:?} is not a valid name: {NAME_RULE}")
        );
    }
    let long = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "a".repeat(33)}),
        )
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(long.first_field(), "name");
    assert_eq!(long.detail(), "must be at most 32 characters, got 33");
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.body["regions"], json!([]), "nothing was stored");

    let (id, _) = app.create_proxy("eu-west").await;
    for name in OUTSIDE_THE_RULE {
        let rename = app
            .admin_send(
                Method::PATCH,
                "/api/v2/workspaceproxies/eu-west",
                &json!({"name": name}),
            )
            .await;
        assert_eq!(rename.status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(rename.message(), "Validation failed.");
        assert_eq!(rename.first_field(), "name");
    }
    let kept = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(kept.body["name"], "eu-west", "the name is unchanged");
    let renamed = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu-west",
            &json!({"name": "EU-West-2"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        renamed.body["proxy"]["name"], "EU-West-2",
        "kept as written"
    );
}

#[tokio::test]
async fn a_name_that_reads_as_a_uuid_is_refused() {
    let (app, _) = spawn_app().await;
    let (id, _) = app.create_proxy("eu-west").await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": id.simple().to_string()}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.first_field(), "name");
    assert!(
        answer.detail().contains("reads as an id (a UUID)"),
        "{}",
        answer.detail()
    );
    let rename = app
        .admin_send(
            Method::PATCH,
            &format!("/api/v2/workspaceproxies/{id}"),
            &json!({"name": Uuid::new_v4().simple().to_string()}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::BAD_REQUEST);
    assert_eq!(rename.first_field(), "name");
    let by_id = app
        .admin_get(&format!("/api/v2/workspaceproxies/{}", id.simple()))
        .await;
    assert_eq!(
        by_id.body["name"], "eu-west",
        "the id still finds its proxy"
    );
}

/// A proxy named `eu-west` is found, changed and deleted as `EU-WEST`, the
/// way a second `EU-WEST` is refused as taken.
async fn names_are_looked_up_in_any_case(app: &TestApp) {
    let (id, _) = app.create_proxy("eu-west").await;
    let found = app.admin_get("/api/v2/workspaceproxies/EU-WEST").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["id"], id.to_string());
    let history = app
        .admin_get("/api/v2/workspaceproxies/Eu-West/history")
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let taken = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "EU-WEST"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let patched = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/EU-WEST",
            &json!({"display_name": "EU West"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["proxy"]["id"], id.to_string());
    let deleted = app.admin_delete("/api/v2/workspaceproxies/eU-wEST").await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let gone = app.admin_get("/api/v2/workspaceproxies/eu-west").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn names_are_looked_up_in_any_case_in_memory() {
    let (app, _) = spawn_app().await;
    names_are_looked_up_in_any_case(&app).await;
}

#[tokio::test]
async fn names_are_looked_up_in_any_case_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("proxyhealth.db"))
        .await
        .expect("open");
    let app = spawn_with(Arc::new(store), config()).await;
    names_are_looked_up_in_any_case(&app).await;
}

#[tokio::test]
async fn names_are_looked_up_in_any_case_on_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open_store(&db.url, OpenOptions::default())
        .await
        .expect("open postgres");
    let app = spawn_with(store, config()).await;
    names_are_looked_up_in_any_case(&app).await;
    drop(app);
    db.drop_db().await;
}

#[tokio::test]
async fn names_from_an_attached_coder_database_are_shown_as_stored_and_reachable_by_id() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut conn = db.connect().await;
    create_coder_table(&mut conn).await;
    let odd = Uuid::new_v4();
    for (id, name) in [(odd, "Team Proxy_1 (old)"), (Uuid::new_v4(), "eu-west")] {
        insert_coder_proxy(
            &mut conn,
            &CoderProxyRow {
                id,
                name,
                url: "",
                minutes_ago: 5,
                deleted: false,
                token_hash: vec![0; 32],
            },
        )
        .await;
    }
    let options = OpenOptions {
        coder_attach: true,
        ..OpenOptions::default()
    };
    let store = open_store(&db.url, options)
        .await
        .expect("attach to the Coder database");
    let app = spawn_with(store, config()).await;
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let names: Vec<&str> = list.body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|proxy| proxy["name"].as_str())
        .collect();
    assert!(names.contains(&"Team Proxy_1 (old)"), "{names:?}");
    let by_id = app
        .admin_get(&format!("/api/v2/workspaceproxies/{odd}"))
        .await;
    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.body);
    assert_eq!(by_id.body["name"], "Team Proxy_1 (old)");
    app.engine.force_update().await.expect("a sweep");
    let regions = app.get("/api/v2/regions").await;
    assert!(
        regions.body["regions"]
            .as_array()
            .expect("regions")
            .iter()
            .any(|region| region["name"] == "Team Proxy_1 (old)"),
        "{}",
        regions.body
    );
    drop(app);
    db.drop_db().await;
}
