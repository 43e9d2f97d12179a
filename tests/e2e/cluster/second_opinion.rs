//! The second opinion: a proxy that fails for one replica only does not
//! leave `ok`, and the disagreement is recorded (and reported).

use super::harness::{
    Fake, Replica, TestDb, all_live, all_ok, eventually, logs, observations, views_show,
};
use proxyhealth_cluster::metrics::{CLAIMS, SECOND_OPINIONS};
use proxyhealth_core::Status;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_failing_for_one_replica_only_stays_ok_and_the_disagreement_is_shown() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // "far" answers after 1.2 s: within the 4 s timeout of a and b, beyond the
    // 0.5 s timeout of c, so it fails for c only (a slow path from one replica).
    // A 2 s interval keeps the observations within the report's window
    // (2 intervals) of each other.
    let interval = Duration::from_secs(2);
    let a = Replica::start_with("a", &db, interval, Duration::from_secs(4)).await;
    let far = Fake::create(&a, "far", Duration::from_millis(1200)).await;
    let near = Fake::create(&a, "near", Duration::ZERO).await;
    let fakes = [far, near];
    views_show(
        &[&a],
        &fakes,
        all_ok,
        Duration::from_secs(10),
        "far ok on a",
    )
    .await;
    let b = Replica::start_with("b", &db, interval, Duration::from_secs(4)).await;
    let c = Replica::start_with("c", &db, interval, Duration::from_millis(500)).await;
    let all = [&a, &b, &c];
    all_live(&all, 3, Duration::from_secs(10)).await;
    let far = &fakes[0];

    let pool = db.pool().await;
    let replica_ids: BTreeMap<u32, Uuid> = {
        let rows: Vec<(i64, Uuid)> =
            sqlx::query_as("SELECT pid, id FROM proxyhealth_replicas WHERE stopped_at IS NULL")
                .fetch_all(&pool)
                .await
                .expect("the replicas");
        rows.into_iter()
            .map(|(pid, id)| (u32::try_from(pid).expect("a pid"), id))
            .collect()
    };
    let c_id = replica_ids[&c.pid()];

    // until c has checked far and handed its failure on, every replica keeps
    // showing far ok (which replica claims a due proxy is whichever polls
    // first, so c's turn may take a while)
    let started = Instant::now();
    while c.metric(SECOND_OPINIONS).await < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "c never checked far (claims: a {}, b {}, c {})",
            a.metric(CLAIMS).await,
            b.metric(CLAIMS).await,
            c.metric(CLAIMS).await
        );
        far_ok_everywhere(&all).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let handed_on = started.elapsed();
    // the disagreement: c saw it unreachable, another replica ok
    let (seen, _) = eventually(
        interval * 4,
        "c's and another replica's observations of far disagree",
        || {
            let pool = &pool;
            async move {
                let seen = observations(pool, far.id).await;
                let by_c = seen.iter().find(|(id, _, _)| *id == c_id);
                let ok_elsewhere = seen.iter().any(|(id, s, _)| *id != c_id && s == "ok");
                match by_c {
                    Some((_, status, _)) if status == "unreachable" && ok_elsewhere => Ok(seen),
                    _ => Err(format!("{seen:?}")),
                }
            }
        },
    )
    .await;
    let (_, _, message) = seen
        .iter()
        .find(|(id, _, _)| *id == c_id)
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("timed out"),
        "c's observation says why: {message:?}"
    );
    assert_eq!(
        a.metric(SECOND_OPINIONS).await + b.metric(SECOND_OPINIONS).await,
        0.0,
        "only c asks for second opinions"
    );
    // the report, where this build has it (GET /api/v2/proxyhealth/replicas)
    let (status, body) = a.get("/api/v2/proxyhealth/replicas").await;
    let report = if status == 404 {
        "absent (404): asserted on the observations table".to_owned()
    } else {
        let (report, _) = eventually(interval * 4, "the report lists far", || async {
            let (status, body) = a.get("/api/v2/proxyhealth/replicas").await;
            let report: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let listed = report["disagreements"]
                .as_array()
                .and_then(|list| list.iter().find(|d| d["name"] == "far"))
                .cloned();
            match listed {
                Some(d)
                    if d["observations"].as_array().is_some_and(|o| {
                        o.iter().any(|o| o["status"] == "ok")
                            && o.iter().any(|o| {
                                o["status"] == "unreachable" && o["replica_id"] == c_id.to_string()
                            })
                    }) =>
                {
                    Ok(d.to_string())
                }
                _ => Err(format!("{status} {body}")),
            }
        })
        .await;
        report
    };
    // and far stays ok after the confirmation
    let confirmed = Instant::now();
    while confirmed.elapsed() < interval * 2 {
        far_ok_everywhere(&all).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second_opinions = c.metric(SECOND_OPINIONS).await;
    eprintln!(
        "c handed far's failure on after {handed_on:?}; far stayed ok on every replica for \
         {:?}; c asked for {second_opinions} second opinion(s); observations: {seen:?}; \
         report: {report} (first answer {status}, {} bytes)",
        started.elapsed(),
        body.len()
    );
    drop((a, b, c));
    db.drop_db().await;
}

/// Every replica shows far ok.
async fn far_ok_everywhere(all: &[&Replica]) {
    for replica in all {
        assert_eq!(
            replica.statuses().await.get("far"),
            Some(&Status::Ok),
            "{} shows far failing\n{}",
            replica.label,
            logs(all)
        );
    }
}
