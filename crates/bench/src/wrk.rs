//! Running `wrk` and reading its summary.

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What one `wrk` run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrkReport {
    /// Requests per second over the run.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Non-2xx/3xx answers and socket errors.
    pub errors: u64,
}

/// `wrk -t2 -c<connections> -d<duration> --latency <url>`.
pub async fn run(url: &str, connections: u32, duration: Duration) -> anyhow::Result<WrkReport> {
    let output = tokio::process::Command::new("wrk")
        .arg("-t2")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("--latency")
        .arg(url)
        .kill_on_drop(true)
        .output()
        .await
        .context("run wrk (apt-get install wrk)")?;
    if !output.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Reads `Requests/sec`, the 50% and 99% latencies and the error lines.
pub fn parse(text: &str) -> anyhow::Result<WrkReport> {
    let mut rps = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut errors = 0u64;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            rps = rest.trim().parse::<f64>().ok();
        } else if let Some(rest) = line.strip_prefix("50%") {
            p50 = latency_ms(rest.trim());
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = latency_ms(rest.trim());
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok(WrkReport {
        rps: rps.ok_or_else(|| anyhow!("no Requests/sec in wrk's output:\n{text}"))?,
        p50_ms: p50.ok_or_else(|| anyhow!("no 50% latency in wrk's output"))?,
        p99_ms: p99.ok_or_else(|| anyhow!("no 99% latency in wrk's output"))?,
        errors,
    })
}

/// `123.45us`, `1.20ms`, `2.00s` in ms.
fn latency_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_gives_rate_percentiles_and_errors() {
        let text = "Running 10s test @ http://127.0.0.1:1/healthz\n  Latency Distribution\n     50%  105.00us\n     75%  1.20ms\n     90%    2.00ms\n     99%    1.50s\n  12345 requests in 10.00s, 1.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec:   1234.50\nTransfer/sec:    100KB\n";
        let report = parse(text).expect("parses");
        assert_eq!(report.rps, 1234.5);
        assert!((report.p50_ms - 0.105).abs() < 1e-9);
        assert_eq!(report.p99_ms, 1500.0);
        assert_eq!(report.errors, 7);
    }
}
