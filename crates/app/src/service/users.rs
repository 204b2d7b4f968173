//! Local users of the API: created and changed by holders of `users:write`, who can give
//! only scopes they hold themselves.

use crate::service::error::Failure;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_core::credential::check_new_password;
use warden_core::secret::{SecretString, generate_password};
use warden_core::user::User;
use warden_core::{Scope, ScopeSet, Username};
use warden_store::{NewUser, UserChange};

use super::authz::{self, Object};
use super::{check_label, hash_password, parse_scopes};
use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// Length of generated initial passwords.
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// A user to create.
#[derive(Debug, Clone)]
pub struct Create {
    /// The user name, as given.
    pub username: String,
    /// The name shown; the user name when absent.
    pub display_name: Option<String>,
    /// Scope names, as given.
    pub scopes: Vec<String>,
    /// The initial password; generated when absent.
    pub password: Option<SecretString>,
}

/// A user created, with the password generated for them (given once).
#[derive(Debug, Clone)]
pub struct Created {
    /// The user.
    pub user: User,
    /// The generated initial password; `None` when one was given.
    pub initial_password: Option<SecretString>,
}

/// A change to a user: new scopes, disabling or enabling.
#[derive(Debug, Clone)]
pub struct Update {
    /// Scope names, as given, replacing the user's.
    pub scopes: Option<Vec<String>>,
    /// Whether the user is to be disabled.
    pub disabled: Option<bool>,
}

fn parse_name(raw: &str) -> Result<Username, ServiceError> {
    Username::parse(raw).map_err(|e| ServiceError::field("username", e.to_string()))
}

/// Creates a user.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: Create,
) -> Result<Created, ServiceError> {
    authz::gate(state, caller, Operation::UserCreate).await?;
    let username = parse_name(&req.username)?;
    let display_name = check_label(
        "display_name",
        req.display_name.as_deref().unwrap_or(username.as_str()),
        200,
    )?;
    let scopes = parse_scopes("scopes", &req.scopes)?;
    // The new user is in the caller's charge only if every scope it gets is the caller's.
    let relation = relation_to(caller, None, &scopes);
    authz::check(
        state,
        caller,
        Operation::UserCreate,
        relation,
        &Object::new("user", &username),
    )
    .await?;
    let (password, generated) = match req.password {
        Some(password) => {
            check_new_password(&password)
                .map_err(|e| ServiceError::field("password", e.to_string()))?;
            (password, false)
        }
        None => (
            generate_password(GENERATED_PASSWORD_LEN).map_err(ServiceError::internal)?,
            true,
        ),
    };
    let password_hash = hash_password(password.clone()).await?;
    let now = state.clock().now();
    let user = NewUser {
        id: warden_core::clock::id_at(now),
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
    Ok(Created {
        user: created,
        initial_password: generated.then_some(password),
    })
}

/// Every user.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<User>, ServiceError> {
    authz::gate(state, caller, Operation::UserList).await?;
    Ok(state.store().list_users().await?)
}

/// How the caller stands to `user` (`None`: one being created) who is to hold `scopes`:
/// their own; in their charge when the caller holds every scope the user has and will
/// have; anyone else's otherwise.
fn relation_to(caller: &Caller, user: Option<&User>, scopes: &ScopeSet) -> Relation {
    let within =
        caller.scopes.covers(scopes) && user.is_none_or(|u| caller.scopes.covers(&u.scopes));
    match user {
        Some(u) if u.id == caller.user.id => Relation::Own,
        _ if within => Relation::Subordinate,
        _ => Relation::Other,
    }
}

/// The user called `name`, or 404.
async fn find(state: &AppState, name: &str) -> Result<User, ServiceError> {
    let username = parse_name(name)?;
    state
        .store()
        .user_by_name(&username)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("user {name}")))
}

/// One user.
pub async fn get(state: &AppState, caller: &Caller, name: &str) -> Result<User, ServiceError> {
    authz::gate(state, caller, Operation::UserRead).await?;
    find(state, name).await
}

/// Changes a user's scopes or disables them.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    name: &str,
    req: Update,
) -> Result<User, ServiceError> {
    authz::gate(state, caller, Operation::UserUpdate).await?;
    let user = find(state, name).await?;
    let scopes = req
        .scopes
        .as_deref()
        .map(|names| parse_scopes("scopes", names))
        .transpose()?;
    // Changing a user, even only disabling them, means holding every scope they have and
    // every scope they get, so a delegated user manager cannot act on an administrator
    // or raise anyone above their own rights.
    let relation = relation_to(caller, Some(&user), scopes.as_ref().unwrap_or(&user.scopes));
    let object = Object::new("user", &user.username);
    authz::check(state, caller, Operation::UserUpdate, relation, &object).await?;
    if let Some(new) = &scopes
        && !caller.scopes.covers(new)
    {
        // One's own account too gets only scopes the token holds.
        let e = ServiceError::new(Failure::MissingScope, "you can only give scopes you hold");
        return Err(authz::refused(state, caller, Operation::UserUpdate, Some(&object), e).await);
    }
    if req.disabled == Some(true) && user.id == caller.user.id {
        return Err(ServiceError::unprocessable(
            "disabled",
            "you cannot disable yourself",
        ));
    }
    if scopes.is_none() && req.disabled.is_none() {
        return Err(ServiceError::new(Failure::Invalid, "nothing to change"));
    }
    // Nobody could give `admin` back: the last enabled administrator keeps it.
    let loses_admin = user.scopes.allows(Scope::Admin)
        && !user.disabled
        && (req.disabled == Some(true) || scopes.as_ref().is_some_and(|s| !s.allows(Scope::Admin)));
    if loses_admin {
        let admins = state
            .store()
            .list_users()
            .await?
            .iter()
            .filter(|u| !u.disabled && u.scopes.allows(Scope::Admin))
            .count();
        if admins <= 1 {
            return Err(ServiceError::new(
                Failure::Conflict,
                format!(
                    "{} is the last enabled administrator: give admin to someone else first",
                    user.username
                ),
            ));
        }
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
    state
        .store()
        .update_user(user.id, &change, now, &event)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("user {name}")))
}
