//! The vantages on the dashboard: the demo's service (its own vantage) and two
//! vantages whose agents send their results through the agent API, as
//! `proxyhealth agent` does. The page shows the proxies × vantages matrix with
//! each cell coloured by latency (Coder's thresholds) or status, a partial
//! outage's warning, one row per vantage on a proxy's page, and the panel
//! with each vantage's agents. Leaves `target/vantages-matrix.png`.
//!
//! Test hooks: `#fleet-views button[data-fleet-view]`, `#matrix tr.matrix-row`
//! with `td.mcell[data-vantage][data-tone]` and `.matrix-note`,
//! `#proxy-vantage-rows tr.vantage-row`, `#vantage-list li.vantage` with
//! `li.agent[data-agent-id]`.

use crate::demo::Demo;
use crate::{browser, close, large_fleet, stop_demo, target_dir};
use proxyhealth_cdp::Page;
use proxyhealth_core::Status;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;

/// Bound on the whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the page may take to show what the agents sent.
const SHOWN: Duration = Duration::from_secs(40);
/// How often the agents send (the demo checks every 2 s; a result is fresh for two intervals).
const SEND_EVERY: Duration = Duration::from_secs(1);
/// The version the agents state.
const AGENT_VERSION: &str = "browser-test 1.0";
/// An error one agent reports with markup in it, which must stay text.
const MARKUP_ERROR: &str = "<img src=x onerror=\"window.__pwned=4\">";

/// What one vantage saw of one proxy.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// `ok` in this many milliseconds.
    Ok(u32),
    /// `unhealthy` with this error.
    Unhealthy(&'static str),
    /// `unreachable` with this error.
    Unreachable(&'static str),
    /// `ok`, checked ten minutes ago and never again: stale from the start.
    Stale(u32),
}

/// The two agents' vantages, in the matrix's column order.
const VANTAGES: [&str; 2] = ["frankfurt", "sydney"];

/// What the agents of `frankfurt` and `sydney` report for each registered
/// demo proxy: mostly what the service sees too, at latencies of their
/// distance, with one partial outage (`eu-west`, cut off from Sydney), a
/// stale reading and an error with markup.
const SEEN: &[(&str, Seen, Seen)] = &[
    (
        "eu-west",
        Seen::Ok(24),
        Seen::Unreachable("request to proxy failed: dial tcp: i/o timeout"),
    ),
    ("us-east", Seen::Ok(96), Seen::Ok(212)),
    ("eu-central", Seen::Ok(12), Seen::Ok(288)),
    ("ap-south", Seen::Ok(168), Seen::Ok(64)),
    ("eu-north", Seen::Ok(31), Seen::Ok(301)),
    (
        "ap-southeast",
        Seen::Unhealthy("failed to get build info: primary unreachable"),
        Seen::Ok(88),
    ),
    (
        "sa-east",
        Seen::Unhealthy("unexpected status code 500."),
        Seen::Unhealthy("unexpected status code 500."),
    ),
    (
        "ap-northeast",
        Seen::Unhealthy("unexpected status code 400."),
        Seen::Unhealthy("unexpected status code 400."),
    ),
    (
        "us-west",
        Seen::Unhealthy("Could this be a primary coderd and not a proxy?"),
        Seen::Unhealthy("Could this be a primary coderd and not a proxy?"),
    ),
    (
        "ca-central",
        Seen::Unhealthy("is not a coder proxy instance"),
        Seen::Unhealthy("is not a coder proxy instance"),
    ),
    (
        "eu-south",
        Seen::Unreachable("request to proxy failed: body timed out"),
        Seen::Unreachable("request to proxy failed: body timed out"),
    ),
    (
        "me-central",
        Seen::Unreachable("request to proxy failed: timed out"),
        Seen::Stale(140),
    ),
    (
        "af-south",
        Seen::Unreachable(MARKUP_ERROR),
        Seen::Unreachable("request to proxy failed: connection refused"),
    ),
];

/// One agent: its vantage, the id it names itself with, its token.
#[derive(Debug, Clone)]
struct Agent {
    vantage: &'static str,
    id: String,
    token: String,
}

/// Creates the two vantages through the admin API; returns their agents.
async fn create_agents(demo: &Demo) -> Vec<Agent> {
    let api = proxyhealth_testkit::api::client(&demo.base, &demo.admin_token);
    let mut agents = Vec::new();
    for vantage in VANTAGES {
        let created = api.create_vantage(vantage).await.expect("create a vantage");
        assert_eq!(created.status, 201, "the vantage {vantage} is created");
        agents.push(Agent {
            vantage,
            id: format!("browser-agent-{vantage}"),
            token: created.value.agent_token,
        });
    }
    agents
}

/// The demo's proxies by name: their ids, once a sweep checked every one of
/// [`SEEN`] (agents are assigned only proxies the service has checked at
/// their registered address).
async fn proxy_ids(demo: &Demo) -> HashMap<String, String> {
    let api = proxyhealth_testkit::api::client(&demo.base, &demo.admin_token);
    let deadline = tokio::time::Instant::now() + SHOWN;
    loop {
        let listed = api.list_proxies().await.expect("list the proxies");
        let unchecked: Vec<&str> = SEEN
            .iter()
            .map(|(name, ..)| *name)
            .filter(|name| {
                !listed.value.regions.iter().any(|p| {
                    p.region.name == *name
                        && matches!(
                            p.status.last_result,
                            Status::Ok | Status::Unhealthy | Status::Unreachable
                        )
                })
            })
            .collect();
        if unchecked.is_empty() {
            return listed
                .value
                .regions
                .iter()
                .map(|p| (p.region.name.clone(), p.region.id.to_string()))
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo never checked {unchecked:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("a time formats")
}

/// One result as an agent sends it.
fn result(id: &str, seen: Seen, at: OffsetDateTime) -> Value {
    let (status, latency, error) = match seen {
        Seen::Ok(ms) | Seen::Stale(ms) => ("ok", Some(ms), None),
        Seen::Unhealthy(error) => ("unhealthy", Some(41), Some(error)),
        Seen::Unreachable(error) => ("unreachable", None, Some(error)),
    };
    json!({
        "proxy_id": id,
        "status": status,
        "latency_ms": latency,
        "checked_at": rfc3339(at),
        "report": {"errors": error.into_iter().collect::<Vec<_>>(), "warnings": []},
    })
}

/// Sends `results` as `agent`; fails the test on a refusal.
async fn send(http: &reqwest::Client, base: &str, agent: &Agent, results: Vec<Value>) {
    let answer = http
        .post(format!("{base}/api/v2/proxyhealth/agent/results"))
        .bearer_auth(&agent.token)
        .header("Proxyhealth-Agent-Id", &agent.id)
        .header("Proxyhealth-Agent-Version", AGENT_VERSION)
        .json(&json!({ "results": results }))
        .send()
        .await
        .expect("send results");
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    assert_eq!(
        status, 200,
        "{} 's results are taken: {body}",
        agent.vantage
    );
}

/// The agents' sending task, stopped when dropped (also when the test fails).
struct Sending(JoinHandle<()>);

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Each agent fetches its assignment (so the service knows its version and
/// share), sends its stale readings once, then every [`SEND_EVERY`] the rest
/// of [`SEEN`], checked just now, until aborted.
async fn start_agents(demo: &Demo, agents: &[Agent], ids: &HashMap<String, String>) -> Sending {
    let http = proxyhealth_api::http::client_builder()
        .no_proxy()
        .build()
        .expect("client");
    for agent in agents {
        let assigned = http
            .get(format!("{}/api/v2/proxyhealth/agent/assignment", demo.base))
            .bearer_auth(&agent.token)
            .header("Proxyhealth-Agent-Id", &agent.id)
            .header("Proxyhealth-Agent-Version", AGENT_VERSION)
            .send()
            .await
            .expect("fetch the assignment");
        assert_eq!(assigned.status(), 200, "{} is assigned", agent.vantage);
        let old = OffsetDateTime::now_utc() - time::Duration::minutes(10);
        let stale: Vec<Value> = SEEN
            .iter()
            .filter_map(|(name, ..)| {
                let seen = seen_by(agent.vantage, name);
                matches!(seen, Seen::Stale(_)).then(|| result(&ids[*name], seen, old))
            })
            .collect();
        if !stale.is_empty() {
            send(&http, &demo.base, agent, stale).await;
        }
    }
    let base = demo.base.clone();
    let agents = agents.to_vec();
    let ids = ids.clone();
    Sending(tokio::spawn(async move {
        loop {
            let now = OffsetDateTime::now_utc();
            for agent in &agents {
                let results = SEEN
                    .iter()
                    .filter_map(|(name, ..)| {
                        let seen = seen_by(agent.vantage, name);
                        (!matches!(seen, Seen::Stale(_))).then(|| result(&ids[*name], seen, now))
                    })
                    .collect();
                send(&http, &base, agent, results).await;
            }
            tokio::time::sleep(SEND_EVERY).await;
        }
    }))
}

/// What `vantage` sees of the proxy `name`.
fn seen_by(vantage: &str, name: &str) -> Seen {
    let (_, frankfurt, sydney) = SEEN
        .iter()
        .find(|(n, ..)| *n == name)
        .expect("a proxy of SEEN");
    if vantage == VANTAGES[0] {
        *frankfurt
    } else {
        *sydney
    }
}

/// One row of the matrix as the page shows it.
#[derive(Debug, Clone, Deserialize)]
struct MatrixRow {
    name: String,
    status: String,
    note: String,
    /// Each cell's vantage and tone.
    cells: Vec<(String, String)>,
}

impl MatrixRow {
    fn tone(&self, vantage: &str) -> &str {
        self.cells
            .iter()
            .find(|(v, _)| v == vantage)
            .map_or("no cell", |(_, tone)| tone.as_str())
    }
}

const MATRIX_JS: &str = r#"(() => [...document.querySelectorAll('#matrix tr.matrix-row')].map((tr) => ({
  name: tr.dataset.proxyName || '', status: tr.dataset.status || '',
  note: (tr.querySelector('.matrix-note') || {}).textContent || '',
  cells: [...tr.querySelectorAll('td.mcell')].map((td) => [td.dataset.vantage || '', td.dataset.tone || '']),
})))()"#;

async fn matrix(page: &Page<'_>) -> Vec<MatrixRow> {
    let value = page.eval(MATRIX_JS).await.expect("read the matrix");
    serde_json::from_value(value).expect("the matrix decodes")
}

/// Polls the matrix until `check` is content, or fails with its complaint.
async fn wait_for_matrix(
    page: &Page<'_>,
    what: &str,
    check: impl Fn(&[MatrixRow]) -> Option<String>,
) -> Vec<MatrixRow> {
    let deadline = tokio::time::Instant::now() + SHOWN;
    loop {
        let now = matrix(page).await;
        match check(&now) {
            None => return now,
            Some(complaint) if tokio::time::Instant::now() > deadline => {
                panic!("{what}: still not so after {SHOWN:?}: {complaint}\nmatrix: {now:#?}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The tones the matrix must show: (proxy, vantage, tone).
const TONES: &[(&str, &str, &str)] = &[
    ("eu-west", "local", "fast"),
    ("eu-west", "frankfurt", "fast"),
    ("eu-west", "sydney", "unreachable"),
    ("us-east", "sydney", "medium"),
    ("eu-central", "sydney", "medium"),
    ("ap-south", "local", "slow"),
    ("ap-south", "frankfurt", "medium"),
    ("ap-south", "sydney", "fast"),
    ("eu-north", "sydney", "slow"),
    ("ap-southeast", "local", "unhealthy"),
    ("ap-southeast", "frankfurt", "unhealthy"),
    ("ap-southeast", "sydney", "fast"),
    ("me-central", "sydney", "stale"),
    ("me-central", "frankfurt", "unreachable"),
    ("af-south", "frankfurt", "unreachable"),
    ("eu-east", "local", "unknown"),
    ("eu-east", "frankfurt", "missing"),
];

fn tones_shown(rows: &[MatrixRow]) -> Option<String> {
    for (name, vantage, tone) in TONES {
        let Some(row) = rows.iter().find(|r| r.name == *name) else {
            return Some(format!("no row for {name}"));
        };
        if row.tone(vantage) != *tone {
            return Some(format!(
                "{name} from {vantage}: {:?}, want {tone:?}",
                row.tone(vantage)
            ));
        }
    }
    None
}

/// The computed background of the cell of `name` from `vantage`: `[r, g, b, a]`
/// and the background image.
async fn cell_colour(page: &Page<'_>, name: &str, vantage: &str) -> (Vec<f64>, String) {
    let js = format!(
        "(() => {{ const td = document.querySelector('#matrix tr[data-proxy-name=\"{name}\"] td.mcell[data-vantage=\"{vantage}\"]'); \
         if (!td) return null; const s = getComputedStyle(td); \
         return [s.backgroundColor.match(/[\\d.]+/g).map(Number), s.backgroundImage]; }})()"
    );
    let value = page.eval(&js).await.expect("read a cell's colour");
    let (mut rgba, image): (Vec<f64>, String) = serde_json::from_value(value)
        .unwrap_or_else(|err| panic!("no cell {name}/{vantage}: {err}"));
    if rgba.len() == 3 {
        rgba.push(1.0);
    }
    (rgba, image)
}

/// Fails when an agent's error with markup made an element or ran a script.
async fn assert_nothing_injected(page: &Page<'_>) {
    assert_eq!(
        page.eval(
            "document.querySelectorAll('img[src=\"x\"]').length + (typeof window.__pwned === 'undefined' ? 0 : 100)"
        )
        .await
        .expect("count injected elements"),
        json!(0),
        "no element was made from an agent's error and no script ran"
    );
}

/// Clicks the view button `view` (`table` or `matrix`).
async fn choose_view(page: &Page<'_>, view: &str) {
    let js = format!(
        "(() => {{ const b = document.querySelector('#fleet-views button[data-fleet-view=\"{view}\"]'); \
         if (!b || b.offsetParent === null) return false; b.click(); return true; }})()"
    );
    let deadline = tokio::time::Instant::now() + SHOWN;
    while page.eval(&js).await.expect("click a view") != json!(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the {view} view button never showed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A PNG of the element `selector` (scrolled into the page's full height).
async fn screenshot_of(page: &Page<'_>, selector: &str) -> Vec<u8> {
    use base64::Engine as _;
    let js = format!(
        "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
         return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; }})()"
    );
    let rect: Vec<f64> =
        serde_json::from_value(page.eval(&js).await.expect("measure")).expect("a rectangle");
    let shot = page
        .call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": rect[0], "y": rect[1], "width": rect[2].ceil(), "height": rect[3].ceil(), "scale": 1},
            }),
        )
        .await
        .expect("take a screenshot");
    base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("screenshot data"))
        .expect("the screenshot decodes")
}

/// One row of a proxy page's vantages table.
#[derive(Debug, Clone, Deserialize)]
struct VantageRow {
    vantage: String,
    status: String,
    tone: String,
    stale: bool,
    own: bool,
    latency: String,
    errors: Vec<String>,
}

const VANTAGE_ROWS_JS: &str = r#"(() => [...document.querySelectorAll('#proxy-vantage-rows tr.vantage-row')].map((tr) => ({
  vantage: tr.dataset.vantage || '', status: tr.dataset.status || '', tone: tr.dataset.tone || '',
  stale: tr.dataset.stale === 'true', own: tr.dataset.own === 'true',
  latency: tr.querySelector('.vrow-latency').textContent.trim(),
  errors: [...tr.querySelectorAll('ul.errors .msg-text')].map((n) => n.textContent),
})))()"#;

async fn wait_for_vantage_rows(
    page: &Page<'_>,
    what: &str,
    check: impl Fn(&[VantageRow]) -> Option<String>,
) -> Vec<VantageRow> {
    let deadline = tokio::time::Instant::now() + SHOWN;
    loop {
        let value = page.eval(VANTAGE_ROWS_JS).await.expect("read the rows");
        let rows: Vec<VantageRow> = serde_json::from_value(value).expect("rows decode");
        match check(&rows) {
            None => return rows,
            Some(complaint) if tokio::time::Instant::now() > deadline => {
                panic!("{what}: still not so after {SHOWN:?}: {complaint}\nrows: {rows:#?}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_vantages_show_as_a_coloured_matrix_a_row_each_on_the_proxy_page_and_agents_in_the_panel()
 {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some((browser, cdp)) = browser().await else {
            return;
        };
        let demo = Demo::start("vantages-admin-token").await;
        let agents = create_agents(&demo).await;
        let ids = proxy_ids(&demo).await;
        let sending = start_agents(&demo, &agents, &ids).await;

        let page = cdp.new_page().await.expect("open a page");
        page.set_viewport(1360, 900).await.expect("set the viewport");
        page.navigate(&demo.dashboard).await.expect("load the dashboard");
        large_fleet::wait_for_model(&page, SHOWN).await;
        choose_view(&page, "matrix").await;

        // Every cell in its colour: latency by Coder's thresholds, a status other than ok over it, stale greyed.
        let shown = wait_for_matrix(&page, "every cell in its tone", tones_shown).await;
        assert_eq!(shown.len(), 14, "one row per proxy of the page");
        let eu_west = shown.iter().find(|r| r.name == "eu-west").expect("eu-west");
        let columns: Vec<&str> = eu_west.cells.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(columns, ["local", "frankfurt", "sydney"], "the own vantage first, then by name");
        assert_eq!(eu_west.status, "ok", "a failure from one of three vantages is not an outage");
        assert!(
            eu_west.note.contains("partial outage: failing from 1 of 3 vantages: sydney (unreachable"),
            "the partial outage's warning names the vantage: {:?}",
            eu_west.note
        );
        let singapore = shown.iter().find(|r| r.name == "ap-southeast").expect("ap-southeast");
        assert_eq!(singapore.status, "unhealthy");
        assert_eq!(
            singapore.note, "unhealthy from 2 of 3 vantages",
            "the quorum's error says how many agree"
        );
        assert_eq!(
            page.eval("document.querySelector('#proxy-table').closest('.table-wrap').hidden")
                .await
                .expect("table shown"),
            json!(true),
            "the matrix takes the table's place"
        );

        assert_nothing_injected(&page).await;

        // The colours themselves, as the browser computes them.
        let (fast, _) = cell_colour(&page, "eu-west", "frankfurt").await;
        let (medium, _) = cell_colour(&page, "us-east", "sydney").await;
        let (slow, _) = cell_colour(&page, "ap-south", "local").await;
        let (unhealthy, _) = cell_colour(&page, "ap-southeast", "frankfurt").await;
        let (unreachable, _) = cell_colour(&page, "eu-west", "sydney").await;
        let (_, stale) = cell_colour(&page, "me-central", "sydney").await;
        assert!(fast[1] > fast[0] && fast[1] > fast[2], "under 150 ms is green: {fast:?}");
        assert!(
            medium[0] > medium[2] + 60.0 && medium[1] > medium[2] + 60.0,
            "150 to 300 ms is yellow: {medium:?}"
        );
        assert!(slow[0] > slow[1] && slow[0] > slow[2], "over 300 ms is red: {slow:?}");
        assert!(
            unreachable[0] > unreachable[1] + 80.0 && unreachable[0] < slow[0],
            "unreachable is a solid, darker red than a slow answer: {unreachable:?} vs {slow:?}"
        );
        assert!(
            unhealthy[0] > unhealthy[2] + 80.0 && unhealthy[1] < medium[1],
            "unhealthy is a solid amber, darker than a fair latency: {unhealthy:?} vs {medium:?}"
        );
        assert!(stale.contains("repeating-linear-gradient"), "stale is hatched grey: {stale}");
        let stale_cell = page
            .eval("document.querySelector('#matrix tr[data-proxy-name=\"me-central\"] td.mcell[data-vantage=\"sydney\"]').textContent")
            .await
            .expect("stale cell");
        assert!(
            stale_cell.as_str().unwrap_or("").contains("stale"),
            "the stale cell says so: {stale_cell}"
        );
        let tooltip = page
            .eval("document.querySelector('#matrix tr[data-proxy-name=\"eu-west\"] td.mcell[data-vantage=\"sydney\"]').title")
            .await
            .expect("tooltip");
        let tooltip = tooltip.as_str().unwrap_or_default();
        for part in ["sydney → eu-west", "unreachable", "checked ", "error: request to proxy failed: dial tcp: i/o timeout"] {
            assert!(tooltip.contains(part), "the tooltip holds {part:?}: {tooltip:?}");
        }

        // The panel: each vantage, live, with its agent.
        let panel = page
            .eval(
                "[...document.querySelectorAll('#vantage-list li.vantage')].map((li) => [li.dataset.vantageName, li.dataset.live, \
                 [...li.querySelectorAll('li.agent')].map((a) => [a.dataset.agentId, a.dataset.live, a.querySelector('.agent-version').textContent, \
                 a.querySelector('.agent-assigned').textContent])])",
            )
            .await
            .expect("read the panel");
        assert_eq!(
            panel,
            json!([
                ["frankfurt", "true", [["browser-agent-frankfurt", "true", AGENT_VERSION, "13 proxies assigned"]]],
                ["sydney", "true", [["browser-agent-sydney", "true", AGENT_VERSION, "13 proxies assigned"]]],
            ]),
            "the panel lists each vantage's agent"
        );

        // The matrix follows the table's search.
        large_fleet::search(&page, "eu-").await;
        let searched = wait_for_matrix(&page, "the search narrows the matrix", |rows| {
            rows.iter()
                .any(|r| !r.name.starts_with("eu-"))
                .then(|| "a row not matching eu-".to_owned())
        })
        .await;
        assert_eq!(searched.len(), 5, "the five eu- proxies");
        large_fleet::search(&page, "").await;
        wait_for_matrix(&page, "every row again", |rows| {
            (rows.len() != 14).then(|| format!("{} rows", rows.len()))
        })
        .await;

        let png = screenshot_of(&page, "#proxies").await;
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
        let path = target_dir().join("vantages-matrix.png");
        std::fs::write(&path, &png).expect("save the screenshot");
        eprintln!("vantages matrix screenshot: {}", path.display());

        // A proxy's page: one row per vantage.
        page.navigate(&format!("{}/proxies/{}", demo.base, ids["eu-west"]))
            .await
            .expect("open eu-west's page");
        let rows = wait_for_vantage_rows(&page, "eu-west's vantages", |rows| {
            let seen: Vec<(&str, &str)> = rows.iter().map(|r| (r.vantage.as_str(), r.status.as_str())).collect();
            (seen != [("local", "ok"), ("frankfurt", "ok"), ("sydney", "unreachable")])
                .then(|| format!("{seen:?}"))
        })
        .await;
        assert!(rows[0].own && !rows[1].own, "the own vantage is marked");
        assert_eq!(rows[1].latency, "24 ms");
        assert_eq!(rows[1].tone, "fast");
        assert_eq!(rows[2].errors, ["request to proxy failed: dial tcp: i/o timeout"]);
        assert!(rows.iter().all(|r| !r.stale));
        // its partial outage is an incident on the page, naming the vantage
        let deadline = tokio::time::Instant::now() + SHOWN;
        loop {
            let found = page
                .eval(
                    r#"(() => [...document.querySelectorAll('#incident-list li.incident[data-kind="partial"]')].map((li) => ({
  badge: li.querySelector('.badge').textContent.trim(),
  message: li.querySelector('.incident-message').textContent,
  open: li.dataset.open,
})))()"#,
                )
                .await
                .expect("read the incidents");
            let partial = found.as_array().and_then(|list| {
                list.iter().find(|i| {
                    i["badge"] == "Partial outage"
                        && i["open"] == "true"
                        && i["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("partial outage: failing from 1 of 3 vantages: sydney"))
                })
            });
            if partial.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no open partial outage naming sydney among eu-west's incidents: {found}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        page.navigate(&format!("{}/proxies/{}", demo.base, ids["af-south"]))
            .await
            .expect("open af-south's page");
        wait_for_vantage_rows(&page, "af-south's vantages: the markup as text", |rows| {
            match rows.iter().find(|r| r.vantage == "frankfurt") {
                Some(r) if r.errors == [MARKUP_ERROR] => None,
                other => Some(format!("{other:?}")),
            }
        })
        .await;
        assert_nothing_injected(&page).await;
        page.navigate(&format!("{}/proxies/{}", demo.base, ids["me-central"]))
            .await
            .expect("open me-central's page");
        wait_for_vantage_rows(&page, "me-central's stale vantage", |rows| {
            match rows.iter().find(|r| r.vantage == "sydney") {
                Some(r) if r.stale && r.tone == "stale" => None,
                other => Some(format!("{other:?}")),
            }
        })
        .await;
        assert!(
            cdp.events_named("Page.javascriptDialogOpening").is_empty(),
            "no dialog opened"
        );

        drop(sending);
        close(browser, cdp).await;
        stop_demo(demo).await;
    })
    .await
    .expect("the test finishes within its time limit");
}
