//! Whether a request's approvals satisfy its route, what is still missing, and whether
//! anyone could ever satisfy it (a request nobody can approve is refused when made, not
//! left to time out).

use std::collections::BTreeSet;
use std::fmt;

use super::approval::{ApprovalCase, Approver, ApproverFacts, candidates};
use crate::identity::EmployeeId;
use crate::policy::Route;

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
