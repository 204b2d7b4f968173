//! SCIM 2.0 (RFC 7643, RFC 7644) under `/scim/v2`, so an identity provider (Entra ID,
//! Okta) or an HR system can push people and groups into Warden instead of, or beside,
//! HR files. Every endpoint needs a bearer token with `hr:sync`; bodies and errors are
//! `application/scim+json`.
//!
//! The pieces: [`http`] (caller, bodies, queries, responses), [`error`] (SCIM errors),
//! [`filter`] and [`patch`] (the query and PATCH languages, on JSON), [`user_map`] (User
//! to HR record and back), [`snapshot`] (what a write reads and how it commits through
//! the shared joiner/mover/leaver planner), [`users`], [`groups`] and [`schema`] (the
//! endpoints). SCIM owns the identities it creates (`source = "scim"`); identities from
//! HR files are not visible to it, so the two sources cannot overwrite each other.

pub mod docs;
pub mod error;
pub mod filter;
pub mod groups;
pub mod http;
pub mod patch;
pub mod schema;
pub mod user_map;
pub mod users;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use warden_app::state::AppState;

/// The media type of SCIM bodies.
pub const SCIM_JSON: &str = "application/scim+json";
/// Where SCIM lives.
pub const BASE: &str = "/scim/v2";
/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The schema of list responses.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Where a user is.
pub fn users_path(id: Uuid) -> String {
    format!("{BASE}/Users/{id}")
}

/// The SCIM routes with their OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(schema::service_provider_config))
        .routes(routes!(schema::list_schemas))
        .routes(routes!(schema::get_schema))
        .routes(routes!(schema::list_resource_types))
        .routes(routes!(schema::get_resource_type))
        .routes(routes!(users::list, users::create))
        .routes(routes!(
            users::get,
            users::replace,
            users::update,
            users::delete
        ))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(
            groups::get,
            groups::replace,
            groups::update,
            groups::delete
        ))
}
