//! A fleet's proxies created and registered through the API, as an admin and
//! then each proxy with its own token would, and the wait until every one is
//! `ok`: what a load run does before it measures anything.

use crate::error::LoadError;
use futures::StreamExt;
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::{CreateProxyRequest, RegisterRequest};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Creations and registrations in flight at once during the setup.
pub const SETUP_CONCURRENCY: usize = 32;

/// A proxy to create: its name and the loopback URL it registers.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The proxy's name (the name rule: letters, digits, single hyphens).
    pub name: String,
    /// The URL it registers as its access URL (a simulated proxy's).
    pub url: String,
}

/// A proxy created and registered through the API.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its proxy token, as the API returned it at creation.
    pub token: String,
    /// The access URL it registers.
    pub url: String,
    /// The replica id it registers with (one per proxy, kept across registrations).
    pub replica_id: Uuid,
}

impl Member {
    /// The registration this proxy sends, every time the same (an unchanged
    /// re-registration, as a running workspace proxy sends it).
    pub fn registration(&self) -> RegisterRequest {
        RegisterRequest {
            access_url: self.url.clone(),
            derp_enabled: true,
            replica_id: self.replica_id,
            hostname: "load".to_owned(),
            version: "v2.20.0".to_owned(),
            ..RegisterRequest::default()
        }
    }
}

/// Creates every wanted proxy (as `admin`) and registers it with its own
/// token (through `client`, which sends no admin token), [`SETUP_CONCURRENCY`]
/// at a time; the members come back in the order of `wanted`.
pub async fn create_and_register(
    admin: &ApiClient,
    client: &ApiClient,
    wanted: &[Wanted],
) -> Result<Vec<Member>, LoadError> {
    let results: Vec<Result<Member, LoadError>> = futures::stream::iter(wanted.iter())
        .map(|proxy| async move {
            let request = CreateProxyRequest {
                name: proxy.name.clone(),
                ..CreateProxyRequest::default()
            };
            let created = admin.create_proxy(&request).await?;
            let member = Member {
                token: created.value.proxy_token,
                url: proxy.url.clone(),
                replica_id: Uuid::new_v4(),
            };
            client
                .register(&member.token, &member.registration())
                .await?;
            Ok(member)
        })
        .buffered(SETUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Waits (at most `limit`) until the summary counts `want` proxies, every one `ok`.
pub async fn wait_all_ok(admin: &ApiClient, want: usize, limit: Duration) -> Result<(), LoadError> {
    let started = Instant::now();
    loop {
        let counts = admin.summary().await?.value;
        if counts.total == want && counts.counts.ok == want {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(LoadError::NotReady {
                waited: limit,
                listed: counts.total,
                ok: counts.counts.ok,
                want,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
