//! The metrics, read from the registry's text output.

use crate::helpers::*;
use proxyhealth_engine::metrics::render;

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
