//! Reading identities and explaining access: who someone is to Warden, what they hold by
//! birthright, what they may request, and why a given request would or would not be allowed.

use std::collections::BTreeMap;
use warden_core::authz::{Operation, Relation};

use warden_core::identity::Identity;
use warden_core::policy::{AccessQuery, Entitlement, Explanation, RequestContext, parse_duration};
use warden_store::{Assignment, IdentityFilter};

use super::authz::{self, Object};
use super::directory::eligible_of;
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// An identity with its policy groups, birthright and eligibility.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The identity.
    pub identity: Identity,
    /// The policy groups it is in.
    pub policy_groups: Vec<String>,
    /// What it holds by birthright, as assigned.
    pub birthright: Vec<Assignment>,
    /// What it may request, each with the rule that allows it.
    pub eligible: BTreeMap<Entitlement, String>,
}

/// A question: may this identity request this role on this resource, on these terms?
#[derive(Debug, Clone)]
pub struct Explain {
    /// User name or employee id.
    pub identity: String,
    /// The resource.
    pub resource: String,
    /// The role.
    pub role: String,
    /// How long, as given.
    pub duration: Option<String>,
    /// A ticket reference.
    pub ticket: Option<String>,
    /// Seconds since the identity's last MFA.
    pub mfa_age_secs: Option<i64>,
}

/// The answer to an [`Explain`]: policy's explanation for the identity.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The identity asked about.
    pub identity: Identity,
    /// The resource asked about.
    pub resource: String,
    /// The role asked about.
    pub role: String,
    /// Policy's explanation.
    pub explanation: Explanation,
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
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Identity>, ServiceError> {
    authz::require(state, caller, Operation::IdentityList, Relation::Other).await?;
    Ok(state.store().list_identities().await?)
}

/// One identity with its groups, birthright and eligibility.
pub async fn detail(state: &AppState, caller: &Caller, key: &str) -> Result<Detail, ServiceError> {
    let identity = authorized(state, caller, key, Operation::IdentityRead).await?;
    let live = state.policy();
    let today = state.clock().now().date();
    let birthright = state
        .store()
        .birthright_by_identity()
        .await?
        .remove(&identity.id)
        .unwrap_or_default();
    Ok(Detail {
        policy_groups: live.policy.groups_of(&identity.hr).into_iter().collect(),
        birthright,
        eligible: eligible_of(&live.policy, &identity.hr, today),
        identity,
    })
}

/// Explains whether an identity may request a role on a resource, by which rule, and how
/// it would be approved.
pub async fn explain(
    state: &AppState,
    caller: &Caller,
    q: &Explain,
) -> Result<Explained, ServiceError> {
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
    let explanation = live.policy.explain(&query);
    Ok(Explained {
        identity,
        resource: q.resource.clone(),
        role: q.role.clone(),
        explanation,
    })
}
