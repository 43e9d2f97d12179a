//! The agent's link to the service: fetching the assignment and sending
//! results, and what a failed call means for the agent.
//!
//! A service that cannot be reached (or answers 5xx, 429, 408, or something
//! that is not its JSON) is an outage: the agent keeps probing, keeps its
//! results and tries again after a growing pause; an outage is logged when
//! it begins and when it ends, never per attempt. A refused token (401, 403)
//! ends the agent with the service's reason in words. Any other refusal of
//! a batch drops it, logged: sending it again would be refused again.

use super::calls::CallThread;
use super::pending::Pending;
use proxyhealth_api::wire::{AgentAssignment, AgentResult, AgentResultsRequest, MAX_AGENT_BATCH};
use proxyhealth_api::{AgentIdentity, ApiClient, ApiError};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::human::error_chain;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// The pause before the first retry of an outage.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest pause between retries.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// What a failed call means for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The service is away (or unwell): try again later.
    Unreachable,
    /// The service refused the agent itself: stop, saying why.
    Refused(String),
    /// The service refused this request: do not send it again.
    Rejected,
}

impl Failure {
    /// What `err` means for the agent.
    pub fn of(err: &ApiError) -> Failure {
        match err {
            ApiError::Send { .. }
            | ApiError::Read { .. }
            | ApiError::NotJson { .. }
            | ApiError::Unexpected { .. } => Failure::Unreachable,
            ApiError::Status { status, .. } => match status.as_u16() {
                401 => Failure::Refused(format!(
                    "the service refused the agent token: {}",
                    reason(err)
                )),
                403 => Failure::Refused(format!("the service refused the agent: {}", reason(err))),
                408 | 429 => Failure::Unreachable,
                code if code >= 500 => Failure::Unreachable,
                _ => Failure::Rejected,
            },
            _ => Failure::Rejected,
        }
    }
}

/// The service's reason for a refusal: the detail of its error envelope
/// (the words that say why, as "the agent token's vantage does not exist
/// (deleted?)"), or its message, or the whole answer.
fn reason(err: &ApiError) -> String {
    match err.envelope() {
        Some(envelope) if !envelope.detail.is_empty() => envelope.detail.clone(),
        Some(envelope) => envelope.message.clone(),
        None => err.to_string(),
    }
}

/// A batch on its way to the service: gives the batch back with the
/// service's answer.
pub type Sending =
    Pin<Box<dyn Future<Output = (Vec<AgentResult>, Result<(), ApiError>)> + Send + 'static>>;

/// What became of a batch sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The service answered (it took the batch, or refused some or all of
    /// it for good).
    Answered,
    /// The service is away: the batch is back among the results waiting.
    Away,
}

/// An outage in progress: since when, the pause before the next try, and
/// when that try is due.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    retry: Duration,
    next: Instant,
}

/// The agent's calls to the service, and whether it is away.
pub struct Link {
    api: ApiClient,
    identity: AgentIdentity,
    outage: Option<Outage>,
    /// Where the calls run, apart from the checks.
    calls: CallThread,
}

impl Link {
    /// A link through `api`, naming the agent as `identity`, its calls on
    /// a thread of their own. Fails only when the system refuses a thread.
    pub fn new(api: ApiClient, identity: AgentIdentity) -> std::io::Result<Link> {
        Ok(Link {
            api,
            identity,
            outage: None,
            calls: CallThread::start()?,
        })
    }

    /// When to try again in an outage (the pause after the last failure);
    /// `None` when the service answers.
    pub fn retry_at(&self) -> Option<Instant> {
        self.outage.map(|outage| outage.next)
    }

    /// The agent's assignment; `None` while the service is away (`waiting`
    /// results are kept meanwhile). Fails when the service refuses the
    /// agent, or refuses to assign it anything.
    pub async fn assignment(&mut self, waiting: usize) -> anyhow::Result<Option<AgentAssignment>> {
        let (api, identity) = (self.api.clone(), self.identity.clone());
        let call = self
            .calls
            .run(async move { api.agent_assignment(&identity).await });
        match call.await {
            Ok(answer) => {
                self.answered(waiting);
                Ok(Some(answer.value))
            }
            Err(err) => match Failure::of(&err) {
                Failure::Unreachable => {
                    self.away(&err, waiting);
                    Ok(None)
                }
                Failure::Refused(why) => Err(anyhow::anyhow!(why)),
                Failure::Rejected => Err(anyhow::anyhow!(
                    "the service does not give this agent an assignment: {err}"
                )),
            },
        }
    }

    /// Sends what `pending` holds, in batches of at most
    /// [`MAX_AGENT_BATCH`], one after the other, until it is empty or the
    /// service is away (then the unsent results stay in `pending`). Fails
    /// only when the service refuses the agent.
    pub async fn flush(&mut self, pending: &mut Pending) -> anyhow::Result<()> {
        while !pending.is_empty() {
            let (batch, outcome) = self.send(pending.take_batch(MAX_AGENT_BATCH)).await;
            if self.settle(batch, outcome, pending)? == Delivery::Away {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends `results` as one batch. The call owns what it needs, so the
    /// agent goes on checking (and keeping results) while it is on its way;
    /// it gives the batch back with the service's answer, for
    /// [`Link::settle`].
    pub fn send(&self, results: Vec<AgentResult>) -> Sending {
        let (api, identity) = (self.api.clone(), self.identity.clone());
        Box::pin(self.calls.run(async move {
            let request = AgentResultsRequest { results };
            let outcome = api
                .send_agent_results(&identity, &request)
                .await
                .map(|_| ());
            (request.results, outcome)
        }))
    }

    /// What the service's answer to a batch means: taken (or refused in
    /// part, 422: the refusals are logged and dropped, since they would be
    /// refused again), or the service is away (the batch goes back into
    /// `pending`, except where a newer result came meanwhile). Fails when
    /// the service refuses the agent itself.
    pub fn settle(
        &mut self,
        batch: Vec<AgentResult>,
        outcome: Result<(), ApiError>,
        pending: &mut Pending,
    ) -> anyhow::Result<Delivery> {
        let err = match outcome {
            Ok(()) => {
                self.answered(pending.len() + batch.len());
                return Ok(Delivery::Answered);
            }
            Err(err) => err,
        };
        if let ApiError::Status {
            status,
            envelope: Some(envelope),
            ..
        } = &err
            && status.as_u16() == 422
        {
            self.answered(pending.len() + batch.len());
            log_refusals(envelope);
            return Ok(Delivery::Answered);
        }
        match Failure::of(&err) {
            Failure::Unreachable => {
                pending.put_back(batch);
                self.away(&err, pending.len());
                Ok(Delivery::Away)
            }
            Failure::Refused(why) => Err(anyhow::anyhow!(why)),
            Failure::Rejected => {
                tracing::error!(
                    error = %error_chain(&err),
                    dropped = batch.len(),
                    "the service refused a batch of results; dropped"
                );
                Ok(Delivery::Answered)
            }
        }
    }

    /// The service answered: an outage, if any, has ended (`waiting`
    /// results are to be sent now).
    fn answered(&mut self, waiting: usize) {
        if let Some(outage) = self.outage.take() {
            tracing::info!(
                away_for = %humantime::format_duration(round_to_seconds(outage.since.elapsed())),
                waiting,
                "the service answers again; sending the newest result per proxy"
            );
        }
    }

    /// The service is away: the first failure of an outage is logged, the
    /// others only make the pause before the next try longer.
    fn away(&mut self, err: &ApiError, waiting: usize) {
        match &mut self.outage {
            Some(outage) => {
                outage.retry = (outage.retry * 2).min(MAX_RETRY);
                outage.next = Instant::now() + outage.retry;
                tracing::debug!(error = %error_chain(err), retry_in = ?outage.retry, "the service is still away");
            }
            None => {
                tracing::warn!(
                    error = %error_chain(err),
                    waiting,
                    "cannot reach the service; probing on with the last assignment, keeping the \
                     newest result per proxy until it answers"
                );
                let now = Instant::now();
                self.outage = Some(Outage {
                    since: now,
                    retry: FIRST_RETRY,
                    next: now + FIRST_RETRY,
                });
            }
        }
    }
}

/// Whole seconds, for a log line.
fn round_to_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

/// The results the service refused (422; it took the others): each logged
/// with the service's reason, then dropped, since the service would refuse
/// them again.
fn log_refusals(envelope: &ErrorEnvelope) {
    for refused in envelope.validations.iter().take(10) {
        tracing::warn!(
            result = %refused.field,
            reason = %refused.detail,
            "the service refused a result; dropped"
        );
    }
    if envelope.validations.len() > 10 {
        tracing::warn!(
            more = envelope.validations.len() - 10,
            "the service refused more results; dropped"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error answer, as the client reads one.
    fn answered(status: u16, body: &str) -> ApiError {
        ApiError::Status {
            status: reqwest::StatusCode::from_u16(status).expect("a status"),
            envelope: serde_json::from_str(body).ok(),
            body: body.to_owned(),
        }
    }

    #[test]
    fn a_refused_token_says_why_in_the_services_words() {
        let err = answered(
            401,
            r#"{"message":"Invalid agent token.","detail":"the agent token's vantage does not exist (deleted?)"}"#,
        );
        assert_eq!(
            Failure::of(&err),
            Failure::Refused(
                "the service refused the agent token: the agent token's vantage does not exist (deleted?)"
                    .to_owned()
            )
        );
        let bare = answered(403, "forbidden");
        assert_eq!(
            Failure::of(&bare),
            Failure::Refused(
                "the service refused the agent: the server answered 403 Forbidden: forbidden"
                    .to_owned()
            )
        );
    }

    #[test]
    fn an_unwell_service_is_an_outage_and_a_bad_request_is_rejected() {
        for code in [500, 502, 503, 504, 429, 408] {
            assert_eq!(
                Failure::of(&answered(code, "")),
                Failure::Unreachable,
                "{code}"
            );
        }
        for code in [400, 404, 413, 415] {
            assert_eq!(
                Failure::of(&answered(code, "")),
                Failure::Rejected,
                "{code}"
            );
        }
    }

    #[test]
    fn the_pause_between_tries_doubles_up_to_its_bound_and_ends_with_the_outage() {
        let api = ApiClient::builder("http://127.0.0.1:1")
            .build()
            .expect("a client");
        let identity = AgentIdentity {
            token: "t".to_owned(),
            id: "a".to_owned(),
            version: "v".to_owned(),
        };
        let mut link = Link::new(api, identity).expect("a call thread");
        assert!(link.retry_at().is_none());
        let err = answered(503, "");
        let mut pauses = Vec::new();
        for _ in 0..8 {
            link.away(&err, 0);
            pauses.push(link.outage.expect("an outage").retry.as_secs());
        }
        assert_eq!(pauses, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        link.answered(0);
        assert!(link.retry_at().is_none());
    }
}
