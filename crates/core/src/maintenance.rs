//! Maintenance windows: times when a proxy (or every proxy) is taken down on
//! purpose. Probes go on and their results are shown, but the proxy is marked
//! as in maintenance, its status changes are not notified and its checks do
//! not count towards uptime.
//!
//! A window is `[starts_at, ends_at)`; a weekly one repeats every 7 days from
//! its first occurrence (in UTC: a week is exactly 604,800 seconds, with no
//! daylight saving time). Ending a window early sets `ended_at`: an occurrence
//! under way stops then, and no later one happens (a window ended before it
//! started is cancelled).
//!
//! Lookups are constant time: [`MaintenanceBook::compile`] turns every window
//! into a map of the windows active at one instant (O(windows), once per
//! change or sweep), with the next instant at which that map may change; a
//! lookup is then one hash-map read, never a scan of the windows.

use std::collections::HashMap;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::validate::FieldError;

/// How long a week is: a weekly window repeats this often.
pub const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest occurrence of a weekly window (it must end before the next
/// begins).
pub const MAX_WEEKLY_LENGTH: Duration = WEEK;

/// The most characters a reason may hold.
pub const MAX_REASON_CHARS: usize = 500;

/// Which proxies a window covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaintenanceScope {
    /// One proxy, by id.
    Proxy(Uuid),
    /// Every proxy.
    All,
}

/// A maintenance window as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Its id.
    pub id: Uuid,
    /// The proxies it covers.
    pub scope: MaintenanceScope,
    /// When (its first occurrence) starts.
    pub starts_at: OffsetDateTime,
    /// When its first occurrence ends (after `starts_at`).
    pub ends_at: OffsetDateTime,
    /// Whether `[starts_at, ends_at)` repeats every [`WEEK`].
    pub weekly: bool,
    /// Why, as the operator said it.
    pub reason: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was ended early (nothing of it is active from then on).
    pub ended_at: Option<OffsetDateTime>,
}

/// One occurrence of a window: what is shown of a proxy in maintenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveMaintenance {
    /// The window's id.
    pub id: Uuid,
    /// Its reason.
    pub reason: String,
    /// When this occurrence started.
    pub starts_at: OffsetDateTime,
    /// When this occurrence ends (earlier when the window was ended early).
    pub ends_at: OffsetDateTime,
}

/// A window asked for, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMaintenance {
    /// The proxies it covers.
    pub scope: MaintenanceScope,
    /// When it starts.
    pub starts_at: OffsetDateTime,
    /// When it ends.
    pub ends_at: OffsetDateTime,
    /// Whether it repeats every week.
    pub weekly: bool,
    /// Why.
    pub reason: String,
}

impl NewMaintenance {
    /// Checks the rules: `ends_at` after `starts_at`, a weekly window no
    /// longer than [`MAX_WEEKLY_LENGTH`], a reason of 1 to
    /// [`MAX_REASON_CHARS`] characters that is not only spaces. The field
    /// named is the API's (`end`, `reason`).
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.ends_at <= self.starts_at {
            return Err(FieldError::new("end", "must be after start"));
        }
        if self.weekly && self.ends_at - self.starts_at > MAX_WEEKLY_LENGTH {
            return Err(FieldError::new(
                "end",
                "a weekly window lasts at most 7 days (it must end before it repeats)",
            ));
        }
        let reason = self.reason.trim();
        if reason.is_empty() {
            return Err(FieldError::new("reason", "is required"));
        }
        if self.reason.chars().count() > MAX_REASON_CHARS {
            return Err(FieldError::new(
                "reason",
                format!("is longer than {MAX_REASON_CHARS} characters"),
            ));
        }
        if self.reason.chars().any(char::is_control) {
            return Err(FieldError::new("reason", "holds a control character"));
        }
        Ok(())
    }
}

impl MaintenanceWindow {
    /// How long each occurrence lasts.
    fn length(&self) -> time::Duration {
        self.ends_at - self.starts_at
    }

    /// The occurrence active at `at`, if one is (constant time: the
    /// occurrence is computed, not searched for).
    pub fn occurrence_at(&self, at: OffsetDateTime) -> Option<ActiveMaintenance> {
        if at < self.starts_at || self.ended_at.is_some_and(|ended| at >= ended) {
            return None;
        }
        let start = if self.weekly {
            let week = time::Duration::try_from(WEEK).unwrap_or(time::Duration::WEEK);
            let weeks = ((at - self.starts_at).whole_seconds() / week.whole_seconds()) as i32;
            self.starts_at + week * weeks
        } else {
            self.starts_at
        };
        let end = start + self.length();
        if at >= end {
            return None;
        }
        let end = self.ended_at.map_or(end, |ended| end.min(ended));
        Some(ActiveMaintenance {
            id: self.id,
            reason: self.reason.clone(),
            starts_at: start,
            ends_at: end,
        })
    }

    /// The first instant after `at` at which this window starts or stops
    /// being active, if there is one.
    pub fn next_change_after(&self, at: OffsetDateTime) -> Option<OffsetDateTime> {
        if self.ended_at.is_some_and(|ended| at >= ended) {
            return None;
        }
        let candidate = if let Some(active) = self.occurrence_at(at) {
            Some(active.ends_at)
        } else if at < self.starts_at {
            Some(self.starts_at)
        } else if self.weekly {
            let week = time::Duration::try_from(WEEK).unwrap_or(time::Duration::WEEK);
            let weeks = ((at - self.starts_at).whole_seconds() / week.whole_seconds()) as i32;
            Some(self.starts_at + week * (weeks + 1))
        } else {
            None
        };
        candidate.filter(|next| self.ended_at.is_none_or(|ended| *next <= ended))
    }

    /// Whether the window will never be active again after `at`.
    pub fn is_over(&self, at: OffsetDateTime) -> bool {
        self.occurrence_at(at).is_none() && self.next_change_after(at).is_none()
    }

    /// The occurrences of this window that overlap `[from, to)`, oldest
    /// first (for a proxy's timeline; one per week of the range at most).
    pub fn occurrences_between(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Vec<ActiveMaintenance> {
        let week = time::Duration::try_from(WEEK).unwrap_or(time::Duration::WEEK);
        let length = self.length();
        let first = if self.weekly && from > self.starts_at + length {
            ((from - self.starts_at - length).whole_seconds() / week.whole_seconds()) as i32
        } else {
            0
        };
        let mut found = Vec::new();
        let mut k = first;
        loop {
            let start = self.starts_at + week * k;
            if start >= to || self.ended_at.is_some_and(|ended| start >= ended) {
                break;
            }
            let end = (start + length).min(self.ended_at.unwrap_or(start + length));
            if end > from {
                found.push(ActiveMaintenance {
                    id: self.id,
                    reason: self.reason.clone(),
                    starts_at: start,
                    ends_at: end,
                });
            }
            if !self.weekly {
                break;
            }
            k += 1;
        }
        found
    }
}

/// The windows active at one instant, per proxy: what every lookup reads.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceBook {
    /// The instant it was compiled for.
    compiled_at: Option<OffsetDateTime>,
    /// The next instant at which a window starts or stops: the book holds
    /// until then.
    valid_until: Option<OffsetDateTime>,
    /// The active window of each proxy covered by one of its own.
    per_proxy: HashMap<Uuid, ActiveMaintenance>,
    /// The active window covering every proxy, if one is.
    all: Option<ActiveMaintenance>,
}

impl MaintenanceBook {
    /// The active windows of `windows` at `now`, in one pass. Of several
    /// windows active for a proxy the one ending last is shown.
    pub fn compile(windows: &[MaintenanceWindow], now: OffsetDateTime) -> Self {
        let mut book = MaintenanceBook {
            compiled_at: Some(now),
            ..MaintenanceBook::default()
        };
        let later = |kept: &Option<ActiveMaintenance>, new: &ActiveMaintenance| {
            kept.as_ref().is_none_or(|kept| new.ends_at > kept.ends_at)
        };
        for window in windows {
            if let Some(next) = window.next_change_after(now) {
                book.valid_until = Some(book.valid_until.map_or(next, |until| until.min(next)));
            }
            let Some(active) = window.occurrence_at(now) else {
                continue;
            };
            match window.scope {
                MaintenanceScope::All => {
                    if later(&book.all, &active) {
                        book.all = Some(active);
                    }
                }
                MaintenanceScope::Proxy(proxy) => {
                    let kept = book.per_proxy.get(&proxy).cloned();
                    if later(&kept, &active) {
                        book.per_proxy.insert(proxy, active);
                    }
                }
            }
        }
        book
    }

    /// Whether the book still tells the truth at `at` (compiled no later,
    /// and no window started or stopped since).
    pub fn holds_at(&self, at: OffsetDateTime) -> bool {
        self.compiled_at.is_some_and(|compiled| compiled <= at)
            && self.valid_until.is_none_or(|until| at < until)
    }

    /// The window `proxy` is in, if it is in one (one hash-map read).
    pub fn of(&self, proxy: &Uuid) -> Option<&ActiveMaintenance> {
        match (self.per_proxy.get(proxy), self.all.as_ref()) {
            (Some(own), Some(all)) if all.ends_at > own.ends_at => Some(all),
            (Some(own), _) => Some(own),
            (None, all) => all,
        }
    }

    /// Whether `proxy` is in a window.
    pub fn covers(&self, proxy: &Uuid) -> bool {
        self.of(proxy).is_some()
    }

    /// The proxies with a window of their own active (a window of every
    /// proxy is [`MaintenanceBook::all`]).
    pub fn proxies(&self) -> impl Iterator<Item = (&Uuid, &ActiveMaintenance)> {
        self.per_proxy.iter()
    }

    /// The active window covering every proxy, if one is.
    pub fn all(&self) -> Option<&ActiveMaintenance> {
        self.all.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn window(weekly: bool) -> MaintenanceWindow {
        MaintenanceWindow {
            id: Uuid::from_u128(1),
            scope: MaintenanceScope::Proxy(Uuid::from_u128(7)),
            starts_at: datetime!(2026-12-01 02:00 UTC),
            ends_at: datetime!(2026-12-01 04:00 UTC),
            weekly,
            reason: "upgrade".into(),
            created_at: datetime!(2026-11-30 00:00 UTC),
            ended_at: None,
        }
    }

    #[test]
    fn a_weekly_window_is_active_in_its_second_week_and_not_between() {
        let w = window(true);
        let second = w
            .occurrence_at(datetime!(2026-12-08 03:00 UTC))
            .expect("active in week two");
        assert_eq!(second.starts_at, datetime!(2026-12-08 02:00 UTC));
        assert_eq!(second.ends_at, datetime!(2026-12-08 04:00 UTC));
        assert_eq!(w.occurrence_at(datetime!(2026-12-08 04:00 UTC)), None);
        assert_eq!(w.occurrence_at(datetime!(2026-12-05 03:00 UTC)), None);
        assert_eq!(
            w.next_change_after(datetime!(2026-12-05 03:00 UTC)),
            Some(datetime!(2026-12-08 02:00 UTC))
        );
    }

    #[test]
    fn a_one_off_window_is_over_after_its_end() {
        let w = window(false);
        assert!(w.occurrence_at(datetime!(2026-12-01 03:00 UTC)).is_some());
        assert_eq!(w.occurrence_at(datetime!(2026-12-08 03:00 UTC)), None);
        assert!(w.is_over(datetime!(2026-12-01 04:00 UTC)));
    }

    #[test]
    fn ending_early_stops_the_occurrence_and_every_later_one() {
        let mut w = window(true);
        w.ended_at = Some(datetime!(2026-12-08 03:00 UTC));
        let active = w
            .occurrence_at(datetime!(2026-12-08 02:30 UTC))
            .expect("active");
        assert_eq!(active.ends_at, datetime!(2026-12-08 03:00 UTC));
        assert_eq!(w.occurrence_at(datetime!(2026-12-15 03:00 UTC)), None);
        assert!(w.is_over(datetime!(2026-12-08 03:00 UTC)));
    }

    #[test]
    fn the_book_reads_each_proxy_in_one_lookup_until_a_window_changes() {
        let mut all = window(false);
        all.id = Uuid::from_u128(2);
        all.scope = MaintenanceScope::All;
        all.starts_at = datetime!(2026-12-01 03:30 UTC);
        all.ends_at = datetime!(2026-12-01 05:00 UTC);
        let windows = vec![window(true), all];
        let book = MaintenanceBook::compile(&windows, datetime!(2026-12-01 03:00 UTC));
        assert_eq!(
            book.of(&Uuid::from_u128(7)).map(|a| a.id),
            Some(Uuid::from_u128(1))
        );
        assert!(!book.covers(&Uuid::from_u128(8)));
        assert!(book.holds_at(datetime!(2026-12-01 03:29 UTC)));
        assert!(!book.holds_at(datetime!(2026-12-01 03:30 UTC)));
        let later = MaintenanceBook::compile(&windows, datetime!(2026-12-01 03:45 UTC));
        assert_eq!(
            later.of(&Uuid::from_u128(8)).map(|a| a.id),
            Some(Uuid::from_u128(2))
        );
        assert_eq!(
            later.of(&Uuid::from_u128(7)).map(|a| a.id),
            Some(Uuid::from_u128(2))
        );
    }

    #[test]
    fn occurrences_between_lists_each_week_in_the_range() {
        let w = window(true);
        let found = w.occurrences_between(
            datetime!(2026-12-01 03:00 UTC),
            datetime!(2026-12-16 00:00 UTC),
        );
        let starts: Vec<_> = found.iter().map(|a| a.starts_at).collect();
        assert_eq!(
            starts,
            vec![
                datetime!(2026-12-01 02:00 UTC),
                datetime!(2026-12-08 02:00 UTC),
                datetime!(2026-12-15 02:00 UTC),
            ]
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut new = NewMaintenance {
            scope: MaintenanceScope::All,
            starts_at: datetime!(2026-12-01 02:00 UTC),
            ends_at: datetime!(2026-12-01 02:00 UTC),
            weekly: false,
            reason: "x".into(),
        };
        assert_eq!(new.validate().map_err(|e| e.field), Err("end"));
        new.ends_at = datetime!(2026-12-09 02:00 UTC);
        assert_eq!(new.validate(), Ok(()));
        new.weekly = true;
        assert_eq!(new.validate().map_err(|e| e.field), Err("end"));
        new.weekly = false;
        new.reason = "  ".into();
        assert_eq!(new.validate().map_err(|e| e.field), Err("reason"));
        new.reason = "x".repeat(MAX_REASON_CHARS + 1);
        assert_eq!(new.validate().map_err(|e| e.field), Err("reason"));
    }
}
