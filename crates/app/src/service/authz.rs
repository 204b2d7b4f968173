//! Authorization in the service layer. Every operation asks core's one table
//! ([`warden_core::authz`]) here: [`gate`] before the object is looked up (may this caller
//! do the operation on anything at all?), [`check`] once the service knows how the caller
//! stands to the object. Rules that are not about scopes (separation of duties, a check-out
//! without a grant) are decided by their services and reported through [`refused`].
//!
//! Every refusal to an authenticated caller is an `authz.deny` audit event, so an attempt
//! at a privileged operation leaves a trace. A flood must not swamp the log: each caller
//! gets `[audit] denials_per_minute` events a minute (default 10) and everyone together
//! `denials_per_minute_all` (default 120); the refusals left out are counted and the
//! caller's next event says how many (`suppressed`). Every refusal is counted in `warden_authz_denied_total`
//! whether or not it was written. A refusal whose event cannot be written is still a
//! refusal.

use std::collections::HashMap;
use std::fmt::Display;
use std::num::NonZeroU32;
use std::sync::Mutex;

use crate::service::error::Failure;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{self, Operation, Refusal, Relation};

use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// The object of an operation, as audit events and error messages name it.
#[derive(Debug, Clone)]
pub struct Object {
    /// The audit target (`grant:<id>`, `user:alice`).
    pub target: String,
    /// How an error message names it (`grant <id>`, `break-glass use <id>`).
    pub label: String,
}

impl Object {
    /// The object `kind:id`, called `kind id` in messages.
    pub fn new(kind: &str, id: impl Display) -> Self {
        Self {
            target: format!("{kind}:{id}"),
            label: format!("{kind} {id}"),
        }
    }

    /// The same object, called `label` in messages.
    #[must_use]
    pub fn labelled(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// Which refusals are written to the audit log (`[audit] denials_per_minute` per caller,
/// `denials_per_minute_all` for everyone, each also the burst), and how many were left
/// out per caller.
#[derive(Debug)]
pub struct DenialLog<C: Clock = DefaultClock> {
    per_caller: RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, C, NoOpMiddleware<C::Instant>>,
    all: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    suppressed: Mutex<HashMap<Uuid, u64>>,
}

impl DenialLog {
    /// A log writing at most `per_caller` refusals a minute per caller and `all` in all.
    pub fn new(per_caller: u32, all: u32) -> Self {
        Self::with_clock(per_caller, all, &DefaultClock::default())
    }
}

impl<C: Clock + Clone> DenialLog<C> {
    /// [`DenialLog::new`] on `clock`.
    pub fn with_clock(per_caller: u32, all: u32, clock: &C) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_caller: RateLimiter::new(
                quota(per_caller),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            all: RateLimiter::direct_with_clock(quota(all), clock.clone()),
            suppressed: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a refusal to `user` is written now: `Some(n)` with the number of their
    /// refusals left out since their last written one, or `None` (counted as left out).
    pub fn admit(&self, user: Uuid) -> Option<u64> {
        let Ok(mut suppressed) = self.suppressed.lock() else {
            // A poisoned lock loses only the count; write the event.
            return Some(0);
        };
        if self.per_caller.check_key(&user).is_ok() && self.all.check().is_ok() {
            Some(suppressed.remove(&user).unwrap_or(0))
        } else {
            *suppressed.entry(user).or_insert(0) += 1;
            None
        }
    }
}

/// Refuses, before any object is looked up, a caller who may do `op` on nothing at all.
pub async fn gate(state: &AppState, caller: &Caller, op: Operation) -> Result<(), ServiceError> {
    match authz::gate(op, &caller.scopes) {
        None => Ok(()),
        Some(refusal) => Err(deny(state, caller, op, None, None, refusal).await),
    }
}

/// Refuses `op` on `object` unless the caller's scopes allow it for their `relation` to
/// it. A caller who may not see the object is told it was not found.
pub async fn check(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    relation: Relation,
    object: &Object,
) -> Result<(), ServiceError> {
    match authz::decide(op, &caller.scopes, relation) {
        Ok(()) => Ok(()),
        Err(refusal) => Err(deny(state, caller, op, Some(relation), Some(object), refusal).await),
    }
}

/// Refuses `op` on no particular object (a list, the audit log, the vault) unless the
/// caller's scopes allow it for `relation` (their own list, or everyone's).
pub async fn require(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    relation: Relation,
) -> Result<(), ServiceError> {
    match authz::decide(op, &caller.scopes, relation) {
        Ok(()) => Ok(()),
        Err(refusal) => Err(deny(state, caller, op, Some(relation), None, refusal).await),
    }
}

/// Audits `err`, a refusal of `op` decided by a rule of the operation's own (separation of
/// duties, a check-out without a grant), and returns it.
pub async fn refused(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    object: Option<&Object>,
    err: ServiceError,
) -> ServiceError {
    let reason = err
        .public_detail()
        .unwrap_or_else(|| err.kind().title().to_owned());
    record(state, caller, op, None, object, &reason).await;
    err
}

async fn deny(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    relation: Option<Relation>,
    object: Option<&Object>,
    refusal: Refusal,
) -> ServiceError {
    let (err, reason) = match &refusal {
        Refusal::Hidden => {
            let label = object.map_or_else(|| op.to_string(), |o| o.label.clone());
            (
                ServiceError::not_found(label),
                "the object is not visible to the caller".to_owned(),
            )
        }
        Refusal::Scope { message, .. } => (
            ServiceError::new(Failure::MissingScope, message.clone()),
            message.clone(),
        ),
        Refusal::Never(why) => (
            ServiceError::new(Failure::Forbidden, *why),
            (*why).to_owned(),
        ),
        Refusal::Beyond(why) => (
            ServiceError::new(Failure::MissingScope, *why),
            (*why).to_owned(),
        ),
    };
    record(state, caller, op, relation, object, &reason).await;
    err
}

async fn record(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    relation: Option<Relation>,
    object: Option<&Object>,
    reason: &str,
) {
    metrics::counter!("warden_authz_denied_total", "operation" => op.as_str()).increment(1);
    let target = object.map_or_else(|| format!("operation:{op}"), |o| o.target.clone());
    let Some(suppressed) = state.denials().admit(caller.user.id) else {
        tracing::debug!(user = %caller.user.username, operation = %op, %target, "refused (not audited: rate limit)");
        return;
    };
    tracing::info!(user = %caller.user.username, operation = %op, %target, reason, "refused");
    let mut event = AuditEvent::new(state.clock().now(), caller.actor(), Action::AuthzDeny)
        .target(target)
        .failed(reason)
        .detail("operation", op.as_str());
    if let Some(relation) = relation {
        event = event.detail("relation", relation.as_str());
    }
    if suppressed > 0 {
        event = event.detail("suppressed", suppressed.to_string());
    }
    if let Err(e) = state.store().append_audit(&event).await {
        tracing::error!(error = %e, operation = %op, "cannot audit a refusal; it stands");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_flood_is_cut_per_caller_and_the_next_event_counts_what_was_left_out() {
        let clock = FakeRelativeClock::default();
        let log = DenialLog::with_clock(3, 5, &clock);
        let (mallory, alice) = (Uuid::new_v4(), Uuid::new_v4());
        let written: Vec<_> = (0..10).map(|_| log.admit(mallory)).collect();
        assert_eq!(
            written,
            [
                Some(0),
                Some(0),
                Some(0),
                None,
                None,
                None,
                None,
                None,
                None,
                None
            ]
        );
        // Another caller is not silenced by mallory's flood, until everyone's cap.
        assert_eq!(log.admit(alice), Some(0));
        assert_eq!(log.admit(alice), Some(0));
        assert_eq!(log.admit(alice), None, "five in all per minute");
        // A minute later each writes again, saying how many were left out meanwhile.
        clock.advance(Duration::from_secs(60));
        assert_eq!(log.admit(mallory), Some(7));
        assert_eq!(log.admit(alice), Some(1));
        assert_eq!(log.admit(alice), Some(0));
    }
}
