//! Quorums as data: whether stored approvals satisfy a route (one helper), and whether the
//! people who exist could ever satisfy it (one helper). Among the cases: one person
//! counted twice under dual, and tier 0 approved by two people none of whom is from the
//! security group.

use warden_core::policy::{ApproverSource, Route};
use warden_core::request::{
    ApprovalCase, Approver, ApproverFacts, Need, Outcome, decision_state, has_possible_approvers,
    still_needs,
};

use crate::support::{
    DUAL, MANAGER, OWNERS, REQUESTER, SECURITY, SINGLE, TIER0, case, gone, id, member, vendor_case,
};

/// A stored approval: `who` as owner (`o`), security member (`s`), both (`os`), or
/// neither (`-`, which `check_approver` never stores).
fn approval(who: &str, capacity: &str) -> Approver {
    Approver {
        id: id(who),
        sources: if capacity.contains('o') {
            vec![ApproverSource::ResourceOwner]
        } else {
            Vec::new()
        },
        security: capacity.contains('s'),
    }
}

fn render(o: &Outcome) -> String {
    match o {
        Outcome::Approved => "approved".into(),
        Outcome::NeedsMore { missing } => {
            let m: Vec<&str> = missing
                .iter()
                .map(|n| match n {
                    Need::Approver => "approver",
                    Need::SecurityApprover => "security",
                })
                .collect();
            format!("needs {}", m.join(" + "))
        }
    }
}

/// Name, route, stored approvals as (who, capacity), expected outcome.
type StateCase<'a> = (&'a str, Route, &'a [(&'a str, &'a str)], &'a str);

fn check_state(cases: &[StateCase<'_>]) {
    let mut failures = Vec::new();
    for (name, route, approvals, want) in cases {
        let approvals: Vec<Approver> = approvals.iter().map(|(w, c)| approval(w, c)).collect();
        let got = render(&decision_state(*route, &approvals));
        if got != *want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn decision_state_cases() {
    check_state(&[
        ("auto needs nobody", Route::Auto, &[], "approved"),
        ("single, none yet", SINGLE, &[], "needs approver"),
        ("single, one", SINGLE, &[("A", "o")], "approved"),
        (
            "single, a capacity-less record counts for nothing",
            SINGLE,
            &[("A", "-")],
            "needs approver",
        ),
        (
            "single, security alone is no source",
            SINGLE,
            &[("S", "s")],
            "needs approver",
        ),
        ("dual, none yet", DUAL, &[], "needs approver + approver"),
        ("dual, one", DUAL, &[("A", "o")], "needs approver"),
        (
            "dual, two people",
            DUAL,
            &[("A", "o"), ("B", "o")],
            "approved",
        ),
        (
            "dual, one person recorded twice",
            DUAL,
            &[("A", "o"), ("A", "o")],
            "needs approver",
        ),
        (
            "dual, three people",
            DUAL,
            &[("A", "o"), ("B", "o"), ("C", "os")],
            "approved",
        ),
        ("tier 0, none yet", TIER0, &[], "needs security + approver"),
        ("tier 0, owner only", TIER0, &[("A", "o")], "needs security"),
        (
            "tier 0, security only",
            TIER0,
            &[("S", "s")],
            "needs approver",
        ),
        (
            "tier 0, owner and security",
            TIER0,
            &[("A", "o"), ("S", "s")],
            "approved",
        ),
        (
            "tier 0, security then owner",
            TIER0,
            &[("S", "s"), ("A", "o")],
            "approved",
        ),
        (
            "tier 0, two owners without security",
            TIER0,
            &[("A", "o"), ("B", "o")],
            "needs security",
        ),
        (
            "tier 0, one person in both capacities",
            TIER0,
            &[("A", "os")],
            "needs approver",
        ),
        (
            "tier 0, that person twice",
            TIER0,
            &[("A", "os"), ("A", "os")],
            "needs approver",
        ),
        (
            "tier 0, security owner and an owner",
            TIER0,
            &[("A", "os"), ("B", "o")],
            "approved",
        ),
        (
            "tier 0, security owner and security",
            TIER0,
            &[("A", "os"), ("S", "s")],
            "approved",
        ),
        (
            "tier 0, two security members outside the sources",
            TIER0,
            &[("S", "s"), ("T", "s")],
            "needs approver",
        ),
        (
            "tier 0, two security owners",
            TIER0,
            &[("A", "os"), ("B", "os")],
            "approved",
        ),
    ]);
}

fn check_possible(cases: Vec<(&str, ApprovalCase, Vec<ApproverFacts>, bool)>) {
    let mut failures = Vec::new();
    for (name, case, people, want) in cases {
        if has_possible_approvers(&case, &people) != want {
            failures.push(format!("{name}: want {want}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn possible_approvers_cases() {
    let manager = || member(MANAGER, &[]);
    let owner = || member("O1", &[OWNERS]);
    let sec = || member("S1", &[SECURITY]);
    check_possible(vec![
        ("auto needs nobody", case(Route::Auto), vec![], true),
        ("single with a manager", case(SINGLE), vec![manager()], true),
        ("single with nobody", case(SINGLE), vec![], false),
        (
            "single where only the requester owns",
            case(SINGLE),
            vec![member(REQUESTER, &[OWNERS])],
            false,
        ),
        (
            "single where the manager left",
            case(SINGLE),
            vec![gone(manager())],
            false,
        ),
        (
            "dual with one eligible person",
            case(DUAL),
            vec![manager(), member("X1", &[])],
            false,
        ),
        (
            "dual with manager and owner",
            case(DUAL),
            vec![manager(), owner()],
            true,
        ),
        (
            "tier 0 with owner and security",
            case(TIER0),
            vec![owner(), sec()],
            true,
        ),
        (
            "tier 0 without security",
            case(TIER0),
            vec![owner(), manager()],
            false,
        ),
        (
            "tier 0, the only security member is the requester",
            case(TIER0),
            vec![owner(), member(REQUESTER, &[SECURITY])],
            false,
        ),
        (
            "tier 0, the only security member is the beneficiary",
            vendor_case(TIER0),
            vec![owner(), member("V1", &[SECURITY])],
            false,
        ),
        (
            "tier 0, the only security member left",
            case(TIER0),
            vec![owner(), gone(sec())],
            false,
        ),
        (
            "tier 0, one person in both capacities",
            case(TIER0),
            vec![member("O1", &[OWNERS, SECURITY])],
            false,
        ),
        (
            "tier 0, two security members and no source",
            case(TIER0),
            vec![sec(), member("S2", &[SECURITY])],
            false,
        ),
        (
            "tier 0, a security owner and a manager",
            case(TIER0),
            vec![member("O1", &[OWNERS, SECURITY]), manager()],
            true,
        ),
        (
            "vendor, manager source only: the sponsor's manager can approve",
            {
                let mut c = vendor_case(SINGLE);
                c.sources = vec![ApproverSource::Manager];
                c
            },
            vec![member(REQUESTER, &[]), manager()],
            true,
        ),
        (
            "vendor, manager source only, the sponsor's manager left",
            {
                let mut c = vendor_case(SINGLE);
                c.sources = vec![ApproverSource::Manager];
                c
            },
            vec![member(REQUESTER, &[]), gone(manager())],
            false,
        ),
    ]);
}

/// Name, case, stored approvals as (who, capacity), what it still needs in words.
type NeedsCase<'a> = (&'a str, ApprovalCase, &'a [(&'a str, &'a str)], Vec<String>);

/// What a pending request still needs, in words, on the standard case (manager M1, owner
/// group `leads`, approver group `sre-leads`, security group `security`). A regression
/// test: "another approver" was shown before anyone had approved, and a tier-0 request
/// with security's approval never said that a manager, owner or sre-lead was missing.
#[test]
fn still_needs_says_who_in_words() {
    let who = "the requester's manager (M1), in group:leads (the resource's owners) or in \
               group:sre-leads";
    let cases: Vec<NeedsCase<'_>> = vec![
        ("auto", case(Route::Auto), &[], vec![]),
        (
            "single, nobody yet",
            case(SINGLE),
            &[],
            vec![format!("an approver who is {who}")],
        ),
        ("single, approved", case(SINGLE), &[("A", "o")], vec![]),
        (
            "dual, nobody yet",
            case(DUAL),
            &[],
            vec![format!("two different approvers, each of whom is {who}")],
        ),
        (
            "dual, one",
            case(DUAL),
            &[("A", "o")],
            vec![format!("one more approver, other than A, who is {who}")],
        ),
        (
            "tier 0, nobody yet",
            case(TIER0),
            &[],
            vec![
                "an approver from group:security".to_owned(),
                format!("one more approver who is {who}"),
            ],
        ),
        (
            "tier 0, security only",
            case(TIER0),
            &[("S", "s")],
            vec![format!("one more approver, other than S, who is {who}")],
        ),
        (
            "tier 0, two security members outside the sources",
            case(TIER0),
            &[("S", "s"), ("T", "s")],
            vec![format!(
                "one more approver, other than S and T, who is {who}"
            )],
        ),
        (
            "tier 0, owner only",
            case(TIER0),
            &[("A", "o")],
            vec!["an approver from group:security".to_owned()],
        ),
        (
            "tier 0, one person in both capacities: another security member also completes it",
            case(TIER0),
            &[("A", "os")],
            vec![format!(
                "one more approver, other than A, who is the requester's manager (M1), in \
                 group:leads (the resource's owners), in group:sre-leads or in group:security"
            )],
        ),
        (
            "vendor: the manager is the one who approves for the vendor",
            vendor_case(SINGLE),
            &[],
            vec![
                "an approver who is the approving manager (M1), in group:leads (the \
                 resource's owners) or in group:sre-leads"
                    .to_owned(),
            ],
        ),
        (
            "no manager in HR and an owner that is everyone",
            ApprovalCase {
                manager: None,
                owner: warden_core::policy::Principal::Everyone,
                ..case(SINGLE)
            },
            &[],
            vec!["an approver who is in group:sre-leads".to_owned()],
        ),
    ];
    let mut failures = Vec::new();
    for (name, case, approvals, want) in cases {
        let approvals: Vec<Approver> = approvals.iter().map(|(w, c)| approval(w, c)).collect();
        let got = still_needs(&case, &approvals);
        if got != want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
