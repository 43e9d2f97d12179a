//! The JSON shapes of vantages, the places probes come from besides the
//! service's own replicas: `/api/v2/proxyhealth/vantages`. Re-exported by
//! [`crate::wire`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A vantage (never its agent token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VantageInfo {
    /// The vantage's id (the first half of its agent token).
    pub id: Uuid,
    /// Its name, unique ignoring case.
    #[schema(max_length = 32)]
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its agent token was last minted (created or rotated).
    #[serde(with = "time::serde::rfc3339")]
    pub token_minted_at: OffsetDateTime,
    /// How the vantage's agents are doing, in the list; `null` in the
    /// answers of creating a vantage or rotating its token.
    #[serde(default)]
    #[schema(required = true)]
    pub liveness: Option<VantageLiveness>,
}

/// `GET /api/v2/proxyhealth/vantages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VantagesResponse {
    /// The service's own vantage (`serve --vantage`), whose results come from
    /// its replicas; not in `vantages`, which holds those with agents.
    #[serde(default)]
    pub own: String,
    /// `--vantage-quorum`: `majority` or a whole number.
    #[serde(default)]
    pub quorum: String,
    /// Every vantage with agents, by name.
    pub vantages: Vec<VantageInfo>,
}

/// `POST /api/v2/proxyhealth/vantages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVantageRequest {
    /// The name: letters, digits and single hyphens, 1 to 32 characters.
    #[schema(max_length = 32)]
    pub name: String,
}

/// A vantage and the agent token just minted for it, shown only now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VantageTokenResponse {
    /// The vantage.
    pub vantage: VantageInfo,
    /// `<vantage id>:<64 hex>`, for `proxyhealth agent --token`; only its
    /// hash is kept, so it cannot be shown again.
    pub agent_token: String,
}

/// The header an agent names itself in on every request: a stable id of its
/// own choosing (a UUID it makes at start), so the service can tell the
/// agents of one vantage apart and share the vantage's proxies among them.
pub const AGENT_ID_HEADER: &str = "Proxyhealth-Agent-Id";

/// The header an agent states its version in on every request.
pub const AGENT_VERSION_HEADER: &str = "Proxyhealth-Agent-Version";

/// Most results one `POST /api/v2/proxyhealth/agent/results` may carry; a
/// larger batch is refused whole (413), so one request never holds the
/// service's memory or the engine's lock for long.
pub const MAX_AGENT_BATCH: usize = 2_000;

/// One proxy an agent is to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssignedProxy {
    /// The proxy's id, which its results name.
    pub id: Uuid,
    /// Its name, for the agent's logs.
    pub name: String,
    /// Its access URL; the agent checks `<url>/healthz-report`.
    pub url: String,
}

/// How an agent probes: the service's own settings, so every vantage judges
/// by the same rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProbeSettings {
    /// Time between the agent's sweeps, in milliseconds (the service's interval).
    pub interval_ms: u64,
    /// Bound on one check, in milliseconds.
    pub timeout_ms: u64,
    /// Checks in flight at once.
    pub parallelism: usize,
    /// Most body bytes read from a proxy.
    pub body_cap: u64,
    /// `none` or `same-host`: whether redirects are followed.
    pub redirects: String,
    /// Accept TLS certificates that do not verify (test fleets only).
    pub tls_insecure: bool,
    /// PEM of the CA certificates the service trusts for proxies besides (or
    /// instead of, see `tls_ca_replace`) the system's; `null` when none.
    #[schema(required = true)]
    pub tls_ca_pem: Option<String>,
    /// Whether `tls_ca_pem` replaces the system's roots.
    pub tls_ca_replace: bool,
    /// A proxy whose certificate expires within this many seconds gets a
    /// warning; 0 turns the warning off.
    pub tls_expiry_warning_s: u64,
    /// A proxy answering `ok` slower than this many milliseconds gets a
    /// warning; `null` for none.
    #[schema(required = true)]
    pub latency_warning_ms: Option<u64>,
}

/// `GET /api/v2/proxyhealth/agent/assignment`: what one agent checks, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentAssignment {
    /// The vantage the agent's token is for.
    pub vantage: String,
    /// How to probe.
    pub probe: ProbeSettings,
    /// This agent's share of the registered proxies: all of them when it is
    /// its vantage's only live agent, else a stable part, so the agents of one
    /// vantage share its probing instead of doubling it.
    pub proxies: Vec<AssignedProxy>,
    /// How many live agents the vantage's proxies are shared among.
    pub agents: usize,
}

/// One check an agent made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentResult {
    /// The proxy checked.
    pub proxy_id: Uuid,
    /// What the check gave: `ok`, `unhealthy` or `unreachable`.
    pub status: proxyhealth_core::Status,
    /// How long the request took, in milliseconds; `null` when none was made.
    #[schema(required = true)]
    pub latency_ms: Option<u32>,
    /// When the check started (the agent's clock; refused when ahead of the
    /// service's by more than a few seconds).
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// The check's report.
    pub report: proxyhealth_core::HealthReport,
}

/// `POST /api/v2/proxyhealth/agent/results`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentResultsRequest {
    /// The newest result per proxy since the last batch taken, at most
    /// [`MAX_AGENT_BATCH`].
    pub results: Vec<AgentResult>,
}

/// The answer to a batch of results all taken (200). When some are refused
/// the answer is 422 with the error envelope, whose `validations` name each
/// refused result (`results[i]`) and why; the others were taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentResultsResponse {
    /// How many results were taken.
    pub accepted: usize,
}

/// One agent of a vantage, as the service last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentInfo {
    /// The id the agent names itself with.
    pub id: String,
    /// The version it states.
    pub version: String,
    /// The address it last connected from.
    #[schema(required = true)]
    pub address: Option<String>,
    /// When it last fetched its assignment or sent results.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// Whether it was seen within two intervals (then it has a share).
    pub live: bool,
    /// How many proxies it was last assigned.
    pub assigned: usize,
    /// How far behind its last batch was: from the oldest check in it to its
    /// arrival, in milliseconds; `null` before its first batch.
    #[schema(required = true)]
    pub lag_ms: Option<u64>,
}

/// A vantage's liveness, beside [`VantageInfo`] in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VantageLiveness {
    /// Whether this is the service's own vantage (its replicas probe from it).
    pub own: bool,
    /// Whether some agent (or, for the own vantage, the service) has a fresh
    /// result: a quiet vantage is left out of every quorum.
    pub live: bool,
    /// When its newest result arrived; `null` before the first.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub last_result_at: Option<OffsetDateTime>,
    /// Its agents (none for the own vantage).
    pub agents: Vec<AgentInfo>,
}
