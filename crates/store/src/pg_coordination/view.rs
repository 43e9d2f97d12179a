//! [`SharedView`] on PostgreSQL: the generation row, results read in pages of
//! one snapshot each, and the `LISTEN` connection.

use sqlx::Row;
use uuid::Uuid;

use super::PgCoordination;
use crate::StoreError;
use crate::coordination::{KeptReadings, NoticeSource, ResultBatch, ResultRow, SharedView};
use crate::error::pg_err as db_err;
use crate::pg_listener::PgNoticeListener;
use crate::vantages::{reading_from_json, stored_name};
use time::OffsetDateTime;

/// Most check rows one `results_since` statement reads; more are read in
/// further pages (each its own snapshot, which is safe: results commit in
/// generation order, so a page never skips one).
const RESULTS_PAGE: i64 = 2000;

/// One page of [`PgCoordination::results_page`].
#[derive(Debug, Default)]
struct ResultsPage {
    view_generation: i64,
    rows: Vec<ResultRow>,
    last_generation: Option<i64>,
    full: bool,
}

impl PgCoordination {
    /// One page of results newer than `after`, read in one snapshot (one
    /// statement): at most [`RESULTS_PAGE`] check rows in generation order,
    /// found through the generation index (the `LIMIT` keeps the planner on
    /// it), with deleted proxies' rows dropped here. A result that does not
    /// read as a status (written by a replica of another version, say) is
    /// skipped with a warning: the next check of that proxy replaces it.
    async fn results_page(&self, after: i64) -> Result<ResultsPage, StoreError> {
        let rows = sqlx::query(
            "SELECT v.generation AS view_generation, r.* \
             FROM proxyhealth_view v LEFT JOIN LATERAL ( \
               SELECT c.proxy_id, c.vantage, c.generation, c.result::text AS result, \
                 c.checked_at, c.checked_by, \
                 COALESCE((SELECT p.deleted FROM workspace_proxies p \
                           WHERE p.id = c.proxy_id), true) AS deleted \
               FROM proxyhealth_checks c \
               WHERE c.generation > $1 AND c.generation <= v.generation \
               ORDER BY c.generation LIMIT $2) r ON true \
             WHERE v.id = 1 \
             ORDER BY r.generation",
        )
        .bind(after)
        .bind(RESULTS_PAGE)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut page = ResultsPage::default();
        let mut seen = 0;
        for row in &rows {
            page.view_generation = row.try_get("view_generation").map_err(db_err)?;
            let id: Option<Uuid> = row.try_get("proxy_id").map_err(db_err)?;
            let Some(proxy_id) = id else { continue };
            seen += 1;
            let generation: i64 = row.try_get("generation").map_err(db_err)?;
            page.last_generation = Some(generation);
            if row.try_get::<bool, _>("deleted").map_err(db_err)? {
                continue;
            }
            let text: String = row.try_get("result").map_err(db_err)?;
            let result = match serde_json::from_str(&text) {
                Ok(result) => result,
                Err(err) => {
                    tracing::warn!(%proxy_id, error = %err, "a stored result could not be read");
                    continue;
                }
            };
            page.rows.push(ResultRow {
                proxy_id,
                vantage: row.try_get("vantage").map_err(db_err)?,
                generation,
                result,
                checked_at: row.try_get("checked_at").map_err(db_err)?,
                checked_by: row.try_get("checked_by").map_err(db_err)?,
            });
        }
        page.full = seen >= RESULTS_PAGE;
        Ok(page)
    }

    /// Opens the concrete listener (what [`SharedView::listen`] boxes).
    pub async fn listener(&self) -> Result<PgNoticeListener, StoreError> {
        PgNoticeListener::open(&self.pool, self.settings.listener).await
    }
}

#[async_trait::async_trait]
impl SharedView for PgCoordination {
    async fn results_since(&self, generation: i64) -> Result<ResultBatch, StoreError> {
        let mut batch = ResultBatch::default();
        let mut after = generation;
        loop {
            let page = self.results_page(after).await?;
            batch.generation = page.view_generation;
            batch.rows.extend(page.rows);
            match page.last_generation {
                Some(last) if page.full => after = last,
                _ => return Ok(batch),
            }
        }
    }

    async fn all_results(&self) -> Result<ResultBatch, StoreError> {
        self.results_since(0).await
    }

    async fn newest_generation(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT generation FROM proxyhealth_view WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn listen(&self) -> Result<Box<dyn NoticeSource>, StoreError> {
        Ok(Box::new(self.listener().await?))
    }

    async fn readings_since(
        &self,
        since: Option<OffsetDateTime>,
    ) -> Result<KeptReadings, StoreError> {
        // one statement: the time of the read and the rows in one snapshot
        let rows = sqlx::query(
            "SELECT now() AS read_at, k.* FROM (SELECT 1) one LEFT JOIN LATERAL ( \
               SELECT v.name, r.proxy_id, r.reading::text AS reading \
               FROM proxyhealth_vantage_readings r \
               JOIN proxyhealth_vantages v ON v.id = r.vantage_id \
               WHERE $1::timestamptz IS NULL OR r.stored_at >= $1) k ON true",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut kept = KeptReadings::default();
        for row in &rows {
            kept.read_at = Some(row.try_get("read_at").map_err(db_err)?);
            let Some(name) = row.try_get::<Option<&str>, _>("name").map_err(db_err)? else {
                continue;
            };
            let proxy: Uuid = row.try_get("proxy_id").map_err(db_err)?;
            let reading = reading_from_json(
                row.try_get::<&str, _>("reading").map_err(db_err)?,
                stored_name(name)?,
            )?;
            kept.readings.push((proxy, reading));
        }
        Ok(kept)
    }
}
