//! Telling a service manager (systemd, `Type=notify`) when `serve` is ready
//! and when it is stopping, over the socket systemd names in `NOTIFY_SOCKET`.
//!
//! Ready means the listener is bound and the first view is loaded (the first
//! sweep, or a replica's first read of the shared view, has ended): before
//! that the API would answer with an empty fleet, so `systemctl start` (and
//! any unit ordered `After=` this one) waits for it. A first sweep that
//! failed still ends the wait: the service answers, `/healthz` says why it is
//! degraded, and the next sweep may recover, where withholding readiness
//! would only have systemd kill and restart it. Without `NOTIFY_SOCKET`
//! (not started by systemd, or not `Type=notify`) nothing is sent.

use proxyhealth_engine::Engine;
use sd_notify::NotifyState;
use std::net::SocketAddr;

/// Waits for the engine's first view, then sends `READY=1` with a status
/// line naming the address and how that first view went.
pub async fn announce_when_ready(engine: Engine, addr: SocketAddr) {
    let first = engine.first_view().await;
    let status = match &first.last_error {
        None => format!(
            "serving on {addr}; {} proxies in view",
            engine.snapshot().statuses().len()
        ),
        Some(error) => format!("serving on {addr}; degraded: {error}"),
    };
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// Sends `STOPPING=1`, so systemd shows the service as deactivating while it
/// drains (and does not take the stop for a crash).
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Sends the states when `NOTIFY_SOCKET` is set; a failure is logged, not
/// fatal: the service works without its manager knowing.
fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "could not notify the service manager (NOTIFY_SOCKET)");
    }
}
