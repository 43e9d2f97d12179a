//! How the agent probes: the service's probe settings turned into the
//! engine's options (the same pipeline `serve` and `check` run), its
//! assigned proxies into rows the engine checks, and each check into the
//! result the service takes.

use anyhow::Context;
use proxyhealth_api::wire::{AgentResult, AssignedProxy, ProbeSettings};
use proxyhealth_core::{Proxy, Status};
use proxyhealth_engine::{CaMode, CheckResult, EngineOptions, RedirectPolicy};
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;
use time::OffsetDateTime;

/// The engine's options for one set of probe settings, and the private file
/// holding the CA certificates they trust (the engine reads a path); the
/// file is removed when the plan is dropped.
pub struct ProbePlan {
    /// The settings the plan was made from, to tell when they change.
    pub settings: ProbeSettings,
    /// The options every sweep runs with.
    pub options: EngineOptions,
    _ca_file: Option<tempfile::NamedTempFile>,
}

impl ProbePlan {
    /// The options for `settings`, checking from `source` when given. Fails
    /// only when the CA certificates cannot be written to a temporary file.
    pub fn new(settings: ProbeSettings, source: Option<IpAddr>) -> anyhow::Result<ProbePlan> {
        let ca_file = match &settings.tls_ca_pem {
            Some(pem) => Some(private_file(pem)?),
            None => None,
        };
        let redirects = match settings.redirects.as_str() {
            "same-host" => RedirectPolicy::SameHost,
            "none" => RedirectPolicy::None,
            other => {
                // A newer service may know more policies; not following is
                // what a proxy must be ready for anyway.
                tracing::warn!(
                    redirects = other,
                    "unknown redirect policy from the service; not following redirects"
                );
                RedirectPolicy::None
            }
        };
        let options = EngineOptions {
            interval: Duration::from_millis(settings.interval_ms),
            timeout: Duration::from_millis(settings.timeout_ms),
            parallelism: settings.parallelism.max(1),
            body_cap: settings.body_cap,
            redirects,
            tls_insecure: settings.tls_insecure,
            tls_ca_file: ca_file.as_ref().map(|file| file.path().to_owned()),
            tls_ca_mode: if settings.tls_ca_replace && ca_file.is_some() {
                CaMode::Replace
            } else {
                CaMode::Add
            },
            tls_expiry_warning: Duration::from_secs(settings.tls_expiry_warning_s),
            latency_warning: settings.latency_warning_ms.map(Duration::from_millis),
            source_address: source,
            ..EngineOptions::default()
        };
        Ok(ProbePlan {
            settings,
            options,
            _ca_file: ca_file,
        })
    }

    /// The time between sweeps (the service's interval; never zero, so a
    /// confused service cannot make the agent spin).
    pub fn interval(&self) -> Duration {
        self.options.interval.max(Duration::from_secs(1))
    }
}

/// `text` in a new temporary file only this user can read.
fn private_file(text: &str) -> anyhow::Result<tempfile::NamedTempFile> {
    // `tempfile` creates its files with mode 0600.
    let mut file = tempfile::Builder::new()
        .prefix("proxyhealth-agent-ca-")
        .suffix(".pem")
        .tempfile()
        .context("creating a temporary file for the service's CA certificates")?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .context("writing the service's CA certificates to a temporary file")?;
    Ok(file)
}

/// The row the engine checks for one assigned proxy (its name for the
/// logs; nothing the checks do not read, as a display name).
pub fn proxy_row(assigned: &AssignedProxy) -> Proxy {
    let now = OffsetDateTime::now_utc();
    Proxy {
        id: assigned.id,
        name: assigned.name.clone(),
        display_name: String::new(),
        icon: String::new(),
        url: assigned.url.clone(),
        wildcard_hostname: String::new(),
        created_at: now,
        updated_at: now,
        deleted: false,
        token_hashed_secret: Vec::new(),
        region_id: 0,
        derp_enabled: true,
        derp_only: false,
        version: String::new(),
    }
}

/// Whether `rows` are the rows of `assigned`, in order: the same proxies
/// under the same names at the same URLs (a proxy that registered a new URL
/// is checked at it from the next sweep on).
pub fn rows_match(rows: &[Proxy], assigned: &[AssignedProxy]) -> bool {
    rows.len() == assigned.len()
        && rows.iter().zip(assigned).all(|(row, proxy)| {
            row.id == proxy.id && row.name == proxy.name && row.url == proxy.url
        })
}

/// The result the service takes for one check; `None` for a check that
/// gave no verdict of a check (a proxy with no URL is not checked).
pub fn agent_result(check: CheckResult) -> Option<AgentResult> {
    let status = check.verdict.status;
    if !matches!(status, Status::Ok | Status::Unhealthy | Status::Unreachable) {
        return None;
    }
    Some(AgentResult {
        proxy_id: check.proxy.id,
        status,
        latency_ms: check
            .latency
            .map(|latency| u32::try_from(latency.as_millis()).unwrap_or(u32::MAX)),
        checked_at: check.checked_at,
        report: check.verdict.report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::{Classified, HealthReport};
    use uuid::Uuid;

    fn settings() -> ProbeSettings {
        ProbeSettings {
            interval_ms: 15_000,
            timeout_ms: 2_500,
            parallelism: 64,
            body_cap: 4096,
            redirects: "same-host".to_owned(),
            tls_insecure: false,
            tls_ca_pem: None,
            tls_ca_replace: false,
            tls_expiry_warning_s: 86_400,
            latency_warning_ms: Some(300),
        }
    }

    #[test]
    fn the_services_settings_become_the_engines_options() {
        let source: IpAddr = "127.0.0.2".parse().expect("an address");
        let plan = ProbePlan::new(settings(), Some(source)).expect("a plan");
        let options = &plan.options;
        assert_eq!(options.interval, Duration::from_secs(15));
        assert_eq!(options.timeout, Duration::from_millis(2_500));
        assert_eq!(options.parallelism, 64);
        assert_eq!(options.body_cap, 4096);
        assert_eq!(options.redirects, RedirectPolicy::SameHost);
        assert_eq!(options.tls_ca_file, None);
        assert_eq!(options.tls_expiry_warning, Duration::from_secs(86_400));
        assert_eq!(options.latency_warning, Some(Duration::from_millis(300)));
        assert_eq!(options.source_address, Some(source));
    }

    #[test]
    fn the_services_ca_is_written_to_a_private_file_removed_with_the_plan() {
        use std::os::unix::fs::PermissionsExt;
        let plan = ProbePlan::new(
            ProbeSettings {
                tls_ca_pem: Some("-----BEGIN CERTIFICATE-----\n…".to_owned()),
                tls_ca_replace: true,
                ..settings()
            },
            None,
        )
        .expect("a plan");
        let path = plan.options.tls_ca_file.clone().expect("a CA file");
        assert_eq!(
            std::fs::read_to_string(&path).expect("the file"),
            "-----BEGIN CERTIFICATE-----\n…"
        );
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(plan.options.tls_ca_mode, CaMode::Replace);
        drop(plan);
        assert!(!path.exists(), "removed with the plan");
    }

    #[test]
    fn an_unknown_redirect_policy_follows_none_and_a_zero_interval_is_a_second() {
        let plan = ProbePlan::new(
            ProbeSettings {
                redirects: "anywhere".to_owned(),
                interval_ms: 0,
                ..settings()
            },
            None,
        )
        .expect("a plan");
        assert_eq!(plan.options.redirects, RedirectPolicy::None);
        assert_eq!(plan.interval(), Duration::from_secs(1));
    }

    fn check(status: Status, latency: Option<Duration>) -> CheckResult {
        let assigned = AssignedProxy {
            id: Uuid::new_v4(),
            name: "eu-west".to_owned(),
            url: "http://127.0.0.1:1".to_owned(),
        };
        CheckResult {
            proxy: proxy_row(&assigned),
            host: None,
            verdict: Classified {
                status,
                report: HealthReport::error("boom"),
            },
            latency,
            checked_at: OffsetDateTime::UNIX_EPOCH,
            check_seq: 1,
            tls_not_after: None,
            tls_days_left: None,
        }
    }

    #[test]
    fn a_check_becomes_a_result_with_its_latency_in_milliseconds() {
        let checked = check(Status::Unhealthy, Some(Duration::from_micros(12_700)));
        let id = checked.proxy.id;
        let result = agent_result(checked).expect("a result");
        assert_eq!(result.proxy_id, id);
        assert_eq!(result.status, Status::Unhealthy);
        assert_eq!(result.latency_ms, Some(12));
        assert_eq!(result.checked_at, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(result.report.errors, vec!["boom".to_owned()]);
    }

    fn assigned(name: &str, url: &str) -> AssignedProxy {
        AssignedProxy {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            url: url.to_owned(),
        }
    }

    #[test]
    fn rows_are_made_again_when_a_proxy_moves_is_renamed_or_leaves() {
        let assignment = vec![
            assigned("eu-west", "http://127.0.0.1:1"),
            assigned("ap-south", "http://127.0.0.1:2"),
        ];
        let rows: Vec<Proxy> = assignment.iter().map(proxy_row).collect();
        assert!(rows_match(&rows, &assignment), "the same assignment");

        let mut moved = assignment.clone();
        moved[1].url = "http://127.0.0.1:3".to_owned();
        assert!(!rows_match(&rows, &moved), "a new URL is checked at once");

        let mut renamed = assignment.clone();
        renamed[0].name = "eu-central".to_owned();
        assert!(!rows_match(&rows, &renamed), "a new name is logged");

        assert!(!rows_match(&rows, &assignment[..1]), "a proxy left");
        let mut replaced = assignment.clone();
        replaced[0].id = Uuid::new_v4();
        assert!(!rows_match(&rows, &replaced), "another proxy");
    }

    #[test]
    fn a_check_without_a_checks_verdict_is_not_sent() {
        assert!(agent_result(check(Status::Unregistered, None)).is_none());
        assert!(agent_result(check(Status::Unknown, None)).is_none());
    }
}
