//! Policy and HR commands of the binary: offline validation, plans, dry runs, explanations.

use std::path::Path;

use crate::support::{Server, warden};

fn demo_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo"))
}

#[test]
fn policy_validate_works_offline_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    // The demo policy is valid, with no server anywhere.
    let ok = warden(dir.path())
        .args(["--addr", "http://127.0.0.1:1", "policy", "validate"])
        .arg(demo_dir().join("policy"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid"));

    // A broken copy: every error with its file and line, exit code 1.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("teams")).unwrap();
    for entry in std::fs::read_dir(demo_dir().join("policy")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, broken.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        broken.join("teams/extra.toml"),
        "[[group]]\nname = \"sre\"\nmembers = [\"E1\"]\n\n[[group]]\nname = \"ops\"\nmembers = [\"E1\"]\nsurprise = 1\n",
    )
    .unwrap();
    let out = warden(dir.path())
        .args(["policy", "validate"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("teams/extra.toml:8"),
        "unknown key on line 8: {err}"
    );
    assert!(err.contains("surprise"), "{err}");
    assert!(
        err.contains("teams/extra.toml:2") || err.contains("groups.toml:"),
        "duplicate group name reported: {err}"
    );
    assert!(err.contains("warden: error: the policy has"), "{err}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    // A pipe whose reading end is already closed, as after `warden … | head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = warden(dir.path())
        .args(["policy", "validate"])
        .arg(demo_dir().join("policy"))
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn hr_dry_run_explain_and_plan_against_a_dev_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev", "--data-dir", "devdata", "--listen", "127.0.0.1:0"],
        &[],
    );
    let password = server.admin_password();
    server.ok(
        &["login", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );

    // Alice moves to Payments in the file: a dry run says so and changes nothing.
    let hr = std::fs::read_to_string(demo_dir().join("hr.csv"))
        .unwrap()
        .replace("Platform,SRE,E1002", "Payments,Developer,E1006");
    let file = dir.path().join("hr.csv");
    std::fs::write(&file, hr).unwrap();
    let dry = server.ok(&["hr", "sync", file.to_str().unwrap(), "--dry-run"], None);
    assert!(dry.contains("mover") && dry.contains("alice"), "{dry}");
    assert!(dry.contains("department: Platform -> Payments"), "{dry}");
    assert!(dry.contains("Dry run; nothing changed"), "{dry}");
    assert!(
        server
            .ok(&["identities", "show", "alice"], None)
            .contains("Platform / SRE")
    );

    let yes = server.ok(
        &[
            "access",
            "explain",
            "alice",
            "payments-db",
            "read",
            "--ticket",
            "CHG-7",
            "--for",
            "2h",
        ],
        None,
    );
    assert!(
        yes.contains("alice MAY request read on payments-db"),
        "{yes}"
    );
    assert!(yes.contains("access.toml:"), "{yes}");
    let no = server.ok(&["access", "explain", "vince", "payments-db", "read"], None);
    assert!(no.contains("may NOT"), "{no}");

    let plan = server.ok(
        &[
            "policy",
            "plan",
            demo_dir().join("policy").to_str().unwrap(),
        ],
        None,
    );
    assert!(
        plan.contains("identical files") && plan.contains("No identity's access changes"),
        "{plan}"
    );
    let history = server.ok(&["policy", "history"], None);
    assert!(
        history.contains("demo policy of warden serve --dev"),
        "{history}"
    );
}

#[test]
fn a_request_from_the_command_line_is_approved_by_someone_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev", "--data-dir", "devdata", "--listen", "127.0.0.1:0"],
        &[],
    );
    let demo = server.stdout();
    let demo = demo
        .lines()
        .find_map(|l| l.split("share the password ").nth(1))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let stored_token = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("client/credentials.toml")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("token = "))
            .unwrap()
            .trim_matches('"')
            .to_owned()
    };
    server.ok(
        &["login", "alice", "--password-stdin"],
        Some(&format!("{demo}\n")),
    );
    let alice = stored_token(dir.path());
    let filed = server.ok(
        &[
            "request",
            "orders-db",
            "--role",
            "read",
            "--for",
            "1h",
            "--reason",
            "debugging a stuck order export",
            "--ticket",
            "CHG-77",
        ],
        None,
    );
    assert!(
        filed.contains("pending") && filed.contains("route single"),
        "{filed}"
    );
    let id = filed
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();

    server.ok(
        &["login", "bob", "--password-stdin"],
        Some(&format!("{demo}\n")),
    );
    // The queue shows the start of the id, which approve takes.
    let queue = server.ok(&["requests", "--pending-approval"], None);
    let short = queue
        .split_whitespace()
        .find(|w| w.len() >= 8 && id.replace('-', "").starts_with(w))
        .unwrap_or_else(|| panic!("no start of {id} in {queue}"))
        .to_owned();
    let approved = server.ok(&["approve", &short, "--comment", "ticket checked"], None);
    assert!(
        approved.contains(&format!("request {id}:"))
            && approved.contains("— provisioning")
            && approved.contains("approve by Bob Baptiste (E1002)"),
        "{approved}"
    );

    let own = server.client(
        &["--token", &alice, "approve", &id, "--comment", "me"],
        None,
    );
    assert!(
        !own.status.success(),
        "alice has no approve scope and is the requester"
    );
    let shown = server.ok(&["--token", &alice, "requests", "show", &id], None);
    assert!(shown.contains("risk"), "{shown}");

    // A low-risk request is approved at once; --wait returns when the access exists.
    let waited = server.ok(
        &[
            "--token",
            &alice,
            "request",
            "session-cache",
            "--role",
            "read",
            "--for",
            "1h",
            "--reason",
            "checking session expiry settings",
            "--wait",
        ],
        None,
    );
    assert!(
        waited.contains("— active") && waited.contains("grant "),
        "{waited}"
    );
    let grants = server.ok(&["--token", &alice, "grants", "--live"], None);
    assert!(
        grants.contains("session-cache") && grants.contains("active"),
        "{grants}"
    );
    let grant = waited
        .lines()
        .find_map(|l| l.trim().strip_prefix("grant "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let revoked = server.ok(
        &[
            "--token",
            &alice,
            "revoke",
            &grant,
            "--reason",
            "done with it",
        ],
        None,
    );
    assert!(
        revoked.contains("— revoking (ended early by you at") && revoked.contains("done with it)"),
        "{revoked}"
    );
}

#[test]
fn policy_validate_with_a_config_checks_each_resources_connection() {
    let dir = tempfile::tempdir().unwrap();
    let connections = "\
[connections.payments-primary]
kind = \"postgres\"
user = \"warden_admin\"

[connections.orders-primary]
kind = \"postgres\"
user = \"warden_admin\"

[connections.analytics]
kind = \"mariadb\"
user = \"warden_admin\"

[connections.session-cache]
kind = \"redis\"

[connections.bastion]
kind = \"ssh\"
host = \"bastion.internal\"
";
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, connections).unwrap();
    let validate = |config: &Path| {
        warden(dir.path())
            .args(["--addr", "http://127.0.0.1:1", "policy", "validate"])
            .arg(demo_dir().join("policy"))
            .arg("--config")
            .arg(config)
            .output()
            .unwrap()
    };
    // The demo's wiki-db names the connection `wiki`, which this server lacks.
    let out = validate(&config);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "resources.toml:49: resource wiki-db names connection wiki, which the server does \
             not configure: add [connections.wiki] (kind = \"mariadb\")"
        ),
        "{err}"
    );
    assert!(
        err.contains("warden: error: the policy names 1 connection(s) this server cannot serve"),
        "{err}"
    );

    // Record-only: valid, with a warning naming what is only recorded.
    let recorded = dir.path().join("recorded.toml");
    std::fs::write(
        &recorded,
        format!("{connections}\n[grants]\nrecord_only = true\n"),
    )
    .unwrap();
    let out = validate(&recorded);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: resources.toml:49: resource wiki-db names connection wiki")
            && err.contains("only recorded"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));

    // Without --config, nothing is known of connections: valid as before.
    let out = warden(dir.path())
        .args(["policy", "validate"])
        .arg(demo_dir().join("policy"))
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// With the server's configuration, validate also refuses what that server would refuse
/// at apply: a ticket check on an internal address, unless its `[tickets]` allows it.
/// Without one, the server alone judges it.
#[test]
fn policy_validate_with_a_config_judges_the_ticket_check_as_the_server_would() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy).unwrap();
    for entry in std::fs::read_dir(demo_dir().join("policy")).unwrap() {
        let entry = entry.unwrap();
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        if entry.file_name() == "approvals.toml" {
            text = text.replacen(
                "pending_timeout = \"24h\"\n",
                "pending_timeout = \"24h\"\nticket_check_url = \"http://169.254.169.254/{ticket}\"\n",
                1,
            );
        }
        std::fs::write(policy.join(entry.file_name()), text).unwrap();
    }
    let validate = |config: Option<&str>| {
        let mut cmd = warden(dir.path());
        cmd.args(["--addr", "http://127.0.0.1:1", "policy", "validate"])
            .arg(&policy);
        if let Some(text) = config {
            let path = dir.path().join("warden.toml");
            std::fs::write(&path, format!("[grants]\nrecord_only = true\n{text}")).unwrap();
            cmd.arg("--config").arg(path);
        }
        cmd.output().unwrap()
    };
    let out = validate(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = validate(Some(""));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("approvals.toml:") && err.contains("169.254.169.254 is in link-local"),
        "{err}"
    );
    let out = validate(Some("[tickets]\nallow_internal = true\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
