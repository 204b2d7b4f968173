//! Whether a request's approvals satisfy its route, what is still missing, and whether
//! anyone could ever satisfy it (a request nobody can approve is refused when made, not
//! left to time out).

use std::collections::BTreeSet;
use std::fmt;

use super::approval::{ApprovalCase, Approver, ApproverFacts, candidates};
use crate::identity::EmployeeId;
use crate::policy::{ApproverSource, Principal, Route};

/// An approval a request still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// One more approver from an allowed source, other than those who approved.
    Approver,
    /// An approver from the security group, other than the one who approved.
    SecurityApprover,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Approver => "another approver",
            Self::SecurityApprover => "an approver from the security group",
        })
    }
}

/// Where a request's approvals stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// More approvals are needed.
    NeedsMore {
        /// What is missing, approvers from the security group first.
        missing: Vec<Need>,
    },
    /// The route is satisfied.
    Approved,
}

/// Where `approvals` (as stored from [`crate::request::check_approver`]) leave a request
/// on `route`. Each person counts once, however often they appear. An approval counts
/// towards the policy's sources only if it named one, and towards security only if its
/// approver belongs to the security group.
///
/// - `Auto`: approved.
/// - `Single`: one approver from the sources.
/// - `Dual`: two distinct approvers from the sources.
/// - `Dual` with `security_required`: two distinct people, one from the security group
///   and the other from the sources (a security member in the sources may be either).
pub fn decision_state(route: Route, approvals: &[Approver]) -> Outcome {
    let from_sources: BTreeSet<&EmployeeId> = approvals
        .iter()
        .filter(|a| !a.sources.is_empty())
        .map(|a| &a.id)
        .collect();
    let security: BTreeSet<&EmployeeId> = approvals
        .iter()
        .filter(|a| a.security)
        .map(|a| &a.id)
        .collect();
    let missing = match route {
        Route::Auto => Vec::new(),
        Route::Single => vec![Need::Approver; 1usize.saturating_sub(from_sources.len())],
        Route::Dual {
            security_required: false,
        } => vec![Need::Approver; 2usize.saturating_sub(from_sources.len())],
        Route::Dual {
            security_required: true,
        } => {
            // Satisfied when some security member and some *other* source approver exist:
            // both sets non-empty and at least two people between them.
            let people = from_sources.union(&security).count();
            let mut missing = Vec::new();
            if security.is_empty() {
                missing.push(Need::SecurityApprover);
            }
            if from_sources.is_empty() || (!security.is_empty() && people < 2) {
                missing.push(Need::Approver);
            }
            missing
        }
    };
    if missing.is_empty() {
        Outcome::Approved
    } else {
        Outcome::NeedsMore { missing }
    }
}

/// Whether the approvers among `people` could together satisfy the request's route. A
/// request for which this is false must be refused when made.
pub fn has_possible_approvers(case: &ApprovalCase, people: &[ApproverFacts]) -> bool {
    decision_state(case.route, &candidates(case, people)) == Outcome::Approved
}

impl Outcome {
    /// How many approvals are still missing.
    pub fn missing(&self) -> usize {
        match self {
            Self::NeedsMore { missing } => missing.len(),
            Self::Approved => 0,
        }
    }
}

/// What a request on `case` still needs after `approvals`, in words a requester or an
/// approver can act on: each missing approval with who may give it (the case's approver
/// sources, by name) and whom it must not be. Follows [`decision_state`]; empty when the
/// route is satisfied.
///
/// On a tier-0 route with nobody yet: `an approver from group:security` and `one more
/// approver who is the requester's manager (E1002), in group:payments-leads (the
/// resource's owners) or in group:sre-leads`.
pub fn still_needs(case: &ApprovalCase, approvals: &[Approver]) -> Vec<String> {
    let Outcome::NeedsMore { missing } = decision_state(case.route, approvals) else {
        return Vec::new();
    };
    let security_missing = missing.contains(&Need::SecurityApprover);
    let more = missing.iter().filter(|n| **n == Need::Approver).count();
    let mut out = Vec::new();
    if security_missing {
        out.push(format!("an approver from group:{}", case.security_group));
    }
    if more == 0 {
        return out;
    }
    let mut who: Vec<String> = case
        .sources
        .iter()
        .filter_map(|s| source_words(case, s))
        .collect();
    // Security given by someone who is also a source approver: a second member of the
    // security group completes the pair as well as another source approver does.
    let security = ApproverSource::Group(case.security_group.clone());
    if case.security_required()
        && !security_missing
        && approvals.iter().any(|a| !a.sources.is_empty())
        && !case.sources.contains(&security)
    {
        who.push(format!("in group:{}", case.security_group));
    }
    if who.is_empty() {
        out.push("one more approver, but this request's approver sources name nobody".to_owned());
        return out;
    }
    let who = listed(&who, "or");
    let approved: BTreeSet<&str> = approvals.iter().map(|a| a.id.as_str()).collect();
    out.push(if more > 1 {
        format!("two different approvers, each of whom is {who}")
    } else if security_missing {
        format!("one more approver who is {who}")
    } else if approved.is_empty() {
        format!("an approver who is {who}")
    } else {
        let approved: Vec<String> = approved.into_iter().map(str::to_owned).collect();
        format!(
            "one more approver, other than {}, who is {who}",
            listed(&approved, "and")
        )
    });
    out
}

/// Who an approver source names on this case, as words after "who is"; `None` when it
/// names nobody (no manager in HR, an owner that is everyone).
fn source_words(case: &ApprovalCase, source: &ApproverSource) -> Option<String> {
    Some(match source {
        ApproverSource::Manager => {
            let manager = case.manager.as_ref()?;
            if case.beneficiary.is_none() {
                format!("the requester's manager ({manager})")
            } else {
                format!("the approving manager ({manager})")
            }
        }
        ApproverSource::ResourceOwner => match &case.owner {
            Principal::Identity(id) => format!("the resource's owner ({id})"),
            Principal::Group(g) => format!("in group:{g} (the resource's owners)"),
            Principal::Everyone => return None,
        },
        ApproverSource::Group(g) => format!("in group:{g}"),
        ApproverSource::Identity(id) => id.to_string(),
    })
}

/// `a`, `a or b`, `a, b or c` (with `conjunction` "or").
fn listed(items: &[String], conjunction: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}
