//! Integration tests of the Redis connector against the real server on 127.0.0.1:6379
//! (user `default`, no password). Every ACL user and key a test makes has a unique name
//! and is deleted at the end, even when the test fails; the `default` user is never
//! changed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{Client, ConnectionAddr, ConnectionInfo, RedisConnectionInfo, RedisResult, Value};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::macros::datetime;
use uuid::Uuid;
use warden_connectors::ConnectionConfig;
use warden_connectors::redis::{Config, Redis};
use warden_core::connector::{
    AccessSpec, Account, Connector, ConnectorError, Origin, Presence, RoleTarget,
};

mod common;
use common::{Vault, hides, secret};

const HOST: &str = "127.0.0.1";
const PORT: u16 = 6379;

fn suffix() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// An access for a fresh identity, so its account name is unique.
fn spec(acl: &[&str]) -> AccessSpec {
    AccessSpec {
        grant: Uuid::new_v4(),
        identity: Uuid::new_v4(),
        employee_id: format!("t{}", suffix()),
        resource: "cache".into(),
        kind: "redis".into(),
        connection: "main".into(),
        role: "reader".into(),
        target: RoleTarget::Redis {
            acl: acl.iter().map(|s| (*s).to_owned()).collect(),
        },
        username: "alice".into(),
        // Redis keeps no end; Warden revokes. Any date will do.
        until: datetime!(2100-01-01 0:00 UTC),
    }
}

fn connector() -> Redis {
    Redis::new("main", Config::default()).unwrap()
}

fn info(user: Option<&str>, password: Option<&str>) -> ConnectionInfo {
    ConnectionInfo {
        addr: ConnectionAddr::Tcp(HOST.to_owned(), PORT),
        redis: RedisConnectionInfo {
            username: user.map(str::to_owned),
            password: password.map(str::to_owned),
            ..RedisConnectionInfo::default()
        },
    }
}

/// A connection as `default` (no password), for setting up and checking.
async fn admin() -> MultiplexedConnection {
    Client::open(info(None, None))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A new connection that authenticates (`AUTH user password`).
async fn login(user: &str, password: &str) -> RedisResult<MultiplexedConnection> {
    Client::open(info(Some(user), Some(password)))?
        .get_multiplexed_async_connection()
        .await
}

async fn get(c: &mut MultiplexedConnection, key: &str) -> RedisResult<Option<String>> {
    redis::cmd("GET").arg(key).query_async(c).await
}

async fn set(c: &mut MultiplexedConnection, key: &str, v: &str) -> RedisResult<()> {
    redis::cmd("SET").arg(key).arg(v).query_async(c).await
}

async fn acl_user(c: &mut MultiplexedConnection, name: &str) -> Value {
    redis::cmd("ACL")
        .arg("GETUSER")
        .arg(name)
        .query_async(c)
        .await
        .unwrap()
}

async fn acl_list(c: &mut MultiplexedConnection) -> Vec<String> {
    redis::cmd("ACL").arg("LIST").query_async(c).await.unwrap()
}

fn noperm(r: RedisResult<impl std::fmt::Debug>) {
    let e = r.expect_err("should be refused");
    assert_eq!(e.code(), Some("NOPERM"), "{e}");
}

/// Deletes the ACL users and keys it holds when dropped, so a failing test cleans up too.
#[derive(Default)]
struct Cleanup {
    users: Vec<String>,
    keys: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = Client::open(info(None, None)) else {
            return;
        };
        let Ok(mut c) = client.get_connection() else {
            return;
        };
        for u in &self.users {
            assert_ne!(u, "default");
            let _: RedisResult<Value> = redis::cmd("ACL").arg("DELUSER").arg(u).query(&mut c);
        }
        for k in &self.keys {
            let _: RedisResult<Value> = redis::cmd("DEL").arg(k).query(&mut c);
        }
    }
}

#[tokio::test]
async fn a_grant_reads_its_prefix_and_nothing_else() {
    let s = suffix();
    let prefix = format!("wt{s}");
    let (inside, outside) = (format!("{prefix}:k"), format!("other{s}:k"));
    let mut clean = Cleanup {
        users: Vec::new(),
        keys: vec![inside.clone(), outside.clone()],
    };
    let mut a = admin().await;
    set(&mut a, &inside, "in").await.unwrap();
    set(&mut a, &outside, "out").await.unwrap();

    let r = connector();
    let access = spec(&["+@read", &format!("~{prefix}:*")]);
    let handle = r.grant(&access).await.unwrap();
    clean.users.push(handle.clone());
    assert_eq!(handle, access.account_name());
    assert_eq!(
        r.verify(&access, Some(&handle)).await.unwrap(),
        Presence::Present { until: None }
    );

    let cred = r.credential(&access, Some(&handle)).await.unwrap();
    assert_eq!(cred.username, handle);
    assert_eq!(cred.hints.get("host").map(String::as_str), Some(HOST));
    assert_eq!(cred.hints.get("port").map(String::as_str), Some("6379"));
    let mut c = login(&cred.username, cred.secret.expose_secret())
        .await
        .unwrap();
    assert_eq!(get(&mut c, &inside).await.unwrap().as_deref(), Some("in"));
    noperm(get(&mut c, &outside).await);
    noperm(set(&mut c, &inside, "changed").await);
    noperm(
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory")
            .query_async::<Value>(&mut c)
            .await,
    );

    r.revoke(&access, Some(&handle)).await.unwrap();
}

#[tokio::test]
async fn revoke_kills_clients_and_refuses_new_logins() {
    let mut clean = Cleanup::default();
    let r = connector();
    let access = spec(&["+@read", "~nothing:*"]);
    let handle = r.grant(&access).await.unwrap();
    clean.users.push(handle.clone());
    let cred = r.credential(&access, None).await.unwrap();
    let mut held = login(&handle, cred.secret.expose_secret()).await.unwrap();
    assert_eq!(get(&mut held, "nothing:x").await.unwrap(), None);

    r.revoke(&access, Some(&handle)).await.unwrap();

    let e = get(&mut held, "nothing:x")
        .await
        .expect_err("the held connection must be cut");
    assert!(e.is_io_error() || e.is_unrecoverable_error(), "{e}");
    assert!(
        login(&handle, cred.secret.expose_secret()).await.is_err(),
        "a revoked user cannot log in"
    );
    assert_eq!(
        r.verify(&access, Some(&handle)).await.unwrap(),
        Presence::Absent
    );
    assert_eq!(acl_user(&mut admin().await, &handle).await, Value::Nil);
    // Revoking what is gone succeeds; so does the fallback to the account name.
    r.revoke(&access, Some(&handle)).await.unwrap();
    r.revoke(&access, None).await.unwrap();
}

#[tokio::test]
async fn regrant_keeps_the_password_and_a_new_credential_replaces_it() {
    let s = suffix();
    let prefix = format!("wt{s}");
    let key = format!("{prefix}:k");
    let mut clean = Cleanup {
        users: Vec::new(),
        keys: vec![key.clone()],
    };
    let r = connector();
    let mut access = spec(&["+@read", &format!("~{prefix}:*")]);
    let handle = r.grant(&access).await.unwrap();
    clean.users.push(handle.clone());
    let first = r.credential(&access, Some(&handle)).await.unwrap();
    let p1 = first.secret.expose_secret().to_owned();
    login(&handle, &p1).await.unwrap();

    // Granting again (a second grant of the same access, with the role now allowing
    // writes) keeps the holder's password and applies the new rules.
    access.target = RoleTarget::Redis {
        acl: vec!["+@read".into(), "+set".into(), format!("~{prefix}:*")],
    };
    assert_eq!(r.grant(&access).await.unwrap(), handle);
    let mut c = login(&handle, &p1).await.unwrap();
    set(&mut c, &key, "v").await.unwrap();
    assert_eq!(get(&mut c, &key).await.unwrap().as_deref(), Some("v"));
    noperm(get(&mut c, "elsewhere").await);

    let second = r.credential(&access, Some(&handle)).await.unwrap();
    let p2 = second.secret.expose_secret().to_owned();
    assert_ne!(p1, p2);
    assert!(
        login(&handle, &p1).await.is_err(),
        "the first password is gone"
    );
    let mut c2 = login(&handle, &p2).await.unwrap();
    assert_eq!(get(&mut c2, &key).await.unwrap().as_deref(), Some("v"));
    let third = r.credential(&access, None).await.unwrap();
    assert!(login(&handle, &p2).await.is_err());
    login(&handle, third.secret.expose_secret()).await.unwrap();

    r.revoke(&access, Some(&handle)).await.unwrap();
    // A credential for an access that is not granted is refused, and makes no user.
    assert!(matches!(
        r.credential(&access, Some(&handle)).await,
        Err(ConnectorError::Refused(_))
    ));
    assert_eq!(acl_user(&mut admin().await, &handle).await, Value::Nil);
}

#[tokio::test]
async fn hostile_rules_and_names_are_refused_before_anything_is_sent() {
    let mut a = admin().await;
    let default_before = acl_user(&mut a, "default").await;
    let r = connector();
    let bad_rules = [
        "+get >hacked",
        "on",
        "nopass",
        "~a\nb",
        ">hacked",
        "resetpass",
        "reset",
        "(+@all ~*)",
        "+get\r\nACL SETUSER evil on nopass +@all",
    ];
    let mut clean = Cleanup::default();
    for bad in bad_rules {
        let access = spec(&["+@read", bad]);
        clean.users.push(access.account_name());
        let res = r.grant(&access).await;
        assert!(
            matches!(res, Err(ConnectorError::Refused(_))),
            "{bad:?}: {res:?}"
        );
        assert_eq!(
            acl_user(&mut a, &access.account_name()).await,
            Value::Nil,
            "{bad:?}"
        );
    }
    let mut unmapped = spec(&[]);
    unmapped.target = RoleTarget::Unmapped;
    clean.users.push(unmapped.account_name());
    let res = r.grant(&unmapped).await;
    assert!(
        matches!(&res, Err(ConnectorError::Refused(m)) if m.contains("no redis mapping")),
        "{res:?}"
    );

    let access = spec(&["+@read"]);
    let bad_handles = [
        "w_a b",
        "w_a\nb",
        "w_x\r\nACL SETUSER evil on nopass +@all",
        "recorded:w_x",
        "w_a'b",
        "default",
        "evil",
    ];
    for h in bad_handles {
        let refused = |res: Result<(), ConnectorError>| {
            assert!(
                matches!(res, Err(ConnectorError::Refused(_))),
                "{h:?}: {res:?}"
            );
        };
        refused(r.revoke(&access, Some(h)).await);
        refused(r.verify(&access, Some(h)).await.map(|_| ()));
        refused(r.credential(&access, Some(h)).await.map(|_| ()));
    }
    for (name, origin) in [
        ("evil x", Origin::Other),
        ("w_a\nb", Origin::Warden),
        ("default", Origin::Other),
        ("default", Origin::Connector),
        ("someone", Origin::Connector),
        ("looks_like_mine", Origin::Warden),
    ] {
        let account = Account {
            name: name.to_owned(),
            origin,
            privileges: vec!["+@all".to_owned()],
            until: None,
        };
        let res = r.remove(&account).await;
        assert!(
            matches!(res, Err(ConnectorError::Refused(_))),
            "{name:?}: {res:?}"
        );
    }

    let list = acl_list(&mut a).await;
    assert!(
        list.iter()
            .all(|l| !l.contains("hacked") && !l.starts_with("user evil")),
        "{list:?}"
    );
    assert_eq!(acl_user(&mut a, "default").await, default_before);
}

/// The user `discover` reports by this name.
fn find<'a>(all: &'a [Account], name: &str) -> &'a Account {
    all.iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("{name} not discovered"))
}

#[tokio::test]
async fn discover_finds_drift_and_remove_takes_it_away() {
    let s = suffix();
    let (drift, writer, disabled) = (
        format!("drift{s}"),
        format!("writer{s}"),
        format!("disabled{s}"),
    );
    let leftover_key = format!("wt{s}:k");
    let mut clean = Cleanup {
        users: vec![drift.clone(), writer.clone(), disabled.clone()],
        keys: vec![leftover_key.clone()],
    };
    let mut a = admin().await;
    let setuser = |name: &str, rules: &[&str]| {
        let mut c = redis::cmd("ACL");
        c.arg("SETUSER").arg(name).arg("reset").arg(rules);
        c
    };
    let _: () = setuser(&drift, &["on", ">driftpass", "~*", "&*", "+@all"])
        .query_async(&mut a)
        .await
        .unwrap();
    let _: () = setuser(&writer, &["on", ">writerpass", "~app:*", "+@write"])
        .query_async(&mut a)
        .await
        .unwrap();
    let _: () = setuser(&disabled, &["off", ">x", "~*", "+@all"])
        .query_async(&mut a)
        .await
        .unwrap();

    let r = connector();
    let access = spec(&["+@read", &format!("~wt{s}:*")]);
    let leftover = r.grant(&access).await.unwrap();
    clean.users.push(leftover.clone());

    let all = r.discover().await.unwrap();
    let d = find(&all, &drift);
    assert_eq!(d.origin, Origin::Other);
    assert!(d.privileged());
    assert!(d.privileges.contains(&"+@all".to_owned()), "{d:?}");
    let w = find(&all, &writer);
    assert_eq!(w.origin, Origin::Other);
    assert!(
        w.privileges.contains(&"may run FLUSHALL".to_owned()),
        "+@write allows FLUSHALL: {w:?}"
    );
    assert!(
        !find(&all, &disabled).privileged(),
        "an off user cannot log in"
    );
    let l = find(&all, &leftover);
    assert_eq!(l.origin, Origin::Warden);
    assert!(!l.privileged(), "{l:?}");
    let admin_user = find(&all, "default");
    assert_eq!(admin_user.origin, Origin::Connector);
    assert!(admin_user.privileges.contains(&"+@all".to_owned()));
    assert!(admin_user.privileges.contains(&"no password".to_owned()));
    assert!(all.iter().all(|a| a.until.is_none()));

    // The drifted user loses its commands but keeps its account and password; its
    // connected client is cut.
    let mut held = login(&drift, "driftpass").await.unwrap();
    set(&mut held, &leftover_key, "x").await.unwrap();
    r.remove(d).await.unwrap();
    let e = get(&mut held, &leftover_key)
        .await
        .expect_err("the held connection must be cut");
    assert!(
        e.is_io_error() || e.is_unrecoverable_error(),
        "killed, not refused: {e}"
    );
    let mut again = login(&drift, "driftpass").await.unwrap();
    noperm(get(&mut again, &leftover_key).await);
    noperm(set(&mut again, &leftover_key, "y").await);
    let after = r.discover().await.unwrap();
    assert!(!find(&after, &drift).privileged());
    assert!(
        acl_user(&mut a, &drift).await != Value::Nil,
        "the account stays"
    );
    r.remove(d).await.unwrap();

    r.remove(w).await.unwrap();
    let after = r.discover().await.unwrap();
    assert!(!find(&after, &writer).privileged());

    // Warden's leftover is deleted; removing it again succeeds.
    r.remove(l).await.unwrap();
    assert_eq!(acl_user(&mut a, &leftover).await, Value::Nil);
    r.remove(l).await.unwrap();
    // The admin user is never touched.
    let res = r.remove(admin_user).await;
    assert!(matches!(res, Err(ConnectorError::Refused(_))), "{res:?}");
}

#[tokio::test]
async fn a_broken_admin_connection_is_made_again() {
    let name = format!("reconnect{}", suffix());
    let r = Redis::new(&name, Config::default()).unwrap();
    let access = spec(&["+@read"]);
    assert_eq!(r.verify(&access, None).await.unwrap(), Presence::Absent);

    // Cut the connector's connection (found by the name it gives itself).
    let mut a = admin().await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut a)
        .await
        .unwrap();
    let line = clients
        .lines()
        .find(|l| l.contains(&format!(" name=warden:{name} ")))
        .unwrap_or_else(|| panic!("no client named warden:{name} in {clients}"));
    let id = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("id="))
        .unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut a)
        .await
        .unwrap();
    assert_eq!(killed, 1);

    assert_eq!(r.verify(&access, None).await.unwrap(), Presence::Absent);
    r.discover().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let config = Config {
        port: 1,
        password: Some("hunter2-unreachable".to_owned().into()),
        ..Config::default()
    };
    let r = Redis::new("down", config).unwrap();
    let access = spec(&["+@read"]);
    let results = [
        r.grant(&access).await.map(|_| ()),
        r.verify(&access, None).await.map(|_| ()),
        r.revoke(&access, None).await,
        r.discover().await.map(|_| ()),
    ];
    for res in results {
        match res {
            Err(ConnectorError::Unavailable(m)) => assert!(!m.contains("hunter2"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    // Admin credentials the server rejects are a refusal that does not show the password.
    let wrong = Config {
        user: format!("nosuch{}", suffix()),
        password: Some("hunter2-wrong".to_owned().into()),
        ..Config::default()
    };
    let r = Redis::new("wrong", wrong).unwrap();
    match r.discover().await {
        Err(ConnectorError::Refused(m)) => assert!(!m.contains("hunter2"), "{m}"),
        other => panic!("expected Refused, got {other:?}"),
    }
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
        ("kind", V::S("redis")),
        ("host", V::S("10.0.0.5")),
        ("port", V::I(6380)),
        ("user", V::S("warden")),
        ("password", V::S("hunter2-inline")),
        ("public_host", V::S("cache.example.com")),
        ("connect_timeout_secs", V::I(2)),
        ("response_timeout_secs", V::I(3)),
    ])
    .unwrap();
    assert_eq!(full.kind(), "redis");
    let shown = format!("{full:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let ConnectionConfig::Redis(c) = &full else {
        panic!("not redis: {shown}");
    };
    assert_eq!(
        (c.host.as_str(), c.port, c.user.as_str()),
        ("10.0.0.5", 6380, "warden")
    );
    assert_eq!(c.public_host.as_deref(), Some("cache.example.com"));
    assert_eq!((c.connect_timeout_secs, c.response_timeout_secs), (2, 3));
    assert_eq!(
        c.admin_secret().resolve().unwrap().unwrap().expose_secret(),
        "hunter2-inline"
    );
    let r = Redis::new("main", c.clone()).unwrap();
    assert!(!format!("{r:?}").contains("hunter2"));

    let ConnectionConfig::Redis(d) = table(&[("kind", V::S("redis"))]).unwrap() else {
        panic!("not redis");
    };
    assert_eq!(
        (d.host.as_str(), d.port, d.user.as_str()),
        ("127.0.0.1", 6379, "default")
    );
    assert_eq!((d.connect_timeout_secs, d.response_timeout_secs), (5, 5));
    assert!(d.admin_secret().resolve().unwrap().is_none());

    assert!(table(&[("kind", V::S("redis")), ("hots", V::S("x"))]).is_err());
    let ConnectionConfig::Redis(bad) =
        table(&[("kind", V::S("redis")), ("user", V::S("a b"))]).unwrap()
    else {
        panic!("not redis");
    };
    assert!(matches!(
        Redis::new("main", bad),
        Err(ConnectorError::Refused(_))
    ));
}

/// `ACL SETUSER name reset rules...`.
async fn setuser(c: &mut MultiplexedConnection, name: &str, rules: &[&str]) {
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(name)
        .arg("reset")
        .arg(rules)
        .query_async(c)
        .await
        .unwrap();
}

/// The `ACL LIST` line of `name`.
async fn acl_line(c: &mut MultiplexedConnection, name: &str) -> String {
    let prefix = format!("user {name} ");
    acl_list(c)
        .await
        .into_iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no ACL user {name}"))
}

fn sha256_hex(password: &str) -> String {
    Sha256::digest(password.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn set_password_rotates_an_acl_user_and_check_login_tells_old_from_new() {
    let s = suffix();
    let (user, off, missing) = (
        format!("wt{s}"),
        format!("wtoff{s}"),
        format!("wtnosuch{s}"),
    );
    let _clean = Cleanup {
        users: vec![user.clone(), off.clone(), missing.clone()],
        keys: Vec::new(),
    };
    let (old, new, wrong) = (
        format!("old-{s}-pw"),
        format!("new-{s}-pw"),
        format!("wrong-{s}-pw"),
    );
    let mut a = admin().await;
    setuser(&mut a, &user, &["on", &format!(">{old}"), "~*", "+@all"]).await;
    let r = connector();

    assert!(r.check_login(&user, &secret(&old)).await.unwrap());
    assert!(!r.check_login(&user, &secret(&wrong)).await.unwrap());
    let mut open = login(&user, &old).await.unwrap();
    let before = acl_line(&mut a, &user).await;

    r.set_password(&user, &secret(&new)).await.unwrap();
    // Only the password changed: the new one's hash in place of the old one's.
    let after = acl_line(&mut a, &user).await;
    assert_eq!(
        after,
        before.replace(&sha256_hex(&old), &sha256_hex(&new)),
        "{before} -> {after}"
    );
    assert!(r.check_login(&user, &secret(&new)).await.unwrap());
    assert!(!r.check_login(&user, &secret(&old)).await.unwrap());
    // Clients already logged in are left alone.
    assert_eq!(get(&mut open, "nothing").await.unwrap(), None);

    // A user that does not exist is refused and not made.
    let e1 = r.set_password(&missing, &secret(&new)).await.unwrap_err();
    assert!(
        matches!(&e1, ConnectorError::Refused(m) if m.contains(&missing)),
        "{e1:?}"
    );
    assert_eq!(acl_user(&mut a, &missing).await, Value::Nil);
    assert!(!r.check_login(&missing, &secret(&new)).await.unwrap());

    // A user that is off cannot log in; its password changes and it stays off.
    setuser(&mut a, &off, &["off", &format!(">{old}"), "+@all"]).await;
    assert!(!r.check_login(&off, &secret(&old)).await.unwrap());
    r.set_password(&off, &secret(&new)).await.unwrap();
    assert!(!r.check_login(&off, &secret(&new)).await.unwrap());
    let line = acl_line(&mut a, &off).await;
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(words.contains(&"off") && !words.contains(&"on"), "{line}");
    let hashes: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| w.starts_with('#'))
        .collect();
    assert_eq!(hashes, [format!("#{}", sha256_hex(&new))], "{line}");

    // Names Redis would split are refused before anything is sent; an unreachable
    // server is unavailable.
    let down = Redis::new(
        "down",
        Config {
            port: 1,
            ..Config::default()
        },
    )
    .unwrap();
    let mut errors = vec![e1];
    for r in [&r, &down] {
        for bad in ["a b", "x\r\nACL SETUSER evil on nopass +@all", ""] {
            let e = r.set_password(bad, &secret(&new)).await.unwrap_err();
            assert!(matches!(e, ConnectorError::Refused(_)), "{bad:?}: {e:?}");
            let e = r.check_login(bad, &secret(&new)).await.unwrap_err();
            assert!(matches!(e, ConnectorError::Refused(_)), "{bad:?}: {e:?}");
            errors.push(e);
        }
    }
    for e in [
        down.set_password(&user, &secret(&new)).await.unwrap_err(),
        down.check_login(&user, &secret(&new)).await.unwrap_err(),
    ] {
        assert!(matches!(e, ConnectorError::Unavailable(_)), "{e:?}");
        errors.push(e);
    }
    assert!(
        acl_list(&mut a)
            .await
            .iter()
            .all(|l| !l.starts_with("user evil"))
    );
    hides(&errors, &[&old, &new, &wrong]);
}

#[tokio::test]
async fn the_admin_password_comes_from_the_vault() {
    let s = suffix();
    let (boss, app) = (format!("wtadm{s}"), format!("wtapp{s}"));
    let _clean = Cleanup {
        users: vec![boss.clone(), app.clone()],
        keys: Vec::new(),
    };
    let (right, wrong, next, app_old, app_new) = (
        format!("right-{s}-pw"),
        format!("wrong-{s}-pw"),
        format!("next-{s}-pw"),
        format!("appold-{s}-pw"),
        format!("appnew-{s}-pw"),
    );
    let mut a = admin().await;
    setuser(
        &mut a,
        &boss,
        &["on", &format!(">{right}"), "~*", "&*", "+@all"],
    )
    .await;
    setuser(
        &mut a,
        &app,
        &["on", &format!(">{app_old}"), "~app:*", "+@read"],
    )
    .await;
    let vaulted = Config {
        user: boss.clone(),
        password_vault: Some("r".to_owned()),
        ..Config::default()
    };
    let vault = Arc::new(Vault::default());
    vault.put("r", &right);
    let r = Redis::new("main", vaulted.clone())
        .unwrap()
        .with_passwords(vault.clone());
    assert!(!format!("{r:?}").contains(&right));
    r.set_password(&app, &secret(&app_new)).await.unwrap();
    assert!(r.check_login(&app, &secret(&app_new)).await.unwrap());

    // The wrong password in the vault: every call fails, and nothing changes.
    let bad = Arc::new(Vault::default());
    bad.put("r", &wrong);
    let r_bad = Redis::new("main", vaulted.clone())
        .unwrap()
        .with_passwords(bad);
    let e1 = r_bad
        .set_password(&app, &secret(&app_old))
        .await
        .unwrap_err();
    assert!(matches!(e1, ConnectorError::Refused(_)), "{e1:?}");
    let e2 = r_bad.verify(&spec(&["+@read"]), None).await.unwrap_err();
    assert!(r.check_login(&app, &secret(&app_new)).await.unwrap());
    // No vault at all.
    let e3 = Redis::new("main", vaulted.clone())
        .unwrap()
        .discover()
        .await
        .unwrap_err();
    assert_eq!(
        e3,
        ConnectorError::Unavailable(
            "redis connection main takes its admin password from the vault account r, but the vault is not available".to_owned()
        )
    );

    // The admin rotates its own password and the vault commits it; when its
    // connection is cut, the next one logs in with the password read anew.
    r.set_password(&boss, &secret(&next)).await.unwrap();
    assert!(r.check_login(&boss, &secret(&next)).await.unwrap());
    assert!(!r.check_login(&boss, &secret(&right)).await.unwrap());
    vault.put("r", &next);
    let _: Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg(&boss)
        .query_async(&mut a)
        .await
        .unwrap();
    r.set_password(&app, &secret(&app_old)).await.unwrap();
    assert!(r.check_login(&app, &secret(&app_old)).await.unwrap());
    hides(&[e1, e2, e3], &[&right, &wrong, &next, &app_old, &app_new]);
}

#[test]
fn a_vaulted_admin_password_is_configured_by_account_name() {
    let parsed = table(&[
        ("kind", V::S("redis")),
        ("password_vault", V::S("cache-admin")),
    ])
    .unwrap();
    assert_eq!(parsed.password_vault(), Some("cache-admin"));
    let ConnectionConfig::Redis(c) = parsed else {
        panic!("not redis");
    };
    Redis::new("main", c.clone()).unwrap();
    let e = c.admin_secret().resolve().unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Refused(m) if m.contains("cache-admin")),
        "{e:?}"
    );
    let clash = Config {
        password: Some(secret("hunter2-inline")),
        ..c
    };
    let e = Redis::new("main", clash).unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Refused(m) if m.contains("password and password_vault")),
        "{e:?}"
    );
    assert!(!format!("{e:?}").contains("hunter2"));
    let ssh = table(&[("kind", V::S("ssh")), ("host", V::S("bastion.internal"))]).unwrap();
    assert_eq!(ssh.password_vault(), None);
}
