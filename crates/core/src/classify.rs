//! Judging a probe: the seed's classification, branch by branch, with its defects fixed.

use crate::envelope::{BodyAsError, expect_json_mime, read_body_as_error};
use crate::outcome::{BodyError, ProbeOutcome, ProbeResponse};
use crate::{HealthReport, Status};

/// The verdict on one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The proxy's status after this probe alone (before any hysteresis).
    pub status: Status,
    /// The proxy's own report, or the one error that explains the status.
    pub report: HealthReport,
}

impl Classified {
    fn unhealthy(message: impl Into<String>) -> Self {
        Classified {
            status: Status::Unhealthy,
            report: HealthReport::error(message),
        }
    }
}

/// The URL the engine probes for a proxy URL: one trailing `/` trimmed, then
/// `/healthz-report` (as the seed, only one slash is removed).
pub fn health_report_url(proxy_url: &str) -> String {
    format!(
        "{}/healthz-report",
        proxy_url.strip_suffix('/').unwrap_or(proxy_url)
    )
}

/// Classifies the outcome of probing `req_url` (see [`health_report_url`]).
///
/// - A 200 carrying a report is `ok`, or `unhealthy` when the report has errors;
///   warnings never change the status.
/// - A 200 that is not a report is `unhealthy`, with a hint of what answered: a
///   Coder server (it sent `X-Coder-Build-Version`) or something else, and the
///   content type when it is not JSON.
/// - Any other status is `unhealthy` with the multi-line message that names the
///   status code, the URL to try by hand and the proxy's own error envelope.
/// - No response at all is `unreachable`.
/// - A URL that does not parse, or a request that cannot be built, is `unhealthy`
///   for that proxy alone.
pub fn classify(req_url: &str, outcome: &ProbeOutcome) -> Classified {
    match outcome {
        ProbeOutcome::Response(response) if response.status == 200 => {
            ok_response(req_url, response)
        }
        ProbeOutcome::Response(response) => failed_response(req_url, response),
        ProbeOutcome::Transport(error) => Classified {
            status: Status::Unreachable,
            report: HealthReport::error(format!(
                "request to proxy failed: Get {req_url:?}: {}",
                error.message
            )),
        },
        ProbeOutcome::InvalidUrl(cause) => {
            Classified::unhealthy(format!("failed to parse proxy url: {cause}"))
        }
        ProbeOutcome::RequestBuild(cause) => Classified::unhealthy(format!("new request: {cause}")),
    }
}

fn ok_response(req_url: &str, response: &ProbeResponse) -> Classified {
    if let Some(too_large @ BodyError::TooLarge { .. }) = &response.body_error {
        return Classified::unhealthy(format!(
            "received a status code 200, but the health report at {req_url:?} was not read: {too_large}"
        ));
    }
    let decoded = match &response.body_error {
        Some(error) => Err(error.to_string()),
        None => HealthReport::decode(&response.body).map_err(|err| err.to_string()),
    };
    let decode_error = match decoded {
        Ok(report) => {
            let status = if report.errors.is_empty() {
                Status::Ok
            } else {
                Status::Unhealthy
            };
            return Classified { status, report };
        }
        Err(decode_error) => decode_error,
    };
    let is_coder = if response
        .build_version
        .as_deref()
        .is_some_and(|v| !v.is_empty())
    {
        format!(
            "proxy url {req_url:?} is a coder instance, but unable to decode the response payload. Could this be a primary coderd and not a proxy?"
        )
    } else {
        format!("proxy url {req_url:?} is not a coder proxy instance, verify the url is correct")
    };
    let cause = match expect_json_mime(response.content_type.as_deref()) {
        Err(not_json) => format!(
            "attempted to query health at {req_url:?} but got back the incorrect content type: {not_json}"
        ),
        Ok(()) => format!(
            "received a status code 200, but failed to decode health report body: {decode_error}"
        ),
    };
    Classified::unhealthy(format!("{is_coder}\n{cause}"))
}

fn failed_response(req_url: &str, response: &ProbeResponse) -> Classified {
    let mut message = format!(
        "unexpected status code {}. \nEncountered error, send a request to {req_url:?} from the proxyhealth environment to debug this issue.",
        response.status
    );
    if let Some(location) = &response.location {
        message.push_str(&format!(
            "\nThe proxy redirected to {location:?}, which was not followed: the health report must be served at the proxy URL itself (redirects are followed only when enabled, and only to the same host)."
        ));
    }
    let final_url = if response.final_url.is_empty() {
        req_url
    } else {
        &response.final_url
    };
    let error_text = match read_body_as_error(
        response.status,
        final_url,
        response.content_type.as_deref(),
        &response.body,
    ) {
        BodyAsError::Api {
            message: api_message,
            detail,
            validations,
            text,
        } => {
            message.push_str(&format!(
                "\nError Message: {api_message}\nError Detail: {detail}"
            ));
            for validation in validations {
                message.push_str(&format!(
                    "\n\tValidation: {}={}",
                    validation.field, validation.detail
                ));
            }
            text
        }
        BodyAsError::Plain(text) => text,
    };
    message.push_str(&format!("\nError: {error_text}"));
    if let Some(body_error) = &response.body_error {
        message.push_str(&format!("\nNote: {body_error}"));
    }
    Classified::unhealthy(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{TransportError, TransportErrorKind};

    const URL: &str = "http://127.0.0.1:3001/healthz-report";

    fn response(status: u16, content_type: Option<&str>, body: &[u8]) -> ProbeOutcome {
        ProbeOutcome::Response(ProbeResponse {
            status,
            content_type: content_type.map(str::to_owned),
            final_url: URL.to_owned(),
            body: body.to_vec(),
            ..ProbeResponse::default()
        })
    }

    #[test]
    fn only_one_trailing_slash_is_trimmed() {
        assert_eq!(
            health_report_url("https://p.example.com/"),
            "https://p.example.com/healthz-report"
        );
        assert_eq!(
            health_report_url("https://p.example.com//"),
            "https://p.example.com//healthz-report"
        );
    }

    #[test]
    fn a_report_without_errors_is_ok_even_with_warnings() {
        let verdict = classify(
            URL,
            &response(
                200,
                Some("application/json"),
                br#"{"errors":null,"warnings":["w"]}"#,
            ),
        );
        assert_eq!(verdict.status, Status::Ok);
        assert_eq!(verdict.report.warnings, ["w"]);
    }

    #[test]
    fn a_report_with_errors_is_unhealthy_and_keeps_them() {
        let verdict = classify(
            URL,
            &response(
                200,
                Some("application/json"),
                br#"{"errors":["We have a problem!"]}"#,
            ),
        );
        assert_eq!(verdict.status, Status::Unhealthy);
        assert_eq!(verdict.report.errors, ["We have a problem!"]);
    }

    #[test]
    fn a_bare_400_gives_the_reference_message() {
        let verdict = classify(URL, &response(400, None, b""));
        assert_eq!(verdict.status, Status::Unhealthy);
        assert_eq!(
            verdict.report.errors,
            [format!(
                "unexpected status code 400. \nEncountered error, send a request to \"{URL}\" from the proxyhealth environment to debug this issue.\nError Message: unexpected non-JSON response \"\"\nError Detail: no response body\nError: GET {URL}: unexpected status code 400: unexpected non-JSON response \"\"\n\tError: no response body"
            )]
        );
    }

    #[test]
    fn a_primary_coderd_answering_html_gets_the_primary_hint() {
        let outcome = ProbeOutcome::Response(ProbeResponse {
            status: 200,
            content_type: Some("text/html; charset=utf-8".into()),
            build_version: Some("v2.20.0".into()),
            body: b"<html>".to_vec(),
            ..ProbeResponse::default()
        });
        let verdict = classify("https://p.example.com/healthz-report", &outcome);
        assert_eq!(
            verdict.report.errors,
            [
                "proxy url \"https://p.example.com/healthz-report\" is a coder instance, but unable to decode the response payload. Could this be a primary coderd and not a proxy?\nattempted to query health at \"https://p.example.com/healthz-report\" but got back the incorrect content type: unexpected non-JSON response \"text/html; charset=utf-8\""
            ]
        );
    }

    #[test]
    fn a_transport_error_is_unreachable() {
        let outcome = ProbeOutcome::Transport(TransportError {
            kind: TransportErrorKind::Connect,
            message: "connection refused".into(),
        });
        let verdict = classify(URL, &outcome);
        assert_eq!(verdict.status, Status::Unreachable);
        assert_eq!(
            verdict.report.errors,
            [format!(
                "request to proxy failed: Get \"{URL}\": connection refused"
            )]
        );
    }
}
