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
    /// The new password, at least 12 characters.
    pub new_password: WireSecret,
}

/// `POST /v1/tokens`: create an API token for oneself.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label to recognise the token by.
    pub name: String,
    /// Scopes for the token; each must be held by the caller. Defaults to all of the
    /// caller's scopes.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Lifetime in seconds; defaults to `auth.token_default_ttl_secs`, at most
    /// `auth.token_max_ttl_secs`.
    #[serde(default)]
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
