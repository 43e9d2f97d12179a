//! Configuration: flags, `PROXYHEALTH_*` variables, an optional TOML file, and
//! defaults, merged in that order of precedence.
//!
//! # Layout
//! Modules point one way: this module resolves through [`file`](mod@file) and the groups;
//! the groups use [`layer`], [`file_value`], [`units`] and [`settings`], which
//! are leaves.
//! - [`settings`]: what configuration resolves to ([`ServeSettings`],
//!   [`CheckSettings`], [`StoreSettings`]), [`LogFormat`] and [`DEFAULT_LISTEN`].
//! - [`layer`]: [`settings_group!`](layer::settings_group) and the [`Layer`]
//!   trait: how a group of settings is declared once and stacked.
//! - [`store`], [`probe`], [`server`]: the three groups, each one struct whose
//!   fields are its settings, and its `apply`: where each value goes.
//! - [`check`](mod@check): the group only `check` reads (`allow_empty`).
//! - [`notify`](mod@notify): the notifications' group: targets,
//!   secret, timeout, retry bound, damping, public URL.
//! - [`oidc`](mod@oidc): dashboard sign-in with OpenID Connect (provider,
//!   client, role mapping, allowed domains, session lifetime).
//! - [`file`](mod@file): the TOML file (one flat table of every group's keys), `--config`,
//!   unknown keys refused.
//! - [`file_value`]: how one file value is read, and the reason it is refused.
//! - [`units`]: the duration, byte-size, count and TLS CA mode parsers flags
//!   and file share.
//!
//! # One declaration per setting
//! A setting is one field of its group's struct: the doc comment is its `--help`
//! text, `#[arg(...)]` its flag, variable, value parser and the default the help
//! shows, `#[serde(...)]` how the file's value is read; the field name is the
//! file key. From that one field clap parses the flag and the variable, serde
//! reads the file, and [`Layer`] (generated) lists the file's keys and stacks the
//! layers. The group's `apply` then puts each value where it goes, over the
//! engine's ([`EngineOptions::default`]), the server's ([`ServiceConfig::default`],
//! [`DEFAULT_LISTEN`]) and [`StoreSettings::default`] defaults, which are also the
//! defaults the help shows. So adding a setting is one field in its group and
//! one line in that group's `apply` (and a documented line in
//! `proxyhealth.example.toml`, which a test requires).
//!
//! # The merge
//! clap merges each flag over its variable; [`resolve_serve`] and
//! [`resolve_check`] stack that layer over the file's ([`Layer::or`]), then apply
//! the result over the defaults. A layer leaves `None` for what its source does
//! not say, which is why no flag carries a clap `default_value`.

pub mod check;
pub mod file;
pub mod file_value;
pub mod layer;
pub mod notify;
pub mod oidc;
pub mod probe;
pub mod server;
pub mod settings;
pub mod store;
pub mod units;

pub use check::CheckLayer;
pub use file::ConfigFlag;
pub use notify::NotifyLayer;
pub use oidc::OidcLayer;
pub use probe::ProbeLayer;
pub use server::ServerLayer;
pub use settings::{CheckSettings, DEFAULT_LISTEN, LogFormat, ServeSettings, StoreSettings};
pub use store::StoreLayer;

use crate::exit::usage;
use file::FileConfig;
use layer::Layer;
use proxyhealth_engine::{EngineOptions, TlsFiles};
use proxyhealth_server::ServiceConfig;

fn load_file(config: &ConfigFlag) -> anyhow::Result<FileConfig> {
    match &config.config {
        Some(path) => FileConfig::load(path),
        None => Ok(FileConfig::default()),
    }
}

/// Reads the TLS files the settings name, so that a missing or bad one stops
/// `serve` and `check` at start as a configuration error naming the file,
/// before any store is opened or proxy checked.
fn check_tls_files(engine: &EngineOptions) -> anyhow::Result<()> {
    TlsFiles::load(engine)
        .map(drop)
        .map_err(|err| usage(err.to_string()))
}

/// The flags (with their variables) over the file: one group's layers stacked.
fn merged<L: Layer + Clone>(flags: &L, file: L) -> L {
    flags.clone().or(file)
}

/// Merges `serve`'s flags (with their variables) over the file over the defaults.
pub fn resolve_serve(
    config: &ConfigFlag,
    store: &StoreLayer,
    probe: &ProbeLayer,
    server: &ServerLayer,
    notify: &NotifyLayer,
) -> anyhow::Result<ServeSettings> {
    let file = load_file(config)?;
    let mut settings = serve_defaults()?;
    merged(store, file.store).apply(&mut settings.store);
    merged(probe, file.probe).apply(&mut settings.engine);
    merged(server, file.server).apply(&mut settings);
    check_tls_files(&settings.engine)?;
    merged(notify, file.notify).apply(&mut settings.notify);
    settings
        .notify
        .validate()
        .map_err(|err| usage(err.to_string()))?;
    Ok(settings)
}

/// What `serve` runs with when nothing is configured.
fn serve_defaults() -> anyhow::Result<ServeSettings> {
    Ok(ServeSettings {
        listen: DEFAULT_LISTEN
            .parse()
            .map_err(|err| usage(format!("default listen address: {err}")))?,
        store: StoreSettings::default(),
        engine: EngineOptions::default(),
        admin_token: ServiceConfig::default().admin_token,
        log_format: LogFormat::default(),
        second_opinion: proxyhealth_cluster::settings::SECOND_OPINION,
        public_reads: ServiceConfig::default().public_reads,
        notify: proxyhealth_notify::NotifySettings::default(),
        history_retention: proxyhealth_store::history::retention::DEFAULT_RETENTION,
        audit_retention: proxyhealth_store::audit::retention::DEFAULT_AUDIT_RETENTION,
    })
}

/// The server settings `serve` would run with, from the same flags (with
/// their variables) and file: where `healthcheck` finds the server it
/// checks, and the admin token it may need.
pub fn resolve_server(config: &ConfigFlag, server: &ServerLayer) -> anyhow::Result<ServeSettings> {
    let file = load_file(config)?;
    let mut settings = serve_defaults()?;
    merged(server, file.server).apply(&mut settings);
    Ok(settings)
}

/// Merges the notification flags (with their variables) over the file over
/// the defaults (`proxyhealth notify test`).
pub fn resolve_notify(
    config: &ConfigFlag,
    notify: &NotifyLayer,
) -> anyhow::Result<proxyhealth_notify::NotifySettings> {
    let file = load_file(config)?;
    let mut settings = proxyhealth_notify::NotifySettings::default();
    merged(notify, file.notify).apply(&mut settings);
    settings.validate().map_err(|err| usage(err.to_string()))?;
    Ok(settings)
}

/// Merges the sign-in flags (with their variables) over the file: `None`
/// when sign-in is not configured, a usage error naming the setting when it
/// is incomplete. `public_url` is the resolved `--public-url`.
pub fn resolve_oidc(
    config: &ConfigFlag,
    oidc: &OidcLayer,
    public_url: Option<&url::Url>,
) -> anyhow::Result<Option<proxyhealth_server::oidc::OidcSettings>> {
    let file = load_file(config)?;
    merged(oidc, file.oidc)
        .resolve(public_url)
        .map_err(|err| usage(format!("sign-in: {err}")))
}

/// Merges `check`'s flags (with their variables) over the file over the defaults.
pub fn resolve_check(
    config: &ConfigFlag,
    store: &StoreLayer,
    probe: &ProbeLayer,
    check: &CheckLayer,
) -> anyhow::Result<CheckSettings> {
    let file = load_file(config)?;
    let mut settings = CheckSettings {
        store: StoreSettings::default(),
        engine: EngineOptions::default(),
        allow_empty: false,
    };
    merged(store, file.store).apply(&mut settings.store);
    merged(probe, file.probe).apply(&mut settings.engine);
    merged(check, file.check).apply(&mut settings);
    check_tls_files(&settings.engine)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Command};
    use proxyhealth_engine::{CaMode, RedirectPolicy};
    use std::path::Path;
    use std::time::Duration;

    /// The example file, as shipped at the top of the repository.
    const EXAMPLE: &str = include_str!("../../proxyhealth.example.toml");

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let file = FileConfig::parse("timeout = \"2s\"\nparallelism = 7").expect("valid");
        let flags = ProbeLayer {
            timeout: Some(Duration::from_secs(9)),
            ..ProbeLayer::default()
        };
        let mut options = EngineOptions::default();
        merged(&flags, file.probe).apply(&mut options);
        assert_eq!(options.timeout, Duration::from_secs(9));
        assert_eq!(options.parallelism, 7);
        assert_eq!(options.body_cap, EngineOptions::default().body_cap);
        assert_eq!(options.redirects, RedirectPolicy::None);
    }

    #[test]
    fn nothing_given_resolves_to_the_engines_and_servers_defaults() {
        let settings = resolve_serve(
            &ConfigFlag::default(),
            &StoreLayer::default(),
            &ProbeLayer::default(),
            &ServerLayer::default(),
            &NotifyLayer::default(),
        )
        .expect("defaults resolve");
        let defaults = EngineOptions::default();
        assert_eq!(settings.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(settings.store, StoreSettings::default());
        assert_eq!(settings.engine.interval, defaults.interval);
        assert_eq!(settings.engine.timeout, defaults.timeout);
        assert_eq!(settings.engine.parallelism, defaults.parallelism);
        assert_eq!(settings.engine.body_cap, defaults.body_cap);
        assert_eq!(settings.engine.redirects, defaults.redirects);
        assert_eq!(settings.engine.hysteresis, defaults.hysteresis);
        assert_eq!(settings.engine.tls_insecure, defaults.tls_insecure);
        assert_eq!(settings.admin_token, None);
        assert_eq!(settings.log_format, LogFormat::Human);
    }

    #[test]
    fn every_server_key_lands_where_it_belongs() {
        let file = FileConfig::parse(
            "listen = \"127.0.0.1:9\"\ninterval = \"5m\"\nrise = 2\nfall = 3\n\
             admin_token = \"from-file\"\nlog_format = \"json\"\nsecond_opinion = false\n\
             public_reads = false\n\
             db = \"memory:\"\ncoder = true\nfollow_redirects = true\ntls_insecure = true",
        )
        .expect("valid");
        let mut settings = CheckSettings {
            store: StoreSettings::default(),
            engine: EngineOptions::default(),
            allow_empty: false,
        };
        merged(&StoreLayer::default(), file.store).apply(&mut settings.store);
        merged(&ProbeLayer::default(), file.probe).apply(&mut settings.engine);
        assert_eq!(settings.store.db.as_deref(), Some("memory:"));
        assert!(settings.store.coder);
        assert_eq!(settings.engine.redirects, RedirectPolicy::SameHost);
        assert!(settings.engine.tls_insecure);

        let mut serve = ServeSettings {
            listen: "127.0.0.1:1".parse().expect("address"),
            store: StoreSettings::default(),
            engine: EngineOptions::default(),
            admin_token: None,
            log_format: LogFormat::Human,
            second_opinion: true,
            public_reads: true,
            notify: Default::default(),
            history_retention: proxyhealth_store::history::retention::DEFAULT_RETENTION,
            audit_retention: proxyhealth_store::audit::retention::DEFAULT_AUDIT_RETENTION,
        };
        merged(&ServerLayer::default(), file.server).apply(&mut serve);
        assert_eq!(serve.listen.to_string(), "127.0.0.1:9");
        assert_eq!(serve.engine.interval, Duration::from_secs(300));
        assert_eq!(serve.engine.hysteresis.rise, 2);
        assert_eq!(serve.engine.hysteresis.fall, 3);
        assert_eq!(serve.admin_token.as_deref(), Some("from-file"));
        assert_eq!(serve.log_format, LogFormat::Json);
        assert!(!serve.second_opinion);
        assert!(!serve.public_reads);
    }

    #[test]
    fn every_probe_tls_and_warning_key_lands_in_the_engine_options() {
        let file = FileConfig::parse(
            "tls_ca_file = \"ca.pem\"\ntls_ca_mode = \"replace\"\n\
             tls_client_cert = \"c.crt\"\ntls_client_key = \"c.key\"\n\
             tls_expiry_warning = \"7d\"\nlatency_warning = \"1500ms\"",
        )
        .expect("valid");
        let mut options = EngineOptions::default();
        merged(&ProbeLayer::default(), file.probe).apply(&mut options);
        assert_eq!(options.tls_ca_file.as_deref(), Some(Path::new("ca.pem")));
        assert_eq!(options.tls_ca_mode, CaMode::Replace);
        assert_eq!(options.tls_client_cert.as_deref(), Some(Path::new("c.crt")));
        assert_eq!(options.tls_client_key.as_deref(), Some(Path::new("c.key")));
        assert_eq!(options.tls_expiry_warning, Duration::from_secs(7 * 86_400));
        assert_eq!(options.latency_warning, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn the_tls_and_warning_defaults_are_the_engines() {
        let mut options = EngineOptions::default();
        merged(&ProbeLayer::default(), ProbeLayer::default()).apply(&mut options);
        assert_eq!(options.tls_ca_file, None);
        assert_eq!(options.tls_ca_mode, CaMode::Add);
        assert_eq!(options.tls_client_cert, None);
        assert_eq!(options.tls_expiry_warning, Duration::from_secs(14 * 86_400));
        assert_eq!(options.latency_warning, None);
    }

    #[test]
    fn a_missing_tls_file_stops_check_and_serve_at_start_naming_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let missing = dir.path().join("nowhere-ca.pem");
        let probe = ProbeLayer {
            tls_ca_file: Some(missing.clone()),
            ..ProbeLayer::default()
        };
        let expected = format!("TLS CA file {}: the file does not exist", missing.display());
        let err = resolve_check(
            &ConfigFlag::default(),
            &StoreLayer::default(),
            &probe,
            &CheckLayer::default(),
        )
        .expect_err("refused at start");
        assert!(
            err.downcast_ref::<crate::exit::UsageError>().is_some(),
            "{err}"
        );
        assert_eq!(err.to_string(), expected);
        let err = resolve_serve(
            &ConfigFlag::default(),
            &StoreLayer::default(),
            &probe,
            &ServerLayer::default(),
            &NotifyLayer::default(),
        )
        .expect_err("refused at start");
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn the_history_retention_comes_from_the_file_or_defaults_to_90_days() {
        let defaults = resolve_serve(
            &ConfigFlag::default(),
            &StoreLayer::default(),
            &ProbeLayer::default(),
            &ServerLayer::default(),
            &NotifyLayer::default(),
        )
        .expect("resolves");
        assert_eq!(
            defaults.history_retention,
            Duration::from_secs(90 * 24 * 3600)
        );
        let file = FileConfig::parse("history_retention = \"30days\"").expect("valid");
        let mut settings = defaults;
        merged(&ServerLayer::default(), file.server).apply(&mut settings);
        assert_eq!(
            settings.history_retention,
            Duration::from_secs(30 * 24 * 3600)
        );
    }

    #[test]
    fn an_empty_admin_token_flag_means_none_and_hides_the_files() {
        let file = FileConfig::parse("admin_token = \"from-file\"").expect("valid");
        let flags = ServerLayer {
            admin_token: Some(String::new()),
            ..ServerLayer::default()
        };
        let mut settings = ServeSettings {
            listen: DEFAULT_LISTEN.parse().expect("address"),
            store: StoreSettings::default(),
            engine: EngineOptions::default(),
            admin_token: None,
            log_format: LogFormat::Human,
            second_opinion: true,
            public_reads: true,
            notify: Default::default(),
            history_retention: proxyhealth_store::history::retention::DEFAULT_RETENTION,
            audit_retention: proxyhealth_store::audit::retention::DEFAULT_AUDIT_RETENTION,
        };
        merged(&flags, file.server).apply(&mut settings);
        assert_eq!(settings.admin_token, None);
    }

    /// The example with its commented-out assignments (`# db = ...`) switched on.
    fn example_with_every_key_set() -> String {
        EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if file::known_keys()
                        .iter()
                        .any(|key| rest.starts_with(&format!("{key} = "))) =>
                {
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_example_file_loads_and_documents_every_key() {
        FileConfig::parse(EXAMPLE).expect("the example file loads as shipped");
        let every_key = example_with_every_key_set();
        FileConfig::parse(&every_key).expect("every documented key is accepted");
        for key in file::known_keys() {
            let documented = every_key
                .lines()
                .any(|line| line.starts_with(&format!("{key} = ")));
            assert!(
                documented,
                "proxyhealth.example.toml does not document `{key}`"
            );
        }
    }

    fn flags<L: Args>() -> Command {
        L::augment_args(Command::new("test"))
    }

    #[test]
    fn each_groups_file_keys_are_its_flags_ids_and_every_flag_shows_its_default() {
        for (keys, command) in [
            (StoreLayer::KEYS, flags::<StoreLayer>()),
            (ProbeLayer::KEYS, flags::<ProbeLayer>()),
            (ServerLayer::KEYS, flags::<ServerLayer>()),
            (NotifyLayer::KEYS, flags::<NotifyLayer>()),
            (CheckLayer::KEYS, flags::<CheckLayer>()),
        ] {
            let ids: Vec<&str> = command
                .get_arguments()
                .map(|arg| arg.get_id().as_str())
                .collect();
            assert_eq!(ids, keys);
            for arg in command.get_arguments() {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(help.contains(" [default: "), "--{}: {help}", arg.get_id());
            }
        }
    }

    #[test]
    fn the_help_shows_the_defaults_the_merge_applies() {
        let defaults = EngineOptions::default();
        let help = |command: Command, id: &str| {
            command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .and_then(|arg| arg.get_help())
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        let shows = |command: Command, id: &str, default: String| {
            let help = help(command, id);
            assert!(
                help.ends_with(&format!("[default: {default}]")),
                "--{id}: {help}"
            );
        };
        let duration = units::format_duration;
        shows(flags::<ProbeLayer>(), "timeout", duration(defaults.timeout));
        shows(
            flags::<ProbeLayer>(),
            "parallelism",
            defaults.parallelism.to_string(),
        );
        shows(
            flags::<ProbeLayer>(),
            "body_cap",
            units::format_byte_size(defaults.body_cap),
        );
        shows(
            flags::<ServerLayer>(),
            "interval",
            duration(defaults.interval),
        );
        shows(flags::<ServerLayer>(), "listen", DEFAULT_LISTEN.to_owned());
        shows(
            flags::<ServerLayer>(),
            "log_format",
            LogFormat::default().to_string(),
        );
        assert!(help(flags::<ServerLayer>(), "rise").ends_with("[default: 1, no damping]"));
        shows(flags::<ProbeLayer>(), "tls_ca_mode", "add".to_owned());
        shows(
            flags::<ProbeLayer>(),
            "tls_expiry_warning",
            duration(defaults.tls_expiry_warning),
        );
        shows(flags::<ProbeLayer>(), "latency_warning", "off".to_owned());
    }
}
