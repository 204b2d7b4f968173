//! Just-in-time access requests: filed with a justification, checked against policy,
//! scored for risk, routed by the approval policy, and decided by approvers under the
//! separation-of-duty rules of `warden_core::request`. Every step is audited with the
//! change it makes. (Provisioning the approved access on targets comes with grants.)

mod decide;
mod end;
mod file;
mod view;

pub use decide::decide;
pub use end::{cancel, expire_pending};
pub use file::{create, extend};
use view::info;
pub use view::{list, show};

use crate::service::error::{Failure, FieldIssue};
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use warden_core::authz::{Operation, Relation};
use warden_core::identity::Identity;
use warden_core::policy::{
    AccessQuery, ApproverSource, Decision, Eligibility, Policy, RequestContext, Route,
};
use warden_core::request::{
    ApprovalCase, Approver, ApproverFacts, RequestRoute, candidates as approver_candidates,
};
use warden_store::{StoredApproval, StoredRequest};

use super::access::find as find_identity;
use super::authz::{self, Object};
use crate::auth::Caller;
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
