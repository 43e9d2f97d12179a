//! The vantages and their agent tokens, written once and run against every
//! backend: `vantage_suite!` turns every case into one `#[tokio::test]` for
//! a backend's fixture factory.

use std::sync::Arc;

use proxyhealth_store::{AgentTokenError, ProxyStore, VantageError, VantageStore};

/// Generates one test per vantage case, each on a fresh store from `$factory`.
macro_rules! vantage_suite {
    ($factory:ident) => {
        $crate::vantages::vantage_suite!(@cases $factory;
            a_created_vantage_is_listed_and_its_token_verifies,
            a_name_is_unique_ignoring_case_and_a_bad_one_is_refused_naming_the_field,
            a_rotated_token_replaces_the_old_one_at_once,
            a_deleted_vantage_s_token_says_its_vantage_is_gone,
            a_malformed_or_foreign_token_is_refused,
            an_unknown_vantage_is_not_found_by_name
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod vantage_cases {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(fixture) = super::$factory().await else { return };
                    $crate::vantages::$case(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
pub(crate) use vantage_suite;

fn vantages(store: &Arc<dyn ProxyStore>) -> Arc<dyn VantageStore> {
    store.vantages().expect("a store of our own keeps vantages")
}

pub(crate) async fn a_created_vantage_is_listed_and_its_token_verifies(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let created = vantages.create("eu-west").await.expect("create");
    assert_eq!(created.vantage.name.as_str(), "eu-west");
    assert!(created.token.starts_with(&created.vantage.id.to_string()));
    vantages.create("ap-south").await.expect("create another");
    let listed = vantages.list().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["ap-south", "eu-west"], "by name");
    let verified = vantages
        .verify_token(&created.token)
        .await
        .expect("its own token verifies");
    assert_eq!(verified.id, created.vantage.id);
    assert_eq!(verified.name, created.vantage.name);
}

pub(crate) async fn a_name_is_unique_ignoring_case_and_a_bad_one_is_refused_naming_the_field(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    let err = vantages.create("EU-West").await.expect_err("taken");
    assert!(matches!(err, VantageError::Taken(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "a vantage named \"EU-West\" already exists"
    );
    let err = vantages.create("eu west").await.expect_err("bad name");
    assert!(matches!(err, VantageError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("name"), "{err}");
    assert_eq!(
        vantages.list().await.expect("list").len(),
        1,
        "nothing lost"
    );
}

pub(crate) async fn a_rotated_token_replaces_the_old_one_at_once(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let created = vantages.create("eu-west").await.expect("create");
    let rotated = vantages.rotate_token("EU-WEST").await.expect("rotate");
    assert_eq!(rotated.vantage.id, created.vantage.id, "the same vantage");
    assert_ne!(rotated.token, created.token);
    let err = vantages
        .verify_token(&created.token)
        .await
        .expect_err("the old token is refused");
    assert!(matches!(err, AgentTokenError::WrongSecret), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the agent token is not the vantage's current token (rotated?)"
    );
    vantages
        .verify_token(&rotated.token)
        .await
        .expect("the new token verifies");
}

pub(crate) async fn a_deleted_vantage_s_token_says_its_vantage_is_gone(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let created = vantages.create("eu-west").await.expect("create");
    vantages.delete("Eu-West").await.expect("delete");
    let err = vantages
        .verify_token(&created.token)
        .await
        .expect_err("refused");
    assert!(matches!(err, AgentTokenError::UnknownVantage), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the agent token's vantage does not exist (deleted?)"
    );
    assert!(vantages.list().await.expect("list").is_empty());
}

pub(crate) async fn a_malformed_or_foreign_token_is_refused(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    let err = vantages.verify_token("not-a-token").await.expect_err("bad");
    assert!(matches!(err, AgentTokenError::Malformed), "{err:?}");
    // a proxy's token has the same form but names no vantage
    let proxy = store
        .create_proxy(proxyhealth_store::NewProxy {
            name: "sydney".into(),
            ..Default::default()
        })
        .await
        .expect("create a proxy");
    let err = vantages
        .verify_token(&proxy.token)
        .await
        .expect_err("a proxy token is no agent token");
    assert!(matches!(err, AgentTokenError::UnknownVantage), "{err:?}");
}

pub(crate) async fn an_unknown_vantage_is_not_found_by_name(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let err = vantages.delete("nowhere").await.expect_err("absent");
    assert_eq!(err.to_string(), "no vantage named \"nowhere\"");
    let err = vantages.rotate_token("nowhere").await.expect_err("absent");
    assert!(matches!(err, VantageError::NotFound(_)), "{err:?}");
}
