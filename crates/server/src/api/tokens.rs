//! `/v1/tokens`: the caller's API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;
use warden_core::user::TokenRecord;
use warden_proto::WireSecret;
use warden_proto::auth::{CreateToken, CreatedToken, TokenInfo};
use warden_proto::problem::Problem;

use super::ApiJson;
use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::service;
use warden_app::service::scope_names;
use warden_app::state::AppState;

/// The wire form of a token record.
fn token_info(token: &TokenRecord) -> TokenInfo {
    TokenInfo {
        id: token.id,
        name: token.name.clone(),
        kind: token.kind.as_str().to_owned(),
        scopes: scope_names(&token.scopes),
        created_at: token.created_at,
        expires_at: token.expires_at,
        revoked_at: token.revoked_at,
    }
}

/// The caller's tokens (never their secrets).
#[utoipa::path(operation_id = "list_tokens", get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])), responses(
    (status = 200, body = Vec<TokenInfo>),
))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    service::tokens::list(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|tokens| Json(tokens.iter().map(token_info).collect()))
}

/// Creates an API token for the caller, with scopes the caller holds. The token text is
/// returned once.
#[utoipa::path(operation_id = "create_token", post, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = CreateToken, responses(
    (status = 201, body = CreatedToken),
    (status = 422, description = "The lifetime is longer than the server issues (`auth.token_max_ttl_secs`).", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let req = service::tokens::Create {
        name: req.name,
        scopes: req.scopes,
        expires_in_secs: req.expires_in_secs,
    };
    service::tokens::create(&state, &caller, req)
        .await
        .map_err(ApiError::from)
        .map(|created| {
            let body = CreatedToken {
                token: WireSecret::new(created.token),
                info: token_info(&created.record),
            };
            (StatusCode::CREATED, Json(body))
        })
}

/// Revokes a token of the caller's (an administrator may revoke any).
#[utoipa::path(operation_id = "revoke_token", delete, path = "/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 404, description = "No such token of the caller's.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::tokens::revoke(&state, &caller, id)
        .await
        .map_err(ApiError::from)
        .map(|()| StatusCode::NO_CONTENT)
}
