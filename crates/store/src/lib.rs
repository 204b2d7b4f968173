//! Warden's storage: one code path over SQLite (the embedded default) and PostgreSQL.
//!
//! Every method that changes state takes the [`AuditEvent`] describing the change and
//! writes it in the same transaction: if the event cannot be written, the change is rolled
//! back. Reads take no event. Migrations run when the store is opened.

mod access;
mod audit;
mod breakglass;
mod checkouts;
mod directory;
mod entity;
mod findings;
mod grants;
mod jobs;
mod leases;
mod local_users;
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

use sea_orm::sea_query::OnConflict;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveValue::Set, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tokio::sync::{Mutex, MutexGuard};
use warden_core::audit::AuditEvent;

pub use access::{AccessChanges, AccessRow};
pub use audit::{ActionFilter, AuditFilter, BadActionFilter};
pub use breakglass::{ReviewStep, StoredIncident, StoredReview};
pub use checkouts::Checkout;
pub use directory::{
    AccessJob, Assignment, ChangeSet, ChangeSummary, Group, GroupWrite, IdentityFilter,
    IdentityWrite, JobAction, NewAccessJob, NewPolicyVersion, PolicyVersion,
};
use entity::system_settings;
pub use findings::{Sighting, StoredFinding};
pub use grants::{Contact, GrantChange, GrantFilter, StoredGrant};
pub use jobs::{DueJob, JobOutcome};
pub use leases::LeaseHolder;
pub(crate) use local_users::insert_user;
pub use local_users::{NewUser, UserChange, UserCredentials};
pub use outbox::{OutboxMessage, StoredOutbox};
pub use recording::ConnectorCall;
pub use requests::{Effects, RequestFilter, StoredApproval, StoredRequest, Transition};
pub use rows::StoredAuditEvent;
pub use rows::{from_ms as from_unix_ms, to_ms as unix_ms};
pub use vault::{RotationFailure, SecretVersion, VaultAccount, VaultMeta, WrappedKey};
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
