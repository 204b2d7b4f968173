//! The demo policy in `demo/policy/` compiles cleanly and does what it says for the demo
//! HR population.

use std::collections::BTreeMap;

use time::macros::datetime;
use warden_core::identity::{EmployeeId, HrRecord, IdentityKind};
use warden_core::policy::{Policy, RequestContext, Route};

use crate::support::{TODAY, WEDNESDAY_10, check, compile, person};

const FILES: [(&str, &str); 5] = [
    (
        "access.toml",
        include_str!("../../../../demo/policy/access.toml"),
    ),
    (
        "approvals.toml",
        include_str!("../../../../demo/policy/approvals.toml"),
    ),
    (
        "groups.toml",
        include_str!("../../../../demo/policy/groups.toml"),
    ),
    (
        "resources.toml",
        include_str!("../../../../demo/policy/resources.toml"),
    ),
    (
        "roles.toml",
        include_str!("../../../../demo/policy/roles.toml"),
    ),
];

fn demo() -> Policy {
    compile(&FILES)
}

fn with_manager(mut r: HrRecord, manager: &str) -> HrRecord {
    r.manager = Some(EmployeeId::parse(manager).unwrap());
    r
}

/// The demo HR population, by username.
fn people() -> BTreeMap<&'static str, HrRecord> {
    let mut vince = with_manager(person("V2001", "Vendors", "DB Support"), "E1002");
    vince.kind = IdentityKind::Vendor;
    BTreeMap::from([
        ("carol", person("E1000", "Engineering", "Executive")),
        (
            "alice",
            with_manager(person("E1001", "Platform", "SRE"), "E1002"),
        ),
        (
            "bob",
            with_manager(person("E1002", "Platform", "SRE Lead"), "E1000"),
        ),
        (
            "sam",
            with_manager(person("E1003", "Security", "Security Engineer"), "E1000"),
        ),
        (
            "audrey",
            with_manager(person("E1004", "Compliance", "Auditor"), "E1000"),
        ),
        (
            "dave",
            with_manager(person("E1005", "Payments", "Developer"), "E1006"),
        ),
        (
            "paula",
            with_manager(person("E1006", "Payments", "Engineering Manager"), "E1000"),
        ),
        ("vince", vince),
    ])
}

#[test]
fn the_demo_policy_compiles_cleanly() {
    let policy = demo();
    assert_eq!(policy.resources().count(), 6);
    assert_eq!(policy.rules().count(), 6);
    assert_eq!(
        format!("{policy:?}"),
        "Policy { resources: 6, roles: 10, groups: 8, birthrights: 1, eligibility_rules: 6, approvals: 3 }"
    );
}

#[test]
fn demo_groups_and_birthright() {
    let policy = demo();
    let people = people();
    let groups = |name: &str| {
        policy
            .groups_of(&people[name])
            .into_iter()
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(groups("carol"), "engineering");
    assert_eq!(groups("alice"), "engineering,sre");
    assert_eq!(groups("bob"), "engineering,sre,sre-leads");
    assert_eq!(groups("sam"), "security");
    assert_eq!(groups("audrey"), "auditors");
    assert_eq!(groups("dave"), "engineering,payments-developers");
    assert_eq!(groups("paula"), "engineering,payments-leads");
    assert_eq!(groups("vince"), "vendors");
    let wiki = |name: &str| {
        policy
            .birthright(&people[name], TODAY)
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(wiki("alice"), ["read on wiki-db"]);
    assert!(wiki("vince").is_empty() && wiki("sam").is_empty());
}

#[test]
fn demo_decisions() {
    let policy = demo();
    let people = people();
    let ctx = RequestContext::at(WEDNESDAY_10);
    let ticket = RequestContext {
        ticket: Some("CHG-1".into()),
        ..ctx.clone()
    };
    let fresh_mfa = RequestContext {
        mfa_age_secs: Some(60),
        ..ticket.clone()
    };
    let saturday = RequestContext {
        ticket: Some("CHG-1".into()),
        ..RequestContext::at(datetime!(2026-03-07 10:00 UTC))
    };
    let cases: &[(&str, &str, &str, &RequestContext, &str)] = &[
        (
            "alice",
            "payments-db",
            "read",
            &ticket,
            "eligible sre-prod-data-critical max=4h approval=standard ticket tier=0 owner=group:payments-leads",
        ),
        (
            "alice",
            "payments-db",
            "admin",
            &ticket,
            "no: rule sre-prod-data-critical: condition `context.privilege != \"admin\" || resource.tier != 0 || (context has mfa_age_secs && context.mfa_age_secs < 900)` is false",
        ),
        (
            "alice",
            "payments-db",
            "admin",
            &fresh_mfa,
            "eligible sre-prod-data-critical max=4h approval=standard ticket tier=0 owner=group:payments-leads",
        ),
        (
            "alice",
            "orders-db",
            "admin",
            &ticket,
            "eligible sre-prod-data-critical max=4h approval=standard ticket tier=1 owner=group:payments-leads",
        ),
        (
            "alice",
            "session-cache",
            "admin",
            &ctx,
            "eligible sre-prod-data max=4h approval=standard tier=2 owner=group:sre-leads",
        ),
        (
            "bob",
            "bastion",
            "root",
            &ticket,
            "eligible sre-bastion max=4h approval=standard ticket tier=1 owner=group:sre-leads",
        ),
        (
            "dave",
            "orders-db",
            "read",
            &ctx,
            "eligible payments-orders-read max=8h approval=low-risk tier=1 owner=group:payments-leads",
        ),
        (
            "dave",
            "payments-db",
            "read",
            &ctx,
            concat!(
                "not covered: no eligibility rule covers E1005 for read on payments-db",
                " | rule sre-prod-data-critical (access.toml:12) covers read on payments-db for",
                " group:sre, which does not include E1005 (job_function is Developer; rule wants",
                " one of SRE, SRE Lead) | rule security-read-all (access.toml:61) covers read on",
                " payments-db for group:security, which does not include E1005 (department is",
                " Payments; rule wants Security)"
            ),
        ),
        (
            "vince",
            "analytics-db",
            "read",
            &ticket,
            "eligible vendor-analytics-read max=4h approval=vendor ticket tier=2 owner=group:sre-leads",
        ),
        (
            "vince",
            "analytics-db",
            "read",
            &saturday,
            "no: rule vendor-analytics-read: outside allowed hours mon-fri 09:00-17:00 +00:00",
        ),
        (
            "vince",
            "analytics-db",
            "write",
            &ticket,
            concat!(
                "not covered: no eligibility rule covers V2001 for write on analytics-db",
                " | rule sre-prod-data (access.toml:25) covers write on analytics-db for",
                " group:sre, which does not include V2001 (job_function is DB Support; rule",
                " wants one of SRE, SRE Lead)"
            ),
        ),
        (
            "sam",
            "payments-db",
            "read",
            &ctx,
            "eligible security-read-all max=4h approval=standard tier=0 owner=group:payments-leads",
        ),
        (
            "sam",
            "bastion",
            "login",
            &ctx,
            concat!(
                "not covered: no eligibility rule covers E1003 for login on bastion",
                " | rule sre-bastion (access.toml:34) covers login on bastion for group:sre,",
                " which does not include E1003 (job_function is Security Engineer; rule wants",
                " one of SRE, SRE Lead)"
            ),
        ),
        (
            "carol",
            "wiki-db",
            "admin",
            &ctx,
            concat!(
                "not covered: no eligibility rule covers E1000 for admin on wiki-db",
                " | no eligibility rule covers admin on wiki-db for anyone"
            ),
        ),
    ];
    for (who, resource, role, context, want) in cases {
        let got = check(&policy, &people[who], resource, role, None, context);
        assert_eq!(got, *want, "{who} {role} on {resource}");
    }
    let vendor = policy.approval("vendor").unwrap();
    assert_eq!(
        vendor.route(2, 0),
        Route::Dual {
            security_required: false
        }
    );
    assert_eq!(
        policy.approval("standard").unwrap().route(0, 5),
        Route::Dual {
            security_required: true
        }
    );
}
