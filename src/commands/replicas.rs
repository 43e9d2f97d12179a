//! `proxyhealth replicas`: the replicas' consistency report of a running server
//! (`GET /api/v2/proxyhealth/replicas`), as a table or as the server's JSON.

use crate::cli::ConnectionOnly;
use crate::commands::proxies::{client, colour_stdout, explain, print_json};
use crate::output::OutputFormat;
use crate::output::replicas::render_report;

/// Fetches the report and prints it.
pub async fn run(args: ConnectionOnly) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api.replicas().await.map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            print!("{}", render_report(&answer.value, colour_stdout()));
            Ok(())
        }
    }
}
