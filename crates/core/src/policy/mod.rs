//! Policy as code: who may hold or request which access, on what terms, and who approves.
//!
//! A policy is a directory of TOML files (the format is in `docs/policy.md`). The caller
//! reads the files; [`compile`] checks them completely (every error, with file and line)
//! and returns an immutable, indexed [`Policy`]. On the request path, [`Policy::check`]
//! decides eligibility looking only at the rules that can match; [`Policy::explain`] says
//! why for every candidate rule. Nothing here reads files or the clock: time comes in
//! through the query.

mod approval;
mod cedar;
mod compile;
mod eligibility;
mod explain;
mod format;
mod index;
mod model;
mod path;
mod values;

use std::collections::HashMap;
use std::fmt;

use time::{Duration, OffsetDateTime};

pub use approval::{ApprovalPolicy, ApproverSource, Intake, Route};
pub use cedar::{Condition, SCHEMA as CEDAR_SCHEMA};
pub use compile::{CompileOptions, compile, compile_with};
pub use explain::{Explanation, RuleTrace};
pub use model::{
    Birthright, Drift, EligibilityRule, Entitlement, Group, Membership, Principal, Privilege,
    Resource, ResourceKind, ResourceSelector, Role, RoleTarget,
};
pub use path::{PathError, check_path};
pub use values::{
    ClockError, DurationError, Hours, HoursError, MAX_POLICY_DURATION, format_duration,
    parse_duration, parse_duration_within,
};

use crate::identity::HrRecord;
use index::{GroupIndex, RuleIndex};

/// One policy file: its path (as shown in errors) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySource {
    /// The path, relative to the policy directory, such as `access.toml`.
    pub path: String,
    /// The file's contents.
    pub text: String,
}

/// A problem found while compiling a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file, as given in [`PolicySource::path`].
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong, for the author.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// The circumstances of a request, as the caller knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// When the request is made.
    pub now: OffsetDateTime,
    /// Seconds since the requester last passed multi-factor authentication.
    pub mfa_age_secs: Option<i64>,
    /// The change or incident ticket given with the request. Blank counts as none.
    pub ticket: Option<String>,
    /// Where the request comes from.
    pub source_ip: Option<std::net::IpAddr>,
    /// The request's risk score, when already computed.
    pub risk: Option<i64>,
}

impl RequestContext {
    /// The ticket, unless absent or blank.
    pub fn ticket(&self) -> Option<&str> {
        self.ticket
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// A context with only the time known.
    pub fn at(now: OffsetDateTime) -> Self {
        Self {
            now,
            mfa_age_secs: None,
            ticket: None,
            source_ip: None,
            risk: None,
        }
    }
}

/// "May this identity request this role on this resource, now, for this long?"
#[derive(Debug, Clone, Copy)]
pub struct AccessQuery<'a> {
    /// Who asks.
    pub identity: &'a HrRecord,
    /// The resource name.
    pub resource: &'a str,
    /// The role name (for the resource's kind).
    pub role: &'a str,
    /// How long; `None` when not asked yet.
    pub duration: Option<Duration>,
    /// The circumstances.
    pub context: &'a RequestContext,
}

/// The terms on which a request may be made, from the rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    /// The matching rule's name.
    pub rule: String,
    /// Where it is written, `file:line`.
    pub location: String,
    /// The longest grant.
    pub max_duration: Duration,
    /// How the request is approved.
    pub approval: ApprovalPolicy,
    /// Whether the request must carry a ticket.
    pub ticket_required: bool,
    /// The resource's tier.
    pub tier: u8,
    /// The resource's owner.
    pub owner: Principal,
    /// The privilege of the role asked for.
    pub privilege: Privilege,
}

/// The answer of [`Policy::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request may be made, on these terms.
    Eligible(Eligibility),
    /// It may not; the reasons, for people: each failed term of each rule that covers the
    /// identity for this role on this resource, or one reason about the whole query.
    NotEligible(Vec<String>),
    /// It may not, because no rule covers the identity for this role on this resource at
    /// all; the rules that cover it for others say whom to ask.
    NotCovered(NotCovered),
}

/// Why nobody can approve what no rule allows: no eligibility rule's `who` includes the
/// identity for the role on the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCovered {
    /// One sentence for people: `no eligibility rule covers E1005 (Dave Dimitrov) for
    /// read on payments-db`.
    pub summary: String,
    /// The rules that cover the role on the resource for someone else, each with whom it
    /// is for and why that does not include the identity (at most [`NotCovered::SHOWN`],
    /// then how many more); or that no rule covers it for anyone.
    pub rules: Vec<String>,
}

impl NotCovered {
    /// How many covering rules are named before the rest are counted.
    pub const SHOWN: usize = 5;
}

impl Decision {
    /// Every reason of a refusal, in one list (the summary of [`Decision::NotCovered`]
    /// first); empty when eligible.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            Self::Eligible(_) => Vec::new(),
            Self::NotEligible(reasons) => reasons.clone(),
            Self::NotCovered(n) => std::iter::once(n.summary.clone())
                .chain(n.rules.iter().cloned())
                .collect(),
        }
    }
}

/// A compiled policy: immutable, indexed, cheap to query from many threads.
pub struct Policy {
    resources: Vec<Resource>,
    resource_ids: HashMap<String, usize>,
    resource_entities: Vec<cedar_policy::Entity>,
    /// Per kind (by `ResourceKind::slot`): indexes in `resources`, in policy order.
    resources_by_kind: [Vec<usize>; 4],
    /// Per kind (by `ResourceKind::slot`): role name -> index in `roles`.
    role_ids: [HashMap<String, usize>; 4],
    roles: Vec<Role>,
    groups: Vec<Group>,
    group_ids: HashMap<String, usize>,
    birthrights: Vec<Birthright>,
    rules: Vec<EligibilityRule>,
    /// Per rule: index of its approval policy.
    rule_approval: Vec<usize>,
    approvals: Vec<ApprovalPolicy>,
    approval_ids: HashMap<String, usize>,
    membership: GroupIndex,
    rule_index: RuleIndex,
    authorizer: cedar_policy::Authorizer,
    /// What conditions that read no entity data are evaluated against.
    no_entities: cedar_policy::Entities,
    /// `None` only if Warden's own Cedar names do not parse, which `compile` refuses.
    cedar_names: Option<cedar::Names>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("resources", &self.resources.len())
            .field("roles", &self.roles.len())
            .field("groups", &self.groups.len())
            .field("birthrights", &self.birthrights.len())
            .field("eligibility_rules", &self.rules.len())
            .field("approvals", &self.approvals.len())
            .finish()
    }
}

fn ids<T>(items: &[T], name: impl Fn(&T) -> &str) -> HashMap<String, usize> {
    items
        .iter()
        .enumerate()
        .map(|(i, t)| (name(t).to_owned(), i))
        .collect()
}

impl Policy {
    /// A policy with nothing in it: nobody is eligible for anything.
    pub fn empty() -> Self {
        Self::build(compile::Parts::default())
    }

    /// Indexes checked parts.
    fn build(parts: compile::Parts) -> Self {
        let compile::Parts {
            resources,
            resource_entities,
            roles,
            groups,
            birthrights,
            rules,
            approvals,
        } = parts;
        let mut role_ids: [HashMap<String, usize>; 4] = Default::default();
        for (i, r) in roles.iter().enumerate() {
            if let Some(map) = role_ids.get_mut(r.kind.slot()) {
                map.insert(r.name.clone(), i);
            }
        }
        let mut resources_by_kind: [Vec<usize>; 4] = Default::default();
        for (i, r) in resources.iter().enumerate() {
            if let Some(list) = resources_by_kind.get_mut(r.kind.slot()) {
                list.push(i);
            }
        }
        let group_ids = ids(&groups, |g| &g.name);
        let approval_ids = ids(&approvals, |a| &a.name);
        // Every reference was resolved by `compile`; an unresolved one (usize::MAX) would
        // fail closed in `eligibility`.
        let rule_approval = rules
            .iter()
            .map(|r| approval_ids.get(&r.approval).copied().unwrap_or(usize::MAX))
            .collect();
        Self {
            resource_ids: ids(&resources, |r| &r.name),
            membership: GroupIndex::new(&groups),
            rule_index: RuleIndex::new(&rules, &group_ids, groups.len()),
            resources,
            resource_entities,
            resources_by_kind,
            role_ids,
            roles,
            groups,
            group_ids,
            birthrights,
            rules,
            rule_approval,
            approvals,
            approval_ids,
            authorizer: cedar_policy::Authorizer::new(),
            no_entities: cedar_policy::Entities::empty(),
            cedar_names: cedar::Names::new().ok(),
        }
    }

    /// Every resource, in policy order.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter()
    }

    /// A resource by name.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resource_ids
            .get(name)
            .and_then(|i| self.resources.get(*i))
    }

    /// Every role, in policy order.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.iter()
    }

    /// A role by resource kind (`postgres`, ...) and name.
    pub fn role(&self, kind: &str, name: &str) -> Option<&Role> {
        self.role_of(ResourceKind::parse(kind)?, name)
    }

    fn role_of(&self, kind: ResourceKind, name: &str) -> Option<&Role> {
        self.role_ids
            .get(kind.slot())?
            .get(name)
            .and_then(|i| self.roles.get(*i))
    }

    /// Every group, in policy order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    /// A group by name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.group_ids.get(name).and_then(|i| self.groups.get(*i))
    }

    /// Every birthright, in policy order.
    pub fn birthrights(&self) -> impl Iterator<Item = &Birthright> {
        self.birthrights.iter()
    }

    /// Every eligibility rule, in evaluation order.
    pub fn rules(&self) -> impl Iterator<Item = &EligibilityRule> {
        self.rules.iter()
    }

    /// Every approval policy, in policy order.
    pub fn approvals(&self) -> impl Iterator<Item = &ApprovalPolicy> {
        self.approvals.iter()
    }

    /// An approval policy by name.
    pub fn approval(&self, name: &str) -> Option<&ApprovalPolicy> {
        self.approval_ids
            .get(name)
            .and_then(|i| self.approvals.get(*i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_shareable() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Policy>();
        shareable::<Decision>();
        shareable::<Explanation>();
    }

    #[test]
    fn the_schema_parses() {
        cedar::schema().unwrap();
    }
}
