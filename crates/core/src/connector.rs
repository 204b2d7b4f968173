//! The contract between Warden and a target system. A connector creates, removes and
//! checks one access (an identity holding a role on a resource) on its target. Every call
//! is idempotent: granting what exists moves its end, revoking what is gone succeeds, so
//! the expiry worker can retry any step after a crash or a failure without harm.
//!
//! Errors say whether trying again can help ([`ConnectorError::retryable`]); the worker
//! retries with [`retry_delay`] per grant, so one failing target never holds up the
//! others, and alerts after [`ALERT_AFTER`] failures while it goes on trying.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A boxed future, so connectors can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One access on a target, as a connector sees it. Connection details and the target's
/// admin credentials are the connector's own configuration, never part of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSpec {
    /// The grant this call serves.
    pub grant: Uuid,
    /// The identity holding the access.
    pub identity: Uuid,
    /// Its employee id.
    pub employee_id: String,
    /// The resource's name in policy.
    pub resource: String,
    /// The resource's kind (`postgres`, `ssh`, ...).
    pub kind: String,
    /// The resource's connection name (a key into the connector's configuration).
    pub connection: String,
    /// The role's name.
    pub role: String,
    /// What the role means on the target, from policy.
    pub target: RoleTarget,
    /// The holder's user name (their own login, where a role says `login = "own"`).
    pub username: String,
    /// When the access must end on the target (the latest end of its live grants).
    pub until: OffsetDateTime,
}

impl AccessSpec {
    /// The name of the account Warden makes on the target for this access: `w_`, the
    /// holder's employee id and the role folded to `a-z 0-9`, and 8 hex digits of a hash
    /// of identity, resource and role, so the name is safe to put in any statement,
    /// stable across the overlapping grants of one access, and distinct between accesses.
    /// At most 40 characters (within the limits of PostgreSQL, MariaDB and Redis).
    pub fn account_name(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.identity.as_bytes());
        h.update(self.resource.as_bytes());
        h.update([0]);
        h.update(self.role.as_bytes());
        let digest = h.finalize();
        let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!(
            "{MANAGED_PREFIX}{}_{}_{tag}",
            fold(&self.employee_id, 14),
            fold(&self.role, 14)
        )
    }
}

/// The prefix of every account Warden makes on a target. Accounts with it belong to
/// Warden: the reconciler removes one that no live grant accounts for.
pub const MANAGED_PREFIX: &str = "w_";

/// Lower-cases `raw` and keeps `a-z 0-9`, at most `max` characters (`x` when nothing is
/// left).
fn fold(raw: &str, max: usize) -> String {
    let out: String = raw
        .chars()
        .flat_map(char::to_lowercase)
        .filter(char::is_ascii_alphanumeric)
        .take(max)
        .collect();
    if out.is_empty() { "x".to_owned() } else { out }
}

/// What a role does on its target, as policy maps it. Policy validates every name and
/// rule here; connectors still quote or escape them when they build statements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RoleTarget {
    /// The role says nothing about the target (enough for recording grants); a real
    /// connector refuses it.
    #[default]
    Unmapped,
    /// PostgreSQL: membership of existing permission roles.
    Postgres {
        /// The roles on the server whose privileges the grant confers.
        member_of: Vec<String>,
        /// Whether a dynamic login role is made, or the person's own login role (named
        /// by their user name) is given the memberships.
        login: Login,
    },
    /// MariaDB: privileges granted to a dynamic user.
    Mariadb {
        /// What is granted, each `privileges ON on`.
        grants: Vec<MariadbGrant>,
    },
    /// Redis: ACL rules of a dynamic ACL user.
    Redis {
        /// ACL rules, such as `+@read` and `~app:*`.
        acl: Vec<String>,
    },
    /// OpenSSH: the contents of the user certificates Warden signs.
    Ssh {
        /// The principals (user names on the hosts) certificates carry.
        principals: Vec<String>,
        /// Certificate extensions, such as `permit-pty`.
        extensions: Vec<String>,
        /// A forced command (`force-command` critical option), if any.
        force_command: Option<String>,
    },
}

/// Which login a database grant uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Login {
    /// A login made for the grant, with a generated name and password.
    #[default]
    Dynamic,
    /// The person's own login role, which must exist on the server.
    Own,
}

/// One MariaDB grant: `privileges ON on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariadbGrant {
    /// Privilege names in upper case, such as `SELECT`.
    pub privileges: Vec<String>,
    /// `*.*`, `db.*` or `db.table`.
    pub on: String,
}

/// A credential a connector issued for an access, handed once to its holder.
#[derive(Debug)]
pub struct Credential {
    /// The user name to log in with.
    pub username: String,
    /// The password; never stored by Warden.
    pub secret: SecretString,
    /// Where to connect: `host`, `port`, `database`, as the connection is configured.
    pub hints: BTreeMap<String, String>,
}

/// Who made an account found on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Warden, for a grant (its name has [`MANAGED_PREFIX`]).
    Warden,
    /// The account the connector itself logs in with.
    Connector,
    /// Anyone else: standing access Warden did not grant.
    Other,
}

/// An account found on a target, with what makes it privileged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name on the target.
    pub name: String,
    /// Who made it.
    pub origin: Origin,
    /// What it holds that counts as privileged, in the target's terms (`superuser`,
    /// `member of app_admin`, `ALL PRIVILEGES ON *.*`, `+@all`); empty when nothing.
    pub privileges: Vec<String>,
    /// The end the target enforces, if any.
    pub until: Option<OffsetDateTime>,
}

impl Account {
    /// Whether it holds anything privileged.
    pub fn privileged(&self) -> bool {
        !self.privileges.is_empty()
    }
}

/// Whether an access exists on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It exists (until the given end, where the target keeps one).
    Present {
        /// The end the target enforces, if it has one.
        until: Option<OffsetDateTime>,
    },
    /// It does not.
    Absent,
}

/// Why a connector call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The target could not be reached or answered with a temporary failure: retry.
    #[error("target unavailable: {0}")]
    Unavailable(String),
    /// The target refused (bad configuration, missing permission, unknown role): retrying
    /// the same call will not help until someone fixes it, though the worker still
    /// retries a revocation, since access that should be gone must not stay.
    #[error("target refused: {0}")]
    Refused(String),
}

impl ConnectorError {
    /// Whether a retry can succeed without anyone changing anything.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A target system.
pub trait Connector: Send + Sync + Debug {
    /// Creates the access, or moves its end to `access.until` when it exists. Returns
    /// the connector's handle for it (a generated account name, say), kept with the grant.
    fn grant<'a>(&'a self, access: &'a AccessSpec)
    -> BoxFuture<'a, Result<String, ConnectorError>>;

    /// Removes the access and cuts sessions using it. Succeeds when it is already gone.
    fn revoke<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Whether the access exists on the target.
    fn verify<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>>;

    /// Sets a new random password on the access's account and returns it, for its
    /// holder's eyes only; the previous one stops working. Refused where access is not by
    /// password (SSH certificates).
    fn credential<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Credential, ConnectorError>>;

    /// Every account on the target and what it holds that is privileged.
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>>;

    /// Takes away what makes `account` privileged and cuts its sessions: an account of
    /// Warden's is dropped; anyone else's loses the privileges listed. Succeeds when they
    /// are already gone.
    fn remove<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Sets `password` on the existing account `username` of the target, logged in as the
    /// connection's admin (which may be `username` itself: an admin rotating its own
    /// password). Sessions already open are left alone. Refused when the account does not
    /// exist or the target refuses the change. The vault's rotation applies a new password
    /// with this, then checks it with [`check_login`](Self::check_login) before it commits.
    ///
    /// By default refused: a connector that keeps no passwords of existing accounts (SSH
    /// certificates, recording stand-ins) needs nothing more.
    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let _ = password;
        Box::pin(async move {
            Err(ConnectorError::Refused(format!(
                "this connector does not manage passwords of existing accounts (asked for {username:?})"
            )))
        })
    }

    /// Logs in as `username` with `password` on a new connection (never a pooled one) and
    /// closes it: `Ok(true)` when the login works, `Ok(false)` when the target refuses the
    /// credential, `Err` when the target cannot be reached or answers otherwise.
    ///
    /// By default refused, as [`set_password`](Self::set_password) is.
    fn check_login<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        let _ = password;
        Box::pin(async move {
            Err(ConnectorError::Refused(format!(
                "this connector does not manage passwords of existing accounts (asked to check {username:?})"
            )))
        })
    }
}

/// Why a value a role maps to on its target (a [`RoleTarget`]'s role names, privileges,
/// ACL rules, principals, extensions, forced command) is refused. Policy checks each value
/// when it is compiled; connectors check again before one reaches a target, and refuse
/// ([`ConnectorError::Refused`]) what fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleTargetError {
    /// Not a PostgreSQL role name Warden accepts ([`check_pg_role`]).
    #[error(
        "{0:?} is not a PostgreSQL role name Warden accepts (1 to 63 of a-z 0-9 _, not starting with a digit)"
    )]
    PgRole(String),
    /// Not one of [`MARIADB_PRIVILEGES`].
    #[error(
        "unknown MariaDB privilege {0:?}; use one of {known}",
        known = MARIADB_PRIVILEGES.join(", ")
    )]
    MariadbPrivilege(String),
    /// Not what a MariaDB grant can be on ([`check_mariadb_on`]).
    #[error("{0:?} is not `*.*`, `db.*` or `db.table` (names of A-Z a-z 0-9 _ $)")]
    MariadbOn(String),
    /// Not a Redis ACL rule Warden grants ([`check_acl_rule`]).
    #[error(
        "{0:?} is not an ACL rule Warden grants (+/-commands or @categories, ~keys, &channels; no passwords, on/off, reset or selectors)"
    )]
    AclRule(String),
    /// Not an SSH certificate principal Warden signs ([`check_principal`]).
    #[error(
        "{0:?} is not a principal Warden signs (1 to 32 of A-Z a-z 0-9 . _ -, not starting with -; no commas or spaces)"
    )]
    Principal(String),
    /// Not one of [`SSH_EXTENSIONS`].
    #[error(
        "unknown certificate extension {0:?}; use one of {known}",
        known = SSH_EXTENSIONS.join(", ")
    )]
    Extension(String),
    /// A forced command that is empty, too long or holds control characters.
    #[error("a forced command must be a non-empty line without control characters")]
    ForceCommand,
}

/// A value a connector is asked to put on its target and refuses: someone must fix the
/// policy (or the stored grant) before trying again.
impl From<RoleTargetError> for ConnectorError {
    fn from(e: RoleTargetError) -> Self {
        Self::Refused(e.to_string())
    }
}

/// Checks a PostgreSQL role name a policy names (`member_of`): 1 to 63 characters of
/// `a-z 0-9 _`, not starting with a digit.
pub fn check_pg_role(name: &str) -> Result<(), RoleTargetError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(RoleTargetError::PgRole(name.to_owned()))
    }
}

/// The MariaDB privileges a role may grant. `GRANT OPTION` is not among them: a grant
/// must never let its holder hand privileges on.
pub const MARIADB_PRIVILEGES: &[&str] = &[
    "ALL PRIVILEGES",
    "ALTER",
    "ALTER ROUTINE",
    "CREATE",
    "CREATE ROUTINE",
    "CREATE TEMPORARY TABLES",
    "CREATE VIEW",
    "DELETE",
    "DROP",
    "EVENT",
    "EXECUTE",
    "INDEX",
    "INSERT",
    "LOCK TABLES",
    "PROCESS",
    "REFERENCES",
    "RELOAD",
    "REPLICATION CLIENT",
    "REPLICATION SLAVE",
    "SELECT",
    "SHOW DATABASES",
    "SHOW VIEW",
    "SUPER",
    "TRIGGER",
    "UPDATE",
];

/// Checks a MariaDB privilege name against [`MARIADB_PRIVILEGES`].
pub fn check_mariadb_privilege(name: &str) -> Result<(), RoleTargetError> {
    if MARIADB_PRIVILEGES.contains(&name) {
        Ok(())
    } else {
        Err(RoleTargetError::MariadbPrivilege(name.to_owned()))
    }
}

/// Checks what a MariaDB grant is on: `*.*`, `db.*` or `db.table`, where names are 1 to
/// 64 characters of `A-Z a-z 0-9 _ $`.
pub fn check_mariadb_on(on: &str) -> Result<(), RoleTargetError> {
    fn ident(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    }
    let ok = match on.split_once('.') {
        Some(("*", "*")) => true,
        Some((db, "*")) => ident(db),
        Some((db, table)) => ident(db) && ident(table),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(RoleTargetError::MariadbOn(on.to_owned()))
    }
}

/// Checks one Redis ACL rule. Allowed: command rules (`+cmd`, `-cmd`, `+@category`,
/// `-@category`, `+cmd|sub`, `allcommands`, `nocommands`), key patterns (`~pattern`,
/// `%R~`, `%W~`, `%RW~`, `allkeys`, `resetkeys`) and channel patterns (`&pattern`,
/// `allchannels`, `resetchannels`). Refused: anything that touches passwords or the
/// user's state (`>`, `<`, `#`, `!`, `nopass`, `resetpass`, `on`, `off`, `reset`),
/// selectors, and whitespace or control characters, which would split the rule.
pub fn check_acl_rule(rule: &str) -> Result<(), RoleTargetError> {
    const WORDS: &[&str] = &[
        "allcommands",
        "nocommands",
        "allkeys",
        "resetkeys",
        "allchannels",
        "resetchannels",
    ];
    let clean = !rule.is_empty()
        && rule.len() <= 256
        && rule
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '(' && c != ')');
    let shaped = WORDS.contains(&rule)
        || ["+", "-", "~", "&", "%R~", "%W~", "%RW~"]
            .iter()
            .any(|p| rule.len() > p.len() && rule.starts_with(p));
    if clean && shaped {
        Ok(())
    } else {
        Err(RoleTargetError::AclRule(rule.to_owned()))
    }
}

/// Checks an SSH certificate principal: 1 to 32 characters of `A-Z a-z 0-9 . _ -`, not
/// starting with `-`. Commas, spaces and other separators are refused: OpenSSH reads a
/// principal `deploy,root` as two.
pub fn check_principal(p: &str) -> Result<(), RoleTargetError> {
    let ok = !p.is_empty()
        && p.len() <= 32
        && !p.starts_with('-')
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(RoleTargetError::Principal(p.to_owned()))
    }
}

/// The certificate extensions a role may allow.
pub const SSH_EXTENSIONS: &[&str] = &[
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];

/// Checks an SSH certificate extension against [`SSH_EXTENSIONS`].
pub fn check_extension(e: &str) -> Result<(), RoleTargetError> {
    if SSH_EXTENSIONS.contains(&e) {
        Ok(())
    } else {
        Err(RoleTargetError::Extension(e.to_owned()))
    }
}

/// Checks a forced command: not empty, at most 1,024 characters, no control characters.
pub fn check_force_command(c: &str) -> Result<(), RoleTargetError> {
    if !c.trim().is_empty() && c.len() <= 1024 && !c.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(RoleTargetError::ForceCommand)
    }
}

/// Failures after which security is alerted; retries go on.
pub const ALERT_AFTER: i32 = 3;

/// How long to wait before attempt `attempts + 1` after `attempts` failures: one second,
/// doubling, at most five minutes.
pub fn retry_delay(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let secs = 1_i64.checked_shl(exp).unwrap_or(i64::MAX).min(300);
    Duration::seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_to_a_ceiling() {
        let d: Vec<i64> = (1..=11).map(|n| retry_delay(n).whole_seconds()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(retry_delay(0).whole_seconds(), 1);
        assert_eq!(retry_delay(i32::MAX).whole_seconds(), 300);
    }

    fn spec(employee: &str, role: &str) -> AccessSpec {
        AccessSpec {
            grant: Uuid::nil(),
            identity: Uuid::from_u128(7),
            employee_id: employee.into(),
            resource: "db".into(),
            kind: "postgres".into(),
            connection: "main".into(),
            role: role.into(),
            target: RoleTarget::Unmapped,
            username: "alice".into(),
            until: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn account_names_are_safe_stable_and_distinct() {
        let a = spec("E1001", "read");
        let name = a.account_name();
        assert!(name.starts_with("w_e1001_read_"), "{name}");
        assert_eq!(name, spec("E1001", "read").account_name());
        assert_ne!(name, spec("E1001", "write").account_name());
        let hostile = spec("x'; DROP ROLE postgres; --\n,root", "r\"o`le");
        let n = hostile.account_name();
        assert!(n.len() <= 40, "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{n}"
        );
        assert!(spec("", "").account_name().starts_with("w_x_x_"));
    }

    #[test]
    fn target_names_with_separators_or_quotes_are_refused() {
        for bad in [
            "deploy,root",
            "deploy root",
            "deploy\nroot",
            "-oProxy",
            "",
            "a'b",
            "a\"b",
            "a;b",
        ] {
            assert!(check_principal(bad).is_err(), "{bad:?}");
        }
        assert!(check_principal("deploy").is_ok());
        assert!(check_principal("ops.deploy-1").is_ok());
        for bad in ["App", "a-b", "a\"b", "x;drop", "1x", ""] {
            assert!(check_pg_role(bad).is_err(), "{bad:?}");
        }
        assert!(check_pg_role("pg_read_all_data").is_ok());
        for bad in ["app.*;", "app", "a b.*", "`a`.*", "a.b.c", "*.x"] {
            assert!(check_mariadb_on(bad).is_err(), "{bad:?}");
        }
        assert!(check_mariadb_on("*.*").is_ok());
        assert!(check_mariadb_on("app.orders").is_ok());
        assert!(check_mariadb_privilege("GRANT OPTION").is_err());
        assert!(check_mariadb_privilege("SELECT; DROP").is_err());
        for bad in [
            ">secret",
            "nopass",
            "on",
            "reset",
            "+get extra",
            "~a\nb",
            "(+get)",
            "#abc",
            "+",
        ] {
            assert!(check_acl_rule(bad).is_err(), "{bad:?}");
        }
        for good in [
            "+@read",
            "-@dangerous",
            "~app:*",
            "%R~cache:*",
            "&news",
            "allkeys",
            "+client|id",
        ] {
            assert!(check_acl_rule(good).is_ok(), "{good:?}");
        }
        assert!(check_extension("permit-pty").is_ok());
        assert!(check_extension("permit-everything").is_err());
        assert!(check_force_command("uptime").is_ok());
        assert!(check_force_command("a\nb").is_err());
    }

    /// What a connector refuses reads as it did when these checks returned text, and a
    /// connector passes it on as a refusal.
    #[test]
    fn refused_values_name_what_is_wrong() {
        for (error, text) in [
            (
                check_mariadb_on("app").unwrap_err(),
                "\"app\" is not `*.*`, `db.*` or `db.table` (names of A-Z a-z 0-9 _ $)",
            ),
            (
                check_principal("a,b").unwrap_err(),
                "\"a,b\" is not a principal Warden signs (1 to 32 of A-Z a-z 0-9 . _ -, not starting with -; no commas or spaces)",
            ),
            (
                check_extension("permit-everything").unwrap_err(),
                "unknown certificate extension \"permit-everything\"; use one of permit-X11-forwarding, permit-agent-forwarding, permit-port-forwarding, permit-pty, permit-user-rc",
            ),
            (
                check_force_command(" ").unwrap_err(),
                "a forced command must be a non-empty line without control characters",
            ),
        ] {
            assert_eq!(error.to_string(), text);
            assert_eq!(
                ConnectorError::from(error),
                ConnectorError::Refused(text.to_owned())
            );
        }
        assert_eq!(
            check_pg_role("9x"),
            Err(RoleTargetError::PgRole("9x".to_owned()))
        );
    }

    /// A connector that implements only the required methods.
    #[derive(Debug)]
    struct Bare;

    impl Connector for Bare {
        fn grant<'a>(&'a self, _: &'a AccessSpec) -> BoxFuture<'a, Result<String, ConnectorError>> {
            Box::pin(async { Ok(String::new()) })
        }
        fn revoke<'a>(
            &'a self,
            _: &'a AccessSpec,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<(), ConnectorError>> {
            Box::pin(async { Ok(()) })
        }
        fn verify<'a>(
            &'a self,
            _: &'a AccessSpec,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Presence, ConnectorError>> {
            Box::pin(async { Ok(Presence::Absent) })
        }
        fn credential<'a>(
            &'a self,
            _: &'a AccessSpec,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Credential, ConnectorError>> {
            Box::pin(async { Err(ConnectorError::Refused("no".into())) })
        }
        fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn remove<'a>(&'a self, _: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>> {
            Box::pin(async { Ok(()) })
        }
    }

    /// The output of a future that is ready at once.
    fn ready<T>(mut f: BoxFuture<'_, T>) -> T {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the default methods never wait"),
        }
    }

    #[test]
    fn password_management_is_refused_by_default_without_showing_the_password() {
        let password = SecretString::from("hunter2-default".to_owned());
        let set = ready(Bare.set_password("app_admin", &password));
        let check = ready(Bare.check_login("app_admin", &password));
        for e in [set.map(|()| false), check] {
            let e = e.expect_err("refused");
            assert!(
                matches!(&e, ConnectorError::Refused(m) if m.contains("app_admin")),
                "{e:?}"
            );
            assert!(!format!("{e} {e:?}").contains("hunter2"));
        }
    }

    #[test]
    fn only_unavailability_is_worth_a_blind_retry() {
        assert!(ConnectorError::Unavailable("timeout".into()).retryable());
        assert!(!ConnectorError::Refused("no such role".into()).retryable());
    }
}
