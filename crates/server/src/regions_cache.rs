//! The body of `GET /api/v2/regions`, rendered once per snapshot.
//!
//! `/regions` is the route every client polls, so it is served from the engine's
//! snapshot (not the store) and its JSON is rendered only when a new snapshot is
//! published: between sweeps, every read is a reference-counted copy of the same
//! bytes. The snapshot holds every proxy this replica knows: a proxy created,
//! edited or deleted through this service enters or leaves it at once (the
//! service re-checks or forgets it); one changed through another replica appears
//! at the next sweep, as in Coder, where each replica keeps its own view.

use crate::order::by_name;
use arc_swap::ArcSwapOption;
use axum::body::Bytes;
use proxyhealth_api::wire::{Region, RegionsResponse};
use proxyhealth_engine::Snapshot;
use std::sync::Arc;

/// The last rendered body and the snapshot generation it was rendered from.
#[derive(Default)]
pub(crate) struct RegionsCache {
    rendered: ArcSwapOption<Rendered>,
}

struct Rendered {
    generation: u64,
    body: Bytes,
}

impl RegionsCache {
    /// The JSON body for `snapshot`, rendered now only if it was not yet.
    pub fn body(&self, snapshot: &Snapshot) -> Result<Bytes, serde_json::Error> {
        if let Some(rendered) = self.rendered.load().as_ref()
            && rendered.generation == snapshot.generation()
        {
            return Ok(rendered.body.clone());
        }
        let body = Bytes::from(render(snapshot)?);
        self.rendered.store(Some(Arc::new(Rendered {
            generation: snapshot.generation(),
            body: body.clone(),
        })));
        Ok(body)
    }
}

/// Coder's regions: every proxy of the snapshot but the derp-only ones, by name.
fn render(snapshot: &Snapshot) -> Result<Vec<u8>, serde_json::Error> {
    let mut statuses: Vec<_> = snapshot
        .statuses()
        .values()
        .filter(|status| !status.proxy.derp_only && !status.proxy.deleted)
        .collect();
    statuses.sort_by(|a, b| by_name(&a.proxy, &b.proxy));
    let regions = statuses
        .into_iter()
        .map(|status| Region::of(&status.proxy, status.status))
        .collect();
    serde_json::to_vec(&RegionsResponse { regions })
}
