//! Deciding a pending request: an approval or a denial under the separation-of-duty
//! rules, with the grant queued when the approval completes the route.

use super::{
    Request, approvers, authorized, caller_identity, capacity_text, case_of, identity_by_id, info,
    party_emails, request_data,
};
use crate::service::error::Failure;
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::Operation;
use warden_core::request::{
    ApprovalRefusal, Approver, ApproverFacts, Event, Outcome, RequestState, check_approver,
    check_denier, decision_state, still_needs, timed_out,
};
use warden_store::{Effects, StoredApproval, StoredRequest, Transition};

use crate::auth::Caller;
use crate::notify::{self, Notice, events};
use crate::service::authz::{self, Object};
use crate::service::check_label;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// Pending request `id`. One whose approval window has passed is timed out here (and
/// audited) and refused as a conflict.
async fn load_pending(
    state: &AppState,
    id: Uuid,
    caller: &Caller,
) -> Result<StoredRequest, ServiceError> {
    let r = state
        .store()
        .request(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("request {id}")))?;
    let now = state.clock().now();
    if r.state == RequestState::Pending
        && timed_out(r.created_at, r.pending_until - r.created_at, now)
    {
        let event = AuditEvent::new(now, caller.actor(), Action::RequestTimeout)
            .target(format!("request:{id}"))
            .failed("no decision before the pending timeout");
        state
            .store()
            .decide(
                &Transition::new(id, r.updated_at, r.state, Event::TimeOut, now)?,
                None,
                Effects {
                    events: &[event],
                    ..Effects::default()
                },
            )
            .await?;
        return Err(ServiceError::new(
            Failure::Conflict,
            format!("request {id} timed out without a decision"),
        ));
    }
    if r.state != RequestState::Pending {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!("request {id} is {}, not pending", r.state),
        ));
    }
    Ok(r)
}

/// Approves (or denies, with `approve` false) a pending request.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    approve: bool,
    comment: &str,
) -> Result<Request, ServiceError> {
    authorized(state, caller, id, Operation::RequestDecide).await?;
    let comment = check_label("comment", comment, 2000)?;
    let approver = caller_identity(state, caller).await?;
    let r = load_pending(state, id, caller).await?;
    let (case, _, _) = case_of(state, &r).await?;
    let now = state.clock().now();
    let live = state.policy();
    let facts = ApproverFacts::of(
        &approver.hr,
        live.policy.groups_of(&approver.hr),
        now.date(),
    );
    let object = Object::new("request", id);
    // An approval that would not count is refused as a conflict with what the request
    // already has; every other refusal is about who the caller is, and audited as one.
    let refused = async |e: ApprovalRefusal| {
        if matches!(e, ApprovalRefusal::WouldNotCount { .. }) {
            return ServiceError::new(Failure::Conflict, e.to_string());
        }
        let e = ServiceError::new(Failure::Forbidden, e.to_string());
        authz::refused(state, caller, Operation::RequestDecide, Some(&object), e).await
    };
    let prior = approvers(&state.store().approvals(id).await?, &case)?;
    let target = format!("request:{id}");
    let (next, recorded, event) = if approve {
        let approved = match check_approver(&case, &facts, &prior) {
            Ok(approved) => approved,
            Err(e) => return Err(refused(e).await),
        };
        let mut all = prior.clone();
        all.push(approved.clone());
        let outcome = decision_state(case.route, &all);
        let next = Transition::new(id, r.updated_at, r.state, Event::approve(&outcome), now)?;
        let mut event = AuditEvent::new(now, caller.actor(), Action::RequestApprove)
            .target(target)
            .reason(comment.clone())
            .detail("capacity", capacity_text(&approved))
            .detail("state", next.to().as_str());
        if let Outcome::NeedsMore { .. } = &outcome {
            event = event.detail("still_needs", still_needs(&case, &all).join(" and "));
        }
        (next, (approved, "approve"), event)
    } else {
        if let Err(e) = check_denier(&case, &facts) {
            return Err(refused(e).await);
        }
        let next = Transition::new(id, r.updated_at, r.state, Event::Deny, now)?;
        let as_approver = Approver {
            id: approver.hr.employee_id.clone(),
            sources: Vec::new(),
            security: false,
        };
        let event = AuditEvent::new(now, caller.actor(), Action::RequestDeny)
            .target(target)
            .reason(comment.clone());
        (next, (as_approver, "deny"), event)
    };
    let approved = next.to() == RequestState::Approved;
    let grant = if approved {
        let resource = live.policy.resource(&r.resource).ok_or_else(|| {
            ServiceError::new(
                Failure::Conflict,
                format!("resource {} is no longer in policy", r.resource),
            )
        })?;
        Some(crate::service::grants::queue(&r, resource, now)?)
    } else {
        None
    };
    let holder = identity_by_id(state, r.beneficiary_id).await?;
    let notice = match (approve, approved) {
        (true, true) => Some(Notice::new(
            events::APPROVED,
            format!(
                "{}'s request for {} on {} was approved by {}",
                holder.hr.employee_id, r.role, r.resource, approver.hr.employee_id
            ),
            request_data(&r, holder.hr.employee_id.as_str()),
        )),
        (false, _) => Some(Notice::new(
            events::DENIED,
            format!(
                "{}'s request for {} on {} was denied by {}: {comment}",
                holder.hr.employee_id, r.role, r.resource, approver.hr.employee_id
            ),
            request_data(&r, holder.hr.employee_id.as_str()),
        )),
        (true, false) => None,
    };
    let parties = party_emails(state, &r).await?;
    let outbox = notice
        .map(|n| notify::messages(&state.config().notifications, &n.to(parties), now))
        .unwrap_or_default();
    // An approval that completes the route queues the grant in the same write.
    let transition = if approved {
        next.then(Event::StartProvisioning)?
    } else {
        next
    };
    let row = StoredApproval {
        id: warden_core::clock::id_at(now),
        request_id: id,
        approver_id: approver.id,
        approver_employee_id: approver.hr.employee_id.to_string(),
        decision: recorded.1.to_owned(),
        capacity: capacity_text(&recorded.0),
        comment,
        at: now,
    };
    state
        .store()
        .decide(
            &transition,
            Some(&row),
            Effects {
                grant: grant.as_ref(),
                outbox: &outbox,
                events: &[event],
            },
        )
        .await?;
    if grant.is_some() {
        state.wake_grants();
    }
    if !outbox.is_empty() {
        notify::deliver::wake();
    }
    let stored = state
        .store()
        .request(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("request {id}")))?;
    info(state, &stored).await
}
