//! [`ApiClient`]: one typed async client for every route the CLI, the demo, the
//! load driver and the tests call.
//!
//! Each call returns an [`Answer`]: the typed value and the body exactly as the
//! server sent it (the CLI's `--output json` prints that). Requests go straight
//! to the server (no environment proxies) and each has a timeout.

use crate::error::ApiError;
use crate::wire::{
    AGENT_ID_HEADER, AGENT_VERSION_HEADER, AgentAssignment, AgentResultsRequest,
    AgentResultsResponse, CreateProxyRequest, DeregisterRequest, Healthz, HistoryWindow,
    IncidentsPage, MessageResponse, PatchProxyRequest, ProxyHistory, ProxyList, Region,
    RegionsResponse, RegisterRequest, RegisterResponse, ReplicasResponse, Summary,
    UpdateWorkspaceProxyResponse, WorkspaceProxy,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The header a workspace proxy sends its token in, as Coder's proxies do.
pub const PROXY_TOKEN_HEADER: &str = "Coder-External-Proxy-Token";

/// How long one call may take unless the builder says otherwise (generous: a
/// refresh runs a whole sweep).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The path of the proxy collection, relative to the base URL.
const PROXIES: &str = "api/v2/workspaceproxies";
/// The maintenance windows' route, relative to the base URL.
const MAINTENANCE: &str = "api/v2/proxyhealth/maintenance";
/// The personal tokens route, relative to the base URL.
const TOKENS: &str = "api/v2/proxyhealth/tokens";
/// The audit log route, relative to the base URL.
const AUDIT: &str = "api/v2/proxyhealth/audit";

/// The vantages route, relative to the base URL.
const VANTAGES: &str = "api/v2/proxyhealth/vantages";
/// An agent's assignment, relative to the base URL.
const AGENT_ASSIGNMENT: &str = "api/v2/proxyhealth/agent/assignment";
/// Where an agent sends its results, relative to the base URL.
const AGENT_RESULTS: &str = "api/v2/proxyhealth/agent/results";

/// A parsed answer and the body it came from.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    /// The answer's status (a success).
    pub status: StatusCode,
    /// The parsed body.
    pub value: T,
    /// The body as the server sent it.
    pub body: Vec<u8>,
}

impl<T> Answer<T> {
    /// The body as a JSON value, for printing what the server said unchanged.
    pub fn raw(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Settings of an [`ApiClient`]; made by [`ApiClient::builder`].
#[derive(Debug, Clone)]
pub struct ApiClientBuilder {
    base: String,
    admin_token: Option<String>,
    timeout: Duration,
    pool_max_idle_per_host: Option<usize>,
    extra_roots_pem: Option<Vec<u8>>,
}

impl ApiClientBuilder {
    /// Sends `token` as the admin bearer token on every call that is not made
    /// with a proxy token.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// How long one call may take, answer included ([`DEFAULT_TIMEOUT`] unless set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many idle connections to keep per host (reqwest's default unless set),
    /// for drivers with many concurrent callers.
    pub fn pool_max_idle_per_host(mut self, connections: usize) -> Self {
        self.pool_max_idle_per_host = Some(connections);
        self
    }

    /// Also trusts the CA certificates of `pem` (one or more `BEGIN
    /// CERTIFICATE` blocks) for the server's HTTPS, besides the system's
    /// roots: a service behind a private CA.
    pub fn trust_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem = Some(pem.into());
        self
    }

    /// The client; fails when the base URL does not parse, the CA
    /// certificates given to [`ApiClientBuilder::trust_ca_pem`] do not, or
    /// the HTTP client cannot be built.
    pub fn build(self) -> Result<ApiClient, ApiError> {
        let base = url::Url::parse(&self.base).map_err(|source| ApiError::Url {
            base: self.base.clone(),
            path: String::new(),
            source,
        })?;
        let mut http = crate::http::client_builder()
            .timeout(self.timeout)
            .no_proxy();
        if let Some(connections) = self.pool_max_idle_per_host {
            http = http.pool_max_idle_per_host(connections);
        }
        if let Some(pem) = &self.extra_roots_pem {
            http = http.tls_certs_merge(ca_certificates(pem)?);
        }
        let http = http.build().map_err(ApiError::Client)?;
        Ok(ApiClient {
            http,
            base,
            admin_token: self.admin_token,
        })
    }
}

/// The CA certificates of a PEM text, at least one.
fn ca_certificates(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, ApiError> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|err| ApiError::CaCertificates(err.to_string()))?;
    if certificates.is_empty() {
        return Err(ApiError::CaCertificates(
            "no -----BEGIN CERTIFICATE----- block".to_owned(),
        ));
    }
    Ok(certificates)
}

/// Who an agent is to the service: its vantage's token, the id it made for
/// itself at start and its version, sent on every call it makes.
#[derive(Clone)]
pub struct AgentIdentity {
    /// The agent token of its vantage (`vantages create` prints it).
    pub token: String,
    /// A stable id of the agent's own choosing ([`AGENT_ID_HEADER`]).
    pub id: String,
    /// The agent's version ([`AGENT_VERSION_HEADER`]).
    pub version: String,
}

impl std::fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the token: it ends up in logs
        f.debug_struct("AgentIdentity")
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Who a call authenticates as.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// The admin token, when the client has one.
    Admin,
    /// A workspace proxy, with its token.
    Proxy(&'a str),
    /// An agent of a vantage.
    Agent(&'a AgentIdentity),
}

/// A client of one proxyhealth server. Cheap to clone (the connection pool is
/// shared).
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: url::Url,
    admin_token: Option<String>,
}

impl ApiClient {
    /// Settings for a client of the server at `base` (`http://127.0.0.1:8080`);
    /// the API's paths are joined to it as relative paths.
    pub fn builder(base: impl Into<String>) -> ApiClientBuilder {
        ApiClientBuilder {
            base: base.into(),
            admin_token: None,
            timeout: DEFAULT_TIMEOUT,
            pool_max_idle_per_host: None,
            extra_roots_pem: None,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// `GET /api/v2/workspaceproxies`: every proxy with its status (admin).
    pub async fn list_proxies(&self) -> Result<Answer<RegionsResponse<WorkspaceProxy>>, ApiError> {
        self.call(Method::GET, PROXIES, Auth::Admin, None::<&()>)
            .await
    }

    /// `GET /api/v2/workspaceproxies` with paging, filtering or sorting
    /// (admin): one page of the proxies that match `query`, with how many
    /// matched.
    pub async fn list_proxies_page(
        &self,
        query: &ProxyListQuery,
    ) -> Result<Answer<ProxyList>, ApiError> {
        let mut params = url::form_urlencoded::Serializer::new(String::new());
        if !query.statuses.is_empty() {
            let statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
            params.append_pair("status", &statuses.join(","));
        }
        if let Some(name) = &query.name {
            params.append_pair("name", name);
        }
        if let Some(sort) = &query.sort {
            params.append_pair("sort", sort);
        }
        params.append_pair("offset", &query.offset.to_string());
        params.append_pair("limit", &query.limit.to_string());
        let path = format!("{PROXIES}?{}", params.finish());
        self.call(Method::GET, &path, Auth::Admin, None::<&()>)
            .await
    }

    /// `GET /api/v2/workspaceproxies/{name or id}`: one proxy (admin).
    pub async fn proxy(&self, name_or_id: &str) -> Result<Answer<WorkspaceProxy>, ApiError> {
        self.call(
            Method::GET,
            &proxy_path(name_or_id),
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v2/workspaceproxies`: creates a proxy; the answer carries its
    /// token, shown only this once (admin).
    pub async fn create_proxy(
        &self,
        request: &CreateProxyRequest,
    ) -> Result<Answer<UpdateWorkspaceProxyResponse>, ApiError> {
        self.call(Method::POST, PROXIES, Auth::Admin, Some(request))
            .await
    }

    /// `PATCH /api/v2/workspaceproxies/{name or id}`: changes a proxy or mints a
    /// new token (admin).
    pub async fn patch_proxy(
        &self,
        name_or_id: &str,
        request: &PatchProxyRequest,
    ) -> Result<Answer<UpdateWorkspaceProxyResponse>, ApiError> {
        self.call(
            Method::PATCH,
            &proxy_path(name_or_id),
            Auth::Admin,
            Some(request),
        )
        .await
    }

    /// `DELETE /api/v2/workspaceproxies/{name or id}` (admin).
    pub async fn delete_proxy(
        &self,
        name_or_id: &str,
    ) -> Result<Answer<MessageResponse>, ApiError> {
        self.call(
            Method::DELETE,
            &proxy_path(name_or_id),
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v2/workspaceproxies/refresh`: a full sweep, then every proxy
    /// with its new status (admin).
    pub async fn refresh(&self) -> Result<Answer<RegionsResponse<WorkspaceProxy>>, ApiError> {
        self.call(
            Method::POST,
            "api/v2/workspaceproxies/refresh",
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v2/regions`: the regions and whether each is healthy (a read).
    pub async fn regions(&self) -> Result<Answer<RegionsResponse<Region>>, ApiError> {
        self.call(Method::GET, "api/v2/regions", Auth::Admin, None::<&()>)
            .await
    }

    /// `GET /api/v2/proxyhealth/summary`: counts per status and the last sweep (a read).
    pub async fn summary(&self) -> Result<Answer<Summary>, ApiError> {
        self.call(
            Method::GET,
            "api/v2/proxyhealth/summary",
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v2/workspaceproxies/{name or id}/history?window=` (admin):
    /// the proxy's uptime, hourly buckets, transitions and incidents.
    pub async fn proxy_history(
        &self,
        name_or_id: &str,
        window: HistoryWindow,
    ) -> Result<Answer<ProxyHistory>, ApiError> {
        let path = format!("{}/history?window={}", proxy_path(name_or_id), window);
        self.call(Method::GET, &path, Auth::Admin, None::<&()>)
            .await
    }

    /// `GET /api/v2/proxyhealth/incidents` (admin): the incidents open at or
    /// after `since` (an RFC 3339 time, or `24h`, `7d`, …; the server's
    /// default, 7 days, when `None`), newest first, one page.
    pub async fn incidents(
        &self,
        since: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Answer<IncidentsPage>, ApiError> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(since) = since {
            query.append_pair("since", since);
        }
        query.append_pair("offset", &offset.to_string());
        query.append_pair("limit", &limit.to_string());
        let path = format!("api/v2/proxyhealth/incidents?{}", query.finish());
        self.call(Method::GET, &path, Auth::Admin, None::<&()>)
            .await
    }

    /// `GET /api/v2/proxyhealth/replicas`: the consistency report of the
    /// replicas (admin).
    pub async fn replicas(&self) -> Result<Answer<ReplicasResponse>, ApiError> {
        self.call(
            Method::GET,
            "api/v2/proxyhealth/replicas",
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v2/proxyhealth/notifications`: the newest notifications
    /// and how their delivery went (admin).
    pub async fn notifications(
        &self,
    ) -> Result<Answer<crate::wire::NotificationsResponse>, ApiError> {
        self.call(
            Method::GET,
            "api/v2/proxyhealth/notifications",
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v2/proxyhealth/vantages`: every vantage (admin).
    pub async fn vantages(&self) -> Result<Answer<crate::wire::VantagesResponse>, ApiError> {
        self.call(Method::GET, VANTAGES, Auth::Admin, None::<&()>)
            .await
    }

    /// `POST /api/v2/proxyhealth/vantages`: creates a vantage and mints its
    /// agent token, shown only in this answer (admin).
    pub async fn create_vantage(
        &self,
        name: &str,
    ) -> Result<Answer<crate::wire::VantageTokenResponse>, ApiError> {
        let request = crate::wire::CreateVantageRequest {
            name: name.to_owned(),
        };
        self.call(Method::POST, VANTAGES, Auth::Admin, Some(&request))
            .await
    }

    /// `DELETE /api/v2/proxyhealth/vantages/{name}`: deletes a vantage; its
    /// agent token stops working at once (admin).
    pub async fn delete_vantage(&self, name: &str) -> Result<Answer<MessageResponse>, ApiError> {
        self.call(
            Method::DELETE,
            &vantage_path(name, None),
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v2/proxyhealth/vantages/{name}/token`: mints a new agent
    /// token for a vantage; the old one stops working at once (admin).
    pub async fn rotate_vantage_token(
        &self,
        name: &str,
    ) -> Result<Answer<crate::wire::VantageTokenResponse>, ApiError> {
        self.call(
            Method::POST,
            &vantage_path(name, Some("token")),
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v2/proxyhealth/maintenance`: every maintenance window.
    pub async fn maintenance_windows(
        &self,
    ) -> Result<Answer<crate::wire::MaintenanceList>, ApiError> {
        self.call(Method::GET, MAINTENANCE, Auth::Admin, None::<&()>)
            .await
    }

    /// `POST /api/v2/proxyhealth/maintenance`: creates a maintenance window
    /// (operator).
    pub async fn create_maintenance(
        &self,
        request: &crate::wire::CreateMaintenanceRequest,
    ) -> Result<Answer<crate::wire::MaintenanceWindowInfo>, ApiError> {
        self.call(Method::POST, MAINTENANCE, Auth::Admin, Some(request))
            .await
    }

    /// `POST /api/v2/proxyhealth/maintenance/{id}/end`: ends a window now (a
    /// window not started yet is cancelled) (operator).
    pub async fn end_maintenance(
        &self,
        id: &str,
    ) -> Result<Answer<crate::wire::MaintenanceWindowInfo>, ApiError> {
        self.call(
            Method::POST,
            &item_path(MAINTENANCE, id, Some("end")),
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v2/proxyhealth/tokens`: every personal token, revoked ones
    /// too, never a value (admin).
    pub async fn personal_tokens(
        &self,
    ) -> Result<Answer<crate::wire::PersonalTokensResponse>, ApiError> {
        self.call(Method::GET, TOKENS, Auth::Admin, None::<&()>)
            .await
    }

    /// `POST /api/v2/proxyhealth/tokens`: creates a personal token, whose
    /// value is shown only in this answer (admin).
    pub async fn create_personal_token(
        &self,
        request: &crate::wire::CreatePersonalTokenRequest,
    ) -> Result<Answer<crate::wire::CreatedPersonalTokenResponse>, ApiError> {
        self.call(Method::POST, TOKENS, Auth::Admin, Some(request))
            .await
    }

    /// `DELETE /api/v2/proxyhealth/tokens/{name}`: revokes a personal token;
    /// it is refused from the next request on (admin).
    pub async fn revoke_personal_token(
        &self,
        name: &str,
    ) -> Result<Answer<crate::wire::PersonalTokenInfo>, ApiError> {
        self.call(
            Method::DELETE,
            &item_path(TOKENS, name, None),
            Auth::Admin,
            None::<&()>,
        )
        .await
    }

    /// `GET /api/v2/proxyhealth/audit`: the audit log, newest first, with
    /// the filters of `query` (admin).
    pub async fn audit(
        &self,
        query: &AuditQuery,
    ) -> Result<Answer<crate::wire::AuditResponse>, ApiError> {
        self.call(Method::GET, &query.path(), Auth::Admin, None::<&()>)
            .await
    }

    /// `GET /healthz`: `ok` (200) or `degraded` with the store's error (503);
    /// both are answers here, any other status is an error.
    pub async fn healthz(&self) -> Result<Answer<Healthz>, ApiError> {
        let (status, url, body) = self
            .send(Method::GET, "healthz", Auth::Admin, None::<&()>)
            .await?;
        if status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE {
            parse(Method::GET, url, status, body)
        } else {
            Err(ApiError::from_answer(status, &body))
        }
    }

    /// `POST /api/v2/workspaceproxies/me/register`: registers as the proxy whose
    /// token this is, as a workspace proxy does at start and then periodically.
    pub async fn register(
        &self,
        proxy_token: &str,
        request: &RegisterRequest,
    ) -> Result<Answer<RegisterResponse>, ApiError> {
        self.call(
            Method::POST,
            "api/v2/workspaceproxies/me/register",
            Auth::Proxy(proxy_token),
            Some(request),
        )
        .await
    }

    /// `POST /api/v2/workspaceproxies/me/deregister`: a replica of the proxy
    /// whose token this is stops; the answer has no body.
    pub async fn deregister(
        &self,
        proxy_token: &str,
        request: &DeregisterRequest,
    ) -> Result<StatusCode, ApiError> {
        let (status, _, body) = self
            .send(
                Method::POST,
                "api/v2/workspaceproxies/me/deregister",
                Auth::Proxy(proxy_token),
                Some(request),
            )
            .await?;
        if status.is_success() {
            Ok(status)
        } else {
            Err(ApiError::from_answer(status, &body))
        }
    }

    /// `GET /api/v2/proxyhealth/agent/assignment`: the proxies `agent` is to
    /// check and how (an agent token).
    pub async fn agent_assignment(
        &self,
        agent: &AgentIdentity,
    ) -> Result<Answer<AgentAssignment>, ApiError> {
        self.call(
            Method::GET,
            AGENT_ASSIGNMENT,
            Auth::Agent(agent),
            None::<&()>,
        )
        .await
    }

    /// `POST /api/v2/proxyhealth/agent/results`: a batch of `agent`'s results
    /// (at most [`crate::wire::MAX_AGENT_BATCH`]). 200 when all were taken;
    /// a 422 (some refused, the others taken; the envelope's `validations`
    /// name each refused result) is an [`ApiError::Status`] like any other.
    pub async fn send_agent_results(
        &self,
        agent: &AgentIdentity,
        request: &AgentResultsRequest,
    ) -> Result<Answer<AgentResultsResponse>, ApiError> {
        self.call(
            Method::POST,
            AGENT_RESULTS,
            Auth::Agent(agent),
            Some(request),
        )
        .await
    }

    /// Sends a request and parses a successful answer; an error status becomes
    /// [`ApiError::Status`].
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&B>,
    ) -> Result<Answer<T>, ApiError> {
        let (status, url, bytes) = self.send(method.clone(), path, auth, body).await?;
        if !status.is_success() {
            return Err(ApiError::from_answer(status, &bytes));
        }
        parse(method, url, status, bytes)
    }

    /// Sends a request; returns the status, the URL and the whole body.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&B>,
    ) -> Result<(StatusCode, url::Url, Vec<u8>), ApiError> {
        let url = self.base.join(path).map_err(|source| ApiError::Url {
            base: self.base.to_string(),
            path: path.to_owned(),
            source,
        })?;
        let mut request = self.http.request(method.clone(), url.clone());
        request = match auth {
            Auth::Proxy(token) => request.header(PROXY_TOKEN_HEADER, token),
            Auth::Agent(agent) => request
                .bearer_auth(&agent.token)
                .header(AGENT_ID_HEADER, &agent.id)
                .header(AGENT_VERSION_HEADER, &agent.version),
            Auth::Admin => match &self.admin_token {
                Some(token) => request.bearer_auth(token),
                None => request,
            },
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(source) => {
                return Err(ApiError::Send {
                    method,
                    url,
                    source,
                });
            }
        };
        let status = response.status();
        match response.bytes().await {
            Ok(bytes) => Ok((status, url, Vec::from(bytes))),
            Err(source) => Err(ApiError::Read {
                method,
                url,
                source,
            }),
        }
    }
}

/// Parses a successful answer: not JSON at all, or JSON of another shape, are
/// told apart.
fn parse<T: DeserializeOwned>(
    method: Method,
    url: url::Url,
    status: StatusCode,
    body: Vec<u8>,
) -> Result<Answer<T>, ApiError> {
    match serde_json::from_slice(&body) {
        Ok(value) => Ok(Answer {
            status,
            value,
            body,
        }),
        Err(source) if source.is_data() => Err(ApiError::Unexpected {
            method,
            url,
            source,
        }),
        Err(source) => Err(ApiError::NotJson {
            method,
            url,
            source,
        }),
    }
}

/// The path of one proxy, with its name or id escaped as one path segment.
/// `{collection}/{key}[/{then}]`, relative to the base URL, with `key` (a
/// name or id the user typed) percent-encoded as one path segment.
fn item_path(collection: &str, key: &str, then: Option<&str>) -> String {
    let mut url = match url::Url::parse(&format!("http://x/{collection}/")) {
        Ok(url) => url,
        Err(_) => return format!("{collection}/{key}"),
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(key);
        if let Some(then) = then {
            segments.push(then);
        }
    }
    url.path().trim_start_matches('/').to_owned()
}

/// `api/v2/workspaceproxies/{name or id}`.
fn proxy_path(name_or_id: &str) -> String {
    item_path(PROXIES, name_or_id, None)
}

/// `api/v2/proxyhealth/vantages/{name}[/{then}]`.
fn vantage_path(name: &str, then: Option<&str>) -> String {
    item_path(VANTAGES, name, then)
}

/// What [`ApiClient::audit`] asks for: the parameters of
/// `GET /api/v2/proxyhealth/audit` (docs/api.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries of this actor (`admin token`, `token ci`, an email).
    pub actor: Option<String>,
    /// Only entries of this action (`proxy.create`).
    pub action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only entries older than this id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// At most this many entries, 1 to 1000 (100 by default).
    pub limit: Option<u32>,
}

impl AuditQuery {
    /// The route with the query string of these parameters.
    fn path(&self) -> String {
        let mut url = match url::Url::parse(&format!("http://x/{AUDIT}")) {
            Ok(url) => url,
            Err(_) => return AUDIT.to_owned(),
        };
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(actor) = &self.actor {
                pairs.append_pair("actor", actor);
            }
            if let Some(action) = &self.action {
                pairs.append_pair("action", action);
            }
            if let Some(since) = &self.since {
                pairs.append_pair("since", since);
            }
            if let Some(before) = self.before {
                pairs.append_pair("before", &before.to_string());
            }
            if let Some(limit) = self.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
        }
        let path = url.path().trim_start_matches('/').to_owned();
        match url.query() {
            Some(query) if !query.is_empty() => format!("{path}?{query}"),
            _ => path,
        }
    }
}

/// What [`ApiClient::list_proxies_page`] asks for: the parameters of
/// `GET /api/v2/workspaceproxies` (docs/api.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyListQuery {
    /// Only proxies in one of these statuses (all when empty).
    pub statuses: Vec<proxyhealth_core::Status>,
    /// Only proxies whose name or display name holds this, in any case.
    pub name: Option<String>,
    /// `name`, `status`, `latency` or `changed`, `-` before it for
    /// descending; the server's order by name when `None`.
    pub sort: Option<String>,
    /// Where the page starts.
    pub offset: usize,
    /// The page size (1 to 1000).
    pub limit: usize,
}

impl Default for ProxyListQuery {
    fn default() -> Self {
        ProxyListQuery {
            statuses: Vec::new(),
            name: None,
            sort: None,
            offset: 0,
            limit: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_escaped_as_one_segment() {
        assert_eq!(proxy_path("eu-west"), "api/v2/workspaceproxies/eu-west");
        assert_eq!(proxy_path("a/b c"), "api/v2/workspaceproxies/a%2Fb%20c");
        assert_eq!(
            vantage_path("a/b", Some("token")),
            "api/v2/proxyhealth/vantages/a%2Fb/token"
        );
    }

    #[test]
    fn a_base_that_does_not_parse_is_an_error() {
        let err = ApiClient::builder("not a url")
            .build()
            .expect_err("no scheme");
        assert!(
            err.to_string().starts_with("building a URL from not a url"),
            "{err}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_when_the_client_is_built() {
        let err = ApiClient::builder("https://127.0.0.1:1")
            .trust_ca_pem("not a certificate")
            .build()
            .expect_err("no certificate");
        assert_eq!(
            err.to_string(),
            "the CA certificates do not parse: no -----BEGIN CERTIFICATE----- block"
        );
    }

    /// A server on loopback that reads one request and answers `status`
    /// with `body`; gives back the request's head and body as text.
    async fn answer_once(
        status: &str,
        body: &'static str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let status = status.to_owned();
        let served = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut chunk = [0; 4096];
            loop {
                let read = stream.read(&mut chunk).await.expect("read");
                request.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&request).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length: "))
                        .map_or(0, |n| n.trim().parse::<usize>().expect("a length"));
                    if request.len() >= end + 4 + length || read == 0 {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.expect("write");
            String::from_utf8_lossy(&request).into_owned()
        });
        (url, served)
    }

    fn agent() -> AgentIdentity {
        AgentIdentity {
            token: "the-token".to_owned(),
            id: "agent-1".to_owned(),
            version: "9.9.9".to_owned(),
        }
    }

    #[tokio::test]
    async fn an_agent_sends_its_token_id_and_version_and_a_422_names_the_refused_results() {
        let (url, served) = answer_once(
            "422 Unprocessable Entity",
            r#"{"message":"Some results were refused.","validations":[{"field":"results[0]","detail":"older: older"}]}"#,
        )
        .await;
        let client = ApiClient::builder(url).build().expect("client");
        let err = client
            .send_agent_results(&agent(), &AgentResultsRequest::default())
            .await
            .expect_err("a 422 is an error answer");
        let ApiError::Status {
            status, envelope, ..
        } = &err
        else {
            panic!("a status error: {err}");
        };
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY);
        let envelope = envelope.as_ref().expect("the envelope");
        assert_eq!(envelope.validations[0].field, "results[0]");
        let request = served.await.expect("served").to_lowercase();
        assert!(
            request.starts_with("post /api/v2/proxyhealth/agent/results "),
            "{request}"
        );
        assert!(
            request.contains("authorization: bearer the-token"),
            "{request}"
        );
        assert!(
            request.contains("proxyhealth-agent-id: agent-1"),
            "{request}"
        );
        assert!(
            request.contains("proxyhealth-agent-version: 9.9.9"),
            "{request}"
        );
        assert!(request.ends_with(r#"{"results":[]}"#), "{request}");
    }

    #[tokio::test]
    async fn an_agent_refused_with_401_gets_the_servers_words() {
        let (url, _served) = answer_once(
            "401 Unauthorized",
            r#"{"message":"the agent token's vantage does not exist (deleted?)"}"#,
        )
        .await;
        let client = ApiClient::builder(url).build().expect("client");
        let err = client
            .agent_assignment(&agent())
            .await
            .expect_err("a 401 is an error");
        assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(
            err.to_string(),
            "the agent token's vantage does not exist (deleted?) (401 Unauthorized)"
        );
    }

    #[test]
    fn an_agent_identity_never_shows_its_token() {
        assert!(!format!("{:?}", agent()).contains("the-token"));
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_call() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let client = ApiClient::builder(format!("http://{addr}"))
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let err = client.summary().await.expect_err("nothing listens");
        assert_eq!(
            err.to_string(),
            format!("GET http://{addr}/api/v2/proxyhealth/summary: cannot reach the server")
        );
        assert_eq!(err.status(), None);
    }
}
