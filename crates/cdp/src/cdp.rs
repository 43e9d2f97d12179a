//! A small Chrome DevTools Protocol client over one websocket: commands with
//! ids, flattened page sessions, events kept for inspection, and JavaScript
//! dialogs dismissed as soon as they open (so an `alert` can never block a test,
//! yet is recorded).

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long one command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// The browser connection.
pub struct Cdp {
    out: mpsc::UnboundedSender<String>,
    next_id: Arc<AtomicU64>,
    pending: Pending,
    events: Arc<Mutex<Vec<Value>>>,
}

/// One attached page (a flattened target session).
pub struct Page<'a> {
    cdp: &'a Cdp,
    session: String,
}

impl Cdp {
    /// Connects to the browser's `ws://…/devtools/browser/…` endpoint.
    pub async fn connect(ws_url: &str) -> Result<Cdp, String> {
        let (socket, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .map_err(|err| format!("connecting to {ws_url}: {err}"))?;
        let (mut sink, mut stream) = socket.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
        });
        let pending: Pending = Arc::default();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let next_id = Arc::new(AtomicU64::new(1));
        tokio::spawn({
            let pending = Arc::clone(&pending);
            let events = Arc::clone(&events);
            let out = out.clone();
            let next_id = Arc::clone(&next_id);
            async move {
                while let Some(Ok(message)) = stream.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let Ok(value) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    if let Some(id) = value.get("id").and_then(Value::as_u64) {
                        let waiter = pending.lock().expect("pending lock").remove(&id);
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(value);
                        }
                        continue;
                    }
                    if value["method"] == "Page.javascriptDialogOpening" {
                        // Dismiss at once so the page never blocks; the event is kept.
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let mut dismiss = json!({
                            "id": id,
                            "method": "Page.handleJavaScriptDialog",
                            "params": {"accept": false},
                        });
                        if let Some(session) = value.get("sessionId") {
                            dismiss["sessionId"] = session.clone();
                        }
                        let _ = out.send(dismiss.to_string());
                    }
                    events.lock().expect("events lock").push(value);
                }
            }
        });
        Ok(Cdp {
            out,
            next_id,
            pending,
            events,
        })
    }

    /// Sends a command (to the browser, or to a page session) and returns its result.
    pub async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        self.out
            .send(message.to_string())
            .map_err(|_| format!("{method}: the connection is closed"))?;
        let answer = tokio::time::timeout(CALL_TIMEOUT, rx)
            .await
            .map_err(|_| format!("{method}: no answer within {CALL_TIMEOUT:?}"))?
            .map_err(|_| format!("{method}: the connection closed"))?;
        if let Some(error) = answer.get("error") {
            return Err(format!("{method}: {error}"));
        }
        Ok(answer["result"].clone())
    }

    /// Opens a new page and attaches to it.
    pub async fn new_page(&self) -> Result<Page<'_>, String> {
        let target = self
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let target_id = target["targetId"].clone();
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| format!("attachToTarget gave no session: {attached}"))?
            .to_owned();
        let page = Page { cdp: self, session };
        page.call("Page.enable", json!({})).await?;
        page.call("Runtime.enable", json!({})).await?;
        Ok(page)
    }

    /// Every event received so far with this method name.
    pub fn events_named(&self, method: &str) -> Vec<Value> {
        self.events
            .lock()
            .expect("events lock")
            .iter()
            .filter(|event| event["method"] == method)
            .cloned()
            .collect()
    }
}

impl Page<'_> {
    /// Sends a command to this page.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.cdp.call(Some(&self.session), method, params).await
    }

    /// Sets the viewport size (CSS pixels).
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<(), String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await
        .map(drop)
    }

    /// Navigates and waits for the load event.
    pub async fn navigate(&self, url: &str) -> Result<(), String> {
        let before = self.cdp.events_named("Page.loadEventFired").len();
        let result = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = result.get("errorText") {
            return Err(format!("navigating to {url}: {error}"));
        }
        let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
        while self.cdp.events_named("Page.loadEventFired").len() == before {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{url}: no load event within {CALL_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Evaluates an expression in the page (awaiting a promise) and returns its
    /// value as JSON; a thrown exception is an error.
    pub async fn eval(&self, expression: &str) -> Result<Value, String> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await?;
        if let Some(details) = result.get("exceptionDetails") {
            return Err(format!("{expression}: threw {details}"));
        }
        Ok(result["result"]["value"].clone())
    }

    /// A PNG of the whole page, beyond the viewport.
    pub async fn screenshot_full_page(&self) -> Result<Vec<u8>, String> {
        use base64::Engine as _;
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(1280.0).ceil();
        let height = size["height"].as_f64().unwrap_or(800.0).ceil();
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                }),
            )
            .await?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| "captureScreenshot gave no data".to_owned())?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|err| format!("decoding the screenshot: {err}"))
    }
}
