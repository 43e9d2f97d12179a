//! The Debian package under systemd: `dpkg -i` into a booted Debian, then
//! the unit started (ready through `Type=notify`), serving, checking a proxy
//! (the package's own `proxyhealth sim`) under its hardening, restarted with
//! its proxies kept in the state directory, and its rating by
//! `systemd-analyze security` printed and held to "OK".

mod machine;

use machine::{Machine, text};
use proxyhealth_testkit::in_ci;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The admin token the test writes into the package's environment file.
const TOKEN: &str = "debian-package-test-token";
/// The highest `systemd-analyze security` exposure still rated "OK".
const EXPOSURE_OK: f64 = 2.0;

/// The target directory: the binary under test is `TARGET/debug/proxyhealth`.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_proxyhealth"))
        .ancestors()
        .nth(2)
        .expect("the target directory")
        .to_path_buf()
}

/// The package `cargo deb` made, for this version and this machine.
fn package() -> Result<PathBuf, String> {
    let dir = target_dir().join("debian");
    let prefix = format!("proxyhealth_{}-", env!("CARGO_PKG_VERSION"));
    std::fs::read_dir(&dir)
        .map_err(|err| format!("{}: {err}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".deb"))
        })
        .ok_or_else(|| format!("no {prefix}*.deb in {} (run `cargo deb`)", dir.display()))
}

/// Says loudly that the test did not run, or fails it with `CI=true`.
fn skip(why: &str) {
    assert!(!in_ci(), "the Debian package test needs {why} with CI=true");
    // the real stderr, past the harness's capture: a skip is seen
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "!!! skipped: the Debian package test did not run: {why} !!!"
    );
}

/// `systemctl show -p PROPERTY --value proxyhealth`.
fn property(machine: &Machine, name: &str) -> String {
    machine.sh_ok(&format!("systemctl show -p {name} --value proxyhealth"))
}

#[tokio::test]
async fn the_package_installs_starts_ready_and_keeps_its_store_across_a_restart() {
    if let Some(why) = machine::unavailable() {
        return skip(&why);
    }
    let deb = match package() {
        Ok(deb) => deb,
        Err(why) => return skip(&why),
    };
    let share = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&deb, share.path().join("proxyhealth.deb")).expect("copy the package");
    let root = machine::root(&target_dir().join("deploy"));
    let machine = Machine::boot(&root, share.path(), share.path().join("console.log")).await;
    println!("package: {}", deb.display());

    let installed = machine.sh("dpkg -i /mnt/share/proxyhealth.deb");
    assert!(installed.status.success(), "dpkg -i: {}", text(&installed));
    assert_eq!(
        machine.sh_ok("getent passwd proxyhealth | cut -d: -f6,7"),
        "/var/lib/proxyhealth:/usr/sbin/nologin",
        "the system user"
    );
    let conffiles = machine.sh_ok("sort /var/lib/dpkg/info/proxyhealth.conffiles");
    assert_eq!(
        conffiles,
        "/etc/proxyhealth/proxyhealth.env\n/etc/proxyhealth/proxyhealth.toml"
    );
    assert_eq!(
        machine.sh_ok("stat -c '%a %U' /etc/proxyhealth/proxyhealth.env"),
        "600 root",
        "the secrets' file is root's only"
    );
    assert_eq!(property(&machine, "UnitFileState"), "disabled");
    let verify = machine.sh("systemd-analyze verify proxyhealth.service");
    println!(
        "systemd-analyze verify proxyhealth.service: {:?}",
        text(&verify)
    );
    assert!(
        verify.status.success() && text(&verify).is_empty(),
        "systemd-analyze verify: {}",
        text(&verify)
    );

    machine.sh_ok(&format!(
        "sed -i 's/^#PROXYHEALTH_ADMIN_TOKEN=.*/PROXYHEALTH_ADMIN_TOKEN={TOKEN}/' \
         /etc/proxyhealth/proxyhealth.env"
    ));
    // `systemctl start` of a Type=notify unit returns once READY=1 came: the
    // first request after it is answered, with no retry
    machine.sh_ok("systemctl start proxyhealth");
    let healthz = machine.sh_ok("curl -sS --fail-with-body http://127.0.0.1:8080/healthz");
    assert_eq!(healthz, r#"{"status":"ok"}"#);
    assert_eq!(property(&machine, "ActiveState"), "active");
    assert_eq!(
        property(&machine, "StatusText"),
        "serving on 127.0.0.1:8080; 0 proxies in view",
        "the status sent with READY=1"
    );
    let first_pid = property(&machine, "MainPID");

    let cli = format!(
        "PROXYHEALTH_URL=http://127.0.0.1:8080 PROXYHEALTH_ADMIN_TOKEN={TOKEN} proxyhealth"
    );
    // a proxy to check, on the container's loopback: the binary's own simulator
    machine.sh_ok(
        "systemd-run --unit=fake-proxy proxyhealth sim --count 1 --port 9000 \
         --out /run/sim-targets.tsv",
    );
    let proxy_url = proxyhealth_testkit::eventually(
        Duration::from_secs(20),
        "the simulated proxy",
        async || {
            let output = machine.sh("grep -v '^#' /run/sim-targets.tsv | cut -f1");
            let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if url.starts_with("http://") {
                Ok(url)
            } else {
                Err(text(&output))
            }
        },
    )
    .await;
    let token = machine.sh_ok(&format!("{cli} proxies create --name edge-1 --only-token"));
    let registration = format!(
        r#"{{"access_url":"{proxy_url}","wildcard_hostname":"","derp_enabled":true,"derp_only":false,"replica_id":"{}","hostname":"edge-1","replica_error":"","replica_relay_address":"","version":"v2.20.0"}}"#,
        uuid::Uuid::new_v4()
    );
    machine.sh_ok(&format!(
        "curl -sS --fail-with-body -H 'Coder-External-Proxy-Token: {token}' \
         -H 'Content-Type: application/json' --data '{registration}' \
         http://127.0.0.1:8080/api/v2/workspaceproxies/me/register"
    ));
    // the hardened service reaches it and finds it healthy
    proxyhealth_testkit::eventually(Duration::from_secs(30), "edge-1 ok", async || {
        let listed = machine.sh_ok(&format!("{cli} proxies list --status ok"));
        if listed.contains("edge-1") {
            Ok(())
        } else {
            Err(listed)
        }
    })
    .await;
    assert_eq!(
        machine.sh_ok("stat -c '%U %a' /var/lib/proxyhealth /var/lib/proxyhealth/proxyhealth.db"),
        "proxyhealth 750\nproxyhealth 600",
        "the store is in the state directory, the service user's only"
    );

    machine.sh_ok("systemctl restart proxyhealth");
    assert_ne!(property(&machine, "MainPID"), first_pid, "a new process");
    let listed = machine.sh_ok(&format!("{cli} proxies list"));
    assert!(
        listed.contains("edge-1"),
        "kept across the restart:\n{listed}"
    );

    let security = machine.sh_ok("systemd-analyze security --no-pager proxyhealth.service");
    // what the rating counts against the unit (the passed checks left out)
    let exposed: Vec<&str> = security
        .lines()
        .filter(|line| !line.starts_with('✓'))
        .collect();
    println!(
        "systemd-analyze security proxyhealth.service:\n{}",
        exposed.join("\n")
    );
    let overall = security
        .lines()
        .find_map(|line| line.split_once("Overall exposure level for proxyhealth.service: "))
        .map(|(_, rating)| rating.to_owned())
        .expect("an overall rating");
    let exposure: f64 = overall
        .split_whitespace()
        .next()
        .and_then(|value| value.parse().ok())
        .expect("a number");
    assert!(
        exposure <= EXPOSURE_OK && overall.contains("OK"),
        "rated {overall}"
    );

    machine.sh_ok("systemctl stop proxyhealth");
    assert_eq!(property(&machine, "Result"), "success", "stopped cleanly");
    println!(
        "journal:\n{}",
        machine.sh_ok("journalctl -u proxyhealth --no-pager -o cat")
    );
}
