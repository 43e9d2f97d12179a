//! `proxyhealth-bench serve-regions`: the service with `count` registered proxies
//! (all refused, so the sweep is quick and every region is listed), for `wrk` to
//! load `GET /api/v2/regions` and, as the baseline, `GET /healthz`.

use anyhow::Context;
use proxyhealth_server::{AppSettings, AppStore, Application};
use proxyhealth_store::{MemoryStore, NewProxy, ProxyStore, Registration};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// The options of `serve-regions`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeRegionsArgs {
    /// Registered proxies.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
}

/// The `ready` line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServeReady {
    /// The service's base URL.
    pub url: String,
    /// Proxies in the snapshot after the first sweep.
    pub proxies: usize,
    /// Seconds the first sweep took.
    pub sweep_s: f64,
}

/// A loopback port nothing listens on right now (bound, then released).
pub fn refused_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("bind a probe port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// The URL of the `i`-th refused proxy: a distinct 127.3.x.y address on `port`.
pub fn refused_url(i: usize, port: u16) -> String {
    let a = (i / 250) % 256;
    let b = i % 250 + 1;
    format!("http://127.3.{a}.{b}:{port}")
}

/// Fills a store with `count` registered proxies and serves until stdin closes.
pub async fn run(args: ServeRegionsArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let store = Arc::new(MemoryStore::new());
    let port = refused_port()?;
    for i in 0..args.count {
        let created = store
            .create_proxy(NewProxy {
                name: format!("region-{i}"),
                display_name: format!("Region {i}"),
                icon: "/emojis/1f30d.png".to_owned(),
            })
            .await?;
        store
            .register_proxy(
                created.proxy.id,
                Registration {
                    url: refused_url(i, port),
                    wildcard_hostname: format!("*.r{i}.example.com"),
                    derp_enabled: true,
                    derp_only: false,
                    version: "v2.20.0".to_owned(),
                },
            )
            .await?;
    }
    let app = Application::build(AppSettings {
        sweep_loop: false,
        ..AppSettings::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            AppStore::Ready(store),
        )
    })
    .await?;
    let started = Instant::now();
    let snapshot = app.engine().force_update().await?;
    let sweep_s = started.elapsed().as_secs_f64();
    let ready = ServeReady {
        url: format!("http://{}", app.addr()),
        proxies: snapshot.statuses().len(),
        sweep_s,
    };
    let running = tokio::spawn(app.run_until_stopped(async {
        let mut lines = crate::stdin::lines();
        while lines.recv().await.is_some() {}
    }));
    println!("{}", serde_json::to_string(&ready)?);
    running.await??;
    Ok(())
}
