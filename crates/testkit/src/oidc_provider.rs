//! [`OidcProvider`]: a real OpenID Connect provider on loopback,
//! `oidc-provider-mock` from PyPI (a Flask app) run by Python as a child
//! process: discovery, an RSA key set, the authorization code flow with
//! PKCE and nonces. Its authorization page lets the test choose the user
//! (`sub`), and `PUT /users/{sub}` sets that user's claims.
//!
//! Without Python or the package the test is skipped loudly, or fails with
//! `CI=true`. `scripts/test` installs the package (scripts/lib/oidc-provider.sh)
//! and names the Python that has it in `PROXYHEALTH_TEST_PYTHON` (else
//! `python3`).

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SCRIPT: &str = include_str!("oidc_provider.py");

/// A running provider; stopped when dropped.
pub struct OidcProvider {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its issuer URL, `http://127.0.0.1:{port}`.
    pub issuer: String,
}

impl OidcProvider {
    /// A provider on a free port, or `None` (said loudly) when it cannot run
    /// here; with `CI=true` that panics instead.
    pub async fn start() -> Option<OidcProvider> {
        match Self::start_on(0).await {
            Ok(provider) => Some(provider),
            Err(why) if crate::in_ci() => {
                panic!("the OpenID provider cannot start and CI=true: {why}")
            }
            Err(why) => {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "!!! skipped: the OpenID provider cannot start ({why}); \
                     pip install oidc-provider-mock !!!"
                );
                None
            }
        }
    }

    /// A provider on `port` (0: a free one): a new key pair, so restarting
    /// on the same port is a provider that rotated its keys.
    pub async fn start_on(port: u16) -> Result<OidcProvider, String> {
        let python =
            std::env::var("PROXYHEALTH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("{python}: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let port = match first {
            Ok(Ok(Some(line))) => line
                .trim()
                .parse::<u16>()
                .map_err(|err| format!("{line:?}: {err}"))?,
            _ => {
                let _ = child.start_kill();
                let output = child
                    .wait_with_output()
                    .await
                    .map_err(|err| err.to_string())?;
                return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
            }
        };
        // the rest of its output is its request log: read and dropped
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(_)) = lines.next_line().await {}
            });
        }
        Ok(OidcProvider {
            child,
            port,
            issuer: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Stops the provider and waits for it to exit (its port is free again).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// Sets the claims of user `sub` (besides `sub`): `email`, `groups`, …
    pub async fn set_user(&self, sub: &str, claims: serde_json::Value) {
        let response = proxyhealth_api::http::client()
            .put(format!("{}/users/{sub}", self.issuer))
            .json(&claims)
            .send()
            .await
            .expect("PUT /users/{sub}");
        assert!(
            response.status().is_success(),
            "PUT /users/{sub}: {}",
            response.status()
        );
    }

    /// Signs `sub` in at the provider's authorization page `authorize_url`
    /// (where a login redirected the browser), as a person clicking
    /// "Authorize" would: the URL the provider sends the browser back to
    /// (the callback, with the code and state).
    pub async fn authorize(&self, authorize_url: &str, sub: &str) -> String {
        let client = proxyhealth_api::http::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let response = client
            .post(authorize_url)
            .form(&[("sub", sub)])
            .send()
            .await
            .expect("POST the authorization form");
        assert_eq!(
            response.status().as_u16(),
            302,
            "the provider's answer to the form"
        );
        response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .expect("a Location")
            .to_owned()
    }
}
