//! Deciding access: group membership, birthright, what an identity could request, and the
//! fast eligibility check on the request path, which looks only at the rules the index
//! says can match and evaluates Cedar conditions only for rules that pass everything else.

use std::collections::{BTreeMap, BTreeSet};

use time::{Date, Duration, UtcOffset};

use super::cedar::{self, CedarError, Condition, Parties, RuleFacts};
use super::model::{
    EligibilityRule, Entitlement, Principal, Resource, ResourceKind, ResourceSelector, Role,
};
use super::values::{format_duration, local};
use super::{AccessQuery, Decision, Eligibility, NotCovered, Policy};
use crate::identity::{EmploymentStatus, HrRecord};

/// Why an identity may not hold or request anything at `today`, if it may not.
pub(super) fn not_current(who: &HrRecord, today: Date) -> Option<String> {
    let id = &who.employee_id;
    match who.status {
        EmploymentStatus::Leave => return Some(format!("identity {id} is on leave")),
        EmploymentStatus::Terminated => return Some(format!("identity {id} is terminated")),
        EmploymentStatus::Active => {}
    }
    if let Some(end) = who.end_date.filter(|end| *end < today) {
        return Some(format!("identity {id} has left (last day {end})"));
    }
    if let Some(start) = who.start_date.filter(|start| *start > today) {
        return Some(format!(
            "identity {id} has not started yet (starts {start})"
        ));
    }
    None
}

/// The Cedar inputs of one query, each built the first time a condition needs it and
/// shared by the conditions after.
pub(super) struct LazyInputs<'p> {
    resource: &'p cedar_policy::Entity,
    parties: Option<Parties>,
    entities: Option<Result<cedar_policy::Entities, CedarError>>,
    /// The last context built, with the clock offset and duration it was built for.
    context: Option<(UtcOffset, Duration, cedar_policy::Context)>,
}

/// Why a query names nothing to decide on: a reason for the whole query, not for a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum UnknownTarget {
    /// The policy has no resource of that name.
    #[error("unknown resource `{0}`")]
    Resource(String),
    /// The resource's kind has no role of that name.
    #[error("role `{role}` does not exist for {kind} resources")]
    Role {
        /// The role asked for.
        role: String,
        /// The resource's kind.
        kind: ResourceKind,
    },
}

impl<'p> LazyInputs<'p> {
    pub(super) fn new(resource: &'p cedar_policy::Entity) -> Self {
        Self {
            resource,
            parties: None,
            entities: None,
            context: None,
        }
    }
}

impl Policy {
    /// Ids of the policy groups of `who`, ascending.
    pub(super) fn group_ids_of(&self, who: &HrRecord) -> Vec<u32> {
        self.membership.of(who, &self.groups)
    }

    /// The names of the policy groups `who` belongs to, whatever their employment status.
    pub fn groups_of(&self, who: &HrRecord) -> BTreeSet<String> {
        self.group_ids_of(who)
            .into_iter()
            .filter_map(|i| self.groups.get(i as usize).map(|g| g.name.clone()))
            .collect()
    }

    /// Whether a rule's or birthright's principal includes `who` (whose groups are `groups`).
    pub(super) fn principal_matches(&self, p: &Principal, who: &HrRecord, groups: &[u32]) -> bool {
        match p {
            Principal::Everyone => true,
            Principal::Identity(id) => *id == who.employee_id,
            Principal::Group(g) => self
                .group_ids
                .get(g)
                .and_then(|i| u32::try_from(*i).ok())
                .is_some_and(|i| groups.binary_search(&i).is_ok()),
        }
    }

    /// The standing access `who` holds at `today`: entitlement -> name of the birthright
    /// that grants it (the first, in policy order). Empty unless `who` is current.
    pub fn birthright(&self, who: &HrRecord, today: Date) -> BTreeMap<Entitlement, String> {
        let mut out = BTreeMap::new();
        if not_current(who, today).is_some() {
            return out;
        }
        let groups = self.group_ids_of(who);
        for b in self
            .birthrights
            .iter()
            .filter(|b| self.principal_matches(&b.who, who, &groups))
        {
            for g in &b.grants {
                out.entry(g.clone()).or_insert_with(|| b.name.clone());
            }
        }
        out
    }

    /// What `who` could request at `today`, ignoring hours, durations, tickets and Cedar
    /// conditions: entitlement -> name of the first rule that allows it. Empty unless `who`
    /// is current.
    pub fn eligible_entitlements(
        &self,
        who: &HrRecord,
        today: Date,
    ) -> BTreeMap<Entitlement, String> {
        if not_current(who, today).is_some() {
            return BTreeMap::new();
        }
        let groups = self.group_ids_of(who);
        // Borrowed keys while collecting: many rules overlap, and only the first counts.
        let mut first: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for rule in self
            .rules
            .iter()
            .filter(|r| self.principal_matches(&r.who, who, &groups))
        {
            for resource in self.reach(&rule.resources) {
                if !rule.resources.matches(resource) {
                    continue;
                }
                for role in &rule.roles {
                    if self.role_of(resource.kind, role).is_some() {
                        first.entry((&resource.name, role)).or_insert(&rule.name);
                    }
                }
            }
        }
        first
            .into_iter()
            .map(|((resource, role), rule)| {
                let entitlement = Entitlement {
                    resource: resource.to_owned(),
                    role: role.to_owned(),
                };
                (entitlement, rule.to_owned())
            })
            .collect()
    }

    /// The resources a selector can match, narrowed by name or kind; the caller still
    /// checks the whole selector.
    fn reach(&self, selector: &ResourceSelector) -> Vec<&Resource> {
        if !selector.names.is_empty() {
            return selector
                .names
                .iter()
                .filter_map(|n| self.resource(n))
                .collect();
        }
        if selector.kinds.is_empty() {
            return self.resources.iter().collect();
        }
        selector
            .kinds
            .iter()
            .filter_map(|k| self.resources_by_kind.get(k.slot()))
            .flatten()
            .filter_map(|i| self.resources.get(*i))
            .collect()
    }

    /// Decides whether the query may be made. Rules are tried in policy order (files by
    /// path, then position in the file); the first whose principal, roles, resources, hours,
    /// duration, ticket and condition all pass gives the terms.
    pub fn check(&self, q: &AccessQuery<'_>) -> Decision {
        let today = local(q.context.now, UtcOffset::UTC).date();
        if let Some(reason) = not_current(q.identity, today) {
            return Decision::NotEligible(vec![reason]);
        }
        let (resource, entity, role) = match self.target(q) {
            Ok(found) => found,
            Err(reason) => return Decision::NotEligible(vec![reason.to_string()]),
        };
        if let Some(reason) = bad_duration(q.duration) {
            return Decision::NotEligible(vec![reason]);
        }
        let groups = self.group_ids_of(q.identity);
        let mut candidates = Vec::new();
        self.rule_index.candidates(
            &groups,
            q.identity.employee_id.as_str(),
            q.role,
            q.resource,
            resource.kind,
            &mut candidates,
        );
        candidates.sort_unstable();
        candidates.dedup();
        let mut inputs = LazyInputs::new(entity);
        let mut reasons = Vec::new();
        for id in candidates {
            let Some(rule) = self.rules.get(id as usize) else {
                continue;
            };
            if !rule.resources.matches(resource) {
                continue;
            }
            let failed = self.terms(rule, q, role, &groups, &mut inputs, false);
            if failed.is_empty() {
                return Decision::Eligible(self.eligibility(id as usize, rule, resource, role));
            }
            reasons.extend(
                failed
                    .into_iter()
                    .map(|r| format!("rule {}: {r}", rule.name)),
            );
        }
        if reasons.is_empty() {
            return Decision::NotCovered(self.not_covered(q, resource));
        }
        Decision::NotEligible(reasons)
    }

    /// Why no rule covers the query's identity: the rules that cover its role on its
    /// resource for others, and why their `who` leaves the identity out. Only on the
    /// refusal path, so it may look at every rule.
    fn not_covered(&self, q: &AccessQuery<'_>, resource: &Resource) -> NotCovered {
        let who = &q.identity.employee_id;
        let what = format!("{} on {}", q.role, q.resource);
        let covering: Vec<&EligibilityRule> = self
            .rules
            .iter()
            .filter(|r| r.roles.contains(q.role) && r.resources.matches(resource))
            .collect();
        let mut rules: Vec<String> = covering
            .iter()
            .take(NotCovered::SHOWN)
            .map(|r| {
                let head = format!(
                    "rule {} ({}) covers {what} for {}",
                    r.name, r.location, r.who
                );
                match self.principal_detail(&r.who, q.identity) {
                    Some(detail) => format!("{head}, which does not include {who} ({detail})"),
                    None => format!("{head}, which does not include {who}"),
                }
            })
            .collect();
        if covering.len() > NotCovered::SHOWN {
            rules.push(format!(
                "and {} more rules that cover {what} for others",
                covering.len() - NotCovered::SHOWN
            ));
        }
        if covering.is_empty() {
            rules.push(format!("no eligibility rule covers {what} for anyone"));
        }
        let name = &q.identity.display_name;
        let person = if name.is_empty() || name == who.as_str() {
            who.to_string()
        } else {
            format!("{who} ({name})")
        };
        NotCovered {
            summary: format!("no eligibility rule covers {person} for {what}"),
            rules,
        }
    }

    /// The resource, its Cedar entity and the role a query names, or why they do not exist.
    pub(super) fn target(
        &self,
        q: &AccessQuery<'_>,
    ) -> Result<(&Resource, &cedar_policy::Entity, &Role), UnknownTarget> {
        let found = self
            .resource_ids
            .get(q.resource)
            .and_then(|i| Some((self.resources.get(*i)?, self.resource_entities.get(*i)?)));
        let Some((resource, entity)) = found else {
            return Err(UnknownTarget::Resource(q.resource.to_owned()));
        };
        let Some(role) = self.role_of(resource.kind, q.role) else {
            return Err(UnknownTarget::Role {
                role: q.role.to_owned(),
                kind: resource.kind,
            });
        };
        Ok((resource, entity, role))
    }

    /// The terms of a rule that the query does not meet: hours, duration, ticket, and the
    /// Cedar condition (evaluated only when everything else passed, unless `always`).
    pub(super) fn terms(
        &self,
        rule: &EligibilityRule,
        q: &AccessQuery<'_>,
        role: &Role,
        groups: &[u32],
        inputs: &mut LazyInputs<'_>,
        always: bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(hours) = &rule.hours
            && !hours.contains(q.context.now)
        {
            out.push(format!("outside allowed hours {hours}"));
        }
        if let Some(d) = q.duration
            && d > rule.max_duration
        {
            out.push(format!(
                "duration {} exceeds max {}",
                format_duration(d),
                format_duration(rule.max_duration)
            ));
        }
        if rule.ticket_required && q.context.ticket().is_none() {
            out.push("a ticket is required".to_owned());
        }
        if let Some(cond) = &rule.when
            && (always || out.is_empty())
        {
            let facts = RuleFacts {
                role: role.name.clone(),
                privilege: role.privilege,
                offset: rule.hours.map_or(UtcOffset::UTC, |h| h.offset()),
                duration: q.duration.unwrap_or(rule.max_duration),
            };
            let result = self.evaluate_condition(cond, q, &facts, groups, inputs);
            match result {
                Ok(true) => {}
                Ok(false) => out.push(format!("condition `{}` is false", cond.text())),
                Err(e) => out.push(format!(
                    "condition `{}` could not be evaluated: {e}",
                    cond.text()
                )),
            }
        }
        out
    }

    fn evaluate_condition(
        &self,
        cond: &Condition,
        q: &AccessQuery<'_>,
        facts: &RuleFacts,
        groups: &[u32],
        inputs: &mut LazyInputs<'_>,
    ) -> Result<bool, CedarError> {
        let resource = inputs.resource;
        let cedar_names = self
            .cedar_names
            .as_ref()
            .ok_or(CedarError::NamesUnavailable)?;
        let parties = inputs
            .parties
            .get_or_insert_with(|| Parties::new(cedar_names, q.identity, resource));
        let entities = if cond.needs_entities() {
            inputs
                .entities
                .get_or_insert_with(|| {
                    let group_names: Vec<&str> = groups
                        .iter()
                        .filter_map(|i| self.groups.get(*i as usize).map(|g| g.name.as_str()))
                        .collect();
                    cedar::entities(
                        cedar::identity_entity(cedar_names, q.identity, &group_names)?,
                        resource,
                    )
                })
                .as_ref()
                .map_err(Clone::clone)?
        } else {
            &self.no_entities
        };
        let context = match &inputs.context {
            Some((offset, duration, context))
                if *offset == facts.offset && *duration == facts.duration =>
            {
                context.clone()
            }
            _ => {
                let context = cedar::context(q.context, facts)?;
                inputs.context = Some((facts.offset, facts.duration, context.clone()));
                context
            }
        };
        cedar::evaluate(&self.authorizer, cond, parties, entities, context)
    }

    pub(super) fn eligibility(
        &self,
        id: usize,
        rule: &EligibilityRule,
        resource: &Resource,
        role: &Role,
    ) -> Eligibility {
        let approval = self
            .rule_approval
            .get(id)
            .and_then(|a| self.approvals.get(*a))
            .cloned()
            .unwrap_or_else(|| unreachable_approval(&rule.approval));
        Eligibility {
            rule: rule.name.clone(),
            location: rule.location.clone(),
            max_duration: rule.max_duration,
            approval,
            ticket_required: rule.ticket_required,
            tier: resource.tier,
            owner: resource.owner.clone(),
            privilege: role.privilege,
        }
    }
}

/// Every rule's approval is resolved when the policy is compiled. Should that ever not
/// hold, fail closed: the strictest route, with nobody able to approve.
fn unreachable_approval(name: &str) -> super::ApprovalPolicy {
    super::ApprovalPolicy {
        name: name.to_owned(),
        auto_below: 0,
        dual_from: 0,
        approvers: Vec::new(),
        security_group: String::new(),
        pending_timeout: Duration::ZERO,
        intake: Default::default(),
    }
}

/// Why a requested duration is unusable, if it is.
pub(super) fn bad_duration(d: Option<Duration>) -> Option<String> {
    d.filter(|d| *d <= Duration::ZERO)
        .map(|d| format!("duration {} must be more than zero", format_duration(d)))
}
