//! `warden operator` and `warden accounts` as operators and key holders run them: what
//! the command line takes (secrets never as an option), the vault's init, seal, unseal
//! and key rotation against a server, and a PostgreSQL account put in the vault and
//! rotated.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{Server, sqlite_config, warden};

/// Runs `warden ARGS` against an address where nothing listens, with `stdin` (or none).
fn offline(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = warden(dir)
        .args(["--addr", "http://127.0.0.1:1"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command line clap refuses: exit code 2 and a message naming `what`.
fn refused(dir: &Path, args: &[&str], what: &str) {
    let out = offline(dir, args, None);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains(what), "{args:?}: {}", stderr(&out));
}

/// A command line clap takes: the command runs and fails only at the unreachable server.
fn parsed(dir: &Path, args: &[&str], stdin: Option<&str>) {
    let out = offline(dir, args, stdin);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach Warden"),
        "{args:?}: {}",
        stderr(&out)
    );
}

#[test]
fn the_command_line_takes_no_password_and_shares_only_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let add = [
        "accounts",
        "add",
        "app",
        "--connection",
        "pg",
        "--username",
        "u",
    ];
    refused(
        d,
        &[&add[..], &["--password", "hunter2"]].concat(),
        "--password",
    );
    refused(
        d,
        &[&add[..], &["--password=hunter2"]].concat(),
        "--password",
    );
    refused(
        d,
        &[&add[..], &["--rotate-every", "5m"]].concat(),
        "at least 1h",
    );
    refused(
        d,
        &[&add[..], &["--rotate-every", "400d"]].concat(),
        "--rotate-every",
    );
    refused(d, &[&add[..], &["--length", "8"]].concat(), "--length");
    refused(d, &[&add[..], &["--role", "read"]].concat(), "--resource");
    parsed(d, &[&add[..], &["--password-stdin"]].concat(), Some("pw\n"));

    // Unseal: no share (asked for), `-` (standard input), or one given, with a warning.
    parsed(d, &["operator", "unseal"], None);
    parsed(d, &["operator", "unseal", "-"], Some("wvs1-x\n"));
    parsed(d, &["operator", "unseal", "--reset"], None);
    refused(d, &["operator", "unseal", "wvs1-x", "--reset"], "--reset");

    refused(
        d,
        &["operator", "init", "--shares", "17", "--threshold", "2"],
        "--shares",
    );
    refused(d, &["operator", "init", "--shares", "3"], "--threshold");
    let out = offline(
        d,
        &["operator", "init", "--shares", "2", "--threshold", "3"],
        None,
    );
    assert!(
        stderr(&out).contains("more than --shares"),
        "{}",
        stderr(&out)
    );

    parsed(d, &["operator", "seal", "--yes"], None);
    parsed(
        d,
        &[
            "accounts",
            "checkout",
            "app",
            "--grant",
            &uuid::Uuid::nil().to_string(),
        ],
        None,
    );
    refused(
        d,
        &["accounts", "checkout", "app", "--grant", "g1"],
        "--grant",
    );
    parsed(d, &["accounts", "rotate", "app", "--wait"], None);
    parsed(d, &["accounts", "checkin", "app"], None);
}

/// The share files `init --output-dir` wrote, in order.
fn read_shares(dir: &Path, count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| {
            let text = std::fs::read_to_string(dir.join(format!("share-{i}.txt"))).unwrap();
            assert!(
                text.starts_with("wvs1-") && text.ends_with('\n'),
                "share {i}"
            );
            text.trim().to_owned()
        })
        .collect()
}

#[test]
fn operators_initialise_seal_unseal_and_rotate_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let config = sqlite_config(dir.path(), "");
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let status = server.ok(&["operator", "status"], None);
    assert!(status.contains("not initialised"), "{status}");
    let password = server.admin_password();
    server.ok(
        &["login", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );

    // A share file in the way stops `init` before the server makes any share.
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("share-2.txt"), "mine\n").unwrap();
    let args = [
        "operator",
        "init",
        "--shares",
        "3",
        "--threshold",
        "2",
        "--output-dir",
    ];
    let out = server.client(&[&args[..], &["keys"]].concat(), None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("share-2.txt exists"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(keys.join("share-2.txt")).unwrap(),
        "mine\n"
    );
    assert!(
        server
            .ok(&["operator", "status"], None)
            .contains("not initialised")
    );

    let made = server.ok(&[&args[..], &["keys/new"]].concat(), None);
    let new = keys.join("new");
    assert!(
        !made.contains("wvs1-"),
        "shares go to the files only: {made}"
    );
    assert!(made.contains("Warden keeps none"), "{made}");
    assert!(made.contains("keys/new/share-3.txt"), "{made}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&new), 0o700);
        for i in 1..=3 {
            assert_eq!(mode(&new.join(format!("share-{i}.txt"))), 0o600);
        }
    }
    let shares = read_shares(&new, 3);
    // A refused init leaves no directory behind for shares that were never made.
    let gone = server.client(&[&args[..], &["keys/again"]].concat(), None);
    assert!(
        stderr(&gone).contains("already initialised"),
        "{}",
        stderr(&gone)
    );
    assert!(!keys.join("again").exists());
    let again = server.client(
        &["operator", "init", "--shares", "1", "--threshold", "1"],
        None,
    );
    assert!(
        stderr(&again).contains("already initialised"),
        "{}",
        stderr(&again)
    );

    // Sealing asks first; without a terminal it needs --yes.
    let asked = server.client(&["operator", "seal"], None);
    assert!(stderr(&asked).contains("--yes"), "{}", stderr(&asked));
    assert!(
        server
            .ok(&["operator", "status"], None)
            .contains("initialised, unsealed")
    );
    assert!(
        server
            .ok(&["operator", "seal", "--yes"], None)
            .contains("sealed")
    );
    let status = server.ok(&["operator", "status"], None);
    assert!(
        status.contains("SEALED") && status.contains("0 of 2 shares given"),
        "{status}"
    );
    assert!(status.contains("shares (2 of 3 unseal it)"), "{status}");

    // Key holders unseal: from standard input, a reset, then a share as an argument.
    let first = format!("{}\n", shares[0]);
    let one = server.ok(&["operator", "unseal", "-"], Some(&first));
    assert!(one.contains("1 of 2 shares given"), "{one}");
    let reset = server.ok(&["operator", "unseal", "--reset"], None);
    assert!(reset.contains("0 of 2 shares given"), "{reset}");
    server.ok(&["operator", "unseal", "-"], Some(&first));
    let last = server.client(&["operator", "unseal", &shares[2]], None);
    assert!(last.status.success(), "{}", stderr(&last));
    assert!(String::from_utf8_lossy(&last.stdout).contains("The vault is unsealed."));
    assert!(stderr(&last).contains("shell history"), "{}", stderr(&last));
    // Nothing is asked for when nothing is needed.
    let done = server.ok(&["operator", "unseal"], None);
    assert!(done.contains("already unsealed"), "{done}");

    let rotated = server.ok(&["operator", "rotate"], None);
    assert!(rotated.contains("root key version 2"), "{rotated}");
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "operator", "status"], None)).unwrap();
    assert_eq!(json["root_version"], 2);
    assert_eq!(json["sealed"], false);

    // A rekey hands out a new split; the old shares stop working.
    let rekeyed = server.ok(
        &[
            "operator",
            "rekey",
            "--shares",
            "2",
            "--threshold",
            "2",
            "--output-dir",
            "keys/rekeyed",
        ],
        None,
    );
    assert!(rekeyed.contains("keys/rekeyed/share-2.txt"), "{rekeyed}");
    let rekeyed = read_shares(&keys.join("rekeyed"), 2);
    server.ok(&["operator", "seal", "--yes"], None);
    let stale = server.client(&["operator", "unseal", "-"], Some(&first));
    assert!(!stale.status.success(), "an old share is refused");
    for share in &rekeyed {
        server.ok(&["operator", "unseal", "-"], Some(&format!("{share}\n")));
    }
    assert!(
        server
            .ok(&["operator", "status"], None)
            .contains("initialised, unsealed")
    );

    let (_, stdout, logs) = server.stop();
    for share in shares.iter().chain(&rekeyed) {
        assert!(!logs.contains(share.as_str()) && !stdout.contains(share.as_str()));
    }
}

/// Runs SQL on the test PostgreSQL as its superuser.
fn psql(sql: &str) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
        .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "{sql}: {}", stderr(&out));
}

/// A login role on the test PostgreSQL, dropped when this is, whatever the test did.
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!("DROP ROLE IF EXISTS {}", self.0))
            .output();
    }
}

/// Whether `role` logs in to the test PostgreSQL with `password` (it needs one: it is a
/// member of `warden_scram`).
fn logs_in(role: &str, password: &str) -> bool {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            role,
            "-d",
            "postgres",
            "-w",
            "-qc",
            "select 1",
        ])
        .env("PGPASSWORD", password)
        .output()
        .expect("run psql")
        .status
        .success()
}

#[test]
fn a_postgres_account_is_vaulted_shown_without_its_password_and_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let config = sqlite_config(
        dir.path(),
        "[connections.pg]\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 5432\nuser = \"postgres\"\ndatabase = \"postgres\"\n",
    );
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let password = server.admin_password();
    server.ok(
        &["login", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    // Without --output-dir the shares are printed, numbered, with the warning.
    let made = server.ok(
        &["operator", "init", "--shares", "1", "--threshold", "1"],
        None,
    );
    assert!(made.contains("  share 1: wvs1-"), "{made}");
    assert!(
        made.contains("WARNING: Warden keeps none of these shares"),
        "{made}"
    );

    let guard = Role(format!("wt_{}", uuid::Uuid::new_v4().simple()));
    let role = guard.0.clone();
    let initial = "Initial-passw0rd-of-the-test";
    psql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{initial}' IN ROLE warden_scram"
    ));
    let add = [
        "accounts",
        "add",
        "app-db",
        "--connection",
        "pg",
        "--username",
        &role,
        "--rotate-every",
        "30d",
        "--password-stdin",
    ];
    let wrong = server.client(&add, Some("not-the-password\n"));
    assert!(!wrong.status.success());
    let added = server.ok(&add, Some(&format!("{initial}\n")));
    assert!(
        added.contains("Added app-db") && added.contains("every 30d"),
        "{added}"
    );

    let list = server.ok(&["accounts", "list"], None);
    assert!(list.contains("app-db") && list.contains(&role), "{list}");
    let shown = server.ok(&["accounts", "show", "app-db"], None);
    assert!(
        shown.contains("version 1") && shown.contains("no open check-out"),
        "{shown}"
    );
    assert!(!shown.contains(initial) && !list.contains(initial));
    let missing = server.client(&["accounts", "show", "nope"], None);
    assert!(stderr(&missing).contains("(404)"), "{}", stderr(&missing));
    let bad = server.client(&["accounts", "show", ".."], None);
    assert!(
        stderr(&bad).contains("not an account name"),
        "{}",
        stderr(&bad)
    );

    let rotated = server.ok(&["accounts", "rotate", "app-db", "--wait"], None);
    assert!(rotated.contains("rotated to version 2"), "{rotated}");
    assert!(!logs_in(&role, initial), "the vaulted password changed");

    // A check-out needs a running grant of the caller's.
    let no_grant = server.client(
        &[
            "accounts",
            "checkout",
            "app-db",
            "--grant",
            &uuid::Uuid::new_v4().to_string(),
        ],
        None,
    );
    assert!(!no_grant.status.success());
    assert!(!stderr(&no_grant).is_empty());

    // The server goes first: it may still hold a connection as the role.
    drop(server);
    drop(guard);
}
