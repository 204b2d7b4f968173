//! The HTTP surface: problem details from every source of errors, body limits, request
//! ids, health, readiness and metrics.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
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
        assert!(
            answer.body["title"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}"
        );
        let id = answer.headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            answer.body["request_id"], id,
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
    assert!(
        extra.body["detail"].as_str().unwrap().contains("remember"),
        "{extra:?}"
    );
    let missing = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "a"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{missing:?}"
    );
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

#[tokio::test]
async fn health_readiness_and_metrics() {
    let t = TestApp::new().await;
    let health = t.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = t.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
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
