//! Requests and grants as a new user meets them in the terminal: refusals that say whom
//! to ask, what a request still needs in words, revocation that says it is under way and
//! can wait for the target, and tables with names beside ids, short ids that commands
//! accept, durations in words and local times to the second.

use std::process::Output;

use crate::support::{Server, eventually, warden};

/// A development server with the demo users logged in, each by their token.
struct Demo {
    server: Server,
    _dir: tempfile::TempDir,
    alice: String,
    bob: String,
    sam: String,
    dave: String,
}

impl Demo {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(
            dir.path(),
            &["--dev", "--data-dir", "devdata", "--listen", "127.0.0.1:0"],
            &[],
        );
        let demo = server
            .stdout()
            .lines()
            .find_map(|l| l.split("share the password ").nth(1))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let admin = login(&server, "admin", &server.admin_password());
        // Dave is in HR (a payments developer) but has no Warden account in the demo.
        let created = server.ok(
            &[
                "--token", &admin, "user", "add", "dave", "--scope", "request",
            ],
            None,
        );
        let dave_password = created
            .lines()
            .find_map(|l| l.strip_prefix("Initial password (shown once): "))
            .unwrap()
            .trim()
            .to_owned();
        Self {
            alice: login(&server, "alice", &demo),
            bob: login(&server, "bob", &demo),
            sam: login(&server, "sam", &demo),
            dave: login(&server, "dave", &dave_password),
            server,
            _dir: dir,
        }
    }

    /// `warden --token TOKEN ARGS` in the Europe/Berlin time zone.
    fn run(&self, token: &str, args: &[&str]) -> Output {
        warden(&self.server.dir)
            .env("WARDEN_ADDR", &self.server.url)
            .env("TZ", "Europe/Berlin")
            .args(["--token", token])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// As [`Demo::run`], which must succeed; its standard output.
    fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.run(token, args);
        assert!(
            out.status.success(),
            "warden {args:?} failed:\n{}",
            text(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, token: &str, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(token, &all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Alice asks for `role` on `resource` for an hour; returns the request.
    fn request(&self, resource: &str, role: &str, ticket: &str) -> serde_json::Value {
        self.json(
            &self.alice,
            &[
                "request",
                resource,
                "--role",
                role,
                "--for",
                "1h",
                "--reason",
                "looking into the slow checkout queries",
                "--ticket",
                ticket,
            ],
        )
    }

    /// Waits until Alice's request `id` is active; returns its grant.
    fn active_grant(&self, id: &str) -> serde_json::Value {
        let r = eventually(
            "the request to be active",
            || self.json(&self.alice, &["requests", "show", id]),
            |r| r["state"] == "active",
        );
        r["grant"].clone()
    }
}

fn login(server: &Server, name: &str, password: &str) -> String {
    server.ok(
        &["login", name, "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    let stored = std::fs::read_to_string(server.dir.join("client/credentials.toml")).unwrap();
    stored
        .lines()
        .find_map(|l| l.strip_prefix("token = "))
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn str_of<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
}

/// Whether `s` holds a local time to the second in Berlin: `2026-03-04 11:00:00 CET`.
fn has_local_time(s: &str) -> bool {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .windows(3)
        .any(|w| {
            let date = w[0].len() == 10 && w[0].as_bytes()[4] == b'-' && w[0].as_bytes()[7] == b'-';
            let clock = w[1].len() == 8 && w[1].as_bytes()[2] == b':' && w[1].as_bytes()[5] == b':';
            date && clock && (w[2].starts_with("CET") || w[2].starts_with("CEST"))
        })
}

/// Regression tests: a refusal for someone outside every rule's `who` said "each failed
/// rule says why" and named no rule; "still needs: another approver" was shown before
/// anyone had approved.
#[test]
fn refusals_name_the_rules_to_ask_about_and_needs_say_who() {
    let d = Demo::start();
    let refused = d.run(
        &d.dave,
        &[
            "request",
            "payments-db",
            "--role",
            "read",
            "--for",
            "1h",
            "--reason",
            "checking a refund for a customer",
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(
            "policy does not allow this request: no eligibility rule covers E1005 (Dave \
             Dimitrov) for read on payments-db (403)"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "rule sre-prod-data-critical (access.toml:12) covers read on payments-db for \
             group:sre, which does not include E1005"
        ) && err.contains("rule security-read-all (access.toml:61)"),
        "{err}"
    );
    assert!(!err.contains("each failed rule says why"), "{err}");

    // Tier 0: security and one more approver, said in words before anyone approved.
    let filed = d.request("payments-db", "read", "CHG-11");
    assert_eq!(str_of(&filed, "route"), "dual-security", "{filed}");
    let id = str_of(&filed, "id").to_owned();
    let shown = d.ok(&d.alice, &["requests", "show", &id]);
    assert!(
        shown.contains(
            "still needs an approver from group:security and one more approver who is the \
             requester's manager (E1002), in group:payments-leads (the resource's owners) \
             or in group:sre-leads\n  times out without them at "
        ),
        "{shown}"
    );
    assert!(!shown.contains("another approver"), "{shown}");
    assert!(
        shown.contains("requester Alice Andersen (E1001)"),
        "{shown}"
    );
    assert!(shown.contains("for 1h"), "{shown}");
    // Bob approves by the start of the id, as `warden requests` shows it.
    let list = d.ok(&d.bob, &["requests", "--pending-approval"]);
    let short = list
        .split_whitespace()
        .find(|w| id.replace('-', "").starts_with(w) && w.len() >= 8)
        .unwrap_or_else(|| panic!("no short id of {id} in\n{list}"))
        .to_owned();
    assert!(short.len() < 32, "{short}");
    let approved = d.ok(&d.bob, &["approve", &short, "--comment", "ticket checked"]);
    assert!(
        approved.contains("approve by Bob Baptiste (E1002)"),
        "{approved}"
    );
    assert!(
        approved.contains("still needs an approver from group:security\n"),
        "{approved}"
    );
    let done = d.ok(&d.sam, &["approve", &short, "--comment", "security agrees"]);
    assert!(!done.contains("still needs"), "{done}");
}

/// A regression test: `warden revoke` printed the grant as `— active` with its end moved
/// to now, and nothing said it was being revoked or had ended early.
#[test]
fn revoke_says_the_grant_is_being_revoked_and_can_wait_for_the_target() {
    let d = Demo::start();
    // Low risk: approved at once.
    let first = d.request("session-cache", "read", "CHG-21");
    let grant = d.active_grant(str_of(&first, "id"));
    let grant_id = str_of(&grant, "id").to_owned();
    let out = d.ok(
        &d.alice,
        &["revoke", &grant_id, "--reason", "found the slow query"],
    );
    assert!(
        out.contains("session-cache for Alice Andersen (E1001) — revoking (ended early by you at "),
        "{out}"
    );
    assert!(out.contains(": found the slow query)"), "{out}");
    assert!(has_local_time(&out), "{out}");
    assert!(!out.contains("— active"), "{out}");
    assert!(
        out.contains(&format!("`warden grants show {grant_id}` confirms it")),
        "{out}"
    );
    // The grant's own view says it ended early, and why.
    eventually(
        "the grant to be revoked",
        || d.json(&d.alice, &["grants", "show", &grant_id]),
        |g| g["state"] == "revoked",
    );
    let shown = d.ok(&d.alice, &["grants", "show", &grant_id]);
    assert!(
        shown.contains("— revoked (ended early at ")
            && shown.contains("revoked by alice: found the slow query)"),
        "{shown}"
    );

    // With --wait, the command returns once the target confirmed the access is gone.
    let second = d.request("session-cache", "read", "CHG-22");
    let grant = d.active_grant(str_of(&second, "id"));
    let grant_id = str_of(&grant, "id").to_owned();
    let out = d.ok(
        &d.alice,
        &["revoke", &grant_id, "--reason", "done for today", "--wait"],
    );
    assert!(
        out.contains("— revoked: the target confirmed the access is gone (ended early by you at ")
            && out.contains(": done for today)"),
        "{out}"
    );
    let g = d.json(&d.alice, &["grants", "show", &grant_id]);
    assert_eq!(str_of(&g, "state"), "revoked", "{g}");
    // Revoking it again is refused: it is no longer live.
    let again = d.run(
        &d.alice,
        &["revoke", &grant_id, "--reason", "again", "--wait"],
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
}

/// A regression test: tables showed employee ids where people look for names, whole
/// UUIDs, durations as `3600s` and `at most 14400s`, times with nanoseconds, and no time
/// left on a grant.
#[test]
fn tables_show_names_short_ids_durations_in_words_and_local_times() {
    let d = Demo::start();
    let one = d.request("session-cache", "read", "CHG-31");
    let two = d.request("analytics-db", "read", "CHG-32");
    let one_grant = d.active_grant(str_of(&one, "id"));
    let two_id = str_of(&two, "id").to_owned();
    let one_id = str_of(&one_grant, "id").to_owned();

    let grants = d.ok(&d.alice, &["grants"]);
    assert!(grants.contains("Alice Andersen (E1001)"), "{grants}");
    assert!(
        !grants.contains(&one_id),
        "a whole id where a prefix would do:\n{grants}"
    );
    assert!(
        grants.contains("(in 59 min)") || grants.contains("(in 1h)"),
        "the time left, in words:\n{grants}"
    );
    assert!(has_local_time(&grants), "{grants}");
    let short = grants
        .split_whitespace()
        .find(|w| one_id.replace('-', "").starts_with(w) && w.len() >= 8)
        .unwrap_or_else(|| panic!("no short id of {one_id} in\n{grants}"))
        .to_owned();
    let shown = d.json(&d.alice, &["grants", "show", &short]);
    assert_eq!(str_of(&shown, "id"), one_id);
    assert_eq!(str_of(&shown, "identity_name"), "Alice Andersen");

    let requests = d.ok(&d.alice, &["requests"]);
    assert!(requests.contains("Alice Andersen (E1001)"), "{requests}");
    assert!(requests.contains(" 1h "), "{requests}");
    assert!(!requests.contains("3600s"), "{requests}");
    assert!(!requests.contains(&two_id), "{requests}");
    assert!(has_local_time(&requests), "{requests}");
    for line in requests
        .lines()
        .filter(|l| l.contains("CET") || l.contains("CEST"))
    {
        assert!(
            !line.contains(".0") && !line.contains('.'),
            "fractions of a second: {line}"
        );
    }

    // The start of an id that two requests share is refused, listing both; one that
    // matches nothing says so.
    let common = one["id"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .chars()
        .zip(two_id.replace('-', "").chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect::<String>();
    if common.len() >= 4 {
        let ambiguous = d.run(&d.alice, &["requests", "show", &common]);
        assert_eq!(ambiguous.status.code(), Some(1), "{}", text(&ambiguous));
        let err = String::from_utf8_lossy(&ambiguous.stderr);
        assert!(
            err.contains(&format!(
                "2 requests have an id starting with {common}; give more of it"
            )) && err.contains("read on session-cache for Alice Andersen (E1001)")
                && err.contains("read on analytics-db for Alice Andersen (E1001)"),
            "{err}"
        );
    }
    let none = d.run(&d.alice, &["grants", "show", "ffffffff"]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
    assert!(
        String::from_utf8_lossy(&none.stderr)
            .contains("no grant you can see has an id starting with ffffffff"),
        "{}",
        text(&none)
    );

    // Durations in words where policy is explained.
    let explained = d.ok(
        &d.alice,
        &["access", "explain", "alice", "session-cache", "read"],
    );
    assert!(explained.contains(", 4h max,"), "{explained}");
    assert!(!explained.contains("14400s"), "{explained}");
}
