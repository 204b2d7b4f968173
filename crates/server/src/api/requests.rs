//! `/v1/requests`: just-in-time access requests and decisions.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use uuid::Uuid;
use warden_proto::problem::Problem;
use warden_proto::requests::{
    CreateRequest, Decide, DecisionInfo, ListRequests, RequestInfo, RiskFactorInfo,
};

use super::ApiJson;
use super::grants::{employee_id, grant_info, name};
use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::service;
use warden_app::state::AppState;

/// Files a request for a role on a resource, for a duration, with a justification (and a
/// ticket where policy wants one). Policy decides eligibility (a refusal lists why each
/// rule failed); the risk score and its factors route it to automatic approval, one
/// approver or two; a request nobody could approve is refused. Needs `request`.
#[utoipa::path(operation_id = "create_request", post, path = "/v1/requests", tag = "requests", security(("bearer" = [])),
    request_body = CreateRequest,
    responses(
        (status = 201, body = RequestInfo),
        (status = 404, description = "The vendor named by `on_behalf_of`, or the resource, does not exist.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nobody could approve this request under its approval policy, so it is refused rather than left waiting.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fits this document, but policy will not take it: a justification shorter than the approval policy's minimum, a ticket not of the form it requires, a duration longer than any grant, or a start time not between now and 30 days ahead.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_request(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<RequestInfo>), ApiError> {
    let req = service::requests::Create {
        resource: req.resource,
        role: req.role,
        duration: req.duration,
        justification: req.justification,
        ticket: req.ticket,
        on_behalf_of: req.on_behalf_of,
        start_at: req.start_at,
    };
    service::requests::create(&state, &caller, req)
        .await
        .map_err(ApiError::from)
        .map(|r| (StatusCode::CREATED, Json(request_info(&r))))
}

/// The caller's requests, newest first; with `pending_approval`, the pending requests the
/// caller may decide on (needs `approve`).
#[utoipa::path(operation_id = "list_requests", get, path = "/v1/requests", tag = "requests", security(("bearer" = [])),
    params(ListRequests),
    responses(
        (status = 200, body = Vec<RequestInfo>),
    ))]
pub async fn list_requests(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<ListRequests>,
) -> Result<Json<Vec<RequestInfo>>, ApiError> {
    let requests = service::requests::list(&state, &caller, q.pending_approval).await?;
    Ok(Json(requests.iter().map(request_info).collect()))
}

/// One request with its risk factors, route and decisions.
#[utoipa::path(operation_id = "get_request", get, path = "/v1/requests/{id}", tag = "requests", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Request id")),
    responses(
        (status = 200, body = RequestInfo),
        (status = 404, description = "No such request visible to the caller.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_request(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<RequestInfo>, ApiError> {
    service::requests::show(&state, &caller, id)
        .await
        .map_err(ApiError::from)
        .map(|r| Json(request_info(&r)))
}

/// Approves a pending request. Nobody approves their own request or one made on their
/// behalf, and the same person cannot give both approvals of a dual route. Needs `approve`.
#[utoipa::path(operation_id = "approve_request", post, path = "/v1/requests/{id}/approve", tag = "requests", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Request id")),
    request_body = Decide,
    responses(
        (status = 200, body = RequestInfo),
        (status = 404, description = "No such pending request the caller may decide on.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is not pending (decided, timed out or cancelled), or no longer meets policy.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_request(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
    ApiJson(d): ApiJson<Decide>,
) -> Result<Json<RequestInfo>, ApiError> {
    service::requests::decide(&state, &caller, id, true, &d.comment)
        .await
        .map_err(ApiError::from)
        .map(|r| Json(request_info(&r)))
}

/// Denies a pending request; one denial ends it. Needs `approve`.
#[utoipa::path(operation_id = "deny_request", post, path = "/v1/requests/{id}/deny", tag = "requests", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Request id")),
    request_body = Decide,
    responses(
        (status = 200, body = RequestInfo),
        (status = 404, description = "No such pending request the caller may decide on.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is not pending (decided, timed out or cancelled), or no longer meets policy.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deny_request(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
    ApiJson(d): ApiJson<Decide>,
) -> Result<Json<RequestInfo>, ApiError> {
    service::requests::decide(&state, &caller, id, false, &d.comment)
        .await
        .map_err(ApiError::from)
        .map(|r| Json(request_info(&r)))
}

/// Cancels one's own request before it is provisioned. Needs `request`.
#[utoipa::path(operation_id = "cancel_request", post, path = "/v1/requests/{id}/cancel", tag = "requests", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Request id")),
    responses(
        (status = 200, body = RequestInfo),
        (status = 404, description = "No such request of the caller's.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request can no longer be cancelled.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_request(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<RequestInfo>, ApiError> {
    service::requests::cancel(&state, &caller, id)
        .await
        .map_err(ApiError::from)
        .map(|r| Json(request_info(&r)))
}

/// The wire form of a request.
pub(crate) fn request_info(r: &service::requests::Request) -> RequestInfo {
    let (requester, beneficiary) = (r.requester.as_ref(), r.beneficiary.as_ref());
    RequestInfo {
        id: r.request.id,
        requester: employee_id(requester),
        requester_name: name(requester),
        beneficiary: employee_id(beneficiary),
        beneficiary_name: name(beneficiary),
        resource: r.request.resource.clone(),
        role: r.request.role.clone(),
        duration_secs: r.request.duration_secs,
        justification: r.request.justification.clone(),
        ticket: r.request.ticket.clone(),
        rule: r.request.rule.clone(),
        approval: r.request.approval.clone(),
        route: r.request.route.as_str().to_owned(),
        risk: u32::try_from(r.request.risk_total).unwrap_or(0),
        risk_factors: r
            .risk_factors
            .iter()
            .map(|f| RiskFactorInfo {
                name: f.name.clone(),
                points: f.points,
                reason: f.reason.clone(),
            })
            .collect(),
        state: r.request.state.as_str().to_owned(),
        created_at: r.request.created_at,
        pending_until: r.request.pending_until,
        decisions: r
            .decisions
            .iter()
            .map(|d| DecisionInfo {
                approver: d.decision.approver_employee_id.clone(),
                approver_name: d.approver_name.clone(),
                decision: d.decision.decision.clone(),
                capacity: d.decision.capacity.clone(),
                comment: d.decision.comment.clone(),
                at: d.decision.at,
            })
            .collect(),
        needs: r.needs.clone(),
        kind: r.request.kind.as_str().to_owned(),
        extends: r.request.extends,
        grant: r.grant.as_ref().map(grant_info),
        start_at: r.request.start_at,
    }
}
