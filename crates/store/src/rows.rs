//! Conversions between stored rows and domain types. A row that does not convert is
//! reported as corrupt, never skipped or defaulted.

use std::collections::BTreeMap;

use sea_orm::ActiveValue::{NotSet, Set};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;
use warden_core::credential::TokenHash;
use warden_core::throttle::ThrottleState;
use warden_core::user::{TokenKind, TokenRecord, User};
use warden_core::{ScopeSet, Username};

use crate::StoreError;
use crate::entity::{api_tokens, audit_events, login_throttle, users};

/// Milliseconds since the Unix epoch, as stored.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time of a stored millisecond count.
pub(crate) fn from_ms(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn user(m: users::Model) -> Result<User, StoreError> {
    Ok(User {
        id: m.id,
        username: Username::parse(&m.username).map_err(|e| corrupt("user name", e))?,
        display_name: m.display_name,
        scopes: ScopeSet::from_wire(&m.scopes).map_err(|e| corrupt("user scopes", e))?,
        disabled: m.disabled,
        created_at: from_ms(m.created_at)?,
    })
}

pub(crate) fn token(m: api_tokens::Model) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: m.id,
        user_id: m.user_id,
        name: m.name,
        kind: TokenKind::from_stored(&m.kind).ok_or_else(|| corrupt("token kind", &m.kind))?,
        scopes: ScopeSet::from_wire(&m.scopes).map_err(|e| corrupt("token scopes", e))?,
        created_at: from_ms(m.created_at)?,
        expires_at: from_ms(m.expires_at)?,
        revoked_at: m.revoked_at.map(from_ms).transpose()?,
    })
}

pub(crate) fn token_hash(raw: &[u8]) -> Result<TokenHash, StoreError> {
    <[u8; 32]>::try_from(raw)
        .map(TokenHash)
        .map_err(|_| corrupt("token hash", "not 32 bytes"))
}

pub(crate) fn throttle(m: login_throttle::Model) -> Result<ThrottleState, StoreError> {
    Ok(ThrottleState {
        failures: u32::try_from(m.failures).map_err(|e| corrupt("failure count", e))?,
        window_start: from_ms(m.window_start)?,
        locked_until: m.locked_until.map(from_ms).transpose()?,
    })
}

/// An audit event as stored, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Position in the log.
    pub seq: i64,
    /// Event id.
    pub id: Uuid,
    /// When it happened.
    pub at: OffsetDateTime,
    /// Acting user (or the name tried in a failed login).
    pub actor_user: Option<String>,
    /// Token used.
    pub actor_token: Option<Uuid>,
    /// Client address.
    pub source: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Dotted action name.
    pub action: String,
    /// Target.
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Reason.
    pub reason: Option<String>,
    /// Further facts.
    pub details: BTreeMap<String, String>,
}

pub(crate) fn audit_model(e: &AuditEvent) -> Result<audit_events::ActiveModel, StoreError> {
    let details = serde_json::to_string(&e.details).map_err(|err| corrupt("audit details", err))?;
    Ok(audit_events::ActiveModel {
        seq: NotSet,
        id: Set(Uuid::now_v7()),
        at: Set(to_ms(e.at)),
        actor_user: Set(e.actor.user.clone()),
        actor_token: Set(e.actor.token_id),
        source: Set(e.actor.source.map(|ip| ip.to_string())),
        user_agent: Set(e.actor.user_agent.clone()),
        action: Set(e.action.as_str().to_owned()),
        target: Set(e.target.clone()),
        outcome: Set(e.outcome.as_str().to_owned()),
        reason: Set(e.reason.clone()),
        details: Set(details),
    })
}

pub(crate) fn audit(m: audit_events::Model) -> Result<StoredAuditEvent, StoreError> {
    Ok(StoredAuditEvent {
        seq: m.seq,
        id: m.id,
        at: from_ms(m.at)?,
        actor_user: m.actor_user,
        actor_token: m.actor_token,
        source: m.source,
        user_agent: m.user_agent,
        action: m.action,
        target: m.target,
        outcome: m.outcome,
        reason: m.reason,
        details: serde_json::from_str(&m.details).map_err(|e| corrupt("audit details", e))?,
    })
}
