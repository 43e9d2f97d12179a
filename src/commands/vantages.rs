//! `proxyhealth vantages …`: vantages and their agent tokens on a running
//! server (`/api/v2/proxyhealth/vantages`), as a table or as the server's
//! JSON.

use proxyhealth_api::Answer;
use proxyhealth_api::wire::VantageTokenResponse;

use crate::cli::{VantageNameArgs, VantagesCommand, VantagesListArgs};
use crate::commands::proxies::{client, colour_stdout, explain, print_json};
use crate::output::OutputFormat;
use crate::output::table::{Row, render};

/// Runs one `vantages` subcommand.
pub async fn run(command: VantagesCommand) -> anyhow::Result<()> {
    match command {
        VantagesCommand::List(args) => list(args).await,
        VantagesCommand::Create(args) => create(args).await,
        VantagesCommand::Delete(args) => delete(args).await,
        VantagesCommand::RotateToken(args) => rotate(args).await,
    }
}

async fn list(args: VantagesListArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api.vantages().await.map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            if answer.value.vantages.is_empty() {
                println!(
                    "No vantages: the service's own replicas are the only place probes come from."
                );
                return Ok(());
            }
            let rows: Vec<Row> = answer
                .value
                .vantages
                .iter()
                .map(|v| {
                    Row::new(vec![
                        v.name.clone(),
                        v.created_at.date().to_string(),
                        v.token_minted_at.date().to_string(),
                    ])
                })
                .collect();
            print!(
                "{}",
                render(&["name", "created", "token minted"], &rows, colour_stdout())
            );
            Ok(())
        }
    }
}

async fn create(args: VantageNameArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api
        .create_vantage(&args.name)
        .await
        .map_err(explain(&args.conn))?;
    print_token(&answer, args.conn.output, "created")
}

async fn delete(args: VantageNameArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api
        .delete_vantage(&args.name)
        .await
        .map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            println!(
                "Vantage {:?} deleted; its agent token is refused from now on.",
                args.name
            );
            Ok(())
        }
    }
}

async fn rotate(args: VantageNameArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api
        .rotate_vantage_token(&args.name)
        .await
        .map_err(explain(&args.conn))?;
    print_token(&answer, args.conn.output, "has a new agent token")
}

/// The vantage and its token, which is shown only this once.
fn print_token(
    answer: &Answer<VantageTokenResponse>,
    output: OutputFormat,
    what: &str,
) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => print_json(answer),
        OutputFormat::Table => {
            println!("Vantage {:?} {what}.", answer.value.vantage.name);
            println!();
            println!("Agent token (shown only this once):");
            println!("  {}", answer.value.agent_token);
            Ok(())
        }
    }
}
