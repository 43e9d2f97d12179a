//! The time from a result to every replica serving it.
//!
//! The bench listens on `proxyhealth_results` like the replicas do, and
//! follows every replica's event stream (`GET /api/v2/proxyhealth/events`: one
//! `sweep` event each time the replica publishes a new view). Each notice
//! names the newest result of one batch write (`<generation>:<proxy id>`).
//! For a fresh notice (taken within 2 ms of its arrival, so the sampler never
//! works through a backlog) the bench reads that row's `checked_at` (set by
//! the write, on the database's clock) and the check time inside the stored
//! result. Then, for each replica, after each of its events it asks
//! `GET /api/v2/workspaceproxies/{id}` whether the replica serves that check
//! (or a newer one) yet; the replica's time is the arrival of its newest event
//! received before the answer that said yes (the publish that brought the
//! result, or a later one when two came close together: never earlier). The
//! sample is the last replica's time minus the row's `checked_at`: the
//! database and the bench share one machine's clock, and the figure includes
//! the write's own commit. No polling: one request per replica per publish.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

/// A sample not served by every replica within this long counts as missed.
pub const GIVE_UP: Duration = Duration::from_secs(5);
/// A notice older than this when the sampler takes it is skipped.
const FRESH: Duration = Duration::from_millis(2);

/// The samples' summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PropagationReport {
    /// Samples taken (every replica served them).
    pub samples: usize,
    /// Samples some replica had not served within [`GIVE_UP`].
    pub missed: usize,
    /// Median ms from the result's write to every replica serving it.
    pub p50_ms: f64,
    /// 90th percentile of the same.
    pub p90_ms: f64,
    /// 99th percentile of the same.
    pub p99_ms: f64,
    /// Samples above one second.
    pub over_1s: usize,
    /// The largest sample.
    pub max_ms: f64,
    /// Median ms from the write to the first replica serving it.
    pub first_p50_ms: f64,
    /// Median ms from the write (`checked_at`) to the bench receiving its notice.
    pub notice_p50_ms: f64,
}

/// What a notice said, and when it arrived.
#[derive(Debug, Clone, Copy)]
struct Notice {
    generation: i64,
    proxy_id: Uuid,
    arrived: Instant,
    arrived_at: OffsetDateTime,
}

/// The part of `GET /api/v2/workspaceproxies/{id}` the sampler reads.
#[derive(Debug, Deserialize)]
struct ProxyAnswer {
    status: StatusAnswer,
}

#[derive(Debug, Deserialize)]
struct StatusAnswer {
    #[serde(with = "time::serde::rfc3339")]
    checked_at: OffsetDateTime,
}

/// The stored check time inside a result.
#[derive(Debug, Deserialize)]
struct StoredResult {
    #[serde(with = "time::serde::rfc3339")]
    checked_at: OffsetDateTime,
}

/// Samples for `duration` against `replicas` (base URLs) on the database at
/// `db_url`, and summarises.
pub async fn measure(
    db_url: &str,
    replicas: &[String],
    admin_token: &str,
    duration: Duration,
) -> anyhow::Result<PropagationReport> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(db_url)
        .await
        .context("connect for the propagation samples")?;
    let mut listener = sqlx::postgres::PgListener::connect(db_url).await?;
    listener.listen("proxyhealth_results").await?;
    let (tx, mut notices) = watch::channel(None::<Notice>);
    let listening = tokio::spawn(async move {
        while let Ok(notification) = listener.recv().await {
            let arrived = Instant::now();
            let arrived_at = OffsetDateTime::now_utc();
            let Some((generation, id)) = notification.payload().split_once(':') else {
                continue;
            };
            let (Ok(generation), Ok(proxy_id)) = (generation.parse(), Uuid::parse_str(id)) else {
                continue;
            };
            let notice = Notice {
                generation,
                proxy_id,
                arrived,
                arrived_at,
            };
            if tx.send(Some(notice)).is_err() {
                break;
            }
        }
    });
    let client = proxyhealth_api::http::client_builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    // the streams last the whole measurement: a client without a timeout
    let streams = proxyhealth_api::http::client();
    let mut followers = Vec::with_capacity(replicas.len());
    let mut events = Vec::with_capacity(replicas.len());
    for base in replicas {
        let (tx, rx) = mpsc::unbounded_channel();
        followers.push(tokio::spawn(follow_events(
            streams.clone(),
            base.clone(),
            admin_token.to_owned(),
            tx,
        )));
        events.push(rx);
    }
    // each stream sends one event at once: wait for it, so every stream is open
    for rx in &mut events {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .context("a replica's event stream did not open")?
            .context("a replica's event stream ended")?;
    }
    let deadline = Instant::now() + duration;
    let mut all = Vec::new();
    let mut first = Vec::new();
    let mut notice = Vec::new();
    let mut missed = 0;
    while Instant::now() < deadline {
        let changed = tokio::time::timeout_at(deadline, notices.changed()).await;
        if !matches!(changed, Ok(Ok(()))) {
            break;
        }
        let Some(next) = *notices.borrow_and_update() else {
            continue;
        };
        if next.arrived.elapsed() > FRESH {
            continue;
        }
        match sample(&pool, &client, replicas, &mut events, admin_token, next).await? {
            Outcome::Served(Sample {
                all: a,
                first: f,
                notice: n,
            }) => {
                all.push(a);
                first.push(f);
                notice.push(n);
            }
            Outcome::Missed => missed += 1,
            Outcome::Skipped => {}
        }
    }
    listening.abort();
    for follower in followers {
        follower.abort();
    }
    pool.close().await;
    Ok(PropagationReport {
        samples: all.len(),
        missed,
        p50_ms: percentile(&mut all, 0.50),
        p90_ms: percentile(&mut all, 0.90),
        p99_ms: percentile(&mut all, 0.99),
        over_1s: all.iter().filter(|ms| **ms > 1000.0).count(),
        max_ms: all.iter().copied().fold(0.0, f64::max),
        first_p50_ms: percentile(&mut first, 0.50),
        notice_p50_ms: percentile(&mut notice, 0.50),
    })
}

/// One sample's times, ms after the write.
struct Sample {
    all: f64,
    first: f64,
    notice: f64,
}

/// How one sample ended.
enum Outcome {
    /// Every replica served the result.
    Served(Sample),
    /// A replica did not serve it within [`GIVE_UP`].
    Missed,
    /// The row was gone or written again before it was read: no sample.
    Skipped,
}

/// Times one notice's result on every replica.
async fn sample(
    pool: &PgPool,
    client: &reqwest::Client,
    replicas: &[String],
    events: &mut [mpsc::UnboundedReceiver<OffsetDateTime>],
    admin_token: &str,
    notice: Notice,
) -> anyhow::Result<Outcome> {
    let row = sqlx::query(
        "SELECT checked_at, result::text, generation FROM proxyhealth_checks WHERE proxy_id = $1",
    )
    .bind(notice.proxy_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(Outcome::Skipped);
    };
    let generation: i64 = row.try_get(2)?;
    if generation != notice.generation {
        return Ok(Outcome::Skipped);
    }
    let written: OffsetDateTime = row.try_get(0)?;
    let result: String = row.try_get(1)?;
    let stored: StoredResult = serde_json::from_str(&result).context("read a stored result")?;
    let polls = replicas
        .iter()
        .zip(events.iter_mut())
        .map(|(base, events)| {
            let url = format!("{base}/api/v2/workspaceproxies/{}", notice.proxy_id);
            first_serving(client, url, admin_token, events, written, stored.checked_at)
        });
    let served = futures::future::join_all(polls).await;
    let mut times = Vec::with_capacity(served.len());
    for at in served {
        match at {
            Some(at) => times.push(ms_between(written, at)),
            None => return Ok(Outcome::Missed),
        }
    }
    Ok(Outcome::Served(Sample {
        all: times.iter().copied().fold(f64::MIN, f64::max),
        first: times.iter().copied().fold(f64::MAX, f64::min),
        notice: ms_between(written, notice.arrived_at),
    }))
}

/// When the replica behind `url` first served a check at or after
/// `checked_at`: the arrival of its newest event (not before `written`)
/// received before an answer said so; `None` after [`GIVE_UP`].
async fn first_serving(
    client: &reqwest::Client,
    url: String,
    admin_token: &str,
    events: &mut mpsc::UnboundedReceiver<OffsetDateTime>,
    written: OffsetDateTime,
    checked_at: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let give_up = Instant::now() + GIVE_UP;
    // the newest publish at or after the write seen so far
    let mut newest: Option<OffsetDateTime> = None;
    drain(events, &mut newest, written);
    loop {
        let serving = serves(client, &url, admin_token, checked_at).await;
        drain(events, &mut newest, written);
        if serving && let Some(at) = newest {
            return Some(at);
        }
        // wait for the next publish (or, when serving already, for the event
        // of the publish that brought it, still on its way)
        let next = tokio::time::timeout_at(give_up, events.recv()).await;
        match next {
            Ok(Some(at)) => {
                if at >= written {
                    newest = Some(newest.map_or(at, |n| n.max(at)));
                }
            }
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Takes the events received so far: `newest` becomes the latest at or after `written`.
fn drain(
    events: &mut mpsc::UnboundedReceiver<OffsetDateTime>,
    newest: &mut Option<OffsetDateTime>,
    written: OffsetDateTime,
) {
    while let Ok(at) = events.try_recv() {
        if at >= written {
            *newest = Some(newest.map_or(at, |n| n.max(at)));
        }
    }
}

/// Whether the replica at `url` answers with a check at or after `checked_at`.
async fn serves(
    client: &reqwest::Client,
    url: &str,
    admin_token: &str,
    checked_at: OffsetDateTime,
) -> bool {
    let Ok(answer) = client.get(url).bearer_auth(admin_token).send().await else {
        return false;
    };
    match answer.json::<ProxyAnswer>().await {
        Ok(proxy) => proxy.status.checked_at >= checked_at,
        Err(_) => false,
    }
}

/// Follows a replica's event stream and sends the arrival time of each
/// `sweep` event until the stream ends.
async fn follow_events(
    client: reqwest::Client,
    base: String,
    admin_token: String,
    events: mpsc::UnboundedSender<OffsetDateTime>,
) -> anyhow::Result<()> {
    let mut answer = client
        .get(format!("{base}/api/v2/proxyhealth/events"))
        .bearer_auth(admin_token)
        .send()
        .await?
        .error_for_status()?;
    let mut buffer = String::new();
    while let Some(chunk) = answer.chunk().await? {
        let at = OffsetDateTime::now_utc();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|line| line.starts_with("event:")) && events.send(at).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn ms_between(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    (to - from).as_seconds_f64() * 1e3
}

/// The `q` quantile (nearest rank) of `values`; 0 when empty.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut values, 0.50), 50.0);
        assert_eq!(percentile(&mut values, 0.99), 99.0);
        assert_eq!(percentile(&mut [], 0.99), 0.0);
        assert_eq!(percentile(&mut [7.0], 0.99), 7.0);
    }
}
