//! Replicas attached read-only to a Coder database coordinate through a
//! schema of their own (`--coordination-schema`): one check per proxy per
//! interval as with their own database, the cluster mode in the report, and
//! Coder's table only read, by a role that could not write it anyway.

use super::harness::{INTERVAL, Replica, TIMEOUT, TestDb, all_live, checks_in, eventually, logs};
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_core::Status;
use proxyhealth_testkit::FakeProxy;
use proxyhealth_testkit::coder_db::{
    CoderProxyRow, ReaderRole, create_coder_table, insert_coder_proxy,
};
use proxyhealth_testkit::fake_proxy::json;
use serde_json::Value;
use sqlx::Connection;
use std::time::Duration;
use uuid::Uuid;

const ATTACHED: &[&str] = &["--coder", "--coordination-schema", "proxyhealth"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_attached_to_coder_with_a_schema_of_their_own_share_the_probing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    create_coder_table(&mut conn).await;
    let mut fakes = Vec::new();
    for (i, name) in ["coder-eu", "coder-us", "coder-ap"].into_iter().enumerate() {
        let proxy =
            FakeProxy::start(|_| async { json(200, r#"{"errors":[],"warnings":[]}"#) }).await;
        let row = CoderProxyRow {
            id: Uuid::new_v4(),
            name,
            url: &proxy.url,
            minutes_ago: 10 - i as i32,
            deleted: false,
            token_hash: vec![0; 32],
        };
        insert_coder_proxy(&mut conn, &row).await;
        fakes.push(proxy);
    }
    let role = ReaderRole::create(&mut conn, db.database()).await;
    let a = Replica::start_on("a", &role.url, INTERVAL, TIMEOUT, ATTACHED).await;
    let b = Replica::start_on("b", &role.url, INTERVAL, TIMEOUT, ATTACHED).await;
    let both = [&a, &b];
    all_live(&both, 2, Duration::from_secs(15)).await;
    eventually(
        Duration::from_secs(15),
        "both show every Coder proxy ok",
        || async {
            for replica in both {
                let statuses = replica.statuses().await;
                if statuses.len() != 3 || statuses.values().any(|s| *s != Status::Ok) {
                    return Err(format!("{}: {statuses:?}", replica.label));
                }
            }
            Ok(())
        },
    )
    .await;

    const WINDOW: u32 = 8;
    let window = INTERVAL * WINDOW;
    let (least, most) = checks_in(window);
    let before: Vec<usize> = fakes.iter().map(FakeProxy::hits).collect();
    tokio::time::sleep(window).await;
    let checks: Vec<usize> = fakes
        .iter()
        .zip(&before)
        .map(|(fake, before)| fake.hits() - before)
        .collect();
    eprintln!("2 attached replicas: checks per proxy in {WINDOW} intervals: {checks:?}");
    for count in &checks {
        assert!(
            (least..=most).contains(count),
            "attached replicas checked a proxy {count} times in {WINDOW} intervals (want \
             {least}..={most}, not once per replica): {checks:?}\n{}",
            logs(&both)
        );
    }

    for replica in both {
        let (status, body) = replica.get("/api/v2/proxyhealth/replicas").await;
        assert_eq!(status, 200, "{body}");
        let report: Value = serde_json::from_str(&body).expect("report JSON");
        assert_eq!(report["mode"], "cluster", "{}: {report:#}", replica.label);
        assert_eq!(report["replicas"].as_array().map(Vec::len), Some(2));
    }
    let (status, body) = a.get("/api/v2/workspaceproxies").await;
    assert_eq!(status, 200, "{body}");
    let refused = a
        .api()
        .create_proxy(&CreateProxyRequest {
            name: "mine".to_owned(),
            display_name: String::new(),
            icon: String::new(),
        })
        .await
        .expect_err("Coder's table is not ours to write");
    assert!(refused.to_string().contains("read-only"), "{refused}");

    drop((a, b));
    drop(conn);
    role.drop_with(db.into_database()).await;
}
