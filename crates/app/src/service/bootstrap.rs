//! First start: the initial administrator, and for `--dev` the demo users.

use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::secret::{SecretString, generate_password};
use warden_core::{Scope, ScopeSet, Username};
use warden_store::{NewUser, Store, StoreError};

use super::users::GENERATED_PASSWORD_LEN;
use crate::service::error::ServiceError;

/// The initial administrator's user name.
pub const ADMIN_USER: &str = "admin";

/// A freshly created account and its one-time password.
#[derive(Debug)]
pub struct InitialCredential {
    /// User name.
    pub username: String,
    /// Password, to be shown once and never again.
    pub password: SecretString,
}

/// Creates the initial administrator if the server has never been initialised. Returns its
/// credential only to the one start (of possibly several racing replicas) that created it.
pub async fn initial_admin(
    store: &Store,
    clock: &dyn warden_core::Clock,
) -> Result<Option<InitialCredential>, ServiceError> {
    if store.is_bootstrapped().await? {
        return Ok(None);
    }
    let password = generate_password(GENERATED_PASSWORD_LEN).map_err(ServiceError::internal)?;
    let hash = super::hash_password(password.clone()).await?;
    let now = clock.now();
    let admin = NewUser {
        id: warden_core::clock::id_at(now),
        username: Username::parse(ADMIN_USER).map_err(ServiceError::internal)?,
        display_name: "Initial administrator".to_owned(),
        password_hash: Some(hash),
        scopes: ScopeSet::new([Scope::Admin]),
        linked_to_directory: false,
        created_at: now,
    };
    let event = AuditEvent::new(now, Actor::system(), Action::SystemBootstrap)
        .target(format!("user:{ADMIN_USER}"));
    Ok(store
        .bootstrap(&admin, &event)
        .await?
        .then(|| InitialCredential {
            username: ADMIN_USER.to_owned(),
            password,
        }))
}

/// Demo users of `warden serve --dev`, with the scopes their part in the demo needs.
pub const DEMO_USERS: [(&str, &str, &[Scope]); 4] = [
    ("alice", "Alice Requester (SRE)", &[Scope::Request]),
    (
        "bob",
        "Bob Approver (SRE lead)",
        &[Scope::Request, Scope::Approve],
    ),
    (
        "sam",
        "Sam Security",
        &[Scope::Approve, Scope::AuditRead, Scope::PolicyRead],
    ),
    (
        "audrey",
        "Audrey Auditor",
        &[Scope::AuditRead, Scope::PolicyRead, Scope::UsersRead],
    ),
];

/// Creates the demo users with one shared generated password (development only). Does
/// nothing and returns `None` when they exist already.
pub async fn demo_users(
    store: &Store,
    clock: &dyn warden_core::Clock,
) -> Result<Option<SecretString>, ServiceError> {
    let password = generate_password(GENERATED_PASSWORD_LEN).map_err(ServiceError::internal)?;
    let hash = super::hash_password(password.clone()).await?;
    let now = clock.now();
    for (name, display, scopes) in DEMO_USERS {
        let user = NewUser {
            id: warden_core::clock::id_at(now),
            username: Username::parse(name).map_err(ServiceError::internal)?,
            display_name: display.to_owned(),
            password_hash: Some(hash.clone()),
            scopes: ScopeSet::new(scopes.iter().copied()),
            linked_to_directory: true,
            created_at: now,
        };
        let event = AuditEvent::new(now, Actor::system(), Action::UserCreate)
            .target(format!("user:{name}"))
            .detail("scopes", user.scopes.to_wire())
            .detail("reason", "demo user of --dev");
        match store.create_user(&user, &event).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(password))
}
