//! Reading the dashboard through its test hooks (`tr.proxy-row[data-…]`,
//! `.badge`, `ul.errors`/`ul.warnings .msg-text`, `[data-count-for]`,
//! `body[data-generation]`).

use proxyhealth_cdp::Page;
use serde::Deserialize;
use std::time::Duration;

/// One proxy row as the page shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    /// `data-proxy-name`.
    pub name: String,
    /// `data-status`.
    pub status: String,
    /// The badge's text.
    pub badge: String,
    /// The text of the `.proxy-name` element.
    pub name_text: String,
    /// The text of the `.display-name` element.
    pub display_text: String,
    /// The error messages, as text.
    pub errors: Vec<String>,
    /// The warning messages, as text.
    pub warnings: Vec<String>,
}

const ROWS_JS: &str = r#"(() => [...document.querySelectorAll('tr.proxy-row')].map((tr) => {
  const text = (sel) => { const n = tr.querySelector(sel); return n ? n.textContent : ''; };
  const all = (sel) => [...tr.querySelectorAll(sel)].map((n) => n.textContent);
  return {
    name: tr.dataset.proxyName || '', status: tr.dataset.status || '',
    badge: text('.badge'), name_text: text('.proxy-name'), display_text: text('.display-name'),
    errors: all('ul.errors .msg-text'), warnings: all('ul.warnings .msg-text'),
  };
}))()"#;

/// Every proxy row now.
pub async fn rows(page: &Page<'_>) -> Vec<Row> {
    let value = page.eval(ROWS_JS).await.expect("read the rows");
    serde_json::from_value(value).expect("rows decode")
}

/// The row of the proxy named `name`, if shown.
pub fn row<'a>(rows: &'a [Row], name: &str) -> Option<&'a Row> {
    rows.iter().find(|row| row.name == name)
}

/// `body[data-generation]` as a number (0 before the first render).
pub async fn generation(page: &Page<'_>) -> u64 {
    let value = page
        .eval("Number(document.body.dataset.generation || 0)")
        .await
        .expect("read the generation");
    value.as_u64().unwrap_or(0)
}

/// The count on the summary tile `status`.
pub async fn tile_count(page: &Page<'_>, status: &str) -> String {
    let js = format!(
        "(document.querySelector('[data-count-for=\"{status}\"] .tile-count') || {{}}).textContent || ''"
    );
    page.eval(&js)
        .await
        .expect("read a tile")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Polls the count tiles every 200 ms until each named tile shows its expected
/// count, or `timeout` passes; then fails naming every tile's count. The tiles
/// come from the summary, which the page fetches just before the list, so they
/// may trail the rows by one refresh.
pub async fn wait_for_tiles(page: &Page<'_>, timeout: Duration, expected: &[(&str, &str)]) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut seen = Vec::new();
        for (status, _) in expected {
            seen.push(tile_count(page, status).await);
        }
        let matches = expected
            .iter()
            .zip(&seen)
            .all(|((_, want), got)| got == want);
        if matches {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("the count tiles: still not {expected:?} after {timeout:?}: saw {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `check` on the rows every 200 ms until it returns `None` (all good) or
/// `timeout` passes; then fails with the last complaint and the rows.
pub async fn wait_for_rows(
    page: &Page<'_>,
    timeout: Duration,
    what: &str,
    check: impl Fn(&[Row]) -> Option<String>,
) -> Vec<Row> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = rows(page).await;
        match check(&now) {
            None => return now,
            Some(complaint) if tokio::time::Instant::now() > deadline => {
                panic!("{what}: still not so after {timeout:?}: {complaint}\nrows: {now:#?}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
