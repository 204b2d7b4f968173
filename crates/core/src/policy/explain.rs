//! Explaining a decision for `warden access explain`: every rule that concerns the query,
//! whether it matched, and each reason it did not, in words a reviewer can act on.

use time::UtcOffset;

use super::Eligibility;
use super::eligibility::{LazyInputs, bad_duration, not_current};
use super::model::{EligibilityRule, Membership, Principal, join};
use super::values::local;
use super::{AccessQuery, Policy};
use crate::identity::HrRecord;

/// One rule considered by [`Policy::explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    /// The rule's name.
    pub rule: String,
    /// Where it is written, `file:line`.
    pub location: String,
    /// Whether it would grant the request.
    pub matched: bool,
    /// Why not, one reason per failed term; empty when matched.
    pub reasons: Vec<String>,
}

/// The full account of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The terms, when eligible: the same answer as [`Policy::check`].
    pub eligible: Option<Eligibility>,
    /// Reasons that concern the whole query rather than one rule: the identity is not
    /// current, the resource or the role does not exist, the duration is not positive.
    pub reasons: Vec<String>,
    /// The policy groups the identity belongs to.
    pub identity_groups: Vec<String>,
    /// Every rule that names the identity (directly, through a group, or everyone), and
    /// every rule that grants the asked role on the asked resource to someone, in
    /// evaluation order.
    pub candidates: Vec<RuleTrace>,
    /// How a request would be approved, when eligible; otherwise why there is no route.
    pub route_text: String,
}

impl Policy {
    /// Explains a query: every candidate rule and why it matched or failed. Slower than
    /// [`Policy::check`] (it looks at every rule) and meant for people.
    pub fn explain(&self, q: &AccessQuery<'_>) -> Explanation {
        let today = local(q.context.now, UtcOffset::UTC).date();
        let groups = self.group_ids_of(q.identity);
        let identity_groups: Vec<String> = groups
            .iter()
            .filter_map(|i| self.groups.get(*i as usize).map(|g| g.name.clone()))
            .collect();
        let mut reasons = Vec::new();
        reasons.extend(not_current(q.identity, today));
        let target = self.target(q);
        if let Err(reason) = &target {
            reasons.push(reason.to_string());
        }
        reasons.extend(bad_duration(q.duration));

        let mut inputs = target
            .as_ref()
            .ok()
            .map(|(_, entity, _)| LazyInputs::new(entity));
        let mut candidates = Vec::new();
        let mut eligible = None;
        for (id, rule) in self.rules.iter().enumerate() {
            let names_identity = self.principal_matches(&rule.who, q.identity, &groups);
            let role_ok = rule.roles.contains(q.role);
            let selector_misses = match &target {
                Ok((resource, _, _)) => rule.resources.mismatches(resource),
                Err(_) => Vec::new(),
            };
            let grants_target = role_ok && target.is_ok() && selector_misses.is_empty();
            if !names_identity && !grants_target {
                continue;
            }
            let mut why = reasons.clone();
            if !names_identity {
                why.push(self.principal_mismatch(&rule.who, q.identity));
            }
            if !role_ok {
                why.push(format!(
                    "role {} is not one of [{}]",
                    q.role,
                    join(&rule.roles)
                ));
            }
            why.extend(selector_misses);
            if let (Ok((_, _, role)), Some(inputs)) = (&target, inputs.as_mut()) {
                why.extend(self.terms(rule, q, role, &groups, inputs, true));
            }
            let matched = why.is_empty();
            if matched
                && eligible.is_none()
                && let Ok((resource, _, role)) = &target
            {
                eligible = Some(self.eligibility(id, rule, resource, role));
            }
            candidates.push(trace(rule, matched, why));
        }
        let route_text = match &eligible {
            Some(e) => e.approval.route_text(),
            None => "no route: not eligible".to_owned(),
        };
        Explanation {
            eligible,
            reasons,
            identity_groups,
            candidates,
            route_text,
        }
    }

    /// Why a principal does not include `who`.
    fn principal_mismatch(&self, p: &Principal, who: &HrRecord) -> String {
        match p {
            Principal::Everyone => "everyone matches".to_owned(),
            Principal::Identity(id) => {
                format!("rule is for identity {id}, not {}", who.employee_id)
            }
            Principal::Group(name) => format!(
                "identity is not in group {name} ({})",
                self.principal_detail(p, who).unwrap_or_default()
            ),
        }
    }

    /// Why `who` is not in a group principal: not a listed member, an HR group missing,
    /// or each attribute that differs from what the group's rule wants. `None` for any
    /// other principal.
    pub(super) fn principal_detail(&self, p: &Principal, who: &HrRecord) -> Option<String> {
        let Principal::Group(name) = p else {
            return None;
        };
        Some(match self.group(name).map(|g| &g.membership) {
            Some(Membership::Members(_)) => {
                format!("{} is not a listed member", who.employee_id)
            }
            Some(Membership::External(ext)) => format!("HR groups do not include {ext:?}"),
            Some(Membership::Rule(keys)) => keys
                .iter()
                .filter_map(|(k, want)| {
                    let have = who.attribute(k);
                    if have.is_some_and(|v| want.iter().any(|w| w == v)) {
                        return None;
                    }
                    let have =
                        have.map_or_else(|| format!("{k} is not set"), |v| format!("{k} is {v}"));
                    let want = match want.as_slice() {
                        [one] => one.clone(),
                        many => format!("one of {}", many.join(", ")),
                    };
                    Some(format!("{have}; rule wants {want}"))
                })
                .collect::<Vec<_>>()
                .join("; "),
            None => "no such group".to_owned(),
        })
    }
}

fn trace(rule: &EligibilityRule, matched: bool, reasons: Vec<String>) -> RuleTrace {
    RuleTrace {
        rule: rule.name.clone(),
        location: rule.location.clone(),
        matched,
        reasons,
    }
}
