//! Logins, the caller's identity, and API tokens.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::WireSecret;

/// `POST /v1/auth/login`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: WireSecret,
}

/// A successful login: a session token, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token for further requests.
    pub token: WireSecret,
    /// The token's id.
    pub token_id: Uuid,
    /// When the token stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `GET /v1/auth/whoami`: who the caller is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// User id.
    pub user_id: Uuid,
    /// User name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// The scopes this request was granted (the token's, within the user's).
    pub scopes: Vec<String>,
    /// The token used.
    pub token_id: Uuid,
    /// When that token expires.
    #[serde(with = "time::serde::rfc3339")]
    pub token_expires_at: OffsetDateTime,
}

/// `POST /v1/auth/password`: change one's own password.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The current password.
    pub current_password: WireSecret,
    /// The new password: 12 to 1024 characters, not the current one.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 1024)]
    pub new_password: WireSecret,
}

/// `POST /v1/tokens`: create an API token for oneself.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label to recognise the token by: 1 to 100 characters, no control characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,98}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub name: String,
    /// Scopes for the token, at least one; each must be held by the caller. Defaults to
    /// all of the caller's scopes.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::ScopeName>>, min_items = 1)]
    pub scopes: Option<Vec<String>>,
    /// Lifetime in seconds, at least 60; defaults to `auth.token_default_ttl_secs`, at
    /// most `auth.token_max_ttl_secs` (longer: 422).
    #[serde(default)]
    #[schema(minimum = 60)]
    pub expires_in_secs: Option<u64>,
}

/// A new API token, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The bearer token text; it cannot be shown again.
    pub token: WireSecret,
    /// What is stored about it.
    pub info: TokenInfo,
}

/// What is known of a token (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Token id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// `session` (from a login) or `api`.
    pub kind: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Revoked, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A scope's name, as users and tokens carry them. The server reads scopes from text;
/// this names the values it takes, for the API's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ScopeName {
    /// Everything, including the scopes below and user administration.
    #[serde(rename = "admin")]
    Admin,
    /// List and read local users.
    #[serde(rename = "users:read")]
    UsersRead,
    /// Create, disable and change local users.
    #[serde(rename = "users:write")]
    UsersWrite,
    /// File, list and cancel one's own access requests.
    #[serde(rename = "request")]
    Request,
    /// Approve or deny others' requests.
    #[serde(rename = "approve")]
    Approve,
    /// Read policy and plans.
    #[serde(rename = "policy:read")]
    PolicyRead,
    /// Apply policy.
    #[serde(rename = "policy:write")]
    PolicyWrite,
    /// Push HR data (file sync and SCIM).
    #[serde(rename = "hr:sync")]
    HrSync,
    /// Read and export the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Read identities and explain access decisions.
    #[serde(rename = "identities:read")]
    IdentitiesRead,
}
