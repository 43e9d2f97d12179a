//! The other vantages' readings that reach a replica without passing through
//! its view of check results: agents' results kept by whichever replica
//! received them, read back every safety period or quarter interval, the
//! shorter (those kept since the last read, on the database's clock), and
//! whole every full-reload period; and the whole fleet judged again every
//! interval, so a vantage that went quiet is left out of the quorum on every
//! replica alike. The partial outages these judgements change are offered to
//! the store.

use crate::partials;
use crate::quiet::Quiet;
use crate::shared::Shared;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How far before the last read the next one starts: a reading is stamped
/// with its transaction's start, so one that committed just after a read was
/// stamped before it.
const OVERLAP: Duration = Duration::from_secs(5);

/// Reads the kept readings and judges the fleet again until `shutdown`.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut read = tokio::time::interval(shared.settings.readings_read());
    read.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut whole = tokio::time::interval(shared.settings.full_reload);
    whole.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut judge = tokio::time::interval(shared.settings.interval);
    judge.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // the first whole tick comes at once: the start reads everything
    let mut since: Option<OffsetDateTime> = None;
    let mut quiet = Quiet::default();
    loop {
        let from = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = whole.tick() => None,
            _ = read.tick() => since,
            _ = judge.tick() => {
                let before = shared.engine.snapshot_arc();
                let ids: Vec<Uuid> = before.statuses().keys().copied().collect();
                shared.engine.rejudge_proxies(ids.clone()).await;
                partials::offer(&shared, &before, &ids).await;
                continue;
            }
        };
        match shared.coordination.readings_since(from).await {
            Ok(kept) => {
                quiet.ok("reading the agents' kept results");
                if let Some(read_at) = kept.read_at {
                    since = Some(read_at - OVERLAP);
                }
                let before = shared.engine.snapshot_arc();
                let ids: Vec<Uuid> = kept.readings.iter().map(|(id, _)| *id).collect();
                shared.engine.take_peer_readings(kept.readings).await;
                partials::offer(&shared, &before, &ids).await;
            }
            Err(err) => quiet.warn("reading the agents' kept results", &err),
        }
    }
}
