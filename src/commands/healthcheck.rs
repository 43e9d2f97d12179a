//! `proxyhealth healthcheck`: asks a running `serve` for `GET /healthz` and
//! exits 0 when it answers `ok`, 1 otherwise with one line saying why. A
//! container's `HEALTHCHECK` (or a probe) runs it, so an image needs no curl.

use crate::cli::HealthcheckArgs;
use crate::config::resolve_server;
use proxyhealth_api::ApiClient;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// How long the answer may take: a healthy server answers `/healthz` from
/// memory, so a slow answer is itself a sign of trouble.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the server and prints one line: `ok`, or what is wrong.
pub async fn run(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let settings = resolve_server(&args.config, &args.server)?;
    let base = match &args.url {
        Some(url) => url.to_string(),
        None => format!("http://{}", local_address(settings.listen)),
    };
    let mut builder = ApiClient::builder(base.as_str()).timeout(TIMEOUT);
    if let Some(token) = settings.admin_token.as_deref() {
        builder = builder.admin_token(token);
    }
    let answer = builder
        .build()?
        .healthz()
        .await
        .map_err(|err| anyhow::anyhow!(one_line(&format!("{:#}", anyhow::Error::new(err)))))?;
    let health = answer.value;
    if health.status == "ok" {
        println!("ok");
        return Ok(ExitCode::SUCCESS);
    }
    let mut why = vec![health.status.clone()];
    if let (Some(view), Some(age)) = (&health.view, health.view_age_ms) {
        why.push(format!("view {view} ({:.1}s old)", age / 1000.0));
    }
    if let Some(error) = &health.store_error {
        why.push(format!("store: {error}"));
    }
    println!("unhealthy: {}", why.join("; "));
    Ok(ExitCode::from(crate::exit::FAILURE))
}

/// `text` on one line (a health check's output is read as one line): its
/// lines joined with `; `.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The address to reach a server listening on `listen` from the same host:
/// the unspecified address (every interface) is reached on loopback.
fn local_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

#[cfg(test)]
mod tests {
    use super::{local_address, one_line};

    #[test]
    fn a_message_of_several_lines_is_printed_on_one() {
        assert_eq!(
            one_line("Missing admin token. (401)\n  detail: Send it.\n"),
            "Missing admin token. (401); detail: Send it."
        );
    }

    #[test]
    fn every_interface_is_reached_on_loopback() {
        for (listen, reached) in [
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("[::]:9000", "[::1]:9000"),
            ("10.1.2.3:80", "10.1.2.3:80"),
        ] {
            let listen = listen.parse().expect("an address");
            assert_eq!(local_address(listen).to_string(), reached);
        }
    }
}
