//! The agents' roster kept in step with the store: every period this
//! process writes the agents it saw since the last write and reads back
//! every agent the store keeps (seen by any replica), so every replica of a
//! cluster lists the same agents with their liveness, and shares each
//! vantage's proxies among all of its live agents, whichever replica each
//! reaches. At start the first read comes at once: a restarted service
//! knows its agents before they ask again.

use crate::agents::AgentRoster;
use proxyhealth_store::VantageStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The longest period between two writes and reads of the agents.
const LONGEST: Duration = Duration::from_secs(1);

/// How often the roster is written and read for a sweep `interval`: every
/// second, or every quarter interval when that is shorter, so an agent seen
/// by one replica is seen live by the others well within the two intervals
/// it stays live.
pub(crate) fn period(interval: Duration) -> Duration {
    LONGEST.min(interval / 4).max(Duration::from_millis(10))
}

/// Writes and reads the roster every `every` until `shutdown`; a failure is
/// logged and the roster held is kept.
pub(crate) async fn run(
    roster: Arc<AgentRoster>,
    store: Arc<dyn VantageStore>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let outcome = async {
            let seen = roster.unsaved();
            store.keep_agents(&seen).await?;
            store.agents().await
        }
        .await;
        match outcome {
            Ok(kept) => {
                if failing {
                    tracing::info!("keeping the agents' roster in the store works again");
                    failing = false;
                }
                roster.merge(kept);
            }
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "keeping the agents' roster in the store failed; each replica lists the agents it sees");
            }
            Err(err) => tracing::debug!(error = %err, "keeping the agents' roster failed again"),
        }
    }
}
