//! Shared fixtures: a small policy exercising every feature, identities built from a few
//! attributes, and the compact rendering of a decision the case tables compare against.

use std::collections::BTreeSet;

use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use warden_core::Username;
use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, IdentityKind};
use warden_core::policy::{
    AccessQuery, Decision, Policy, PolicyError, PolicySource, RequestContext, format_duration,
};

/// A Wednesday, 10:00 UTC.
pub const WEDNESDAY_10: OffsetDateTime = datetime!(2026-03-04 10:00 UTC);

/// The day most tests run on.
pub const TODAY: time::Date = date!(2026 - 03 - 04);

/// Resources, roles, groups and approvals the rule files below refer to.
pub const BASE: &str = r#"
[[resource]]
name = "pg-prod-0"
kind = "postgres"
connection = "pg-prod-0"
environment = "prod"
tier = 0
owner = "group:leads"
tags = { team = "payments" }

[[resource]]
name = "pg-prod-2"
kind = "postgres"
connection = "pg-prod-2"
environment = "prod"
tier = 2
owner = "group:leads"
tags = { team = "data" }

[[resource]]
name = "pg-stage"
kind = "postgres"
connection = "pg-stage"
environment = "staging"
tier = 2
owner = "group:leads"
tags = { team = "payments" }

[[resource]]
name = "my-prod"
kind = "mariadb"
connection = "my-prod"
environment = "prod"
tier = 1
owner = "group:leads"
tags = { team = "payments" }

[[resource]]
name = "cache"
kind = "redis"
connection = "cache"
environment = "prod"
tier = 2
owner = "group:leads"

[[resource]]
name = "box"
kind = "ssh"
connection = "box"
environment = "prod"
tier = 1
owner = "identity:E9"

[[role]]
kind = "postgres"
name = "read"
privilege = "read"

[[role]]
kind = "postgres"
name = "write"
privilege = "write"

[[role]]
kind = "postgres"
name = "admin"
privilege = "admin"

[[role]]
kind = "mariadb"
name = "read"
privilege = "read"

[[role]]
kind = "mariadb"
name = "admin"
privilege = "admin"

[[role]]
kind = "redis"
name = "read"
privilege = "read"

[[role]]
kind = "ssh"
name = "login"
privilege = "write"

[[group]]
name = "static"
members = ["E1"]

[[group]]
name = "ops"
rule = { department = "Platform", job_function = ["SRE", "SRE Lead"] }

[[group]]
name = "oncall"
external = "DB Oncall"

[[group]]
name = "leads"
members = ["E2"]

[[group]]
name = "sec"
rule = { department = "Security" }

[[approval]]
name = "auto"
auto_below = 1000
dual_from = 1000
approvers = ["manager"]
security_group = "sec"
pending_timeout = "1h"

[[approval]]
name = "standard"
auto_below = 30
dual_from = 70
approvers = ["manager", "owner", "group:leads"]
security_group = "sec"
pending_timeout = "24h"
"#;

/// The eligibility rules of the case tables, in evaluation order.
pub const RULES: &str = r#"
[[eligibility]]
name = "static-read"
who = "group:static"
roles = ["read"]
resources = { names = ["pg-prod-2"] }
max_duration = "1h"
approval = "auto"

[[eligibility]]
name = "ops-critical"
who = "group:ops"
roles = ["read", "admin"]
resources = { kinds = ["postgres"], tiers = [0, 1], environments = ["prod"], tags = { team = "payments" } }
max_duration = "4h"
approval = "standard"
ticket = "required"
when = 'context has mfa_age_secs && context.mfa_age_secs < 900'

[[eligibility]]
name = "ops-any-postgres"
who = "group:ops"
roles = ["read"]
resources = { kinds = ["postgres"] }
max_duration = "2h"
approval = "standard"

[[eligibility]]
name = "oncall-business-hours"
who = "group:oncall"
roles = ["read"]
resources = { kinds = ["mariadb"] }
max_duration = "2h"
approval = "standard"
hours = { days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", to = "17:00", utc_offset = "+02:00" }

[[eligibility]]
name = "everyone-cache"
who = "everyone"
roles = ["read"]
resources = { names = ["cache"] }
max_duration = "30m"
approval = "auto"

[[eligibility]]
name = "one-person"
who = "identity:E7"
roles = ["login"]
resources = { kinds = ["ssh"] }
max_duration = "1h"
approval = "standard"

[[eligibility]]
name = "sec-weekend-staging"
who = "group:sec"
roles = ["read"]
resources = { environments = ["staging"] }
max_duration = "1h"
approval = "standard"
when = 'context.weekday == "sat" || context.weekday == "sun"'

[[eligibility]]
name = "sec-low-risk-write"
who = "group:sec"
roles = ["write"]
resources = { names = ["pg-stage"] }
max_duration = "1h"
approval = "standard"
when = 'context has risk && context.risk < 50 && context.has_ticket'

[[eligibility]]
name = "sec-admin-from-office"
who = "group:sec"
roles = ["admin"]
resources = { names = ["pg-stage"] }
max_duration = "1h"
approval = "standard"
when = 'context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8"))'

[[eligibility]]
name = "static-write-berlin"
who = "group:static"
roles = ["write"]
resources = { names = ["pg-prod-2"] }
max_duration = "1h"
approval = "auto"
when = 'principal has location && principal.location == "Berlin" && resource.hasTag("team") && resource.getTag("team") == "data"'
"#;

pub fn source(path: &str, text: &str) -> PolicySource {
    PolicySource {
        path: path.to_owned(),
        text: text.to_owned(),
    }
}

/// Compiles files or fails the test with every error.
pub fn compile(files: &[(&str, &str)]) -> Policy {
    let sources: Vec<PolicySource> = files.iter().map(|(p, t)| source(p, t)).collect();
    match warden_core::policy::compile(&sources) {
        Ok(p) => p,
        Err(errors) => panic!(
            "policy does not compile:\n{}",
            render_errors(&errors).join("\n")
        ),
    }
}

/// The case-table policy: `BASE` in `base.toml`, `RULES` in `rules.toml`.
pub fn case_policy() -> Policy {
    compile(&[("rules.toml", RULES), ("base.toml", BASE)])
}

/// Compile errors as `file:line: message`, or an empty list if the files compile.
pub fn errors(files: &[(&str, &str)]) -> Vec<String> {
    let sources: Vec<PolicySource> = files.iter().map(|(p, t)| source(p, t)).collect();
    match warden_core::policy::compile(&sources) {
        Ok(_) => Vec::new(),
        Err(errors) => render_errors(&errors),
    }
}

pub fn render_errors(errors: &[PolicyError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// An active employee since 2020 with the given id, department and job function.
pub fn person(id: &str, department: &str, job_function: &str) -> HrRecord {
    let username = id.to_ascii_lowercase();
    HrRecord {
        employee_id: EmployeeId::parse(id).unwrap(),
        username: Username::parse(&username).unwrap(),
        email: format!("{username}@example.com"),
        display_name: id.to_owned(),
        department: (!department.is_empty()).then(|| department.to_owned()),
        job_function: (!job_function.is_empty()).then(|| job_function.to_owned()),
        manager: None,
        location: None,
        status: EmploymentStatus::Active,
        kind: IdentityKind::Employee,
        start_date: Some(date!(2020 - 01 - 01)),
        end_date: None,
        groups: BTreeSet::new(),
    }
}

/// A compact, exact rendering of a decision.
pub fn render(decision: &Decision) -> String {
    match decision {
        Decision::Eligible(e) => format!(
            "eligible {} max={} approval={}{} tier={} owner={}",
            e.rule,
            format_duration(e.max_duration),
            e.approval.name,
            if e.ticket_required { " ticket" } else { "" },
            e.tier,
            e.owner,
        ),
        Decision::NotEligible(reasons) => format!("no: {}", reasons.join(" | ")),
        Decision::NotCovered(_) => format!("not covered: {}", decision.reasons().join(" | ")),
    }
}

/// The one helper of the case tables: check a query and render the decision.
pub fn check(
    policy: &Policy,
    who: &HrRecord,
    resource: &str,
    role: &str,
    duration: Option<Duration>,
    context: &RequestContext,
) -> String {
    let q = AccessQuery {
        identity: who,
        resource,
        role,
        duration,
        context,
    };
    let decision = policy.check(&q);
    // explain must always agree with check.
    let explained = policy.explain(&q);
    match &decision {
        Decision::Eligible(e) => {
            assert_eq!(explained.eligible.as_ref(), Some(e), "explain disagrees")
        }
        Decision::NotEligible(_) | Decision::NotCovered(_) => {
            assert_eq!(explained.eligible, None, "explain disagrees")
        }
    }
    render(&decision)
}
