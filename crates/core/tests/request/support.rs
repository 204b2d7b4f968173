//! Shared fixtures: employee ids, HR records, approver facts and the approval case most
//! separation-of-duties tests start from.

use std::collections::BTreeSet;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use warden_core::Username;
use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, IdentityKind};
use warden_core::policy::{ApproverSource, Principal, Route};
use warden_core::request::{ApprovalCase, ApproverFacts};

/// A Wednesday, 10:00 UTC.
pub const WEDNESDAY_10: OffsetDateTime = datetime!(2026-03-04 10:00 UTC);

/// The requester of the standard case.
pub const REQUESTER: &str = "E100";
/// The requester's HR manager.
pub const MANAGER: &str = "M1";
/// The security group.
pub const SECURITY: &str = "security";
/// The resource owner group.
pub const OWNERS: &str = "leads";
/// A policy group named as an approver source.
pub const SRE_LEADS: &str = "sre-leads";

pub fn id(raw: &str) -> EmployeeId {
    EmployeeId::parse(raw).unwrap()
}

/// A current approver, member of `groups`.
pub fn member(raw: &str, groups: &[&str]) -> ApproverFacts {
    ApproverFacts {
        id: id(raw),
        current: true,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

/// The same approver, no longer current.
pub fn gone(mut facts: ApproverFacts) -> ApproverFacts {
    facts.current = false;
    facts
}

/// A request by `REQUESTER` (manager `MANAGER`) on a resource owned by group `OWNERS`,
/// approvers from manager, owner and `group:SRE_LEADS`, on `route`.
pub fn case(route: Route) -> ApprovalCase {
    ApprovalCase {
        requester: id(REQUESTER),
        beneficiary: None,
        manager: Some(id(MANAGER)),
        owner: Principal::Group(OWNERS.into()),
        route,
        sources: vec![
            ApproverSource::Manager,
            ApproverSource::ResourceOwner,
            ApproverSource::Group(SRE_LEADS.into()),
        ],
        security_group: SECURITY.into(),
    }
}

/// The standard case made by `REQUESTER` on behalf of vendor `V1`, whose sponsor (HR
/// manager) is the requester: the manager approver is the sponsor's own manager.
pub fn vendor_case(route: Route) -> ApprovalCase {
    ApprovalCase {
        beneficiary: Some(id("V1")),
        manager: Some(id(MANAGER)),
        ..case(route)
    }
}

pub const SINGLE: Route = Route::Single;
pub const DUAL: Route = Route::Dual {
    security_required: false,
};
pub const TIER0: Route = Route::Dual {
    security_required: true,
};

/// An active employee record.
pub fn person(raw: &str, manager: Option<&str>, kind: IdentityKind) -> HrRecord {
    HrRecord {
        employee_id: id(raw),
        username: Username::parse(&raw.to_ascii_lowercase()).unwrap(),
        email: format!("{}@example.com", raw.to_ascii_lowercase()),
        display_name: raw.into(),
        department: None,
        job_function: None,
        manager: manager.map(id),
        location: None,
        status: EmploymentStatus::Active,
        kind,
        start_date: None,
        end_date: None,
        groups: BTreeSet::new(),
    }
}

/// `h` hours after Wednesday 10:00 UTC (negative: before).
pub fn at(h: i64) -> OffsetDateTime {
    WEDNESDAY_10 + Duration::hours(h)
}
