//! Separation of duties on approvals: who may decide on a request, in which capacity, and
//! why anyone else is refused. The facts come from the service layer (HR records, policy
//! group memberships); the rules are here, so every path that approves or denies applies
//! the same ones.

use std::collections::BTreeSet;

use time::Date;

use super::quorum::{decision_state, still_needs};
use crate::identity::{EmployeeId, HrRecord};
use crate::policy::{ApproverSource, Eligibility, Principal, Route};

/// What approving one request depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalCase {
    /// Who made the request.
    pub requester: EmployeeId,
    /// Who would hold the access, when the request is made on their behalf (a vendor's
    /// sponsor asking for the vendor).
    pub beneficiary: Option<EmployeeId>,
    /// The `manager` approver: the HR manager of the holder (the beneficiary if any, else
    /// the requester). When the holder's manager is the requester (a sponsor asking for
    /// their vendor), it is the sponsor's own manager: the sponsor cannot approve what
    /// they asked for, so the line above them does.
    pub manager: Option<EmployeeId>,
    /// The resource's owner: the `owner` approver (the identity, or any member of the
    /// group). `Everyone`, which policy refuses as an owner, matches nobody.
    pub owner: Principal,
    /// How many approvals the request needs, fixed when it was made.
    pub route: Route,
    /// Where approvers come from (the approval policy's `approvers`).
    pub sources: Vec<ApproverSource>,
    /// The policy group one of two approvers must belong to when the route requires it.
    pub security_group: String,
}

impl ApprovalCase {
    /// The case of a request made by `requester` (for `beneficiary`, if any) on the terms
    /// policy gave it, routed by its risk score.
    pub fn new(
        terms: &Eligibility,
        risk: u32,
        requester: &HrRecord,
        beneficiary: Option<&HrRecord>,
    ) -> Self {
        let holder = beneficiary.unwrap_or(requester);
        Self {
            requester: requester.employee_id.clone(),
            beneficiary: beneficiary.map(|b| b.employee_id.clone()),
            manager: match beneficiary {
                Some(b) if b.manager.as_ref() == Some(&requester.employee_id) => {
                    requester.manager.clone()
                }
                _ => holder.manager.clone(),
            },
            owner: terms.owner.clone(),
            route: terms.approval.route(terms.tier, risk),
            sources: terms.approval.approvers.clone(),
            security_group: terms.approval.security_group.clone(),
        }
    }

    /// Whether the route requires one approver from the security group.
    pub fn security_required(&self) -> bool {
        matches!(
            self.route,
            Route::Dual {
                security_required: true
            }
        )
    }
}

/// What is known of a person who might approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverFacts {
    /// Their employee id.
    pub id: EmployeeId,
    /// Whether they may act now: current in HR and their Warden account enabled.
    pub current: bool,
    /// The policy groups they belong to ([`crate::policy::Policy::groups_of`]).
    pub groups: BTreeSet<String>,
}

impl ApproverFacts {
    /// The facts of `record`, a member of policy `groups`, at `today`. A disabled Warden
    /// account is the caller's to fold in, by clearing `current`.
    pub fn of(record: &HrRecord, groups: BTreeSet<String>, today: Date) -> Self {
        Self {
            id: record.employee_id.clone(),
            current: record.is_current(today),
            groups,
        }
    }
}

/// A person who may approve a request, and in which capacity. As returned by
/// [`check_approver`], it is the approval to store; [`crate::request::decision_state`]
/// counts the stored ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// Their employee id.
    pub id: EmployeeId,
    /// The policy's approver sources they satisfy, in policy order.
    pub sources: Vec<ApproverSource>,
    /// Whether they belong to the security group.
    pub security: bool,
}

/// Why someone may not decide on a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefusal {
    /// They made the request.
    #[error("{0} made this request and cannot decide on it; cancel it instead")]
    SelfApproval(EmployeeId),
    /// The request was made on their behalf.
    #[error("this request was made on behalf of {0}, who cannot decide on it")]
    Beneficiary(EmployeeId),
    /// They have already approved it; a second approval must come from someone else.
    #[error("{0} has already approved this request; another approval must come from someone else")]
    AlreadyApproved(EmployeeId),
    /// They are not current: on leave, gone, not started, or their account is disabled.
    #[error("{0} is not a current identity and cannot decide on requests")]
    NotCurrent(EmployeeId),
    /// They satisfy none of the approver sources this request allows.
    #[error("{id} is not an approver of this request; approvers come from {allowed}")]
    NotAnApprover {
        /// Who tried.
        id: EmployeeId,
        /// The sources that are allowed, for people.
        allowed: String,
    },
    /// They may approve, but their approval would bring the request no closer to its
    /// route: on a tier-0 route, a second member of the security group when a source
    /// approver is what is missing, or a second source approver when security is. Such
    /// an approval is refused rather than recorded, so the record never shows approvals
    /// that did not count.
    #[error("an approval by {id} would not count: this request still needs {needs}")]
    WouldNotCount {
        /// Who tried.
        id: EmployeeId,
        /// What the request still needs, in words ([`crate::request::still_needs`]).
        needs: String,
    },
}

/// Checks that `approver` may approve the request, given the approvals already stored,
/// and returns the approval to store. An approval that would not bring the request closer
/// to its route (fewer approvals missing, by [`decision_state`]) is refused: it is not
/// recorded as if it counted.
pub fn check_approver(
    case: &ApprovalCase,
    approver: &ApproverFacts,
    prior: &[Approver],
) -> Result<Approver, ApprovalRefusal> {
    let approval = may_decide(case, approver)?;
    if prior.iter().any(|a| a.id == approval.id) {
        return Err(ApprovalRefusal::AlreadyApproved(approval.id));
    }
    let before = decision_state(case.route, prior);
    let mut with = prior.to_vec();
    with.push(approval.clone());
    if decision_state(case.route, &with).missing() >= before.missing() {
        return Err(ApprovalRefusal::WouldNotCount {
            id: approval.id,
            needs: still_needs(case, prior).join(" and "),
        });
    }
    Ok(approval)
}

/// Checks that `approver` may deny the request. Anyone who could approve it may deny it,
/// including someone who approved it before; one denial ends the request.
pub fn check_denier(case: &ApprovalCase, approver: &ApproverFacts) -> Result<(), ApprovalRefusal> {
    may_decide(case, approver).map(|_| ())
}

/// Everyone among `people` who could approve the request now, in the order given.
pub fn candidates(case: &ApprovalCase, people: &[ApproverFacts]) -> Vec<Approver> {
    people
        .iter()
        .filter_map(|p| may_decide(case, p).ok())
        .collect()
}

/// Whether `approver` may decide on the request at all, and in which capacity: not a
/// party to it, current, and from an allowed source.
fn may_decide(case: &ApprovalCase, approver: &ApproverFacts) -> Result<Approver, ApprovalRefusal> {
    if approver.id == case.requester {
        return Err(ApprovalRefusal::SelfApproval(approver.id.clone()));
    }
    if case.beneficiary.as_ref() == Some(&approver.id) {
        return Err(ApprovalRefusal::Beneficiary(approver.id.clone()));
    }
    if !approver.current {
        return Err(ApprovalRefusal::NotCurrent(approver.id.clone()));
    }
    standing(case, approver)
}

/// The capacities in which `approver` may decide: the policy's sources they satisfy, and
/// the security group when the route requires one of its members.
fn standing(case: &ApprovalCase, approver: &ApproverFacts) -> Result<Approver, ApprovalRefusal> {
    let sources: Vec<ApproverSource> = case
        .sources
        .iter()
        .filter(|s| satisfies(case, approver, s))
        .cloned()
        .collect();
    let security = approver.groups.contains(&case.security_group);
    if sources.is_empty() && !(security && case.security_required()) {
        return Err(ApprovalRefusal::NotAnApprover {
            id: approver.id.clone(),
            allowed: allowed_text(case),
        });
    }
    Ok(Approver {
        id: approver.id.clone(),
        sources,
        security,
    })
}

/// Whether `approver` is one of the approvers `source` names for this request.
fn satisfies(case: &ApprovalCase, approver: &ApproverFacts, source: &ApproverSource) -> bool {
    match source {
        ApproverSource::Manager => case.manager.as_ref() == Some(&approver.id),
        ApproverSource::ResourceOwner => match &case.owner {
            Principal::Identity(id) => *id == approver.id,
            Principal::Group(g) => approver.groups.contains(g),
            Principal::Everyone => false,
        },
        ApproverSource::Group(g) => approver.groups.contains(g),
        ApproverSource::Identity(id) => *id == approver.id,
    }
}

/// The allowed sources of a case, for messages: `manager, owner, group:security`.
fn allowed_text(case: &ApprovalCase) -> String {
    let mut names: Vec<String> = case.sources.iter().map(ToString::to_string).collect();
    let security = ApproverSource::Group(case.security_group.clone());
    if case.security_required() && !case.sources.contains(&security) {
        names.push(security.to_string());
    }
    names.join(", ")
}
