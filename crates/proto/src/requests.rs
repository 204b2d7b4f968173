//! Just-in-time access requests and the decisions on them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /v1/requests`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// How long, such as `2h` or `30m`; at most the rule's maximum.
    pub duration: String,
    /// Why: at least 10 characters.
    pub justification: String,
    /// A change or incident ticket.
    #[serde(default)]
    pub ticket: Option<String>,
    /// A vendor this request is made for (user name or employee id); the requester must
    /// be their sponsor (HR manager).
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    /// The earliest the access may start (RFC 3339), for a request made ahead of a change
    /// window: provisioned then, or at approval if that comes later. At most 30 days ahead.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start_at: Option<OffsetDateTime>,
}

/// One factor of a risk score.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskFactorInfo {
    /// Stable name (`tier`, `privilege`, `duration`, …).
    pub name: String,
    /// Points it adds.
    pub points: u32,
    /// Why.
    pub reason: String,
}

/// A decision on a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionInfo {
    /// The approver's employee id.
    pub approver: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// The capacity they decided in (approver sources met, and security).
    pub capacity: String,
    /// Their comment.
    pub comment: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A request with its risk, route and decisions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestInfo {
    /// Request id.
    pub id: Uuid,
    /// Who asked (employee id).
    pub requester: String,
    /// Who would hold the access (employee id).
    pub beneficiary: String,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// Asked duration in seconds (for an extension: the time it adds).
    pub duration_secs: i64,
    /// Why.
    pub justification: String,
    /// Ticket.
    pub ticket: Option<String>,
    /// The eligibility rule that allowed it.
    pub rule: String,
    /// The approval policy.
    pub approval: String,
    /// `auto`, `single`, `dual` or `dual-security`.
    pub route: String,
    /// Risk score, 0-100.
    pub risk: u32,
    /// Its factors.
    pub risk_factors: Vec<RiskFactorInfo>,
    /// `pending`, `approved`, `denied`, `cancelled`, `timed_out`, …
    pub state: String,
    /// Filed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// A pending request times out then.
    #[serde(with = "time::serde::rfc3339")]
    pub pending_until: OffsetDateTime,
    /// Decisions so far.
    pub decisions: Vec<DecisionInfo>,
    /// What a pending request still needs.
    pub needs: Vec<String>,
    /// `standard`, `breakglass` or `extension`.
    pub kind: String,
    /// The grant an extension extends.
    pub extends: Option<Uuid>,
    /// The grant this request made, once approved.
    pub grant: Option<crate::grants::GrantInfo>,
    /// The earliest the access may start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub start_at: Option<OffsetDateTime>,
}

/// `POST /v1/requests/{id}/approve` and `/deny`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    /// Why (required).
    pub comment: String,
}

/// Query of `GET /v1/requests`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRequests {
    /// Only pending requests the caller may decide on.
    #[serde(default)]
    pub pending_approval: bool,
}
