//! What notifications are configured with: the targets, the signing secret,
//! the timeout, the retry bound, the damping time and the public URL.

use std::fmt;
use std::time::Duration;
use url::Url;

/// Default bound on one delivery attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time attempts go on before a notification is given up.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(3600);

/// A signing secret: compared and used, never printed (`Debug` shows
/// `Secret(***)`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret from its text.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret's bytes, to sign with.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How a target is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A generic webhook: the JSON body of [`crate::WebhookBody`].
    Webhook,
    /// A Slack-compatible incoming webhook: `{"text": "…"}`, readable.
    Slack,
}

impl TargetKind {
    /// The kind's word (`webhook`, `slack`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Slack => "slack",
        }
    }
}

/// One place notifications are sent to.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Its name: the metrics' `target` label, the API's and the logs' name
    /// for it (never the URL, which may hold a token).
    pub name: String,
    /// How it is spoken to.
    pub kind: TargetKind,
    /// Where requests go (`http` or `https`).
    pub url: Url,
}

impl fmt::Debug for Target {
    /// Shows the URL's scheme and host only: webhook URLs carry tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field(
                "url",
                &format!("{}://{}/…", self.url.scheme(), host_of(&self.url)),
            )
            .finish()
    }
}

/// The URL's host and port, as shown in place of the whole URL.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

/// Why a `NAME=URL` target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetSpecError {
    /// No `=`.
    #[error("expected NAME=URL")]
    Shape,
    /// A name that is empty, too long or has other characters.
    #[error("invalid target name {0:?}: use 1 to 64 letters, digits, '-' or '_'")]
    Name(String),
    /// A URL that does not parse.
    #[error("invalid URL for target {name:?}: {reason}")]
    Url {
        /// The target.
        name: String,
        /// Why.
        reason: String,
    },
    /// A URL that is not http or https.
    #[error("the URL of target {0:?} must be http:// or https://")]
    Scheme(String),
}

impl Target {
    /// Reads `NAME=URL` (a flag's or the file's value) as a target of `kind`.
    pub fn parse(kind: TargetKind, spec: &str) -> Result<Target, TargetSpecError> {
        let (name, url) = spec.split_once('=').ok_or(TargetSpecError::Shape)?;
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(TargetSpecError::Name(name.to_owned()));
        }
        let url = Url::parse(url.trim()).map_err(|err| TargetSpecError::Url {
            name: name.to_owned(),
            reason: err.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetSpecError::Scheme(name.to_owned()));
        }
        Ok(Target {
            name: name.to_owned(),
            kind,
            url,
        })
    }
}

/// Everything notifications run with. `Default` has no targets (nothing is
/// written to the outbox, no worker runs) and the default timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// Where notifications go; names are unique.
    pub targets: Vec<Target>,
    /// The secret every request is signed with; unsigned without one.
    pub secret: Option<Secret>,
    /// Bound on one attempt (connect to the end of the answer).
    pub timeout: Duration,
    /// How long after its damping time a notification is retried before it
    /// is given up (marked failed).
    pub retry_for: Duration,
    /// How long a new status must last before it is notified (zero: at
    /// once); a change undone within it sends nothing.
    pub damping: Duration,
    /// The dashboard's public URL: bodies link to `{public_url}/proxies/{id}`.
    pub public_url: Option<Url>,
    /// Whether a proxy entering or leaving a partial outage (failing from
    /// fewer vantages than the quorum) is notified too (`partial_outage`
    /// events); without it only changes of the overall status are.
    pub partial: bool,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            targets: Vec::new(),
            secret: None,
            timeout: DEFAULT_TIMEOUT,
            retry_for: DEFAULT_RETRY_FOR,
            damping: Duration::ZERO,
            public_url: None,
            partial: false,
        }
    }
}

impl NotifySettings {
    /// Refuses two targets of one name (the name is what rows and metrics
    /// know a target by).
    pub fn validate(&self) -> Result<(), DuplicateTargetName> {
        for (index, target) in self.targets.iter().enumerate() {
            if self.targets[..index].iter().any(|t| t.name == target.name) {
                return Err(DuplicateTargetName(target.name.clone()));
            }
        }
        Ok(())
    }

    /// The targets and damping a store must be opened with
    /// ([`proxyhealth_store::OpenOptions::outbox_policy`]) for its journal to
    /// write the rows these settings deliver.
    pub fn outbox_policy(&self) -> proxyhealth_store::OutboxPolicy {
        proxyhealth_store::OutboxPolicy {
            targets: self.targets.iter().map(|t| t.name.clone()).collect(),
            damping: self.damping,
        }
    }

    /// The target named `name`.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The dashboard's page for a proxy, when a public URL is set.
    pub fn proxy_page(&self, proxy_id: uuid::Uuid) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|base| format!("{}/proxies/{proxy_id}", base.as_str().trim_end_matches('/')))
    }
}

/// Two notification targets share a name; names label the metrics and the
/// outbox's rows, so they must be unique.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two notification targets are named {0:?}; names must be unique")]
pub struct DuplicateTargetName(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_name_equals_url() {
        let target =
            Target::parse(TargetKind::Slack, "ops=https://hooks.example/T0/B0/xyz").expect("ok");
        assert_eq!(target.name, "ops");
        assert_eq!(target.url.as_str(), "https://hooks.example/T0/B0/xyz");
        let shown = format!("{target:?}");
        assert!(!shown.contains("xyz"), "{shown}");
        assert_eq!(
            Target::parse(TargetKind::Webhook, "eu west=https://x"),
            Err(TargetSpecError::Name("eu west".into()))
        );
        assert_eq!(
            Target::parse(TargetKind::Webhook, "nothing"),
            Err(TargetSpecError::Shape)
        );
        assert_eq!(
            Target::parse(TargetKind::Webhook, "a=ftp://x").map(|_| ()),
            Err(TargetSpecError::Scheme("a".into()))
        );
        assert_eq!(
            Target::parse(TargetKind::Webhook, "a=not a url")
                .map_err(|e| e.to_string())
                .map(|_| ()),
            Err("invalid URL for target \"a\": relative URL without a base".into())
        );
    }

    #[test]
    fn a_secret_is_never_printed() {
        let settings = NotifySettings {
            secret: Some(Secret::new("hunter2")),
            ..NotifySettings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn the_proxy_page_is_under_the_public_url() {
        let settings = NotifySettings {
            public_url: Url::parse("https://health.example/").ok(),
            ..NotifySettings::default()
        };
        assert_eq!(
            settings.proxy_page(uuid::Uuid::nil()).as_deref(),
            Some("https://health.example/proxies/00000000-0000-0000-0000-000000000000")
        );
    }
}
