//! The metrics, read from the registry's text output.

use crate::helpers::*;
use proxyhealth_engine::EngineOptions;
use proxyhealth_engine::metrics::render;
use std::time::Duration;
use time::OffsetDateTime;

#[tokio::test]
async fn results_and_duration_use_coder_names_and_values() {
    let ok = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let bad = FakeProxy::fixed(500, None, "").await;
    let (a, b, c, d) = (
        proxy("ok", &ok.url),
        proxy("bad", &bad.url),
        proxy("refused", &refused_url().await),
        proxy("unregistered", ""),
    );
    let engine = engine(ListSource::with(vec![
        a.clone(),
        b.clone(),
        c.clone(),
        d.clone(),
    ]));
    let text = render(engine.registry());
    assert!(
        !text.contains("coderd_proxyhealth_health_check_results{"),
        "no series before the first sweep"
    );
    engine.force_update().await.expect("sweep");
    let text = render(engine.registry());
    for (proxy, value) in [(&a, 1), (&b, -1), (&c, -2), (&d, 0)] {
        let line = format!(
            "coderd_proxyhealth_health_check_results{{proxy_id=\"{}\"}} {value}\n",
            proxy.id
        );
        assert!(text.contains(&line), "missing {line} in\n{text}");
    }
    assert!(text.contains("# HELP coderd_proxyhealth_health_check_results This endpoint returns a number to indicate the health status. -3 (unknown), -2 (Unreachable), -1 (Unhealthy), 0 (Unregistered), 1 (Healthy)\n"));
    assert!(text.contains("# TYPE coderd_proxyhealth_health_check_results gauge\n"));
    assert!(text.contains("# HELP coderd_proxyhealth_health_check_duration_seconds Histogram for duration of proxy health collection in seconds.\n"));
    for bucket in [
        "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.5", "1", "5", "10", "30", "+Inf",
    ] {
        let line =
            format!("coderd_proxyhealth_health_check_duration_seconds_bucket{{le=\"{bucket}\"}}");
        assert!(text.contains(&line), "missing bucket {bucket}");
    }
    assert!(text.contains("coderd_proxyhealth_health_check_duration_seconds_count 1\n"));
}

#[tokio::test]
async fn a_deleted_proxy_series_disappears_at_the_next_sweep() {
    let (a, b) = (proxy("a", ""), proxy("b", ""));
    let source = ListSource::with(vec![a.clone(), b.clone()]);
    let engine = engine(source.clone());
    engine.force_update().await.expect("sweep");
    assert!(render(engine.registry()).contains(&b.id.to_string()));
    source.set(vec![a.clone()]);
    engine.force_update().await.expect("sweep");
    let text = render(engine.registry());
    assert!(text.contains(&a.id.to_string()));
    assert!(!text.contains(&b.id.to_string()), "b's series must be gone");
}

#[tokio::test]
async fn a_failed_sweep_changes_no_gauge_but_is_timed() {
    let a = proxy("a", "");
    let source = ListSource::with(vec![a.clone()]);
    let engine = engine(source.clone());
    engine.force_update().await.expect("sweep");
    let before = render(engine.registry());
    source.set(vec![]);
    source.fail_with(Some("database is down"));
    engine.force_update().await.expect_err("store fails");
    let after = render(engine.registry());
    let gauges = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("coderd_proxyhealth_health_check_results{"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(gauges(&before), gauges(&after));
    assert!(after.contains("coderd_proxyhealth_health_check_duration_seconds_count 2\n"));
    assert!(after.contains("proxyhealth_sweeps_total{outcome=\"failed\"} 1\n"));
}

/// The value of the one series `series` (name and labels as printed) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn the_info_series_names_each_proxy_with_its_latency_and_check_time() {
    let ok = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let mut a = proxy("eu-west", &ok.url);
    a.display_name = "Europe \"West\"".to_owned();
    let b = proxy("never", "");
    let engine = engine(ListSource::with(vec![a.clone(), b.clone()]));
    engine.force_update().await.expect("sweep");
    let text = render(engine.registry());

    let info = format!(
        "proxyhealth_proxy_info{{display_name=\"Europe \\\"West\\\"\",name=\"eu-west\",proxy_id=\"{}\",url=\"{}\"}} 1\n",
        a.id, ok.url
    );
    assert!(text.contains(&info), "missing {info} in\n{text}");
    assert!(
        text.contains(&format!(
            "proxyhealth_proxy_info{{display_name=\"never\",name=\"never\",proxy_id=\"{}\",url=\"\"}} 1\n",
            b.id
        )),
        "{text}"
    );
    assert!(
        text.contains("# TYPE proxyhealth_proxy_info gauge\n"),
        "{text}"
    );

    let status = engine.status_of(&a.id).expect("a's status");
    let latency = value(
        &text,
        &format!("proxyhealth_check_latency_seconds{{proxy_id=\"{}\"}}", a.id),
    )
    .expect("a's latency");
    let expected = status.latency.expect("a request was made").as_secs_f64();
    assert!((latency - expected).abs() < 1e-9, "{latency} vs {expected}");
    assert!(
        !text.contains(&format!(
            "proxyhealth_check_latency_seconds{{proxy_id=\"{}\"}}",
            b.id
        )),
        "no latency without a request:\n{text}"
    );
    let checked = value(
        &text,
        &format!(
            "proxyhealth_last_check_timestamp_seconds{{proxy_id=\"{}\"}}",
            a.id
        ),
    )
    .expect("a's check time");
    let expected = status.checked_at.unix_timestamp_nanos() as f64 / 1e9;
    assert!((checked - expected).abs() < 1e-3, "{checked} vs {expected}");
}

#[tokio::test]
async fn status_changes_are_counted_per_proxy_and_target_status_from_zero() {
    // ok, then 500 twice, then ok again
    let flapping = FakeProxy::start(|n| async move {
        if n == 1 || n == 2 {
            json(500, "{}")
        } else {
            json(200, r#"{"errors":[]}"#)
        }
    })
    .await;
    let a = proxy("flapping", &flapping.url);
    let engine = engine(ListSource::with(vec![a.clone()]));
    let series = |to: &str| {
        format!(
            "proxyhealth_status_changes_total{{proxy_id=\"{}\",to=\"{to}\"}}",
            a.id
        )
    };

    engine.force_update().await.expect("sweep");
    let text = render(engine.registry());
    for to in ["ok", "unhealthy", "unreachable", "unregistered"] {
        assert_eq!(
            value(&text, &series(to)),
            Some(0.0),
            "{to}: the first status is not a change\n{text}"
        );
    }
    assert_eq!(value(&text, &series("unknown")), None, "{text}");
    assert!(text.contains("# TYPE proxyhealth_status_changes_total counter\n"));

    for _ in 0..3 {
        engine.force_update().await.expect("sweep");
    }
    let text = render(engine.registry());
    assert_eq!(value(&text, &series("unhealthy")), Some(1.0), "{text}");
    assert_eq!(value(&text, &series("ok")), Some(1.0), "{text}");
    assert_eq!(value(&text, &series("unreachable")), Some(0.0), "{text}");
}

#[tokio::test]
async fn a_forgotten_proxy_loses_its_change_counts_and_names_at_once() {
    let (a, b) = (proxy("a", ""), proxy("b", ""));
    let engine = engine(ListSource::with(vec![a.clone(), b.clone()]));
    engine.force_update().await.expect("sweep");
    let text = render(engine.registry());
    assert!(text.contains(&format!(
        "proxyhealth_status_changes_total{{proxy_id=\"{}\"",
        b.id
    )));
    assert!(
        text.lines()
            .any(|line| line.starts_with("proxyhealth_proxy_info{")
                && line.contains(&format!("proxy_id=\"{}\"", b.id))),
        "{text}"
    );
    engine.forget(&b.id);
    let text = render(engine.registry());
    assert!(
        !text.contains(&b.id.to_string()),
        "b's series must be gone:\n{text}"
    );
    assert!(text.contains(&format!(
        "proxyhealth_status_changes_total{{proxy_id=\"{}\"",
        a.id
    )));
}

#[tokio::test]
async fn the_last_sweep_time_and_the_interval_are_exported() {
    let engine = engine_with(
        ListSource::with(vec![proxy("a", "")]),
        EngineOptions {
            interval: Duration::from_secs(42),
            ..EngineOptions::default()
        },
    );
    let before_start = OffsetDateTime::now_utc().unix_timestamp() as f64 - 60.0;
    let text = render(engine.registry());
    assert_eq!(
        value(&text, "proxyhealth_sweep_interval_seconds"),
        Some(42.0),
        "{text}"
    );
    let started = value(&text, "proxyhealth_last_sweep_timestamp_seconds").expect("start time");
    assert!(
        started > before_start,
        "the start before the first sweep: {started}"
    );
    assert_eq!(
        value(&text, "proxyhealth_sweeps_total{outcome=\"ok\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "proxyhealth_sweeps_total{outcome=\"failed\"}"),
        Some(0.0),
        "{text}"
    );

    let snapshot = engine.force_update().await.expect("sweep");
    let sweep = snapshot.last_sweep().expect("a sweep");
    let text = render(engine.registry());
    let finished = value(&text, "proxyhealth_last_sweep_timestamp_seconds").expect("sweep time");
    let expected = (sweep.started_at + sweep.duration).unix_timestamp_nanos() as f64 / 1e9;
    assert!(
        (finished - expected).abs() < 1e-3,
        "{finished} vs {expected}"
    );
}
