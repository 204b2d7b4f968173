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
    /// How long, such as `2h`, `30m` or `1h30m` (days, hours, minutes in that order);
    /// at most the rule's maximum.
    #[schema(
        pattern = r"^(?:[1-9][0-9]{0,5}d(?:(?:0|[1-9][0-9]{0,5})h)?(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?[1-9][0-9]{0,5}h(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?(?:(?:0|[1-9][0-9]{0,5})h)?[1-9][0-9]{0,5}m)$"
    )]
    pub duration: String,
    /// Why: 1 to 2000 characters, and at least the approval policy's minimum (422 when
    /// shorter).
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,1998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub justification: String,
    /// A change or incident ticket (1 to 200 characters), of the form policy requires.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,198}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
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
    /// The approver's name, as HR gives it; absent when the identity no longer exists.
    #[serde(default)]
    pub approver_name: Option<String>,
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
    /// The requester's name, as HR gives it; absent when the identity no longer exists.
    #[serde(default)]
    pub requester_name: Option<String>,
    /// Who would hold the access (employee id).
    pub beneficiary: String,
    /// The beneficiary's name, as HR gives it; absent when the identity no longer exists.
    #[serde(default)]
    pub beneficiary_name: Option<String>,
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
    /// What a pending request still needs, in words: each missing approval and who may
    /// give it (`an approver from group:security`, `one more approver who is the
    /// requester's manager (E1002) or in group:sre-leads`).
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
    /// Why: 1 to 2000 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,1998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
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
