//! Replicas naming different vantages on one PostgreSQL, as real processes:
//! two replicas of `us-east` and one of `eu-west`, each vantage's checks from
//! its own loopback address (`serve --source-address`), and an agent of a
//! third vantage (`ap-south`) that reaches one replica only. Every replica
//! judges the proxy by the quorum over all three vantages' readings, so a
//! failure seen from one vantage is a partial outage everywhere, one seen
//! from two is an outage everywhere, and the cluster notifies it once.

use super::harness::{Replica, TestDb, eventually, logs};
use crate::support::command;
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_testkit::Program;
use proxyhealth_testkit::per_client::{PerClientProxy, Treatment};
use proxyhealth_testkit::receiver::Receiver;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::time::Instant;

/// The replicas' interval: short, so each change shows within seconds, and
/// long enough that a vantage's reading stays fresh (two intervals) between
/// its checks on a loaded machine.
const INTERVAL: Duration = Duration::from_secs(1);
/// Their check timeout: a cut-off check fails well within an interval.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How long every replica may take to show a change.
const LIMIT: Duration = Duration::from_secs(20);

/// The loopback address vantage number `n` checks from: `127.0.0.n`.
fn address(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A replica of `vantage` checking from `source`, notifying `target`.
async fn vantage_replica(
    label: &'static str,
    db: &TestDb,
    vantage: &str,
    source: &str,
    target: &str,
) -> Replica {
    let flags = [
        "--vantage",
        vantage,
        "--source-address",
        source,
        "--notify-webhook",
        target,
    ];
    Replica::start_with_flags(label, db, INTERVAL, TIMEOUT, &flags).await
}

/// What a replica serves of one proxy: its overall status, its report's
/// first error and first warning, and each vantage's (name, status, stale)
/// in name order.
#[derive(Debug, Clone, PartialEq)]
struct Served {
    status: String,
    error: String,
    warning: String,
    vantages: Vec<(String, String, bool)>,
}

impl Served {
    fn from(proxy: &Value) -> Served {
        let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
        let mut vantages: Vec<(String, String, bool)> = proxy["vantages"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|v| {
                        (
                            text(&v["vantage"]),
                            text(&v["status"]),
                            v["stale"].as_bool().unwrap_or(false),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // each replica lists its own vantage first
        vantages.sort();
        Served {
            status: text(&proxy["status"]["status"]),
            error: text(&proxy["status"]["report"]["errors"][0]),
            warning: text(&proxy["status"]["report"]["warnings"][0]),
            vantages,
        }
    }

    /// Whether every vantage's reading is fresh and has these statuses (in
    /// name order: ap-south, eu-west, us-east).
    fn readings_are(&self, statuses: [&str; 3]) -> bool {
        let names = ["ap-south", "eu-west", "us-east"];
        self.vantages.len() == 3
            && self
                .vantages
                .iter()
                .zip(names.into_iter().zip(statuses))
                .all(|((name, status, stale), (want_name, want_status))| {
                    name == want_name && status == want_status && !stale
                })
    }
}

/// What `replica` serves of proxy `id`.
async fn served(replica: &Replica, id: &str) -> Served {
    let (status, body) = replica.get(&format!("/api/v2/workspaceproxies/{id}")).await;
    assert_eq!(status, 200, "{}: GET the proxy: {body}", replica.label);
    Served::from(&serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Waits until every replica serves proxy `id` as `want` accepts.
async fn everywhere(
    replicas: &[&Replica],
    id: &str,
    what: &str,
    want: impl Fn(&Served) -> bool,
) -> Vec<Served> {
    let (seen, took) = eventually(LIMIT, what, || async {
        let mut seen = Vec::with_capacity(replicas.len());
        for replica in replicas {
            let proxy = served(replica, id).await;
            if !want(&proxy) {
                return Err(format!("{} serves {proxy:?}", replica.label));
            }
            seen.push(proxy);
        }
        Ok(seen)
    })
    .await;
    println!("{what}: after {took:?}");
    seen
}

/// Asserts for `hold` that every replica keeps serving proxy `id` as `want`
/// accepts (no replica flaps while the readings come and go).
async fn holds(
    replicas: &[&Replica],
    id: &str,
    hold: Duration,
    what: &str,
    want: impl Fn(&Served) -> bool,
) {
    let started = Instant::now();
    while started.elapsed() < hold {
        for replica in replicas {
            let proxy = served(replica, id).await;
            assert!(
                want(&proxy),
                "{what}: {} serves {proxy:?} after {:?}\n{}",
                replica.label,
                started.elapsed(),
                logs(replicas)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `proxyhealth agent` for `token` against `server`, its checks from
/// `source`.
fn agent(server: &str, token: &str, source: &str, log: &std::path::Path) -> Program {
    let mut cmd = command();
    cmd.args(["agent", "--server", server, "--source-address", source])
        .env("PROXYHEALTH_AGENT_TOKEN", token)
        .env("RUST_LOG", "info");
    Program::spawn(cmd, Some(log))
}

/// `(proxy, from, to)` of each notification the receiver got.
fn changes(receiver: &Receiver) -> Vec<(String, String, String)> {
    receiver
        .received()
        .iter()
        .map(|request| {
            let body = request.json();
            let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
            (
                text(&body["proxy"]["name"]),
                text(&body["from"]),
                text(&body["to"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_of_two_vantages_and_an_agent_judge_a_proxy_alike_and_notify_its_outage_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let proxy = PerClientProxy::start().await;
    let receiver = Receiver::start().await;
    let target = format!("ops={}", receiver.url);
    let a = vantage_replica("a", &db, "eu-west", "127.0.0.2", &target).await;
    let b = vantage_replica("b", &db, "us-east", "127.0.0.3", &target).await;
    let c = vantage_replica("c", &db, "us-east", "127.0.0.3", &target).await;
    let replicas = [&a, &b, &c];

    let api = a.api();
    let created = api
        .create_proxy(&CreateProxyRequest {
            name: "sydney".to_owned(),
            display_name: "Sydney".to_owned(),
            icon: String::new(),
        })
        .await
        .expect("create a proxy");
    let id = created.value.proxy.region.id.to_string();
    let registered = api
        .register(
            &created.value.proxy_token,
            &proxyhealth_testkit::api::registration(&proxy.url, "e2e"),
        )
        .await
        .expect("register");
    assert_eq!(registered.status, 201, "register sydney");

    // the agent's vantage, made through another replica than the one its
    // agent reaches: the vantages are the cluster's
    let (status, body) = b
        .post(
            "/api/v2/proxyhealth/vantages",
            &serde_json::json!({ "name": "ap-south" }),
        )
        .await;
    assert_eq!(status, 201, "create ap-south: {body}");
    let created: Value = serde_json::from_str(&body).expect("the vantage's JSON");
    let token = created["agent_token"].as_str().expect("an agent token");
    let dir = tempfile::tempdir().expect("temp dir");
    let agent_log = dir.path().join("ap-south.log");
    let _agent = agent(a.url(), token, "127.0.0.4", &agent_log);

    everywhere(
        &replicas,
        &id,
        "every replica serves sydney ok from all three vantages",
        |p| p.status == "ok" && p.warning.is_empty() && p.readings_are(["ok", "ok", "ok"]),
    )
    .await;
    // what registration notified (the proxy's first status) is not counted
    let before = receiver.received().len();

    // cut off from us-east alone: ok on every replica, with the warning
    // naming us-east; us-east's second replica confirms before its reading
    // turns
    proxy.treat(address(3), Treatment::CutOff);
    let partial = |p: &Served| {
        p.status == "ok"
            && p.error.is_empty()
            && p.warning
                .starts_with("partial outage: failing from 1 of 3 vantages: us-east (unreachable: ")
            && p.readings_are(["ok", "ok", "unreachable"])
    };
    let seen = everywhere(
        &replicas,
        &id,
        "every replica serves the partial outage from us-east",
        partial,
    )
    .await;
    println!("partial outage: {:?}", seen[0].warning);
    holds(
        &replicas,
        &id,
        INTERVAL * 4,
        "the partial outage stays",
        partial,
    )
    .await;

    // cut off from ap-south too: two of three, unreachable on every replica
    proxy.treat(address(4), Treatment::CutOff);
    let down = |p: &Served| {
        p.status == "unreachable"
            && p.error
                .starts_with("unreachable from 2 of 3 vantages: ap-south (unreachable: ")
            && p.error.contains("); us-east (unreachable: ")
            && p.readings_are(["unreachable", "ok", "unreachable"])
    };
    let seen = everywhere(
        &replicas,
        &id,
        "every replica serves sydney unreachable",
        down,
    )
    .await;
    println!("outage: {:?}", seen[0].error);
    eventually(LIMIT, "the outage notified", || async {
        let n = receiver.received().len() - before;
        if n >= 1 {
            Ok(())
        } else {
            Err("nothing received".to_owned())
        }
    })
    .await;
    // every replica has had intervals to offer the change again
    holds(&replicas, &id, INTERVAL * 4, "the outage stays", down).await;

    let got: Vec<_> = changes(&receiver).into_iter().skip(before).collect();
    assert_eq!(
        got,
        [(
            "sydney".to_owned(),
            "ok".to_owned(),
            "unreachable".to_owned()
        )],
        "exactly one notification, of the outage; logs:\n{}\n--- agent:\n{}",
        logs(&replicas),
        std::fs::read_to_string(&agent_log).unwrap_or_default()
    );
    println!(
        "three replicas, two replica vantages and an agent: {} notification(s) in all, \
         {} for the outage",
        before + got.len(),
        got.len()
    );
    drop((a, b, c));
    db.drop_db().await;
}
