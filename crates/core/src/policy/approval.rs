//! Approval policies: who approves a request and how many approvals it needs, from the
//! request's risk score and the resource's tier.

use std::fmt;

use time::Duration;

use super::values::format_duration;
use crate::identity::EmployeeId;

/// Where approvers come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ApproverSource {
    /// The requester's manager (HR `manager`; a vendor's sponsor).
    Manager,
    /// The resource's owner (a group or an identity).
    ResourceOwner,
    /// Any member of a policy group.
    Group(String),
    /// One identity.
    Identity(EmployeeId),
}

impl fmt::Display for ApproverSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manager => f.write_str("manager"),
            Self::ResourceOwner => f.write_str("owner"),
            Self::Group(g) => write!(f, "group:{g}"),
            Self::Identity(id) => write!(f, "identity:{id}"),
        }
    }
}

/// How many approvals a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// None: granted on request.
    Auto,
    /// One approver from the policy's sources.
    Single,
    /// Two distinct approvers; with `security_required`, one of them from the security
    /// group.
    Dual {
        /// Whether one approver must be a member of the policy's security group.
        security_required: bool,
    },
}

/// A named approval policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Unique name.
    pub name: String,
    /// Risk below this is approved automatically.
    pub auto_below: u32,
    /// Risk at or above this needs two distinct approvers.
    pub dual_from: u32,
    /// Where approvers come from, in order of preference.
    pub approvers: Vec<ApproverSource>,
    /// The group one of two approvers must come from on tier 0.
    pub security_group: String,
    /// How long a request may wait for approval before it lapses.
    pub pending_timeout: Duration,
    /// What a request must bring: justification length, ticket form and check.
    pub intake: std::sync::Arc<Intake>,
}

/// What a request under an approval policy must bring.
#[derive(Debug, Clone)]
pub struct Intake {
    /// The shortest justification accepted, in characters.
    pub min_justification: usize,
    /// The form a ticket must have (a regular expression matched against the whole
    /// ticket), when set.
    pub ticket_pattern: Option<regex_lite::Regex>,
    /// A URL (with `{ticket}` in it) that must answer 2xx for the ticket to count as
    /// open, when set.
    pub ticket_check_url: Option<String>,
}

impl Default for Intake {
    fn default() -> Self {
        Self {
            min_justification: Self::DEFAULT_MIN_JUSTIFICATION,
            ticket_pattern: None,
            ticket_check_url: None,
        }
    }
}

impl PartialEq for Intake {
    fn eq(&self, other: &Self) -> bool {
        self.min_justification == other.min_justification
            && self.ticket_pattern.as_ref().map(regex_lite::Regex::as_str)
                == other.ticket_pattern.as_ref().map(regex_lite::Regex::as_str)
            && self.ticket_check_url == other.ticket_check_url
    }
}

impl Eq for Intake {}

impl Intake {
    /// The shortest justification when policy sets none.
    pub const DEFAULT_MIN_JUSTIFICATION: usize = 10;

    /// Whether `ticket` has the form policy asks for (any form when it asks for none).
    pub fn ticket_matches(&self, ticket: &str) -> bool {
        self.ticket_pattern
            .as_ref()
            .is_none_or(|p| p.is_match(ticket))
    }
}

impl ApprovalPolicy {
    /// The route for a request of `risk` on a resource of `tier`. Tier 0 always needs two
    /// approvers, one from the security group, whatever the risk.
    pub fn route(&self, tier: u8, risk: u32) -> Route {
        if tier == 0 {
            Route::Dual {
                security_required: true,
            }
        } else if risk < self.auto_below {
            Route::Auto
        } else if risk >= self.dual_from {
            Route::Dual {
                security_required: false,
            }
        } else {
            Route::Single
        }
    }

    /// The routing rules in one line, for people, such as
    /// "risk < 30: auto-approved; 30-69: one approver from manager, owner; >= 70: two
    /// distinct approvers from manager, owner; tier 0: always two, one from group security".
    pub fn route_text(&self) -> String {
        let from = self
            .approvers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut parts = Vec::new();
        if self.auto_below > 0 {
            parts.push(format!("risk < {}: auto-approved", self.auto_below));
        }
        if self.dual_from > self.auto_below {
            let last = self.dual_from - 1;
            let range = if last == self.auto_below {
                format!("risk {last}")
            } else {
                format!("risk {}-{last}", self.auto_below)
            };
            parts.push(format!("{range}: one approver from {from}"));
        }
        let dual_start = self.dual_from.max(self.auto_below);
        parts.push(format!(
            "risk >= {dual_start}: two distinct approvers from {from}"
        ));
        parts.push(format!(
            "tier 0: always two, one from group {}",
            self.security_group
        ));
        parts.push(format!(
            "pending requests lapse after {}",
            format_duration(self.pending_timeout)
        ));
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(auto_below: u32, dual_from: u32) -> ApprovalPolicy {
        ApprovalPolicy {
            name: "p".into(),
            auto_below,
            dual_from,
            approvers: vec![ApproverSource::Manager, ApproverSource::ResourceOwner],
            security_group: "security".into(),
            pending_timeout: Duration::hours(24),
            intake: Default::default(),
        }
    }

    #[test]
    fn route_text_reads_like_the_rules() {
        assert_eq!(
            policy(30, 70).route_text(),
            "risk < 30: auto-approved; risk 30-69: one approver from manager, owner; \
             risk >= 70: two distinct approvers from manager, owner; \
             tier 0: always two, one from group security; pending requests lapse after 1d"
        );
        assert_eq!(
            policy(0, 0).route_text(),
            "risk >= 0: two distinct approvers from manager, owner; \
             tier 0: always two, one from group security; pending requests lapse after 1d"
        );
    }
}
