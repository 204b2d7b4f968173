//! The PostgreSQL connector: grants membership of existing permission roles, either to a
//! login role made for the access (`login = "dynamic"`, named by
//! [`AccessSpec::account_name`], ended by `VALID UNTIL` on the server as well as by
//! revocation) or to the person's own login role (`login = "own"`).
//!
//! Every call is one round trip where PostgreSQL allows it: the statements go as one
//! simple-query batch, usually a `DO` block that checks what exists and acts on it in one
//! transaction. DDL takes no bind parameters, so every name in a statement is quoted with
//! `escape_identifier` and every value with `escape_literal`, after the names have been
//! checked against the alphabets Warden accepts. Passwords never appear in a statement:
//! only SCRAM-SHA-256 verifiers do, so server logs and `pg_stat_activity` show no secret.
//!
//! The admin account needs no superuser: on PostgreSQL 15, `CREATEROLE`, membership of
//! `pg_signal_backend` to cut sessions, and `CREATE` on the schemas where logins may
//! create functions and the like, which a revocation hands to the admin; PostgreSQL 16
//! also wants the `ADMIN` option on the permission roles (docs/connectors.md says
//! exactly what and why). A revocation grants the admin the login role itself, since
//! `REASSIGN OWNED`/`DROP OWNED` need the privileges of the role, and cleans up in every
//! database where the role owns objects or holds privileges before dropping it; a step
//! refused for a missing privilege says which. Taking `SUPERUSER`, `REPLICATION` or
//! `BYPASSRLS` away in [`remove`](Connector::remove) needs a superuser.
//!
//! For the vault, [`set_password`](Connector::set_password) puts a verifier on an
//! existing login role (a non-superuser admin cannot change a superuser's, and PostgreSQL
//! says so), and [`check_login`](Connector::check_login) logs in on a connection of its
//! own. The admin's own password may come from the vault: it is read for every new admin
//! connection, so one the vault has rotated is used from the next connection on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use postgres_protocol::escape::{escape_identifier as ident, escape_literal as lit};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use tokio::sync::Semaphore;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage};
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, Login, MANAGED_PREFIX,
    Origin, Presence, RoleTarget, check_pg_role,
};
use warden_core::secret::{RandomError, generate_password, random_bytes};

use crate::{AdminSecret, PasswordSource};

/// How long one statement (or batch) may run on the server before it is cancelled.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a statement waits for a lock before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the client waits for an answer beyond the server's own statement timeout,
/// so that a hung network still ends in [`ConnectorError::Unavailable`].
const CLIENT_GRACE: Duration = Duration::from_secs(5);
/// How long `pg_terminate_backend` waits for each session to end, in milliseconds.
const TERMINATE_WAIT_MS: u32 = 3000;
/// How often a grant is tried when it collides with a concurrent change of the same role.
const GRANT_ATTEMPTS: u32 = 3;
/// The first key of the advisory locks Warden takes on role names (`WA`).
const LOCK_SPACE: i32 = 0x5741;
/// Length of the passwords [`Connector::credential`] issues.
const PASSWORD_LEN: usize = 32;

/// Role attributes that make a role privileged, as [`Connector::discover`] names them,
/// with the `ALTER ROLE` option that takes each away.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("superuser", "NOSUPERUSER"),
    ("createrole", "NOCREATEROLE"),
    ("createdb", "NOCREATEDB"),
    ("replication", "NOREPLICATION"),
    ("bypassrls", "NOBYPASSRLS"),
];

/// The predefined roles that count as privileged: reading or writing all data, reading,
/// writing or running files on the server, signalling other sessions, and seeing every
/// session's query text (`pg_monitor`, `pg_read_all_stats`), which can show secrets.
/// `pg_create_subscription` (PostgreSQL 16) makes the server connect out. Others
/// (`pg_database_owner`, `pg_read_all_settings`, `pg_stat_scan_tables`, `pg_checkpoint`,
/// `pg_use_reserved_connections`) are not reported.
const PRIVILEGED_PREDEFINED: &[&str] = &[
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_signal_backend",
    "pg_monitor",
    "pg_read_all_stats",
    "pg_create_subscription",
];

/// The configuration of one PostgreSQL connection (`kind = "postgres"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host name or address of the server.
    #[serde(default = "default_host")]
    pub host: String,
    /// Port of the server.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The admin login the connector uses.
    pub user: String,
    /// The database the connector connects to (a revocation also connects to any other
    /// database where the login owns objects), also handed to holders as a hint.
    #[serde(default = "default_database")]
    pub database: String,
    /// The admin password inline (development only; see [`AdminSecret`]).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The environment variable holding the admin password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the admin password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The vaulted account holding the admin password (read through the connector's
    /// [`PasswordSource`], see [`Postgres::with_passwords`]).
    #[serde(default)]
    pub password_vault: Option<String>,
    /// The host name people connect to, given in credential hints (default: `host`).
    #[serde(default)]
    pub public_host: Option<String>,
    /// The most admin connections kept open and used at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long to wait for a connection to the server, in seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    5432
}

fn default_database() -> String {
    "postgres".to_owned()
}

fn default_max_connections() -> usize {
    4
}

fn default_connect_timeout() -> u64 {
    5
}

impl Config {
    /// Where the admin password comes from.
    fn admin_secret(&self) -> AdminSecret {
        AdminSecret {
            password: self.password.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            password_vault: self.password_vault.clone(),
        }
    }
}

/// A connector to one PostgreSQL server.
pub struct Postgres {
    name: String,
    config: Config,
    secret: AdminSecret,
    /// Where a password kept in the vault is read.
    passwords: Option<Arc<dyn PasswordSource>>,
    pool: Pool,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("vault", &self.passwords.is_some())
            .field("pool", &self.pool)
            .finish()
    }
}

/// Admin connections: at most `max` in use at once, idle ones kept for reuse.
struct Pool {
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    max: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Pool")
            .field("max", &self.max)
            .field("idle", &idle)
            .finish()
    }
}

impl Pool {
    fn new(max: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::with_capacity(max)),
            permits: Semaphore::new(max),
            max,
        }
    }

    /// An idle connection that is still open, if any.
    fn take(&self) -> Option<Client> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    /// Keeps `client` for reuse unless it is closed.
    fn put(&self, client: Client) {
        if !client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(client);
        }
    }
}

/// What one access means on the server, checked.
enum Plan {
    /// A login role made for the access.
    Dynamic {
        account: String,
        member_of: Vec<String>,
    },
    /// The person's own login role.
    Own {
        user: String,
        member_of: Vec<String>,
    },
}

impl Postgres {
    /// A connector for the connection `name`. Checks the configuration; connects lazily,
    /// on first use.
    pub fn new(name: &str, config: Config) -> Result<Self, ConnectorError> {
        let refuse = |m: &str| ConnectorError::Refused(format!("postgres connection {name}: {m}"));
        if config.host.trim().is_empty() {
            return Err(refuse("host is empty"));
        }
        if config.port == 0 {
            return Err(refuse("port must not be 0"));
        }
        if config.user.is_empty() || config.user.contains('\0') {
            return Err(refuse("user must be a role name"));
        }
        if config.database.is_empty() || config.database.contains('\0') {
            return Err(refuse("database must be a database name"));
        }
        if !(1..=1024).contains(&config.max_connections) {
            return Err(refuse("max_connections must be 1 to 1024"));
        }
        if !(1..=300).contains(&config.connect_timeout_secs) {
            return Err(refuse("connect_timeout_secs must be 1 to 300"));
        }
        let secret = config.admin_secret();
        secret.check().map_err(|e| refuse(&e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            secret,
            passwords: None,
            pool: Pool::new(config.max_connections),
            config,
        })
    }

    /// Reads an admin password kept in the vault (`password_vault`) from `source`. It is
    /// asked for each new admin connection, so a rotated password is picked up.
    #[must_use]
    pub fn with_passwords(mut self, source: Arc<dyn PasswordSource>) -> Self {
        self.passwords = Some(source);
        self
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.config.connect_timeout_secs)
    }

    /// Opens a new admin connection to the configured database.
    async fn connect(&self) -> Result<Client, ConnectorError> {
        self.connect_to(&self.config.database).await
    }

    /// Opens a new admin connection to `database`.
    async fn connect_to(&self, database: &str) -> Result<Client, ConnectorError> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.config.host)
            .port(self.config.port)
            .user(&self.config.user)
            .dbname(database)
            .application_name("warden")
            .ssl_mode(SslMode::Disable)
            .connect_timeout(self.connect_timeout())
            .keepalives(true)
            .options(format!(
                "-c statement_timeout={} -c lock_timeout={}",
                STATEMENT_TIMEOUT.as_millis(),
                LOCK_TIMEOUT.as_millis()
            ));
        let label = format!("postgres connection {}", self.name);
        if let Some(password) = self
            .secret
            .resolve_with(&label, self.passwords.as_deref())
            .await?
        {
            cfg.password(password.expose_secret());
        }
        // The TCP connect has its own timeout; this one also bounds the startup and
        // authentication exchange.
        let connecting = tokio::time::timeout(self.connect_timeout() * 2, cfg.connect(NoTls));
        let (client, connection) = match connecting.await {
            Err(_) => {
                return Err(ConnectorError::Unavailable(format!(
                    "postgres connection {}: connecting to {}:{} timed out",
                    self.name, self.config.host, self.config.port
                )));
            }
            Ok(Err(e)) => return Err(self.error("connecting", &e)),
            Ok(Ok(pair)) => pair,
        };
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(connection = %name, error = %e, "postgres admin connection ended");
            }
        });
        Ok(client)
    }

    /// Runs `op` on a pooled admin connection within the client-side timeout. The outer
    /// error is the pool's or the network's; the inner one is what the server answered.
    async fn run_raw<T, F>(
        &self,
        what: &str,
        op: F,
    ) -> Result<Result<T, tokio_postgres::Error>, ConnectorError>
    where
        F: for<'c> FnOnce(&'c Client) -> BoxFuture<'c, Result<T, tokio_postgres::Error>>,
    {
        let _permit = self.pool.permits.acquire().await.map_err(|_| {
            ConnectorError::Unavailable(format!("postgres connection {}: pool closed", self.name))
        })?;
        let client = match self.pool.take() {
            Some(client) => client,
            None => self.connect().await?,
        };
        let answer = tokio::time::timeout(STATEMENT_TIMEOUT + CLIENT_GRACE, op(&client)).await;
        match answer {
            // The connection is in an unknown state: drop it.
            Err(_) => Err(ConnectorError::Unavailable(format!(
                "postgres connection {}: {what} timed out",
                self.name
            ))),
            Ok(result) => {
                // A server error leaves the connection usable; anything else does not.
                let usable = match &result {
                    Ok(_) => true,
                    Err(e) => e.as_db_error().is_some(),
                };
                if usable {
                    self.pool.put(client);
                }
                Ok(result)
            }
        }
    }

    /// [`run_raw`](Self::run_raw) with the server's error mapped.
    async fn run<T, F>(&self, what: &str, op: F) -> Result<T, ConnectorError>
    where
        F: for<'c> FnOnce(&'c Client) -> BoxFuture<'c, Result<T, tokio_postgres::Error>>,
    {
        self.run_raw(what, op)
            .await?
            .map_err(|e| self.error(what, &e))
    }

    /// Runs a batch of statements (one simple query).
    async fn batch(&self, what: &str, sql: String) -> Result<(), ConnectorError> {
        self.run(what, move |c| {
            Box::pin(async move { c.batch_execute(&sql).await })
        })
        .await
    }

    /// Maps a client error: server refusals to `Refused`, everything that may pass
    /// (network, shutdown, timeouts, lock and concurrency conflicts) to `Unavailable`.
    /// Only the server's primary message is kept: never a statement, detail or secret.
    fn error(&self, what: &str, e: &tokio_postgres::Error) -> ConnectorError {
        match e.as_db_error() {
            Some(db) => {
                let code = db.code().code();
                let msg = format!(
                    "postgres connection {}: {what}: {} (SQLSTATE {code})",
                    self.name,
                    db.message()
                );
                if transient(code, db.message()) {
                    ConnectorError::Unavailable(msg)
                } else {
                    ConnectorError::Refused(msg)
                }
            }
            None => ConnectorError::Unavailable(format!(
                "postgres connection {}: {what}: {e}",
                self.name
            )),
        }
    }

    fn refuse(&self, what: &str, msg: impl fmt::Display) -> ConnectorError {
        ConnectorError::Refused(format!("postgres connection {}: {what}: {msg}", self.name))
    }

    /// Reads and checks what the access's role means here. Nothing reaches a statement
    /// before it passes this.
    fn plan(&self, access: &AccessSpec, handle: Option<&str>) -> Result<Plan, ConnectorError> {
        let RoleTarget::Postgres { member_of, login } = &access.target else {
            return Err(ConnectorError::Refused(format!(
                "role {} on {} has no postgres mapping in policy (member_of)",
                access.role, access.resource
            )));
        };
        let mut roles = Vec::with_capacity(member_of.len());
        for role in member_of {
            check_pg_role(role).map_err(|e| {
                self.refuse(&format!("role {} on {}", access.role, access.resource), e)
            })?;
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        if roles.is_empty() {
            return Err(self.refuse(
                &format!("role {} on {}", access.role, access.resource),
                "member_of names no role, so the grant would confer nothing",
            ));
        }
        match login {
            Login::Dynamic => {
                let account = handle.map_or_else(|| access.account_name(), str::to_owned);
                if !is_account_name(&account) {
                    return Err(self.refuse(
                        "handle",
                        format!("{account:?} is not an account name Warden makes"),
                    ));
                }
                Ok(Plan::Dynamic {
                    account,
                    member_of: roles,
                })
            }
            Login::Own => {
                let user = handle.unwrap_or(access.username.as_str()).to_owned();
                check_pg_role(&user).map_err(|e| self.refuse("own login", e))?;
                if user == self.config.user {
                    return Err(self.refuse(
                        "own login",
                        format!("{user} is the connector's own admin login"),
                    ));
                }
                if user.starts_with(MANAGED_PREFIX) {
                    return Err(self.refuse(
                        "own login",
                        format!("{user} has the prefix {MANAGED_PREFIX} of Warden's accounts"),
                    ));
                }
                Ok(Plan::Own {
                    user,
                    member_of: roles,
                })
            }
        }
    }

    async fn grant_access(&self, access: &AccessSpec) -> Result<String, ConnectorError> {
        let (handle, sql) = match self.plan(access, None)? {
            Plan::Dynamic { account, member_of } => {
                let until = until_literal(access.until).map_err(|e| self.refuse("until", e))?;
                let verifier = unusable_verifier().map_err(|e| {
                    ConnectorError::Unavailable(format!("postgres connection {}: {e}", self.name))
                })?;
                let sql = grant_dynamic_sql(&account, &member_of, &until, &verifier);
                (account, sql)
            }
            Plan::Own { user, member_of } => {
                let sql = grant_own_sql(&user, &member_of);
                (user, sql)
            }
        };
        let mut attempt = 1;
        loop {
            let sql = sql.clone();
            let result = self
                .run_raw("grant", move |c| {
                    Box::pin(async move { c.batch_execute(&sql).await })
                })
                .await?;
            match result {
                Ok(()) => break,
                Err(e) if attempt < GRANT_ATTEMPTS && is_conflict(&e) => {
                    // Two grants of one access at once: the loser sees the winner's role
                    // (or a concurrent update) and tries again, now altering it.
                    tracing::debug!(connection = %self.name, account = %handle, "grant conflict, retrying");
                    attempt += 1;
                }
                Err(e) => return Err(self.error("grant", &e)),
            }
        }
        tracing::debug!(connection = %self.name, account = %handle, "granted");
        Ok(handle)
    }

    async fn revoke_access(
        &self,
        access: &AccessSpec,
        handle: Option<&str>,
    ) -> Result<(), ConnectorError> {
        match self.plan(access, handle)? {
            Plan::Dynamic { account, .. } => self.drop_account(&account).await,
            Plan::Own { user, member_of } => {
                self.batch("revoke", revoke_own_sql(&user, &member_of))
                    .await
            }
        }
    }

    /// Disables, disconnects and drops a login role Warden made. What it owns becomes the
    /// admin's and what it was granted is dropped, in the configured database and then in
    /// every other database where it owns objects or holds privileges (each on a
    /// connection of its own, since `REASSIGN OWNED` and `DROP OWNED` act on one database),
    /// before the role is dropped.
    async fn drop_account(&self, account: &str) -> Result<(), ConnectorError> {
        let elsewhere = self.databases("revoke", drop_account_sql(account)).await?;
        if !elsewhere.is_empty() {
            for database in &elsewhere {
                self.clean_up_in(database, account).await?;
            }
            let left = self.databases("revoke", drop_role_sql(account)).await?;
            if !left.is_empty() {
                return Err(self.refuse(
                    "revoke",
                    format!(
                        "role {account} still owns objects or holds privileges in database {} \
                         after they were reassigned and dropped there; it can no longer log in \
                         and holds no membership",
                        left.join(", ")
                    ),
                ));
            }
        }
        tracing::debug!(connection = %self.name, account, "dropped");
        Ok(())
    }

    /// Runs a batch (one simple query) and returns the values of its `w_database` column:
    /// the databases where a role still has something (see [`elsewhere_sql`]).
    async fn databases(&self, what: &str, sql: String) -> Result<Vec<String>, ConnectorError> {
        let messages = self
            .run(what, move |c| {
                Box::pin(async move { c.simple_query(&sql).await })
            })
            .await?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => row
                    .columns()
                    .first()
                    .filter(|c| c.name() == "w_database")
                    .and_then(|_| row.get(0))
                    .map(str::to_owned),
                _ => None,
            })
            .collect())
    }

    /// Takes over what `account` owns in `database`, another database than the
    /// connection's, on a connection of its own (see [`clean_up_sql`]). A database dropped
    /// meanwhile holds nothing any more.
    async fn clean_up_in(&self, database: &str, account: &str) -> Result<(), ConnectorError> {
        let what = format!(
            "revoke: role {account} owns objects or holds privileges in database {database}"
        );
        let client = match self.connect_to(database).await {
            Ok(client) => client,
            // invalid_catalog_name: the database is gone, and what the role had there.
            Err(ConnectorError::Refused(m)) if m.contains("(SQLSTATE 3D000)") => return Ok(()),
            Err(ConnectorError::Refused(m)) => {
                return Err(ConnectorError::Refused(format!(
                    "{m}; {what}, so the admin role needs CONNECT there"
                )));
            }
            Err(e) => return Err(e),
        };
        let sql = clean_up_sql(account);
        let done =
            tokio::time::timeout(STATEMENT_TIMEOUT + CLIENT_GRACE, client.batch_execute(&sql));
        match done.await {
            Err(_) => Err(ConnectorError::Unavailable(format!(
                "postgres connection {}: {what}: timed out",
                self.name
            ))),
            Ok(result) => result.map_err(|e| self.error(&what, &e)),
        }
    }

    async fn verify_access(
        &self,
        access: &AccessSpec,
        handle: Option<&str>,
    ) -> Result<Presence, ConnectorError> {
        let (name, member_of, dynamic) = match self.plan(access, handle)? {
            Plan::Dynamic { account, member_of } => (account, member_of, true),
            Plan::Own { user, member_of } => (user, member_of, false),
        };
        let wanted = i64::try_from(member_of.len()).unwrap_or(i64::MAX);
        let row = self
            .run("verify", move |c| {
                Box::pin(async move {
                    let params: [(&(dyn ToSql + Sync), Type); 2] =
                        [(&name, Type::TEXT), (&member_of, Type::TEXT_ARRAY)];
                    c.query_typed_opt(VERIFY_SQL, &params).await
                })
            })
            .await?;
        let Some(row) = row else {
            return Ok(Presence::Absent);
        };
        let can_login: bool = self.col(&row, 0)?;
        let until: Option<i64> = self.col(&row, 1)?;
        let held: i64 = self.col(&row, 2)?;
        if held < wanted || (dynamic && !can_login) {
            return Ok(Presence::Absent);
        }
        if !dynamic {
            return Ok(Presence::Present { until: None });
        }
        Ok(Presence::Present {
            until: self.micros_to_time(until)?,
        })
    }

    async fn issue_credential(
        &self,
        access: &AccessSpec,
        handle: Option<&str>,
    ) -> Result<Credential, ConnectorError> {
        let account = match self.plan(access, handle)? {
            Plan::Dynamic { account, .. } => account,
            Plan::Own { user, .. } => {
                return Err(self.refuse(
                    "credential",
                    format!(
                        "role {} on {} uses the person's own login ({user}); Warden issues no password for it",
                        access.role, access.resource
                    ),
                ));
            }
        };
        let unavailable = |e: String| {
            ConnectorError::Unavailable(format!("postgres connection {}: {e}", self.name))
        };
        let password = generate_password(PASSWORD_LEN).map_err(|e| unavailable(e.to_string()))?;
        let hashed = password.clone();
        // PBKDF2 with 4,096 rounds: off the async threads.
        let verifier = tokio::task::spawn_blocking(move || {
            postgres_protocol::password::scram_sha_256(hashed.expose_secret().as_bytes())
        })
        .await
        .map_err(|e| unavailable(format!("hashing the password failed: {e}")))?;
        let body = format!(
            "BEGIN {} ALTER ROLE {} WITH PASSWORD {}; END",
            lock_role(&lit(&account)),
            ident(&account),
            lit(&verifier)
        );
        let sql = format!("DO {}", lit(&body));
        self.batch("credential", sql).await?;
        let host = self
            .config
            .public_host
            .clone()
            .unwrap_or_else(|| self.config.host.clone());
        let hints = BTreeMap::from([
            ("host".to_owned(), host),
            ("port".to_owned(), self.config.port.to_string()),
            ("database".to_owned(), self.config.database.clone()),
        ]);
        Ok(Credential {
            username: account,
            secret: password,
            hints,
        })
    }

    async fn discover_accounts(&self) -> Result<Vec<Account>, ConnectorError> {
        let predefined: Vec<String> = PRIVILEGED_PREDEFINED
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let rows = self
            .run("discover", move |c| {
                Box::pin(async move {
                    let params: [(&(dyn ToSql + Sync), Type); 1] =
                        [(&predefined, Type::TEXT_ARRAY)];
                    c.query_typed(DISCOVER_SQL, &params).await
                })
            })
            .await?;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in &rows {
            let name: String = self.col(row, 0)?;
            let mut privileges = Vec::new();
            for (i, (attribute, _)) in (1..).zip(ATTRIBUTES) {
                if self.col::<bool>(row, i)? {
                    privileges.push((*attribute).to_owned());
                }
            }
            let until = self.micros_to_time(self.col(row, 6)?)?;
            let groups: Vec<String> = self.col(row, 7)?;
            privileges.extend(groups.into_iter().map(|g| format!("member of {g}")));
            let origin = if name == self.config.user {
                Origin::Connector
            } else if is_account_name(&name) {
                Origin::Warden
            } else {
                Origin::Other
            };
            accounts.push(Account {
                name,
                origin,
                privileges,
                until,
            });
        }
        Ok(accounts)
    }

    async fn remove_account(&self, account: &Account) -> Result<(), ConnectorError> {
        let name = account.name.as_str();
        if name == self.config.user {
            return Err(self.refuse(
                "remove",
                format!("{name} is the connector's own admin login"),
            ));
        }
        if name.is_empty() || name.contains('\0') || name.starts_with("pg_") {
            return Err(self.refuse(
                "remove",
                format!("{name:?} is not a role Warden can act on"),
            ));
        }
        if is_account_name(name) {
            return self.drop_account(name).await;
        }
        let mut actions = Vec::with_capacity(account.privileges.len());
        for privilege in &account.privileges {
            if let Some(group) = privilege.strip_prefix("member of ") {
                if group.is_empty() || group.contains('\0') {
                    return Err(self.refuse("remove", format!("{privilege:?} names no role")));
                }
                actions.push(format!(
                    "IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {}) THEN REVOKE {} FROM {}; END IF;",
                    lit(group),
                    ident(group),
                    ident(name)
                ));
            } else if let Some((_, option)) = ATTRIBUTES.iter().find(|(a, _)| a == privilege) {
                actions.push(format!("ALTER ROLE {} WITH {option};", ident(name)));
            } else {
                return Err(self.refuse(
                    "remove",
                    format!(
                        "unknown privilege {privilege:?} of {name:?} (expected superuser, createrole, createdb, replication, bypassrls or `member of ROLE`)"
                    ),
                ));
            }
        }
        let body = format!(
            "BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {}) THEN {} END IF; END",
            lit(name),
            actions.join(" ")
        );
        let sql = format!("DO {}; COMMIT; {}", lit(&body), terminate_sql(name));
        self.batch("remove", sql).await?;
        tracing::debug!(connection = %self.name, account = name, "privileges removed");
        Ok(())
    }

    /// Checks a role name [`Connector::set_password`] or [`Connector::check_login`] is
    /// given: 1 to 63 bytes without NUL. PostgreSQL cuts a longer name to 63 bytes, which
    /// could name another role.
    fn check_role_name(&self, what: &str, username: &str) -> Result<(), ConnectorError> {
        if username.is_empty() || username.len() > 63 || username.contains('\0') {
            return Err(self.refuse(
                what,
                format!("{username:?} is not a role name (1 to 63 bytes, no NUL)"),
            ));
        }
        Ok(())
    }

    async fn set_role_password(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), ConnectorError> {
        let what = format!("setting the password of role {username:?}");
        self.check_role_name(&what, username)?;
        let hashed = password.clone();
        // PBKDF2 with 4,096 rounds: off the async threads.
        let verifier = tokio::task::spawn_blocking(move || {
            postgres_protocol::password::scram_sha_256(hashed.expose_secret().as_bytes())
        })
        .await
        .map_err(|e| {
            ConnectorError::Unavailable(format!(
                "postgres connection {}: hashing the password failed: {e}",
                self.name
            ))
        })?;
        self.batch(&what, set_password_sql(username, &verifier))
            .await?;
        tracing::info!(connection = %self.name, role = username, "password set");
        Ok(())
    }

    async fn try_login(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<bool, ConnectorError> {
        let what = format!("logging in as {username:?}");
        self.check_role_name(&what, username)?;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.config.host)
            .port(self.config.port)
            .user(username)
            .password(password.expose_secret())
            .dbname(&self.config.database)
            .application_name("warden")
            .ssl_mode(SslMode::Disable)
            .connect_timeout(self.connect_timeout());
        let connecting = tokio::time::timeout(self.connect_timeout() * 2, cfg.connect(NoTls));
        match connecting.await {
            Err(_) => Err(ConnectorError::Unavailable(format!(
                "postgres connection {}: {what}: connecting to {}:{} timed out",
                self.name, self.config.host, self.config.port
            ))),
            Ok(Ok((client, connection))) => {
                // Dropping the client ends the session; waiting for it leaves none behind.
                drop(client);
                let _ = tokio::time::timeout(self.connect_timeout(), connection).await;
                Ok(true)
            }
            Ok(Err(e)) => {
                let code = e.code().map(|c| c.code());
                if matches!(code, Some("28P01" | "28000")) {
                    tracing::debug!(connection = %self.name, role = username, "login refused");
                    return Ok(false);
                }
                let msg = match e.as_db_error() {
                    Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                    None => e.to_string(),
                };
                Err(ConnectorError::Unavailable(format!(
                    "postgres connection {}: {what}: {msg}",
                    self.name
                )))
            }
        }
    }

    /// Column `i` of `row`, refusing on a type mismatch rather than panicking.
    fn col<'r, T: tokio_postgres::types::FromSql<'r>>(
        &self,
        row: &'r Row,
        i: usize,
    ) -> Result<T, ConnectorError> {
        row.try_get(i)
            .map_err(|e| self.refuse("reading the catalog", e))
    }

    fn micros_to_time(
        &self,
        micros: Option<i64>,
    ) -> Result<Option<OffsetDateTime>, ConnectorError> {
        micros
            .map(|m| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
                    .map_err(|e| self.refuse("reading VALID UNTIL", e))
            })
            .transpose()
    }
}

impl Connector for Postgres {
    fn grant<'a>(
        &'a self,
        access: &'a AccessSpec,
    ) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(self.grant_access(access))
    }

    fn revoke<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.revoke_access(access, handle))
    }

    fn verify<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>> {
        Box::pin(self.verify_access(access, handle))
    }

    fn credential<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Credential, ConnectorError>> {
        Box::pin(self.issue_credential(access, handle))
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(self.discover_accounts())
    }

    fn remove<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.remove_account(account))
    }

    /// `ALTER ROLE … WITH PASSWORD` with a SCRAM-SHA-256 verifier, in one `DO` block
    /// that refuses a missing role or one that cannot log in.
    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.set_role_password(username, password))
    }

    /// A new connection to the configured database: SQLSTATE 28P01 (invalid password)
    /// and 28000 (no such role, no `pg_hba.conf` entry, `NOLOGIN`) are `Ok(false)`.
    fn check_login<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(self.try_login(username, password))
    }
}

/// Whether `name` has the shape of an account Warden makes: [`MANAGED_PREFIX`], then
/// `a-z 0-9 _`, within PostgreSQL's 63-byte limit.
fn is_account_name(name: &str) -> bool {
    name.starts_with(MANAGED_PREFIX)
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether the server's answer says a change raced another change of the same role.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        let code = db.code().code();
        matches!(code, "23505" | "42710" | "40001" | "40P01")
            || (code == "XX000" && db.message().contains("concurrently"))
    })
}

/// Whether an error with this SQLSTATE may pass without anyone changing anything.
fn transient(code: &str, message: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57P05" | "57014" | "40001" | "40P01" | "55P03" | "23505"
        )
        || (code == "XX000" && message.contains("concurrently"))
}

/// Why a grant's end cannot be written as a timestamp literal.
#[derive(Debug, thiserror::Error)]
enum UntilError {
    /// Truncating to microseconds gave an invalid time.
    #[error("{0}")]
    Range(#[from] time::error::ComponentRange),
    /// The time has no RFC 3339 form (a year outside 0 to 9999, say).
    #[error("{0}")]
    Format(#[from] time::error::Format),
}

/// `until` as a quoted UTC timestamp literal, to the microsecond PostgreSQL keeps.
fn until_literal(until: OffsetDateTime) -> Result<String, UntilError> {
    let utc = until.to_offset(UtcOffset::UTC);
    let utc = utc.replace_nanosecond(utc.nanosecond() / 1000 * 1000)?;
    let text = utc.format(&Rfc3339)?;
    Ok(lit(&text))
}

/// A SCRAM-SHA-256 verifier of random keys: no password matches it. A login made at
/// grant gets one so that it has no usable password until [`Connector::credential`] sets
/// one. Its iteration count is 1: the keys derive from no password, so there is nothing
/// to slow down guessing, and PostgreSQL checks every verifier it is given against the
/// empty password, running the iterations it names; at the usual 4,096 that check alone
/// held grant creation to about 500 a second on two cores.
fn unusable_verifier() -> Result<String, RandomError> {
    let salt = random_bytes::<16>()?;
    let stored = random_bytes::<32>()?;
    let server = random_bytes::<32>()?;
    Ok(format!(
        "SCRAM-SHA-256$1:{}${}:{}",
        base64(salt.as_ref()),
        base64(stored.as_ref()),
        base64(server.as_ref())
    ))
}

/// Standard base64 with padding, as SCRAM verifiers are written.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// PL/pgSQL that takes a transaction-scoped advisory lock on the role named by the
/// literal `name`, so changes of one role queue instead of failing with "tuple
/// concurrently updated" (or a duplicate `CREATE ROLE`) when they run at once.
fn lock_role(name: &str) -> String {
    format!("PERFORM pg_catalog.pg_advisory_xact_lock({LOCK_SPACE}, pg_catalog.hashtext({name}));")
}

/// `ARRAY['a','b']::text[]`.
fn text_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("ARRAY[{}]::text[]", quoted.join(", "))
}

/// `"a", "b"`.
fn ident_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| ident(s)).collect();
    quoted.join(", ")
}

/// PL/pgSQL that refuses the whole statement, naming them, when some of `roles` do not
/// exist.
fn require_roles(roles: &str) -> String {
    format!(
        "SELECT string_agg(w_n, ', ' ORDER BY w_n) INTO w_missing \
           FROM unnest({roles}) AS w_n \
          WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = w_n); \
         IF w_missing IS NOT NULL THEN \
           RAISE EXCEPTION USING ERRCODE = 'undefined_object', \
             MESSAGE = 'member_of role(s) not found on the server: ' || w_missing; \
         END IF;"
    )
}

/// PL/pgSQL that loops `w_g` over the roles `member` (a literal) is directly a member
/// of, restricted by `filter` (a condition on `g.rolname`).
fn memberships_loop(member: &str, filter: &str, body: &str) -> String {
    format!(
        "FOR w_g IN SELECT DISTINCT g.rolname FROM pg_catalog.pg_auth_members m \
           JOIN pg_catalog.pg_roles g ON g.oid = m.roleid \
           JOIN pg_catalog.pg_roles u ON u.oid = m.member \
          WHERE u.rolname = {member} AND {filter} LOOP {body} END LOOP;"
    )
}

/// One `DO` block, one transaction: refuse unknown `member_of` roles, create the login
/// (or re-enable it and move its end, dropping memberships policy no longer gives),
/// grant the memberships.
fn grant_dynamic_sql(account: &str, member_of: &[String], until: &str, verifier: &str) -> String {
    let roles = text_array(member_of);
    let name = lit(account);
    let role = ident(account);
    let body = format!(
        "DECLARE w_missing text; w_g text; BEGIN {lock} {require} \
         IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN \
           ALTER ROLE {role} WITH LOGIN VALID UNTIL {until}; {stale} \
         ELSE \
           CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
             NOBYPASSRLS INHERIT PASSWORD {verifier} VALID UNTIL {until}; \
         END IF; \
         GRANT {groups} TO {role}; END",
        lock = lock_role(&name),
        require = require_roles(&roles),
        stale = memberships_loop(
            &name,
            &format!("g.rolname <> ALL ({roles})"),
            &format!("EXECUTE format('REVOKE %I FROM %I', w_g, {name});"),
        ),
        verifier = lit(verifier),
        groups = ident_list(member_of),
    );
    format!("DO {}", lit(&body))
}

/// One `DO` block: refuse a missing login or missing roles, grant the memberships.
fn grant_own_sql(user: &str, member_of: &[String]) -> String {
    let body = format!(
        "DECLARE w_missing text; BEGIN {lock} \
         IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN \
           RAISE EXCEPTION USING ERRCODE = 'undefined_object', \
             MESSAGE = 'login role ' || {name} || ' not found on the server'; \
         END IF; {require} GRANT {groups} TO {role}; END",
        lock = lock_role(&lit(user)),
        name = lit(user),
        role = ident(user),
        require = require_roles(&text_array(member_of)),
        groups = ident_list(member_of),
    );
    format!("DO {}", lit(&body))
}

/// One `DO` block: refuse a missing role or one that cannot log in, set the verifier.
/// Sessions of the role are left alone.
fn set_password_sql(role: &str, verifier: &str) -> String {
    let name = lit(role);
    let body = format!(
        "DECLARE w_login boolean; BEGIN {lock} \
         SELECT rolcanlogin INTO w_login FROM pg_catalog.pg_roles WHERE rolname = {name}; \
         IF NOT FOUND THEN \
           RAISE EXCEPTION USING ERRCODE = 'undefined_object', \
             MESSAGE = 'the role does not exist'; \
         ELSIF NOT w_login THEN \
           RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state', \
             MESSAGE = 'the role cannot log in (NOLOGIN)'; \
         END IF; \
         ALTER ROLE {role} WITH PASSWORD {verifier}; END",
        lock = lock_role(&name),
        role = ident(role),
        verifier = lit(verifier),
    );
    format!("DO {}", lit(&body))
}

/// Ends every session of `role` but the caller's, waiting a moment for each to go.
fn terminate_sql(role: &str) -> String {
    format!(
        "SELECT pg_catalog.pg_terminate_backend(pid, {TERMINATE_WAIT_MS}) \
           FROM pg_catalog.pg_stat_activity \
          WHERE usename = {} AND pid <> pg_catalog.pg_backend_pid();",
        lit(role)
    )
}

/// A PL/pgSQL exception handler (`WHEN … THEN …;`) that re-raises a refusal for lack of
/// a privilege as `what` (an SQL text expression), PostgreSQL's own message, and `needs`:
/// what the admin role needs for the step. A revocation that cannot finish then says
/// which privilege is missing.
fn when_lacking(what: &str, needs: &str) -> String {
    format!(
        "WHEN insufficient_privilege THEN \
           RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', \
             MESSAGE = {what} || ': ' || SQLERRM || {needs};",
        needs = lit(&format!(" (the admin role needs {needs})")),
    )
}

/// What the admin role needs to change or drop a role Warden made.
const NEEDS_CREATEROLE: &str = "CREATEROLE; on PostgreSQL 16 and later also the ADMIN option \
on the role, which it holds on the roles it created";

/// PL/pgSQL for a block that declares `w_oid oid` and has set it to the oid of `account`:
/// the admin takes the privileges of the role (a membership granted to itself, which
/// `REASSIGN OWNED` and `DROP OWNED` require: PostgreSQL 15 gives a creator nothing, 16
/// only the ADMIN option), then everything the role owns in this database becomes the
/// admin's and every privilege granted to the role here is dropped.
fn take_over_sql(account: &str) -> String {
    let name = lit(account);
    let role = ident(account);
    let here = format!("{name} || ' in database ' || pg_catalog.current_database()");
    format!(
        "IF NOT pg_catalog.pg_has_role(w_oid, 'USAGE') THEN BEGIN \
           IF pg_catalog.current_setting('server_version_num')::int >= 160000 THEN \
             EXECUTE format('GRANT %I TO %I WITH INHERIT TRUE', {name}, current_user); \
           ELSE \
             EXECUTE format('GRANT %I TO %I', {name}, current_user); \
           END IF; EXCEPTION {grant} END; \
         END IF; \
         BEGIN REASSIGN OWNED BY {role} TO CURRENT_USER; EXCEPTION {reassign} END; \
         BEGIN DROP OWNED BY {role}; EXCEPTION {drop} END;",
        grant = when_lacking(
            &format!("'taking the privileges of role ' || {name} || ' to reassign what it owns'"),
            NEEDS_CREATEROLE,
        ),
        reassign = when_lacking(
            &format!("'REASSIGN OWNED BY ' || {here}"),
            "CREATE on the schema of each function, procedure, operator, collation, \
             conversion, text search object or statistics object the role created, since \
             these become the admin's",
        ),
        drop = when_lacking(&format!("'DROP OWNED BY ' || {here}"), NEEDS_CREATEROLE),
    )
}

/// The databases other than this one where `account` owns objects or holds privileges,
/// one row each in a column `w_database`: `REASSIGN OWNED` and `DROP OWNED` act on the
/// current database only, so these need a connection of their own.
fn elsewhere_sql(account: &str) -> String {
    format!(
        "SELECT d.datname::text AS w_database \
           FROM pg_catalog.pg_shdepend s \
           JOIN pg_catalog.pg_database d ON d.oid = s.dbid \
          WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass \
            AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = {}) \
            AND d.datname <> pg_catalog.current_database() \
          GROUP BY 1 ORDER BY 1;",
        lit(account)
    )
}

/// One `DO` block: what `account` owns here is taken over, and the role is dropped unless
/// it still owns objects or holds privileges in another database; then those databases
/// (see [`elsewhere_sql`]). Privileges another role granted to it directly, which the
/// admin cannot revoke, are named in the error.
fn drop_role_sql(account: &str) -> String {
    let name = lit(account);
    let role = ident(account);
    let body = format!(
        "DECLARE w_oid oid; w_detail text; BEGIN {lock} \
         SELECT oid INTO w_oid FROM pg_catalog.pg_roles WHERE rolname = {name}; \
         IF FOUND THEN {take_over} \
           IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s \
                           WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass \
                             AND s.refobjid = w_oid AND s.dbid <> 0 \
                             AND s.dbid <> (SELECT oid FROM pg_catalog.pg_database \
                                             WHERE datname = pg_catalog.current_database())) THEN \
             BEGIN DROP ROLE {role}; \
             EXCEPTION \
               WHEN dependent_objects_still_exist THEN \
                 GET STACKED DIAGNOSTICS w_detail = PG_EXCEPTION_DETAIL; \
                 RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist', \
                   MESSAGE = 'DROP ROLE ' || {name} || ': ' || SQLERRM || ': ' \
                     || left(replace(w_detail, E'\\n', '; '), 400) \
                     || ' (granted to it directly by another role, which the admin role cannot \
                        revoke: revoke them as their grantor or a superuser; the role can no \
                        longer log in and holds no membership)'; \
               {drop_needs} \
             END; \
           END IF; \
         END IF; END",
        lock = lock_role(&name),
        take_over = take_over_sql(account),
        drop_needs = when_lacking(&format!("'DROP ROLE ' || {name}"), NEEDS_CREATEROLE),
    );
    format!("DO {}; {}", lit(&body), elsewhere_sql(account))
}

/// The batch a revocation starts with: `NOLOGIN` and no memberships (committed first, so
/// no new session starts and nothing is held even if the rest fails), then its sessions
/// ended, in every database, then [`drop_role_sql`].
fn drop_account_sql(account: &str) -> String {
    let name = lit(account);
    let role = ident(account);
    let disable = format!(
        "DECLARE w_g text; BEGIN {lock} \
         IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN BEGIN \
           ALTER ROLE {role} WITH NOLOGIN; {revoke} \
         EXCEPTION {needs} END; \
         END IF; END",
        lock = lock_role(&name),
        revoke = memberships_loop(
            &name,
            "true",
            &format!("EXECUTE format('REVOKE %I FROM %I', w_g, {name});"),
        ),
        needs = when_lacking(
            &format!("'disabling role ' || {name}"),
            "CREATEROLE; on PostgreSQL 16 and later also the ADMIN option on the role and on \
             the roles it is a member of",
        ),
    );
    format!(
        "DO {}; COMMIT; {} {}",
        lit(&disable),
        terminate_sql(account),
        drop_role_sql(account)
    )
}

/// One `DO` block for another database than the connection's: what `account` owns or
/// holds there is taken over or dropped (see [`take_over_sql`]).
fn clean_up_sql(account: &str) -> String {
    let body = format!(
        "DECLARE w_oid oid; BEGIN \
         SELECT oid INTO w_oid FROM pg_catalog.pg_roles WHERE rolname = {}; \
         IF FOUND THEN {} END IF; END",
        lit(account),
        take_over_sql(account),
    );
    format!("DO {}", lit(&body))
}

/// Revokes the `member_of` memberships `user` holds (committed), then ends its sessions,
/// so none that did `SET ROLE` keeps the privilege.
fn revoke_own_sql(user: &str, member_of: &[String]) -> String {
    let name = lit(user);
    let body = format!(
        "DECLARE w_g text; BEGIN {} {} END",
        lock_role(&name),
        memberships_loop(
            &name,
            &format!("g.rolname = ANY ({})", text_array(member_of)),
            &format!("EXECUTE format('REVOKE %I FROM %I', w_g, {name});"),
        )
    );
    format!("DO {}; COMMIT; {}", lit(&body), terminate_sql(user))
}

/// Whether the role `$1` can log in, its `VALID UNTIL` in microseconds since the epoch
/// (null when none or infinite), and how many of the roles `$2` it is directly a member of.
const VERIFY_SQL: &str = "\
SELECT r.rolcanlogin,
       CASE WHEN r.rolvaliduntil IS NOT NULL AND isfinite(r.rolvaliduntil)
            THEN (extract(epoch FROM r.rolvaliduntil) * 1000000)::int8 END,
       (SELECT count(DISTINCT g.rolname)
          FROM pg_catalog.pg_auth_members m
          JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
         WHERE m.member = r.oid AND g.rolname = ANY ($2::text[]))::int8
  FROM pg_catalog.pg_roles r
 WHERE r.rolname = $1";

/// Every role but the predefined `pg_*` ones: its privileged attributes, `VALID UNTIL`,
/// and its direct memberships of privileged roles. A role is privileged when it has a
/// privileged attribute, is one of the predefined roles `$1`, or is (transitively) a
/// member of such a role, since a member can `SET ROLE` to it. Reporting only direct
/// memberships keeps each one removable by a single `REVOKE`.
const DISCOVER_SQL: &str = "\
WITH RECURSIVE privileged(oid) AS (
    SELECT oid FROM pg_catalog.pg_roles
     WHERE rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls
        OR rolname = ANY ($1::text[])
    UNION
    SELECT m.member FROM pg_catalog.pg_auth_members m JOIN privileged p ON m.roleid = p.oid
)
SELECT r.rolname::text, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
       r.rolbypassrls,
       CASE WHEN r.rolvaliduntil IS NOT NULL AND isfinite(r.rolvaliduntil)
            THEN (extract(epoch FROM r.rolvaliduntil) * 1000000)::int8 END,
       ARRAY(SELECT DISTINCT g.rolname::text
               FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid AND g.oid IN (SELECT oid FROM privileged)
              ORDER BY 1)
  FROM pg_catalog.pg_roles r
 WHERE r.rolname !~ '^pg_'
 ORDER BY r.rolname";
