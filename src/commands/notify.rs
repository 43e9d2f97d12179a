//! `proxyhealth notify test`: a test notification to every configured
//! target, and what each answered.

use crate::cli::NotifyCommand;
use crate::exit::usage;
use std::process::ExitCode;

/// Runs a `notify` subcommand.
pub async fn run(command: NotifyCommand) -> anyhow::Result<ExitCode> {
    match command {
        NotifyCommand::Test(args) => {
            let settings = crate::config::resolve_notify(&args.config, &args.notify)?;
            if settings.targets.is_empty() {
                return Err(usage(
                    "no notification target is configured (--notify-webhook, --notify-slack, \
                     or notify_webhook / notify_slack in the file)",
                ));
            }
            let outcomes = proxyhealth_notify::send_tests(&settings).await?;
            let mut failed = false;
            for outcome in &outcomes {
                match &outcome.result {
                    Ok(status) => println!(
                        "{} ({}): ok, HTTP {status}",
                        outcome.target,
                        outcome.kind.as_str()
                    ),
                    Err(err) => {
                        failed = true;
                        println!(
                            "{} ({}): failed: {err}",
                            outcome.target,
                            outcome.kind.as_str()
                        );
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(crate::exit::FAILURE)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
