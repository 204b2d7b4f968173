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
use std::sync::Arc;
use std::time::Duration;

use postgres_protocol::escape::{escape_identifier as ident, escape_literal as lit};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage};
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, Login, MANAGED_PREFIX,
    Origin, Presence, RoleTarget, check_pg_role,
};
use warden_core::secret::{RandomError, generate_password, random_bytes};

use crate::{AdminSecret, PasswordSource};

mod accounts;
mod config;
mod pool;
mod sql;

pub use config::Config;
use pool::Pool;
use sql::{
    VERIFY_SQL, clean_up_sql, drop_account_sql, drop_role_sql, grant_dynamic_sql, grant_own_sql,
    lock_role, revoke_own_sql,
};

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
    /// the databases where a role still has something (see [`sql::elsewhere_sql`]).
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
    /// connection's, on a connection of its own (see [`sql::clean_up_sql`]). A database dropped
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
