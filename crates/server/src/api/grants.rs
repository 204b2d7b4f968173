//! `/v1/grants`, `/v1/access/check`, `/v1/breakglass` and `/v1/incidents`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use uuid::Uuid;
use warden_core::identity::Identity;
use warden_proto::grants::{
    AccessCheck, AccessCheckQuery, BreakGlassInfo, BreakGlassRequest, CreateVendor, CreatedVendor,
    ExtendGrant, GrantInfo, IncidentInfo, JustifyBreakGlass, ListGrants, ReviewBreakGlass,
    ReviewInfo, RevokeGrant, VendorInfo,
};
use warden_proto::problem::Problem;
use warden_proto::requests::RequestInfo;

use super::ApiJson;
use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::service;
use warden_app::state::AppState;

/// The caller's grants, newest first; with `all`, everyone's (needs `admin` or `audit:read`).
#[utoipa::path(operation_id = "list_grants", get, path = "/v1/grants", tag = "grants", security(("bearer" = [])),
    params(ListGrants),
    responses(
        (status = 200, body = Vec<GrantInfo>),
    ))]
pub async fn list_grants(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<ListGrants>,
) -> Result<Json<Vec<GrantInfo>>, ApiError> {
    let q = service::grants::List {
        all: q.all,
        live: q.live,
    };
    let grants = service::grants::list(&state, &caller, &q).await?;
    Ok(Json(grants.iter().map(grant_info).collect()))
}
/// One grant: its holder's, or any for administrators and auditors.
#[utoipa::path(operation_id = "get_grant", get, path = "/v1/grants/{id}", tag = "grants", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Grant id")),
    responses(
        (status = 200, body = GrantInfo),
        (status = 404, description = "No such grant visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_grant(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<GrantInfo>, ApiError> {
    service::grants::show(&state, &caller, id)
        .await
        .map_err(ApiError::from)
        .map(|g| Json(grant_info(&g)))
}
/// Ends a grant now, before its time (its holder, or an administrator). The access goes
/// from the target at once unless another running grant of the same access keeps it.
#[utoipa::path(operation_id = "revoke_grant", post, path = "/v1/grants/{id}/revoke", tag = "grants", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Grant id")),
    request_body = RevokeGrant,
    responses(
        (status = 200, body = GrantInfo),
        (status = 404, description = "No such grant visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grant is not provisioning or active.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
    ApiJson(b): ApiJson<RevokeGrant>,
) -> Result<Json<GrantInfo>, ApiError> {
    service::grants::revoke(&state, &caller, id, &b.reason)
        .await
        .map_err(ApiError::from)
        .map(|g| Json(grant_info(&g)))
}
/// Asks for more time on a running grant: a new request, scored on the time it adds and
/// routed like any other; once approved it overlaps the grant, so access never lapses.
#[utoipa::path(operation_id = "extend_grant", post, path = "/v1/grants/{id}/extend", tag = "grants", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Grant id")),
    request_body = ExtendGrant,
    responses(
        (status = 201, body = RequestInfo),
        (status = 404, description = "No such grant visible to the caller.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grant is not running; request access again.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fits this document, but policy will not take it: a reason shorter than the approval policy's minimum, a ticket not of the form it requires, or a duration longer than any grant.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn extend_grant(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
    ApiJson(b): ApiJson<ExtendGrant>,
) -> Result<(StatusCode, Json<RequestInfo>), ApiError> {
    let ext = service::requests::Extend {
        duration: b.duration,
        reason: b.reason,
        ticket: b.ticket,
    };
    service::requests::extend(&state, &caller, id, ext)
        .await
        .map_err(ApiError::from)
        .map(|r| (StatusCode::CREATED, Json(super::requests::request_info(&r))))
}
/// Whether an identity holds a role on a resource now, with the grant and its end: the
/// call other systems make before letting someone in. Needs `identities:read`.
#[utoipa::path(operation_id = "access_check", get, path = "/v1/access/check", tag = "grants", security(("bearer" = [])),
    params(AccessCheckQuery),
    responses(
        (status = 200, body = AccessCheck),
        (status = 404, description = "No such identity.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn access_check(
    State(state): State<AppState>,
    crate::auth::CheckCaller(caller): crate::auth::CheckCaller,
    Query(q): Query<AccessCheckQuery>,
) -> Result<Json<AccessCheck>, ApiError> {
    let q = service::grants::Check {
        identity: q.identity,
        resource: q.resource,
        role: q.role,
    };
    let a = service::grants::check(&state, &caller, &q).await?;
    Ok(Json(AccessCheck {
        allowed: a.allowed,
        grant: a.grant,
        ends_at: a.ends_at,
        breakglass: a.breakglass,
    }))
}
/// Break-glass: access at once without approval, for a role policy makes the caller
/// eligible for, at most 2 hours by default. Security is told at once; the holder owes a
/// justification within 24 hours, and the use is reviewed.
#[utoipa::path(operation_id = "take_breakglass", post, path = "/v1/breakglass", tag = "grants", security(("bearer" = [])),
    request_body = BreakGlassRequest,
    responses(
        (status = 201, body = BreakGlassInfo),
        (status = 404, description = "No such resource.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Longer than break-glass may last (`grants.breakglass_max_secs`), or a reason shorter than the policy's minimum.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn take_breakglass(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(b): ApiJson<BreakGlassRequest>,
) -> Result<(StatusCode, Json<BreakGlassInfo>), ApiError> {
    let take = service::breakglass::Take {
        resource: b.resource,
        role: b.role,
        reason: b.reason,
        duration: b.duration,
        ticket: b.ticket,
    };
    service::breakglass::take(&state, &caller, take)
        .await
        .map_err(ApiError::from)
        .map(|u| (StatusCode::CREATED, Json(breakglass_info(&u))))
}
/// Every break-glass use with its review (administrators, auditors, security).
#[utoipa::path(operation_id = "list_breakglass", get, path = "/v1/breakglass", tag = "grants", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<BreakGlassInfo>),
    ))]
pub async fn list_breakglass(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<BreakGlassInfo>>, ApiError> {
    let uses = service::breakglass::list(&state, &caller).await?;
    Ok(Json(uses.iter().map(breakglass_info).collect()))
}
/// One break-glass use with its review.
#[utoipa::path(operation_id = "get_breakglass", get, path = "/v1/breakglass/{id}", tag = "grants", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Break-glass request id")),
    responses(
        (status = 200, body = BreakGlassInfo),
        (status = 404, description = "No such break-glass use visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_breakglass(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<BreakGlassInfo>, ApiError> {
    service::breakglass::show(&state, &caller, id)
        .await
        .map_err(ApiError::from)
        .map(|u| Json(breakglass_info(&u)))
}
/// The holder's justification of a break-glass use, due within 24 hours.
#[utoipa::path(operation_id = "justify_breakglass", post, path = "/v1/breakglass/{id}/justify", tag = "grants", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Break-glass request id")),
    request_body = JustifyBreakGlass,
    responses(
        (status = 200, body = BreakGlassInfo),
        (status = 404, description = "No such break-glass use of the caller's.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The use is not awaiting a justification.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn justify_breakglass(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
    ApiJson(b): ApiJson<JustifyBreakGlass>,
) -> Result<Json<BreakGlassInfo>, ApiError> {
    service::breakglass::justify(&state, &caller, id, &b.justification)
        .await
        .map_err(ApiError::from)
        .map(|u| Json(breakglass_info(&u)))
}
/// A verdict on a break-glass use by security or the holder's manager. `unjustified`
/// opens an incident; `justified` from every reviewer closes the review.
#[utoipa::path(operation_id = "review_breakglass", post, path = "/v1/breakglass/{id}/review", tag = "grants", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Break-glass request id")),
    request_body = ReviewBreakGlass,
    responses(
        (status = 200, body = BreakGlassInfo),
        (status = 404, description = "No such break-glass use.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The use is not awaiting this review.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn review_breakglass(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
    ApiJson(b): ApiJson<ReviewBreakGlass>,
) -> Result<Json<BreakGlassInfo>, ApiError> {
    let review = service::breakglass::Review {
        verdict: b.verdict,
        comment: b.comment,
    };
    service::breakglass::review(&state, &caller, id, &review)
        .await
        .map_err(ApiError::from)
        .map(|u| Json(breakglass_info(&u)))
}
/// Security incidents (administrators and auditors).
#[utoipa::path(operation_id = "list_incidents", get, path = "/v1/incidents", tag = "grants", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<IncidentInfo>),
    ))]
pub async fn list_incidents(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<IncidentInfo>>, ApiError> {
    let incidents = service::breakglass::incidents(&state, &caller).await?;
    Ok(Json(
        incidents
            .into_iter()
            .map(|i| IncidentInfo {
                id: i.id,
                request: i.request_id,
                opened_at: i.opened_at,
                reason: i.reason,
                state: i.state,
            })
            .collect(),
    ))
}

/// The wire form of a sponsored vendor.
fn vendor_info(v: &service::vendors::Vendor) -> VendorInfo {
    VendorInfo {
        employee_id: v.identity.hr.employee_id.to_string(),
        username: v.identity.hr.username.to_string(),
        company: v.vendor.company.clone(),
        sponsor: v.sponsor.clone(),
        sponsor_name: v.sponsor_name.clone(),
        until: v.identity.hr.end_date.map(|d| d.to_string()),
        active: v.active,
        delete_after: v.vendor.delete_after,
    }
}

/// Creates a vendor sponsored by the caller: an identity whose manager is the caller and
/// whose last day ends the sponsorship, and a Warden account (its password shown once)
/// that is enabled only while a grant of the vendor's runs. Needs `request`.
#[utoipa::path(operation_id = "create_vendor", post, path = "/v1/vendors", tag = "grants", security(("bearer" = [])),
    request_body = CreateVendor,
    responses(
        (status = 201, body = CreatedVendor),
        (status = 409, description = "A user or identity of that name exists.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The sponsorship is longer than `grants.vendor_max_days`.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_vendor(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(b): ApiJson<CreateVendor>,
) -> Result<(StatusCode, Json<CreatedVendor>), ApiError> {
    let b = service::vendors::Create {
        username: b.username,
        name: b.name,
        email: b.email,
        company: b.company,
        days: b.days,
    };
    service::vendors::create(&state, &caller, b)
        .await
        .map_err(ApiError::from)
        .map(|r| {
            let body = CreatedVendor {
                vendor: vendor_info(&r.vendor),
                initial_password: warden_proto::WireSecret::new(r.initial_password),
            };
            (StatusCode::CREATED, Json(body))
        })
}

/// The vendors the caller sponsors (every vendor for administrators and auditors).
#[utoipa::path(operation_id = "list_vendors", get, path = "/v1/vendors", tag = "grants", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<VendorInfo>),
    ))]
pub async fn list_vendors(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<VendorInfo>>, ApiError> {
    service::vendors::list(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|vendors| Json(vendors.iter().map(vendor_info).collect()))
}

/// The employee id of an identity, or `(deleted)` once it no longer exists.
pub(crate) fn employee_id(who: Option<&Identity>) -> String {
    who.map_or_else(|| "(deleted)".to_owned(), |i| i.hr.employee_id.to_string())
}

/// The name HR gives an identity, if it still exists.
pub(crate) fn name(who: Option<&Identity>) -> Option<String> {
    who.map(|i| i.hr.display_name.clone())
}

/// The wire form of a grant.
pub(crate) fn grant_info(g: &service::grants::Grant) -> GrantInfo {
    let (holder, g) = (g.holder.as_ref(), &g.grant);
    GrantInfo {
        id: g.id,
        request: g.request_id,
        identity: employee_id(holder),
        identity_name: name(holder),
        resource: g.resource.clone(),
        role: g.role.clone(),
        kind: g.kind.as_str().to_owned(),
        state: g.state.as_str().to_owned(),
        starts_at: g.starts_at,
        ends_at: g.ends_at,
        attempts: g.attempts,
        last_error: g.last_error.clone(),
        end_reason: g.end_reason.clone(),
    }
}

/// The wire form of a break-glass use and its review.
fn breakglass_info(u: &service::breakglass::Use) -> BreakGlassInfo {
    let (r, holder) = (&u.request, u.holder.as_ref());
    BreakGlassInfo {
        id: r.id,
        holder: employee_id(holder),
        holder_name: name(holder),
        resource: r.resource.clone(),
        role: r.role.clone(),
        reason: r.justification.clone(),
        review: r.review.map(|r| r.as_str().to_owned()).unwrap_or_default(),
        justification: r.review_justification.clone(),
        justification_due: r.review_due_at,
        reviews: u
            .verdicts
            .iter()
            .map(|v| ReviewInfo {
                reviewer: v.review.reviewer_employee_id.clone(),
                reviewer_name: v.reviewer_name.clone(),
                capacity: v.review.capacity.clone(),
                verdict: v.review.verdict.clone(),
                comment: v.review.comment.clone(),
                at: v.review.at,
            })
            .collect(),
        needs: u.needs.clone(),
        grant: u.grant.as_ref().map(grant_info),
        incident: u.incident,
    }
}
