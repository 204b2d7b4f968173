//! RFC 9457 problem details: the body of every error response
//! (`Content-Type: application/problem+json`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The prefix of every problem type; the rest is one of the slugs of [`ProblemType`].
pub const PROBLEM_TYPE_PREFIX: &str = "urn:warden:problem:";

/// A problem details object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A stable, machine-readable URI naming the kind of problem, such as
    /// `urn:warden:problem:unauthorized`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem, the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a person to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id, to find the server's log lines for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The fields of the request that were wrong, when there were any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One wrong field in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path (`scopes.1`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every kind of problem Warden reports. The slug after [`PROBLEM_TYPE_PREFIX`] never changes
/// once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// The request is malformed or a field is invalid.
    BadRequest,
    /// No valid credentials: missing, malformed, unknown, expired or revoked token, or a
    /// failed login.
    Unauthorized,
    /// The token lacks the scope the operation needs.
    InsufficientScope,
    /// Authenticated, but not allowed for another reason.
    Forbidden,
    /// No such resource (or not visible to the caller).
    NotFound,
    /// The method is not allowed on this resource.
    MethodNotAllowed,
    /// The resource already exists or the change conflicts with its state.
    Conflict,
    /// The request body is larger than the server accepts.
    PayloadTooLarge,
    /// The request body is not JSON.
    UnsupportedMediaType,
    /// The request fits the API's description, but what it asks cannot be done: it names
    /// something that does not exist, breaks a rule of the policy or the configuration,
    /// or carries content (policy files, an HR file, a key) that is not valid.
    Unprocessable,
    /// Too many attempts; retry after the time in `Retry-After`.
    RateLimited,
    /// The request took longer than the server allows.
    Timeout,
    /// The server cannot serve now (storage unreachable, not ready).
    Unavailable,
    /// The vault is sealed: the server serves health and unseal only.
    Sealed,
    /// An unexpected failure inside the server; details are in its log.
    Internal,
}

impl ProblemType {
    /// Every problem type.
    pub const ALL: [ProblemType; 15] = [
        ProblemType::BadRequest,
        ProblemType::Unauthorized,
        ProblemType::InsufficientScope,
        ProblemType::Forbidden,
        ProblemType::NotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::Conflict,
        ProblemType::PayloadTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::Unprocessable,
        ProblemType::RateLimited,
        ProblemType::Timeout,
        ProblemType::Unavailable,
        ProblemType::Sealed,
        ProblemType::Internal,
    ];

    /// The stable slug.
    pub const fn slug(self) -> &'static str {
        match self {
            ProblemType::BadRequest => "bad-request",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::InsufficientScope => "insufficient-scope",
            ProblemType::Forbidden => "forbidden",
            ProblemType::NotFound => "not-found",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::Conflict => "conflict",
            ProblemType::PayloadTooLarge => "payload-too-large",
            ProblemType::UnsupportedMediaType => "unsupported-media-type",
            ProblemType::Unprocessable => "unprocessable",
            ProblemType::RateLimited => "rate-limited",
            ProblemType::Timeout => "timeout",
            ProblemType::Unavailable => "unavailable",
            ProblemType::Sealed => "sealed",
            ProblemType::Internal => "internal",
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> u16 {
        match self {
            ProblemType::BadRequest => 400,
            ProblemType::Unauthorized => 401,
            ProblemType::InsufficientScope | ProblemType::Forbidden => 403,
            ProblemType::NotFound => 404,
            ProblemType::MethodNotAllowed => 405,
            ProblemType::Timeout => 408,
            ProblemType::Conflict => 409,
            ProblemType::PayloadTooLarge => 413,
            ProblemType::UnsupportedMediaType => 415,
            ProblemType::Unprocessable => 422,
            ProblemType::RateLimited => 429,
            ProblemType::Internal => 500,
            ProblemType::Unavailable | ProblemType::Sealed => 503,
        }
    }

    /// The fixed title.
    pub const fn title(self) -> &'static str {
        match self {
            ProblemType::BadRequest => "The request is invalid",
            ProblemType::Unauthorized => "Authentication required",
            ProblemType::InsufficientScope => "The token lacks a required scope",
            ProblemType::Forbidden => "Not allowed",
            ProblemType::NotFound => "Not found",
            ProblemType::MethodNotAllowed => "Method not allowed",
            ProblemType::Conflict => "Conflict",
            ProblemType::PayloadTooLarge => "Request body too large",
            ProblemType::UnsupportedMediaType => "Unsupported media type",
            ProblemType::Unprocessable => "The request cannot be carried out",
            ProblemType::RateLimited => "Too many requests",
            ProblemType::Timeout => "Request timed out",
            ProblemType::Unavailable => "Service unavailable",
            ProblemType::Sealed => "Vault sealed",
            ProblemType::Internal => "Internal server error",
        }
    }

    /// The full type URI.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.slug())
    }

    /// The problem type for an HTTP error status that arrived without a body of ours.
    pub fn for_status(status: u16) -> Self {
        ProblemType::ALL
            .into_iter()
            .find(|t| t.status() == status && *t != ProblemType::Forbidden)
            .unwrap_or(if status >= 500 {
                ProblemType::Internal
            } else {
                ProblemType::BadRequest
            })
    }
}
