//! `/v1/users`: local users of the API.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use warden_core::user::User;
use warden_proto::WireSecret;
use warden_proto::problem::Problem;
use warden_proto::users::{CreateUser, CreatedUser, UpdateUser, UserInfo};

use super::ApiJson;
use crate::auth::Authenticated;
use crate::error::ApiError;
use warden_app::service;
use warden_app::service::scope_names;
use warden_app::state::AppState;

/// The wire form of a user.
pub(super) fn user_info(user: &User) -> UserInfo {
    UserInfo {
        id: user.id,
        username: user.username.to_string(),
        display_name: user.display_name.clone(),
        scopes: scope_names(&user.scopes),
        disabled: user.disabled,
        created_at: user.created_at,
    }
}

/// Every user. Needs `users:read`.
#[utoipa::path(operation_id = "list_users", get, path = "/v1/users", tag = "users", security(("bearer" = [])), responses(
    (status = 200, body = Vec<UserInfo>),
))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<UserInfo>>, ApiError> {
    service::users::list(&state, &caller)
        .await
        .map_err(ApiError::from)
        .map(|users| Json(users.iter().map(user_info).collect()))
}

/// Creates a user. Needs `users:write` and every scope given. Without a password, one is
/// generated and returned once.
#[utoipa::path(operation_id = "create_user", post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUser, responses(
    (status = 201, body = CreatedUser),
    (status = 409, description = "A user of that name exists.", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let req = service::users::Create {
        username: req.username,
        display_name: req.display_name,
        scopes: req.scopes,
        password: req.password.map(|p| p.0),
    };
    service::users::create(&state, &caller, req)
        .await
        .map_err(ApiError::from)
        .map(|created| {
            let body = CreatedUser {
                user: user_info(&created.user),
                initial_password: created.initial_password.map(WireSecret::new),
            };
            (StatusCode::CREATED, Json(body))
        })
}

/// One user. Needs `users:read`.
#[utoipa::path(operation_id = "get_user", get, path = "/v1/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path, description = "User name: 1 to 64 of `a-z 0-9 . _ - @`, starting with a letter or digit", max_length = 64, pattern = r"^[a-z0-9][a-z0-9._@-]*$")),
    responses(
        (status = 200, body = UserInfo),
        (status = 404, description = "No such user.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(username): Path<String>,
) -> Result<Json<UserInfo>, ApiError> {
    service::users::get(&state, &caller, &username)
        .await
        .map_err(ApiError::from)
        .map(|user| Json(user_info(&user)))
}

/// Changes a user's scopes or disables the user (every token stops at once). Needs
/// `users:write` and the scopes involved.
#[utoipa::path(operation_id = "update_user", patch, path = "/v1/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path, description = "User name: 1 to 64 of `a-z 0-9 . _ - @`, starting with a letter or digit", max_length = 64, pattern = r"^[a-z0-9][a-z0-9._@-]*$")),
    request_body = UpdateUser,
    responses(
        (status = 200, body = UserInfo),
        (status = 404, description = "No such user.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The caller would disable themselves.", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> Result<Json<UserInfo>, ApiError> {
    let req = service::users::Update {
        scopes: req.scopes,
        disabled: req.disabled,
    };
    service::users::update(&state, &caller, &username, req)
        .await
        .map_err(ApiError::from)
        .map(|user| Json(user_info(&user)))
}
