//! The dashboard in a real headless Chromium, driven over the DevTools protocol,
//! against `proxyhealth demo` (the binary, as a user runs it).
//!
//! Without Chromium these tests skip loudly; with `CI=true` they fail instead.
//! The first test leaves a full-page screenshot at `target/dashboard.png`, the
//! proxy page's test one at `target/proxy-page.png`.

mod audit;
mod certificate;
mod dashboard;
mod demo;
mod large_fleet;
mod maintenance;
mod proxy_page;
mod sign_in;
mod vantages;

use dashboard::{Row, generation, row, wait_for_rows, wait_for_tiles};
use demo::Demo;
use proxy_page::ProxyPage;
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_cdp::{Cdp, Chromium, chromium};
use proxyhealth_testkit::FakeProxy;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Bound on a whole test, so a stuck browser fails it instead of hanging CI.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the first sweeps may take to show every state.
const SETTLE: Duration = Duration::from_secs(45);

/// Starts Chromium and connects to it, or skips (fails in CI) when it cannot.
async fn browser() -> Option<(Chromium, Cdp)> {
    let Some(binary) = chromium::find() else {
        chromium::unavailable("no chromium binary found")?;
        return None;
    };
    let browser = match Chromium::launch(&binary).await {
        Ok(browser) => browser,
        Err(err) => {
            chromium::unavailable(&err)?;
            return None;
        }
    };
    let cdp = Cdp::connect(&browser.ws_url)
        .await
        .expect("connect to Chromium's DevTools");
    Some((browser, cdp))
}

/// Closes the browser politely, then makes sure it is gone.
async fn close(browser: Chromium, cdp: Cdp) {
    let _ = cdp.call(None, "Browser.close", json!({})).await;
    browser.close().await;
}

/// Stops the demo with SIGTERM and checks that it exited cleanly and removed
/// its temporary directory.
async fn stop_demo(demo: Demo) {
    let dir = demo
        .targets
        .parent()
        .expect("the targets file is in a directory")
        .to_owned();
    let output_before = demo.output();
    let status = demo.terminate().await;
    assert!(
        status.success(),
        "the demo exits 0 on SIGTERM, got {status}:\n{output_before}"
    );
    assert!(
        !dir.exists(),
        "the demo removed its temporary directory {}",
        dir.display()
    );
}

/// What the dashboard must show for one demo proxy.
struct Expect {
    name: &'static str,
    status: &'static str,
    /// A text one of its errors (or warnings, for an `ok` proxy) contains.
    message: Option<&'static str>,
}

const EXPECTED: &[Expect] = &[
    Expect {
        name: "eu-west",
        status: "ok",
        message: None,
    },
    Expect {
        name: "eu-central",
        status: "ok",
        message: Some("version mismatch: primary coderd (v2.21.0) != workspace proxy (v2.20.0)"),
    },
    Expect {
        name: "ap-south",
        status: "ok",
        message: None,
    },
    Expect {
        name: "ap-southeast",
        status: "unhealthy",
        message: Some("failed to get build info"),
    },
    Expect {
        name: "sa-east",
        status: "unhealthy",
        message: Some("Error Message: Internal error fetching health report."),
    },
    Expect {
        name: "ap-northeast",
        status: "unhealthy",
        message: Some("unexpected status code 400."),
    },
    Expect {
        name: "us-west",
        status: "unhealthy",
        message: Some("Could this be a primary coderd and not a proxy?"),
    },
    Expect {
        name: "ca-central",
        status: "unhealthy",
        message: Some("is not a coder proxy instance, verify the url is correct"),
    },
    Expect {
        name: "eu-south",
        status: "unhealthy",
        message: Some("failed to decode health report body"),
    },
    Expect {
        name: "me-central",
        status: "unreachable",
        message: Some("request to proxy failed"),
    },
    Expect {
        name: "af-south",
        status: "unreachable",
        message: Some("request to proxy failed"),
    },
    Expect {
        name: "eu-east",
        status: "unregistered",
        message: None,
    },
];

/// `None` when the row of `expect` shows its status, badge and message.
fn mismatch(rows: &[Row], expect: &Expect) -> Option<String> {
    let Some(row) = row(rows, expect.name) else {
        return Some(format!("no row for {}", expect.name));
    };
    if row.status != expect.status || row.badge != expect.status {
        return Some(format!(
            "{}: data-status {:?} and badge {:?}, want {:?}",
            expect.name, row.status, row.badge, expect.status
        ));
    }
    if let Some(needle) = expect.message {
        let messages = if expect.status == "ok" {
            &row.warnings
        } else {
            &row.errors
        };
        if !messages.iter().any(|m| m.contains(needle)) {
            return Some(format!(
                "{}: no message containing {needle:?} in {messages:?}",
                expect.name
            ));
        }
    } else if expect.status == "ok" && !row.errors.is_empty() {
        return Some(format!(
            "{}: errors {:?} on an ok proxy",
            expect.name, row.errors
        ));
    }
    None
}

/// `target/`, where the screenshot goes.
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_dashboard_shows_every_state_with_its_message_and_updates_without_a_reload() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let demo = Demo::start("browser-test-admin-token").await;
        let page = cdp.new_page().await.expect("open a page");
        page.set_viewport(1360, 900).await.expect("set the viewport");
        page.navigate(&demo.dashboard).await.expect("load the dashboard");

        wait_for_rows(&page, SETTLE, "every demo state is shown", |rows| {
            EXPECTED.iter().find_map(|expect| mismatch(rows, expect))
        })
        .await;
        assert_eq!(
            page.eval("document.querySelector('#proxy-table').dataset.mode")
                .await
                .expect("table mode"),
            json!("admin"),
            "the token from the fragment signs the page in"
        );
        assert_eq!(
            page.eval("location.hash").await.expect("hash"),
            json!(""),
            "the page takes the token out of the address bar"
        );
        wait_for_tiles(
            &page,
            SETTLE,
            &[("unregistered", "1"), ("unreachable", "2"), ("total", "14")],
        )
        .await;
        assert!(
            page.eval("document.querySelector('#check-now').disabled === false")
                .await
                .expect("check-now")
                == json!(true),
            "an admin can press Check now"
        );
        assert_eq!(
            page.eval(
                "(() => { const p = document.querySelector('#replicas'); \
                 return [p.hidden, p.dataset.mode, \
                 document.querySelector('#replicas-note').textContent.startsWith('One process'), \
                 document.querySelectorAll('#replica-list li').length]; })()"
            )
            .await
            .expect("replicas panel"),
            json!([false, "single", true, 0]),
            "on SQLite the replicas panel is only the single-process note"
        );

        // A status change must arrive by itself, without reloading the page.
        page.eval("window.__marker = 'set before the update'; true")
            .await
            .expect("set the marker");
        let before = generation(&page).await;
        let flapping_before = dashboard::rows(&page).await;
        let was = row(&flapping_before, "eu-north")
            .expect("the flapping proxy has a row")
            .status
            .clone();
        let after = wait_for_rows(
            &page,
            Duration::from_secs(40),
            "the flapping proxy changes status",
            |rows| match row(rows, "eu-north") {
                Some(r) if r.status != was && r.badge == r.status => None,
                Some(r) => Some(format!("eu-north still {:?}", r.status)),
                None => Some("no eu-north row".into()),
            },
        )
        .await;
        let flapped = row(&after, "eu-north").expect("eu-north row");
        if flapped.status == "unhealthy" {
            assert!(
                flapped.errors.iter().any(|e| e.contains("failed to get build info")),
                "the flapping proxy's error is shown: {:?}",
                flapped.errors
            );
        }
        assert_eq!(
            page.eval("window.__marker").await.expect("read the marker"),
            json!("set before the update"),
            "the page was not reloaded"
        );
        assert_eq!(
            page.eval("performance.getEntriesByType('navigation').length")
                .await
                .expect("navigations"),
            json!(1)
        );
        assert!(
            generation(&page).await > before,
            "body[data-generation] increased with the update"
        );
        assert_eq!(
            page.eval("document.querySelector('#live').dataset.state")
                .await
                .expect("live state"),
            json!("live"),
            "updates come over the event stream"
        );

        // Every flag icon loaded (the demo serves them on loopback). The icons
        // load lazily, near the viewport: the page's middle is in view so the
        // first and last rows are both near it (rows are rebuilt with new
        // images as results come in).
        page.eval("window.scrollTo(0, (document.documentElement.scrollHeight - window.innerHeight) / 2); true")
            .await
            .expect("scroll to the middle");
        let icons = page
            .eval(
                "Promise.all([...document.querySelectorAll('.icon img')].map((i) => i.decode().then(() => i.naturalWidth > 0, () => false)))",
            )
            .await
            .expect("decode the icons");
        let icons = icons.as_array().cloned().unwrap_or_default();
        assert_eq!(icons.len(), 14, "every demo proxy has an image icon");
        assert!(icons.iter().all(|ok| ok == &json!(true)), "every icon loads: {icons:?}");
        page.eval("window.scrollTo(0, 0); true")
            .await
            .expect("scroll back to the top");

        // For the screenshot: enough history that the flapping proxy's strip shows it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            let cells = page
                .eval("document.querySelectorAll('tr[data-proxy-name=\"eu-north\"] .history .cell').length")
                .await
                .expect("count history cells");
            if cells.as_u64().unwrap_or(0) >= 12 || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let png = page.screenshot_full_page().await.expect("take a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
        let path = target_dir().join("dashboard.png");
        std::fs::write(&path, &png).expect("save the screenshot");
        eprintln!("dashboard screenshot: {}", path.display());

        assert!(
            cdp.events_named("Page.javascriptDialogOpening").is_empty(),
            "no dialog opened"
        );
        close(browser, cdp).await;
        stop_demo(demo).await;
    })
    .await
    .expect("the test finishes within its time limit");
}

/// The display name of the markup test (names follow the name rule, so
/// markup can only come in display names, or names an attached Coder
/// database holds, which the dashboard shows the same way).
const MARKUP_NAME: &str = "<img src=x onerror=alert(1)>";
/// The name of the markup test's proxy.
const MARKUP_PROXY: &str = "markup";
/// The error text of the markup test.
const MARKUP_ERROR: &str = "<script>window.__pwned=1</script>";
/// The warning text of the markup test.
const MARKUP_WARNING: &str = "<img src=x onerror=\"window.__pwned=2\">";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_name_and_error_text_with_markup_render_as_text() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let demo = Demo::start("markup-test-admin-token").await;
        let fake = FakeProxy::report(
            json!({"errors": [MARKUP_ERROR], "warnings": [MARKUP_WARNING]}).to_string(),
        )
        .await;
        register_markup_proxy(&demo, &fake.url, "markup-test").await;

        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&demo.dashboard)
            .await
            .expect("load the dashboard");
        let rows = wait_for_rows(
            &page,
            SETTLE,
            "the markup proxy is checked",
            |rows| match row(rows, MARKUP_PROXY) {
                Some(r) if r.status == "unhealthy" && r.errors == [MARKUP_ERROR] => None,
                Some(r) => Some(format!("{:?} with errors {:?}", r.status, r.errors)),
                None => Some("no row for the markup proxy".into()),
            },
        )
        .await;
        // One more render after it, so a handler that markup would have set off has run.
        let seen = generation(&page).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while generation(&page).await <= seen && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let markup = row(&rows, MARKUP_PROXY).expect("markup row");
        assert_eq!(markup.name_text, MARKUP_PROXY, "the name is shown");
        assert_eq!(
            markup.display_text, MARKUP_NAME,
            "the display name is shown as text"
        );
        assert_eq!(markup.badge, "unhealthy");
        assert_eq!(markup.errors, [MARKUP_ERROR], "the error is shown as text");
        assert_eq!(
            markup.warnings,
            [MARKUP_WARNING],
            "the warning is shown as text"
        );
        assert_eq!(
            page.eval("document.querySelectorAll('img[src=\"x\"]').length")
                .await
                .expect("count injected images"),
            json!(0),
            "no <img src=x> element was made"
        );
        assert_eq!(
            page.eval("document.querySelectorAll('#proxy-rows script').length")
                .await
                .expect("count injected scripts"),
            json!(0),
            "no <script> element was made in the table"
        );
        assert_eq!(
            page.eval("typeof window.__pwned")
                .await
                .expect("read __pwned"),
            json!("undefined"),
            "no injected script ran"
        );
        let dialogs = cdp.events_named("Page.javascriptDialogOpening");
        assert!(dialogs.is_empty(), "no alert dialog opened: {dialogs:?}");

        close(browser, cdp).await;
        drop(fake);
        stop_demo(demo).await;
    })
    .await
    .expect("the test finishes within its time limit");
}

/// The uptime figure `period` (`last_24h`, `last_30d`) of the proxy `name`.
async fn uptime_text(page: &proxyhealth_cdp::Page<'_>, name: &str, period: &str) -> String {
    let js = format!(
        "(() => {{ const c = document.querySelector('tr[data-proxy-name=\"{name}\"] .uptime[data-period=\"{period}\"] .uptime-value'); return c ? c.textContent : ''; }})()"
    );
    let value = page.eval(&js).await.expect("read an uptime cell");
    value.as_str().unwrap_or_default().to_owned()
}

/// `None` when the flapping proxy's page shows both statuses on its timeline,
/// its latency (median and maximum), and an incident with its error.
fn flapping_history_shown(p: &ProxyPage) -> Option<String> {
    for status in ["ok", "unhealthy"] {
        if !p.timeline.iter().any(|s| s == status) {
            return Some(format!("no {status} on the timeline {:?}", p.timeline));
        }
    }
    if p.transitions < 2 {
        return Some(format!("{} transitions drawn", p.transitions));
    }
    if p.latency_hours == 0 || p.median_marks == 0 || p.max_marks == 0 {
        return Some(format!(
            "latency chart: {} hours, {} median marks, {} max marks",
            p.latency_hours, p.median_marks, p.max_marks
        ));
    }
    let closed = p.incidents.iter().any(|i| {
        i.status == "unhealthy" && !i.open && i.message.contains("failed to get build info")
    });
    if !closed {
        return Some(format!(
            "no ended unhealthy incident with its message in {:?}",
            p.incidents
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_page_shows_its_timeline_latency_and_incidents_and_can_be_shared() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let demo = Demo::start("proxy-page-admin-token").await;
        let page = cdp.new_page().await.expect("open a page");
        page.set_viewport(1360, 900).await.expect("set the viewport");
        page.navigate(&demo.dashboard)
            .await
            .expect("load the dashboard");
        let rows = wait_for_rows(&page, SETTLE, "the flapping proxy has a row", |rows| {
            row(rows, "eu-north").map_or(Some("no eu-north row".into()), |_| None)
        })
        .await;
        let display = row(&rows, "eu-north")
            .expect("eu-north row")
            .display_text
            .clone();

        // The table's uptime columns: a healthy proxy is mostly up (its checks
        // before it registered were not ok), a refused one never.
        let percent = |text: &str| text.strip_suffix('%').and_then(|n| n.parse::<f64>().ok());
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let up = uptime_text(&page, "eu-west", "last_24h").await;
            let up_30d = uptime_text(&page, "eu-west", "last_30d").await;
            let down = uptime_text(&page, "af-south", "last_24h").await;
            let mostly_up = |text: &str| percent(text).is_some_and(|p| p >= 50.0);
            if mostly_up(&up) && mostly_up(&up_30d) && down == "0.00%" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "uptime 24 h / 30 d of eu-west {up:?} / {up_30d:?} (want at least 50%), of af-south {down:?} (want 0.00%)"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }

        // The name in the row links to the proxy's own page.
        proxy_page::follow(&cdp, &page, "tr[data-proxy-name=\"eu-north\"] a.proxy-link").await;
        let shown = proxy_page::wait_for(
            &page,
            Duration::from_secs(60),
            "the flapping proxy's page shows its history",
            flapping_history_shown,
        )
        .await;
        assert!(
            shown.path.starts_with("/proxies/"),
            "the page has its own address: {}",
            shown.path
        );
        assert_eq!(shown.view, "proxy");
        assert!(!shown.table_shown, "the fleet table is not on a proxy's page");
        assert_eq!(shown.title, display, "the heading is the proxy's display name");
        assert_eq!(shown.name, "eu-north");
        assert!(
            ["ok", "unhealthy"].contains(&shown.badge.as_str()),
            "the current status: {:?}",
            shown.badge
        );
        assert_eq!(shown.window, "24h", "24 hours unless asked");
        assert!(
            shown.uptime.contains("uptime") && shown.uptime.contains("checks ok"),
            "the window's uptime: {:?}",
            shown.uptime
        );

        // Another window: the address says which, and a reload keeps it.
        let loads = shown.loads;
        assert_eq!(
            page.eval("document.querySelector('#windows button[data-window=\"7d\"]').click() ?? true")
                .await
                .expect("choose 7 days"),
            json!(true)
        );
        proxy_page::wait_for(&page, Duration::from_secs(10), "the 7-day window is shown", |p| {
            if p.window == "7d" && p.search == "?window=7d" && p.loads > loads {
                None
            } else {
                Some(format!("window {:?}, search {:?}, loads {}", p.window, p.search, p.loads))
            }
        })
        .await;
        let address = page.eval("location.href").await.expect("the address");
        let address = address.as_str().expect("an address").to_owned();
        page.navigate(&address).await.expect("reload the proxy page");
        let reloaded = proxy_page::wait_for(
            &page,
            Duration::from_secs(20),
            "the reloaded page shows the same proxy and window",
            |p| {
                if p.window != "7d" {
                    return Some(format!("window {:?}", p.window));
                }
                flapping_history_shown(p)
            },
        )
        .await;
        assert_eq!(reloaded.path, shown.path);
        assert_eq!(reloaded.name, "eu-north");

        // The shared address without a window: 24 hours, for the screenshot with
        // a few more changes on the timeline.
        page.navigate(&format!("{}{}", demo.base, shown.path))
            .await
            .expect("open the proxy page");
        let last = proxy_page::wait_for(&page, Duration::from_secs(60), "the page for the screenshot", |p| {
            if p.window != "24h" {
                return Some(format!("window {:?}", p.window));
            }
            if p.incidents.len() < 5 {
                return Some(format!("{} incidents", p.incidents.len()));
            }
            flapping_history_shown(p)
        })
        .await;
        let png = page.screenshot_full_page().await.expect("take a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
        let path = target_dir().join("proxy-page.png");
        std::fs::write(&path, &png).expect("save the screenshot");
        eprintln!(
            "proxy page screenshot: {} ({} incidents, {} transitions)",
            path.display(),
            last.incidents.len(),
            last.transitions
        );
        assert!(
            cdp.events_named("Page.javascriptDialogOpening").is_empty(),
            "no dialog opened"
        );
        close(browser, cdp).await;
        stop_demo(demo).await;
    })
    .await
    .expect("the test finishes within its time limit");
}

/// The error text of the proxy page's markup test.
const MARKUP_IMG_ERROR: &str = "<img src=x onerror=\"window.__pwned=3\">";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_page_shows_markup_in_the_display_name_and_incident_message_as_text() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let demo = Demo::start("markup-page-admin-token").await;
        let fake =
            FakeProxy::report(json!({"errors": [MARKUP_IMG_ERROR], "warnings": []}).to_string())
                .await;
        let id = register_markup_proxy(&demo, &fake.url, "markup-page-test").await;

        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&format!(
            "{}/proxies/{id}#token={}",
            demo.base, demo.admin_token
        ))
        .await
        .expect("load the proxy page");
        let shown = proxy_page::wait_for(
            &page,
            SETTLE,
            "the markup proxy's incident is shown",
            |p| match p.incidents.first() {
                Some(i) if i.status == "unhealthy" && i.message == MARKUP_IMG_ERROR => None,
                _ => Some(format!("incidents {:?}", p.incidents)),
            },
        )
        .await;
        // One more load after it, so a handler that markup would have set off has run.
        proxy_page::wait_for(
            &page,
            Duration::from_secs(20),
            "the page reads the API again",
            |p| (p.loads <= shown.loads).then(|| "no new load".to_owned()),
        )
        .await;
        assert_eq!(
            shown.title, MARKUP_NAME,
            "the display name is shown as text"
        );
        assert_eq!(shown.name, MARKUP_PROXY, "the name is shown");
        assert_eq!(
            shown.errors,
            [MARKUP_IMG_ERROR],
            "the current error is shown as text"
        );
        assert_eq!(
            page.eval("location.hash").await.expect("hash"),
            json!(""),
            "the page takes the token out of the address bar"
        );
        assert_eq!(
            page.eval("document.title").await.expect("title"),
            json!(format!("{MARKUP_NAME} · proxyhealth")),
            "the document title holds the name as text"
        );
        assert_eq!(
            page.eval("document.querySelectorAll('img[src=\"x\"], #proxy-page script').length")
                .await
                .expect("count injected elements"),
            json!(0),
            "no <img src=x> or <script> element was made"
        );
        assert_eq!(
            page.eval("typeof window.__pwned")
                .await
                .expect("read __pwned"),
            json!("undefined"),
            "no injected script ran"
        );
        let dialogs = cdp.events_named("Page.javascriptDialogOpening");
        assert!(dialogs.is_empty(), "no alert dialog opened: {dialogs:?}");
        close(browser, cdp).await;
        drop(fake);
        stop_demo(demo).await;
    })
    .await
    .expect("the test finishes within its time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_fleet_shows_one_page_of_rows_searches_and_applies_live_changes_in_place() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let demo = Demo::start("large-fleet-admin-token").await;
        large_fleet::add_proxies(&demo).await;
        let total = 14 + large_fleet::EXTRA as u64;
        let page = cdp.new_page().await.expect("open a page");
        page.set_viewport(1360, 900).await.expect("set the viewport");
        page.navigate(&demo.dashboard).await.expect("load the dashboard");
        large_fleet::wait_for_model(&page, SETTLE).await;

        // One page of rows in the DOM, and the pager says how many in all.
        wait_for_rows(&page, SETTLE, "a full first page", |rows| {
            (rows.len() as u64 != large_fleet::PAGE_SIZE).then(|| format!("{} rows", rows.len()))
        })
        .await;
        assert_eq!(
            large_fleet::pager(&page).await,
            json!([1, total.div_ceil(large_fleet::PAGE_SIZE), total, format!("1–50 of {total} proxies"), false]),
            "the pager shows the first of the pages"
        );
        assert_eq!(
            page.eval("document.querySelectorAll('#proxy-rows tr').length").await.expect("count"),
            json!(large_fleet::PAGE_SIZE),
            "the DOM holds only one page"
        );

        // The next page: other rows. By name, which live changes of status
        // cannot reorder between the two reads.
        let sort_by = |value: &str| {
            format!("(() => {{ const s = document.querySelector('#sort'); s.value = '{value}'; s.dispatchEvent(new Event('change')); return true; }})()")
        };
        page.eval(&sort_by("name")).await.expect("sort by name");
        let first_by_name = dashboard::rows(&page).await;
        page.eval("document.querySelector('#pager-next').click() ?? true").await.expect("next page");
        let second = dashboard::rows(&page).await;
        assert_eq!(second.len() as u64, large_fleet::PAGE_SIZE);
        assert!(
            second.iter().all(|r| row(&first_by_name, &r.name).is_none()),
            "the second page shows other proxies"
        );
        assert_eq!(large_fleet::pager(&page).await[0], json!(2));
        page.eval(&sort_by("status")).await.expect("sort by status");
        assert_eq!(large_fleet::pager(&page).await[0], json!(1), "a new sort starts at page 1");
        page.eval(&sort_by("name")).await.expect("sort by name");
        let by_name = dashboard::rows(&page).await;
        assert_eq!(by_name.first().map(|r| r.name.as_str()), Some("af-south"));
        assert!(
            by_name.windows(2).all(|w| w[0].name.to_lowercase() <= w[1].name.to_lowercase()),
            "rows by name"
        );

        // Search answers from the page's copy, without asking the server.
        let reads = large_fleet::list_reads(&page).await;
        large_fleet::search(&page, "bulk-12").await;
        let found = dashboard::rows(&page).await;
        let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
        let expected: Vec<String> = (120..130).map(|i| format!("bulk-{i}")).collect();
        assert_eq!(names, expected, "the search shows its matches at once, by name");
        assert_eq!(
            large_fleet::pager(&page).await[4],
            json!(true),
            "no pager for one page"
        );
        assert_eq!(large_fleet::list_reads(&page).await, reads, "the search read nothing");

        // A live change arrives as a change of the stream, not a new read of the list.
        large_fleet::search(&page, "eu-north").await;
        let was = row(&dashboard::rows(&page).await, "eu-north")
            .expect("the flapping proxy is found")
            .status
            .clone();
        let live_before = page
            .eval("Number(document.body.dataset.liveGeneration || 0)")
            .await
            .expect("live generation");
        wait_for_rows(&page, Duration::from_secs(40), "the flapping proxy changes status", |rows| {
            match row(rows, "eu-north") {
                Some(r) if r.status != was && r.badge == r.status => None,
                Some(r) => Some(format!("eu-north still {:?}", r.status)),
                None => Some("no eu-north row".into()),
            }
        })
        .await;
        assert!(
            page.eval("Number(document.body.dataset.liveGeneration || 0)")
                .await
                .expect("live generation")
                .as_u64()
                > live_before.as_u64(),
            "the page applied the stream's changes"
        );
        assert_eq!(
            large_fleet::list_reads(&page).await,
            reads,
            "the update read no list"
        );
        assert_eq!(
            page.eval("document.querySelector('#live').dataset.state").await.expect("live"),
            json!("live")
        );
        close(browser, cdp).await;
        stop_demo(demo).await;
    })
    .await
    .expect("the test finishes within its time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_stops_on_sigterm_and_leaves_nothing_behind() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let demo = Demo::start("sigterm-test-admin-token").await;
        let targets = std::fs::read_to_string(&demo.targets).expect("read the targets file");
        let urls: Vec<&str> = targets
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect();
        assert_eq!(
            urls.len(),
            13,
            "every registered demo proxy is a target:\n{targets}"
        );
        assert!(
            urls.iter()
                .all(|line| line.starts_with("http://127.0.0.1:")),
            "targets are on loopback:\n{targets}"
        );
        let http = proxyhealth_api::http::client_builder()
            .no_proxy()
            .build()
            .expect("client");
        let listed = http
            .get(format!("{}/api/v2/workspaceproxies", demo.base))
            .bearer_auth(&demo.admin_token)
            .send()
            .await
            .expect("list the proxies");
        assert_eq!(listed.status(), 200);
        let listed: serde_json::Value = listed.json().await.expect("list body");
        assert_eq!(
            listed["regions"].as_array().map(Vec::len),
            Some(14),
            "the demo created its 14 proxies through the API"
        );
        let base = demo.base.clone();
        stop_demo(demo).await;
        let after = http.get(format!("{base}/healthz")).send().await;
        assert!(
            after.is_err(),
            "nothing listens after the demo stopped: {after:?}"
        );
    })
    .await
    .expect("the test finishes within its time limit");
}

/// Creates the proxy [`MARKUP_PROXY`] displayed as [`MARKUP_NAME`] on `demo`
/// and registers it at `url` (as `instance`); returns its id.
async fn register_markup_proxy(demo: &Demo, url: &str, instance: &str) -> uuid::Uuid {
    let api = proxyhealth_testkit::api::client(&demo.base, &demo.admin_token);
    let created = api
        .create_proxy(&CreateProxyRequest {
            name: MARKUP_PROXY.to_owned(),
            display_name: MARKUP_NAME.to_owned(),
            ..CreateProxyRequest::default()
        })
        .await
        .expect("the markup display name is accepted as data");
    assert_eq!(
        created.status, 201,
        "the markup display name is accepted as data"
    );
    let registered = api
        .register(
            &created.value.proxy_token,
            &proxyhealth_testkit::api::registration(url, instance),
        )
        .await
        .expect("the fake proxy registers");
    assert_eq!(registered.status, 201, "the fake proxy registers");
    created.value.proxy.region.id
}

#[tokio::test]
async fn a_proxy_put_in_maintenance_while_the_page_is_open_shows_a_tag_with_its_reason() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let demo = Demo::start("maint-test-admin-token").await;
        maintenance::create_proxy(&demo.base, &demo.admin_token).await;
        let page = cdp.new_page().await.expect("open a page");
        page.navigate(&demo.dashboard)
            .await
            .expect("load the dashboard");
        wait_for_rows(&page, SETTLE, "the proxy is listed", |rows| {
            row(rows, maintenance::MAINT_PROXY).map_or(Some("no row yet".into()), |_| None)
        })
        .await;
        assert_eq!(
            maintenance::tag_of(&page, maintenance::MAINT_PROXY).await,
            json!(null),
            "no window yet"
        );
        // made while the page is open: the stream carries no window, the page reads them
        maintenance::put_in_maintenance(&demo.base, &demo.admin_token).await;
        let tag = maintenance::wait_for_tag(&page, maintenance::MAINT_PROXY, SETTLE).await;
        assert_eq!(tag["text"], "maintenance", "{tag}");
        assert!(
            tag["title"]
                .as_str()
                .is_some_and(|t| t.contains("kernel upgrade")),
            "the reason in the title: {tag}"
        );
        let rows = wait_for_rows(&page, SETTLE, "the demo's proxies are listed", |rows| {
            (rows.len() > 1)
                .then_some(())
                .map_or(Some("one row".into()), |()| None)
        })
        .await;
        let id = maintenance::proxy_id(&demo.base, &demo.admin_token).await;
        let history = cdp.new_page().await.expect("open a page");
        history
            .navigate(&format!(
                "{}/proxies/{id}#token={}",
                demo.base, demo.admin_token
            ))
            .await
            .expect("load the proxy page");
        let listed = maintenance::wait_for_history_window(&history, SETTLE).await;
        assert!(listed.contains("kernel upgrade"), "{listed}");
        for other in rows
            .iter()
            .filter(|r| r.name_text != maintenance::MAINT_PROXY)
        {
            assert_eq!(
                maintenance::tag_of(&page, &other.name_text).await,
                json!(null),
                "{} is in no window",
                other.name_text
            );
        }
        close(browser, cdp).await;
        stop_demo(demo).await;
    })
    .await
    .expect("the test finishes within its time limit");
}
