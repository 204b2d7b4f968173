//! What lives on targets: credentials and SSH certificates handed to a grant's holder,
//! the inventory of privileged accounts, and reconciliation reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A password issued for a grant, shown once to its holder. A new one replaces it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantCredential {
    /// The grant.
    pub grant: Uuid,
    /// The user name to log in with.
    pub username: String,
    /// The password; Warden keeps no copy.
    pub password: String,
    /// Where to connect (`host`, `port`, `database`).
    pub hints: BTreeMap<String, String>,
    /// When the access ends; the login stops working then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for GrantCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantCredential")
            .field("grant", &self.grant)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("hints", &self.hints)
            .field("ends_at", &self.ends_at)
            .finish()
    }
}

/// `POST /v1/ssh/certificates`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignSshKey {
    /// The ssh resource.
    pub resource: String,
    /// The role, when the caller holds more than one on the resource.
    #[serde(default)]
    pub role: Option<String>,
    /// The caller's public key, one OpenSSH line (`ssh-ed25519 AAAA... comment`); a line
    /// of this form that is not a key Warden can sign gets 422.
    #[schema(
        pattern = r"^[ \t\n\r]*[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}(?: [^\x00-\x1f\x7f]*)?[ \t\n\r]*$"
    )]
    pub public_key: String,
}

/// A signed user certificate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SshCertificate {
    /// The grant it serves.
    pub grant: Uuid,
    /// The certificate, one OpenSSH line, to save as `KEY-cert.pub`.
    pub certificate: String,
    /// The principals it carries: the user names it logs in as.
    pub principals: Vec<String>,
    /// Valid from (back-dated by the documented clock-skew margin).
    #[serde(with = "time::serde::rfc3339")]
    pub valid_after: OffsetDateTime,
    /// Valid until, never past the grant's end.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_before: OffsetDateTime,
    /// The host to connect to.
    pub host: String,
    /// Its port.
    pub port: u16,
}

/// `GET /v1/ssh/ca`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SshCa {
    /// The CA's public key line, for `TrustedUserCAKeys`.
    pub public_key: String,
}

/// An account found on a target.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountInfo {
    /// Its name on the target.
    pub name: String,
    /// `warden` (made for a grant), `connector` (the account Warden logs in with),
    /// `standing` (listed in the resource's `standing`) or `unknown`.
    pub origin: String,
    /// What it holds that is privileged.
    pub privileges: Vec<String>,
    /// The end the target enforces, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

/// `GET /v1/resources/{name}/accounts`: the privileged accounts on a resource's target.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Inventory {
    /// The resource.
    pub resource: String,
    /// Its kind.
    pub kind: String,
    /// Its tier (0 = crown jewels).
    pub tier: u8,
    /// Its environment.
    pub environment: String,
    /// Every account found, privileged or not.
    pub accounts: Vec<AccountInfo>,
}

/// Query of `POST /v1/reconcile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconcileQuery {
    /// One resource; all resources with a configured connection when absent.
    #[serde(default)]
    pub resource: Option<String>,
}

/// What the reconciler did on one resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ResourceReconciled {
    /// The resource.
    pub resource: String,
    /// Its tier.
    pub tier: u8,
    /// Accounts removed: Warden's that no live grant accounts for, and standing privilege
    /// policy says to remove (`drift = "remove"`).
    pub removed: Vec<String>,
    /// Accesses restored: live grants the target had lost (`identity/role`).
    pub restored: Vec<String>,
    /// Privileged access Warden did not grant.
    pub findings: Vec<FindingInfo>,
    /// Steps that failed (the target refused or could not be reached).
    pub errors: Vec<String>,
}

/// Privileged access found on a target that Warden did not grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FindingInfo {
    /// Finding id.
    pub id: Uuid,
    /// The resource.
    pub resource: String,
    /// The account on the target.
    pub account: String,
    /// What it holds.
    pub privileges: Vec<String>,
    /// `open`, `removed` or `resolved` (gone from the target).
    pub state: String,
    /// First seen.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// Last seen.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// Query of `GET /v1/findings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFindings {
    /// Only this resource's.
    #[serde(default)]
    pub resource: Option<String>,
    /// Include resolved and removed findings.
    #[serde(default)]
    pub all: bool,
}
