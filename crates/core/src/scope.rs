//! Scopes: what an API token may do. A user holds a set of scopes; each token carries a
//! subset of its user's, and every API operation names the scope it needs.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One permission an API token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Everything, including the scopes below and user administration.
    Admin,
    /// List and read local users.
    UsersRead,
    /// Create, disable and change local users.
    UsersWrite,
    /// File, list and cancel one's own access requests.
    Request,
    /// Approve or deny others' requests.
    Approve,
    /// Read policy and plans.
    PolicyRead,
    /// Apply policy.
    PolicyWrite,
    /// Push HR data (file sync and SCIM).
    HrSync,
    /// Read and export the audit log.
    AuditRead,
    /// Read identities and explain access decisions.
    IdentitiesRead,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 10] = [
        Scope::Admin,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::Request,
        Scope::Approve,
        Scope::PolicyRead,
        Scope::PolicyWrite,
        Scope::HrSync,
        Scope::AuditRead,
        Scope::IdentitiesRead,
    ];

    /// The scope's wire name, as in `users:read`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::Request => "request",
            Scope::Approve => "approve",
            Scope::PolicyRead => "policy:read",
            Scope::PolicyWrite => "policy:write",
            Scope::HrSync => "hr:sync",
            Scope::AuditRead => "audit:read",
            Scope::IdentitiesRead => "identities:read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown scope name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// The set holding `scopes`.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().collect())
    }

    /// Parses wire names; the first unknown one is an error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownScope> {
        names
            .into_iter()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether this set permits an operation that needs `needed`: `admin` permits all.
    pub fn allows(&self, needed: Scope) -> bool {
        self.0.contains(&Scope::Admin) || self.0.contains(&needed)
    }

    /// Whether every scope of `other` is permitted by this set, so a token holding this
    /// set may mint one holding `other`.
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|scope| self.allows(*scope))
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The wire names joined by spaces, as stored.
    pub fn to_wire(&self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Parses the stored, space-separated form.
    pub fn from_wire(stored: &str) -> Result<Self, UnknownScope> {
        Self::parse(stored.split_ascii_whitespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert_eq!("root".parse::<Scope>(), Err(UnknownScope("root".into())));
    }

    #[test]
    fn admin_allows_everything_and_others_only_themselves() {
        let admin = ScopeSet::new([Scope::Admin]);
        let reader = ScopeSet::new([Scope::UsersRead]);
        for scope in Scope::ALL {
            assert!(admin.allows(scope));
        }
        assert!(reader.allows(Scope::UsersRead));
        assert!(!reader.allows(Scope::UsersWrite));
        assert!(!reader.allows(Scope::Admin));
        assert!(admin.covers(&reader));
        assert!(!reader.covers(&admin));
        assert!(reader.covers(&ScopeSet::default()));
    }

    #[test]
    fn wire_form_round_trips() {
        let set = ScopeSet::new([Scope::AuditRead, Scope::Request]);
        assert_eq!(set.to_wire(), "request audit:read");
        assert_eq!(ScopeSet::from_wire(&set.to_wire()), Ok(set));
        assert!(ScopeSet::from_wire("request bogus").is_err());
    }
}
