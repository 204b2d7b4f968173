//! The queries around a decision: groups of an identity, birthright, what an identity could
//! request (`policy plan`), and the reasons `access explain` gives for every candidate rule.

use std::collections::BTreeSet;

use time::Duration;
use time::macros::date;
use warden_core::identity::{EmploymentStatus, HrRecord};
use warden_core::policy::{AccessQuery, Explanation, Policy, RequestContext, RuleTrace};

use crate::support::{BASE, RULES, TODAY, WEDNESDAY_10, case_policy, compile, person};

const BIRTHRIGHTS: &str = r#"
[[birthright]]
name = "everyone-cache"
who = "everyone"
grants = [{ resource = "cache", role = "read" }]

[[birthright]]
name = "ops-staging"
who = "group:ops"
grants = [{ resource = "pg-stage", role = "write" }, { resource = "cache", role = "read" }]

[[birthright]]
name = "e7-staging"
who = "identity:E7"
grants = [{ resource = "pg-stage", role = "read" }]
"#;

fn policy_with_birthrights() -> Policy {
    compile(&[
        ("base.toml", BASE),
        ("rules.toml", RULES),
        ("birthright.toml", BIRTHRIGHTS),
    ])
}

fn names(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

#[test]
fn groups_of_uses_members_rules_and_external_groups() {
    let policy = case_policy();
    let mut many = person("E1", "Platform", "SRE Lead");
    many.groups = BTreeSet::from(["DB Oncall".to_owned(), "Unrelated".to_owned()]);
    assert_eq!(names(&policy.groups_of(&many)), "oncall,ops,static");
    assert_eq!(
        names(&policy.groups_of(&person("E2", "Security", ""))),
        "leads,sec"
    );
    assert_eq!(
        names(&policy.groups_of(&person("E8", "Platform", ""))),
        "",
        "a missing attribute never matches"
    );
    assert_eq!(
        names(&policy.groups_of(&person("E8", "platform", "SRE"))),
        "",
        "values are case-sensitive"
    );
    // Membership is about attributes, not employment: a person on leave keeps their groups.
    let mut away = person("E3", "Platform", "SRE");
    away.status = EmploymentStatus::Leave;
    assert_eq!(names(&policy.groups_of(&away)), "ops");
}

#[test]
fn birthright_collects_grants_for_current_identities_only() {
    let policy = policy_with_birthrights();
    let render = |who: &HrRecord| {
        policy
            .birthright(who, TODAY)
            .iter()
            .map(|(e, rule)| format!("{e} <- {rule}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let ops = person("E3", "Platform", "SRE");
    // `birthright.toml` sorts first, so everyone-cache is the first grant of cache read.
    assert_eq!(
        render(&ops),
        "read on cache <- everyone-cache; write on pg-stage <- ops-staging"
    );
    assert_eq!(
        render(&person("E7", "Sales", "")),
        "read on cache <- everyone-cache; read on pg-stage <- e7-staging"
    );
    assert_eq!(
        render(&person("E8", "Sales", "")),
        "read on cache <- everyone-cache"
    );
    let mut gone = ops.clone();
    gone.end_date = Some(date!(2026 - 03 - 03));
    assert_eq!(render(&gone), "", "past the last day");
    let mut later = ops;
    later.start_date = Some(date!(2026 - 03 - 05));
    assert_eq!(render(&later), "", "not started");
    assert!(
        case_policy()
            .birthright(&person("E8", "Sales", ""), TODAY)
            .is_empty(),
        "no birthright rules"
    );
}

#[test]
fn eligible_entitlements_ignore_context_but_not_employment() {
    let policy = case_policy();
    let render = |who: &HrRecord| {
        policy
            .eligible_entitlements(who, TODAY)
            .iter()
            .map(|(e, rule)| format!("{e} <- {rule}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        render(&person("E3", "Platform", "SRE")),
        [
            "read on cache <- everyone-cache",
            "admin on pg-prod-0 <- ops-critical",
            "read on pg-prod-0 <- ops-critical",
            "read on pg-prod-2 <- ops-any-postgres",
            "read on pg-stage <- ops-any-postgres",
        ]
    );
    assert_eq!(
        render(&person("E6", "Security", "")),
        [
            "read on cache <- everyone-cache",
            "admin on pg-stage <- sec-admin-from-office",
            "read on pg-stage <- sec-weekend-staging",
            "write on pg-stage <- sec-low-risk-write",
        ]
    );
    assert_eq!(
        render(&person("E7", "", "")),
        [
            "login on box <- one-person",
            "read on cache <- everyone-cache"
        ]
    );
    let mut leave = person("E3", "Platform", "SRE");
    leave.status = EmploymentStatus::Leave;
    assert!(render(&leave).is_empty());
}

fn explain(
    policy: &Policy,
    who: &HrRecord,
    resource: &str,
    role: &str,
    duration: Option<Duration>,
    ctx: &RequestContext,
) -> Explanation {
    policy.explain(&AccessQuery {
        identity: who,
        resource,
        role,
        duration,
        context: ctx,
    })
}

fn trace(rule: &str, matched: bool, reasons: &[&str]) -> (String, bool, Vec<String>) {
    (
        rule.to_owned(),
        matched,
        reasons.iter().map(|r| (*r).to_owned()).collect(),
    )
}

fn traces(e: &Explanation) -> Vec<(String, bool, Vec<String>)> {
    e.candidates
        .iter()
        .map(
            |RuleTrace {
                 rule,
                 matched,
                 reasons,
                 ..
             }| (rule.clone(), *matched, reasons.clone()),
        )
        .collect()
}

#[test]
fn explain_lists_every_candidate_with_its_reasons() {
    let policy = case_policy();
    let ctx = RequestContext {
        ticket: None,
        ..RequestContext::at(WEDNESDAY_10)
    };
    let sales = person("E4", "Sales", "SRE");
    let e = explain(
        &policy,
        &sales,
        "pg-prod-0",
        "admin",
        Some(Duration::hours(6)),
        &ctx,
    );
    assert_eq!(e.eligible, None);
    assert!(e.reasons.is_empty());
    assert_eq!(e.identity_groups, Vec::<String>::new());
    assert_eq!(e.route_text, "no route: not eligible");
    assert_eq!(
        traces(&e),
        [
            trace(
                "ops-critical",
                false,
                &[
                    "identity is not in group ops (department is Sales; rule wants Platform)",
                    "duration 6h exceeds max 4h",
                    "a ticket is required",
                    "condition `context has mfa_age_secs && context.mfa_age_secs < 900` is false",
                ]
            ),
            trace(
                "everyone-cache",
                false,
                &[
                    "role admin is not one of [read]",
                    "resource pg-prod-0 is not one of [cache]",
                    "duration 6h exceeds max 30m",
                ]
            ),
        ]
    );
    assert_eq!(e.candidates[0].location, "rules.toml:10");
}

#[test]
fn explain_names_the_winner_and_the_route() {
    let policy = case_policy();
    let ctx = RequestContext {
        ticket: Some("INC-7".into()),
        mfa_age_secs: Some(30),
        ..RequestContext::at(WEDNESDAY_10)
    };
    let ops = person("E3", "Platform", "SRE");
    let e = explain(&policy, &ops, "pg-prod-2", "read", None, &ctx);
    assert_eq!(
        e.eligible.as_ref().map(|e| e.rule.as_str()),
        Some("ops-any-postgres")
    );
    assert_eq!(e.identity_groups, ["ops"]);
    assert_eq!(
        traces(&e),
        [
            trace(
                "static-read",
                false,
                &["identity is not in group static (E3 is not a listed member)"]
            ),
            trace(
                "ops-critical",
                false,
                &[
                    "tier 2 is not one of [0, 1]",
                    "tag team is data, not payments"
                ]
            ),
            trace("ops-any-postgres", true, &[]),
            trace(
                "everyone-cache",
                false,
                &["resource pg-prod-2 is not one of [cache]"]
            ),
        ]
    );
    assert!(
        e.route_text
            .starts_with("risk < 30: auto-approved; risk 30-69: one approver"),
        "{}",
        e.route_text
    );

    // Rules granting the target to others are candidates too, with why this identity is out.
    let e = explain(
        &policy,
        &person("E9", "Finance", ""),
        "my-prod",
        "read",
        None,
        &ctx,
    );
    assert_eq!(
        traces(&e),
        [
            trace(
                "oncall-business-hours",
                false,
                &["identity is not in group oncall (HR groups do not include \"DB Oncall\")"]
            ),
            trace(
                "everyone-cache",
                false,
                &["resource my-prod is not one of [cache]"]
            ),
        ]
    );
    let e = explain(
        &policy,
        &person("E9", "Finance", ""),
        "box",
        "login",
        None,
        &ctx,
    );
    assert_eq!(
        traces(&e)[1],
        trace("one-person", false, &["rule is for identity E7, not E9"])
    );
    let e = explain(
        &policy,
        &person("E9", "Finance", ""),
        "pg-prod-2",
        "read",
        None,
        &ctx,
    );
    assert_eq!(
        traces(&e)[0],
        trace(
            "static-read",
            false,
            &["identity is not in group static (E9 is not a listed member)"]
        )
    );
    let e = explain(
        &policy,
        &person("E9", "Finance", "SRE"),
        "pg-prod-0",
        "read",
        None,
        &ctx,
    );
    assert_eq!(
        traces(&e)[0],
        trace(
            "ops-critical",
            false,
            &["identity is not in group ops (department is Finance; rule wants Platform)"]
        )
    );
    let e = explain(
        &policy,
        &person("E9", "", "Intern"),
        "pg-prod-0",
        "read",
        None,
        &ctx,
    );
    assert_eq!(
        traces(&e)[0],
        trace(
            "ops-critical",
            false,
            &[
                "identity is not in group ops (department is not set; rule wants Platform; job_function is Intern; rule wants one of SRE, SRE Lead)"
            ]
        )
    );
}

#[test]
fn explain_says_why_the_whole_query_fails() {
    let policy = case_policy();
    let ctx = RequestContext::at(WEDNESDAY_10);
    let mut away = person("E3", "Platform", "SRE");
    away.status = EmploymentStatus::Leave;
    let e = explain(&policy, &away, "pg-prod-2", "read", None, &ctx);
    assert_eq!(e.reasons, ["identity E3 is on leave"]);
    assert_eq!(e.eligible, None);
    assert!(
        e.candidates.iter().all(|c| !c.matched
            && c.reasons.first().map(String::as_str) == Some("identity E3 is on leave"))
    );
    let names: Vec<&str> = e.candidates.iter().map(|c| c.rule.as_str()).collect();
    assert_eq!(
        names,
        [
            "static-read",
            "ops-critical",
            "ops-any-postgres",
            "everyone-cache"
        ]
    );

    let e = explain(
        &policy,
        &person("E8", "Sales", ""),
        "nope",
        "read",
        None,
        &ctx,
    );
    assert_eq!(e.reasons, ["unknown resource `nope`"]);
    assert_eq!(
        traces(&e),
        [trace("everyone-cache", false, &["unknown resource `nope`"])]
    );

    let e = explain(
        &policy,
        &person("E8", "Sales", ""),
        "cache",
        "admin",
        None,
        &ctx,
    );
    assert_eq!(
        e.reasons,
        ["role `admin` does not exist for redis resources"]
    );
}

#[test]
fn the_empty_policy_grants_nothing() {
    let policy = Policy::empty();
    let who = person("E1", "Platform", "SRE");
    let ctx = RequestContext::at(WEDNESDAY_10);
    let q = AccessQuery {
        identity: &who,
        resource: "db",
        role: "read",
        duration: None,
        context: &ctx,
    };
    assert_eq!(
        crate::support::render(&policy.check(&q)),
        "no: unknown resource `db`"
    );
    assert!(policy.groups_of(&who).is_empty());
    assert!(policy.birthright(&who, TODAY).is_empty());
    assert!(policy.eligible_entitlements(&who, TODAY).is_empty());
    assert_eq!(policy.resources().count(), 0);
    assert!(policy.approval("standard").is_none() && policy.role("postgres", "read").is_none());
}
