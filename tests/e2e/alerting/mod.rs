//! The shipped alert rules and dashboard against the real Prometheus and
//! Alertmanager: Prometheus scrapes `proxyhealth serve` and loads
//! `deploy/prometheus/alerts.yml`; a simulated proxy goes down; the alerts
//! fire and Alertmanager delivers them to a webhook receiver of the test.
//! Then every PromQL expression of `deploy/grafana/proxyhealth.json` (its
//! variables substituted) must return data from that Prometheus.

mod stack;

use crate::support::{Server, run, stderr, stdout};
use proxyhealth_sim::Kind;
use serde_json::Value;
use stack::Receiver;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A file of the repository.
fn shipped(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The shipped rules with every `for:` shortened to one second, so the test
/// takes seconds, not minutes. Nothing else changes: the expressions,
/// labels and annotations Prometheus evaluates are the shipped ones.
fn rules_with_short_waits(shipped: &str) -> String {
    let mut waits = 0;
    let mut out = String::with_capacity(shipped.len());
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("for: ") {
            waits += 1;
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!("{indent}for: 1s\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let rules = shipped
        .lines()
        .filter(|line| line.trim_start().starts_with("- alert: "))
        .count();
    assert!(rules > 0, "no rules in alerts.yml");
    assert_eq!(waits, rules, "every shipped rule has one `for:` line");
    out
}

/// [`proxyhealth_testkit::eventually`], with `context` (the programs' logs)
/// in the message when it gives up.
async fn eventually<T>(
    limit: Duration,
    what: &str,
    context: impl Fn() -> String,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    proxyhealth_testkit::eventually(limit, what, async || check().await.ok_or_else(&context)).await
}

/// An instant query against Prometheus's HTTP API; the result vector.
async fn query(prometheus: &str, promql: &str) -> Vec<Value> {
    let url =
        url::Url::parse_with_params(&format!("{prometheus}/api/v1/query"), [("query", promql)])
            .expect("a query URL");
    let answer: Value = proxyhealth_api::http::client()
        .get(url)
        .send()
        .await
        .expect("query Prometheus")
        .json()
        .await
        .expect("Prometheus answers JSON");
    assert_eq!(answer["status"], "success", "{promql}: {answer}");
    answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The values of `label` on the series matching `selector`.
async fn label_values(prometheus: &str, selector: &str, label: &str) -> Vec<String> {
    let url = url::Url::parse_with_params(
        &format!("{prometheus}/api/v1/label/{label}/values"),
        [("match[]", selector)],
    )
    .expect("a label values URL");
    let answer: Value = proxyhealth_api::http::client()
        .get(url)
        .send()
        .await
        .expect("ask Prometheus for label values")
        .json()
        .await
        .expect("Prometheus answers JSON");
    assert_eq!(answer["status"], "success", "{selector}: {answer}");
    answer["data"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every panel's query of a Grafana dashboard, rows' panels included, with
/// its panel's title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.to_owned(), expr.to_owned()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// An alert of the receiver's with this name, firing, for the proxy `name`.
fn firing<'a>(alerts: &'a [Value], alertname: &str, name: &str) -> Option<&'a Value> {
    alerts.iter().find(|alert| {
        alert["labels"]["alertname"] == alertname
            && alert["labels"]["name"] == name
            && alert["status"] == "firing"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_going_down_fires_the_shipped_alerts_through_alertmanager_and_every_dashboard_query_has_data()
 {
    if !stack::binaries_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");

    // proxyhealth, checking a simulated proxy every second
    let server = Server::start(&["--interval", "1s", "--timeout", "1s"]);
    let created = run(server.cli().args([
        "proxies",
        "create",
        "--name",
        "eu-west",
        "--display-name",
        "EU West",
        "--only-token",
    ]));
    assert!(created.status.success(), "create: {}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    let sim = proxyhealth_sim::spawn(Kind::Ok)
        .await
        .expect("spawn a simulated proxy");
    crate::fleet::register(&server, &token, sim.url()).await;

    // the stack: receiver ← Alertmanager ← Prometheus → proxyhealth
    let receiver = Receiver::start().await;
    let alertmanager = stack::alertmanager(&receiver.url, dir.path());
    let shipped_rules =
        std::fs::read_to_string(shipped("deploy/prometheus/alerts.yml")).expect("alerts.yml");
    let rules = dir.path().join("alerts.yml");
    std::fs::write(&rules, rules_with_short_waits(&shipped_rules)).expect("write the rules");
    let target = server.url.trim_start_matches("http://");
    let prometheus = stack::prometheus(target, &rules, &alertmanager.addr, dir.path());
    let logs = || {
        format!(
            "receiver got: {:#?}\n--- prometheus:\n{}\n--- alertmanager:\n{}\n--- serve:\n{}",
            receiver.notifications(),
            prometheus.log_text(),
            alertmanager.log_text(),
            server.log_text()
        )
    };
    let p = prometheus.url.clone();

    // the proxy is ok, and Prometheus has seen it for a few evaluations
    eventually(Duration::from_secs(30), "Prometheus seeing the proxy ok", logs, async || {
        let ok = query(
            &p,
            "count_over_time((max without (instance) (coderd_proxyhealth_health_check_results * ignoring (name, display_name, url) group_left (name, display_name, url) proxyhealth_proxy_info{name=\"eu-west\"}) == 1)[10s:1s]) >= 3",
        )
        .await;
        (!ok.is_empty()).then_some(())
    })
    .await;
    let pending = query(&p, "ALERTS").await;
    assert!(
        pending.is_empty(),
        "no alert while the proxy is ok: {pending:#?}"
    );

    // down it goes: connections refused, so `unreachable`
    sim.set_kind(Kind::Refused)
        .await
        .expect("take the proxy down");
    let alerts = eventually(
        Duration::from_secs(60),
        "ProxyUnreachable and ProxyNotOk delivered to the receiver",
        logs,
        async || {
            let alerts = receiver.alerts();
            (firing(&alerts, "ProxyUnreachable", "eu-west").is_some()
                && firing(&alerts, "ProxyNotOk", "eu-west").is_some())
            .then_some(alerts)
        },
    )
    .await;
    let unreachable = firing(&alerts, "ProxyUnreachable", "eu-west").expect("firing");
    let labels = &unreachable["labels"];
    assert_eq!(labels["severity"], "critical", "{unreachable:#}");
    assert_eq!(labels["display_name"], "EU West", "{unreachable:#}");
    assert_eq!(labels["url"], sim.url(), "{unreachable:#}");
    assert_eq!(labels["job"], "proxyhealth", "{unreachable:#}");
    assert!(
        labels["instance"].is_null(),
        "aggregated over the replicas: {unreachable:#}"
    );
    assert_eq!(
        unreachable["annotations"]["summary"], "Proxy eu-west is unreachable",
        "{unreachable:#}"
    );
    let not_ok = firing(&alerts, "ProxyNotOk", "eu-west").expect("firing");
    assert_eq!(not_ok["labels"]["severity"], "warning", "{not_ok:#}");
    assert!(
        not_ok["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("EU West (") && d.contains("status value -2 ")),
        "{not_ok:#}"
    );
    let others: Vec<&Value> = alerts
        .iter()
        .filter(|a| {
            !matches!(
                a["labels"]["alertname"].as_str(),
                Some("ProxyUnreachable" | "ProxyNotOk")
            )
        })
        .collect();
    assert!(others.is_empty(), "no other rule fires: {others:#?}");

    // every query of the dashboard, its variables substituted, has data
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(shipped("deploy/grafana/proxyhealth.json")).expect("dashboard"),
    )
    .expect("the dashboard is JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let definition = variable["definition"].as_str().expect("a definition");
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("a label_values query: {definition}"));
        let (selector, label) = inner
            .rsplit_once(", ")
            .expect("label_values(selector, label)");
        let selector = selector.replace("$job", "proxyhealth");
        let values = label_values(&p, &selector, label).await;
        let want = match variable["name"].as_str() {
            Some("job") => "proxyhealth",
            Some("proxy") => "EU West",
            other => panic!("a variable the test does not know: {other:?}"),
        };
        assert!(values.iter().any(|v| v == want), "{definition}: {values:?}");
    }
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 8, "{queries:#?}");
    for (title, expr) in queries {
        let promql = expr
            .replace("$__rate_interval", "15s")
            .replace("$__range", "1m")
            .replace("$job", "proxyhealth")
            .replace("$proxy", ".*");
        assert!(
            !promql.contains('$'),
            "{title}: a variable the test does not substitute: {promql}"
        );
        let result = query(&p, &promql).await;
        assert!(
            !result.is_empty(),
            "{title}: no data for\n{promql}\n{}",
            logs()
        );
    }
}
