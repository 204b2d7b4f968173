//! The credential vault: its seal state and keys (`/v1/operator`), and vaulted accounts
//! with their check-outs and rotations (`/v1/accounts`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::WireSecret;

/// Whether the vault is initialised and unsealed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VaultStatus {
    /// Initialised (`warden operator init`, or a development key file).
    pub initialized: bool,
    /// Sealed: the server serves health and unseal only until enough shares are given.
    pub sealed: bool,
    /// `shares` or `key_file`, once initialised.
    pub unseal_mode: Option<String>,
    /// The vault's id, carried by its shares.
    pub vault_id: Option<String>,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// Shares made.
    pub shares: u8,
    /// Shares given so far towards unsealing.
    pub progress: u8,
    /// The root key's version.
    pub root_version: u64,
    /// The data key new secrets are sealed with.
    pub active_data_key: u32,
    /// When the keys were last rotated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
}

/// `POST /v1/operator/init`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitVault {
    /// How many shares to split the unseal key into (1 to 16).
    #[schema(minimum = 1, maximum = 16)]
    pub shares: u8,
    /// How many of them unseal: 1 to `shares`, and at least 2 when there are several
    /// shares (else 422).
    #[schema(minimum = 1, maximum = 16)]
    pub threshold: u8,
}

/// The unseal key's shares, shown once. Give each to a different key holder.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct InitializedVault {
    /// The vault's id.
    pub vault_id: String,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// The shares; Warden keeps none of them.
    pub shares: Vec<WireSecret>,
}

impl std::fmt::Debug for InitializedVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitializedVault")
            .field("vault_id", &self.vault_id)
            .field("threshold", &self.threshold)
            .field("shares", &self.shares.len())
            .finish()
    }
}

/// `POST /v1/operator/unseal`: one share, or a reset of the shares given so far.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unseal {
    /// One share, as `warden operator init` printed it:
    /// `wvs1-<vault id>-<threshold>-<index>-<data>-<checksum>`. A share whose checksum
    /// does not match (mistyped) or that is of another vault gets 422.
    #[serde(default)]
    #[schema(
        value_type = Option<String>,
        format = Password,
        pattern = r"^[ \t\n\r]*wvs1-[a-z0-9]{8,32}-(?:[1-9]|1[0-6])-(?:[1-9]|1[0-6])-[A-Za-z0-9_-]{44}-[0-9A-Fa-f]{8}[ \t\n\r]*$"
    )]
    pub share: Option<WireSecret>,
    /// Forget the shares given so far.
    #[serde(default)]
    pub reset: bool,
}

/// `POST /v1/accounts`: a vaulted account. The password must log in now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAccount {
    /// Unique name (1 to 64 of `a-z 0-9 - _ .`, starting with a letter or digit).
    #[schema(max_length = 64, pattern = r"^[a-z0-9][a-z0-9._-]*$")]
    pub name: String,
    /// The configured connection of the target (`[connections.NAME]`).
    pub connection: String,
    /// The account on the target (MariaDB: `user@host`, host `%` when left out): 1 to
    /// 256 bytes, no NUL.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00]*$")]
    pub username: String,
    /// Its current password.
    pub password: WireSecret,
    /// The resource whose grants allow a check-out.
    #[serde(default)]
    pub resource: Option<String>,
    /// The roles on that resource whose grants allow a check-out (any when empty).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Policy groups whose active members may check it out without a grant (for a while:
    /// `checkout_max`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// How long a check-out without a grant lasts before Warden checks it in and rotates
    /// the password (`30m`, `2h`; at most `24h`, default `1h`).
    #[serde(default)]
    #[schema(
        pattern = r"^(?:[1-9][0-9]{0,5}d(?:(?:0|[1-9][0-9]{0,5})h)?(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?[1-9][0-9]{0,5}h(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?(?:(?:0|[1-9][0-9]{0,5})h)?[1-9][0-9]{0,5}m)$"
    )]
    pub checkout_max: Option<String>,
    /// One check-out at a time.
    #[serde(default)]
    pub exclusive: bool,
    /// Rotate on this schedule (`30d`, `12h`; 1h to 366d). Default: the server's
    /// `[vault] rotate_every`.
    #[serde(default)]
    #[schema(
        pattern = r"^(?:[1-9][0-9]{0,5}d(?:(?:0|[1-9][0-9]{0,5})h)?(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?[1-9][0-9]{0,5}h(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?(?:(?:0|[1-9][0-9]{0,5})h)?[1-9][0-9]{0,5}m)$"
    )]
    pub rotate_every: Option<String>,
    /// Generated password length (16 to 128, default 24).
    #[serde(default)]
    #[schema(minimum = 16, maximum = 128)]
    pub password_length: Option<u32>,
    /// Whether generated passwords use the symbols `- _ . ~` (default yes).
    #[serde(default)]
    pub symbols: Option<bool>,
    /// Rotate at once, so the password given stops working.
    #[serde(default)]
    pub rotate_now: bool,
}

/// A vaulted account's metadata. The secret is never part of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountInfo {
    /// Name.
    pub name: String,
    /// Connection.
    pub connection: String,
    /// The account on the target.
    pub username: String,
    /// The resource whose grants allow a check-out.
    pub resource: Option<String>,
    /// The roles whose grants allow a check-out (any when empty).
    pub roles: Vec<String>,
    /// Policy groups whose members may check it out without a grant.
    pub groups: Vec<String>,
    /// How long a check-out without a grant lasts, in seconds.
    pub checkout_max_secs: i64,
    /// One check-out at a time.
    pub exclusive: bool,
    /// Scheduled rotation interval, in seconds.
    pub rotate_every_secs: i64,
    /// Generated password length.
    pub password_length: u32,
    /// Generated passwords use symbols.
    pub symbols: bool,
    /// The current secret version.
    pub version: u64,
    /// When the next rotation (or retry) is due.
    #[serde(with = "time::serde::rfc3339")]
    pub next_rotation_at: OffsetDateTime,
    /// Last rotated successfully.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_rotated_at: Option<OffsetDateTime>,
    /// Rotation failures in a row.
    pub rotation_failures: u32,
    /// The last rotation error, until one succeeds.
    pub last_error: Option<String>,
    /// A rotation applied on the target but not yet confirmed.
    pub rotation_pending: bool,
    /// Open check-outs.
    pub checkouts: Vec<CheckoutInfo>,
    /// Added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Added by.
    pub created_by: String,
}

/// A check-out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckoutInfo {
    /// Id.
    pub id: Uuid,
    /// Who holds it.
    pub username: String,
    /// Under which grant.
    pub grant: Option<Uuid>,
    /// Exclusive.
    pub exclusive: bool,
    /// The secret version handed out.
    pub version: u64,
    /// Taken.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_out_at: OffsetDateTime,
    /// When Warden checks it in unless its holder does.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Given back.
    #[serde(with = "time::serde::rfc3339::option")]
    pub checked_in_at: Option<OffsetDateTime>,
    /// Why it was checked in.
    pub checkin_reason: Option<String>,
}

/// `POST /v1/accounts/{name}/checkout`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The caller's running grant that allows it. Without one, the caller must be an
    /// active member of one of the account's `groups`.
    #[serde(default)]
    pub grant: Option<Uuid>,
    /// Hold it alone until checked in (always so for an exclusive account).
    #[serde(default)]
    pub exclusive: bool,
}

/// A checked-out secret, returned once. It is rotated after check-in or the grant's end.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckedOut {
    /// The check-out, to check in.
    pub checkout: Uuid,
    /// The account.
    pub account: String,
    /// The user name to log in with.
    pub username: String,
    /// The password.
    pub password: WireSecret,
    /// Its version.
    pub version: u64,
    /// The grant it was taken under, if any.
    pub grant: Option<Uuid>,
    /// What allowed it: `grant` or `group:NAME`.
    pub allowed_by: String,
    /// When the check-out ends (the grant's end, or the account's longest check-out
    /// without a grant): Warden checks it in then and rotates the password.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// Where to connect.
    pub hints: BTreeMap<String, String>,
}

impl std::fmt::Debug for CheckedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedOut")
            .field("checkout", &self.checkout)
            .field("account", &self.account)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/accounts/{name}/checkin`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    /// The check-out; default: the caller's open one on this account.
    #[serde(default)]
    pub checkout: Option<Uuid>,
}

/// What a rotation request did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RotationScheduled {
    /// The account.
    pub account: String,
    /// Its version when the rotation was asked for.
    pub version: u64,
    /// When it is due (now, unless a check-out holds it).
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
}
