//! Compile errors: each kind of mistake gives its file, line and a clear message, and a
//! directory with several mistakes reports them all, sorted by file then line.

use warden_core::policy::{CompileOptions, compile_with};

use crate::support::{BASE, errors, render_errors, source};

/// Errors of `text` as `t.toml`, next to the valid `BASE` as `base.toml`.
fn with_base(text: &str) -> Vec<String> {
    errors(&[("t.toml", text), ("base.toml", BASE)])
}

/// An eligibility rule for group `sec` on any resource, with `extra` lines added.
fn rule(extra: &str) -> String {
    format!(
        "[[eligibility]]\nname = \"r\"\nwho = \"group:sec\"\nroles = [\"read\"]\nresources = {{}}\nmax_duration = \"1h\"\napproval = \"standard\"\n{extra}\n"
    )
}

#[test]
fn toml_syntax_error() {
    assert_eq!(
        with_base("[[resource]\nname = \"x\""),
        ["t.toml:1: TOML syntax error: unclosed array table, expected `]`"]
    );
    assert_eq!(
        with_base("[[group]]\nname = \"x\"\nmembers = [\"E1\"\n"),
        ["t.toml:3: TOML syntax error: unclosed array, expected `]`"]
    );
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(
        with_base("\n[[resources]]\nname = \"x\"\n"),
        [
            "t.toml:2: unknown key `resources`; a policy file holds [[resource]], [[role]], [[group]], [[birthright]], [[eligibility]], [[approval]]"
        ]
    );
    assert_eq!(
        with_base(
            "[[role]]\nkind = \"postgres\"\nname = \"x\"\nprivilege = \"read\"\ncolour = \"red\"\n"
        ),
        [
            "t.toml:5: in role `x`: unknown field `colour`, expected one of `kind`, `name`, `privilege`, `description`, `member_of`, `login`, `grants`, `acl`, `principals`, `extensions`, `force_command`"
        ]
    );
    assert_eq!(
        with_base(&rule("resources2 = {}")),
        [
            "t.toml:8: in eligibility `r`: unknown field `resources2`, expected one of `name`, `who`, `roles`, `resources`, `max_duration`, `approval`, `ticket`, `hours`, `when`"
        ]
    );
    assert_eq!(
        with_base(
            "[[eligibility]]\nname = \"r\"\nwho = \"group:sec\"\nroles = [\"read\"]\nresources = { kind = [\"postgres\"] }\nmax_duration = \"1h\"\napproval = \"standard\"\n"
        ),
        [
            "t.toml:5: in eligibility `r`: unknown field `kind`, expected one of `kinds`, `tiers`, `environments`, `tags`, `names` (in `resources`)"
        ]
    );
    assert_eq!(
        with_base("resource = \"x\"\n"),
        ["t.toml:1: `resource` must be an array of tables, written [[resource]]"]
    );
}

#[test]
fn missing_required_key() {
    assert_eq!(
        with_base(
            "\n[[approval]]\nname = \"a\"\nauto_below = 1\ndual_from = 2\napprovers = [\"manager\"]\nsecurity_group = \"sec\"\n"
        ),
        ["t.toml:2: in approval `a`: missing field `pending_timeout`"]
    );
    assert_eq!(
        with_base(
            "[[eligibility]]\nname = \"r\"\nwho = \"group:sec\"\nroles = [\"read\"]\nmax_duration = \"1h\"\napproval = \"standard\"\n"
        ),
        ["t.toml:1: in eligibility `r`: missing field `resources`"]
    );
}

#[test]
fn wrong_value_type() {
    assert_eq!(
        with_base(
            "[[resource]]\nname = \"x\"\nkind = \"postgres\"\nconnection = \"c\"\nenvironment = \"prod\"\ntier = \"zero\"\nowner = \"group:sec\"\n"
        ),
        ["t.toml:6: in resource `x`: invalid type: string \"zero\", expected i64 (in `tier`)"]
    );
}

#[test]
fn duplicate_names_across_files() {
    assert_eq!(
        with_base("\n[[group]]\nname = \"sec\"\nmembers = [\"E5\"]\n"),
        ["t.toml:3: duplicate group name `sec` (first defined at base.toml:106)"]
    );
    assert_eq!(
        errors(&[
            ("base.toml", BASE),
            ("a.toml", &rule("")),
            ("b.toml", &rule(""))
        ]),
        ["b.toml:2: duplicate eligibility rule name `r` (first defined at a.toml:2)"]
    );
    assert_eq!(
        with_base("[[role]]\nkind = \"postgres\"\nname = \"read\"\nprivilege = \"read\"\n"),
        ["t.toml:3: duplicate role `read` for kind postgres (first defined at base.toml:56)"]
    );
}

#[test]
fn dangling_references() {
    let text = r#"
[[eligibility]]
name = "r"
who = "group:nobody"
roles = ["read"]
resources = { names = ["nowhere"] }
max_duration = "1h"
approval = "lenient"

[[resource]]
name = "x"
kind = "postgres"
connection = "c"
environment = "prod"
tier = 1
owner = "group:ghosts"

[[birthright]]
name = "b"
who = "everyone"
grants = [{ resource = "atlantis", role = "read" }, { resource = "cache", role = "write" }]

[[approval]]
name = "a"
auto_below = 1
dual_from = 2
approvers = ["manager", "group:phantoms"]
security_group = "secu"
pending_timeout = "1h"
"#;
    assert_eq!(
        with_base(text),
        [
            "t.toml:4: who refers to unknown group `nobody`",
            "t.toml:6: resources.names refers to unknown resource `nowhere`",
            "t.toml:8: approval refers to unknown approval `lenient`",
            "t.toml:16: owner refers to unknown group `ghosts`",
            "t.toml:21: grant refers to unknown resource `atlantis`",
            "t.toml:21: grant refers to unknown role `write` for redis resources",
            "t.toml:27: approver refers to unknown group `phantoms`",
            "t.toml:28: security_group refers to unknown group `secu`",
        ]
    );
}

#[test]
fn roles_must_exist_for_the_kinds_a_rule_reaches() {
    assert_eq!(
        with_base(
            "[[eligibility]]\nname = \"r\"\nwho = \"group:sec\"\nroles = [\"login\"]\nresources = { kinds = [\"postgres\", \"redis\"] }\nmax_duration = \"1h\"\napproval = \"standard\"\n"
        ),
        ["t.toml:4: unknown role `login`: no such role for postgres, redis resources"]
    );
    assert_eq!(
        with_base(
            "[[eligibility]]\nname = \"r\"\nwho = \"group:sec\"\nroles = [\"login\"]\nresources = { names = [\"cache\"] }\nmax_duration = \"1h\"\napproval = \"standard\"\n"
        ),
        ["t.toml:4: unknown role `login`: no such role for redis resources"]
    );
}

#[test]
fn tier_out_of_range() {
    assert_eq!(
        with_base(
            "[[resource]]\nname = \"x\"\nkind = \"postgres\"\nconnection = \"c\"\nenvironment = \"prod\"\ntier = 4\nowner = \"group:sec\"\n"
        ),
        ["t.toml:6: tier 4 is out of range; use 0 (most sensitive) to 3"]
    );
    assert_eq!(
        with_base(
            "[[eligibility]]\nname = \"r\"\nwho = \"group:sec\"\nroles = [\"read\"]\nresources = { tiers = [0, -1] }\nmax_duration = \"1h\"\napproval = \"standard\"\n"
        ),
        ["t.toml:5: resources.tiers: tier -1 is out of range; use 0 to 3"]
    );
}

#[test]
fn bad_durations() {
    let bad = |d: &str| with_base(&rule("").replace("\"1h\"", &format!("{d:?}")));
    assert_eq!(
        bad("4 hours"),
        [
            "t.toml:6: max_duration: bad duration \"4 hours\"; write it like \"30m\", \"4h\", \"1d\" or \"1h30m\""
        ]
    );
    assert_eq!(
        bad("8d"),
        ["t.toml:6: max_duration: duration \"8d\" is longer than the maximum of 7d"]
    );
    assert_eq!(
        bad("0m"),
        ["t.toml:6: max_duration: duration \"0m\" must be more than zero"]
    );
    assert_eq!(
        with_base(
            "[[approval]]\nname = \"a\"\nauto_below = 1\ndual_from = 2\napprovers = [\"manager\"]\nsecurity_group = \"sec\"\npending_timeout = \"soon\"\n"
        ),
        [
            "t.toml:7: pending_timeout: bad duration \"soon\"; write it like \"30m\", \"4h\", \"1d\" or \"1h30m\""
        ]
    );
}

#[test]
fn birthright_cannot_grant_admin() {
    assert_eq!(
        with_base(
            "[[birthright]]\nname = \"b\"\nwho = \"everyone\"\ngrants = [\n  { resource = \"cache\", role = \"read\" },\n  { resource = \"pg-stage\", role = \"admin\" },\n]\n"
        ),
        [
            "t.toml:6: birthright cannot grant admin role `admin` on `pg-stage`: standing access must be read or write; make it an eligibility rule"
        ]
    );
}

#[test]
fn cedar_syntax_errors() {
    assert_eq!(
        with_base(&rule("when = 'context.hour >'")),
        ["t.toml:8: Cedar syntax error in `when`: unexpected end of input"]
    );
    assert_eq!(
        with_base(&rule(
            "when = 'true }; permit(principal, action, resource) when { true'"
        )),
        ["t.toml:8: Cedar syntax error in `when`: unexpected token `}`"],
        "a condition cannot close its block and add policies"
    );
    assert_eq!(
        with_base(&rule("when = '  '")),
        ["t.toml:8: `when` must not be empty; leave the key out for no condition"]
    );
}

#[test]
fn cedar_type_errors_under_strict_validation() {
    assert_eq!(
        with_base(&rule("when = 'context.weekday < 3'")),
        ["t.toml:8: Cedar type error in `when`: unexpected type: expected Long but saw String"]
    );
    assert_eq!(
        with_base(&rule("when = 'context.mfa_age < 900'")),
        [
            "t.toml:8: Cedar type error in `when`: attribute `mfa_age` in context for Warden::Action::\"request\" not found (did you mean `mfa_age_secs`?)"
        ]
    );
    assert_eq!(
        with_base(&rule("when = 'context.mfa_age_secs < 900'")),
        [
            "t.toml:8: Cedar type error in `when`: unable to guarantee safety of access to optional attribute `mfa_age_secs` in context for Warden::Action::\"request\" (try testing for the attribute's presence with `context has mfa_age_secs && ..`)"
        ]
    );
    assert_eq!(
        with_base(&rule("when = 'principal.salary > 100'")),
        [
            "t.toml:8: Cedar type error in `when`: attribute `salary` on entity type `Warden::Identity` not found (did you mean `email`?)"
        ]
    );
}

#[test]
fn bad_hours() {
    let hours = |h: &str| with_base(&rule(&format!("hours = {h}")));
    assert_eq!(
        hours("{ days = [\"mon\"], from = \"19:00\", to = \"07:00\" }"),
        [
            "t.toml:8: hours.from (19:00) must be before hours.to (07:00); a window cannot cross midnight"
        ]
    );
    assert_eq!(
        hours("{ days = [\"monday\"], from = \"07:00\", to = \"19:00\" }"),
        ["t.toml:8: unknown day \"monday\" in hours.days; use mon, tue, wed, thu, fri, sat, sun"]
    );
    assert_eq!(
        hours("{ days = [\"mon\"], from = \"7am\", to = \"19:00\" }"),
        ["t.toml:8: hours.from: bad time \"7am\"; write it as HH:MM, from 00:00 to 23:59"]
    );
    assert_eq!(
        hours("{ days = [\"mon\"], from = \"07:00\", to = \"19:00\", utc_offset = \"CET\" }"),
        [
            "t.toml:8: hours.utc_offset: bad UTC offset \"CET\"; write it as +HH:MM or -HH:MM, such as \"+01:00\""
        ]
    );
    assert_eq!(
        hours("{ days = [\"mon\"], from = \"07:00\" }"),
        ["t.toml:8: in eligibility `r`: missing field `to` (in `hours`)"]
    );
}

#[test]
fn group_needs_exactly_one_way_of_membership() {
    assert_eq!(
        with_base("[[group]]\nname = \"g\"\nmembers = [\"E1\"]\nexternal = \"G\"\n"),
        ["t.toml:1: group `g` must have exactly one of `members`, `rule` or `external` (it has 2)"]
    );
    assert_eq!(
        with_base("[[group]]\nname = \"g\"\n"),
        ["t.toml:1: group `g` must have exactly one of `members`, `rule` or `external` (it has 0)"]
    );
    assert_eq!(
        with_base("[[group]]\nname = \"g\"\nrule = { salary = \"high\" }\n"),
        [
            "t.toml:3: group `g` rule: unknown attribute `salary`; use one of employee_id, username, email, department, job_function, manager, location, status, kind"
        ]
    );
    let bad_member = with_base("[[group]]\nname = \"g\"\nmembers = [\"E 1\"]\n");
    assert_eq!(bad_member.len(), 1);
    assert!(
        bad_member[0]
            .starts_with("t.toml:3: group `g` member \"E 1\": character ' ' is not allowed"),
        "{bad_member:?}"
    );
}

#[test]
fn names_kinds_and_principals() {
    assert_eq!(
        with_base(
            "[[resource]]\nname = \"Payments\"\nkind = \"oracle\"\nconnection = \"c\"\nenvironment = \"prod\"\ntier = 1\nowner = \"everyone\"\n"
        ),
        [
            "t.toml:2: resource name \"Payments\": character 'P' is not allowed; use a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            "t.toml:3: unknown resource kind `oracle`; use one of postgres, mariadb, redis, ssh",
            "t.toml:7: owner \"everyone\" must be \"group:NAME\" or \"identity:EMPLOYEE_ID\"",
        ]
    );
    assert_eq!(
        with_base("[[role]]\nkind = \"redis\"\nname = \"root\"\nprivilege = \"god\"\n"),
        ["t.toml:4: unknown privilege `god`; use read, write or admin"]
    );
    assert_eq!(
        with_base(&rule("ticket = \"maybe\"").replace("group:sec", "sec")),
        [
            "t.toml:3: who \"sec\" must be \"group:NAME\", \"identity:EMPLOYEE_ID\" or \"everyone\"",
            "t.toml:8: ticket must be \"required\" or \"optional\", not \"maybe\"",
        ]
    );
    assert_eq!(
        with_base(
            "[[approval]]\nname = \"a\"\nauto_below = 50\ndual_from = 20\napprovers = [\"manager\", \"manager\"]\nsecurity_group = \"sec\"\npending_timeout = \"1h\"\n"
        ),
        [
            "t.toml:4: dual_from (20) must not be below auto_below (50)",
            "t.toml:5: approver \"manager\" is listed twice",
        ]
    );
}

#[test]
fn every_error_in_a_directory_is_reported_in_order() {
    let a = "[[group]]\nname = \"g\"\n\n[[resource]]\nname = \"x\"\n";
    let b = format!(
        "{}\n[[birthright]]\nname = \"b\"\nwho = \"group:nobody\"\ngrants = [{{ resource = \"cache\", role = \"read\" }}]\n",
        rule("when = 'context.risk == \"high\"'")
    );
    let c = "[[role]\n";
    assert_eq!(
        errors(&[
            ("c.toml", c),
            ("b.toml", &b),
            ("base.toml", BASE),
            ("a.toml", a)
        ]),
        [
            "a.toml:1: group `g` must have exactly one of `members`, `rule` or `external` (it has 0)",
            "a.toml:4: in resource `x`: missing field `kind`",
            "b.toml:8: Cedar type error in `when`: the types Long and String are not compatible (both operands to a `==` expression must have compatible types. Types must be exactly equal to be compatible)",
            "b.toml:8: Cedar type error in `when`: unable to guarantee safety of access to optional attribute `risk` in context for Warden::Action::\"request\" (try testing for the attribute's presence with `context has risk && ..`)",
            "b.toml:12: who refers to unknown group `nobody`",
            "c.toml:1: TOML syntax error: unclosed array table, expected `]`",
        ]
    );
}

#[test]
fn a_broken_definition_does_not_also_break_its_references() {
    // The group cannot be read; the rule using it is not reported a second time.
    let text = "[[group]]\nname = \"g\"\nmembers = \"E1\"\n\n[[eligibility]]\nname = \"r\"\nwho = \"group:g\"\nroles = [\"read\"]\nresources = {}\nmax_duration = \"1h\"\napproval = \"standard\"\n";
    assert_eq!(
        with_base(text),
        ["t.toml:3: in group `g`: invalid type: string \"E1\", expected a sequence (in `members`)"]
    );
}

#[test]
fn errors_display_as_file_line_message() {
    let e = warden_core::policy::PolicyError {
        file: "a.toml".into(),
        line: 3,
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "a.toml:3: bad");
}

#[test]
fn the_documented_conditions_compile() {
    for when in [
        r#"context.privilege != "admin" || resource.tier != 0 || (context has mfa_age_secs && context.mfa_age_secs < 900)"#,
        r#"context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8"))"#,
        r#"principal.kind != "contractor" || context.duration_secs <= 3600"#,
        r#"resource.hasTag("team") && resource.getTag("team") == "payments""#,
        r#"principal.groups.contains("sec") && context.hour >= 7 && context.weekday != "sun""#,
    ] {
        assert_eq!(
            with_base(&rule(&format!("when = '{when}'"))),
            Vec::<String>::new(),
            "{when}"
        );
    }
}

fn role(kind: &str, extra: &str) -> String {
    format!("[[role]]\nkind = \"{kind}\"\nname = \"x\"\nprivilege = \"read\"\n{extra}\n")
}

#[test]
fn target_mappings_belong_to_their_kind_and_refuse_injection() {
    assert_eq!(
        with_base(&role("redis", "member_of = [\"app_read\"]")),
        ["t.toml:5: `member_of` applies to postgres roles, not redis roles"]
    );
    assert_eq!(
        with_base(&role(
            "postgres",
            "member_of = [\"app\\\"; DROP ROLE x; --\"]"
        )),
        [
            "t.toml:5: `member_of`: \"app\\\"; DROP ROLE x; --\" is not a PostgreSQL role name Warden accepts (1 to 63 of a-z 0-9 _, not starting with a digit)"
        ]
    );
    assert_eq!(
        with_base(&role("postgres", "login = \"shared\"\nmember_of = [\"a\"]")),
        ["t.toml:5: `login`: unknown value \"shared\"; use \"dynamic\" or \"own\""]
    );
    let principals = with_base(&role("ssh", "principals = [\"deploy,root\"]"));
    assert_eq!(principals.len(), 1, "{principals:?}");
    assert!(
        principals[0].starts_with("t.toml:5: `principals`: \"deploy,root\" is not a principal"),
        "{principals:?}"
    );
    let acl = with_base(&role("redis", "acl = [\"+get\", \">secret\"]"));
    assert!(
        acl[0].starts_with("t.toml:5: `acl`: \">secret\" is not an ACL rule"),
        "{acl:?}"
    );
    let grants = with_base(&role(
        "mariadb",
        "grants = [{ privileges = [\"SELECT\", \"GRANT OPTION\"], on = \"app.*; DROP DATABASE x\" }]",
    ));
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(
        grants
            .iter()
            .any(|e| e.contains("unknown MariaDB privilege \"GRANT OPTION\""))
    );
    assert!(
        grants
            .iter()
            .any(|e| e.contains("is not `*.*`, `db.*` or `db.table`"))
    );
    assert_eq!(
        with_base(&role("ssh", "extensions = [\"permit-pty\"]")),
        ["t.toml:1: an ssh role with `extensions` or `force_command` needs `principals`"]
    );
}

#[test]
fn a_resources_drift_setting_is_report_or_remove() {
    let bad = with_base(
        "[[resource]]\nname = \"x\"\nkind = \"redis\"\nconnection = \"c\"\nenvironment = \"prod\"\ntier = 1\nowner = \"group:leads\"\ndrift = \"delete\"\n",
    );
    assert_eq!(
        bad,
        ["t.toml:8: `drift`: unknown value \"delete\"; use \"report\" or \"remove\""]
    );
}

/// Errors of an approval policy `a` in `t.toml` with `ticket_check_url = URL`, compiled
/// with `options`.
fn ticket_url_errors(url: &str, options: CompileOptions) -> Vec<String> {
    let text = format!(
        "[[approval]]\nname = \"a\"\nauto_below = 1\ndual_from = 2\napprovers = [\"manager\"]\nsecurity_group = \"sec\"\npending_timeout = \"1h\"\nticket_check_url = \"{url}\"\n"
    );
    let sources = [source("t.toml", &text), source("base.toml", BASE)];
    match compile_with(&sources, options) {
        Ok(_) => Vec::new(),
        Err(errors) => render_errors(&errors),
    }
}

/// Issue: policy could point the ticket check at loopback or link-local addresses, which
/// the server then called on every request.
#[test]
fn a_ticket_check_on_an_internal_address_is_refused_unless_the_server_allows_it() {
    let strict = CompileOptions {
        refuse_internal_ticket_check: true,
    };
    for (url, host, why) in [
        (
            "http://127.0.0.1:8080/t/{ticket}",
            "127.0.0.1",
            "in loopback (127.0.0.0/8)",
        ),
        // The parser the server's client uses reads these as 127.0.0.1 too.
        (
            "http://127.1/t/{ticket}",
            "127.0.0.1",
            "in loopback (127.0.0.0/8)",
        ),
        (
            "http://0x7f000001/t/{ticket}",
            "127.0.0.1",
            "in loopback (127.0.0.0/8)",
        ),
        (
            "http://169.254.169.254/latest/{ticket}",
            "169.254.169.254",
            "in link-local (169.254.0.0/16)",
        ),
        (
            "https://[::7f00:1]/{ticket}",
            "[::7f00:1]",
            "in IPv4-compatible (::/96, deprecated)",
        ),
        (
            "https://[64:ff9b::a9fe:a9fe]/{ticket}",
            "[64:ff9b::a9fe:a9fe]",
            "the NAT64 form of 169.254.169.254, in link-local (169.254.0.0/16)",
        ),
        (
            "https://[2002:7f00:1::]/{ticket}",
            "[2002:7f00:1::]",
            "the 6to4 form of 127.0.0.1, in loopback (127.0.0.0/8)",
        ),
        (
            "https://198.18.0.1/{ticket}",
            "198.18.0.1",
            "in benchmarking (198.18.0.0/15)",
        ),
    ] {
        assert_eq!(
            ticket_url_errors(url, strict),
            [format!(
                "t.toml:8: ticket_check_url: host {host} is {why}; the server calls internal addresses for ticket checks only with [tickets] allow_internal = true in its configuration"
            )],
            "{url}"
        );
        // A server that allows internal trackers, and a client without the server's
        // configuration, accept it.
        assert_eq!(
            ticket_url_errors(url, CompileOptions::default()),
            Vec::<String>::new(),
            "{url}"
        );
    }
    // Names are judged by the server when it connects.
    for url in [
        "https://jira.example.com/rest/api/2/issue/{ticket}",
        "http://localhost:8080/t/{ticket}",
        "https://8.8.8.8/t/{ticket}",
        "https://tracker.example/search?q={ticket}",
    ] {
        assert_eq!(
            ticket_url_errors(url, strict),
            Vec::<String>::new(),
            "{url}"
        );
    }
}

#[test]
fn a_ticket_check_url_is_an_http_url_with_the_ticket_in_its_path_or_query() {
    let strict = CompileOptions {
        refuse_internal_ticket_check: true,
    };
    for (url, message) in [
        (
            "https://tracker.example/t/",
            "ticket_check_url must be an http(s) URL containing {ticket}",
        ),
        (
            "ftp://tracker.example/{ticket}",
            "ticket_check_url must be an http(s) URL containing {ticket}",
        ),
        (
            "https://{ticket}/t",
            "ticket_check_url must have {ticket} in its path or query, not in its host, port or credentials",
        ),
        (
            "https://{ticket}.tracker.example/t",
            "ticket_check_url must have {ticket} in its path or query, not in its host, port or credentials",
        ),
        (
            "https://u:{ticket}@tracker.example/t",
            "ticket_check_url must have {ticket} in its path or query, not in its host, port or credentials",
        ),
        (
            "https://tracker.example:{ticket}/t",
            "ticket_check_url is not a valid URL (invalid port number)",
        ),
    ] {
        assert_eq!(
            ticket_url_errors(url, strict),
            [format!("t.toml:8: {message}")],
            "{url}"
        );
    }
}
