//! Local users.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::WireSecret;

/// A local user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    /// Id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Scopes the user holds.
    pub scopes: Vec<String>,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /v1/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: 1 to 64 of `a-z 0-9 . _ - @`, starting with a letter or digit.
    #[schema(max_length = 64, pattern = r"^[a-z0-9][a-z0-9._@-]*$")]
    pub username: String,
    /// Name shown to people (1 to 200 characters, no control characters); defaults to
    /// the login name.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,198}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub display_name: Option<String>,
    /// Scopes to give; the caller must hold each.
    #[serde(default)]
    #[schema(value_type = Vec<crate::ScopeName>)]
    pub scopes: Vec<String>,
    /// Initial password, 12 to 1024 characters; when absent one is generated and
    /// returned once.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, min_length = 12, max_length = 1024)]
    pub password: Option<WireSecret>,
}

/// A created user, with the generated password if one was generated.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: UserInfo,
    /// The generated initial password, shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_password: Option<WireSecret>,
}

/// `PATCH /v1/users/{username}`: fields to change.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New scopes (replacing the old); the caller must hold each.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::ScopeName>>)]
    pub scopes: Option<Vec<String>>,
    /// Disable (true) or enable (false). Disabling stops every token of the user at once.
    #[serde(default)]
    pub disabled: Option<bool>,
}
