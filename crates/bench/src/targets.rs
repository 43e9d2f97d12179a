//! The targets file the fleet writes: `<url>\t<kind>\t<expected status>` per line.

use anyhow::{Context, bail};
use proxyhealth_core::Status;
use std::path::Path;

/// One line of a targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The proxy's base URL, like `http://127.1.0.7:41234`.
    pub url: String,
    /// The simulated kind (`ok`, `hang`, …).
    pub kind: String,
    /// The status a checker must give it.
    pub expected: Status,
}

/// Reads a targets file; a line without three tab-separated fields is an error.
pub fn read_targets(path: &Path) -> anyhow::Result<Vec<Target>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the targets file {}", path.display()))?;
    let mut targets = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(url), Some(kind), Some(expected)) = (fields.next(), fields.next(), fields.next())
        else {
            bail!(
                "{}:{}: expected <url>\\t<kind>\\t<status>, got {line:?}",
                path.display(),
                number + 1
            );
        };
        let expected: Status = expected
            .parse()
            .with_context(|| format!("{}:{}: bad status", path.display(), number + 1))?;
        targets.push(Target {
            url: url.to_owned(),
            kind: kind.to_owned(),
            expected,
        });
    }
    Ok(targets)
}
