//! Identities, HR sync, policy as code and access explanations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An identity as HR knows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityInfo {
    /// Warden's id.
    pub id: Uuid,
    /// HR's id.
    pub employee_id: String,
    /// User name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Full name.
    pub name: String,
    /// Department.
    pub department: Option<String>,
    /// Job function.
    pub job_function: Option<String>,
    /// Manager's employee id.
    pub manager: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// `active`, `leave` or `terminated`.
    pub status: String,
    /// `employee`, `contractor`, `vendor` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
    /// First day (`YYYY-MM-DD`).
    pub start_date: Option<String>,
    /// Last day.
    pub end_date: Option<String>,
    /// Groups pushed by an identity provider.
    pub groups: Vec<String>,
    /// `hr-file` or `scim`.
    pub source: String,
}

/// One identity with its access: policy groups, birthright, what it may request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityDetail {
    /// The identity.
    pub identity: IdentityInfo,
    /// Policy groups the identity belongs to.
    pub policy_groups: Vec<String>,
    /// Standing birthright access, as `resource/role` with the rule that gives it.
    pub birthright: Vec<EntitlementInfo>,
    /// What the identity may request (context conditions aside).
    pub eligible: Vec<EntitlementInfo>,
}

/// An entitlement and the rule behind it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntitlementInfo {
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// The rule.
    pub rule: String,
}

/// Query of `POST /v1/hr/sync`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// `csv` or `json`; without it, `json` when the body is sent as `application/json`,
    /// else `csv`.
    #[param(pattern = r"^(?:csv|json)$")]
    pub format: Option<String>,
    /// Report what would change without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Allow a sync in which more than a fifth of the file-synced identities leave at
    /// once (normally refused as a likely truncated file).
    #[serde(default)]
    pub allow_mass_leave: bool,
}

/// What a sync did, or would do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// SHA-256 of the file.
    pub digest: String,
    /// Identities in the file.
    pub records: usize,
    /// Count per lifecycle: joiner, rejoiner, mover, leaver, updated, unchanged.
    pub counts: BTreeMap<String, usize>,
    /// Each person whose identity or access changes.
    pub changes: Vec<PersonChange>,
    /// Warden users disabled because they left.
    pub accounts_disabled: u64,
    /// Their tokens revoked.
    pub tokens_revoked: u64,
    /// Pending or approved requests of leavers cancelled.
    #[serde(default)]
    pub requests_cancelled: u64,
    /// Live grants of leavers ended (revoked from their targets at once).
    #[serde(default)]
    pub grants_ended: u64,
}

/// What changes for one person.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonChange {
    /// HR's id.
    pub employee_id: String,
    /// User name.
    pub username: String,
    /// `joiner`, `rejoiner`, `mover`, `leaver`, `updated`, or `policy` (access changed by a
    /// policy change alone).
    pub lifecycle: String,
    /// Attribute changes, as `name: old -> new`.
    pub attributes: Vec<String>,
    /// Birthright access gained, as `resource/role`.
    pub birthright_added: Vec<String>,
    /// Birthright access lost.
    pub birthright_removed: Vec<String>,
    /// Requestable access gained.
    pub eligibility_added: Vec<String>,
    /// Requestable access lost (active grants of it are revoked).
    pub eligibility_removed: Vec<String>,
}

/// One file of a policy directory.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Path relative to the directory, such as `resources.toml` or `teams/sre.toml`: a
    /// `.toml` file, parts joined by `/`, none of them empty, `.` or `..`, no `\` or `:`,
    /// at most 200 characters.
    #[schema(
        max_length = 200,
        pattern = r"^(?:(?:[^/\\:.\x00-\x1f\x7f-\x9f][^/\\:\x00-\x1f\x7f-\x9f]*|\.[^/\\:.\x00-\x1f\x7f-\x9f][^/\\:\x00-\x1f\x7f-\x9f]*|\.\.[^/\\:\x00-\x1f\x7f-\x9f]+)/)*[^/\\:\x00-\x1f\x7f-\x9f]*\.toml$"
    )]
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// `POST /v1/policy/plan` and `/v1/policy/apply`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// The whole policy directory, each path once.
    #[schema(min_items = 1)]
    pub files: Vec<PolicyFile>,
    /// Why; not read by a plan (`POST /v1/policy/apply` takes [`ApplyPolicy`]).
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /v1/policy/apply`: the files, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyPolicy {
    /// The whole policy directory, each path once.
    #[schema(min_items = 1)]
    pub files: Vec<PolicyFile>,
    /// Why: 1 to 1000 characters, kept with the version.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub comment: String,
}

impl From<ApplyPolicy> for PolicyChange {
    fn from(apply: ApplyPolicy) -> Self {
        Self {
            files: apply.files,
            comment: Some(apply.comment),
        }
    }
}

/// What a policy change does.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyPlan {
    /// The live version it is compared with (none before the first apply).
    pub live_version: Option<i64>,
    /// SHA-256 of the new files.
    pub digest: String,
    /// Whether the new policy is the same as the live one.
    pub unchanged: bool,
    /// Resources added.
    pub resources_added: Vec<String>,
    /// Resources removed.
    pub resources_removed: Vec<String>,
    /// Each identity whose access changes.
    pub changes: Vec<PersonChange>,
    /// What the author should know but does not stop the policy (`file:line: message`),
    /// such as resources whose grants are only recorded.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A policy version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyVersionInfo {
    /// Version number.
    pub version: i64,
    /// SHA-256 of the files.
    pub digest: String,
    /// Why it was applied.
    pub comment: String,
    /// Who applied it.
    pub applied_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: OffsetDateTime,
    /// The files (only when one version is asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<PolicyFile>>,
}

/// The result of an apply or restore.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyApplied {
    /// The new version.
    pub version: i64,
    /// What changed.
    pub plan: PolicyPlan,
}

/// `POST /v1/policy/versions/{version}/restore`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// Why: 1 to 1000 characters.
    #[schema(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,998}[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub comment: String,
}

/// Query of `GET /v1/access/explain`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainParams {
    /// User name or employee id.
    pub identity: String,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// Asked duration, such as `2h` or `30m`.
    #[param(
        pattern = r"^(?:[1-9][0-9]{0,5}d(?:(?:0|[1-9][0-9]{0,5})h)?(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?[1-9][0-9]{0,5}h(?:(?:0|[1-9][0-9]{0,5})m)?|(?:(?:0|[1-9][0-9]{0,5})d)?(?:(?:0|[1-9][0-9]{0,5})h)?[1-9][0-9]{0,5}m)$"
    )]
    pub duration: Option<String>,
    /// A ticket the request would carry.
    pub ticket: Option<String>,
    /// Seconds since the requester's last multi-factor authentication.
    pub mfa_age_secs: Option<i64>,
}

/// Why an identity may or may not have a role on a resource.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    /// Eligible or not.
    pub eligible: bool,
    /// The identity.
    pub identity: String,
    /// The resource.
    pub resource: String,
    /// The role.
    pub role: String,
    /// The rule that makes the identity eligible.
    pub rule: Option<String>,
    /// Where that rule is (`file:line`).
    pub location: Option<String>,
    /// Longest grant, in seconds.
    pub max_duration_secs: Option<i64>,
    /// Whether a ticket is required.
    pub ticket_required: Option<bool>,
    /// The approval policy's name.
    pub approval: Option<String>,
    /// How requests are routed by risk score.
    pub route: String,
    /// The identity's policy groups.
    pub identity_groups: Vec<String>,
    /// Each rule considered, and why it matched or not.
    pub rules: Vec<RuleTraceInfo>,
}

/// One rule considered by an explanation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleTraceInfo {
    /// Rule name.
    pub rule: String,
    /// `file:line`.
    pub location: String,
    /// Whether it matched.
    pub matched: bool,
    /// Why it did or did not.
    pub reasons: Vec<String>,
}
