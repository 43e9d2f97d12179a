//! `proxyhealth agent` against a real `serve` on SQLite: its vantage's
//! results in each proxy's JSON, checked from its own `--source-address`;
//! the service behind HTTPS of a private CA (`--server-ca-file`); a deleted
//! vantage or a rotated token ends it with the reason in words; an outage
//! of the service survived, the newest results sent when it is back.

use crate::support::{Server, command};
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::{CreateProxyRequest, WireVantageReading};
use proxyhealth_testkit::fake_proxy::json;
use proxyhealth_testkit::{FakeProxy, Program, TestCa, TlsFront, eventually};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Where the agents of these tests probe from; the service probes from
/// 127.0.0.1.
const AGENT_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How long an agent may take to show a result: its start, a sweep of one
/// proxy and a batch, on two busy cores.
const RESULT_LIMIT: Duration = Duration::from_secs(30);

const HEALTHY: &str = r#"{"errors":[],"warnings":[]}"#;

/// A report with one error, `unhealthy` to whoever gets it.
fn failing(error: &str) -> String {
    serde_json::json!({"errors": [error], "warnings": []}).to_string()
}

/// A fake proxy that is healthy to the service and answers the agent (from
/// [`AGENT_ADDRESS`]) with `to_agent`'s report.
async fn proxy_seen_by_address(to_agent: impl Fn() -> String + Send + Sync + 'static) -> FakeProxy {
    let to_agent = Arc::new(to_agent);
    FakeProxy::start_by_peer(move |_, peer: SocketAddr| {
        let report = if peer.ip() == AGENT_ADDRESS {
            to_agent()
        } else {
            HEALTHY.to_owned()
        };
        async move { json(200, &report) }
    })
    .await
}

/// Creates a proxy named `name` and registers it at `url`.
async fn registered(api: &ApiClient, name: &str, url: &str) {
    let created = api
        .create_proxy(&CreateProxyRequest {
            name: name.to_owned(),
            ..CreateProxyRequest::default()
        })
        .await
        .expect("the proxy is created");
    api.register(
        &created.value.proxy_token,
        &proxyhealth_testkit::api::registration(url, "agent-test"),
    )
    .await
    .expect("the proxy registers");
}

/// `proxyhealth agent` for `server` with `token` (from the environment),
/// from [`AGENT_ADDRESS`]; its log is read as it comes.
fn agent(server: &str, token: &str) -> Program {
    agent_with(server, token, &[])
}

/// [`agent`] with `extra` flags.
fn agent_with(server: &str, token: &str, extra: &[&str]) -> Program {
    let mut cmd = command();
    cmd.arg("agent")
        .args(["--server", server])
        .args(["--source-address", &AGENT_ADDRESS.to_string()])
        .args(extra)
        .env("PROXYHEALTH_AGENT_TOKEN", token);
    Program::spawn(cmd, None)
}

/// The `127.0.0.1:PORT` of a server's `http://` URL.
fn socket_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a loopback address")
}

/// The newest reading of `vantage` for proxy `name`, once there is one.
async fn reading(api: &ApiClient, name: &str, vantage: &str) -> Option<WireVantageReading> {
    let proxy = api.proxy(name).await.ok()?.value;
    proxy.vantages.into_iter().find(|r| r.vantage == vantage)
}

/// Waits for the agent to exit (it must, within `limit`); its status.
async fn exit_of(agent: &mut Program, limit: Duration) -> std::process::ExitStatus {
    eventually(limit, "the agent's exit", async || agent.try_wait()).await
}

/// How many lines of `program`'s output hold `text`.
fn lines_with(program: &Program, text: &str) -> usize {
    program
        .output()
        .lines()
        .filter(|line| line.contains(text))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_result_appears_in_the_proxys_vantages_checked_from_its_own_address() {
    let fake = proxy_seen_by_address(|| failing("only the agent's address sees this")).await;
    let server = tokio::task::spawn_blocking(|| Server::start(&["--interval", "1s"]))
        .await
        .expect("start serve");
    let api = server.api();
    let token = api
        .create_vantage("eu-west")
        .await
        .expect("the vantage is created")
        .value
        .agent_token;
    registered(&api, "paris", &fake.url).await;
    let _agent = agent(&server.url, &token);

    let seen = eventually(RESULT_LIMIT, "eu-west's reading of paris", async || {
        reading(&api, "paris", "eu-west").await
    })
    .await;
    assert_eq!(seen.status.as_str(), "unhealthy", "{seen:?}");
    assert_eq!(
        seen.report.errors,
        vec!["only the agent's address sees this".to_owned()],
        "the agent checked from --source-address"
    );
    assert!(seen.latency_ms.is_some(), "{seen:?}");
    let own = reading(&api, "paris", "local")
        .await
        .expect("the service's own reading");
    assert_eq!(
        own.status.as_str(),
        "ok",
        "the service checks from 127.0.0.1"
    );
}

/// How long the held proxy keeps the agent's check waiting, at least.
const HELD: Duration = Duration::from_millis(1_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sends_results_during_its_round_each_stamped_with_its_own_check() {
    // One check at a time, by name: a-first, then b-held (held for the
    // agent until the test lets it go), then c-last.
    let gate = Arc::new(AtomicBool::new(false));
    let open = gate.clone();
    let held = FakeProxy::start_by_peer(move |_, peer: SocketAddr| {
        let open = open.clone();
        async move {
            while peer.ip() == AGENT_ADDRESS && !open.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            json(200, HEALTHY)
        }
    })
    .await;
    let first = proxy_seen_by_address(|| HEALTHY.to_owned()).await;
    let last = proxy_seen_by_address(|| HEALTHY.to_owned()).await;
    let server = tokio::task::spawn_blocking(|| {
        Server::start(&[
            "--interval",
            "60s",
            "--timeout",
            "30s",
            "--parallelism",
            "1",
        ])
    })
    .await
    .expect("start serve");
    let api = server.api();
    let token = api
        .create_vantage("eu-west")
        .await
        .expect("the vantage is created")
        .value
        .agent_token;
    for (name, url) in [
        ("a-first", &first.url),
        ("b-held", &held.url),
        ("c-last", &last.url),
    ] {
        registered(&api, name, url).await;
        // in the snapshot (and so in the agent's assignment) once checked
        eventually(RESULT_LIMIT, "the service's own check", async || {
            api.proxy(name)
                .await
                .ok()
                .filter(|p| p.value.status.status.as_str() == "ok")
        })
        .await;
    }
    let _agent = agent(&server.url, &token);

    let early = eventually(RESULT_LIMIT, "a-first's reading from eu-west", async || {
        reading(&api, "a-first", "eu-west").await
    })
    .await;
    assert!(
        reading(&api, "b-held", "eu-west").await.is_none(),
        "b-held's check is still held, so the round is not over"
    );
    tokio::time::sleep(HELD).await;
    gate.store(true, Ordering::SeqCst);
    let late = eventually(RESULT_LIMIT, "c-last's reading from eu-west", async || {
        reading(&api, "c-last", "eu-west").await
    })
    .await;
    assert!(
        late.checked_at - early.checked_at >= HELD,
        "c-last is stamped with its own check, after b-held was let go: {} then {}",
        early.checked_at,
        late.checked_at
    );
    let between = reading(&api, "b-held", "eu-west")
        .await
        .expect("b-held's reading");
    assert!(early.checked_at < between.checked_at && between.checked_at < late.checked_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reaches_a_service_behind_a_private_ca_with_server_ca_file() {
    let fake = proxy_seen_by_address(|| HEALTHY.to_owned()).await;
    let server = tokio::task::spawn_blocking(|| Server::start(&["--interval", "1s"]))
        .await
        .expect("start serve");
    let api = server.api();
    let token = api
        .create_vantage("eu-west")
        .await
        .expect("the vantage is created")
        .value
        .agent_token;
    registered(&api, "paris", &fake.url).await;
    let ca = TestCa::new("company CA");
    let front = TlsFront::start(&ca.leaf(ca.spec()), socket_of(&server.url)).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca_file = dir.path().join("company-ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write the CA");
    let ca_flag = ca_file.display().to_string();
    let _agent = agent_with(&front.url, &token, &["--server-ca-file", &ca_flag]);
    let seen = eventually(
        RESULT_LIMIT,
        "eu-west's reading through HTTPS",
        async || reading(&api, "paris", "eu-west").await,
    )
    .await;
    assert_eq!(seen.status.as_str(), "ok", "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_does_not_trust_the_services_ca_says_so_and_waits() {
    let ca = TestCa::new("company CA");
    let nowhere: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    let front = TlsFront::start(&ca.leaf(ca.spec()), nowhere).await;
    let mut agent = agent(&front.url, "00000000-0000-0000-0000-000000000000:00");
    let line = agent
        .wait_for_async(RESULT_LIMIT, "the outage logged", |lines| {
            lines
                .iter()
                .find(|line| line.contains("cannot reach the service"))
                .cloned()
        })
        .await;
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(agent.try_wait().is_none(), "it waits for the service");
}

#[test]
fn a_server_ca_file_without_a_certificate_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("not-a-ca.pem");
    std::fs::write(&path, "hello").expect("write");
    let out = command()
        .args(["agent", "--server", "https://127.0.0.1:1", "--token", "t"])
        .arg("--server-ca-file")
        .arg(&path)
        .output()
        .expect("run the agent");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "--server-ca-file {}: the CA certificates do not parse: no -----BEGIN CERTIFICATE----- block",
            path.display()
        )),
        "{stderr}"
    );
}

/// Starts an agent of a new vantage of `server` that has seen its first
/// assignment; `then` refuses its token; the agent must exit 1 saying `why`.
async fn refused_agent_exits_saying(then: impl AsyncFnOnce(&ApiClient), why: &str) {
    let server = tokio::task::spawn_blocking(|| Server::start(&["--interval", "1s"]))
        .await
        .expect("start serve");
    let api = server.api();
    let token = api
        .create_vantage("ap-south")
        .await
        .expect("the vantage is created")
        .value
        .agent_token;
    let mut agent = agent(&server.url, &token);
    agent
        .wait_for_async(RESULT_LIMIT, "the first assignment", |lines| {
            lines
                .iter()
                .find(|line| line.contains("assignment"))
                .map(|_| ())
        })
        .await;
    then(&api).await;
    let status = exit_of(&mut agent, Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(1), "{}", agent.output());
    let output = agent.output();
    assert!(
        output.contains(&format!(
            "error: the service refused the agent token: {why}"
        )),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_vantages_agent_exits_non_zero_saying_why() {
    refused_agent_exits_saying(
        async |api| {
            api.delete_vantage("ap-south")
                .await
                .expect("the vantage is deleted");
        },
        "the agent token's vantage does not exist (deleted?)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_token_was_rotated_exits_non_zero_saying_why() {
    refused_agent_exits_saying(
        async |api| {
            api.rotate_vantage_token("ap-south")
                .await
                .expect("the token is rotated");
        },
        "the agent token is not the vantage's current token (rotated?)",
    )
    .await;
}

#[test]
fn an_agent_without_a_token_is_a_usage_error() {
    let out = command()
        .args(["agent", "--server", "http://127.0.0.1:1", "--token", ""])
        .output()
        .expect("run the agent");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--token: empty"), "{stderr}");
}

/// The admin token of the restarted service, the same before and after.
const ADMIN: &str = "agent-outage-admin-token";

/// `serve` on the SQLite file `db`, listening on `listen`.
fn serve(db: &Path, listen: &str) -> Program {
    let mut cmd = command();
    cmd.arg("serve")
        .arg("--db")
        .arg(format!("sqlite://{}", db.display()))
        .args(["--listen", listen, "--interval", "1s", "--timeout", "3s"])
        .args(["--admin-token", ADMIN]);
    Program::spawn(cmd, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_probes_on_through_an_outage_and_sends_its_newest_results_when_the_service_is_back()
 {
    // What the agent's checks get: healthy, then (during the outage) an
    // error naming the check, then (once the service is back) slow healthy
    // answers, so the result sent from the outage can be seen before the
    // next sweep's.
    let phase = Arc::new(AtomicUsize::new(0));
    let checks_in_outage = Arc::new(AtomicUsize::new(0));
    let (answers_phase, counted) = (phase.clone(), checks_in_outage.clone());
    let fake = FakeProxy::start_by_peer(move |_, peer: SocketAddr| {
        let phase = answers_phase.load(Ordering::SeqCst);
        let from_agent = peer.ip() == AGENT_ADDRESS;
        let n = if from_agent && phase == 1 {
            counted.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        async move {
            match (from_agent, phase) {
                (true, 1) => json(200, &failing(&format!("outage check {n}"))),
                (true, 2) => {
                    tokio::time::sleep(Duration::from_millis(2_000)).await;
                    json(200, HEALTHY)
                }
                _ => json(200, HEALTHY),
            }
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("proxyhealth.db");
    let mut first = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || serve(&db, "127.0.0.1:0"))
            .await
            .expect("start serve")
    };
    let url = first.banner_async().await.url;
    let api = proxyhealth_testkit::api::client(&url, ADMIN);
    let token = api
        .create_vantage("eu-west")
        .await
        .expect("the vantage is created")
        .value
        .agent_token;
    registered(&api, "paris", &fake.url).await;
    let mut agent = agent(&url, &token);
    eventually(RESULT_LIMIT, "a healthy reading from eu-west", async || {
        reading(&api, "paris", "eu-west")
            .await
            .filter(|r| r.status.as_str() == "ok")
    })
    .await;

    // The service goes away; the agent probes on.
    let (stopped, _) = first
        .terminate_async(Duration::from_secs(20))
        .await
        .expect("serve stops");
    assert!(stopped.success(), "{}", first.output());
    phase.store(1, Ordering::SeqCst);
    eventually(
        Duration::from_secs(20),
        "three checks during the outage",
        async || checks_in_outage.load(Ordering::SeqCst) >= 3,
    )
    .await;
    agent
        .wait_for_async(Duration::from_secs(20), "the outage noticed", |lines| {
            lines
                .iter()
                .find(|line| line.contains("cannot reach the service"))
                .map(|_| ())
        })
        .await;

    // Back on the same port and database.
    phase.store(2, Ordering::SeqCst);
    let newest_in_outage = checks_in_outage.load(Ordering::SeqCst);
    let listen = url.trim_start_matches("http://").to_owned();
    let mut second = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || serve(&db, &listen))
            .await
            .expect("restart serve")
    };
    second.banner_async().await;
    let sent = eventually(
        RESULT_LIMIT,
        "eu-west's result from the outage",
        async || {
            reading(&api, "paris", "eu-west")
                .await
                .filter(|r| r.status.as_str() == "unhealthy")
        },
    )
    .await;
    let error = &sent.report.errors[0];
    let n: usize = error
        .strip_prefix("outage check ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{error}"));
    assert!(
        n >= newest_in_outage,
        "the newest check of the outage was sent ({n} of {newest_in_outage} at the restart)"
    );
    assert_eq!(
        lines_with(&agent, "cannot reach the service"),
        1,
        "one outage, logged once: {}",
        agent.output()
    );
    assert_eq!(lines_with(&agent, "the service answers again"), 1);
    eventually(
        RESULT_LIMIT,
        "the agent's next sweep's result",
        async || {
            reading(&api, "paris", "eu-west")
                .await
                .filter(|r| r.status.as_str() == "ok")
        },
    )
    .await;
    assert!(agent.try_wait().is_none(), "the agent runs on");
}
