//! Grants, the access check, break-glass and incidents.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Access held (or once held) on a target for an interval.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantInfo {
    /// Grant id.
    pub id: Uuid,
    /// The request that made it.
    pub request: Uuid,
    /// The holder (employee id).
    pub identity: String,
    /// The holder's name, as HR gives it; absent when the identity no longer exists.
    #[serde(default)]
    pub identity_name: Option<String>,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// `standard`, `breakglass` or `extension`.
    pub kind: String,
    /// `provisioning`, `active`, `revoking`, `revoked` or `failed`.
    pub state: String,
    /// When the access was created on the target (the clock's start).
    #[serde(with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    /// When it ends (or ended).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Failed attempts of the current step.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// Why it ended early, if it did.
    pub end_reason: Option<String>,
}

/// Query of `GET /v1/grants`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListGrants {
    /// Everyone's grants (needs `admin` or `audit:read`), not only the caller's.
    #[serde(default)]
    pub all: bool,
    /// Only live ones (provisioning, active, revoking).
    #[serde(default)]
    pub live: bool,
}

/// `POST /v1/grants/{id}/revoke`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeGrant {
    /// Why it ends early: 1 to 2000 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,1998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub reason: String,
}

/// `POST /v1/grants/{id}/extend`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendGrant {
    /// How much longer, such as `1h` or `1h30m`.
    #[schema(
        pattern = r"^(?:[1-9][0-9]{0,5}d(?:(?:0|[1-9][0-9]{0,5})h)?(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?[1-9][0-9]{0,5}h(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?(?:(?:0|[1-9][0-9]{0,5})h)?[1-9][0-9]{0,5}m)$"
    )]
    pub duration: String,
    /// Why: 1 to 2000 characters, and at least the approval policy's minimum.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,1998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub reason: String,
    /// A ticket (1 to 200 characters), where policy wants one.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,198}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub ticket: Option<String>,
}

/// Query of `GET /v1/access/check`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessCheckQuery {
    /// The identity: employee id or user name.
    pub identity: String,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
}

/// Whether an identity holds a role on a resource now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessCheck {
    /// Allowed now.
    pub allowed: bool,
    /// The grant that allows it (the one ending last).
    pub grant: Option<Uuid>,
    /// When that grant ends.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Break-glass access.
    pub breakglass: bool,
}

/// `POST /v1/breakglass`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// What is on fire: 1 to 2000 characters, and at least the policy's minimum
    /// justification length.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,1998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub reason: String,
    /// How long, such as `1h` or `30m`; at most the break-glass maximum (2 h by default).
    #[serde(default)]
    #[schema(
        pattern = r"^(?:[1-9][0-9]{0,5}d(?:(?:0|[1-9][0-9]{0,5})h)?(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?[1-9][0-9]{0,5}h(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?(?:(?:0|[1-9][0-9]{0,5})h)?[1-9][0-9]{0,5}m)$"
    )]
    pub duration: Option<String>,
    /// The incident ticket (1 to 200 characters), if there is one yet.
    #[serde(default)]
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,198}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub ticket: Option<String>,
}

/// `POST /v1/breakglass/{id}/justify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JustifyBreakGlass {
    /// The holder's account of why break-glass was needed and what was done: 20 to 4000
    /// characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00-\x1F\x7F-\x9F]{18,3998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub justification: String,
}

/// `POST /v1/breakglass/{id}/review`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBreakGlass {
    /// `justified` or `unjustified`.
    #[schema(pattern = r"^(?:justified|unjustified)$")]
    pub verdict: String,
    /// Why: 1 to 2000 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,1998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub comment: String,
}

/// A break-glass use and its review.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassInfo {
    /// The request id.
    pub id: Uuid,
    /// The holder (employee id).
    pub holder: String,
    /// The holder's name, as HR gives it; absent when the identity no longer exists.
    #[serde(default)]
    pub holder_name: Option<String>,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// The reason given when it was taken.
    pub reason: String,
    /// `justification_due`, `review_due`, `justified` or `unjustified`.
    pub review: String,
    /// The holder's justification, once given.
    pub justification: Option<String>,
    /// When the justification is due.
    #[serde(with = "time::serde::rfc3339::option")]
    pub justification_due: Option<OffsetDateTime>,
    /// Verdicts so far.
    pub reviews: Vec<ReviewInfo>,
    /// What the review still needs.
    pub needs: Vec<String>,
    /// The grant.
    pub grant: Option<GrantInfo>,
    /// The incident an unjustified use opened.
    pub incident: Option<Uuid>,
}

/// One reviewer's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewInfo {
    /// Reviewer (employee id).
    pub reviewer: String,
    /// The reviewer's name, as HR gives it; absent when the identity no longer exists.
    #[serde(default)]
    pub reviewer_name: Option<String>,
    /// `manager` or `security`.
    pub capacity: String,
    /// `justified` or `unjustified`.
    pub verdict: String,
    /// Why.
    pub comment: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A security incident.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentInfo {
    /// Incident id.
    pub id: Uuid,
    /// The request that caused it.
    pub request: Uuid,
    /// Opened.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// Why.
    pub reason: String,
    /// `open` or `closed`.
    pub state: String,
}

/// `POST /v1/vendors`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVendor {
    /// The vendor's Warden user name: 1 to 64 of `a-z 0-9 . _ - @`, starting with a
    /// letter or digit.
    #[schema(max_length = 64, pattern = r"^[a-z0-9][a-z0-9._@-]*$")]
    pub username: String,
    /// Full name: 1 to 200 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,198}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub name: String,
    /// E-mail address: at most 254 characters with an `@` and no spaces (the document
    /// states at most 125 before the first `@` and 128 after it).
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]{0,125}@[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]{0,128}[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub email: String,
    /// The vendor's company: 1 to 200 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,198}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub company: String,
    /// How many days the sponsorship lasts (the identity's end date), from 1 (default
    /// 30) to the configured maximum (`grants.vendor_max_days`, 90 by default).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub days: Option<u32>,
}

/// A sponsored vendor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VendorInfo {
    /// Employee id Warden gave the vendor.
    pub employee_id: String,
    /// User name.
    pub username: String,
    /// Company.
    pub company: String,
    /// The sponsor (employee id).
    pub sponsor: String,
    /// The sponsor's name, as HR gives it; absent when the identity no longer exists.
    #[serde(default)]
    pub sponsor_name: Option<String>,
    /// The sponsorship's last day.
    pub until: Option<String>,
    /// Whether the account is enabled (a grant runs).
    pub active: bool,
    /// When the identity and account are deleted unless a grant runs again.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delete_after: Option<OffsetDateTime>,
}

/// The answer to `POST /v1/vendors`: the vendor, and the account's one-time password,
/// shown now and never again, for the sponsor to pass on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedVendor {
    /// The vendor.
    pub vendor: VendorInfo,
    /// The initial password.
    pub initial_password: crate::WireSecret,
}
