//! Replicas naming different vantages on one PostgreSQL: each vantage checks
//! every proxy every interval (its replicas sharing the work through the
//! claims), every replica judges by the quorum over all vantages' readings,
//! agents' results received by one replica count on every replica, and a
//! change of the overall status, or a partial outage, is kept and notified
//! once.
//!
//! Each vantage's checks come from its own loopback address (the engine's
//! source address, as the agent's `--source-address`), and one proxy answers
//! each address as the test says.

use crate::support::{
    INTERVAL, Running, TestCluster, engine_options, eventually, healthy_fleet, notification_rows,
    notifying_cluster,
};
use proxyhealth_core::{HealthReport, Status, VantageName};
use proxyhealth_engine::vantages::RemoteCheck;
use proxyhealth_testkit::per_client::{PerClientProxy, Treatment};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long every view may take to show a change.
const LIMIT: Duration = Duration::from_secs(15);

/// The loopback address vantage number `n` checks from: `127.0.0.n`.
fn address(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A replica of vantage `vantage` whose checks come from `127.0.0.n`.
async fn vantage_replica(db: &TestCluster, name: &str, vantage: &str, n: u8) -> Running {
    let mut options = engine_options();
    options.vantage = VantageName::new(vantage).expect("a vantage name");
    options.source_address = Some(address(n));
    Running::start_with(db, name, options, None, |_| {}).await
}

/// One vantage's reading as a test compares it: (name, status, stale).
type Row = (String, Status, bool);

/// The overall status and warnings of proxy `id` on `replica`, and its
/// vantages' (name, status, stale) by name.
fn seen(replica: &Running, id: &Uuid) -> Option<(Status, Vec<String>, Vec<Row>)> {
    let status = replica.engine.status_of(id)?;
    let mut vantages: Vec<Row> = status
        .vantages
        .iter()
        .map(|v| (v.vantage.to_string(), v.status, v.stale))
        .collect();
    // each replica lists its own vantage first
    vantages.sort_by(|a, b| a.0.cmp(&b.0));
    Some((status.status, status.report.warnings.clone(), vantages))
}

/// `(vantage, status, stale)` rows, for comparing with [`seen`]'s.
fn rows(expected: &[(&str, Status)]) -> Vec<Row> {
    expected
        .iter()
        .map(|(name, status)| ((*name).to_owned(), *status, false))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_naming_different_vantages_each_check_every_proxy_every_interval() {
    let Some(db) = TestCluster::postgres().await else {
        return;
    };
    let (fakes, ids) = healthy_fleet(&db, 3).await;
    // two replicas share eu-west's checks, one makes us-east's
    let replicas = vec![
        vantage_replica(&db, "a", "eu-west", 2).await,
        vantage_replica(&db, "b", "eu-west", 2).await,
        vantage_replica(&db, "c", "us-east", 3).await,
    ];
    eventually(LIMIT, "every replica holds both vantages' readings", || {
        replicas.iter().all(|r| {
            ids.iter().all(|id| {
                seen(r, id).is_some_and(|(status, _, vantages)| {
                    status == Status::Ok
                        && vantages == rows(&[("eu-west", Status::Ok), ("us-east", Status::Ok)])
                })
            })
        })
    })
    .await;
    let window = Duration::from_secs(8);
    let before: Vec<usize> = fakes.iter().map(|f| f.hits()).collect();
    tokio::time::sleep(window).await;
    let per_interval = window.as_secs_f64() / INTERVAL.as_secs_f64();
    for (i, (fake, before)) in fakes.iter().zip(&before).enumerate() {
        let checks = (fake.hits() - before) as f64;
        // a check per interval from each of the two vantages (each waits up
        // to a poll and a batch more, so a little fewer); one group for all
        // would be half as many, every replica on its own half as many again
        assert!(
            checks >= 2.0 * per_interval * 0.45 && checks <= 2.0 * per_interval * 1.34,
            "proxy {i}: {checks} checks in {window:?} at a {INTERVAL:?} interval from two vantages"
        );
    }
    // each vantage's row of each proxy is checked by that vantage's replicas
    let mut conn = db.connect().await;
    let rows: Vec<(Uuid, String, Uuid)> = sqlx::query_as(
        "SELECT proxy_id, vantage, checked_by FROM proxyhealth_checks \
         WHERE checked_at IS NOT NULL ORDER BY proxy_id, vantage",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the check rows");
    assert_eq!(
        rows.len(),
        2 * ids.len(),
        "a row per proxy and vantage: {rows:?}"
    );
    for (proxy, vantage, by) in &rows {
        let allowed = match vantage.as_str() {
            "eu-west" => [replicas[0].id, replicas[1].id].contains(by),
            "us-east" => *by == replicas[2].id,
            other => panic!("a row of vantage {other}"),
        };
        assert!(allowed, "proxy {proxy}'s {vantage} row checked by {by}");
    }
    drop(conn);
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

/// The partial outages kept of `proxy`: (vantages as JSON text, ended).
async fn partial_outages(db: &TestCluster, proxy: Uuid) -> Vec<(String, bool)> {
    let mut conn = db.connect().await;
    sqlx::query_as(
        "SELECT vantages::text, ended_at IS NOT NULL FROM proxyhealth_partial_outages \
         WHERE proxy_id = $1 ORDER BY started_at",
    )
    .bind(proxy)
    .fetch_all(&mut conn)
    .await
    .expect("read the partial outages")
}

/// The notification rows of `proxy` that change its overall status (a
/// partial outage's rows go from `ok` to `ok`).
async fn status_notifications(db: &TestCluster, proxy: Uuid) -> Vec<(Option<String>, String)> {
    notification_rows(db, proxy)
        .await
        .into_iter()
        .filter(|(from, to)| from.as_ref() != Some(to))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_cut_off_from_one_replica_vantage_is_ok_on_every_replica_with_a_partial_outage_kept_once()
 {
    let Some(db) = notifying_cluster().await else {
        return;
    };
    let proxy = PerClientProxy::start().await;
    let id = db.proxy("sydney", &proxy.url).await;
    let replicas = vec![
        vantage_replica(&db, "a", "eu-west", 2).await,
        vantage_replica(&db, "b", "us-east", 3).await,
    ];
    eventually(LIMIT, "both replicas see the proxy ok from both", || {
        replicas.iter().all(|r| {
            seen(r, &id).is_some_and(|(_, _, vantages)| {
                vantages == rows(&[("eu-west", Status::Ok), ("us-east", Status::Ok)])
            })
        })
    })
    .await;
    proxy.treat(address(3), Treatment::CutOff);
    eventually(
        LIMIT,
        "both replicas show a partial outage from us-east",
        || {
            replicas.iter().all(|r| {
                seen(r, &id).is_some_and(|(status, warnings, vantages)| {
                    status == Status::Ok
                        && vantages
                            == rows(&[("eu-west", Status::Ok), ("us-east", Status::Unreachable)])
                        && warnings.first().is_some_and(|w| {
                            w.starts_with(
                            "partial outage: failing from 1 of 2 vantages: us-east (unreachable: ",
                        )
                        })
                })
            })
        },
    )
    .await;
    // kept once for the cluster, and its start notified once
    tokio::time::sleep(3 * INTERVAL).await;
    assert_eq!(
        partial_outages(&db, id).await,
        [("[\"us-east\"]".to_owned(), false)],
        "one open partial outage naming us-east"
    );
    assert_eq!(
        notification_rows(&db, id).await,
        [(Some("ok".to_owned()), "ok".to_owned())],
        "its start notified once"
    );
    proxy.treat(address(3), Treatment::Answer);
    proxyhealth_testkit::eventually(LIMIT, "the partial outage ends", async || {
        partial_outages(&db, id).await == [("[\"us-east\"]".to_owned(), true)]
    })
    .await;
    tokio::time::sleep(3 * INTERVAL).await;
    assert_eq!(
        partial_outages(&db, id).await,
        [("[\"us-east\"]".to_owned(), true)],
        "the one outage, ended"
    );
    assert_eq!(
        notification_rows(&db, id).await,
        [
            (Some("ok".to_owned()), "ok".to_owned()),
            (Some("ok".to_owned()), "ok".to_owned())
        ],
        "its start and its end notified once each"
    );
    assert!(
        replicas.iter().all(|r| seen(r, &id)
            .is_some_and(|(status, warnings, _)| status == Status::Ok && warnings.is_empty())),
        "no warning left"
    );
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_replica_vantage_keeps_its_own_history_of_a_proxy_cut_off_from_it() {
    let Some(db) = TestCluster::postgres().await else {
        return;
    };
    let proxy = PerClientProxy::start().await;
    let id = db.proxy("sydney", &proxy.url).await;
    // two replicas of us-east share its checks and may each offer a change
    let replicas = vec![
        vantage_replica(&db, "a", "eu-west", 2).await,
        vantage_replica(&db, "b", "us-east", 3).await,
        vantage_replica(&db, "c", "us-east", 3).await,
    ];
    eventually(LIMIT, "every replica sees the proxy ok from both", || {
        replicas.iter().all(|r| {
            seen(r, &id).is_some_and(|(_, _, vantages)| {
                vantages == rows(&[("eu-west", Status::Ok), ("us-east", Status::Ok)])
            })
        })
    })
    .await;
    proxy.treat(address(3), Treatment::CutOff);
    eventually(
        LIMIT,
        "every replica sees us-east's reading unreachable",
        || {
            replicas.iter().all(|r| {
                seen(r, &id).is_some_and(|(_, _, vantages)| {
                    vantages == rows(&[("eu-west", Status::Ok), ("us-east", Status::Unreachable)])
                })
            })
        },
    )
    .await;
    // a few more checks of each vantage, then read each vantage's history
    tokio::time::sleep(3 * INTERVAL).await;
    let vantages = db.store.vantages().expect("the store keeps vantages");
    let since = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let changes = async |name: &str| {
        let seen = vantages
            .history(&VantageName::new(name).expect("a name"), id, since)
            .await
            .expect("the replica vantage's history");
        let checks: u64 = seen.buckets.iter().map(|b| b.rollup.checks).sum();
        let unreachable: u64 = seen.buckets.iter().map(|b| b.rollup.unreachable).sum();
        let moves: Vec<(Option<Status>, Status)> =
            seen.transitions.iter().map(|t| (t.from, t.to)).collect();
        (checks, unreachable, moves)
    };
    let (us_checks, us_unreachable, us_moves) = changes("us-east").await;
    assert_eq!(
        us_moves,
        [(None, Status::Ok), (Some(Status::Ok), Status::Unreachable)],
        "us-east's changes, each once whichever of its replicas offered it"
    );
    assert!(
        us_unreachable >= 1 && us_checks > us_unreachable,
        "{us_checks} checks, {us_unreachable} unreachable"
    );
    let (eu_checks, eu_unreachable, eu_moves) = changes("EU-West").await;
    assert_eq!(eu_moves, [(None, Status::Ok)], "eu-west saw no change");
    assert!(
        eu_checks >= 2 && eu_unreachable == 0,
        "{eu_checks} checks, {eu_unreachable} unreachable"
    );
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_cut_off_from_two_of_three_replica_vantages_is_unreachable_everywhere_and_notified_once()
 {
    let Some(db) = notifying_cluster().await else {
        return;
    };
    let proxy = PerClientProxy::start().await;
    let id = db.proxy("sydney", &proxy.url).await;
    let replicas = vec![
        vantage_replica(&db, "a", "ap-south", 2).await,
        vantage_replica(&db, "b", "eu-west", 3).await,
        vantage_replica(&db, "c", "us-east", 4).await,
    ];
    eventually(
        LIMIT,
        "every replica sees the proxy ok from all three",
        || {
            replicas.iter().all(|r| {
                seen(r, &id).is_some_and(|(status, _, vantages)| {
                    status == Status::Ok
                        && vantages.iter().all(|v| v.1 == Status::Ok)
                        && vantages.len() == 3
                })
            })
        },
    )
    .await;
    proxy.treat(address(3), Treatment::CutOff);
    proxy.treat(address(4), Treatment::CutOff);
    eventually(LIMIT, "every replica shows the proxy unreachable", || {
        replicas.iter().all(|r| {
            r.engine.status_of(&id).is_some_and(|s| {
                s.status == Status::Unreachable
                    && s.report.errors.first().is_some_and(|e| {
                        // in name order on every replica, its own first or not
                        e.starts_with("unreachable from 2 of 3 vantages: eu-west (unreachable: ")
                            && e.contains("); us-east (unreachable: ")
                    })
            })
        })
    })
    .await;
    proxyhealth_testkit::eventually(LIMIT, "the change is notified", async || {
        !status_notifications(&db, id).await.is_empty()
    })
    .await;
    // every replica has had intervals to offer the change again
    tokio::time::sleep(4 * INTERVAL).await;
    assert_eq!(
        status_notifications(&db, id).await,
        [(Some("ok".to_owned()), "unreachable".to_owned())],
        "one notification row for the cluster"
    );
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

/// Sends `status` results of `proxy` as agent vantage `vantage` to
/// `replica` every `period`, as an agent's batches reach the one replica
/// its connection lands on: the replica's engine takes them and its store
/// keeps them (what the agent results route does).
fn agent_sending(
    db: &TestCluster,
    replica: &Running,
    vantage: VantageName,
    proxy: Uuid,
    status: Status,
    period: Duration,
) -> tokio::task::JoinHandle<()> {
    let engine = replica.engine.clone();
    let vantages = db.store.vantages().expect("PostgreSQL keeps vantages");
    tokio::spawn(async move {
        loop {
            let check = RemoteCheck {
                proxy_id: proxy,
                status,
                latency_ms: Some(40),
                checked_at: OffsetDateTime::now_utc(),
                report: HealthReport::error("connection refused"),
            };
            let intake = engine.take_vantage_results(&vantage, vec![check]).await;
            vantages
                .keep_readings(&vantage, &intake.accepted)
                .await
                .expect("keep the readings");
            tokio::time::sleep(period).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agents_result_received_by_one_replica_counts_on_every_replica_and_is_notified_once() {
    let Some(db) = notifying_cluster().await else {
        return;
    };
    let proxy = PerClientProxy::start().await;
    let id = db.proxy("sydney", &proxy.url).await;
    let ap_south = db
        .store
        .vantages()
        .expect("PostgreSQL keeps vantages")
        .create("ap-south")
        .await
        .expect("create the agents' vantage")
        .vantage
        .name;
    let replicas = vec![
        vantage_replica(&db, "a", "eu-west", 2).await,
        vantage_replica(&db, "b", "us-east", 3).await,
    ];
    eventually(LIMIT, "both replicas see the proxy ok", || {
        replicas.iter().all(|r| r.status(&id) == Some(Status::Ok))
    })
    .await;
    // the agent reaches replica a only
    let agent = agent_sending(
        &db,
        &replicas[0],
        ap_south,
        id,
        Status::Unreachable,
        INTERVAL / 2,
    );
    eventually(LIMIT, "replica b shows the agent's partial outage", || {
        seen(&replicas[1], &id).is_some_and(|(status, warnings, vantages)| {
            status == Status::Ok
                && vantages
                    == rows(&[
                        ("ap-south", Status::Unreachable),
                        ("eu-west", Status::Ok),
                        ("us-east", Status::Ok),
                    ])
                && warnings.first().is_some_and(|w| {
                    w == "partial outage: failing from 1 of 3 vantages: ap-south (unreachable: connection refused)"
                })
        })
    })
    .await;
    proxy.treat(address(3), Treatment::CutOff);
    eventually(LIMIT, "both replicas show the proxy unreachable", || {
        replicas.iter().all(|r| {
            r.engine.status_of(&id).is_some_and(|s| {
                s.status == Status::Unreachable
                    && s.report.errors.first().is_some_and(|e| {
                        e.starts_with(
                            "unreachable from 2 of 3 vantages: ap-south (unreachable: connection refused); us-east (unreachable: ",
                        )
                    })
            })
        })
    })
    .await;
    proxyhealth_testkit::eventually(LIMIT, "the change is notified", async || {
        !status_notifications(&db, id).await.is_empty()
    })
    .await;
    tokio::time::sleep(4 * INTERVAL).await;
    assert_eq!(
        status_notifications(&db, id).await,
        [(Some("ok".to_owned()), "unreachable".to_owned())],
        "one notification row for the cluster"
    );
    agent.abort();
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

/// Sends one `status` result of `proxy` as agent vantage `vantage` to
/// `replica`, as the agent results route takes and keeps a batch.
async fn agent_sends_once(
    db: &TestCluster,
    replica: &Running,
    vantage: &VantageName,
    proxy: Uuid,
    status: Status,
) {
    let check = RemoteCheck {
        proxy_id: proxy,
        status,
        latency_ms: None,
        checked_at: OffsetDateTime::now_utc(),
        report: HealthReport::error("connection refused"),
    };
    let intake = replica
        .engine
        .take_vantage_results(vantage, vec![check])
        .await;
    assert_eq!(intake.accepted.len(), 1, "the result is taken");
    db.store
        .vantages()
        .expect("PostgreSQL keeps vantages")
        .keep_readings(vantage, &intake.accepted)
        .await
        .expect("keep the readings");
}

/// The overall transitions recorded of `proxy`, as (from, to) words.
async fn transitions(db: &TestCluster, proxy: Uuid) -> Vec<(Option<String>, String)> {
    let mut conn = db.connect().await;
    sqlx::query_as(
        "SELECT from_status, to_status FROM proxyhealth_transitions \
         WHERE proxy_id = $1 ORDER BY at, id",
    )
    .bind(proxy)
    .fetch_all(&mut conn)
    .await
    .expect("read the transitions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overall_change_made_by_agents_readings_is_recorded_and_notified_once_when_they_arrive()
{
    let Some(db) = notifying_cluster().await else {
        return;
    };
    let proxy = PerClientProxy::start().await;
    let id = db.proxy("sydney", &proxy.url).await;
    let vantages = db.store.vantages().expect("PostgreSQL keeps vantages");
    let mut agents = Vec::new();
    for name in ["ap-south", "us-east"] {
        let created = vantages.create(name).await.expect("create a vantage");
        agents.push(created.vantage.name);
    }
    // an interval of an hour: after its first check, no replica checks the
    // proxy again while the test runs, so only the readings' arrival can
    // record the change
    let mut options = engine_options();
    options.interval = Duration::from_secs(3600);
    options.vantage = VantageName::new("eu-west").expect("a vantage name");
    options.source_address = Some(address(2));
    let replicas = vec![
        Running::start_with(&db, "a", options.clone(), None, |_| {}).await,
        Running::start_with(&db, "b", options, None, |_| {}).await,
    ];
    proxyhealth_testkit::eventually(LIMIT, "the first check is recorded ok", async || {
        transitions(&db, id)
            .await
            .last()
            .is_some_and(|(_, to)| to == "ok")
    })
    .await;
    let before = transitions(&db, id).await;
    // both agents' vantages see it fail, through replica a only: 2 of 3
    for agent in &agents {
        agent_sends_once(&db, &replicas[0], agent, id, Status::Unreachable).await;
    }
    assert_eq!(replicas[0].status(&id), Some(Status::Unreachable));
    proxyhealth_testkit::eventually(LIMIT, "the change is recorded and notified", async || {
        !status_notifications(&db, id).await.is_empty()
    })
    .await;
    // replica b reads the kept readings (every 3 s) and makes the same change
    eventually(LIMIT, "replica b shows the proxy unreachable", || {
        replicas[1].status(&id) == Some(Status::Unreachable)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = transitions(&db, id).await;
    assert_eq!(
        after[before.len()..],
        [(Some("ok".to_owned()), "unreachable".to_owned())],
        "one transition for the cluster: {after:?}"
    );
    assert_eq!(
        status_notifications(&db, id).await,
        [(Some("ok".to_owned()), "unreachable".to_owned())],
        "one notification row for the cluster"
    );
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}
