//! A JSON body extractor whose refusals are problem details saying what was wrong.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use warden_proto::problem::ProblemType;

use crate::error::ApiError;

/// Like `axum::Json`, but refusals are [`ApiError`]s.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    ProblemType::UnsupportedMediaType,
                    "the request body must be JSON, sent with Content-Type: application/json",
                ),
                other => ApiError::new(
                    ProblemType::for_status(other.status().as_u16()),
                    other.body_text(),
                ),
            }),
        }
    }
}
