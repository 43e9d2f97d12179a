//! A proxy in a maintenance window shows a `maintenance` tag beside its
//! status badge (`tr[data-proxy-name] .tag-maint`), with the reason in its
//! title, also when the window is made while the page is open (the page
//! reads the windows every 30 s), and its page lists the window over its
//! history (`#window-maintenance`); a proxy in none shows no tag.

use proxyhealth_api::wire::{CreateMaintenanceRequest, CreateProxyRequest};
use proxyhealth_cdp::Page;
use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The name of the proxy put in maintenance (sorted first by name).
pub const MAINT_PROXY: &str = "aa-maint";

/// Creates `MAINT_PROXY` through the API.
pub async fn create_proxy(base: &str, admin_token: &str) {
    let api = proxyhealth_testkit::api::client(base, admin_token);
    let created = api
        .create_proxy(&CreateProxyRequest {
            name: MAINT_PROXY.to_owned(),
            ..CreateProxyRequest::default()
        })
        .await
        .expect("create the proxy");
    assert_eq!(created.status, 201);
}

/// Puts `MAINT_PROXY` in a window from a minute ago for an hour, through
/// the API.
pub async fn put_in_maintenance(base: &str, admin_token: &str) {
    let api = proxyhealth_testkit::api::client(base, admin_token);
    let now = OffsetDateTime::now_utc();
    let rfc = |at: OffsetDateTime| at.format(&Rfc3339).expect("format");
    let window = api
        .create_maintenance(&CreateMaintenanceRequest {
            proxy: Some(MAINT_PROXY.to_owned()),
            start: rfc(now - time::Duration::minutes(1)),
            end: rfc(now + time::Duration::hours(1)),
            reason: "kernel upgrade".to_owned(),
            ..CreateMaintenanceRequest::default()
        })
        .await
        .expect("create the window");
    assert_eq!(window.status, 201);
}

/// The maintenance tag of the row of `name`: `{text, title}`, or null.
pub async fn tag_of(page: &Page<'_>, name: &str) -> Value {
    let js = format!(
        "(() => {{ const t = document.querySelector('tr[data-proxy-name=\"{name}\"] .tag-maint'); \
         return t ? {{ text: t.textContent, title: t.title }} : null; }})()"
    );
    page.eval(&js).await.expect("read the maintenance tag")
}

/// Waits until the row of `name` shows a maintenance tag, and returns it.
pub async fn wait_for_tag(page: &Page<'_>, name: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let tag = tag_of(page, name).await;
        if tag != json!(null) {
            return tag;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no maintenance tag on {name} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The id of `MAINT_PROXY`, through the API.
pub async fn proxy_id(base: &str, admin_token: &str) -> uuid::Uuid {
    let api = proxyhealth_testkit::api::client(base, admin_token);
    let proxy = api.proxy(MAINT_PROXY).await.expect("read the proxy");
    proxy.value.region.id
}

/// Waits until the proxy page lists a maintenance window over its history
/// (`#window-maintenance li`), and returns the list's text.
pub async fn wait_for_history_window(page: &Page<'_>, within: Duration) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = page
            .eval(
                "(() => { const l = document.querySelector('#window-maintenance'); \
                 return l && !l.hidden ? l.textContent : ''; })()",
            )
            .await
            .expect("read the maintenance list");
        if let Some(text) = text.as_str().filter(|t| !t.is_empty()) {
            return text.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no maintenance window on the proxy page within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
