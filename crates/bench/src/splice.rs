//! One section of an existing results page replaced by a new measurement of
//! it (`run --history-only`, `--registration-only`, `--dashboard-only`), the rest kept as it is.

/// `existing` with the section under `heading` replaced by `section` (or
/// `section` put before `## Targets`, or at the end, when it has none). A
/// section runs from its heading to the next `## ` heading.
pub fn splice(existing: &str, heading: &str, section: &str) -> String {
    if let Some(start) = existing.find(heading) {
        let rest = &existing[start + heading.len()..];
        let end = rest
            .find("\n## ")
            .map_or(existing.len(), |i| start + heading.len() + i + 1);
        return format!("{}{}{}", &existing[..start], section, &existing[end..]);
    }
    match existing.find("## Targets") {
        Some(at) => format!("{}{}{}", &existing[..at], section, &existing[at..]),
        None => format!("{existing}\n{section}"),
    }
}

/// `existing` with the row of the Targets table that starts with `prefix`
/// replaced by `row`, or `row` added at the table's end when none does (and
/// `existing` as it is when it has no Targets table).
pub fn set_target_row(existing: &str, prefix: &str, row: &str) -> String {
    let Some(targets) = existing.find("## Targets") else {
        return existing.to_owned();
    };
    let mut lines: Vec<&str> = existing[targets..].lines().collect();
    // The table: the first run of lines that start with `|`.
    let first = lines
        .iter()
        .position(|line| line.starts_with('|'))
        .unwrap_or(lines.len());
    let end = lines[first..]
        .iter()
        .position(|line| !line.starts_with('|'))
        .map_or(lines.len(), |at| first + at);
    match lines[first..end]
        .iter()
        .position(|line| line.starts_with(prefix))
    {
        Some(at) => lines[first + at] = row,
        None => lines.insert(end, row),
    }
    let mut text = format!("{}{}", &existing[..targets], lines.join("\n"));
    if existing.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_row_is_replaced_or_added_at_the_tables_end() {
        let page = "## 1. X\n\n| a |\n\n## Targets\n\n| target | measured | |\n|---|---|---|\n| one | 1 | met |\n\n## Notes\n\nn\n";
        let added = set_target_row(page, "| two", "| two | 2 | met |");
        assert_eq!(
            added,
            "## 1. X\n\n| a |\n\n## Targets\n\n| target | measured | |\n|---|---|---|\n| one | 1 | met |\n| two | 2 | met |\n\n## Notes\n\nn\n"
        );
        let replaced = set_target_row(&added, "| two", "| two | 3 | not met |");
        assert_eq!(
            replaced,
            "## 1. X\n\n| a |\n\n## Targets\n\n| target | measured | |\n|---|---|---|\n| one | 1 | met |\n| two | 3 | not met |\n\n## Notes\n\nn\n"
        );
    }

    #[test]
    fn splicing_replaces_the_section_or_puts_it_before_the_targets() {
        let heading = "## 8. History";
        let fresh = splice(
            "# t\n\n## 4. Store\n\nx\n\n## Targets\n\ny\n",
            heading,
            "## 8. History\n\nnew\n\n",
        );
        assert_eq!(
            fresh,
            "# t\n\n## 4. Store\n\nx\n\n## 8. History\n\nnew\n\n## Targets\n\ny\n"
        );
        let again = splice(&fresh, heading, "## 8. History\n\nnewer\n\n");
        assert_eq!(
            again,
            "# t\n\n## 4. Store\n\nx\n\n## 8. History\n\nnewer\n\n## Targets\n\ny\n"
        );
        let next = splice(&again, "## 9. Registration", "## 9. Registration\n\nz\n\n");
        assert_eq!(
            next,
            "# t\n\n## 4. Store\n\nx\n\n## 8. History\n\nnewer\n\n## 9. Registration\n\nz\n\n## Targets\n\ny\n"
        );
    }
}
