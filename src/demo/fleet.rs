//! The demo's simulated fleet: one proxy per state worth seeing, with a
//! region-like name, a display name and a flag.

use anyhow::Context;
use proxyhealth_sim::{Kind, SimProxy, spawn};
use std::time::Duration;

/// How the `slow` proxy answers: slower than the others, well inside the timeout.
pub const SLOW_DELAY: Duration = Duration::from_millis(800);
/// The `flapping` proxy turns every this many checks (about every 6 s at a 2 s interval).
pub const FLAP_EVERY: u32 = 3;
/// The `slow-body` proxy sends one body byte per step, so its body outlasts the timeout.
pub const SLOW_BODY_STEP: Duration = Duration::from_millis(200);

/// One planned member of the demo fleet.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// The proxy's unique short name.
    pub name: &'static str,
    /// The name people read.
    pub display_name: &'static str,
    /// The flag shown as its icon (a file name of [`super::icons`]).
    pub flag: &'static str,
    /// How its simulated proxy answers; `None` for a proxy that is created
    /// but never registers (so it stays `unregistered`).
    pub kind: Option<Kind>,
    /// What the demo shows with it, in a few words.
    pub story: &'static str,
}

/// The demo fleet: every state and every way of getting there.
pub const PLAN: [Member; 14] = [
    Member {
        name: "eu-west",
        display_name: "EU West (Dublin)",
        flag: "ie",
        kind: Some(Kind::Ok),
        story: "healthy",
    },
    Member {
        name: "us-east",
        display_name: "US East (Virginia)",
        flag: "us",
        kind: Some(Kind::Ok),
        story: "healthy",
    },
    Member {
        name: "eu-central",
        display_name: "EU Central (Frankfurt)",
        flag: "de",
        kind: Some(Kind::OkWithWarnings),
        story: "healthy, with a version-mismatch warning",
    },
    Member {
        name: "ap-south",
        display_name: "Asia Pacific (Mumbai)",
        flag: "in",
        kind: Some(Kind::Slow(SLOW_DELAY)),
        story: "healthy but slow (800 ms)",
    },
    Member {
        name: "eu-north",
        display_name: "EU North (Stockholm)",
        flag: "se",
        kind: Some(Kind::Flapping(FLAP_EVERY)),
        story: "flaps between ok and errors every 3 checks",
    },
    Member {
        name: "ap-southeast",
        display_name: "Asia Pacific (Singapore)",
        flag: "sg",
        kind: Some(Kind::Errors),
        story: "reports an error (cannot reach its primary)",
    },
    Member {
        name: "sa-east",
        display_name: "South America (São Paulo)",
        flag: "br",
        kind: Some(Kind::ServerError),
        story: "answers 500 with an error envelope",
    },
    Member {
        name: "ap-northeast",
        display_name: "Asia Pacific (Tokyo)",
        flag: "jp",
        kind: Some(Kind::BadRequestHtml),
        story: "answers 400 with an HTML page",
    },
    Member {
        name: "us-west",
        display_name: "US West (Oregon)",
        flag: "us",
        kind: Some(Kind::PrimaryHtml),
        story: "is a primary coderd, not a proxy (HTML with X-Coder-Build-Version)",
    },
    Member {
        name: "ca-central",
        display_name: "Canada (Montréal)",
        flag: "ca",
        kind: Some(Kind::NonJson200),
        story: "answers 200 with plain text: not a Coder at all",
    },
    Member {
        name: "eu-south",
        display_name: "EU South (Milan)",
        flag: "it",
        kind: Some(Kind::SlowBody(SLOW_BODY_STEP)),
        story: "sends its report so slowly that the timeout strikes mid-body",
    },
    Member {
        name: "me-central",
        display_name: "Middle East (UAE)",
        flag: "ae",
        kind: Some(Kind::Hang),
        story: "hangs: never answers",
    },
    Member {
        name: "af-south",
        display_name: "Africa (Lagos)",
        flag: "ng",
        kind: Some(Kind::Refused),
        story: "refuses connections: nothing listens",
    },
    Member {
        name: "eu-east",
        display_name: "EU East (Warsaw)",
        flag: "pl",
        kind: None,
        story: "created, but never registered",
    },
];

/// A started member: its plan and, unless it never registers, its simulated proxy.
#[derive(Debug)]
pub struct Running {
    /// What was planned.
    pub member: Member,
    /// The simulated proxy answering for it (`None` when it never registers).
    pub sim: Option<SimProxy>,
}

impl Running {
    /// The URL the member registers (empty when it never registers).
    pub fn url(&self) -> &str {
        self.sim.as_ref().map_or("", SimProxy::url)
    }
}

/// Starts a simulated proxy on `127.0.0.1` for every member that registers.
pub async fn start() -> anyhow::Result<Vec<Running>> {
    let mut running = Vec::with_capacity(PLAN.len());
    for member in PLAN {
        let sim = match member.kind {
            Some(kind) => Some(
                spawn(kind)
                    .await
                    .with_context(|| format!("starting the simulated proxy {}", member.name))?,
            ),
            None => None,
        };
        running.push(Running { member, sim });
    }
    Ok(running)
}

/// The targets file `proxyhealth check --targets` reads: one URL and a name per
/// line, tab separated, for every member with a URL.
pub fn targets_file(fleet: &[Running]) -> String {
    let mut text = String::from("# the demo fleet: URL <tab> name\n");
    for running in fleet.iter().filter(|running| !running.url().is_empty()) {
        text.push_str(&format!("{}\t{}\n", running.url(), running.member.name));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_in_the_plan_are_unique() {
        let names: HashSet<_> = PLAN.iter().map(|member| member.name).collect();
        assert_eq!(names.len(), PLAN.len());
    }

    #[test]
    fn every_flag_in_the_plan_is_drawn() {
        for member in PLAN {
            assert!(
                super::super::icons::flag_svg(member.flag).is_some(),
                "{}: no flag {:?}",
                member.name,
                member.flag
            );
        }
    }

    #[tokio::test]
    async fn the_targets_file_lists_every_member_with_a_url_by_name() {
        let sim = spawn(Kind::Ok).await.expect("spawn a simulated proxy");
        let url = sim.url().to_owned();
        let fleet = vec![
            Running {
                member: PLAN[0],
                sim: Some(sim),
            },
            Running {
                member: PLAN[13],
                sim: None,
            },
        ];
        assert_eq!(
            targets_file(&fleet),
            format!("# the demo fleet: URL <tab> name\n{url}\teu-west\n"),
            "the member that never registers has no URL and is left out"
        );
    }
}
