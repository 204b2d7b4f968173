//! A Warden app on a fresh database, driven by `oneshot` requests, and the one way these
//! tests wait for something that happens on its own ([`eventually`], [`poll_until`]).

use std::fmt::Debug;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::macros::datetime;
use tower::ServiceExt;
use warden_app::AppState;
use warden_app::config::Config;
use warden_app::service::bootstrap;
use warden_core::ManualClock;
use warden_proto::problem::{PROBLEM_JSON, PROBLEM_TYPE_PREFIX, Problem};
use warden_server::api;
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
    /// The body read as the wire type `T`; fails the test, showing the body, when it is not
    /// one.
    pub fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.raw)
            .unwrap_or_else(|e| panic!("not a {}: {e}\n{self:?}", std::any::type_name::<T>()))
    }

    /// The problem details of an error answer, asserting the body is problem+json and
    /// carries the answer's status.
    pub fn details(&self) -> Problem {
        assert_eq!(
            self.headers
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some(PROBLEM_JSON),
            "not a problem: {self:?}"
        );
        let problem: Problem = self.parse();
        assert_eq!(
            problem.status,
            self.status.as_u16(),
            "status in body matches: {self:?}"
        );
        problem
    }

    /// What went wrong this time: the `detail` of a problem answer, which must have one.
    pub fn detail(&self) -> String {
        self.details()
            .detail
            .unwrap_or_else(|| panic!("a problem without detail: {self:?}"))
    }

    /// The problem type slug, asserting the body is problem+json.
    pub fn problem(&self) -> String {
        self.details()
            .kind
            .strip_prefix(PROBLEM_TYPE_PREFIX)
            .unwrap_or_else(|| panic!("not a problem type of ours: {self:?}"))
            .to_owned()
    }
}

/// A request body of the API, as the JSON a client sends: for bodies the tests send as the
/// proto types describe them (odd input is written out with `json!` instead).
pub fn json_of<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap()
}

pub const PEER: &str = "198.51.100.10:40000";

impl TestApp {
    /// A bootstrapped app on SQLite with the default configuration.
    pub async fn new() -> Self {
        Self::with(Backend::Sqlite, |_| {}).await
    }

    /// Runs the grant worker once (what `warden serve` does continuously) and returns
    /// what it did.
    pub async fn tick(&self) -> warden_app::service::expiry::Report {
        warden_app::service::expiry::tick(&self.state)
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
        warden_app::service::vault::open(&state).await.unwrap();
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
        warden_app::service::vault::open(&state).await.unwrap();
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
        let login: warden_proto::auth::LoginResponse = answer.parse();
        login.token.0.expose_secret().to_owned()
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

/// How long [`eventually`] waits before it fails a test: far longer than anything takes on
/// a loaded machine, so reaching it means the condition will not come.
pub const PATIENCE: StdDuration = StdDuration::from_secs(60);

/// How often a condition is looked at again.
const POLL_EVERY: StdDuration = StdDuration::from_millis(20);

/// Runs `probe` until `holds` accepts what it returned, and returns that value; once
/// `within` has passed without it, returns the last value seen as the error. Between two
/// looks the task sleeps [`POLL_EVERY`]. For waits that end in the caller's own way (a
/// daemon that did not start, a log to show); tests use [`eventually`].
pub async fn poll_until<T>(
    within: StdDuration,
    mut probe: impl AsyncFnMut() -> T,
    mut holds: impl FnMut(&T) -> bool,
) -> Result<T, T> {
    let deadline = Instant::now() + within;
    loop {
        let seen = probe().await;
        if holds(&seen) {
            return Ok(seen);
        }
        if Instant::now() >= deadline {
            return Err(seen);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Waits until `holds` accepts what `probe` returns, and returns that value; fails the test
/// after [`PATIENCE`], naming `what` was awaited and the last value seen. The wait for
/// something a worker, a task or another process does on its own time; what a test can
/// drive itself (a tick, a clock) it drives instead.
pub async fn eventually<T: Debug>(
    what: &str,
    probe: impl AsyncFnMut() -> T,
    holds: impl FnMut(&T) -> bool,
) -> T {
    match poll_until(PATIENCE, probe, holds).await {
        Ok(value) => value,
        Err(last) => panic!("waited {PATIENCE:?} for {what}; last seen: {last:#?}"),
    }
}

/// Stops a child process of the test: `signal` (a `kill` signal name) first, then SIGKILL
/// when it has not exited within `grace`; always reaped. For drops, which cannot wait
/// asynchronously: the thread sleeps between looks.
pub fn stop_child(child: &mut Child, signal: &str, grace: StdDuration) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(POLL_EVERY);
        }
        let _ = child.kill();
    }
    let _ = child.wait();
}
