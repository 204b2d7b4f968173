//! Unit tests of the MariaDB connector's pure parts: quoting, names, `SHOW GRANTS` parsing
//! and holdings.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::grants::*;
use super::*;

#[test]
fn literals_are_escaped() {
    assert_eq!(quote_str("abc"), "'abc'");
    assert_eq!(quote_str("a'b"), "'a''b'");
    assert_eq!(quote_str("a\\'; DROP"), "'a\\\\''; DROP'");
    assert_eq!(quote_str("a\0b\nc\rd\u{1a}"), "'a\\0b\\nc\\rd\\Z'");
    assert_eq!(quote_ident("a`b"), "`a``b`");
}

#[test]
fn account_names_and_hosts_are_checked() {
    assert!(check_account_name("w_e1001_read_0a1b2c3d").is_ok());
    for bad in [
        "w_",
        "root",
        "recorded:abc",
        "w_a'b",
        "w_a`b",
        "w_a\nb",
        "w_A",
        "w_a b",
    ] {
        assert!(check_account_name(bad).is_err(), "{bad:?}");
    }
    for good in ["%", "localhost", "10.0.%", "db-1.example.com"] {
        assert!(check_user_host(good).is_ok(), "{good:?}");
    }
    for bad in ["", "%'; DROP", "a b", "a@b", "a`b"] {
        assert!(check_user_host(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn accounts_split_at_the_last_at_and_default_to_any_host() {
    assert_eq!(split_account("app").unwrap(), ("app", "%"));
    assert_eq!(
        split_account("app@localhost").unwrap(),
        ("app", "localhost")
    );
    assert_eq!(split_account("a@b@10.0.%").unwrap(), ("a@b", "10.0.%"));
    for bad in [
        "",
        "@%",
        "app@",
        "app@a b",
        "app@x'; DROP",
        "a\nb@%",
        "app@`h`",
    ] {
        assert!(split_account(bad).is_err(), "{bad:?}");
    }
    assert!(split_account(&"x".repeat(129)).is_err());
}

#[test]
fn show_grants_lines_parse() {
    let l = parse_grant_line(
        "GRANT ALL PRIVILEGES ON *.* TO `zz`@`%` IDENTIFIED BY PASSWORD '*D82' WITH GRANT OPTION",
    )
    .unwrap();
    assert_eq!(
        l,
        GrantLine::Privileges {
            privileges: vec!["ALL PRIVILEGES".into()],
            object: Object::Global,
            grant_option: true
        }
    );
    let l = parse_grant_line("GRANT SELECT (`Host`, `User`), INSERT ON `mysql`.`user` TO `zz`@`%`")
        .unwrap();
    assert_eq!(
        l,
        GrantLine::Privileges {
            privileges: vec!["SELECT (Host, User)".into(), "INSERT".into()],
            object: Object::Table("mysql".into(), "user".into()),
            grant_option: false
        }
    );
    assert_eq!(
        parse_grant_line("GRANT `my role` TO `zz`@`%`"),
        Some(GrantLine::Role("my role".into()))
    );
    assert_eq!(
        parse_grant_line("GRANT SELECT ON `a ON b`.* TO `zz`@`%`"),
        Some(GrantLine::Privileges {
            privileges: vec!["SELECT".into()],
            object: Object::Schema("a ON b".into()),
            grant_option: false
        })
    );
    assert_eq!(
        parse_grant_line("GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION"),
        Some(GrantLine::Privileges {
            privileges: vec!["PROXY".into()],
            object: Object::Proxy(String::new(), "%".into()),
            grant_option: true
        })
    );
    assert_eq!(parse_grant_line("SET DEFAULT ROLE `r` FOR `zz`@`%`"), None);
}

#[test]
fn holdings_round_trip_to_statements() {
    let lines = vec![
        parse_grant_line("GRANT USAGE ON *.* TO `zz`@`%`").unwrap(),
        parse_grant_line("GRANT SUPER, PROCESS ON *.* TO `zz`@`%`").unwrap(),
        parse_grant_line("GRANT SELECT ON `mysql`.* TO `zz`@`%`").unwrap(),
        parse_grant_line("GRANT SELECT (`Host`) ON `mysql`.`user` TO `zz`@`%`").unwrap(),
        parse_grant_line("GRANT SELECT ON `app`.* TO `zz`@`%` WITH GRANT OPTION").unwrap(),
        parse_grant_line("GRANT INSERT ON `my-db`.* TO `zz`@`%` WITH GRANT OPTION").unwrap(),
        parse_grant_line("GRANT PROXY ON ``@`%` TO `zz`@`%`").unwrap(),
        parse_grant_line("GRANT `admins` TO `zz`@`%`").unwrap(),
        parse_grant_line("GRANT `readers` TO `zz`@`%`").unwrap(),
    ];
    let roles = BTreeSet::from(["admins".to_owned()]);
    let held = privileged_holdings(&lines, &roles);
    assert_eq!(
        held,
        vec![
            "SUPER ON *.*",
            "PROCESS ON *.*",
            "SELECT ON mysql.*",
            "SELECT (Host) ON mysql.user",
            "GRANT OPTION ON app.*",
            "GRANT OPTION ON `my-db`.*",
            "PROXY ON ``@`%`",
            "ROLE admins",
        ]
    );
    let sql: Vec<String> = held
        .iter()
        .map(|h| match parse_holding(h).unwrap() {
            Holding::Privilege { privilege, object } => {
                format!("{privilege} ON {}", object.sql())
            }
            Holding::Role(r) => format!("ROLE {}", quote_ident(&r)),
        })
        .collect();
    assert_eq!(
        sql,
        vec![
            "SUPER ON *.*",
            "PROCESS ON *.*",
            "SELECT ON `mysql`.*",
            "SELECT (`Host`) ON `mysql`.`user`",
            "GRANT OPTION ON `app`.*",
            "GRANT OPTION ON `my-db`.*",
            "PROXY ON ''@'%'",
            "ROLE `admins`",
        ]
    );
    for bad in [
        "SELECT; DROP DATABASE x ON *.*",
        "SELECT ON *.*; DROP DATABASE x",
        "SELECT ON app.*, mysql.*",
        "ROLE a; DROP",
        "SELECT (a; b) ON mysql.user",
        "NOTAPRIV ON *.*",
        "SELECT",
    ] {
        assert!(parse_holding(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn every_holding_of_a_system_account_parses_back() {
    let lines: Vec<GrantLine> = [
        "GRANT ALL PRIVILEGES ON *.* TO `mysql`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION",
        "GRANT PROXY ON ``@`%` TO `mysql`@`localhost` WITH GRANT OPTION",
        "GRANT EXECUTE ON PROCEDURE `mysql`.`p` TO `mysql`@`localhost` WITH GRANT OPTION",
    ]
    .iter()
    .filter_map(|l| parse_grant_line(l))
    .collect();
    let held = privileged_holdings(&lines, &BTreeSet::new());
    assert_eq!(
        held,
        vec![
            "ALL PRIVILEGES ON *.*",
            "GRANT OPTION ON *.*",
            "PROXY ON ``@`%`"
        ]
    );
    for h in &held {
        assert!(parse_holding(h).is_ok(), "{h}");
    }
}

#[test]
fn privileged_roles_are_found_through_roles() {
    let mut roles = BTreeMap::new();
    roles.insert(
        "admins".to_owned(),
        vec![parse_grant_line("GRANT SUPER ON *.* TO `admins`").unwrap()],
    );
    roles.insert(
        "ops".to_owned(),
        vec![parse_grant_line("GRANT `admins` TO `ops`").unwrap()],
    );
    roles.insert(
        "readers".to_owned(),
        vec![parse_grant_line("GRANT SELECT ON `app`.* TO `readers`").unwrap()],
    );
    let p = privileged_roles(&roles);
    assert_eq!(p, BTreeSet::from(["admins".to_owned(), "ops".to_owned()]));
}

#[test]
fn holds_checks_every_privilege_on_the_object() {
    let lines = vec![parse_grant_line("GRANT SELECT, INSERT ON `app`.* TO `w`@`%`").unwrap()];
    let app = Object::Schema("app".into());
    assert!(holds(&lines, &["SELECT".into()], &app));
    assert!(!holds(&lines, &["DELETE".into()], &app));
    assert!(!holds(&lines, &["SELECT".into()], &Object::Global));
}
