//! Vantages as separate hosts, as in production: the service (`serve`) and
//! two agents (`proxyhealth agent`), each in a container of the project's
//! image, and a fake proxy in a container of its own. Every vantage reaches
//! the proxy over a private network of its own, and the agents reach the
//! service over another, so cutting one link (`docker network disconnect`)
//! is a regional fault: the proxy is unreachable from that vantage alone.
//!
//! ```text
//!              control (service:8080, published on 127.0.0.1)
//!       ┌────────────────┬───────────────────┐
//!    service          agent ap-south      agent us-east
//!   (eu-west)             │                   │
//!       │ own             │ ap                │ us
//!       └──────────── proxy (fake:9000) ──────┘
//! ```

use crate::support::{
    Cleanup, LABEL, create_fake_proxy, docker, docker_available, image, inspect, logs, network,
    published, unique,
};
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::{CreateProxyRequest, WorkspaceProxy};
use proxyhealth_core::Status;
use proxyhealth_testkit::eventually;
use std::time::{Duration, Instant};

/// The admin token the service is given.
const TOKEN: &str = "deploy-vantages-admin-token";
/// The service's own vantage.
const OWN: &str = "eu-west";
/// The agents' vantages.
const AGENTS: [&str; 2] = ["ap-south", "us-east"];
/// The sweep interval and check timeout (the agents take both from their
/// assignment): short, so a cut link shows within seconds.
const SERVE_FLAGS: [&str; 6] = ["--interval", "2s", "--timeout", "1s", "--vantage", OWN];
/// How long a change may take to show: a check within one interval, the
/// agent's batch, the service's next sweep, with room for a loaded machine.
const SHOWS_WITHIN: Duration = Duration::from_secs(30);

/// The deployment: the names of its containers and networks, and the
/// service's address on the host.
struct Deployment {
    service: String,
    /// Each agent's container and the network it reaches the proxy over.
    agents: Vec<(String, String)>,
    url: String,
    /// Removes every container, then every network.
    _cleanup: Cleanup,
    /// The fake proxy's configuration, removed after its container.
    _files: tempfile::TempDir,
}

/// Connects the container `name`, made with `docker create`, to each of
/// `networks` too, then starts it: it starts with every link it is meant
/// to have.
fn start_on(name: &str, networks: &[&str]) {
    for network in networks {
        docker(&["network", "connect", network, name]);
    }
    docker(&["start", name]);
}

/// `fake:IP`, for `--add-host`: the proxy's address on `network`. The
/// proxy's one name resolves on every host, each to the address it reaches
/// the proxy at (as a public name does), so a cut link is a network fault,
/// not a name gone.
fn fake_on(proxy: &str, network: &str) -> String {
    let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    format!("fake:{}", inspect(proxy, &format))
}

/// Starts the service (`serve`, its own vantage [`OWN`]) on `control`,
/// where the agents reach it as `service:8080`, and on `own`, its link to
/// the proxy; returns its address on the host.
fn start_service(
    cleanup: &mut Cleanup,
    name: &str,
    control: &str,
    own: &str,
    proxy: &str,
) -> String {
    cleanup.container(name);
    let admin = format!("PROXYHEALTH_ADMIN_TOKEN={TOKEN}");
    let host = fake_on(proxy, own);
    let mut args = vec![
        "create",
        "--name",
        name,
        "--label",
        LABEL,
        "--read-only",
        "--network",
        control,
        "--network-alias",
        "service",
        "--add-host",
        &host,
        "--env",
        &admin,
        "--publish",
        "127.0.0.1::8080",
        image(),
        "serve",
    ];
    args.extend(SERVE_FLAGS);
    docker(&args);
    start_on(name, &[own]);
    format!("http://{}", published(name, 8080))
}

/// Starts an agent with `token` on `control` and on `link`, its link to
/// the proxy.
fn start_agent(
    cleanup: &mut Cleanup,
    name: &str,
    token: &str,
    control: &str,
    link: &str,
    proxy: &str,
) {
    cleanup.container(name);
    let token = format!("PROXYHEALTH_AGENT_TOKEN={token}");
    let host = fake_on(proxy, link);
    docker(&[
        "create",
        "--name",
        name,
        "--label",
        LABEL,
        "--read-only",
        // the image's HEALTHCHECK asks `serve`, which an agent is not
        "--no-healthcheck",
        "--network",
        control,
        "--add-host",
        &host,
        "--env",
        &token,
        image(),
        "agent",
        "--server",
        "http://service:8080",
    ]);
    start_on(name, &[link]);
}

impl Deployment {
    /// Creates the networks and starts the proxy, the service and, once it
    /// answers, the agents with the tokens it made for their vantages; the
    /// proxy is created and registered at `http://fake:9000`.
    async fn up() -> Deployment {
        let mut cleanup = Cleanup::default();
        let files = tempfile::tempdir().expect("a folder for the proxy's configuration");
        let prefix = unique("phvantages");
        let control = format!("{prefix}-control");
        let own = format!("{prefix}-own");
        // the control network is not internal: the host reaches the
        // service through the port published on it
        network(&mut cleanup, &control, false);
        network(&mut cleanup, &own, true);
        let links: Vec<String> = AGENTS
            .iter()
            .map(|vantage| format!("{prefix}-{vantage}"))
            .collect();
        for link in &links {
            network(&mut cleanup, link, true);
        }

        let proxy = format!("{prefix}-proxy");
        create_fake_proxy(&mut cleanup, &proxy, &own, "fake", files.path());
        let proxy_links: Vec<_> = links.iter().map(String::as_str).collect();
        start_on(&proxy, &proxy_links);

        let service = format!("{prefix}-service");
        let url = start_service(&mut cleanup, &service, &control, &own, &proxy);
        let api = client(&url);
        eventually(Duration::from_secs(30), "the service answers", || async {
            api.healthz().await.map_err(|err| {
                format!(
                    "{err:#}; {}: {}",
                    inspect(&service, "{{.State.Status}}"),
                    logs(&service)
                )
            })
        })
        .await;

        let created = api
            .create_proxy(&CreateProxyRequest {
                name: "sydney".to_owned(),
                ..CreateProxyRequest::default()
            })
            .await
            .expect("create a proxy");
        api.register(
            &created.value.proxy_token,
            &proxyhealth_testkit::api::registration("http://fake:9000", "sydney"),
        )
        .await
        .expect("register the proxy");

        let mut agents = Vec::new();
        for (vantage, link) in AGENTS.iter().zip(&links) {
            let made = api.create_vantage(vantage).await.expect("create a vantage");
            let name = format!("{prefix}-agent-{vantage}");
            let token = &made.value.agent_token;
            start_agent(&mut cleanup, &name, token, &control, link, &proxy);
            agents.push((name, link.clone()));
        }
        Deployment {
            service,
            agents,
            url,
            _cleanup: cleanup,
            _files: files,
        }
    }

    /// The proxy as the service's API shows it.
    async fn proxy(&self) -> Result<WorkspaceProxy, String> {
        client(&self.url)
            .proxy("sydney")
            .await
            .map(|answer| answer.value)
            .map_err(|err| format!("{err:#}"))
    }

    /// Waits until the proxy satisfies `want`; on a timeout the message
    /// holds the proxy last seen and what every container said.
    async fn until(&self, what: &str, want: impl Fn(&WorkspaceProxy) -> bool) -> WorkspaceProxy {
        eventually(SHOWS_WITHIN, what, async || {
            let proxy = self.proxy().await?;
            if want(&proxy) {
                return Ok(proxy);
            }
            let mut seen = format!("{:?} {:?}", proxy.status.status, proxy.status.report);
            for reading in &proxy.vantages {
                seen.push_str(&format!(
                    "\n  {} {:?} stale={} {:?}",
                    reading.vantage, reading.status, reading.stale, reading.report
                ));
            }
            for (agent, _) in &self.agents {
                seen.push_str(&format!("\n{agent}: {}", tail(&logs(agent))));
            }
            seen.push_str(&format!(
                "\n{}: {}",
                self.service,
                tail(&logs(&self.service))
            ));
            Err(seen)
        })
        .await
    }

    /// Cuts (or mends) the link of agent `index` to the proxy.
    fn link(&self, index: usize, connected: bool) {
        let (agent, network) = &self.agents[index];
        let verb = if connected { "connect" } else { "disconnect" };
        docker(&["network", verb, network, agent]);
    }
}

fn client(url: &str) -> ApiClient {
    ApiClient::builder(url)
        .admin_token(TOKEN)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client")
}

/// The last lines of a container's output, for a message.
fn tail(output: &str) -> String {
    let lines: Vec<_> = output.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Each vantage's `(name, status, stale)`, the service's own first.
fn rows(proxy: &WorkspaceProxy) -> Vec<(&str, Status, bool)> {
    proxy
        .vantages
        .iter()
        .map(|r| (r.vantage.as_str(), r.status, r.stale))
        .collect()
}

/// The proxy's partial-outage warning, if it has one.
fn partial_warning(proxy: &WorkspaceProxy) -> Option<&str> {
    proxy
        .status
        .report
        .warnings
        .iter()
        .map(String::as_str)
        .find(|w| w.starts_with("partial outage"))
}

/// Whether every vantage has a fresh `ok` for the proxy, and so has it.
fn all_ok(proxy: &WorkspaceProxy) -> bool {
    let fresh_ok = |(_, status, stale): &(&str, Status, bool)| *status == Status::Ok && !*stale;
    proxy.status.status == Status::Ok
        && rows(proxy).len() == 3
        && rows(proxy).iter().all(fresh_ok)
        && partial_warning(proxy).is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_cut_between_one_agents_host_and_the_proxy_is_a_partial_outage_and_two_take_it_down()
{
    if !docker_available() {
        return;
    }
    // the image is built once per run, shared with the other deploy tests
    let built = Instant::now();
    image();
    let build = built.elapsed();
    let started = Instant::now();
    let deployment = Deployment::up().await;
    let up = started.elapsed();
    deployment.until("ok from the three vantages", all_ok).await;
    let all_ok_at = started.elapsed();

    // ap-south's host loses its route to the proxy: ok overall, with a
    // warning naming ap-south, and unreachable in ap-south's row
    deployment.link(0, false);
    let cut = Instant::now();
    let expected = [
        (OWN, Status::Ok, false),
        ("ap-south", Status::Unreachable, false),
        ("us-east", Status::Ok, false),
    ];
    // the row shows the reading as it comes; the overall status and its
    // warning are the next judgement's
    let partial = deployment
        .until("unreachable from ap-south alone, judged", |p| {
            rows(p) == expected && partial_warning(p).is_some()
        })
        .await;
    let one_cut = cut.elapsed();
    assert_eq!(partial.status.status, Status::Ok, "{:?}", partial.status);
    let warning = partial_warning(&partial).unwrap_or_default();
    assert!(
        warning.starts_with("partial outage: failing from 1 of 3 vantages: ap-south (unreachable"),
        "{:?}",
        partial.status.report
    );

    // and us-east's: two of three, unreachable overall
    deployment.link(1, false);
    let cut = Instant::now();
    let down = deployment
        .until("unreachable overall", |p| {
            p.status.status == Status::Unreachable
        })
        .await;
    let two_cut = cut.elapsed();
    let error = down
        .status
        .report
        .errors
        .first()
        .cloned()
        .unwrap_or_default();
    assert!(
        error.starts_with("unreachable from 2 of 3 vantages: ap-south (unreachable")
            && error.contains("; us-east (unreachable"),
        "{:?}",
        down.status.report
    );
    assert_eq!(rows(&down)[0], (OWN, Status::Ok, false));

    // both links back: ok from everywhere again, the warning gone
    deployment.link(0, true);
    deployment.link(1, true);
    let mended = Instant::now();
    deployment.until("ok again from the three", all_ok).await;
    eprintln!(
        "vantages on Docker: image built in {build:?}; deployment up in {up:?}, ok from three vantages at {all_ok_at:?}; \
         one link cut shown after {one_cut:?}, the second after {two_cut:?}, mended after \
         {:?}; {:?} in all\n  the warning: {warning}\n  the error: {error}",
        mended.elapsed(),
        started.elapsed()
    );
}
