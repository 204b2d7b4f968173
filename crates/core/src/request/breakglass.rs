//! The post-facto review of a break-glass grant. The grant itself follows the ordinary
//! lifecycle from approved (at once, without approvers) to revoked; beside it, the holder
//! owes a justification within 24 hours, reviewers judge it, and an unjustified use, or
//! a justification never given, opens an incident.

use std::fmt;

use time::{Duration, OffsetDateTime};

use super::lifecycle::timed_out;
use super::names::UnknownName;

/// How long the holder of a break-glass grant has to justify it.
pub const JUSTIFICATION_DUE: Duration = Duration::hours(24);

/// Where the review of a break-glass grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakGlassReview {
    /// Waiting for the holder's justification.
    JustificationDue,
    /// Justified by the holder; waiting for reviewers.
    ReviewDue,
    /// Reviewers accepted the justification. Final.
    Justified,
    /// Reviewers rejected it, or no justification came in time: an incident. Final.
    Unjustified,
}

/// Something that happens to a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewEvent {
    /// The holder gave their justification.
    Justify,
    /// A reviewer accepted it.
    Accept,
    /// A reviewer rejected the use, with or without a justification.
    Reject,
    /// The justification is overdue ([`justification_overdue`]).
    Lapse,
}

impl ReviewEvent {
    fn verb(self) -> &'static str {
        match self {
            Self::Justify => "justify",
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Lapse => "lapse",
        }
    }
}

impl BreakGlassReview {
    /// Every state.
    pub const ALL: [Self; 4] = [
        Self::JustificationDue,
        Self::ReviewDue,
        Self::Justified,
        Self::Unjustified,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::JustificationDue => "justification_due",
            Self::ReviewDue => "review_due",
            Self::Justified => "justified",
            Self::Unjustified => "unjustified",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("break-glass review state", s))
    }

    /// Whether this outcome opens a security incident.
    pub fn opens_incident(self) -> bool {
        self == Self::Unjustified
    }

    /// The state after `event`, or why it cannot happen: a decided review stays decided,
    /// a justification is given once, and only a justified use can be accepted.
    pub fn next(self, event: ReviewEvent) -> Result<Self, ReviewError> {
        use BreakGlassReview as R;
        use ReviewEvent as E;
        match (self, event) {
            (R::JustificationDue, E::Justify) => Ok(R::ReviewDue),
            (R::ReviewDue, E::Accept) => Ok(R::Justified),
            (R::JustificationDue | R::ReviewDue, E::Reject) => Ok(R::Unjustified),
            (R::JustificationDue, E::Lapse) => Ok(R::Unjustified),
            _ => Err(ReviewError { from: self, event }),
        }
    }
}

impl fmt::Display for BreakGlassReview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A review move that is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a break-glass review that is {from}", event.verb())]
pub struct ReviewError {
    /// The state the review is in.
    pub from: BreakGlassReview,
    /// What was tried.
    pub event: ReviewEvent,
}

/// Whether the justification of a break-glass grant made at `granted_at` is overdue at
/// `now`.
pub fn justification_overdue(granted_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    timed_out(granted_at, JUSTIFICATION_DUE, now)
}
