//! A minimal HTTP/1.1 client over a raw TCP stream, so the tests see exactly what was sent.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One parsed answer.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the end of the headers arrived, counted from the request being sent.
    pub headers_after: Duration,
    /// When the whole answer had arrived.
    pub total_after: Duration,
}

impl RawResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one `GET path` with `Connection: close` and reads the whole answer.
pub async fn get(addr: SocketAddr, path: &str) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    send(&mut stream, path, false).await?;
    read_response(&mut stream).await
}

/// Writes one request for `path`; `keep_alive` leaves the connection open for more.
pub async fn send(stream: &mut TcpStream, path: &str, keep_alive: bool) -> io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: sim.test\r\nConnection: {connection}\r\n\r\n");
    stream.write_all(request.as_bytes()).await
}

/// Reads one answer (Content-Length or chunked) from the stream.
pub async fn read_response(stream: &mut TcpStream) -> io::Result<RawResponse> {
    let start = Instant::now();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if read_more(stream, &mut buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "eof in headers",
            ));
        }
    };
    let headers_after = start.elapsed();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut rest = buf[head_end + 4..].to_vec();
    let find_header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = find_header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad length"))?;
        while rest.len() < len {
            if read_more(stream, &mut rest).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in body"));
            }
        }
        rest.truncate(len);
        rest
    } else if find_header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(stream, rest).await?
    } else {
        while read_more(stream, &mut rest).await? > 0 {}
        rest
    };
    Ok(RawResponse {
        status,
        headers,
        body,
        headers_after,
        total_after: start.elapsed(),
    })
}

async fn read_chunked(stream: &mut TcpStream, mut raw: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(pos) = find(&raw, b"\r\n") {
                break pos;
            }
            if read_more(stream, &mut raw).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in chunk"));
            }
        };
        let size_text = String::from_utf8_lossy(&raw[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.trim(), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        while raw.len() < line_end + 2 + size + 2 {
            if read_more(stream, &mut raw).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in chunk"));
            }
        }
        body.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
