//! `ApiError`: every failure of an API call, mapped to an HTTP status and an RFC 9457
//! problem details body. Internal failures show generic text to the caller and log their
//! whole cause chain; client errors are not logged with their detail (it may quote input).
//! A [`ServiceError`] becomes an `ApiError` here and nowhere else ([`From`]), so the JSON
//! API answers every failure of the service layer the same way; the constructors here are
//! for the refusals made at the HTTP edge itself (a missing bearer token, a body or
//! query that does not parse, routes that do not exist).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use warden_proto::problem::{FieldError, PROBLEM_JSON, Problem, ProblemType};
use warden_store::StoreError;

use warden_app::service::error::{Failure, ServiceError, joined_detail};

/// A failed API call.
#[derive(Debug)]
pub struct ApiError {
    kind: ProblemType,
    detail: Option<String>,
    errors: Vec<FieldError>,
    retry_after_secs: Option<u64>,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// A problem of `kind` with a detail for the caller.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: Some(detail.into()),
            errors: Vec::new(),
            retry_after_secs: None,
            cause: None,
        }
    }

    /// A problem with a list of field errors.
    pub fn with_errors(
        kind: ProblemType,
        detail: impl Into<String>,
        errors: Vec<FieldError>,
    ) -> Self {
        let mut err = Self::new(kind, detail);
        err.errors = errors;
        err
    }

    /// A request field is invalid.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let mut err = Self::new(ProblemType::BadRequest, format!("{field}: {message}"));
        err.errors.push(FieldError { field, message });
        err
    }

    /// No valid credentials. One text for every reason, so the answer reveals nothing.
    pub fn unauthorized() -> Self {
        Self::new(
            ProblemType::Unauthorized,
            "a valid bearer token is required",
        )
    }

    /// An unexpected failure; the cause is logged, never shown.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: ProblemType::Internal,
            detail: None,
            errors: Vec::new(),
            retry_after_secs: None,
            cause: Some(cause.into()),
        }
    }

    /// The problem type.
    pub fn kind(&self) -> ProblemType {
        self.kind
    }

    /// What the caller may be told: the detail and the field errors, joined. `None` for
    /// internal failures, whose causes are only logged.
    pub fn public_detail(&self) -> Option<String> {
        if self.kind == ProblemType::Internal {
            return None;
        }
        let detail = self.detail.as_deref()?;
        Some(joined_detail(
            detail,
            self.errors
                .iter()
                .map(|e| (e.field.as_str(), e.message.as_str())),
        ))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

/// The problem type the JSON API answers a failure of `kind` with.
pub fn problem_type(kind: Failure) -> ProblemType {
    match kind {
        Failure::Invalid => ProblemType::BadRequest,
        Failure::Unprocessable => ProblemType::Unprocessable,
        Failure::Unauthenticated => ProblemType::Unauthorized,
        Failure::MissingScope => ProblemType::InsufficientScope,
        Failure::Forbidden => ProblemType::Forbidden,
        Failure::NotFound => ProblemType::NotFound,
        Failure::Conflict => ProblemType::Conflict,
        Failure::RateLimited => ProblemType::RateLimited,
        Failure::Sealed => ProblemType::Sealed,
        Failure::Unavailable => ProblemType::Unavailable,
        Failure::Internal => ProblemType::Internal,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let parts = e.into_parts();
        Self {
            kind: problem_type(parts.kind),
            detail: parts.detail,
            errors: parts
                .fields
                .into_iter()
                .map(|f| FieldError {
                    field: f.field,
                    message: f.message,
                })
                .collect(),
            retry_after_secs: parts.retry_after_secs,
            cause: parts.cause,
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e)
    }
}

/// Writes a problem response for `problem`.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// The problem body for `kind` with an optional detail.
pub fn problem(kind: ProblemType, detail: Option<String>) -> Problem {
    Problem {
        kind: kind.uri(),
        title: kind.title().to_owned(),
        status: kind.status(),
        detail,
        request_id: None,
        errors: Vec::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            let mut chain = cause.to_string();
            let mut source = cause.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(problem = self.kind.slug(), cause = %chain, "request failed");
        } else {
            tracing::debug!(problem = self.kind.slug(), "request refused");
        }
        let mut body = problem(self.kind, self.detail);
        body.errors = self.errors;
        let mut response = problem_response(&body);
        let headers = response.headers_mut();
        if self.kind == ProblemType::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warden\""),
            );
        }
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_detail_shows_refusals_and_hides_internal_causes() {
        let field = ApiError::field("username", "must not be empty");
        assert_eq!(
            field.public_detail().as_deref(),
            Some("username: must not be empty")
        );
        let listed = ApiError::with_errors(
            ProblemType::BadRequest,
            "the file was refused",
            vec![FieldError {
                field: "line 2: email".into(),
                message: "bad".into(),
            }],
        );
        assert_eq!(
            listed.public_detail().as_deref(),
            Some("the file was refused; line 2: email: bad")
        );
        let internal =
            ApiError::internal("connection to 10.0.0.5 refused: password authentication failed");
        assert_eq!(internal.public_detail(), None);
    }
}
