//! `proxyhealth check --targets`: one sweep over a targets file, with exit codes
//! 0 (all ok), 1 (any not ok) and 2 (usage or configuration error).

use crate::support::{async_command, command, run, stderr, stdout, write};
use proxyhealth_sim::{Kind, spawn};
use serde_json::Value;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_all_healthy_fleet_exits_zero() {
    let a = spawn(Kind::Ok).await.expect("spawn");
    let b = spawn(Kind::OkWithWarnings).await.expect("spawn");
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(
        dir.path(),
        "targets.txt",
        &format!(
            "# two healthy proxies\n\n{}\tone\n{}\ttwo\n",
            a.url(),
            b.url()
        ),
    );
    let output = async_command()
        .arg("check")
        .arg("--targets")
        .arg(&targets)
        .output()
        .await
        .expect("run check");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("LATENCY"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("one ") && lines[1].contains(" ok "),
        "{text}"
    );
    assert!(
        lines[1].trim_end().ends_with(" ms"),
        "latency shown: {text}"
    );
    assert!(lines[2].starts_with("two "), "{text}");
    assert!(
        lines[3].trim_start().starts_with("warning: "),
        "a warning under its proxy, and the proxy still ok:\n{text}"
    );
    assert!(text.contains("2 proxies: 2 ok"), "{text}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_exits_one_with_every_status_and_reason() {
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let errors = spawn(Kind::Errors).await.expect("spawn");
    let crashing = spawn(Kind::ServerError).await.expect("spawn");
    let refused = spawn(Kind::Refused).await.expect("spawn");
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(
        dir.path(),
        "targets.tsv",
        &format!(
            "{}\tok\n{}\terrors\n{}\tcrashing\n{}\trefused\n",
            ok.url(),
            errors.url(),
            crashing.url(),
            refused.url()
        ),
    );

    let output = async_command()
        .arg("check")
        .arg("--targets")
        .arg(&targets)
        .args(["--timeout", "2s", "--output", "json"])
        .output()
        .await
        .expect("run check");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let body: Value = serde_json::from_slice(&output.stdout).expect("check JSON");
    let by_name = |name: &str| -> Value {
        body["proxies"]
            .as_array()
            .expect("proxies")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
    };
    assert_eq!(by_name("ok")["status"], "ok");
    assert_eq!(by_name("errors")["status"], "unhealthy");
    assert_eq!(by_name("crashing")["status"], "unhealthy");
    assert_eq!(by_name("refused")["status"], "unreachable");
    let crash_errors = by_name("crashing")["report"]["errors"].to_string();
    assert!(
        crash_errors.contains("500"),
        "the 500 is named: {crash_errors}"
    );
    assert_eq!(body["counts"]["ok"], 1);
    assert_eq!(body["counts"]["unhealthy"], 2);
    assert_eq!(body["counts"]["unreachable"], 1);
    assert_eq!(body["total"], 4);

    let table = async_command()
        .arg("check")
        .arg("--targets")
        .arg(&targets)
        .output()
        .await
        .expect("run check");
    assert_eq!(table.status.code(), Some(1));
    let text = stdout(&table);
    let lines: Vec<&str> = text.lines().collect();
    let crashing_row = lines
        .iter()
        .position(|l| l.starts_with("crashing "))
        .expect("crashing row");
    assert!(lines[crashing_row].contains("unhealthy"), "{text}");
    let first_error = lines[crashing_row + 1];
    assert!(first_error.starts_with("    error: "), "{text}");
    // A multi-line error keeps its later lines, indented under the first.
    let continuation = lines[crashing_row + 2];
    assert!(
        continuation.starts_with("           ") && !continuation.trim().is_empty(),
        "multi-line errors stay indented:\n{text}"
    );

    for fake in [ok, errors, crashing, refused] {
        fake.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_can_come_from_stdin() {
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let mut child = async_command()
        .args(["check", "--targets", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run check");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{}\n", ok.url()).as_bytes())
        .await
        .expect("write targets");
    drop(stdin);
    let output = child.wait_with_output().await.expect("check output");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let host = ok.url().trim_start_matches("http://").to_owned();
    assert!(
        stdout(&output).contains(&host),
        "a target without a name is named by host:port: {}",
        stdout(&output)
    );
    ok.shutdown().await;
}

#[test]
fn a_missing_targets_file_exits_two_naming_the_file() {
    let output = run(command().args(["check", "--targets", "/nonexistent/targets.txt"]));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("--targets /nonexistent/targets.txt"), "{err}");
}

#[test]
fn a_bad_line_in_the_targets_file_exits_two_naming_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(dir.path(), "t.txt", "http://127.0.0.1:1\nnot-a-url\n");
    let output = run(command().arg("check").arg("--targets").arg(&targets));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("line 2") && err.contains("not-a-url"), "{err}");
}

#[test]
fn a_bad_flag_value_exits_two_naming_the_flag_and_value() {
    let output = run(command().args(["check", "--targets", "-", "--timeout", "soon"]));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("--timeout") && err.contains("soon"), "{err}");

    let output = run(command().args(["check", "--targets", "-", "--body-cap", "3parsecs"]));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("--body-cap") && err.contains("3parsecs"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_the_proxies_of_a_store() {
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let mut server = crate::support::Server::start(&["--interval", "1h"]);
    let created = run(server
        .cli()
        .args(["proxies", "create", "--name", "stored", "--only-token"]));
    assert!(created.status.success(), "{}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    let registered = server
        .api()
        .register(
            &token,
            &proxyhealth_testkit::api::registration(ok.url(), "e2e"),
        )
        .await
        .expect("register");
    assert_eq!(registered.status, 201);
    let id = server
        .api()
        .proxy("stored")
        .await
        .expect("GET")
        .value
        .region
        .id;
    let stopped =
        tokio::task::block_in_place(|| server.terminate(std::time::Duration::from_secs(12)));
    assert!(stopped.is_some_and(|(status, _)| status.success()));

    let output = async_command()
        .arg("check")
        .arg("--db")
        .arg(&server.db)
        .args(["--output", "json"])
        .output()
        .await
        .expect("run check");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let body: Value = serde_json::from_slice(&output.stdout).expect("check JSON");
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["proxies"][0]["name"], "stored");
    assert_eq!(body["proxies"][0]["status"], "ok");
    assert_eq!(
        body["proxies"][0]["id"],
        id.to_string(),
        "a stored proxy keeps its database id"
    );
    ok.shutdown().await;
}

#[test]
fn a_bad_store_spec_exits_two_naming_it() {
    let output = run(command().args(["check", "--db", "mysql://somewhere/db"]));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("--db") && err.contains("mysql://somewhere/db"),
        "{err}"
    );
}

#[test]
fn an_empty_targets_file_exits_two_saying_there_is_nothing_to_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(dir.path(), "t.txt", "# the fleet, not filled in yet\n\n");
    let output = run(command().arg("check").arg("--targets").arg(&targets));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert_eq!(stdout(&output), "", "no results are printed");
    assert_eq!(
        stderr(&output),
        format!(
            "error: nothing to check: --targets {}: the file lists no proxies; pass --allow-empty \
             (or set PROXYHEALTH_ALLOW_EMPTY=true, or allow_empty = true in the file) to accept \
             an empty list and exit 0\n",
            targets.display()
        )
    );
}

#[test]
fn an_empty_store_exits_two_saying_there_is_nothing_to_check() {
    let output = run(command().args(["check", "--db", "memory:", "--output", "json"]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert_eq!(stdout(&output), "", "no JSON for nothing checked");
    let err = stderr(&output);
    assert!(
        err.starts_with(
            "error: nothing to check: the store memory: has no proxies; pass --allow-empty"
        ),
        "{err}"
    );
}

#[test]
fn a_fresh_database_exits_two_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let output = run(command().args(["check", "--db", &spec]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "nothing to check: the store {spec} has no proxies"
        )),
        "{err}"
    );
}

#[test]
fn allow_empty_accepts_nothing_to_check_from_the_flag_the_variable_or_the_file() {
    let output = run(command().args(["check", "--db", "memory:", "--allow-empty"]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "no proxies to check\n");

    let output = run(command()
        .args(["check", "--db", "memory:", "--output", "json"])
        .env("PROXYHEALTH_ALLOW_EMPTY", "true"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let body: Value = serde_json::from_slice(&output.stdout).expect("check JSON");
    assert_eq!(body["total"], 0, "{body}");
    assert_eq!(body["proxies"], serde_json::json!([]), "{body}");

    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(
        dir.path(),
        "ph.toml",
        "db = \"memory:\"\nallow_empty = true\n",
    );
    let output = run(command().arg("check").arg("--config").arg(&config));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let output = run(command()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .arg("--allow-empty=false"));
    assert_eq!(
        output.status.code(),
        Some(2),
        "the flag beats the file: {}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_json_gives_each_target_the_same_id_on_every_run() {
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let refused = spawn(Kind::Refused).await.expect("spawn");
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(
        dir.path(),
        "targets.txt",
        &format!("{}\tup\n{}/\tdown\n", ok.url(), refused.url()),
    );
    let ids = || async {
        let output = async_command()
            .arg("check")
            .arg("--targets")
            .arg(&targets)
            .args(["-o", "json"])
            .output()
            .await
            .expect("run check");
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let body: Value = serde_json::from_slice(&output.stdout).expect("check JSON");
        body["proxies"]
            .as_array()
            .expect("proxies")
            .iter()
            .map(|p| (p["name"].clone(), p["id"].clone()))
            .collect::<Vec<_>>()
    };
    let first = ids().await;
    assert_eq!(first, ids().await, "the same ids on the next run");
    let v5 = |url: &str| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, url.as_bytes()).to_string();
    assert_eq!(
        first,
        vec![
            (Value::from("down"), Value::from(v5(refused.url()))),
            (Value::from("up"), Value::from(v5(ok.url()))),
        ],
        "the UUID v5 of each URL, without its trailing /"
    );
    ok.shutdown().await;
    refused.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_json_lists_each_proxys_keys_in_the_documented_order() {
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let output = async_command()
        .args(["check", "--targets", "-", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run check");
    let mut child = output;
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{}\tone\n", ok.url()).as_bytes())
        .await
        .expect("write targets");
    drop(stdin);
    let output = child.wait_with_output().await.expect("check output");
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let keys = |indent: &str| -> Vec<String> {
        text.lines()
            .filter_map(|line| line.strip_prefix(indent))
            .filter(|rest| rest.starts_with('"'))
            .filter_map(|rest| rest.split('"').nth(1).map(str::to_owned))
            .collect()
    };
    assert_eq!(keys("  "), ["proxies", "counts", "total"], "{text}");
    assert_eq!(
        keys("      "),
        [
            "id",
            "name",
            "url",
            "status",
            "report",
            "latency_ms",
            "checked_at",
            "tls_not_after",
            "tls_days_left"
        ],
        "{text}"
    );
    assert_eq!(
        keys("    ")
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect::<Vec<_>>(),
        ["ok", "unhealthy", "unreachable", "unregistered", "unknown"],
        "the counts in the order of the statuses: {text}"
    );
    ok.shutdown().await;
}

#[test]
fn a_url_listed_twice_exits_two_naming_both_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(
        dir.path(),
        "t.txt",
        "http://127.0.0.1:1\tone\nhttp://127.0.0.1:1/\ttwo\n",
    );
    let output = run(command().arg("check").arg("--targets").arg(&targets));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: --targets {}: line 2: \"http://127.0.0.1:1\" is already listed on line 1\n",
            targets.display()
        )
    );
}

/// A `proxyhealth sim` process; killed when dropped.
struct SimProcess(std::process::Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_the_targets_file_sim_writes_with_its_names_and_expected_statuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = dir.path().join("sim-targets.tsv");
    let _sim = SimProcess(
        command()
            .args([
                "sim",
                "--count",
                "100",
                "--mix",
                "bad-day",
                "--slow-delay",
                "100ms",
            ])
            .arg("--out")
            .arg(&targets)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start proxyhealth sim"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&targets).unwrap_or_default();
        if text.lines().filter(|l| !l.starts_with('#')).count() == 100 {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "sim wrote no targets");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // name -> expected status, from the file's second and fourth columns
    let expected: std::collections::BTreeMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let columns: Vec<&str> = l.split('\t').collect();
            (columns[1].to_owned(), columns[3].to_owned())
        })
        .collect();
    assert_eq!(expected.len(), 100, "every name is unique:\n{text}");
    assert!(
        expected.keys().any(|n| n.starts_with("hang-")),
        "a bad day has hanging proxies:\n{text}"
    );

    let output = async_command()
        .arg("check")
        .arg("--targets")
        .arg(&targets)
        .args(["--timeout", "1s", "-o", "json"])
        .output()
        .await
        .expect("run check");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let body: Value = serde_json::from_slice(&output.stdout).expect("check JSON");
    let found: std::collections::BTreeMap<String, String> = body["proxies"]
        .as_array()
        .expect("proxies")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found, expected,
        "check names each proxy as sim does and finds what sim expects"
    );
}
