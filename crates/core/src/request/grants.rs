//! Overlapping grants of one access. An identity may hold the same role on the same
//! resource through several grants at once (two requests, an extension beside its
//! grant). The target holds the access once; Warden counts the intervals and removes the
//! access from the target only when no live interval runs any more. Ending one interval
//! early never cuts another.
//!
//! The caller passes the intervals of one access (identity, resource, role) whose grants
//! keep access ([`crate::request::RequestState::keeps_access`]).

use time::OffsetDateTime;

use super::lifecycle::Window;

/// One live grant's interval, with the grant's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrantInterval<Id> {
    /// The grant's id.
    pub id: Id,
    /// When it runs.
    pub window: Window,
}

/// Whether any interval runs at `now`: the access is held, and a new grant of it needs no
/// change on the target.
pub fn held_at<Id>(intervals: &[GrantInterval<Id>], now: OffsetDateTime) -> bool {
    intervals.iter().any(|i| i.window.contains(now))
}

/// Whether the access must stay on the target once grant `revoked` ends at `now` (expired
/// or revoked early): true when another interval still runs. Every interval with the
/// revoked id is left out.
pub fn still_held_after_revoking<Id: PartialEq>(
    intervals: &[GrantInterval<Id>],
    revoked: &Id,
    now: OffsetDateTime,
) -> bool {
    intervals
        .iter()
        .any(|i| i.id != *revoked && i.window.contains(now))
}

/// When the access ends on the target: the latest end of the live intervals. `None` when
/// there are none.
pub fn access_end<Id>(intervals: &[GrantInterval<Id>]) -> Option<OffsetDateTime> {
    intervals.iter().map(|i| i.window.end).max()
}
