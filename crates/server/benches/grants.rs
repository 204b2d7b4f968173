//! Grants at scale on SQLite (a file in a temporary directory, `synchronous = FULL`),
//! through the in-process HTTP router and the real grant worker, on the real clock. In
//! the order it runs:
//!
//! - `GET /v1/access/check` with 100,000 active grants (10,000 people, ten accesses
//!   each), from 1, 2, 4 and 8 concurrent clients, up to 20,000 checks or 15 s per level:
//!   p50 / p99 and throughput;
//! - revocation lag with those 100,000 active grants, of which 10,000 are moved to end at
//!   the same millisecond: `expiry::run` with an in-memory connector that answers at once
//!   (so the measure is Warden's own: the queue, the per-access handling, the batched
//!   commits with their audit events); lag from the end to the revocation committed (the
//!   revoked count polled every 5 ms), and the worker's own `lag_ms` (end to the start of
//!   the revocation) from the `grant.revoked` events; then the connector calls it made;
//!   then the same for another 10,000 while eight clients check access throughout;
//! - auto-approved requests through `POST /v1/requests` (the request only queues the
//!   grant; no worker runs), one after another, with a real bearer token: p50 / p99;
//! - the access check again, once the access index has followed those changes;
//! - with 1,000,000 active grants (100,000 people, none due): a restart in a fresh process
//!   (this binary, re-run with `WARDEN_BENCH_GRANTS_RESTART_URL`), timed from its start
//!   through `Store::open`, `expiry::catch_up` and building the state to the first
//!   `/healthz` answer over TCP, and that process's peak resident memory (`VmHWM`) after
//!   two seconds of serving with the grant worker running.
//!
//! Grants are seeded with multi-row `INSERT`s straight into the grants table, for
//! identities made by an HR sync of a synthetic population; the requests they would have
//! come from are not stored. Run with `cargo bench -p warden-server --bench grants`;
//! `WARDEN_BENCH_BATCH` and `WARDEN_BENCH_CONCURRENCY` override the worker's
//! `[grants] batch_size` and `concurrency` for tuning runs, and `WARDEN_BENCH_ONLY` (a
//! comma-separated list of `checks`, `revocation`, `requests`, `restart`) runs only those
//! parts.

// A benchmark whose set-up fails should stop loudly; it prints its results; its tables are
// indexed by numbers it generated within their bounds.
#![allow(clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing)]
// Ids made here are stamped with the real time, as a running server stamps them.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait, Value,
};
use secrecy::ExposeSecret;
use serde_json::json;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use uuid::Uuid;
use warden_app::config::Config;
use warden_app::connectors::Connectors;
use warden_app::hr_file::HrFormat;
use warden_app::service::hr::{SyncOptions, sync_as};
use warden_app::service::{bootstrap, expiry};
use warden_app::{AppState, demo, service};
use warden_core::audit::Actor;
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, Presence,
};
use warden_core::{Clock, SystemClock};
use warden_server::api;
use warden_store::Store;

/// Set in the child process that measures a restart: the database URL.
const RESTART_ENV: &str = "WARDEN_BENCH_GRANTS_RESTART_URL";
const PEER: &str = "198.51.100.10:40000";

/// People in the population of targets 1-3, each holding `ACCESSES_EACH` grants.
const PEOPLE_SMALL: usize = 10_000;
/// People in the population of target 4.
const PEOPLE_LARGE: usize = 100_000;
const ACCESSES_EACH: usize = 10;
const DUE_AT_ONCE: usize = 10_000;
const REQUESTS: usize = 2_000;
const CHECKS_PER_LEVEL: usize = 20_000;
/// Longest a level of the access check runs, whatever it has done by then.
const LEVEL_BUDGET: Duration = Duration::from_secs(15);
const RESTARTS: usize = 3;

/// (resource, role, kind, connection) of the demo policy; each person holds all of them.
const ACCESSES: [(&str, &str, &str, &str); ACCESSES_EACH] = [
    ("payments-db", "read", "postgres", "payments-primary"),
    ("payments-db", "write", "postgres", "payments-primary"),
    ("orders-db", "read", "postgres", "orders-primary"),
    ("orders-db", "write", "postgres", "orders-primary"),
    ("analytics-db", "read", "mariadb", "analytics"),
    ("analytics-db", "write", "mariadb", "analytics"),
    ("session-cache", "read", "redis", "session-cache"),
    ("session-cache", "admin", "redis", "session-cache"),
    ("bastion", "login", "ssh", "bastion"),
    ("wiki-db", "write", "mariadb", "wiki"),
];

/// A target that answers at once and keeps nothing: what remains is Warden's own cost.
#[derive(Debug, Default)]
struct Instant0 {
    grants: AtomicUsize,
    revokes: AtomicUsize,
}

impl Connector for Instant0 {
    fn grant<'a>(&'a self, _a: &'a AccessSpec) -> BoxFuture<'a, Result<String, ConnectorError>> {
        self.grants.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok("instant".to_owned()) })
    }

    fn revoke<'a>(
        &'a self,
        _a: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        self.revokes.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }

    fn verify<'a>(
        &'a self,
        _a: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>> {
        Box::pin(async { Ok(Presence::Absent) })
    }

    fn credential<'a>(
        &'a self,
        _a: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Credential, ConnectorError>> {
        Box::pin(async { Err(ConnectorError::Refused("not in this benchmark".into())) })
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn remove<'a>(&'a self, _account: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }
}

// ----- measuring -----

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort_unstable();
    format!(
        "p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
        ms(pct(samples, 0.50)),
        ms(pct(samples, 0.99)),
        ms(pct(samples, 0.999)),
        ms(pct(samples, 1.0)),
    )
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("time in range")
}

/// A small deterministic generator (xorshift64*), so runs query the same grants.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x % n as u64) as usize
    }
}

// ----- the app -----

/// A status and the raw body.
async fn send(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", "warden-bench");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let mut req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let peer: SocketAddr = PEER.parse().expect("peer");
    req.extensions_mut().insert(ConnectInfo(peer));
    let response = app.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, bytes)
}

async fn send_json(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let (status, bytes) = send(app, method, path, token, body).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn login(app: &Router, username: &str, password: &str) -> String {
    let (status, body) = send_json(
        app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&json!({"username": username, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "login of {username}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

async fn user_with(app: &Router, admin: &str, name: &str, scopes: &[&str]) -> String {
    let password = format!("{name}-password-for-the-bench");
    let (status, body) = send_json(
        app,
        Method::POST,
        "/v1/users",
        Some(admin),
        Some(&json!({"username": name, "scopes": scopes, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "user {name}: {body}");
    login(app, name, &password).await
}

fn population(people: usize) -> String {
    let mut csv = String::from(demo::HR_CSV);
    if !csv.ends_with('\n') {
        csv.push('\n');
    }
    for i in 0..people {
        let manager = if i == 0 {
            "E1002".to_owned()
        } else {
            format!("P{}", (i - 1) / 10)
        };
        csv.push_str(&format!(
            "P{i},user{i},user{i}@example.com,User {i},Platform,SRE,{manager},Berlin,active,employee,2020-01-01,\n"
        ));
    }
    csv
}

/// A Warden on a fresh SQLite file with the demo policy, the demo people and `people`
/// synthetic SREs, grants recorded in its own database. Returns the state and the
/// administrator's password.
async fn fresh(url: &str, people: usize) -> (AppState, String) {
    let store = Store::open(url, &Default::default()).await.expect("store");
    let admin = bootstrap::initial_admin(&store, &SystemClock)
        .await
        .expect("bootstrap")
        .expect("first start");
    let state = AppState::new(store, Arc::new(SystemClock), config());
    let files = demo::policy_files();
    let policy = service::policy::compile_files(&files, Default::default()).expect("demo policy");
    service::policy::commit(&state, &Actor::system(), &files, policy, "bench", None)
        .await
        .expect("apply");
    let start = Instant::now();
    let options = SyncOptions {
        format: HrFormat::Csv,
        dry_run: false,
        allow_mass_leave: false,
    };
    let report = sync_as(&state, Actor::system(), &population(people), options)
        .await
        .expect("HR sync");
    println!(
        "  HR sync of {} people: {:.1} s {:?}",
        people,
        start.elapsed().as_secs_f64(),
        report.counts
    );
    (state, admin.password.expose_secret().to_owned())
}

fn config() -> Config {
    let mut config = Config::default();
    // The recording connector: grants are made and removed in Warden's own database.
    config.grants.record_only = true;
    if let Ok(v) = std::env::var("WARDEN_BENCH_BATCH") {
        config.grants.batch_size = v.parse().expect("a number");
    }
    if let Ok(v) = std::env::var("WARDEN_BENCH_CONCURRENCY") {
        config.grants.concurrency = v.parse().expect("a number");
    }
    config
}

// ----- seeding -----

/// A raw connection to the same file, for seeding and observing.
async fn raw(url: &str) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1).sqlx_logging(false);
    Database::connect(opts).await.expect("raw connection")
}

/// The synthetic people's identity ids, in their number's order.
async fn identity_ids(db: &DatabaseConnection, people: usize) -> Vec<Uuid> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT id, employee_id FROM identities WHERE employee_id LIKE 'P%'",
        ))
        .await
        .expect("identities");
    let mut ids = vec![Uuid::nil(); people];
    for row in rows {
        let id: Uuid = row.try_get("", "id").expect("id");
        let emp: String = row.try_get("", "employee_id").expect("employee id");
        let n: usize = emp[1..].parse().expect("number");
        ids[n] = id;
    }
    assert!(ids.iter().all(|id| !id.is_nil()), "every person synced");
    ids
}

const GRANT_COLUMNS: &str = "id, request_id, identity_id, resource, role, target_kind, connection, kind, state, duration_secs, starts_at, ends_at, due_at, attempts, last_error, handle, end_reason, warned, created_at, updated_at, change_seq";
const ROWS_PER_INSERT: usize = 1_000;

/// Seeds `ACCESSES_EACH` active grants per identity, started half an hour ago and ending
/// between one and eight hours from now; with `mark_due`, the grant `i % ACCESSES_EACH` of
/// person `i` is tagged (`handle = 'bench:due'`) to be moved to a common end later. With
/// `recorded`, the recording connector's rows for them too.
async fn seed_grants(db: &DatabaseConnection, ids: &[Uuid], mark_due: bool, recorded: bool) {
    let start = Instant::now();
    let now = unix_ms(SystemClock.now());
    let starts = now - 30 * 60 * 1000;
    let txn = db.begin().await.expect("begin");
    // Written as the store writes grants: stamped with a new value of the access counter,
    // so an access index already read sees them.
    let seq = next_access_seq(&txn).await;
    let mut values: Vec<Value> = Vec::with_capacity(ROWS_PER_INSERT * 21);
    let mut rows = 0;
    let mut recorded_values: Vec<Value> = Vec::new();
    let mut recorded_rows = 0;
    let mut n: i64 = 0;
    for (i, identity) in ids.iter().enumerate() {
        for (j, (resource, role, kind, connection)) in ACCESSES.iter().enumerate() {
            n += 1;
            // Ends spread over seven hours, from one hour from now.
            let ends = now + 3_600_000 + (n * 7_919) % (7 * 3_600_000);
            let due = mark_due && j == i % ACCESSES_EACH;
            let due2 = mark_due && j == (i + ACCESSES_EACH / 2) % ACCESSES_EACH;
            let handle = if due {
                "bench:due".to_owned()
            } else if due2 {
                "bench:due2".to_owned()
            } else {
                format!("recorded:P{i}:{resource}:{role}")
            };
            values.extend([
                Value::from(Uuid::now_v7()),
                Value::from(Uuid::now_v7()),
                Value::from(*identity),
                Value::from(*resource),
                Value::from(*role),
                Value::from(*kind),
                Value::from(*connection),
                Value::from("standard"),
                Value::from("active"),
                Value::from((ends - starts) / 1000),
                Value::from(Some(starts)),
                Value::from(Some(ends)),
                Value::from(Some(ends)),
                Value::from(0_i32),
                Value::from(Option::<String>::None),
                Value::from(Some(handle)),
                Value::from(Option::<String>::None),
                Value::from(false),
                Value::from(starts),
                Value::from(starts),
                Value::from(seq),
            ]);
            rows += 1;
            if rows == ROWS_PER_INSERT {
                insert_batch(&txn, "grants", GRANT_COLUMNS, 21, rows, &mut values).await;
                rows = 0;
            }
            if recorded {
                recorded_values.extend([
                    Value::from(format!("{identity}|{resource}|{role}")),
                    Value::from(*identity),
                    Value::from(*resource),
                    Value::from(*role),
                    Value::from(ends),
                    Value::from(starts),
                ]);
                recorded_rows += 1;
                if recorded_rows == ROWS_PER_INSERT {
                    insert_batch(
                        &txn,
                        "recorded_access",
                        "key, identity_id, resource, role, until, granted_at",
                        6,
                        recorded_rows,
                        &mut recorded_values,
                    )
                    .await;
                    recorded_rows = 0;
                }
            }
        }
    }
    if rows > 0 {
        insert_batch(&txn, "grants", GRANT_COLUMNS, 21, rows, &mut values).await;
    }
    if recorded_rows > 0 {
        insert_batch(
            &txn,
            "recorded_access",
            "key, identity_id, resource, role, until, granted_at",
            6,
            recorded_rows,
            &mut recorded_values,
        )
        .await;
    }
    txn.commit().await.expect("commit");
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "  seeded {n} active grants{} in {elapsed:.1} s ({:.0} rows/s)",
        if recorded {
            " and their recorded access"
        } else {
            ""
        },
        n as f64 / elapsed
    );
}

/// Moves the access counter in `txn`, as the store does in every transaction that writes
/// grants, and returns its new value.
async fn next_access_seq(txn: &impl ConnectionTrait) -> i64 {
    txn.query_one_raw(Statement::from_string(
        DbBackend::Sqlite,
        "UPDATE change_counters SET value = value + 1 WHERE name = 'access' RETURNING value",
    ))
    .await
    .expect("access counter")
    .expect("a counter row")
    .try_get_by_index::<i64>(0)
    .expect("a number")
}

async fn insert_batch(
    txn: &impl ConnectionTrait,
    table: &str,
    columns: &str,
    width: usize,
    rows: usize,
    values: &mut Vec<Value>,
) {
    let row = format!("({})", vec!["?"; width].join(","));
    let sql = format!(
        "INSERT INTO {table} ({columns}) VALUES {}",
        vec![row.as_str(); rows].join(",")
    );
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values.drain(..),
    ))
    .await
    .expect("insert");
}

/// Grants by state and the recording connector's calls by operation, for the record.
async fn tally(db: &DatabaseConnection) -> String {
    let mut out = Vec::new();
    for sql in [
        "SELECT 'grants ' || state, COUNT(*) FROM grants GROUP BY state",
        "SELECT 'connector ' || op, COUNT(*) FROM connector_calls GROUP BY op",
    ] {
        let rows = db
            .query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .expect("tally");
        for r in rows {
            let what: String = r.try_get_by_index(0).expect("name");
            let n: i64 = r.try_get_by_index(1).expect("count");
            out.push(format!("{what} {n}"));
        }
    }
    out.join(", ")
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .expect("count")
        .expect("a row")
        .try_get_by_index(0)
        .expect("a number")
}

/// How SQLite runs the lookup of `Store::active_grant` (the same conditions and order).
async fn access_plan(db: &DatabaseConnection) -> String {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "EXPLAIN QUERY PLAN SELECT * FROM grants WHERE identity_id = x'00' AND resource = 'r' AND role = 'r' AND state = 'active' AND starts_at <= 0 AND ends_at > 0 ORDER BY ends_at DESC LIMIT 1",
        ))
        .await
        .expect("plan");
    rows.iter()
        .map(|r| r.try_get::<String>("", "detail").expect("detail"))
        .collect::<Vec<_>>()
        .join("; ")
}

// ----- targets -----

/// Target 2: the access check from `clients` concurrent clients.
async fn checks(app: &Router, token: &str, clients: usize) {
    let per_client = CHECKS_PER_LEVEL / clients;
    let start = Instant::now();
    let stop = start + LEVEL_BUDGET;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let app = app.clone();
        let token = token.to_owned();
        tasks.spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
            let mut samples = Vec::with_capacity(per_client);
            let mut allowed = 0_usize;
            while samples.len() < per_client && Instant::now() < stop {
                let person = rng.below(PEOPLE_SMALL);
                // One in ten asks for something not held (the demo's bastion root).
                let (resource, role) = match rng.below(ACCESSES_EACH + 1) {
                    ACCESSES_EACH => ("bastion", "root"),
                    a => (ACCESSES[a].0, ACCESSES[a].1),
                };
                let (took, yes) = timed_check(&app, &token, person, resource, role).await;
                samples.push(took);
                allowed += usize::from(yes);
            }
            (samples, allowed)
        });
    }
    let mut all = Vec::with_capacity(CHECKS_PER_LEVEL);
    let mut allowed = 0;
    while let Some(done) = tasks.join_next().await {
        let (samples, a) = done.expect("client");
        all.extend(samples);
        allowed += a;
    }
    let elapsed = start.elapsed();
    let n = all.len();
    println!(
        "  {clients} client(s): {n} checks ({allowed} allowed) in {:.2} s, {:.0} checks/s; {}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        summary(&mut all)
    );
}

/// Target 3: 10,000 grants end at one instant; the worker revokes them.
/// One access check through the router: how long it took, and whether it allowed.
async fn timed_check(
    app: &Router,
    token: &str,
    person: usize,
    resource: &str,
    role: &str,
) -> (Duration, bool) {
    let path = format!("/v1/access/check?identity=user{person}&resource={resource}&role={role}");
    let t = Instant::now();
    let (status, body) = send(app, Method::GET, &path, Some(token), None).await;
    let took = t.elapsed();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    (took, body.starts_with(br#"{"allowed":true"#))
}

/// Checks from `clients` concurrent clients until `stop` is set: their times, and how many
/// were allowed.
fn checks_until(
    app: &Router,
    token: &str,
    clients: usize,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinSet<(Vec<Duration>, usize)> {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let app = app.clone();
        let token = token.to_owned();
        let stop = Arc::clone(stop);
        tasks.spawn(async move {
            let mut rng = Rng(0x5EED_0FC0_FFEE ^ (c as u64 + 1));
            let mut samples = Vec::new();
            let mut allowed = 0;
            while !stop.load(Ordering::Relaxed) {
                let person = rng.below(PEOPLE_SMALL);
                let access = ACCESSES[rng.below(ACCESSES_EACH)];
                let (took, yes) = timed_check(&app, &token, person, access.0, access.1).await;
                samples.push(took);
                allowed += usize::from(yes);
                // A client that waits a moment between checks (the timer's 1 ms), as a
                // gateway between connections does: eight of them ask about 8,000 times a
                // second. Without it they would take both cores from the worker.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (samples, allowed)
        });
    }
    tasks
}

async fn revocation(
    state: &AppState,
    db: &DatabaseConnection,
    tag: &str,
    checkers: Option<(&Router, &str)>,
) {
    let target = Arc::new(Instant0::default());
    let state = &AppState::with_connectors(
        state.store().clone(),
        Arc::new(SystemClock),
        config(),
        Connectors::none().with_fallback(Arc::clone(&target) as Arc<dyn Connector>),
    );
    let last_seq = count(db, "SELECT COALESCE(MAX(seq), 0) FROM audit_events").await;
    // The end: the next whole second at least two seconds away, so all end in one second.
    let base_wall = SystemClock.now();
    let base = Instant::now();
    let base_ms = unix_ms(base_wall);
    let end_ms = (base_ms / 1000 + 3) * 1000;
    let end_at = base + Duration::from_millis(u64::try_from(end_ms - base_ms).expect("later"));
    let seq = next_access_seq(db).await;
    let moved = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "UPDATE grants SET ends_at = ?, due_at = ?, warned = 1, change_seq = ? WHERE handle = ?",
            [Value::from(end_ms), Value::from(end_ms), Value::from(seq), Value::from(tag)],
        ))
        .await
        .expect("move ends")
        .rows_affected();
    assert_eq!(moved, DUE_AT_ONCE as u64);
    let active = count(db, "SELECT COUNT(*) FROM grants WHERE state = 'active'").await;
    println!("  {active} active grants, {moved} of them end at {end_ms} (unix ms)");

    let worker = tokio::spawn(expiry::run(state.clone()));
    // Observe the commits: the revoked count, every 5 ms, from the end on.
    let before =
        usize::try_from(count(db, "SELECT COUNT(*) FROM grants WHERE state = 'revoked'").await)
            .expect("count");
    tokio::time::sleep_until(end_at.into()).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut checking = checkers.map(|(app, token)| checks_until(app, token, 8, &stop));
    let mut lags: Vec<Duration> = Vec::with_capacity(DUE_AT_ONCE);
    let mut seen = 0_usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut next_report = Instant::now() + Duration::from_secs(10);
    while seen < DUE_AT_ONCE {
        let revoked =
            usize::try_from(count(db, "SELECT COUNT(*) FROM grants WHERE state = 'revoked'").await)
                .expect("count")
                - before;
        let at = Instant::now();
        for _ in seen..revoked.min(DUE_AT_ONCE) {
            lags.push(at.saturating_duration_since(end_at));
        }
        seen = seen.max(revoked);
        if at > deadline {
            println!("  gave up after 600 s with {seen} of {DUE_AT_ONCE} revoked");
            break;
        }
        if at > next_report {
            println!(
                "  ... {seen} revoked after {:.1} s",
                (at - end_at).as_secs_f64()
            );
            next_report = at + Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(tasks) = checking.as_mut() {
        let mut all = Vec::new();
        let mut allowed = 0;
        while let Some(done) = tasks.join_next().await {
            let (samples, a) = done.expect("client");
            all.extend(samples);
            allowed += a;
        }
        println!(
            "  access checks from 8 clients during the burst: {} checks ({allowed} allowed); {}",
            all.len(),
            summary(&mut all)
        );
    }
    worker.abort();
    let _ = worker.await;
    // As a worker stopping cleanly would: the next run's worker takes over at once, not
    // when this one's lease runs out.
    state
        .store()
        .release(expiry::LEASE_NAME, state.instance())
        .await
        .expect("release the worker lease");
    println!(
        "  connector calls: {} revocations for {DUE_AT_ONCE} grants ending",
        target.revokes.load(Ordering::Relaxed)
    );

    let mut worker_lags = Vec::new();
    let mut kept = 0;
    let mut after = last_seq;
    loop {
        let page = state
            .store()
            .audit_events(after, 10_000)
            .await
            .expect("audit");
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page.iter().filter(|e| e.action == "grant.revoked") {
            if e.details.contains_key("kept_by") {
                kept += 1;
            }
            if let Some(lag) = e.details.get("lag_ms") {
                worker_lags.push(Duration::from_millis(lag.parse().expect("lag_ms")));
            }
        }
    }
    let n = lags.len();
    let last = lags.last().copied().unwrap_or_default();
    println!(
        "  end -> revocation committed (observed every 5 ms), {n} grants: {}",
        summary(&mut lags)
    );
    println!(
        "  end -> revocation started (the events' lag_ms), {} events, {kept} kept by another grant: {}",
        worker_lags.len(),
        summary(&mut worker_lags)
    );
    println!(
        "  throughput: {:.0} revocations/s",
        n as f64 / last.as_secs_f64().max(1e-3)
    );
}

/// Target 1: auto-approved requests, one after another.
async fn requests(app: &Router, alice: &str) {
    let body = json!({"resource": "session-cache", "role": "read", "duration": "1h", "justification": "investigating INC-4242 latency", "ticket": null});
    for _ in 0..20 {
        let (status, answer) =
            send_json(app, Method::POST, "/v1/requests", Some(alice), Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["state"], "provisioning", "auto-approved: {answer}");
    }
    let mut samples = Vec::with_capacity(REQUESTS);
    let start = Instant::now();
    for _ in 0..REQUESTS {
        let t = Instant::now();
        let (status, answer) =
            send(app, Method::POST, "/v1/requests", Some(alice), Some(&body)).await;
        samples.push(t.elapsed());
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    let elapsed = start.elapsed();
    let slow: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i] > Duration::from_millis(20))
        .collect();
    let gaps: Vec<usize> = slow.windows(2).map(|w| w[1] - w[0]).collect();
    println!(
        "  {REQUESTS} requests in {:.2} s ({:.0}/s): {}",
        elapsed.as_secs_f64(),
        REQUESTS as f64 / elapsed.as_secs_f64(),
        summary(&mut samples)
    );
    println!(
        "  {} requests over 20 ms, {} requests apart on average",
        slow.len(),
        gaps.iter().sum::<usize>() / gaps.len().max(1)
    );
}

/// Target 4, in the child: a restart on the database at `url`, as `warden serve` starts.
async fn restart(url: &str, started: Instant) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Store::open(url, &Default::default()).await.expect("store");
    let opened = started.elapsed();
    assert!(
        bootstrap::initial_admin(&store, clock.as_ref())
            .await
            .expect("bootstrap")
            .is_none()
    );
    let active = service::policy::load_active(&store).await.expect("policy");
    let state = AppState::new(store, clock, config());
    state.set_policy(active);
    let built = started.elapsed();
    let caught = expiry::catch_up(&state).await.expect("catch up");
    assert!(
        caught.revoked == 0 && caught.provisioned == 0,
        "nothing was due: {caught:?}"
    );
    let caught_up = started.elapsed();
    tokio::spawn(expiry::run(state.clone()));
    tokio::spawn(warden_app::access_index::run(state.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = api::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let health = http_get(addr, "/healthz").await;
    let healthy = started.elapsed();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = http_get(addr, "/readyz").await;
    let readied = started.elapsed();
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    // Serve until the access index is read, and a little while more (the worker reads
    // its queue), then read the memory.
    let give_up = Instant::now() + Duration::from_secs(120);
    while state.access_index().grants().is_none() && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let indexed = started.elapsed();
    let grants_indexed = state.access_index().grants().expect("access index read");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
    };
    println!(
        "RESTART open {:.0} ms, state {:.0} ms, catch_up {:.0} ms, first /healthz {:.0} ms, /readyz {:.0} ms, access index of {grants_indexed} grants read {:.0} ms; VmHWM {}, VmRSS {}",
        ms(opened),
        ms(built),
        ms(caught_up),
        ms(healthy),
        ms(readied),
        ms(indexed),
        field("VmHWM:"),
        field("VmRSS:")
    );
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

/// Whether `WARDEN_BENCH_ONLY` (when set) names this part.
fn runs(part: &str) -> bool {
    std::env::var("WARDEN_BENCH_ONLY")
        .map_or(true, |only| only.split(',').any(|p| p.trim() == part))
}

fn main() {
    let started = Instant::now();
    if let Ok(url) = std::env::var(RESTART_ENV) {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(restart(&url, started));
        return;
    }
    println!(
        "grants bench: {} cores, SQLite with synchronous = FULL in {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::env::temp_dir().display()
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // ----- 100,000 active grants: targets 2, 3 and 1 -----
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("warden.db").display());
        println!("\nset-up: {PEOPLE_SMALL} people, {} active grants", PEOPLE_SMALL * ACCESSES_EACH);
        let (state, admin_password) = fresh(&url, PEOPLE_SMALL).await;
        let app = api::app(state.clone());
        let admin = login(&app, "admin", &admin_password).await;
        let alice = user_with(&app, &admin, "alice", &["request"]).await;
        let gate = user_with(&app, &admin, "gatekeeper", &["identities:read"]).await;
        let db = raw(&url).await;
        let ids = identity_ids(&db, PEOPLE_SMALL).await;
        seed_grants(&db, &ids, true, true).await;
        // The access index, kept as `warden serve` keeps it: read, then followed.
        let t = Instant::now();
        state.access_index().refresh(state.store()).await.expect("access index");
        println!(
            "  access index read: {} active grants in {:.0} ms",
            state.access_index().grants().unwrap_or(0),
            t.elapsed().as_secs_f64() * 1000.0
        );
        let follower = tokio::spawn(warden_app::access_index::run(state.clone()));

        println!(
            "\ntarget 2: GET /v1/access/check, up to {CHECKS_PER_LEVEL} checks or {} s per level (target p99 < 1 ms)",
            LEVEL_BUDGET.as_secs()
        );
        println!("  query plan of the grant lookup: {}", access_plan(&db).await);
        if runs("checks") {
            for clients in [1, 2, 4, 8] {
                checks(&app, &gate, clients).await;
            }
        }

        if runs("revocation") {
            println!("\ntarget 3: revocation lag, {DUE_AT_ONCE} of 100,000 active grants end at once (target p99 <= 1 s)");
            revocation(&state, &db, "bench:due", None).await;
            println!("  after: {}", tally(&db).await);
            println!("\ntarget 3 again, with 8 clients checking access during the burst (target p99 <= 1 s; checks p99 < 1 ms)");
            revocation(&state, &db, "bench:due2", Some((&app, &gate))).await;
            println!("  after: {}", tally(&db).await);
        }

        if runs("requests") {
            println!("\ntarget 1: auto-approved POST /v1/requests, sequential (target p99 < 10 ms)");
            requests(&app, &alice).await;
            println!("  after: {}", tally(&db).await);
        }

        // The access check again, once the index has followed the changes above.
        if runs("checks") {
            println!(
                "\ntarget 2 again, after the changes above ({} active grants in the index)",
                state.access_index().grants().unwrap_or(0)
            );
            for clients in [1, 8] {
                checks(&app, &gate, clients).await;
            }
        }
        follower.abort();
        drop(db);
        state.store().clone().close().await.expect("close");
        drop(dir);

        if !runs("restart") {
            return;
        }
        // ----- 1,000,000 active grants: target 4 -----
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("warden.db").display());
        println!("\nset-up: {PEOPLE_LARGE} people, {} active grants", PEOPLE_LARGE * ACCESSES_EACH);
        let (state, _) = fresh(&url, PEOPLE_LARGE).await;
        let db = raw(&url).await;
        let ids = identity_ids(&db, PEOPLE_LARGE).await;
        seed_grants(&db, &ids, false, false).await;
        db.close().await.expect("close");
        state.store().clone().close().await.expect("close");
        drop(state);
        let size = std::fs::metadata(dir.path().join("warden.db")).map_or(0, |m| m.len());
        println!(
            "\ntarget 4: restart with 1,000,000 active grants ({:.0} MiB database), in a fresh process (targets < 5 s, < 1 GiB)",
            size as f64 / (1024.0 * 1024.0)
        );
        let exe = std::env::current_exe().expect("own path");
        for _ in 0..RESTARTS {
            let t = Instant::now();
            let out = std::process::Command::new(&exe)
                .env(RESTART_ENV, &url)
                .output()
                .expect("child");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "restart failed: {text}{}", String::from_utf8_lossy(&out.stderr));
            println!("  {} (process {:.1} s incl. 2 s serving)", text.trim(), t.elapsed().as_secs_f64());
        }
        drop(dir);
    });
}
