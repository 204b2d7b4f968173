//! Integration tests of the PostgreSQL connector against the real server on
//! 127.0.0.1:5432 (trust authentication, superuser `postgres`, database `test`). Every
//! test makes uniquely named schemas and roles and drops them afterwards, even when it
//! fails. Since trust authentication lets any password in, the tests also check the
//! stored SCRAM-SHA-256 verifier against the issued password by recomputing it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::de::value::MapDeserializer;
use serde::de::{self, IntoDeserializer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;
use warden_connectors::ConnectionConfig;
use warden_connectors::postgres::{Config, Postgres};
use warden_core::connector::{
    AccessSpec, Account, Connector, ConnectorError, Login, Origin, Presence, RoleTarget,
};

mod common;
use common::{Vault, hides, secret};

const ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

async fn connect(params: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(params, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn admin() -> Client {
    connect(ADMIN).await.expect("PostgreSQL on 127.0.0.1:5432")
}

fn config(port: u16) -> Config {
    Config {
        host: "127.0.0.1".into(),
        port,
        user: "postgres".into(),
        database: "test".into(),
        password: None,
        password_env: None,
        password_file: None,
        password_vault: None,
        public_host: Some("db.example.test".into()),
        max_connections: 4,
        connect_timeout_secs: 2,
    }
}

fn connector() -> Postgres {
    Postgres::new("main", config(5432)).unwrap()
}

/// A connector whose server is not there: any call that reaches the network fails with
/// `Unavailable`, so a `Refused` from it proves the call was refused before connecting.
fn unreachable() -> Postgres {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    Postgres::new("gone", config(port)).unwrap()
}

/// The wall clock, to give accesses an end in the future on the real server.
#[allow(clippy::disallowed_methods)] // tests against a real server need real time
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

/// Uniquely named objects of one test: a schema `wt_<sfx>` with a table `t` of one row,
/// and a permission role `wt_<sfx>_read` that may read it.
#[derive(Clone)]
struct Fixture {
    sfx: String,
    roles: Arc<Mutex<Vec<String>>>,
    databases: Arc<Mutex<Vec<String>>>,
}

impl Fixture {
    fn schema(&self) -> String {
        format!("wt_{}", self.sfx)
    }

    fn read_role(&self) -> String {
        format!("wt_{}_read", self.sfx)
    }

    /// A role name of this test, dropped at the end.
    fn role(&self, what: &str) -> String {
        let name = format!("wt_{}_{what}", self.sfx);
        self.track(&name);
        name
    }

    /// Drops `name` at the end of the test.
    fn track(&self, name: &str) {
        self.roles.lock().unwrap().push(name.to_owned());
    }

    /// A database of this test, made now and dropped at the end (before its roles).
    async fn database(&self, db: &Client, what: &str) -> String {
        let name = format!("wt_{}_{what}", self.sfx);
        self.databases.lock().unwrap().push(name.clone());
        // template0: nobody is ever connected to it, which CREATE DATABASE requires.
        db.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .await
            .unwrap();
        name
    }

    fn target(&self, login: Login) -> RoleTarget {
        RoleTarget::Postgres {
            member_of: vec![self.read_role()],
            login,
        }
    }

    fn spec(&self, target: RoleTarget, until: OffsetDateTime) -> AccessSpec {
        let spec = AccessSpec {
            grant: Uuid::new_v4(),
            identity: Uuid::new_v4(),
            employee_id: "E1001".into(),
            resource: "orders-db".into(),
            kind: "postgres".into(),
            connection: "main".into(),
            role: "read".into(),
            target,
            username: "alice".into(),
            until,
        };
        self.track(&spec.account_name());
        spec
    }
}

/// Runs `test` with a fresh fixture and drops everything it made, then re-raises any
/// failure.
async fn with_fixture<F, Fut>(test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let sfx = Uuid::new_v4().simple().to_string()[..10].to_owned();
    let fx = Fixture {
        sfx,
        roles: Arc::new(Mutex::new(Vec::new())),
        databases: Arc::new(Mutex::new(Vec::new())),
    };
    let db = admin().await;
    let (schema, read) = (fx.schema(), fx.read_role());
    db.batch_execute(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (x int); INSERT INTO {schema}.t VALUES (42);
         CREATE ROLE {read} NOLOGIN; GRANT USAGE ON SCHEMA {schema} TO {read};
         GRANT SELECT ON {schema}.t TO {read};"
    ))
    .await
    .unwrap();
    fx.track(&read);
    let outcome = tokio::spawn(test(fx.clone())).await;
    let databases = fx.databases.lock().unwrap().clone();
    for database in databases {
        let _ = db
            .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .await;
    }
    let roles = fx.roles.lock().unwrap().clone();
    for role in roles.iter().rev() {
        let _ = db
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}';
                 DROP OWNED BY {role}; DROP ROLE IF EXISTS {role};"
            ))
            .await;
    }
    db.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
    for role in roles.iter().rev() {
        let _ = db
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn role_exists(db: &Client, role: &str) -> bool {
    db.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .unwrap()
        .is_some()
}

async fn is_member(db: &Client, member: &str, group: &str) -> bool {
    db.query_opt(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
           JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 AND g.rolname = $2",
        &[&member, &group],
    )
    .await
    .unwrap()
    .is_some()
}

/// `rolvaliduntil` of `role` in whole seconds since the epoch.
async fn valid_until(db: &Client, role: &str) -> i64 {
    db.query_one(
        "SELECT extract(epoch FROM rolvaliduntil)::int8 FROM pg_roles WHERE rolname = $1",
        &[&role],
    )
    .await
    .unwrap()
    .get(0)
}

async fn stored_verifier(db: &Client, role: &str) -> String {
    db.query_one(
        "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
        &[&role],
    )
    .await
    .unwrap()
    .get(0)
}

async fn login(user: &str, password: &SecretString) -> Result<Client, tokio_postgres::Error> {
    login_to("test", user, password).await
}

async fn login_to(
    database: &str,
    user: &str,
    password: &SecretString,
) -> Result<Client, tokio_postgres::Error> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(5432)
        .user(user)
        .password(password.expose_secret())
        .dbname(database);
    let (client, connection) = cfg.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 for one 32-byte block (SCRAM's `Hi`).
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac(password, &[salt, &[0, 0, 0, 1]].concat());
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// Whether the SCRAM-SHA-256 verifier stored for `role` is the one of `password`
/// (RFC 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
/// HMAC(SaltedPassword, "Server Key")). The server decodes the base64 parts.
async fn verifier_matches(db: &Client, role: &str, password: &SecretString) -> bool {
    let row = db
        .query_one(
            "SELECT split_part(split_part(rolpassword, '$', 2), ':', 1)::int8,
                    decode(split_part(split_part(rolpassword, '$', 2), ':', 2), 'base64'),
                    decode(split_part(split_part(rolpassword, '$', 3), ':', 1), 'base64'),
                    decode(split_part(split_part(rolpassword, '$', 3), ':', 2), 'base64')
               FROM pg_authid WHERE rolname = $1 AND rolpassword LIKE 'SCRAM-SHA-256$%'",
            &[&role],
        )
        .await
        .unwrap();
    let iterations: i64 = row.get(0);
    let salt: Vec<u8> = row.get(1);
    let stored: Vec<u8> = row.get(2);
    let server: Vec<u8> = row.get(3);
    let salted = hi(
        password.expose_secret().as_bytes(),
        &salt,
        u32::try_from(iterations).unwrap(),
    );
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    stored_key.as_slice() == stored.as_slice()
        && hmac(&salted, b"Server Key").as_slice() == server.as_slice()
}

fn refused(r: Result<impl std::fmt::Debug, ConnectorError>) -> String {
    match r {
        Err(ConnectorError::Refused(m)) => m,
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn granted_login_reads_and_verify_reports_the_end() {
    with_fixture(|fx| async move {
        let pg = connector();
        let db = admin().await;
        let until = now() + time::Duration::hours(2);
        let access = fx.spec(fx.target(Login::Dynamic), until);

        let handle = pg.grant(&access).await.unwrap();
        assert_eq!(handle, access.account_name());
        let row = db
            .query_one(
                "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,
                        rolbypassrls, rolinherit FROM pg_roles WHERE rolname = $1",
                &[&handle],
            )
            .await
            .unwrap();
        let flags: Vec<bool> = (0..7).map(|i| row.get(i)).collect();
        assert_eq!(flags, [true, false, false, false, false, false, true]);
        assert!(is_member(&db, &handle, &fx.read_role()).await);
        // Made with a verifier only, which no password matches.
        assert!(
            stored_verifier(&db, &handle)
                .await
                .starts_with("SCRAM-SHA-256$")
        );

        let presence = pg.verify(&access, Some(&handle)).await.unwrap();
        assert_eq!(presence, Presence::Present { until: Some(until) });
        assert_eq!(pg.verify(&access, None).await.unwrap(), presence);

        let cred = pg.credential(&access, Some(&handle)).await.unwrap();
        assert_eq!(cred.username, handle);
        assert_eq!(cred.hints["host"], "db.example.test");
        assert_eq!(cred.hints["port"], "5432");
        assert_eq!(cred.hints["database"], "test");
        assert!(!format!("{cred:?}").contains(cred.secret.expose_secret()));
        assert!(verifier_matches(&db, &handle, &cred.secret).await);

        let user = login(&cred.username, &cred.secret).await.unwrap();
        let x: i32 = user
            .query_one(&format!("SELECT x FROM {}.t", fx.schema()), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(x, 42);

        pg.revoke(&access, Some(&handle)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn revoke_cuts_sessions_and_is_idempotent() {
    with_fixture(|fx| async move {
        let pg = connector();
        let db = admin().await;
        let access = fx.spec(fx.target(Login::Dynamic), now() + time::Duration::hours(1));
        let handle = pg.grant(&access).await.unwrap();
        let cred = pg.credential(&access, Some(&handle)).await.unwrap();
        let session = login(&handle, &cred.secret).await.unwrap();
        session
            .batch_execute(&format!("SELECT * FROM {}.t", fx.schema()))
            .await
            .unwrap();

        pg.revoke(&access, Some(&handle)).await.unwrap();

        assert!(session.batch_execute("SELECT 1").await.is_err());
        let again = login(&handle, &cred.secret).await;
        assert!(again.is_err(), "a new login must fail after revoke");
        assert!(!role_exists(&db, &handle).await);
        assert_eq!(
            pg.verify(&access, Some(&handle)).await.unwrap(),
            Presence::Absent
        );
        pg.revoke(&access, Some(&handle)).await.unwrap();
        pg.revoke(&access, None).await.unwrap();
        assert_eq!(pg.verify(&access, None).await.unwrap(), Presence::Absent);
    })
    .await;
}

#[tokio::test]
async fn overlapping_grants_move_the_end_and_credentials_rotate() {
    with_fixture(|fx| async move {
        let pg = connector();
        let db = admin().await;
        let first = now() + time::Duration::hours(1);
        let mut access = fx.spec(fx.target(Login::Dynamic), first);
        let handle = pg.grant(&access).await.unwrap();
        assert_eq!(valid_until(&db, &handle).await, first.unix_timestamp());

        access.until = first + time::Duration::hours(3);
        assert_eq!(pg.grant(&access).await.unwrap(), handle);
        assert_eq!(
            valid_until(&db, &handle).await,
            access.until.unix_timestamp()
        );
        assert_eq!(
            pg.verify(&access, Some(&handle)).await.unwrap(),
            Presence::Present {
                until: Some(access.until)
            }
        );
        assert!(is_member(&db, &handle, &fx.read_role()).await);

        let one = pg.credential(&access, Some(&handle)).await.unwrap();
        let v1 = stored_verifier(&db, &handle).await;
        assert!(v1.starts_with("SCRAM-SHA-256$4096:"));
        assert!(verifier_matches(&db, &handle, &one.secret).await);
        let two = pg.credential(&access, Some(&handle)).await.unwrap();
        let v2 = stored_verifier(&db, &handle).await;
        assert_ne!(one.secret.expose_secret(), two.secret.expose_secret());
        assert_eq!(two.secret.expose_secret().len(), 32);
        assert_ne!(v1, v2);
        assert!(verifier_matches(&db, &handle, &two.secret).await);
        assert!(!verifier_matches(&db, &handle, &one.secret).await);

        pg.revoke(&access, Some(&handle)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn own_login_gets_and_loses_membership() {
    with_fixture(|fx| async move {
        let pg = connector();
        let db = admin().await;
        let alice = fx.role("alice");
        db.batch_execute(&format!("CREATE ROLE {alice} LOGIN"))
            .await
            .unwrap();
        let mut access = fx.spec(fx.target(Login::Own), now() + time::Duration::hours(1));
        access.username = alice.clone();
        let read = fx.read_role();

        assert_eq!(pg.verify(&access, None).await.unwrap(), Presence::Absent);
        let handle = pg.grant(&access).await.unwrap();
        assert_eq!(handle, alice);
        assert!(is_member(&db, &alice, &read).await);
        assert_eq!(pg.grant(&access).await.unwrap(), alice);
        assert_eq!(
            pg.verify(&access, Some(&handle)).await.unwrap(),
            Presence::Present { until: None }
        );
        let msg = refused(pg.credential(&access, Some(&handle)).await);
        assert!(msg.contains("uses the person's own login"), "{msg}");

        let session = connect(&format!("host=127.0.0.1 user={alice} dbname=test"))
            .await
            .unwrap();
        session
            .batch_execute(&format!("SET ROLE {read}; SELECT * FROM {}.t", fx.schema()))
            .await
            .unwrap();

        pg.revoke(&access, Some(&handle)).await.unwrap();
        assert!(!is_member(&db, &alice, &read).await);
        assert!(
            role_exists(&db, &alice).await,
            "an own login is never dropped"
        );
        assert!(session.batch_execute("SELECT 1").await.is_err());
        assert_eq!(
            pg.verify(&access, Some(&handle)).await.unwrap(),
            Presence::Absent
        );
        pg.revoke(&access, Some(&handle)).await.unwrap();

        let mut ghost = access.clone();
        ghost.username = format!("wt_{}_ghost", fx.sfx);
        let msg = refused(pg.grant(&ghost).await);
        assert!(msg.contains(&ghost.username), "{msg}");
    })
    .await;
}

#[tokio::test]
async fn hostile_names_are_made_safe_or_refused_before_any_statement() {
    with_fixture(|fx| async move {
        let pg = connector();
        let offline = unreachable();
        let db = admin().await;
        let canary = fx.role("canary");
        db.batch_execute(&format!("CREATE ROLE {canary}"))
            .await
            .unwrap();
        let until = now() + time::Duration::hours(1);

        // Hostile employee id and role name: the account name is folded to a safe one.
        let mut access = fx.spec(fx.target(Login::Dynamic), until);
        access.employee_id = format!("x'; DROP ROLE {canary}; --\n\"");
        access.role = format!("r\"; DROP ROLE {canary}; --");
        fx.track(&access.account_name());
        let handle = pg.grant(&access).await.unwrap();
        assert!(
            handle
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{handle}"
        );
        assert!(role_exists(&db, &handle).await);
        pg.revoke(&access, Some(&handle)).await.unwrap();

        // A handle that is not an account name never reaches a statement.
        let bad = "x\"; DROP ROLE postgres; --";
        for pg in [&pg, &offline] {
            refused(pg.revoke(&access, Some(bad)).await);
            refused(pg.verify(&access, Some(bad)).await);
            refused(pg.credential(&access, Some(bad)).await);
            refused(pg.verify(&access, Some("recorded:w_x")).await);
        }

        // Hostile role mappings and own logins are refused before connecting.
        for pg in [&pg, &offline] {
            for role in ["app\"; DROP", "App", "a;b", "x\ny", ""] {
                let target = RoleTarget::Postgres {
                    member_of: vec![fx.read_role(), role.to_owned()],
                    login: Login::Dynamic,
                };
                refused(pg.grant(&fx.spec(target, until)).await);
            }
            let mut own = fx.spec(fx.target(Login::Own), until);
            own.username = format!("alice\"; DROP ROLE {canary}; --");
            refused(pg.grant(&own).await);
            refused(pg.revoke(&own, None).await);
            own.username = "postgres".into();
            refused(pg.grant(&own).await);
            let unmapped = fx.spec(RoleTarget::Unmapped, until);
            let msg = refused(pg.grant(&unmapped).await);
            assert!(msg.contains("no postgres mapping"), "{msg}");
            let redis = fx.spec(RoleTarget::Redis { acl: vec![] }, until);
            refused(pg.grant(&redis).await);
            // An unknown privilege string, or the admin itself, is not removed.
            let odd = Account {
                name: "someone".into(),
                origin: Origin::Other,
                privileges: vec![format!("superuser; DROP ROLE {canary}")],
                until: None,
            };
            refused(pg.remove(&odd).await);
            let me = Account {
                name: "postgres".into(),
                origin: Origin::Connector,
                privileges: vec!["superuser".into()],
                until: None,
            };
            refused(pg.remove(&me).await);
        }

        // Names with quotes in `remove` are quoted, never executed.
        let quoted = Account {
            name: format!("x\"; DROP ROLE {canary}; --"),
            origin: Origin::Other,
            privileges: vec![format!("member of {canary}\"; DROP ROLE postgres; --")],
            until: None,
        };
        pg.remove(&quoted).await.unwrap();

        assert!(role_exists(&db, &canary).await);
        let superuser: bool = db
            .query_one(
                "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(superuser);
    })
    .await;
}

#[tokio::test]
async fn discover_finds_drift_and_remove_takes_it_away() {
    with_fixture(|fx| async move {
        let pg = connector();
        let db = admin().await;
        let su = fx.role("su");
        let boss = fx.role("boss");
        let drift = fx.role("drift");
        let plain = fx.role("plain");
        db.batch_execute(&format!(
            "CREATE ROLE {su} SUPERUSER LOGIN; CREATE ROLE {boss} CREATEROLE NOLOGIN;
             CREATE ROLE {drift} LOGIN VALID UNTIL '2099-01-01 00:00:00+00';
             CREATE ROLE {plain} LOGIN;
             GRANT {boss} TO {drift}; GRANT pg_read_all_data TO {drift};"
        ))
        .await
        .unwrap();
        let access = fx.spec(fx.target(Login::Dynamic), now() + time::Duration::hours(1));
        let handle = pg.grant(&access).await.unwrap();

        let found: HashMap<String, Account> = pg
            .discover()
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        assert!(found.keys().all(|n| !n.starts_with("pg_")));
        assert_eq!(found["postgres"].origin, Origin::Connector);
        assert_eq!(found[&su].origin, Origin::Other);
        assert_eq!(found[&su].privileges, ["superuser"]);
        assert_eq!(found[&boss].privileges, ["createrole"]);
        let d = &found[&drift];
        assert_eq!(d.origin, Origin::Other);
        assert_eq!(
            d.privileges,
            [
                "member of pg_read_all_data".to_owned(),
                format!("member of {boss}")
            ]
        );
        assert_eq!(
            d.until.map(|t| t.unix_timestamp()),
            Some(4_070_908_800),
            "VALID UNTIL 2099-01-01"
        );
        assert!(found[&plain].privileges.is_empty());
        assert!(!found[&plain].privileged());
        let w = &found[&handle];
        assert_eq!(w.origin, Origin::Warden);
        assert!(w.privileges.is_empty(), "{:?}", w.privileges);
        assert_eq!(w.until, Some(access.until));

        let session = connect(&format!("host=127.0.0.1 user={drift} dbname=test"))
            .await
            .unwrap();
        pg.remove(d).await.unwrap();
        assert!(!is_member(&db, &drift, &boss).await);
        assert!(!is_member(&db, &drift, "pg_read_all_data").await);
        assert!(
            role_exists(&db, &drift).await,
            "someone else's login is never dropped"
        );
        assert!(session.batch_execute("SELECT 1").await.is_err());
        pg.remove(d).await.unwrap();

        pg.remove(&found[&su]).await.unwrap();
        let still_super: bool = db
            .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&su])
            .await
            .unwrap()
            .get(0);
        assert!(!still_super);

        let again: HashMap<String, Account> = pg
            .discover()
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        assert!(again[&drift].privileges.is_empty());
        assert!(again[&su].privileges.is_empty());

        // A leftover Warden login is dropped.
        pg.remove(w).await.unwrap();
        assert!(!role_exists(&db, &handle).await);
        pg.remove(w).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn unknown_roles_are_refused_and_a_dead_server_is_unavailable() {
    with_fixture(|fx| async move {
        let pg = connector();
        let db = admin().await;
        let missing = format!("wt_{}_nosuch", fx.sfx);
        let target = RoleTarget::Postgres {
            member_of: vec![fx.read_role(), missing.clone()],
            login: Login::Dynamic,
        };
        let access = fx.spec(target, now() + time::Duration::hours(1));
        let msg = refused(pg.grant(&access).await);
        assert!(msg.contains(&missing), "{msg}");
        assert!(
            !role_exists(&db, &access.account_name()).await,
            "rolled back"
        );

        let offline = unreachable();
        let ok = fx.spec(fx.target(Login::Dynamic), now() + time::Duration::hours(1));
        for r in [
            offline.grant(&ok).await.map(|_| ()),
            offline.revoke(&ok, None).await,
            offline.verify(&ok, None).await.map(|_| ()),
            offline.discover().await.map(|_| ()),
        ] {
            assert!(
                matches!(r, Err(ConnectorError::Unavailable(_))),
                "expected Unavailable, got {r:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn many_grants_run_concurrently_through_the_pool() {
    with_fixture(|fx| async move {
        let pg = Arc::new(connector());
        let db = admin().await;
        let until = now() + time::Duration::hours(1);
        let accesses: Vec<AccessSpec> = (0..40)
            .map(|_| fx.spec(fx.target(Login::Dynamic), until))
            .collect();
        let tasks: Vec<_> = accesses
            .iter()
            .cloned()
            .map(|a| {
                let pg = Arc::clone(&pg);
                tokio::spawn(async move { pg.grant(&a).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // The same access granted many times at once converges on one login.
        let same = accesses[0].clone();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pg, a) = (Arc::clone(&pg), same.clone());
                tokio::spawn(async move { pg.grant(&a).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        for a in &accesses {
            assert!(is_member(&db, &a.account_name(), &fx.read_role()).await);
        }
        let tasks: Vec<_> = accesses
            .iter()
            .cloned()
            .map(|a| {
                let pg = Arc::clone(&pg);
                tokio::spawn(async move { pg.revoke(&a, None).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        for a in &accesses {
            assert!(!role_exists(&db, &a.account_name()).await);
        }
        assert!(format!("{pg:?}").contains("max: 4"));
    })
    .await;
}

/// The values a TOML table holds here: strings and integers.
enum TomlValue {
    Str(String),
    Int(i64),
}

impl<'de> IntoDeserializer<'de, de::value::Error> for TomlValue {
    type Deserializer = TomlValueDeserializer;
    fn into_deserializer(self) -> Self::Deserializer {
        TomlValueDeserializer(self)
    }
}

struct TomlValueDeserializer(TomlValue);

impl<'de> de::Deserializer<'de> for TomlValueDeserializer {
    type Error = de::value::Error;
    fn deserialize_any<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            TomlValue::Str(s) => v.visit_string(s),
            TomlValue::Int(i) => v.visit_i64(i),
        }
    }
    fn deserialize_option<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_some(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// Reads a flat TOML table of `key = "string"` and `key = integer` lines. The crate has
/// no TOML parser among its dependencies; this one feeds serde the same data model
/// (a map of strings and 64-bit integers) that the server's TOML loader does.
fn from_toml<T: de::DeserializeOwned>(text: &str) -> Result<T, de::value::Error> {
    let entries: Vec<(String, TomlValue)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let v = v.trim();
            let value = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(s) => TomlValue::Str(s.to_owned()),
                None => TomlValue::Int(v.parse().unwrap()),
            };
            (k.trim().to_owned(), value)
        })
        .collect();
    T::deserialize(MapDeserializer::new(entries.into_iter()))
}

#[test]
fn configuration_reads_from_a_tagged_table_and_hides_the_password() {
    let parsed: ConnectionConfig = from_toml(
        r#"
        kind = "postgres"
        host = "db.internal"
        port = 6432
        user = "warden_admin"
        password = "hunter2-very-secret"
        max_connections = 16
        "#,
    )
    .unwrap();
    assert_eq!(parsed.kind(), "postgres");
    let ConnectionConfig::Postgres(cfg) = &parsed else {
        panic!("not postgres: {parsed:?}");
    };
    assert_eq!(cfg.host, "db.internal");
    assert_eq!(cfg.port, 6432);
    assert_eq!(cfg.user, "warden_admin");
    assert_eq!(cfg.database, "postgres");
    assert_eq!(cfg.max_connections, 16);
    assert_eq!(cfg.connect_timeout_secs, 5);
    assert_eq!(cfg.public_host, None);
    assert_eq!(
        cfg.password.as_ref().unwrap().expose_secret(),
        "hunter2-very-secret"
    );
    assert!(!format!("{parsed:?}").contains("hunter2"));
    let pg = Postgres::new("main", cfg.clone()).unwrap();
    assert!(!format!("{pg:?}").contains("hunter2"));

    let minimal: ConnectionConfig = from_toml("kind = \"postgres\"\nuser = \"postgres\"").unwrap();
    let ConnectionConfig::Postgres(cfg) = minimal else {
        panic!("not postgres");
    };
    assert_eq!((cfg.host.as_str(), cfg.port), ("127.0.0.1", 5432));
    assert_eq!(cfg.max_connections, 4);

    let unknown =
        from_toml::<ConnectionConfig>("kind = \"postgres\"\nuser = \"u\"\nsslmode = \"x\"");
    assert!(unknown.is_err(), "unknown fields are refused");
    let no_user = from_toml::<ConnectionConfig>("kind = \"postgres\"");
    assert!(no_user.is_err(), "user is required");

    let mut bad = config(5432);
    bad.max_connections = 0;
    assert!(matches!(
        Postgres::new("main", bad),
        Err(ConnectorError::Refused(_))
    ));
}

/// A connector logging in as `user` with `password`.
fn connector_as(user: &str, password: &str) -> Postgres {
    let config = Config {
        user: user.to_owned(),
        password: Some(secret(password)),
        ..config(5432)
    };
    Postgres::new("main", config).unwrap()
}

/// Makes the login role `name` with `password`, a member of `warden_scram` so that the
/// server checks its password (SCRAM-SHA-256) instead of trusting it; `extra` adds
/// attributes such as `CREATEROLE`.
async fn scram_role(db: &Client, name: &str, password: &str, extra: &str) {
    db.batch_execute(&format!(
        "CREATE ROLE {name} LOGIN {extra} PASSWORD '{password}' IN ROLE warden_scram"
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn set_password_rotates_a_login_and_check_login_tells_old_from_new() {
    with_fixture(|fx| async move {
        let pg = connector();
        let db = admin().await;
        let app = fx.role("app");
        let (old, new, wrong) = (
            format!("old-{}-pw", fx.sfx),
            format!("new-{}-pw", fx.sfx),
            format!("wrong-{}-pw", fx.sfx),
        );
        scram_role(&db, &app, &old, "").await;

        assert!(pg.check_login(&app, &secret(&old)).await.unwrap());
        assert!(!pg.check_login(&app, &secret(&wrong)).await.unwrap());
        let open = login(&app, &secret(&old)).await.unwrap();

        pg.set_password(&app, &secret(&new)).await.unwrap();
        assert!(stored_verifier(&db, &app).await.starts_with("SCRAM-SHA-256$4096:"));
        assert!(verifier_matches(&db, &app, &secret(&new)).await);
        assert!(pg.check_login(&app, &secret(&new)).await.unwrap());
        assert!(!pg.check_login(&app, &secret(&old)).await.unwrap());
        // Sessions already open are left alone.
        open.batch_execute("SELECT 1").await.unwrap();

        // A role that does not exist is refused, and nothing is made.
        let missing = format!("wt_{}_nosuch", fx.sfx);
        let e = pg.set_password(&missing, &secret(&new)).await.unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Refused(m) if m.contains(&missing) && m.contains("main") && m.contains("does not exist")),
            "{e:?}"
        );
        assert!(!role_exists(&db, &missing).await);
        assert!(!pg.check_login(&missing, &secret(&new)).await.unwrap());
        // So is one that cannot log in.
        let group = fx.read_role();
        let nologin = pg.set_password(&group, &secret(&new)).await.unwrap_err();
        assert!(
            matches!(&nologin, ConnectorError::Refused(m) if m.contains("cannot log in")),
            "{nologin:?}"
        );
        // A name PostgreSQL would cut to 63 bytes is refused before anything is sent;
        // an unreachable server is unavailable.
        let offline = unreachable();
        let long = format!("{app}{}", "x".repeat(63));
        let mut errors = vec![e.clone(), nologin.clone()];
        for pg in [&pg, &offline] {
            let e = pg.set_password(&long, &secret(&new)).await.unwrap_err();
            assert!(matches!(e, ConnectorError::Refused(_)), "{e:?}");
            let e = pg.check_login(&long, &secret(&new)).await.unwrap_err();
            assert!(matches!(e, ConnectorError::Refused(_)), "{e:?}");
            errors.push(e);
        }
        for e in [
            offline.set_password(&app, &secret(&new)).await.unwrap_err(),
            offline.check_login(&app, &secret(&new)).await.unwrap_err(),
        ] {
            assert!(matches!(e, ConnectorError::Unavailable(_)), "{e:?}");
            errors.push(e);
        }
        hides(&errors.iter().collect::<Vec<_>>(), &[&old, &new, &wrong]);
    })
    .await;
}

#[tokio::test]
async fn a_change_the_server_refuses_is_refused_and_the_old_password_stays() {
    with_fixture(|fx| async move {
        let db = admin().await;
        let boss = fx.role("boss");
        let su = fx.role("su");
        let (boss_pw, old, new) = (
            format!("boss-{}-pw", fx.sfx),
            format!("old-{}-pw", fx.sfx),
            format!("new-{}-pw", fx.sfx),
        );
        scram_role(&db, &boss, &boss_pw, "CREATEROLE").await;
        scram_role(&db, &su, &old, "SUPERUSER").await;

        // A CREATEROLE admin that is not a superuser may not alter a superuser.
        let pg = connector_as(&boss, &boss_pw);
        let e = pg.set_password(&su, &secret(&new)).await.unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Refused(m) if m.contains(&su) && m.contains("42501")),
            "{e:?}"
        );
        hides(&[&e], &[&old, &new, &boss_pw]);
        assert!(pg.check_login(&su, &secret(&old)).await.unwrap());
        assert!(!pg.check_login(&su, &secret(&new)).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn an_admin_rotates_its_own_password() {
    with_fixture(|fx| async move {
        let db = admin().await;
        let boss = fx.role("self");
        let (old, new) = (format!("old-{}-pw", fx.sfx), format!("new-{}-pw", fx.sfx));
        scram_role(&db, &boss, &old, "CREATEROLE").await;
        let pg = connector_as(&boss, &old);

        pg.set_password(&boss, &secret(&new)).await.unwrap();
        assert!(pg.check_login(&boss, &secret(&new)).await.unwrap());
        assert!(!pg.check_login(&boss, &secret(&old)).await.unwrap());
        // The admin's open (pooled) session goes on working.
        pg.discover().await.unwrap();
        assert!(verifier_matches(&db, &boss, &secret(&new)).await);
    })
    .await;
}

#[tokio::test]
async fn the_admin_password_comes_from_the_vault() {
    with_fixture(|fx| async move {
        let db = admin().await;
        let boss = fx.role("vaulted");
        let (right, wrong, next) = (
            format!("right-{}-pw", fx.sfx),
            format!("wrong-{}-pw", fx.sfx),
            format!("next-{}-pw", fx.sfx),
        );
        scram_role(&db, &boss, &right, "CREATEROLE").await;
        let app = fx.role("app");
        let (app_old, app_new) = (format!("appold-{}-pw", fx.sfx), format!("appnew-{}-pw", fx.sfx));
        scram_role(&db, &app, &app_old, "").await;
        let vaulted = Config {
            user: boss.clone(),
            password_vault: Some("x".into()),
            ..config(5432)
        };
        let vault = Arc::new(Vault::default());
        vault.put("x", &right);

        let pg = Postgres::new("main", vaulted.clone())
            .unwrap()
            .with_passwords(vault.clone());
        pg.discover().await.unwrap();
        assert!(!format!("{pg:?}").contains(&right));

        // The wrong password in the vault: the server refuses the admin's login.
        let bad = Arc::new(Vault::default());
        bad.put("x", &wrong);
        let pg_bad = Postgres::new("main", vaulted.clone())
            .unwrap()
            .with_passwords(bad);
        let e1 = pg_bad.discover().await.unwrap_err();
        assert!(matches!(&e1, ConnectorError::Refused(m) if m.contains("28P01")), "{e1:?}");
        let e2 = pg_bad.set_password(&app, &secret(&app_new)).await.unwrap_err();
        assert!(matches!(&e2, ConnectorError::Refused(m) if m.contains("28P01")), "{e2:?}");
        assert!(verifier_matches(&db, &app, &secret(&app_old)).await);
        // The right one works.
        pg.set_password(&app, &secret(&app_new)).await.unwrap();
        assert!(pg.check_login(&app, &secret(&app_new)).await.unwrap());
        // No vault, or no such vaulted account.
        let e3 = Postgres::new("main", vaulted.clone())
            .unwrap()
            .discover()
            .await
            .unwrap_err();
        assert_eq!(
            e3,
            ConnectorError::Unavailable(
                "postgres connection main takes its admin password from the vault account x, but the vault is not available".into()
            )
        );
        let elsewhere = Config {
            password_vault: Some("y".into()),
            ..vaulted.clone()
        };
        let e4 = Postgres::new("main", elsewhere)
            .unwrap()
            .with_passwords(vault.clone())
            .discover()
            .await
            .unwrap_err();
        assert!(matches!(&e4, ConnectorError::Refused(m) if m.contains("vault account y")), "{e4:?}");

        // The vaulted admin rotates its own password; once the vault holds the new one,
        // new admin connections log in with it.
        pg.set_password(&boss, &secret(&next)).await.unwrap();
        vault.put("x", &next);
        let fresh = Postgres::new("main", vaulted.clone())
            .unwrap()
            .with_passwords(vault.clone());
        fresh.discover().await.unwrap();
        assert!(!fresh.check_login(&boss, &secret(&right)).await.unwrap());
        hides(&[&e1, &e2, &e3, &e4], &[&right, &wrong, &next, &app_old, &app_new]);
    })
    .await;
}

#[test]
fn a_vaulted_admin_password_is_configured_by_account_name() {
    let parsed: ConnectionConfig = from_toml(
        r#"
        kind = "postgres"
        user = "warden_admin"
        password_vault = "pg-main-admin"
        "#,
    )
    .unwrap();
    assert_eq!(parsed.password_vault(), Some("pg-main-admin"));
    let ConnectionConfig::Postgres(cfg) = parsed else {
        panic!("not postgres");
    };
    Postgres::new("main", cfg.clone()).unwrap();

    let plain: ConnectionConfig = from_toml("kind = \"postgres\"\nuser = \"u\"").unwrap();
    assert_eq!(plain.password_vault(), None);

    let both = Config {
        password_env: Some("PGPASS".into()),
        ..cfg.clone()
    };
    let e = Postgres::new("main", both).unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Refused(m) if m.contains("password_env and password_vault")),
        "{e:?}"
    );
    let three = Config {
        password: Some(secret("hunter2-inline")),
        password_file: Some("/nonexistent".into()),
        ..cfg
    };
    let e = Postgres::new("main", three).unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Refused(m) if m.contains("password and password_file and password_vault")),
        "{e:?}"
    );
    assert!(!format!("{e:?}").contains("hunter2"));
}

/// An admin as docs/connectors.md describes the least it needs on PostgreSQL 15: a login
/// with `CREATEROLE`, not a superuser, a member of `pg_signal_backend`; and a connector
/// logging in as it.
async fn least_privilege_admin(fx: &Fixture, db: &Client) -> (String, Postgres) {
    let admin = fx.role("admin");
    db.batch_execute(&format!(
        "CREATE ROLE {admin} LOGIN CREATEROLE; GRANT pg_signal_backend TO {admin};"
    ))
    .await
    .unwrap();
    let mut cfg = config(5432);
    cfg.user = admin.clone();
    (admin, Postgres::new("least", cfg).unwrap())
}

/// The tables and functions named `made…` in `schema`, with their owners.
async fn made_in(db: &Client, schema: &str) -> Vec<(String, String)> {
    db.query(
        "SELECT c.relname::text, pg_get_userbyid(c.relowner)::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname LIKE 'made%'
         UNION ALL
         SELECT p.proname::text, pg_get_userbyid(p.proowner)::text FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = $1 AND p.proname LIKE 'made%'
         ORDER BY 1",
        &[&schema],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

async fn can_login(db: &Client, role: &str) -> bool {
    db.query_one(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
        &[&role],
    )
    .await
    .unwrap()
    .get(0)
}

/// Regression: an admin with `CREATEROLE` that is not a superuser stopped new logins and
/// cut sessions, then failed on `REASSIGN OWNED` ("permission denied to reassign
/// objects"), so the role was never dropped and the revocation retried forever. Now every
/// call runs as such an admin, and a revocation hands what the login made, in every
/// database, to the admin before dropping it.
#[tokio::test]
async fn a_least_privilege_admin_runs_every_call_and_finishes_revocations() {
    with_fixture(|fx| async move {
        let db = admin().await;
        let (me, pg) = least_privilege_admin(&fx, &db).await;
        let (schema, read) = (fx.schema(), fx.read_role());
        // The permission role may create objects here and in a schema of another
        // database; the admin has CREATE on both, to receive what logins make there.
        db.batch_execute(&format!(
            "GRANT CREATE ON SCHEMA {schema} TO {read}; GRANT CREATE ON SCHEMA {schema} TO {me};"
        ))
        .await
        .unwrap();
        let other = fx.database(&db, "other").await;
        let other_db = connect(&format!("host=127.0.0.1 user=postgres dbname={other}"))
            .await
            .unwrap();
        other_db
            .batch_execute(&format!(
                "CREATE SCHEMA s; GRANT USAGE, CREATE ON SCHEMA s TO {read};
                 GRANT CREATE ON SCHEMA s TO {me};"
            ))
            .await
            .unwrap();

        // Grant, credential, verify, login.
        let until = now() + time::Duration::hours(1);
        let access = fx.spec(fx.target(Login::Dynamic), until);
        let handle = pg.grant(&access).await.unwrap();
        assert!(is_member(&db, &handle, &read).await);
        assert_eq!(
            pg.verify(&access, Some(&handle)).await.unwrap(),
            Presence::Present { until: Some(until) }
        );
        let cred = pg.credential(&access, Some(&handle)).await.unwrap();
        assert!(verifier_matches(&db, &handle, &cred.secret).await);
        let session = login(&handle, &cred.secret).await.unwrap();
        session
            .batch_execute(&format!(
                "SELECT * FROM {schema}.t; CREATE TABLE {schema}.made (x int);
                 CREATE FUNCTION {schema}.made_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
                 GRANT SELECT ON {schema}.made TO {read};"
            ))
            .await
            .unwrap();
        let elsewhere = login_to(&other, &handle, &cred.secret).await.unwrap();
        elsewhere
            .batch_execute(
                "CREATE TABLE s.made (x int);
                 CREATE FUNCTION s.made_fn() RETURNS int LANGUAGE sql AS 'SELECT 2';",
            )
            .await
            .unwrap();

        pg.revoke(&access, Some(&handle)).await.unwrap();

        assert!(session.batch_execute("SELECT 1").await.is_err());
        assert!(elsewhere.batch_execute("SELECT 1").await.is_err());
        assert!(login(&handle, &cred.secret).await.is_err());
        assert!(!role_exists(&db, &handle).await);
        assert_eq!(
            pg.verify(&access, Some(&handle)).await.unwrap(),
            Presence::Absent
        );
        // What the login made is kept, now the admin's, in both databases; its grant to
        // the permission role too.
        let mine = |names: &[&str]| -> Vec<(String, String)> {
            names
                .iter()
                .map(|n| ((*n).to_owned(), me.clone()))
                .collect()
        };
        assert_eq!(made_in(&db, &schema).await, mine(&["made", "made_fn"]));
        assert_eq!(made_in(&other_db, "s").await, mine(&["made", "made_fn"]));
        let readable: bool = db
            .query_one(
                &format!("SELECT has_table_privilege('{read}', '{schema}.made', 'SELECT')"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(readable);
        pg.revoke(&access, Some(&handle)).await.unwrap();

        // The person's own login.
        let alice = fx.role("alice");
        db.batch_execute(&format!("CREATE ROLE {alice} LOGIN"))
            .await
            .unwrap();
        let mut own = fx.spec(fx.target(Login::Own), until);
        own.username = alice.clone();
        assert_eq!(pg.grant(&own).await.unwrap(), alice);
        assert!(is_member(&db, &alice, &read).await);
        let alice_session = connect(&format!("host=127.0.0.1 user={alice} dbname=test"))
            .await
            .unwrap();
        pg.revoke(&own, Some(&alice)).await.unwrap();
        assert!(!is_member(&db, &alice, &read).await);
        assert!(alice_session.batch_execute("SELECT 1").await.is_err());

        // The vault: a password set on an existing login, and checked.
        let password = secret("a-vaulted-password-0123456789");
        pg.set_password(&alice, &password).await.unwrap();
        assert!(verifier_matches(&db, &alice, &password).await);
        assert!(pg.check_login(&alice, &password).await.unwrap());

        // Discovery and drift removal.
        let drift = fx.role("drift");
        db.batch_execute(&format!(
            "CREATE ROLE {drift} LOGIN CREATEDB; GRANT pg_read_all_data TO {drift};"
        ))
        .await
        .unwrap();
        let found: HashMap<String, Account> = pg
            .discover()
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        assert_eq!(found[&me].origin, Origin::Connector);
        assert_eq!(
            found[&me].privileges,
            ["createrole", "member of pg_signal_backend"]
        );
        assert_eq!(
            found[&drift].privileges,
            ["createdb", "member of pg_read_all_data"]
        );
        let drift_session = connect(&format!("host=127.0.0.1 user={drift} dbname=test"))
            .await
            .unwrap();
        pg.remove(&found[&drift]).await.unwrap();
        assert!(!is_member(&db, &drift, "pg_read_all_data").await);
        assert!(drift_session.batch_execute("SELECT 1").await.is_err());
        let again = pg.discover().await.unwrap();
        let d = again.iter().find(|a| a.name == drift).unwrap();
        assert!(d.privileges.is_empty(), "{:?}", d.privileges);
    })
    .await;
}

/// A revocation the admin lacks a privilege for says which, and leaves the login unable
/// to log in, without memberships and without sessions; once the privilege is given, the
/// next attempt finishes.
#[tokio::test]
async fn a_revocation_refused_for_a_missing_privilege_says_which_and_leaves_no_access() {
    with_fixture(|fx| async move {
        let db = admin().await;
        let (me, pg) = least_privilege_admin(&fx, &db).await;
        let (schema, read) = (fx.schema(), fx.read_role());
        // The login may create functions in the schema; the admin has no CREATE there.
        db.batch_execute(&format!("GRANT CREATE ON SCHEMA {schema} TO {read};"))
            .await
            .unwrap();
        let access = fx.spec(fx.target(Login::Dynamic), now() + time::Duration::hours(1));
        let handle = pg.grant(&access).await.unwrap();
        let cred = pg.credential(&access, Some(&handle)).await.unwrap();
        let session = login(&handle, &cred.secret).await.unwrap();
        session
            .batch_execute(&format!(
                "CREATE FUNCTION {schema}.made_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';"
            ))
            .await
            .unwrap();

        let msg = refused(pg.revoke(&access, Some(&handle)).await);
        for part in [
            format!("REASSIGN OWNED BY {handle} in database test"),
            format!("permission denied for schema {schema}"),
            "the admin role needs CREATE on the schema of each function".to_owned(),
            "SQLSTATE 42501".to_owned(),
        ] {
            assert!(msg.contains(&part), "{part:?} not in {msg}");
        }
        // Nothing of the access is left but the role itself.
        assert!(role_exists(&db, &handle).await);
        assert!(!can_login(&db, &handle).await);
        assert!(!is_member(&db, &handle, &read).await);
        assert!(session.batch_execute("SELECT 1").await.is_err());
        assert_eq!(
            pg.verify(&access, Some(&handle)).await.unwrap(),
            Presence::Absent
        );

        // A privilege another role granted to the login directly: the admin cannot
        // revoke it, and the error names it.
        db.batch_execute(&format!(
            "GRANT CREATE ON SCHEMA {schema} TO {me}; GRANT SELECT ON {schema}.t TO {handle};"
        ))
        .await
        .unwrap();
        let msg = refused(pg.revoke(&access, Some(&handle)).await);
        for part in [
            format!("DROP ROLE {handle}"),
            format!("privileges for table {schema}.t"),
            "revoke them as their grantor or a superuser".to_owned(),
        ] {
            assert!(msg.contains(&part), "{part:?} not in {msg}");
        }

        db.batch_execute(&format!("REVOKE SELECT ON {schema}.t FROM {handle};"))
            .await
            .unwrap();
        pg.revoke(&access, Some(&handle)).await.unwrap();
        assert!(!role_exists(&db, &handle).await);
        assert_eq!(made_in(&db, &schema).await, [("made_fn".to_owned(), me)]);
    })
    .await;
}
