//! The Redis connector: an ACL user per access, made with the ACL rules the role maps
//! to, deleted (and its clients killed) when the access ends.
//!
//! Redis keeps no end date on an ACL user, so Warden enforces the end by revoking. The
//! connector talks to one server over one multiplexed admin connection, made again when
//! it breaks. Every name and rule goes to Redis as its own protocol argument, never
//! joined into a line, and every rule is checked again with
//! [`check_acl_rule`] before use, so nothing can add a password, enable `nopass` or
//! smuggle in a second rule.
//!
//! Granting what exists re-applies the rules and leaves the account's passwords alone, so
//! the holder's credential keeps working; only a new account gets a (random, never shown)
//! password. Its holder gets a password from [`Connector::credential`].
//!
//! [`Connector::discover`] counts as privileged, for an enabled user: the rules `+@all`
//! (or `allcommands`), `+@admin` and `+@dangerous`, a whole dangerous command (`+config`,
//! `+flushall`, `+acl`, ... see `DANGEROUS_COMMANDS`), any dangerous command the user
//! may run whatever rule allows it (asked with `ACL DRYRUN`, Redis 7 and later; `+@write`
//! allows `FLUSHALL`, for one), and `nopass` when the user may run any command. A
//! disabled (`off`) user is not privileged: nobody can log in as it.
//!
//! For the vault, [`Connector::set_password`] replaces the passwords of an existing user
//! with the SHA-256 of the new one (`resetpass #<hex>`: the password itself never
//! travels), and refuses a user that does not exist rather than let `ACL SETUSER` make
//! it; [`Connector::check_login`] sends `AUTH` on a connection of its own.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue,
    Pipeline, RedisConnectionInfo, RedisError, Value,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, MANAGED_PREFIX, Origin,
    Presence, RoleTarget, check_acl_rule,
};
use warden_core::secret::{generate_password, hex};
use zeroize::Zeroizing;

use crate::{AdminSecret, PasswordSource};

mod acl;
mod config;

use acl::{is_ok, parse_acl_line, parse_user, privileged_rule, push_unique};
pub use config::Config;

/// Commands that make a user privileged when a rule allows them whole (`+flushall`):
/// they change the server, its ACL or all data, or see every client's traffic.
const DANGEROUS_COMMANDS: &[&str] = &[
    "acl",
    "config",
    "debug",
    "module",
    "shutdown",
    "flushall",
    "flushdb",
    "replicaof",
    "slaveof",
    "failover",
    "monitor",
];

/// The commands `discover` asks `ACL DRYRUN` about, with the name it reports
/// (`may run FLUSHALL`). Arguments are only there to satisfy each command's arity:
/// a dry run executes nothing.
const PROBES: &[(&str, &[&str])] = &[
    ("ACL SETUSER", &["ACL", "SETUSER", "x"]),
    ("CONFIG SET", &["CONFIG", "SET", "maxmemory", "0"]),
    ("DEBUG", &["DEBUG", "SLEEP", "0"]),
    ("MODULE LOAD", &["MODULE", "LOAD", "x"]),
    ("SHUTDOWN", &["SHUTDOWN"]),
    ("FLUSHALL", &["FLUSHALL"]),
    ("FLUSHDB", &["FLUSHDB"]),
    ("REPLICAOF", &["REPLICAOF", "NO", "ONE"]),
    ("FAILOVER", &["FAILOVER"]),
    ("MONITOR", &["MONITOR"]),
    ("CLIENT KILL", &["CLIENT", "KILL", "ID", "0"]),
];

/// A Redis server reached through one configured connection.
pub struct Redis {
    name: String,
    config: Config,
    /// The admin connection, made on first use and dropped when it breaks.
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Where a password kept in the vault is read.
    passwords: Option<Arc<dyn PasswordSource>>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("name", &self.name)
            .field("host", &self.config.host)
            .field("port", &self.config.port)
            .field("user", &self.config.user)
            .field("vault", &self.passwords.is_some())
            .finish_non_exhaustive()
    }
}

/// A failed request: before it reached Redis, or Redis's (or the transport's) error.
enum Failure {
    Connector(ConnectorError),
    Redis(RedisError),
}

/// One request: a command or a pipeline of them.
#[derive(Clone, Copy)]
enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// What `ACL GETUSER` says about a user.
struct UserInfo {
    /// `on`.
    enabled: bool,
    /// `nopass`.
    nopass: bool,
    /// The reply has `selectors` (Redis 7 and later, which know `clearselectors`).
    selectors: bool,
}

/// What `ACL DRYRUN` found for a user.
enum DryRun {
    /// The labels of the probes the user may run.
    Allowed(Vec<&'static str>),
    /// The user went away meanwhile.
    Gone,
    /// The server has no `ACL DRYRUN` (before Redis 7).
    Unsupported,
}

impl Redis {
    /// A connector for the connection `name` (used in messages). Checks the
    /// configuration; connects on first use.
    pub fn new(name: &str, config: Config) -> Result<Self, ConnectorError> {
        let bad = |what: &str| ConnectorError::Refused(format!("redis connection {name}: {what}"));
        if config.host.is_empty() || config.host.chars().any(|c| c.is_whitespace()) {
            return Err(bad("host must be a host name or address"));
        }
        check_user_name(&config.user).map_err(|e| bad(&format!("user: {e}")))?;
        if config.connect_timeout_secs == 0 || config.response_timeout_secs == 0 {
            return Err(bad("timeouts must be at least one second"));
        }
        config
            .admin_secret()
            .check()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            config,
            conn: Mutex::new(None),
            passwords: None,
        })
    }

    /// Reads an admin password kept in the vault (`password_vault`) from `source`. It is
    /// read each time the admin connection is made, so a rotated password is picked up
    /// when the connection is made again.
    #[must_use]
    pub fn with_passwords(mut self, source: Arc<dyn PasswordSource>) -> Self {
        self.passwords = Some(source);
        self
    }

    /// The admin connection, made when there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, ConnectorError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self.connect().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn connect(&self) -> Result<MultiplexedConnection, ConnectorError> {
        let label = format!("redis connection {}", self.name);
        let password = self
            .config
            .admin_secret()
            .resolve_with(&label, self.passwords.as_deref())
            .await?;
        let mut conn = self
            .open(
                Some(self.config.user.clone()),
                password.map(|p| p.expose_secret().to_owned()),
            )
            .await?;
        // Named, so an operator can tell Warden's connection in `CLIENT LIST`.
        let mut setname = ::redis::cmd("CLIENT");
        setname.arg("SETNAME").arg(client_name(&self.name));
        setname
            .query_async::<Value>(&mut conn)
            .await
            .map_err(|e| self.error(&e, None))?;
        Ok(conn)
    }

    /// A new connection, authenticated as `username` with `password` when given.
    async fn open(
        &self,
        username: Option<String>,
        password: Option<String>,
    ) -> Result<MultiplexedConnection, ConnectorError> {
        let info = ConnectionInfo {
            addr: ConnectionAddr::Tcp(self.config.host.clone(), self.config.port),
            redis: RedisConnectionInfo {
                username,
                password: password.clone(),
                ..RedisConnectionInfo::default()
            },
        };
        let client = Client::open(info).map_err(|e| self.error(&e, None))?;
        let timeouts = AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(self.config.connect_timeout_secs))
            .set_response_timeout(Duration::from_secs(self.config.response_timeout_secs));
        client
            .get_multiplexed_async_connection_with_config(&timeouts)
            .await
            .map_err(|e| self.error(&e, password.as_deref()))
    }

    /// Drops the admin connection so the next request makes a new one.
    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    /// Sends a request. A connection found broken is dropped and the request sent once
    /// more on a new one: every request here is idempotent.
    async fn send<T: FromRedisValue>(&self, req: Request<'_>) -> Result<T, Failure> {
        let mut retried = false;
        loop {
            let mut conn = self.connection().await.map_err(Failure::Connector)?;
            let result = match req {
                Request::Cmd(c) => c.query_async::<T>(&mut conn).await,
                Request::Pipe(p) => p.query_async::<T>(&mut conn).await,
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if e.is_io_error() || e.is_unrecoverable_error() {
                        self.forget().await;
                        if e.is_connection_dropped() && !retried {
                            retried = true;
                            continue;
                        }
                    }
                    return Err(Failure::Redis(e));
                }
            }
        }
    }

    /// Sends a command; `secret` is a password it carries, kept out of any error.
    async fn query<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        secret: Option<&str>,
    ) -> Result<T, ConnectorError> {
        self.send(Request::Cmd(cmd))
            .await
            .map_err(|f| self.failure(f, secret))
    }

    fn failure(&self, f: Failure, secret: Option<&str>) -> ConnectorError {
        match f {
            Failure::Connector(e) => e,
            Failure::Redis(e) => self.error(&e, secret),
        }
    }

    /// A Redis error as a connector error: the transport failing, a timeout or a server
    /// that is loading or failing over is `Unavailable`, anything else `Refused`. Redis
    /// echoes a bad `ACL SETUSER` rule in its message, so `secret` is blanked out.
    fn error(&self, e: &RedisError, secret: Option<&str>) -> ConnectorError {
        let mut msg = format!("redis connection {}: {e}", self.name);
        if let Some(s) = secret.filter(|s| !s.is_empty()) {
            msg = msg.replace(s, "[redacted]");
        }
        let unavailable = e.is_io_error()
            || e.is_timeout()
            || matches!(
                e.kind(),
                ErrorKind::BusyLoadingError
                    | ErrorKind::TryAgain
                    | ErrorKind::ClusterDown
                    | ErrorKind::MasterDown
            );
        if unavailable {
            ConnectorError::Unavailable(msg)
        } else {
            ConnectorError::Refused(msg)
        }
    }

    /// The account a handle (or, without one, the access) names, refused unless it is
    /// a name Warden makes and not the admin user.
    fn account(&self, access: &AccessSpec, handle: Option<&str>) -> Result<String, ConnectorError> {
        let name = handle.map_or_else(|| access.account_name(), str::to_owned);
        check_account_name(&name)?;
        self.not_admin(&name)?;
        Ok(name)
    }

    fn not_admin(&self, name: &str) -> Result<(), ConnectorError> {
        if name == self.config.user {
            return Err(ConnectorError::Refused(format!(
                "{name:?} is the admin user of redis connection {}; Warden does not touch it",
                self.name
            )));
        }
        Ok(())
    }

    /// `ACL GETUSER name`: `None` when there is no such user.
    async fn user(&self, name: &str) -> Result<Option<UserInfo>, ConnectorError> {
        let mut c = ::redis::cmd("ACL");
        c.arg("GETUSER").arg(name);
        let v: Value = self.query(&c, None).await?;
        parse_user(&v).map_err(|what| {
            ConnectorError::Refused(format!(
                "redis connection {}: unexpected reply to ACL GETUSER ({what})",
                self.name
            ))
        })
    }

    /// Deletes a user (Redis disconnects its clients) and kills any client still
    /// authenticated as it. Succeeds when it is gone already.
    async fn drop_user(&self, name: &str) -> Result<(), ConnectorError> {
        let mut del = ::redis::cmd("ACL");
        del.arg("DELUSER").arg(name);
        let _: Value = self.query(&del, None).await?;
        self.kill_clients(name).await?;
        tracing::info!(connection = %self.name, user = name, "redis ACL user deleted");
        Ok(())
    }

    /// `CLIENT KILL USER name`; a user that does not exist has no clients.
    async fn kill_clients(&self, name: &str) -> Result<(), ConnectorError> {
        let mut kill = ::redis::cmd("CLIENT");
        kill.arg("KILL").arg("USER").arg(name);
        match self.send::<Value>(Request::Cmd(&kill)).await {
            Ok(_) => Ok(()),
            Err(Failure::Redis(e)) if e.to_string().contains("No such user") => Ok(()),
            Err(f) => Err(self.failure(f, None)),
        }
    }

    /// Asks `ACL DRYRUN` which of [`PROBES`] the user may run.
    async fn dry_run(&self, name: &str) -> Result<DryRun, ConnectorError> {
        let mut pipe = ::redis::pipe();
        for (_, args) in PROBES {
            pipe.cmd("ACL").arg("DRYRUN").arg(name).arg(*args);
        }
        match self.send::<Vec<Value>>(Request::Pipe(&pipe)).await {
            Ok(replies) => Ok(DryRun::Allowed(
                PROBES
                    .iter()
                    .zip(replies.iter())
                    .filter(|(_, v)| is_ok(v))
                    .map(|((label, _), _)| *label)
                    .collect(),
            )),
            Err(Failure::Redis(e)) => {
                let text = e.to_string().to_ascii_lowercase();
                if text.contains("unknown subcommand") {
                    Ok(DryRun::Unsupported)
                } else if text.contains("not found") {
                    Ok(DryRun::Gone)
                } else {
                    Err(self.error(&e, None))
                }
            }
            Err(f) => Err(self.failure(f, None)),
        }
    }

    async fn grant_inner(&self, access: &AccessSpec) -> Result<String, ConnectorError> {
        let rules = acl_rules(access)?;
        let name = access.account_name();
        check_account_name(&name)?;
        self.not_admin(&name)?;
        let mut c = ::redis::cmd("ACL");
        c.arg("SETUSER").arg(&name);
        match self.user(&name).await? {
            None => {
                // A new user: everything reset (no passwords, keys, channels, selectors
                // or commands, off), then a random password nobody is shown, then the
                // role's rules; `on` last, so a user whose rules fail stays off.
                let password =
                    generate_password(32).map_err(|e| ConnectorError::Refused(e.to_string()))?;
                let rule = Zeroizing::new(format!(">{}", password.expose_secret()));
                c.arg("reset")
                    .arg("resetchannels")
                    .arg("-@all")
                    .arg(rule.as_str());
                for r in &rules {
                    c.arg(r.as_str());
                }
                c.arg("on");
                self.query::<Value>(&c, Some(password.expose_secret()))
                    .await?;
                tracing::info!(connection = %self.name, user = %name, "redis ACL user created");
            }
            Some(info) => {
                // It exists: the same rules from a clean slate, passwords kept so the
                // holder's credential goes on working. `nopass` (which only someone else
                // can have set) is taken away.
                c.arg("resetkeys").arg("resetchannels").arg("-@all");
                if info.selectors {
                    c.arg("clearselectors");
                }
                if info.nopass {
                    c.arg("resetpass");
                }
                for r in &rules {
                    c.arg(r.as_str());
                }
                c.arg("on");
                self.query::<Value>(&c, None).await?;
                tracing::info!(
                    connection = %self.name,
                    user = %name,
                    "redis ACL user rules re-applied"
                );
            }
        }
        Ok(name)
    }

    async fn credential_inner(
        &self,
        access: &AccessSpec,
        handle: Option<&str>,
    ) -> Result<Credential, ConnectorError> {
        let name = self.account(access, handle)?;
        if self.user(&name).await?.is_none() {
            return Err(ConnectorError::Refused(format!(
                "there is no ACL user {name} on redis connection {}; grant the access first",
                self.name
            )));
        }
        let password = generate_password(32).map_err(|e| ConnectorError::Refused(e.to_string()))?;
        let rule = Zeroizing::new(format!(">{}", password.expose_secret()));
        let mut c = ::redis::cmd("ACL");
        c.arg("SETUSER")
            .arg(&name)
            .arg("resetpass")
            .arg(rule.as_str());
        self.query::<Value>(&c, Some(password.expose_secret()))
            .await?;
        let host = self
            .config
            .public_host
            .clone()
            .unwrap_or_else(|| self.config.host.clone());
        let hints = BTreeMap::from([
            ("host".to_owned(), host),
            ("port".to_owned(), self.config.port.to_string()),
        ]);
        Ok(Credential {
            username: name,
            secret: password,
            hints,
        })
    }

    async fn set_password_inner(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), ConnectorError> {
        check_user_name(username)?;
        // `ACL SETUSER` makes a user that does not exist: look first. A user deleted
        // between the look and the change comes back `off`, without commands, keys or
        // channels, so nobody can log in as it or do anything with it.
        if self.user(username).await?.is_none() {
            return Err(ConnectorError::Refused(format!(
                "there is no ACL user {username} on redis connection {}",
                self.name
            )));
        }
        // Only the SHA-256 of the password travels; nothing else of the user changes.
        let digest = Sha256::digest(password.expose_secret().as_bytes());
        let rule = Zeroizing::new(format!("#{}", hex(&digest)));
        let mut c = ::redis::cmd("ACL");
        c.arg("SETUSER")
            .arg(username)
            .arg("resetpass")
            .arg(rule.as_str());
        self.query::<Value>(&c, Some(rule.as_str())).await?;
        tracing::info!(connection = %self.name, user = username, "redis ACL user password set");
        Ok(())
    }

    async fn check_login_inner(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<bool, ConnectorError> {
        check_user_name(username)?;
        // Connected without credentials, so `AUTH` answers for itself (the client's own
        // handshake reports any refusal alike).
        let mut conn = self.open(None, None).await?;
        let mut auth = ::redis::cmd("AUTH");
        auth.arg(username).arg(password.expose_secret());
        match auth.query_async::<Value>(&mut conn).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("WRONGPASS") => {
                tracing::debug!(connection = %self.name, user = username, "login refused");
                Ok(false)
            }
            Err(e) => Err(self.error(&e, Some(password.expose_secret()))),
        }
    }

    async fn discover_inner(&self) -> Result<Vec<Account>, ConnectorError> {
        let mut list = ::redis::cmd("ACL");
        list.arg("LIST");
        let lines: Vec<String> = self.query(&list, None).await?;
        let mut dry_run = true;
        let mut out = Vec::with_capacity(lines.len());
        for line in &lines {
            let Some(user) = parse_acl_line(line) else {
                tracing::warn!(connection = %self.name, "unexpected ACL LIST line skipped");
                continue;
            };
            let origin = if user.name.starts_with(MANAGED_PREFIX) {
                Origin::Warden
            } else if user.name == self.config.user {
                Origin::Connector
            } else {
                Origin::Other
            };
            let mut privileges = Vec::new();
            if user.enabled {
                for rule in &user.rules {
                    if let Some(p) = privileged_rule(rule) {
                        push_unique(&mut privileges, p);
                    }
                }
                let all = privileges.iter().any(|p| p == "+@all");
                if dry_run && !all && user.any_commands() {
                    match self.dry_run(&user.name).await? {
                        DryRun::Allowed(labels) => {
                            for l in labels {
                                push_unique(&mut privileges, format!("may run {l}"));
                            }
                        }
                        DryRun::Gone => continue,
                        DryRun::Unsupported => dry_run = false,
                    }
                }
                if user.nopass && user.any_commands() {
                    push_unique(&mut privileges, "no password".to_owned());
                }
            }
            out.push(Account {
                name: user.name,
                origin,
                privileges,
                until: None,
            });
        }
        Ok(out)
    }

    async fn remove_inner(&self, account: &Account) -> Result<(), ConnectorError> {
        let name = account.name.as_str();
        check_user_name(name)?;
        self.not_admin(name)?;
        match account.origin {
            Origin::Connector => Err(ConnectorError::Refused(format!(
                "{name:?} is the account redis connection {} logs in with; \
                 Warden does not touch it",
                self.name
            ))),
            Origin::Warden if name.starts_with(MANAGED_PREFIX) => self.drop_user(name).await,
            Origin::Warden => Err(ConnectorError::Refused(format!(
                "{name:?} does not start with {MANAGED_PREFIX}, so Warden did not make it"
            ))),
            Origin::Other => {
                if account.privileges.is_empty() {
                    return Ok(());
                }
                // Everything the user may run goes (`-@all`, and its selectors), so
                // every privilege discover lists goes with it, including what `nopass`
                // exposed; the account and its passwords and key patterns stay.
                let Some(info) = self.user(name).await? else {
                    return Ok(());
                };
                let mut c = ::redis::cmd("ACL");
                c.arg("SETUSER").arg(name).arg("-@all");
                if info.selectors {
                    c.arg("clearselectors");
                }
                self.query::<Value>(&c, None).await?;
                self.kill_clients(name).await?;
                tracing::info!(
                    connection = %self.name,
                    user = name,
                    "redis ACL user stripped of its commands"
                );
                Ok(())
            }
        }
    }
}

impl Connector for Redis {
    fn grant<'a>(
        &'a self,
        access: &'a AccessSpec,
    ) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(self.grant_inner(access))
    }

    fn revoke<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let name = self.account(access, handle)?;
            self.drop_user(&name).await
        })
    }

    fn verify<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>> {
        Box::pin(async move {
            let name = self.account(access, handle)?;
            Ok(match self.user(&name).await? {
                Some(u) if u.enabled => Presence::Present { until: None },
                _ => Presence::Absent,
            })
        })
    }

    fn credential<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Credential, ConnectorError>> {
        Box::pin(self.credential_inner(access, handle))
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(self.discover_inner())
    }

    fn remove<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.remove_inner(account))
    }

    /// `ACL SETUSER name resetpass #<sha256>` on a user that exists; its state (`on`,
    /// `off`), commands and keys are left as they are.
    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.set_password_inner(username, password))
    }

    /// `AUTH username password` on a new connection: `WRONGPASS` (wrong password, no
    /// such user, or a user that is `off`) is `Ok(false)`.
    fn check_login<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(self.check_login_inner(username, password))
    }
}

/// The role's ACL rules, each checked again.
fn acl_rules(access: &AccessSpec) -> Result<Vec<String>, ConnectorError> {
    let RoleTarget::Redis { acl } = &access.target else {
        return Err(ConnectorError::Refused(format!(
            "role {} on {} has no redis mapping in policy (roles.{}.redis.acl)",
            access.role, access.resource, access.role
        )));
    };
    for rule in acl {
        check_acl_rule(rule)?;
    }
    Ok(acl.clone())
}

/// Why a user name is refused before it reaches a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum NameError {
    /// Not a name Warden makes ([`check_account_name`]).
    #[error("{0:?} is not an account name Warden makes ({MANAGED_PREFIX} then a-z 0-9 _)")]
    Account(String),
    /// Not a user name Warden acts on ([`check_user_name`]).
    #[error("{0:?} is not a Redis ACL user name Warden acts on")]
    User(String),
}

/// A name that fails its check is refused: retrying will not make it pass.
impl From<NameError> for ConnectorError {
    fn from(e: NameError) -> Self {
        Self::Refused(e.to_string())
    }
}

/// A name Warden makes: [`MANAGED_PREFIX`], then at most 64 characters in all of
/// `a-z 0-9 _`.
fn check_account_name(name: &str) -> Result<(), NameError> {
    let ok = name.starts_with(MANAGED_PREFIX)
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(NameError::Account(name.to_owned()))
    }
}

/// Any ACL user name Redis can list: 1 to 256 characters, no white space or control
/// characters (Redis refuses spaces in user names itself).
fn check_user_name(name: &str) -> Result<(), NameError> {
    if !name.is_empty()
        && name.len() <= 256
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Ok(())
    } else {
        Err(NameError::User(name.to_owned()))
    }
}

/// The name the admin connection gives itself: `warden:` and the connection's name,
/// with anything but `A-Z a-z 0-9 - _ . :` made `_` (Redis refuses spaces there).
fn client_name(connection: &str) -> String {
    let safe: String = connection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("warden:{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_list_lines_are_read_with_selectors() {
        let u = parse_acl_line(
            "user w_a on #ab ~a:* resetchannels -@all +@write (~b:* resetchannels -@all +get)",
        );
        let u = u.map(|u| {
            (
                u.name.clone(),
                u.enabled,
                u.nopass,
                u.any_commands(),
                u.rules,
            )
        });
        assert_eq!(
            u,
            Some((
                "w_a".to_owned(),
                true,
                false,
                true,
                [
                    "#ab",
                    "~a:*",
                    "resetchannels",
                    "-@all",
                    "+@write",
                    "~b:*",
                    "resetchannels",
                    "-@all",
                    "+get"
                ]
                .map(str::to_owned)
                .to_vec()
            ))
        );
        let off = parse_acl_line("user x off nopass -@all");
        assert!(off.is_some_and(|u| !u.enabled && u.nopass && !u.any_commands()));
        assert!(parse_acl_line("nonsense").is_none());
    }

    #[test]
    fn rules_that_confer_privilege_by_themselves() {
        let got: Vec<Option<String>> = [
            "+@all",
            "allcommands",
            "+@ADMIN",
            "+@dangerous",
            "+flushall",
            "+config",
            "+config|get",
            "+get",
            "-@all",
            "~*",
        ]
        .iter()
        .map(|r| privileged_rule(r))
        .collect();
        let want = [
            Some("+@all"),
            Some("+@all"),
            Some("+@admin"),
            Some("+@dangerous"),
            Some("+flushall"),
            Some("+config"),
            None,
            None,
            None,
            None,
        ];
        assert_eq!(got, want.map(|w| w.map(str::to_owned)).to_vec());
    }

    #[test]
    fn only_warden_names_pass_as_handles() {
        assert!(check_account_name("w_e1001_read_0a1b2c3d").is_ok());
        for bad in [
            "default",
            "w_a b",
            "w_a\nb",
            "W_a",
            "recorded:w_a",
            "w_a'",
            "",
        ] {
            assert!(check_account_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_user_name("ops-admin").is_ok());
        for bad in ["a b", "a\nb", "", "a\0b"] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
    }
}
