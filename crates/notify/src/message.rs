//! What a notification says: the generic webhook's JSON body
//! ([`WebhookBody`], documented in docs/api.md) and the Slack text.

use proxyhealth_core::{Status, Transition};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// What is notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A proxy's shown status changed (an outbox row).
    Change {
        /// The outbox row's id: the delivery id receivers can deduplicate on.
        id: i64,
        /// The change.
        transition: Transition,
    },
    /// `proxyhealth notify test`.
    Test,
}

impl Event {
    /// The event's word (`status_change`, `partial_outage` or `test`), in
    /// the body and the `X-Proxyhealth-Event` header.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Change { transition, .. } if is_partial(transition) => "partial_outage",
            Event::Change { .. } => "status_change",
            Event::Test => "test",
        }
    }

    /// The delivery id (`X-Proxyhealth-Delivery`): the outbox row's id, or
    /// `test`.
    pub fn delivery_id(&self) -> String {
        match self {
            Event::Change { id, .. } => id.to_string(),
            Event::Test => "test".to_owned(),
        }
    }
}

/// The proxy a webhook body is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BodyProxy {
    /// Its id.
    pub id: Uuid,
    /// Its name when the change happened.
    pub name: String,
    /// Its URL as given, any password replaced by `xxxxx` (as everywhere
    /// else); empty when unregistered.
    pub url: String,
}

/// The generic webhook's JSON body. A test notification has `type` `test`
/// and `proxy`, `from`, `to`, `at` null.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookBody {
    /// `status_change` or `test`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The delivery id (also in `X-Proxyhealth-Delivery`): the same on
    /// every retry of one notification.
    pub delivery_id: String,
    /// The proxy.
    pub proxy: Option<BodyProxy>,
    /// The status before; null for a proxy's first recorded status.
    pub from: Option<Status>,
    /// The status now.
    pub to: Option<Status>,
    /// Whether this is a recovery: `ok` after a failing status (not a
    /// registration; see [`Transition::is_recovery`]).
    pub recovered: bool,
    /// The report's errors from the check that caused the change.
    pub errors: Vec<String>,
    /// The report's warnings from that check.
    pub warnings: Vec<String>,
    /// When the check that caused the change started (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// How long the proxy was in `from`, in seconds; null when unknown.
    pub previous_status_seconds: Option<f64>,
    /// The dashboard's page for the proxy, when a public URL is configured.
    pub dashboard_url: Option<String>,
    /// One readable line (what the Slack text starts with).
    pub summary: String,
}

impl WebhookBody {
    /// The body for `event`; `dashboard_url` is the proxy's page, if any.
    pub fn of(event: &Event, dashboard_url: Option<String>) -> WebhookBody {
        match event {
            Event::Change { id, transition: t } => WebhookBody {
                kind: event.kind(),
                delivery_id: id.to_string(),
                proxy: Some(BodyProxy {
                    id: t.proxy_id,
                    name: t.proxy_name.clone(),
                    url: proxyhealth_core::redact_url(&t.proxy_url).into_owned(),
                }),
                from: t.from,
                to: Some(t.to),
                recovered: t.is_recovery(),
                errors: t.report.errors.clone(),
                warnings: t.report.warnings.clone(),
                at: Some(t.at),
                previous_status_seconds: t.previous_lasted.map(|d| d.as_secs_f64()),
                dashboard_url,
                summary: summary(t),
            },
            Event::Test => WebhookBody {
                kind: event.kind(),
                delivery_id: event.delivery_id(),
                proxy: None,
                from: None,
                to: None,
                recovered: false,
                errors: Vec::new(),
                warnings: Vec::new(),
                at: None,
                previous_status_seconds: None,
                dashboard_url: None,
                summary: "Test notification from proxyhealth".to_owned(),
            },
        }
    }
}

/// Whether an outbox row is a partial outage's start or end rather than a
/// status change: the store writes those as `ok` to `ok` (the overall status
/// does not change), the warning naming the vantages.
pub fn is_partial(t: &Transition) -> bool {
    t.from == Some(Status::Ok) && t.to == Status::Ok
}

/// One readable line: `eu-west is unreachable (was ok for 3h 2m)`, `eu-west
/// is ok again (…)` for a recovery, `eu-west registered and is ok (was
/// unregistered for 22ms)` for a registration.
pub fn summary(t: &Transition) -> String {
    if is_partial(t) {
        // the warning says it: `partial outage: failing from 1 of 3 vantages: …`
        // or `partial outage over: was failing from …`
        let warning = t
            .report
            .warnings
            .first()
            .map_or("partial outage", String::as_str);
        return format!("{}: {warning}", t.proxy_name);
    }
    let now = if t.is_recovery() {
        format!("{} is ok again", t.proxy_name)
    } else if t.from == Some(Status::Unregistered) {
        format!("{} registered and is {}", t.proxy_name, t.to)
    } else {
        format!("{} is {}", t.proxy_name, t.to)
    };
    match (t.from, t.previous_lasted) {
        (Some(from), Some(lasted)) => format!(
            "{now} (was {from} for {})",
            proxyhealth_core::human::duration(lasted)
        ),
        (Some(from), None) => format!("{now} (was {from})"),
        (None, _) => now,
    }
}

/// Most error or warning lines a Slack message lists.
const SLACK_LINES: usize = 10;

/// The Slack text for `event`, escaped as Slack asks (`&`, `<`, `>`).
pub fn slack_text(event: &Event, dashboard_url: Option<&str>) -> String {
    let Event::Change { transition: t, .. } = event else {
        return ":wave: Test notification from proxyhealth".to_owned();
    };
    let icon = match t.to {
        Status::Ok if is_partial(t) && t.previous_lasted.is_none() => ":large_yellow_circle:",
        Status::Ok => ":large_green_circle:",
        Status::Unhealthy => ":large_orange_circle:",
        Status::Unreachable => ":red_circle:",
        Status::Unregistered | Status::Unknown => ":white_circle:",
    };
    let mut text = format!("{icon} {}", escape(&summary(t)));
    let lines = t
        .report
        .errors
        .iter()
        .map(|e| ("error", e))
        .chain(t.report.warnings.iter().map(|w| ("warning", w)));
    for (kind, line) in lines.take(SLACK_LINES) {
        text.push_str(&format!("\n• {kind}: {}", escape(line)));
    }
    let more = (t.report.errors.len() + t.report.warnings.len()).saturating_sub(SLACK_LINES);
    if more > 0 {
        text.push_str(&format!("\n• … and {more} more"));
    }
    if let Some(url) = dashboard_url {
        text.push_str(&format!("\n<{}|Open in proxyhealth>", escape(url)));
    }
    text
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::HealthReport;
    use std::time::Duration;

    fn change() -> Event {
        Event::Change {
            id: 7,
            transition: Transition {
                proxy_id: Uuid::nil(),
                proxy_name: "eu-<west>".into(),
                proxy_url: "https://user:pw@eu.example".into(),
                at: OffsetDateTime::UNIX_EPOCH,
                from: Some(Status::Ok),
                to: Status::Unreachable,
                report: HealthReport::error("connection refused"),
                replica: None,
                previous_lasted: Some(Duration::from_secs(3725)),
            },
        }
    }

    #[test]
    fn a_partial_outage_is_its_own_event_named_by_its_warning() {
        let start = Event::Change {
            id: 8,
            transition: Transition {
                from: Some(Status::Ok),
                to: Status::Ok,
                report: HealthReport {
                    errors: Vec::new(),
                    warnings: vec!["partial outage: failing from 1 of 3 vantages: ap-south".into()],
                },
                previous_lasted: None,
                ..match change() {
                    Event::Change { transition, .. } => transition,
                    Event::Test => unreachable!("a change"),
                }
            },
        };
        assert_eq!(start.kind(), "partial_outage");
        let body = serde_json::to_value(WebhookBody::of(&start, None)).expect("json");
        assert_eq!(body["type"], "partial_outage");
        assert_eq!(body["recovered"], false);
        assert_eq!(
            body["summary"],
            "eu-<west>: partial outage: failing from 1 of 3 vantages: ap-south"
        );
        let text = slack_text(&start, None);
        assert!(
            text.starts_with(":large_yellow_circle: eu-&lt;west&gt;: partial outage: failing"),
            "{text}"
        );
        assert_eq!(change().kind(), "status_change", "a real change stays one");
    }

    #[test]
    fn the_webhook_body_hides_the_password_and_says_how_long() {
        let body = serde_json::to_value(WebhookBody::of(&change(), None)).expect("json");
        assert_eq!(body["type"], "status_change");
        assert_eq!(body["delivery_id"], "7");
        assert_eq!(body["proxy"]["url"], "https://user:xxxxx@eu.example");
        assert_eq!(body["from"], "ok");
        assert_eq!(body["to"], "unreachable");
        assert_eq!(body["recovered"], false);
        assert_eq!(body["errors"][0], "connection refused");
        assert_eq!(body["previous_status_seconds"], 3725.0);
        assert_eq!(body["at"], "1970-01-01T00:00:00Z");
        assert_eq!(
            body["summary"],
            "eu-<west> is unreachable (was ok for 1h 2m 5s)"
        );
    }

    fn transition(from: Status, to: Status, lasted: Duration) -> Transition {
        let Event::Change { transition, .. } = change() else {
            unreachable!("a change")
        };
        Transition {
            from: Some(from),
            to,
            previous_lasted: Some(lasted),
            proxy_name: "eu-west".into(),
            ..transition
        }
    }

    #[test]
    fn a_registration_soon_after_creation_is_no_recovery_and_says_its_milliseconds() {
        let registered = transition(Status::Unregistered, Status::Ok, Duration::from_millis(22));
        assert!(!registered.is_recovery());
        assert_eq!(
            summary(&registered),
            "eu-west registered and is ok (was unregistered for 22ms)"
        );
        let event = Event::Change {
            id: 1,
            transition: registered,
        };
        let body = serde_json::to_value(WebhookBody::of(&event, None)).expect("json");
        assert_eq!(body["recovered"], false);
        assert_eq!(body["previous_status_seconds"], 0.022);
    }

    #[test]
    fn ok_after_a_failure_is_a_recovery() {
        let back = transition(
            Status::Unreachable,
            Status::Ok,
            Duration::from_millis(1_500),
        );
        assert_eq!(
            summary(&back),
            "eu-west is ok again (was unreachable for 1s)"
        );
        let event = Event::Change {
            id: 1,
            transition: back,
        };
        let body = serde_json::to_value(WebhookBody::of(&event, None)).expect("json");
        assert_eq!(body["recovered"], true);
    }

    #[test]
    fn the_slack_text_is_escaped_and_links_the_page() {
        let text = slack_text(&change(), Some("https://h.example/proxies/x"));
        assert_eq!(
            text,
            ":red_circle: eu-&lt;west&gt; is unreachable (was ok for 1h 2m 5s)\n\
             • error: connection refused\n<https://h.example/proxies/x|Open in proxyhealth>"
        );
    }
}
