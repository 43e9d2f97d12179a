//! `proxyhealth demo`: the service on a temporary SQLite database with a
//! simulated fleet on loopback that covers every state, registered through the
//! real API as real proxies would, until Ctrl-C or SIGTERM.
//!
//! - [`fleet`]: the planned proxies and their simulated servers;
//! - [`icons`]: their flags, served from loopback;
//! - [`banner`]: what the demo prints.

mod banner;
mod fleet;
mod icons;

use crate::exit::{app_error, usage};
use crate::shutdown::Signals;
use anyhow::Context;
use clap::Args;
use icons::IconServer;
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::{CreateProxyRequest, RegisterRequest};
use proxyhealth_engine::EngineOptions;
use proxyhealth_server::{
    AppError, AppSettings, AppStore, Application, SHUTDOWN_GRACE, ServiceConfig, Stopped,
};
use proxyhealth_store::OpenOptions;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the demo proxies register again, like Coder's workspace proxies.
pub const REREGISTER_EVERY: Duration = Duration::from_secs(15);
/// How long one call of the demo's own API may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// `demo`'s flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the service listens (a loopback address; port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The admin token [default: a generated one]
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// Time between sweeps (short, so changes show within seconds)
    #[arg(long, value_name = "DURATION", value_parser = crate::config::units::parse_positive_duration, default_value = "2s")]
    pub interval: Duration,
    /// Bound on one check (short, so the hanging proxy resolves quickly)
    #[arg(long, value_name = "DURATION", value_parser = crate::config::units::parse_positive_duration, default_value = "1500ms")]
    pub timeout: Duration,
}

/// One registered demo proxy, as its re-registration needs it.
struct Registered {
    token: String,
    url: String,
    wildcard: String,
    replica: Uuid,
}

impl Registered {
    /// The registration this proxy sends, as a workspace proxy would.
    fn request(&self) -> RegisterRequest {
        RegisterRequest {
            access_url: self.url.clone(),
            wildcard_hostname: self.wildcard.clone(),
            derp_enabled: true,
            derp_only: false,
            replica_id: self.replica,
            hostname: "proxyhealth-demo".to_owned(),
            replica_error: String::new(),
            replica_relay_address: String::new(),
            version: proxyhealth_sim::bodies::BUILD_VERSION.to_owned(),
        }
    }
}

/// Runs the demo until SIGINT or SIGTERM, then stops everything and removes the
/// temporary directory.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        return Err(usage(format!(
            "--listen {}: the demo listens on loopback only (127.0.0.0/8 or ::1)",
            args.listen
        )));
    }
    if args
        .admin_token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        return Err(usage("--admin-token: must not be empty"));
    }
    let signals = Signals::install()?;
    let dir = tempfile::Builder::new()
        .prefix("proxyhealth-demo-")
        .tempdir()
        .context("creating the demo's temporary directory")?;
    let stop = CancellationToken::new();
    // Whatever way this function returns, the tasks below stop.
    let _stop_on_return = stop.clone().drop_guard();

    let outcome = run_in(&args, dir.path(), &stop, &signals).await;
    stop.cancel();
    let dir_shown = dir.path().display().to_string();
    dir.close()
        .with_context(|| format!("removing {dir_shown}"))?;
    if outcome.is_ok() {
        println!("stopped; removed {dir_shown}");
    }
    outcome
}

async fn run_in(
    args: &DemoArgs,
    dir: &Path,
    stop: &CancellationToken,
    signals: &Signals,
) -> anyhow::Result<()> {
    let store = AppStore::Open {
        spec: format!("sqlite://{}", dir.join("demo.db").display()),
        options: OpenOptions::default(),
    };
    let app = Application::build(AppSettings {
        engine: EngineOptions {
            interval: args.interval,
            timeout: args.timeout,
            ..EngineOptions::default()
        },
        service: ServiceConfig {
            admin_token: args.admin_token.clone(),
            ..ServiceConfig::default()
        },
        ..AppSettings::new(args.listen, store)
    })
    .await
    .map_err(|err| match err {
        AppError::Store(err) => {
            anyhow::Error::new(err).context("opening the demo's SQLite database")
        }
        err => app_error(err),
    })?;
    let addr = app.addr();
    let admin_token = match (&args.admin_token, app.generated_admin_token()) {
        (Some(token), _) => token.clone(),
        (None, Some(token)) => token.to_owned(),
        (None, None) => anyhow::bail!("the service generated no admin token"),
    };

    let first = async {
        let name = signals.nth(1).await;
        println!("{name}: stopping the demo");
        stop.cancel();
    };
    let running = app.run_until_stopped(first);
    tokio::pin!(running);
    let start_fleet = async {
        let icons = IconServer::start(stop.clone())
            .await
            .context("starting the icon server")?;
        let fleet = fleet::start().await?;
        let api = ApiClient::builder(format!("http://{addr}"))
            .admin_token(admin_token.as_str())
            .timeout(API_TIMEOUT)
            .build()?;
        let registered = create_and_register(&api, &icons, &fleet).await?;

        let targets = dir.join("targets.txt");
        std::fs::write(&targets, fleet::targets_file(&fleet))
            .with_context(|| format!("writing {}", targets.display()))?;
        banner::print(&banner::Banner {
            addr,
            admin_token: &admin_token,
            targets: &targets,
            dir,
            interval: args.interval,
            timeout: args.timeout,
            fleet: &fleet,
        });
        let reregister = tokio::spawn(reregister_loop(api, registered, stop.clone()));
        anyhow::Ok((fleet, reregister))
    };
    // The fleet starts while the service runs, since it registers through the
    // API; a signal meanwhile stops the start-up rather than failing it.
    let started = tokio::select! {
        biased;
        () = stop.cancelled() => None,
        stopped = &mut running => return said_stopped(stopped),
        started = start_fleet => Some(started?),
    };

    let stopped = tokio::select! {
        stopped = &mut running => stopped,
        name = signals.nth(2) => {
            eprintln!("{name} again: exiting at once");
            return Ok(());
        }
    };
    stop.cancel();
    if let Some((fleet, reregister)) = started {
        drop(fleet);
        let _ = reregister.await;
    }
    said_stopped(stopped)
}

/// The outcome of running the service, with a word when stopping took too long.
fn said_stopped(stopped: Result<Stopped, AppError>) -> anyhow::Result<()> {
    if stopped.map_err(app_error)? == Stopped::GraceExpired {
        eprintln!(
            "stopping took over {}s; exiting anyway",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// Creates every demo proxy through the API, then registers each one that has a
/// simulated server with its own token.
async fn create_and_register(
    api: &ApiClient,
    icons: &IconServer,
    fleet: &[fleet::Running],
) -> anyhow::Result<Vec<Registered>> {
    let mut registered = Vec::new();
    for running in fleet {
        let member = running.member;
        let request = CreateProxyRequest {
            name: member.name.to_owned(),
            display_name: member.display_name.to_owned(),
            icon: icons.url(member.flag),
        };
        let token = api
            .create_proxy(&request)
            .await
            .with_context(|| format!("creating the proxy {}", member.name))?
            .value
            .proxy_token;
        if running.url().is_empty() {
            continue;
        }
        let entry = Registered {
            token,
            url: running.url().to_owned(),
            wildcard: format!("*.{}.proxies.localhost", member.name),
            replica: Uuid::new_v4(),
        };
        api.register(&entry.token, &entry.request())
            .await
            .with_context(|| format!("registering {}", entry.url))?;
        registered.push(entry);
    }
    Ok(registered)
}

/// Registers every proxy again every [`REREGISTER_EVERY`], as Coder's proxies
/// do, until `stop` is cancelled; a failure is logged and retried next time.
async fn reregister_loop(api: ApiClient, registered: Vec<Registered>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(REREGISTER_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        for entry in &registered {
            let request = entry.request();
            let register = api.register(&entry.token, &request);
            let result = tokio::select! {
                () = stop.cancelled() => return,
                result = register => result,
            };
            if let Err(err) = result.with_context(|| format!("registering {}", entry.url)) {
                tracing::warn!(url = %entry.url, "demo proxy could not register again: {err:#}");
            }
        }
    }
}
