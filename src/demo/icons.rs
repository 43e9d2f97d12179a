//! The demo proxies' icons: small SVG flags, drawn here and served from loopback,
//! so the dashboard shows them as images on any machine (flag emoji need a colour
//! emoji font, which many servers and some desktops lack).
//!
//! The server answers `GET /flags/<code>.svg` and nothing else; it is a few lines
//! over a TCP listener because it serves a handful of fixed files to one browser.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The largest request head read; a browser's is well under this.
const MAX_HEAD: usize = 8 * 1024;
/// How long a connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// A flag's drawing, 30 by 20 units: three stripes, or shapes on a field.
enum Flag {
    /// Three vertical stripes, left to right.
    Vertical([&'static str; 3]),
    /// Horizontal stripes, top to bottom (two or three).
    Horizontal(&'static [&'static str]),
    /// Free-form SVG elements.
    Shapes(&'static str),
}

/// The drawing of a flag by its two-letter code.
fn flag(code: &str) -> Option<Flag> {
    Some(match code {
        "ie" => Flag::Vertical(["#169b62", "#ffffff", "#ff883e"]),
        "it" => Flag::Vertical(["#009246", "#ffffff", "#ce2b37"]),
        "ng" => Flag::Vertical(["#008751", "#ffffff", "#008751"]),
        "de" => Flag::Horizontal(&["#000000", "#dd0000", "#ffce00"]),
        "pl" => Flag::Horizontal(&["#ffffff", "#dc143c"]),
        "in" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#ffffff"/><rect width="30" height="6.67" fill="#ff9933"/><rect y="13.33" width="30" height="6.67" fill="#138808"/><circle cx="15" cy="10" r="2.6" fill="none" stroke="#000080" stroke-width="0.7"/><circle cx="15" cy="10" r="0.6" fill="#000080"/>"##,
        ),
        "se" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#006aa7"/><rect x="9.4" width="3.75" height="20" fill="#fecc00"/><rect y="8" width="30" height="4" fill="#fecc00"/>"##,
        ),
        "sg" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#ffffff"/><rect width="30" height="10" fill="#ef3340"/><circle cx="7" cy="5" r="3.4" fill="#ffffff"/><circle cx="8.4" cy="5" r="3.3" fill="#ef3340"/><g fill="#ffffff"><circle cx="10" cy="3" r="0.55"/><circle cx="12" cy="4.3" r="0.55"/><circle cx="11.3" cy="6.6" r="0.55"/><circle cx="8.8" cy="6.6" r="0.55"/><circle cx="8.1" cy="4.3" r="0.55"/></g>"##,
        ),
        "br" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#009c3b"/><polygon points="3,10 15,2.2 27,10 15,17.8" fill="#ffdf00"/><circle cx="15" cy="10" r="4.6" fill="#002776"/><path d="M10.6 9.2 Q15 8.2 19.4 11" stroke="#ffffff" stroke-width="0.7" fill="none"/>"##,
        ),
        "jp" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#ffffff"/><circle cx="15" cy="10" r="6" fill="#bc002d"/>"##,
        ),
        "ca" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#ffffff"/><rect width="7.5" height="20" fill="#d52b1e"/><rect x="22.5" width="7.5" height="20" fill="#d52b1e"/><polygon points="15,3.5 16.2,6 17.8,5.4 17.2,9 19.4,7.6 19.8,9 21.2,8.8 20.4,11 21.4,11.6 17.6,14.2 17.9,15.4 15.4,15 15.4,17.5 14.6,17.5 14.6,15 12.1,15.4 12.4,14.2 8.6,11.6 9.6,11 8.8,8.8 10.2,9 10.6,7.6 12.8,9 12.2,5.4 13.8,6" fill="#d52b1e"/>"##,
        ),
        "ae" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#ffffff"/><rect width="30" height="6.67" fill="#00732f"/><rect y="13.33" width="30" height="6.67" fill="#000000"/><rect width="7.5" height="20" fill="#ff0000"/>"##,
        ),
        "us" => Flag::Shapes(
            r##"<rect width="30" height="20" fill="#ffffff"/><g fill="#b22234"><rect width="30" height="1.54"/><rect y="3.08" width="30" height="1.54"/><rect y="6.15" width="30" height="1.54"/><rect y="9.23" width="30" height="1.54"/><rect y="12.31" width="30" height="1.54"/><rect y="15.38" width="30" height="1.54"/><rect y="18.46" width="30" height="1.54"/></g><rect width="12" height="10.77" fill="#3c3b6e"/><g fill="#ffffff"><circle cx="2" cy="2" r="0.6"/><circle cx="6" cy="2" r="0.6"/><circle cx="10" cy="2" r="0.6"/><circle cx="4" cy="4.2" r="0.6"/><circle cx="8" cy="4.2" r="0.6"/><circle cx="2" cy="6.4" r="0.6"/><circle cx="6" cy="6.4" r="0.6"/><circle cx="10" cy="6.4" r="0.6"/><circle cx="4" cy="8.6" r="0.6"/><circle cx="8" cy="8.6" r="0.6"/></g>"##,
        ),
        _ => return None,
    })
}

/// The SVG document of the flag `code` (`ie`, `us`, …), or `None` for a code
/// without a drawing.
pub fn flag_svg(code: &str) -> Option<String> {
    let body = match flag(code)? {
        Flag::Vertical(colours) => colours
            .iter()
            .enumerate()
            .map(|(i, colour)| {
                format!(
                    r#"<rect x="{}" width="10" height="20" fill="{colour}"/>"#,
                    i * 10
                )
            })
            .collect(),
        Flag::Horizontal(colours) => {
            let height = 20.0 / colours.len() as f64;
            colours
                .iter()
                .enumerate()
                .map(|(i, colour)| {
                    format!(
                        r#"<rect y="{:.2}" width="30" height="{height:.2}" fill="{colour}"/>"#,
                        i as f64 * height
                    )
                })
                .collect()
        }
        Flag::Shapes(shapes) => shapes.to_owned(),
    };
    Some(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 30 20" width="30" height="20">"#,
            r#"<clipPath id="r"><rect width="30" height="20" rx="2.5"/></clipPath>"#,
            r#"<g clip-path="url(#r)">{}</g>"#,
            r##"<rect x="0.25" y="0.25" width="29.5" height="19.5" rx="2.3" fill="none" stroke="#000" stroke-opacity="0.18" stroke-width="0.5"/>"##,
            "</svg>"
        ),
        body
    ))
}

/// The icon server: where it listens, so icon URLs can point at it.
#[derive(Debug, Clone, Copy)]
pub struct IconServer {
    addr: SocketAddr,
}

impl IconServer {
    /// Binds `127.0.0.1:0` and serves the flags until `stop` is cancelled.
    pub async fn start(stop: CancellationToken) -> std::io::Result<IconServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(accept_loop(listener, stop));
        Ok(IconServer { addr })
    }

    /// The icon URL of the flag `code`.
    pub fn url(&self, code: &str) -> String {
        format!("http://{}/flags/{code}.svg", self.addr)
    }
}

async fn accept_loop(listener: TcpListener, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::debug!(%err, "icon server: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = answer(stream) => {}
            }
        });
    }
}

/// Reads one request head and answers it, then closes the connection.
async fn answer(mut stream: TcpStream) {
    let Ok(Some(path)) = tokio::time::timeout(HEAD_TIMEOUT, read_path(&mut stream)).await else {
        return;
    };
    let svg = path
        .strip_prefix("/flags/")
        .and_then(|file| file.strip_suffix(".svg"))
        .and_then(flag_svg);
    let response = match svg {
        Some(svg) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\nContent-Length: {}\r\nCache-Control: max-age=3600\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n{svg}",
            svg.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n".to_owned(),
    };
    if let Err(err) = stream.write_all(response.as_bytes()).await {
        tracing::debug!(%err, "icon server: write failed");
    }
    let _ = stream.shutdown().await;
}

/// Reads until the end of the request head; returns the path of a `GET`.
async fn read_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) => Some(path.split('?').next().unwrap_or(path).to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_flag_has_no_drawing() {
        assert!(flag_svg("xx").is_none());
        assert!(flag_svg("../etc").is_none());
    }

    #[test]
    fn a_striped_flag_is_an_svg_with_its_colours() {
        let svg = flag_svg("ie").expect("ireland");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        for colour in ["#169b62", "#ffffff", "#ff883e"] {
            assert!(svg.contains(colour), "{colour} in {svg}");
        }
    }

    #[tokio::test]
    async fn the_server_serves_a_flag_as_svg_and_nothing_else() {
        let stop = CancellationToken::new();
        let server = IconServer::start(stop.clone()).await.expect("start");
        let client = proxyhealth_api::http::client();
        let ok = client.get(server.url("jp")).send().await.expect("get jp");
        assert_eq!(ok.status(), 200);
        assert_eq!(
            ok.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("image/svg+xml")
        );
        assert_eq!(ok.text().await.expect("body"), flag_svg("jp").expect("jp"));
        let missing = client.get(server.url("zz")).send().await.expect("get zz");
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.text().await.expect("body"), "not found\n");
        stop.cancel();
    }
}
