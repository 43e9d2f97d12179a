//! Optional damping of status changes: rise and fall thresholds.

use crate::Status;

/// Rise/fall thresholds, as HAProxy's `rise`/`fall`.
///
/// Off by default (the seed's semantics: every check sets the status). When on, a
/// proxy becomes `ok` only after `rise` consecutive `ok` results, and stops being
/// `ok` only after `fall` consecutive results that are not. Changes between the
/// non-`ok` statuses, and to or from `unregistered`, take effect at once: they
/// are facts about the proxy, not a verdict that might flap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    /// Consecutive `ok` results needed to become `ok`.
    pub rise: u32,
    /// Consecutive non-`ok` results needed to stop being `ok`.
    pub fall: u32,
}

impl Default for Hysteresis {
    /// `rise = 1, fall = 1`: no damping, every result counts at once.
    fn default() -> Self {
        Hysteresis { rise: 1, fall: 1 }
    }
}

impl Hysteresis {
    /// The status to show after a result, given the status shown so far (`None`
    /// for a proxy never checked) and how many results in a row, this one included,
    /// agree with it (`streak`).
    pub fn next(&self, shown: Option<Status>, result: Status, streak: u32) -> Status {
        let Some(shown) = shown else {
            return result;
        };
        if shown == result || shown == Status::Unknown {
            return result;
        }
        if shown == Status::Unregistered || result == Status::Unregistered {
            return result;
        }
        let needed = match (shown, result) {
            (_, Status::Ok) => self.rise,
            (Status::Ok, _) => self.fall,
            _ => 1,
        };
        if streak >= needed { result } else { shown }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_follows_every_result() {
        let h = Hysteresis::default();
        assert_eq!(
            h.next(Some(Status::Ok), Status::Unreachable, 1),
            Status::Unreachable
        );
        assert_eq!(h.next(Some(Status::Unreachable), Status::Ok, 1), Status::Ok);
    }

    #[test]
    fn falling_needs_fall_results_in_a_row() {
        let h = Hysteresis { rise: 2, fall: 3 };
        assert_eq!(h.next(Some(Status::Ok), Status::Unhealthy, 1), Status::Ok);
        assert_eq!(h.next(Some(Status::Ok), Status::Unhealthy, 2), Status::Ok);
        assert_eq!(
            h.next(Some(Status::Ok), Status::Unhealthy, 3),
            Status::Unhealthy
        );
    }

    #[test]
    fn rising_needs_rise_results_in_a_row() {
        let h = Hysteresis { rise: 2, fall: 3 };
        assert_eq!(
            h.next(Some(Status::Unreachable), Status::Ok, 1),
            Status::Unreachable
        );
        assert_eq!(h.next(Some(Status::Unreachable), Status::Ok, 2), Status::Ok);
    }

    #[test]
    fn the_first_result_and_moves_between_bad_statuses_are_immediate() {
        let h = Hysteresis { rise: 5, fall: 5 };
        assert_eq!(h.next(None, Status::Ok, 1), Status::Ok);
        assert_eq!(
            h.next(Some(Status::Unhealthy), Status::Unreachable, 1),
            Status::Unreachable
        );
        assert_eq!(
            h.next(Some(Status::Ok), Status::Unregistered, 1),
            Status::Unregistered
        );
    }
}
