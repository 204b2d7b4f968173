//! The MariaDB connector: a dynamic user per access, made for a grant and dropped when
//! it ends. MariaDB accounts have no end date, so Warden enforces the end itself by
//! revoking: it locks the account, kills every connection of the user, drops it, and
//! kills again whatever slipped in between.
//!
//! # Statements
//!
//! Nothing from a request reaches a statement unchecked. Account names are generated
//! ([`AccessSpec::account_name`]) and checked again here ([`check_account_name`]); the
//! privileges and objects of a role are checked again with
//! [`check_mariadb_privilege`] and [`check_mariadb_on`]; database and table names are
//! quoted with backticks and every string literal (user, host, password) is escaped
//! ([`quote_str`]). Values in lookups are bound as statement parameters. A password
//! never appears in an error or a log: errors of a statement carrying one report only
//! the server's error code, never its message (which may quote the statement).
//!
//! # Accounts Warden creates
//!
//! `CREATE USER IF NOT EXISTS 'w_…'@'<user_host>'` with a random password, then one
//! `GRANT <privileges> ON <object>` per grant of the role, never `WITH GRANT OPTION`.
//! Granting again re-applies the grants and unlocks the account; it adds, it never takes
//! away a privilege the role no longer lists (the reconciler's drift report shows it).
//!
//! # Discovery
//!
//! [`Connector::discover`] lists every account (`mysql.user`) as `user@host` in
//! [`Account::name`] (MariaDB's own spelling, without quotes; an anonymous account is
//! `@host`). Roles are not listed (nobody logs in as a role), but a user granted a role
//! that holds something privileged (directly or through other roles) shows `ROLE <name>`.
//! MariaDB's internal `mariadb.sys` account (the locked owner of system views) is left
//! out: stripping it would break the server. Every account whose user name is the admin
//! user this connector logs in with (any host) is [`Origin::Connector`] and never
//! touched by [`Connector::remove`].
//!
//! What counts as privileged, read from `SHOW GRANTS`, each as `<privilege> ON <object>`:
//! every global privilege (`ALL PRIVILEGES ON *.*`, `SUPER ON *.*`, `GRANT OPTION ON
//! *.*`, ...), every privilege on the `mysql` schema or its tables (`SELECT ON mysql.*`,
//! `SELECT (Host, User) ON mysql.user`), `GRANT OPTION` on anything, and `PROXY ON
//! user@host`. Names that are not plain (`A-Z a-z 0-9 _ $`) are shown in backticks.
//! Privileges on stored routines, and privileges given to `PUBLIC`, are not reported.
//!
//! # Passwords of existing accounts
//!
//! For the vault, [`Connector::set_password`] runs `ALTER USER 'user'@'host' IDENTIFIED
//! BY …` on an account named `user@host` (`user` alone is `user@%`) that exists, the way
//! [`Connector::credential`] sets one; [`Connector::check_login`] logs in as `user` on a
//! connection of its own (the server picks the host). When the server stops taking the
//! admin password a pool logs in with (the vault rotated it, its file changed), the pool
//! is made again, once per call, with the password read anew.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::timeout;
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, MANAGED_PREFIX,
    MARIADB_PRIVILEGES, MariadbGrant, Origin, Presence, RoleTarget, check_mariadb_on,
    check_mariadb_privilege,
};
use warden_core::secret::generate_password;
use zeroize::Zeroizing;

use crate::{AdminSecret, PasswordSource};

mod config;
mod grants;
mod session;
#[cfg(test)]
mod tests;

pub use config::{BadUserHost, Config, check_user_host};
use grants::{Holding, holds, object_of_on, parse_holding, privileged_holdings, privileged_roles};
use session::Session;

/// The longest one statement may run before the target counts as unavailable.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an idle admin connection stays in the pool.
const IDLE_TTL: Duration = Duration::from_secs(60);

/// MariaDB's internal account (owner of the system views): never listed, never touched.
const SYSTEM_ACCOUNT: &str = "mariadb.sys";

/// Length of the passwords Warden sets.
const PASSWORD_LEN: usize = 32;

/// Server errors a retry can get past: too many connections, shutdown, lock wait
/// timeout, deadlock, interrupted or killed statements, statement timeout.
const TRANSIENT: &[u16] = &[1040, 1053, 1205, 1213, 1317, 1927, 1969, 2006, 2013];

/// Server errors refusing a login: access denied (wrong password or no such account;
/// 1698 when a passwordless plugin stands in for a missing account), account locked.
const LOGIN_REFUSED: &[u16] = &[1045, 1698, 4151];

/// Server errors meaning that what a statement would take away is already gone: unknown
/// thread (`KILL`), no such grant (global or schema, table, routine), role not granted.
const GONE: &[u16] = &[1094, 1141, 1147, 1403, 1962];

/// Privileges [`Connector::remove`] takes away besides those a role may grant: global
/// administrative privileges of MariaDB 10.5 and later, `GRANT OPTION`, `PROXY`.
const ADMIN_PRIVILEGES: &[&str] = &[
    "BINLOG ADMIN",
    "BINLOG MONITOR",
    "BINLOG REPLAY",
    "CONNECTION ADMIN",
    "CREATE TABLESPACE",
    "CREATE USER",
    "DELETE HISTORY",
    "FEDERATED ADMIN",
    "FILE",
    "GRANT OPTION",
    "PROXY",
    "READ_ONLY ADMIN",
    "REPLICA MONITOR",
    "REPLICATION MASTER ADMIN",
    "REPLICATION REPLICA",
    "REPLICATION SLAVE ADMIN",
    "SET USER",
    "SHOW CREATE ROUTINE",
    "SHUTDOWN",
    "SLAVE MONITOR",
];

/// Checks a Warden account name before it goes into a statement: the managed prefix,
/// then 1 to 62 of `a-z 0-9 _`. A handle such as `recorded:…` or one with quotes fails.
pub fn check_account_name(name: &str) -> Result<(), ConnectorError> {
    let ok = name.len() > MANAGED_PREFIX.len()
        && name.len() <= 64
        && name.starts_with(MANAGED_PREFIX)
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConnectorError::Refused(format!(
            "{name:?} is not a MariaDB account name Warden makes ({MANAGED_PREFIX} then a-z 0-9 _)"
        )))
    }
}

/// Quotes `s` as a single-quoted MariaDB string literal. Quotes are doubled and
/// backslashes, NUL, CR, LF and Ctrl-Z are backslash-escaped, so the literal ends where
/// it should whether or not the session has `NO_BACKSLASH_ESCAPES`.
pub fn quote_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Quotes `s` as a MariaDB identifier: in backticks, a backtick doubled.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// `'user'@'host'`, as statements name an account.
fn account_sql(user: &str, host: &str) -> String {
    format!("{}@{}", quote_str(user), quote_str(host))
}

/// A MariaDB server Warden grants access on.
pub struct Mariadb {
    name: String,
    config: Config,
    target: String,
    /// The admin connections, made on first use and made again (reading the admin
    /// password again) when the server stops taking the password they log in with.
    pool: Mutex<PoolSlot>,
    /// Where a password kept in the vault is read.
    passwords: Option<Arc<dyn PasswordSource>>,
}

/// The current pool, if any, and how many pools came before it.
#[derive(Default)]
struct PoolSlot {
    generation: u64,
    pool: Option<Pool>,
}

impl fmt::Debug for Mariadb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pool's options hold the admin password: never print them.
        f.debug_struct("Mariadb")
            .field("name", &self.name)
            .field("host", &self.config.host)
            .field("port", &self.config.port)
            .field("user", &self.config.user)
            .field("user_host", &self.config.user_host)
            .field("vault", &self.passwords.is_some())
            .finish_non_exhaustive()
    }
}

impl Mariadb {
    /// A connector for the connection `name`. Checks the configuration; connects (and
    /// reads the admin password) only when first used.
    pub fn new(name: &str, config: Config) -> Result<Self, ConnectorError> {
        config.check()?;
        let target = format!("MariaDB {name} ({}:{})", config.host, config.port);
        Ok(Self {
            name: name.to_owned(),
            config,
            target,
            pool: Mutex::new(PoolSlot::default()),
            passwords: None,
        })
    }

    /// Reads an admin password kept in the vault (`password_vault`) from `source`. It is
    /// read when the pool of admin connections is made, and again when the server
    /// refuses it (the vault has rotated it).
    #[must_use]
    pub fn with_passwords(mut self, source: Arc<dyn PasswordSource>) -> Self {
        self.passwords = Some(source);
        self
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pool of admin connections (made on first use) and its generation.
    async fn pool(&self) -> Result<(u64, Pool), ConnectorError> {
        let mut slot = self.pool.lock().await;
        if let Some(pool) = &slot.pool {
            return Ok((slot.generation, pool.clone()));
        }
        let label = format!("mariadb connection {}", self.name);
        let password = self
            .config
            .admin_secret()
            .resolve_with(&label, self.passwords.as_deref())
            .await?;
        let constraints =
            PoolConstraints::new(0, self.config.max_connections).ok_or_else(|| {
                ConnectorError::Refused("mariadb: `max_connections` must be at least 1".to_owned())
            })?;
        let builder = OptsBuilder::default()
            .ip_or_hostname(self.config.host.clone())
            .tcp_port(self.config.port)
            .prefer_socket(false)
            .user(Some(self.config.user.clone()))
            .pass(password.as_ref().map(|p| p.expose_secret().to_owned()))
            .pool_opts(
                PoolOpts::new()
                    .with_constraints(constraints)
                    .with_inactive_connection_ttl(IDLE_TTL),
            );
        let pool = Pool::new(Opts::from(builder));
        slot.pool = Some(pool.clone());
        Ok((slot.generation, pool))
    }

    /// Drops the pool of generation `generation` (unless another call has already), so
    /// the next call reads the admin password again. Its connections close in the
    /// background once the sessions using them end.
    async fn forget_pool(&self, generation: u64) {
        let mut slot = self.pool.lock().await;
        if slot.generation != generation {
            return;
        }
        slot.generation += 1;
        if let Some(old) = slot.pool.take() {
            tokio::spawn(async move {
                let _ = old.disconnect().await;
            });
        }
    }

    /// An admin session from the pool; a pooled connection that went bad is replaced,
    /// and a pool whose admin password the server refuses is made again once, with the
    /// password read again (it may have been rotated since the pool was made).
    async fn session(&self) -> Result<Session<'_>, ConnectorError> {
        let wait = Duration::from_secs(self.config.connect_timeout_secs);
        let mut renewed = false;
        let mut failed_pings = 0;
        loop {
            let (generation, pool) = self.pool().await?;
            let mut conn = match timeout(wait, pool.get_conn()).await {
                Err(_) => {
                    return Err(ConnectorError::Unavailable(format!(
                        "{}: no connection within {} s",
                        self.target, self.config.connect_timeout_secs
                    )));
                }
                Ok(Err(e)) if login_refused(&e) && !renewed => {
                    renewed = true;
                    self.forget_pool(generation).await;
                    continue;
                }
                Ok(Err(e)) => {
                    return Err(db_error(&e, &format!("{}: connecting", self.target), false));
                }
                Ok(Ok(conn)) => conn,
            };
            let failure = match timeout(wait, conn.ping()).await {
                Ok(Ok(())) => {
                    return Ok(Session {
                        conn,
                        target: &self.target,
                    });
                }
                Ok(Err(e)) => db_error(&e, &format!("{}: ping", self.target), false),
                Err(_) => ConnectorError::Unavailable(format!(
                    "{}: no answer to a ping within {} s",
                    self.target, self.config.connect_timeout_secs
                )),
            };
            failed_pings += 1;
            if failed_pings == 2 {
                return Err(failure);
            }
        }
    }

    /// Whether the admin user is `user` (any host).
    fn is_admin(&self, user: &str) -> bool {
        user == self.config.user
    }

    async fn do_grant(&self, access: &AccessSpec) -> Result<String, ConnectorError> {
        let grants = self.checked_grants(access)?;
        let name = access.account_name();
        check_account_name(&name)?;
        let host = self.config.user_host.as_str();
        let acct = account_sql(&name, host);
        let mut s = self.session().await?;
        let existed = s.account_state(&name, host).await?.is_some();
        let password = new_password()?;
        let create = Zeroizing::new(format!(
            "CREATE USER IF NOT EXISTS {acct} IDENTIFIED BY {}",
            quote_str(password.expose_secret())
        ));
        s.run_secret(&create, &format!("creating {acct}")).await?;
        let applied = async {
            s.run(&format!("ALTER USER {acct} ACCOUNT UNLOCK")).await?;
            for (privileges, object) in &grants {
                s.run(&format!("GRANT {privileges} ON {object} TO {acct}"))
                    .await?;
            }
            Ok::<(), ConnectorError>(())
        }
        .await;
        if let Err(e) = applied {
            if !existed {
                // Leave no half-made account behind; the reconciler would find it anyway.
                if let Err(cleanup) = s.drop_account(&name, host).await {
                    tracing::warn!(connection = %self.name, account = %name, error = %cleanup,
                        "could not drop a half-made MariaDB account");
                }
            }
            return Err(e);
        }
        tracing::info!(connection = %self.name, account = %name, "MariaDB access granted");
        Ok(name)
    }

    /// The grants of `access` as `(privileges, object)` SQL fragments, checked again.
    fn checked_grants(&self, access: &AccessSpec) -> Result<Vec<(String, String)>, ConnectorError> {
        let grants = mapped_grants(access)?;
        if grants.is_empty() {
            return Err(ConnectorError::Refused(format!(
                "role {} on {} maps to no MariaDB grants",
                access.role, access.resource
            )));
        }
        grants
            .iter()
            .map(|g| {
                if g.privileges.is_empty() {
                    return Err(ConnectorError::Refused(format!(
                        "role {} on {}: a grant on {:?} lists no privileges",
                        access.role, access.resource, g.on
                    )));
                }
                for p in &g.privileges {
                    check_mariadb_privilege(p)?;
                }
                let object = object_of_on(&g.on)?;
                Ok((g.privileges.join(", "), object.sql()))
            })
            .collect()
    }

    async fn do_revoke(
        &self,
        access: &AccessSpec,
        handle: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let name = handle_name(access, handle)?;
        let mut s = self.session().await?;
        s.drop_account(&name, &self.config.user_host).await?;
        tracing::info!(connection = %self.name, account = %name, "MariaDB access revoked");
        Ok(())
    }

    async fn do_verify(
        &self,
        access: &AccessSpec,
        handle: Option<&str>,
    ) -> Result<Presence, ConnectorError> {
        let name = handle_name(access, handle)?;
        let host = self.config.user_host.as_str();
        let mut s = self.session().await?;
        match s.account_state(&name, host).await? {
            None | Some(true) => return Ok(Presence::Absent),
            Some(false) => {}
        }
        if let RoleTarget::Mariadb { grants } = &access.target {
            let Some(lines) = s.grants_of(&name, Some(host)).await? else {
                return Ok(Presence::Absent);
            };
            for g in grants {
                let object = object_of_on(&g.on)?;
                if !holds(&lines, &g.privileges, &object) {
                    return Ok(Presence::Absent);
                }
            }
        }
        Ok(Presence::Present { until: None })
    }

    async fn do_credential(
        &self,
        access: &AccessSpec,
        handle: Option<&str>,
    ) -> Result<Credential, ConnectorError> {
        let name = handle_name(access, handle)?;
        let host = self.config.user_host.as_str();
        let acct = account_sql(&name, host);
        let mut s = self.session().await?;
        if s.account_state(&name, host).await?.is_none() {
            return Err(ConnectorError::Refused(format!(
                "{}: account {acct} does not exist (grant the access first)",
                self.target
            )));
        }
        let password = new_password()?;
        let alter = Zeroizing::new(format!(
            "ALTER USER {acct} IDENTIFIED BY {}",
            quote_str(password.expose_secret())
        ));
        s.run_secret(&alter, &format!("setting a new password for {acct}"))
            .await?;
        let mut hints = BTreeMap::new();
        hints.insert(
            "host".to_owned(),
            self.config
                .public_host
                .clone()
                .unwrap_or_else(|| self.config.host.clone()),
        );
        hints.insert("port".to_owned(), self.config.port.to_string());
        if let Some(db) = &self.config.database {
            hints.insert("database".to_owned(), db.clone());
        }
        tracing::info!(connection = %self.name, account = %name, "MariaDB password issued");
        Ok(Credential {
            username: name,
            secret: password,
            hints,
        })
    }

    async fn do_set_password(
        &self,
        account: &str,
        password: &SecretString,
    ) -> Result<(), ConnectorError> {
        let (user, host) = split_account(account)?;
        let acct = account_sql(user, host);
        let mut s = self.session().await?;
        if s.account_state(user, host).await?.is_none() {
            return Err(ConnectorError::Refused(format!(
                "{}: account {acct} does not exist",
                self.target
            )));
        }
        // As `credential` does: the statement carries the password, so its errors show
        // only the server's error code.
        let alter = Zeroizing::new(format!(
            "ALTER USER {acct} IDENTIFIED BY {}",
            quote_str(password.expose_secret())
        ));
        s.run_secret(&alter, &format!("setting the password of {acct}"))
            .await?;
        tracing::info!(connection = %self.name, account = %acct, "MariaDB password set");
        Ok(())
    }

    async fn do_check_login(
        &self,
        account: &str,
        password: &SecretString,
    ) -> Result<bool, ConnectorError> {
        // The server decides which of the user's accounts (hosts) a login is.
        let (user, _) = split_account(account)?;
        let what = format!("{}: logging in as {}", self.target, quote_str(user));
        let opts = OptsBuilder::default()
            .ip_or_hostname(self.config.host.clone())
            .tcp_port(self.config.port)
            .prefer_socket(false)
            .user(Some(user.to_owned()))
            .pass(Some(password.expose_secret().to_owned()));
        let wait = Duration::from_secs(self.config.connect_timeout_secs);
        match timeout(wait, Conn::new(opts)).await {
            Err(_) => Err(ConnectorError::Unavailable(format!(
                "{what}: no connection within {} s",
                self.config.connect_timeout_secs
            ))),
            Ok(Ok(conn)) => {
                let _ = timeout(wait, conn.disconnect()).await;
                Ok(true)
            }
            Ok(Err(e)) if login_refused(&e) => {
                tracing::debug!(connection = %self.name, user, "login refused");
                Ok(false)
            }
            Ok(Err(e)) => Err(db_error(&e, &what, false)),
        }
    }

    async fn do_discover(&self) -> Result<Vec<Account>, ConnectorError> {
        let mut s = self.session().await?;
        let rows = s
            .query_rows("SELECT User, Host, is_role FROM mysql.user ORDER BY User, Host")
            .await?;
        let mut roles = Vec::new();
        let mut users = Vec::new();
        for row in &rows {
            let user: String = s.col(row, 0)?;
            let host: String = s.col(row, 1)?;
            let is_role: String = s.col(row, 2)?;
            if is_role.eq_ignore_ascii_case("Y") {
                roles.push(user);
            } else if user != SYSTEM_ACCOUNT {
                users.push((user, host));
            }
        }
        let mut role_lines = BTreeMap::new();
        for role in roles {
            if role.eq_ignore_ascii_case("PUBLIC") {
                continue;
            }
            if let Some(lines) = s.grants_of(&role, None).await? {
                role_lines.insert(role, lines);
            }
        }
        let privileged_roles = privileged_roles(&role_lines);
        let mut accounts = Vec::with_capacity(users.len());
        for (user, host) in users {
            // An account dropped since the listing is simply not there any more.
            let Some(lines) = s.grants_of(&user, Some(&host)).await? else {
                continue;
            };
            let origin = if self.is_admin(&user) {
                Origin::Connector
            } else if user.starts_with(MANAGED_PREFIX) {
                Origin::Warden
            } else {
                Origin::Other
            };
            accounts.push(Account {
                name: format!("{user}@{host}"),
                origin,
                privileges: privileged_holdings(&lines, &privileged_roles),
                until: None,
            });
        }
        Ok(accounts)
    }

    async fn do_remove(&self, account: &Account) -> Result<(), ConnectorError> {
        let (user, host) = account.name.rsplit_once('@').ok_or_else(|| {
            ConnectorError::Refused(format!(
                "{:?} is not a MariaDB account name (user@host)",
                account.name
            ))
        })?;
        if self.is_admin(user) {
            return Err(ConnectorError::Refused(format!(
                "{}: {} is the account this connector logs in with; Warden does not remove it",
                self.target, account.name
            )));
        }
        if user == SYSTEM_ACCOUNT {
            return Err(ConnectorError::Refused(format!(
                "{}: {} is MariaDB's internal account",
                self.target, account.name
            )));
        }
        check_account_host(host)?;
        if user.len() > 128 || user.chars().any(char::is_control) {
            return Err(ConnectorError::Refused(format!(
                "{:?} is not a MariaDB user name",
                account.name
            )));
        }
        if user.starts_with(MANAGED_PREFIX) {
            let mut s = self.session().await?;
            s.drop_account(user, host).await?;
            tracing::info!(connection = %self.name, account = %account.name, "MariaDB account of Warden dropped");
            return Ok(());
        }
        // Check every holding before the first statement.
        let holdings = account
            .privileges
            .iter()
            .map(|p| parse_holding(p))
            .collect::<Result<Vec<_>, _>>()?;
        let acct = account_sql(user, host);
        let mut s = self.session().await?;
        for h in &holdings {
            let sql = match h {
                Holding::Privilege { privilege, object } => {
                    format!("REVOKE {privilege} ON {} FROM {acct}", object.sql())
                }
                Holding::Role(role) => format!("REVOKE {} FROM {acct}", quote_ident(role)),
            };
            s.run_ignoring(&sql, GONE).await?;
        }
        s.kill_sessions(user).await?;
        tracing::info!(connection = %self.name, account = %account.name,
            privileges = ?account.privileges, "privileges of a MariaDB account removed");
        Ok(())
    }
}

impl Connector for Mariadb {
    fn grant<'a>(
        &'a self,
        access: &'a AccessSpec,
    ) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(self.do_grant(access))
    }

    fn revoke<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.do_revoke(access, handle))
    }

    fn verify<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>> {
        Box::pin(self.do_verify(access, handle))
    }

    fn credential<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Credential, ConnectorError>> {
        Box::pin(self.do_credential(access, handle))
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(self.do_discover())
    }

    fn remove<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.do_remove(account))
    }

    /// `ALTER USER 'user'@'host' IDENTIFIED BY …` on `user@host` (`user` alone is
    /// `user@%`), refused when the account does not exist.
    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.do_set_password(username, password))
    }

    /// A new connection as the user part of `username`: access denied (1045, 1698) or
    /// a locked account (4151) is `Ok(false)`.
    fn check_login<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(self.do_check_login(username, password))
    }
}

/// The MariaDB grants `access`'s role maps to, or why there are none.
fn mapped_grants(access: &AccessSpec) -> Result<&[MariadbGrant], ConnectorError> {
    match &access.target {
        RoleTarget::Mariadb { grants } => Ok(grants),
        _ => Err(ConnectorError::Refused(format!(
            "role {} on {} has no mariadb mapping in policy (grants)",
            access.role, access.resource
        ))),
    }
}

/// The account a call is about: the handle kept with the grant, else the account name.
fn handle_name(access: &AccessSpec, handle: Option<&str>) -> Result<String, ConnectorError> {
    let name = handle.map_or_else(|| access.account_name(), str::to_owned);
    check_account_name(&name)?;
    Ok(name)
}

/// A fresh random password.
fn new_password() -> Result<SecretString, ConnectorError> {
    generate_password(PASSWORD_LEN).map_err(|e| ConnectorError::Unavailable(e.to_string()))
}

/// Checks the host part of a discovered account before a statement names it: 1 to 255
/// of `A-Z a-z 0-9 . % _ - : /` (addresses, patterns, IPv6, netmasks).
fn check_account_host(host: &str) -> Result<(), ConnectorError> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '%' | '_' | '-' | ':' | '/'));
    if ok {
        Ok(())
    } else {
        Err(ConnectorError::Refused(format!(
            "{host:?} is not a MariaDB account host Warden acts on"
        )))
    }
}

/// Splits an account named `user@host` (`user` alone is `user@%`) at its last `@` and
/// checks both parts: a user name of 1 to 128 characters without control characters,
/// and a host as [`check_account_host`] accepts it.
fn split_account(account: &str) -> Result<(&str, &str), ConnectorError> {
    let (user, host) = account.rsplit_once('@').unwrap_or((account, "%"));
    if user.is_empty() || user.chars().count() > 128 || user.chars().any(char::is_control) {
        return Err(ConnectorError::Refused(format!(
            "{account:?} is not a MariaDB account (user@host, a user name of 1 to 128 characters)"
        )));
    }
    check_account_host(host)?;
    Ok((user, host))
}

/// Whether the server refused a login (see [`LOGIN_REFUSED`]).
fn login_refused(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if LOGIN_REFUSED.contains(&s.code))
}

/// Maps a driver error to a connector error, prefixed with `what`. With `redact`, a
/// server error reports only its code and state (its message may quote the statement).
fn db_error(e: &mysql_async::Error, what: &str, redact: bool) -> ConnectorError {
    match e {
        mysql_async::Error::Server(s) => {
            let msg = if redact {
                format!("{what}: ERROR {} ({})", s.code, s.state)
            } else {
                format!("{what}: ERROR {} ({}): {}", s.code, s.state, s.message)
            };
            if TRANSIENT.contains(&s.code) {
                ConnectorError::Unavailable(msg)
            } else {
                ConnectorError::Refused(msg)
            }
        }
        mysql_async::Error::Url(u) => ConnectorError::Refused(format!("{what}: {u}")),
        other => ConnectorError::Unavailable(format!("{what}: {other}")),
    }
}
