//! Warden's storage: one code path over SQLite (the embedded default) and PostgreSQL.
//!
//! Every method that changes state takes the [`AuditEvent`] describing the change and
//! writes it in the same transaction: if the event cannot be written, the change is rolled
//! back. Reads take no event. Migrations run when the store is opened.

mod access;
mod audit;
mod directory;
mod entity;
mod findings;
mod grants;
mod jobs;
mod leases;
mod migration;
mod outbox;
mod recording;
mod requests;
mod rows;
#[cfg(feature = "testing")]
pub mod testing;
mod vault;
mod vendors;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use time::OffsetDateTime;
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;
use warden_core::audit::AuditEvent;
use warden_core::credential::TokenHash;
use warden_core::throttle::{ThrottlePolicy, ThrottleState};
use warden_core::user::{TokenRecord, User};
use warden_core::{ScopeSet, Username};

pub use access::{AccessChanges, AccessRow};
pub use audit::{ActionFilter, AuditFilter, BadActionFilter};
pub use directory::{
    AccessJob, Assignment, ChangeSet, ChangeSummary, Group, GroupWrite, IdentityFilter,
    IdentityWrite, JobAction, NewAccessJob, NewPolicyVersion, PolicyVersion,
};
use entity::{api_tokens, login_throttle, system_settings, users};
pub use findings::{Sighting, StoredFinding};
pub use grants::{
    Contact, GrantChange, GrantFilter, ReviewStep, StoredGrant, StoredIncident, StoredReview,
};
pub use jobs::{DueJob, JobOutcome};
pub use leases::LeaseHolder;
pub use outbox::{OutboxMessage, StoredOutbox};
pub use recording::ConnectorCall;
pub use requests::{Effects, RequestFilter, StoredApproval, StoredRequest, Transition};
pub use rows::StoredAuditEvent;
use rows::to_ms;
pub use rows::{from_ms as from_unix_ms, to_ms as unix_ms};
pub use vault::{Checkout, RotationFailure, SecretVersion, VaultAccount, VaultMeta, WrappedKey};
pub use vendors::StoredVendor;

/// Why a storage operation failed.
///
/// Cloning shares the driver's error: one failed group commit answers every event it
/// carried with the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The storage URL is not one Warden understands.
    #[error("storage.url {0:?} is not supported: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database at {url}: {source}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// What the driver said.
        source: Arc<DbErr>,
    },
    /// Applying migrations failed; the schema was left as it was.
    #[error("applying database migrations failed: {0}")]
    Migrate(Arc<DbErr>),
    /// A row with the same unique key exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// What the operation read was changed by another writer before it committed (another
    /// replica, say); nothing was changed and the operation can be run again.
    #[error("{0} was changed by another writer meanwhile; nothing was changed, try again")]
    Stale(String),
    /// A stored value could not be read back (a bug or a tampered database).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A request or grant was asked to make a move its lifecycle does not allow; nothing
    /// was changed.
    #[error(transparent)]
    Transition(#[from] warden_core::request::TransitionError),
    /// A break-glass review was asked to make a move it does not allow; nothing was
    /// changed.
    #[error(transparent)]
    Review(#[from] warden_core::request::ReviewError),
    /// A lock held in memory is poisoned: a thread panicked while holding it. Names the
    /// lock.
    #[error("{0} lock is poisoned")]
    Poisoned(&'static str),
    /// A task the operation ran its work on panicked or was cancelled before it answered.
    #[error("a task of the operation failed: {0}")]
    TaskFailed(#[source] Arc<tokio::task::JoinError>),
    /// The group commit that took an audit event was dropped before it answered (the
    /// caller leading it went away mid-commit): the event may or may not have been
    /// written.
    #[error(
        "the group commit that took this audit event was abandoned; the event may not have \
         been written"
    )]
    Abandoned,
    /// Any other database failure.
    #[error("database error: {0}")]
    Db(#[source] Arc<DbErr>),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        Self::Db(Arc::new(e))
    }
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::TaskFailed(Arc::new(e))
    }
}

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite, one file in WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Tuning for the connection pool.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

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
const BOOTSTRAPPED_KEY: &str = "bootstrapped_at";
/// Arbitrary key for PostgreSQL's advisory lock that serialises migrations of replicas.
/// The `system_settings` key of the running configuration's digest.
const CONFIG_DIGEST_KEY: &str = "config_digest";
const MIGRATION_LOCK_KEY: i64 = 0x5741_5244_454e; // "WARDEN"

/// The store. Clones share the connection pool and the writer lock.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    backend: Backend,
    /// SQLite allows one writer; taking this before a write transaction keeps two of ours
    /// from deadlocking on the upgrade from reader to writer. Unused on PostgreSQL.
    write_lock: std::sync::Arc<Mutex<()>>,
    /// Counts committed changes of users and tokens in this process, so a cache of token
    /// checks can tell when it may be stale (see [`Store::auth_epoch`]).
    auth_epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Counts committed changes of grants and identities in this process, so an index of
    /// active grants can tell when it may be stale (see [`Store::access_epoch`]).
    access_epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Counts committed changes that may give access (see [`Store::access_widen_epoch`]).
    access_widen_epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Woken by every committed write of grants or identities in this process.
    access_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Events waiting for a group commit ([`Store::append_audit`]).
    audit_queue: std::sync::Arc<audit::AuditQueue>,
}

/// A write transaction, holding the SQLite writer lock when there is one.
pub(crate) struct Write<'a> {
    pub(crate) txn: DatabaseTransaction,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl Store {
    /// Opens the database at `url`, creating an SQLite file (and its directory) if needed,
    /// and applies pending migrations.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        if backend == Backend::Sqlite {
            prepare_sqlite_dir(url).map_err(|e| StoreError::Connect {
                url: redact_url(url),
                source: Arc::new(DbErr::Custom(e.to_string())),
            })?;
        }
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(options.max_connections)
            .min_connections(0)
            .connect_timeout(options.connect_timeout)
            .acquire_timeout(options.connect_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a committed audit event survives a power loss, not only a crash.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    // 16 MiB of page cache per connection (SQLite's default is 2 MiB) and
                    // reads through a memory map: the grant worker's lookups then seldom
                    // copy pages from the operating system.
                    .pragma("cache_size", "-16384")
                    .pragma("mmap_size", "268435456")
            });
        let db = Database::connect(opts)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact_url(url),
                source: Arc::new(source),
            })?;
        let store = Self {
            db,
            backend,
            write_lock: std::sync::Arc::new(Mutex::new(())),
            auth_epoch: std::sync::Arc::default(),
            access_epoch: std::sync::Arc::default(),
            access_widen_epoch: std::sync::Arc::default(),
            access_wake: std::sync::Arc::default(),
            audit_queue: std::sync::Arc::default(),
        };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            restrict_sqlite_files(url);
        }
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrate_failed = |e| StoreError::Migrate(Arc::new(e));
        let write = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Replicas starting together take turns; DDL is transactional on PostgreSQL,
            // so a failed migration leaves the schema untouched.
            write
                .txn
                .execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"),
                ))
                .await
                .map_err(migrate_failed)?;
        }
        migration::Migrator::up(&write.txn, None)
            .await
            .map_err(migrate_failed)?;
        write.txn.commit().await.map_err(migrate_failed)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// How many known migrations are not applied (0 when ready).
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        Ok(migration::Migrator::get_pending_migrations(&self.db)
            .await?
            .len())
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), StoreError> {
        Ok(self.db.close().await?)
    }

    pub(crate) async fn begin_write(&self) -> Result<Write<'_>, StoreError> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
        };
        let txn = self.db.begin().await?;
        Ok(Write { txn, _guard: guard })
    }

    // ----- configuration -----

    /// Records the digest of the configuration the server starts with. When it differs
    /// from the last one recorded, stores it with `event` (given the previous digest, if
    /// any) and returns `true`; otherwise changes nothing.
    pub async fn record_config_digest(
        &self,
        digest: &str,
        event: impl FnOnce(Option<&str>) -> AuditEvent,
    ) -> Result<bool, StoreError> {
        let write = self.begin_write().await?;
        let previous = system_settings::Entity::find_by_id(CONFIG_DIGEST_KEY.to_owned())
            .one(&write.txn)
            .await?
            .map(|m| m.value);
        if previous.as_deref() == Some(digest) {
            return Ok(false);
        }
        let model = system_settings::ActiveModel {
            key: Set(CONFIG_DIGEST_KEY.to_owned()),
            value: Set(digest.to_owned()),
        };
        system_settings::Entity::insert(model)
            .on_conflict(
                OnConflict::column(system_settings::Column::Key)
                    .update_column(system_settings::Column::Value)
                    .to_owned(),
            )
            .exec_without_returning(&write.txn)
            .await?;
        insert_audit(&write.txn, &event(previous.as_deref())).await?;
        write.txn.commit().await?;
        Ok(true)
    }

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

/// Appends one event to the audit chain in `txn`.
pub(crate) async fn insert_audit(
    txn: &DatabaseTransaction,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    audit::insert_audits(txn, std::slice::from_ref(event)).await
}

/// The URL with the password (if any) replaced, for error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The file path of an `sqlite://` URL, without query parameters.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Creates the directory of an SQLite file, readable by its owner only.
fn prepare_sqlite_dir(url: &str) -> std::io::Result<()> {
    let Some(dir) = sqlite_path(url).and_then(Path::parent) else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Makes the SQLite file and its WAL readable by the owner only. Best effort: a file
/// system without Unix permissions keeps what it has.
fn restrict_sqlite_files(url: &str) {
    let Some(path) = sqlite_path(url) else { return };
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = Path::new(&file);
        if file.exists()
            && let Err(e) = set_mode(file, 0o600)
        {
            tracing::warn!(path = %file.display(), error = %e, "cannot restrict permissions of the database file");
        }
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_from_urls() {
        assert_eq!(
            redact_url("postgres://warden:s3cret@db:5432/warden"),
            "postgres://warden:***@db:5432/warden"
        );
        assert_eq!(
            redact_url("postgres://warden@db/warden"),
            "postgres://warden@db/warden"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/warden/warden.db"),
            "sqlite:///var/lib/warden/warden.db"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@db/x"),
            "postgres://u:***@db/x"
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite:///tmp/w.db?mode=rwc"),
            Some(Path::new("/tmp/w.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://rel/w.db"),
            Some(Path::new("rel/w.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
