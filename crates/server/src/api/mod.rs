//! The HTTP API: routes, their OpenAPI description, and the middleware around them.
//!
//! Every route is registered through `utoipa_axum::routes!`, so a route cannot exist
//! without its entry in `/v1/openapi.json`.

mod audit;
mod auth;
mod body_rules;
mod directory;
mod grants;
mod json;
mod middleware;
mod policy;
mod requests;
mod responses;
mod system;
mod targets;
mod tokens;
mod users;
mod vault;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_proto::problem::{FieldError, Problem, ProblemType};

pub use json::ApiJson;

use crate::error::ApiError;
use warden_app::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Warden",
        description = "Privileged access management with just-in-time access. Errors are RFC 9457 problem details (application/problem+json) whose `type` is a stable `urn:warden:problem:*` URI.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "system", description = "Health, readiness, metrics and this document"),
        (name = "auth", description = "Login, logout, the caller's identity and password"),
        (name = "tokens", description = "API tokens of the caller"),
        (name = "users", description = "Local users of the API"),
        (name = "hr", description = "Identities from HR files"),
        (name = "identities", description = "Identities and explanations of their access"),
        (name = "policy", description = "Policy as code: plan, apply, history, restore"),
        (name = "scim", description = "SCIM 2.0 for identity providers and HR systems"),
        (name = "requests", description = "Just-in-time access requests and their approval"),
        (name = "grants", description = "Grants, the access check, break-glass and incidents"),
        (name = "targets", description = "Credentials, SSH certificates, discovery and reconciliation on targets"),
        (name = "audit", description = "The tamper-evident audit log: search, signed checkpoints, verifiable exports"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The routes and their OpenAPI document, before state and middleware. `hr_body_limit`
/// is the body limit of the HR sync route, which takes whole HR files.
fn routes(hr_body_limit: usize) -> OpenApiRouter<AppState> {
    let (schemas, paths, hr_sync) = routes!(directory::hr_sync);
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi_json))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::whoami))
        .routes(routes!(auth::change_password))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update))
        .routes((
            schemas,
            paths,
            hr_sync.layer(DefaultBodyLimit::max(hr_body_limit)),
        ))
        .routes(routes!(directory::list_identities))
        .routes(routes!(directory::get_identity))
        .routes(routes!(directory::explain_access))
        .routes(routes!(policy::get_policy))
        .routes(routes!(policy::plan_policy))
        .routes(routes!(policy::apply_policy))
        .routes(routes!(policy::list_policy_versions))
        .routes(routes!(policy::get_policy_version))
        .routes(routes!(policy::restore_policy_version))
        .routes(routes!(requests::create_request, requests::list_requests))
        .routes(routes!(requests::get_request))
        .routes(routes!(requests::approve_request))
        .routes(routes!(requests::deny_request))
        .routes(routes!(requests::cancel_request))
        .routes(routes!(grants::list_grants))
        .routes(routes!(grants::get_grant))
        .routes(routes!(grants::revoke_grant))
        .routes(routes!(grants::extend_grant))
        .routes(routes!(grants::access_check))
        .routes(routes!(grants::take_breakglass, grants::list_breakglass))
        .routes(routes!(grants::get_breakglass))
        .routes(routes!(grants::justify_breakglass))
        .routes(routes!(grants::review_breakglass))
        .routes(routes!(grants::list_incidents))
        .routes(routes!(grants::create_vendor, grants::list_vendors))
        .routes(routes!(targets::grant_credential))
        .routes(routes!(targets::ssh_ca))
        .routes(routes!(targets::sign_ssh_key))
        .routes(routes!(targets::discover_accounts))
        .routes(routes!(targets::reconcile))
        .routes(routes!(targets::list_findings))
        .routes(routes!(audit::search))
        .routes(routes!(audit::head))
        .routes(routes!(audit::key))
        .routes(routes!(audit::export))
        .routes(routes!(vault::status))
        .routes(routes!(vault::init))
        .routes(routes!(vault::unseal))
        .routes(routes!(vault::seal))
        .routes(routes!(vault::rotate))
        .routes(routes!(vault::rekey))
        .routes(routes!(vault::list_accounts, vault::add_account))
        .routes(routes!(vault::get_account))
        .routes(routes!(vault::checkout))
        .routes(routes!(vault::checkin))
        .routes(routes!(vault::rotate_account))
        .merge(crate::scim::routes());
    responses::CommonResponses.modify(router.get_openapi_mut());
    body_rules::AtLeastOne.modify(router.get_openapi_mut());
    router
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(0).into_openapi()
}

/// The whole application: routes, fallbacks, and middleware.
pub fn app(state: AppState) -> Router {
    let server = &state.config().server;
    let body_limit = server.body_limit_bytes;
    let timeout = Duration::from_secs(server.request_timeout_secs);
    let hr_body_limit = server.hr_sync_body_limit_bytes.max(body_limit);
    let (router, openapi) = routes(hr_body_limit).split_for_parts();
    let document = Arc::new(openapi.to_pretty_json().unwrap_or_default());
    router
        .fallback(|| async { ApiError::new(ProblemType::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ProblemType::MethodNotAllowed,
                "this endpoint does not accept that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::sealed_gate,
        ))
        .with_state(state)
        .layer(Extension(system::OpenApiDocument(document)))
        .layer(
            ServiceBuilder::new()
                // Every answer is per caller or live state, and many carry a secret
                // (tokens, credentials, passwords, unseal shares): nothing may be stored
                // by a browser or a proxy. A route serving something cacheable says so.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(axum::middleware::from_fn(middleware::safe_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                ]))
                .layer(middleware::trace_layer())
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(middleware::problems))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(axum::middleware::from_fn(middleware::record_metrics))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    timeout,
                ))
                // The outer bound for every body; routes refuse more than their own limit.
                .layer(RequestBodyLimitLayer::new(hr_body_limit))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
}
