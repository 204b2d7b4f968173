//! Grants as people and other systems see them: listing, early revocation, and the
//! access check. Provisioning and expiry are the worker's ([`super::expiry`]); this layer
//! only queues and ends grants, in the transaction of the change that asks for it.

use crate::service::error::Failure;
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::identity::Identity;
use warden_core::policy::Resource;
use warden_core::request::{Event, RequestKind, RequestState, TransitionError};
use warden_store::{GrantFilter, StoredGrant, StoredRequest};

use super::access::find as find_identity;
use super::authz::{self, Object};
use super::check_label;
use crate::access_index::Answer;
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// The grant an approved request queues: provisioning, due at once (or at the request's
/// start, if that is later). Its window is set when the target confirms the access.
pub(crate) fn queue(
    r: &StoredRequest,
    resource: &Resource,
    now: OffsetDateTime,
) -> Result<StoredGrant, TransitionError> {
    Ok(StoredGrant {
        id: warden_core::clock::id_at(now),
        request_id: r.id,
        identity_id: r.beneficiary_id,
        resource: r.resource.clone(),
        role: r.role.clone(),
        target_kind: resource.kind.as_str().to_owned(),
        connection: resource.connection.clone(),
        kind: r.kind,
        state: RequestState::Approved.next(Event::StartProvisioning)?,
        duration_secs: r.duration_secs,
        starts_at: None,
        ends_at: None,
        due_at: Some(r.start_at.map_or(now, |start| start.max(now))),
        attempts: 0,
        last_error: None,
        handle: None,
        end_reason: None,
        warned: false,
        created_at: now,
        updated_at: now,
    })
}

/// A grant with its holder.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The grant as stored.
    pub grant: StoredGrant,
    /// Its holder's identity; `None` once the identity no longer exists.
    pub holder: Option<Identity>,
}

/// Which grants [`list`] returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct List {
    /// Everyone's grants, not only the caller's.
    pub all: bool,
    /// Only live ones (provisioning, active, revoking).
    pub live: bool,
}

/// What [`check`] asks: whether `identity` (employee id or user name) holds `role` on
/// `resource` now.
#[derive(Debug, Clone)]
pub struct Check {
    /// The identity: employee id or user name.
    pub identity: String,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
}

/// The answer of [`check`].
#[derive(Debug, Clone)]
pub struct Access {
    /// Allowed now.
    pub allowed: bool,
    /// The grant that allows it (the one ending last).
    pub grant: Option<Uuid>,
    /// When that grant ends.
    pub ends_at: Option<OffsetDateTime>,
    /// Break-glass access.
    pub breakglass: bool,
}

/// A grant with its holder, as the directory knows them now.
pub(crate) async fn with_holder(state: &AppState, g: StoredGrant) -> Result<Grant, ServiceError> {
    let holder = super::identity_by_id(state, g.identity_id).await?;
    Ok(Grant { grant: g, holder })
}

/// The caller's grants, or everyone's (`all`) for administrators and auditors.
pub async fn list(state: &AppState, caller: &Caller, q: &List) -> Result<Vec<Grant>, ServiceError> {
    let relation = if q.all {
        Relation::Other
    } else {
        Relation::Own
    };
    authz::require(state, caller, Operation::GrantList, relation).await?;
    let rows = if q.all {
        state
            .store()
            .list_grants(if q.live {
                GrantFilter::Live
            } else {
                GrantFilter::All
            })
            .await?
    } else {
        let me = find_identity(state, caller.user.username.as_str())
            .await?
            .ok_or_else(|| {
                ServiceError::new(
                    Failure::Forbidden,
                    format!(
                        "user {} has no identity in the directory",
                        caller.user.username
                    ),
                )
            })?;
        let mut rows = state
            .store()
            .list_grants(GrantFilter::Identity(me.id))
            .await?;
        if q.live {
            rows.retain(|g| RequestState::LIVE.contains(&g.state));
        }
        rows
    };
    let mut out = Vec::with_capacity(rows.len());
    for g in rows {
        out.push(with_holder(state, g).await?);
    }
    Ok(out)
}

/// Grant `id`, if the caller may do `op` on it: their own, or anyone's as the table
/// allows. A caller who may not even see it is told it was not found.
pub(crate) async fn authorized(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    op: Operation,
) -> Result<StoredGrant, ServiceError> {
    authz::gate(state, caller, op).await?;
    let object = Object::new("grant", id);
    let g = state
        .store()
        .grant(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(&object.label))?;
    let me = find_identity(state, caller.user.username.as_str()).await?;
    let relation = if me.is_some_and(|me| me.id == g.identity_id) {
        Relation::Own
    } else {
        Relation::Other
    };
    authz::check(state, caller, op, relation, &object).await?;
    Ok(g)
}

/// One grant.
pub async fn show(state: &AppState, caller: &Caller, id: Uuid) -> Result<Grant, ServiceError> {
    let g = authorized(state, caller, id, Operation::GrantRead).await?;
    with_holder(state, g).await
}

/// Ends a grant now, before its time: by its holder or an administrator (an auditor may
/// see it, not end it). The worker revokes it at once; another grant of the same access
/// that still runs keeps it.
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    reason: &str,
) -> Result<Grant, ServiceError> {
    let g = authorized(state, caller, id, Operation::GrantRevoke).await?;
    let reason = check_label("reason", reason, 2000)?;
    if !g.state.keeps_access() {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!(
                "grant {id} is {}; only a provisioning or active grant can be revoked",
                g.state
            ),
        ));
    }
    let now = state.clock().now();
    let event = AuditEvent::new(now, caller.actor(), Action::GrantRevoke)
        .target(format!("grant:{id}"))
        .reason(reason.clone())
        .detail("request", g.request_id.to_string())
        .detail("resource", g.resource.as_str())
        .detail("role", g.role.as_str());
    let ended = state
        .store()
        .end_grants(
            &[id],
            now,
            &format!("revoked by {}: {reason}", caller.user.username),
            &[],
            &[event],
        )
        .await?;
    if ended == 0 {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!("grant {id} ended meanwhile"),
        ));
    }
    state.wake_grants();
    let g = state
        .store()
        .grant(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("grant {id}")))?;
    with_holder(state, g).await
}

/// Whether `identity` holds `role` on `resource` now, with the grant and its end. Needs
/// `identities:read`.
pub async fn check(state: &AppState, caller: &Caller, q: &Check) -> Result<Access, ServiceError> {
    authz::gate(state, caller, Operation::AccessCheck).await?;
    let now = state.clock().now();
    // From memory when the index is fresh and knows the user name.
    let username = q.identity.to_ascii_lowercase();
    match state
        .access_index()
        .check(state.store(), &username, &q.resource, &q.role, now)
        .await
    {
        Answer::Allowed(r) => {
            return Ok(Access {
                allowed: true,
                grant: Some(r.grant),
                ends_at: Some(r.ends_at),
                breakglass: r.breakglass,
            });
        }
        Answer::Denied => return Ok(denied()),
        Answer::Unknown => {}
    }
    // Else the identity named by its user name, with its grant, in one query. A miss (no
    // grant, or the key is an employee id) takes the full path below, which tells an
    // unknown identity (404) from one without access.
    let fast = state
        .store()
        .active_grant_of_username(&username, &q.resource, &q.role, now)
        .await?;
    let found = match fast {
        Some(g) => Some(g),
        None => {
            let Some(who) = find_identity(state, &q.identity).await? else {
                return Err(ServiceError::not_found(format!("identity {}", q.identity)));
            };
            state
                .store()
                .active_grant(who.id, &q.resource, &q.role, now)
                .await?
        }
    };
    Ok(match found {
        Some(g) => Access {
            allowed: true,
            grant: Some(g.id),
            ends_at: g.ends_at,
            breakglass: g.kind == RequestKind::BreakGlass,
        },
        None => denied(),
    })
}

fn denied() -> Access {
    Access {
        allowed: false,
        grant: None,
        ends_at: None,
        breakglass: false,
    }
}
