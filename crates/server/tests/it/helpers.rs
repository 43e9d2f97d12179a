//! The test harness: the real service on 127.0.0.1:0 with a real store, and a
//! reqwest client with typed helpers.

use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_core::ProxySource;
use proxyhealth_engine::{Engine, EngineOptions};
use proxyhealth_server::{AppError, AppSettings, AppStore, Application, ServiceConfig, Stopped};
use proxyhealth_store::{MemoryStore, ProxyStore};
use reqwest::StatusCode;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The admin token the test services are configured with.
pub const ADMIN: &str = "test-admin-token-0123456789";

/// A running service, started through [`Application`].
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub engine: Engine,
    /// The admin token the service generated at its start, if it did.
    pub generated_admin_token: Option<String>,
    /// Cancel to stop the service (dropping the app does too).
    pub shutdown: CancellationToken,
    /// The task running [`Application::run_until_stopped`].
    pub server: Option<JoinHandle<Result<Stopped, AppError>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A service over a fresh memory store; the store is returned for direct access.
pub async fn spawn_app() -> (TestApp, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let app = spawn_with(store.clone(), config()).await;
    (app, store)
}

/// The configuration tests use: the admin token set, public reads.
pub fn config() -> ServiceConfig {
    ServiceConfig {
        admin_token: Some(ADMIN.to_owned()),
        ..ServiceConfig::default()
    }
}

/// The engine settings tests use: the defaults with a short timeout.
pub fn engine_options() -> EngineOptions {
    EngineOptions {
        timeout: Duration::from_secs(2),
        ..EngineOptions::default()
    }
}

/// An engine over `store` with a short timeout; its loop is not started, so a
/// full sweep runs only when a test asks for one.
pub fn engine_for(store: Arc<dyn ProxyStore>) -> Engine {
    let source: Arc<dyn ProxySource> = store;
    Engine::builder()
        .store(source)
        .options(engine_options())
        .build()
        .expect("engine builds")
}

/// The settings of a test application over `store` on 127.0.0.1:0, with the
/// test engine settings and the sweep loop off, so a full sweep runs only when
/// a test asks for one.
pub fn app_settings(store: Arc<dyn ProxyStore>, config: ServiceConfig) -> AppSettings {
    AppSettings {
        engine: engine_options(),
        service: config,
        sweep_loop: false,
        ..AppSettings::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            AppStore::Ready(store),
        )
    }
}

/// The service over any store, served on 127.0.0.1:0.
pub async fn spawn_with(store: Arc<dyn ProxyStore>, config: ServiceConfig) -> TestApp {
    start(app_settings(store, config)).await
}

/// Builds the application and runs it until the app's `shutdown` is cancelled.
pub async fn start(settings: AppSettings) -> TestApp {
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let base = format!("http://{}", app.addr());
    let engine = app.engine().clone();
    let generated_admin_token = app.generated_admin_token().map(str::to_owned);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone().cancelled_owned()));
    TestApp {
        base,
        client: proxyhealth_api::http::client_builder()
            .no_proxy()
            .build()
            .expect("client"),
        engine,
        generated_admin_token,
        shutdown,
        server: Some(server),
    }
}

/// A response's status and JSON body (`Null` when the body is empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The error envelope's message.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// The error envelope's detail.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }

    /// The field of the first validation.
    pub fn first_field(&self) -> &str {
        self.body["validations"][0]["field"].as_str().unwrap_or("")
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("read body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        headers,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET without a token.
    pub async fn get(&self, path: &str) -> Answer {
        answer(self.client.get(self.url(path)).send().await.expect("send")).await
    }

    /// GET with the admin token.
    pub async fn admin_get(&self, path: &str) -> Answer {
        answer(
            self.client
                .get(self.url(path))
                .bearer_auth(ADMIN)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// A request with the admin token and a JSON body.
    pub async fn admin_send(&self, method: reqwest::Method, path: &str, body: &Value) -> Answer {
        answer(
            self.client
                .request(method, self.url(path))
                .bearer_auth(ADMIN)
                .json(body)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// POST with the admin token and no body.
    pub async fn admin_post_empty(&self, path: &str) -> Answer {
        answer(
            self.client
                .post(self.url(path))
                .bearer_auth(ADMIN)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// DELETE with the admin token.
    pub async fn admin_delete(&self, path: &str) -> Answer {
        answer(
            self.client
                .delete(self.url(path))
                .bearer_auth(ADMIN)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// Creates a proxy through the API (the typed client); returns its id and token.
    pub async fn create_proxy(&self, name: &str) -> (Uuid, String) {
        let created = proxyhealth_testkit::api::client(&self.base, ADMIN)
            .create_proxy(&CreateProxyRequest {
                name: name.to_owned(),
                display_name: name.to_uppercase(),
                icon: String::new(),
            })
            .await
            .unwrap_or_else(|err| panic!("create {name}: {err}"));
        assert_eq!(created.status, StatusCode::CREATED);
        (created.value.proxy.region.id, created.value.proxy_token)
    }

    /// Registers with a proxy token.
    pub async fn register(&self, token: &str, body: &Value) -> Answer {
        answer(
            self.client
                .post(self.url("/api/v2/workspaceproxies/me/register"))
                .header("Coder-External-Proxy-Token", token)
                .json(body)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// Waits until the proxy's status (read through the API) is `want`.
    pub async fn wait_for_status(&self, id: Uuid, want: &str) -> Answer {
        let what = format!("the status becoming {want}");
        eventually(Duration::from_secs(10), &what, async || {
            let answer = self
                .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
                .await;
            if answer.body["status"]["status"] == want {
                Ok(answer)
            } else {
                Err(answer.body)
            }
        })
        .await
    }
}

/// A registration body for `url` (the typed request, as JSON that tests may
/// change to send what a client would not).
pub fn registration(url: &str) -> Value {
    serde_json::to_value(proxyhealth_testkit::api::registration(url, "test"))
        .expect("a registration is JSON")
}

/// A memory store that refuses writes as a read-only attach to a Coder database
/// does ([`MemoryStore::set_read_only`]).
pub fn read_only_store() -> MemoryStore {
    let store = MemoryStore::new();
    store.set_read_only(true);
    store
}

pub use proxyhealth_testkit::in_ci;

/// The service over `store` with its engine's sweep loop running every `interval`.
pub async fn spawn_running(store: Arc<dyn ProxyStore>, interval: Duration) -> TestApp {
    let mut settings = app_settings(store, config());
    settings.engine.interval = interval;
    settings.sweep_loop = true;
    start(settings).await
}

/// Everything the `tracing` macros write on the current thread while a capture
/// is installed there (use it with a current-thread runtime, where the service's
/// tasks run on the test's thread).
///
/// One process-wide subscriber serves every capture: its layer is enabled only on
/// a thread that holds a capture and writes into that capture. A thread-scoped
/// subscriber per test would race with tests running in parallel, because
/// `tracing` caches whether a call site is enabled for the whole process, and a
/// test without a capture could cache "never" for a line another test waits for.
#[derive(Clone, Default)]
pub struct LogCapture {
    buffer: Arc<std::sync::Mutex<Vec<u8>>>,
}

thread_local! {
    /// The capture of this thread, if one is installed.
    static CURRENT_CAPTURE: std::cell::RefCell<Option<LogCapture>> =
        const { std::cell::RefCell::new(None) };
}

/// Puts the thread's previous capture back when dropped.
pub struct CaptureGuard {
    previous: Option<LogCapture>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_CAPTURE.with(|current| *current.borrow_mut() = previous);
    }
}

/// Writes into the current thread's capture; discards when there is none.
struct ThreadCaptureWriter;

impl std::io::Write for ThreadCaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CURRENT_CAPTURE.with(|current| {
            if let Some(capture) = current.borrow().as_ref() {
                capture
                    .buffer
                    .lock()
                    .expect("log buffer")
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capturing() -> bool {
    CURRENT_CAPTURE.with(|current| current.borrow().is_some())
}

impl LogCapture {
    /// Installs a capture at trace level, with every field, for the current
    /// thread; the thread's previous capture comes back when the guard drops.
    pub fn install() -> (LogCapture, CaptureGuard) {
        static SUBSCRIBER: std::sync::Once = std::sync::Once::new();
        SUBSCRIBER.call_once(|| {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::{Layer, filter, fmt};
            let layer = fmt::layer()
                .with_ansi(false)
                .with_writer(|| ThreadCaptureWriter)
                .with_filter(filter::dynamic_filter_fn(|_, _| capturing()));
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("the only global subscriber of this test binary");
        });
        let capture = LogCapture::default();
        let previous = CURRENT_CAPTURE.with(|current| current.replace(Some(capture.clone())));
        (capture, CaptureGuard { previous })
    }

    /// The text written so far.
    pub fn text(&self) -> String {
        let bytes = self.buffer.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

pub use proxyhealth_testkit::eventually;

/// Sends `request` through the router without a socket; returns the status
/// and the body as JSON (`Null` when it is not JSON).
pub async fn through_router(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (StatusCode, Value) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
