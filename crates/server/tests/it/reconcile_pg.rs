//! The reconciler on PostgreSQL, end to end through the HTTP API, on a private server the
//! test starts with `initdb` and `postgres` (the shared server on 5432 holds other tests'
//! `w_` roles, which a reconciliation there would remove). It removes a dynamic login a
//! crash left behind, restores a running grant's role dropped by hand, reports roles made
//! privileged by hand (attributes and memberships of predefined roles) but never the
//! connector's own admin, and, where policy says `drift = "remove"`, strips them of the
//! privilege while sparing the resource's `standing` accounts.
//!
//! The manual clock starts at the real time: the server keeps its own clock for
//! `VALID UNTIL`.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use warden_proto::targets::{FindingInfo, Inventory, ResourceReconciled};

use crate::support::{poll_until, stop_child};
use crate::targets::{Env, connection, env, granted, policy_files, tag};

// ----- a private PostgreSQL -----

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `postgres`.
fn pg_bindir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL server binaries are needed: cannot read {}: {e} \
                 (install postgresql, which scripts/test does)",
                root.display()
            )
        })
        .filter_map(Result::ok)
        .filter_map(|d| {
            let version = d.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = d.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries are needed: no {}/<version>/bin holds initdb and postgres",
            root.display()
        )
    })
}

/// The uid and gid of the `postgres` OS user, from `/etc/passwd`.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            (fields.first() == Some(&"postgres")).then(|| {
                (
                    fields[2].parse::<u32>().unwrap(),
                    fields[3].parse::<u32>().unwrap(),
                )
            })
        })
        .expect(
            "initdb and postgres refuse to run as root, and there is no `postgres` OS user to run \
             them as",
        )
}

/// A command that runs as the `postgres` OS user when the test runs as root (`initdb` and
/// `postgres` refuse root), as the test's own user otherwise. Setting the uid in the child
/// (what `runuser` does) keeps the server the direct child, so signals reach it.
fn as_postgres(program: PathBuf, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        let (uid, gid) = postgres_user();
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// A PostgreSQL server of the test's own on a free loopback port, with trust
/// authentication and the superuser `postgres`; stopped (fast shutdown) on drop, then its
/// data directory removed.
struct PrivatePostgres {
    // Fields drop in order: the server stops before its directory goes.
    _server: Server,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    async fn start() -> Self {
        let bin = pg_bindir();
        let dir = tempfile::tempdir().unwrap();
        if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().to_owned();
        let init = as_postgres(bin.join("initdb"), &data)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .unwrap_or_else(|e| panic!("running {}/initdb: {e}", bin.display()));
        assert!(
            init.status.success(),
            "initdb failed: {}\n{}",
            String::from_utf8_lossy(&init.stdout),
            String::from_utf8_lossy(&init.stderr)
        );
        let log_path = data.join("server.log");
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = File::create(&log_path).unwrap();
            let mut server = Server::spawn(
                as_postgres(bin.join("postgres"), &data)
                    .arg("-D")
                    .arg(&data)
                    .arg("-p")
                    .arg(port.to_string())
                    .arg("-k")
                    .arg(&data)
                    .args([
                        "-c",
                        "listen_addresses=127.0.0.1",
                        "-c",
                        "fsync=off",
                        "-c",
                        "max_connections=30",
                        "-c",
                        "shared_buffers=16MB",
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log),
                &bin,
            );
            // Until it answers, or exits (the port was taken: try another).
            let started = poll_until(
                StdDuration::from_secs(60),
                async || {
                    let exited = server.0.try_wait().unwrap().is_some();
                    (exited, connect(port).await.map(drop))
                },
                |(exited, answered)| *exited || answered.is_ok(),
            )
            .await;
            match started {
                Ok((_, Ok(()))) => {
                    return Self {
                        _server: server,
                        port,
                        _dir: dir,
                    };
                }
                Ok((_, Err(_))) => {}
                Err((_, refused)) => panic!(
                    "postgres did not accept connections on port {port} within 60 s ({}):\n{}",
                    refused.unwrap_err(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ),
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            assert!(
                log.contains("could not bind") || log.contains("could not create"),
                "postgres exited at start:\n{log}"
            );
        }
        panic!(
            "postgres could not bind a free port in three tries:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    /// A new superuser session on the `postgres` database.
    async fn connect(&self) -> tokio_postgres::Client {
        connect(self.port).await.unwrap()
    }
}

async fn connect(port: u16) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname("postgres")
        .connect_timeout(StdDuration::from_secs(5))
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(conn);
    Ok(client)
}

/// The `postgres` process, stopped and reaped on drop.
struct Server(Child);

impl Server {
    // The child is owned by the returned value at once; its drop stops and reaps it.
    #[allow(clippy::zombie_processes)]
    fn spawn(cmd: &mut Command, bin: &Path) -> Self {
        Self(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("running {}/postgres: {e}", bin.display())),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: it ends open sessions, where SIGTERM
        // (smart shutdown) would wait for clients the stopped test runtime never closes.
        stop_child(&mut self.0, "INT", StdDuration::from_secs(15));
    }
}

async fn roles_named(admin: &tokio_postgres::Client, name: &str) -> bool {
    admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .unwrap()
        .is_some()
}

async fn is_member(admin: &tokio_postgres::Client, member: &str, group: &str) -> bool {
    admin
        .query_opt(
            "SELECT 1 FROM pg_auth_members m \
               JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
              WHERE u.rolname = $1 AND g.rolname = $2",
            &[&member, &group],
        )
        .await
        .unwrap()
        .is_some()
}

async fn is_superuser(admin: &tokio_postgres::Client, name: &str) -> bool {
    admin
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .unwrap()
        .get(0)
}

// ----- Warden, pointed at it -----

/// A unique tag for this test's permission role.
/// The shared policy of the target tests, with `extra` added to the orders-db resource.
async fn apply(e: &Env, tag: &str, extra: &str) {
    let files: Vec<Value> = policy_files(tag)
        .into_iter()
        .map(|f| {
            let text = f["text"].as_str().unwrap().replace(
                "connection = \"orders-primary\"",
                &format!("connection = \"orders-primary\"{extra}"),
            );
            json!({"path": f["path"], "text": text})
        })
        .collect();
    let answer =
        e.t.post(
            "/v1/policy/apply",
            &e.admin,
            json!({"files": files, "comment": "reconcile_pg test"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

async fn reconcile(e: &Env) -> ResourceReconciled {
    let r =
        e.t.post("/v1/reconcile?resource=orders-db", &e.admin, json!({}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let mut runs: Vec<ResourceReconciled> = r.parse();
    assert_eq!(runs.len(), 1, "{r:?}");
    runs.remove(0)
}

/// The findings of a report or listing, by account: (privileges, state).
fn findings(v: &[FindingInfo]) -> std::collections::BTreeMap<String, (Vec<String>, String)> {
    v.iter()
        .map(|f| (f.account.clone(), (f.privileges.clone(), f.state.clone())))
        .collect()
}

fn pair(privileges: &[&str], state: &str) -> (Vec<String>, String) {
    (
        privileges.iter().map(|p| (*p).to_owned()).collect(),
        state.to_owned(),
    )
}

#[tokio::test]
async fn the_reconciler_finds_hand_granted_privilege_and_crash_leftovers_on_postgres() {
    let pg = PrivatePostgres::start().await;
    let admin = pg.connect().await;
    let tag = tag();
    let read = format!("{tag}_read");
    admin
        .batch_execute(&format!("CREATE ROLE {read} NOLOGIN"))
        .await
        .unwrap();
    // Only the private server is configured: the reconciler must not see the shared ones.
    let e = env(&tag, |c| {
        c.connections.clear();
        c.connections.insert(
            "orders-primary".into(),
            connection(&format!(
                "kind = \"postgres\"\nuser = \"postgres\"\nport = {}\ndatabase = \"postgres\"",
                pg.port
            )),
        );
    })
    .await;
    granted(&e, "orders-db", "read").await;
    let inv = e.t.get("/v1/resources/orders-db/accounts", &e.admin).await;
    assert_eq!(inv.status, StatusCode::OK, "{inv:?}");
    let account = inv
        .parse::<Inventory>()
        .accounts
        .into_iter()
        .find(|a| a.origin == "warden")
        .unwrap_or_else(|| panic!("no account of Warden's: {inv:?}"))
        .name;
    assert!(account.starts_with("w_e1001_read_"), "{account}");
    assert!(is_member(&admin, &account, &read).await);

    // Behind Warden's back: a role given a predefined role by hand, a superuser made by
    // hand, a dynamic login a crash left behind, and the running grant's role dropped.
    admin
        .batch_execute(&format!(
            "CREATE ROLE drifter LOGIN; GRANT pg_read_all_data TO drifter; \
             CREATE ROLE rogue SUPERUSER LOGIN; \
             CREATE ROLE w_e9999_read_deadbeef LOGIN; GRANT {read} TO w_e9999_read_deadbeef; \
             DROP ROLE \"{account}\";"
        ))
        .await
        .unwrap();

    let run = reconcile(&e).await;
    assert_eq!(run.resource, "orders-db", "{run:?}");
    assert_eq!(run.tier, 1, "{run:?}");
    assert!(run.errors.is_empty(), "{run:?}");
    assert_eq!(run.removed, ["w_e9999_read_deadbeef"], "{run:?}");
    assert_eq!(run.restored, ["E1001/read"], "{run:?}");
    // Exactly the two: not the connector's admin `postgres`, not the unprivileged
    // permission role, not Warden's own logins.
    assert_eq!(
        findings(&run.findings),
        [
            (
                "drifter".to_owned(),
                pair(&["member of pg_read_all_data"], "open")
            ),
            ("rogue".to_owned(), pair(&["superuser"], "open")),
        ]
        .into(),
        "{run:?}"
    );
    assert!(
        !roles_named(&admin, "w_e9999_read_deadbeef").await,
        "the leftover stayed"
    );
    assert!(
        roles_named(&admin, &account).await,
        "the lost role was not restored"
    );
    assert!(
        is_member(&admin, &account, &read).await,
        "restored without its membership"
    );
    let until: bool = admin
        .query_one(
            "SELECT rolcanlogin AND rolvaliduntil IS NOT NULL FROM pg_roles WHERE rolname = $1",
            &[&account],
        )
        .await
        .unwrap()
        .get(0);
    assert!(until, "the restored role cannot log in or has no end");
    // Report-only: the drift is still there.
    assert!(is_member(&admin, "drifter", "pg_read_all_data").await);
    assert!(is_superuser(&admin, "rogue").await);
    let open = e.t.get("/v1/findings", &e.admin).await;
    assert_eq!(open.status, StatusCode::OK, "{open:?}");
    assert_eq!(
        findings(&open.parse::<Vec<FindingInfo>>())
            .keys()
            .collect::<Vec<_>>(),
        ["drifter", "rogue"],
        "{open:?}"
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
    assert_eq!(
        actions.iter().filter(|a| *a == "reconcile.finding").count(),
        2,
        "{actions:?}"
    );

    // Policy now strips drift, but `rogue` is a standing account.
    apply(&e, &tag, "\ndrift = \"remove\"\nstanding = [\"rogue\"]").await;
    let stripped = reconcile(&e).await;
    assert!(stripped.errors.is_empty(), "{stripped:?}");
    assert_eq!(stripped.removed, ["drifter"], "{stripped:?}");
    assert!(stripped.restored.is_empty(), "{stripped:?}");
    // The report shows what this run stripped; no finding is left open.
    assert_eq!(
        findings(&stripped.findings),
        std::collections::BTreeMap::from([(
            "drifter".to_owned(),
            (
                vec!["member of pg_read_all_data".to_owned()],
                "removed".to_owned()
            )
        )]),
        "{stripped:?}"
    );
    assert!(
        !is_member(&admin, "drifter", "pg_read_all_data").await,
        "drifter keeps pg_read_all_data"
    );
    assert!(
        roles_named(&admin, "drifter").await,
        "a role not Warden's was dropped"
    );
    assert!(
        is_superuser(&admin, "rogue").await,
        "a standing account was stripped"
    );
    assert!(
        roles_named(&admin, &account).await,
        "the grant's role went too"
    );
    let open = e.t.get("/v1/findings", &e.admin).await;
    assert!(
        findings(&open.parse::<Vec<FindingInfo>>()).is_empty(),
        "{open:?}"
    );
    let all = e.t.get("/v1/findings?all=true", &e.admin).await;
    let all = findings(&all.parse::<Vec<FindingInfo>>());
    assert_eq!(
        all["drifter"],
        pair(&["member of pg_read_all_data"], "removed"),
        "{all:?}"
    );
    assert_eq!(all["rogue"].1, "resolved", "{all:?}");

    // Nothing is left to do.
    let calm = reconcile(&e).await;
    assert!(calm.errors.is_empty(), "{calm:?}");
    assert!(calm.removed.is_empty(), "{calm:?}");
    assert!(calm.restored.is_empty(), "{calm:?}");
    assert!(findings(&calm.findings).is_empty(), "{calm:?}");
}
