//! What the deploy tests share: the `docker` CLI (the only way they talk to
//! Docker Engine), the images they build once per run, and the clean-up of
//! everything a test made, which runs on failure too.

use proxyhealth_testkit::in_ci;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether Docker Engine answers; `false` after saying loudly that the test
/// is skipped; with `CI=true` its absence fails the test instead.
pub fn docker_available() -> bool {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let answer = AVAILABLE.get_or_init(|| {
        match Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
        {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(text(&output.stderr)),
            Err(err) => Err(format!("no docker command: {err}")),
        }
    });
    match answer {
        Ok(()) => true,
        Err(why) if in_ci() => panic!("Docker is needed with CI=true: {why}"),
        Err(why) => {
            // the real stderr, past the harness's capture: a skip is seen
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "!!! skipped: Docker is not available ({why}); the deploy tests did not run !!!"
            );
            false
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// Runs `docker ARGS` and returns its output, whatever the exit status.
pub fn docker_output(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("docker {}: {err}", args.join(" ")))
}

/// Runs `docker ARGS`, panics naming the command and its stderr unless it
/// succeeds, and returns its stdout, trimmed.
pub fn docker(args: &[&str]) -> String {
    let output = docker_output(args);
    assert!(
        output.status.success(),
        "docker {} failed ({}): {}",
        args.join(" "),
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A value of `docker inspect --format FORMAT NAME`.
pub fn inspect(name: &str, format: &str) -> String {
    docker(&["inspect", "--format", format, name])
}

/// Stdout and stderr of a container so far, for messages.
pub fn logs(name: &str) -> String {
    let output = docker_output(&["logs", name]);
    format!("{}\n{}", text(&output.stdout), text(&output.stderr))
}

/// Everything a test made in Docker, removed when it is dropped (also when
/// the test panics): containers, then Compose projects, volumes and networks.
#[derive(Default)]
pub struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
    projects: Vec<Project>,
}

/// A Compose project to take down: the arguments that name it, the
/// variables its file reads, the folder it runs in.
type Project = (Vec<String>, Vec<(String, String)>, PathBuf);

impl Cleanup {
    /// Removes the container `name` at the end.
    pub fn container(&mut self, name: &str) {
        self.containers.push(name.to_owned());
    }

    /// Removes the volume `name` at the end.
    pub fn volume(&mut self, name: &str) {
        self.volumes.push(name.to_owned());
    }

    /// Removes the network `name` at the end, after the containers on it.
    pub fn network(&mut self, name: &str) {
        self.networks.push(name.to_owned());
    }

    /// Takes the Compose project `compose ARGS` names (with the variables
    /// its file reads) down at the end (`down --volumes`), with its
    /// containers, networks and volumes.
    pub fn project(&mut self, compose_args: &[String], env: &[(String, String)], dir: &Path) {
        self.projects
            .push((compose_args.to_vec(), env.to_vec(), dir.to_owned()));
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", name])
                .output();
        }
        for (args, env, dir) in &self.projects {
            let _ = compose_command(args, env)
                .current_dir(dir)
                .args(["down", "--volumes", "--remove-orphans", "--timeout", "5"])
                .output();
        }
        for name in &self.volumes {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", name])
                .output();
        }
        for name in &self.networks {
            let _ = Command::new("docker")
                .args(["network", "rm", name])
                .output();
        }
    }
}

/// The label on what a test creates by hand (`docker network create`,
/// `docker create`), so leftovers of a run killed before its clean-up can be
/// found: `docker ps -a --filter label=proxyhealth-test`.
pub const LABEL: &str = "proxyhealth-test=deploy";

/// Creates the network `name` (removed by `cleanup`); `internal` ones reach
/// nothing outside Docker, only the containers on them.
pub fn network(cleanup: &mut Cleanup, name: &str, internal: bool) {
    cleanup.network(name);
    let mut args = vec!["network", "create", "--label", LABEL];
    if internal {
        args.push("--internal");
    }
    args.push(name);
    docker(&args);
}

/// A name no other run uses: `PREFIX-PID-RUN-N`, where RUN comes from the
/// time the run started, so that the leftovers of an earlier run killed
/// before its clean-up never collide even when its process id comes again.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static RUN: OnceLock<u32> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.subsec_nanos() ^ since.as_secs() as u32)
            .unwrap_or_default()
    });
    format!(
        "{prefix}-{}-{run:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The binary `cargo build --release` made beside this test's build: the
/// target directory is the one this test executable is in (`debug/deps/`).
pub fn release_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test executable sits in TARGET/debug/deps");
    let binary = target.join("release").join("proxyhealth");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build --release` first (scripts/test does)",
        binary.display()
    );
    binary
}

/// The stand-ins for the public base images, made once from Debian's
/// packages by `scripts/docker-bases` (cached by tag): `debian`, `postgres`,
/// `haproxy`, each the tag of a local image.
pub fn bases() -> &'static BTreeMap<String, String> {
    static BASES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    BASES.get_or_init(|| {
        let output = Command::new(root().join("scripts/docker-bases"))
            .output()
            .expect("run scripts/docker-bases");
        assert!(
            output.status.success(),
            "scripts/docker-bases failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, tag)| (name.to_owned(), tag.to_owned()))
            .collect()
    })
}

/// The tag the tests build the image under.
pub const IMAGE: &str = "proxyhealth-test/proxyhealth:deploy";

/// The version the binary reports (`proxyhealth --version`: `proxyhealth X`).
pub fn binary_version(binary: &Path) -> String {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .expect("run the binary");
    text(&output.stdout)
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Builds the repository's `Dockerfile` (once per run) with the release
/// binary and the Debian base made here, exactly as a user would with
/// `--build-arg BASE=…`; returns the image's tag.
pub fn image() -> &'static str {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !*built {
        let binary = release_binary();
        // a build context holding only the binary, where the Dockerfile
        // expects it (the repository's own context is filtered to it too)
        let context = tempfile::tempdir().expect("a build context");
        let release = context.path().join("target/release");
        std::fs::create_dir_all(&release).expect("the context's target/release");
        std::fs::copy(&binary, release.join("proxyhealth")).expect("copy the binary");
        let base = format!("BASE={}", bases()["debian"]);
        let version = format!("VERSION={}", binary_version(&binary));
        let dockerfile = root().join("Dockerfile");
        let context_dir = context.path().to_str().expect("a UTF-8 path");
        docker(&[
            "build",
            "--quiet",
            "--file",
            dockerfile.to_str().expect("a UTF-8 path"),
            "--build-arg",
            &base,
            "--build-arg",
            &version,
            "--tag",
            IMAGE,
            context_dir,
        ]);
        *built = true;
    }
    IMAGE
}

/// The host address and port a container's `PORT/tcp` is published on.
pub fn published(name: &str, port: u16) -> String {
    let mapped = docker(&["port", name, &format!("{port}/tcp")]);
    mapped
        .lines()
        .find(|line| line.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("{name}: {port} is not published on 127.0.0.1: {mapped}"))
        .to_owned()
}

/// `docker compose` when the plugin is there, else `docker-compose` (Compose
/// v1, which reads the same file), with the arguments that name the project
/// and the variables its file reads.
pub fn compose_command(args: &[String], env: &[(String, String)]) -> Command {
    static PLUGIN: OnceLock<bool> = OnceLock::new();
    let plugin = *PLUGIN.get_or_init(|| {
        Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|output| output.status.success())
    });
    let mut command = if plugin {
        let mut command = Command::new("docker");
        command.arg("compose");
        command
    } else {
        Command::new("docker-compose")
    };
    command.args(args);
    command.envs(env.iter().map(|(name, value)| (name, value)));
    command
}

/// A fake workspace proxy's HAProxy configuration: a healthy report, as a
/// Coder workspace proxy answers `GET /healthz-report`, at port 9000; at
/// port 9001 a proxy that hangs, so each check lasts the whole check timeout.
const FAKE_PROXY: &str = r#"defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fake
    bind :9000
    http-request return status 200 content-type application/json hdr X-Coder-Build-Version v2.20.0 string "{\"errors\":[],\"warnings\":[]}"
frontend hang
    bind :9001
    timeout tarpit 1m
    http-request tarpit
"#;

/// Creates (does not start) the fake proxy `name` (Debian's HAProxy with
/// [`FAKE_PROXY`]'s configuration, written into `dir`) on `network`, where
/// it is reached as `alias`: `http://ALIAS:9000` healthy, `:9001` hanging.
/// Connect it to more networks, then `docker start` it.
pub fn create_fake_proxy(
    cleanup: &mut Cleanup,
    name: &str,
    network: &str,
    alias: &str,
    dir: &Path,
) {
    let config = dir.join(format!("{name}.cfg"));
    std::fs::write(&config, FAKE_PROXY).expect("write the fake proxy's configuration");
    cleanup.container(name);
    docker(&[
        "create",
        "--name",
        name,
        "--label",
        LABEL,
        "--network",
        network,
        "--network-alias",
        alias,
        "--volume",
        &format!("{}:/usr/local/etc/haproxy/haproxy.cfg:ro", config.display()),
        &bases()["haproxy"],
    ]);
}
