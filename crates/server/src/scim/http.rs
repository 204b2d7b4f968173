//! The HTTP edge of SCIM: the caller (a bearer token with `hr:sync`), JSON bodies sent as
//! `application/scim+json` or `application/json`, the query of list requests, and
//! responses that always carry `application/scim+json`. Every refusal here is a SCIM error.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use warden_core::Scope;
use warden_core::authz::{Operation, Relation};

use super::error::{ScimError, ScimType};
use super::filter::{AttrPath, Filter};
use super::{LIST_RESPONSE, SCIM_JSON};
use warden_app::auth::Caller;
use warden_app::state::AppState;

/// Page size when a list request gives no `count`.
pub const DEFAULT_COUNT: usize = 100;
/// The largest page (also `filter.maxResults` of the service provider configuration).
pub const MAX_COUNT: usize = 1000;

/// The caller of a SCIM endpoint: authenticated, and holding `hr:sync`.
#[derive(Debug)]
pub struct ScimCaller(pub Caller);

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let crate::auth::Authenticated(caller) =
            crate::auth::Authenticated::from_request_parts(parts, state).await?;
        warden_app::service::authz::require(state, &caller, Operation::Scim, Relation::Other)
            .await
            .map_err(|_| {
                ScimError::status(
                    StatusCode::FORBIDDEN,
                    format!("SCIM needs a token with the scope {}", Scope::HrSync),
                )
            })?;
        Ok(Self(caller))
    }
}

/// A JSON object sent as the request body.
#[derive(Debug)]
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let json_like = match req.headers().get(header::CONTENT_TYPE) {
            None => true,
            Some(value) => {
                let essence = value
                    .to_str()
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim();
                essence.eq_ignore_ascii_case(SCIM_JSON)
                    || essence.eq_ignore_ascii_case("application/json")
            }
        };
        if !json_like {
            return Err(ScimError::media_type());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ScimError::status(rejection.status(), rejection.body_text()))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::bad(
                ScimType::InvalidSyntax,
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ScimError::bad(
                ScimType::InvalidSyntax,
                "the body must be a JSON object",
            ));
        }
        Ok(Self(value))
    }
}

/// The query of a list or read request.
#[derive(Debug, Default)]
pub struct ListQuery {
    /// `filter`.
    pub filter: Option<Filter>,
    /// `startIndex`, 1-based.
    pub start_index: usize,
    /// `count`, at most [`MAX_COUNT`].
    pub count: usize,
    /// `attributes` and `excludedAttributes`.
    pub projection: Projection,
}

/// Which attributes to return (`attributes`) or leave out (`excludedAttributes`).
#[derive(Debug, Default)]
pub struct Projection {
    only: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

impl FromRequestParts<AppState> for ListQuery {
    type Rejection = ScimError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Query(pairs) =
            Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|e| {
                ScimError::invalid(format!("the query string is malformed: {}", e.body_text()))
            })?;
        let param = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let number = |name: &str, default: usize| -> Result<usize, ScimError> {
            match param(name) {
                None => Ok(default),
                Some(text) => text
                    .trim()
                    .parse::<i64>()
                    .map(|n| usize::try_from(n.max(0)).unwrap_or(usize::MAX))
                    .map_err(|_| {
                        ScimError::invalid(format!("{name} must be an integer, not {text:?}"))
                    }),
            }
        };
        let filter = match param("filter") {
            Some(text) if !text.trim().is_empty() => Some(Filter::parse(text)?),
            _ => None,
        };
        let paths = |name: &str| -> Result<Vec<AttrPath>, ScimError> {
            param(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    AttrPath::parse(s)
                        .map_err(|e| ScimError::invalid(format!("{name}: {}", e.body().detail)))
                })
                .collect()
        };
        Ok(Self {
            filter,
            start_index: number("startIndex", 1)?.max(1),
            count: number("count", DEFAULT_COUNT)?.min(MAX_COUNT),
            projection: Projection {
                only: paths("attributes")?,
                excluded: paths("excludedAttributes")?,
            },
        })
    }
}

impl Projection {
    /// Applies `attributes` / `excludedAttributes` to a rendered resource; `id` and
    /// `schemas` are always returned.
    pub fn apply(&self, resource: &mut Value) {
        let Value::Object(map) = resource else { return };
        let always =
            |key: &str| key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("schemas");
        if !self.only.is_empty() {
            map.retain(|key, value| {
                always(key)
                    || self.only.iter().any(|p| match &p.schema {
                        Some(schema) if schema.eq_ignore_ascii_case(key) => {
                            keep_in_extension(value, &self.only, schema);
                            true
                        }
                        Some(_) => false,
                        None => p.attr.eq_ignore_ascii_case(key),
                    })
            });
        }
        for p in &self.excluded {
            let container = match &p.schema {
                None => Some(&mut *map),
                Some(schema) => key_of(map, schema)
                    .and_then(|k| map.get_mut(&k))
                    .and_then(Value::as_object_mut),
            };
            let Some(container) = container else { continue };
            let Some(key) = key_of(container, &p.attr) else {
                continue;
            };
            if p.schema.is_none() && always(&key) {
                continue;
            }
            match &p.sub {
                None => {
                    container.remove(&key);
                }
                Some(sub) => match container.get_mut(&key) {
                    Some(Value::Object(o)) => remove_key(o, sub),
                    Some(Value::Array(items)) => {
                        items
                            .iter_mut()
                            .filter_map(Value::as_object_mut)
                            .for_each(|o| remove_key(o, sub));
                    }
                    _ => {}
                },
            }
        }
    }
}

/// Keeps only the requested attributes inside an extension object.
fn keep_in_extension(value: &mut Value, only: &[AttrPath], schema: &str) {
    let wanted: Vec<&str> = only
        .iter()
        .filter(|p| {
            p.schema
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(schema))
        })
        .map(|p| p.attr.as_str())
        .collect();
    if wanted.iter().any(|a| a.is_empty()) {
        return;
    }
    if let Value::Object(ext) = value {
        ext.retain(|k, _| wanted.iter().any(|w| w.eq_ignore_ascii_case(k)));
    }
}

/// The key of `map` equal to `name` ignoring case (SCIM attribute names are case-insensitive).
pub fn key_of(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The value of `name` in `map`, ignoring case.
pub fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn remove_key(map: &mut Map<String, Value>, name: &str) {
    if let Some(key) = key_of(map, name) {
        map.remove(&key);
    }
}

/// A `ListResponse` of one page of `resources` (already filtered and sorted).
pub fn list_response(resources: Vec<Value>, query: &ListQuery) -> Response {
    let total = resources.len();
    let page: Vec<Value> = resources
        .into_iter()
        .skip(query.start_index.saturating_sub(1))
        .take(query.count)
        .map(|mut r| {
            query.projection.apply(&mut r);
            r
        })
        .collect();
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "startIndex": query.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        }),
    )
}

/// A response with a SCIM JSON body.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// A 201 with the resource and its `Location`.
pub fn created(body: &Value, location: &str) -> Response {
    let mut response = scim_json(StatusCode::CREATED, body);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The 204 of a delete.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The text of an RFC 3339 time for `meta`.
pub fn timestamp(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A resource id from the path: ids are UUIDs, so anything else names nothing.
pub fn parse_id(kind: &str, raw: &str) -> Result<uuid::Uuid, ScimError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ScimError::not_found(format!("{kind} {raw}")))
}
