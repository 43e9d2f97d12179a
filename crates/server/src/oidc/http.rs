//! The HTTP client the OpenID Connect library talks to the identity provider
//! with: the workspace's reqwest, with a timeout per request, no redirects
//! followed (a redirect could send the client secret elsewhere) and a cap on
//! the body read, so a provider that answers slowly or endlessly cannot hold
//! a sign-in or a replica's memory.

use openidconnect::{HttpRequest, HttpResponse};
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
    /// The answer could not be put in the library's form.
    #[error("{0}")]
    Http(#[from] openidconnect::http::Error),
}

/// A reqwest client for the provider.
#[derive(Debug, Clone)]
pub(crate) struct ProviderHttp {
    client: reqwest::Client,
}

impl ProviderHttp {
    /// A client with [`REQUEST_TIMEOUT`] and no redirects.
    pub(crate) fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ProviderHttp { client })
    }

    /// Sends `request` and reads the answer, at most [`MAX_BODY_BYTES`] of it.
    pub(crate) async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let mut response = self.client.execute(request).await?;
        let mut answer = openidconnect::http::Response::builder().status(response.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(answer.body(body)?)
    }
}
