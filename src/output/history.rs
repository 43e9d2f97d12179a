//! `proxyhealth proxies history` for people: the uptime over the window, a
//! compact timeline (one cell per slice of hours, oldest first), then the
//! incidents with their first error.

use super::style::{Colour, paint, sanitize, status_colour};
use super::table::{Row, render};
use proxyhealth_api::wire::{HistoryBucket, Incident, ProxyHistory};
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::format_description;

/// Cells in the timeline at most (a 24-hour window has one per hour).
pub const TIMELINE_CELLS: usize = 48;

/// Renders a proxy's history; colours only when `colour` is set. Ends with a newline.
pub fn render_history(history: &ProxyHistory, colour: bool) -> String {
    let mut out = String::new();
    let uptime = history
        .uptime
        .map_or_else(|| "no checks".to_owned(), |u| format!("{:.2}%", u * 100.0));
    out.push_str(&format!(
        "{}: uptime {} over {} ({} of {} checks ok), since {}\n",
        sanitize(&history.proxy_name, false),
        uptime,
        history.window,
        history.ok_checks,
        history.checks,
        when(history.since)
    ));
    let hours = history.window.hours() as usize;
    let per_cell = hours.div_ceil(TIMELINE_CELLS).max(1);
    out.push_str(&format!(
        "\ntimeline, one cell per {} (oldest first):\n{}\n",
        if per_cell == 1 {
            "hour".to_owned()
        } else {
            format!("{per_cell} hours")
        },
        timeline(history, per_cell, colour)
    ));
    out.push_str("█ all checks ok  ▒ some failed  ░ most failed  · no checks\n");
    out.push('\n');
    for window in &history.maintenance {
        out.push_str(&format!(
            "maintenance {} to {}: {} (not counted, not notified)\n",
            when(window.starts_at),
            when(window.ends_at),
            sanitize(&window.reason, false)
        ));
    }
    if !history.maintenance.is_empty() {
        out.push('\n');
    }
    if history.incidents.is_empty() {
        out.push_str("no incidents in the window\n");
    } else {
        out.push_str(&format!("incidents ({}):\n", history.incidents.len()));
        let rows: Vec<Row> = history.incidents.iter().map(incident_row).collect();
        out.push_str(&render(
            &["started", "ended", "lasted", "worst", "first error"],
            &rows,
            colour,
        ));
    }
    out
}

/// One cell per `per_cell` hours from the window's start to its end.
fn timeline(history: &ProxyHistory, per_cell: usize, colour: bool) -> String {
    let hours = history.window.hours() as usize;
    let cells = hours.div_ceil(per_cell);
    let mut ok = vec![0u64; cells];
    let mut checks = vec![0u64; cells];
    for bucket in &history.buckets {
        if let Some(cell) = cell_of(history, bucket, per_cell).filter(|cell| *cell < cells) {
            ok[cell] += bucket.ok;
            checks[cell] += bucket.checks;
        }
    }
    ok.iter()
        .zip(&checks)
        .map(|(ok, checks)| {
            let (glyph, tint) = if *checks == 0 {
                ("·", Colour::Grey)
            } else if ok == checks {
                ("█", Colour::Green)
            } else if ok * 2 >= *checks {
                ("▒", Colour::Yellow)
            } else {
                ("░", Colour::Red)
            };
            paint(glyph, tint, colour)
        })
        .collect()
}

fn cell_of(history: &ProxyHistory, bucket: &HistoryBucket, per_cell: usize) -> Option<usize> {
    let hours = (bucket.hour - history.since).whole_hours();
    usize::try_from(hours).ok().map(|hour| hour / per_cell)
}

fn incident_row(incident: &Incident) -> Row {
    let ended = incident.ended_at.map_or_else(|| "open".to_owned(), when);
    let lasted = proxyhealth_core::human::duration(Duration::from_millis(incident.duration_ms));
    Row::new(vec![
        when(incident.started_at),
        ended,
        lasted.to_string(),
        incident.worst_status.as_str().to_owned(),
        sanitize(&incident.first_error, false),
    ])
    .colour(3, status_colour(incident.worst_status))
}

/// A time as `2026-12-01 10:00 UTC`.
fn when(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_api::wire::HistoryWindow;
    use proxyhealth_core::Status;
    use uuid::Uuid;

    fn bucket(since: OffsetDateTime, hour: i64, ok: u64, checks: u64) -> HistoryBucket {
        HistoryBucket {
            hour: since + time::Duration::hours(hour),
            checks,
            ok,
            unhealthy: checks - ok,
            unreachable: 0,
            unregistered: 0,
            uptime: None,
            latency_median_ms: None,
            latency_max_ms: None,
        }
    }

    #[test]
    fn the_timeline_has_a_cell_per_hour_and_the_incidents_their_first_error() {
        let since = OffsetDateTime::from_unix_timestamp(1_764_547_200).expect("a time");
        let history = ProxyHistory {
            proxy_id: Uuid::nil(),
            proxy_name: "eu\u{1b}[2J".into(),
            window: HistoryWindow::Day,
            since,
            until: since + time::Duration::hours(24),
            uptime: Some(0.75),
            checks: 4,
            ok_checks: 3,
            status_at_start: None,
            buckets: vec![bucket(since, 0, 2, 2), bucket(since, 2, 1, 2)],
            transitions: vec![],
            incidents: vec![Incident {
                proxy_id: Uuid::nil(),
                proxy_name: "eu".into(),
                started_at: since + time::Duration::hours(2),
                ended_at: None,
                ended_by: None,
                open: true,
                duration_ms: 90_000,
                worst_status: Status::Unhealthy,
                first_error: "disk full".into(),
                kind: Default::default(),
                vantages: Vec::new(),
            }],
            maintenance: vec![],
        };
        let text = render_history(&history, false);
        assert!(
            text.starts_with("eu\\u{1b}[2J: uptime 75.00% over 24h (3 of 4 checks ok)"),
            "{text}"
        );
        assert!(text.contains(&format!("█·▒{}\n", "·".repeat(21))), "{text}");
        assert!(text.contains("incidents (1):"), "{text}");
        assert!(text.contains("open"), "{text}");
        assert!(text.contains("1m 30s"), "{text}");
        assert!(text.contains("disk full"), "{text}");
    }
}
