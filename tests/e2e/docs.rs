//! The docs and the binary stay together. Every flag, `PROXYHEALTH_*`
//! variable and configuration key that the README, SECURITY.md, docs/ and the
//! deployment files name is accepted by the binary, a command line they show
//! (`proxyhealth SUB --flag`) uses flags of that very command, and every route
//! docs/api.md names is served. The lists come from the text itself, so a
//! sentence added to the docs is checked with no change here.

use crate::support::{Server, command, run, stderr, stdout, write};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Flags the docs name that belong to other programs, each with its owner.
const OTHER_PROGRAMS_FLAGS: &[(&str, &str)] = &[
    ("--release", "cargo run --release"),
    ("--locked", "cargo install --locked"),
    ("--timings", "cargo build --timings"),
    ("--now", "systemctl enable --now"),
    ("--read-only", "docker run --read-only"),
    ("--build-arg", "docker build --build-arg"),
    ("--test", "cargo test --test"),
    ("--nocapture", "the test harness"),
    ("--skip-replicas", "scripts/bench"),
    ("--dashboard-only", "scripts/bench"),
    ("--api-only", "scripts/bench"),
    ("--dashboard-profile", "scripts/bench"),
    ("--registration-only", "scripts/bench"),
    ("--vantages-only", "scripts/bench"),
    ("--maintenance-only", "scripts/bench"),
];

/// The documents users read, relative to the repository.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ["README.md", "SECURITY.md", "proxyhealth.example.toml"]
        .iter()
        .map(|name| root.join(name))
        .collect();
    for dir in [
        "docs",
        "deploy/prometheus",
        "deploy/grafana",
        "deploy/debian",
        "deploy/compose",
        "deploy/kubernetes",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                // the Debian package's configuration, environment file and unit
                Some("md" | "yml" | "yaml" | "toml" | "env" | "service")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
}

/// Every command path of the binary (`[]`, `["serve"]`, `["proxies",
/// "create"]`, …) with its `--help`, found by walking the help's command lists.
fn helps() -> BTreeMap<Vec<String>, String> {
    let mut found = BTreeMap::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let output = run(command().args(&path).arg("--help"));
        assert!(
            output.status.success(),
            "{path:?} --help: {}",
            stderr(&output)
        );
        let text = stdout(&output);
        let mut in_commands = false;
        for line in text.lines() {
            if line == "Commands:" {
                in_commands = true;
                continue;
            }
            if in_commands {
                let Some(name) = line
                    .strip_prefix("  ")
                    .and_then(|l| l.split_whitespace().next())
                else {
                    in_commands = false;
                    continue;
                };
                if name != "help" {
                    let mut sub = path.clone();
                    sub.push(name.to_owned());
                    todo.push(sub);
                }
            }
        }
        found.insert(path, text);
    }
    found
}

fn flags_in(text: &str) -> BTreeSet<String> {
    let flag = Regex::new(r"(?:^|[^\w-])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)").expect("regex");
    flag.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

fn variables_in(text: &str) -> BTreeSet<String> {
    let variable = Regex::new(r"PROXYHEALTH_[A-Z0-9_]*[A-Z0-9]").expect("regex");
    variable
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect()
}

#[test]
fn every_flag_and_variable_the_docs_name_is_accepted_by_the_binary() {
    let helps = helps();
    let all_help: String = helps.values().cloned().collect();
    let known_flags = flags_in(&all_help);
    let known_variables = variables_in(&all_help);
    let others: BTreeSet<&str> = OTHER_PROGRAMS_FLAGS.iter().map(|(flag, _)| *flag).collect();
    let mut missing = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        for flag in flags_in(&text) {
            if !known_flags.contains(&flag) && !others.contains(flag.as_str()) {
                missing.push(format!("{}: flag {flag}", doc.display()));
            }
        }
        for variable in variables_in(&text) {
            // The tests' own variable, named where the docs explain the tests.
            if variable != "PROXYHEALTH_TEST_PG_URL" && !known_variables.contains(&variable) {
                missing.push(format!("{}: variable {variable}", doc.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named in the docs, unknown to the binary:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_command_line_in_the_docs_uses_flags_of_that_command() {
    let helps = helps();
    let line = Regex::new(r"proxyhealth((?: [a-z][a-z-]*)+)((?: +[^\s`|]+)*)").expect("regex");
    let mut wrong = Vec::new();
    for doc in documents() {
        for found in line.captures_iter(&read(&doc)) {
            // The longest command path the words name (`proxies create`).
            let words: Vec<String> = found[1].split_whitespace().map(str::to_owned).collect();
            let Some((path, help)) = (1..=words.len())
                .rev()
                .find_map(|n| helps.get_key_value(&words[..n]))
            else {
                continue;
            };
            if path.is_empty() {
                continue;
            }
            let rest = found[0].to_owned();
            for flag in flags_in(&rest) {
                if !flags_in(help).contains(&flag) {
                    wrong.push(format!(
                        "{}: `{}` does not take {flag}",
                        doc.display(),
                        path.join(" ")
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Keys written as `key = value` in the docs, and every key of the example file.
fn documented_keys() -> BTreeSet<String> {
    // The value must be a TOML literal, which tells a key from SQL (`due_at = now()`).
    let assignment = Regex::new(
        r#"(?m)(?:^#?\s*|[`(]\s*)([a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]+)\s*=\s*(?:"|\[|[0-9]|true\b|false\b)"#,
    )
    .expect("regex");
    let mut keys = BTreeSet::new();
    for doc in documents() {
        let text = read(&doc);
        let is_toml = doc.extension().and_then(|e| e.to_str()) == Some("toml");
        for found in assignment.captures_iter(&text) {
            let key = &found[1];
            // In Markdown only snake_case names are keys (`a = b` is prose).
            if is_toml || key.contains('_') {
                keys.insert(key.to_owned());
            }
        }
    }
    keys
}

#[test]
fn every_configuration_key_the_docs_name_is_accepted_in_the_file() {
    let keys = documented_keys();
    assert!(
        keys.contains("public_reads") && keys.contains("interval"),
        "the docs' keys were found: {keys:?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut unknown = Vec::new();
    for key in &keys {
        // A table is no key's value: the file is refused at once, and the
        // message tells an unknown key from a bad value.
        let file = write(
            dir.path(),
            "c.toml",
            &format!("{key} = {{ not_a_value = 1 }}\n"),
        );
        let output = run(command().arg("serve").arg("--config").arg(&file));
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{key}: {err}");
        if err.contains(&format!("unknown key `{key}`")) {
            unknown.push(key.clone());
        }
    }
    assert!(
        unknown.is_empty(),
        "keys the docs name but the file refuses: {unknown:?}"
    );
}

#[test]
fn every_route_docs_api_names_is_served() {
    let api = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md"));
    let route =
        Regex::new(r"\b(GET|POST|PATCH|DELETE|PUT)\b[\s|`]+(/[A-Za-z0-9_/{}.*\- ]*?)[\s`|\[?]")
            .expect("regex");
    let mut routes = BTreeSet::new();
    for found in route.captures_iter(&api) {
        routes.insert((found[1].to_owned(), found[2].trim().to_owned()));
    }
    assert!(routes.len() >= 15, "the routes were found: {routes:?}");

    let server = Server::start(&["--interval", "1h"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let api = server.api();
        for name in ["documented", "deleted"] {
            api.create_proxy(&proxyhealth_api::wire::CreateProxyRequest {
                name: name.to_owned(),
                ..Default::default()
            })
            .await
            .expect("create a proxy");
        }
        let placeholder = Regex::new(r"\{[^}]*\}").expect("regex");
        let client = proxyhealth_api::http::client();
        let mut unserved = Vec::new();
        // DELETE last, on a proxy of its own.
        let mut ordered: Vec<_> = routes.iter().collect();
        ordered.sort_by_key(|(method, _)| method == "DELETE");
        for (method, path) in ordered {
            let proxy = if method == "DELETE" {
                "deleted"
            } else {
                "documented"
            };
            let concrete = placeholder
                .replace_all(path, proxy)
                .replace("/*", "/app.js");
            let request = client
                .request(
                    method.parse().expect("a method"),
                    format!("{}{concrete}", server.url),
                )
                .bearer_auth(&server.token)
                .header("content-type", "application/json")
                .body(if method == "GET" || method == "DELETE" {
                    ""
                } else {
                    "{}"
                });
            let response = request.send().await.expect("a request");
            let status = response.status().as_u16();
            // Only the head: the event stream never ends.
            let body = if status == 404 || status == 405 {
                response.text().await.unwrap_or_default()
            } else {
                String::new()
            };
            if status == 405 || (status == 404 && body.contains("Route not found")) {
                unserved.push(format!("{method} {path} ({concrete}): {status} {body}"));
            }
        }
        assert!(
            unserved.is_empty(),
            "documented, not served:\n{}",
            unserved.join("\n")
        );
    });
}
