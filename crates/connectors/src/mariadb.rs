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

/// The configuration of one MariaDB connection (`[connections.NAME]` with
/// `kind = "mariadb"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server's address, as Warden reaches it (TCP only).
    #[serde(default = "default_host")]
    pub host: String,
    /// The server's port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The admin user Warden logs in as; it needs `CREATE USER`, `GRANT OPTION` with the
    /// privileges roles grant, `PROCESS`, `CONNECTION ADMIN` (or `SUPER`) and `SELECT` on
    /// `mysql`.
    pub user: String,
    /// Inline admin password (development only); see [`AdminSecret`].
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The environment variable holding the admin password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the admin password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The vaulted account holding the admin password (read through the connector's
    /// [`PasswordSource`], see [`Mariadb::with_passwords`]).
    #[serde(default)]
    pub password_vault: Option<String>,
    /// The host part of the accounts Warden creates (`%`, `localhost`, an address or a
    /// pattern of `A-Z a-z 0-9 . % _ -`).
    #[serde(default = "default_user_host")]
    pub user_host: String,
    /// The host people connect to, for credential hints (default: `host`).
    #[serde(default)]
    pub public_host: Option<String>,
    /// A database to name in credential hints; only a hint for people.
    #[serde(default)]
    pub database: Option<String>,
    /// The most admin connections open at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long to wait for an admin connection, in seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    3306
}

fn default_user_host() -> String {
    "%".to_owned()
}

fn default_max_connections() -> usize {
    4
}

fn default_connect_timeout() -> u64 {
    5
}

impl Config {
    /// Where the admin password comes from.
    pub fn admin_secret(&self) -> AdminSecret {
        AdminSecret {
            password: self.password.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            password_vault: self.password_vault.clone(),
        }
    }

    /// Checks what can be checked without reaching the server.
    fn check(&self) -> Result<(), ConnectorError> {
        let refuse = |m: String| Err(ConnectorError::Refused(m));
        if self.host.trim().is_empty() {
            return refuse("mariadb: `host` is empty".to_owned());
        }
        if self.user.is_empty() {
            return refuse("mariadb: `user` is empty".to_owned());
        }
        if let Err(e) = self.admin_secret().check() {
            return refuse(format!("mariadb: {e}"));
        }
        check_user_host(&self.user_host).map_err(|e| ConnectorError::Refused(e.to_string()))?;
        if self.max_connections == 0 {
            return refuse("mariadb: `max_connections` must be at least 1".to_owned());
        }
        if self.connect_timeout_secs == 0 {
            return refuse("mariadb: `connect_timeout_secs` must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// A `user_host` that [`check_user_host`] refuses; holds it as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mariadb: `user_host` {0:?} is not `%`, `localhost` or a host of A-Z a-z 0-9 . % _ -")]
pub struct BadUserHost(pub String);

/// Checks the host part of the accounts Warden creates: `%`, `localhost`, or an address,
/// host name or pattern of 1 to 255 characters of `A-Z a-z 0-9 . % _ -`.
pub fn check_user_host(host: &str) -> Result<(), BadUserHost> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '%' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BadUserHost(host.to_owned()))
    }
}

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

/// One admin connection, taken from the pool for one call.
struct Session<'a> {
    conn: Conn,
    target: &'a str,
}

impl Session<'_> {
    fn timed_out(&self, what: &str) -> ConnectorError {
        ConnectorError::Unavailable(format!(
            "{}: {what} did not finish within {} s",
            self.target,
            STATEMENT_TIMEOUT.as_secs()
        ))
    }

    /// Runs a statement that carries no secret; an error names it.
    async fn run(&mut self, sql: &str) -> Result<(), ConnectorError> {
        self.run_ignoring(sql, &[]).await
    }

    /// Runs a statement that carries no secret, taking the server errors in `ok` as
    /// success.
    async fn run_ignoring(&mut self, sql: &str, ok: &[u16]) -> Result<(), ConnectorError> {
        match timeout(STATEMENT_TIMEOUT, self.conn.query_drop(sql)).await {
            Err(_) => Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(mysql_async::Error::Server(s))) if ok.contains(&s.code) => Ok(()),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Runs a statement that carries a secret: an error says `what` and the server's
    /// error code, never the statement or the server's message.
    async fn run_secret(&mut self, sql: &str, what: &str) -> Result<(), ConnectorError> {
        match timeout(STATEMENT_TIMEOUT, self.conn.query_drop(sql)).await {
            Err(_) => Err(self.timed_out(what)),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: {what}", self.target), true)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The rows of a statement without parameters.
    async fn query_rows(&mut self, sql: &str) -> Result<Vec<Row>, ConnectorError> {
        match timeout(STATEMENT_TIMEOUT, self.conn.query::<Row, _>(sql)).await {
            Err(_) => Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(rows)) => Ok(rows),
        }
    }

    /// The rows of a prepared statement with bound parameters.
    async fn exec_rows<P>(&mut self, sql: &str, params: P) -> Result<Vec<Row>, ConnectorError>
    where
        P: Into<Params> + Send,
    {
        match timeout(STATEMENT_TIMEOUT, self.conn.exec::<Row, _, _>(sql, params)).await {
            Err(_) => Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(e)) => Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(rows)) => Ok(rows),
        }
    }

    /// Column `i` of `row`.
    fn col<T: FromValue>(&self, row: &Row, i: usize) -> Result<T, ConnectorError> {
        match row.get_opt::<T, usize>(i) {
            Some(Ok(v)) => Ok(v),
            _ => Err(ConnectorError::Refused(format!(
                "{}: unexpected answer (column {i})",
                self.target
            ))),
        }
    }

    /// Whether `user@host` exists (`Some`) and is locked (`Some(true)`).
    async fn account_state(
        &mut self,
        user: &str,
        host: &str,
    ) -> Result<Option<bool>, ConnectorError> {
        let rows = self
            .exec_rows(
                "SELECT IFNULL(JSON_VALUE(Priv, '$.account_locked'), 'false') IN ('1', 'true') \
                 FROM mysql.global_priv WHERE User = ? AND Host = ?",
                (user, host),
            )
            .await?;
        match rows.first() {
            None => Ok(None),
            Some(row) => Ok(Some(self.col::<i64>(row, 0)? != 0)),
        }
    }

    /// The parsed `SHOW GRANTS` of `user@host` (of the role `user` without a host);
    /// `None` when it does not exist.
    async fn grants_of(
        &mut self,
        user: &str,
        host: Option<&str>,
    ) -> Result<Option<Vec<GrantLine>>, ConnectorError> {
        let who = match host {
            Some(h) => account_sql(user, h),
            None => quote_str(user),
        };
        let sql = format!("SHOW GRANTS FOR {who}");
        let rows = match timeout(STATEMENT_TIMEOUT, self.conn.query::<Row, _>(sql.as_str())).await {
            Err(_) => return Err(self.timed_out(&format!("`{sql}`"))),
            Ok(Err(mysql_async::Error::Server(s))) if s.code == 1141 => return Ok(None),
            Ok(Err(e)) => return Err(db_error(&e, &format!("{}: `{sql}`", self.target), false)),
            Ok(Ok(rows)) => rows,
        };
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            let text: String = self.col(row, 0)?;
            if let Some(line) = parse_grant_line(&text) {
                lines.push(line);
            }
        }
        Ok(Some(lines))
    }

    /// Kills every connection of `user` (from any host) but this one.
    async fn kill_sessions(&mut self, user: &str) -> Result<(), ConnectorError> {
        let rows = self
            .exec_rows(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
                (user,),
            )
            .await?;
        for row in &rows {
            let id: u64 = self.col(row, 0)?;
            self.run_ignoring(&format!("KILL CONNECTION {id}"), &[1094])
                .await?;
        }
        Ok(())
    }

    /// Locks `user@host` so nobody logs in, kills its connections, drops it and kills
    /// whatever connected in between. Succeeds when it is already gone.
    async fn drop_account(&mut self, user: &str, host: &str) -> Result<(), ConnectorError> {
        let acct = account_sql(user, host);
        self.run(&format!("ALTER USER IF EXISTS {acct} ACCOUNT LOCK"))
            .await?;
        self.kill_sessions(user).await?;
        self.run(&format!("DROP USER IF EXISTS {acct}")).await?;
        self.kill_sessions(user).await
    }
}

/// What a grant is on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Object {
    /// `*.*`.
    Global,
    /// `db.*`.
    Schema(String),
    /// `db.table`.
    Table(String, String),
    /// `PROXY ON user@host`.
    Proxy(String, String),
    /// A stored procedure, function or package (not reported).
    Routine,
}

impl Object {
    /// How [`Account::privileges`] shows it.
    fn show(&self) -> String {
        match self {
            Self::Global => "*.*".to_owned(),
            Self::Schema(db) => format!("{}.*", show_ident(db)),
            Self::Table(db, t) => format!("{}.{}", show_ident(db), show_ident(t)),
            Self::Proxy(u, h) => format!("{}@{}", show_ident(u), show_ident(h)),
            Self::Routine => "(routine)".to_owned(),
        }
    }

    /// How a statement names it.
    fn sql(&self) -> String {
        match self {
            Self::Global => "*.*".to_owned(),
            Self::Schema(db) => format!("{}.*", quote_ident(db)),
            Self::Table(db, t) => format!("{}.{}", quote_ident(db), quote_ident(t)),
            Self::Proxy(u, h) => account_sql(u, h),
            Self::Routine => String::new(),
        }
    }

    /// Whether it is in the `mysql` schema (the grant tables).
    fn in_mysql_schema(&self) -> bool {
        match self {
            Self::Schema(db) | Self::Table(db, _) => db.eq_ignore_ascii_case("mysql"),
            _ => false,
        }
    }
}

/// The object a policy's `on` names, checked again.
fn object_of_on(on: &str) -> Result<Object, ConnectorError> {
    check_mariadb_on(on)?;
    match on.split_once('.') {
        Some(("*", "*")) => Ok(Object::Global),
        Some((db, "*")) => Ok(Object::Schema(db.to_owned())),
        Some((db, table)) => Ok(Object::Table(db.to_owned(), table.to_owned())),
        None => Err(ConnectorError::Refused(format!("{on:?} is not db.table"))),
    }
}

/// An identifier as [`Account::privileges`] shows it: bare when it is plain
/// (`A-Z a-z 0-9 _ $`), else in backticks.
fn show_ident(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain { s.to_owned() } else { quote_ident(s) }
}

/// One line of `SHOW GRANTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GrantLine {
    /// `GRANT <privileges> ON <object> TO … [WITH GRANT OPTION]`.
    Privileges {
        /// Privileges as shown (`SELECT`, `SELECT (Host, User)`, `ALL PRIVILEGES`).
        privileges: Vec<String>,
        /// What they are on.
        object: Object,
        /// Whether they come with `GRANT OPTION`.
        grant_option: bool,
    },
    /// `GRANT <role> TO …`.
    Role(String),
}

/// Reads an identifier at the start of `s` (in backticks, a doubled backtick standing
/// for one, or bare `A-Z a-z 0-9 _ $`); returns it and the rest of `s`.
fn take_ident(s: &str) -> Option<(String, &str)> {
    if let Some(body) = s.strip_prefix('`') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '`' {
                out.push(c);
                continue;
            }
            let rest = body.get(i + 1..)?;
            if rest.starts_with('`') {
                out.push('`');
                chars.next();
            } else {
                return Some((out, rest));
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s.get(..end)?.to_owned(), s.get(end..)?))
}

/// The byte offsets in `s` where `pat` starts outside backticks and parentheses.
fn top_level(s: &str, pat: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut in_ticks = false;
    let mut depth = 0_usize;
    for (i, c) in s.char_indices() {
        match c {
            '`' => in_ticks = !in_ticks,
            '(' if !in_ticks => depth += 1,
            ')' if !in_ticks => depth = depth.saturating_sub(1),
            _ if !in_ticks && depth == 0 && s.get(i..).is_some_and(|r| r.starts_with(pat)) => {
                found.push(i);
            }
            _ => {}
        }
    }
    found
}

/// Reads `*.*`, `db.*` or `db.table` at the start of `s`.
fn take_object(s: &str) -> Option<(Object, &str)> {
    if let Some(rest) = s.strip_prefix("*.*") {
        return Some((Object::Global, rest));
    }
    for routine in ["PROCEDURE ", "FUNCTION ", "PACKAGE "] {
        if s.starts_with(routine) {
            return Some((Object::Routine, ""));
        }
    }
    let (db, rest) = take_ident(s)?;
    let rest = rest.strip_prefix('.')?;
    if let Some(rest) = rest.strip_prefix('*') {
        return Some((Object::Schema(db), rest));
    }
    let (table, rest) = take_ident(rest)?;
    Some((Object::Table(db, table), rest))
}

/// Reads `user@host` (each an identifier) at the start of `s`.
fn take_proxy(s: &str) -> Option<(Object, &str)> {
    let (user, rest) = take_ident(s)?;
    let rest = rest.strip_prefix('@')?;
    let (host, rest) = take_ident(rest)?;
    Some((Object::Proxy(user, host), rest))
}

/// A privilege as shown: its name, with its columns (`SELECT (Host, User)`) if any.
fn canonical_privilege(item: &str) -> Option<String> {
    let item = item.trim();
    let Some((name, cols)) = item.split_once('(') else {
        return Some(item.to_owned());
    };
    let cols = cols.trim_end().strip_suffix(')')?;
    let mut shown = Vec::new();
    for col in cols.split(',') {
        let (c, rest) = take_ident(col.trim())?;
        if !rest.is_empty() {
            return None;
        }
        shown.push(show_ident(&c));
    }
    Some(format!("{} ({})", name.trim_end(), shown.join(", ")))
}

/// Parses one line of `SHOW GRANTS`; `None` for lines that grant nothing Warden reads
/// (`SET DEFAULT ROLE`, or anything it cannot parse).
fn parse_grant_line(line: &str) -> Option<GrantLine> {
    let rest = line.strip_prefix("GRANT ")?;
    let Some(&on) = top_level(rest, " ON ").first() else {
        let (role, after) = take_ident(rest)?;
        return after.starts_with(" TO ").then_some(GrantLine::Role(role));
    };
    let privileges = split_top_level(rest.get(..on)?, ',')
        .into_iter()
        .map(canonical_privilege)
        .collect::<Option<Vec<_>>>()?;
    let after = rest.get(on + " ON ".len()..)?;
    let (object, tail) = if privileges.iter().any(|p| p == "PROXY") {
        take_proxy(after)?
    } else {
        take_object(after)?
    };
    if object != Object::Routine && !tail.starts_with(" TO ") {
        return None;
    }
    Some(GrantLine::Privileges {
        privileges,
        object,
        grant_option: line.ends_with(" WITH GRANT OPTION"),
    })
}

/// Splits `s` at each `sep` outside backticks and parentheses.
fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut buf = [0_u8; 4];
    for i in top_level(s, sep.encode_utf8(&mut buf)) {
        if let Some(part) = s.get(start..i) {
            parts.push(part);
        }
        start = i + sep.len_utf8();
    }
    if let Some(part) = s.get(start..) {
        parts.push(part);
    }
    parts
}

/// Whether `lines` grant every privilege of `wanted` on `object`.
fn holds(lines: &[GrantLine], wanted: &[String], object: &Object) -> bool {
    let held: BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| match l {
            GrantLine::Privileges {
                privileges,
                object: o,
                ..
            } if o == object => Some(privileges),
            _ => None,
        })
        .flatten()
        .map(String::as_str)
        .collect();
    held.contains("ALL PRIVILEGES") || wanted.iter().all(|p| held.contains(p.as_str()))
}

/// The roles that hold something privileged, directly or through roles granted to them.
fn privileged_roles(role_lines: &BTreeMap<String, Vec<GrantLine>>) -> BTreeSet<String> {
    let none = BTreeSet::new();
    let mut privileged: BTreeSet<String> = role_lines
        .iter()
        .filter(|(_, lines)| !privileged_holdings(lines, &none).is_empty())
        .map(|(r, _)| r.clone())
        .collect();
    loop {
        let more: Vec<String> = role_lines
            .iter()
            .filter(|(r, lines)| {
                !privileged.contains(*r)
                    && lines
                        .iter()
                        .any(|l| matches!(l, GrantLine::Role(x) if privileged.contains(x)))
            })
            .map(|(r, _)| r.clone())
            .collect();
        if more.is_empty() {
            return privileged;
        }
        privileged.extend(more);
    }
}

/// What in `lines` counts as privileged, as [`Account::privileges`] shows it.
fn privileged_holdings(lines: &[GrantLine], privileged_roles: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for line in lines {
        match line {
            GrantLine::Role(role) => {
                if privileged_roles.contains(role) {
                    out.push(format!("ROLE {}", show_ident(role)));
                }
            }
            GrantLine::Privileges {
                privileges,
                object,
                grant_option,
            } => {
                let all = match object {
                    Object::Global | Object::Proxy(..) => true,
                    Object::Routine => false,
                    Object::Schema(_) | Object::Table(..) => object.in_mysql_schema(),
                };
                if all {
                    for p in privileges.iter().filter(|p| *p != "USAGE") {
                        out.push(format!("{p} ON {}", object.show()));
                    }
                }
                // `REVOKE PROXY` takes a proxy grant's GRANT OPTION with it.
                if *grant_option && !matches!(object, Object::Routine | Object::Proxy(..)) {
                    out.push(format!("GRANT OPTION ON {}", object.show()));
                }
            }
        }
    }
    out
}

/// One privileged holding to take away, parsed back from [`Account::privileges`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holding {
    /// `<privilege> ON <object>`; `privilege` is SQL (known name, quoted columns).
    Privilege {
        /// The privilege as a statement names it.
        privilege: String,
        /// What it is on.
        object: Object,
    },
    /// `ROLE <name>`.
    Role(String),
}

/// Parses one string of [`Account::privileges`] as [`Connector::discover`] shows it.
/// Only known privilege names are accepted, so nothing else reaches a statement.
fn parse_holding(s: &str) -> Result<Holding, ConnectorError> {
    let bad = || {
        ConnectorError::Refused(format!(
            "{s:?} is not a MariaDB privilege Warden takes away (<privilege> ON <object>, or ROLE <name>)"
        ))
    };
    if let Some(role) = s.strip_prefix("ROLE ") {
        let (role, rest) = take_ident(role).ok_or_else(bad)?;
        return if rest.is_empty() {
            Ok(Holding::Role(role))
        } else {
            Err(bad())
        };
    }
    let on = top_level(s, " ON ").first().copied().ok_or_else(bad)?;
    let item = s.get(..on).ok_or_else(bad)?;
    let target = s.get(on + " ON ".len()..).ok_or_else(bad)?;
    let (name, columns) = match item.split_once('(') {
        None => (item, None),
        Some((name, cols)) => (
            name.trim_end(),
            Some(cols.strip_suffix(')').ok_or_else(bad)?),
        ),
    };
    let known = MARIADB_PRIVILEGES.contains(&name) || ADMIN_PRIVILEGES.contains(&name);
    if !known {
        return Err(bad());
    }
    let mut privilege = name.to_owned();
    if let Some(cols) = columns {
        let mut quoted = Vec::new();
        for col in cols.split(',') {
            let (c, rest) = take_ident(col.trim()).ok_or_else(bad)?;
            if !rest.is_empty() {
                return Err(bad());
            }
            quoted.push(quote_ident(&c));
        }
        privilege = format!("{privilege} ({})", quoted.join(", "));
    }
    let (object, rest) = if name == "PROXY" {
        take_proxy(target)
    } else {
        take_object(target)
    }
    .ok_or_else(bad)?;
    if !rest.is_empty() || object == Object::Routine {
        return Err(bad());
    }
    Ok(Holding::Privilege { privilege, object })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(quote_str("abc"), "'abc'");
        assert_eq!(quote_str("a'b"), "'a''b'");
        assert_eq!(quote_str("a\\'; DROP"), "'a\\\\''; DROP'");
        assert_eq!(quote_str("a\0b\nc\rd\u{1a}"), "'a\\0b\\nc\\rd\\Z'");
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }

    #[test]
    fn account_names_and_hosts_are_checked() {
        assert!(check_account_name("w_e1001_read_0a1b2c3d").is_ok());
        for bad in [
            "w_",
            "root",
            "recorded:abc",
            "w_a'b",
            "w_a`b",
            "w_a\nb",
            "w_A",
            "w_a b",
        ] {
            assert!(check_account_name(bad).is_err(), "{bad:?}");
        }
        for good in ["%", "localhost", "10.0.%", "db-1.example.com"] {
            assert!(check_user_host(good).is_ok(), "{good:?}");
        }
        for bad in ["", "%'; DROP", "a b", "a@b", "a`b"] {
            assert!(check_user_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accounts_split_at_the_last_at_and_default_to_any_host() {
        assert_eq!(split_account("app").unwrap(), ("app", "%"));
        assert_eq!(
            split_account("app@localhost").unwrap(),
            ("app", "localhost")
        );
        assert_eq!(split_account("a@b@10.0.%").unwrap(), ("a@b", "10.0.%"));
        for bad in [
            "",
            "@%",
            "app@",
            "app@a b",
            "app@x'; DROP",
            "a\nb@%",
            "app@`h`",
        ] {
            assert!(split_account(bad).is_err(), "{bad:?}");
        }
        assert!(split_account(&"x".repeat(129)).is_err());
    }

    #[test]
    fn show_grants_lines_parse() {
        let l = parse_grant_line(
            "GRANT ALL PRIVILEGES ON *.* TO `zz`@`%` IDENTIFIED BY PASSWORD '*D82' WITH GRANT OPTION",
        )
        .unwrap();
        assert_eq!(
            l,
            GrantLine::Privileges {
                privileges: vec!["ALL PRIVILEGES".into()],
                object: Object::Global,
                grant_option: true
            }
        );
        let l =
            parse_grant_line("GRANT SELECT (`Host`, `User`), INSERT ON `mysql`.`user` TO `zz`@`%`")
                .unwrap();
        assert_eq!(
            l,
            GrantLine::Privileges {
                privileges: vec!["SELECT (Host, User)".into(), "INSERT".into()],
                object: Object::Table("mysql".into(), "user".into()),
                grant_option: false
            }
        );
        assert_eq!(
            parse_grant_line("GRANT `my role` TO `zz`@`%`"),
            Some(GrantLine::Role("my role".into()))
        );
        assert_eq!(
            parse_grant_line("GRANT SELECT ON `a ON b`.* TO `zz`@`%`"),
            Some(GrantLine::Privileges {
                privileges: vec!["SELECT".into()],
                object: Object::Schema("a ON b".into()),
                grant_option: false
            })
        );
        assert_eq!(
            parse_grant_line("GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION"),
            Some(GrantLine::Privileges {
                privileges: vec!["PROXY".into()],
                object: Object::Proxy(String::new(), "%".into()),
                grant_option: true
            })
        );
        assert_eq!(parse_grant_line("SET DEFAULT ROLE `r` FOR `zz`@`%`"), None);
    }

    #[test]
    fn holdings_round_trip_to_statements() {
        let lines = vec![
            parse_grant_line("GRANT USAGE ON *.* TO `zz`@`%`").unwrap(),
            parse_grant_line("GRANT SUPER, PROCESS ON *.* TO `zz`@`%`").unwrap(),
            parse_grant_line("GRANT SELECT ON `mysql`.* TO `zz`@`%`").unwrap(),
            parse_grant_line("GRANT SELECT (`Host`) ON `mysql`.`user` TO `zz`@`%`").unwrap(),
            parse_grant_line("GRANT SELECT ON `app`.* TO `zz`@`%` WITH GRANT OPTION").unwrap(),
            parse_grant_line("GRANT INSERT ON `my-db`.* TO `zz`@`%` WITH GRANT OPTION").unwrap(),
            parse_grant_line("GRANT PROXY ON ``@`%` TO `zz`@`%`").unwrap(),
            parse_grant_line("GRANT `admins` TO `zz`@`%`").unwrap(),
            parse_grant_line("GRANT `readers` TO `zz`@`%`").unwrap(),
        ];
        let roles = BTreeSet::from(["admins".to_owned()]);
        let held = privileged_holdings(&lines, &roles);
        assert_eq!(
            held,
            vec![
                "SUPER ON *.*",
                "PROCESS ON *.*",
                "SELECT ON mysql.*",
                "SELECT (Host) ON mysql.user",
                "GRANT OPTION ON app.*",
                "GRANT OPTION ON `my-db`.*",
                "PROXY ON ``@`%`",
                "ROLE admins",
            ]
        );
        let sql: Vec<String> = held
            .iter()
            .map(|h| match parse_holding(h).unwrap() {
                Holding::Privilege { privilege, object } => {
                    format!("{privilege} ON {}", object.sql())
                }
                Holding::Role(r) => format!("ROLE {}", quote_ident(&r)),
            })
            .collect();
        assert_eq!(
            sql,
            vec![
                "SUPER ON *.*",
                "PROCESS ON *.*",
                "SELECT ON `mysql`.*",
                "SELECT (`Host`) ON `mysql`.`user`",
                "GRANT OPTION ON `app`.*",
                "GRANT OPTION ON `my-db`.*",
                "PROXY ON ''@'%'",
                "ROLE `admins`",
            ]
        );
        for bad in [
            "SELECT; DROP DATABASE x ON *.*",
            "SELECT ON *.*; DROP DATABASE x",
            "SELECT ON app.*, mysql.*",
            "ROLE a; DROP",
            "SELECT (a; b) ON mysql.user",
            "NOTAPRIV ON *.*",
            "SELECT",
        ] {
            assert!(parse_holding(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_holding_of_a_system_account_parses_back() {
        let lines: Vec<GrantLine> = [
            "GRANT ALL PRIVILEGES ON *.* TO `mysql`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION",
            "GRANT PROXY ON ``@`%` TO `mysql`@`localhost` WITH GRANT OPTION",
            "GRANT EXECUTE ON PROCEDURE `mysql`.`p` TO `mysql`@`localhost` WITH GRANT OPTION",
        ]
        .iter()
        .filter_map(|l| parse_grant_line(l))
        .collect();
        let held = privileged_holdings(&lines, &BTreeSet::new());
        assert_eq!(
            held,
            vec![
                "ALL PRIVILEGES ON *.*",
                "GRANT OPTION ON *.*",
                "PROXY ON ``@`%`"
            ]
        );
        for h in &held {
            assert!(parse_holding(h).is_ok(), "{h}");
        }
    }

    #[test]
    fn privileged_roles_are_found_through_roles() {
        let mut roles = BTreeMap::new();
        roles.insert(
            "admins".to_owned(),
            vec![parse_grant_line("GRANT SUPER ON *.* TO `admins`").unwrap()],
        );
        roles.insert(
            "ops".to_owned(),
            vec![parse_grant_line("GRANT `admins` TO `ops`").unwrap()],
        );
        roles.insert(
            "readers".to_owned(),
            vec![parse_grant_line("GRANT SELECT ON `app`.* TO `readers`").unwrap()],
        );
        let p = privileged_roles(&roles);
        assert_eq!(p, BTreeSet::from(["admins".to_owned(), "ops".to_owned()]));
    }

    #[test]
    fn holds_checks_every_privilege_on_the_object() {
        let lines = vec![parse_grant_line("GRANT SELECT, INSERT ON `app`.* TO `w`@`%`").unwrap()];
        let app = Object::Schema("app".into());
        assert!(holds(&lines, &["SELECT".into()], &app));
        assert!(!holds(&lines, &["DELETE".into()], &app));
        assert!(!holds(&lines, &["SELECT".into()], &Object::Global));
    }
}
