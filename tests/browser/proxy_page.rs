//! Reading a proxy's page (`/proxies/{id}`) through its test hooks: the
//! timeline's `rect.seg[data-status]`, the latency chart's median and maximum
//! (`.line-median`, `.line-max`), `#incident-list li.incident` with its
//! `.incident-message`, `#windows button[aria-pressed]`, and
//! `body[data-page-loads]`.

use proxyhealth_cdp::{Cdp, Page};
use serde::Deserialize;
use std::time::Duration;

/// A proxy's page as it shows now.
#[derive(Debug, Clone, Deserialize)]
pub struct ProxyPage {
    /// `location.pathname`.
    pub path: String,
    /// `location.search`.
    pub search: String,
    /// `body[data-view]`: `proxy` on a proxy's page.
    pub view: String,
    /// Whether the fleet table is displayed.
    pub table_shown: bool,
    /// The heading's text (the display name).
    pub title: String,
    /// The `.proxy-name` element's text.
    pub name: String,
    /// The current status badge's text.
    pub badge: String,
    /// The statuses of the timeline's runs, left to right (`none` for no data).
    pub timeline: Vec<String>,
    /// The transitions the timeline drew (`svg[data-transitions]`).
    pub transitions: u64,
    /// Hours with latency in the chart (`svg[data-hours]`).
    pub latency_hours: u64,
    /// Median lines (`path.line-median`).
    pub median_marks: u64,
    /// Maximum lines (`path.line-max`).
    pub max_marks: u64,
    /// Each incident: worst status, still open, message text.
    pub incidents: Vec<IncidentRow>,
    /// The pressed window button's `data-window`.
    pub window: String,
    /// The uptime line above the charts.
    pub uptime: String,
    /// The current errors, as text.
    pub errors: Vec<String>,
    /// `body[data-page-loads]`: how many times the page read the API.
    pub loads: u64,
}

/// One incident as listed.
#[derive(Debug, Clone, Deserialize)]
pub struct IncidentRow {
    /// `data-status`: the worst status.
    pub status: String,
    /// `data-open`.
    pub open: bool,
    /// The `.incident-message` text.
    pub message: String,
}

const PAGE_JS: &str = r#"(() => {
  const text = (sel) => { const n = document.querySelector(sel); return n ? n.textContent : ''; };
  const count = (sel) => document.querySelectorAll(sel).length;
  const svgNum = (sel, key) => { const n = document.querySelector(sel); return n ? Number(n.dataset[key] || 0) : 0; };
  const table = document.querySelector('#proxies');
  const pressed = document.querySelector('#windows button[aria-pressed="true"]');
  return {
    path: location.pathname, search: location.search, view: document.body.dataset.view || '',
    table_shown: !!(table && table.offsetParent !== null),
    title: text('#proxy-title'), name: text('#proxy-head .proxy-name'), badge: text('#proxy-now .badge'),
    timeline: [...document.querySelectorAll('#timeline rect.seg')].map((r) => r.dataset.status),
    transitions: svgNum('#timeline svg', 'transitions'),
    latency_hours: svgNum('#latency-chart svg', 'hours'),
    median_marks: count('#latency-chart .line-median'),
    max_marks: count('#latency-chart .line-max'),
    incidents: [...document.querySelectorAll('#incident-list li.incident')].map((li) => ({
      status: li.dataset.status || '', open: li.dataset.open === 'true',
      message: (li.querySelector('.incident-message') || {}).textContent || '',
    })),
    window: pressed ? pressed.dataset.window : '',
    uptime: text('#window-uptime'),
    errors: [...document.querySelectorAll('#proxy-messages ul.errors .msg-text')].map((n) => n.textContent),
    loads: Number(document.body.dataset.pageLoads || 0),
  };
})()"#;

/// The proxy page now.
pub async fn read(page: &Page<'_>) -> ProxyPage {
    let value = page.eval(PAGE_JS).await.expect("read the proxy page");
    serde_json::from_value(value).expect("the proxy page decodes")
}

/// Polls `check` on the proxy page every 200 ms until it returns `None`, or
/// `timeout` passes; then fails with the last complaint and the page.
pub async fn wait_for(
    page: &Page<'_>,
    timeout: Duration,
    what: &str,
    check: impl Fn(&ProxyPage) -> Option<String>,
) -> ProxyPage {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = read(page).await;
        match check(&now) {
            None => return now,
            Some(complaint) if tokio::time::Instant::now() > deadline => {
                panic!("{what}: still not so after {timeout:?}: {complaint}\npage: {now:#?}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Clicks the element `selector` (a link) and waits for the page it opens to load.
pub async fn follow(cdp: &Cdp, page: &Page<'_>, selector: &str) {
    let before = cdp.events_named("Page.loadEventFired").len();
    let js = format!(
        "(() => {{ const a = document.querySelector({selector:?}); if (!a) return false; a.click(); return true; }})()"
    );
    assert_eq!(
        page.eval(&js).await.expect("click"),
        serde_json::Value::Bool(true),
        "there is a {selector} to click"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while cdp.events_named("Page.loadEventFired").len() == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "clicking {selector} loaded no page within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
