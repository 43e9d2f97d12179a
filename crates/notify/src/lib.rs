//! Notifications on status changes: the targets (a generic
//! webhook with a documented JSON body, a Slack-compatible incoming webhook),
//! HMAC-SHA256 signed requests, and the worker that delivers the store's
//! outbox ([`proxyhealth_store::Outbox`]) with a timeout, retries with
//! exponential backoff for a bounded time, and counters per target.
//!
//! The rows themselves are written by the store, in the transaction that
//! records the status transitions (see `proxyhealth_store::outbox`), so a
//! status change that was shown always has its notification, and one
//! recorded once by several replicas is notified once.
//!
//! # Layout
//! Leaves first; a module only imports modules listed above it.
//! - [`settings`]: [`NotifySettings`], [`Target`], [`TargetKind`], [`Secret`]
//!   (never printed) and the `NAME=URL` target syntax.
//! - [`message`]: what is sent: the webhook's JSON body ([`WebhookBody`]) and
//!   the Slack text, for a status change or a test.
//! - [`sign`]: the signature headers (`X-Proxyhealth-Timestamp`,
//!   `X-Proxyhealth-Signature: sha256=<hex>` of `"{timestamp}.{body}"`).
//! - [`send`]: [`Sender`], one HTTP request per attempt, and what came back.
//! - [`metrics`]: [`NotifyMetrics`], sent, retried and failed per target.
//! - [`worker`]: [`Notifier`], which claims due rows, sends them and records
//!   the outcome; [`send_tests`] for `proxyhealth notify test`.

pub mod message;
pub mod metrics;
pub mod send;
pub mod settings;
pub mod sign;
pub mod worker;

pub use message::{Event, WebhookBody};
pub use metrics::NotifyMetrics;
pub use send::{SendError, Sender};
pub use settings::{
    DuplicateTargetName, NotifySettings, Secret, Target, TargetKind, TargetSpecError,
};
pub use worker::{Notifier, NotifierError, TestOutcome, send_tests};
