//! Vaulted accounts: adding one (its password must log in), listing and showing their
//! metadata (never the secret), check-out under a running grant, check-in, and rotation
//! on demand.
//!
//! A check-out returns the current password once to the holder of a running grant on the
//! account's resource (with one of its roles), and is audited in the same transaction
//! that records it. A check-in, the holder's own or the one Warden makes when the grant
//! ends, makes the account's rotation due at once: a password that left the vault does
//! not stay valid after its use.

use std::collections::BTreeMap;

use crate::service::error::Failure;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::connector::{Connector, ConnectorError};
use warden_core::rotation::{MAX_ROTATION_INTERVAL, MIN_ROTATION_INTERVAL};
use warden_store::{Checkout, SecretVersion, StoreError, StoredGrant, VaultAccount};
use warden_vault::PasswordPolicy;

use super::authz::{self, Object};
use super::vault::keyring;
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// An account to put in the vault.
#[derive(Debug, Clone)]
pub struct Add {
    /// Its unique name, as given.
    pub name: String,
    /// The configured connection of the target.
    pub connection: String,
    /// The account on the target.
    pub username: String,
    /// Its current password.
    pub password: SecretString,
    /// The resource whose grants allow a check-out.
    pub resource: Option<String>,
    /// The roles on that resource whose grants allow a check-out (any when empty).
    pub roles: Vec<String>,
    /// Policy groups whose active members may check it out without a grant.
    pub groups: Vec<String>,
    /// How long a check-out without a grant lasts, as given (`1h` when absent).
    pub checkout_max: Option<String>,
    /// One check-out at a time.
    pub exclusive: bool,
    /// The rotation schedule, as given (the server's default when absent).
    pub rotate_every: Option<String>,
    /// Generated password length (24 when absent).
    pub password_length: Option<u32>,
    /// Whether generated passwords use symbols (yes when absent).
    pub symbols: Option<bool>,
    /// Rotate at once, so the password given stops working.
    pub rotate_now: bool,
}

/// A vaulted account with its open check-outs and whether a rotation of it is pending.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account.
    pub account: VaultAccount,
    /// Its open check-outs.
    pub checkouts: Vec<Checkout>,
    /// A rotation applied on the target but not yet confirmed.
    pub rotation_pending: bool,
}

/// A check-out to take: under a running grant of the caller's, or without one as a
/// member of one of the account's groups.
#[derive(Debug, Clone, Copy)]
pub struct CheckOut {
    /// The caller's running grant that allows it.
    pub grant: Option<Uuid>,
    /// Hold it alone until checked in (always so for an exclusive account).
    pub exclusive: bool,
}

/// A checked-out secret, given once.
#[derive(Debug, Clone)]
pub struct CheckedOut {
    /// The check-out, to check in.
    pub checkout: Uuid,
    /// The account.
    pub account: String,
    /// The user name to log in with.
    pub username: String,
    /// The password.
    pub password: SecretString,
    /// Its version.
    pub version: u64,
    /// The grant it was taken under, if any.
    pub grant: Option<Uuid>,
    /// What allowed it: `grant` or `group:NAME`.
    pub allowed_by: String,
    /// When the check-out ends.
    pub ends_at: time::OffsetDateTime,
    /// Where to connect.
    pub hints: BTreeMap<String, String>,
}

/// A check-in: the check-out to end, by default the caller's open one on the account.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckIn {
    /// The check-out.
    pub checkout: Option<Uuid>,
}

/// What a rotation request did.
#[derive(Debug, Clone)]
pub struct RotationScheduled {
    /// The account.
    pub account: String,
    /// Its version when the rotation was asked for.
    pub version: u64,
    /// When it is due (now, unless a check-out holds it).
    pub due_at: time::OffsetDateTime,
}

/// The connection kinds whose accounts the vault can rotate.
const ROTATABLE: [&str; 4] = ["postgres", "mariadb", "redis", "ssh"];

fn check_name(name: &str) -> Result<(), ServiceError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::field(
            "name",
            "must be 1 to 64 of a-z 0-9 - _ .",
        ))
    }
}

/// The connector of a vaulted account's connection.
pub(crate) fn connector_of(
    state: &AppState,
    connection: &str,
) -> Result<std::sync::Arc<dyn Connector>, String> {
    let (kind, connector) = state.connectors().configured(connection).ok_or_else(|| {
        format!("connection {connection} is not configured ([connections.{connection}])")
    })?;
    if !ROTATABLE.contains(&kind) {
        return Err(format!(
            "connection {connection} is {kind}; the vault rotates passwords on postgres, mariadb, redis and ssh connections"
        ));
    }
    Ok(connector)
}

/// Checks that the target really checks `username`'s password: a random wrong one must
/// be refused. Where it is not (trust authentication, a `nopass` user), logging in with a
/// password proves nothing, so the vault refuses to vault or rotate it.
pub(crate) async fn require_password_check(
    connector: &dyn Connector,
    connection: &str,
    username: &str,
) -> Result<(), ConnectorError> {
    let wrong = warden_core::secret::generate_password(32)
        .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
    if connector.check_login(username, &wrong).await? {
        return Err(ConnectorError::Refused(format!(
            "connection {connection} lets {username} log in with any password (trust authentication or no password): Warden cannot verify a password there"
        )));
    }
    Ok(())
}

/// Puts an account in the vault. Its password must log in now; with `rotate_now` it is
/// rotated at once, so the one given stops working.
pub async fn add(state: &AppState, caller: &Caller, body: &Add) -> Result<Account, ServiceError> {
    authz::require(state, caller, Operation::AccountAdd, Relation::Other).await?;
    check_name(&body.name)?;
    let ring = keyring(state).await?;
    let (connector, settings) = check_add(state, body)?;
    check_given_password(state, connector.as_ref(), body).await?;
    let now = state.clock().now();
    let id = warden_core::clock::id_at(now);
    let (key_id, envelope) = ring
        .seal_secret(id, 1, body.password.expose_secret().as_bytes())
        .map_err(|e| ServiceError::internal(e.to_string()))?;
    let account = new_account(body, &settings, id, now, caller.user.username.to_string());
    let secret = SecretVersion {
        account_id: id,
        version: 1,
        key_id,
        envelope,
        state: "current".to_owned(),
        created_at: now,
        committed_at: Some(now),
    };
    let event = AuditEvent::new(now, caller.actor(), Action::VaultAccountAdd)
        .target(format!("account:{}", body.name))
        .detail("connection", body.connection.as_str())
        .detail("username", body.username.as_str())
        .detail("exclusive", body.exclusive.to_string())
        .detail(
            "rotate_every",
            warden_core::policy::format_duration(settings.rotate_every),
        );
    let event = match &body.resource {
        Some(r) => event.resource(r.as_str()),
        None => event,
    };
    state
        .store()
        .vault_add_account(&account, &secret, &[event])
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ServiceError::new(
                Failure::Conflict,
                format!("vaulted account {} already exists", body.name),
            ),
            e => e.into(),
        })?;
    if body.rotate_now {
        crate::service::rotation::wake(state);
    }
    // New: nothing checked out, no rotation staged yet.
    Ok(Account {
        account,
        checkouts: Vec::new(),
        rotation_pending: false,
    })
}

/// The settings of an account to add, checked.
struct AddSettings {
    /// How its passwords are generated.
    policy: PasswordPolicy,
    /// Its rotation schedule.
    rotate_every: time::Duration,
    /// How long a check-out without a grant lasts.
    checkout_max: time::Duration,
}

/// Checks what `body` asks for against the configuration and the policy in force, in
/// the order the errors are reported: user name, connection, password policy, rotation
/// schedule, resource, roles, groups, check-out length.
fn check_add(
    state: &AppState,
    body: &Add,
) -> Result<(std::sync::Arc<dyn Connector>, AddSettings), ServiceError> {
    if body.username.is_empty() || body.username.len() > 256 || body.username.contains('\0') {
        return Err(ServiceError::field(
            "username",
            "must be 1 to 256 characters",
        ));
    }
    let connector = connector_of(state, &body.connection)
        .map_err(|m| ServiceError::unprocessable("connection", m))?;
    let policy = PasswordPolicy {
        length: usize::try_from(body.password_length.unwrap_or(24)).unwrap_or(usize::MAX),
        symbols: body.symbols.unwrap_or(true),
    };
    policy
        .check()
        .map_err(|e| ServiceError::field("password_length", e.to_string()))?;
    let rotate_every = match &body.rotate_every {
        Some(raw) => warden_core::policy::parse_duration_within(raw, MAX_ROTATION_INTERVAL)
            .map_err(|e| super::duration_refused("rotate_every", raw, e))?,
        None => state
            .config()
            .vault
            .default_rotation()
            .map_err(ServiceError::internal)?,
    };
    if rotate_every < MIN_ROTATION_INTERVAL {
        return Err(ServiceError::unprocessable(
            "rotate_every",
            "must be at least 1h",
        ));
    }
    check_allowed_by(state, body)?;
    let checkout_max = match &body.checkout_max {
        Some(raw) => warden_core::policy::parse_duration_within(raw, time::Duration::hours(24))
            .map_err(|e| super::duration_refused("checkout_max", raw, e))?,
        None => time::Duration::hours(1),
    };
    Ok((
        connector,
        AddSettings {
            policy,
            rotate_every,
            checkout_max,
        },
    ))
}

/// Checks what would allow a check-out of the account: its resource and groups must be
/// in the policy in force, and roles need a resource.
fn check_allowed_by(state: &AppState, body: &Add) -> Result<(), ServiceError> {
    if let Some(r) = &body.resource
        && state.policy().policy.resource(r).is_none()
    {
        return Err(ServiceError::unprocessable(
            "resource",
            format!("resource {r} is not in the policy in force"),
        ));
    }
    if !body.roles.is_empty() && body.resource.is_none() {
        return Err(ServiceError::unprocessable(
            "roles",
            "roles need a resource",
        ));
    }
    let policy = state.policy();
    if let Some(g) = body
        .groups
        .iter()
        .find(|g| !policy.policy.groups().any(|known| known.name == **g))
    {
        return Err(ServiceError::unprocessable(
            "groups",
            format!("group {g} is not in the policy in force"),
        ));
    }
    Ok(())
}

/// Checks that the account is not vaulted yet, that the target checks its password, and
/// that the password given logs in.
async fn check_given_password(
    state: &AppState,
    connector: &dyn Connector,
    body: &Add,
) -> Result<(), ServiceError> {
    if state.store().vault_account(&body.name).await?.is_some() {
        return Err(ServiceError::new(
            Failure::Conflict,
            format!("vaulted account {} already exists", body.name),
        ));
    }
    require_password_check(connector, &body.connection, &body.username)
        .await
        .map_err(|e| super::targets::connector_error(&e))?;
    match connector.check_login(&body.username, &body.password).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ServiceError::unprocessable(
            "password",
            format!(
                "it does not log in as {} on connection {}",
                body.username, body.connection
            ),
        )),
        Err(e) => Err(super::targets::connector_error(&e)),
    }
}

/// The record of a new vaulted account at its first version, due for rotation after
/// its schedule (at once with `rotate_now`).
fn new_account(
    body: &Add,
    settings: &AddSettings,
    id: Uuid,
    now: time::OffsetDateTime,
    created_by: String,
) -> VaultAccount {
    VaultAccount {
        id,
        name: body.name.clone(),
        connection: body.connection.clone(),
        username: body.username.clone(),
        resource: body.resource.clone(),
        roles: body.roles.clone(),
        groups: body.groups.clone(),
        checkout_max_secs: settings.checkout_max.whole_seconds(),
        exclusive: body.exclusive,
        rotate_every_secs: settings.rotate_every.whole_seconds(),
        password_length: u32::try_from(settings.policy.length).unwrap_or(u32::MAX),
        password_symbols: settings.policy.symbols,
        version: 1,
        next_rotation_at: if body.rotate_now {
            now
        } else {
            now + settings.rotate_every
        },
        rotation_failures: 0,
        last_rotated_at: None,
        last_error: None,
        created_at: now,
        created_by,
    }
}

/// Every vaulted account's metadata, in three queries however many accounts there are.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Account>, ServiceError> {
    authz::require(state, caller, Operation::AccountRead, Relation::Other).await?;
    let store = state.store();
    let mut open: std::collections::HashMap<Uuid, Vec<Checkout>> = std::collections::HashMap::new();
    for c in store.vault_all_open_checkouts().await? {
        open.entry(c.account_id).or_default().push(c);
    }
    let pending: std::collections::HashSet<(Uuid, u64)> = store
        .vault_pending()
        .await?
        .into_iter()
        .map(|s| (s.account_id, s.version))
        .collect();
    Ok(store
        .vault_accounts()
        .await?
        .into_iter()
        .map(|a| {
            let checkouts = open.remove(&a.id).unwrap_or_default();
            let rotating = pending.contains(&(a.id, a.version + 1));
            Account {
                account: a,
                checkouts,
                rotation_pending: rotating,
            }
        })
        .collect())
}

async fn find(state: &AppState, name: &str) -> Result<VaultAccount, ServiceError> {
    state
        .store()
        .vault_account(name)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("vaulted account {name}")))
}

/// One vaulted account's metadata.
pub async fn show(state: &AppState, caller: &Caller, name: &str) -> Result<Account, ServiceError> {
    authz::require(state, caller, Operation::AccountRead, Relation::Other).await?;
    let a = find(state, name).await?;
    let checkouts = state.store().vault_open_checkouts(a.id).await?;
    let pending = state
        .store()
        .vault_secret(a.id, a.version + 1)
        .await?
        .is_some_and(|s| s.state == "pending");
    Ok(Account {
        account: a,
        checkouts,
        rotation_pending: pending,
    })
}

/// Checks out the account's current password under the caller's running grant.
pub async fn checkout(
    state: &AppState,
    caller: &Caller,
    name: &str,
    body: &CheckOut,
) -> Result<CheckedOut, ServiceError> {
    authz::gate(state, caller, Operation::AccountCheckout).await?;
    let ring = keyring(state).await?;
    let now = state.clock().now();
    let a = find(state, name).await?;
    let (grant, allowed_by, ends_at) = allowance(state, caller, &a, body.grant, now).await?;
    let password = ring
        .current_password(state.store(), &a)
        .await
        .map_err(ServiceError::internal)?;
    let exclusive = a.exclusive || body.exclusive;
    let checkout = Checkout {
        id: warden_core::clock::id_at(now),
        account_id: a.id,
        grant_id: grant.as_ref().map(|g| g.id),
        username: caller.user.username.to_string(),
        version: a.version,
        exclusive,
        checked_out_at: now,
        expires_at: ends_at,
        checked_in_at: None,
        checkin_reason: None,
    };
    let mut event = AuditEvent::new(now, caller.actor(), Action::VaultCheckout)
        .target(format!("account:{name}"))
        .detail("checkout", checkout.id.to_string())
        .detail("username", a.username.as_str())
        .detail("version", a.version.to_string())
        .detail("exclusive", exclusive.to_string())
        .detail("allowed_by", allowed_by.as_str())
        .detail("ends_at", ends_at.to_string());
    if let Some(g) = &grant {
        event = event.resource(g.resource.as_str()).grant(g.id);
    } else if let Some(r) = &a.resource {
        event = event.resource(r.as_str());
    }
    state
        .store()
        .vault_checkout(&checkout, &[event])
        .await
        .map_err(|e| match e {
            StoreError::Conflict(why) => ServiceError::new(
                Failure::Conflict,
                format!("account {name} cannot be checked out now: there is {why}"),
            ),
            e => e.into(),
        })?;
    Ok(CheckedOut {
        checkout: checkout.id,
        account: a.name,
        username: a.username,
        password,
        version: a.version,
        grant: grant.map(|g| g.id),
        allowed_by,
        ends_at,
        hints: BTreeMap::from([("connection".to_owned(), a.connection)]),
    })
}

/// What allows the caller's check-out of `a`: the running grant named (on the account's
/// resource, with one of its roles), or without one a policy group of the account the
/// caller is a member of. Returns the grant, what allowed it (`grant` or `group:NAME`)
/// and when the check-out ends. A check-out refused by the account's own rules (the
/// wrong grant, no group) is audited as a refusal, as the table's are.
async fn allowance(
    state: &AppState,
    caller: &Caller,
    a: &VaultAccount,
    grant: Option<Uuid>,
    now: time::OffsetDateTime,
) -> Result<(Option<StoredGrant>, String, time::OffsetDateTime), ServiceError> {
    let name = &a.name;
    let object = Object::new("account", &a.name);
    let refuse = async |e: ServiceError| {
        authz::refused(state, caller, Operation::AccountCheckout, Some(&object), e).await
    };
    match grant {
        Some(id) => {
            let (_me, g) = super::targets::held_grant(state, caller, id, now).await?;
            let allowed = a.resource.as_deref() == Some(g.resource.as_str())
                && (a.roles.is_empty() || a.roles.contains(&g.role));
            if !allowed {
                let e = ServiceError::new(
                    Failure::Forbidden,
                    format!(
                        "grant {} is for {} on {}; account {name} is checked out under grants on {} with roles [{}]",
                        g.id,
                        g.role,
                        g.resource,
                        a.resource.as_deref().unwrap_or("(no resource)"),
                        a.roles.join(", ")
                    ),
                );
                return Err(refuse(e).await);
            }
            let ends = g.ends_at.unwrap_or(now);
            Ok((Some(g), "grant".to_owned(), ends))
        }
        None => {
            let group = match policy_group(state, caller, a).await {
                Ok(group) => group,
                Err(e) if e.kind() == Failure::Forbidden => return Err(refuse(e).await),
                Err(e) => return Err(e),
            };
            let ends = now + time::Duration::seconds(a.checkout_max_secs);
            Ok((None, format!("group:{group}"), ends))
        }
    }
}

/// The account's policy group the caller belongs to, which allows a check-out without a
/// grant: the caller must be an active identity in one of the account's `groups`.
async fn policy_group(
    state: &AppState,
    caller: &Caller,
    a: &VaultAccount,
) -> Result<String, ServiceError> {
    let refused = || {
        ServiceError::new(
            Failure::Forbidden,
            format!(
                "account {} is checked out under a running grant (name it with grant){}",
                a.name,
                if a.groups.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", or without one by active members of [{}]",
                        a.groups.join(", ")
                    )
                }
            ),
        )
    };
    if a.groups.is_empty() {
        return Err(refused());
    }
    let me = super::access::find(state, caller.user.username.as_str())
        .await?
        .ok_or_else(refused)?;
    if me.hr.status != warden_core::identity::EmploymentStatus::Active {
        return Err(refused());
    }
    let theirs = state.policy().policy.groups_of(&me.hr);
    a.groups
        .iter()
        .find(|g| theirs.contains(g.as_str()))
        .cloned()
        .ok_or_else(refused)
}

/// Checks in the caller's open check-out of the account (or, for an admin, any named
/// one). The account's rotation is due at once.
pub async fn checkin(
    state: &AppState,
    caller: &Caller,
    name: &str,
    body: &CheckIn,
) -> Result<Checkout, ServiceError> {
    authz::gate(state, caller, Operation::AccountCheckin).await?;
    let a = find(state, name).await?;
    let open = state.store().vault_open_checkouts(a.id).await?;
    let me = caller.user.username.as_str();
    let chosen = match body.checkout {
        Some(id) => open.into_iter().find(|c| c.id == id),
        None => open.into_iter().find(|c| c.username == me),
    };
    let Some(c) = chosen else {
        return Err(ServiceError::not_found(format!(
            "an open check-out of {name} by {me}"
        )));
    };
    let relation = if c.username == me {
        Relation::Own
    } else {
        Relation::Other
    };
    let object =
        Object::new("checkout", c.id).labelled(format!("an open check-out of {name} by {me}"));
    authz::check(state, caller, Operation::AccountCheckin, relation, &object).await?;
    let now = state.clock().now();
    let reason = if c.username == me {
        "checked in by its holder"
    } else {
        "checked in by an administrator"
    };
    let done = check_in(state, caller.actor(), name, &c, reason, now)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("an open check-out {}", c.id)))?;
    crate::service::rotation::wake(state);
    Ok(done)
}

/// Checks in `c`, a check-out of account `name`, at `now` for `reason`, audited as
/// `actor`'s in the same transaction; the account's rotation is then due. `None` when it
/// was already checked in.
pub(crate) async fn check_in(
    state: &AppState,
    actor: Actor,
    name: &str,
    c: &Checkout,
    reason: &str,
    now: time::OffsetDateTime,
) -> Result<Option<Checkout>, StoreError> {
    let mut event = AuditEvent::new(now, actor, Action::VaultCheckin)
        .target(format!("account:{name}"))
        .detail("checkout", c.id.to_string())
        .detail("holder", c.username.as_str())
        .reason(reason);
    if let Some(g) = c.grant_id {
        event = event.grant(g);
    }
    state
        .store()
        .vault_checkin(c.id, now, reason, &[event])
        .await
}

/// Makes the account's rotation due now; the rotation worker carries it out (after any
/// open check-out ends).
pub async fn request_rotation(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<RotationScheduled, ServiceError> {
    authz::require(state, caller, Operation::AccountRotate, Relation::Other).await?;
    keyring(state).await?;
    let a = find(state, name).await?;
    let now = state.clock().now();
    let event = AuditEvent::new(now, caller.actor(), Action::VaultRotateRequest)
        .target(format!("account:{name}"))
        .detail("version", a.version.to_string());
    state
        .store()
        .vault_schedule_rotation(a.id, now, &[event])
        .await?;
    crate::service::rotation::wake(state);
    Ok(RotationScheduled {
        account: a.name,
        version: a.version,
        due_at: now,
    })
}

/// The current password of a vaulted account, for Warden's own use (tests, benchmarks,
/// connectors through [`crate::vault::VaultPasswords`]). Never exposed by the API.
pub async fn current_password(
    state: &AppState,
    name: &str,
) -> Result<Option<SecretString>, ServiceError> {
    let ring = keyring(state).await?;
    let Some(a) = state.store().vault_account(name).await? else {
        return Ok(None);
    };
    ring.current_password(state.store(), &a)
        .await
        .map(Some)
        .map_err(ServiceError::internal)
}
