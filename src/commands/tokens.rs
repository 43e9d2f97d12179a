//! `proxyhealth tokens …` and `proxyhealth audit`: personal tokens and the
//! audit log of a running server (`/api/v2/proxyhealth/tokens`,
//! `/api/v2/proxyhealth/audit`), as a table or as the server's JSON.

use proxyhealth_api::AuditQuery;
use proxyhealth_api::wire::{CreatePersonalTokenRequest, PersonalTokenInfo};
use time::OffsetDateTime;

use crate::cli::{AuditArgs, TokenCreateArgs, TokenNameArgs, TokensCommand, TokensListArgs};
use crate::commands::proxies::{client, colour_stdout, explain, print_json};
use crate::output::OutputFormat;
use crate::output::table::{Row, render};

/// Runs one `tokens` subcommand.
pub async fn run(command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create(args) => create(args).await,
        TokensCommand::List(args) => list(args).await,
        TokensCommand::Revoke(args) => revoke(args).await,
    }
}

/// A time as the tables show it, or `never`.
fn when(at: Option<OffsetDateTime>, never: &str) -> String {
    at.map_or_else(
        || never.to_owned(),
        |at| format!("{} {:02}:{:02}", at.date(), at.hour(), at.minute()),
    )
}

async fn create(args: TokenCreateArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let request = CreatePersonalTokenRequest {
        name: args.name,
        role: args.role,
        expires_in_seconds: args.expires.map(|d| d.as_secs().max(1)),
    };
    let answer = api
        .create_personal_token(&request)
        .await
        .map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            let token = &answer.value.token;
            println!(
                "Token {:?} created with the {} role, expiring {}.",
                token.name,
                token.role,
                when(token.expires_at, "never")
            );
            println!();
            println!("Token (shown only this once):");
            println!("  {}", answer.value.value);
            Ok(())
        }
    }
}

fn row(token: &PersonalTokenInfo) -> Row {
    Row::new(vec![
        token.name.clone(),
        token.role.to_string(),
        when(Some(token.created_at), ""),
        when(token.expires_at, "never"),
        when(token.last_used_at, "never"),
        when(token.revoked_at, "-"),
    ])
}

async fn list(args: TokensListArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api.personal_tokens().await.map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            if answer.value.tokens.is_empty() {
                println!("No personal tokens: only the admin token works.");
                return Ok(());
            }
            let rows: Vec<Row> = answer.value.tokens.iter().map(row).collect();
            print!(
                "{}",
                render(
                    &["name", "role", "created", "expires", "last used", "revoked"],
                    &rows,
                    colour_stdout()
                )
            );
            Ok(())
        }
    }
}

async fn revoke(args: TokenNameArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api
        .revoke_personal_token(&args.name)
        .await
        .map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            println!(
                "Token {:?} revoked; it is refused from the next request on.",
                answer.value.name
            );
            Ok(())
        }
    }
}

/// `proxyhealth audit`.
pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let query = AuditQuery {
        actor: args.actor,
        action: args.action,
        since: args.since,
        before: args.before,
        limit: Some(args.limit),
    };
    let answer = api.audit(&query).await.map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            if answer.value.entries.is_empty() {
                println!("No audit entries.");
                return Ok(());
            }
            let rows: Vec<Row> = answer
                .value
                .entries
                .iter()
                .map(|e| {
                    Row::new(vec![
                        e.id.to_string(),
                        when(Some(e.at), ""),
                        e.actor.clone(),
                        e.action.clone(),
                        e.object.clone().unwrap_or_default(),
                        e.status.to_string(),
                        e.client.clone().unwrap_or_default(),
                    ])
                })
                .collect();
            print!(
                "{}",
                render(
                    &["id", "at", "actor", "action", "object", "status", "client"],
                    &rows,
                    colour_stdout()
                )
            );
            if let Some(before) = answer.value.next_before {
                println!("More: --before {before}");
            }
            Ok(())
        }
    }
}
