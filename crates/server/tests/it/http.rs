//! The HTTP surface: problem details from every source of errors, body limits, request
//! ids (and what the log makes of them), the headers every answer carries, health,
//! readiness and metrics.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use secrecy::ExposeSecret;
use serde_json::json;
use warden_proto::auth::LoginResponse;
use warden_proto::system::Health;
use warden_store::Backend;

use crate::support::{PEER, TestApp};

#[tokio::test]
async fn every_error_is_problem_json_with_a_stable_type_and_the_request_id() {
    let t = TestApp::new().await;
    let token = t.admin().await;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            Request::get("/v1/nothing-here")
                .body(Body::empty())
                .unwrap(),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            Request::put("/v1/auth/login").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
        (
            Request::post("/v1/auth/login")
                .header("content-type", "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        ),
        (
            Request::post("/v1/auth/login")
                .header("content-type", "text/plain")
                .body(Body::from("{}"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            Request::delete("/v1/tokens/not-a-uuid")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        ),
        (
            Request::get("/v1/users/nobody")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
    ];
    for (req, status, kind) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let answer = t.raw(req, PEER).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        assert_eq!(answer.problem(), kind, "{what}");
        let problem = answer.details();
        assert!(!problem.title.is_empty(), "{what}");
        let id = answer.headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            problem.request_id.as_deref(),
            Some(id),
            "{what}: the problem carries the request id"
        );
    }
}

#[tokio::test]
async fn unknown_and_missing_fields_are_named() {
    let t = TestApp::new().await;
    let extra = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "a", "password": "b", "remember": true})),
        )
        .await;
    assert_eq!(extra.status, StatusCode::BAD_REQUEST);
    assert!(extra.detail().contains("remember"), "{extra:?}");
    let missing = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "a"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.detail().contains("password"), "{missing:?}");
}

/// JSON Schema's `integer` takes `3600.0`, so the server does too (schemathesis sent
/// one and got 400); a number with a fraction is still no integer, and JSON of the wrong
/// shape is a malformed request (400), not the 422 axum gives it.
#[tokio::test]
async fn whole_numbers_written_with_a_fraction_are_integers() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let created = t
        .post(
            "/v1/tokens",
            &admin,
            json!({"name": "ci", "expires_in_secs": 3600.0}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let fraction = t
        .post(
            "/v1/tokens",
            &admin,
            json!({"name": "ci", "expires_in_secs": 3600.5}),
        )
        .await;
    assert_eq!(fraction.status, StatusCode::BAD_REQUEST, "{fraction:?}");
    assert!(
        fraction.detail().contains("expires_in_secs"),
        "{fraction:?}"
    );
    let shape = t.post("/v1/tokens", &admin, json!([null, null])).await;
    assert_eq!(shape.status, StatusCode::BAD_REQUEST, "{shape:?}");
    assert_eq!(shape.problem(), "bad-request");
}

#[tokio::test]
async fn oversize_bodies_are_refused_with_413() {
    let t = TestApp::with(Backend::Sqlite, |c| c.server.body_limit_bytes = 2048).await;
    let big = json!({"username": "admin", "password": "x".repeat(4096)}).to_string();
    // Announced by Content-Length: refused before the body is read.
    let sized = Request::post("/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(big.clone()))
        .unwrap();
    let answer = t.raw(sized, PEER).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.problem(), "payload-too-large");
    // Streamed without a length: refused once the limit is crossed.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(512)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let streamed = Request::post("/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let answer = t.raw(streamed, PEER).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{answer:?}");
    assert_eq!(answer.problem(), "payload-too-large");
    // Under the limit is fine.
    let small = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": t.admin_password})),
        )
        .await;
    assert_eq!(small.status, StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_made_or_kept() {
    let t = TestApp::new().await;
    let made = t.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(made.headers["x-request-id"].to_str().unwrap().len(), 36);
    let kept = t
        .raw(
            Request::get("/healthz")
                .header("x-request-id", "trace-me-42")
                .body(Body::empty())
                .unwrap(),
            PEER,
        )
        .await;
    assert_eq!(kept.headers["x-request-id"], "trace-me-42");
}

/// Issue: a client's `X-Request-Id` was echoed and logged as sent, so a caller could forge
/// fields in the text log. Only 1 to 64 of `A-Za-z0-9._-` is kept; anything else — and
/// more than one id — is replaced by a fresh UUID, in the answer, its problem body and
/// the log.
#[tokio::test]
async fn a_client_request_id_is_kept_only_in_a_safe_form() {
    let t = TestApp::new().await;
    let send = |ids: &[&[u8]]| {
        let mut req = Request::get("/v1/nothing-here");
        for id in ids {
            req = req.header("x-request-id", *id);
        }
        t.raw(req.body(Body::empty()).unwrap(), PEER)
    };
    let longest = "a".repeat(64);
    for id in ["01J9Z7K2M4", "trace-me.42_x", longest.as_str()] {
        let answer = send(&[id.as_bytes()]).await;
        assert_eq!(answer.headers["x-request-id"], id);
        assert_eq!(answer.details().request_id.as_deref(), Some(id));
    }
    let too_long = "a".repeat(65);
    for ids in [
        vec![b"forged status=200 path=/v1/admin".as_slice()],
        vec![b"a\"b".as_slice()],
        vec![b"tab\there".as_slice()],
        vec![too_long.as_bytes()],
        vec![b"caf\xc3\xa9".as_slice()],
        vec![b"".as_slice()],
        vec![b"first".as_slice(), b"second".as_slice()],
    ] {
        let answer = send(&ids).await;
        let id = answer.headers["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{ids:?} gave {id}");
        assert_eq!(
            answer.details().request_id.as_deref(),
            Some(id.as_str()),
            "{ids:?}"
        );
        assert_eq!(answer.headers.get_all("x-request-id").iter().count(), 1);
    }
}

/// The log line of a request carries its id in quotes, and a forged one never.
#[tokio::test(flavor = "current_thread")]
async fn the_log_quotes_the_request_id_and_never_holds_a_forged_one() {
    let t = TestApp::new().await;
    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(log.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for id in ["forged status=200 path=/v1/admin", "trace-me-42"] {
        t.raw(
            Request::get("/healthz")
                .header("x-request-id", id)
                .body(Body::empty())
                .unwrap(),
            PEER,
        )
        .await;
    }
    let text = log.text();
    assert!(!text.contains("forged"), "{text}");
    assert!(text.contains("request_id=\"trace-me-42\""), "{text}");
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Every answer, whatever its route, status or origin (a handler, an extractor's refusal,
/// the fallback, a sealed vault), says `X-Content-Type-Options: nosniff` and
/// `Cache-Control: no-store`: every route of the OpenAPI document is tried.
#[tokio::test]
async fn every_answer_says_nosniff_and_no_store() {
    let t = TestApp::new().await;
    let token = t.admin().await;
    let document = serde_json::to_value(warden_server::api::openapi()).unwrap();
    let mut tried = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let path = path
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            for auth in [None, Some(token.as_str())] {
                let answer = t.send(method.clone(), &path, auth, None).await;
                assert_not_stored(&answer, &format!("{method} {path}"));
                tried += 1;
            }
        }
    }
    assert!(tried > 100, "only {tried} answers");
    for path in ["/healthz", "/metrics", "/no/such/thing"] {
        let answer = t.send(Method::GET, path, None, None).await;
        assert_not_stored(&answer, path);
    }
}

fn assert_not_stored(answer: &crate::support::Answer, what: &str) {
    assert_eq!(
        answer
            .headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what}: {answer:?}"
    );
    assert_eq!(
        answer
            .headers
            .get("x-content-type-options")
            .map(|v| v.to_str().unwrap()),
        Some("nosniff"),
        "{what}: {answer:?}"
    );
}

/// An answer that succeeded and carries `field` (a secret), with the headers that keep
/// it out of caches. The field is looked up in the raw JSON, as a JSON pointer: the
/// answers checked are of many types.
fn assert_secret_not_stored(answer: &crate::support::Answer, field: &str, what: &str) {
    assert!(answer.status.is_success(), "{what}: {answer:?}");
    assert!(
        answer.body.pointer(field).is_some_and(|v| !v.is_null()),
        "{what}: no {field} in {answer:?}"
    );
    assert_not_stored(answer, what);
}

/// Issue: answers carrying a secret (a login token, a vendor's or a new user's password, a
/// grant credential, a vault check-out, unseal shares) could be kept by a browser or a
/// proxy. Each of them, as it really answers, says `Cache-Control: no-store`.
#[tokio::test]
async fn every_answer_carrying_a_secret_says_no_store() {
    // Login, tokens, users and vendors.
    let (t, p) = crate::requests::people().await;
    let login = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": t.admin_password})),
        )
        .await;
    assert_secret_not_stored(&login, "/token", "login");
    let admin = login
        .parse::<LoginResponse>()
        .token
        .0
        .expose_secret()
        .to_owned();
    let minted = t
        .post(
            "/v1/tokens",
            &admin,
            json!({"name": "ci", "scopes": ["users:read"]}),
        )
        .await;
    assert_secret_not_stored(&minted, "/token", "token creation");
    let user = t
        .post(
            "/v1/users",
            &admin,
            json!({"username": "jane", "scopes": ["request"]}),
        )
        .await;
    assert_secret_not_stored(&user, "/initial_password", "user creation");
    let vendor = t
        .post(
            "/v1/vendors",
            &p.bob,
            json!({"username": "victor", "name": "Victor Vega", "email": "victor@dbfix.example", "company": "DBFix", "days": 14}),
        )
        .await;
    assert_secret_not_stored(&vendor, "/initial_password", "vendor creation");

    // Unseal shares, at init and at rekey.
    let v = TestApp::new().await;
    let admin = v.admin().await;
    let init = v
        .post(
            "/v1/operator/init",
            &admin,
            json!({"shares": 3, "threshold": 2}),
        )
        .await;
    assert_secret_not_stored(&init, "/shares/0", "operator init");
    let rekey = v
        .post(
            "/v1/operator/rekey",
            &admin,
            json!({"shares": 3, "threshold": 2}),
        )
        .await;
    assert_secret_not_stored(&rekey, "/shares/0", "operator rekey");

    // A grant's credential and a vault check-out, on the real Redis.
    let tag = crate::targets::tag();
    let e = crate::targets::env(&tag, |c| {
        c.vault.unseal_key_file = Some(c.storage.data_dir.join("vault_unseal.key"));
    })
    .await;
    let grant = crate::targets::granted(&e, "session-cache", "read").await;
    let credential =
        e.t.post(
            &format!("/v1/grants/{}/credential", grant.id),
            &e.alice,
            json!({}),
        )
        .await;
    assert_secret_not_stored(&credential, "/password", "grant credential");
    let password = format!("Vault-{tag}-pass");
    let account = crate::vault::Target::make("redis", &tag, &password).await;
    let added =
        e.t.post(
            "/v1/accounts",
            &e.admin,
            json!({"name": "cache-breakglass", "connection": "session-cache",
                   "username": account.username(), "password": password,
                   "groups": ["sre-leads"], "checkout_max": "30m"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    let out =
        e.t.post("/v1/accounts/cache-breakglass/checkout", &e.bob, json!({}))
            .await;
    assert_secret_not_stored(&out, "/password", "vault check-out");

    // End the grant, so its Redis user is gone.
    e.t.clock
        .advance(time::Duration::hours(1) + time::Duration::seconds(1));
    let report = e.t.tick().await;
    assert_eq!(report.revoked, 1, "{report:?}");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let t = TestApp::new().await;
    let health = t.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.parse::<Health>().status, "ok");
    let ready = t.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    // The raw JSON: exactly these fields, and no other.
    assert_eq!(
        ready.body,
        json!({"status": "ready", "storage": "sqlite", "migrations_pending": 0})
    );
    let _ = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "x", "password": "y"})),
        )
        .await;
    let metrics = t.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8(metrics.raw).unwrap();
    assert!(text.contains("warden_http_requests_total{"), "{text}");
    assert!(text.contains("route=\"/v1/auth/login\""), "{text}");
    assert!(text.contains("warden_login_failures_total"), "{text}");
    assert!(
        text.contains("warden_http_request_duration_seconds"),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_fails_when_storage_is_gone() {
    let t = TestApp::with(Backend::Postgres, |_| {}).await;
    assert_eq!(
        t.send(Method::GET, "/readyz", None, None).await.status,
        StatusCode::OK
    );
    // Drop the database from under the server.
    let db_url = t.db.url.clone();
    let name = db_url.rsplit('/').next().unwrap().to_owned();
    let admin = sea_orm_admin();
    sea_orm::ConnectionTrait::execute_unprepared(
        &admin.await,
        &format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
    )
    .await
    .unwrap();
    let down = t.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{down:?}");
    assert_eq!(down.problem(), "unavailable");
    assert_eq!(
        t.send(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK,
        "alive, not ready"
    );
}

async fn sea_orm_admin() -> sea_orm::DatabaseConnection {
    let url = std::env::var("WARDEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| warden_store::testing::DEFAULT_POSTGRES_URL.to_owned());
    sea_orm::Database::connect(url.as_str()).await.unwrap()
}

#[tokio::test]
async fn a_request_that_never_finishes_sending_its_body_times_out_with_408() {
    let t = TestApp::with(Backend::Sqlite, |c| c.server.request_timeout_secs = 1).await;
    // One chunk, then nothing ever again: a slow-loris client.
    let first = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("{\"username\":")]);
    let stalled = futures_util::StreamExt::chain(first, futures_util::stream::pending());
    let req = Request::post("/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from_stream(stalled))
        .unwrap();
    let answer = t.raw(req, PEER).await;
    assert_eq!(answer.status, StatusCode::REQUEST_TIMEOUT, "{answer:?}");
    assert_eq!(answer.problem(), "timeout");
}
