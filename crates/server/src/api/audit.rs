//! `/v1/audit`: search, the head and its checkpoint, the published checkpoint key, and
//! exports. There is no route that changes or deletes an event.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use warden_proto::audit::{
    AuditActor, AuditEventInfo, AuditHead, AuditKey, AuditPage, AuditQuery, ExportQuery,
};
use warden_proto::problem::Problem;
use warden_store::StoredAuditEvent;

use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::service;
use warden_app::state::AppState;

/// The wire form of a stored event.
fn event_info(e: StoredAuditEvent) -> AuditEventInfo {
    AuditEventInfo {
        seq: e.seq,
        id: e.id,
        time: e.at,
        actor: AuditActor {
            user: e.actor_user,
            token: e.actor_token,
            ip: e.source,
            user_agent: e.user_agent,
        },
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        reason: e.reason,
        resource: e.resource,
        request: e.request_id,
        grant: e.grant_id,
        risk: e.risk,
        details: e.details,
        prev_hash: e.prev_hash.to_hex(),
        hash: e.hash.to_hex(),
    }
}

/// Searches the audit log, newest first, a page at a time. Needs `audit:read` or `admin`.
#[utoipa::path(operation_id = "search_audit", get, path = "/v1/audit/events", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 422, description = "`until` is not after `since`.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn search(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let q = service::audit::Query {
        actor: q.actor,
        action: q.action,
        resource: q.resource,
        request: q.request,
        grant: q.grant,
        since: q.since,
        until: q.until,
        before: q.before,
        limit: q.limit,
    };
    service::audit::search(&state, &caller, &q)
        .await
        .map_err(ApiError::from)
        .map(|page| {
            Json(AuditPage {
                events: page.events.into_iter().map(event_info).collect(),
                next: page.next,
            })
        })
}

/// The last event and the latest signed checkpoint. Needs `audit:read` or `admin`.
#[utoipa::path(operation_id = "audit_head", get, path = "/v1/audit/head", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, body = AuditHead),
    ))]
pub async fn head(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<AuditHead>, ApiError> {
    service::audit::head(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|head| {
            Json(AuditHead {
                seq: head.seq,
                hash: head.hash.to_hex(),
                checkpoint_seq: head.checkpoint_seq,
                checkpoint_time: head.checkpoint_time,
            })
        })
}

/// The public key that signs checkpoints. Public: pin it where the server's
/// administrators cannot change it, and verify exports with it.
#[utoipa::path(operation_id = "audit_key", get, path = "/v1/audit/key", tag = "audit",
    responses(
        (status = 200, body = AuditKey),
    ))]
pub async fn key(State(state): State<AppState>) -> Result<Json<AuditKey>, ApiError> {
    service::audit::key(&state)
        .map_err(ApiError::from)
        .map(|public| {
            Json(AuditKey {
                key_id: public.key_id(),
                public_key: public.encode(),
            })
        })
}

/// Exports the log (or the events after `since`) as a bundle that `warden audit verify`
/// checks offline: JSON lines of a header, the events and their signed checkpoints,
/// ending with a checkpoint over the last event. The export is itself audited. Needs
/// `audit:read` or `admin`.
#[utoipa::path(operation_id = "export_audit", get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The bundle, JSON lines", content_type = "application/x-ndjson"),
        (status = 404, description = "`since` is past the end of the log.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let export = service::audit::export(&state, &caller, q.since.unwrap_or(0))
        .await
        .map_err(ApiError::from)?;
    let stream = futures_util::stream::try_unfold(export, |mut export| async move {
        Ok::<_, std::io::Error>(
            export
                .next_chunk()
                .await?
                .map(|chunk| (axum::body::Bytes::from(chunk), export)),
        )
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
