//! The Compose deployment (`deploy/compose/`): three replicas on PostgreSQL
//! behind one address, started with `docker compose up` from the very file
//! users start, with images made here (the variables the file reads). The
//! proxies the replicas check are a fake proxy on the project's own network
//! (Debian's HAProxy answering a healthy report), so a real partition (`docker
//! network disconnect`), a killed replica and a restarted PostgreSQL are what
//! the replicas see.

use crate::support::{
    Cleanup, bases, compose_command, create_fake_proxy, docker, docker_available, image, inspect,
    logs, published, root, unique,
};
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::{CreateProxyRequest, RegisterRequest};
use proxyhealth_cluster::settings::ClusterSettings;
use proxyhealth_core::Status;
use proxyhealth_engine::EngineOptions;
use proxyhealth_testkit::eventually;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

/// The replicas' sweep interval and check timeout here: short, so faults show
/// within seconds.
const INTERVAL: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(2);
/// The three replicas' services.
const REPLICAS: [&str; 3] = ["proxyhealth-1", "proxyhealth-2", "proxyhealth-3"];

/// One Compose stack at a time: the bounds asserted are the replicas', not
/// those of a machine running four stacks at once.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A started stack: its project, its secrets, the admin token, and the fake
/// proxy on its front network at `http://fake:9000`.
struct Stack {
    args: Vec<String>,
    env: Vec<(String, String)>,
    project: String,
    token: String,
    fake: String,
    /// Takes everything down first (fields drop in order) ...
    _cleanup: Cleanup,
    /// ... then the secrets and the fake proxy's configuration go.
    _files: tempfile::TempDir,
}

impl Stack {
    /// `docker compose up` of deploy/compose with the local images, then the
    /// fake proxy; returns once every replica's `/healthz` says ok.
    async fn up() -> Stack {
        let project = unique("phcompose");
        let files = tempfile::tempdir().expect("a folder for the secrets");
        let secrets = files.path().join("secrets");
        let made = std::process::Command::new(root().join("deploy/compose/make-secrets"))
            .arg(&secrets)
            .output()
            .expect("run make-secrets");
        assert!(made.status.success(), "make-secrets: {made:?}");
        let config = std::fs::read_to_string(secrets.join("proxyhealth.toml")).expect("config");
        let token = config
            .lines()
            .find_map(|line| line.strip_prefix("admin_token = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .expect("an admin token in the configuration")
            .to_owned();
        let compose_file = root().join("deploy/compose/compose.yaml");
        let args = vec![
            "--project-name".to_owned(),
            project.clone(),
            "--file".to_owned(),
            compose_file.display().to_string(),
        ];
        let env: Vec<(String, String)> = [
            ("PH_IMAGE", image().to_owned()),
            ("PH_POSTGRES_IMAGE", bases()["postgres"].clone()),
            ("PH_LB_IMAGE", bases()["haproxy"].clone()),
            ("PH_PORT", "127.0.0.1:".to_owned()),
            ("PH_SECRETS", secrets.display().to_string()),
            ("PH_INTERVAL", "2s".to_owned()),
            ("PH_TIMEOUT", "2s".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let mut cleanup = Cleanup::default();
        cleanup.project(&args, &env, &compose_dir());
        let output = compose_command(&args, &env)
            .current_dir(compose_dir())
            .args(["up", "--detach"])
            .output()
            .expect("run docker compose up");
        assert!(
            output.status.success(),
            "docker compose up: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let fake = format!("{project}-fake");
        create_fake_proxy(
            &mut cleanup,
            &fake,
            &format!("{project}_front"),
            "fake",
            files.path(),
        );
        docker(&["start", &fake]);
        let stack = Stack {
            args,
            env,
            project,
            token,
            fake,
            _cleanup: cleanup,
            _files: files,
        };
        for service in REPLICAS {
            stack.wait_healthy(service).await;
        }
        stack
    }

    /// The container of a service.
    fn container(&self, service: &str) -> String {
        let output = compose_command(&self.args, &self.env)
            .current_dir(compose_dir())
            .args(["ps", "--quiet", service])
            .output()
            .expect("docker compose ps");
        let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(!id.is_empty(), "{service} has no container");
        id
    }

    /// `http://IP:8080` of a replica on the front network (the host reaches
    /// the project's networks directly).
    fn address(&self, service: &str) -> String {
        let format = format!(
            "{{{{(index .NetworkSettings.Networks \"{}_front\").IPAddress}}}}",
            self.project
        );
        format!("http://{}:8080", inspect(&self.container(service), &format))
    }

    fn client(&self, base: &str) -> ApiClient {
        ApiClient::builder(base)
            .admin_token(&self.token)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client")
    }

    /// A replica's client.
    fn replica(&self, service: &str) -> ApiClient {
        self.client(&self.address(service))
    }

    /// Waits until a replica's `/healthz` says ok.
    async fn wait_healthy(&self, service: &str) {
        eventually(
            Duration::from_secs(60),
            &format!("{service} healthy"),
            || async {
                match self.replica(service).healthz().await {
                    Ok(answer) if answer.value.status == "ok" => Ok(()),
                    Ok(answer) => Err(format!("{:?}", answer.value)),
                    Err(err) => Err(format!("{err:#}; {}", logs(&self.container(service)))),
                }
            },
        )
        .await;
    }

    /// Creates proxies through `service` and registers each at the healthy
    /// fake proxy, as a workspace proxy registers itself with its token.
    async fn proxies(&self, service: &str, names: &[&str]) {
        self.proxies_at(service, names, "http://fake:9000").await;
    }

    /// Creates proxies through `service` and registers each at `url`.
    async fn proxies_at(&self, service: &str, names: &[&str], url: &str) {
        let api = self.replica(service);
        for name in names {
            let created = api
                .create_proxy(&CreateProxyRequest {
                    name: (*name).to_owned(),
                    ..CreateProxyRequest::default()
                })
                .await
                .expect("create a proxy");
            api.register(
                &created.value.proxy_token,
                &RegisterRequest {
                    access_url: url.to_owned(),
                    replica_id: uuid::Uuid::new_v4(),
                    hostname: (*name).to_owned(),
                    version: "v2.20.0".to_owned(),
                    ..RegisterRequest::default()
                },
            )
            .await
            .expect("register the proxy");
        }
    }

    /// A replica's proxies: name to status and when it was checked.
    async fn statuses(
        &self,
        service: &str,
    ) -> Result<BTreeMap<String, (Status, OffsetDateTime)>, String> {
        let answer = self
            .replica(service)
            .list_proxies()
            .await
            .map_err(|err| format!("{service}: {err:#}"))?;
        Ok(answer
            .value
            .regions
            .into_iter()
            .map(|p| (p.region.name, (p.status.status, p.status.checked_at)))
            .collect())
    }

    /// Waits until every one of `services` shows exactly `names`, each in
    /// `status`.
    async fn all_show(&self, services: &[&str], names: &[&str], status: Status, limit: Duration) {
        eventually(
            limit,
            &format!("{services:?} show {names:?} {status}"),
            || async {
                for service in services {
                    let seen = self.statuses(service).await?;
                    let shown: Vec<_> = seen.keys().map(String::as_str).collect();
                    if shown != names || seen.values().any(|(s, _)| *s != status) {
                        return Err(format!("{service}: {seen:?}"));
                    }
                }
                Ok(())
            },
        )
        .await;
    }

    /// Runs `docker compose ARGS` on the stack.
    fn compose(&self, args: &[&str]) {
        let output = compose_command(&self.args, &self.env)
            .current_dir(compose_dir())
            .args(args)
            .output()
            .expect("docker compose");
        assert!(
            output.status.success(),
            "docker compose {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn compose_dir() -> PathBuf {
    root().join("deploy/compose")
}

/// The longest a killed replica's proxies wait to be checked again
/// (docs/replicas.md, "Bounds"): the take-over bound plus one interval for a
/// proxy not due yet.
fn takeover_bound() -> Duration {
    let settings = ClusterSettings::for_engine(&EngineOptions {
        interval: INTERVAL,
        timeout: TIMEOUT,
        ..EngineOptions::default()
    });
    settings.takeover_bound(TIMEOUT) + INTERVAL
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_created_through_one_replica_is_served_by_all_and_at_the_one_address() {
    if !docker_available() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::up().await;
    stack.proxies("proxyhealth-1", &["shared"]).await;
    stack
        .all_show(&REPLICAS, &["shared"], Status::Ok, Duration::from_secs(20))
        .await;
    // the one address: HAProxy in front of the three
    let lb = format!("http://{}", published(&stack.container("lb"), 8080));
    let statuses = eventually(
        Duration::from_secs(20),
        "the one address answers",
        || async {
            stack
                .client(&lb)
                .list_proxies()
                .await
                .map_err(|err| format!("{err:#}"))
        },
    )
    .await;
    let names: Vec<_> = statuses
        .value
        .regions
        .iter()
        .map(|p| p.region.name.clone())
        .collect();
    assert_eq!(names, ["shared"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_proxies_are_checked_again_within_the_takeover_bound() {
    if !docker_available() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::up().await;
    // hanging proxies: every check lasts the whole timeout, so the replicas
    // hold leases nearly all the time
    let names = ["k0", "k1", "k2", "k3", "k4", "k5"];
    stack
        .proxies_at("proxyhealth-1", &names, "http://fake:9001")
        .await;
    stack
        .all_show(
            &REPLICAS,
            &names,
            Status::Unreachable,
            Duration::from_secs(30),
        )
        .await;

    // kill proxyhealth-2 while it holds leases, read from PostgreSQL
    let victim = stack.container("proxyhealth-2");
    let hostname = inspect(&victim, "{{.Config.Hostname}}");
    let postgres = stack.container("postgres");
    let query = format!(
        "SELECT p.name FROM proxyhealth_checks c \
         JOIN proxyhealth_replicas r ON r.id = c.lease_owner \
         JOIN workspace_proxies p ON p.id = c.proxy_id \
         WHERE r.hostname = '{hostname}' AND c.lease_until > now() ORDER BY 1"
    );
    let (held, killed_at) = eventually(
        Duration::from_secs(30),
        "proxyhealth-2 holds a lease",
        || async {
            let held = docker(&[
                "exec",
                &postgres,
                "psql",
                "-U",
                "proxyhealth",
                "-d",
                "proxyhealth",
                "-Atc",
                &query,
            ]);
            if held.is_empty() {
                return Err("no lease".to_owned());
            }
            let killed_at = OffsetDateTime::now_utc();
            docker(&["kill", &victim]);
            Ok((
                held.lines().map(str::to_owned).collect::<Vec<_>>(),
                killed_at,
            ))
        },
    )
    .await;
    let bound = takeover_bound();
    // every proxy checked after the kill, those it held among them: the
    // first check after the kill, from each proxy's recent results
    let first_after = eventually(
        bound + Duration::from_secs(5),
        "every proxy checked again",
        || async {
            let proxies = stack
                .replica("proxyhealth-1")
                .list_proxies()
                .await
                .map_err(|err| format!("{err:#}"))?
                .value
                .regions;
            let mut first = BTreeMap::new();
            for proxy in &proxies {
                let after = proxy
                    .status
                    .history
                    .iter()
                    .map(|point| point.checked_at)
                    .filter(|at| *at > killed_at)
                    .min();
                match after {
                    Some(at) => {
                        first.insert(proxy.region.name.clone(), (at - killed_at).as_seconds_f64())
                    }
                    None => {
                        return Err(format!("{} not checked since the kill", proxy.region.name));
                    }
                };
            }
            (first.len() == names.len())
                .then_some(first)
                .ok_or_else(|| format!("{} proxies", proxies.len()))
        },
    )
    .await;
    eprintln!(
        "killed proxyhealth-2 holding leases on {held:?}; first checks after the kill (s): \
         {first_after:?} (bound {bound:?})"
    );
    for (name, took) in &first_after {
        assert!(
            *took <= bound.as_secs_f64(),
            "{name} was checked again {took:.2}s after the kill, past the bound {bound:?}"
        );
    }
}

/// Records each proxy's newest `checked_at` seen, and fails when a replica
/// shows one older: a late write would move it back.
fn never_back(
    seen: &mut BTreeMap<String, OffsetDateTime>,
    now: &BTreeMap<String, (Status, OffsetDateTime)>,
) -> Result<(), String> {
    for (name, (_, at)) in now {
        let newest = seen.entry(name.clone()).or_insert(*at);
        if *at < *newest {
            return Err(format!(
                "{name}: checked_at went back from {newest} to {at}"
            ));
        }
        *newest = *at;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_postgresql_goes_stale_writes_nothing_late_and_converges() {
    if !docker_available() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::up().await;
    let names = ["p0", "p1", "p2", "p3"];
    stack.proxies("proxyhealth-1", &names).await;
    stack
        .all_show(&REPLICAS, &names, Status::Ok, Duration::from_secs(20))
        .await;

    let cut = stack.container("proxyhealth-3");
    let db = format!("{}_db", stack.project);
    docker(&["network", "disconnect", &db, &cut]);
    let stale = eventually(
        INTERVAL * 2 + Duration::from_secs(15),
        "proxyhealth-3 stale",
        || async {
            let health = stack
                .replica("proxyhealth-3")
                .healthz()
                .await
                .map_err(|e| format!("{e:#}"))?;
            let value = health.value;
            (health.status.as_u16() == 503 && value.view.as_deref() == Some("stale"))
                .then_some(value.clone())
                .ok_or(format!("{} {value:?}", health.status))
        },
    )
    .await;
    assert_eq!(stale.status, "degraded", "{stale:?}");

    // while it is cut off, the fleet changes: the fake proxy stops
    docker(&["stop", "--time", "1", &stack.fake]);
    let mut seen = BTreeMap::new();
    eventually(
        Duration::from_secs(30),
        "the connected replicas see the fake gone",
        async || {
            for service in ["proxyhealth-1", "proxyhealth-2"] {
                let now = stack.statuses(service).await?;
                if service == "proxyhealth-1"
                    && let Err(why) = never_back(&mut seen, &now)
                {
                    panic!("{why}");
                }
                if now
                    .values()
                    .any(|(status, _)| *status != Status::Unreachable)
                {
                    return Err(format!("{service}: {now:?}"));
                }
            }
            Ok(())
        },
    )
    .await;
    // ... which the cut-off replica cannot know: it serves its last view
    let last = stack
        .statuses("proxyhealth-3")
        .await
        .expect("its last view");
    assert!(
        last.values().all(|(status, _)| *status == Status::Ok),
        "{last:?}"
    );

    docker(&["network", "connect", &db, &cut]);
    stack.wait_healthy("proxyhealth-3").await;
    stack
        .all_show(
            &REPLICAS,
            &names,
            Status::Unreachable,
            Duration::from_secs(30),
        )
        .await;
    // nothing it probed before or while cut off lands late: for three more
    // intervals no replica shows a proxy ok again or checked earlier
    let mut seen_by: BTreeMap<&str, BTreeMap<String, OffsetDateTime>> = BTreeMap::new();
    let watch_until = tokio::time::Instant::now() + INTERVAL * 3;
    while tokio::time::Instant::now() < watch_until {
        for service in REPLICAS {
            let now = stack.statuses(service).await.expect("statuses");
            never_back(seen_by.entry(service).or_default(), &now).expect("no late write");
            assert!(
                now.values()
                    .all(|(status, _)| *status == Status::Unreachable),
                "{service} after reconnecting: {now:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = proxyhealth_api::http::client()
        .get(format!("{}/metrics", stack.address("proxyhealth-3")))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let rejected: Vec<_> = metrics
        .lines()
        .filter(|line| line.starts_with(proxyhealth_cluster::metrics::REJECTED))
        .collect();
    eprintln!(
        "cut-off replica: stale after the cut ({stale:?}); late writes rejected: {rejected:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_loses_nothing() {
    if !docker_available() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let stack = Stack::up().await;
    let names = ["r0", "r1", "r2"];
    stack.proxies("proxyhealth-1", &names).await;
    stack
        .all_show(&REPLICAS, &names, Status::Ok, Duration::from_secs(20))
        .await;

    let restarted_at = OffsetDateTime::now_utc();
    stack.compose(&["restart", "--timeout", "10", "postgres"]);
    for service in REPLICAS {
        stack.wait_healthy(service).await;
    }
    // every proxy is still there, on every replica, and checked again
    eventually(
        Duration::from_secs(30),
        "every proxy checked after the restart",
        || async {
            for service in REPLICAS {
                let seen = stack.statuses(service).await?;
                let shown: Vec<_> = seen.keys().map(String::as_str).collect();
                if shown != names
                    || seen
                        .values()
                        .any(|(s, at)| *s != Status::Ok || *at <= restarted_at)
                {
                    return Err(format!("{service}: {seen:?}"));
                }
            }
            Ok(())
        },
    )
    .await;
    // and the database takes writes again
    stack.proxies("proxyhealth-2", &["after"]).await;
    stack
        .all_show(
            &REPLICAS,
            &["after", "r0", "r1", "r2"],
            Status::Ok,
            Duration::from_secs(20),
        )
        .await;
}
