//! `proxyhealth-load`: a bounded, loopback-only load run against the real binary.
//!
//! Starts a simulated fleet of healthy proxies (`proxyhealth-sim`) on loopback
//! addresses, starts `proxyhealth serve` on a temporary SQLite file sweeping every
//! second, creates and registers every proxy through the API, then for a fixed
//! time runs readers of `/api/v2/regions` and clients re-registering proxies with
//! their tokens. Reports requests, failures, p50/p99 latency per kind, whether
//! every proxy still has a status, and the server's RSS at 25/50/75/100 % of the
//! run. Exits 1 if any request failed or a status was lost. Run by `scripts/load`.

mod serve;
mod stats;

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use proxyhealth_sim::{Fleet, FleetSpec, Kind};
use serde_json::{Value, json};
use serve::Server;
use stats::Samples;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// The admin token of the server under load (loopback only, thrown away).
const ADMIN: &str = "load-run-admin-token";

/// The settings of a load run.
#[derive(Debug, Parser)]
#[command(about = "A bounded, loopback-only load run against proxyhealth serve")]
struct Args {
    /// The proxyhealth binary to run (a release build).
    #[arg(long)]
    bin: PathBuf,
    /// How long the load phase lasts, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Proxies in the simulated fleet.
    #[arg(long, default_value_t = 1000)]
    proxies: usize,
    /// Concurrent clients reading /api/v2/regions in a loop.
    #[arg(long, default_value_t = 50)]
    readers: usize,
    /// Concurrent clients re-registering proxies in a loop.
    #[arg(long, default_value_t = 10)]
    registerers: usize,
}

/// A proxy created and registered through the API.
#[derive(Debug, Clone)]
struct Member {
    token: String,
    url: String,
    replica_id: Uuid,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("load: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn registration(member: &Member) -> Value {
    json!({
        "access_url": member.url,
        "wildcard_hostname": "",
        "derp_enabled": true,
        "derp_only": false,
        "replica_id": member.replica_id,
        "hostname": "load",
        "version": "v2.20.0",
    })
}

async fn run(args: Args) -> anyhow::Result<bool> {
    proxyhealth_sim::raise_fd_limit().context("raise the open-file limit")?;
    let fleet = Fleet::start(FleetSpec::uniform(Kind::Ok, args.proxies))
        .await
        .context("start the simulated fleet")?;
    let dir = tempfile::tempdir().context("temp dir")?;
    let log = dir.path().join("serve.log");
    let server = Server::start(&args.bin, &dir.path().join("proxyhealth.db"), ADMIN, &log)?;
    let base = server.url.clone();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .context("HTTP client")?;
    println!(
        "server {base} (pid {}), fleet of {} ok proxies",
        server.pid(),
        fleet.len()
    );

    let setup = Instant::now();
    let members = create_and_register(&client, &base, &fleet).await?;
    wait_all_ok(&client, &base, members.len()).await?;
    println!(
        "created and registered {} proxies, all ok, in {:.1} s",
        members.len(),
        setup.elapsed().as_secs_f64()
    );

    let (mut reads, mut registers, rss) = load(&args, &client, &base, &members, &server).await;
    let (count, not_ok) = final_statuses(&client, &base).await?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("## Load");
    println!();
    println!(
        "{} proxies swept every 1 s; {} readers of `/api/v2/regions`, {} re-registering clients; {} s; release build, 2 shared cores, loopback.",
        args.proxies, args.readers, args.registerers, args.seconds
    );
    println!();
    println!("| kind | requests | failures | req/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, samples) in [
        ("GET /api/v2/regions", &mut reads),
        ("POST …/me/register", &mut registers),
    ] {
        let (p50, p99) = (samples.percentile(50.0), samples.percentile(99.0));
        println!(
            "| {name} | {} | {} | {:.0} | {:.2} | {:.2} |",
            samples.total(),
            samples.failures,
            samples.total() as f64 / args.seconds as f64,
            ms(p50),
            ms(p99),
        );
    }
    println!();
    let rss_text: Vec<String> = rss
        .iter()
        .map(|(label, kib)| format!("{label}: {:.1} MiB", *kib as f64 / 1024.0))
        .collect();
    println!("Server RSS: {}.", rss_text.join(", "));
    println!(
        "At the end: {count} proxies listed, {} not `ok` ({} `unknown`).",
        not_ok.len(),
        not_ok.iter().filter(|s| s.as_str() == "unknown").count()
    );
    for reason in reads.reasons.iter().chain(&registers.reasons) {
        println!("failure: {reason}");
    }

    let lost = count != args.proxies || not_ok.iter().any(|s| s == "unknown");
    let ok = reads.failures == 0 && registers.failures == 0 && !lost;
    println!("{}", if ok { "PASS" } else { "FAIL" });
    drop(server);
    fleet.shutdown().await;
    Ok(ok)
}

async fn create_and_register(
    client: &reqwest::Client,
    base: &str,
    fleet: &Fleet,
) -> anyhow::Result<Vec<Member>> {
    let results: Vec<anyhow::Result<Member>> =
        futures::stream::iter(fleet.proxies().iter().cloned())
            .map(|proxy| async move {
                let created: Value = client
                    .post(format!("{base}/api/v2/workspaceproxies"))
                    .bearer_auth(ADMIN)
                    .json(&json!({"name": format!("load-{:04}", proxy.index)}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let token = created["proxy_token"]
                    .as_str()
                    .context("no proxy_token")?
                    .to_owned();
                let member = Member {
                    token,
                    url: proxy.url.clone(),
                    replica_id: Uuid::new_v4(),
                };
                client
                    .post(format!("{base}/api/v2/workspaceproxies/me/register"))
                    .header("Coder-External-Proxy-Token", &member.token)
                    .json(&registration(&member))
                    .send()
                    .await?
                    .error_for_status()?;
                Ok(member)
            })
            .buffer_unordered(32)
            .collect()
            .await;
    results.into_iter().collect()
}

/// The statuses of every listed proxy: how many, and the ones not `ok`.
async fn final_statuses(
    client: &reqwest::Client,
    base: &str,
) -> anyhow::Result<(usize, Vec<String>)> {
    let list: Value = client
        .get(format!("{base}/api/v2/workspaceproxies"))
        .bearer_auth(ADMIN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let regions = list["regions"].as_array().context("no regions")?;
    let not_ok = regions
        .iter()
        .map(|p| {
            p["status"]["status"]
                .as_str()
                .unwrap_or("missing")
                .to_owned()
        })
        .filter(|s| s != "ok")
        .collect();
    Ok((regions.len(), not_ok))
}

async fn wait_all_ok(client: &reqwest::Client, base: &str, want: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (count, not_ok) = final_statuses(client, base).await?;
        if count == want && not_ok.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "after 60 s, {count} proxies listed and {} not ok",
                not_ok.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The load phase: readers, registerers and the RSS samples.
async fn load(
    args: &Args,
    client: &reqwest::Client,
    base: &str,
    members: &[Member],
    server: &Server,
) -> (Samples, Samples, Vec<(&'static str, u64)>) {
    let duration = Duration::from_secs(args.seconds.max(1));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let want = members.len();
    let readers: Vec<_> = (0..args.readers)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/api/v2/regions");
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match client.get(&url).send().await {
                        Ok(response) if response.status() == 200 => {
                            match response.json::<Value>().await {
                                Ok(body)
                                    if body["regions"].as_array().map(Vec::len) == Some(want) =>
                                {
                                    samples.latencies.push(sent.elapsed());
                                }
                                Ok(body) => samples.fail(format!(
                                    "regions: {} regions",
                                    body["regions"].as_array().map_or(0, Vec::len)
                                )),
                                Err(err) => samples.fail(format!("regions body: {err}")),
                            }
                        }
                        Ok(response) => samples.fail(format!("regions: {}", response.status())),
                        Err(err) => samples.fail(format!("regions: {err}")),
                    }
                }
                samples
            })
        })
        .collect();
    let registerers: Vec<_> = (0..args.registerers)
        .map(|i| {
            let client = client.clone();
            let url = format!("{base}/api/v2/workspaceproxies/me/register");
            let mine: Vec<Member> = members
                .iter()
                .skip(i)
                .step_by(args.registerers.max(1))
                .cloned()
                .collect();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                for member in mine.iter().cycle() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let sent = Instant::now();
                    match client
                        .post(&url)
                        .header("Coder-External-Proxy-Token", &member.token)
                        .json(&registration(member))
                        .send()
                        .await
                    {
                        Ok(response) if response.status() == 201 => {
                            let _ = response.bytes().await;
                            samples.latencies.push(sent.elapsed());
                        }
                        Ok(response) => samples.fail(format!("register: {}", response.status())),
                        Err(err) => samples.fail(format!("register: {err}")),
                    }
                }
                samples
            })
        })
        .collect();
    let mut rss = Vec::new();
    for (label, quarter) in [("25%", 1u32), ("50%", 2), ("75%", 3), ("100%", 4)] {
        let at = started + duration * quarter / 4;
        tokio::time::sleep_until(at).await;
        rss.push((label, server.rss_kib().unwrap_or(0)));
    }
    let mut reads = Samples::default();
    for reader in readers {
        match reader.await {
            Ok(samples) => reads.merge(samples),
            Err(err) => reads.fail(format!("reader task: {err}")),
        }
    }
    let mut registers = Samples::default();
    for registerer in registerers {
        match registerer.await {
            Ok(samples) => registers.merge(samples),
            Err(err) => registers.fail(format!("registerer task: {err}")),
        }
    }
    (reads, registers, rss)
}
