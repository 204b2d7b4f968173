//! The compiled policy's vocabulary: resources, roles, groups, principals, birthright and
//! eligibility rules, as the rest of Warden sees them once a policy has been checked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use time::Duration;

use super::cedar::Condition;
use super::values::{Hours, format_duration};
pub use crate::connector::RoleTarget;
use crate::identity::EmployeeId;

/// The kinds of resource Warden knows how to grant access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// A PostgreSQL database.
    Postgres,
    /// A MariaDB (or MySQL) database.
    Mariadb,
    /// A Redis server.
    Redis,
    /// An SSH host.
    Ssh,
}

impl ResourceKind {
    /// Every kind, in the order used by indexes.
    pub const ALL: [Self; 4] = [Self::Postgres, Self::Mariadb, Self::Redis, Self::Ssh];

    /// The name used in policy files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mariadb => "mariadb",
            Self::Redis => "redis",
            Self::Ssh => "ssh",
        }
    }

    /// Parses the name used in policy files.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A small dense number, for per-kind tables.
    pub(crate) const fn slot(self) -> usize {
        match self {
            Self::Postgres => 0,
            Self::Mariadb => 1,
            Self::Redis => 2,
            Self::Ssh => 3,
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a role lets its holder do; feeds the risk score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    /// Reads data.
    Read,
    /// Changes data.
    Write,
    /// Changes the system itself: schema, users, configuration, root.
    Admin,
}

impl Privilege {
    /// Every privilege level, lowest first.
    pub const ALL: [Self; 3] = [Self::Read, Self::Write, Self::Admin];

    /// The name used in policy files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Parses the name used in policy files.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a rule is for, or who owns a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// Every member of a policy group (`group:NAME`).
    Group(String),
    /// One identity (`identity:EMPLOYEE_ID`).
    Identity(EmployeeId),
    /// Every current identity (`everyone`). Never an owner.
    Everyone,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Group(g) => write!(f, "group:{g}"),
            Self::Identity(id) => write!(f, "identity:{id}"),
            Self::Everyone => f.write_str("everyone"),
        }
    }
}

/// One thing an identity can hold: a role on a resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entitlement {
    /// The resource name.
    pub resource: String,
    /// The role name (defined for the resource's kind).
    pub role: String,
}

impl fmt::Display for Entitlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.role, self.resource)
    }
}

/// A resource Warden grants access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Unique name.
    pub name: String,
    /// What it is.
    pub kind: ResourceKind,
    /// The name of the connection (target configuration) used to reach it.
    pub connection: String,
    /// Environment, such as `prod`.
    pub environment: String,
    /// Sensitivity: 0 (crown jewels) to 3.
    pub tier: u8,
    /// Who owns it; a group or an identity, never everyone.
    pub owner: Principal,
    /// Free labels, key to value.
    pub tags: BTreeMap<String, String>,
    /// Accounts on the target expected to hold standing privilege (service accounts,
    /// the database owner): the reconciler lists them but raises no finding.
    pub standing: BTreeSet<String>,
    /// What the reconciler does with privileged access Warden did not grant.
    pub drift: Drift,
    /// Where it is defined, `file:line`.
    pub location: String,
}

/// What the reconciler does with privileged access on a target that Warden did not grant
/// and policy does not list as standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Drift {
    /// Record a finding and notify security.
    #[default]
    Report,
    /// Also take the privileges away.
    Remove,
}

/// A role that can be granted on resources of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The resource kind the role applies to.
    pub kind: ResourceKind,
    /// The name, unique within the kind.
    pub name: String,
    /// How much it allows.
    pub privilege: Privilege,
    /// What it means on the target, for people.
    pub description: String,
    /// What it does on the target, for connectors.
    pub target: RoleTarget,
    /// Where it is defined, `file:line`.
    pub location: String,
}

/// How membership of a policy group is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// Listed employee ids.
    Members(BTreeSet<EmployeeId>),
    /// HR attributes: every key must match; a key matches when the identity's value is one
    /// of the listed values (exact, case-sensitive).
    Rule(BTreeMap<String, Vec<String>>),
    /// A group pushed by HR or SCIM, by display name (`HrRecord::groups`).
    External(String),
}

/// A named set of identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Unique name.
    pub name: String,
    /// How members are found.
    pub membership: Membership,
    /// Where it is defined, `file:line`.
    pub location: String,
}

/// Standing, non-privileged access every matching current identity holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Birthright {
    /// Unique name.
    pub name: String,
    /// Who holds it.
    pub who: Principal,
    /// What they hold (roles are read or write, never admin).
    pub grants: Vec<Entitlement>,
    /// Where it is defined, `file:line`.
    pub location: String,
}

/// Which resources an eligibility rule covers. Every non-empty selector must match; an
/// empty selector matches any resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSelector {
    /// Resource kinds.
    pub kinds: BTreeSet<ResourceKind>,
    /// Tiers.
    pub tiers: BTreeSet<u8>,
    /// Environments.
    pub environments: BTreeSet<String>,
    /// Tags the resource must carry with these exact values.
    pub tags: BTreeMap<String, String>,
    /// Resource names.
    pub names: BTreeSet<String>,
}

impl ResourceSelector {
    /// Whether `resource` is selected. (Allocation-free: this runs on the request path.)
    pub fn matches(&self, resource: &Resource) -> bool {
        (self.names.is_empty() || self.names.contains(&resource.name))
            && (self.kinds.is_empty() || self.kinds.contains(&resource.kind))
            && (self.tiers.is_empty() || self.tiers.contains(&resource.tier))
            && (self.environments.is_empty() || self.environments.contains(&resource.environment))
            && self
                .tags
                .iter()
                .all(|(k, v)| resource.tags.get(k) == Some(v))
    }

    /// Every reason `resource` is not selected; empty when it is.
    pub fn mismatches(&self, resource: &Resource) -> Vec<String> {
        let mut out = Vec::new();
        if !self.names.is_empty() && !self.names.contains(&resource.name) {
            out.push(format!(
                "resource {} is not one of [{}]",
                resource.name,
                join(&self.names)
            ));
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&resource.kind) {
            out.push(format!(
                "kind {} is not one of [{}]",
                resource.kind,
                join(&self.kinds)
            ));
        }
        if !self.tiers.is_empty() && !self.tiers.contains(&resource.tier) {
            out.push(format!(
                "tier {} is not one of [{}]",
                resource.tier,
                join(&self.tiers)
            ));
        }
        if !self.environments.is_empty() && !self.environments.contains(&resource.environment) {
            out.push(format!(
                "environment {} is not one of [{}]",
                resource.environment,
                join(&self.environments)
            ));
        }
        for (key, want) in &self.tags {
            match resource.tags.get(key) {
                Some(have) if have == want => {}
                Some(have) => out.push(format!("tag {key} is {have}, not {want}")),
                None => out.push(format!("tag {key} is not set; rule wants {want}")),
            }
        }
        out
    }

    /// Whether every selector is empty (the rule covers every resource).
    pub fn is_any(&self) -> bool {
        self.kinds.is_empty()
            && self.tiers.is_empty()
            && self.environments.is_empty()
            && self.tags.is_empty()
            && self.names.is_empty()
    }
}

/// A rule saying who may request which roles on which resources, and on what terms.
#[derive(Debug, Clone)]
pub struct EligibilityRule {
    /// Unique name.
    pub name: String,
    /// Who may request.
    pub who: Principal,
    /// Role names that may be requested.
    pub roles: BTreeSet<String>,
    /// Which resources.
    pub resources: ResourceSelector,
    /// The longest grant.
    pub max_duration: Duration,
    /// The name of the approval policy.
    pub approval: String,
    /// Whether a ticket reference must accompany the request.
    pub ticket_required: bool,
    /// When requests are allowed, if restricted.
    pub hours: Option<Hours>,
    /// The Cedar condition, if any.
    pub when: Option<Condition>,
    /// Where it is defined, `file:line`.
    pub location: String,
}

impl EligibilityRule {
    /// The rule's terms in one line, for listings.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} may request [{}] for at most {}, approval {}",
            self.who,
            join(&self.roles),
            format_duration(self.max_duration),
            self.approval
        );
        if self.ticket_required {
            s.push_str(", ticket required");
        }
        if let Some(h) = &self.hours {
            s.push_str(&format!(", hours {h}"));
        }
        if let Some(c) = &self.when {
            s.push_str(&format!(", when `{}`", c.text()));
        }
        s
    }
}

/// Joins displayable items with ", ".
pub(crate) fn join<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&item.to_string());
    }
    out
}
