//! Grants on real targets, end to end through the HTTP API: a request approved and
//! provisioned by the grant worker exists on the local PostgreSQL, MariaDB and Redis; its
//! holder (and only its holder) gets a password that logs in; revocation and expiry cut
//! the open session and stop new logins. SSH grants sign certificates with the role's
//! principals, bounded by the grant. The reconciler, run on a private Redis started by
//! the test (so it never touches other tests' accounts on the shared servers), removes
//! leftovers, restores lost access and reports or removes drift.
//!
//! The manual clock starts at the real time: the targets keep their own clocks.

use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use warden_app::config::Config;
use warden_app::demo;
use warden_connectors::ConnectionConfig;
use warden_core::Clock;
use warden_proto::grants::{GrantInfo, RevokeGrant};
use warden_proto::requests::RequestInfo;
use warden_proto::targets::{
    FindingInfo, GrantCredential, Inventory, ResourceReconciled, SignSshKey, SshCa, SshCertificate,
};

use crate::directory::sync;
use crate::requests::decide;
use crate::support::{TestApp, eventually, json_of};

/// A unique tag for the objects one test makes on the shared servers.
pub(crate) fn tag() -> String {
    format!("wt{}", &Uuid::new_v4().simple().to_string()[..10])
}

pub(crate) fn connection(text: &str) -> ConnectionConfig {
    toml::from_str(text).unwrap()
}

/// The demo policy, pointed at this test's permission roles, database and key prefix.
pub(crate) fn policy_files(tag: &str) -> Vec<Value> {
    demo::policy_files()
        .into_iter()
        .map(|f| {
            let text = f
                .text
                .replace("\"app_read\"", &format!("\"{tag}_read\""))
                .replace("\"app_write\"", &format!("\"{tag}_write\""))
                .replace("\"app_owner\"", &format!("\"{tag}_owner\""))
                .replace("on = \"app.*\"", &format!("on = \"{tag}.*\""))
                .replace("\"~*\"", &format!("\"~{tag}:*\""));
            json!({"path": f.path, "text": text})
        })
        .collect()
}

pub(crate) struct Env {
    pub(crate) t: TestApp,
    pub(crate) admin: String,
    pub(crate) alice: String,
    pub(crate) bob: String,
    pub(crate) sam: String,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn env(tag: &str, tweak: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ssh_ca");
    let t = TestApp::starting_at(
        warden_store::Backend::Sqlite,
        OffsetDateTime::now_utc(),
        |c| {
            // The configured connections reach the real targets; the demo resources a
            // test leaves without one are only recorded, so the demo policy applies.
            c.grants.record_only = true;
            c.ssh.ca_key_file = Some(ca);
            c.connections.insert(
                "orders-primary".into(),
                connection("kind = \"postgres\"\nuser = \"postgres\"\ndatabase = \"test\""),
            );
            c.connections.insert(
                "analytics".into(),
                connection("kind = \"mariadb\"\nuser = \"root\"\npassword = \"\""),
            );
            c.connections
                .insert("session-cache".into(), connection("kind = \"redis\""));
            c.connections.insert(
                "bastion".into(),
                connection("kind = \"ssh\"\nhost = \"127.0.0.1\"\nport = 2222"),
            );
            tweak(c);
        },
    )
    .await;
    let admin = t.admin().await;
    apply(&t, &admin, tag).await;
    let synced = sync(&t, &admin, demo::HR_CSV, "").await;
    assert_eq!(synced.status, StatusCode::OK, "{synced:?}");
    let alice = t.user_with("alice", &["request"]).await;
    let bob = t.user_with("bob", &["request", "approve"]).await;
    let sam = t.user_with("sam", &["approve"]).await;
    Env {
        t,
        admin,
        alice,
        bob,
        sam,
        _dir: dir,
    }
}

async fn apply(t: &TestApp, admin: &str, tag: &str) {
    let answer = t
        .post(
            "/v1/policy/apply",
            admin,
            json!({"files": policy_files(tag), "comment": "targets test"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

/// Alice asks for `role` on `resource` for an hour; bob (and security, when the route
/// wants two) approve; the worker provisions it. Returns the grant.
pub(crate) async fn granted(e: &Env, resource: &str, role: &str) -> GrantInfo {
    let filed =
        e.t.post(
            "/v1/requests",
            &e.alice,
            json_of(&crate::requests::request(
                resource,
                role,
                "1h",
                Some("CHG-1"),
            )),
        )
        .await;
    assert_eq!(filed.status, StatusCode::CREATED, "{filed:?}");
    let filed: RequestInfo = filed.parse();
    let rid = filed.id.to_string();
    // Low risk is approved automatically; otherwise bob, and security where two must.
    if filed.state == "pending" {
        let first = decide(&e.t, &e.bob, &rid, "approve").await;
        assert_eq!(first.status, StatusCode::OK, "{first:?}");
        if first.parse::<RequestInfo>().state == "pending" {
            let second = decide(&e.t, &e.sam, &rid, "approve").await;
            assert_eq!(second.status, StatusCode::OK, "{second:?}");
        }
    }
    let report = e.t.tick().await;
    assert_eq!(report.failures, 0, "{report:?}");
    let grants: Vec<GrantInfo> = e.t.get("/v1/grants", &e.alice).await.parse();
    let g = grants.into_iter().find(|g| g.request == filed.id).unwrap();
    assert_eq!(g.state, "active", "{g:?}");
    g
}

/// A body asking for a certificate of `public_key` on `resource`.
fn sign(resource: &str, public_key: &str) -> Value {
    json_of(&SignSshKey {
        resource: resource.to_owned(),
        role: None,
        public_key: public_key.to_owned(),
    })
}

async fn credential(e: &Env, gid: &str, token: &str) -> crate::support::Answer {
    e.t.post(&format!("/v1/grants/{gid}/credential"), token, json!({}))
        .await
}

// ----- PostgreSQL -----

pub(crate) async fn pg(
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(5432)
        .user(user)
        .password(password)
        .dbname("test")
        .connect_timeout(StdDuration::from_secs(5))
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(conn);
    Ok(client)
}

/// The permission role and a table it may read, removed on drop.
pub(crate) struct PgFixture {
    tag: String,
}

impl PgFixture {
    pub(crate) async fn new(tag: &str) -> Self {
        let admin = pg("postgres", "").await.unwrap();
        admin
            .batch_execute(&format!(
                "CREATE ROLE {tag}_read NOLOGIN; CREATE SCHEMA {tag}; \
                 CREATE TABLE {tag}.orders (id int); INSERT INTO {tag}.orders VALUES (1), (2); \
                 GRANT USAGE ON SCHEMA {tag} TO {tag}_read; GRANT SELECT ON {tag}.orders TO {tag}_read;"
            ))
            .await
            .unwrap();
        Self {
            tag: tag.to_owned(),
        }
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let tag = self.tag.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = pg("postgres", "").await {
                    let _ = admin
                        .batch_execute(&format!(
                            "DROP SCHEMA IF EXISTS {tag} CASCADE; DROP ROLE IF EXISTS {tag}_read;"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn a_postgres_grant_logs_in_only_while_it_runs_and_only_for_its_holder() {
    let tag = tag();
    let _fixture = PgFixture::new(&tag).await;
    let e = env(&tag, |_| {}).await;
    let g = granted(&e, "orders-db", "read").await;
    let gid = &g.id.to_string();

    // Nobody but the holder gets a credential: not an approver (to whom the grant does not
    // exist), not an administrator (who may see it, and is told why not).
    let refused = credential(&e, gid, &e.bob).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{refused:?}");
    let refused = credential(&e, gid, &e.admin).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert_eq!(refused.problem(), "forbidden");
    let c = credential(&e, gid, &e.alice).await;
    assert_eq!(c.status, StatusCode::OK, "{c:?}");
    let c: GrantCredential = c.parse();
    let user = c.username;
    let password = c.password;
    assert!(user.starts_with("w_e1001_read_"), "{user}");
    assert_eq!(c.hints.get("database").map(String::as_str), Some("test"));

    // The account exists on the server with a SCRAM verifier and the grant's end.
    let admin = pg("postgres", "").await.unwrap();
    let row = admin
        .query_one(
            "SELECT rolpassword, rolvaliduntil IS NOT NULL FROM pg_authid WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap();
    let verifier: String = row.get(0);
    assert!(verifier.starts_with("SCRAM-SHA-256$"), "not a verifier");
    assert!(!verifier.contains(&password));
    assert!(row.get::<_, bool>(1), "VALID UNTIL is set");

    let session = pg(&user, &password).await.unwrap();
    let n: i64 = session
        .query_one(&format!("SELECT count(*) FROM {tag}.orders"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);

    // Early revocation: the worker drops the role and its session is cut.
    let revoked =
        e.t.post(
            &format!("/v1/grants/{gid}/revoke"),
            &e.alice,
            json_of(&RevokeGrant {
                reason: "done".to_owned(),
            }),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    let report = e.t.tick().await;
    assert_eq!(report.revoked, 1, "{report:?}");
    assert!(
        session.simple_query("SELECT 1").await.is_err(),
        "the open session outlived the revocation"
    );
    assert!(
        pg(&user, &password).await.is_err(),
        "a new login still works"
    );
    let gone = admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
        .await
        .unwrap();
    assert!(gone.is_none(), "the role is still on the server");
    let after = credential(&e, gid, &e.alice).await;
    assert_eq!(after.status, StatusCode::CONFLICT, "{after:?}");

    // Audited, and the password is nowhere in Warden's database.
    let actions = e.t.audit_actions().await;
    assert!(
        actions.contains(&"grant.credential".to_owned()),
        "{actions:?}"
    );
    let file = std::fs::read(e.t.db.sqlite_file().unwrap()).unwrap();
    assert!(
        !file
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the password is in the database file"
    );
}

// ----- MariaDB and Redis -----

pub(crate) async fn maria(
    user: &str,
    password: &str,
) -> Result<mysql_async::Conn, mysql_async::Error> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await
}

pub(crate) async fn redis_as(
    port: u16,
    user: &str,
    password: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp("127.0.0.1".into(), port),
        redis: redis::RedisConnectionInfo {
            username: Some(user.to_owned()),
            password: Some(password.to_owned()),
            ..Default::default()
        },
    };
    redis::Client::open(info)?
        .get_multiplexed_async_connection()
        .await
}

#[tokio::test]
async fn mariadb_and_redis_grants_stop_working_when_they_expire() {
    use mysql_async::prelude::Queryable;
    use redis::AsyncCommands;

    let tag = tag();
    let mut root = maria("root", "").await.unwrap();
    root.query_drop(format!(
        "CREATE DATABASE {tag}; CREATE TABLE {tag}.events (id INT); INSERT INTO {tag}.events VALUES (7)"
    ))
    .await
    .unwrap();
    let mut plain = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{tag}:greeting");
    let _: () = plain.set(&key, "hello").await.unwrap();

    let e = env(&tag, |_| {}).await;
    let m = granted(&e, "analytics-db", "read").await;
    let r = granted(&e, "session-cache", "read").await;
    let mc = credential(&e, &m.id.to_string(), &e.alice).await;
    assert_eq!(mc.status, StatusCode::OK, "{mc:?}");
    let rc = credential(&e, &r.id.to_string(), &e.alice).await;
    assert_eq!(rc.status, StatusCode::OK, "{rc:?}");
    let GrantCredential {
        username: muser,
        password: mpass,
        ..
    } = mc.parse();
    let GrantCredential {
        username: ruser,
        password: rpass,
        ..
    } = rc.parse();

    let mut session = maria(&muser, &mpass).await.unwrap();
    let got: Vec<i32> = session
        .query(format!("SELECT id FROM {tag}.events"))
        .await
        .unwrap();
    assert_eq!(got, vec![7]);
    let mut cache = redis_as(6379, &ruser, &rpass).await.unwrap();
    let hello: String = cache.get(&key).await.unwrap();
    assert_eq!(hello, "hello");
    let denied: redis::RedisResult<()> = cache.set(&key, "changed").await;
    assert!(denied.is_err(), "a read grant could write");

    // The hour passes: both are revoked, sessions cut, logins refused.
    e.t.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let report = e.t.tick().await;
    assert_eq!(report.revoked, 2, "{report:?}");
    assert!(
        session.query_drop("SELECT 1").await.is_err(),
        "the MariaDB session outlived the grant"
    );
    assert!(maria(&muser, &mpass).await.is_err());
    let after: redis::RedisResult<String> = cache.get(&key).await;
    assert!(after.is_err(), "the Redis client outlived the grant");
    assert!(redis_as(6379, &ruser, &rpass).await.is_err());

    root.query_drop(format!("DROP DATABASE {tag}"))
        .await
        .unwrap();
    let _: () = plain.del(&key).await.unwrap();
}

// ----- SSH -----

fn keygen(dir: &std::path::Path) -> std::path::PathBuf {
    let key = dir.join("id_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    key
}

#[tokio::test]
async fn ssh_certificates_carry_the_roles_principals_and_end_with_the_grant() {
    let tag = tag();
    let e = env(&tag, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let ask = sign("bastion", public.trim());

    // No grant, no certificate.
    let refused =
        e.t.post("/v1/ssh/certificates", &e.alice, ask.clone())
            .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");

    let g = granted(&e, "bastion", "login").await;
    let signed =
        e.t.post("/v1/ssh/certificates", &e.alice, ask.clone())
            .await;
    assert_eq!(signed.status, StatusCode::OK, "{signed:?}");
    let signed: SshCertificate = signed.parse();
    assert_eq!(signed.principals, ["ops"]);
    assert_eq!(signed.host, "127.0.0.1");
    assert_eq!(signed.port, 2222);
    let before = signed.valid_before;
    let after = signed.valid_after;
    let now = e.t.clock.now();
    assert!(
        before <= now + Duration::seconds(300),
        "longer than the certificate cap"
    );
    assert!(
        after >= now - Duration::seconds(31),
        "back-dated beyond the skew margin"
    );

    // The certificate is a real one, signed by the published CA.
    let cert = dir.path().join("id_ed25519-cert.pub");
    std::fs::write(&cert, &signed.certificate).unwrap();
    let listing = Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("ops"), "{text}");
    assert!(text.contains("permit-pty"), "{text}");
    let ca =
        e.t.send(axum::http::Method::GET, "/v1/ssh/ca", None, None)
            .await;
    assert_eq!(ca.status, StatusCode::OK, "{ca:?}");
    let ca_key = ca.parse::<SshCa>().public_key;
    let ca_file = dir.path().join("ca.pub");
    std::fs::write(&ca_file, ca_key).unwrap();
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&ca_file)
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout);
    let fingerprint = fp.split_whitespace().nth(1).unwrap();
    assert!(
        text.contains(fingerprint),
        "not signed by the published CA:\n{text}"
    );

    // A certificate is not a key: submitting one is refused.
    let confused =
        e.t.post(
            "/v1/ssh/certificates",
            &e.alice,
            sign("bastion", &signed.certificate),
        )
        .await;
    // A line of a key's form that is a certificate, not a key.
    assert_eq!(
        confused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{confused:?}"
    );

    // Someone else cannot sign on alice's grant.
    let bob = e.t.post("/v1/ssh/certificates", &e.bob, ask.clone()).await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN, "{bob:?}");

    // After revocation, no more certificates.
    let gid = g.id;
    let revoked =
        e.t.post(
            &format!("/v1/grants/{gid}/revoke"),
            &e.alice,
            json_of(&RevokeGrant {
                reason: "done".to_owned(),
            }),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    e.t.tick().await;
    let late = e.t.post("/v1/ssh/certificates", &e.alice, ask).await;
    assert_eq!(late.status, StatusCode::FORBIDDEN, "{late:?}");
    assert!(
        e.t.audit_actions()
            .await
            .contains(&"ssh.certificate".to_owned())
    );
}

/// Regression: a certificate signed in a grant's last second was already expired when
/// issued (its end, rounded down to the second, had passed). Now nothing is signed then,
/// with an error saying why; earlier, the end is the grant's rounded down, never up.
#[tokio::test]
async fn no_ssh_certificate_is_signed_in_a_grants_last_second() {
    let tag = tag();
    let e = env(&tag, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let ask = sign("bastion", public.trim());
    let g = granted(&e, "bastion", "login").await;
    let ends = g.ends_at.unwrap();
    let whole = ends - Duration::nanoseconds(i64::from(ends.nanosecond()));

    // In the last second: past the whole second the grant ends in, or half a second
    // before an end on a whole second.
    let last = if whole == ends {
        ends - Duration::milliseconds(500)
    } else {
        whole + (ends - whole) / 2
    };
    e.t.clock.set(last);
    let late =
        e.t.post("/v1/ssh/certificates", &e.alice, ask.clone())
            .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{late:?}");
    let detail = late.detail();
    assert!(detail.contains("less than a second"), "{detail}");
    assert!(detail.contains(&g.id.to_string()), "{detail}");

    // A few seconds before the end: signed to the end rounded down.
    let now = ends - Duration::milliseconds(2500);
    e.t.clock.set(now);
    let signed = e.t.post("/v1/ssh/certificates", &e.alice, ask).await;
    assert_eq!(signed.status, StatusCode::OK, "{signed:?}");
    let signed: SshCertificate = signed.parse();
    let before = signed.valid_before;
    assert_eq!(before, whole);
    assert!(before > now && before <= ends);
    let cert = dir.path().join("id_ed25519-cert.pub");
    std::fs::write(&cert, &signed.certificate).unwrap();
    let listing = Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .args(["-L", "-f"])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    let until = format!(
        "to {}",
        whole
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]"
            ))
            .unwrap()
    );
    assert!(text.contains(&until), "{until} in\n{text}");
}

// ----- the reconciler, on a private Redis -----

/// A Redis server of the test's own on a free loopback port, stopped on drop.
pub struct PrivateRedis {
    child: Child,
    pub port: u16,
}

impl PrivateRedis {
    // The child is owned by the returned value at once; its drop kills and reaps it.
    #[allow(clippy::zombie_processes)]
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let mut redis = Self { child, port };
        let _connection = eventually(
            &format!("redis-server to listen on port {port}"),
            async || {
                if let Some(status) = redis.child.try_wait().unwrap() {
                    panic!("redis-server exited with {status} before listening on port {port}");
                }
                tokio::net::TcpStream::connect(("127.0.0.1", port)).await
            },
            Result::is_ok,
        )
        .await;
        redis
    }

    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn acl(c: &mut redis::aio::MultiplexedConnection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd("ACL");
    for a in args {
        cmd.arg(*a);
    }
    cmd.query_async(c).await.unwrap()
}

async fn reconcile(e: &Env) -> ResourceReconciled {
    let r =
        e.t.post("/v1/reconcile?resource=session-cache", &e.admin, json!({}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.parse::<Vec<ResourceReconciled>>().remove(0)
}

/// The accounts the findings of a run name.
fn accounts(findings: &[FindingInfo]) -> Vec<&str> {
    findings.iter().map(|f| f.account.as_str()).collect()
}

#[tokio::test]
async fn the_reconciler_removes_leftovers_restores_lost_access_and_reports_drift() {
    let redis = PrivateRedis::start().await;
    let port = redis.port;
    let tag = tag();
    let e = env(&tag, |c| {
        c.connections.insert(
            "session-cache".into(),
            connection(&format!("kind = \"redis\"\nport = {port}")),
        );
    })
    .await;
    let mut admin = redis.admin().await;
    let g = granted(&e, "session-cache", "read").await;
    let account = {
        let inv =
            e.t.get("/v1/resources/session-cache/accounts", &e.admin)
                .await;
        assert_eq!(inv.status, StatusCode::OK, "{inv:?}");
        let inv: Inventory = inv.parse();
        assert_eq!(inv.tier, 2);
        let mine = inv
            .accounts
            .into_iter()
            .find(|a| a.origin == "warden")
            .unwrap();
        mine.name
    };

    // Behind Warden's back: a standing admin made by hand, a dynamic user left by a
    // crash, and the running grant's user deleted.
    acl(
        &mut admin,
        &["SETUSER", "drift", "on", ">pw-drift-1", "+@all", "~*"],
    )
    .await;
    acl(
        &mut admin,
        &[
            "SETUSER",
            "w_e9999_read_deadbeef",
            "on",
            ">pw-ghost-1",
            "+@read",
            "~*",
        ],
    )
    .await;
    acl(&mut admin, &["DELUSER", &account]).await;

    let run = reconcile(&e).await;
    assert_eq!(run.removed, ["w_e9999_read_deadbeef"], "{run:?}");
    assert_eq!(run.restored, ["E1001/read"], "{run:?}");
    assert_eq!(accounts(&run.findings), ["drift"], "{run:?}");
    assert_eq!(run.findings[0].state, "open");
    assert!(run.errors.is_empty(), "{run:?}");
    let users = acl(&mut admin, &["USERS"]).await;
    let users: Vec<String> = redis::from_redis_value(&users).unwrap();
    assert!(users.contains(&account), "the lost access was not restored");
    assert!(
        !users.contains(&"w_e9999_read_deadbeef".to_owned()),
        "the leftover stayed"
    );
    assert!(
        users.contains(&"drift".to_owned()),
        "a report-only finding was removed"
    );

    // Seen again, the finding is not raised again; gone, it is resolved.
    let again = reconcile(&e).await;
    assert_eq!(accounts(&again.findings), ["drift"]);
    let raised =
        e.t.audit_actions()
            .await
            .iter()
            .filter(|a| *a == "reconcile.finding")
            .count();
    assert_eq!(raised, 1);
    acl(&mut admin, &["DELUSER", "drift"]).await;
    let clean = reconcile(&e).await;
    assert!(clean.findings.is_empty(), "{clean:?}");
    let all: Vec<FindingInfo> = e.t.get("/v1/findings?all=true", &e.admin).await.parse();
    assert_eq!(all[0].state, "resolved", "{all:?}");

    // Where policy says so, drift is stripped of its privileges at once.
    let policy_with_remove = policy_files(&tag)
        .into_iter()
        .map(|f| {
            let text = f["text"].as_str().unwrap().replace(
                "connection = \"session-cache\"",
                "connection = \"session-cache\"\ndrift = \"remove\"\nstanding = [\"monitoring\"]",
            );
            json!({"path": f["path"], "text": text})
        })
        .collect::<Vec<_>>();
    let applied =
        e.t.post(
            "/v1/policy/apply",
            &e.admin,
            json!({"files": policy_with_remove, "comment": "strip drift"}),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    acl(
        &mut admin,
        &["SETUSER", "drift2", "on", ">pw-drift-2", "+@all", "~*"],
    )
    .await;
    acl(
        &mut admin,
        &["SETUSER", "monitoring", "on", ">pw-mon-1", "+@all", "~*"],
    )
    .await;
    let stripped = reconcile(&e).await;
    assert_eq!(stripped.removed, ["drift2"], "{stripped:?}");
    let mut drift2 = redis_as(port, "drift2", "pw-drift-2").await.unwrap();
    let no: redis::RedisResult<Option<String>> =
        redis::cmd("GET").arg("x").query_async(&mut drift2).await;
    assert!(no.is_err(), "drift2 still runs commands");
    let mut monitoring = redis_as(port, "monitoring", "pw-mon-1").await.unwrap();
    let yes: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("x")
        .query_async(&mut monitoring)
        .await;
    assert!(yes.is_ok(), "a standing account was stripped");

    // Only administrators reconcile; auditors and administrators see findings.
    let denied =
        e.t.post("/v1/reconcile?resource=session-cache", &e.alice, json!({}))
            .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        e.t.get("/v1/findings", &e.alice).await.status,
        StatusCode::FORBIDDEN
    );
    let actions = e.t.audit_actions().await;
    for a in [
        "reconcile.run",
        "reconcile.remove",
        "reconcile.restore",
        "reconcile.finding",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} missing: {actions:?}");
    }
    let _ = g;
}

#[tokio::test]
async fn the_scheduled_reconciler_finds_drift_without_being_asked() {
    let redis = PrivateRedis::start().await;
    let port = redis.port;
    let tag = tag();
    let e = env(&tag, |c| {
        c.reconcile.interval_secs = 1;
        // The schedule reconciles every configured target: only the private one here, so
        // it never touches other tests' accounts on the shared servers.
        c.connections.clear();
        c.connections.insert(
            "session-cache".into(),
            connection(&format!("kind = \"redis\"\nport = {port}")),
        );
    })
    .await;
    let mut admin = redis.admin().await;
    acl(
        &mut admin,
        &["SETUSER", "night-shift", "on", ">pw-night-1", "+@all", "~*"],
    )
    .await;
    let worker = tokio::spawn(warden_app::service::reconcile::schedule(e.t.state.clone()));
    let found = eventually(
        "the scheduled reconciliation to report a finding",
        async || {
            let f = e.t.get("/v1/findings", &e.admin).await;
            assert_eq!(f.status, StatusCode::OK, "{f:?}");
            f.parse::<Vec<FindingInfo>>()
        },
        |found| !found.is_empty(),
    )
    .await;
    worker.abort();
    assert_eq!(found[0].account, "night-shift", "{found:?}");
    assert_eq!(found[0].resource, "session-cache");
    let run = e.t.audit_actions().await;
    assert!(run.contains(&"reconcile.run".to_owned()), "{run:?}");
}

// ----- birthright on a real target -----

async fn maria_users(root: &mut mysql_async::Conn, like: &str) -> Vec<String> {
    use mysql_async::prelude::Queryable;
    root.exec("SELECT User FROM mysql.user WHERE User LIKE ?", (like,))
        .await
        .unwrap()
}

#[tokio::test]
async fn birthright_is_provisioned_on_the_target_and_removed_when_a_leaver_goes() {
    use mysql_async::prelude::Queryable;

    let tag = tag();
    let mut root = maria("root", "").await.unwrap();
    root.query_drop(format!("CREATE DATABASE {tag}"))
        .await
        .unwrap();
    let e = env(&tag, |c| {
        c.connections.insert(
            "wiki".into(),
            connection("kind = \"mariadb\"\nuser = \"root\"\npassword = \"\""),
        );
    })
    .await;
    // The sync queued the engineering wiki for every engineer; the worker carries it out.
    let jobs = e.t.state.store().access_jobs(None).await.unwrap();
    let queued = jobs.iter().filter(|j| j.resource == "wiki-db").count();
    assert!(queued >= 3, "{jobs:?}");
    let report = warden_app::service::provisioning::tick(&e.t.state)
        .await
        .unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.done, jobs.len(), "{report:?}");
    let alice_id =
        e.t.state
            .store()
            .find_identities(warden_store::IdentityFilter::Username("alice"))
            .await
            .unwrap()
            .remove(0)
            .id;
    let account = warden_core::connector::AccessSpec {
        grant: Uuid::nil(),
        identity: alice_id,
        employee_id: "E1001".into(),
        resource: "wiki-db".into(),
        kind: "mariadb".into(),
        connection: "wiki".into(),
        role: "read".into(),
        target: Default::default(),
        username: "alice".into(),
        until: OffsetDateTime::now_utc(),
    }
    .account_name();
    assert_eq!(
        maria_users(&mut root, &account).await,
        std::slice::from_ref(&account)
    );
    let grants: Vec<String> = root
        .query(format!("SHOW GRANTS FOR '{account}'@'%'"))
        .await
        .unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g.contains("SELECT") && g.contains(&format!("`{tag}`"))),
        "{grants:?}"
    );
    assert!(
        e.t.audit_actions()
            .await
            .contains(&"access.provision".to_owned())
    );

    // Alice leaves: her birthright goes from the target.
    let leaver = demo::HR_CSV.replace(
        "E1001,alice,alice@example.com,Alice Andersen,Platform,SRE,E1002,Berlin,active,employee,2022-06-01,",
        "E1001,alice,alice@example.com,Alice Andersen,Platform,SRE,E1002,Berlin,terminated,employee,2022-06-01,2026-05-31",
    );
    let synced = sync(&e.t, &e.admin, &leaver, "").await;
    assert_eq!(synced.status, StatusCode::OK, "{synced:?}");
    let report = warden_app::service::provisioning::tick(&e.t.state)
        .await
        .unwrap();
    assert_eq!(
        report,
        warden_app::service::provisioning::Report { done: 1, failed: 0 }
    );
    assert!(
        maria_users(&mut root, &account).await.is_empty(),
        "the leaver's account stayed"
    );
    assert!(
        e.t.audit_actions()
            .await
            .contains(&"access.deprovision".to_owned())
    );

    // The others' accounts go with the database.
    let rest: Vec<String> = root
        .exec(
            "SELECT DISTINCT User FROM mysql.db WHERE Db = ?",
            (tag.clone(),),
        )
        .await
        .unwrap();
    for user in rest {
        root.query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"))
            .await
            .unwrap();
    }
    root.query_drop(format!("DROP DATABASE {tag}"))
        .await
        .unwrap();
}
