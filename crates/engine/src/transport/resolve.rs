//! Looking up the addresses of a proxy's host name, for the lean transports.
//!
//! Two resolvers: the system's (`getaddrinfo`, honouring `/etc/hosts` and
//! `nsswitch.conf`), the default; or a DNS server the operator names
//! (`--dns-server`), asked directly over UDP (TCP for long answers) by
//! `hickory-resolver`, with no hosts file. The pipeline (`probe`) looks the
//! host up before each request, under the check's deadline, and words a lookup
//! that outlives it; here a lookup that fails is put in words, naming the host
//! (a name that does not exist is "no such host").
//!
//! The lean transports connect to the addresses they are handed. A client
//! the caller supplied looks names up itself.

use super::exchange::Failure;
use crate::error::EngineError;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use proxyhealth_core::TransportErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How proxies' host names are looked up.
#[derive(Clone)]
pub(crate) enum Resolver {
    /// The system's resolver (`getaddrinfo`).
    System,
    /// A DNS server asked directly.
    Server(Arc<TokioResolver>),
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolver::System => f.write_str("System"),
            Resolver::Server(_) => f.write_str("Server(..)"),
        }
    }
}

/// The addresses one host name was looked up to, for the request in flight.
#[derive(Debug, Clone)]
pub(crate) struct LookedUp {
    /// Its addresses, each with the request's port.
    pub(crate) addresses: Vec<SocketAddr>,
}

impl Resolver {
    /// The system's resolver, or the DNS server at `server`. The check's
    /// deadline bounds every lookup; the resolver's own timeout is the whole
    /// check's, so its "timed out" never comes first and the pipeline says
    /// how long the lookup was given.
    pub(crate) fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self, EngineError> {
        let Some(server) = server else {
            return Ok(Resolver::System);
        };
        let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut name_server.connections {
            connection.port = server.port();
        }
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 2;
        options.use_hosts_file = ResolveHosts::Never;
        // A sweep looks up many names at once.
        options.max_active_requests = 4096;
        let config = ResolverConfig::from_name_servers(vec![name_server]);
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|err| EngineError::InvalidOption {
                option: "dns_server",
                detail: format!("{server}: {err}"),
            })?;
        Ok(Resolver::Server(Arc::new(resolver)))
    }

    /// The addresses of `host` with `port`; a failure, in words naming the
    /// host, when there are none. Has no deadline of its own: the pipeline
    /// bounds it.
    pub(crate) async fn lookup(&self, host: &str, port: u16) -> Result<LookedUp, Failure> {
        let addresses: Vec<SocketAddr> = match self {
            Resolver::System => tokio::net::lookup_host((host, port))
                .await
                .map_err(|err| system_failure(host, &err))?
                .collect(),
            Resolver::Server(resolver) => resolver
                .lookup_ip(host)
                .await
                .map_err(|err| server_failure(host, &err))?
                .iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        };
        if addresses.is_empty() {
            return Err(lookup_failed(host, "the name has no addresses"));
        }
        Ok(LookedUp { addresses })
    }
}

/// The words of a lookup that outlived the check's deadline (`after`, in the
/// pipeline's words); the pipeline's to use, since it owns the deadline.
pub(crate) fn timed_out(host: &str, after: &str) -> String {
    format!("dns lookup of {host:?} timed out after {after} (the timeout covers the whole request)")
}

fn lookup_failed(host: &str, why: &str) -> Failure {
    Failure::transport(
        TransportErrorKind::Connect,
        format!("dns lookup of {host:?} failed: {why}"),
    )
}

fn no_such_host(host: &str) -> Failure {
    lookup_failed(host, "no such host (the name does not exist)")
}

/// `getaddrinfo`'s answer in words: its "name not known" answers (glibc's and
/// the BSDs' texts of `EAI_NONAME` and `EAI_NODATA`) are "no such host".
fn system_failure(host: &str, err: &std::io::Error) -> Failure {
    let text = err.to_string();
    let unknown = [
        "Name or service not known",
        "No address associated with hostname",
        "nodename nor servname provided",
    ];
    if unknown.iter().any(|words| text.contains(words)) {
        no_such_host(host)
    } else {
        lookup_failed(host, &text)
    }
}

/// The DNS server's answer in words.
fn server_failure(host: &str, err: &NetError) -> Failure {
    if err.is_nx_domain() {
        return no_such_host(host);
    }
    match err {
        NetError::Dns(DnsError::NoRecordsFound(_)) => {
            lookup_failed(host, "the name has no addresses")
        }
        NetError::Timeout => Failure::transport(
            TransportErrorKind::Timeout,
            format!("dns lookup of {host:?} timed out: the DNS server did not answer"),
        ),
        other => lookup_failed(host, &other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systems_name_not_known_is_no_such_host() {
        let err = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let Failure::Transport(error) = system_failure("nx.test", &err) else {
            panic!("a transport failure");
        };
        assert_eq!(
            error.message,
            "dns lookup of \"nx.test\" failed: no such host (the name does not exist)"
        );
    }
}
