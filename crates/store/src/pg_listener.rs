//! `PgNoticeListener`: the replicas' notification connection, over sqlx's
//! `PgListener`, made explicit about losses.
//!
//! It listens on `proxyhealth_results` and `proxyhealth_due` on a dedicated
//! connection (its own one-connection pool, so it never takes a slot of the
//! store's pool). A lost connection (`try_recv` returning `Ok(None)` or an
//! error, e.g. after `pg_terminate_backend`) is dropped and re-opened with a
//! back-off, and the next notice is [`Notice::Reconnected`]: notifications sent
//! meanwhile are gone, so the caller reloads everything.
//!
//! A half-open TCP connection (the server or the network gone without a reset)
//! never errors; so when nothing has arrived for [`ListenerSettings::ping_period`]
//! the listener sends `pg_notify` on a channel of its own through the store's
//! pool, and treats the connection as lost when that ping has not come back
//! within [`ListenerSettings::ping_timeout`]. A dead connection is thus noticed
//! within `ping_period + ping_timeout` (10 s by default).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPool, PgPoolOptions};
use tokio::time::Instant;
use uuid::Uuid;

use crate::StoreError;
use crate::coordination::{ListenerStats, Notice, NoticeSource};
use crate::error::{Backend, map_db_error};

/// The channel result writes notify, payload `<generation>:<proxy id>`.
pub const RESULTS_CHANNEL: &str = "proxyhealth_results";
/// The channel re-check requests and released leases notify, payload a proxy
/// id or empty.
pub const DUE_CHANNEL: &str = "proxyhealth_due";

/// The first wait before re-opening a lost connection; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two attempts to re-open the connection.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How the listener watches its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerSettings {
    /// Silence after which the listener pings itself.
    pub ping_period: Duration,
    /// How long a ping may take to come back before the connection counts as lost.
    pub ping_timeout: Duration,
    /// How long opening the connection may take.
    pub connect_timeout: Duration,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        ListenerSettings {
            ping_period: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A [`NoticeSource`] on PostgreSQL; see the module docs.
pub struct PgNoticeListener {
    /// The store's pool: pings are sent through it.
    pool: PgPool,
    options: PgConnectOptions,
    settings: ListenerSettings,
    listener: Option<PgListener>,
    ping_channel: String,
    stats: Arc<ListenerStats>,
    /// The connection was lost since the last notice: say so once it is back.
    lost: bool,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    next_attempt: Instant,
    backoff: Duration,
}

impl std::fmt::Debug for PgNoticeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgNoticeListener")
            .field("ping_channel", &self.ping_channel)
            .field("connected", &self.listener.is_some())
            .field("stats", &self.stats)
            .finish()
    }
}

impl PgNoticeListener {
    /// Opens the connection and starts listening; fails when the database
    /// cannot be reached now.
    pub async fn open(pool: &PgPool, settings: ListenerSettings) -> Result<Self, StoreError> {
        let now = Instant::now();
        let mut this = PgNoticeListener {
            pool: pool.clone(),
            options: (*pool.connect_options()).clone(),
            settings,
            listener: None,
            ping_channel: format!("proxyhealth_ping_{}", Uuid::new_v4().simple()),
            stats: Arc::new(ListenerStats::default()),
            lost: false,
            last_heard: now,
            ping_sent: None,
            next_attempt: now,
            backoff: MIN_BACKOFF,
        };
        let listener = this.connect().await?;
        this.listener = Some(listener);
        this.stats.set_connected(true);
        Ok(this)
    }

    /// The backend process id of the listening session (for tests that kill it).
    pub async fn backend_pid(&mut self) -> Option<i32> {
        let listener = self.listener.as_mut()?;
        // A query on the listener's own connection; PgListener is an Executor.
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(listener)
            .await
            .ok()
    }

    async fn connect(&self) -> Result<PgListener, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(self.settings.connect_timeout)
            .max_lifetime(None)
            .idle_timeout(None)
            .test_before_acquire(false)
            .connect_lazy_with(self.options.clone());
        let mut listener = PgListener::connect_with(&pool).await.map_err(db_err)?;
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        listener
            .listen_all([RESULTS_CHANNEL, DUE_CHANNEL, self.ping_channel.as_str()])
            .await
            .map_err(db_err)?;
        Ok(listener)
    }

    fn lose(&mut self) {
        self.listener = None;
        self.lost = true;
        self.ping_sent = None;
        self.stats.set_connected(false);
        self.next_attempt = Instant::now();
        self.backoff = MIN_BACKOFF;
    }

    fn ping(&mut self) {
        self.ping_sent = Some(Instant::now());
        let pool = self.pool.clone();
        let channel = self.ping_channel.clone();
        tokio::spawn(async move {
            // an error is a lost ping: the timeout decides
            let _ = sqlx::query("SELECT pg_notify($1, '')")
                .bind(channel)
                .execute(&pool)
                .await;
        });
    }

    fn parse(&self, n: &PgNotification) -> Option<Notice> {
        match n.channel() {
            RESULTS_CHANNEL => {
                let (generation, id) = n.payload().split_once(':')?;
                Some(Notice::Result {
                    generation: generation.parse().ok()?,
                    proxy_id: id.parse().ok()?,
                })
            }
            DUE_CHANNEL => Some(Notice::Due {
                proxy_id: n.payload().parse().ok(),
            }),
            _ => None,
        }
    }
}

#[async_trait::async_trait]
impl NoticeSource for PgNoticeListener {
    async fn recv(&mut self) -> Notice {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                tokio::time::sleep_until(self.next_attempt).await;
                match self.connect().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.stats.set_connected(true);
                        self.last_heard = Instant::now();
                        self.ping_sent = None;
                        self.backoff = MIN_BACKOFF;
                        if std::mem::take(&mut self.lost) {
                            self.stats.count_reconnect();
                            return Notice::Reconnected;
                        }
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "notification connection still down");
                        self.next_attempt = Instant::now() + self.backoff;
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };
            let deadline = match self.ping_sent {
                Some(sent) => sent + self.settings.ping_timeout,
                None => self.last_heard + self.settings.ping_period,
            };
            match tokio::time::timeout_at(deadline, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => {
                    self.last_heard = Instant::now();
                    self.ping_sent = None;
                    if let Some(notice) = self.parse(&notification) {
                        return notice;
                    }
                }
                Ok(Ok(None)) => {
                    tracing::warn!("notification connection lost; reconnecting");
                    self.lose();
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "notification connection failed; reconnecting");
                    self.lose();
                }
                Err(_elapsed) if self.ping_sent.is_some() => {
                    tracing::warn!("notification connection silent past its ping; reconnecting");
                    self.stats.count_ping_lost();
                    self.lose();
                }
                Err(_elapsed) => self.ping(),
            }
        }
    }

    fn stats(&self) -> Arc<ListenerStats> {
        self.stats.clone()
    }
}

fn db_err(err: sqlx::Error) -> StoreError {
    match map_db_error(Backend::Postgres, err, None) {
        StoreError::Internal(m) => StoreError::Unavailable(m),
        other => other,
    }
}
