//! The dashboard's logins under way and sessions, written once and run
//! against every backend: `session_suite!` turns every case into one
//! `#[tokio::test]` for a backend's fixture factory.

use std::sync::Arc;
use std::time::Duration;

use proxyhealth_core::Role;
use proxyhealth_store::{PendingLogin, ProxyStore, SessionRecord, SessionStore};
use time::OffsetDateTime;

/// Generates one test per session case, each on a fresh store from `$factory`.
macro_rules! session_suite {
    ($factory:ident) => {
        $crate::sessions::session_suite!(@cases $factory;
            a_login_is_taken_once,
            an_expired_login_is_not_taken,
            a_session_reads_back_until_it_expires_or_ends,
            expired_rows_are_pruned
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod session_cases {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(fixture) = super::$factory().await else { return };
                    $crate::sessions::$case(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
pub(crate) use session_suite;

fn sessions(store: &Arc<dyn ProxyStore>) -> Arc<dyn SessionStore> {
    store.sessions().expect("a store of our own keeps sessions")
}

/// Now, to the microsecond (what PostgreSQL keeps).
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .expect("a valid time")
}

fn login(expires_at: OffsetDateTime) -> PendingLogin {
    PendingLogin {
        nonce: "nonce-1".into(),
        pkce_verifier: "verifier-1".into(),
        return_to: "/proxies/x".into(),
        expires_at,
    }
}

fn record(expires_at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        subject: "ana".into(),
        email: Some("ana@example.com".into()),
        name: None,
        role: Role::Operator,
        expires_at,
    }
}

pub(crate) async fn a_login_is_taken_once(store: Arc<dyn ProxyStore>) {
    let sessions = sessions(&store);
    let expires = now() + Duration::from_secs(600);
    sessions
        .put_login(b"state-hash", &login(expires))
        .await
        .expect("put");
    let taken = sessions
        .take_login(b"state-hash", now())
        .await
        .expect("take");
    assert_eq!(taken, Some(login(expires)));
    let again = sessions
        .take_login(b"state-hash", now())
        .await
        .expect("take again");
    assert_eq!(again, None, "a state is used once");
    let unknown = sessions
        .take_login(b"other", now())
        .await
        .expect("take unknown");
    assert_eq!(unknown, None);
}

pub(crate) async fn an_expired_login_is_not_taken(store: Arc<dyn ProxyStore>) {
    let sessions = sessions(&store);
    let expires = now() + Duration::from_secs(600);
    sessions
        .put_login(b"state-hash", &login(expires))
        .await
        .expect("put");
    let later = expires + Duration::from_secs(1);
    assert_eq!(
        sessions
            .take_login(b"state-hash", later)
            .await
            .expect("take"),
        None
    );
}

pub(crate) async fn a_session_reads_back_until_it_expires_or_ends(store: Arc<dyn ProxyStore>) {
    let sessions = sessions(&store);
    let expires = now() + Duration::from_secs(3600);
    sessions
        .open_session(b"id-hash", &record(expires))
        .await
        .expect("open");
    assert_eq!(
        sessions.session(b"id-hash", now()).await.expect("read"),
        Some(record(expires))
    );
    assert_eq!(
        sessions
            .session(b"id-hash", expires)
            .await
            .expect("read at expiry"),
        None,
        "a session is over at its expiry"
    );
    assert!(sessions.end_session(b"id-hash").await.expect("end"));
    assert_eq!(
        sessions.session(b"id-hash", now()).await.expect("read"),
        None
    );
    assert!(!sessions.end_session(b"id-hash").await.expect("end again"));
}

pub(crate) async fn expired_rows_are_pruned(store: Arc<dyn ProxyStore>) {
    let sessions = sessions(&store);
    let soon = now() + Duration::from_secs(60);
    let later = now() + Duration::from_secs(3600);
    sessions.put_login(b"s1", &login(soon)).await.expect("put");
    sessions
        .open_session(b"i1", &record(soon))
        .await
        .expect("open");
    sessions
        .open_session(b"i2", &record(later))
        .await
        .expect("open");
    let pruned = sessions
        .prune(soon + Duration::from_secs(1))
        .await
        .expect("prune");
    assert_eq!(pruned, 2, "the login and the session past their expiry");
    assert_eq!(
        sessions.session(b"i2", now()).await.expect("read"),
        Some(record(later))
    );
}
