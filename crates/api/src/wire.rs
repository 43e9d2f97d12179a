//! The JSON shapes of the API: Coder's `codersdk` types (with proxyhealth's
//! additions, which Coder clients ignore), the request bodies and proxyhealth's
//! own summary; the shapes of history, notifications and the replicas' report
//! live beside it and are re-exported here.
//!
//! One definition for both ends: the server serializes answers and
//! deserializes requests with these types, and [`crate::ApiClient`] does the
//! reverse. Request bodies refuse unknown fields (a field the server would
//! silently drop is a mistake the sender should hear about); answers do not, so
//! a client reads a newer server's additions without failing.

use proxyhealth_core::{
    HealthReport, HistoryPoint, Proxy, ProxyStatus, Status, VantageReading, redact_url,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::{Date, Month, OffsetDateTime, Time};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::wire_access::{
    AuditEntry, AuditResponse, CreatePersonalTokenRequest, CreatedPersonalTokenResponse,
    PersonalTokenInfo, PersonalTokensResponse,
};
pub use crate::wire_history::{
    HistoryBucket, HistoryTransition, HistoryWindow, Incident, IncidentKind, IncidentsPage,
    ParseWindowError, ProxyHistory, ProxyUptime,
};
pub use crate::wire_maintenance::{
    CreateMaintenanceRequest, MaintenanceList, MaintenanceState, MaintenanceWindowInfo,
    WireMaintenance,
};
pub use crate::wire_notify::{NotificationDelivery, NotificationsResponse};
pub use crate::wire_replicas::{
    ReplicaDisagreement, ReplicaMode, ReplicaObservation, ReplicaReport, ReplicasResponse,
    StaleProxy,
};
pub use crate::wire_session::{CSRF_HEADER, SessionInfo};
pub use crate::wire_summary::{Counts, Healthz, LastSweep, Summary};
pub use crate::wire_vantage_history::{VantageHistory, VantageHistoryTransition};
pub use crate::wire_vantages::{
    AGENT_ID_HEADER, AGENT_VERSION_HEADER, AgentAssignment, AgentInfo, AgentResult,
    AgentResultsRequest, AgentResultsResponse, AssignedProxy, CreateVantageRequest,
    MAX_AGENT_BATCH, ProbeSettings, VantageInfo, VantageLiveness, VantageTokenResponse,
    VantagesResponse,
};

/// The offset Coder adds to a proxy's `region_id` to make its DERP region id.
pub const DERP_REGION_ID_OFFSET: i32 = 10_000;

/// Go's zero time, `0001-01-01T00:00:00Z`: the `checked_at` of a proxy not checked yet.
pub fn zero_time() -> OffsetDateTime {
    Date::from_calendar_date(1, Month::January, 1)
        .map(|date| date.with_time(Time::MIDNIGHT).assume_utc())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Coder's `Region`: what `/api/v2/regions` lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Region {
    /// The proxy id.
    pub id: Uuid,
    /// The proxy's unique name.
    pub name: String,
    /// The human-readable name.
    pub display_name: String,
    /// The icon URL or `/emojis/…` path.
    pub icon_url: String,
    /// `true` only when the status is `ok`.
    pub healthy: bool,
    /// The registered access URL (empty before registration), its password
    /// redacted (`https://user:xxxxx@host`).
    pub path_app_url: String,
    /// The registered wildcard hostname.
    pub wildcard_hostname: String,
}

impl Region {
    /// A proxy as a region: `healthy` only when its status is `ok`.
    pub fn of(proxy: &Proxy, status: Status) -> Self {
        Region {
            id: proxy.id,
            name: proxy.name.clone(),
            display_name: proxy.display_name.clone(),
            icon_url: proxy.icon.clone(),
            healthy: status.is_healthy(),
            path_app_url: redact_url(&proxy.url).into_owned(),
            wildcard_hostname: proxy.wildcard_hostname.clone(),
        }
    }
}

/// Coder's `WorkspaceProxyStatus`, with proxyhealth's additions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct WireStatus {
    /// The status consumers act on.
    pub status: Status,
    /// The proxy's report, or the error that explains the status.
    pub report: HealthReport,
    /// When the check that gave this status started.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// proxyhealth: the raw result of the last check (differs under hysteresis).
    pub last_result: Status,
    /// proxyhealth: how long the last request took; `null` when none was made.
    #[schema(required = true)]
    pub latency_ms: Option<f64>,
    /// proxyhealth: when `status` last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub status_changed_at: OffsetDateTime,
    /// proxyhealth: the latest results, oldest first.
    pub history: Vec<WireHistoryPoint>,
    /// proxyhealth: when the TLS certificate the proxy presented at the last
    /// check expires (RFC 3339); `null` for an `http://` proxy or when the
    /// check did not get as far as the certificate.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub tls_not_after: Option<OffsetDateTime>,
    /// proxyhealth: whole days from the last check to `tls_not_after`,
    /// rounded down (negative once expired); `null` when that is.
    #[serde(default)]
    #[schema(required = true)]
    pub tls_days_left: Option<i64>,
}

/// One past result in [`WireStatus::history`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct WireHistoryPoint {
    /// The result of that check.
    pub status: Status,
    /// When that check started.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// How long it took, in milliseconds; `null` when no request was made.
    #[schema(required = true)]
    pub latency_ms: Option<u32>,
}

impl From<&HistoryPoint> for WireHistoryPoint {
    fn from(point: &HistoryPoint) -> Self {
        WireHistoryPoint {
            status: point.status,
            checked_at: point.checked_at,
            latency_ms: point.latency_ms,
        }
    }
}

impl WireStatus {
    /// The status of a proxy the engine has not checked yet.
    pub fn unknown() -> Self {
        WireStatus::placeholder(Status::Unknown, zero_time())
    }

    /// A status with no check behind it (`unknown` before any check, or
    /// `unregistered` right after creation).
    pub fn placeholder(status: Status, at: OffsetDateTime) -> Self {
        WireStatus {
            status,
            report: HealthReport::default(),
            checked_at: at,
            last_result: status,
            latency_ms: None,
            status_changed_at: at,
            history: Vec::new(),
            tls_not_after: None,
            tls_days_left: None,
        }
    }

    /// The wire form of an engine status.
    pub fn from_engine(status: &ProxyStatus) -> Self {
        WireStatus {
            status: status.status,
            report: status.report.clone(),
            checked_at: status.checked_at,
            last_result: status.last_result,
            latency_ms: status.latency.map(duration_ms),
            status_changed_at: status.status_changed_at,
            history: status.history.iter().map(WireHistoryPoint::from).collect(),
            tls_not_after: status.tls_not_after,
            tls_days_left: status.tls_days_left,
        }
    }
}

/// A duration in milliseconds, as a float.
pub fn duration_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Coder's `WorkspaceProxy`: the `Region` fields, then the proxy's own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct WorkspaceProxy {
    /// The region fields (inline, first, as Go embeds them).
    #[serde(flatten)]
    pub region: Region,
    /// Whether the proxy runs a DERP relay.
    pub derp_enabled: bool,
    /// Whether the proxy only relays DERP.
    pub derp_only: bool,
    /// The cached health status.
    pub status: WireStatus,
    /// When the proxy was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the proxy was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Soft-delete flag.
    pub deleted: bool,
    /// The version the proxy registered with.
    pub version: String,
    /// proxyhealth: the share of checks that were `ok` over 24 hours and 30
    /// days, from the persisted history; absent when the store keeps none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<ProxyUptime>,
    /// proxyhealth: what each vantage saw at its newest check, the service's
    /// own first, when a vantage besides the service's own has a result
    /// (then `status` is the quorum's verdict over them); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vantages: Vec<WireVantageReading>,
    /// proxyhealth: the maintenance window the proxy is in now (probes go on
    /// and the status is shown, but changes are not notified); absent when
    /// it is in none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<WireMaintenance>,
}

/// One vantage's newest result for a proxy: a cell of the latency matrix.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct WireVantageReading {
    /// The vantage's name.
    pub vantage: String,
    /// Its status for the proxy (after hysteresis).
    pub status: Status,
    /// How long its last request took, in milliseconds; `null` when none was made.
    #[schema(required = true)]
    pub latency_ms: Option<u32>,
    /// When it checked (the service's clock for its own vantage, the
    /// agent's for the others).
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// Its report of that check.
    pub report: HealthReport,
    /// Whether its result was no longer fresh when the proxy was last judged
    /// (not counted in the quorum).
    pub stale: bool,
}

impl From<&VantageReading> for WireVantageReading {
    fn from(reading: &VantageReading) -> Self {
        WireVantageReading {
            vantage: reading.vantage.to_string(),
            status: reading.status,
            latency_ms: reading.latency_ms,
            checked_at: reading.checked_at,
            report: reading.report.clone(),
            stale: reading.stale,
        }
    }
}

impl WorkspaceProxy {
    /// Coder's `convertProxy`: a store row and its status.
    pub fn new(proxy: &Proxy, status: WireStatus) -> Self {
        WorkspaceProxy {
            region: Region::of(proxy, status.status),
            derp_enabled: proxy.derp_enabled,
            derp_only: proxy.derp_only,
            status,
            created_at: proxy.created_at,
            updated_at: proxy.updated_at,
            deleted: proxy.deleted,
            version: proxy.version.clone(),
            uptime: None,
            vantages: Vec::new(),
            maintenance: None,
        }
    }

    /// A store row with the engine's status for it (`unknown` when it has none).
    pub fn with_engine_status(proxy: &Proxy, status: Option<&ProxyStatus>) -> Self {
        let wire = status.map_or_else(WireStatus::unknown, WireStatus::from_engine);
        let mut proxy = WorkspaceProxy::new(proxy, wire);
        if let Some(status) = status {
            proxy.vantages = status
                .vantages
                .iter()
                .map(WireVantageReading::from)
                .collect();
        }
        proxy
    }
}

/// Coder's `RegionsResponse[T]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RegionsResponse<T> {
    /// The regions or proxies, ordered by name.
    pub regions: Vec<T>,
}

/// `GET /api/v2/workspaceproxies`: Coder's `RegionsResponse[WorkspaceProxy]`,
/// and where the page sits when the list was asked for with paging,
/// filtering or sorting parameters (the fields Coder's clients do not know
/// are absent otherwise, so its shape is unchanged).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ProxyList {
    /// The proxies: all of them ordered by name, or the page asked for.
    pub regions: Vec<WorkspaceProxy>,
    /// How many proxies matched the filters; absent for the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Where the page starts among them; absent for the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The page size asked for; absent for the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl ProxyList {
    /// The whole list, as Coder answers.
    pub fn whole(regions: Vec<WorkspaceProxy>) -> Self {
        ProxyList {
            regions,
            total: None,
            offset: None,
            limit: None,
        }
    }

    /// One page of `total` matching proxies.
    pub fn page(regions: Vec<WorkspaceProxy>, total: usize, offset: usize, limit: usize) -> Self {
        ProxyList {
            regions,
            total: Some(total as u64),
            offset: Some(offset as u64),
            limit: Some(limit as u64),
        }
    }
}

/// Coder's `UpdateWorkspaceProxyResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct UpdateWorkspaceProxyResponse {
    /// The proxy after the change.
    pub proxy: WorkspaceProxy,
    /// The token, only when it was just minted; empty otherwise.
    pub proxy_token: String,
}

/// Coder's `CreateWorkspaceProxyRequest`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProxyRequest {
    /// The unique name (required): letters, digits and single hyphens
    /// between them, at most 32 characters (`proxyhealth_core::validate_name`).
    #[schema(
        pattern = "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$",
        min_length = 1,
        max_length = 32
    )]
    pub name: String,
    /// The human-readable name.
    #[serde(default)]
    pub display_name: String,
    /// The icon URL or `/emojis/…` path.
    #[serde(default)]
    pub icon: String,
}

/// Coder's `PatchWorkspaceProxy`, with every field optional.
///
/// Serialized, it carries only the fields that are set (and
/// `regenerate_token` only when `true`), so a patch changes nothing else.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchProxyRequest {
    /// Coder's CLI sends the proxy id; when present it must be the path's proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// A new name, by the rule of [`CreateProxyRequest::name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$",
        min_length = 1,
        max_length = 32
    )]
    pub name: Option<String>,
    /// A new display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A new icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Mint a new token (the old one stops working).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regenerate_token: bool,
}

/// `wsproxysdk.RegisterWorkspaceProxyRequest`.
///
/// Unknown fields are refused and named, as in every body: a field this service
/// would silently drop is a mistake the sender should hear about.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The proxy's access URL.
    #[serde(default)]
    pub access_url: String,
    /// The app wildcard hostname.
    #[serde(default)]
    pub wildcard_hostname: String,
    /// Whether the proxy runs a DERP relay.
    #[serde(default)]
    pub derp_enabled: bool,
    /// Whether the proxy only relays DERP.
    #[serde(default)]
    pub derp_only: bool,
    /// The replica's id; must not be the nil uuid.
    #[serde(default)]
    pub replica_id: Uuid,
    /// The replica's hostname (kept for compatibility, unused).
    #[serde(default)]
    pub hostname: String,
    /// The replica's mesh error (kept for compatibility, unused).
    #[serde(default)]
    pub replica_error: String,
    /// The replica's relay address (kept for compatibility, unused).
    #[serde(default)]
    pub replica_relay_address: String,
    /// The proxy's build version.
    #[serde(default)]
    pub version: String,
}

/// `wsproxysdk.RegisterWorkspaceProxyResponse`; proxyhealth runs no DERP mesh,
/// so only the region id carries information.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RegisterResponse {
    /// Always empty: there is no mesh.
    pub derp_mesh_key: String,
    /// `10000 + region_id`, as Coder.
    pub derp_region_id: i32,
    /// Always `null`.
    #[schema(required = true, value_type = Option<Object>)]
    pub derp_map: Option<serde_json::Value>,
    /// Always `false`.
    pub derp_force_websockets: bool,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    pub sibling_replicas: Vec<serde_json::Value>,
}

/// `wsproxysdk.DeregisterWorkspaceProxyRequest`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct DeregisterRequest {
    /// The replica that stops.
    #[serde(default)]
    pub replica_id: Uuid,
}

/// A plain message answer (`{"message": "..."}`), as Coder's `codersdk.Response`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct MessageResponse {
    /// The message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zero_time_is_gos() {
        let text = zero_time()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        assert_eq!(text, "0001-01-01T00:00:00Z");
    }

    #[test]
    fn region_fields_come_first_and_lists_are_never_null() {
        let now = OffsetDateTime::now_utc();
        let proxy = Proxy {
            id: Uuid::nil(),
            name: "eu".into(),
            display_name: "EU".into(),
            icon: String::new(),
            url: String::new(),
            wildcard_hostname: String::new(),
            created_at: now,
            updated_at: now,
            deleted: false,
            token_hashed_secret: Vec::new(),
            region_id: 1,
            derp_enabled: true,
            derp_only: false,
            version: String::new(),
        };
        let json = serde_json::to_string(&WorkspaceProxy::with_engine_status(&proxy, None))
            .expect("serialize");
        assert!(json.starts_with("{\"id\":"), "{json}");
        assert!(
            json.contains("\"report\":{\"errors\":[],\"warnings\":[]}"),
            "{json}"
        );
        assert!(
            json.contains("\"checked_at\":\"0001-01-01T00:00:00Z\""),
            "{json}"
        );
        assert!(json.contains("\"healthy\":false"), "{json}");
        assert!(
            json.contains("\"tls_not_after\":null,\"tls_days_left\":null"),
            "{json}"
        );
        let back: WorkspaceProxy = serde_json::from_str(&json).expect("read back");
        assert_eq!(back.region.name, "eu");
    }

    #[test]
    fn the_certificate_expiry_is_rfc3339_and_reads_back_or_reads_as_absent() {
        let mut status = WireStatus::unknown();
        status.tls_not_after = Some(time::macros::datetime!(2026-12-04 13:05 UTC));
        status.tls_days_left = Some(3);
        let json = serde_json::to_value(&status).expect("serialize");
        assert_eq!(json["tls_not_after"], "2026-12-04T13:05:00Z");
        assert_eq!(json["tls_days_left"], 3);
        let back: WireStatus = serde_json::from_value(json.clone()).expect("read back");
        assert_eq!(back, status);
        let mut older = json;
        let fields = older.as_object_mut().expect("an object");
        fields.remove("tls_not_after");
        fields.remove("tls_days_left");
        let back: WireStatus = serde_json::from_value(older).expect("an older server's status");
        assert_eq!(back.tls_not_after, None);
        assert_eq!(back.tls_days_left, None);
    }

    #[test]
    fn a_patch_carries_only_what_it_changes() {
        let patch = PatchProxyRequest {
            regenerate_token: true,
            ..PatchProxyRequest::default()
        };
        assert_eq!(
            serde_json::to_string(&patch).expect("serialize"),
            r#"{"regenerate_token":true}"#
        );
        let patch = PatchProxyRequest {
            name: Some("eu".into()),
            ..PatchProxyRequest::default()
        };
        assert_eq!(
            serde_json::to_string(&patch).expect("serialize"),
            r#"{"name":"eu"}"#
        );
    }

    #[test]
    fn a_request_reads_back_as_it_was_written() {
        let register = RegisterRequest {
            access_url: "http://127.0.0.1:1".into(),
            replica_id: Uuid::new_v4(),
            derp_enabled: true,
            ..RegisterRequest::default()
        };
        let json = serde_json::to_string(&register).expect("serialize");
        let back: RegisterRequest =
            serde_json::from_str(&json).expect("deny_unknown_fields accepts it");
        assert_eq!(back, register);
    }

    #[test]
    fn the_replicas_report_round_trips_with_snake_case_modes_and_null_options() {
        let at = zero_time();
        let report = ReplicasResponse {
            mode: ReplicaMode::Cluster,
            note: None,
            this_replica: Some(Uuid::nil()),
            newest_generation: 7,
            replicas: vec![ReplicaReport {
                id: Uuid::nil(),
                hostname: "h".into(),
                version: "1".into(),
                listen_addr: "127.0.0.1:1".into(),
                vantage: "local".into(),
                started_at: at,
                heartbeat_at: at,
                heartbeat_age_ms: 5,
                live: true,
                stopped_at: None,
                view_generation: 5,
                lag_generations: 2,
                lag_ms: 40,
                this: true,
            }],
            disagreements: Vec::new(),
            stale: vec![StaleProxy {
                proxy_id: Uuid::nil(),
                name: "eu".into(),
                checked_at: None,
            }],
        };
        let json = serde_json::to_value(&report).expect("serialize");
        assert_eq!(json["mode"], "cluster");
        assert_eq!(json["replicas"][0]["stopped_at"], serde_json::Value::Null);
        assert_eq!(json["stale"][0]["checked_at"], serde_json::Value::Null);
        let back: ReplicasResponse = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, report);
        assert_eq!(ReplicaMode::Independent.as_str(), "independent");
    }
}
