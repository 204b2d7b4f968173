//! Eligibility and routing as data: one `check` helper, many tiny cases. Each case names
//! who asks, for what, for how long and in which circumstances, and the exact decision.

use std::collections::BTreeSet;

use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use warden_core::identity::{EmploymentStatus, HrRecord, IdentityKind};
use warden_core::policy::{ApprovalPolicy, ApproverSource, RequestContext, Route};

use crate::support::{WEDNESDAY_10, case_policy, check, person};

fn at(now: OffsetDateTime) -> RequestContext {
    RequestContext::at(now)
}

fn with_ticket(mut c: RequestContext) -> RequestContext {
    c.ticket = Some("CHG-42".into());
    c
}

fn with_mfa(mut c: RequestContext, secs: i64) -> RequestContext {
    c.mfa_age_secs = Some(secs);
    c
}

fn with_risk(mut c: RequestContext, risk: i64) -> RequestContext {
    c.risk = Some(risk);
    c
}

fn with_ip(mut c: RequestContext, ip: &str) -> RequestContext {
    c.source_ip = Some(ip.parse().unwrap());
    c
}

fn status(mut r: HrRecord, s: EmploymentStatus) -> HrRecord {
    r.status = s;
    r
}

fn dates(mut r: HrRecord, start: Option<time::Date>, end: Option<time::Date>) -> HrRecord {
    r.start_date = start;
    r.end_date = end;
    r
}

/// Name, who, resource, role, duration, context, expected decision.
type Case<'a> = (
    &'a str,
    HrRecord,
    &'a str,
    &'a str,
    Option<Duration>,
    RequestContext,
    &'a str,
);

const OPS_COND: &str =
    "condition `context has mfa_age_secs && context.mfa_age_secs < 900` is false";

#[test]
fn eligibility_cases() {
    let policy = case_policy();
    let static_member = person("E1", "Finance", "Analyst");
    let mut berliner = static_member.clone();
    berliner.location = Some("Berlin".into());
    let ops = person("E3", "Platform", "SRE");
    let sales_sre = person("E4", "Sales", "SRE");
    let mut oncall = person("E5", "Data", "DBA");
    oncall.groups = BTreeSet::from(["DB Oncall".to_owned()]);
    let sec = person("E6", "Security", "Engineer");
    let e7 = person("E7", "Platform", "Developer");
    let nobody = person("E8", "Sales", "Rep");
    let mut vendor = person("V1", "Vendors", "DB Support");
    vendor.kind = IdentityKind::Vendor;

    let wed = at(WEDNESDAY_10);
    let ticket = with_ticket(wed.clone());
    let fresh = with_mfa(ticket.clone(), 60);
    let stale = with_mfa(ticket.clone(), 3600);
    let saturday = at(datetime!(2026-03-07 10:00 UTC));
    let friday_night_utc = at(datetime!(2026-03-06 23:30 UTC));
    let h = |n: i64| Some(Duration::hours(n));
    let ops_cond_false = format!("no: rule ops-critical: {OPS_COND}");

    let cases: Vec<Case<'_>> = vec![
        // Groups by static members.
        (
            "static member",
            static_member.clone(),
            "pg-prod-2",
            "read",
            None,
            wed.clone(),
            "eligible static-read max=1h approval=auto tier=2 owner=group:leads",
        ),
        (
            "duration within max",
            static_member.clone(),
            "pg-prod-2",
            "read",
            Some(Duration::minutes(30)),
            wed.clone(),
            "eligible static-read max=1h approval=auto tier=2 owner=group:leads",
        ),
        (
            "duration equal to max",
            static_member.clone(),
            "pg-prod-2",
            "read",
            h(1),
            wed.clone(),
            "eligible static-read max=1h approval=auto tier=2 owner=group:leads",
        ),
        (
            "duration over max",
            static_member.clone(),
            "pg-prod-2",
            "read",
            h(2),
            wed.clone(),
            "no: rule static-read: duration 2h exceeds max 1h",
        ),
        (
            "name selector misses",
            static_member.clone(),
            "pg-prod-0",
            "read",
            None,
            wed.clone(),
            concat!(
                "not covered: no eligibility rule covers E1 for read on pg-prod-0",
                " | rule ops-critical (rules.toml:10) covers read on pg-prod-0 for group:ops,",
                " which does not include E1 (department is Finance; rule wants Platform;",
                " job_function is Analyst; rule wants one of SRE, SRE Lead)",
                " | rule ops-any-postgres (rules.toml:20) covers read on pg-prod-0 for group:ops,",
                " which does not include E1 (department is Finance; rule wants Platform;",
                " job_function is Analyst; rule wants one of SRE, SRE Lead)"
            ),
        ),
        (
            "role not in rule",
            static_member.clone(),
            "pg-prod-2",
            "admin",
            None,
            wed.clone(),
            concat!(
                "not covered: no eligibility rule covers E1 for admin on pg-prod-2",
                " | no eligibility rule covers admin on pg-prod-2 for anyone"
            ),
        ),
        // Groups by rule; kind, tier, environment and tag selectors; conditions; order.
        (
            "rule group, fresh mfa",
            ops.clone(),
            "pg-prod-0",
            "read",
            None,
            fresh.clone(),
            "eligible ops-critical max=4h approval=standard ticket tier=0 owner=group:leads",
        ),
        (
            "admin with fresh mfa",
            ops.clone(),
            "pg-prod-0",
            "admin",
            None,
            fresh.clone(),
            "eligible ops-critical max=4h approval=standard ticket tier=0 owner=group:leads",
        ),
        (
            "admin with stale mfa",
            ops.clone(),
            "pg-prod-0",
            "admin",
            None,
            stale.clone(),
            &ops_cond_false,
        ),
        (
            "mfa absent from context",
            ops.clone(),
            "pg-prod-0",
            "admin",
            None,
            ticket.clone(),
            &ops_cond_false,
        ),
        (
            "ticket missing: condition not reached",
            ops.clone(),
            "pg-prod-0",
            "admin",
            None,
            with_mfa(wed.clone(), 60),
            "no: rule ops-critical: a ticket is required",
        ),
        (
            "first rule fails, second matches",
            ops.clone(),
            "pg-prod-0",
            "read",
            None,
            wed.clone(),
            "eligible ops-any-postgres max=2h approval=standard tier=0 owner=group:leads",
        ),
        (
            "first match wins over later ones",
            ops.clone(),
            "pg-prod-0",
            "read",
            h(3),
            fresh.clone(),
            "eligible ops-critical max=4h approval=standard ticket tier=0 owner=group:leads",
        ),
        (
            "duration over every max",
            ops.clone(),
            "pg-prod-0",
            "read",
            h(5),
            fresh.clone(),
            "no: rule ops-critical: duration 5h exceeds max 4h | rule ops-any-postgres: duration 5h exceeds max 2h",
        ),
        (
            "environment selector misses",
            ops.clone(),
            "pg-stage",
            "read",
            None,
            fresh.clone(),
            "eligible ops-any-postgres max=2h approval=standard tier=2 owner=group:leads",
        ),
        (
            "tier and tag selectors miss",
            ops.clone(),
            "pg-prod-2",
            "read",
            None,
            fresh.clone(),
            "eligible ops-any-postgres max=2h approval=standard tier=2 owner=group:leads",
        ),
        (
            "kind selector misses",
            ops.clone(),
            "my-prod",
            "read",
            None,
            fresh.clone(),
            concat!(
                "not covered: no eligibility rule covers E3 for read on my-prod",
                " | rule oncall-business-hours (rules.toml:28) covers read on my-prod for",
                " group:oncall, which does not include E3 (HR groups do not include \"DB Oncall\")"
            ),
        ),
        (
            "role not allowed",
            ops.clone(),
            "pg-prod-0",
            "write",
            None,
            fresh.clone(),
            concat!(
                "not covered: no eligibility rule covers E3 for write on pg-prod-0",
                " | no eligibility rule covers write on pg-prod-0 for anyone"
            ),
        ),
        (
            "rule group: one attribute differs",
            sales_sre.clone(),
            "pg-prod-0",
            "read",
            None,
            fresh.clone(),
            concat!(
                "not covered: no eligibility rule covers E4 for read on pg-prod-0",
                " | rule ops-critical (rules.toml:10) covers read on pg-prod-0 for group:ops,",
                " which does not include E4 (department is Sales; rule wants Platform)",
                " | rule ops-any-postgres (rules.toml:20) covers read on pg-prod-0 for group:ops,",
                " which does not include E4 (department is Sales; rule wants Platform)"
            ),
        ),
        // External groups and hours with a UTC offset.
        (
            "external group inside hours",
            oncall.clone(),
            "my-prod",
            "read",
            None,
            wed.clone(),
            "eligible oncall-business-hours max=2h approval=standard tier=1 owner=group:leads",
        ),
        (
            "inside only thanks to offset",
            oncall.clone(),
            "my-prod",
            "read",
            None,
            at(datetime!(2026-03-04 07:30 UTC)),
            "eligible oncall-business-hours max=2h approval=standard tier=1 owner=group:leads",
        ),
        (
            "before hours",
            oncall.clone(),
            "my-prod",
            "read",
            None,
            at(datetime!(2026-03-04 06:30 UTC)),
            "no: rule oncall-business-hours: outside allowed hours mon-fri 09:00-17:00 +02:00",
        ),
        (
            "end of hours is exclusive",
            oncall.clone(),
            "my-prod",
            "read",
            None,
            at(datetime!(2026-03-04 15:00 UTC)),
            "no: rule oncall-business-hours: outside allowed hours mon-fri 09:00-17:00 +02:00",
        ),
        (
            "last minute inside",
            oncall.clone(),
            "my-prod",
            "read",
            None,
            at(datetime!(2026-03-04 14:59 UTC)),
            "eligible oncall-business-hours max=2h approval=standard tier=1 owner=group:leads",
        ),
        (
            "weekday outside",
            oncall.clone(),
            "my-prod",
            "read",
            None,
            at(datetime!(2026-03-07 08:00 UTC)),
            "no: rule oncall-business-hours: outside allowed hours mon-fri 09:00-17:00 +02:00",
        ),
        (
            "offset moves to saturday",
            oncall.clone(),
            "my-prod",
            "read",
            None,
            at(datetime!(2026-03-06 22:30 UTC)),
            "no: rule oncall-business-hours: outside allowed hours mon-fri 09:00-17:00 +02:00",
        ),
        (
            "not in external group",
            nobody.clone(),
            "my-prod",
            "read",
            None,
            wed.clone(),
            concat!(
                "not covered: no eligibility rule covers E8 for read on my-prod",
                " | rule oncall-business-hours (rules.toml:28) covers read on my-prod for",
                " group:oncall, which does not include E8 (HR groups do not include \"DB Oncall\")"
            ),
        ),
        // Everyone and identity principals.
        (
            "everyone",
            nobody.clone(),
            "cache",
            "read",
            None,
            wed.clone(),
            "eligible everyone-cache max=30m approval=auto tier=2 owner=group:leads",
        ),
        (
            "everyone, over max",
            nobody.clone(),
            "cache",
            "read",
            h(1),
            wed.clone(),
            "no: rule everyone-cache: duration 1h exceeds max 30m",
        ),
        (
            "everyone includes vendors",
            vendor.clone(),
            "cache",
            "read",
            None,
            wed.clone(),
            "eligible everyone-cache max=30m approval=auto tier=2 owner=group:leads",
        ),
        (
            "identity principal",
            e7.clone(),
            "box",
            "login",
            None,
            wed.clone(),
            "eligible one-person max=1h approval=standard tier=1 owner=identity:E9",
        ),
        (
            "identity principal, someone else",
            static_member.clone(),
            "box",
            "login",
            None,
            wed.clone(),
            concat!(
                "not covered: no eligibility rule covers E1 for login on box",
                " | rule one-person (rules.toml:45) covers login on box for identity:E7,",
                " which does not include E1"
            ),
        ),
        // Cedar conditions over the context, the identity and the resource.
        (
            "weekday condition true",
            sec.clone(),
            "pg-stage",
            "read",
            None,
            saturday.clone(),
            "eligible sec-weekend-staging max=1h approval=standard tier=2 owner=group:leads",
        ),
        (
            "weekday condition false",
            sec.clone(),
            "pg-stage",
            "read",
            None,
            wed.clone(),
            "no: rule sec-weekend-staging: condition `context.weekday == \"sat\" || context.weekday == \"sun\"` is false",
        ),
        (
            "weekday is UTC without hours",
            sec.clone(),
            "pg-stage",
            "read",
            None,
            friday_night_utc,
            "no: rule sec-weekend-staging: condition `context.weekday == \"sat\" || context.weekday == \"sun\"` is false",
        ),
        (
            "risk low with ticket",
            sec.clone(),
            "pg-stage",
            "write",
            None,
            with_risk(ticket.clone(), 10),
            "eligible sec-low-risk-write max=1h approval=standard tier=2 owner=group:leads",
        ),
        (
            "risk high",
            sec.clone(),
            "pg-stage",
            "write",
            None,
            with_risk(ticket.clone(), 80),
            "no: rule sec-low-risk-write: condition `context has risk && context.risk < 50 && context.has_ticket` is false",
        ),
        (
            "risk low, no ticket",
            sec.clone(),
            "pg-stage",
            "write",
            None,
            with_risk(wed.clone(), 10),
            "no: rule sec-low-risk-write: condition `context has risk && context.risk < 50 && context.has_ticket` is false",
        ),
        (
            "risk absent",
            sec.clone(),
            "pg-stage",
            "write",
            None,
            ticket.clone(),
            "no: rule sec-low-risk-write: condition `context has risk && context.risk < 50 && context.has_ticket` is false",
        ),
        (
            "source ip in range",
            sec.clone(),
            "pg-stage",
            "admin",
            None,
            with_ip(wed.clone(), "10.1.2.3"),
            "eligible sec-admin-from-office max=1h approval=standard tier=2 owner=group:leads",
        ),
        (
            "source ip out of range",
            sec.clone(),
            "pg-stage",
            "admin",
            None,
            with_ip(wed.clone(), "192.168.1.1"),
            "no: rule sec-admin-from-office: condition `context has source_ip && context.source_ip.isInRange(ip(\"10.0.0.0/8\"))` is false",
        ),
        (
            "source ip absent",
            sec.clone(),
            "pg-stage",
            "admin",
            None,
            wed.clone(),
            "no: rule sec-admin-from-office: condition `context has source_ip && context.source_ip.isInRange(ip(\"10.0.0.0/8\"))` is false",
        ),
        (
            "principal and resource tag condition",
            berliner.clone(),
            "pg-prod-2",
            "write",
            None,
            wed.clone(),
            "eligible static-write-berlin max=1h approval=auto tier=2 owner=group:leads",
        ),
        (
            "optional principal attribute absent",
            static_member.clone(),
            "pg-prod-2",
            "write",
            None,
            wed.clone(),
            "no: rule static-write-berlin: condition `principal has location && principal.location == \"Berlin\" && resource.hasTag(\"team\") && resource.getTag(\"team\") == \"data\"` is false",
        ),
        // Identities that are not current.
        (
            "on leave",
            status(ops.clone(), EmploymentStatus::Leave),
            "pg-prod-0",
            "read",
            None,
            fresh.clone(),
            "no: identity E3 is on leave",
        ),
        (
            "terminated",
            status(ops.clone(), EmploymentStatus::Terminated),
            "pg-prod-0",
            "read",
            None,
            fresh.clone(),
            "no: identity E3 is terminated",
        ),
        (
            "not yet started",
            dates(ops.clone(), Some(date!(2026 - 06 - 01)), None),
            "pg-prod-0",
            "read",
            None,
            fresh.clone(),
            "no: identity E3 has not started yet (starts 2026-06-01)",
        ),
        (
            "past last day",
            dates(ops.clone(), None, Some(date!(2026 - 01 - 31))),
            "pg-prod-0",
            "read",
            None,
            fresh.clone(),
            "no: identity E3 has left (last day 2026-01-31)",
        ),
        (
            "on the last day",
            dates(ops.clone(), None, Some(date!(2026 - 03 - 04))),
            "pg-prod-0",
            "read",
            None,
            fresh.clone(),
            "eligible ops-critical max=4h approval=standard ticket tier=0 owner=group:leads",
        ),
        // Unknown things and bad durations.
        (
            "unknown resource",
            ops.clone(),
            "nope",
            "read",
            None,
            wed.clone(),
            "no: unknown resource `nope`",
        ),
        (
            "role unknown for the kind",
            nobody.clone(),
            "cache",
            "write",
            None,
            wed.clone(),
            "no: role `write` does not exist for redis resources",
        ),
        (
            "role of another kind",
            e7.clone(),
            "box",
            "read",
            None,
            wed.clone(),
            "no: role `read` does not exist for ssh resources",
        ),
        (
            "zero duration",
            nobody.clone(),
            "cache",
            "read",
            Some(Duration::ZERO),
            wed.clone(),
            "no: duration 0s must be more than zero",
        ),
    ];
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for (name, who, resource, role, duration, context, want) in &cases {
        let got = check(&policy, who, resource, role, *duration, context);
        if got != *want {
            failures.push(format!("{name}:\n   got: {got}\n  want: {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn render(route: Route) -> &'static str {
    match route {
        Route::Auto => "auto",
        Route::Single => "single",
        Route::Dual {
            security_required: false,
        } => "dual",
        Route::Dual {
            security_required: true,
        } => "dual+security",
    }
}

#[test]
fn routing_cases() {
    let policy = case_policy();
    let standard = policy.approval("standard").unwrap();
    let auto = policy.approval("auto").unwrap();
    let always_dual = ApprovalPolicy {
        name: "vendor".into(),
        auto_below: 0,
        dual_from: 0,
        ..standard.clone()
    };
    let never_auto = ApprovalPolicy {
        name: "manual".into(),
        auto_below: 0,
        dual_from: 50,
        ..standard.clone()
    };
    let cases: &[(&ApprovalPolicy, u8, u32, &str)] = &[
        (standard, 1, 0, "auto"),
        (standard, 1, 29, "auto"),
        (standard, 1, 30, "single"),
        (standard, 2, 69, "single"),
        (standard, 3, 70, "dual"),
        (standard, 1, 100, "dual"),
        (standard, 0, 0, "dual+security"),
        (standard, 0, 50, "dual+security"),
        (standard, 0, 99, "dual+security"),
        (auto, 3, 999, "auto"),
        (auto, 0, 1, "dual+security"),
        (&always_dual, 2, 0, "dual"),
        (&always_dual, 0, 0, "dual+security"),
        (&never_auto, 1, 0, "single"),
        (&never_auto, 1, 50, "dual"),
    ];
    for (p, tier, risk, want) in cases {
        assert_eq!(
            render(p.route(*tier, *risk)),
            *want,
            "{} tier {tier} risk {risk}",
            p.name
        );
    }
    assert_eq!(
        standard.approvers,
        [
            ApproverSource::Manager,
            ApproverSource::ResourceOwner,
            ApproverSource::Group("leads".into())
        ]
    );
    assert_eq!(
        standard.route_text(),
        "risk < 30: auto-approved; risk 30-69: one approver from manager, owner, group:leads; \
         risk >= 70: two distinct approvers from manager, owner, group:leads; \
         tier 0: always two, one from group sec; pending requests lapse after 1d"
    );
    assert_eq!(
        never_auto.route_text(),
        "risk 0-49: one approver from manager, owner, group:leads; \
         risk >= 50: two distinct approvers from manager, owner, group:leads; \
         tier 0: always two, one from group sec; pending requests lapse after 1d"
    );
}
