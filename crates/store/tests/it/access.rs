//! Personal tokens and the audit log, written once and run against every
//! backend: `access_suite!` turns every case into one `#[tokio::test]` for a
//! backend's fixture factory.

use std::sync::Arc;
use std::time::Duration;

use proxyhealth_core::access::Role;
use proxyhealth_store::{
    AuditFilter, AuditLog, NewAuditEntry, NewPersonalToken, PersonalTokenError,
    PersonalTokenRefusal, PersonalTokenStore, ProxyStore,
};
use time::OffsetDateTime;

/// Generates one test per case, each on a fresh store from `$factory`.
macro_rules! access_suite {
    ($factory:ident) => {
        $crate::access::access_suite!(@cases $factory;
            a_created_token_is_listed_and_its_value_verifies_to_its_role,
            a_token_name_is_unique_ignoring_case_and_a_bad_one_is_refused,
            a_revoked_token_still_verifies_with_its_revocation_and_stays_listed,
            a_wrong_secret_or_unknown_name_is_unknown,
            a_tokens_use_is_recorded,
            audit_entries_read_back_newest_first_filtered_and_paged,
            old_audit_entries_are_pruned
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod access_cases {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(fixture) = super::$factory().await else { return };
                    $crate::access::$case(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
pub(crate) use access_suite;

fn tokens(store: &Arc<dyn ProxyStore>) -> Arc<dyn PersonalTokenStore> {
    store
        .personal_tokens()
        .expect("a store of our own keeps personal tokens")
}

fn audit(store: &Arc<dyn ProxyStore>) -> Arc<dyn AuditLog> {
    store
        .audit()
        .expect("a store of our own keeps an audit log")
}

fn new(name: &str, role: Role) -> NewPersonalToken {
    NewPersonalToken {
        name: name.to_owned(),
        role,
        expires_at: None,
    }
}

pub(crate) async fn a_created_token_is_listed_and_its_value_verifies_to_its_role(
    store: Arc<dyn ProxyStore>,
) {
    let tokens = tokens(&store);
    let expires = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let created = tokens
        .create(NewPersonalToken {
            expires_at: Some(expires),
            ..new("ci-bot", Role::Operator)
        })
        .await
        .expect("create");
    assert!(
        created.value.starts_with("pht_ci-bot_"),
        "{}",
        created.value
    );
    tokens
        .create(new("ana", Role::Viewer))
        .await
        .expect("create");
    let listed = tokens.list().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ana", "ci-bot"], "by name");
    let verified = tokens.verify(&created.value).await.expect("verifies");
    assert_eq!(verified.name, "ci-bot");
    assert_eq!(verified.role, Role::Operator);
    // PostgreSQL keeps microseconds
    let kept = verified.expires_at.expect("an expiry");
    assert!((kept - expires).abs() < time::Duration::milliseconds(1));
    assert_eq!(verified.revoked_at, None);
}

pub(crate) async fn a_token_name_is_unique_ignoring_case_and_a_bad_one_is_refused(
    store: Arc<dyn ProxyStore>,
) {
    let tokens = tokens(&store);
    tokens
        .create(new("ci", Role::Viewer))
        .await
        .expect("create");
    let taken = tokens
        .create(new("CI", Role::Admin))
        .await
        .expect_err("refused");
    assert!(matches!(taken, PersonalTokenError::Taken(_)), "{taken:?}");
    assert_eq!(taken.to_string(), "a token named \"CI\" already exists");
    let bad = tokens
        .create(new("no_underscores", Role::Viewer))
        .await
        .expect_err("refused");
    match bad {
        PersonalTokenError::Invalid(field) => assert_eq!(field.field, "name"),
        other => panic!("expected a field error, got {other:?}"),
    }
}

pub(crate) async fn a_revoked_token_still_verifies_with_its_revocation_and_stays_listed(
    store: Arc<dyn ProxyStore>,
) {
    let tokens = tokens(&store);
    let created = tokens
        .create(new("old", Role::Admin))
        .await
        .expect("create");
    let revoked = tokens.revoke("OLD").await.expect("revoke ignoring case");
    let at = revoked.revoked_at.expect("revoked");
    let again = tokens.revoke("old").await.expect("revoke again");
    assert_eq!(again.revoked_at, Some(at), "the first revocation is kept");
    let verified = tokens
        .verify(&created.value)
        .await
        .expect("still its token");
    assert_eq!(verified.revoked_at, Some(at));
    assert_eq!(tokens.list().await.expect("list").len(), 1);
    let missing = tokens.revoke("nobody").await.expect_err("refused");
    assert_eq!(missing.to_string(), "no token named \"nobody\"");
}

pub(crate) async fn a_wrong_secret_or_unknown_name_is_unknown(store: Arc<dyn ProxyStore>) {
    let tokens = tokens(&store);
    tokens
        .create(new("ci", Role::Viewer))
        .await
        .expect("create");
    let wrong = format!("pht_ci_{}", "0".repeat(64));
    assert!(matches!(
        tokens.verify(&wrong).await,
        Err(PersonalTokenRefusal::Unknown)
    ));
    let unknown = format!("pht_nobody_{}", "0".repeat(64));
    assert!(matches!(
        tokens.verify(&unknown).await,
        Err(PersonalTokenRefusal::Unknown)
    ));
    assert!(matches!(
        tokens.verify("ci").await,
        Err(PersonalTokenRefusal::Malformed)
    ));
}

pub(crate) async fn a_tokens_use_is_recorded(store: Arc<dyn ProxyStore>) {
    let tokens = tokens(&store);
    tokens
        .create(new("ci", Role::Viewer))
        .await
        .expect("create");
    let at = OffsetDateTime::now_utc();
    tokens.touch("ci", at).await.expect("touch");
    let listed = tokens.list().await.expect("list");
    let used = listed[0].last_used_at.expect("used");
    assert!((used - at).abs() < time::Duration::milliseconds(1));
}

fn entry(action: &str, actor: &str, at: OffsetDateTime) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor: actor.to_owned(),
        credential: "personal_token".to_owned(),
        subject: None,
        email: None,
        role: Role::Admin,
        action: action.to_owned(),
        method: "POST".to_owned(),
        route: "/api/v2/workspaceproxies".to_owned(),
        object: Some("eu-west".to_owned()),
        client: Some("127.0.0.1".to_owned()),
        status: 201,
    }
}

pub(crate) async fn audit_entries_read_back_newest_first_filtered_and_paged(
    store: Arc<dyn ProxyStore>,
) {
    let log = audit(&store);
    let start = OffsetDateTime::now_utc() - Duration::from_secs(60);
    let first = entry("proxy.create", "token ci", start);
    log.record(first.clone()).await.expect("record");
    log.record(entry(
        "token.revoke",
        "admin token",
        start + Duration::from_secs(10),
    ))
    .await
    .expect("record");
    log.record(entry(
        "proxy.create",
        "admin token",
        start + Duration::from_secs(20),
    ))
    .await
    .expect("record");
    let all = log.list(&AuditFilter::default()).await.expect("list");
    let actions: Vec<&str> = all.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["proxy.create", "token.revoke", "proxy.create"]);
    assert!(
        all[0].id > all[1].id && all[1].id > all[2].id,
        "newest first"
    );
    assert_eq!(all[2].entry.actor, first.actor);
    assert_eq!(all[2].entry.object, first.object);
    assert_eq!(all[2].entry.status, 201);
    let by_action = AuditFilter {
        action: Some("proxy.create".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(log.list(&by_action).await.expect("list").len(), 2);
    let by_actor = AuditFilter {
        actor: Some("token ci".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(log.list(&by_actor).await.expect("list").len(), 1);
    let since = AuditFilter {
        since: Some(start + Duration::from_secs(5)),
        ..AuditFilter::default()
    };
    assert_eq!(log.list(&since).await.expect("list").len(), 2);
    let page = AuditFilter {
        before: Some(all[0].id),
        limit: 1,
        ..AuditFilter::default()
    };
    let page = log.list(&page).await.expect("list");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, all[1].id);
}

pub(crate) async fn old_audit_entries_are_pruned(store: Arc<dyn ProxyStore>) {
    let log = audit(&store);
    let now = OffsetDateTime::now_utc();
    log.record(entry(
        "proxy.create",
        "a",
        now - Duration::from_secs(400 * 86_400),
    ))
    .await
    .expect("record");
    log.record(entry("proxy.delete", "a", now))
        .await
        .expect("record");
    let pruned = proxyhealth_store::audit::retention::prune_once(
        log.as_ref(),
        Duration::from_secs(365 * 86_400),
        now,
    )
    .await
    .expect("prune");
    assert_eq!(pruned, 1);
    let left = log.list(&AuditFilter::default()).await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].entry.action, "proxy.delete");
}
