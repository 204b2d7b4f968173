//! Local users and their tokens, as the domain sees them.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{ScopeSet, Username};

/// A local user of Warden's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: Uuid,
    /// Login name.
    pub username: Username,
    /// Name shown to people.
    pub display_name: String,
    /// The most any of the user's tokens may carry.
    pub scopes: ScopeSet,
    /// A disabled user cannot log in and their tokens stop working.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: OffsetDateTime,
}

/// How a token came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Issued by a password login.
    Session,
    /// Created on purpose for a script or tool.
    Api,
}

impl TokenKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "session" => Some(TokenKind::Session),
            "api" => Some(TokenKind::Api),
            _ => None,
        }
    }
}

/// What is stored of an API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token id (also embedded in the token text).
    pub id: Uuid,
    /// Whose token it is.
    pub user_id: Uuid,
    /// A label chosen by its holder.
    pub name: String,
    /// Session or API token.
    pub kind: TokenKind,
    /// What the token may do; a subset of its user's scopes.
    pub scopes: ScopeSet,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Why a stored token cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUnusable {
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Its user is disabled.
    UserDisabled,
}

impl TokenRecord {
    /// Whether the token may be used at `now` by `user`.
    pub fn check_usable(&self, user: &User, now: OffsetDateTime) -> Result<(), TokenUnusable> {
        if self.revoked_at.is_some() {
            return Err(TokenUnusable::Revoked);
        }
        if now >= self.expires_at {
            return Err(TokenUnusable::Expired);
        }
        if user.disabled {
            return Err(TokenUnusable::UserDisabled);
        }
        Ok(())
    }

    /// The scopes the token grants now: its own, cut down to what its user still holds,
    /// so taking a scope from a user takes it from every token at once.
    pub fn effective_scopes(&self, user: &User) -> ScopeSet {
        ScopeSet::new(self.scopes.iter().filter(|s| user.scopes.allows(*s)))
    }
}
