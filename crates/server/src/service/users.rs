//! Local users of the API: created and changed by holders of `users:write`, who can give
//! only scopes they hold themselves.

use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::credential::check_new_password;
use warden_core::secret::generate_password;
use warden_core::user::User;
use warden_core::{Scope, Username};
use warden_proto::WireSecret;
use warden_proto::problem::ProblemType;
use warden_proto::users::{CreateUser, CreatedUser, UpdateUser, UserInfo};
use warden_store::{NewUser, UserChange};

use super::{check_label, hash_password, parse_scopes, scope_names};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Length of generated initial passwords.
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// The wire form of a user.
pub fn info(user: &User) -> UserInfo {
    UserInfo {
        id: user.id,
        username: user.username.to_string(),
        display_name: user.display_name.clone(),
        scopes: scope_names(&user.scopes),
        disabled: user.disabled,
        created_at: user.created_at,
    }
}

fn parse_name(raw: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(|e| ApiError::field("username", e.to_string()))
}

/// Creates a user.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: CreateUser,
) -> Result<CreatedUser, ApiError> {
    caller.require(Scope::UsersWrite)?;
    let username = parse_name(&req.username)?;
    let display_name = check_label(
        "display_name",
        req.display_name.as_deref().unwrap_or(username.as_str()),
        200,
    )?;
    let scopes = parse_scopes("scopes", &req.scopes)?;
    if !caller.scopes.covers(&scopes) {
        return Err(ApiError::new(
            ProblemType::InsufficientScope,
            "you can only give scopes you hold",
        ));
    }
    let (password, generated) = match req.password {
        Some(password) => {
            check_new_password(&password.0)
                .map_err(|e| ApiError::field("password", e.to_string()))?;
            (password.0, false)
        }
        None => (
            generate_password(GENERATED_PASSWORD_LEN).map_err(ApiError::internal)?,
            true,
        ),
    };
    let password_hash = hash_password(password.clone()).await?;
    let now = state.clock().now();
    let user = NewUser {
        id: Uuid::now_v7(),
        username,
        display_name,
        password_hash: Some(password_hash),
        scopes,
        linked_to_directory: true,
        created_at: now,
    };
    let event = AuditEvent::new(now, caller.actor(), Action::UserCreate)
        .target(format!("user:{}", user.username))
        .detail("scopes", user.scopes.to_wire());
    let created = state.store().create_user(&user, &event).await?;
    Ok(CreatedUser {
        user: info(&created),
        initial_password: generated.then(|| WireSecret::new(password)),
    })
}

/// Every user.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<UserInfo>, ApiError> {
    caller.require(Scope::UsersRead)?;
    Ok(state.store().list_users().await?.iter().map(info).collect())
}

/// The user called `name`, or 404.
async fn find(state: &AppState, name: &str) -> Result<User, ApiError> {
    let username = parse_name(name)?;
    state
        .store()
        .user_by_name(&username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {name}")))
}

/// One user.
pub async fn get(state: &AppState, caller: &Caller, name: &str) -> Result<UserInfo, ApiError> {
    caller.require(Scope::UsersRead)?;
    let user = find(state, name).await?;
    Ok(info(&user))
}

/// Changes a user's scopes or disables them.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    name: &str,
    req: UpdateUser,
) -> Result<UserInfo, ApiError> {
    caller.require(Scope::UsersWrite)?;
    let user = find(state, name).await?;
    let scopes = req
        .scopes
        .as_deref()
        .map(|names| parse_scopes("scopes", names))
        .transpose()?;
    // Changing someone's scopes means holding both what they had and what they get, so a
    // delegated administrator cannot strip or raise an account above their own rights.
    if let Some(new) = &scopes
        && (!caller.scopes.covers(new) || !caller.scopes.covers(&user.scopes))
    {
        return Err(ApiError::new(
            ProblemType::InsufficientScope,
            "you can only change scopes you hold",
        ));
    }
    if req.disabled == Some(true) && user.id == caller.user.id {
        return Err(ApiError::field("disabled", "you cannot disable yourself"));
    }
    if scopes.is_none() && req.disabled.is_none() {
        return Err(ApiError::new(ProblemType::BadRequest, "nothing to change"));
    }
    let now = state.clock().now();
    let mut event = AuditEvent::new(now, caller.actor(), Action::UserUpdate)
        .target(format!("user:{}", user.username));
    if let Some(new) = &scopes {
        event = event.detail("scopes", new.to_wire());
    }
    if let Some(disabled) = req.disabled {
        event = event.detail("disabled", disabled.to_string());
    }
    let change = UserChange {
        scopes,
        disabled: req.disabled,
        password_hash: None,
    };
    let updated = state
        .store()
        .update_user(user.id, &change, now, &event)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
    Ok(info(&updated))
}
