//! `/v1/grants/{id}/credential`, `/v1/ssh/*`, `/v1/resources/{name}/accounts`,
//! `/v1/reconcile` and `/v1/findings`: what a holder takes to a target, and what Warden
//! finds there.

use axum::Json;
use axum::extract::{Path, Query, State};
use uuid::Uuid;
use warden_proto::problem::Problem;
use warden_proto::targets::{
    FindingInfo, GrantCredential, Inventory, ListFindings, ReconcileQuery, ResourceReconciled,
    SignSshKey, SshCa, SshCertificate,
};

use super::ApiJson;
use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::service;
use warden_app::state::AppState;

/// Sets a fresh password on a running grant's account and returns it, once, to the
/// grant's holder only. Warden keeps no copy; the previous password stops working.
#[utoipa::path(operation_id = "grant_credential", post, path = "/v1/grants/{id}/credential", tag = "targets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Grant id")),
    responses(
        (status = 200, body = GrantCredential),
        (status = 404, description = "No such grant of the caller's.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grant is not active, or the target refused.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The vault is sealed, or the target cannot be reached.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn grant_credential(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<GrantCredential>, ApiError> {
    use secrecy::ExposeSecret;
    service::targets::credential(&state, &caller, id)
        .await
        .map_err(ApiError::from)
        .map(|c| {
            Json(GrantCredential {
                grant: c.grant,
                username: c.username,
                password: c.password.expose_secret().to_owned(),
                hints: c.hints,
                ends_at: c.ends_at,
            })
        })
}

/// The public key of Warden's SSH certificate authority, for `TrustedUserCAKeys`.
#[utoipa::path(operation_id = "ssh_ca", get, path = "/v1/ssh/ca", tag = "targets",
    responses((status = 200, body = SshCa)))]
pub async fn ssh_ca(State(state): State<AppState>) -> Result<Json<SshCa>, ApiError> {
    service::targets::ssh_ca(&state)
        .map_err(ApiError::from)
        .map(|public_key| Json(SshCa { public_key }))
}

/// Signs the caller's public key for their running grant on an ssh resource: the
/// role's principals, valid until the grant ends (and at most `[ssh]
/// certificate_max_secs`).
#[utoipa::path(operation_id = "sign_ssh_key", post, path = "/v1/ssh/certificates", tag = "targets", security(("bearer" = [])),
    request_body = SignSshKey,
    responses(
        (status = 200, body = SshCertificate),
        (status = 404, description = "No such resource, or no running grant of the caller's on it.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fits this document, but cannot be signed: the resource is not an ssh resource, the caller holds several roles on it and named none, or the line is not a key Warden can sign.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_ssh_key(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(b): ApiJson<SignSshKey>,
) -> Result<Json<SshCertificate>, ApiError> {
    let b = service::targets::SignSsh {
        resource: b.resource,
        role: b.role,
        public_key: b.public_key,
    };
    service::targets::sign_ssh(&state, &caller, &b)
        .await
        .map_err(ApiError::from)
        .map(|c| {
            Json(SshCertificate {
                grant: c.grant,
                certificate: c.certificate.certificate,
                principals: c.certificate.principals,
                valid_after: c.certificate.valid_after,
                valid_before: c.certificate.valid_before,
                host: c.host,
                port: c.port,
            })
        })
}

/// The accounts on a resource's target, with what makes each privileged and where it
/// comes from (`warden`, `connector`, `standing`, `unknown`). Needs `admin` or
/// `audit:read`.
#[utoipa::path(operation_id = "discover_accounts", get, path = "/v1/resources/{name}/accounts", tag = "targets", security(("bearer" = [])),
    params(("name" = String, Path, description = "Resource name")),
    responses(
        (status = 200, body = Inventory),
        (status = 404, description = "No such resource.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The resource's connection is not configured, or the target refused.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The vault is sealed, or the target cannot be reached.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn discover_accounts(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<Inventory>, ApiError> {
    service::targets::inventory(&state, &caller, &name)
        .await
        .map_err(ApiError::from)
        .map(|found| {
            let r = found.resource;
            Json(Inventory {
                kind: r.kind.as_str().to_owned(),
                tier: r.tier,
                environment: r.environment,
                resource: r.name,
                accounts: found
                    .accounts
                    .into_iter()
                    .map(|(a, origin)| warden_proto::targets::AccountInfo {
                        origin: origin.to_owned(),
                        name: a.name,
                        privileges: a.privileges,
                        until: a.until,
                    })
                    .collect(),
            })
        })
}

/// Reconciles one resource, or all with a configured connection, now. Needs `admin`.
#[utoipa::path(operation_id = "reconcile", post, path = "/v1/reconcile", tag = "targets", security(("bearer" = [])),
    params(ReconcileQuery),
    responses(
        (status = 200, body = Vec<ResourceReconciled>),
        (status = 404, description = "No such resource.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The resource's connection is not configured.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The resource is an ssh resource: nothing of a grant lives on its hosts.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reconcile(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<ReconcileQuery>,
) -> Result<Json<Vec<ResourceReconciled>>, ApiError> {
    let done = service::reconcile::run_for(&state, &caller, q.resource.as_deref()).await?;
    Ok(Json(
        done.into_iter()
            .map(|r| ResourceReconciled {
                resource: r.resource,
                tier: r.tier,
                removed: r.removed,
                restored: r.restored,
                findings: r.findings.into_iter().map(finding_info).collect(),
                errors: r.errors,
            })
            .collect(),
    ))
}

/// Privileged access found on targets that Warden did not grant: open ones, or all.
/// Needs `admin` or `audit:read`.
#[utoipa::path(operation_id = "list_findings", get, path = "/v1/findings", tag = "targets", security(("bearer" = [])),
    params(ListFindings),
    responses(
        (status = 200, body = Vec<FindingInfo>),
    ))]
pub async fn list_findings(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<ListFindings>,
) -> Result<Json<Vec<FindingInfo>>, ApiError> {
    let q = service::reconcile::Findings {
        resource: q.resource,
        all: q.all,
    };
    let findings = service::reconcile::findings(&state, &caller, &q).await?;
    Ok(Json(findings.into_iter().map(finding_info).collect()))
}

/// The wire form of a finding.
fn finding_info(f: warden_store::StoredFinding) -> FindingInfo {
    FindingInfo {
        id: f.id,
        resource: f.resource,
        account: f.account,
        privileges: f.privileges,
        state: f.state,
        first_seen: f.first_seen,
        last_seen: f.last_seen,
    }
}
