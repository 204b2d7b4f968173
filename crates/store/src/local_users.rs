//! Local users of the API, their tokens and login throttling, and the bootstrap that
//! creates the first administrator: each change with its audit event.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr,
};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;
use warden_core::credential::TokenHash;
use warden_core::throttle::{ThrottlePolicy, ThrottleState};
use warden_core::user::{TokenRecord, User};
use warden_core::{ScopeSet, Username};

use crate::entity::{api_tokens, login_throttle, system_settings, users};
use crate::rows::{self, to_ms};
use crate::{Backend, Store, StoreError, insert_audit};

/// The `system_settings` key recording when the first administrator was created.
const BOOTSTRAPPED_KEY: &str = "bootstrapped_at";

/// A new local user, ready to store.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Stable id.
    pub id: Uuid,
    /// Login name.
    pub username: Username,
    /// Name shown to people.
    pub display_name: String,
    /// Argon2id PHC string, or `None` for a user who logs in only by token.
    pub password_hash: Option<String>,
    /// The user's scopes.
    pub scopes: ScopeSet,
    /// Whether the account follows the directory: disabled when the identity with the same
    /// user name leaves. `false` for local break-glass accounts such as the initial
    /// administrator, which no HR or SCIM change may disable.
    pub linked_to_directory: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A user with the stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// The Argon2id PHC string, if the user has a password.
    pub password_hash: Option<String>,
}

/// A change to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New scopes.
    pub scopes: Option<ScopeSet>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password hash.
    pub password_hash: Option<String>,
}

/// The settings key recording that the server has been initialised.
impl Store {
    // ----- bootstrap -----

    /// Creates the first administrator if the server has never been initialised, with its
    /// audit event. Returns `false`, changing nothing, when it was initialised before
    /// (also by another replica racing this one).
    pub async fn bootstrap(&self, admin: &NewUser, event: &AuditEvent) -> Result<bool, StoreError> {
        let write = self.begin_write().await?;
        let marker = system_settings::ActiveModel {
            key: Set(BOOTSTRAPPED_KEY.to_owned()),
            value: Set(to_ms(admin.created_at).to_string()),
        };
        let inserted = system_settings::Entity::insert(marker)
            .on_conflict(
                OnConflict::column(system_settings::Column::Key)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&write.txn)
            .await?;
        if inserted == 0 {
            return Ok(false);
        }
        insert_user(&write.txn, admin).await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        Ok(true)
    }

    /// Whether the server has been initialised.
    pub async fn is_bootstrapped(&self) -> Result<bool, StoreError> {
        Ok(
            system_settings::Entity::find_by_id(BOOTSTRAPPED_KEY.to_owned())
                .one(&self.db)
                .await?
                .is_some(),
        )
    }

    // ----- users -----

    /// Creates a user.
    pub async fn create_user(
        &self,
        user: &NewUser,
        event: &AuditEvent,
    ) -> Result<User, StoreError> {
        let write = self.begin_write().await?;
        let model = insert_user(&write.txn, user).await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        rows::user(model)
    }

    /// The user called `name`, with the password hash, for login.
    pub async fn user_credentials(
        &self,
        name: &Username,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let model = users::Entity::find()
            .filter(users::Column::Username.eq(name.as_str()))
            .one(&self.db)
            .await?;
        model
            .map(|m| {
                let password_hash = m.password_hash.clone();
                Ok(UserCredentials {
                    user: rows::user(m)?,
                    password_hash,
                })
            })
            .transpose()
    }

    /// The user called `name`.
    pub async fn user_by_name(&self, name: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.user_credentials(name).await?.map(|c| c.user))
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        users::Entity::find()
            .order_by_asc(users::Column::Username)
            .all(&self.db)
            .await?
            .into_iter()
            .map(rows::user)
            .collect()
    }

    /// How many users exist.
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        Ok(users::Entity::find().count(&self.db).await?)
    }

    /// The number of changes of users and tokens this process has committed. Read it
    /// before reading a token and its user: if it has moved on by the time the result is
    /// used again, a user or token may have changed since.
    pub fn auth_epoch(&self) -> u64 {
        self.auth_epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks a committed change of users or tokens.
    pub(crate) fn auth_changed(&self) {
        self.auth_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Changes a user; `None` when there is no such user (nothing is written then).
    pub async fn update_user(
        &self,
        id: Uuid,
        change: &UserChange,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<Option<User>, StoreError> {
        let write = self.begin_write().await?;
        let Some(current) = users::Entity::find_by_id(id).one(&write.txn).await? else {
            return Ok(None);
        };
        let mut active: users::ActiveModel = current.into();
        if let Some(scopes) = &change.scopes {
            active.scopes = Set(scopes.to_wire());
        }
        if let Some(disabled) = change.disabled {
            active.disabled = Set(disabled);
        }
        if let Some(hash) = &change.password_hash {
            active.password_hash = Set(Some(hash.clone()));
        }
        active.updated_at = Set(to_ms(at));
        let model = users::Entity::update(active).exec(&write.txn).await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        self.auth_changed();
        rows::user(model).map(Some)
    }

    // ----- tokens -----

    /// Stores a new token.
    pub async fn create_token(
        &self,
        token: &TokenRecord,
        hash: &TokenHash,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        insert_token(&write.txn, token, hash).await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// A token with its hash and its user, for authentication.
    pub async fn token_for_auth(
        &self,
        id: Uuid,
    ) -> Result<Option<(TokenRecord, TokenHash, User)>, StoreError> {
        let Some(token) = api_tokens::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let Some(user) = users::Entity::find_by_id(token.user_id)
            .one(&self.db)
            .await?
        else {
            return Err(StoreError::Corrupt(format!(
                "token {id} belongs to no user"
            )));
        };
        let hash = rows::token_hash(&token.token_hash)?;
        Ok(Some((rows::token(token)?, hash, rows::user(user)?)))
    }

    /// One token, without its hash.
    pub async fn token(&self, id: Uuid) -> Result<Option<TokenRecord>, StoreError> {
        api_tokens::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(rows::token)
            .transpose()
    }

    /// A user's tokens, newest first.
    pub async fn list_tokens(&self, user_id: Uuid) -> Result<Vec<TokenRecord>, StoreError> {
        api_tokens::Entity::find()
            .filter(api_tokens::Column::UserId.eq(user_id))
            .order_by_desc(api_tokens::Column::CreatedAt)
            .order_by_desc(api_tokens::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(rows::token)
            .collect()
    }

    /// Revokes a token. `false`, writing nothing, when it does not exist or was already
    /// revoked.
    pub async fn revoke_token(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let write = self.begin_write().await?;
        let result = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::value(to_ms(at)))
            .filter(api_tokens::Column::Id.eq(id))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(&write.txn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(false);
        }
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        self.auth_changed();
        Ok(true)
    }

    // ----- logins -----

    /// The failed-login state of an account name.
    pub async fn throttle_state(&self, name: &str) -> Result<Option<ThrottleState>, StoreError> {
        login_throttle::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?
            .map(rows::throttle)
            .transpose()
    }

    /// Counts a failed login for `name` and writes its audit event; returns the new state.
    pub async fn record_login_failure(
        &self,
        name: &str,
        now: OffsetDateTime,
        policy: &ThrottlePolicy,
        event: &AuditEvent,
    ) -> Result<ThrottleState, StoreError> {
        let write = self.begin_write().await?;
        // Make sure the row exists, then lock it: two failures at once must both count
        // (PostgreSQL's READ COMMITTED would otherwise lose one of the two updates).
        let fresh = login_throttle::ActiveModel {
            username: Set(name.to_owned()),
            failures: Set(0),
            window_start: Set(to_ms(now)),
            locked_until: Set(None),
        };
        login_throttle::Entity::insert(fresh)
            .on_conflict(
                OnConflict::column(login_throttle::Column::Username)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&write.txn)
            .await?;
        let mut current = login_throttle::Entity::find_by_id(name.to_owned());
        if self.backend == Backend::Postgres {
            current = current.lock_exclusive();
        }
        let previous = current
            .one(&write.txn)
            .await?
            .map(rows::throttle)
            .transpose()?;
        let state = ThrottleState::after_failure(previous, now, policy);
        login_throttle::Entity::update(login_throttle::ActiveModel {
            username: Set(name.to_owned()),
            failures: Set(i32::try_from(state.failures).unwrap_or(i32::MAX)),
            window_start: Set(to_ms(state.window_start)),
            locked_until: Set(state.locked_until.map(to_ms)),
        })
        .exec(&write.txn)
        .await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        Ok(state)
    }

    /// A successful login: clears the failure count and stores the session token.
    pub async fn record_login_success(
        &self,
        name: &str,
        token: &TokenRecord,
        hash: &TokenHash,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        login_throttle::Entity::delete_by_id(name.to_owned())
            .exec(&write.txn)
            .await?;
        insert_token(&write.txn, token, hash).await?;
        insert_audit(&write.txn, event).await?;
        write.txn.commit().await?;
        Ok(())
    }
}

pub(crate) async fn insert_user(
    txn: &DatabaseTransaction,
    user: &NewUser,
) -> Result<users::Model, StoreError> {
    let model = users::ActiveModel {
        id: Set(user.id),
        username: Set(user.username.as_str().to_owned()),
        display_name: Set(user.display_name.clone()),
        password_hash: Set(user.password_hash.clone()),
        scopes: Set(user.scopes.to_wire()),
        disabled: Set(false),
        linked_to_directory: Set(user.linked_to_directory),
        created_at: Set(to_ms(user.created_at)),
        updated_at: Set(to_ms(user.created_at)),
    };
    users::Entity::insert(model)
        .exec_with_returning(txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                StoreError::Conflict(format!("user {}", user.username))
            }
            _ => StoreError::from(e),
        })
}

async fn insert_token(
    txn: &DatabaseTransaction,
    token: &TokenRecord,
    hash: &TokenHash,
) -> Result<(), StoreError> {
    let model = api_tokens::ActiveModel {
        id: Set(token.id),
        user_id: Set(token.user_id),
        name: Set(token.name.clone()),
        kind: Set(token.kind.as_str().to_owned()),
        scopes: Set(token.scopes.to_wire()),
        token_hash: Set(hash.0.to_vec()),
        created_at: Set(to_ms(token.created_at)),
        expires_at: Set(to_ms(token.expires_at)),
        revoked_at: Set(token.revoked_at.map(to_ms)),
    };
    api_tokens::Entity::insert(model)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
