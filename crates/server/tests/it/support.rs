//! A Warden app on a fresh database, driven by `oneshot` requests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::Value;
use time::macros::datetime;
use tower::ServiceExt;
use warden_core::ManualClock;
use warden_server::config::Config;
use warden_server::service::bootstrap;
use warden_server::{AppState, api};
use warden_store::testing::TestDb;
use warden_store::{Backend, Store};

/// An app under test.
pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub clock: ManualClock,
    pub admin_password: String,
    pub db: TestDb,
    /// The data directory (the audit signing key lives here).
    pub data: tempfile::TempDir,
}

/// An answer: status, headers and the JSON body (Null when there is none).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Answer {
    /// The problem type slug, asserting the body is problem+json.
    pub fn problem(&self) -> &str {
        assert_eq!(
            self.headers
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("application/problem+json"),
            "not a problem: {self:?}"
        );
        assert_eq!(
            self.body["status"],
            self.status.as_u16(),
            "status in body matches: {self:?}"
        );
        self.body["type"]
            .as_str()
            .unwrap()
            .strip_prefix("urn:warden:problem:")
            .unwrap()
    }
}

pub const PEER: &str = "198.51.100.10:40000";

impl TestApp {
    /// A bootstrapped app on SQLite with the default configuration.
    pub async fn new() -> Self {
        Self::with(Backend::Sqlite, |_| {}).await
    }

    /// Runs the grant worker once (what `warden serve` does continuously) and returns
    /// what it did.
    pub async fn tick(&self) -> warden_server::service::expiry::Report {
        warden_server::service::expiry::tick(&self.state)
            .await
            .unwrap()
    }

    /// A bootstrapped app on `backend`, with configuration changed by `tweak`.
    pub async fn with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::starting_at(backend, datetime!(2026-06-01 09:00 UTC), tweak).await
    }

    /// [`Self::with`], with the manual clock starting at `start` (the real time, for tests
    /// whose targets keep their own clocks).
    pub async fn starting_at(
        backend: Backend,
        start: time::OffsetDateTime,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let db = TestDb::new(backend).await;
        let store = Store::open(&db.url, &Default::default()).await.unwrap();
        let clock = ManualClock::new(start);
        let admin = bootstrap::initial_admin(&store, &clock)
            .await
            .unwrap()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.data_dir = data.path().to_owned();
        // Grants are recorded in the database: no target connector in these tests.
        config.grants.record_only = true;
        tweak(&mut config);
        let state = AppState::new(store, Arc::new(clock.clone()), config);
        // What `serve` does before serving: a vault with a key file opens unsealed.
        warden_server::service::vault::open(&state).await.unwrap();
        let app = api::app(state.clone());
        Self {
            app,
            state,
            clock,
            admin_password: admin.password.expose_secret().to_owned(),
            db,
            data,
        }
    }

    /// The same server started again on its database, data directory, clock and
    /// configuration, as `serve` opens it: a vault initialised with shares comes back
    /// sealed.
    pub async fn restarted(self) -> Self {
        let store = Store::open(&self.db.url, &Default::default())
            .await
            .unwrap();
        let state = AppState::new(
            store,
            Arc::new(self.clock.clone()),
            self.state.config().clone(),
        );
        warden_server::service::vault::open(&state).await.unwrap();
        let app = api::app(state.clone());
        Self {
            app,
            state,
            clock: self.clock,
            admin_password: self.admin_password,
            db: self.db,
            data: self.data,
        }
    }

    /// Sends a request from `PEER`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send_from(PEER, method, path, token, body).await
    }

    /// Sends a request from `peer`.
    pub async fn send_from(
        &self,
        peer: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send_typed(peer, method, path, token, body, "application/json")
            .await
    }

    /// Sends a request from `peer` with a JSON body of media type `content_type`.
    pub async fn send_typed(
        &self,
        peer: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        content_type: &str,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", "warden-tests");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req
                .header("content-type", content_type)
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        self.raw(req.unwrap(), peer).await
    }

    /// Sends a prepared request from `peer`.
    pub async fn raw(&self, mut req: Request<Body>, peer: &str) -> Answer {
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    /// Logs in and returns the session token; the login must succeed.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let answer = self
            .send(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "login of {username}: {answer:?}"
        );
        answer.body["token"].as_str().unwrap().to_owned()
    }

    /// The administrator's session token.
    pub async fn admin(&self) -> String {
        self.login("admin", &self.admin_password.clone()).await
    }

    /// Creates a user with `scopes` through the API and returns a session token of theirs.
    pub async fn user_with(&self, name: &str, scopes: &[&str]) -> String {
        let admin = self.admin().await;
        let password = format!("{name}-password-123");
        let answer = self
            .post(
                "/v1/users",
                &admin,
                serde_json::json!({"username": name, "scopes": scopes, "password": password}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        self.login(name, &password).await
    }

    /// Audit actions so far, oldest first.
    pub async fn audit_actions(&self) -> Vec<String> {
        self.state
            .store()
            .audit_events(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}
