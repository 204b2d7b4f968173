//! Integration tests of the MariaDB connector against the real server on 127.0.0.1:3306
//! (`root`, empty password, over TCP). Every database, user and role a test makes has a
//! unique name and is dropped at the end, even when the test fails (a guard drops them
//! on a thread of its own).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use secrecy::ExposeSecret;
use serde::Deserialize;
use time::macros::datetime;
use tokio::task::JoinSet;
use uuid::Uuid;
use warden_connectors::ConnectionConfig;
use warden_connectors::mariadb::{Config, Mariadb};
use warden_core::connector::{
    AccessSpec, Account, Connector, ConnectorError, MariadbGrant, Origin, Presence, RoleTarget,
};

mod common;
use common::{Vault, hides, secret};

const HOST: &str = "127.0.0.1";
const PORT: u16 = 3306;

fn suffix() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_owned()
}

fn config() -> Config {
    Config {
        host: HOST.to_owned(),
        port: PORT,
        user: "root".to_owned(),
        password: None,
        password_env: None,
        password_file: None,
        password_vault: None,
        user_host: "%".to_owned(),
        public_host: None,
        database: None,
        max_connections: 4,
        connect_timeout_secs: 5,
    }
}

fn connector() -> Mariadb {
    Mariadb::new("main", config()).unwrap()
}

fn grant(privileges: &[&str], on: &str) -> MariadbGrant {
    MariadbGrant {
        privileges: privileges.iter().map(|p| (*p).to_owned()).collect(),
        on: on.to_owned(),
    }
}

/// An access for a fresh identity, so its account name is unique.
fn spec(grants: Vec<MariadbGrant>) -> AccessSpec {
    AccessSpec {
        grant: Uuid::new_v4(),
        identity: Uuid::new_v4(),
        employee_id: format!("t{}", suffix()),
        resource: "appdb".into(),
        kind: "mariadb".into(),
        connection: "main".into(),
        role: "reader".into(),
        target: RoleTarget::Mariadb { grants },
        username: "alice".into(),
        until: datetime!(2099-01-01 0:00 UTC),
    }
}

fn opts(user: &str, password: &str) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname(HOST)
        .tcp_port(PORT)
        .prefer_socket(false)
        .user(Some(user))
        .pass(Some(password))
}

async fn root() -> Conn {
    tokio::time::timeout(Duration::from_secs(10), Conn::new(opts("root", "")))
        .await
        .expect("connecting as root timed out")
        .expect("root login over TCP")
}

/// Logs in over TCP as `user`.
async fn login(user: &str, password: &str) -> Result<Conn, mysql_async::Error> {
    tokio::time::timeout(Duration::from_secs(10), Conn::new(opts(user, password)))
        .await
        .expect("login timed out")
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

async fn user_count(root: &mut Conn, user: &str) -> i64 {
    root.exec_first::<i64, _, _>("SELECT COUNT(*) FROM mysql.user WHERE User = ?", (user,))
        .await
        .unwrap()
        .unwrap()
}

async fn db_exists(root: &mut Conn, db: &str) -> bool {
    root.exec_first::<i64, _, _>(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        (db,),
    )
    .await
    .unwrap()
    .unwrap()
        == 1
}

async fn show_grants(root: &mut Conn, user: &str) -> Vec<String> {
    root.query(format!("SHOW GRANTS FOR '{user}'@'%'"))
        .await
        .unwrap()
}

/// Drops what a test made when it ends, failed or not.
#[derive(Default)]
struct Cleanup {
    statements: Vec<String>,
}

impl Cleanup {
    fn database(&mut self, db: &str) {
        self.statements
            .push(format!("DROP DATABASE IF EXISTS `{db}`"));
    }

    fn user(&mut self, user: &str) {
        self.statements
            .push(format!("DROP USER IF EXISTS '{user}'@'%'"));
    }

    fn role(&mut self, role: &str) {
        self.statements
            .push(format!("DROP ROLE IF EXISTS `{role}`"));
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let statements = std::mem::take(&mut self.statements);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c = root().await;
                for s in statements {
                    let _ = c.query_drop(s).await;
                }
                let _ = c.disconnect().await;
            });
        })
        .join();
    }
}

/// A fresh database `wt_<rand>` with a table `t` holding one row.
async fn database(cleanup: &mut Cleanup) -> String {
    let db = format!("wt_{}", suffix());
    cleanup.database(&db);
    let mut r = root().await;
    r.query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    r.query_drop(format!("CREATE TABLE `{db}`.t (id INT)"))
        .await
        .unwrap();
    r.query_drop(format!("INSERT INTO `{db}`.t VALUES (1)"))
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn a_grant_gives_a_password_login_that_reads_but_does_not_write() {
    let mut cleanup = Cleanup::default();
    let db = database(&mut cleanup).await;
    let m = connector();
    let access = spec(vec![grant(&["SELECT"], &format!("{db}.*"))]);
    cleanup.user(&access.account_name());

    let handle = m.grant(&access).await.unwrap();
    assert_eq!(handle, access.account_name());
    let cred = m.credential(&access, Some(&handle)).await.unwrap();
    assert_eq!(cred.username, handle);
    assert_eq!(cred.hints.get("host").map(String::as_str), Some(HOST));
    assert_eq!(cred.hints.get("port").map(String::as_str), Some("3306"));
    let pw = cred.secret.expose_secret().to_owned();
    assert_eq!(pw.len(), 32);

    let mut c = login(&handle, &pw).await.unwrap();
    let n: Option<i64> = c
        .query_first(format!("SELECT COUNT(*) FROM `{db}`.t"))
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    let insert = c
        .query_drop(format!("INSERT INTO `{db}`.t VALUES (2)"))
        .await
        .unwrap_err();
    assert_eq!(server_code(&insert), Some(1142), "{insert}");
    c.disconnect().await.unwrap();

    let wrong = login(&handle, "not-the-password").await.unwrap_err();
    assert_eq!(server_code(&wrong), Some(1045), "{wrong}");

    assert_eq!(
        m.verify(&access, Some(&handle)).await.unwrap(),
        Presence::Present { until: None }
    );

    // A privilege taken away behind Warden's back: verify notices, granting again
    // re-applies it and keeps the password.
    let mut r = root().await;
    r.query_drop(format!("REVOKE SELECT ON `{db}`.* FROM '{handle}'@'%'"))
        .await
        .unwrap();
    assert_eq!(
        m.verify(&access, Some(&handle)).await.unwrap(),
        Presence::Absent
    );
    assert_eq!(m.grant(&access).await.unwrap(), handle);
    assert_eq!(
        m.verify(&access, None).await.unwrap(),
        Presence::Present { until: None }
    );
    let mut c = login(&handle, &pw).await.unwrap();
    let n: Option<i64> = c
        .query_first(format!("SELECT COUNT(*) FROM `{db}`.t"))
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    c.disconnect().await.unwrap();

    // Grants are never given WITH GRANT OPTION.
    for line in show_grants(&mut r, &handle).await {
        assert!(!line.contains("GRANT OPTION"), "{line}");
    }
    m.revoke(&access, Some(&handle)).await.unwrap();
}

#[tokio::test]
async fn revoke_cuts_open_sessions_and_blocks_new_logins() {
    let mut cleanup = Cleanup::default();
    let db = database(&mut cleanup).await;
    let m = connector();
    let access = spec(vec![grant(&["SELECT", "INSERT"], &format!("{db}.t"))]);
    cleanup.user(&access.account_name());

    let handle = m.grant(&access).await.unwrap();
    let pw = m
        .credential(&access, None)
        .await
        .unwrap()
        .secret
        .expose_secret()
        .to_owned();
    let mut open = login(&handle, &pw).await.unwrap();
    open.query_drop(format!("INSERT INTO `{db}`.t VALUES (7)"))
        .await
        .unwrap();

    m.revoke(&access, Some(&handle)).await.unwrap();

    let cut = open
        .query_drop(format!("SELECT * FROM `{db}`.t"))
        .await
        .unwrap_err();
    drop(cut);
    let again = login(&handle, &pw).await.unwrap_err();
    // The account is gone: MariaDB refuses a login to an account that does not exist with
    // 1045, or with 1698 when its stand-in authentication picks a passwordless plugin;
    // both are "access denied" (SQLSTATE 28000).
    assert!(matches!(server_code(&again), Some(1045 | 1698)), "{again}");
    assert_eq!(
        m.verify(&access, Some(&handle)).await.unwrap(),
        Presence::Absent
    );
    assert_eq!(user_count(&mut root().await, &handle).await, 0);

    // Revoking what is gone succeeds; a credential for it is refused.
    m.revoke(&access, Some(&handle)).await.unwrap();
    m.revoke(&access, None).await.unwrap();
    assert!(matches!(
        m.credential(&access, Some(&handle)).await,
        Err(ConnectorError::Refused(_))
    ));
}

#[tokio::test]
async fn a_new_credential_replaces_the_previous_password() {
    let mut cleanup = Cleanup::default();
    let db = database(&mut cleanup).await;
    let m = Mariadb::new(
        "main",
        Config {
            public_host: Some("db.example.com".to_owned()),
            database: Some(db.clone()),
            ..config()
        },
    )
    .unwrap();
    let access = spec(vec![grant(&["SELECT"], &format!("{db}.*"))]);
    cleanup.user(&access.account_name());
    let handle = m.grant(&access).await.unwrap();

    let first = m.credential(&access, Some(&handle)).await.unwrap();
    let second = m.credential(&access, Some(&handle)).await.unwrap();
    assert_eq!(
        second.hints.get("host").map(String::as_str),
        Some("db.example.com")
    );
    assert_eq!(second.hints.get("database"), Some(&db));
    assert_ne!(first.secret.expose_secret(), second.secret.expose_secret());
    // The credential's Debug never shows the password.
    assert!(!format!("{second:?}").contains(second.secret.expose_secret()));

    let old = login(&handle, first.secret.expose_secret())
        .await
        .unwrap_err();
    assert_eq!(server_code(&old), Some(1045), "{old}");
    let mut c = login(&handle, second.secret.expose_secret()).await.unwrap();
    c.query_drop(format!("SELECT * FROM `{db}`.t"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    m.revoke(&access, Some(&handle)).await.unwrap();
}

#[tokio::test]
async fn many_grants_at_once_share_a_small_pool() {
    let mut cleanup = Cleanup::default();
    let db = database(&mut cleanup).await;
    let m = Arc::new(
        Mariadb::new(
            "main",
            Config {
                max_connections: 2,
                ..config()
            },
        )
        .unwrap(),
    );
    let accesses: Vec<AccessSpec> = (0..8)
        .map(|_| spec(vec![grant(&["SELECT"], &format!("{db}.*"))]))
        .collect();
    for a in &accesses {
        cleanup.user(&a.account_name());
    }
    let mut set = JoinSet::new();
    for a in accesses.clone() {
        let m = Arc::clone(&m);
        set.spawn(async move { (m.grant(&a).await, a) });
    }
    while let Some(done) = set.join_next().await {
        let (handle, a) = done.unwrap();
        assert_eq!(handle.unwrap(), a.account_name());
    }
    for a in &accesses {
        assert_eq!(
            m.verify(a, None).await.unwrap(),
            Presence::Present { until: None }
        );
    }
    for a in accesses.clone() {
        let m = Arc::clone(&m);
        set.spawn(async move { (m.revoke(&a, None).await.map(|()| String::new()), a) });
    }
    while let Some(done) = set.join_next().await {
        let (revoked, a) = done.unwrap();
        revoked.unwrap();
        assert_eq!(m.verify(&a, None).await.unwrap(), Presence::Absent);
    }
}

#[tokio::test]
async fn hostile_names_and_mappings_never_reach_a_statement() {
    let mut cleanup = Cleanup::default();
    let canary = database(&mut cleanup).await;
    let m = connector();
    let mut r = root().await;

    // Quotes, semicolons, backticks and newlines in the holder and role fold away.
    let mut hostile = spec(vec![grant(&["SELECT"], &format!("{canary}.*"))]);
    hostile.employee_id = format!("x'; DROP DATABASE {canary}; --\n`\"{}", suffix());
    hostile.role = "r\"o`le'; DROP USER root; --".to_owned();
    let name = hostile.account_name();
    cleanup.user(&name);
    assert!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "{name}"
    );
    assert_eq!(m.grant(&hostile).await.unwrap(), name);
    assert_eq!(
        m.verify(&hostile, None).await.unwrap(),
        Presence::Present { until: None }
    );
    m.revoke(&hostile, None).await.unwrap();

    // Hostile role mappings are refused before any statement: no account is made.
    let bad_mappings = [
        grant(&["SELECT"], &format!("{canary}.*; DROP DATABASE {canary}")),
        grant(&["SELECT; DROP"], &format!("{canary}.*")),
        grant(&["GRANT OPTION"], &format!("{canary}.*")),
        grant(&["SELECT"], &format!("`{canary}`.*")),
        grant(&["SELECT"], &format!("{canary}.t' IDENTIFIED BY 'x")),
        grant(&[], &format!("{canary}.*")),
    ];
    for g in bad_mappings {
        let shown = format!("{g:?}");
        let access = spec(vec![grant(&["SELECT"], &format!("{canary}.*")), g]);
        cleanup.user(&access.account_name());
        match m.grant(&access).await {
            Err(ConnectorError::Refused(_)) => {}
            other => panic!("{shown}: expected Refused, got {other:?}"),
        }
        assert_eq!(
            user_count(&mut r, &access.account_name()).await,
            0,
            "{shown}"
        );
    }
    let mut empty = spec(vec![]);
    empty.target = RoleTarget::Mariadb { grants: vec![] };
    assert!(matches!(
        m.grant(&empty).await,
        Err(ConnectorError::Refused(_))
    ));
    for target in [
        RoleTarget::Unmapped,
        RoleTarget::Redis {
            acl: vec!["+@all".into()],
        },
    ] {
        let mut other = spec(vec![]);
        other.target = target;
        match m.grant(&other).await {
            Err(ConnectorError::Refused(msg)) => {
                assert!(msg.contains("no mariadb mapping"), "{msg}")
            }
            x => panic!("expected Refused, got {x:?}"),
        }
    }

    // Handles that are not Warden account names are refused by every call.
    let access = spec(vec![grant(&["SELECT"], &format!("{canary}.*"))]);
    for h in [
        "recorded:0190e0c1".to_owned(),
        format!("w_x'@'%'; DROP DATABASE {canary}; --"),
        "w_a`b".to_owned(),
        "w_a\nb".to_owned(),
        "root".to_owned(),
        String::new(),
    ] {
        assert!(
            matches!(
                m.revoke(&access, Some(&h)).await,
                Err(ConnectorError::Refused(_))
            ),
            "{h:?}"
        );
        assert!(
            matches!(
                m.verify(&access, Some(&h)).await,
                Err(ConnectorError::Refused(_))
            ),
            "{h:?}"
        );
        assert!(
            matches!(
                m.credential(&access, Some(&h)).await,
                Err(ConnectorError::Refused(_))
            ),
            "{h:?}"
        );
    }

    // Hostile accounts handed to remove: quoted safely or refused.
    let odd = Account {
        name: format!("x'; DROP DATABASE {canary}; --@%"),
        origin: Origin::Other,
        privileges: vec!["SELECT ON *.*".into()],
        until: None,
    };
    m.remove(&odd).await.unwrap();
    for (name, privileges) in [
        (
            format!("wt_{}@%'; DROP DATABASE {canary}", suffix()),
            vec![],
        ),
        (
            format!("wt_{}@%", suffix()),
            vec![format!("SELECT ON *.*; DROP DATABASE {canary}")],
        ),
        (
            format!("wt_{}@%", suffix()),
            vec![format!("SELECT; DROP DATABASE {canary} ON *.*")],
        ),
        (
            format!("wt_{}@%", suffix()),
            vec!["ROLE x; DROP USER root".to_owned()],
        ),
        ("no-host-part".to_owned(), vec![]),
    ] {
        let a = Account {
            name,
            origin: Origin::Other,
            privileges,
            until: None,
        };
        assert!(
            matches!(m.remove(&a).await, Err(ConnectorError::Refused(_))),
            "{a:?}"
        );
    }

    // A hostile host part for Warden's accounts is refused by the configuration.
    for bad in ["%'; DROP DATABASE x; --", "a b", "`%`", ""] {
        let c = Config {
            user_host: bad.to_owned(),
            ..config()
        };
        assert!(
            matches!(Mariadb::new("main", c), Err(ConnectorError::Refused(_))),
            "{bad:?}"
        );
    }

    assert!(
        db_exists(&mut r, &canary).await,
        "the canary database is gone"
    );
    assert_eq!(user_count(&mut r, "root").await, 2);
}

#[tokio::test]
async fn discover_reports_drift_and_remove_takes_it_away() {
    let mut cleanup = Cleanup::default();
    let db = database(&mut cleanup).await;
    let m = connector();
    let mut r = root().await;

    // Standing access made by hand, directly and through a role.
    let drift = format!("wt_drift_{}", suffix());
    let role = format!("wt_role_{}", suffix());
    let drift_pw = format!("pw-{}", suffix());
    cleanup.user(&drift);
    cleanup.role(&role);
    for s in [
        format!("CREATE USER '{drift}'@'%' IDENTIFIED BY '{drift_pw}'"),
        format!("GRANT ALL ON *.* TO '{drift}'@'%' WITH GRANT OPTION"),
        format!("GRANT SELECT ON mysql.* TO '{drift}'@'%'"),
        format!("CREATE ROLE `{role}`"),
        format!("GRANT PROCESS ON *.* TO `{role}`"),
        format!("GRANT `{role}` TO '{drift}'@'%'"),
    ] {
        r.query_drop(s).await.unwrap();
    }
    // A Warden account left behind.
    let access = spec(vec![grant(&["SELECT"], &format!("{db}.*"))]);
    let leftover = access.account_name();
    cleanup.user(&leftover);
    m.grant(&access).await.unwrap();

    let found = m.discover().await.unwrap();
    let find = |name: &str| found.iter().find(|a| a.name == name).cloned();
    let d = find(&format!("{drift}@%")).expect("the hand-made account is found");
    assert_eq!(d.origin, Origin::Other);
    for p in [
        "ALL PRIVILEGES ON *.*".to_owned(),
        "GRANT OPTION ON *.*".to_owned(),
        "SELECT ON mysql.*".to_owned(),
        format!("ROLE {role}"),
    ] {
        assert!(d.privileges.contains(&p), "{p} not in {:?}", d.privileges);
    }
    assert!(d.privileged());
    let w = find(&format!("{leftover}@%")).expect("the Warden account is found");
    assert_eq!(w.origin, Origin::Warden);
    assert!(!w.privileged(), "{w:?}");
    let admin = find("root@127.0.0.1").expect("the admin account is found");
    assert_eq!(admin.origin, Origin::Connector);
    assert!(
        admin
            .privileges
            .contains(&"ALL PRIVILEGES ON *.*".to_owned())
    );
    assert!(found.iter().all(|a| !a.name.starts_with("mariadb.sys@")));
    assert!(
        found
            .iter()
            .all(|a| a.name != role && !a.name.starts_with(&format!("{role}@")))
    );

    // Removing the hand-made account's privileges cuts its session and keeps the account.
    let mut open = login(&drift, &drift_pw).await.unwrap();
    open.query_drop("SELECT 1").await.unwrap();
    m.remove(&d).await.unwrap();
    assert!(open.query_drop("SELECT 1").await.is_err());
    let lines = show_grants(&mut r, &drift).await;
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(line.starts_with("GRANT USAGE ON *.* TO "), "{lines:?}");
        assert!(!line.contains("WITH GRANT OPTION"), "{lines:?}");
    }
    assert_eq!(user_count(&mut r, &drift).await, 1);
    let after = m.discover().await.unwrap();
    let d2 = after
        .iter()
        .find(|a| a.name == format!("{drift}@%"))
        .expect("the account is kept");
    assert!(d2.privileges.is_empty(), "{d2:?}");
    // Again: what is gone is gone.
    m.remove(&d).await.unwrap();

    // Removing Warden's leftover drops it.
    m.remove(&w).await.unwrap();
    assert_eq!(user_count(&mut r, &leftover).await, 0);
    m.remove(&w).await.unwrap();

    // The connector's own account is never touched.
    assert!(matches!(
        m.remove(&admin).await,
        Err(ConnectorError::Refused(_))
    ));
    let root_local = Account {
        name: "root@localhost".into(),
        origin: Origin::Other,
        privileges: vec!["ALL PRIVILEGES ON *.*".into()],
        until: None,
    };
    assert!(matches!(
        m.remove(&root_local).await,
        Err(ConnectorError::Refused(_))
    ));
}

#[tokio::test]
async fn unreachable_servers_are_unavailable_and_refusals_are_refused() {
    let mut cleanup = Cleanup::default();
    let db = database(&mut cleanup).await;
    let access = spec(vec![grant(&["SELECT"], &format!("{db}.*"))]);
    cleanup.user(&access.account_name());

    // Nothing listens on port 1.
    let closed = Mariadb::new(
        "closed",
        Config {
            port: 1,
            ..config()
        },
    )
    .unwrap();
    assert!(matches!(
        closed.grant(&access).await,
        Err(ConnectorError::Unavailable(_))
    ));
    assert!(matches!(
        closed.discover().await,
        Err(ConnectorError::Unavailable(_))
    ));
    assert!(matches!(
        closed.revoke(&access, None).await,
        Err(ConnectorError::Unavailable(_))
    ));

    // A server that accepts the connection but never answers: the connect timeout.
    let silent = tokio::net::TcpListener::bind((HOST, 0)).await.unwrap();
    let hung = Mariadb::new(
        "hung",
        Config {
            port: silent.local_addr().unwrap().port(),
            connect_timeout_secs: 1,
            ..config()
        },
    )
    .unwrap();
    match hung.verify(&access, None).await {
        Err(ConnectorError::Unavailable(msg)) => assert!(msg.contains("1 s"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    drop(silent);

    // A wrong admin password is refused, and the error does not show it.
    let wrong = Mariadb::new(
        "wrong",
        Config {
            password: Some("hunter2-wrong".to_owned().into()),
            ..config()
        },
    )
    .unwrap();
    assert!(!format!("{wrong:?}").contains("hunter2"));
    match wrong.discover().await {
        Err(ConnectorError::Refused(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
        other => panic!("expected Refused, got {other:?}"),
    }
    let missing_env = Mariadb::new(
        "env",
        Config {
            password_env: Some(format!("WARDEN_TEST_NO_SUCH_VAR_{}", suffix())),
            ..config()
        },
    )
    .unwrap();
    assert!(matches!(
        missing_env.discover().await,
        Err(ConnectorError::Refused(_))
    ));

    // The server refusing a statement (a table that does not exist) is Refused, and no
    // half-made account is left behind.
    let m = connector();
    let no_table = spec(vec![
        grant(&["SELECT"], &format!("{db}.*")),
        grant(&["SELECT"], &format!("{db}.no_such_table")),
    ]);
    cleanup.user(&no_table.account_name());
    match m.grant(&no_table).await {
        Err(ConnectorError::Refused(msg)) => assert!(msg.contains("1146"), "{msg}"),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(
        user_count(&mut root().await, &no_table.account_name()).await,
        0
    );
    assert_eq!(m.verify(&no_table, None).await.unwrap(), Presence::Absent);
}

/// A TOML table's values, as the `toml` crate hands them to serde (strings and
/// integers), so the test needs no TOML parser: `toml` is not a dependency of this
/// crate.
#[derive(Clone, Copy)]
enum V {
    S(&'static str),
    I(i64),
}

impl<'de> serde::Deserializer<'de> for V {
    type Error = serde::de::value::Error;

    fn deserialize_any<W: serde::de::Visitor<'de>>(self, v: W) -> Result<W::Value, Self::Error> {
        match self {
            V::S(s) => v.visit_borrowed_str(s),
            V::I(i) => v.visit_i64(i),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> serde::de::IntoDeserializer<'de, serde::de::value::Error> for V {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

fn table(entries: &[(&'static str, V)]) -> Result<ConnectionConfig, serde::de::value::Error> {
    ConnectionConfig::deserialize(serde::de::value::MapDeserializer::new(
        entries.iter().copied(),
    ))
}

#[test]
fn a_connection_table_deserializes_and_hides_its_password() {
    let full = table(&[
        ("kind", V::S("mariadb")),
        ("host", V::S("10.0.0.7")),
        ("port", V::I(3307)),
        ("user", V::S("warden")),
        ("password", V::S("hunter2-inline")),
        ("user_host", V::S("10.0.%")),
        ("public_host", V::S("db.example.com")),
        ("database", V::S("app")),
        ("max_connections", V::I(8)),
        ("connect_timeout_secs", V::I(2)),
    ])
    .unwrap();
    assert_eq!(full.kind(), "mariadb");
    let shown = format!("{full:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let ConnectionConfig::Mariadb(c) = &full else {
        panic!("not mariadb: {shown}");
    };
    assert_eq!(
        (c.host.as_str(), c.port, c.user.as_str()),
        ("10.0.0.7", 3307, "warden")
    );
    assert_eq!(c.user_host, "10.0.%");
    assert_eq!(c.public_host.as_deref(), Some("db.example.com"));
    assert_eq!(c.database.as_deref(), Some("app"));
    assert_eq!((c.max_connections, c.connect_timeout_secs), (8, 2));
    assert_eq!(
        c.admin_secret().resolve().unwrap().unwrap().expose_secret(),
        "hunter2-inline"
    );
    let m = Mariadb::new("main", c.clone()).unwrap();
    assert!(!format!("{m:?}").contains("hunter2"));

    let ConnectionConfig::Mariadb(d) =
        table(&[("kind", V::S("mariadb")), ("user", V::S("root"))]).unwrap()
    else {
        panic!("not mariadb");
    };
    assert_eq!(
        (d.host.as_str(), d.port, d.user_host.as_str()),
        ("127.0.0.1", 3306, "%")
    );
    assert_eq!((d.max_connections, d.connect_timeout_secs), (4, 5));
    assert!(d.public_host.is_none() && d.database.is_none());
    assert!(d.admin_secret().resolve().unwrap().is_none());

    // The admin user is required; unknown keys are refused.
    assert!(table(&[("kind", V::S("mariadb"))]).is_err());
    assert!(
        table(&[
            ("kind", V::S("mariadb")),
            ("user", V::S("root")),
            ("hots", V::S("x"))
        ])
        .is_err()
    );
    let ConnectionConfig::Mariadb(bad) = table(&[
        ("kind", V::S("mariadb")),
        ("user", V::S("root")),
        ("user_host", V::S("%' OR '1")),
    ])
    .unwrap() else {
        panic!("not mariadb");
    };
    assert!(matches!(
        Mariadb::new("main", bad),
        Err(ConnectorError::Refused(_))
    ));
}

/// Makes the account `'user'@'%'` with `password`, dropped at the end of the test.
async fn account(cleanup: &mut Cleanup, user: &str, password: &str) {
    cleanup.user(user);
    root()
        .await
        .query_drop(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn set_password_rotates_an_account_and_check_login_tells_old_from_new() {
    let mut cleanup = Cleanup::default();
    let s = suffix();
    let user = format!("wt{s}");
    let (old, new, newer, wrong) = (
        format!("old-{s}-pw"),
        format!("new-{s}-pw"),
        format!("newer-{s}-pw"),
        format!("wrong-{s}-pw"),
    );
    account(&mut cleanup, &user, &old).await;
    let m = connector();

    assert!(m.check_login(&user, &secret(&old)).await.unwrap());
    assert!(!m.check_login(&user, &secret(&wrong)).await.unwrap());
    let mut open = login(&user, &old).await.unwrap();

    m.set_password(&format!("{user}@%"), &secret(&new))
        .await
        .unwrap();
    assert!(m.check_login(&user, &secret(&new)).await.unwrap());
    assert!(!m.check_login(&user, &secret(&old)).await.unwrap());
    assert!(
        !m.check_login(&format!("{user}@%"), &secret(&old))
            .await
            .unwrap()
    );
    login(&user, &new)
        .await
        .unwrap()
        .disconnect()
        .await
        .unwrap();
    // Sessions already open are left alone.
    let one: Option<i64> = open.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    open.disconnect().await.unwrap();
    // Without a host part, the account is `user@%`.
    m.set_password(&user, &secret(&newer)).await.unwrap();
    assert!(m.check_login(&user, &secret(&newer)).await.unwrap());
    assert!(!m.check_login(&user, &secret(&new)).await.unwrap());

    // Accounts that do not exist are refused, and none is made.
    let mut errors = Vec::new();
    let missing = format!("wtnosuch{s}");
    for name in [format!("{missing}@%"), format!("{user}@localhost")] {
        let e = m.set_password(&name, &secret(&new)).await.unwrap_err();
        let shown = name.replace('@', "'@'");
        assert!(
            matches!(&e, ConnectorError::Refused(msg) if msg.contains(&shown) && msg.contains("does not exist")),
            "{e:?}"
        );
        errors.push(e);
    }
    assert_eq!(user_count(&mut root().await, &missing).await, 0);
    assert_eq!(user_count(&mut root().await, &user).await, 1);
    assert!(!m.check_login(&missing, &secret(&new)).await.unwrap());

    // Hostile names never reach a statement; an unreachable server is unavailable.
    let closed = Mariadb::new(
        "closed",
        Config {
            port: 1,
            ..config()
        },
    )
    .unwrap();
    for bad in ["x'@'%'; DROP USER root", "a\nb@%", "@%", "app@a b", ""] {
        for m in [&m, &closed] {
            let e = m.set_password(bad, &secret(&new)).await.unwrap_err();
            assert!(matches!(e, ConnectorError::Refused(_)), "{bad:?}: {e:?}");
            let e = m.check_login(bad, &secret(&new)).await.unwrap_err();
            assert!(matches!(e, ConnectorError::Refused(_)), "{bad:?}: {e:?}");
            errors.push(e);
        }
    }
    for e in [
        closed.set_password(&user, &secret(&new)).await.unwrap_err(),
        closed.check_login(&user, &secret(&new)).await.unwrap_err(),
    ] {
        assert!(matches!(e, ConnectorError::Unavailable(_)), "{e:?}");
        errors.push(e);
    }
    hides(&errors, &[&old, &new, &newer, &wrong]);
}

#[tokio::test]
async fn the_admin_password_comes_from_the_vault_and_is_read_again_when_rotated() {
    let mut cleanup = Cleanup::default();
    let s = suffix();
    let (boss, app) = (format!("wtadm{s}"), format!("wtapp{s}"));
    let (right, wrong, next, app_old, app_new) = (
        format!("right-{s}-pw"),
        format!("wrong-{s}-pw"),
        format!("next-{s}-pw"),
        format!("appold-{s}-pw"),
        format!("appnew-{s}-pw"),
    );
    account(&mut cleanup, &boss, &right).await;
    account(&mut cleanup, &app, &app_old).await;
    root()
        .await
        .query_drop(format!(
            "GRANT CREATE USER, PROCESS, SELECT ON *.* TO '{boss}'@'%'"
        ))
        .await
        .unwrap();
    let vaulted = Config {
        user: boss.clone(),
        password_vault: Some("m".to_owned()),
        ..config()
    };
    let vault = Arc::new(Vault::default());
    vault.put("m", &right);
    let m = Mariadb::new("main", vaulted.clone())
        .unwrap()
        .with_passwords(vault.clone());
    assert!(!format!("{m:?}").contains(&right));
    m.set_password(&app, &secret(&app_new)).await.unwrap();
    assert!(m.check_login(&app, &secret(&app_new)).await.unwrap());

    // The wrong password in the vault: every call fails, and nothing changes.
    let bad = Arc::new(Vault::default());
    bad.put("m", &wrong);
    let m_bad = Mariadb::new("main", vaulted.clone())
        .unwrap()
        .with_passwords(bad);
    let e1 = m_bad
        .set_password(&app, &secret(&app_old))
        .await
        .unwrap_err();
    assert!(
        matches!(&e1, ConnectorError::Refused(msg) if msg.contains("1045")),
        "{e1:?}"
    );
    let e2 = m_bad.discover().await.unwrap_err();
    assert!(m.check_login(&app, &secret(&app_new)).await.unwrap());
    // No vault at all.
    let e3 = Mariadb::new("main", vaulted.clone())
        .unwrap()
        .discover()
        .await
        .unwrap_err();
    assert_eq!(
        e3,
        ConnectorError::Unavailable(
            "mariadb connection main takes its admin password from the vault account m, but the vault is not available".to_owned()
        )
    );

    // The admin rotates its own password and the vault commits it. Its pooled
    // connections go on working; once they are gone, the pool is made again with the
    // password read from the vault anew.
    m.set_password(&format!("{boss}@%"), &secret(&next))
        .await
        .unwrap();
    assert!(m.check_login(&boss, &secret(&next)).await.unwrap());
    assert!(!m.check_login(&boss, &secret(&right)).await.unwrap());
    vault.put("m", &next);
    let mut r = root().await;
    let ids: Vec<u64> = r
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?",
            (boss.as_str(),),
        )
        .await
        .unwrap();
    assert!(!ids.is_empty(), "the pool holds a connection");
    for id in ids {
        r.query_drop(format!("KILL CONNECTION {id}")).await.unwrap();
    }
    m.set_password(&app, &secret(&app_old)).await.unwrap();
    assert!(m.check_login(&app, &secret(&app_old)).await.unwrap());
    hides(&[e1, e2, e3], &[&right, &wrong, &next, &app_old, &app_new]);
}

#[test]
fn a_vaulted_admin_password_is_configured_by_account_name() {
    let parsed = table(&[
        ("kind", V::S("mariadb")),
        ("user", V::S("warden")),
        ("password_vault", V::S("maria-admin")),
    ])
    .unwrap();
    assert_eq!(parsed.password_vault(), Some("maria-admin"));
    let ConnectionConfig::Mariadb(c) = parsed else {
        panic!("not mariadb");
    };
    Mariadb::new("main", c.clone()).unwrap();
    let clash = Config {
        password_file: Some("/nonexistent".into()),
        ..c
    };
    let e = Mariadb::new("main", clash).unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Refused(m) if m.contains("password_file and password_vault")),
        "{e:?}"
    );
}
