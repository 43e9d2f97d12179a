//! The proxyhealth API from both ends: the JSON shapes the server writes and
//! reads, and one typed async client that speaks them.
//!
//! The server (`proxyhealth-server`) serializes its answers and reads its
//! request bodies with [`wire`]; the CLI, the demo, the load driver and the
//! tests call the server through [`ApiClient`], which reads the same types. A
//! change of shape is made once, here. This crate depends on the model
//! (`proxyhealth-core`) only, never on the server, engine or store.
//!
//! # Layout
//! - [`wire`]: the JSON shapes: Coder's `Region`, `WorkspaceProxy`, the request
//!   bodies, registration, and proxyhealth's summary, `/healthz` and the
//!   replicas' consistency report.
//! - `wire_history`: the shapes of persisted history: a proxy's
//!   window, incidents, the list's uptime; re-exported by [`wire`].
//! - `wire_maintenance`: the shapes of maintenance windows and the
//!   `maintenance` of a proxy in one; re-exported by [`wire`].
//! - `wire_notify`: the shapes of notifications: the recent
//!   deliveries; re-exported by [`wire`].
//! - `wire_replicas`: the shapes of the replicas' consistency report;
//!   re-exported by [`wire`].
//! - `wire_session`: whether sign-in is configured and who is signed in.
//! - `wire_summary`: the summary, its counts and last sweep, and
//!   `/healthz`; re-exported by [`wire`].
//! - `wire_vantages`: the shapes of vantages and their agent tokens;
//!   re-exported by [`wire`].
//! - [`wire_events`]: the live-update events of the event stream (what
//!   changed between two generations), built on [`wire`]'s shapes (a module
//!   of its own, so [`wire`] does not import back what imports it).
//! - [`client`]: [`ApiClient`] (built by [`ApiClientBuilder`]), one method per
//!   route, each returning an [`Answer`]: the typed value and the raw body;
//!   an agent's calls name it with an [`AgentIdentity`].
//! - [`http`]: `reqwest` clients for this build (rustls over ring, the
//!   provider installed first).
//! - [`error`]: [`ApiError`], why a call failed, with the HTTP status and Coder's
//!   error envelope when the server sent one.
//!
//! # Use
//! ```no_run
//! # async fn run() -> Result<(), proxyhealth_api::ApiError> {
//! use proxyhealth_api::ApiClient;
//! use proxyhealth_api::wire::CreateProxyRequest;
//! let api = ApiClient::builder("http://127.0.0.1:8080")
//!     .admin_token("…")
//!     .build()?;
//! let created = api
//!     .create_proxy(&CreateProxyRequest {
//!         name: "eu-west".into(),
//!         ..CreateProxyRequest::default()
//!     })
//!     .await?;
//! println!("token: {}", created.value.proxy_token);
//! # Ok(()) }
//! ```

pub mod client;
pub mod error;
pub mod http;
pub mod wire;
mod wire_access;
pub mod wire_events;
mod wire_history;
mod wire_maintenance;
mod wire_notify;
mod wire_replicas;
mod wire_session;
mod wire_summary;
mod wire_vantage_history;
mod wire_vantages;

pub use client::{
    AgentIdentity, Answer, ApiClient, ApiClientBuilder, AuditQuery, DEFAULT_TIMEOUT,
    PROXY_TOKEN_HEADER, ProxyListQuery,
};
pub use error::ApiError;
