//! The HTTP side of authentication: the bearer token of the `Authorization` header, handed
//! to [`warden_app::auth`] to become the [`Caller`] of the operation.
//!
//! A token is refused with one and the same 401 whatever the reason.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use warden_app::auth::{self, Caller};
use warden_app::state::AppState;
use warden_core::credential::PresentedToken;

use crate::client::client_info;
use crate::error::ApiError;

/// The caller of an authenticated endpoint.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = client_info(parts, &state.config().server.trusted_proxies);
        let presented = presented(parts)?;
        Ok(Self(auth::authenticate(state, &presented, client).await?))
    }
}

/// The caller of `/v1/access/check`, the hot path of other systems, authenticated by
/// [`auth::authenticate_for_check`]. Nothing that changes state takes this extractor.
#[derive(Debug, Clone)]
pub struct CheckCaller(pub Caller);

impl FromRequestParts<AppState> for CheckCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = client_info(parts, &state.config().server.trusted_proxies);
        let presented = presented(parts)?;
        Ok(Self(
            auth::authenticate_for_check(state, &presented, client).await?,
        ))
    }
}

/// The token of the request's `Authorization` header, or 401.
fn presented(parts: &Parts) -> Result<PresentedToken, ApiError> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .and_then(PresentedToken::parse)
        .ok_or_else(ApiError::unauthorized)
}

/// The credentials of a `Bearer` authorization header (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bearer_scheme() {
        assert_eq!(super::bearer("Bearer abc"), Some("abc"));
        assert_eq!(super::bearer("bearer  abc "), Some("abc"));
        assert_eq!(super::bearer("Basic abc"), None);
        assert_eq!(super::bearer("Bearer"), None);
    }
}
