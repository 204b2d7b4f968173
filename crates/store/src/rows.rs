//! Conversions between stored rows and domain types. A row that does not convert is
//! reported as corrupt, never skipped or defaulted.

use std::collections::BTreeMap;

use sea_orm::ActiveValue::Set;
use time::OffsetDateTime;
use uuid::Uuid;
use warden_audit::{Digest, Record, RecordActor};
use warden_core::audit::AuditEvent;
use warden_core::credential::TokenHash;
use warden_core::throttle::ThrottleState;
use warden_core::user::{TokenKind, TokenRecord, User};
use warden_core::{ScopeSet, Username};

use crate::StoreError;
use crate::entity::{api_tokens, audit_events, login_throttle, users};

/// Milliseconds since the Unix epoch, as stored (and as audit records count time).
pub fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time of a stored millisecond count.
pub fn from_ms(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

/// Reads the stored name of a lifecycle enum (`parse`), or reports the row as corrupt with
/// its table, its id and the value found.
pub(crate) fn named<T>(
    table: &str,
    id: Uuid,
    value: &str,
    parse: fn(&str) -> Result<T, warden_core::request::UnknownName>,
) -> Result<T, StoreError> {
    parse(value).map_err(|e| StoreError::Corrupt(format!("{table} row {id}: {e}")))
}

/// The stored names of `states`, for a query's `IN` list.
pub(crate) fn state_names(
    states: impl IntoIterator<Item = warden_core::request::RequestState>,
) -> Vec<&'static str> {
    states.into_iter().map(|s| s.as_str()).collect()
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

/// An audit event as stored, with its sequence number and its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Position in the log: 1, 2, 3, ... without gaps.
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
    /// The resource concerned.
    pub resource: Option<String>,
    /// The request concerned.
    pub request_id: Option<Uuid>,
    /// The grant concerned.
    pub grant_id: Option<Uuid>,
    /// The risk score of the request decided on.
    pub risk: Option<u32>,
    /// Further facts.
    pub details: BTreeMap<String, String>,
    /// The hash of the event before.
    pub prev_hash: Digest,
    /// This event's hash.
    pub hash: Digest,
}

impl StoredAuditEvent {
    /// The event as a chained record, borrowing its text.
    pub fn record(&self) -> Record<'_> {
        Record {
            seq: u64::try_from(self.seq).unwrap_or_default(),
            id: self.id,
            time: to_ms(self.at),
            actor: RecordActor {
                user: self.actor_user.as_deref().map(Into::into),
                token: self.actor_token,
                ip: self.source.as_deref().map(Into::into),
                user_agent: self.user_agent.as_deref().map(Into::into),
            },
            action: self.action.as_str().into(),
            target: self.target.as_deref().map(Into::into),
            outcome: self.outcome.as_str().into(),
            reason: self.reason.as_deref().map(Into::into),
            resource: self.resource.as_deref().map(Into::into),
            request_id: self.request_id,
            grant_id: self.grant_id,
            risk: self.risk,
            details: self
                .details
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// A new event as an unchained record (sequence number and hashes are set by
/// [`Record::seal_after`] when it is appended).
pub(crate) fn new_record(e: &AuditEvent, id: Uuid) -> Record<'_> {
    let subjects = e.subjects();
    Record {
        seq: 0,
        id,
        time: to_ms(e.at),
        actor: RecordActor {
            user: e.actor.user.as_deref().map(Into::into),
            token: e.actor.token_id,
            ip: e.actor.source.map(|ip| ip.to_string().into()),
            user_agent: e.actor.user_agent.as_deref().map(Into::into),
        },
        action: e.action.as_str().into(),
        target: e.target.as_deref().map(Into::into),
        outcome: e.outcome.as_str().into(),
        reason: e.reason.as_deref().map(Into::into),
        resource: subjects.resource.map(Into::into),
        request_id: subjects.request_id,
        grant_id: subjects.grant_id,
        risk: subjects.risk,
        details: e
            .details
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect(),
        prev_hash: Digest::GENESIS,
        hash: Digest::GENESIS,
    }
}

/// The row of a sealed record.
pub(crate) fn audit_model(r: &Record<'_>) -> Result<audit_events::ActiveModel, StoreError> {
    let details = serde_json::to_string(&r.details).map_err(|err| corrupt("audit details", err))?;
    Ok(audit_events::ActiveModel {
        seq: Set(i64::try_from(r.seq).map_err(|e| corrupt("audit seq", e))?),
        id: Set(r.id),
        at: Set(r.time),
        actor_user: Set(r.actor.user.as_deref().map(str::to_owned)),
        actor_token: Set(r.actor.token),
        source: Set(r.actor.ip.as_deref().map(str::to_owned)),
        user_agent: Set(r.actor.user_agent.as_deref().map(str::to_owned)),
        action: Set(r.action.clone().into_owned()),
        target: Set(r.target.as_deref().map(str::to_owned)),
        outcome: Set(r.outcome.clone().into_owned()),
        reason: Set(r.reason.as_deref().map(str::to_owned)),
        details: Set(details),
        resource: Set(r.resource.as_deref().map(str::to_owned)),
        request_id: Set(r.request_id),
        grant_id: Set(r.grant_id),
        risk: Set(r.risk.and_then(|v| i32::try_from(v).ok())),
        prev_hash: Set(Some(r.prev_hash.0.to_vec())),
        hash: Set(Some(r.hash.0.to_vec())),
    })
}

pub(crate) fn digest(what: &str, raw: Option<&[u8]>) -> Result<Digest, StoreError> {
    raw.and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Digest)
        .ok_or_else(|| corrupt(what, "not a 32-byte hash"))
}

pub(crate) fn audit(m: audit_events::Model) -> Result<StoredAuditEvent, StoreError> {
    Ok(StoredAuditEvent {
        seq: m.seq,
        id: m.id,
        at: from_ms(m.at)?,
        prev_hash: digest("audit prev_hash", m.prev_hash.as_deref())?,
        hash: digest("audit hash", m.hash.as_deref())?,
        actor_user: m.actor_user,
        actor_token: m.actor_token,
        source: m.source,
        user_agent: m.user_agent,
        action: m.action,
        target: m.target,
        outcome: m.outcome,
        reason: m.reason,
        resource: m.resource,
        request_id: m.request_id,
        grant_id: m.grant_id,
        risk: m.risk.and_then(|r| u32::try_from(r).ok()),
        details: serde_json::from_str(&m.details).map_err(|e| corrupt("audit details", e))?,
    })
}
