//! A JSON body extractor whose refusals are problem details saying what was wrong.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};
use warden_proto::problem::ProblemType;

use crate::error::ApiError;

/// Like `axum::Json`, but refusals are [`ApiError`]s, and a whole number written with a
/// fraction (`2.0`) is read as the integer it is, as JSON Schema reads it.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match Json::<Value>::from_request(req, state).await {
            Ok(Json(value)) => value,
            Err(JsonRejection::MissingJsonContentType(_)) => {
                return Err(ApiError::new(
                    ProblemType::UnsupportedMediaType,
                    "the request body must be JSON, sent with Content-Type: application/json",
                ));
            }
            Err(other) => {
                return Err(ApiError::new(
                    ProblemType::for_status(other.status().as_u16()),
                    other.body_text(),
                ));
            }
        };
        // JSON that does not fit the body's description is as malformed for the API as
        // JSON that does not parse: 400, naming the field.
        serde_path_to_error::deserialize(whole_numbers(value))
            .map(ApiJson)
            .map_err(|e| {
                ApiError::new(
                    ProblemType::BadRequest,
                    format!("Failed to deserialize the JSON body into the target type: {e}"),
                )
            })
    }
}

/// The largest magnitude below which every whole number is exact as a JSON float.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// `value` with every float that is a whole number (`2.0`, `1e3`) turned into that integer,
/// where it is exact: JSON Schema's `integer` takes them, and serde's integers do not.
fn whole_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(
            n.as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT_FLOAT)
                // In range and whole, so the cast is exact.
                .map_or(n, |f| {
                    #[allow(clippy::cast_possible_truncation)]
                    Number::from(f as i64)
                }),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, whole_numbers(value)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_floats_become_integers_and_others_stay() {
        assert_eq!(
            whole_numbers(json!({"a": [2.0, 1e3, -0.0, 2.5, 7], "b": 1e300})),
            json!({"a": [2, 1000, 0, 2.5, 7], "b": 1e300})
        );
    }
}
