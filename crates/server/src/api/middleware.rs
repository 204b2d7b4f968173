//! Middleware: problem details for every error, request tracing with request ids, HTTP
//! metrics, and the headers every response carries.
//!
//! A client may bring its own `X-Request-Id` only in a safe form ([`is_safe_request_id`]);
//! any other is replaced by a fresh one before anything logs or echoes it, and the log
//! writes it quoted, so a caller cannot forge fields in the text log.

use std::any::Any;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::Level;
use warden_proto::problem::{PROBLEM_JSON, Problem, ProblemType};

use crate::error::{problem, problem_response};

/// The largest error body read back to turn it into problem details.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Turns every error response into problem details carrying the request id: ours gain the
/// id; bare ones from the framework (404, 405, 408, 413, extractor refusals) gain a body.
pub async fn problems(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // SCIM clients expect SCIM's own error format (RFC 7644 section 3.12).
    if response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/scim+json"))
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let is_problem = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    let bytes = to_bytes(body, MAX_ERROR_BODY).await.unwrap_or_default();
    let mut body: Problem = match is_problem.then(|| serde_json::from_slice::<Problem>(&bytes)) {
        Some(Ok(problem)) => problem,
        _ => {
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            let detail = (!text.is_empty() && text.len() <= 500 && !is_problem).then_some(text);
            let mut p = problem(ProblemType::for_status(status.as_u16()), detail);
            p.status = status.as_u16();
            p
        }
    };
    body.request_id = request_id;
    let rebuilt = problem_response(&body);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, rebuilt.into_body())
}

/// A panic in a handler becomes a 500 problem; the panic message goes to the log only.
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    problem_response(&problem(ProblemType::Internal, None))
}

/// Counts requests and their durations by route template (never by raw path, which could
/// carry names), method and status.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("warden_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("warden_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// The longest `X-Request-Id` accepted from a client.
pub const MAX_REQUEST_ID: usize = 64;

/// Whether a client's `X-Request-Id` is kept: 1 to [`MAX_REQUEST_ID`] characters from
/// `A-Z a-z 0-9 . _ -` (a UUID, a ULID, most tracing ids). Nothing in it can end a log
/// field, start another, or carry a control character.
pub fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Drops every `X-Request-Id` of the request unless there is exactly one and it is safe,
/// so that the request-id layer after it makes a fresh one.
pub async fn safe_request_id(mut req: Request, next: Next) -> Response {
    let headers = req.headers_mut();
    let mut ids = headers.get_all(X_REQUEST_ID).iter();
    let keep = match (ids.next(), ids.next()) {
        (Some(id), None) => is_safe_request_id(id.as_bytes()),
        (None, None) => true,
        _ => false,
    };
    if !keep {
        headers.remove(X_REQUEST_ID);
    }
    next.run(req).await
}

const X_REQUEST_ID: &str = "x-request-id";

/// A span per request with its id (quoted), method and path; headers are not recorded.
#[derive(Clone, Debug)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> tracing::Span {
        let id = req
            .headers()
            .get(X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", request_id = ?id, method = %req.method(), path = %req.uri().path())
    }
}

/// The tracing layer: one line per response at INFO, failures at ERROR.
pub fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), DefaultOnResponse> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// The paths a sealed server still serves: health, metrics, its API description, and the
/// vault's status and unseal.
pub(super) const SERVED_WHILE_SEALED: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/openapi.json",
    "/v1/operator/status",
    "/v1/operator/unseal",
];

/// Refuses every other request while the vault is sealed, saying so.
pub async fn sealed_gate(
    axum::extract::State(state): axum::extract::State<warden_app::state::AppState>,
    req: Request,
    next: Next,
) -> Response {
    if state.vault().is_sealed() && !SERVED_WHILE_SEALED.contains(&req.uri().path()) {
        return crate::error::ApiError::from(warden_app::service::vault::sealed_error(&state))
            .into_response();
    }
    next.run(req).await
}
