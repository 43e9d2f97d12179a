//! Starting and stopping the whole service through `Application`: the errors of
//! each step, the sweep loop, and the stop.

use crate::helpers::{app_settings, config};
use proxyhealth_server::{
    ADMIN_TOKEN_PREFIX, AppError, AppStore, Application, ServiceConfig, Stopped,
};
use proxyhealth_store::{MemoryStore, OpenOptions, ProxyStore};
use std::sync::Arc;
use std::time::Duration;

fn memory() -> Arc<dyn ProxyStore> {
    Arc::new(MemoryStore::new())
}

#[tokio::test]
async fn a_store_spec_it_does_not_understand_is_a_settings_error() {
    let mut settings = app_settings(memory(), config());
    settings.store = AppStore::Open {
        spec: "mysql://db/proxyhealth".to_owned(),
        options: OpenOptions::default(),
    };
    let err = Application::build(settings).await.expect_err("bad spec");
    assert!(matches!(err, AppError::StoreSpec(_)), "{err:?}");
    assert!(err.is_settings());
    assert!(err.to_string().starts_with("--db: "), "{err}");
}

#[tokio::test]
async fn an_address_in_use_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let mut settings = app_settings(memory(), config());
    settings.listen = addr;
    let err = Application::build(settings).await.expect_err("in use");
    assert!(matches!(err, AppError::Listen { .. }), "{err:?}");
    assert!(!err.is_settings());
    assert_eq!(err.to_string(), format!("--listen {addr}: cannot listen"));
}

#[tokio::test]
async fn a_bad_engine_setting_is_a_settings_error() {
    let mut settings = app_settings(memory(), config());
    settings.engine.parallelism = 0;
    let err = Application::build(settings)
        .await
        .expect_err("no parallelism");
    assert!(matches!(err, AppError::Engine(_)), "{err:?}");
    assert!(err.is_settings());
    assert!(err.to_string().starts_with("engine settings: "), "{err}");
}

#[tokio::test]
async fn it_opens_a_spec_generates_a_token_serves_and_stops_cleanly() {
    let mut settings = app_settings(memory(), ServiceConfig::default());
    settings.store = AppStore::Open {
        spec: "memory:".to_owned(),
        options: OpenOptions::default(),
    };
    let app = Application::build(settings).await.expect("builds");
    assert_ne!(app.addr().port(), 0, "the port chosen is reported");
    let token = app
        .generated_admin_token()
        .expect("a token is generated at the first start")
        .to_owned();
    assert!(token.starts_with(ADMIN_TOKEN_PREFIX));
    assert!(
        app.store()
            .admin_token_hash()
            .await
            .expect("read")
            .is_some(),
        "its hash is in the store the application opened"
    );
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let client = proxyhealth_api::http::client_builder()
        .no_proxy()
        .build()
        .expect("client");
    let listed = client
        .get(format!("{base}/api/v2/workspaceproxies"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(listed.status(), 200);

    stop.send(()).expect("still running");
    let outcome = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops well within the grace period")
        .expect("task");
    assert!(matches!(outcome, Ok(Stopped::Cleanly)), "{outcome:?}");
    let after = client.get(format!("{base}/healthz")).send().await;
    assert!(after.is_err(), "nothing listens after the stop: {after:?}");
}

#[tokio::test]
async fn the_sweep_loop_runs_only_when_on() {
    let mut settings = app_settings(memory(), config());
    settings.engine.interval = Duration::from_millis(50);
    let off = Application::build(settings).await.expect("builds");
    let off_engine = off.engine().clone();

    let mut settings = app_settings(memory(), config());
    settings.engine.interval = Duration::from_millis(50);
    settings.sweep_loop = true;
    let on = Application::build(settings).await.expect("builds");
    let on_engine = on.engine().clone();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let off = tokio::spawn(off.run_until_stopped(until_stop(stopped.clone())));
    let on = tokio::spawn(on.run_until_stopped(until_stop(stopped)));
    crate::helpers::eventually(Duration::from_secs(5), "two sweeps of the loop", || {
        let generation = on_engine.snapshot().generation();
        async move { (generation >= 2).then_some(()) }
    })
    .await;
    assert_eq!(
        off_engine.snapshot().generation(),
        0,
        "no sweep without the loop"
    );
    stop.send(true).expect("still running");
    for running in [off, on] {
        let outcome = running.await.expect("task");
        assert!(matches!(outcome, Ok(Stopped::Cleanly)), "{outcome:?}");
    }
}

#[tokio::test]
async fn dropping_the_run_stops_the_service() {
    let app = Application::build(app_settings(memory(), config()))
        .await
        .expect("builds");
    let base = format!("http://{}", app.addr());
    let running = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = proxyhealth_api::http::client_builder()
        .no_proxy()
        .build()
        .expect("client");
    let healthz = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("serving");
    assert_eq!(healthz.status(), 200);
    running.abort();
    crate::helpers::eventually(Duration::from_secs(5), "the listener to close", || {
        let probe = client.get(format!("{base}/healthz")).send();
        async move { probe.await.is_err().then_some(()) }
    })
    .await;
}
