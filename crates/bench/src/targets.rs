//! The targets file the fleet writes: `<url>\t<name>\t<kind>\t<expected status>`
//! per line, after `#` comments.

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

/// Reads a targets file; blank lines and `#` comments are skipped, and a line
/// without four tab-separated fields is an error.
pub fn read_targets(path: &Path) -> anyhow::Result<Vec<Target>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the targets file {}", path.display()))?;
    let mut targets = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(url), Some(_name), Some(kind), Some(expected)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            bail!(
                "{}:{}: expected <url>\\t<name>\\t<kind>\\t<status>, got {line:?}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_the_sim_writes_is_read_past_its_comment_and_names() {
        let path = std::env::temp_dir().join(format!("bench-targets-{}.tsv", std::process::id()));
        let text = format!(
            "{}http://127.1.0.1:9\thang-0\thang\tunreachable\n\nhttp://127.1.0.2:9\tok-1\tok\tok\n",
            proxyhealth_sim::TARGETS_HEADER
        );
        std::fs::write(&path, text).expect("write");
        let targets = read_targets(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            targets,
            vec![
                Target {
                    url: "http://127.1.0.1:9".into(),
                    kind: "hang".into(),
                    expected: Status::Unreachable,
                },
                Target {
                    url: "http://127.1.0.2:9".into(),
                    kind: "ok".into(),
                    expected: Status::Ok,
                },
            ]
        );
    }
}
