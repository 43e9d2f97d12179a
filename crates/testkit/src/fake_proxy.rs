//! A proxy of the test's own on `127.0.0.1:0` that answers every request with a
//! fixed 200 JSON health report (the simulator's reports are fixed, and this one
//! must carry markup).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running fake proxy; stops when dropped.
pub struct FakeProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    task: JoinHandle<()>,
}

impl FakeProxy {
    /// Serves `report` (a JSON document) as `application/json` with status 200.
    pub async fn start(report: String) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake proxy");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let report = report.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Coder-Build-Version: v2.20.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{report}",
                        report.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        FakeProxy { url, task }
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
