//! Configuration precedence (flag > env > file > default) and refusal of bad
//! values with exit code 2, observed through a running server.

use crate::support::{Server, command, get_json, run, stderr, write};

fn interval_ms(server: &Server) -> u64 {
    let body = get_json(&format!("{}/api/v2/proxyhealth/summary", server.url));
    body["interval_ms"].as_f64().expect("interval_ms") as u64
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "proxyhealth.toml",
        "listen = \"127.0.0.2:0\"\ninterval = \"3m\"\n",
    );
    let file = file.to_str().expect("utf-8 path");
    let env = [
        ("PROXYHEALTH_LISTEN", "127.0.0.3:0"),
        ("PROXYHEALTH_INTERVAL", "2m"),
    ];

    let from_file = Server::start_with(&["--config", file], &[], Some("file"));
    assert!(
        from_file.url.starts_with("http://127.0.0.2:"),
        "{}",
        from_file.url
    );
    assert_eq!(interval_ms(&from_file), 180_000);
    drop(from_file);

    let from_env = Server::start_with(&["--config", file], &env, Some("env"));
    assert!(
        from_env.url.starts_with("http://127.0.0.3:"),
        "{}",
        from_env.url
    );
    assert_eq!(interval_ms(&from_env), 120_000);
    drop(from_env);

    let from_flag = Server::start_with(
        &[
            "--config",
            file,
            "--listen",
            "127.0.0.4:0",
            "--interval",
            "1m",
        ],
        &env,
        Some("flag"),
    );
    assert!(
        from_flag.url.starts_with("http://127.0.0.4:"),
        "{}",
        from_flag.url
    );
    assert_eq!(interval_ms(&from_flag), 60_000);
}

#[test]
fn the_config_file_can_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "c.toml", "interval = \"45s\"\n");
    let server = Server::start_with(
        &[],
        &[("PROXYHEALTH_CONFIG", file.to_str().expect("utf-8 path"))],
        None,
    );
    assert_eq!(interval_ms(&server), 45_000);
}

#[test]
fn the_example_config_file_is_accepted() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/proxyhealth.example.toml");
    let server = Server::start(&["--config", example]);
    assert_eq!(interval_ms(&server), 60_000);
}

#[test]
fn an_unknown_key_in_the_file_exits_two_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "c.toml", "intervall = \"1m\"\n");
    let output = run(command().arg("serve").arg("--config").arg(&file));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("unknown key `intervall`"), "{err}");
    assert!(err.contains("c.toml"), "the file is named: {err}");
}

#[test]
fn a_bad_value_in_the_file_exits_two_naming_the_key_and_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "c.toml", "body_cap = \"lots\"\n");
    let output = run(command().arg("serve").arg("--config").arg(&file));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("`body_cap`") && err.contains("\"lots\""),
        "{err}"
    );
}

#[test]
fn a_bad_environment_value_exits_two_naming_the_flag_and_value() {
    let output = run(command().arg("serve").env("PROXYHEALTH_PARALLELISM", "0"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("--parallelism") && err.contains("'0'"),
        "{err}"
    );
}

#[test]
fn a_missing_config_file_exits_two() {
    let output = run(command().args(["serve", "--config", "/nonexistent/proxyhealth.toml"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/proxyhealth.toml"),
        "{}",
        stderr(&output)
    );
}

/// `(flag, default)` of every `<DURATION>` flag in a command's `-h`, the
/// default up to a comma (after which some explain it: `0s, notify at once`).
fn duration_defaults(help: &str) -> Vec<(String, String)> {
    help.lines()
        .filter(|line| line.contains("<DURATION>"))
        .map(|line| {
            let flag = line
                .split_whitespace()
                .find(|word| word.starts_with("--"))
                .expect("a flag")
                .to_owned();
            let (_, rest) = line
                .split_once("[default: ")
                .unwrap_or_else(|| panic!("{flag} shows no default: {line}"));
            let value = rest.split(']').next().unwrap_or_default();
            (flag, value.split(',').next().unwrap_or(value).to_owned())
        })
        .collect()
}

/// Whether a duration is written as a number and one unit, as people write
/// it and the flags read it (`90d`, `5s`, `1500ms`).
fn is_short_duration(text: &str) -> bool {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && ["ns", "us", "ms", "s", "m", "h", "d"].contains(&&text[digits..])
}

#[test]
fn the_help_shows_every_duration_default_as_its_flag_reads_it() {
    let serve = run(command().args(["serve", "-h"]));
    let serve_help = String::from_utf8_lossy(&serve.stdout);
    let retention = serve_help
        .lines()
        .find(|line| line.contains("--history-retention <DURATION>"))
        .expect("--history-retention in serve's help");
    assert!(retention.contains("[default: 90d]"), "{retention}");

    let commands: [&[&str]; 5] = [
        &["serve"],
        &["check"],
        &["notify", "test"],
        &["sim"],
        &["demo"],
    ];
    let mut seen = 0;
    for words in commands {
        let output = run(command().args(words).arg("-h"));
        assert!(output.status.success(), "{words:?} -h");
        let help = String::from_utf8_lossy(&output.stdout).into_owned();
        for (flag, default) in duration_defaults(&help) {
            seen += 1;
            if default == "off" {
                continue; // no duration: the warning is off unless given
            }
            assert!(
                is_short_duration(&default),
                "{words:?} {flag}: [default: {default}] is not written as the flag reads it"
            );
            if words == ["sim"] || words == ["demo"] {
                continue; // clap reads these defaults itself on every run
            }
            // The value is read back by the binary: the command then stops at
            // the missing configuration file, after its flags were accepted.
            let back = run(command()
                .args(words)
                .args([flag.as_str(), default.as_str()])
                .args(["--config", "/nonexistent/proxyhealth.toml"]));
            assert_eq!(back.status.code(), Some(2), "{words:?} {flag} {default}");
            assert!(
                stderr(&back).starts_with("error: cannot read config file /nonexistent/"),
                "{words:?} {flag} {default}: {}",
                stderr(&back)
            );
        }
    }
    assert!(seen >= 15, "every duration flag of every command: {seen}");
}

#[test]
fn incomplete_sign_in_settings_exit_two_naming_the_missing_setting() {
    let issuer = ["serve", "--oidc-issuer-url", "https://login.example.com"];
    let output = run(command().args(issuer));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("sign-in: --oidc-client-id (PROXYHEALTH_OIDC_CLIENT_ID) is required"),
        "{err}"
    );

    let output = run(command()
        .args(issuer)
        .args(["--oidc-client-id", "proxyhealth"]));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("sign-in: --public-url (PROXYHEALTH_PUBLIC_URL) is required"),
        "{err}"
    );

    let output = run(command()
        .args(issuer)
        .args([
            "--oidc-client-id",
            "proxyhealth",
            "--public-url",
            "https://health.example.com",
        ])
        .env("PROXYHEALTH_OIDC_DEFAULT_ROLE", "root"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("--oidc-default-role") && err.contains("root"),
        "{err}"
    );
}
