//! Just-in-time access requests: filed with a justification, checked against policy,
//! scored for risk, routed by the approval policy, and decided by approvers under the
//! separation-of-duty rules of `warden_core::request`. Every step is audited with the
//! change it makes. (Provisioning the approved access on targets comes with grants.)

use crate::service::error::{Failure, FieldIssue};
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::identity::{Identity, IdentityKind};
use warden_core::policy::{
    AccessQuery, ApproverSource, Decision, Eligibility, Policy, RequestContext, Route,
    parse_duration,
};
use warden_core::request::{
    ApprovalCase, ApprovalRefusal, Approver, ApproverFacts, Event, Outcome, RequestKind,
    RequestRoute, RequestState, RiskInput, RiskWeights, TicketStatus,
    candidates as approver_candidates, check_approver, check_denier, decision_state,
    has_possible_approvers, score, still_needs, timed_out,
};
use warden_store::{Effects, RequestFilter, StoredApproval, StoredRequest, Transition};

use super::access::find as find_identity;
use super::authz::{self, Object};
use super::check_label;
use crate::auth::Caller;
use crate::notify::{self, Notice, events};
use crate::service::error::ServiceError;
use crate::state::AppState;

/// The shortest justification accepted.
pub const MIN_JUSTIFICATION: usize = 10;

/// A request to file, as [`create`] takes it.
#[derive(Debug, Clone)]
pub struct Create {
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// How long, such as `2h` or `1h30m`.
    pub duration: String,
    /// Why.
    pub justification: String,
    /// A change or incident ticket.
    pub ticket: Option<String>,
    /// A vendor the request is made for (user name or employee id).
    pub on_behalf_of: Option<String>,
    /// The earliest the access may start.
    pub start_at: Option<OffsetDateTime>,
}

/// More time on a running grant, as [`extend`] takes it.
#[derive(Debug, Clone)]
pub struct Extend {
    /// How much longer, such as `1h`.
    pub duration: String,
    /// Why.
    pub reason: String,
    /// A ticket, where policy wants one.
    pub ticket: Option<String>,
}

/// A request with its people, risk factors, decisions and grant.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request as stored.
    pub request: StoredRequest,
    /// Who asked; `None` once the identity no longer exists.
    pub requester: Option<Identity>,
    /// Who would hold the access; `None` once the identity no longer exists.
    pub beneficiary: Option<Identity>,
    /// The factors of its risk score.
    pub risk_factors: Vec<RiskFactor>,
    /// Decisions so far.
    pub decisions: Vec<Decided>,
    /// What a pending request still needs, in words.
    pub needs: Vec<String>,
    /// The grant it made, once approved.
    pub grant: Option<super::grants::Grant>,
}

/// One factor of a risk score.
#[derive(Debug, Clone)]
pub struct RiskFactor {
    /// Stable name (`tier`, `privilege`, `duration`, …).
    pub name: String,
    /// Points it adds.
    pub points: u32,
    /// Why.
    pub reason: String,
}

/// A decision on a request, with the approver's name as HR gives it now.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The decision as stored.
    pub decision: StoredApproval,
    /// The approver's name; `None` once the identity no longer exists.
    pub approver_name: Option<String>,
}

/// A risk factor as a request stores it (JSON in `risk_factors`).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredFactor {
    name: String,
    points: u32,
    reason: String,
}

fn route_name(route: Route) -> &'static str {
    RequestRoute::Policy(route).as_str()
}

fn source_text(s: &ApproverSource) -> String {
    s.to_string()
}

fn capacity_text(a: &Approver) -> String {
    let mut parts: Vec<String> = a.sources.iter().map(source_text).collect();
    if a.security {
        parts.push("security".to_owned());
    }
    parts.join(",")
}

/// The approver recorded for a stored approval, from the capacity stored with it. A
/// stored employee id that does not parse is corrupt data, never an approval to skip.
fn stored_approver(a: &StoredApproval, case: &ApprovalCase) -> Result<Approver, ServiceError> {
    let id = warden_core::identity::EmployeeId::parse(&a.approver_employee_id).map_err(|e| {
        ServiceError::internal(warden_store::StoreError::Corrupt(format!(
            "approval {}: approver employee id: {e}",
            a.id
        )))
    })?;
    let parts: Vec<&str> = a.capacity.split(',').filter(|p| !p.is_empty()).collect();
    let sources = case
        .sources
        .iter()
        .filter(|s| parts.contains(&source_text(s).as_str()))
        .cloned()
        .collect();
    Ok(Approver {
        id,
        sources,
        security: parts.contains(&"security"),
    })
}

/// The approvals (not denials) among `decisions`, as the approvers they record.
fn approvers(
    decisions: &[StoredApproval],
    case: &ApprovalCase,
) -> Result<Vec<Approver>, ServiceError> {
    decisions
        .iter()
        .filter(|a| a.decision == "approve")
        .map(|a| stored_approver(a, case))
        .collect()
}

/// The caller's identity: only people in the directory request or approve access.
async fn caller_identity(state: &AppState, caller: &Caller) -> Result<Identity, ServiceError> {
    find_identity(state, caller.user.username.as_str()).await?.ok_or_else(|| {
        ServiceError::new(
            Failure::Forbidden,
            format!("user {} has no identity in the directory: only people known to HR can request or approve access", caller.user.username),
        )
    })
}

/// How `me` (the caller's identity, if they have one) stands to request `r`: their own
/// when they made it or it is for them, in their charge when they are one of its possible
/// approvers, anyone else's otherwise.
async fn relation_to(
    state: &AppState,
    me: Option<&Identity>,
    r: &StoredRequest,
) -> Result<Relation, ServiceError> {
    let Some(me) = me else {
        return Ok(Relation::Other);
    };
    if me.id == r.requester_id || me.id == r.beneficiary_id {
        return Ok(Relation::Own);
    }
    let approver = match case_of(state, r).await {
        Ok((case, _, _)) => {
            let facts = ApproverFacts::of(
                &me.hr,
                state.policy().policy.groups_of(&me.hr),
                state.clock().now().date(),
            );
            !approver_candidates(&case, std::slice::from_ref(&facts)).is_empty()
        }
        // A database failure is not "not an approver": only a request that no longer
        // meets policy (or whose people are gone) makes the caller nobody's approver.
        Err(e) if e.kind() == Failure::Internal => return Err(e),
        Err(_) => false,
    };
    Ok(if approver {
        Relation::Subordinate
    } else {
        Relation::Other
    })
}

/// Request `id`, if the caller may do `op` on it, with the caller's identity. A caller
/// who may not see it is told it was not found.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    op: Operation,
) -> Result<(StoredRequest, Option<Identity>), ServiceError> {
    authz::gate(state, caller, op).await?;
    let object = Object::new("request", id);
    let r = state
        .store()
        .request(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(&object.label))?;
    let me = find_identity(state, caller.user.username.as_str()).await?;
    let relation = relation_to(state, me.as_ref(), &r).await?;
    authz::check(state, caller, op, relation, &object).await?;
    Ok((r, me))
}

async fn identity_by_id(state: &AppState, id: Uuid) -> Result<Identity, ServiceError> {
    state
        .store()
        .find_identities(warden_store::IdentityFilter::Id(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ServiceError::internal(format!("request refers to missing identity {id}")))
}

/// Everyone who could approve, as facts judged today.
async fn people(
    state: &AppState,
    policy: &Policy,
    today: Date,
) -> Result<Vec<ApproverFacts>, ServiceError> {
    Ok(state
        .store()
        .list_identities()
        .await?
        .iter()
        .map(|i| ApproverFacts::of(&i.hr, policy.groups_of(&i.hr), today))
        .collect())
}

/// The terms policy gives the beneficiary now, or the refusal that says why not.
fn terms(
    policy: &Policy,
    who: &Identity,
    resource: &str,
    role: &str,
    duration: Option<time::Duration>,
    ctx: &RequestContext,
) -> Result<Eligibility, Box<Decision>> {
    let query = AccessQuery {
        identity: &who.hr,
        resource,
        role,
        duration,
        context: ctx,
    };
    match policy.check(&query) {
        Decision::Eligible(e) => Ok(e),
        refused => Err(Box::new(refused)),
    }
}

fn not_eligible(refused: Box<Decision>) -> ServiceError {
    refusal("policy does not allow this request", *refused)
}

/// The answer to a request policy refuses, `what` saying what was refused. When no rule
/// covers the person at all, the detail says so plainly and the errors name the rules
/// that cover the role on the resource for others, so the person knows whom to ask;
/// otherwise each failed term of each rule that covers them is an error of its own.
pub(crate) fn refusal(what: &str, refused: Decision) -> ServiceError {
    let policy_errors = |messages: Vec<String>| {
        messages
            .into_iter()
            .map(|message| FieldIssue {
                field: "policy".to_owned(),
                message,
            })
            .collect()
    };
    match refused {
        Decision::NotCovered(n) => ServiceError::with_errors(
            Failure::Forbidden,
            format!("{what}: {}", n.summary),
            policy_errors(n.rules),
        ),
        other => ServiceError::with_errors(
            Failure::Forbidden,
            format!("{what}; each failed rule says why"),
            policy_errors(other.reasons()),
        ),
    }
}

/// Files a request.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: Create,
) -> Result<Request, ServiceError> {
    file(state, caller, req, None).await
}

/// Asks for more time on a running grant: a new request for the same access, scored on
/// the time it adds, that overlaps the grant when approved so the access is held without
/// a gap.
pub async fn extend(
    state: &AppState,
    caller: &Caller,
    grant_id: Uuid,
    ext: Extend,
) -> Result<Request, ServiceError> {
    let g = super::grants::authorized(state, caller, grant_id, Operation::GrantExtend).await?;
    let now = state.clock().now();
    let running = g.state == RequestState::Active && g.ends_at.is_some_and(|end| end > now);
    if !running {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!(
                "grant {grant_id} is not running (it is {}); request access again",
                g.state
            ),
        ));
    }
    let req = Create {
        resource: g.resource.clone(),
        role: g.role.clone(),
        duration: ext.duration,
        justification: ext.reason,
        ticket: ext.ticket,
        on_behalf_of: None,
        start_at: None,
    };
    file(state, caller, req, Some(g)).await
}

/// Checks the ticket against the approval policy's intake rules: its form, and where
/// policy names one, an endpoint that must confirm it is open.
async fn check_ticket(
    tickets: &crate::tickets::TicketsConfig,
    intake: &warden_core::policy::Intake,
    ticket: Option<&str>,
) -> Result<(), ServiceError> {
    let Some(ticket) = ticket else {
        return Ok(());
    };
    if !intake.ticket_matches(ticket) {
        return Err(ServiceError::unprocessable(
            "ticket",
            format!(
                "{ticket:?} does not have the form policy requires ({})",
                intake
                    .ticket_pattern
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(url) = &intake.ticket_check_url {
        crate::tickets::confirm_open(tickets, url, ticket)
            .await
            .map_err(|e| ServiceError::unprocessable("ticket", e))?;
    }
    Ok(())
}

async fn file(
    state: &AppState,
    caller: &Caller,
    req: Create,
    extends: Option<warden_store::StoredGrant>,
) -> Result<Request, ServiceError> {
    authz::gate(state, caller, Operation::RequestCreate).await?;
    let requester = caller_identity(state, caller).await?;
    let beneficiary = match &req.on_behalf_of {
        None => {
            authz::require(state, caller, Operation::RequestCreate, Relation::Own).await?;
            None
        }
        Some(key) => {
            let object = Object::new("identity", key);
            let vendor = find_identity(state, key)
                .await?
                .ok_or_else(|| ServiceError::not_found(&object.label))?;
            // Someone else's access is asked for only by the sponsor of a vendor (their
            // HR manager).
            let sponsored = vendor.hr.kind == IdentityKind::Vendor
                && vendor.hr.manager.as_ref() == Some(&requester.hr.employee_id);
            let relation = if sponsored {
                Relation::Subordinate
            } else {
                Relation::Other
            };
            authz::check(state, caller, Operation::RequestCreate, relation, &object).await?;
            Some(vendor)
        }
    };
    let holder = beneficiary.as_ref().unwrap_or(&requester);
    let justification = req.justification.trim();
    let justification = check_label("justification", justification, 2000)?;
    let ticket = req
        .ticket
        .as_deref()
        .map(|t| check_label("ticket", t, 200))
        .transpose()?;
    let duration = parse_duration(&req.duration)
        .map_err(|e| super::duration_refused("duration", &req.duration, e))?;

    let now = state.clock().now();
    if let Some(start) = req.start_at {
        if extends.is_some() {
            return Err(ServiceError::unprocessable(
                "start_at",
                "an extension starts when it is approved",
            ));
        }
        if start < now - time::Duration::minutes(1) || start > now + time::Duration::days(30) {
            return Err(ServiceError::unprocessable(
                "start_at",
                "must be between now and 30 days ahead",
            ));
        }
    }
    // Policy conditions (working hours) and the time-of-day risk apply to when the access
    // would start.
    let starts = req.start_at.filter(|start| *start > now).unwrap_or(now);
    let live = state.policy();
    let ctx = RequestContext {
        ticket: ticket.clone(),
        source_ip: caller.client.ip,
        ..RequestContext::at(starts)
    };
    // An extension must fit the rule's maximum with the time the grant has left.
    let checked_duration = match &extends {
        Some(g) => g
            .ends_at
            .map(|end| (end - now).max(time::Duration::ZERO) + duration),
        None => Some(duration),
    };
    let terms = terms(
        &live.policy,
        holder,
        &req.resource,
        &req.role,
        checked_duration,
        &ctx,
    )
    .map_err(not_eligible)?;
    let min = terms.approval.intake.min_justification;
    if justification.chars().count() < min {
        return Err(ServiceError::unprocessable(
            "justification",
            format!(
                "must be at least {min} characters (policy {})",
                terms.approval.name
            ),
        ));
    }
    check_ticket(
        &state.config().tickets,
        &terms.approval.intake,
        ticket.as_deref(),
    )
    .await?;
    let resource = live
        .policy
        .resource(&req.resource)
        .ok_or_else(|| ServiceError::not_found(format!("resource {}", req.resource)))?
        .clone();

    let first_access = !state
        .store()
        .approved_before(holder.id, &req.resource, &req.role)
        .await?;
    let ticket_status = match (&ticket, terms.ticket_required) {
        (Some(_), _) => TicketStatus::Valid,
        (None, true) => TicketStatus::Missing,
        (None, false) => TicketStatus::NotRequired,
    };
    let risk = score(
        &RiskInput {
            tier: terms.tier,
            privilege: terms.privilege,
            duration,
            max_duration: terms.max_duration,
            at: starts,
            working_hours: None,
            first_access,
            ticket: ticket_status,
            identity_kind: holder.hr.kind,
            recent_anomalies: 0,
            break_glass: false,
            extension: extends.is_some(),
        },
        &RiskWeights::default(),
    );
    let route = terms.approval.route(terms.tier, risk.total);
    let case = ApprovalCase::new(
        &terms,
        risk.total,
        &requester.hr,
        beneficiary.as_ref().map(|b| &b.hr),
    );
    let everyone = if route == Route::Auto {
        Vec::new()
    } else {
        people(state, &live.policy, now.date()).await?
    };
    if route != Route::Auto && !has_possible_approvers(&case, &everyone) {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!(
                "nobody could approve this request ({} approval needed under policy {}); it is refused rather than left waiting",
                route_name(route),
                terms.approval.name
            ),
        ));
    }
    let opened = RequestState::opened(route);
    let factors: Vec<StoredFactor> = risk
        .factors
        .iter()
        .map(|f| StoredFactor {
            name: f.name.to_owned(),
            points: f.points,
            reason: f.reason.clone(),
        })
        .collect();
    let approved_now = opened == RequestState::Approved;
    let stored = StoredRequest {
        id: warden_core::clock::id_at(now),
        requester_id: requester.id,
        beneficiary_id: holder.id,
        requested_by: caller.user.username.to_string(),
        resource: req.resource.clone(),
        role: req.role.clone(),
        duration_secs: duration.whole_seconds(),
        justification: justification.clone(),
        ticket,
        rule: terms.rule.clone(),
        approval: terms.approval.name.clone(),
        route: RequestRoute::Policy(route),
        risk_total: i32::try_from(risk.total).unwrap_or(i32::MAX),
        risk_factors: serde_json::to_string(&factors).map_err(ServiceError::internal)?,
        state: if approved_now {
            opened.next(Event::StartProvisioning)?
        } else {
            opened
        },
        created_at: now,
        pending_until: now + terms.approval.pending_timeout,
        updated_at: now,
        kind: if extends.is_some() {
            RequestKind::Extension
        } else {
            RequestKind::Standard
        },
        extends: extends.as_ref().map(|g| g.id),
        review: None,
        review_justification: None,
        review_due_at: None,
        start_at: req.start_at.filter(|start| *start > now),
    };
    let target = format!("request:{}", stored.id);
    let mut created = AuditEvent::new(now, caller.actor(), Action::RequestCreate)
        .target(target.clone())
        .reason(justification)
        .detail("identity", holder.hr.employee_id.as_str())
        .detail("resource", stored.resource.as_str())
        .detail("role", stored.role.as_str())
        .detail("duration_secs", stored.duration_secs.to_string())
        .detail("rule", terms.rule.as_str())
        .detail("risk", risk.total.to_string())
        .detail("risk_factors", risk.explain())
        .detail("route", route_name(route));
    if let Some(t) = &stored.ticket {
        created = created.detail("ticket", t.as_str());
    }
    if let Some(g) = &extends {
        created = created.detail("extends", g.id.to_string());
    }
    let why = created.reason.clone().unwrap_or_default();
    let mut events = vec![created];
    if let Some(g) = &extends {
        // Filed as a new request; the grant's own history says it was asked to run longer.
        events.push(
            AuditEvent::new(now, caller.actor(), Action::GrantExtend)
                .target(format!("grant:{}", g.id))
                .reason(why)
                .request(stored.id)
                .resource(stored.resource.as_str())
                .detail("duration_secs", stored.duration_secs.to_string()),
        );
    }
    let grant = approved_now
        .then(|| super::grants::queue(&stored, &resource, now))
        .transpose()?;
    let notice = if approved_now {
        events.push(
            AuditEvent::new(
                now,
                warden_core::audit::Actor::system(),
                Action::RequestApprove,
            )
            .target(target)
            .reason(format!(
                "auto-approved: risk {} is below {} under policy {}",
                risk.total, terms.approval.auto_below, terms.approval.name
            )),
        );
        Notice::new(
            events::APPROVED,
            format!(
                "{}'s request for {} on {} was approved automatically (risk {})",
                holder.hr.employee_id, stored.role, stored.resource, risk.total
            ),
            request_data(&stored, holder.hr.employee_id.as_str()),
        )
        .to([holder.hr.email.clone(), requester.hr.email.clone()])
    } else {
        Notice::new(
            events::NEEDS_APPROVAL,
            format!(
                "{} asks for {} on {} for {} (risk {}, {} approval): {}",
                holder.hr.employee_id,
                stored.role,
                stored.resource,
                warden_core::policy::format_duration(duration),
                risk.total,
                route_name(route),
                stored.justification
            ),
            request_data(&stored, holder.hr.employee_id.as_str()),
        )
        .to(approver_emails(state, &case, &everyone).await?)
    };
    let outbox = notify::messages(&state.config().notifications, &notice, now);
    state
        .store()
        .insert_request(
            &stored,
            Effects {
                grant: grant.as_ref(),
                outbox: &outbox,
                events: &events,
            },
        )
        .await?;
    if grant.is_some() {
        state.wake_grants();
    }
    if !outbox.is_empty() {
        notify::deliver::wake();
    }
    info(state, &stored).await
}

/// The e-mail addresses of the people who could approve `case`.
async fn approver_emails(
    state: &AppState,
    case: &ApprovalCase,
    everyone: &[ApproverFacts],
) -> Result<Vec<String>, ServiceError> {
    let mut out = Vec::new();
    for a in approver_candidates(case, everyone) {
        if let Some(i) = state
            .store()
            .find_identities(warden_store::IdentityFilter::EmployeeId(a.id.as_str()))
            .await?
            .into_iter()
            .next()
        {
            out.push(i.hr.email);
        }
    }
    Ok(out)
}

/// The e-mail addresses of a request's holder and requester.
async fn party_emails(state: &AppState, r: &StoredRequest) -> Result<Vec<String>, ServiceError> {
    let mut out = Vec::new();
    for id in [r.beneficiary_id, r.requester_id] {
        if let Some(i) = super::identity_by_id(state, id).await? {
            out.push(i.hr.email);
        }
    }
    Ok(out)
}

fn request_data(r: &StoredRequest, holder: &str) -> serde_json::Value {
    serde_json::json!({
        "request": r.id,
        "identity": holder,
        "resource": r.resource,
        "role": r.role,
        "duration_secs": r.duration_secs,
        "justification": r.justification,
        "ticket": r.ticket,
        "risk": r.risk_total,
        "route": r.route.as_str(),
        "kind": r.kind.as_str(),
    })
}

/// The approval case of a stored request, rebuilt from current policy and HR with the
/// route fixed at creation.
async fn case_of(
    state: &AppState,
    r: &StoredRequest,
) -> Result<(ApprovalCase, Identity, Identity), ServiceError> {
    let requester = identity_by_id(state, r.requester_id).await?;
    let beneficiary = identity_by_id(state, r.beneficiary_id).await?;
    let live = state.policy();
    let ctx = RequestContext {
        ticket: r.ticket.clone(),
        ..RequestContext::at(state.clock().now())
    };
    let terms =
        terms(&live.policy, &beneficiary, &r.resource, &r.role, None, &ctx).map_err(|refused| {
            ServiceError::with_errors(
                Failure::Conflict,
                "the request no longer meets policy; it cannot be approved",
                refused
                    .reasons()
                    .into_iter()
                    .map(|message| FieldIssue {
                        field: "policy".to_owned(),
                        message,
                    })
                    .collect(),
            )
        })?;
    let on_behalf = (r.beneficiary_id != r.requester_id).then_some(&beneficiary.hr);
    let mut case = ApprovalCase::new(
        &terms,
        u32::try_from(r.risk_total).unwrap_or(u32::MAX),
        &requester.hr,
        on_behalf,
    );
    case.route = r
        .route
        .policy()
        .ok_or_else(|| ServiceError::internal(format!("stored route {:?}", r.route.as_str())))?;
    Ok((case, requester, beneficiary))
}

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
        Some(super::grants::queue(&r, resource, now)?)
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

/// Cancels one's own request before it is provisioned.
pub async fn cancel(state: &AppState, caller: &Caller, id: Uuid) -> Result<Request, ServiceError> {
    let (r, _) = authorized(state, caller, id, Operation::RequestCancel).await?;
    let now = state.clock().now();
    let transition = Transition::new(id, r.updated_at, r.state, Event::Cancel, now)?;
    let event =
        AuditEvent::new(now, caller.actor(), Action::RequestCancel).target(format!("request:{id}"));
    state
        .store()
        .decide(
            &transition,
            None,
            Effects {
                events: &[event],
                ..Effects::default()
            },
        )
        .await?;
    let stored = state
        .store()
        .request(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("request {id}")))?;
    info(state, &stored).await
}

/// Requests the caller asked for or would hold; with `pending_approval`, the pending ones
/// the caller may decide on.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    pending_approval: bool,
) -> Result<Vec<Request>, ServiceError> {
    if pending_approval {
        authz::require(
            state,
            caller,
            Operation::RequestQueue,
            Relation::Subordinate,
        )
        .await?;
    } else {
        authz::require(state, caller, Operation::RequestList, Relation::Own).await?;
    }
    let me = caller_identity(state, caller).await?;
    let rows = if pending_approval {
        let live = state.policy();
        let facts = ApproverFacts::of(
            &me.hr,
            live.policy.groups_of(&me.hr),
            state.clock().now().date(),
        );
        let mut mine = Vec::new();
        for r in state
            .store()
            .list_requests(RequestFilter::State(RequestState::Pending))
            .await?
        {
            let Ok((case, _, _)) = case_of(state, &r).await else {
                continue;
            };
            let prior = approvers(&state.store().approvals(r.id).await?, &case)?;
            if check_approver(&case, &facts, &prior).is_ok() {
                mine.push(r);
            }
        }
        mine
    } else {
        state
            .store()
            .list_requests(RequestFilter::Involving(me.id))
            .await?
    };
    let mut out = Vec::new();
    for r in &rows {
        out.push(info(state, r).await?);
    }
    Ok(out)
}

/// One request: for those it involves, its possible approvers, administrators and
/// auditors.
pub async fn show(state: &AppState, caller: &Caller, id: Uuid) -> Result<Request, ServiceError> {
    let (r, _) = authorized(state, caller, id, Operation::RequestRead).await?;
    info(state, &r).await
}

async fn info(state: &AppState, r: &StoredRequest) -> Result<Request, ServiceError> {
    let decisions = state.store().approvals(r.id).await?;
    let needs = if r.state == RequestState::Pending {
        match case_of(state, r).await {
            Ok((case, _, _)) => still_needs(&case, &approvers(&decisions, &case)?),
            Err(e) if e.kind() == Failure::Internal => return Err(e),
            Err(_) => vec!["the request no longer meets policy".to_owned()],
        }
    } else {
        Vec::new()
    };
    let requester = super::identity_by_id(state, r.requester_id).await?;
    let beneficiary = if r.beneficiary_id == r.requester_id {
        requester.clone()
    } else {
        super::identity_by_id(state, r.beneficiary_id).await?
    };
    let mut decided = Vec::with_capacity(decisions.len());
    for d in decisions {
        decided.push(Decided {
            approver_name: super::name_of(state, d.approver_id).await?,
            decision: d,
        });
    }
    let factors: Vec<StoredFactor> =
        serde_json::from_str(&r.risk_factors).map_err(ServiceError::internal)?;
    Ok(Request {
        request: r.clone(),
        requester,
        beneficiary,
        risk_factors: factors
            .into_iter()
            .map(|f| RiskFactor {
                name: f.name,
                points: f.points,
                reason: f.reason,
            })
            .collect(),
        decisions: decided,
        needs,
        grant: match state.store().grant_of_request(r.id).await? {
            Some(g) => Some(super::grants::with_holder(state, g).await?),
            None => None,
        },
    })
}

/// Times out pending requests whose approval window passed: run every few seconds by the
/// server, so a request nobody decides on ends on time and its requester is told.
pub async fn expire_pending(state: &AppState) -> Result<usize, ServiceError> {
    let now = state.clock().now();
    let mut n = 0;
    for id in state.store().timed_out_requests(now, 500).await? {
        let Some(r) = state.store().request(id).await? else {
            continue;
        };
        let holder = super::employee_id_of(state, r.beneficiary_id).await?;
        let event = AuditEvent::new(
            now,
            warden_core::audit::Actor::system(),
            Action::RequestTimeout,
        )
        .target(format!("request:{id}"))
        .failed("no decision before the pending timeout");
        let notice = Notice::new(
            events::TIMED_OUT,
            format!(
                "{holder}'s request for {} on {} got no decision in time",
                r.role, r.resource
            ),
            request_data(&r, &holder),
        )
        .to(party_emails(state, &r).await?);
        let outbox = notify::messages(&state.config().notifications, &notice, now);
        match state
            .store()
            .decide(
                &Transition::new(id, r.updated_at, r.state, Event::TimeOut, now)?,
                None,
                Effects {
                    grant: None,
                    outbox: &outbox,
                    events: &[event],
                },
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
