//! The signature of a webhook request: HMAC-SHA256, keyed with the
//! configured secret, of `"{timestamp}.{body}"`, where `timestamp` is the
//! `X-Proxyhealth-Timestamp` header (unix seconds) and `body` the exact bytes
//! of the request body; sent as `X-Proxyhealth-Signature: sha256=<hex>`.
//! A receiver recomputes it, compares in constant time, and refuses a
//! timestamp too far from its clock (replays).

use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;

/// The header holding the unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Proxyhealth-Timestamp";
/// The header holding `sha256=<hex of the HMAC>`.
pub const SIGNATURE_HEADER: &str = "X-Proxyhealth-Signature";
/// The header holding the delivery id (the same on every retry).
pub const DELIVERY_HEADER: &str = "X-Proxyhealth-Delivery";
/// The header holding the event's kind (`status_change`, `test`).
pub const EVENT_HEADER: &str = "X-Proxyhealth-Event";

/// The value of [`SIGNATURE_HEADER`] for `body` signed at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable_key(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cold]
fn unreachable_key() -> ! {
    panic!("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2 (key "Jefe"), with the message split where the
    /// signature puts its dot.
    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256_of_timestamp_dot_body() {
        let message = b"what do ya want for nothing?";
        // "what do ya want for nothing?" is not "{ts}.{body}"; sign the
        // equivalent pieces by hand to check the construction
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").expect("key");
        mac.update(message);
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"k").expect("key");
        mac.update(b"1700000000.{\"a\":1}");
        assert_eq!(
            signature(b"k", 1_700_000_000, b"{\"a\":1}"),
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
    }
}
