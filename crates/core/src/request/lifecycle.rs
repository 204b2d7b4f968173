//! The state machine of a request and its grant, from pending to revoked, with every legal
//! move listed once and every other move refused; the pending timeout; and the window of
//! a grant, whose clock starts when the access is provisioned.

use std::fmt;

use time::{Duration, OffsetDateTime};

use super::names::UnknownName;
use super::quorum::Outcome;
use crate::policy::Route;

/// Where a request and its grant stand.
///
/// A grant's state is this same enum, not one of its own: a grant is the second half of
/// its request's life (provisioning, active, revoking, revoked or failed), the worker
/// moves both with the same [`Event`] and stores the same state on each, and one
/// transition function keeps the two from disagreeing. A grant row only ever holds the
/// states from [`RequestState::Provisioning`] on; the store refuses nothing else, since
/// every state it writes comes out of [`RequestState::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved (or auto-approved, or break-glass); not yet provisioned.
    Approved,
    /// An approver denied it. Final.
    Denied,
    /// The requester withdrew it before provisioning. Final.
    Cancelled,
    /// No decision came within the approval policy's pending timeout. Final.
    TimedOut,
    /// The access is being created on the target.
    Provisioning,
    /// The access exists on the target; the grant's window runs.
    Active,
    /// The access is being removed from the target (expiry, revocation, leaver).
    Revoking,
    /// The target confirmed the access is gone. Final.
    Revoked,
    /// Provisioning failed (security is alerted). Only a cleanup revocation follows.
    Failed,
}

impl RequestState {
    /// Every state.
    pub const ALL: [Self; 10] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::Cancelled,
        Self::TimedOut,
        Self::Provisioning,
        Self::Active,
        Self::Revoking,
        Self::Revoked,
        Self::Failed,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Revoking => "revoking",
            Self::Revoked => "revoked",
            Self::Failed => "failed",
        }
    }

    /// The states of a grant that keeps access on the target, or may still: what the
    /// worker and the access check call live.
    pub const LIVE: [Self; 3] = [Self::Provisioning, Self::Active, Self::Revoking];

    /// The states of a request that has been approved, whatever happened after (a grant
    /// was or is being made): what counts as "approved before" for the risk score.
    pub const APPROVED_ONCE: [Self; 5] = [
        Self::Approved,
        Self::Provisioning,
        Self::Active,
        Self::Revoking,
        Self::Revoked,
    ];

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("request state", s))
    }

    /// The state of a new request on `route`: approved at once when the route is `Auto`,
    /// pending otherwise.
    pub fn opened(route: Route) -> Self {
        match route {
            Route::Auto => Self::Approved,
            Route::Single | Route::Dual { .. } => Self::Pending,
        }
    }

    /// The state of a new break-glass grant: approved at once, without approvers.
    pub fn break_glass() -> Self {
        Self::Approved
    }

    /// Whether nothing can follow.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Denied | Self::Cancelled | Self::TimedOut | Self::Revoked
        )
    }

    /// Whether the grant's interval keeps the access on the target (for counting
    /// overlapping grants): provisioning or active.
    pub fn keeps_access(self) -> bool {
        matches!(self, Self::Provisioning | Self::Active)
    }

    /// The state after `event`, or why it cannot happen.
    pub fn next(self, event: Event) -> Result<Self, TransitionError> {
        use Event as E;
        use RequestState as S;
        let to = match (self, event) {
            (S::Pending, E::Approve { complete: false }) => S::Pending,
            (S::Pending, E::Approve { complete: true }) => S::Approved,
            (S::Pending, E::Deny) => S::Denied,
            (S::Pending | S::Approved, E::Cancel) => S::Cancelled,
            (S::Pending, E::TimeOut) => S::TimedOut,
            (S::Approved, E::StartProvisioning) => S::Provisioning,
            (S::Provisioning, E::Provisioned) => S::Active,
            (S::Provisioning, E::ProvisioningFailed) => S::Failed,
            (S::Provisioning | S::Active | S::Failed, E::Revoke) => S::Revoking,
            (S::Revoking, E::RevokeConfirmed) => S::Revoked,
            _ => return Err(TransitionError { from: self, event }),
        };
        Ok(to)
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// An approval was recorded; `complete` when the route is now satisfied.
    Approve {
        /// Whether the approvals now satisfy the route.
        complete: bool,
    },
    /// An eligible approver denied it.
    Deny,
    /// The requester withdrew it.
    Cancel,
    /// The pending timeout passed ([`timed_out`]).
    TimeOut,
    /// The provisioning job was queued.
    StartProvisioning,
    /// The target confirmed the access exists.
    Provisioned,
    /// The target could not provision it.
    ProvisioningFailed,
    /// The access must go: its window ended, someone revoked it, or its holder left.
    Revoke,
    /// The target confirmed the access is gone.
    RevokeConfirmed,
}

impl Event {
    /// The approval event for a request whose approvals now stand at `outcome`.
    pub fn approve(outcome: &Outcome) -> Self {
        Self::Approve {
            complete: *outcome == Outcome::Approved,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Approve { .. } => "approve",
            Self::Deny => "deny",
            Self::Cancel => "cancel",
            Self::TimeOut => "time out",
            Self::StartProvisioning => "start provisioning",
            Self::Provisioned => "mark provisioned",
            Self::ProvisioningFailed => "mark failed",
            Self::Revoke => "revoke",
            Self::RevokeConfirmed => "confirm the revocation of",
        }
    }
}

/// A move the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a request that is {from}{}", event.verb(), hint(*from, *event))]
pub struct TransitionError {
    /// The state the request is in.
    pub from: RequestState,
    /// What was tried.
    pub event: Event,
}

fn hint(from: RequestState, event: Event) -> &'static str {
    match (from, event) {
        (RequestState::Provisioning | RequestState::Active, Event::Cancel) => {
            "; granted access ends by revocation"
        }
        (RequestState::Pending | RequestState::Approved, Event::Revoke) => {
            "; a request not yet granted is cancelled"
        }
        _ => "",
    }
}

/// Whether a request made at `created_at` has waited `pending_timeout` or longer at `now`.
pub fn timed_out(
    created_at: OffsetDateTime,
    pending_timeout: Duration,
    now: OffsetDateTime,
) -> bool {
    now - created_at >= pending_timeout
}

/// A grant's interval: from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// When the access began.
    pub start: OffsetDateTime,
    /// When it must be gone.
    pub end: OffsetDateTime,
}

impl Window {
    /// Whether the window runs at `now`.
    pub fn contains(&self, now: OffsetDateTime) -> bool {
        self.start <= now && now < self.end
    }
}

/// The window of a grant of `duration` provisioned at `provisioned_at`: the clock starts
/// at provisioning, not when the request was made. A duration that is not positive, or an
/// end beyond the representable range, gives an empty window (revoked at once).
pub fn grant_window(provisioned_at: OffsetDateTime, duration: Duration) -> Window {
    let end = provisioned_at
        .checked_add(duration)
        .filter(|end| *end > provisioned_at)
        .unwrap_or(provisioned_at);
    Window {
        start: provisioned_at,
        end,
    }
}

/// The window of an extension approved at `now` that adds `added` to a grant whose window
/// is `current`: it runs from `now` to `added` past the current end, so it overlaps the
/// grant it extends and the access is held without a gap. `None` when the grant is not
/// running at `now` (an ended grant is not extended; ask again) or the end is not
/// representable.
pub fn extension_window(current: Window, added: Duration, now: OffsetDateTime) -> Option<Window> {
    if !current.contains(now) || added <= Duration::ZERO {
        return None;
    }
    let end = current.end.checked_add(added)?;
    Some(Window { start: now, end })
}
