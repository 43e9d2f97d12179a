//! What the demo prints once it runs: where to look, the admin token, how to try
//! the API and `check`, and the fleet.
//!
//! The `dashboard: `, `admin token: ` and `targets: ` lines start with those
//! words, so scripts and the browser test can read them.

use super::REREGISTER_EVERY;
use super::fleet::Running;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Everything the banner shows.
pub struct Banner<'a> {
    /// Where the service listens.
    pub addr: SocketAddr,
    /// The admin token.
    pub admin_token: &'a str,
    /// The targets file for `check`.
    pub targets: &'a Path,
    /// The temporary directory removed at exit.
    pub dir: &'a Path,
    /// Time between sweeps.
    pub interval: Duration,
    /// Bound on one check.
    pub timeout: Duration,
    /// The running fleet.
    pub fleet: &'a [Running],
}

/// The dashboard's address with the admin token in the fragment (which the
/// browser never sends to the server; the page reads it and takes it out).
pub fn dashboard_url(addr: SocketAddr, admin_token: &str) -> String {
    let token: String = url::form_urlencoded::byte_serialize(admin_token.as_bytes()).collect();
    format!("http://{addr}/#token={token}")
}

/// `2s`, `1.5s`, `250ms`.
pub fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        let text = format!("{:.3}", duration.as_secs_f64());
        format!("{}s", text.trim_end_matches('0'))
    }
}

/// The banner as text.
pub fn render(banner: &Banner<'_>) -> String {
    let base = format!("http://{}", banner.addr);
    let mut out = String::new();
    out.push_str(&format!(
        "proxyhealth demo: the service and a simulated fleet of {} proxies, all on loopback\n",
        banner.fleet.len()
    ));
    out.push_str(&format!(
        "  a sweep every {} with a {} timeout per check (short, so changes show within seconds \
         and the hanging proxy gives up after {})\n\n",
        seconds(banner.interval),
        seconds(banner.timeout),
        seconds(banner.timeout),
    ));
    out.push_str(&format!(
        "dashboard: {}\n",
        dashboard_url(banner.addr, banner.admin_token)
    ));
    out.push_str(&format!("admin token: {}\n", banner.admin_token));
    out.push_str(&format!(
        "try the API: curl -H \"Authorization: Bearer {}\" {base}/api/v2/workspaceproxies\n",
        banner.admin_token
    ));
    out.push_str(&format!(
        "try check:   proxyhealth check --targets {}\n",
        banner.targets.display()
    ));
    out.push_str(&format!("targets: {}\n\n", banner.targets.display()));
    out.push_str("the fleet (each registered itself with its own token, as a real proxy does):\n");
    let width = banner
        .fleet
        .iter()
        .map(|running| running.member.name.len())
        .max()
        .unwrap_or(0);
    for running in banner.fleet {
        let url = if running.url().is_empty() {
            "(never registers)"
        } else {
            running.url()
        };
        out.push_str(&format!(
            "  {:width$}  {:24}  {}\n",
            running.member.name, url, running.member.story
        ));
    }
    out.push_str(&format!(
        "\nthe proxies register again every {}, like Coder's. Ctrl-C stops everything and removes {}\n",
        seconds(REREGISTER_EVERY),
        banner.dir.display()
    ));
    out
}

/// Prints the banner on stdout.
pub fn print(banner: &Banner<'_>) {
    print!("{}", render(banner));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_or_milliseconds() {
        assert_eq!(seconds(Duration::from_secs(2)), "2s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(seconds(Duration::from_millis(800)), "800ms");
        assert_eq!(seconds(Duration::from_millis(2250)), "2.25s");
    }

    #[test]
    fn the_dashboard_url_carries_the_token_encoded_in_the_fragment() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        assert_eq!(
            dashboard_url(addr, "phadmin_abc"),
            "http://127.0.0.1:8080/#token=phadmin_abc"
        );
        assert_eq!(
            dashboard_url(addr, "a b&c=#"),
            "http://127.0.0.1:8080/#token=a+b%26c%3D%23"
        );
    }

    #[test]
    fn the_banner_names_the_dashboard_token_api_and_check_on_their_own_lines() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().expect("addr");
        let text = render(&Banner {
            addr,
            admin_token: "tok",
            targets: Path::new("/tmp/d/targets.txt"),
            dir: Path::new("/tmp/d"),
            interval: Duration::from_secs(2),
            timeout: Duration::from_millis(1500),
            fleet: &[],
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.contains(&"dashboard: http://127.0.0.1:4321/#token=tok"),
            "{text}"
        );
        assert!(lines.contains(&"admin token: tok"), "{text}");
        assert!(
            lines.contains(&"try the API: curl -H \"Authorization: Bearer tok\" http://127.0.0.1:4321/api/v2/workspaceproxies"),
            "{text}"
        );
        assert!(
            lines.contains(&"try check:   proxyhealth check --targets /tmp/d/targets.txt"),
            "{text}"
        );
        assert!(text.contains("a 1.5s timeout"), "{text}");
    }
}
