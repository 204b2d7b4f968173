//! What a request is and how it is decided, as the enums the store keeps by name: the
//! kind of a request and of the grant it makes, and the route it was given at creation.
//! Each has its stored name (`as_str`), `parse` for the way back, and `ALL`.

use std::fmt;

use crate::policy::Route;

/// A stored name that names nothing: `what` says which enum was read, `value` what was
/// found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownName {
    /// The enum that was read (`request state`, `request kind`, ...).
    pub what: &'static str,
    /// The text that did not parse.
    pub value: String,
}

impl UnknownName {
    pub(crate) fn new(what: &'static str, value: &str) -> Self {
        Self {
            what,
            value: value.to_owned(),
        }
    }
}

/// What kind of request this is. A grant carries the kind of the request that made it,
/// so the same enum is the grant's kind: one name for one fact, stored on both rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// An ordinary request, routed by the approval policy.
    Standard,
    /// Break-glass use: granted at once, reviewed after the fact.
    BreakGlass,
    /// More time on a running grant, scored and routed on the time it adds.
    Extension,
}

impl RequestKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Standard, Self::BreakGlass, Self::Extension];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::BreakGlass => "breakglass",
            Self::Extension => "extension",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("request kind", s))
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The route a request was given when it was made, as stored with it: the approval
/// policy's [`Route`], or break-glass, which has no approvers at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestRoute {
    /// Routed by the approval policy.
    Policy(Route),
    /// Break-glass: approved at once, without approvers.
    BreakGlass,
}

impl RequestRoute {
    /// Every route.
    pub const ALL: [Self; 5] = [
        Self::Policy(Route::Auto),
        Self::Policy(Route::Single),
        Self::Policy(Route::Dual {
            security_required: false,
        }),
        Self::Policy(Route::Dual {
            security_required: true,
        }),
        Self::BreakGlass,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Policy(Route::Auto) => "auto",
            Self::Policy(Route::Single) => "single",
            Self::Policy(Route::Dual {
                security_required: false,
            }) => "dual",
            Self::Policy(Route::Dual {
                security_required: true,
            }) => "dual-security",
            Self::BreakGlass => "breakglass",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("request route", s))
    }

    /// The approval policy's route, `None` for break-glass.
    pub fn policy(self) -> Option<Route> {
        match self {
            Self::Policy(route) => Some(route),
            Self::BreakGlass => None,
        }
    }
}

impl fmt::Display for RequestRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
