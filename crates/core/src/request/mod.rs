//! Access requests and grants as pure decisions: how risky a request is, who may approve
//! it and when it is approved, which state it may move to next, and whether the access on
//! the target must stay when one of several overlapping grants ends.
//!
//! The model, in the order a request lives it:
//!
//! 1. **Risk** ([`risk`]). Once policy has said the request may be made
//!    ([`crate::policy::Eligibility`]), [`score`] adds up explainable [`RiskFactor`]s:
//!    the resource's tier, the role's privilege, the duration against the rule's maximum,
//!    the time against the holder's normal hours, first access, the ticket, the kind of
//!    identity, recent anomalies and break-glass. The score and every factor are stored
//!    with the request. An extension is scored on the time it adds.
//! 2. **Route and approvers** ([`approval`], [`quorum`]). The approval policy turns tier
//!    and score into a [`crate::policy::Route`]; [`ApprovalCase`] holds it with the
//!    parties. [`check_approver`] enforces separation of duties on each decision (nobody
//!    approves their own request, one made on their behalf, or the same request twice;
//!    approvers must be current and come from an allowed source) and returns the
//!    [`Approver`] record to store, or refuses an approval that would not count towards
//!    the route. [`decision_state`] says whether the stored approvals satisfy the route
//!    and [`still_needs`] says in words who may give each missing approval;
//!    [`has_possible_approvers`] refuses, at creation, a request that nobody could ever
//!    approve.
//! 3. **Lifecycle** ([`lifecycle`], [`breakglass`]). [`RequestState::next`] moves a
//!    request from pending to approved, provisioning, active, revoking and revoked, or to
//!    denied, cancelled, timed out or failed, and refuses every other move. The grant's
//!    clock starts at provisioning ([`grant_window`]). A break-glass grant skips approval
//!    and carries a post-facto [`BreakGlassReview`]. What a request is and how it was
//!    routed are [`RequestKind`] and [`RequestRoute`] ([`names`]); like the states, the
//!    store keeps them by the names these enums give and parses them back.
//! 4. **Overlap** ([`grants`]). Grants of the same access (identity, resource, role) are
//!    counted, not duplicated: the access on the target stays while any live interval
//!    runs ([`still_held_after_revoking`]) and ends with the last one ([`access_end`]).
//!
//! Nothing here reads the clock or a store: the service layer loads the facts (policy
//! terms, HR records, group memberships, stored approvals and grant intervals), passes
//! `now` in, and writes what these functions decide together with its audit event.

pub mod approval;
pub mod breakglass;
pub mod grants;
pub mod lifecycle;
pub mod names;
pub mod quorum;
pub mod risk;
mod weights;

pub use approval::{
    ApprovalCase, ApprovalRefusal, Approver, ApproverFacts, candidates, check_approver,
    check_denier,
};
pub use breakglass::{
    BreakGlassReview, JUSTIFICATION_DUE, ReviewError, ReviewEvent, justification_overdue,
};
pub use grants::{GrantInterval, access_end, held_at, still_held_after_revoking};
pub use lifecycle::{
    Event, RequestState, TransitionError, Window, extension_window, grant_window, timed_out,
};
pub use names::{RequestKind, RequestRoute, UnknownName};
pub use quorum::{Need, Outcome, decision_state, has_possible_approvers, still_needs};
pub use risk::{RiskFactor, RiskInput, RiskScore, TicketStatus, score};
pub use weights::RiskWeights;
