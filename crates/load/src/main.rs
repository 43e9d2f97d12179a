//! `proxyhealth-load`: a bounded, loopback-only load run against the real binary
//! (the pieces it is made of are in the library, shared with the bench).
//!
//! Starts a simulated fleet of healthy proxies (`proxyhealth-sim`) on loopback
//! addresses, starts `proxyhealth serve` on a temporary SQLite file sweeping every
//! second, creates and registers every proxy through the API, then for a fixed
//! time runs readers of `/api/v2/regions` and clients re-registering proxies with
//! their tokens. Reports requests, failures, p50/p99 latency per kind, whether
//! every proxy still has a status, and the server's RSS at the start and at
//! 25/50/75/100 % of the run. Exits 1 if any request failed or a status was lost. Run by `scripts/load`.
//! Every call goes through the typed client of `proxyhealth-api`.

use anyhow::Context;
use clap::Parser;
use proxyhealth_api::ApiClient;
use proxyhealth_load::serve::{ServeSpec, Server};
use proxyhealth_load::setup::{Member, Wanted, create_and_register, wait_all_ok};
use proxyhealth_load::stats::{Samples, failure};
use proxyhealth_sim::{Fleet, FleetSpec, Kind};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

/// The admin token of the server under load (loopback only, thrown away).
const ADMIN: &str = "load-run-admin-token";
/// The server's `--interval`; each memory reading is the highest over one.
const SERVE_INTERVAL: Duration = Duration::from_secs(1);

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

async fn run(args: Args) -> anyhow::Result<bool> {
    proxyhealth_sim::raise_fd_limit().context("raise the open-file limit")?;
    let fleet = Fleet::start(FleetSpec::uniform(Kind::Ok, args.proxies))
        .await
        .context("start the simulated fleet")?;
    let dir = tempfile::tempdir().context("temp dir")?;
    let log = dir.path().join("serve.log");
    let spec = ServeSpec::sqlite(
        &dir.path().join("proxyhealth.db"),
        SERVE_INTERVAL,
        ADMIN,
        &log,
    );
    let server = Server::start(&args.bin, &spec)?;
    let base = server.url.clone();
    // The admin sets up and reads back; readers and proxies send no admin token.
    let admin = ApiClient::builder(base.as_str())
        .admin_token(ADMIN)
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .context("HTTP client")?;
    let client = ApiClient::builder(base.as_str())
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
    let wanted: Vec<Wanted> = fleet
        .proxies()
        .iter()
        .map(|proxy| Wanted {
            name: format!("load-{:04}", proxy.index),
            url: proxy.url.clone(),
        })
        .collect();
    let members = create_and_register(&admin, &client, &wanted).await?;
    wait_all_ok(&admin, members.len(), Duration::from_secs(60)).await?;
    println!(
        "created and registered {} proxies, all ok, in {:.1} s",
        members.len(),
        setup.elapsed().as_secs_f64()
    );

    let (mut reads, mut registers, rss) = load(&args, &client, &members, &server).await;
    let (count, not_ok) = final_statuses(&admin).await?;

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

/// The statuses of every listed proxy: how many, and the ones not `ok`.
async fn final_statuses(admin: &ApiClient) -> anyhow::Result<(usize, Vec<String>)> {
    let regions = admin.list_proxies().await?.value.regions;
    let not_ok = regions
        .iter()
        .map(|p| p.status.status.as_str().to_owned())
        .filter(|s| s != "ok")
        .collect();
    Ok((regions.len(), not_ok))
}

/// The load phase: readers, registerers and the RSS samples.
async fn load(
    args: &Args,
    client: &ApiClient,
    members: &[Member],
    server: &Server,
) -> (Samples, Samples, Vec<(&'static str, u64)>) {
    let duration = Duration::from_secs(args.seconds.max(1));
    let deadline = Instant::now() + duration;
    let want = members.len();
    let readers: Vec<_> = (0..args.readers)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match client.regions().await {
                        Ok(answer) if answer.value.regions.len() == want => {
                            samples.latencies.push(sent.elapsed());
                        }
                        Ok(answer) => {
                            samples.fail(format!("regions: {} regions", answer.value.regions.len()))
                        }
                        Err(err) => samples.fail(failure("regions", &err)),
                    }
                }
                samples
            })
        })
        .collect();
    let registerers: Vec<_> = (0..args.registerers)
        .map(|i| {
            let client = client.clone();
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
                    match client.register(&member.token, &member.registration()).await {
                        Ok(answer) if answer.status == 201 => {
                            samples.latencies.push(sent.elapsed());
                        }
                        Ok(answer) => samples.fail(format!("register: {}", answer.status)),
                        Err(err) => samples.fail(failure("register", &err)),
                    }
                }
                samples
            })
        })
        .collect();
    let rss = proxyhealth_load::memory::rss_at_quarters(server, duration, SERVE_INTERVAL).await;
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
