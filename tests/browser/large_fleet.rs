//! The dashboard with more proxies than one page holds: a page of rows in the
//! DOM, search and sort on the page's own copy of the fleet, and live changes
//! applied from the event stream without reading the list again.

use crate::demo::Demo;
use futures::StreamExt;
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_cdp::Page;
use serde_json::{Value, json};
use std::time::Duration;

/// Proxies the test adds to the demo's 14.
pub const EXTRA: usize = 236;
/// Rows on one page of the table (the page's `PAGE_SIZE`).
pub const PAGE_SIZE: u64 = 50;

/// Creates [`EXTRA`] unregistered proxies `bulk-000`… through the API.
pub async fn add_proxies(demo: &Demo) {
    let api = proxyhealth_testkit::api::client(&demo.base, &demo.admin_token);
    let created: Vec<_> = futures::stream::iter(0..EXTRA)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create_proxy(&CreateProxyRequest {
                    name: format!("bulk-{i:03}"),
                    display_name: format!("Bulk {i:03}"),
                    ..CreateProxyRequest::default()
                })
                .await
                .expect("create a proxy")
                .status
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        created.iter().all(|s| *s == 201),
        "every proxy is created: {created:?}"
    );
}

/// The pager's state: `[page, pages, total, range text, hidden]`.
pub async fn pager(page: &Page<'_>) -> Value {
    page.eval(
        "(() => { const p = document.querySelector('#pager'); return [Number(p.dataset.page), \
         Number(p.dataset.pages), Number(p.dataset.total), \
         document.querySelector('#pager-range').textContent, p.hidden]; })()",
    )
    .await
    .expect("read the pager")
}

/// How many requests for the admin list the page made so far.
pub async fn list_reads(page: &Page<'_>) -> u64 {
    page.eval(
        "performance.getEntriesByType('resource').filter((r) => \
         new URL(r.name).pathname === '/api/v2/workspaceproxies').length",
    )
    .await
    .expect("count the list reads")
    .as_u64()
    .unwrap_or(0)
}

/// Waits until the page holds the whole fleet (`body[data-model=complete]`).
pub async fn wait_for_model(page: &Page<'_>, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while page
        .eval("document.body.dataset.model === 'complete'")
        .await
        .expect("read the model state")
        != json!(true)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page did not read the whole fleet within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `text` into the search box as a user does (an `input` event).
pub async fn search(page: &Page<'_>, text: &str) {
    let js = format!(
        "(() => {{ const s = document.querySelector('#search'); s.value = {text:?}; \
         s.dispatchEvent(new Event('input')); return true; }})()"
    );
    page.eval(&js).await.expect("type into the search box");
}
