//! A notification receiver: a real HTTP server on loopback that records every
//! request (headers and body), answers 200, or 503 while it is told to fail,
//! and checks signatures the way docs/api.md tells a receiver to.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use parking_lot::Mutex;
use sha2_hmac::Sha256;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, as sent.
    pub body: Bytes,
    /// What the receiver answered.
    pub answered: u16,
}

impl Received {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value (empty when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    /// Requests still to answer 503.
    fail_next: AtomicUsize,
}

/// The receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A receiver on a free loopback port.
    pub async fn start() -> Receiver {
        Receiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A receiver on `addr` (a port a test reserved, to come up later).
    pub async fn start_on(addr: SocketAddr) -> Receiver {
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&shared);
            async move {
                let fail = state
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let status = if fail {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                };
                state.received.lock().push(Received {
                    headers,
                    body,
                    answered: status.as_u16(),
                });
                (status, if fail { "try later" } else { "thanks" })
            }
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the receiver's port");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            addr,
            state,
            task,
        }
    }

    /// Answers the next `n` requests with 503.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().clone()
    }

    /// The requests answered 200 so far.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }

    /// Waits until `n` requests were answered 200 (panics after `within`).
    pub async fn wait_for_accepted(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n {
                return accepted;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} notifications accepted within {within:?}: {:?}",
                accepted.len(),
                self.received()
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Checks a request's signature as a receiver does: recompute
/// HMAC-SHA256(secret, "{X-Proxyhealth-Timestamp}.{body}"), compare it in
/// constant time with `X-Proxyhealth-Signature` (`sha256=<hex>`), and refuse
/// a timestamp more than `tolerance` seconds from now.
pub fn signature_is_valid(secret: &[u8], request: &Received, now: i64, tolerance: i64) -> bool {
    let timestamp = request.header("x-proxyhealth-timestamp");
    let Ok(at) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - at).abs() > tolerance {
        return false;
    }
    let Some(given) = request
        .header("x-proxyhealth-signature")
        .strip_prefix("sha256=")
        .and_then(|hex| hex::decode(hex).ok())
    else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = mac.finalize().into_bytes();
    subtle::ConstantTimeEq::ct_eq(expected.as_slice(), given.as_slice()).into()
}
