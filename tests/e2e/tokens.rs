//! Personal tokens and the audit log through the CLI of a real `serve`: a
//! token printed once, listed with its role and expiry, acting in its role,
//! refused once revoked; and `proxyhealth audit` showing who did what.

use crate::support::{Server, run, stderr, stdout};

/// The token in `tokens create`'s table output.
fn token_in(out: &str) -> String {
    let mut lines = out.lines();
    lines
        .by_ref()
        .find(|line| line.starts_with("Token (shown only this once):"));
    lines
        .next()
        .map(|line| line.trim().to_owned())
        .unwrap_or_else(|| panic!("no token in:\n{out}"))
}

#[test]
fn a_personal_token_is_created_used_in_its_role_revoked_and_audited_through_the_cli() {
    let server = Server::start(&[]);
    let created = run(server.cli().args([
        "tokens",
        "create",
        "--name",
        "ci",
        "--role",
        "viewer",
        "--expires",
        "90d",
    ]));
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stdout(&created).contains("with the viewer role"),
        "{}",
        stdout(&created)
    );
    let token = token_in(&stdout(&created));
    assert!(token.starts_with("pht_ci_"), "{token}");

    let listed = run(server.cli().args(["tokens", "list"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    let table = stdout(&listed);
    assert!(table.contains("ci") && table.contains("viewer"), "{table}");
    assert!(!table.contains(&token), "a listing never shows a token");
    let json = run(server.cli().args(["tokens", "list", "-o", "json"]));
    let listed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("the server's JSON");
    assert_eq!(listed["tokens"][0]["role"], "viewer");
    assert!(listed["tokens"][0]["expires_at"].is_string());

    // the viewer reads, and is refused a change naming the role it needs
    let reads = run(server
        .cli()
        .env("PROXYHEALTH_ADMIN_TOKEN", &token)
        .args(["proxies", "list"]));
    assert!(reads.status.success(), "{}", stderr(&reads));
    let refused = run(server
        .cli()
        .env("PROXYHEALTH_ADMIN_TOKEN", &token)
        .args(["tokens", "create", "--name", "x", "--role", "admin"]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("This route needs the admin role."),
        "{}",
        stderr(&refused)
    );

    let revoked = run(server.cli().args(["tokens", "revoke", "ci"]));
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let after = run(server
        .cli()
        .env("PROXYHEALTH_ADMIN_TOKEN", &token)
        .args(["proxies", "list"]));
    assert_eq!(after.status.code(), Some(1));
    assert!(
        stderr(&after).contains("The token was revoked."),
        "{}",
        stderr(&after)
    );

    let audit = run(server.cli().args(["audit", "-o", "json"]));
    assert!(audit.status.success(), "{}", stderr(&audit));
    let log: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("the server's JSON");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["token.revoke", "token.create", "token.create"]);
    let table = run(server.cli().args(["audit", "--action", "token.revoke"]));
    assert!(stdout(&table).contains("admin token"), "{}", stdout(&table));
}

#[test]
fn a_bad_role_or_expiry_is_refused_before_asking_the_server() {
    let server = Server::start(&[]);
    let bad = run(server
        .cli()
        .args(["tokens", "create", "--name", "ci", "--role", "root"]));
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&bad).contains("unknown role \"root\""),
        "{}",
        stderr(&bad)
    );
    let bad = run(server.cli().args([
        "tokens",
        "create",
        "--name",
        "ci",
        "--role",
        "viewer",
        "--expires",
        "90",
    ]));
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(stderr(&bad).contains("has no unit"), "{}", stderr(&bad));
}
