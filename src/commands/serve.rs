//! `proxyhealth serve`: the engine loop plus the HTTP service, until SIGINT or SIGTERM.

use crate::cli::ServeArgs;
use crate::commands::store::{self, open};
use crate::config::{ServeSettings, units::format_byte_size};
use crate::exit::usage;
use crate::shutdown::Signals;
use crate::{limits, logging};
use anyhow::Context;
use proxyhealth_core::ProxySource;
use proxyhealth_engine::Engine;
use proxyhealth_server::{Service, ServiceConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a shutdown may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves the configuration (before logging starts, since it picks the log
/// format), then runs the server.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings =
        crate::config::resolve_serve(&args.config, &args.store, &args.probe, &args.server)?;
    logging::init(settings.log_format, "info");
    limits::raise_open_files();
    serve(settings).await
}

async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let mut signals = Signals::install()?;
    let store = open(&settings.store).await?;
    let engine = Engine::builder()
        .store(Arc::clone(&store) as Arc<dyn ProxySource>)
        .options(settings.engine.clone())
        .build()
        .map_err(|err| usage(format!("engine settings: {err}")))?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("--listen {}: cannot listen", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let config = ServiceConfig {
        admin_token: settings.admin_token.clone(),
        ..ServiceConfig::default()
    };
    let (service, generated_token) = Service::new(engine.clone(), Arc::clone(&store), config)
        .await
        .context("starting the service")?;

    let options = engine.options();
    tracing::info!(
        listen = %addr,
        store = %proxyhealth_store::redact(&store::spec(&settings.store)),
        interval = %humantime::format_duration(options.interval),
        timeout = %humantime::format_duration(options.timeout),
        parallelism = options.parallelism,
        body_cap = %format_byte_size(options.body_cap),
        rise = options.hysteresis.rise,
        fall = options.hysteresis.fall,
        "proxyhealth starting"
    );
    println!("proxyhealth listening on http://{addr}");
    println!("dashboard: http://{addr}/");
    if let Some(token) = generated_token {
        println!("admin token (shown only this once; only its hash is kept): {token}");
    }

    let shutdown = CancellationToken::new();
    let engine_task = tokio::spawn({
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        async move { engine.run(shutdown).await }
    });
    let mut serve_task = tokio::spawn(service.serve(listener, shutdown.clone()));

    let served_early = tokio::select! {
        name = signals.next() => {
            tracing::info!(signal = name, "shutting down");
            None
        }
        joined = &mut serve_task => Some(joined),
    };
    shutdown.cancel();

    let finished = async {
        let served = match served_early {
            Some(joined) => joined,
            None => serve_task.await,
        };
        let _ = engine_task.await;
        served
    };
    let outcome = tokio::select! {
        served = finished => Some(served),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "shutdown took too long; exiting anyway");
            None
        }
        name = signals.next() => {
            tracing::warn!(signal = name, "second signal; exiting at once");
            None
        }
    };
    drop(engine);
    drop(store);
    match outcome {
        Some(Ok(Ok(()))) | None => {
            tracing::info!("stopped");
            Ok(())
        }
        Some(Ok(Err(err))) => Err(anyhow::Error::new(err).context("serving HTTP")),
        Some(Err(err)) => Err(anyhow::Error::new(err).context("the HTTP service task failed")),
    }
}
