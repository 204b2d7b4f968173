//! Reading identities and explaining access: who someone is to Warden, what they hold by
//! birthright, what they may request, and why a given request would or would not be allowed.

use warden_core::authz::{Operation, Relation};
use warden_core::identity::Identity;
use warden_core::policy::{AccessQuery, RequestContext, parse_duration};
use warden_proto::directory::{
    EntitlementInfo, ExplainParams, Explanation, IdentityDetail, IdentityInfo, RuleTraceInfo,
};
use warden_store::IdentityFilter;

use super::authz::{self, Object};
use super::directory::eligible_of;
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// The wire form of an identity.
pub fn info(i: &Identity) -> IdentityInfo {
    let hr = &i.hr;
    IdentityInfo {
        id: i.id,
        employee_id: hr.employee_id.to_string(),
        username: hr.username.to_string(),
        email: hr.email.clone(),
        name: hr.display_name.clone(),
        department: hr.department.clone(),
        job_function: hr.job_function.clone(),
        manager: hr.manager.as_ref().map(ToString::to_string),
        location: hr.location.clone(),
        status: hr.status.as_str().to_owned(),
        kind: hr.kind.as_str().to_owned(),
        start_date: hr.start_date.map(|d| d.to_string()),
        end_date: hr.end_date.map(|d| d.to_string()),
        groups: hr.groups.iter().cloned().collect(),
        source: i.source.clone(),
    }
}

/// Finds an identity by user name or employee id.
pub async fn find(state: &AppState, key: &str) -> Result<Option<Identity>, ServiceError> {
    let store = state.store();
    let by_name = store
        .find_identities(IdentityFilter::Username(&key.to_ascii_lowercase()))
        .await?;
    if let Some(found) = by_name.into_iter().next() {
        return Ok(Some(found));
    }
    Ok(store
        .find_identities(IdentityFilter::EmployeeId(key))
        .await?
        .into_iter()
        .next())
}

/// Identity `key`, if the caller may do `op` on it: their own, or anyone's with
/// `identities:read`. Someone else's is "not found" to a caller without it, as is none.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    key: &str,
    op: Operation,
) -> Result<Identity, ServiceError> {
    let object = Object::new("identity", key);
    let identity = find(state, key)
        .await?
        .ok_or_else(|| ServiceError::not_found(&object.label))?;
    let relation = if identity.hr.username == caller.user.username {
        Relation::Own
    } else {
        Relation::Other
    };
    authz::check(state, caller, op, relation, &object).await?;
    Ok(identity)
}

/// Every identity.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<IdentityInfo>, ServiceError> {
    authz::require(state, caller, Operation::IdentityList, Relation::Other).await?;
    Ok(state
        .store()
        .list_identities()
        .await?
        .iter()
        .map(info)
        .collect())
}

/// One identity with its groups, birthright and eligibility.
pub async fn detail(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<IdentityDetail, ServiceError> {
    let identity = authorized(state, caller, key, Operation::IdentityRead).await?;
    let live = state.policy();
    let today = state.clock().now().date();
    let list = |m: std::collections::BTreeMap<warden_core::policy::Entitlement, String>| {
        m.into_iter()
            .map(|(e, rule)| EntitlementInfo {
                resource: e.resource,
                role: e.role,
                rule,
            })
            .collect()
    };
    let stored = state
        .store()
        .birthright_by_identity()
        .await?
        .remove(&identity.id)
        .unwrap_or_default();
    Ok(IdentityDetail {
        policy_groups: live.policy.groups_of(&identity.hr).into_iter().collect(),
        birthright: stored
            .into_iter()
            .map(|a| EntitlementInfo {
                resource: a.resource,
                role: a.role,
                rule: a.rule,
            })
            .collect(),
        eligible: list(eligible_of(&live.policy, &identity.hr, today)),
        identity: info(&identity),
    })
}

/// Explains whether an identity may request a role on a resource, by which rule, and how
/// it would be approved.
pub async fn explain(
    state: &AppState,
    caller: &Caller,
    q: &ExplainParams,
) -> Result<Explanation, ServiceError> {
    let identity = authorized(state, caller, &q.identity, Operation::AccessExplain).await?;
    let duration = q
        .duration
        .as_deref()
        .map(|d| parse_duration(d).map_err(|e| super::duration_refused("duration", d, e)))
        .transpose()?;
    let context = RequestContext {
        source_ip: caller.client.ip,
        ticket: q.ticket.clone(),
        mfa_age_secs: q.mfa_age_secs,
        ..RequestContext::at(state.clock().now())
    };
    let live = state.policy();
    let query = AccessQuery {
        identity: &identity.hr,
        resource: &q.resource,
        role: &q.role,
        duration,
        context: &context,
    };
    let e = live.policy.explain(&query);
    let mut rules: Vec<RuleTraceInfo> = e
        .candidates
        .into_iter()
        .map(|t| RuleTraceInfo {
            rule: t.rule,
            location: t.location,
            matched: t.matched,
            reasons: t.reasons,
        })
        .collect();
    if !e.reasons.is_empty() {
        rules.insert(
            0,
            RuleTraceInfo {
                rule: "(query)".to_owned(),
                location: String::new(),
                matched: false,
                reasons: e.reasons,
            },
        );
    }
    Ok(Explanation {
        eligible: e.eligible.is_some(),
        identity: identity.hr.username.to_string(),
        resource: q.resource.clone(),
        role: q.role.clone(),
        rule: e.eligible.as_ref().map(|el| el.rule.clone()),
        location: e.eligible.as_ref().map(|el| el.location.clone()),
        max_duration_secs: e
            .eligible
            .as_ref()
            .map(|el| el.max_duration.whole_seconds()),
        ticket_required: e.eligible.as_ref().map(|el| el.ticket_required),
        approval: e.eligible.as_ref().map(|el| el.approval.name.clone()),
        route: e.route_text,
        identity_groups: e.identity_groups,
        rules,
    })
}
