//! Separation of duties as data: one `check` helper runs an approval or a denial by one
//! person on one case and compares the capacity granted, or the refusal, with the
//! expected one. The known attacks each have a case: approving one's own request, the
//! beneficiary approving, one person approving twice, an approver who has left, an
//! approver from no allowed source.

use time::Duration;
use time::macros::date;
use warden_core::identity::{EmploymentStatus, IdentityKind};
use warden_core::policy::{
    ApprovalPolicy, ApproverSource, Eligibility, Principal, Privilege, Route,
};
use warden_core::request::{
    ApprovalCase, ApprovalRefusal, Approver, ApproverFacts, candidates, check_approver,
    check_denier,
};

use crate::support::{
    DUAL, MANAGER, OWNERS, REQUESTER, SECURITY, SINGLE, SRE_LEADS, TIER0, case, gone, id, member,
    person, vendor_case,
};

/// What is tried.
enum Try<'a> {
    /// Approve, after these people approved.
    Approve(&'a [&'a str]),
    /// Deny.
    Deny,
}

/// A stored approval by `raw` from the owner group.
fn stored(raw: &str) -> Approver {
    Approver {
        id: id(raw),
        sources: vec![ApproverSource::ResourceOwner],
        security: false,
    }
}

/// `ok SOURCES [+security]` or the refusal's short name.
fn render(r: Result<Option<Approver>, ApprovalRefusal>) -> String {
    match r {
        Ok(None) => "ok".into(),
        Ok(Some(a)) => {
            let sources: Vec<String> = a.sources.iter().map(ToString::to_string).collect();
            let mut s = format!("ok {}", sources.join(","));
            if a.security {
                s.push_str(" +security");
            }
            s.replace("ok  ", "ok ").trim_end().to_owned()
        }
        Err(ApprovalRefusal::SelfApproval(_)) => "self-approval".into(),
        Err(ApprovalRefusal::Beneficiary(_)) => "beneficiary".into(),
        Err(ApprovalRefusal::AlreadyApproved(_)) => "already approved".into(),
        Err(ApprovalRefusal::NotCurrent(_)) => "not current".into(),
        Err(ApprovalRefusal::NotAnApprover { .. }) => "not an approver".into(),
        Err(ApprovalRefusal::WouldNotCount { .. }) => "would not count".into(),
    }
}

fn check(cases: Vec<(&str, ApprovalCase, ApproverFacts, Try<'_>, &str)>) {
    let mut failures = Vec::new();
    for (name, case, who, what, want) in cases {
        let got = match what {
            Try::Approve(before) => {
                let prior: Vec<Approver> = before.iter().map(|p| stored(p)).collect();
                check_approver(&case, &who, &prior).map(Some)
            }
            Try::Deny => check_denier(&case, &who).map(|()| None),
        };
        let got = render(got);
        if got != want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn separation_of_duties_cases() {
    use Try::{Approve, Deny};
    let owner = || member("O1", &[OWNERS]);
    let sec = || member("S1", &[SECURITY]);
    let everyone_owned = ApprovalCase {
        owner: Principal::Everyone,
        ..case(SINGLE)
    };
    let identity_owned = ApprovalCase {
        owner: Principal::Identity(id("E9")),
        ..case(SINGLE)
    };
    let named = ApprovalCase {
        sources: vec![ApproverSource::Identity(id("E900"))],
        ..case(SINGLE)
    };
    let no_manager = ApprovalCase {
        manager: None,
        ..case(SINGLE)
    };
    let security_listed = ApprovalCase {
        sources: vec![ApproverSource::Group(SECURITY.into())],
        ..case(DUAL)
    };
    check(vec![
        // Who may approve, and as what.
        (
            "manager",
            case(SINGLE),
            member(MANAGER, &[]),
            Approve(&[]),
            "ok manager",
        ),
        (
            "owner group member",
            case(SINGLE),
            owner(),
            Approve(&[]),
            "ok owner",
        ),
        (
            "policy group member",
            case(SINGLE),
            member("G1", &[SRE_LEADS]),
            Approve(&[]),
            "ok group:sre-leads",
        ),
        (
            "named identity",
            named,
            member("E900", &[]),
            Approve(&[]),
            "ok identity:E900",
        ),
        (
            "owner identity",
            identity_owned,
            member("E9", &[]),
            Approve(&[]),
            "ok owner",
        ),
        (
            "manager who also leads the owners",
            case(DUAL),
            member(MANAGER, &[OWNERS, SRE_LEADS]),
            Approve(&[]),
            "ok manager,owner,group:sre-leads",
        ),
        (
            "second approver under dual",
            case(DUAL),
            owner(),
            Approve(&["G1"]),
            "ok owner",
        ),
        (
            "security member on tier 0",
            case(TIER0),
            sec(),
            Approve(&[]),
            "ok +security",
        ),
        (
            "security owner on tier 0",
            case(TIER0),
            member("S2", &[SECURITY, OWNERS]),
            Approve(&[]),
            "ok owner +security",
        ),
        (
            "security group listed as a source",
            security_listed,
            sec(),
            Approve(&[]),
            "ok group:security +security",
        ),
        // Self-approval.
        (
            "requester in the owner group",
            case(SINGLE),
            member(REQUESTER, &[OWNERS]),
            Approve(&[]),
            "self-approval",
        ),
        (
            "requester in the security group on tier 0",
            case(TIER0),
            member(REQUESTER, &[SECURITY]),
            Approve(&[]),
            "self-approval",
        ),
        (
            "requester named as their own manager",
            ApprovalCase {
                manager: Some(id(REQUESTER)),
                ..case(SINGLE)
            },
            member(REQUESTER, &[]),
            Approve(&[]),
            "self-approval",
        ),
        (
            "self-approval is named even when not current",
            case(SINGLE),
            gone(member(REQUESTER, &[OWNERS])),
            Approve(&[]),
            "self-approval",
        ),
        // The beneficiary.
        (
            "vendor in the owner group",
            vendor_case(SINGLE),
            member("V1", &[OWNERS]),
            Approve(&[]),
            "beneficiary",
        ),
        (
            "vendor in the security group on tier 0",
            vendor_case(TIER0),
            member("V1", &[SECURITY]),
            Approve(&[]),
            "beneficiary",
        ),
        (
            "sponsor as the vendor's manager",
            vendor_case(SINGLE),
            member(REQUESTER, &[]),
            Approve(&[]),
            "self-approval",
        ),
        (
            "the sponsor's manager approves for the vendor",
            vendor_case(SINGLE),
            member(MANAGER, &[]),
            Approve(&[]),
            "ok manager",
        ),
        // Approving twice.
        (
            "same person twice under dual",
            case(DUAL),
            owner(),
            Approve(&["O1"]),
            "already approved",
        ),
        (
            "same person twice under single",
            case(SINGLE),
            owner(),
            Approve(&["O1"]),
            "already approved",
        ),
        (
            "security member twice on tier 0",
            case(TIER0),
            member("O1", &[OWNERS, SECURITY]),
            Approve(&["O1"]),
            "already approved",
        ),
        // Not current.
        (
            "manager who left",
            case(SINGLE),
            gone(member(MANAGER, &[])),
            Approve(&[]),
            "not current",
        ),
        (
            "security member who left, tier 0",
            case(TIER0),
            gone(sec()),
            Approve(&[]),
            "not current",
        ),
        // No allowed source.
        (
            "someone in no group",
            case(SINGLE),
            member("X1", &[]),
            Approve(&[]),
            "not an approver",
        ),
        (
            "someone in an unrelated group",
            case(SINGLE),
            member("X1", &["finance"]),
            Approve(&[]),
            "not an approver",
        ),
        (
            "security member on a single route",
            case(SINGLE),
            sec(),
            Approve(&[]),
            "not an approver",
        ),
        (
            "security member on an ordinary dual route",
            case(DUAL),
            sec(),
            Approve(&[]),
            "not an approver",
        ),
        (
            "nobody owns what everyone owns",
            everyone_owned,
            member("X1", &[]),
            Approve(&[]),
            "not an approver",
        ),
        (
            "no manager in HR",
            no_manager,
            member(MANAGER, &[]),
            Approve(&[]),
            "not an approver",
        ),
        // Denials.
        ("approver denies", case(SINGLE), owner(), Deny, "ok"),
        (
            "an approver may deny after approving",
            case(DUAL),
            owner(),
            Deny,
            "ok",
        ),
        (
            "requester cannot deny (cancels instead)",
            case(SINGLE),
            member(REQUESTER, &[OWNERS]),
            Deny,
            "self-approval",
        ),
        (
            "beneficiary cannot deny",
            vendor_case(SINGLE),
            member("V1", &[OWNERS]),
            Deny,
            "beneficiary",
        ),
        (
            "a stranger cannot deny",
            case(SINGLE),
            member("X1", &[]),
            Deny,
            "not an approver",
        ),
        (
            "someone who left cannot deny",
            case(SINGLE),
            gone(owner()),
            Deny,
            "not current",
        ),
        (
            "security member denies on tier 0",
            case(TIER0),
            sec(),
            Deny,
            "ok",
        ),
    ]);
}

#[test]
fn refusals_say_why() {
    let err = check_approver(&case(TIER0), &member("X1", &[]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "X1 is not an approver of this request; approvers come from manager, owner, \
         group:sre-leads, group:security"
    );
    let err = check_approver(&case(SINGLE), &member("X1", &[]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "X1 is not an approver of this request; approvers come from manager, owner, group:sre-leads"
    );
    let err = check_approver(&case(SINGLE), &member(REQUESTER, &[]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "E100 made this request and cannot decide on it; cancel it instead"
    );
}

/// A regression test: on a tier-0 route a second member of the security group was
/// accepted (and recorded) after security had approved, though only a manager, owner or
/// sre-lead could complete the request; likewise a second source approver when only
/// security was missing. Such approvals are refused, saying what is still needed.
#[test]
fn approvals_that_would_not_count_are_refused() {
    let security_only = |raw: &str| Approver {
        id: id(raw),
        sources: Vec::new(),
        security: true,
    };
    let second_security = check_approver(
        &case(TIER0),
        &member("S2", &[SECURITY]),
        &[security_only("S1")],
    )
    .unwrap_err();
    assert_eq!(
        second_security.to_string(),
        "an approval by S2 would not count: this request still needs one more approver, \
         other than S1, who is the requester's manager (M1), in group:leads (the resource's \
         owners) or in group:sre-leads"
    );
    let second_owner =
        check_approver(&case(TIER0), &member("O2", &[OWNERS]), &[stored("O1")]).unwrap_err();
    assert_eq!(
        second_owner.to_string(),
        "an approval by O2 would not count: this request still needs an approver from \
         group:security"
    );
    // What does count is still taken: the missing capacity, or a person in both.
    let manager = check_approver(&case(TIER0), &member(MANAGER, &[]), &[security_only("S1")]);
    assert!(manager.is_ok(), "{manager:?}");
    let security = check_approver(&case(TIER0), &member("S2", &[SECURITY]), &[stored("O1")]);
    assert!(security.is_ok(), "{security:?}");
    let both = Approver {
        id: id("O1"),
        sources: vec![ApproverSource::ResourceOwner],
        security: true,
    };
    let after_both = check_approver(&case(TIER0), &member("S2", &[SECURITY]), &[both]);
    assert!(after_both.is_ok(), "{after_both:?}");
    // Under an ordinary dual route every distinct source approver counts.
    assert!(check_approver(&case(DUAL), &member("O2", &[OWNERS]), &[stored("O1")]).is_ok());
}

#[test]
fn candidates_are_everyone_who_could_approve() {
    let people = [
        member(REQUESTER, &[OWNERS, SECURITY]),
        member(MANAGER, &[]),
        gone(member("O2", &[OWNERS])),
        member("S1", &[SECURITY]),
        member("X1", &["finance"]),
        member("O1", &[OWNERS]),
    ];
    let ids = |c: &[Approver]| c.iter().map(|a| a.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&candidates(&case(SINGLE), &people)), ["M1", "O1"]);
    assert_eq!(ids(&candidates(&case(TIER0), &people)), ["M1", "S1", "O1"]);
    let tier0 = candidates(&case(TIER0), &people);
    assert!(tier0[1].security && tier0[1].sources.is_empty());
}

#[test]
fn a_case_is_built_from_the_terms_policy_gave() {
    let approval = ApprovalPolicy {
        name: "standard".into(),
        auto_below: 30,
        dual_from: 70,
        approvers: vec![ApproverSource::Manager, ApproverSource::ResourceOwner],
        security_group: SECURITY.into(),
        pending_timeout: Duration::hours(24),
        intake: Default::default(),
    };
    let terms = |tier| Eligibility {
        rule: "r".into(),
        location: "access.toml:1".into(),
        max_duration: Duration::hours(4),
        approval: approval.clone(),
        ticket_required: false,
        tier,
        owner: Principal::Group(OWNERS.into()),
        privilege: Privilege::Admin,
    };
    let requester = person(REQUESTER, Some(MANAGER), IdentityKind::Employee);
    let vendor = person("V1", Some(REQUESTER), IdentityKind::Vendor);

    let c = ApprovalCase::new(&terms(2), 40, &requester, None);
    assert_eq!(c.route, Route::Single);
    assert_eq!(c.manager, Some(id(MANAGER)));
    assert_eq!(c.beneficiary, None);
    assert_eq!(c.owner, Principal::Group(OWNERS.into()));
    assert_eq!(c.sources, approval.approvers);
    assert_eq!(
        ApprovalCase::new(&terms(2), 10, &requester, None).route,
        Route::Auto
    );
    assert_eq!(
        ApprovalCase::new(&terms(2), 70, &requester, None).route,
        DUAL
    );
    assert_eq!(
        ApprovalCase::new(&terms(0), 0, &requester, None).route,
        TIER0
    );

    // On a vendor's behalf, the vendor's manager is the sponsor, who asked: the manager
    // approver is the sponsor's own manager.
    let v = ApprovalCase::new(&terms(1), 40, &requester, Some(&vendor));
    assert_eq!(v.requester, id(REQUESTER));
    assert_eq!(v.beneficiary, Some(id("V1")));
    assert_eq!(v.manager, Some(id(MANAGER)));
}

#[test]
fn approver_facts_follow_hr() {
    let today = date!(2026 - 03 - 04);
    let mut record = person(MANAGER, None, IdentityKind::Employee);
    let groups = [OWNERS.to_owned()].into();
    assert!(ApproverFacts::of(&record, groups, today).current);
    record.status = EmploymentStatus::Leave;
    let on_leave = ApproverFacts::of(&record, [OWNERS.to_owned()].into(), today);
    assert!(!on_leave.current);
    assert_eq!(
        check_approver(&case(SINGLE), &on_leave, &[]),
        Err(ApprovalRefusal::NotCurrent(id(MANAGER)))
    );
}
