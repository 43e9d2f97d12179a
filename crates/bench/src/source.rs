//! A tiny in-memory proxy source for the checker: the registered proxies of a
//! targets file, listed as they are (no store, no locking, no rules to check).

use proxyhealth_core::{Proxy, ProxySource, SourceError};
use time::OffsetDateTime;
use uuid::Uuid;

/// A fixed list of proxies, handed to the engine at every sweep.
#[derive(Debug, Clone)]
pub struct FixedSource {
    proxies: Vec<Proxy>,
}

impl FixedSource {
    /// Registered proxies, one per URL, named `p1`, `p2`, … in order.
    pub fn from_urls<'a>(urls: impl IntoIterator<Item = &'a str>) -> Self {
        let now = OffsetDateTime::now_utc();
        let proxies = urls
            .into_iter()
            .enumerate()
            .map(|(i, url)| Proxy {
                id: Uuid::new_v4(),
                name: format!("p{}", i + 1),
                display_name: String::new(),
                icon: String::new(),
                url: url.to_owned(),
                wildcard_hostname: String::new(),
                created_at: now,
                updated_at: now,
                deleted: false,
                token_hashed_secret: Vec::new(),
                region_id: i32::try_from(i + 1).unwrap_or(i32::MAX),
                derp_enabled: true,
                derp_only: false,
                version: String::new(),
            })
            .collect();
        FixedSource { proxies }
    }

    /// The proxies, in order.
    pub fn proxies(&self) -> &[Proxy] {
        &self.proxies
    }
}

#[async_trait::async_trait]
impl ProxySource for FixedSource {
    async fn list_proxies(&self) -> Result<Vec<Proxy>, SourceError> {
        Ok(self.proxies.clone())
    }

    async fn proxy_by_id(&self, id: Uuid) -> Result<Option<Proxy>, SourceError> {
        Ok(self.proxies.iter().find(|p| p.id == id).cloned())
    }
}
