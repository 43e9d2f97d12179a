//! The bytes of a check's request: `GET <path> HTTP/1.1` with `Connection: close`,
//! and Basic authentication when the URL has userinfo.

use crate::transport::exchange::USER_AGENT;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use proxyhealth_core::secrets::credentials;
use std::io::Write;
use url::Url;

/// Encodes the request for `url`, or says why it cannot be sent.
pub(crate) fn encode(url: &Url) -> Result<Vec<u8>, String> {
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| format!("no host in request URL {:?}", url.as_str()))?;
    let path = url.path();
    let query = url.query();
    let target_is_clean = path
        .bytes()
        .chain(query.unwrap_or_default().bytes())
        .all(|b| b.is_ascii_graphic());
    if !target_is_clean {
        return Err(format!("invalid request target in URL {:?}", url.as_str()));
    }
    let mut request = Vec::with_capacity(128 + path.len() + host.len());
    request.extend_from_slice(b"GET ");
    request.extend_from_slice(path.as_bytes());
    if let Some(query) = query {
        request.push(b'?');
        request.extend_from_slice(query.as_bytes());
    }
    request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    request.extend_from_slice(host.as_bytes());
    if let Some(port) = url.port() {
        // Writing to a Vec cannot fail.
        let _ = write!(request, ":{port}");
    }
    if let Some((user, password)) = credentials(url) {
        // Basic authentication from the URL's userinfo, as `reqwest` (the TLS
        // transport) and Go's client send it.
        let token = BASE64.encode(format!("{user}:{password}"));
        request.extend_from_slice(b"\r\nAuthorization: Basic ");
        request.extend_from_slice(token.as_bytes());
    }
    request.extend_from_slice(b"\r\nUser-Agent: ");
    request.extend_from_slice(USER_AGENT.as_bytes());
    request.extend_from_slice(b"\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(url: &str) -> String {
        let url = Url::parse(url).expect("a valid URL");
        String::from_utf8(encode(&url).expect("encodable")).expect("ASCII")
    }

    #[test]
    fn the_request_names_the_path_host_and_port_and_closes() {
        let text = encoded("http://127.0.0.1:8080/base/healthz-report?x=1");
        let expected = format!(
            "GET /base/healthz-report?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn userinfo_is_sent_as_basic_authentication_and_not_in_the_host() {
        let text = encoded("http://ops:s%40cret@127.0.0.1:8080/healthz-report");
        // base64("ops:s@cret")
        assert!(
            text.contains("\r\nHost: 127.0.0.1:8080\r\nAuthorization: Basic b3BzOnNAY3JldA==\r\n"),
            "{text}"
        );
        assert!(!encoded("http://127.0.0.1:1/x").contains("Authorization"));
    }

    #[test]
    fn the_default_port_is_not_written() {
        assert!(
            encoded("http://proxy.example/healthz-report").contains("\r\nHost: proxy.example\r\n")
        );
    }

    #[test]
    fn an_ipv6_host_keeps_its_brackets() {
        assert!(encoded("http://[::1]:9/healthz-report").contains("\r\nHost: [::1]:9\r\n"));
    }
}
