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

#[cfg(test)]
mod tests {
    use super::*;

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
