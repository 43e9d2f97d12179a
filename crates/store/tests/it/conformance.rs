//! The store contract, written once and run against every backend.
//!
//! Each case is an async fn taking a fresh, empty store; `conformance_suite!`
//! turns every case into one `#[tokio::test]` for a backend's fixture factory.

use std::sync::Arc;
use std::time::Duration;

use proxyhealth_store::{
    NewProxy, ProxyStore, ProxyUpdate, Registration, StoreError, TokenError, token,
};
use uuid::Uuid;

/// Generates one test per conformance case, each on a fresh store from `$factory`
/// (an async fn returning `Option<Fixture>`; `None` means "skipped").
macro_rules! conformance_suite {
    ($factory:path) => {
        conformance_suite!(@cases $factory;
            a_created_proxy_is_unregistered_with_derp_enabled_and_a_token,
            region_ids_count_up_from_one,
            proxy_by_name_matches_a_live_proxys_name_in_any_case,
            proxy_by_id_returns_deleted_proxies_too,
            proxies_by_ids_returns_the_rows_asked_for_deleted_or_not,
            the_list_is_in_creation_order_and_skips_deleted_proxies,
            a_name_is_taken_case_insensitively,
            a_deleted_proxys_name_can_be_reused,
            invalid_names_are_refused_naming_the_field,
            concurrent_creates_with_one_name_let_exactly_one_win,
            an_update_changes_only_the_given_fields_and_updated_at,
            an_update_cannot_take_another_proxys_name,
            updating_a_missing_or_deleted_proxy_is_not_found,
            regenerating_the_token_retires_the_old_one,
            delete_is_soft_and_sets_updated_at,
            registration_sets_the_url_flags_version_and_updated_at,
            registration_rules_name_the_field,
            the_right_token_verifies,
            a_wrong_secret_is_refused,
            malformed_tokens_are_refused,
            the_token_of_a_deleted_proxy_is_refused,
            another_proxys_secret_is_refused,
            an_unknown_proxy_id_is_not_found,
            the_admin_token_hash_is_set_only_once,
            concurrent_admin_token_sets_let_exactly_one_win,
            ping_succeeds_and_the_store_is_writable,
            display_names_with_quotes_and_emoji_round_trip
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(fixture) = $factory().await else { return };
                $crate::conformance::$case(fixture.store.clone()).await;
                fixture.finish().await;
            }
        )*
    };
}
pub(crate) use conformance_suite;

type Store = Arc<dyn ProxyStore>;

fn new_proxy(name: &str) -> NewProxy {
    NewProxy {
        name: name.to_owned(),
        display_name: format!("{name} display"),
        icon: "/emojis/1f1fa-1f1f8.png".to_owned(),
    }
}

fn registration(url: &str) -> Registration {
    Registration {
        url: url.to_owned(),
        wildcard_hostname: "*.eu.example.com".to_owned(),
        derp_enabled: true,
        derp_only: false,
        version: "v2.20.0".to_owned(),
    }
}

async fn create(store: &Store, name: &str) -> proxyhealth_store::CreatedProxy {
    store
        .create_proxy(new_proxy(name))
        .await
        .unwrap_or_else(|err| panic!("create {name}: {err}"))
}

/// Waits long enough for the next timestamp to differ from the last one.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

fn assert_invalid(result: Result<impl std::fmt::Debug, StoreError>, field: &str) {
    match result {
        Err(StoreError::Invalid(err)) => assert_eq!(err.field, field, "{err}"),
        other => panic!("expected Invalid({field}), got {other:?}"),
    }
}

pub async fn a_created_proxy_is_unregistered_with_derp_enabled_and_a_token(store: Store) {
    let created = create(&store, "eu-west").await;
    let p = &created.proxy;
    assert_eq!(p.name, "eu-west");
    assert_eq!(p.display_name, "eu-west display");
    assert_eq!(p.icon, "/emojis/1f1fa-1f1f8.png");
    assert_eq!(
        (
            p.url.as_str(),
            p.wildcard_hostname.as_str(),
            p.version.as_str()
        ),
        ("", "", "")
    );
    assert!(p.derp_enabled && !p.derp_only && !p.deleted);
    assert!(!p.is_registered());
    assert_eq!(p.created_at, p.updated_at);
    let (id, secret) = token::parse(&created.token).expect("token is <uuid>:<64 hex>");
    assert_eq!(id, p.id);
    assert_eq!(p.token_hashed_secret, token::hash_secret(secret));
    let stored = store.get_proxy(p.id).await.expect("get").expect("present");
    assert_eq!(&stored, p, "the store returns what create returned");
}

pub async fn region_ids_count_up_from_one(store: Store) {
    let a = create(&store, "a").await.proxy;
    let b = create(&store, "b").await.proxy;
    store.delete_proxy(b.id).await.expect("delete b");
    let c = create(&store, "c").await.proxy;
    assert_eq!((a.region_id, b.region_id, c.region_id), (1, 2, 3));
}

pub async fn proxy_by_name_matches_a_live_proxys_name_in_any_case(store: Store) {
    let p = create(&store, "eu-west").await.proxy;
    let found = store.proxy_by_name("eu-west").await.expect("by name");
    assert_eq!(found.map(|f| f.id), Some(p.id));
    let found = store.proxy_by_name("EU-West").await.expect("by name");
    assert_eq!(found.map(|f| f.id), Some(p.id), "as unique: in any case");
    assert_eq!(store.proxy_by_name("eu").await.expect("by name"), None);
    store.delete_proxy(p.id).await.expect("delete");
    assert_eq!(store.proxy_by_name("eu-west").await.expect("by name"), None);
}

pub async fn proxy_by_id_returns_deleted_proxies_too(store: Store) {
    let p = create(&store, "gone").await.proxy;
    store.delete_proxy(p.id).await.expect("delete");
    let found = store
        .proxy_by_id(p.id)
        .await
        .expect("by id")
        .expect("deleted row");
    assert!(found.deleted);
    assert_eq!(
        store.proxy_by_id(Uuid::new_v4()).await.expect("by id"),
        None
    );
}

pub async fn proxies_by_ids_returns_the_rows_asked_for_deleted_or_not(store: Store) {
    let kept = create(&store, "kept").await.proxy;
    let gone = create(&store, "gone").await.proxy;
    let _other = create(&store, "other").await.proxy;
    store.delete_proxy(gone.id).await.expect("delete");
    let mut found = store
        .proxies_by_ids(&[kept.id, gone.id, Uuid::new_v4()])
        .await
        .expect("by ids");
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<(&str, bool)> = found
        .iter()
        .map(|proxy| (proxy.name.as_str(), proxy.deleted))
        .collect();
    assert_eq!(names, [("gone", true), ("kept", false)]);
    assert!(store.proxies_by_ids(&[]).await.expect("no ids").is_empty());
}

pub async fn the_list_is_in_creation_order_and_skips_deleted_proxies(store: Store) {
    let mut ids = Vec::new();
    for name in ["e", "d", "c", "b", "a"] {
        ids.push(create(&store, name).await.proxy.id);
        tick().await;
    }
    store.delete_proxy(ids[2]).await.expect("delete c");
    ids.remove(2);
    // an update must not move a proxy in the list
    store
        .update_proxy(
            ids[0],
            ProxyUpdate {
                icon: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    let listed: Vec<Uuid> = store
        .list_proxies()
        .await
        .expect("list")
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, ids);
    let again: Vec<Uuid> = store
        .list_proxies()
        .await
        .expect("list")
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(again, ids, "the order is stable");
}

pub async fn a_name_is_taken_case_insensitively(store: Store) {
    create(&store, "eu-west").await;
    let err = store
        .create_proxy(new_proxy("EU-West"))
        .await
        .expect_err("duplicate");
    assert_eq!(err, StoreError::NameTaken("EU-West".into()));
    assert_eq!(
        err.to_string(),
        "Workspace proxy with name \"EU-West\" already exists."
    );
    assert_eq!(store.list_proxies().await.expect("list").len(), 1);
}

pub async fn a_deleted_proxys_name_can_be_reused(store: Store) {
    let old = create(&store, "eu-west").await.proxy;
    store.delete_proxy(old.id).await.expect("delete");
    let new = create(&store, "EU-WEST").await.proxy;
    assert_ne!(new.id, old.id);
    let listed = store.list_proxies().await.expect("list");
    assert_eq!(
        listed.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![new.id]
    );
}

pub async fn invalid_names_are_refused_naming_the_field(store: Store) {
    let err = store
        .create_proxy(new_proxy("Primary"))
        .await
        .expect_err("reserved");
    assert_eq!(
        err.to_string(),
        "name: the name \"Primary\" is reserved for the primary region"
    );
    assert_invalid(store.create_proxy(new_proxy("primary")).await, "name");
    assert_invalid(store.create_proxy(new_proxy("  ")).await, "name");
    assert_invalid(store.create_proxy(new_proxy(&"x".repeat(33))).await, "name");
    assert_invalid(store.create_proxy(new_proxy("bad name!")).await, "name");
    assert_invalid(store.create_proxy(new_proxy("eu_west")).await, "name");
    let mut long_display = new_proxy("ok");
    long_display.display_name = "d".repeat(129);
    assert_invalid(store.create_proxy(long_display).await, "display_name");
    let mut long_icon = new_proxy("ok");
    long_icon.icon = "i".repeat(2049);
    assert_invalid(store.create_proxy(long_icon).await, "icon");
    assert!(store.list_proxies().await.expect("list").is_empty());
}

pub async fn concurrent_creates_with_one_name_let_exactly_one_win(store: Store) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        let name = if i % 2 == 0 { "race" } else { "RACE" };
        set.spawn(async move { store.create_proxy(new_proxy(name)).await });
    }
    let (mut won, mut taken) = (0, 0);
    while let Some(result) = set.join_next().await {
        match result.expect("task") {
            Ok(_) => won += 1,
            Err(StoreError::NameTaken(_)) => taken += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((won, taken), (1, 7));
    assert_eq!(store.list_proxies().await.expect("list").len(), 1);
}

pub async fn an_update_changes_only_the_given_fields_and_updated_at(store: Store) {
    let p = create(&store, "eu").await.proxy;
    tick().await;
    let updated = store
        .update_proxy(
            p.id,
            ProxyUpdate {
                display_name: Some("Europe".into()),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.display_name, "Europe");
    assert_eq!(
        (updated.name.as_str(), updated.icon.as_str()),
        ("eu", p.icon.as_str())
    );
    assert!(updated.updated_at > p.updated_at);
    assert_eq!(updated.created_at, p.created_at);
    // renaming to a different case of its own name is allowed
    let renamed = store
        .update_proxy(
            p.id,
            ProxyUpdate {
                name: Some("EU".into()),
                icon: Some("/i.png".into()),
                ..Default::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(
        (renamed.name.as_str(), renamed.icon.as_str()),
        ("EU", "/i.png")
    );
    assert_eq!(store.get_proxy(p.id).await.expect("get"), Some(renamed));
    assert_invalid(
        store
            .update_proxy(
                p.id,
                ProxyUpdate {
                    name: Some("PRIMARY".into()),
                    ..Default::default()
                },
            )
            .await,
        "name",
    );
}

pub async fn an_update_cannot_take_another_proxys_name(store: Store) {
    create(&store, "eu").await;
    let us = create(&store, "us").await.proxy;
    let err = store
        .update_proxy(
            us.id,
            ProxyUpdate {
                name: Some("Eu".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("taken");
    assert_eq!(err, StoreError::NameTaken("Eu".into()));
    assert_eq!(
        store.get_proxy(us.id).await.expect("get").map(|p| p.name),
        Some("us".into())
    );
}

pub async fn updating_a_missing_or_deleted_proxy_is_not_found(store: Store) {
    let change = ProxyUpdate {
        icon: Some("x".into()),
        ..Default::default()
    };
    let err = store
        .update_proxy(Uuid::new_v4(), change.clone())
        .await
        .expect_err("missing");
    assert_eq!(err, StoreError::NotFound);
    let p = create(&store, "eu").await.proxy;
    store.delete_proxy(p.id).await.expect("delete");
    assert_eq!(
        store.update_proxy(p.id, change).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.regenerate_token(p.id).await.map(|c| c.token),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .register_proxy(p.id, registration("https://eu.example.com"))
            .await,
        Err(StoreError::NotFound)
    );
}

pub async fn regenerating_the_token_retires_the_old_one(store: Store) {
    let created = create(&store, "eu").await;
    let again = store
        .regenerate_token(created.proxy.id)
        .await
        .expect("regenerate");
    assert_ne!(again.token, created.token);
    assert_eq!(again.proxy.id, created.proxy.id);
    assert_eq!(
        store.verify_proxy_token(&created.token).await,
        Err(TokenError::WrongSecret)
    );
    let verified = store
        .verify_proxy_token(&again.token)
        .await
        .expect("new token");
    assert_eq!(verified.id, created.proxy.id);
}

pub async fn delete_is_soft_and_sets_updated_at(store: Store) {
    let p = create(&store, "eu").await.proxy;
    tick().await;
    store.delete_proxy(p.id).await.expect("delete");
    let row = store.get_proxy(p.id).await.expect("get").expect("kept");
    assert!(row.deleted);
    assert!(row.updated_at > p.updated_at);
    assert!(store.list_proxies().await.expect("list").is_empty());
    assert_eq!(store.delete_proxy(p.id).await, Err(StoreError::NotFound));
    assert_eq!(
        store.delete_proxy(Uuid::new_v4()).await,
        Err(StoreError::NotFound)
    );
}

pub async fn registration_sets_the_url_flags_version_and_updated_at(store: Store) {
    let p = create(&store, "eu").await.proxy;
    tick().await;
    let mut reg = registration("https://eu.example.com");
    reg.derp_only = true;
    let registered = store.register_proxy(p.id, reg).await.expect("register");
    assert_eq!(registered.url, "https://eu.example.com");
    assert_eq!(registered.wildcard_hostname, "*.eu.example.com");
    assert_eq!(registered.version, "v2.20.0");
    assert!(registered.derp_enabled && registered.derp_only);
    assert!(registered.updated_at > p.updated_at);
    assert!(registered.is_registered());
    let listed = store.list_proxies().await.expect("list");
    assert_eq!(listed, vec![registered.clone()]);
    tick().await;
    let mut off = registration("http://eu.example.com:8080/");
    off.derp_enabled = false;
    off.wildcard_hostname = String::new();
    let again = store
        .register_proxy(p.id, off)
        .await
        .expect("register again");
    assert_eq!(
        (again.url.as_str(), again.derp_enabled),
        ("http://eu.example.com:8080/", false)
    );
    assert!(again.updated_at > registered.updated_at);
}

pub async fn registration_rules_name_the_field(store: Store) {
    let p = create(&store, "eu").await.proxy;
    let err = store
        .register_proxy(p.id, registration("ssh://eu.example.com"))
        .await
        .expect_err("scheme");
    assert_eq!(
        err.to_string(),
        "access_url: scheme must be http or https, got \"ssh\""
    );
    assert_invalid(
        store
            .register_proxy(p.id, registration("https://eu.example.com/x"))
            .await,
        "access_url",
    );
    assert_invalid(
        store.register_proxy(p.id, registration("")).await,
        "access_url",
    );
    let mut derp = registration("https://eu.example.com");
    derp.derp_enabled = false;
    derp.derp_only = true;
    let err = store.register_proxy(p.id, derp).await.expect_err("derp");
    assert_eq!(
        err.to_string(),
        "derp_only: DerpOnly cannot be true when DerpEnabled is false."
    );
    let mut wild = registration("https://eu.example.com");
    wild.wildcard_hostname = "apps.*.example.com".into();
    assert_invalid(store.register_proxy(p.id, wild).await, "wildcard_hostname");
    let mut version = registration("https://eu.example.com");
    version.version = "v".repeat(300);
    assert_invalid(store.register_proxy(p.id, version).await, "version");
    assert_eq!(
        store
            .register_proxy(Uuid::new_v4(), registration("https://eu.example.com"))
            .await,
        Err(StoreError::NotFound)
    );
    let row = store.get_proxy(p.id).await.expect("get").expect("row");
    assert_eq!(row, p, "refused registrations change nothing");
}

pub async fn the_right_token_verifies(store: Store) {
    let created = create(&store, "eu").await;
    let proxy = store
        .verify_proxy_token(&created.token)
        .await
        .expect("valid");
    assert_eq!(proxy, created.proxy);
}

pub async fn a_wrong_secret_is_refused(store: Store) {
    let created = create(&store, "eu").await;
    let token = format!("{}:{}", created.proxy.id, "0".repeat(64));
    let err = store
        .verify_proxy_token(&token)
        .await
        .expect_err("wrong secret");
    assert_eq!(err, TokenError::WrongSecret);
    assert_eq!(err.to_string(), "Invalid proxy token secret.");
}

pub async fn malformed_tokens_are_refused(store: Store) {
    let created = create(&store, "eu").await;
    let id = created.proxy.id;
    for bad in [
        String::new(),
        id.to_string(),
        format!("{id}:{}", "a".repeat(63)),
        format!("{id}:{}:x", "a".repeat(64)),
        format!("nope:{}", "a".repeat(64)),
        format!("{}x", created.token),
    ] {
        let err = store.verify_proxy_token(&bad).await.expect_err("malformed");
        assert_eq!(err, TokenError::Malformed, "{bad:?}");
        assert_eq!(err.to_string(), "Invalid external proxy token");
    }
}

pub async fn the_token_of_a_deleted_proxy_is_refused(store: Store) {
    let created = create(&store, "eu").await;
    store.delete_proxy(created.proxy.id).await.expect("delete");
    let err = store
        .verify_proxy_token(&created.token)
        .await
        .expect_err("deleted");
    assert_eq!(err, TokenError::Deleted);
    assert_eq!(err.to_string(), "Proxy has been deleted.");
}

pub async fn another_proxys_secret_is_refused(store: Store) {
    let a = create(&store, "a").await;
    let b = create(&store, "b").await;
    let (_, b_secret) = token::parse(&b.token).expect("b token");
    let forged = format!("{}:{b_secret}", a.proxy.id);
    assert_eq!(
        store.verify_proxy_token(&forged).await,
        Err(TokenError::WrongSecret)
    );
}

pub async fn an_unknown_proxy_id_is_not_found(store: Store) {
    let created = create(&store, "eu").await;
    let (_, secret) = token::parse(&created.token).expect("token");
    let err = store
        .verify_proxy_token(&format!("{}:{secret}", Uuid::new_v4()))
        .await
        .expect_err("unknown");
    assert_eq!(err, TokenError::NotFound);
    assert_eq!(err.to_string(), "Proxy not found.");
}

pub async fn the_admin_token_hash_is_set_only_once(store: Store) {
    assert_eq!(store.admin_token_hash().await.expect("read"), None);
    let first = token::hash_secret("first");
    assert!(
        store
            .set_admin_token_hash_if_absent(first.clone())
            .await
            .expect("set")
    );
    assert!(
        !store
            .set_admin_token_hash_if_absent(token::hash_secret("second"))
            .await
            .expect("set")
    );
    assert_eq!(store.admin_token_hash().await.expect("read"), Some(first));
}

pub async fn concurrent_admin_token_sets_let_exactly_one_win(store: Store) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..6 {
        let store = store.clone();
        set.spawn(async move {
            let hash = token::hash_secret(&format!("replica-{i}"));
            (
                store.set_admin_token_hash_if_absent(hash.clone()).await,
                hash,
            )
        });
    }
    let mut winners = Vec::new();
    while let Some(result) = set.join_next().await {
        let (stored, hash) = result.expect("task");
        if stored.expect("set") {
            winners.push(hash);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(store.admin_token_hash().await.expect("read"), winners.pop());
}

pub async fn ping_succeeds_and_the_store_is_writable(store: Store) {
    store.ping().await.expect("ping");
    assert!(!store.is_read_only());
}

pub async fn display_names_with_quotes_and_emoji_round_trip(store: Store) {
    let display_name = "eu \"west\" 🇪🇺 '; DROP TABLE workspace_proxies;--";
    let p = store
        .create_proxy(NewProxy {
            display_name: display_name.to_owned(),
            ..new_proxy("eu-west")
        })
        .await
        .expect("create")
        .proxy;
    let found = store.get_proxy(p.id).await.expect("by id").expect("found");
    assert_eq!(found.display_name, display_name);
    // the same text looked up as a name is only a value, bound as one
    assert_eq!(
        store.proxy_by_name(display_name).await.expect("by name"),
        None
    );
    assert_eq!(store.all_proxies().await.expect("list").len(), 1);
}
