//! The audit log over HTTP: searching events, the checkpoint key, and exports. Exports
//! are streamed in the bundle format of the `warden-audit` crate, not described here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `GET /v1/audit/events`: every filter given must match; newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The acting user's name.
    #[serde(default)]
    pub actor: Option<String>,
    /// An action (`grant.revoke`) or a family of them (`grant.` or `grant.*`): lower-case
    /// letters, digits, `_` and `.`.
    #[serde(default)]
    #[param(pattern = r"^(?:[a-z0-9_.]+\.\*|[a-z0-9_.]*[a-z0-9_]|[a-z0-9_.]+\.)$")]
    pub action: Option<String>,
    /// The resource concerned.
    #[serde(default)]
    pub resource: Option<String>,
    /// The request concerned.
    #[serde(default)]
    pub request: Option<Uuid>,
    /// The grant concerned.
    #[serde(default)]
    pub grant: Option<Uuid>,
    /// At or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    /// Before this time (RFC 3339); one at or before `since` is refused (422).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    /// The `next` cursor of the previous page.
    #[serde(default)]
    pub before: Option<i64>,
    /// Most events in the page (default 100, at most 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    /// The user name (or the name tried in a failed login); absent for Warden itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The API token used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Uuid>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One audit event with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEventInfo {
    /// Position in the log.
    pub seq: i64,
    /// The event's id.
    pub id: Uuid,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who did it.
    pub actor: AuditActor,
    /// What happened (`grant.revoked`).
    pub action: String,
    /// What it happened to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The resource concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The request concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Uuid>,
    /// The grant concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Uuid>,
    /// The risk score of the request decided on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<u32>,
    /// Further facts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// The previous event's hash (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

/// A page of events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The events, newest first.
    pub events: Vec<AuditEventInfo>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

/// `GET /v1/audit/export`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Export the events after this sequence number (default 0: the whole log); past the
    /// end of the log, 404.
    #[serde(default)]
    pub since: Option<u64>,
}

/// The key that signs checkpoints, to pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditKey {
    /// Its short name, as checkpoints name it.
    pub key_id: String,
    /// `ed25519:` and the public key in base64: what `warden audit verify --key` takes.
    pub public_key: String,
}

/// The head of the log and its latest signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditHead {
    /// The last event's sequence number (0 for an empty log).
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
    /// The latest checkpoint's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_seq: Option<u64>,
    /// When it was signed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub checkpoint_time: Option<OffsetDateTime>,
}
