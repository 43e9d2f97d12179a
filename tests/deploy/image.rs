//! The container image: built from the repository's `Dockerfile`, run as its
//! users run it (read-only root filesystem, a volume for the data), it serves,
//! turns healthy by its own HEALTHCHECK, keeps what it stored across a
//! restart, stops on SIGTERM within its grace, and refuses a volume it cannot
//! write with a message naming it.

use crate::support::{
    Cleanup, binary_version, docker, docker_available, image, inspect, logs, published,
    release_binary, unique,
};
use proxyhealth_testkit::eventually;
use std::time::{Duration, Instant};

/// The admin token the tests give the container.
const TOKEN: &str = "deploy-test-admin-token";
/// The uid the image runs as.
const UID: &str = "10001";
/// How much the image may add to the binary: the libraries it links, a user,
/// CA certificates.
const MAX_ADDED: u64 = 20 * 1024 * 1024;

/// Starts the image read-only with a fresh named volume and the port
/// published on loopback; returns the container's name and its address.
fn start(cleanup: &mut Cleanup, extra: &[&str]) -> (String, String) {
    let name = unique("proxyhealth-image");
    let volume = format!("{name}-data");
    cleanup.container(&name);
    cleanup.volume(&volume);
    let mount = format!("{volume}:/var/lib/proxyhealth");
    let token = format!("PROXYHEALTH_ADMIN_TOKEN={TOKEN}");
    let mut args = vec![
        "run",
        "--detach",
        "--name",
        &name,
        "--read-only",
        "--volume",
        &mount,
        "--env",
        &token,
        "--publish",
        "127.0.0.1::8080",
    ];
    args.extend_from_slice(extra);
    args.push(image());
    docker(&args);
    let address = published(&name, 8080);
    (name, address)
}

fn client() -> reqwest::Client {
    proxyhealth_api::http::client_builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

/// `GET /healthz` once it answers: the status and the body.
async fn healthz(address: &str, name: &str) -> (u16, serde_json::Value) {
    let url = format!("http://{address}/healthz");
    eventually(Duration::from_secs(30), "/healthz answers", || async {
        let answer = client().get(&url).send().await.map_err(|err| {
            format!(
                "{err}; container {}: {}",
                inspect(name, "{{.State.Status}}"),
                logs(name)
            )
        })?;
        let status = answer.status().as_u16();
        let body: serde_json::Value = answer.json().await.map_err(|err| err.to_string())?;
        Ok::<_, String>((status, body))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_read_only_as_non_root_and_its_healthcheck_turns_healthy() {
    if !docker_available() {
        return;
    }
    let mut cleanup = Cleanup::default();
    let (name, address) = start(&mut cleanup, &[]);
    let (status, body) = healthz(&address, &name).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
    assert_eq!(inspect(&name, "{{.Config.User}}"), format!("{UID}:{UID}"));
    assert_eq!(inspect(&name, "{{.HostConfig.ReadonlyRootfs}}"), "true");
    // the database is in the volume, written by the image's user
    let volume = format!("{name}-data");
    let owner = docker(&[
        "run",
        "--rm",
        "--volume",
        &format!("{volume}:/data:ro"),
        &crate::support::bases()["debian"],
        "stat",
        "--format",
        "%u %n",
        "/data/proxyhealth.db",
    ]);
    assert_eq!(owner, format!("{UID} /data/proxyhealth.db"));
    // the image's own HEALTHCHECK (`proxyhealth healthcheck`) says healthy
    let started = Instant::now();
    eventually(
        Duration::from_secs(60),
        "the container turns healthy",
        || async {
            let health = inspect(&name, "{{.State.Health.Status}}");
            (health == "healthy").then_some(()).ok_or(health)
        },
    )
    .await;
    let probe = inspect(&name, "{{(index .State.Health.Log 0).Output}}");
    assert_eq!(probe.trim(), "ok", "the healthcheck's own line");
    // the labels users and registries read
    let binary = release_binary();
    let labels = inspect(&name, "{{json .Config.Labels}}");
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels as JSON");
    assert_eq!(
        labels["org.opencontainers.image.version"].as_str(),
        Some(binary_version(&binary).as_str()),
        "{labels}"
    );
    assert_eq!(
        labels["org.opencontainers.image.licenses"].as_str(),
        Some("AGPL-3.0-only"),
        "{labels}"
    );
    assert!(
        labels["org.opencontainers.image.source"].is_string(),
        "{labels}"
    );
    // what the runtime stage adds to the binary
    let size: u64 = inspect(image(), "{{.Size}}").parse().expect("a size");
    let binary_size = std::fs::metadata(&binary).expect("the binary").len();
    let added = size.saturating_sub(binary_size);
    eprintln!(
        "image {size} bytes ({:.1} MiB), binary {binary_size} bytes ({:.1} MiB), added by the \
         image {added} bytes ({:.2} MiB); healthy {:?} after /healthz first answered",
        size as f64 / 1048576.0,
        binary_size as f64 / 1048576.0,
        added as f64 / 1048576.0,
        started.elapsed()
    );
    assert!(
        added <= MAX_ADDED,
        "the image adds {added} bytes to the binary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_created_through_the_api_survives_a_docker_restart() {
    if !docker_available() {
        return;
    }
    let mut cleanup = Cleanup::default();
    let (name, address) = start(&mut cleanup, &[]);
    healthz(&address, &name).await;
    let created = client()
        .post(format!("http://{address}/api/v2/workspaceproxies"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": "survives-restart"}))
        .send()
        .await
        .expect("create a proxy");
    assert_eq!(created.status().as_u16(), 201, "{:?}", created.text().await);

    docker(&["restart", "--time", "15", &name]);
    // the port may be published anew
    let address = published(&name, 8080);
    let (status, _) = healthz(&address, &name).await;
    assert_eq!(status, 200);
    let answer = client()
        .get(format!(
            "http://{address}/api/v2/workspaceproxies/survives-restart"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("read the proxy");
    let status = answer.status().as_u16();
    let body: serde_json::Value = answer.json().await.expect("a JSON proxy");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "survives-restart", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_container_within_its_grace() {
    if !docker_available() {
        return;
    }
    let mut cleanup = Cleanup::default();
    let (name, address) = start(&mut cleanup, &[]);
    healthz(&address, &name).await;
    let sent = Instant::now();
    docker(&["kill", "--signal", "TERM", &name]);
    let stopped = eventually(Duration::from_secs(30), "the container stops", || async {
        let state = inspect(&name, "{{.State.Status}}");
        (state == "exited").then(|| sent.elapsed()).ok_or(state)
    })
    .await;
    let code = inspect(&name, "{{.State.ExitCode}}");
    let output = logs(&name);
    eprintln!("stopped {stopped:?} after SIGTERM, exit code {code}");
    assert_eq!(code, "0", "a clean stop: {output}");
    assert!(output.contains("stopped"), "{output}");
    assert!(
        stopped <= proxyhealth_server::SHUTDOWN_GRACE,
        "stopped after {stopped:?}, past the grace: {output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_it_cannot_write_stops_it_at_start_with_a_message_naming_the_folder() {
    if !docker_available() {
        return;
    }
    let mut cleanup = Cleanup::default();
    // a host folder the image's user may not write, as a bind mount of a
    // folder made by another user is
    let folder = tempfile::tempdir().expect("a folder");
    let mut permissions = std::fs::metadata(folder.path())
        .expect("metadata")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(folder.path(), permissions).expect("chmod 755");
    let name = unique("proxyhealth-image");
    cleanup.container(&name);
    let mount = format!("{}:/var/lib/proxyhealth", folder.path().display());
    docker(&[
        "run",
        "--detach",
        "--name",
        &name,
        "--read-only",
        "--volume",
        &mount,
        image(),
    ]);
    eventually(Duration::from_secs(30), "the container exits", || async {
        let state = inspect(&name, "{{.State.Status}}");
        (state == "exited").then_some(()).ok_or(state)
    })
    .await;
    let code = inspect(&name, "{{.State.ExitCode}}");
    let output = logs(&name);
    assert_eq!(code, "1", "{output}");
    assert!(
        output.contains(
            "its directory /var/lib/proxyhealth is not writable (Permission denied (os error 13))"
        ),
        "{output}"
    );
}
