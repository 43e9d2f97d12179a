//! Notifications on status changes: the targets, the signing
//! secret, the timeout, the retry bound, the damping time and the public URL
//! the notifications link to. `serve` and `notify test` read them.
//!
//! A target is `NAME=URL`: `--notify-webhook ops=https://hooks.example/ph`
//! (repeatable; the variable takes several separated by spaces), and in the
//! file `notify_webhook = ["ops=https://…", …]`. The name labels the
//! metrics and the API's rows; the URL is never printed.

use super::layer::{HelpDefault, set, settings_group};
use super::units::{format_duration, parse_duration, parse_positive_duration};
use clap::builder::BoolishValueParser;
use proxyhealth_notify::settings::{DEFAULT_RETRY_FOR, DEFAULT_TIMEOUT};
use proxyhealth_notify::{NotifySettings, Secret, Target, TargetKind};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use std::time::Duration;
use url::Url;

settings_group! {
    /// Notifications on status changes, as the flags (with their variables)
    /// or the file give them.
    pub struct NotifyLayer {
        /// A generic webhook target, NAME=URL (repeatable): a signed JSON body
        /// per status change (see docs/api.md)
        #[arg(
            long,
            env = "PROXYHEALTH_NOTIFY_WEBHOOK",
            value_name = "NAME=URL",
            value_parser = webhook,
            value_delimiter = ' ',
            hide_env_values = true,
            help_default = "none"
        )]
        #[serde(deserialize_with = "webhooks")]
        pub notify_webhook: Option<Vec<Target>>,

        /// A Slack-compatible incoming webhook target, NAME=URL (repeatable):
        /// a readable message per status change
        #[arg(
            long,
            env = "PROXYHEALTH_NOTIFY_SLACK",
            value_name = "NAME=URL",
            value_parser = slack,
            value_delimiter = ' ',
            hide_env_values = true,
            help_default = "none"
        )]
        #[serde(deserialize_with = "slacks")]
        pub notify_slack: Option<Vec<Target>>,

        /// Secret every notification request is signed with (HMAC-SHA256 of
        /// "{timestamp}.{body}" in X-Proxyhealth-Signature); prefer the variable
        #[arg(
            long,
            env = "PROXYHEALTH_NOTIFY_SECRET",
            value_name = "SECRET",
            hide_env_values = true,
            help_default = "none, unsigned"
        )]
        #[serde(deserialize_with = "super::file_value::string")]
        pub notify_secret: Option<String>,

        /// Bound on one delivery attempt
        #[arg(
            long,
            env = "PROXYHEALTH_NOTIFY_TIMEOUT",
            value_name = "DURATION",
            value_parser = parse_positive_duration,
            help_default = format_duration(DEFAULT_TIMEOUT)
        )]
        #[serde(deserialize_with = "super::file_value::positive_duration")]
        pub notify_timeout: Option<Duration>,

        /// How long a notification is retried (backoff 1s, 2s, 4s, ... 5m) before
        /// it is given up and marked failed
        #[arg(
            long,
            env = "PROXYHEALTH_NOTIFY_RETRY_FOR",
            value_name = "DURATION",
            value_parser = parse_duration,
            help_default = format_duration(DEFAULT_RETRY_FOR)
        )]
        #[serde(deserialize_with = "duration")]
        pub notify_retry_for: Option<Duration>,

        /// Notify a status change only once the new status has lasted this long
        /// (a change undone sooner sends nothing)
        #[arg(
            long,
            env = "PROXYHEALTH_NOTIFY_DAMPING",
            value_name = "DURATION",
            value_parser = parse_duration,
            help_default = "0s, notify at once"
        )]
        #[serde(deserialize_with = "duration")]
        pub notify_damping: Option<Duration>,

        /// Also notify a proxy entering or leaving a partial outage (failing
        /// from some vantages but fewer than the quorum, so still ok overall),
        /// naming the vantages; without it only changes of the overall status
        /// notify
        #[arg(
            long,
            env = "PROXYHEALTH_NOTIFY_PARTIAL",
            value_name = "BOOL",
            num_args = 0..=1,
            default_missing_value = "true",
            value_parser = BoolishValueParser::new(),
            help_default = false
        )]
        #[serde(deserialize_with = "super::file_value::boolean")]
        pub notify_partial: Option<bool>,

        /// The service's external URL: notifications link to
        /// {public_url}/proxies/{id}, and sign-in's redirect URI is
        /// {public_url}/auth/callback
        #[arg(
            long,
            env = "PROXYHEALTH_PUBLIC_URL",
            value_name = "URL",
            value_parser = public_url,
            help_default = "none, no link"
        )]
        #[serde(deserialize_with = "public_url_value")]
        pub public_url: Option<Url>,
    }
}

impl NotifyLayer {
    /// Puts the values this layer has over `settings`'. Webhook and Slack
    /// targets are one list (webhooks first); an empty secret is none.
    pub fn apply(self, settings: &mut NotifySettings) {
        if self.notify_webhook.is_some() || self.notify_slack.is_some() {
            settings.targets = self
                .notify_webhook
                .unwrap_or_default()
                .into_iter()
                .chain(self.notify_slack.unwrap_or_default())
                .collect();
        }
        set(
            &mut settings.secret,
            self.notify_secret
                .map(|secret| Some(secret).filter(|s| !s.is_empty()).map(Secret::new)),
        );
        set(&mut settings.timeout, self.notify_timeout);
        set(&mut settings.retry_for, self.notify_retry_for);
        set(&mut settings.damping, self.notify_damping);
        set(&mut settings.partial, self.notify_partial);
        set(&mut settings.public_url, self.public_url.map(Some));
    }
}

fn webhook(text: &str) -> Result<Target, String> {
    Target::parse(TargetKind::Webhook, text).map_err(|err| err.to_string())
}

fn slack(text: &str) -> Result<Target, String> {
    Target::parse(TargetKind::Slack, text).map_err(|err| err.to_string())
}

fn public_url(text: &str) -> Result<Url, String> {
    let url =
        Url::parse(text).map_err(|err| format!("{err} (expected e.g. https://health.example)"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".to_owned());
    }
    Ok(url)
}

/// A list of `NAME=URL` strings from the file.
fn targets<'de, D: Deserializer<'de>>(
    d: D,
    kind: TargetKind,
) -> Result<Option<Vec<Target>>, D::Error> {
    let value = toml::Value::deserialize(d)?;
    let items = value
        .as_array()
        .ok_or_else(|| D::Error::custom("expected a list of \"NAME=URL\" strings"))?;
    items
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| D::Error::custom("expected a list of \"NAME=URL\" strings"))?;
            Target::parse(kind, text).map_err(D::Error::custom)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn webhooks<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Target>>, D::Error> {
    targets(d, TargetKind::Webhook)
}

fn slacks<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Target>>, D::Error> {
    targets(d, TargetKind::Slack)
}

/// A duration string, zero allowed.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let value = toml::Value::deserialize(d)?;
    let text = value
        .as_str()
        .ok_or_else(|| D::Error::custom("expected a string"))?;
    parse_duration(text).map(Some).map_err(D::Error::custom)
}

fn public_url_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let value = toml::Value::deserialize(d)?;
    let text = value
        .as_str()
        .ok_or_else(|| D::Error::custom("expected a string"))?;
    public_url(text).map(Some).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::FileConfig;

    #[test]
    fn targets_come_from_the_file_and_flags_replace_them() {
        let file = FileConfig::parse(
            "notify_webhook = [\"ops=http://127.0.0.1:9/hook\"]\n\
             notify_slack = [\"chat=http://127.0.0.1:9/slack\"]\n\
             notify_secret = \"s3cret\"\nnotify_damping = \"1m\"\nnotify_retry_for = \"10m\"\n\
             public_url = \"https://health.example\"",
        )
        .expect("valid");
        let mut settings = NotifySettings::default();
        file.notify.clone().apply(&mut settings);
        let names: Vec<&str> = settings.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ops", "chat"]);
        assert_eq!(settings.targets[1].kind, TargetKind::Slack);
        assert_eq!(settings.secret, Some(Secret::new("s3cret")));
        assert_eq!(settings.damping, Duration::from_secs(60));
        assert_eq!(settings.retry_for, Duration::from_secs(600));
        assert_eq!(settings.timeout, DEFAULT_TIMEOUT);

        let flags = NotifyLayer {
            notify_webhook: Some(vec![webhook("pager=http://127.0.0.1:8/p").expect("ok")]),
            ..NotifyLayer::default()
        };
        let mut settings = NotifySettings::default();
        crate::config::layer::Layer::or(flags, file.notify).apply(&mut settings);
        let names: Vec<&str> = settings.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["pager", "chat"]);
    }

    #[test]
    fn a_bad_target_in_the_file_names_the_key() {
        let err = FileConfig::parse("notify_webhook = [\"nothing\"]").expect_err("refused");
        assert_eq!(
            err,
            "invalid value [\"nothing\"] for `notify_webhook`: expected NAME=URL"
        );
        let err = FileConfig::parse("notify_slack = \"a=http://x\"").expect_err("refused");
        assert_eq!(
            err,
            "invalid value \"a=http://x\" for `notify_slack`: expected a list of \"NAME=URL\" strings"
        );
    }
}
