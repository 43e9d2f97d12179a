//! The cells every section of the results page writes: medians, optional
//! figures and the verdict on a target. A leaf, so the sections and the page
//! that assembles them share one formatting.

/// The median of `values` (the upper one of an even count); `None` when empty.
pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// `value` with `digits` decimals, or a dash when it was not measured.
pub(crate) fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("—".to_owned(), |v| format!("{v:.digits$}"))
}

/// How a target is marked: met, missed, or not measured.
pub(crate) fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}
