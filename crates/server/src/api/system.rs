//! Health, readiness, metrics and the OpenAPI document.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use warden_proto::problem::{Problem, ProblemType};
use warden_proto::system::{Health, Ready};
use warden_store::Backend;

use crate::error::ApiError;
use warden_app::state::AppState;

/// The serialised OpenAPI document.
#[derive(Clone, Debug)]
pub struct OpenApiDocument(pub Arc<String>);

/// The process is up.
#[utoipa::path(operation_id = "healthz", get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// The server can serve: storage answers and every migration is applied.
#[utoipa::path(operation_id = "readyz", get, path = "/readyz", tag = "system", responses(
    (status = 200, body = Ready),
    (status = 503, description = "Not ready: storage is unreachable, migrations are pending, or the vault is sealed.", body = Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let store = state.store();
    let unavailable = |what: String| ApiError::new(ProblemType::Unavailable, what);
    if let Err(e) = store.ping().await {
        tracing::warn!(error = %e, "readiness: storage unreachable");
        return Err(unavailable("storage is unreachable".to_owned()));
    }
    let pending = store.pending_migrations().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: cannot read migrations");
        unavailable("cannot read the migration state".to_owned())
    })?;
    if pending > 0 {
        return Err(unavailable(format!(
            "{pending} database migrations are not applied"
        )));
    }
    if state.vault().is_sealed() {
        return Err(ApiError::new(
            ProblemType::Sealed,
            "the vault is sealed: give unseal shares (warden operator unseal)",
        ));
    }
    let storage = match store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    Ok(Json(Ready {
        status: "ready".to_owned(),
        storage: storage.to_owned(),
        migrations_pending: 0,
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(operation_id = "metrics", get, path = "/metrics", tag = "system", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics().run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
}

/// This OpenAPI 3.1 document.
#[utoipa::path(operation_id = "openapi_json", get, path = "/v1/openapi.json", tag = "system", responses(
    (status = 200, description = "The OpenAPI 3.1 document of this API", body = Object),
))]
pub async fn openapi_json(Extension(doc): Extension<OpenApiDocument>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
}
