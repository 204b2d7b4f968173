//! Every command reaches its own handler. Each command the binary's help lists is run
//! against a stand-in server that records what it is asked and refuses it: a command must
//! ask for its own endpoint (or, when it needs no server, end in its own way), and none may
//! exit 0 having done nothing, as a command routed to another module's catch-all arm once
//! did. The list of commands is read from the help, so a new command without a case here
//! fails the test until it gets one.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use warden_proto::problem::Problem;
use warden_proto::vault::VaultStatus;

use crate::support::warden;

/// An id given whole, so that no list is fetched to resolve it.
const ID: &str = "0193a4f2-7c3e-7000-8000-000000000001";

/// What the stand-in says to every request it refuses, and a command then reports.
const REFUSAL: &str = "the stand-in server refuses every request";

/// A loopback HTTP server that records the request line (method and target) of each
/// request and answers 503 with a problem, except the vault's status, which it gives
/// (initialised and unsealed) so that `operator seal` and `unseal` get to their own
/// request.
struct StandIn {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                answer(stream, &record);
            }
        });
        Self { url, seen }
    }

    /// The requests seen since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Reads one request (head and body), records its method and target, and answers it.
/// The record comes first: the command may end as soon as it has the answer.
fn answer(stream: TcpStream, record: &Mutex<Vec<String>>) -> Option<()> {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let line = first
        .trim_end()
        .strip_suffix(" HTTP/1.1")
        .unwrap_or(first.trim_end())
        .to_owned();
    let (status, kind, text) = if line == "GET /v1/operator/status" {
        let status = VaultStatus {
            initialized: true,
            sealed: false,
            unseal_mode: Some("shares".to_owned()),
            vault_id: Some("stand-in".to_owned()),
            threshold: 1,
            shares: 1,
            progress: 0,
            root_version: 1,
            active_data_key: 1,
            rotated_at: None,
        };
        (
            "200 OK",
            "application/json",
            serde_json::to_string(&status).unwrap(),
        )
    } else {
        let problem = Problem {
            kind: "about:blank".to_owned(),
            title: "Service Unavailable".to_owned(),
            status: 503,
            detail: Some(REFUSAL.to_owned()),
            request_id: None,
            errors: Vec::new(),
        };
        (
            "503 Service Unavailable",
            "application/problem+json",
            serde_json::to_string(&problem).unwrap(),
        )
    };
    record.lock().unwrap().push(line);
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    Some(())
}

/// How a command must end.
struct Case {
    /// The command, as the help names it (`review breakglass`).
    command: &'static str,
    /// Its arguments; `{ID}`, `{DIR}` and `{DEMO}` are filled in.
    args: &'static [&'static str],
    /// Standard input, when the command reads it.
    stdin: Option<&'static str>,
    /// The requests it makes, in order (with `{ID}` filled in).
    asks: &'static [&'static str],
    /// Its exit code.
    code: i32,
    /// Words its output (standard output or error) carries.
    says: &'static str,
}

/// A command that asks the server for `asks` and reports the refusal.
const fn asks(
    command: &'static str,
    args: &'static [&'static str],
    asks: &'static [&'static str],
) -> Case {
    Case {
        command,
        args,
        stdin: None,
        asks,
        code: 1,
        says: REFUSAL,
    }
}

/// A command that asks the server nothing and ends with `code`, saying `says`.
const fn local(
    command: &'static str,
    args: &'static [&'static str],
    code: i32,
    says: &'static str,
) -> Case {
    Case {
        command,
        args,
        stdin: None,
        asks: &[],
        code,
        says,
    }
}

const fn with_stdin(case: Case, stdin: &'static str) -> Case {
    Case {
        stdin: Some(stdin),
        ..case
    }
}

fn cases() -> Vec<Case> {
    vec![
        local(
            "serve",
            &["--config", "{DIR}/missing.toml"],
            2,
            "missing.toml",
        ),
        with_stdin(
            asks(
                "login",
                &["alice", "--password-stdin"],
                &["POST /v1/auth/login"],
            ),
            "a password\n",
        ),
        asks("logout", &[], &["POST /v1/auth/logout"]),
        asks("whoami", &[], &["GET /v1/auth/whoami"]),
        // No terminal to ask the current password on.
        local("passwd", &[], 1, "cannot read the password"),
        asks("token create", &["ci"], &["POST /v1/tokens"]),
        asks("token list", &[], &["GET /v1/tokens"]),
        asks("token revoke", &["{ID}"], &["DELETE /v1/tokens/{ID}"]),
        asks("user add", &["bob"], &["POST /v1/users"]),
        asks("user list", &[], &["GET /v1/users"]),
        asks("user show", &["bob"], &["GET /v1/users/bob"]),
        asks("user set", &["bob", "--disable"], &["PATCH /v1/users/bob"]),
        asks(
            "hr sync",
            &["{DIR}/people.csv"],
            &["POST /v1/hr/sync?format=csv&dry_run=false&allow_mass_leave=false"],
        ),
        asks("identities list", &[], &["GET /v1/identities"]),
        asks("identities show", &["alice"], &["GET /v1/identities/alice"]),
        asks(
            "access explain",
            &["alice", "db", "read"],
            &["GET /v1/access/explain?identity=alice&resource=db&role=read"],
        ),
        asks(
            "access check",
            &["alice", "db", "read"],
            &["GET /v1/access/check?identity=alice&resource=db&role=read"],
        ),
        local("policy validate", &["{DEMO}"], 0, "file(s), valid."),
        asks("policy plan", &["{DEMO}"], &["POST /v1/policy/plan"]),
        asks(
            "policy apply",
            &["{DEMO}", "-c", "why"],
            &["POST /v1/policy/apply"],
        ),
        asks("policy history", &[], &["GET /v1/policy/versions"]),
        asks("policy show", &[], &["GET /v1/policy"]),
        asks(
            "policy restore",
            &["2", "-c", "why"],
            &["POST /v1/policy/versions/2/restore"],
        ),
        asks(
            "request",
            &[
                "db",
                "--role",
                "read",
                "--for",
                "1h",
                "--reason",
                "a migration",
            ],
            &["POST /v1/requests"],
        ),
        asks(
            "requests",
            &[],
            &["GET /v1/requests?pending_approval=false"],
        ),
        asks("requests show", &["{ID}"], &["GET /v1/requests/{ID}"]),
        asks(
            "approve",
            &["{ID}", "-c", "fine"],
            &["POST /v1/requests/{ID}/approve"],
        ),
        asks(
            "deny",
            &["{ID}", "-c", "no"],
            &["POST /v1/requests/{ID}/deny"],
        ),
        asks("cancel", &["{ID}"], &["POST /v1/requests/{ID}/cancel"]),
        asks("grants", &[], &["GET /v1/grants?all=false&live=false"]),
        asks("grants show", &["{ID}"], &["GET /v1/grants/{ID}"]),
        asks(
            "revoke",
            &["{ID}", "--reason", "done"],
            &["POST /v1/grants/{ID}/revoke"],
        ),
        asks(
            "extend",
            &["{ID}", "--for", "1h", "--reason", "more"],
            &["POST /v1/grants/{ID}/extend"],
        ),
        asks(
            "breakglass",
            &["db", "--role", "admin", "--reason", "fire"],
            &["POST /v1/breakglass"],
        ),
        asks(
            "justify",
            &["{ID}", "--text", "it burned"],
            &["POST /v1/breakglass/{ID}/justify"],
        ),
        asks(
            "review breakglass",
            &["{ID}", "--justified", "-c", "fine"],
            &["POST /v1/breakglass/{ID}/review"],
        ),
        asks("incidents", &[], &["GET /v1/incidents"]),
        asks(
            "vendor add",
            &[
                "vee",
                "--name",
                "V",
                "--email",
                "v@example.com",
                "--company",
                "C",
            ],
            &["POST /v1/vendors"],
        ),
        asks("vendor list", &[], &["GET /v1/vendors"]),
        asks(
            "credential",
            &["{ID}"],
            &["POST /v1/grants/{ID}/credential"],
        ),
        asks(
            "ssh",
            &["db", "--key", "{DIR}/id_test"],
            &["POST /v1/ssh/certificates"],
        ),
        asks("discover", &["db"], &["GET /v1/resources/db/accounts"]),
        asks("reconcile", &[], &["POST /v1/reconcile"]),
        asks("audit search", &[], &["GET /v1/audit/events?limit=100"]),
        asks("audit export", &[], &["GET /v1/audit/export?since=0"]),
        local(
            "audit verify",
            &["{DIR}/missing.bundle"],
            1,
            "missing.bundle",
        ),
        asks("audit key", &[], &["GET /v1/audit/key"]),
        asks("audit head", &[], &["GET /v1/audit/head"]),
        asks("findings", &[], &["GET /v1/findings?all=false"]),
        Case {
            asks: &["GET /v1/operator/status"],
            code: 0,
            says: "initialised, unsealed",
            ..asks("operator status", &[], &[])
        },
        asks(
            "operator init",
            &["--shares", "1", "--threshold", "1"],
            &["POST /v1/operator/init"],
        ),
        asks(
            "operator rekey",
            &["--shares", "1", "--threshold", "1"],
            &["POST /v1/operator/rekey"],
        ),
        asks(
            "operator unseal",
            &["--reset"],
            &["GET /v1/operator/status", "POST /v1/operator/unseal"],
        ),
        asks(
            "operator seal",
            &["--yes"],
            &["GET /v1/operator/status", "POST /v1/operator/seal"],
        ),
        asks("operator rotate", &[], &["POST /v1/operator/rotate"]),
        asks("accounts list", &[], &["GET /v1/accounts"]),
        asks("accounts show", &["app"], &["GET /v1/accounts/app"]),
        with_stdin(
            asks(
                "accounts add",
                &[
                    "app",
                    "--connection",
                    "orders",
                    "--username",
                    "app",
                    "--password-stdin",
                ],
                &["POST /v1/accounts"],
            ),
            "a password\n",
        ),
        asks(
            "accounts checkout",
            &["app"],
            &["POST /v1/accounts/app/checkout"],
        ),
        asks(
            "accounts checkin",
            &["app"],
            &["POST /v1/accounts/app/checkin"],
        ),
        asks(
            "accounts rotate",
            &["app"],
            &["POST /v1/accounts/app/rotate"],
        ),
    ]
}

/// The commands the help of `path` lists below it, and whether `path` itself runs (its
/// subcommand, if it has any, is optional).
fn help(dir: &Path, path: &[String]) -> (bool, Vec<String>) {
    let out = warden(dir).args(path).arg("--help").output().unwrap();
    assert!(out.status.success(), "warden {path:?} --help failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let usage = text
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_else(|| panic!("no usage line in the help of {path:?}:\n{text}"));
    let runs = !usage.contains("<COMMAND>");
    let below = text
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    (runs, below)
}

/// Every command that runs, as its words (`operator seal`), walking the help from the top.
fn runnable_commands(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let (runs, below) = help(dir, &path);
        if runs && !path.is_empty() {
            found.insert(path.join(" "));
        }
        for name in below {
            let mut next = path.clone();
            next.push(name);
            todo.push(next);
        }
    }
    found
}

#[test]
fn every_command_reaches_its_own_handler() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().to_str().unwrap();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo/policy");
    std::fs::write(dir.path().join("people.csv"), "employee_id\n").unwrap();
    std::fs::write(dir.path().join("id_test"), "not read\n").unwrap();
    std::fs::write(dir.path().join("id_test.pub"), "ssh-ed25519 AAAA test\n").unwrap();

    let cases = cases();
    let listed = runnable_commands(dir.path());
    let covered: BTreeSet<String> = cases.iter().map(|c| c.command.to_owned()).collect();
    assert_eq!(
        covered.len(),
        cases.len(),
        "a command has two cases; give each command one"
    );
    assert_eq!(
        listed, covered,
        "the commands in the help and those with a case here differ"
    );

    let stand_in = StandIn::start();
    let fill = |s: &str| {
        s.replace("{ID}", ID)
            .replace("{DIR}", dir_text)
            .replace("{DEMO}", demo)
    };
    for case in &cases {
        let mut cmd = warden(dir.path());
        cmd.env("WARDEN_ADDR", &stand_in.url)
            .env("WARDEN_TOKEN", "wdn_stand_in")
            .args(case.command.split(' '))
            .args(case.args.iter().map(|a| fill(a)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if case.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = case.stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: Vec<String> = case.asks.iter().map(|r| fill(r)).collect();
        assert_eq!(
            stand_in.take(),
            expected,
            "warden {} asked the server for something else; it said:\n{said}",
            case.command
        );
        assert_eq!(
            out.status.code(),
            Some(case.code),
            "warden {} ended otherwise; it said:\n{said}",
            case.command
        );
        assert!(
            said.contains(case.says),
            "warden {} did not say {:?}; it said:\n{said}",
            case.command,
            case.says
        );
    }
}
