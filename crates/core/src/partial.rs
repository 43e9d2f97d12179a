//! Partial outages as events: a proxy that fails from some vantages but
//! fewer than the quorum stays `ok` overall, so no status transition marks
//! it. The engine hands each start, change and end of one to a
//! [`PartialRecorder`] (the store), which keeps it as an incident of its
//! own kind naming the vantages, and notifies its start and end when asked.

use crate::{ProxyStatus, RecordError, Status, VantageName};
use time::OffsetDateTime;
use uuid::Uuid;

/// The vantages a proxy is failing from in a partial outage: the fresh
/// readings that fail while the proxy is `ok` overall; empty when it is not
/// in one (no other vantage, down overall, or every fresh reading passing).
pub fn partial_vantages(status: &ProxyStatus) -> Vec<VantageName> {
    if status.status != Status::Ok {
        return Vec::new();
    }
    status
        .vantages
        .iter()
        .filter(|r| !r.stale && matches!(r.status, Status::Unhealthy | Status::Unreachable))
        .map(|r| r.vantage.clone())
        .collect()
}

/// The warning of a partial outage in a report (`partial outage: …`), or
/// empty.
pub fn partial_warning(status: &ProxyStatus) -> String {
    status
        .report
        .warnings
        .iter()
        .find(|w| w.starts_with("partial outage:"))
        .cloned()
        .unwrap_or_default()
}

/// A proxy's partial outage began, changed its vantages, or ended, as one
/// merge of the engine saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialChange {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name then.
    pub proxy_name: String,
    /// Its URL then.
    pub proxy_url: String,
    /// When the judgment that saw it was made.
    pub at: OffsetDateTime,
    /// The vantages it fails from now; empty when it is not (or no longer)
    /// in a partial outage.
    pub vantages: Vec<VantageName>,
    /// The report's partial-outage warning (empty when over).
    pub warning: String,
}

impl PartialChange {
    /// The change `next` makes after `previous` (`None`: the engine has not
    /// judged the proxy since it started, so whether an outage is open is the
    /// store's to say); `None` when the failing vantages are the same.
    pub fn between(
        previous: Option<&ProxyStatus>,
        next: &ProxyStatus,
        at: OffsetDateTime,
    ) -> Option<Self> {
        let now = partial_vantages(next);
        match previous.map(partial_vantages) {
            Some(before) if before == now => return None,
            _ => {}
        }
        Some(PartialChange {
            proxy_id: next.proxy.id,
            proxy_name: next.proxy.name.clone(),
            proxy_url: next.proxy.url.clone(),
            at,
            vantages: now,
            warning: partial_warning(next),
        })
    }

    /// Whether the proxy is in a partial outage after this change.
    pub fn is_partial(&self) -> bool {
        !self.vantages.is_empty()
    }
}

/// Where the engine hands partial outages' changes; stores implement it.
/// Called after the merge's history is written, before the
/// snapshot that shows the change is published.
#[async_trait::async_trait]
pub trait PartialRecorder: Send + Sync {
    /// Keeps the changes in one transaction: a change with vantages opens an
    /// outage (or updates the open one's vantages), one without ends the
    /// open one, if any.
    async fn record_partial(&self, changes: Vec<PartialChange>) -> Result<(), RecordError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HealthReport, Proxy, VantageReading};

    fn reading(vantage: &str, status: Status, stale: bool) -> VantageReading {
        VantageReading {
            vantage: VantageName::new(vantage).expect("a valid name"),
            status,
            last_result: status,
            streak: 1,
            latency_ms: None,
            checked_at: OffsetDateTime::UNIX_EPOCH,
            report: HealthReport::default(),
            stale,
        }
    }

    fn status(overall: Status, vantages: Vec<VantageReading>) -> ProxyStatus {
        let at = OffsetDateTime::UNIX_EPOCH;
        ProxyStatus {
            proxy: Proxy {
                id: Uuid::nil(),
                name: "sydney".into(),
                display_name: String::new(),
                icon: String::new(),
                url: "https://sydney.example".into(),
                wildcard_hostname: String::new(),
                created_at: at,
                updated_at: at,
                deleted: false,
                token_hashed_secret: Vec::new(),
                region_id: 1,
                derp_enabled: false,
                derp_only: false,
                version: String::new(),
            },
            host: None,
            status: overall,
            last_result: overall,
            streak: 1,
            report: HealthReport::default(),
            checked_at: at,
            latency: None,
            status_changed_at: at,
            history: Vec::new(),
            check_seq: 0,
            tls_not_after: None,
            tls_days_left: None,
            vantages,
        }
    }

    #[test]
    fn only_fresh_failing_vantages_of_a_proxy_ok_overall_are_a_partial_outage() {
        let partial = status(
            Status::Ok,
            vec![
                reading("local", Status::Ok, false),
                reading("ap-south", Status::Unreachable, false),
                reading("us-east", Status::Unhealthy, true),
            ],
        );
        let names: Vec<String> = partial_vantages(&partial)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["ap-south"], "a stale reading does not count");
        let down = status(Status::Unreachable, partial.vantages.clone());
        assert!(
            partial_vantages(&down).is_empty(),
            "down overall is an outage"
        );
        let alone = status(Status::Ok, Vec::new());
        assert!(partial_vantages(&alone).is_empty());
    }

    #[test]
    fn a_change_is_made_when_the_failing_vantages_differ_or_nothing_was_known() {
        let calm = status(Status::Ok, vec![reading("local", Status::Ok, false)]);
        let partial = status(
            Status::Ok,
            vec![
                reading("local", Status::Ok, false),
                reading("ap-south", Status::Unreachable, false),
            ],
        );
        let at = OffsetDateTime::UNIX_EPOCH;
        assert!(PartialChange::between(Some(&calm), &calm, at).is_none());
        assert!(PartialChange::between(Some(&partial), &partial, at).is_none());
        let start = PartialChange::between(Some(&calm), &partial, at).expect("a start");
        assert!(start.is_partial());
        let end = PartialChange::between(Some(&partial), &calm, at).expect("an end");
        assert!(!end.is_partial());
        let first = PartialChange::between(None, &calm, at).expect("the store decides");
        assert!(!first.is_partial());
    }
}
