//! [`PerClientProxy`]: a proxy on loopback that treats each client address
//! as the test says, so several vantages on one machine (agents bound to
//! 127.0.0.2, 127.0.0.3, … with `--source-address`) can see one proxy
//! differently: a network cut off from one place, a slow route from another.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the proxy treats one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// A healthy report at once.
    Answer,
    /// The connection is closed before any answer: the client sees the
    /// proxy unreachable.
    CutOff,
    /// A healthy report after this long.
    Delay(Duration),
}

/// A healthy Coder proxy on `127.0.0.1:0` whose treatment of each client address the test
/// sets and changes while it runs. Stops when dropped.
pub struct PerClientProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    treatments: Arc<parking_lot::Mutex<HashMap<IpAddr, Treatment>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PerClientProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const REPORT: &str = "{\"errors\":[],\"warnings\":[]}";

impl PerClientProxy {
    /// Starts the proxy; every client is answered until told otherwise.
    pub async fn start() -> PerClientProxy {
        // clients bound to other loopback addresses still reach 127.0.0.1
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        let treatments: Arc<parking_lot::Mutex<HashMap<IpAddr, Treatment>>> = Arc::default();
        let shared = Arc::clone(&treatments);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, peer)) = listener.accept().await {
                let treatment = shared
                    .lock()
                    .get(&peer.ip())
                    .copied()
                    .unwrap_or(Treatment::Answer);
                tokio::spawn(async move {
                    match treatment {
                        Treatment::CutOff => return,
                        Treatment::Delay(delay) => tokio::time::sleep(delay).await,
                        Treatment::Answer => {}
                    }
                    let mut request = vec![0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         x-coder-build-version: {}\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{REPORT}",
                        crate::fake_proxy::BUILD_VERSION,
                        REPORT.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        PerClientProxy {
            url: format!("http://127.0.0.1:{port}"),
            treatments,
            task,
        }
    }

    /// Treats `client` as `treatment` from the next connection on.
    pub fn treat(&self, client: IpAddr, treatment: Treatment) {
        self.treatments.lock().insert(client, treatment);
    }
}
