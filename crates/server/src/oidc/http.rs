//! The HTTP client sign-in talks to the identity provider with: the
//! workspace's reqwest, with a timeout per request, no redirects followed (a
//! redirect could send the client secret elsewhere) and a cap on the body
//! read, so a provider that answers slowly or endlessly cannot hold a sign-in
//! or a replica's memory.

use std::time::Duration;

/// How long one request to the provider may take, connection included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest body read from the provider (a discovery document, a key set,
/// a token answer are a few KiB).
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024;

/// Why a request to the provider failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The request could not be made or its answer read.
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    /// The answer's body was larger than [`MAX_BODY_BYTES`].
    #[error("the answer is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

/// An answer of the provider: its status and its body, whole.
pub(crate) struct Answer {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

/// A reqwest client for the provider.
#[derive(Debug, Clone)]
pub(crate) struct ProviderHttp {
    client: reqwest::Client,
}

impl ProviderHttp {
    /// A client with [`REQUEST_TIMEOUT`] and no redirects.
    pub(crate) fn new() -> Result<Self, reqwest::Error> {
        let client = proxyhealth_api::http::client_builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ProviderHttp { client })
    }

    /// `GET url`, asking for JSON.
    pub(crate) async fn get(&self, url: &str) -> Result<Answer, HttpError> {
        self.send(
            self.client
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json"),
        )
        .await
    }

    /// `POST url` of the form `fields`, authenticated as `client_id` with
    /// `secret` (HTTP Basic, each part form-encoded, RFC 6749 section 2.3.1)
    /// when there is one, else naming `client_id` in the form.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<Answer, HttpError> {
        let request = self
            .client
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        let (request, body) = match secret {
            Some(secret) => (
                request.basic_auth(form_encoded(client_id), Some(form_encoded(secret))),
                form(fields, None),
            ),
            None => (request, form(fields, Some(client_id))),
        };
        self.send(request.body(body)).await
    }

    /// Sends `request` and reads the answer, at most [`MAX_BODY_BYTES`] of it.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, HttpError> {
        let mut response = request.send().await?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body })
    }
}

/// `fields`, and `client_id` when given, as a form body.
fn form(fields: &[(&str, &str)], client_id: Option<&str>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(fields);
    if let Some(client_id) = client_id {
        form.append_pair("client_id", client_id);
    }
    form.finish()
}

/// `text` form-encoded (`application/x-www-form-urlencoded`).
fn form_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
