//! Calling the API the way tests do: a client of a test server, and the
//! registration a test proxy sends.

use crate::fake_proxy::BUILD_VERSION;
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::RegisterRequest;
use std::time::Duration;
use uuid::Uuid;

/// How long one call of a test client may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of the test server at `base` (`http://127.0.0.1:PORT`) sending
/// `admin_token`.
pub fn client(base: &str, admin_token: &str) -> ApiClient {
    ApiClient::builder(base)
        .admin_token(admin_token)
        .timeout(TEST_TIMEOUT)
        .build()
        .expect("a client of the test server")
}

/// The registration a test proxy at `access_url` sends: DERP on, a fresh
/// replica id, `hostname` as the replica's host name, Coder's build version.
pub fn registration(access_url: &str, hostname: &str) -> RegisterRequest {
    RegisterRequest {
        access_url: access_url.to_owned(),
        wildcard_hostname: String::new(),
        derp_enabled: true,
        derp_only: false,
        replica_id: Uuid::new_v4(),
        hostname: hostname.to_owned(),
        replica_error: String::new(),
        replica_relay_address: String::new(),
        version: BUILD_VERSION.to_owned(),
    }
}
