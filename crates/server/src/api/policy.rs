//! `/v1/policy`: plan, apply, history and restore of policy as code.

use axum::Json;
use axum::extract::{Path, State};
use warden_core::policy::PolicySource;
use warden_proto::directory::{
    ApplyPolicy, PolicyApplied, PolicyChange, PolicyFile, PolicyPlan, PolicyVersionInfo,
    RestoreRequest,
};
use warden_proto::problem::Problem;

use super::ApiJson;
use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::service;
use warden_app::state::AppState;

/// The policy in force with its files (`null` before the first apply). Needs `policy:read`.
#[utoipa::path(operation_id = "get_policy", get, path = "/v1/policy", tag = "policy", security(("bearer" = [])),
    responses(
        (status = 200, body = Option<PolicyVersionInfo>),
    ))]
pub async fn get_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Option<PolicyVersionInfo>>, ApiError> {
    service::policy::current(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|v| Json(v.as_ref().map(version_info)))
}

/// What applying these files would change, for whom: birthright access and what each
/// identity may request, against the live policy and identities. Needs `policy:read`.
#[utoipa::path(operation_id = "plan_policy", post, path = "/v1/policy/plan", tag = "policy", security(("bearer" = [])),
    request_body = PolicyChange,
    responses(
        (status = 200, body = PolicyPlan),
        (status = 422, description = "The files do not make a policy: every error as `file:line`, or a path given twice.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn plan_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(change): ApiJson<PolicyChange>,
) -> Result<Json<PolicyPlan>, ApiError> {
    service::policy::plan(&state, &caller, &change_of(change))
        .await
        .map_err(ApiError::from)
        .map(|p| Json(plan_info(&p)))
}

/// Applies these files as a new policy version, atomically with its consequences and its
/// audit event. A `comment` is required. Needs `policy:write`.
#[utoipa::path(operation_id = "apply_policy", post, path = "/v1/policy/apply", tag = "policy", security(("bearer" = [])),
    request_body = ApplyPolicy,
    responses(
        (status = 200, body = PolicyApplied),
        (status = 409, description = "Another change was applied at the same time; plan again.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The files do not make a policy: every error as `file:line`, or a path given twice.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn apply_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(apply): ApiJson<ApplyPolicy>,
) -> Result<Json<PolicyApplied>, ApiError> {
    service::policy::apply(&state, &caller, &change_of(apply.into()))
        .await
        .map_err(ApiError::from)
        .map(|a| Json(applied_info(&a)))
}

/// Every applied version, newest first. Needs `policy:read`.
#[utoipa::path(operation_id = "list_policy_versions", get, path = "/v1/policy/versions", tag = "policy", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<PolicyVersionInfo>),
    ))]
pub async fn list_policy_versions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<PolicyVersionInfo>>, ApiError> {
    let versions = service::policy::history(&state, &caller).await?;
    Ok(Json(versions.iter().map(version_info).collect()))
}

/// One version with its files. Needs `policy:read`.
#[utoipa::path(operation_id = "get_policy_version", get, path = "/v1/policy/versions/{version}", tag = "policy", security(("bearer" = [])),
    params(("version" = i64, Path, description = "Version number")),
    responses(
        (status = 200, body = PolicyVersionInfo),
        (status = 404, description = "No such version.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_policy_version(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(version): Path<i64>,
) -> Result<Json<PolicyVersionInfo>, ApiError> {
    service::policy::version(&state, &caller, version)
        .await
        .map_err(ApiError::from)
        .map(|v| Json(version_info(&v)))
}

/// Applies an older version again, as a new version. Needs `policy:write`.
#[utoipa::path(operation_id = "restore_policy_version", post, path = "/v1/policy/versions/{version}/restore", tag = "policy", security(("bearer" = [])),
    params(("version" = i64, Path, description = "Version number to restore")),
    request_body = RestoreRequest,
    responses(
        (status = 200, body = PolicyApplied),
        (status = 404, description = "No such version.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another change was applied at the same time.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The version's files no longer make a policy.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore_policy_version(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(version): Path<i64>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> Result<Json<PolicyApplied>, ApiError> {
    service::policy::restore(&state, &caller, version, &req.comment)
        .await
        .map_err(ApiError::from)
        .map(|a| Json(applied_info(&a)))
}

/// The files and comment of a plan or apply, as the service takes them.
fn change_of(change: PolicyChange) -> service::policy::Change {
    service::policy::Change {
        files: change
            .files
            .into_iter()
            .map(|f| PolicySource {
                path: f.path,
                text: f.text,
            })
            .collect(),
        comment: change.comment,
    }
}

/// The wire form of a policy file.
fn file_info(f: &PolicySource) -> PolicyFile {
    PolicyFile {
        path: f.path.clone(),
        text: f.text.clone(),
    }
}

/// The wire form of what a policy change does.
fn plan_info(p: &service::policy::Plan) -> PolicyPlan {
    PolicyPlan {
        live_version: p.live_version,
        digest: p.digest.clone(),
        unchanged: p.unchanged,
        resources_added: p.resources_added.clone(),
        resources_removed: p.resources_removed.clone(),
        changes: p
            .changes
            .iter()
            .map(super::directory::person_change)
            .collect(),
        warnings: p.warnings.clone(),
    }
}

/// The wire form of an apply or restore.
fn applied_info(a: &service::policy::Applied) -> PolicyApplied {
    PolicyApplied {
        version: a.version,
        plan: plan_info(&a.plan),
    }
}

/// The wire form of a policy version.
fn version_info(v: &service::policy::Version) -> PolicyVersionInfo {
    PolicyVersionInfo {
        version: v.version,
        digest: v.digest.clone(),
        comment: v.comment.clone(),
        applied_by: v.applied_by.clone(),
        applied_at: v.applied_at,
        files: v.files.as_ref().map(|f| f.iter().map(file_info).collect()),
    }
}
