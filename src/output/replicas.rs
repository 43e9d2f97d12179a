//! The consistency report of `proxyhealth replicas` for people: the mode, one
//! line per replica (this one marked), then the disagreements and the stale
//! proxies, then the mode's note.

use super::style::{Colour, paint, sanitize, status_text_colour};
use super::table::{Row, render};
use proxyhealth_api::wire::{ReplicaMode, ReplicaReport, ReplicasResponse};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Renders the report; colours only when `colour` is set. Ends with a newline.
pub fn render_report(report: &ReplicasResponse, colour: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "mode: {} (newest generation {})\n",
        report.mode.as_str(),
        report.newest_generation
    ));
    if report.mode == ReplicaMode::Cluster || !report.replicas.is_empty() {
        out.push('\n');
        if report.replicas.is_empty() {
            out.push_str("no replicas registered\n");
        } else {
            let rows: Vec<Row> = report.replicas.iter().map(replica_row).collect();
            out.push_str(&render(
                &[
                    "",
                    "id",
                    "host",
                    "state",
                    "heartbeat",
                    "version",
                    "address",
                    "view",
                    "lag",
                ],
                &rows,
                colour,
            ));
        }
    }

    out.push('\n');
    if report.disagreements.is_empty() {
        out.push_str("no disagreements\n");
    } else {
        out.push_str(&paint(
            &format!(
                "{} proxies seen differently by live replicas:\n",
                report.disagreements.len()
            ),
            Colour::Yellow,
            colour,
        ));
        for disagreement in &report.disagreements {
            out.push_str(&format!(
                "  {} ({})\n",
                sanitize(&disagreement.name, false),
                disagreement.proxy_id
            ));
            for seen in &disagreement.observations {
                let who = if seen.hostname.is_empty() {
                    seen.replica_id.to_string()
                } else {
                    sanitize(&seen.hostname, false)
                };
                out.push_str(&format!(
                    "    {who}: {} at {}: {}\n",
                    paint(
                        &sanitize(&seen.status, false),
                        status_text_colour(&seen.status),
                        colour
                    ),
                    timestamp(seen.observed_at),
                    sanitize(&seen.message, false)
                ));
            }
        }
    }

    if report.stale.is_empty() {
        out.push_str("no stale proxies\n");
    } else {
        out.push_str(&paint(
            &format!(
                "{} stale proxies (no result for two intervals):\n",
                report.stale.len()
            ),
            Colour::Yellow,
            colour,
        ));
        for stale in &report.stale {
            let checked = stale.checked_at.map_or_else(
                || "never checked".to_owned(),
                |at| format!("last checked {}", timestamp(at)),
            );
            out.push_str(&format!(
                "  {} ({}): {checked}\n",
                sanitize(&stale.name, false),
                stale.proxy_id
            ));
        }
    }

    if let Some(note) = &report.note {
        out.push('\n');
        out.push_str(&format!("note: {}\n", sanitize(note, false)));
    }
    out
}

/// One replica's line: `*` marks the one that answered.
fn replica_row(replica: &ReplicaReport) -> Row {
    let (state, state_colour) = if replica.stopped_at.is_some() {
        ("stopped", Colour::Grey)
    } else if replica.live {
        ("live", Colour::Green)
    } else {
        ("dead", Colour::Red)
    };
    let lag = if replica.lag_generations == 0 {
        "0".to_owned()
    } else {
        format!("{} ({})", replica.lag_generations, seconds(replica.lag_ms))
    };
    let lag_colour = if replica.lag_generations == 0 {
        Colour::Green
    } else {
        Colour::Yellow
    };
    Row::new(vec![
        if replica.this { "*" } else { "" }.to_owned(),
        replica.id.to_string(),
        replica.hostname.clone(),
        state.to_owned(),
        format!("{} ago", seconds(replica.heartbeat_age_ms)),
        replica.version.clone(),
        replica.listen_addr.clone(),
        replica.view_generation.to_string(),
        lag,
    ])
    .colour(3, state_colour)
    .colour(8, lag_colour)
}

/// Milliseconds as seconds with one decimal: `1.2s`.
fn seconds(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_api::wire::{ReplicaDisagreement, ReplicaObservation, StaleProxy};
    use uuid::Uuid;

    fn replica(host: &str, this: bool, live: bool, lag: i64) -> ReplicaReport {
        ReplicaReport {
            id: Uuid::new_v4(),
            hostname: host.into(),
            version: "1.2.3".into(),
            listen_addr: "127.0.0.1:8080".into(),
            vantage: "local".into(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            heartbeat_at: OffsetDateTime::UNIX_EPOCH,
            heartbeat_age_ms: 1234,
            live,
            stopped_at: None,
            view_generation: 10 - lag,
            lag_generations: lag,
            lag_ms: if lag == 0 { 0 } else { 2500 },
            this,
        }
    }

    #[test]
    fn a_cluster_lists_replicas_disagreements_and_stale_proxies() {
        let a = replica("host-a", true, true, 0);
        let b = replica("host-b\x1b[31m", false, false, 3);
        let report = ReplicasResponse {
            mode: ReplicaMode::Cluster,
            note: None,
            this_replica: Some(a.id),
            newest_generation: 10,
            disagreements: vec![ReplicaDisagreement {
                proxy_id: Uuid::nil(),
                name: "eu-west".into(),
                observations: vec![ReplicaObservation {
                    replica_id: a.id,
                    hostname: "host-a".into(),
                    status: "unreachable".into(),
                    message: "connection refused".into(),
                    observed_at: OffsetDateTime::UNIX_EPOCH,
                }],
            }],
            stale: vec![StaleProxy {
                proxy_id: Uuid::nil(),
                name: "us".into(),
                checked_at: None,
            }],
            replicas: vec![a, b],
        };
        let text = render_report(&report, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "mode: cluster (newest generation 10)", "{text}");
        let header = lines[2];
        assert!(header.contains("HOST") && header.contains("LAG"), "{text}");
        assert!(
            lines[3].starts_with('*') && lines[3].contains("host-a"),
            "{text}"
        );
        assert!(
            lines[3].contains("live") && lines[3].contains("1.2s ago"),
            "{text}"
        );
        assert!(
            lines[4].contains("dead") && lines[4].contains("3 (2.5s)"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "control characters escaped: {text}");
        assert!(
            text.contains("  eu-west (00000000-0000-0000-0000-000000000000)"),
            "{text}"
        );
        assert!(
            text.contains("    host-a: unreachable at 1970-01-01T00:00:00Z: connection refused"),
            "{text}"
        );
        assert!(
            text.contains("  us (00000000-0000-0000-0000-000000000000): never checked"),
            "{text}"
        );
        assert!(!text.contains("note:"), "{text}");
    }

    #[test]
    fn a_single_process_shows_its_note_and_no_replica_table() {
        let report = ReplicasResponse {
            mode: ReplicaMode::Single,
            note: Some("One process.".into()),
            this_replica: None,
            newest_generation: 4,
            replicas: Vec::new(),
            disagreements: Vec::new(),
            stale: Vec::new(),
        };
        let text = render_report(&report, false);
        assert_eq!(
            text,
            "mode: single (newest generation 4)\n\nno disagreements\nno stale proxies\n\nnote: One process.\n"
        );
    }
}
