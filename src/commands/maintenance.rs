//! `proxyhealth maintenance …`: maintenance windows on a running server
//! (`/api/v2/proxyhealth/maintenance`), as a table or as the server's JSON.

use proxyhealth_api::Answer;
use proxyhealth_api::wire::{CreateMaintenanceRequest, MaintenanceState, MaintenanceWindowInfo};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::cli::{
    MaintenanceCommand, MaintenanceCreateArgs, MaintenanceEndArgs, MaintenanceListArgs,
};
use crate::commands::proxies::{client, colour_stdout, explain, print_json};
use crate::output::OutputFormat;
use crate::output::table::{Row, render};

/// Runs one `maintenance` subcommand.
pub async fn run(command: MaintenanceCommand) -> anyhow::Result<()> {
    match command {
        MaintenanceCommand::List(args) => list(args).await,
        MaintenanceCommand::Create(args) => create(args).await,
        MaintenanceCommand::End(args) => end(args).await,
    }
}

/// A time as `2026-12-01 02:00 UTC`.
fn when(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

fn state_word(state: MaintenanceState) -> &'static str {
    match state {
        MaintenanceState::Active => "active",
        MaintenanceState::Scheduled => "scheduled",
        MaintenanceState::Over => "over",
        MaintenanceState::Cancelled => "cancelled",
    }
}

fn scope(window: &MaintenanceWindowInfo) -> String {
    match (&window.proxy_name, window.proxy_id) {
        _ if window.all => "all proxies".to_owned(),
        (Some(name), _) => name.clone(),
        (None, Some(id)) => format!("{id} (deleted)"),
        (None, None) => "?".to_owned(),
    }
}

fn row(window: &MaintenanceWindowInfo) -> Row {
    let (from, to) = window
        .current
        .as_ref()
        .map_or((window.starts_at, window.ends_at), |current| {
            (current.starts_at, current.ends_at)
        });
    Row::new(vec![
        window.id.to_string(),
        scope(window),
        state_word(window.state).to_owned(),
        when(from),
        when(window.ended_at.map_or(to, |ended| ended.min(to))),
        if window.weekly { "weekly" } else { "once" }.to_owned(),
        crate::output::style::sanitize(&window.reason, false),
    ])
}

const HEADERS: [&str; 7] = ["id", "proxy", "state", "from", "to", "repeats", "reason"];

async fn list(args: MaintenanceListArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api
        .maintenance_windows()
        .await
        .map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            if answer.value.windows.is_empty() {
                println!("No maintenance windows.");
                return Ok(());
            }
            let rows: Vec<Row> = answer.value.windows.iter().map(row).collect();
            print!("{}", render(&HEADERS, &rows, colour_stdout()));
            Ok(())
        }
    }
}

async fn create(args: MaintenanceCreateArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let request = CreateMaintenanceRequest {
        proxy: args.proxy.clone(),
        all: args.all,
        start: args.start.clone(),
        end: args.end.clone(),
        weekly: args.weekly,
        reason: args.reason.clone(),
    };
    let answer = api
        .create_maintenance(&request)
        .await
        .map_err(explain(&args.conn))?;
    print_window(&answer, args.conn.output, "created")
}

async fn end(args: MaintenanceEndArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api
        .end_maintenance(&args.id)
        .await
        .map_err(explain(&args.conn))?;
    print_window(&answer, args.conn.output, "ended")
}

fn print_window(
    answer: &Answer<MaintenanceWindowInfo>,
    output: OutputFormat,
    done: &str,
) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => print_json(answer),
        OutputFormat::Table => {
            println!("Maintenance window {} {done}.", answer.value.id);
            print!(
                "{}",
                render(&HEADERS, &[row(&answer.value)], colour_stdout())
            );
            Ok(())
        }
    }
}
