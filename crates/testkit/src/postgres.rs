//! A PostgreSQL server of a test's own, started with `scripts/lib/postgres.sh`,
//! for tests that stop and restart it (an outage) without disturbing the server
//! `scripts/test` starts for everyone else.

use crate::in_ci;
use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL server of this test's own (scripts/lib/postgres.sh), so
/// stopping it disturbs no other test.
pub struct OwnPostgres {
    dir: String,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
}

fn pg_script(body: &str) -> std::process::Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/postgres.sh");
    // scripts/test exports the directory of its own server: this one is separate.
    Command::new("bash")
        .env_remove("PROXYHEALTH_PG_DIR")
        .arg("-c")
        .arg(format!("set -euo pipefail; source {script:?}; {body}"))
        .output()
        .expect("run bash")
}

impl OwnPostgres {
    /// Starts a fresh server; `None` (after a loud notice) when none can start
    /// outside CI. With `CI=true` a server that cannot start fails the test.
    pub fn start() -> Option<OwnPostgres> {
        let out = pg_script(
            "pg_start >&2; echo \"$PROXYHEALTH_PG_DIR\"; echo \"$PROXYHEALTH_TEST_PG_URL\"",
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = stdout.lines();
        match (out.status.success(), lines.next(), lines.next()) {
            (true, Some(dir), Some(url)) => Some(OwnPostgres {
                dir: dir.to_owned(),
                url: url.to_owned(),
            }),
            _ if in_ci() => panic!(
                "could not start a PostgreSQL server and CI=true: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            _ => {
                eprintln!("!!! skipped: no PostgreSQL server could be started !!!");
                None
            }
        }
    }

    fn port(&self) -> String {
        self.url
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned()
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&self) {
        let out = pg_script(&format!(
            "_pg_find_bindir; _pg_as_owner \"$_PG_BINDIR/pg_ctl\" -D {dir}/data -m immediate -w stop",
            dir = self.dir
        ));
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the stopped server again on the same port and data.
    pub fn start_again(&self) {
        let out = pg_script(&format!(
            "_pg_find_bindir; _pg_as_owner \"$_PG_BINDIR/pg_ctl\" -D {dir}/data -l {dir}/server.log -w -t 60 -o '-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={dir}' start",
            dir = self.dir,
            port = self.port()
        ));
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = pg_script(&format!("PROXYHEALTH_PG_DIR={:?}; pg_stop", self.dir));
    }
}
