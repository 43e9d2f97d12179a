//! `proxyhealth proxies ...`: managing proxies on a running server over its API.

use crate::cli::{
    CreateArgs, DeleteArgs, EditArgs, HistoryArgs, ListArgs, ProxiesCommand, RegenerateArgs,
    ServerConnection, TargetArgs,
};
use crate::exit::usage;
use crate::output::OutputFormat;
use crate::output::certificate;
use crate::output::style::{Colour, paint, sanitize, status_text_colour};
use crate::output::table::{Row, render};
use anyhow::Context;
use proxyhealth_api::wire::{
    CreateProxyRequest, PatchProxyRequest, UpdateWorkspaceProxyResponse, WorkspaceProxy,
};
use proxyhealth_api::{Answer, ApiClient, ApiError};
use std::io::{BufRead, IsTerminal, Write};

/// Runs one `proxies` subcommand.
pub async fn run(command: ProxiesCommand) -> anyhow::Result<()> {
    match command {
        ProxiesCommand::Create(args) => create(args).await,
        ProxiesCommand::List(args) => list(args).await,
        ProxiesCommand::Show(args) => show(args).await,
        ProxiesCommand::Edit(args) => edit(args).await,
        ProxiesCommand::Delete(args) => delete(args).await,
        ProxiesCommand::RegenerateToken(args) => regenerate(args).await,
        ProxiesCommand::History(args) => history(args).await,
    }
}

/// The API client for a server connection (its URL and admin token; an
/// empty token counts as none).
pub(crate) fn client(conn: &ServerConnection) -> anyhow::Result<ApiClient> {
    let mut builder = ApiClient::builder(conn.url.as_str());
    if let Some(token) = admin_token(conn) {
        builder = builder.admin_token(token);
    }
    Ok(builder.build()?)
}

/// The admin token the CLI was given, if any (`--token` or `PROXYHEALTH_ADMIN_TOKEN`).
fn admin_token(conn: &ServerConnection) -> Option<&str> {
    conn.token.as_deref().filter(|token| !token.is_empty())
}

/// A failed call as the CLI reports it. A 401 says which flag and variable give
/// the CLI its admin token (the server's own hint names an HTTP header, which
/// no CLI user writes); no token at all is then a usage error (exit code 2),
/// like any missing option. Every other error is the server's, unchanged.
pub(crate) fn explain(conn: &ServerConnection) -> impl Fn(ApiError) -> anyhow::Error + '_ {
    move |err| {
        let Some(status) = err.status().filter(|status| status.as_u16() == 401) else {
            return err.into();
        };
        match admin_token(conn) {
            None => {
                let message = err
                    .envelope()
                    .map_or("The server asks for the admin token.", |envelope| {
                        envelope.message.as_str()
                    });
                usage(format!(
                    "{message} ({status})\n  give the CLI the admin token with --token TOKEN or \
                     the PROXYHEALTH_ADMIN_TOKEN environment variable"
                ))
            }
            Some(_) => anyhow::anyhow!(
                "{err}\n  the server refused the admin token given with --token or \
                 PROXYHEALTH_ADMIN_TOKEN"
            ),
        }
    }
}

/// Whether stdout takes colours (a terminal).
pub(crate) fn colour_stdout() -> bool {
    std::io::stdout().is_terminal()
}

/// Prints the answer's body byte for byte as the server sent it (compact, in
/// the server's key order), then a newline: what `--output json` promises.
pub(crate) fn print_json<T>(answer: &Answer<T>) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&answer.body)
        .and_then(|()| {
            if answer.body.ends_with(b"\n") {
                Ok(())
            } else {
                stdout.write_all(b"\n")
            }
        })
        .and_then(|()| stdout.flush())
        .context("writing the answer to stdout")
}

/// The note of a proxy in a maintenance window: until when, and why.
fn maintenance_note(proxy: &WorkspaceProxy) -> Option<String> {
    proxy.maintenance.as_ref().map(|window| {
        let until = window
            .ends_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        format!(
            "in maintenance until {until}: {} (not notified)",
            sanitize(&window.reason, false)
        )
    })
}

/// The `name, url, certificate, status` row of a proxy (the status last, where
/// scripts read it), with its errors and warnings under it, and first among
/// the warnings the maintenance window it is in.
fn proxy_row(proxy: &WorkspaceProxy) -> Row {
    let status = proxy.status.status.as_str();
    let warnings: Vec<String> = maintenance_note(proxy)
        .into_iter()
        .chain(proxy.status.report.warnings.iter().cloned())
        .collect();
    Row::new(vec![
        proxy.region.name.clone(),
        proxy.region.path_app_url.clone(),
        certificate::cell(proxy.status.tls_not_after, proxy.status.tls_days_left),
        status.to_owned(),
    ])
    .colour(3, status_text_colour(status))
    .notes(&proxy.status.report.errors, &warnings)
}

fn print_proxies(proxies: &[WorkspaceProxy]) {
    let rows: Vec<Row> = proxies.iter().map(proxy_row).collect();
    print!(
        "{}",
        render(
            &["name", "url", "certificate", "status"],
            &rows,
            colour_stdout()
        )
    );
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let conn = &args.conn;
    let api = client(conn)?;
    let Some(query) = args.query() else {
        let answer = api.list_proxies().await.map_err(explain(conn))?;
        return match conn.output {
            OutputFormat::Json => print_json(&answer),
            OutputFormat::Table => {
                print_proxies(&answer.value.regions);
                Ok(())
            }
        };
    };
    let answer = api.list_proxies_page(&query).await.map_err(explain(conn))?;
    match conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            let page = &answer.value;
            print_proxies(&page.regions);
            let total = page.total.unwrap_or(page.regions.len() as u64);
            let first = page.offset.unwrap_or(0);
            if page.regions.is_empty() {
                println!("{total} matching; none from {}", first + 1);
            } else {
                println!(
                    "{total} matching; showing {} to {}",
                    first + 1,
                    first + page.regions.len() as u64
                );
            }
            Ok(())
        }
    }
}

async fn show(args: TargetArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api.proxy(&args.proxy).await.map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            print_proxies(std::slice::from_ref(&answer.value));
            let proxy = &answer.value;
            println!();
            println!(
                "id:           {}",
                sanitize(&proxy.region.id.to_string(), false)
            );
            println!(
                "display name: {}",
                sanitize(&proxy.region.display_name, false)
            );
            println!("icon:         {}", sanitize(&proxy.region.icon_url, false));
            if let Some(latency) = proxy.status.latency_ms {
                println!("latency:      {latency:.1} ms");
            }
            if let Some(window) = &proxy.maintenance {
                println!(
                    "maintenance:  {} ({})",
                    window.id,
                    sanitize(&window.reason, false)
                );
            }
            if !proxy.vantages.is_empty() {
                println!();
                print_vantages(proxy);
            }
            Ok(())
        }
    }
}

/// One row per vantage: what each saw at its newest check, with its errors
/// and warnings under it; a stale vantage (not counted) says so.
fn print_vantages(proxy: &WorkspaceProxy) {
    let rows: Vec<Row> = proxy
        .vantages
        .iter()
        .map(|reading| {
            let status = reading.status.as_str();
            let shown = if reading.stale {
                format!("{status} (stale)")
            } else {
                status.to_owned()
            };
            Row::new(vec![
                reading.vantage.clone(),
                reading
                    .latency_ms
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms")),
                reading
                    .checked_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                shown,
            ])
            .colour(3, status_text_colour(status))
            .notes(&reading.report.errors, &reading.report.warnings)
        })
        .collect();
    print!(
        "{}",
        render(
            &["vantage", "latency", "checked", "status"],
            &rows,
            colour_stdout()
        )
    );
}

/// Prints a proxy with its new token: the token alone (as a line, or with
/// `-o json` as `{"proxy_token": "…"}`, the key of the server's answer), the
/// server's JSON, or a short text with the token and how to use it.
fn print_token_answer(
    answer: &Answer<UpdateWorkspaceProxyResponse>,
    output: OutputFormat,
    only_token: bool,
    verb: &str,
) -> anyhow::Result<()> {
    let token = &answer.value.proxy_token;
    match (only_token, output) {
        (true, OutputFormat::Table) => {
            println!("{token}");
            return Ok(());
        }
        (true, OutputFormat::Json) => {
            println!("{}", serde_json::json!({ "proxy_token": token }));
            return Ok(());
        }
        (false, _) => {}
    }
    match output {
        OutputFormat::Json => print_json(answer),
        OutputFormat::Table => {
            let proxy = &answer.value.proxy;
            println!(
                "Workspace proxy {:?} {verb}.",
                sanitize(&proxy.region.name, false)
            );
            println!();
            println!("Proxy token (shown only this once):");
            println!("  {}", answer.value.proxy_token);
            println!();
            println!(
                "The proxy registers with this token in the {} header.",
                paint("Coder-External-Proxy-Token", Colour::Grey, colour_stdout())
            );
            Ok(())
        }
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let display_name = args
        .display_name
        .clone()
        .unwrap_or_else(|| args.name.clone());
    let request = CreateProxyRequest {
        name: args.name.clone(),
        display_name,
        icon: args.icon.clone().unwrap_or_default(),
    };
    let answer = api
        .create_proxy(&request)
        .await
        .map_err(explain(&args.conn))?;
    print_token_answer(&answer, args.conn.output, args.only_token, "created")
}

async fn regenerate(args: RegenerateArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let request = PatchProxyRequest {
        regenerate_token: true,
        ..PatchProxyRequest::default()
    };
    let answer = api
        .patch_proxy(&args.proxy, &request)
        .await
        .map_err(explain(&args.conn))?;
    print_token_answer(
        &answer,
        args.conn.output,
        args.only_token,
        "has a new token",
    )
}

async fn edit(args: EditArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let request = PatchProxyRequest {
        name: args.name.clone(),
        display_name: args.display_name.clone(),
        icon: args.icon.clone(),
        ..PatchProxyRequest::default()
    };
    if request == PatchProxyRequest::default() {
        return Err(usage(
            "proxies edit: give at least one of --name, --display-name, --icon",
        ));
    }
    let answer = api
        .patch_proxy(&args.proxy, &request)
        .await
        .map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            let proxy = &answer.value.proxy;
            println!(
                "Workspace proxy {:?} updated.",
                sanitize(&proxy.region.name, false)
            );
            print_proxies(std::slice::from_ref(proxy));
            Ok(())
        }
    }
}

/// Asks on the terminal whether to go on; `false` unless the answer starts with y.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().context("writing the question")?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(usage(format!(
                "refusing to delete proxy {:?} without confirmation: stdin is not a terminal; pass -y to delete without asking",
                args.proxy
            )));
        }
        let question = format!("Delete workspace proxy {:?}?", sanitize(&args.proxy, false));
        if !confirm(&question)? {
            anyhow::bail!("not deleted: the answer was not yes");
        }
    }
    let api = client(&args.conn)?;
    let answer = api
        .delete_proxy(&args.proxy)
        .await
        .map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            println!(
                "Workspace proxy {:?} deleted.",
                sanitize(&args.proxy, false)
            );
            Ok(())
        }
    }
}

async fn history(args: HistoryArgs) -> anyhow::Result<()> {
    let api = client(&args.conn)?;
    let answer = api
        .proxy_history(&args.proxy, args.window)
        .await
        .map_err(explain(&args.conn))?;
    match args.conn.output {
        OutputFormat::Json => print_json(&answer),
        OutputFormat::Table => {
            print!(
                "{}",
                crate::output::history::render_history(&answer.value, colour_stdout())
            );
            Ok(())
        }
    }
}
