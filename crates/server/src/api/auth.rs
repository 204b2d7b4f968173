//! `/v1/auth`: login, logout, who am I, password change.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use warden_proto::WireSecret;
use warden_proto::auth::{ChangePassword, LoginRequest, LoginResponse, WhoAmI};
use warden_proto::problem::Problem;

use super::ApiJson;
use crate::auth::Authenticated;
use crate::client::Client;
use crate::error::ApiError;
use warden_app::service;
use warden_app::service::scope_names;
use warden_app::state::AppState;

/// Logs in with a user name and password and returns a session token. Unknown users and
/// wrong passwords get the same 401; too many attempts per address or per account name
/// get 429 with `Retry-After`.
#[utoipa::path(operation_id = "login", post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, description = "An unknown user, a wrong password or a disabled user: the same answer for each.", body = Problem, content_type = "application/problem+json"),
))]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let req = service::auth::Login {
        username: req.username,
        password: req.password.0,
    };
    service::auth::login(&state, &client, req)
        .await
        .map_err(ApiError::from)
        .map(|session| {
            Json(LoginResponse {
                token_id: session.record.id,
                expires_at: session.record.expires_at,
                token: WireSecret::new(session.token),
            })
        })
}

/// Revokes the token used for this request.
#[utoipa::path(operation_id = "logout", post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "The token is revoked"),
))]
pub async fn logout(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    service::auth::logout(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|()| StatusCode::NO_CONTENT)
}

/// Who the caller is and what this token may do.
#[utoipa::path(operation_id = "whoami", get, path = "/v1/auth/whoami", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = WhoAmI),
))]
pub async fn whoami(Authenticated(caller): Authenticated) -> Json<WhoAmI> {
    Json(WhoAmI {
        user_id: caller.user.id,
        username: caller.user.username.to_string(),
        display_name: caller.user.display_name.clone(),
        scopes: scope_names(&caller.scopes),
        token_id: caller.token.id,
        token_expires_at: caller.token.expires_at,
    })
}

/// Changes the caller's password; the current one must be given.
#[utoipa::path(operation_id = "change_password", post, path = "/v1/auth/password", tag = "auth", security(("bearer" = [])), request_body = ChangePassword, responses(
    (status = 204, description = "The password is changed"),
    (status = 403, description = "The current password is wrong.", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The new password is the current one.", body = Problem, content_type = "application/problem+json"),
))]
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let req = service::auth::ChangePassword {
        current_password: req.current_password.0,
        new_password: req.new_password.0,
    };
    service::auth::change_password(&state, &caller, req)
        .await
        .map_err(ApiError::from)
        .map(|()| StatusCode::NO_CONTENT)
}
