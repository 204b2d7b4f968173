//! Audit events: the record of every change and decision. The store writes each event in
//! the same transaction as the change it describes; an event that cannot be written means
//! the change does not happen. Events never hold secrets.

use std::collections::BTreeMap;
use std::net::IpAddr;
use time::OffsetDateTime;
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The server created its initial administrator on first start.
    SystemBootstrap,
    /// A user logged in with a password and received a session token.
    AuthLogin,
    /// A login failed (unknown user, wrong password, disabled user).
    AuthLoginFailed,
    /// A login was refused because the account name is locked.
    AuthLoginLocked,
    /// An operation was refused to an authenticated caller: their scopes do not allow it,
    /// the object is not theirs to act on, or a rule such as separation of duties forbids
    /// it. Written at most a few times a minute per caller; the next one written says how
    /// many were left out.
    AuthzDeny,
    /// An API token was created.
    TokenCreate,
    /// An API token was revoked.
    TokenRevoke,
    /// A local user was created.
    UserCreate,
    /// A local user was changed (scopes, disabled).
    UserUpdate,
    /// An HR sync ran (file or API); details carry the counts and the file digest.
    HrSync,
    /// A person joined (or rejoined): birthright access given.
    HrJoiner,
    /// A person moved: access recomputed from their new attributes.
    HrMover,
    /// A person left: all access removed, account disabled.
    HrLeaver,
    /// A person's attributes changed without changing their access.
    HrUpdate,
    /// A policy version was applied (or an older one restored).
    PolicyApply,
    /// A group pushed by SCIM was created, changed or deleted.
    GroupChange,
    /// An access request was filed.
    RequestCreate,
    /// An approver approved a request (or it was approved automatically).
    RequestApprove,
    /// An approver denied a request.
    RequestDeny,
    /// The requester cancelled a request.
    RequestCancel,
    /// A pending request received no decision in time.
    RequestTimeout,
    /// Access was created on the target; the grant's window started.
    GrantProvision,
    /// Provisioning failed (once per failure; the alert names the count).
    GrantProvisionFailed,
    /// Someone asked for a grant to end before its time.
    GrantRevoke,
    /// The target confirmed the access is gone (or another grant keeps it).
    GrantRevoked,
    /// Revoking on the target failed; it is retried.
    GrantRevokeFailed,
    /// An extension was requested for a grant.
    GrantExtend,
    /// Break-glass access was taken without approval.
    BreakGlass,
    /// The holder of a break-glass grant justified it.
    BreakGlassJustify,
    /// A reviewer judged a break-glass use.
    BreakGlassReview,
    /// A security incident was opened.
    IncidentOpen,
    /// A sponsor created a vendor identity and account.
    VendorCreate,
    /// A vendor account was enabled: a grant of theirs runs.
    VendorActivate,
    /// A vendor account was disabled: no grant of theirs runs.
    VendorDeactivate,
    /// A vendor identity and account were deleted after their retention period.
    VendorDelete,
    /// A credential (a fresh password) was issued to a grant's holder.
    GrantCredential,
    /// An SSH user certificate was signed for a grant's holder.
    SshCertificate,
    /// A reconciliation ran over a target.
    ReconcileRun,
    /// The reconciler removed access from a target: Warden's that no grant accounts for,
    /// or standing privilege that policy says to remove.
    ReconcileRemove,
    /// The reconciler restored access a live grant should have but the target lacked.
    ReconcileRestore,
    /// The reconciler found privileged access Warden did not grant.
    ReconcileFinding,
    /// Birthright access was created on a target.
    AccessProvision,
    /// Birthright access was removed from a target.
    AccessDeprovision,
    /// The audit log was exported.
    AuditExport,
    /// The server started with a configuration that differs from the last one it ran.
    ConfigChange,
    /// The vault was initialised: its unseal key split into shares or kept in a file.
    VaultInit,
    /// The vault was unsealed (or an attempt failed).
    VaultUnseal,
    /// The vault was sealed.
    VaultSeal,
    /// The vault's root key and data key were rotated.
    VaultRotateKeys,
    /// The vault's unseal key was replaced by a new one split into new shares.
    VaultRekey,
    /// An account was put in the vault.
    VaultAccountAdd,
    /// A vaulted secret was checked out under a grant.
    VaultCheckout,
    /// A vaulted secret was checked in (by its holder, or at its grant's end).
    VaultCheckin,
    /// A vaulted account's password was rotated on its target (or a rotation failed).
    VaultRotate,
    /// A rotation asked for on demand.
    VaultRotateRequest,
    /// A rotation interrupted between the target and the commit was settled at start.
    VaultRecover,
}

impl Action {
    /// The stable dotted name, as stored and exported.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::SystemBootstrap => "system.bootstrap",
            Action::AuthLogin => "auth.login",
            Action::AuthLoginFailed => "auth.login_failed",
            Action::AuthLoginLocked => "auth.login_locked",
            Action::AuthzDeny => "authz.deny",
            Action::TokenCreate => "token.create",
            Action::TokenRevoke => "token.revoke",
            Action::UserCreate => "user.create",
            Action::UserUpdate => "user.update",
            Action::HrSync => "hr.sync",
            Action::HrJoiner => "hr.joiner",
            Action::HrMover => "hr.mover",
            Action::HrLeaver => "hr.leaver",
            Action::HrUpdate => "hr.update",
            Action::PolicyApply => "policy.apply",
            Action::GroupChange => "group.change",
            Action::RequestCreate => "request.create",
            Action::RequestApprove => "request.approve",
            Action::RequestDeny => "request.deny",
            Action::RequestCancel => "request.cancel",
            Action::RequestTimeout => "request.timeout",
            Action::GrantProvision => "grant.provision",
            Action::GrantProvisionFailed => "grant.provision_failed",
            Action::GrantRevoke => "grant.revoke",
            Action::GrantRevoked => "grant.revoked",
            Action::GrantRevokeFailed => "grant.revoke_failed",
            Action::GrantExtend => "grant.extend",
            Action::BreakGlass => "breakglass.use",
            Action::BreakGlassJustify => "breakglass.justify",
            Action::BreakGlassReview => "breakglass.review",
            Action::IncidentOpen => "incident.open",
            Action::VendorCreate => "vendor.create",
            Action::VendorActivate => "vendor.activate",
            Action::VendorDeactivate => "vendor.deactivate",
            Action::VendorDelete => "vendor.delete",
            Action::GrantCredential => "grant.credential",
            Action::SshCertificate => "ssh.certificate",
            Action::ReconcileRun => "reconcile.run",
            Action::ReconcileRemove => "reconcile.remove",
            Action::ReconcileRestore => "reconcile.restore",
            Action::ReconcileFinding => "reconcile.finding",
            Action::AccessProvision => "access.provision",
            Action::AccessDeprovision => "access.deprovision",
            Action::AuditExport => "audit.export",
            Action::ConfigChange => "config.change",
            Action::VaultInit => "vault.init",
            Action::VaultUnseal => "vault.unseal",
            Action::VaultSeal => "vault.seal",
            Action::VaultRotateKeys => "vault.rotate_keys",
            Action::VaultRekey => "vault.rekey",
            Action::VaultAccountAdd => "vault.account_add",
            Action::VaultCheckout => "vault.checkout",
            Action::VaultCheckin => "vault.checkin",
            Action::VaultRotate => "vault.rotate",
            Action::VaultRotateRequest => "vault.rotate_request",
            Action::VaultRecover => "vault.recover",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused or failed.
    Failure,
}

impl Outcome {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// Who did it, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The acting user's name, or the name tried in a failed login; `None` for Warden.
    pub user: Option<String>,
    /// The token the request was authenticated with.
    pub token_id: Option<Uuid>,
    /// The client's address.
    pub source: Option<IpAddr>,
    /// The client's user agent, cut to a bounded length.
    pub user_agent: Option<String>,
}

impl Actor {
    /// Warden itself (start-up, background work).
    pub fn system() -> Self {
        Self::default()
    }
}

/// One audit event, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened.
    pub at: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub action: Action,
    /// What it happened to (`user:alice`, `token:<id>`).
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why: a justification, or the reason for a refusal.
    pub reason: Option<String>,
    /// The resource concerned, by its policy name.
    pub resource: Option<String>,
    /// The access request concerned.
    pub request_id: Option<Uuid>,
    /// The grant concerned.
    pub grant_id: Option<Uuid>,
    /// The risk score of the request decided on.
    pub risk: Option<u32>,
    /// Further facts, never secrets.
    pub details: BTreeMap<String, String>,
}

impl AuditEvent {
    /// A successful `action` by `actor` at `at`.
    pub fn new(at: OffsetDateTime, actor: Actor, action: Action) -> Self {
        Self {
            at,
            actor,
            action,
            target: None,
            outcome: Outcome::Success,
            reason: None,
            resource: None,
            request_id: None,
            grant_id: None,
            risk: None,
            details: BTreeMap::new(),
        }
    }

    /// The resource concerned; also settable as the `resource` detail.
    #[must_use]
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The request concerned; a `request:<id>` target or `request` detail says it too.
    #[must_use]
    pub fn request(mut self, id: Uuid) -> Self {
        self.request_id = Some(id);
        self
    }

    /// The grant concerned; a `grant:<id>` target or `grant` detail says it too.
    #[must_use]
    pub fn grant(mut self, id: Uuid) -> Self {
        self.grant_id = Some(id);
        self
    }

    /// The risk score of the request decided on; also settable as the `risk` detail.
    #[must_use]
    pub fn risk(mut self, score: u32) -> Self {
        self.risk = Some(score);
        self
    }

    /// The resource, request, grant and risk of the event: the fields when set, else
    /// read from the target (`request:<id>`, `grant:<id>`) and the details (`resource`,
    /// `request`, `grant`, `risk`), so every event that names them is indexed by them.
    pub fn subjects(&self) -> Subjects<'_> {
        let derived = Subjects::derive(self.target.as_deref(), &self.details);
        Subjects {
            resource: self.resource.as_deref().or(derived.resource),
            request_id: self.request_id.or(derived.request_id),
            grant_id: self.grant_id.or(derived.grant_id),
            risk: self.risk.or(derived.risk),
        }
    }

    /// Sets the target.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Marks the event a failure with its reason.
    #[must_use]
    pub fn failed(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Failure;
        self.reason = Some(reason.into());
        self
    }

    /// Sets the reason (a justification or comment) of a successful event.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds a detail.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// What an event concerns, for indexing and search (see [`AuditEvent::subjects`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subjects<'a> {
    /// The resource.
    pub resource: Option<&'a str>,
    /// The request.
    pub request_id: Option<Uuid>,
    /// The grant.
    pub grant_id: Option<Uuid>,
    /// The risk score.
    pub risk: Option<u32>,
}

impl<'a> Subjects<'a> {
    /// What a target (`request:<id>`, `grant:<id>`) and details (`resource`, `request`,
    /// `grant`, `risk`) say the event concerns.
    pub fn derive(target: Option<&'a str>, details: &'a BTreeMap<String, String>) -> Self {
        let target_id = |prefix: &str| {
            target
                .and_then(|t| t.strip_prefix(prefix))
                .and_then(|id| Uuid::parse_str(id).ok())
        };
        let detail_id = |key: &str| details.get(key).and_then(|id| Uuid::parse_str(id).ok());
        Self {
            resource: details.get("resource").map(String::as_str),
            request_id: target_id("request:").or_else(|| detail_id("request")),
            grant_id: target_id("grant:").or_else(|| detail_id("grant")),
            risk: details.get("risk").and_then(|r| r.parse().ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_come_from_fields_then_target_then_details() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let grant = Uuid::from_u128(1);
        let request = Uuid::from_u128(2);
        let e = AuditEvent::new(at, Actor::system(), Action::GrantRevoked)
            .target(format!("grant:{grant}"))
            .detail("request", request.to_string())
            .detail("resource", "pg-prod")
            .detail("risk", "35");
        let s = e.subjects();
        assert_eq!(s.grant_id, Some(grant));
        assert_eq!(s.request_id, Some(request));
        assert_eq!(s.resource, Some("pg-prod"));
        assert_eq!(s.risk, Some(35));
        let e = e.resource("other").risk(1).grant(Uuid::from_u128(3));
        let s = e.subjects();
        assert_eq!(s.resource, Some("other"));
        assert_eq!(s.risk, Some(1));
        assert_eq!(s.grant_id, Some(Uuid::from_u128(3)));
        let plain = AuditEvent::new(at, Actor::system(), Action::HrSync).target("user:bob");
        assert_eq!(
            plain.subjects(),
            Subjects {
                resource: None,
                request_id: None,
                grant_id: None,
                risk: None
            }
        );
    }
}
