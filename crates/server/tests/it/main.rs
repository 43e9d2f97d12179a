//! The server's integration tests: the real service on 127.0.0.1:0, real stores,
//! simulated proxies from `proxyhealth-sim`, and reqwest as the client.
//!
//! Run with `cargo test -p proxyhealth-server`.

mod agents;
mod app;
mod audit;
mod auth;
mod errors;
mod health;
mod helpers;
mod history;
mod maintenance;
mod names;
mod notify;
mod oidc;
mod openapi;
mod proptests;
mod proxies;
mod proxy_list;
mod register;
mod reliability;
mod replicas;
mod roles;
mod security;
mod service;
