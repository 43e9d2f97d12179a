//! A Debian booted with systemd in a container: `debootstrap` makes its root
//! once (cached under the target directory), `systemd-nspawn` boots it with
//! the root read-only under a throwaway overlay, on a private network (its
//! own loopback only), and `nsenter` runs commands in it.
//!
//! The machines these tests run on have no systemd as init, so no machined:
//! the container is not registered (`--register=no`) and stays in the cgroup
//! of the test (`--keep-unit`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The Debian release booted.
const SUITE: &str = "bookworm";
/// Where its packages come from (`DEBIAN_MIRROR` overrides it).
const MIRROR: &str = "http://deb.debian.org/debian";
/// What the root holds besides a minimal Debian: systemd as init, and curl
/// to ask the service over the container's loopback.
const PACKAGES: &str = "systemd,systemd-sysv,dbus,curl,ca-certificates";
/// How long booting to `multi-user.target` may take.
const BOOT_LIMIT: Duration = Duration::from_secs(120);

/// Why this machine cannot boot a container, when it cannot: the tools
/// missing or not root.
pub fn unavailable() -> Option<String> {
    let missing: Vec<&str> = ["systemd-nspawn", "debootstrap", "nsenter"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{} not installed (Debian: systemd-container, debootstrap, util-linux)",
            missing.join(", ")
        ));
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("booting a container needs root".to_owned());
    }
    None
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join(tool).is_file())
            || ["/usr/sbin", "/sbin"]
                .iter()
                .any(|dir| Path::new(dir).join(tool).is_file())
    })
}

/// The cached root under `cache`, made with `debootstrap` when missing (a
/// few minutes, once); made in a side folder and renamed when complete, so
/// an interrupted run leaves no half root behind.
pub fn root(cache: &Path) -> PathBuf {
    let root = cache.join(format!("debian-{SUITE}-systemd"));
    if root.join("sbin/init").exists() {
        return root;
    }
    let partial = cache.join(format!("debian-{SUITE}-systemd.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(cache).expect("the cache folder");
    let mirror = std::env::var("DEBIAN_MIRROR").unwrap_or_else(|_| MIRROR.to_owned());
    println!("making {} with debootstrap (once)", root.display());
    let made = run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={PACKAGES}"), SUITE])
        .arg(&partial)
        .arg(&mirror));
    assert!(made.status.success(), "debootstrap failed: {}", text(&made));
    // no getty on a console nobody reads
    let _ = std::fs::remove_file(
        partial.join("etc/systemd/system/getty.target.wants/getty@tty1.service"),
    );
    std::fs::rename(&partial, &root).expect("rename the finished root");
    root
}

/// A booted container; powered off (and, failing that, killed) when dropped.
pub struct Machine {
    nspawn: Child,
    /// The container's init, as the host sees it: where `nsenter` enters.
    leader: u32,
    /// The console's output, for failure messages.
    console: PathBuf,
}

impl Machine {
    /// Boots `root` read-only under a volatile overlay, with `share` bound
    /// read-only at `/mnt/share`, and waits until systemd reports the boot
    /// finished.
    pub async fn boot(root: &Path, share: &Path, console: PathBuf) -> Machine {
        let name = format!("proxyhealth-test-{}", std::process::id());
        let nspawn = Command::new("systemd-nspawn")
            .args(["--register=no", "--keep-unit", "--boot", "--quiet"])
            .args(["--volatile=overlay", "--private-network", "--console=pipe"])
            .arg(format!("--machine={name}"))
            .arg(format!("--bind-ro={}:/mnt/share", share.display()))
            .arg("--directory")
            .arg(root)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&console).expect("console log"))
            .stderr(Stdio::from(
                std::fs::File::options()
                    .append(true)
                    .open(&console)
                    .expect("console log"),
            ))
            .spawn()
            .expect("start systemd-nspawn");
        let mut machine = Machine {
            leader: 0,
            nspawn,
            console,
        };
        let nspawn_pid = machine.nspawn.id();
        machine.leader = proxyhealth_testkit::eventually(
            Duration::from_secs(30),
            "the container's init to start",
            async || child_named(nspawn_pid, "systemd").ok_or("not yet"),
        )
        .await;
        let started = Instant::now();
        let state =
            proxyhealth_testkit::eventually(BOOT_LIMIT, "the container to boot", async || {
                let state = machine.sh("systemctl is-system-running --wait");
                let said = String::from_utf8_lossy(&state.stdout).trim().to_owned();
                match said.as_str() {
                    "running" | "degraded" => Ok(said),
                    _ => Err(format!(
                        "{said} {}; console:\n{}",
                        text(&state),
                        machine.console_text()
                    )),
                }
            })
            .await;
        println!("booted in {:.1?} ({state})", started.elapsed());
        if state == "degraded" {
            println!("{}", machine.sh_ok("systemctl --failed --no-legend"));
        }
        machine
    }

    /// Runs `script` with `sh -c` in the container (as its root) and returns
    /// its output, whatever its exit status.
    pub fn sh(&self, script: &str) -> Output {
        run(Command::new("nsenter")
            .arg(format!("--target={}", self.leader))
            .args([
                "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
            ])
            .args([
                "/usr/bin/env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
            ])
            .args(["/bin/sh", "-c", script]))
    }

    /// Runs `script` like [`Machine::sh`], panics with its output unless it
    /// succeeds, and returns its stdout, trimmed.
    pub fn sh_ok(&self, script: &str) -> String {
        let output = self.sh(script);
        assert!(
            output.status.success(),
            "`{script}` failed ({}): {}",
            output.status,
            text(&output)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The console so far.
    pub fn console_text(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // SIGTERM to systemd-nspawn asks the container's init to power off
        let _ = Command::new("kill")
            .args(["-TERM", &self.nspawn.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

/// A child process of `parent` whose command name is `name`.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid ...: the name may hold spaces, so split at its ')'
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent && comm == name).then_some(pid)
        })
}

/// Runs a command, panicking only when it cannot be started.
fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|err| panic!("cannot run {cmd:?}: {err}"))
}

/// Stdout and stderr of a command, for messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
    .trim()
    .to_owned()
}
