//! A quick restart of `warden serve` a few seconds before grants end: the process is
//! stopped (SIGTERM in one case, kill -9 in the other) while the grants still run and
//! started again after they ended, within the worker lease the stopped process held.
//! When `/healthz` first answers, the grants' accounts are already gone from the target
//! (the local Redis), the audit shows their revocation, and the new process holds the
//! worker leases, so a request approved right after the restart is provisioned by it.
//!
//! Regression: each process took a random worker id and nothing released its leases, so
//! a restarted server found its predecessor's lease, skipped the catch-up ("another
//! replica runs the grant worker"), served, and revoked up to 15 s late.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration as StdDuration;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::{Server, eventually, poll_until};

/// How the first server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM: a graceful shutdown.
    Term,
    /// kill -9: nothing runs at the end.
    Kill,
}

#[test]
fn grants_that_end_during_a_quick_restart_after_sigterm_are_revoked_before_serving() {
    restart_while_grants_end(Stop::Term);
}

#[test]
fn grants_that_end_during_a_quick_restart_after_kill_9_are_revoked_before_serving() {
    restart_while_grants_end(Stop::Kill);
}

fn restart_while_grants_end(stop: Stop) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--dev", "--data-dir", "data", "--listen", listen.as_str()];
    // The demo policy, granting on the local Redis for session-cache (the other
    // resources, whose connections are not configured, are only recorded). No scheduled
    // reconciliation: it would remove the accounts other tests (and the other case of
    // this one) made on the shared Redis.
    let env = [
        ("WARDEN_GRANTS__RECORD_ONLY", "true"),
        ("WARDEN_CONNECTIONS__SESSION-CACHE__KIND", "redis"),
        ("WARDEN_RECONCILE__INTERVAL_SECS", "0"),
    ];
    let server = Server::start(dir.path(), &args, &env);
    let admin_password = server.admin_password();
    let demo_password = demo_password(&server.stdout());
    let alice = token(&server, "alice", &demo_password);
    let bob = token(&server, "bob", &demo_password);
    let admin = token(&server, "admin", &admin_password);

    let mut accounts = Accounts(Vec::new());
    let grants: Vec<Granted> = [&alice, &bob]
        .into_iter()
        .map(|t| {
            let g = grant(&server, t);
            accounts.0.push(g.username.clone());
            g
        })
        .collect();
    for g in &grants {
        assert!(
            redis_has_user(&g.username),
            "{} was provisioned",
            g.username
        );
    }
    let last_end = grants.iter().map(|g| g.ends_at).max().unwrap();
    let first_log = logged(&server, "worker leases are held under this id");

    // Stopped a few seconds before the grants end.
    sleep_until(last_end - time::Duration::seconds(3));
    match stop {
        Stop::Term => {
            let (status, _, log) = server.stop();
            assert!(status.success(), "{log}");
            assert_eq!(
                leases(dir.path()),
                Vec::new(),
                "a stopping server releases every lease it holds"
            );
        }
        Stop::Kill => {
            drop(server);
            let held = leases(dir.path());
            let grants_lease = held.iter().find(|(name, _, _)| name == "grants");
            assert!(
                grants_lease.is_some_and(|(_, _, until)| *until > last_end),
                "the killed server's grant worker lease outlasts the grants: {held:?}"
            );
        }
    }
    for g in &grants {
        assert!(
            redis_has_user(&g.username),
            "{} is still there: the stopped server did not revoke it",
            g.username
        );
    }

    // Started again once they ended. `/healthz` is asked from the moment the process
    // starts; what the target and the lease table hold is read as soon as it answers.
    sleep_until(last_end + time::Duration::milliseconds(500));
    let users: Vec<String> = grants.iter().map(|g| g.username.clone()).collect();
    let data = dir.path().to_owned();
    let first_answer = std::thread::spawn(move || {
        let status = first_health_answer(port);
        let present: Vec<String> = users.into_iter().filter(|u| redis_has_user(u)).collect();
        (status, present, leases(&data))
    });
    let again = Server::start(dir.path(), &args, &env);
    let (status, present, held) = first_answer.join().unwrap();
    assert!(status.contains("200"), "{status}");
    assert!(
        present.is_empty(),
        "still on Redis when /healthz first answered: {present:?}\n{}",
        again.stderr()
    );

    // The same data directory is the same worker; it holds the leases it needs from its
    // first answer on, the grant worker's among them.
    let log = logged(
        &again,
        "caught up on grants that fell due while the server was down",
    );
    let owner = worker_of(&log);
    assert_eq!(worker_of(&first_log), owner, "{first_log}");
    assert!(held.iter().any(|(name, _, _)| name == "grants"), "{held:?}");
    assert!(
        held.iter().all(|(_, o, _)| *o == owner),
        "leases of another holder when /healthz first answered: {held:?} (this one is {owner})"
    );
    assert!(!log.contains("another replica runs"), "{log}");

    // The audit shows each revocation, with its lag.
    for g in &grants {
        let events = json(&again.ok(
            &[
                "--token",
                &admin,
                "--json",
                "audit",
                "search",
                "--grant",
                &g.id,
                "--action",
                "grant.revoked",
            ],
            None,
        ));
        let events = events.as_array().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(events[0].to_string().contains("lag_ms"), "{:?}", events[0]);
    }

    // A request approved right after the restart is provisioned by the new process.
    let fresh = grant(&again, &alice);
    assert!(redis_has_user(&fresh.username));
    let log = again.stderr();
    assert!(!log.contains("another replica runs"), "{log}");
    drop(again);
}

/// A grant of `session-cache` read for a minute, approved at once by the demo policy and
/// provisioned on the local Redis.
struct Granted {
    id: String,
    username: String,
    ends_at: OffsetDateTime,
}

fn grant(server: &Server, token: &str) -> Granted {
    let request = json(&server.ok(
        &[
            "--token",
            token,
            "--json",
            "request",
            "session-cache",
            "--role",
            "read",
            "--for",
            "1m",
            "--reason",
            "checking session expiry settings",
            "--wait",
        ],
        None,
    ));
    let grant = &request["grant"];
    assert_eq!(grant["state"], "active", "{request}");
    let id = grant["id"].as_str().unwrap().to_owned();
    let ends_at = OffsetDateTime::parse(
        grant["ends_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let credential = json(&server.ok(&["--token", token, "--json", "credential", &id], None));
    let username = credential["username"].as_str().unwrap().to_owned();
    Granted {
        id,
        username,
        ends_at,
    }
}

/// Accounts this test made on the shared Redis, removed at the end whatever happened.
struct Accounts(Vec<String>);

impl Drop for Accounts {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = redis(&["ACL", "DELUSER", name]);
        }
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The password `serve --dev` gave the demo users.
fn demo_password(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("share the password ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned()
}

/// Logs `user` in and returns the token `warden login` stored.
fn token(server: &Server, user: &str, password: &str) -> String {
    server.ok(
        &["login", user, "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    let text = std::fs::read_to_string(server.dir.join("client/credentials.toml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("token = "))
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

/// The server's log once it holds `line` (the log is read from the process's standard
/// error on a thread of its own, which may lag behind).
fn logged(server: &Server, line: &str) -> String {
    eventually(
        &format!("{line:?} in the server's log"),
        || server.stderr(),
        |log| log.contains(line),
    )
}

/// The worker id a server logged at start.
fn worker_of(log: &str) -> Uuid {
    log.lines()
        .filter(|l| l.contains("worker leases are held under this id"))
        .find_map(|l| l.split("worker=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no worker id in the log:\n{log}"))
}

/// The worker leases in the server's database: name, holder, end.
fn leases(dir: &Path) -> Vec<(String, Uuid, OffsetDateTime)> {
    let url = format!("sqlite://{}", dir.join("data/warden.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = warden_store::Store::open(&url, &Default::default())
            .await
            .unwrap();
        store
            .lease_holders()
            .await
            .unwrap()
            .into_iter()
            .map(|(name, h)| (name, h.owner, h.until))
            .collect()
    })
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asks `GET /healthz` until something listens on `port`, and returns the status line of
/// the first answer. A connection made while the server still starts (it listens before
/// it catches up) waits for that answer.
fn first_health_answer(port: u16) -> String {
    let answer = poll_until(
        StdDuration::from_secs(120),
        || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
            stream
                .set_read_timeout(Some(StdDuration::from_secs(120)))
                .unwrap();
            stream
                .write_all(
                    format!(
                        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .ok()?;
            let mut status = String::new();
            BufReader::new(&mut stream).read_line(&mut status).ok()?;
            Some(status).filter(|s| !s.is_empty())
        },
        Option::is_some,
    );
    let Ok(Some(status)) = answer else {
        panic!("nothing answered on {port} within 120 s");
    };
    status
}

/// Whether the local Redis has the ACL user `name`.
fn redis_has_user(name: &str) -> bool {
    let reply = redis(&["ACL", "GETUSER", name]);
    match reply.as_str() {
        "$-1" | "*-1" | "_" => false,
        r if r.starts_with('*') => true,
        r => panic!("unexpected ACL GETUSER reply {r:?}"),
    }
}

/// Sends one command to the local Redis and returns the first line of its reply.
fn redis(args: &[&str]) -> String {
    let mut stream = TcpStream::connect("127.0.0.1:6379")
        .expect("Redis answers on 127.0.0.1:6379 (scripts/test starts it)");
    let mut command = format!("*{}\r\n", args.len());
    for a in args {
        command.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(command.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(&mut stream).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

/// Waits on the real clock until `at`. The wait is what these tests are about: a real
/// process stopped a few seconds before real grants end, and started again after they
/// ended; nothing is asserted on the strength of it alone (what follows waits for what
/// it checks).
fn sleep_until(at: OffsetDateTime) {
    let left = at - OffsetDateTime::now_utc();
    if left.is_positive() {
        std::thread::sleep(left.unsigned_abs());
    }
}
