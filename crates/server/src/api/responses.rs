//! The responses every operation can give, added to the OpenAPI document once rather
//! than by hand on each: refusals of the request's form (400, 413, 415), of its token
//! (401, 403), of its time (408), of a sealed vault (503), and internal failures (500).
//! Each is described once under `components/responses` and referred to by every
//! operation it applies to, so a new route is documented truthfully without anyone
//! remembering to list them.

use utoipa::Modify;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Object, OpenApi, Ref, RefOr, Type};
use warden_proto::problem::PROBLEM_JSON;

use super::middleware::SERVED_WHILE_SEALED;
use crate::scim::SCIM_JSON;

/// Operations any valid token may call: they never answer 403.
const ANY_VALID_TOKEN: [&str; 3] = ["whoami", "logout", "list_tokens"];

/// Operations limited per client address or account name: they answer 429.
const RATE_LIMITED: [&str; 2] = ["login", "vault_unseal"];

/// Adds the shared responses to every operation they apply to.
pub struct CommonResponses;

/// A response shared by many operations, under `components/responses/{name}`.
struct Shared {
    name: &'static str,
    description: &'static str,
    /// The media types its body may come in.
    media: &'static [Media],
    /// The response headers it always carries.
    headers: &'static [(&'static str, &'static str)],
}

/// A body of a shared response.
#[derive(Clone, Copy)]
enum Media {
    /// RFC 9457 problem details.
    Problem,
    /// A SCIM error (RFC 7644 section 3.12).
    Scim,
}

const BAD_REQUEST: &str = "The request does not fit this document: a path or query value that \
    does not parse, a body that is not JSON of the documented shape, or a field the server \
    refuses (`errors` names each one).";
const UNAUTHORIZED: &str = "No valid bearer token: missing, malformed, unknown, expired or \
    revoked, or its user is disabled. The same answer for every reason.";
const FORBIDDEN: &str = "The token lacks a scope this operation needs, or the caller may not \
    act on this object.";
const TIMEOUT: &str = "The request took longer than `server.request_timeout_secs`.";
const TOO_LARGE: &str = "The body is larger than `server.body_limit_bytes` (for HR sync, \
    `server.hr_sync_body_limit_bytes`).";
const INTERNAL: &str = "An unexpected failure inside the server; its log has the cause under \
    the request id.";
const SEALED: &str = "The vault is sealed: until enough unseal shares are given the server \
    answers only health, readiness, metrics, this document, and the vault's status and unseal.";
const RATE_LIMITED_TEXT: &str =
    "Too many attempts from this address or for this account; retry after `Retry-After` seconds.";
const WWW_AUTHENTICATE: (&str, &str) = (
    "WWW-Authenticate",
    "`Bearer realm=\"warden\"`: the token to send.",
);
const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait before the next attempt.");

const SHARED: [Shared; 15] = [
    Shared {
        name: "BadRequest",
        description: BAD_REQUEST,
        media: &[Media::Problem],
        headers: &[],
    },
    Shared {
        name: "Unauthorized",
        description: UNAUTHORIZED,
        media: &[Media::Problem],
        headers: &[WWW_AUTHENTICATE],
    },
    Shared {
        name: "Forbidden",
        description: FORBIDDEN,
        media: &[Media::Problem],
        headers: &[],
    },
    Shared {
        name: "Timeout",
        description: TIMEOUT,
        media: &[Media::Problem],
        headers: &[],
    },
    Shared {
        name: "PayloadTooLarge",
        description: TOO_LARGE,
        media: &[Media::Problem],
        headers: &[],
    },
    Shared {
        name: "UnsupportedMediaType",
        description: "The body was not sent with `Content-Type: application/json`.",
        media: &[Media::Problem],
        headers: &[],
    },
    Shared {
        name: "RateLimited",
        description: RATE_LIMITED_TEXT,
        media: &[Media::Problem],
        headers: &[RETRY_AFTER],
    },
    Shared {
        name: "Internal",
        description: INTERNAL,
        media: &[Media::Problem],
        headers: &[],
    },
    Shared {
        name: "Sealed",
        description: SEALED,
        media: &[Media::Problem],
        headers: &[],
    },
    Shared {
        name: "ScimBadRequest",
        description: "The request is not a valid SCIM request; `scimType` says how.",
        media: &[Media::Scim],
        headers: &[],
    },
    Shared {
        name: "ScimUnauthorized",
        description: UNAUTHORIZED,
        media: &[Media::Scim],
        headers: &[WWW_AUTHENTICATE],
    },
    Shared {
        name: "ScimForbidden",
        description: "The token lacks the scope `hr:sync`, which every SCIM call needs.",
        media: &[Media::Scim],
        headers: &[],
    },
    Shared {
        name: "ScimPayloadTooLarge",
        description: TOO_LARGE,
        media: &[Media::Scim, Media::Problem],
        headers: &[],
    },
    Shared {
        name: "ScimUnsupportedMediaType",
        description: "The body was not sent as `application/scim+json` or `application/json`.",
        media: &[Media::Scim],
        headers: &[],
    },
    Shared {
        name: "ScimInternal",
        description: INTERNAL,
        media: &[Media::Scim, Media::Problem],
        headers: &[],
    },
];

impl Shared {
    fn response(&self) -> Response {
        let mut builder = ResponseBuilder::new().description(self.description);
        for media in self.media {
            let (content_type, schema) = match media {
                Media::Problem => (PROBLEM_JSON, "Problem"),
                Media::Scim => (SCIM_JSON, "ScimErrorBody"),
            };
            builder = builder.content(
                content_type,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            );
        }
        for (name, description) in self.headers {
            builder = builder.header(
                *name,
                HeaderBuilder::new()
                    .schema(Some(Object::with_type(Type::String)))
                    .description(Some(*description))
                    .build(),
            );
        }
        builder.build()
    }
}

/// The name of the shared response for `status` on an operation of the SCIM API or not.
fn shared_name(status: u16, scim: bool) -> Option<&'static str> {
    Some(match (status, scim) {
        (400, false) => "BadRequest",
        (400, true) => "ScimBadRequest",
        (401, false) => "Unauthorized",
        (401, true) => "ScimUnauthorized",
        (403, false) => "Forbidden",
        (403, true) => "ScimForbidden",
        (408, _) => "Timeout",
        (413, false) => "PayloadTooLarge",
        (413, true) => "ScimPayloadTooLarge",
        (415, false) => "UnsupportedMediaType",
        (415, true) => "ScimUnsupportedMediaType",
        (429, _) => "RateLimited",
        (500, false) => "Internal",
        (500, true) => "ScimInternal",
        (503, _) => "Sealed",
        _ => return None,
    })
}

/// The statuses of the shared responses `op` at `path` can give.
fn statuses(path: &str, op: &Operation) -> Vec<u16> {
    let id = op.operation_id.as_deref().unwrap_or_default();
    let authenticated = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().any(|r| *r != Default::default()));
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let body = op.request_body.as_ref().and_then(|b| match b {
        RefOr::T(body) => Some(body),
        RefOr::Ref(_) => None,
    });
    let json_body = body.is_some_and(|b| {
        !b.content.is_empty() && b.content.keys().all(|media| media.ends_with("json"))
    });
    let mut out = vec![408, 500];
    if has_params || body.is_some() {
        out.push(400);
    }
    if authenticated {
        out.push(401);
        if !ANY_VALID_TOKEN.contains(&id) {
            out.push(403);
        }
    }
    if body.is_some() {
        out.push(413);
    }
    if json_body {
        out.push(415);
    }
    if RATE_LIMITED.contains(&id) {
        out.push(429);
    }
    if !SERVED_WHILE_SEALED.contains(&path) {
        out.push(503);
    }
    out
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The reason phrase of `status`, for a response written without a description (the
/// OpenAPI document requires one).
fn reason(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Response")
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for shared in &SHARED {
            components
                .responses
                .insert(shared.name.to_owned(), RefOr::T(shared.response()));
        }
        for (path, item) in &mut openapi.paths.paths {
            let scim = path.starts_with(crate::scim::BASE);
            for op in operations_mut(item) {
                for status in statuses(path, op) {
                    let Some(name) = shared_name(status, scim) else {
                        continue;
                    };
                    let key = status.to_string();
                    // A response written by hand with something to say stays.
                    let keep = matches!(
                        op.responses.responses.get(&key),
                        Some(RefOr::T(r)) if !r.description.is_empty()
                    );
                    if !keep {
                        op.responses
                            .responses
                            .insert(key, RefOr::Ref(Ref::from_response_name(name)));
                    }
                }
                for (status, response) in &mut op.responses.responses {
                    if let RefOr::T(r) = response
                        && r.description.is_empty()
                    {
                        r.description = reason(status).to_owned();
                    }
                }
            }
        }
    }
}
