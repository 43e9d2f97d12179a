//! `proxyhealth replicas` against a real `serve` on SQLite: one process, so the
//! report's mode is `single` with its note, as a table and as the server's JSON.

use crate::support::{Server, run, stderr, stdout};
use serde_json::Value;

#[tokio::test]
async fn replicas_on_sqlite_reports_a_single_process_as_a_table_and_as_json() {
    let server = Server::start(&[]);
    let created = run(server
        .cli()
        .args(["proxies", "create", "--name", "eu-west"]));
    assert!(created.status.success(), "{}", stderr(&created));

    let json = run(server.cli().args(["replicas", "--output", "json"]));
    assert!(json.status.success(), "{}", stderr(&json));
    let cli: Value = serde_json::from_slice(&json.stdout).expect("replicas --output json");
    assert_eq!(cli["mode"], "single", "{cli:#}");
    let note = cli["note"].as_str().expect("a note");
    assert!(note.contains("SQLite allows one serve per file"), "{note}");
    assert_eq!(cli["this_replica"], Value::Null);
    assert_eq!(cli["replicas"], serde_json::json!([]));
    assert_eq!(cli["disagreements"], serde_json::json!([]));
    assert_eq!(cli["stale"], serde_json::json!([]));
    // what the server sends (the view's generation may move between the two
    // reads: a sweep or the new proxy's first check)
    let served = server.api().replicas().await.expect("GET replicas");
    let mut served = served.raw().expect("raw JSON");
    let mut printed = cli.clone();
    for report in [&mut served, &mut printed] {
        let generation = report
            .as_object_mut()
            .and_then(|fields| fields.remove("newest_generation"));
        assert!(generation.is_some_and(|g| g.is_i64()), "{report:#}");
    }
    assert_eq!(printed, served);

    let table = run(server.cli().args(["replicas"]));
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.starts_with("mode: single (newest generation "),
        "{text}"
    );
    assert!(text.contains("\nno disagreements\n"), "{text}");
    assert!(text.contains("\nno stale proxies\n"), "{text}");
    assert!(text.contains(&format!("\nnote: {note}\n")), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colours when stdout is a pipe:\n{text}"
    );

    let refused = run(server
        .cli()
        .env_remove("PROXYHEALTH_ADMIN_TOKEN")
        .args(["replicas"]));
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("Missing admin token.")
            && stderr(&refused).contains("--token TOKEN or the PROXYHEALTH_ADMIN_TOKEN"),
        "{}",
        stderr(&refused)
    );
}
