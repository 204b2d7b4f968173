//! Break-glass: access taken at once, without approvers, when waiting would do harm. It
//! is still bounded by policy (the holder must be eligible for the role), shorter than an
//! ordinary grant (`[grants] breakglass_max_secs`, 2 h by default), announced to security
//! the moment it is taken, and followed by a post-facto review: the holder justifies it
//! within 24 hours, then security (and the holder's manager, when they have one) judge
//! it. An unjustified use, or a justification never given, opens an incident.

use std::collections::BTreeSet;

use crate::service::error::Failure;
use time::Duration;
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::authz::{self, Operation, Relation};
use warden_core::identity::Identity;
use warden_core::policy::{AccessQuery, Decision, RequestContext, format_duration, parse_duration};
use warden_core::request::{
    BreakGlassReview, Event, JUSTIFICATION_DUE, RequestKind, RequestRoute, RequestState,
    ReviewEvent,
};
use warden_store::{
    Effects, IdentityFilter, ReviewStep, StoredIncident, StoredRequest, StoredReview,
};

use super::access::find as find_identity;
use super::authz::Object;
use super::{check_label, employee_id_of, identity_by_id as identity};
use crate::auth::Caller;
use crate::notify::{self, Notice, events};
use crate::service::error::ServiceError;
use crate::state::AppState;

async fn me(state: &AppState, caller: &Caller) -> Result<Identity, ServiceError> {
    find_identity(state, caller.user.username.as_str())
        .await?
        .ok_or_else(|| {
            ServiceError::new(
                Failure::Forbidden,
                format!(
                    "user {} has no identity in the directory",
                    caller.user.username
                ),
            )
        })
}

/// The e-mail address of `who`'s manager, who reviews their break-glass uses.
async fn manager_email(state: &AppState, who: &Identity) -> Result<Vec<String>, ServiceError> {
    let Some(m) = &who.hr.manager else {
        return Ok(Vec::new());
    };
    Ok(state
        .store()
        .find_identities(IdentityFilter::EmployeeId(m.as_str()))
        .await?
        .into_iter()
        .map(|i| i.hr.email)
        .collect())
}

fn data(r: &StoredRequest, holder: &str) -> serde_json::Value {
    serde_json::json!({
        "request": r.id,
        "identity": holder,
        "resource": r.resource,
        "role": r.role,
        "duration_secs": r.duration_secs,
        "reason": r.justification,
        "review": r.review.map(BreakGlassReview::as_str),
        "justification_due": r.review_due_at.map(|t| t.to_string()),
    })
}

/// What [`take`] asks for.
#[derive(Debug, Clone)]
pub struct Take {
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// What is on fire.
    pub reason: String,
    /// How long, such as `1h`; the break-glass maximum when absent.
    pub duration: Option<String>,
    /// The incident ticket, if there is one yet.
    pub ticket: Option<String>,
}

/// A reviewer's verdict, as [`review`] takes it.
#[derive(Debug, Clone)]
pub struct Review {
    /// `justified` or `unjustified`.
    pub verdict: String,
    /// Why.
    pub comment: String,
}

/// A break-glass use and its review.
#[derive(Debug, Clone)]
pub struct Use {
    /// The request that took it.
    pub request: StoredRequest,
    /// Its holder's identity; `None` once the identity no longer exists.
    pub holder: Option<Identity>,
    /// Verdicts so far.
    pub verdicts: Vec<Verdict>,
    /// What the review still needs, in words.
    pub needs: Vec<String>,
    /// The grant.
    pub grant: Option<super::grants::Grant>,
    /// The incident an unjustified use opened.
    pub incident: Option<Uuid>,
}

/// One reviewer's verdict, with the reviewer's name as HR gives it now.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The verdict as stored.
    pub review: StoredReview,
    /// The reviewer's name; `None` once the identity no longer exists.
    pub reviewer_name: Option<String>,
}

/// Takes break-glass access: granted at once, security told at once.
pub async fn take(state: &AppState, caller: &Caller, req: Take) -> Result<Use, ServiceError> {
    super::authz::require(state, caller, Operation::BreakGlassTake, Relation::Own).await?;
    let holder = me(state, caller).await?;
    let reason = check_label("reason", &req.reason, 2000)?;
    let ticket = req
        .ticket
        .as_deref()
        .map(|t| check_label("ticket", t, 200))
        .transpose()?;
    let duration = duration_of(state, req.duration.as_deref())?;
    let now = state.clock().now();
    let live = state.policy();
    let ctx = RequestContext {
        ticket: ticket.clone(),
        source_ip: caller.client.ip,
        ..RequestContext::at(now)
    };
    let terms = match live.policy.check(&AccessQuery {
        identity: &holder.hr,
        resource: &req.resource,
        role: &req.role,
        duration: Some(duration),
        context: &ctx,
    }) {
        Decision::Eligible(e) => e,
        refused => {
            return Err(super::requests::refusal(
                "break-glass is for roles policy makes you eligible for",
                refused,
            ));
        }
    };
    let min = terms.approval.intake.min_justification;
    if reason.chars().count() < min {
        return Err(ServiceError::unprocessable(
            "reason",
            format!("must be at least {min} characters"),
        ));
    }
    let resource = live
        .policy
        .resource(&req.resource)
        .ok_or_else(|| ServiceError::not_found(format!("resource {}", req.resource)))?
        .clone();
    let stored = StoredRequest {
        id: warden_core::clock::id_at(now),
        requester_id: holder.id,
        beneficiary_id: holder.id,
        requested_by: caller.user.username.to_string(),
        resource: req.resource.clone(),
        role: req.role.clone(),
        duration_secs: duration.whole_seconds(),
        justification: reason.clone(),
        ticket,
        rule: terms.rule.clone(),
        approval: terms.approval.name.clone(),
        route: RequestRoute::BreakGlass,
        risk_total: 100,
        risk_factors: serde_json::json!([{"name": "break_glass", "points": 100, "reason": "break-glass access skips approval"}]).to_string(),
        state: RequestState::break_glass().next(Event::StartProvisioning)?,
        created_at: now,
        pending_until: now,
        updated_at: now,
        kind: RequestKind::BreakGlass,
        extends: None,
        review: Some(BreakGlassReview::JustificationDue),
        review_justification: None,
        review_due_at: Some(now + JUSTIFICATION_DUE),
        start_at: None,
    };
    record_take(state, caller, &holder, &stored, &resource, duration).await?;
    info(state, &stored).await
}

/// The break-glass duration asked for (the longest allowed when none is), refused when
/// it is longer than `[grants] breakglass_max_secs`.
fn duration_of(state: &AppState, asked: Option<&str>) -> Result<Duration, ServiceError> {
    let max =
        Duration::seconds(i64::try_from(state.config().grants.breakglass_max_secs).unwrap_or(7200));
    let duration = match asked {
        Some(d) => parse_duration(d).map_err(|e| super::duration_refused("duration", d, e))?,
        None => max,
    };
    if duration > max {
        return Err(ServiceError::unprocessable(
            "duration",
            format!("break-glass lasts at most {}", format_duration(max)),
        ));
    }
    Ok(duration)
}

/// Stores a break-glass use with its grant queued, its audit event and the notice to
/// security and the holder's manager, then wakes the grant worker and the outbox.
async fn record_take(
    state: &AppState,
    caller: &Caller,
    holder: &Identity,
    stored: &StoredRequest,
    resource: &warden_core::policy::Resource,
    duration: Duration,
) -> Result<(), ServiceError> {
    let now = stored.created_at;
    let reason = &stored.justification;
    let grant = super::grants::queue(stored, resource, now)?;
    let event = AuditEvent::new(now, caller.actor(), Action::BreakGlass)
        .target(format!("request:{}", stored.id))
        .reason(reason.clone())
        .detail("breakglass", "true")
        .detail("identity", holder.hr.employee_id.as_str())
        .detail("resource", stored.resource.as_str())
        .detail("role", stored.role.as_str())
        .detail("duration_secs", stored.duration_secs.to_string())
        .detail("grant", grant.id.to_string());
    let notice = Notice::new(
        events::BREAKGLASS,
        format!(
            "BREAK-GLASS: {} took {} on {} (tier {}) for {}: {reason}",
            holder.hr.employee_id,
            stored.role,
            stored.resource,
            resource.tier,
            format_duration(duration)
        ),
        data(stored, holder.hr.employee_id.as_str()),
    )
    .to(manager_email(state, holder).await?);
    let outbox = notify::messages(&state.config().notifications, &notice, now);
    state
        .store()
        .insert_request(
            stored,
            Effects {
                grant: Some(&grant),
                outbox: &outbox,
                events: &[event],
            },
        )
        .await?;
    state.wake_grants();
    notify::deliver::wake();
    Ok(())
}

async fn load(state: &AppState, id: Uuid) -> Result<StoredRequest, ServiceError> {
    state
        .store()
        .request(id)
        .await?
        .filter(|r| r.kind == RequestKind::BreakGlass)
        .ok_or_else(|| ServiceError::not_found(format!("break-glass use {id}")))
}

/// How `who` (the caller's identity, if they have one) stands to break-glass use `r`: its
/// holder's own, in the charge of the holder's manager and of the security group that
/// reviews it, anyone else's otherwise.
async fn relation_to(
    state: &AppState,
    who: Option<&Identity>,
    r: &StoredRequest,
) -> Result<Relation, ServiceError> {
    let Some(me) = who else {
        return Ok(Relation::Other);
    };
    if me.id == r.beneficiary_id {
        return Ok(Relation::Own);
    }
    let holder = identity(state, r.beneficiary_id).await?;
    let is_manager = holder
        .as_ref()
        .and_then(|h| h.hr.manager.as_ref())
        .is_some_and(|m| *m == me.hr.employee_id);
    let in_security = state
        .policy()
        .policy
        .groups_of(&me.hr)
        .contains(&security_group(state, r));
    Ok(if is_manager || in_security {
        Relation::Subordinate
    } else {
        Relation::Other
    })
}

/// Break-glass use `id`, if the caller may do `op` on it, with the caller's identity.
/// A caller who may not see it is told it was not found.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    op: Operation,
) -> Result<(StoredRequest, Option<Identity>), ServiceError> {
    super::authz::gate(state, caller, op).await?;
    let r = load(state, id).await?;
    let who = find_identity(state, caller.user.username.as_str()).await?;
    let relation = relation_to(state, who.as_ref(), &r).await?;
    let object = Object::new("request", id).labelled(format!("break-glass use {id}"));
    super::authz::check(state, caller, op, relation, &object).await?;
    Ok((r, who))
}

fn review_state(r: &StoredRequest) -> Result<BreakGlassReview, ServiceError> {
    r.review.ok_or_else(|| {
        ServiceError::internal(format!("request {} has no break-glass review", r.id))
    })
}

fn conflict(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(Failure::Conflict, e.to_string())
}

/// The holder's post-facto justification.
pub async fn justify(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    text: &str,
) -> Result<Use, ServiceError> {
    let (r, holder) = authorized(state, caller, id, Operation::BreakGlassJustify).await?;
    let holder = holder.ok_or_else(|| ServiceError::not_found(format!("break-glass use {id}")))?;
    let text = check_label("justification", text, 4000)?;
    if text.chars().count() < 20 {
        return Err(ServiceError::field(
            "justification",
            "must be at least 20 characters: say what happened and what was done",
        ));
    }
    let from = review_state(&r)?;
    let step = ReviewEvent::Justify;
    from.next(step).map_err(conflict)?;
    let now = state.clock().now();
    let event = AuditEvent::new(now, caller.actor(), Action::BreakGlassJustify)
        .target(format!("request:{id}"))
        .reason(text.clone())
        .detail("breakglass", "true");
    let notice = Notice::new(
        events::REVIEW_DUE,
        format!(
            "{} justified break-glass use of {} on {}; it waits for review",
            holder.hr.employee_id, r.role, r.resource
        ),
        data(&r, holder.hr.employee_id.as_str()),
    )
    .to(manager_email(state, &holder).await?);
    state
        .store()
        .review_step(
            &ReviewStep {
                request_id: id,
                from,
                event: Some(step),
                justification: Some(&text),
                review: None,
                incident: None,
                at: now,
            },
            &notify::messages(&state.config().notifications, &notice, now),
            &[event],
        )
        .await?;
    notify::deliver::wake();
    let r = load(state, id).await?;
    info(state, &r).await
}

/// The security group that reviews a use: the approval policy's.
fn security_group(state: &AppState, r: &StoredRequest) -> String {
    state
        .policy()
        .policy
        .approval(&r.approval)
        .map_or_else(|| "security".to_owned(), |a| a.security_group.clone())
}

/// Which capacities must still judge a use: security always, and the holder's manager
/// when they have a current one.
async fn needed(
    state: &AppState,
    r: &StoredRequest,
    done: &[StoredReview],
) -> Result<Vec<&'static str>, ServiceError> {
    let mut need = Vec::new();
    if !done.iter().any(|d| d.capacity == "security") {
        need.push("security");
    }
    let today = state.clock().now().date();
    let manager_current = match identity(state, r.beneficiary_id).await? {
        Some(h) => match &h.hr.manager {
            Some(m) => state
                .store()
                .find_identities(IdentityFilter::EmployeeId(m.as_str()))
                .await?
                .into_iter()
                .next()
                .is_some_and(|m| m.hr.is_current(today)),
            None => false,
        },
        None => false,
    };
    if manager_current && !done.iter().any(|d| d.capacity == "manager") {
        need.push("manager");
    }
    Ok(need)
}

/// A reviewer's verdict: by the holder's manager or a member of the security group,
/// never by the holder.
pub async fn review(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    v: &Review,
) -> Result<Use, ServiceError> {
    let (r, reviewer) = authorized(state, caller, id, Operation::BreakGlassReview).await?;
    let reviewer =
        reviewer.ok_or_else(|| ServiceError::not_found(format!("break-glass use {id}")))?;
    let comment = check_label("comment", &v.comment, 2000)?;
    let justified = justified(&v.verdict)?;
    let holder = identity(state, r.beneficiary_id).await?;
    let group = security_group(state, &r);
    let in_security = state
        .policy()
        .policy
        .groups_of(&reviewer.hr)
        .contains(&group);
    let is_manager = holder
        .as_ref()
        .and_then(|h| h.hr.manager.as_ref())
        .is_some_and(|m| *m == reviewer.hr.employee_id);
    refuse_unless_current(state, caller, &reviewer, id).await?;
    let done = state.store().reviews(id).await?;
    let need = needed(state, &r, &done).await?;
    let capacity = capacity(&reviewer, &need, is_manager, in_security, &group)?;
    let from = review_state(&r)?;
    let remaining: Vec<&str> = need.iter().copied().filter(|c| *c != capacity).collect();
    let step = review_event(justified, from, &remaining)?;
    let to = match step {
        Some(event) => from.next(event).map_err(conflict)?,
        None => from,
    };
    let now = state.clock().now();
    let row = StoredReview {
        id: warden_core::clock::id_at(now),
        request_id: id,
        reviewer_id: reviewer.id,
        reviewer_employee_id: reviewer.hr.employee_id.to_string(),
        capacity: capacity.to_owned(),
        verdict: v.verdict.clone(),
        comment: comment.clone(),
        at: now,
    };
    let holder_name = holder
        .as_ref()
        .map_or_else(|| "(deleted)".to_owned(), |h| h.hr.employee_id.to_string());
    let mut evs = vec![
        AuditEvent::new(now, caller.actor(), Action::BreakGlassReview)
            .target(format!("request:{id}"))
            .reason(comment.clone())
            .detail("breakglass", "true")
            .detail("verdict", v.verdict.as_str())
            .detail("capacity", capacity)
            .detail("review", to.as_str()),
    ];
    let mut notices = Vec::new();
    let incident = to.opens_incident().then(|| StoredIncident {
        id: warden_core::clock::id_at(now),
        request_id: id,
        opened_at: now,
        reason: format!("break-glass use of {} on {} by {holder_name} judged unjustified by {} ({capacity}): {comment}", r.role, r.resource, reviewer.hr.employee_id),
        state: "open".to_owned(),
    });
    if let Some(i) = &incident {
        evs.push(
            AuditEvent::new(now, caller.actor(), Action::IncidentOpen)
                .target(format!("incident:{}", i.id))
                .reason(i.reason.clone())
                .detail("request", id.to_string()),
        );
        notices.push(Notice::new(
            events::INCIDENT,
            i.reason.clone(),
            data(&r, &holder_name),
        ));
    }
    state
        .store()
        .review_step(
            &ReviewStep {
                request_id: id,
                from,
                event: step,
                justification: None,
                review: Some(&row),
                incident: incident.as_ref(),
                at: now,
            },
            &notify::all_messages(&state.config().notifications, &notices, now),
            &evs,
        )
        .await?;
    notify::deliver::wake();
    let r = load(state, id).await?;
    info(state, &r).await
}

/// Refuses (audited as a denial) a reviewer who is no longer a current identity.
async fn refuse_unless_current(
    state: &AppState,
    caller: &Caller,
    reviewer: &Identity,
    id: Uuid,
) -> Result<(), ServiceError> {
    let today = state.clock().now().date();
    if reviewer.hr.is_current(today) {
        return Ok(());
    }
    let e = ServiceError::new(
        Failure::Forbidden,
        format!("{} is not a current identity", reviewer.hr.employee_id),
    );
    let object = Object::new("request", id);
    Err(super::authz::refused(state, caller, Operation::BreakGlassReview, Some(&object), e).await)
}

/// Whether a verdict as given says the use was justified; only `justified` and
/// `unjustified` are verdicts.
fn justified(verdict: &str) -> Result<bool, ServiceError> {
    match BreakGlassReview::parse(verdict) {
        Ok(BreakGlassReview::Justified) => Ok(true),
        Ok(BreakGlassReview::Unjustified) => Ok(false),
        Ok(BreakGlassReview::JustificationDue | BreakGlassReview::ReviewDue) | Err(_) => {
            Err(ServiceError::field(
                "verdict",
                format!("{verdict:?} is not justified or unjustified"),
            ))
        }
    }
}

/// The capacity `reviewer` reviews in, of those still `need`ed: the holder's manager
/// first, then a member of the security `group`. A conflict when their capacities have
/// reviewed already; forbidden when they hold neither.
fn capacity(
    reviewer: &Identity,
    need: &[&'static str],
    is_manager: bool,
    in_security: bool,
    group: &str,
) -> Result<&'static str, ServiceError> {
    if is_manager && need.contains(&"manager") {
        Ok("manager")
    } else if in_security && need.contains(&"security") {
        Ok("security")
    } else if is_manager || in_security {
        Err(conflict(format!(
            "this use has already been reviewed in {}'s capacity",
            reviewer.hr.employee_id
        )))
    } else {
        Err(ServiceError::new(
            Failure::Forbidden,
            format!(
                "break-glass uses are reviewed by the holder's manager and group {group}; {} is neither",
                reviewer.hr.employee_id
            ),
        ))
    }
}

/// What a verdict does to a review in state `from` with the capacities still
/// `remaining` after it: an unjustified verdict rejects at once; a justified one accepts
/// when it is the last one needed and only records itself otherwise. A justified verdict
/// before the holder's justification is refused.
fn review_event(
    justified: bool,
    from: BreakGlassReview,
    remaining: &[&str],
) -> Result<Option<ReviewEvent>, ServiceError> {
    if !justified {
        Ok(Some(ReviewEvent::Reject))
    } else if from == BreakGlassReview::JustificationDue {
        Err(conflict(
            "the holder has not justified this use yet; it can be judged unjustified, or wait for the justification",
        ))
    } else if remaining.is_empty() {
        Ok(Some(ReviewEvent::Accept))
    } else {
        Ok(None)
    }
}

/// Opens incidents for uses whose justification is overdue: run every few seconds.
pub async fn lapse_overdue(state: &AppState) -> Result<usize, ServiceError> {
    let now = state.clock().now();
    let mut n = 0;
    for id in state.store().overdue_justifications(now).await? {
        let r = load(state, id).await?;
        let holder = employee_id_of(state, r.beneficiary_id).await?;
        let incident = StoredIncident {
            id: warden_core::clock::id_at(now),
            request_id: id,
            opened_at: now,
            reason: format!(
                "break-glass use of {} on {} by {holder} was not justified within {} hours",
                r.role,
                r.resource,
                JUSTIFICATION_DUE.whole_hours()
            ),
            state: "open".to_owned(),
        };
        let evs = [
            AuditEvent::new(now, Actor::system(), Action::BreakGlassReview)
                .target(format!("request:{id}"))
                .failed("justification overdue")
                .detail("breakglass", "true")
                .detail("review", BreakGlassReview::Unjustified.as_str()),
            AuditEvent::new(now, Actor::system(), Action::IncidentOpen)
                .target(format!("incident:{}", incident.id))
                .reason(incident.reason.clone())
                .detail("request", id.to_string()),
        ];
        let notice = Notice::new(events::INCIDENT, incident.reason.clone(), data(&r, &holder));
        match state
            .store()
            .review_step(
                &ReviewStep {
                    request_id: id,
                    from: BreakGlassReview::JustificationDue,
                    event: Some(ReviewEvent::Lapse),
                    justification: None,
                    review: None,
                    incident: Some(&incident),
                    at: now,
                },
                &notify::messages(&state.config().notifications, &notice, now),
                &evs,
            )
            .await
        {
            Ok(()) => n += 1,
            Err(warden_store::StoreError::Stale(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if n > 0 {
        notify::deliver::wake();
    }
    Ok(n)
}

/// One use: for its holder, its reviewers, administrators and auditors.
pub async fn show(state: &AppState, caller: &Caller, id: Uuid) -> Result<Use, ServiceError> {
    let (r, _) = authorized(state, caller, id, Operation::BreakGlassRead).await?;
    info(state, &r).await
}

/// Every break-glass use: for administrators, auditors and the security group.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Use>, ServiceError> {
    let all = authz::allows(Operation::BreakGlassList, &caller.scopes, Relation::Other);
    if !all {
        // Every use is in the charge of a security group member; anyone else needs more.
        let groups: BTreeSet<String> =
            match find_identity(state, caller.user.username.as_str()).await? {
                Some(me) => state.policy().policy.groups_of(&me.hr),
                None => BTreeSet::new(),
            };
        let in_security = state
            .policy()
            .policy
            .approvals()
            .any(|a| groups.contains(&a.security_group));
        let relation = if in_security {
            Relation::Subordinate
        } else {
            Relation::Other
        };
        super::authz::require(state, caller, Operation::BreakGlassList, relation).await?;
    }
    let mut out = Vec::new();
    for r in state
        .store()
        .list_requests(warden_store::RequestFilter::All)
        .await?
    {
        if r.kind == RequestKind::BreakGlass {
            out.push(info(state, &r).await?);
        }
    }
    Ok(out)
}

/// Incidents (administrators and auditors).
pub async fn incidents(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<StoredIncident>, ServiceError> {
    super::authz::require(state, caller, Operation::IncidentList, Relation::Other).await?;
    Ok(state.store().incidents().await?)
}

async fn info(state: &AppState, r: &StoredRequest) -> Result<Use, ServiceError> {
    let done = state.store().reviews(r.id).await?;
    let needs = match r.review {
        Some(BreakGlassReview::JustificationDue) => vec!["the holder's justification".to_owned()],
        Some(BreakGlassReview::ReviewDue) => needed(state, r, &done)
            .await?
            .into_iter()
            .map(|c| format!("a verdict in the {c} capacity"))
            .collect(),
        _ => Vec::new(),
    };
    let grant = match state.store().grant_of_request(r.id).await? {
        Some(g) => Some(super::grants::with_holder(state, g).await?),
        None => None,
    };
    let incident = state.store().incident_of(r.id).await?.map(|i| i.id);
    let mut verdicts = Vec::with_capacity(done.len());
    for d in done {
        verdicts.push(Verdict {
            reviewer_name: super::name_of(state, d.reviewer_id).await?,
            review: d,
        });
    }
    Ok(Use {
        request: r.clone(),
        holder: identity(state, r.beneficiary_id).await?,
        verdicts,
        needs,
        grant,
        incident,
    })
}
