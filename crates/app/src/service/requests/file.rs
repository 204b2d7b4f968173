//! Filing a request: a new one, or more time on a running grant, checked against policy,
//! scored for risk, routed, and stored with its audit events and notices.

use super::{
    Create, Extend, Request, StoredFactor, caller_identity, info, not_eligible, people,
    request_data, route_name, terms,
};
use crate::service::error::Failure;
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::identity::{Identity, IdentityKind};
use warden_core::policy::{Eligibility, Policy, RequestContext, Route, parse_duration};
use warden_core::request::{
    ApprovalCase, ApproverFacts, Event, RequestKind, RequestRoute, RequestState, RiskInput,
    RiskScore, RiskWeights, TicketStatus, candidates as approver_candidates,
    has_possible_approvers, score,
};
use warden_store::{Effects, StoredRequest};

use crate::auth::Caller;
use crate::notify::{self, Notice, events};
use crate::service::access::find as find_identity;
use crate::service::authz::{self, Object};
use crate::service::check_label;
use crate::service::error::ServiceError;
use crate::state::AppState;

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
    let g =
        crate::service::grants::authorized(state, caller, grant_id, Operation::GrantExtend).await?;
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
    let beneficiary = beneficiary(state, caller, &requester, req.on_behalf_of.as_deref()).await?;
    let holder = beneficiary.as_ref().unwrap_or(&requester);
    let justification = req.justification.trim();
    let justification = check_label("justification", justification, 2000)?;
    let ticket = req
        .ticket
        .as_deref()
        .map(|t| check_label("ticket", t, 200))
        .transpose()?;
    let duration = parse_duration(&req.duration)
        .map_err(|e| crate::service::duration_refused("duration", &req.duration, e))?;

    let now = state.clock().now();
    check_start(req.start_at, extends.is_some(), now)?;
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
    check_intake(state, &terms, &justification, ticket.as_deref()).await?;
    let resource = live
        .policy
        .resource(&req.resource)
        .ok_or_else(|| ServiceError::not_found(format!("resource {}", req.resource)))?
        .clone();

    let first_access = !state
        .store()
        .approved_before(holder.id, &req.resource, &req.role)
        .await?;
    let risk = risk_of(
        holder,
        &terms,
        duration,
        starts,
        ticket.is_some(),
        first_access,
        extends.is_some(),
    );
    let route = terms.approval.route(terms.tier, risk.total);
    let case = ApprovalCase::new(
        &terms,
        risk.total,
        &requester.hr,
        beneficiary.as_ref().map(|b| &b.hr),
    );
    let everyone =
        possible_approvers(state, &live.policy, &terms, &case, route, now.date()).await?;
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
        .then(|| crate::service::grants::queue(&stored, &resource, now))
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

/// Who would hold the access when it is not the requester: the vendor named by
/// `on_behalf_of`. Asking for oneself needs the `Own` relation; asking for someone else
/// is allowed only to the sponsor of a vendor.
async fn beneficiary(
    state: &AppState,
    caller: &Caller,
    requester: &Identity,
    on_behalf_of: Option<&str>,
) -> Result<Option<Identity>, ServiceError> {
    Ok(match on_behalf_of {
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
    })
}

/// Checks when the access is asked to start: an extension starts when it is approved,
/// anything else between a minute ago and 30 days ahead.
fn check_start(
    start_at: Option<OffsetDateTime>,
    extension: bool,
    now: OffsetDateTime,
) -> Result<(), ServiceError> {
    if let Some(start) = start_at {
        if extension {
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
    Ok(())
}

/// Checks the request against the intake rules of the approval policy `terms` name: the
/// shortest justification it accepts, and its ticket rules.
async fn check_intake(
    state: &AppState,
    terms: &Eligibility,
    justification: &str,
    ticket: Option<&str>,
) -> Result<(), ServiceError> {
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
    check_ticket(&state.config().tickets, &terms.approval.intake, ticket).await
}

/// The risk score of the request, for the time it would start.
fn risk_of(
    holder: &Identity,
    terms: &Eligibility,
    duration: time::Duration,
    starts: OffsetDateTime,
    has_ticket: bool,
    first_access: bool,
    extension: bool,
) -> RiskScore {
    let ticket_status = match (has_ticket, terms.ticket_required) {
        (true, _) => TicketStatus::Valid,
        (false, true) => TicketStatus::Missing,
        (false, false) => TicketStatus::NotRequired,
    };
    score(
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
            extension,
        },
        &RiskWeights::default(),
    )
}

/// Everyone who could approve a request on `route` (nobody, for one approved at once). A
/// request nobody could approve is refused rather than left waiting.
async fn possible_approvers(
    state: &AppState,
    policy: &Policy,
    terms: &Eligibility,
    case: &ApprovalCase,
    route: Route,
    today: Date,
) -> Result<Vec<ApproverFacts>, ServiceError> {
    let everyone = if route == Route::Auto {
        Vec::new()
    } else {
        people(state, policy, today).await?
    };
    if route != Route::Auto && !has_possible_approvers(case, &everyone) {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!(
                "nobody could approve this request ({} approval needed under policy {}); it is refused rather than left waiting",
                route_name(route),
                terms.approval.name
            ),
        ));
    }
    Ok(everyone)
}
