//! SCIM errors (RFC 7644 section 3.12): a status, an optional `scimType` keyword and a
//! detail, sent as `application/scim+json` so the problem-details middleware leaves them
//! alone. Internal failures are logged with their cause chain and shown as generic text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use warden_proto::problem::ProblemType;
use warden_store::StoreError;

use super::SCIM_JSON;
use crate::error::{ApiError, problem_type};
use warden_app::service::error::{Failure, ServiceError};

/// The schema URN of SCIM error bodies.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 table 9 that Warden uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    /// The filter is malformed or not supported.
    InvalidFilter,
    /// A unique attribute's value is already taken.
    Uniqueness,
    /// An attempt to change an attribute that cannot change.
    Mutability,
    /// The body is not a valid SCIM request.
    InvalidSyntax,
    /// A PATCH path is malformed or names nothing Warden knows.
    InvalidPath,
    /// A PATCH path selects nothing.
    NoTarget,
    /// A value is missing, of the wrong type, or not acceptable.
    InvalidValue,
}

impl ScimType {
    /// The keyword.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
        }
    }
}

/// The body of a SCIM error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScimErrorBody {
    /// Always `["urn:ietf:params:scim:api:messages:2.0:Error"]`.
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    pub status: String,
    /// The SCIM error keyword, for 400 and 409 answers.
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    /// What went wrong, for a person to read.
    pub detail: String,
}

/// A failed SCIM call.
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<ScimType>,
    detail: String,
}

impl ScimError {
    /// A 400 with its keyword.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// A 400 `invalidValue`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }

    /// A 409 `uniqueness`.
    pub fn taken(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            scim_type: Some(ScimType::Uniqueness),
            detail: detail.into(),
        }
    }

    /// A 404 for `what`.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            scim_type: None,
            detail: format!("{what} was not found"),
        }
    }

    /// A 415: the body is not JSON.
    pub fn media_type() -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            scim_type: None,
            detail: "the request body must be sent as application/scim+json or application/json"
                .to_owned(),
        }
    }

    /// A 500 whose cause has been logged.
    fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            scim_type: None,
            detail: "an internal error occurred; the server log has the details".to_owned(),
        }
    }

    /// A status with a detail and no keyword (framework refusals such as 413).
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The body sent for this error.
    pub fn body(&self) -> ScimErrorBody {
        ScimErrorBody {
            schemas: vec![ERROR_SCHEMA.to_owned()],
            status: self.status.as_u16().to_string(),
            scim_type: self.scim_type.map(|t| t.as_str().to_owned()),
            detail: self.detail.clone(),
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::taken(format!("{what} already exists")),
            other => {
                let mut chain = other.to_string();
                let mut source = std::error::Error::source(&other);
                while let Some(s) = source {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    source = s.source();
                }
                tracing::error!(cause = %chain, "scim request failed");
                Self::internal()
            }
        }
    }
}

impl From<ApiError> for ScimError {
    /// Keeps the status and the public detail of an error from the shared layers;
    /// rendering it once logs the cause of an internal failure, which is never shown.
    fn from(e: ApiError) -> Self {
        let kind = e.kind();
        let detail = e.public_detail().unwrap_or_else(|| kind.title().to_owned());
        drop(e.into_response());
        let status =
            StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match kind {
            ProblemType::Internal => Self::internal(),
            ProblemType::Unauthorized => Self::status(status, "a valid bearer token is required"),
            ProblemType::Conflict => Self::taken(&detail),
            ProblemType::BadRequest => Self::invalid(&detail),
            _ => Self::status(status, &detail),
        }
    }
}

impl From<ServiceError> for ScimError {
    /// Keeps the kind and the public detail of a failure of the service layer; the cause
    /// of an internal failure is logged, never shown.
    fn from(e: ServiceError) -> Self {
        let kind = e.kind();
        if let Some(chain) = e.cause_chain() {
            tracing::error!(cause = %chain, "scim request failed");
        }
        let detail = e.public_detail().unwrap_or_else(|| kind.title().to_owned());
        let status = StatusCode::from_u16(problem_type(kind).status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match kind {
            Failure::Internal => Self::internal(),
            Failure::Unauthenticated => Self::status(status, "a valid bearer token is required"),
            Failure::Conflict => Self::taken(&detail),
            Failure::Invalid => Self::invalid(&detail),
            _ => Self::status(status, &detail),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::debug!(status = self.status.as_u16(), "scim request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), scim_type = ?self.scim_type, "scim request refused");
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warden\""),
            );
        }
        response
    }
}
