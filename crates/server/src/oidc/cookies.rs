//! The two cookies of sign-in, written and read: the session's, and the
//! short one that binds a login under way to the browser that began it.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use std::time::Duration;

/// The session cookie: a random id, of which the store keeps only the hash.
pub const SESSION_COOKIE: &str = "proxyhealth_session";
/// The login cookie: the `state` of the login this browser began, so a
/// callback URL handed to another browser cannot sign that one in.
pub const LOGIN_COOKIE: &str = "proxyhealth_login";

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Max-Age`,
/// and `Secure` when the service is reached over https.
pub(crate) fn set(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// A `Set-Cookie` value that removes cookie `name`.
pub(crate) fn clear(name: &str, secure: bool) -> String {
    set(name, "", Duration::ZERO, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_cookie_is_read_among_others_and_written_with_its_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; proxyhealth_session=xyz; b=2"),
        );
        assert_eq!(read(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(read(&headers, LOGIN_COOKIE), None);
        assert_eq!(
            set(SESSION_COOKIE, "v", Duration::from_secs(60), true),
            "proxyhealth_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
    }
}
