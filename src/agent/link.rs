//! The agent's link to the service: fetching the assignment and sending
//! results, and what a failed call means for the agent.
//!
//! A service that cannot be reached (or answers 5xx, 429, 408, or something
//! that is not its JSON) is an outage: the agent keeps probing, keeps its
//! results and tries again after a growing pause; an outage is logged when
//! it begins and when it ends, never per attempt. A refused token (401, 403)
//! ends the agent with the service's reason in words. Any other refusal of
//! a batch drops it, logged: sending it again would be refused again.

use super::pending::Pending;
use proxyhealth_api::wire::{AgentAssignment, AgentResultsRequest, MAX_AGENT_BATCH};
use proxyhealth_api::{AgentIdentity, ApiClient, ApiError};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::human::error_chain;
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

/// An outage in progress: since when, and the pause before the next try.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    retry: Duration,
}

/// The agent's calls to the service, and whether it is away.
pub struct Link {
    api: ApiClient,
    identity: AgentIdentity,
    outage: Option<Outage>,
}

impl Link {
    /// A link through `api`, naming the agent as `identity`.
    pub fn new(api: ApiClient, identity: AgentIdentity) -> Link {
        Link {
            api,
            identity,
            outage: None,
        }
    }

    /// When to try again in an outage; `None` when the service answers.
    pub fn retry_at(&self) -> Option<Instant> {
        self.outage.map(|outage| Instant::now() + outage.retry)
    }

    /// The agent's assignment; `None` while the service is away (`waiting`
    /// results are kept meanwhile). Fails when the service refuses the
    /// agent, or refuses to assign it anything.
    pub async fn assignment(&mut self, waiting: usize) -> anyhow::Result<Option<AgentAssignment>> {
        match self.api.agent_assignment(&self.identity).await {
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
    /// [`MAX_AGENT_BATCH`], until it is empty or the service is away (then
    /// the unsent results stay in `pending`). Fails only when the service
    /// refuses the agent.
    pub async fn flush(&mut self, pending: &mut Pending) -> anyhow::Result<()> {
        while !pending.is_empty() {
            let request = AgentResultsRequest {
                results: pending.take_batch(MAX_AGENT_BATCH),
            };
            match self.api.send_agent_results(&self.identity, &request).await {
                Ok(_) => {
                    let waiting = pending.len();
                    self.answered(waiting + request.results.len());
                }
                Err(ApiError::Status {
                    status,
                    envelope: Some(envelope),
                    ..
                }) if status.as_u16() == 422 => {
                    let waiting = pending.len();
                    self.answered(waiting + request.results.len());
                    log_refusals(&envelope);
                }
                Err(err) => match Failure::of(&err) {
                    Failure::Unreachable => {
                        pending.put_back(request.results);
                        self.away(&err, pending.len());
                        return Ok(());
                    }
                    Failure::Refused(why) => return Err(anyhow::anyhow!(why)),
                    Failure::Rejected => {
                        tracing::error!(
                            error = %error_chain(&err),
                            dropped = request.results.len(),
                            "the service refused a batch of results; dropped"
                        );
                    }
                },
            }
        }
        Ok(())
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
                tracing::debug!(error = %error_chain(err), retry_in = ?outage.retry, "the service is still away");
            }
            None => {
                tracing::warn!(
                    error = %error_chain(err),
                    waiting,
                    "cannot reach the service; probing on with the last assignment, keeping the \
                     newest result per proxy until it answers"
                );
                self.outage = Some(Outage {
                    since: Instant::now(),
                    retry: FIRST_RETRY,
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
        let mut link = Link::new(api, identity);
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
