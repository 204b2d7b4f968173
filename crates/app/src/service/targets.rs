//! What a grant's holder takes to the target, and what Warden finds there.
//!
//! - A **credential**: a fresh password set on the grant's account, returned once to the
//!   holder and to nobody else (not even administrators). Warden keeps no copy; asking
//!   again sets a new one and the old one stops working.
//! - An **SSH certificate**: the holder's public key signed by Warden's CA, carrying the
//!   role's principals, valid from now (back-dated by the clock-skew margin) to the
//!   grant's end rounded down to the second, and never longer than `[ssh]
//!   certificate_max_secs`. In the grant's last second nothing is signed: the
//!   certificate would already have expired.
//! - The **inventory** of accounts on a resource's target, with the resource's tier, for
//!   the standing-privilege report.
//!
//! Each issue is audited before the credential leaves: when the event cannot be written,
//! nothing is issued.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::service::error::Failure;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use warden_connectors::ssh::{CertRequest, NoWindow, SignedCertificate, window};
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::connector::{Account, Connector, ConnectorError, Origin, RoleTarget};
use warden_core::policy::Resource;
use warden_core::request::RequestState;
use warden_store::StoredGrant;

use super::access::find as find_identity;
use super::authz;
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::service::expiry::access_spec;
use crate::state::AppState;

/// A credential for a grant, given once to its holder.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The grant.
    pub grant: Uuid,
    /// The account to log in as.
    pub username: String,
    /// Its new password.
    pub password: SecretString,
    /// Where and how to connect.
    pub hints: BTreeMap<String, String>,
    /// When the grant ends.
    pub ends_at: Option<OffsetDateTime>,
}

/// A public key to sign for the caller's running grant on an ssh resource.
#[derive(Debug, Clone)]
pub struct SignSsh {
    /// The ssh resource.
    pub resource: String,
    /// The role, when the caller holds several there.
    pub role: Option<String>,
    /// The public key, in OpenSSH form.
    pub public_key: String,
}

/// A signed SSH certificate and where to use it.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// The grant it was signed for.
    pub grant: Uuid,
    /// The certificate.
    pub certificate: SignedCertificate,
    /// The host to connect to.
    pub host: String,
    /// Its port.
    pub port: u16,
}

/// The accounts found on a resource's target.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The resource.
    pub resource: Resource,
    /// Each account, with how it is labelled in reports (see [`origin_name`]).
    pub accounts: Vec<(Account, &'static str)>,
}

/// The caller's identity and the running grant `id` they hold, for what only a grant's
/// holder may take (its credential, a check-out under it). Someone else's grant is 404
/// (the same answer as for none), or 403 to those who may see it.
pub(crate) async fn held_grant(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(warden_core::identity::Identity, StoredGrant), ServiceError> {
    let g = super::grants::authorized(state, caller, id, Operation::GrantCredential).await?;
    let me = find_identity(state, caller.user.username.as_str())
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("grant {id}")))?;
    let running = g.state == RequestState::Active
        && g.starts_at.is_some_and(|s| s <= now)
        && g.ends_at.is_some_and(|e| e > now);
    if !running {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!(
                "grant {id} is {}, not running: nothing can be issued for it",
                g.state
            ),
        ));
    }
    Ok((me, g))
}

/// A connector's failure as an API error: unreachable → 503, refused → 409.
pub(crate) fn connector_error(e: &ConnectorError) -> ServiceError {
    match e {
        ConnectorError::Unavailable(m) => ServiceError::new(
            Failure::Unavailable,
            format!("the target is unavailable: {m}"),
        ),
        ConnectorError::Refused(m) => {
            ServiceError::new(Failure::Conflict, format!("the target refused: {m}"))
        }
    }
}

/// Sets a new password on the account of grant `id` and returns it to its holder.
pub async fn credential(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<Credential, ServiceError> {
    let now = state.clock().now();
    let (me, g) = held_grant(state, caller, id, now).await?;
    let connector = state
        .connectors()
        .for_resource(&g.target_kind, &g.connection)
        .map_err(|e| connector_error(&e))?;
    let until = g.ends_at.unwrap_or(now);
    let spec = access_spec(
        state,
        &g,
        me.hr.employee_id.as_str(),
        me.hr.username.as_str(),
        until,
    );
    let event = AuditEvent::new(now, caller.actor(), Action::GrantCredential)
        .target(format!("grant:{id}"))
        .detail("resource", g.resource.as_str())
        .detail("role", g.role.as_str())
        .detail(
            "account",
            g.handle.clone().unwrap_or_else(|| spec.account_name()),
        );
    state.store().append_audit(&event).await?;
    match connector.credential(&spec, g.handle.as_deref()).await {
        Ok(c) => Ok(Credential {
            grant: id,
            username: c.username,
            password: c.secret,
            hints: c.hints,
            ends_at: g.ends_at,
        }),
        Err(e) => {
            let failed = AuditEvent::new(now, caller.actor(), Action::GrantCredential)
                .target(format!("grant:{id}"))
                .failed(e.to_string());
            state.store().append_audit(&failed).await?;
            Err(connector_error(&e))
        }
    }
}

/// The public key of Warden's SSH certificate authority.
pub fn ssh_ca(state: &AppState) -> Result<String, ServiceError> {
    let ca = state
        .ssh_ca()
        .map_err(|e| ServiceError::internal(std::io::Error::other(e)))?;
    Ok(ca.public_key())
}

/// Signs the caller's public key for their running grant on an ssh resource.
pub async fn sign_ssh(
    state: &AppState,
    caller: &Caller,
    req: &SignSsh,
) -> Result<Certificate, ServiceError> {
    authz::require(state, caller, Operation::SshSign, Relation::Own).await?;
    let now = state.clock().now();
    let policy = state.policy();
    let resource = policy
        .policy
        .resource(&req.resource)
        .cloned()
        .ok_or_else(|| ServiceError::not_found(format!("resource {}", req.resource)))?;
    if resource.kind.as_str() != "ssh" {
        return Err(ServiceError::unprocessable(
            "resource",
            format!(
                "{} is a {} resource, not ssh",
                resource.name,
                resource.kind.as_str()
            ),
        ));
    }
    let me = find_identity(state, caller.user.username.as_str())
        .await?
        .ok_or_else(|| {
            ServiceError::new(Failure::Forbidden, "you are not an identity in Warden")
        })?;
    let g = running_grant(state, me.id, &resource, req.role.as_deref(), now).await?;
    let role = policy.policy.role("ssh", &g.role).ok_or_else(|| {
        ServiceError::new(
            Failure::Conflict,
            format!("role {} is no longer in policy", g.role),
        )
    })?;
    let RoleTarget::Ssh {
        principals,
        extensions,
        force_command,
    } = &role.target
    else {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!("role {} has no principals in policy", role.name),
        ));
    };
    let (start, end) = (g.starts_at.unwrap_or(now), g.ends_at.unwrap_or(now));
    let max =
        Duration::seconds(i64::try_from(state.config().ssh.certificate_max_secs).unwrap_or(300));
    let (valid_after, valid_before) = window(start, end, now, max).map_err(|e| {
        let why = match e {
            NoWindow::Ended => format!("grant {} has ended", g.id),
            other => format!("grant {}: {other}", g.id),
        };
        ServiceError::new(Failure::Conflict, why)
    })?;
    let (host, port) = ssh_target(state, &resource)?;
    let ca = state
        .ssh_ca()
        .map_err(|e| ServiceError::internal(std::io::Error::other(e)))?;
    let key_id = format!(
        "warden:{}:{}:{}",
        me.hr.employee_id.as_str(),
        g.id,
        resource.name
    );
    let serial = u64::from_be_bytes(
        g.id.as_bytes()
            .get(8..16)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .unwrap_or_default(),
    ) ^ u64::try_from(now.unix_timestamp()).unwrap_or_default();
    let cert = ca
        .sign(&CertRequest {
            public_key: req.public_key.trim(),
            key_id: &key_id,
            serial,
            principals,
            extensions,
            force_command: force_command.as_deref(),
            valid_after,
            valid_before,
        })
        .map_err(|e| ServiceError::unprocessable("public_key", e.to_string()))?;
    let event = AuditEvent::new(now, caller.actor(), Action::SshCertificate)
        .target(format!("grant:{}", g.id))
        .detail("resource", resource.name.as_str())
        .detail("role", g.role.as_str())
        .detail("principals", principals.join(" "))
        .detail("serial", serial.to_string())
        .detail("valid_before", valid_before.to_string());
    state.store().append_audit(&event).await?;
    Ok(Certificate {
        grant: g.id,
        certificate: cert,
        host,
        port,
    })
}

/// Where people reach an ssh resource: its connection's host and port, or (when the
/// connection is not configured) the connection name on port 22.
fn ssh_target(state: &AppState, resource: &Resource) -> Result<(String, u16), ServiceError> {
    match state.config().connections.get(&resource.connection) {
        Some(warden_connectors::ConnectionConfig::Ssh(c)) => Ok((c.host.clone(), c.port)),
        Some(other) => Err(ServiceError::new(
            Failure::Conflict,
            format!(
                "connection {} is configured for {}, not ssh",
                resource.connection,
                other.kind()
            ),
        )),
        None => Ok((resource.connection.clone(), 22)),
    }
}

/// The caller's running grant on `resource` (of `role`, when given), the one ending last.
async fn running_grant(
    state: &AppState,
    identity: Uuid,
    resource: &Resource,
    role: Option<&str>,
    now: OffsetDateTime,
) -> Result<StoredGrant, ServiceError> {
    let mut running: Vec<StoredGrant> = state
        .store()
        .live_grants_of_identities(&[identity])
        .await?
        .into_iter()
        .filter(|g| {
            g.resource == resource.name
                && g.state == RequestState::Active
                && role.is_none_or(|r| r == g.role)
                && g.starts_at.is_some_and(|s| s <= now)
                && g.ends_at.is_some_and(|e| e > now)
        })
        .collect();
    running.sort_by_key(|g| std::cmp::Reverse(g.ends_at));
    let roles: std::collections::BTreeSet<&str> = running.iter().map(|g| g.role.as_str()).collect();
    if roles.len() > 1 {
        return Err(ServiceError::unprocessable(
            "role",
            format!(
                "you hold several roles on {}: name one of {}",
                resource.name,
                roles.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    running.into_iter().next().ok_or_else(|| {
        ServiceError::new(
            Failure::Forbidden,
            format!(
                "you hold no running grant on {}: request access first",
                resource.name
            ),
        )
    })
}

/// The resource and the connector configured for it, for discovery and reconciliation.
pub(crate) fn configured(
    state: &AppState,
    name: &str,
) -> Result<(Resource, Arc<dyn Connector>), ServiceError> {
    let resource = state
        .policy()
        .policy
        .resource(name)
        .cloned()
        .ok_or_else(|| ServiceError::not_found(format!("resource {name}")))?;
    let connector = match state.connectors().configured(&resource.connection) {
        Some((_, c)) => c,
        None => {
            return Err(ServiceError::new(
                Failure::Conflict,
                format!(
                    "resource {name}: connection {} is not configured ([connections.{}]), so there is no target to look at",
                    resource.connection, resource.connection
                ),
            ));
        }
    };
    Ok((resource, connector))
}

/// The accounts on a resource's target, marked by origin. Needs `admin` or `audit:read`.
pub async fn inventory(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<Inventory, ServiceError> {
    authz::require(state, caller, Operation::TargetInventory, Relation::Other).await?;
    let (resource, connector) = configured(state, name)?;
    let accounts = connector
        .discover()
        .await
        .map_err(|e| connector_error(&e))?;
    let accounts = accounts
        .into_iter()
        .map(|a| {
            let origin = origin_name(&resource, &a);
            (a, origin)
        })
        .collect();
    Ok(Inventory { resource, accounts })
}

/// How an account is labelled in reports.
pub(crate) fn origin_name(resource: &Resource, a: &Account) -> &'static str {
    match a.origin {
        Origin::Warden => "warden",
        Origin::Connector => "connector",
        Origin::Other if resource.standing.contains(&a.name) => "standing",
        Origin::Other => "unknown",
    }
}
