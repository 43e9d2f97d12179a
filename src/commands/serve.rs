//! `proxyhealth serve`: the engine loop plus the HTTP service, until SIGINT or SIGTERM.

use crate::cli::ServeArgs;
use crate::commands::store;
use crate::config::{ServeSettings, units::format_byte_size};
use crate::exit::app_error;
use crate::shutdown::Signals;
use crate::{limits, logging, readiness};
use proxyhealth_server::{AppSettings, Application, SHUTDOWN_GRACE, ServiceConfig, Stopped};

/// Resolves the configuration (before logging starts, since it picks the log
/// format), then runs the server.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = crate::config::resolve_serve(
        &args.config,
        &args.store,
        &args.probe,
        &args.server,
        &args.notify,
    )?;
    let oidc = crate::config::resolve_oidc(
        &args.config,
        &args.oidc,
        settings.notify.public_url.as_ref(),
    )?;
    logging::init(settings.log_format, "info");
    limits::raise_open_files();
    serve(settings, oidc).await
}

async fn serve(
    settings: ServeSettings,
    oidc: Option<proxyhealth_server::oidc::OidcSettings>,
) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let app = Application::build(AppSettings {
        listen: settings.listen,
        store: store::app_store(&settings.store),
        engine: settings.engine.clone(),
        service: ServiceConfig {
            admin_token: settings.admin_token.clone(),
            public_reads: settings.public_reads,
            oidc,
            ..ServiceConfig::default()
        },
        sweep_loop: true,
        second_opinion: settings.second_opinion,
        notify: settings.notify.clone(),
        history_retention: settings.history_retention,
        audit_retention: settings.audit_retention,
    })
    .await
    .map_err(app_error)?;

    let addr = app.addr();
    let options = app.engine().options();
    tracing::info!(
        listen = %addr,
        store = %proxyhealth_store::redact(&store::spec(&settings.store)),
        interval = %humantime::format_duration(options.interval),
        timeout = %humantime::format_duration(options.timeout),
        parallelism = options.parallelism,
        body_cap = %format_byte_size(options.body_cap),
        rise = options.hysteresis.rise,
        fall = options.hysteresis.fall,
        notify_targets = settings.notify.targets.len(),
        "proxyhealth starting"
    );
    // One write, so whoever reads the banner sees all of it at once (a
    // generated token included) or none of it.
    let mut banner = format!("proxyhealth listening on http://{addr}\ndashboard: http://{addr}/\n");
    if let Some(token) = app.generated_admin_token() {
        banner.push_str(&format!(
            "admin token (shown only this once; only its hash is kept): {token}\n"
        ));
    }
    print!("{banner}");

    // spawned before the sweep loop starts, so its first sweep is not missed
    let ready = tokio::spawn(readiness::announce_when_ready(app.engine().clone(), addr));
    let first = async {
        let name = signals.nth(1).await;
        tracing::info!(signal = name, "shutting down");
        readiness::stopping();
    };
    tokio::select! {
        stopped = app.run_until_stopped(first) => {
            if stopped.map_err(app_error)? == Stopped::GraceExpired {
                tracing::warn!(grace = ?SHUTDOWN_GRACE, "shutdown took too long; exiting anyway");
            }
        }
        name = signals.nth(2) => {
            tracing::warn!(signal = name, "second signal; exiting at once");
        }
    }
    ready.abort();
    tracing::info!("stopped");
    Ok(())
}
