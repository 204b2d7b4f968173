//! How fast the PostgreSQL, MariaDB and Redis connectors grant and revoke against the
//! real local servers, each call timed on its own with `Instant`.
//!
//! Run with `cargo bench -p warden-connectors --bench targets` (release profile). The
//! binary does nothing unless it is given `--bench` (as `cargo bench` does), so
//! `cargo test --all-targets` or a nextest listing never floods the shared servers.
//!
//! It needs PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust auth, database `test`),
//! MariaDB on 127.0.0.1:3306 (`root`, no password) and Redis on 127.0.0.1:6379 (user
//! `default`, no password). Everything it makes carries a random suffix `<rand>`. In the
//! order it runs:
//!
//! 1. PostgreSQL grants: `WARDEN_BENCH_GRANTS` (default 2,000) accesses of distinct
//!    identities, each a dynamic login made a member of a permission role the bench
//!    creates (`CREATE ROLE wb_<rand>_read NOLOGIN`), driven by
//!    `WARDEN_BENCH_CONCURRENCY` (default 16) tasks through one `Postgres` connector whose
//!    `max_connections` equals the concurrency. Reports grants/s and p50/p99/max per
//!    `grant` call.
//! 2. PostgreSQL revokes of all of them, at the same concurrency: revokes/s and latency.
//! 3. MariaDB (a database `wb_<rand>` with one table, role mapping
//!    `grants = [SELECT ON wb_<rand>.*]`, pool as large as the concurrency) and Redis (ACL
//!    `+@read ~wb_<rand>:*`; the connector multiplexes one connection): each
//!    `WARDEN_BENCH_SMALL_GRANTS` (default 500) grants, then revokes of them, at the same
//!    concurrency.
//!
//! Before each target's grants, one `verify` per task opens the connector's connections
//! (shown as its own `warm-up` line), so the grant numbers do not include connection
//! set-up. After the grants the bench counts the accounts on the target (untimed). A
//! final clean-up drops whatever the bench made (accounts, the permission role, the
//! database, ACL users), even when a step failed or panicked, and says how many accounts
//! the revokes left behind (there should be none).
//!
//! ops/s is the calls of a phase divided by its wall time; p50/p99/max are nearest-rank
//! over the latency of every call (failed ones included, and counted in `failed`). The
//! process exits non-zero when a call, a step or the clean-up failed.

// A benchmark's set-up may stop loudly (a panic inside a step is caught and the clean-up
// still runs); it prints its results; it indexes only within bounds it generated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

use std::collections::BTreeSet;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use postgres_protocol::escape::escape_identifier;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;
use warden_connectors::mariadb::{self, Mariadb, quote_ident, quote_str};
use warden_connectors::postgres::{self, Postgres};
use warden_connectors::redis::{Config as RedisConfig, Redis};
use warden_core::connector::{
    AccessSpec, Connector, ConnectorError, Login, MariadbGrant, RoleTarget,
};
use warden_core::{Clock, SystemClock};

const PG_PARAMS: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5";
const HOST: &str = "127.0.0.1";
const MARIADB_PORT: u16 = 3306;
const REDIS_URL: &str = "redis://127.0.0.1:6379/";
/// How long each target's clean-up may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How many failure messages of one phase are shown.
const SHOW_ERRORS: usize = 3;

/// What the environment asks for.
#[derive(Debug, Clone, Copy)]
struct Settings {
    grants: usize,
    small: usize,
    concurrency: usize,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            grants: env_count("WARDEN_BENCH_GRANTS", 2_000),
            small: env_count("WARDEN_BENCH_SMALL_GRANTS", 500),
            concurrency: env_count("WARDEN_BENCH_CONCURRENCY", 16),
        }
    }
}

fn env_count(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Err(_) => default,
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => panic!("{var} must be a positive integer, not {v:?}"),
        },
    }
}

/// The names of everything the bench makes, from one random suffix.
#[derive(Debug, Clone)]
struct Names {
    rand: String,
}

impl Names {
    fn new() -> Self {
        Self {
            rand: Uuid::new_v4().simple().to_string()[..8].to_owned(),
        }
    }

    /// The employee id of every access; it puts `w_wb<rand>_` at the start of every
    /// account name.
    fn employee(&self) -> String {
        format!("wb{}", self.rand)
    }

    fn account_prefix(&self) -> String {
        format!("w_wb{}_", self.rand)
    }

    fn pg_role(&self) -> String {
        format!("wb_{}_read", self.rand)
    }

    fn database(&self) -> String {
        format!("wb_{}", self.rand)
    }
}

/// One line of the results table.
#[derive(Debug)]
struct Line {
    target: &'static str,
    op: &'static str,
    count: usize,
    concurrency: usize,
    wall: Duration,
    sorted: Vec<Duration>,
    failed: usize,
}

/// The results so far and the problems met, shared with the steps.
#[derive(Debug, Clone, Default)]
struct Report {
    lines: Arc<Mutex<Vec<Line>>>,
    problems: Arc<Mutex<Vec<String>>>,
}

impl Report {
    fn line(&self, line: Line) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    fn problem(&self, p: String) {
        println!("  problem: {p}");
        self.problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(p);
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Verify,
    Grant,
    Revoke,
}

/// What one phase of calls did.
#[derive(Debug)]
struct Phase {
    wall: Duration,
    sorted: Vec<Duration>,
    handles: Vec<Option<String>>,
    errors: Vec<(usize, ConnectorError)>,
}

/// Makes `count` calls of `op`, one per access from the first, with `concurrency` tasks
/// each taking the next access when done with one.
async fn phase(
    conn: &Arc<dyn Connector>,
    specs: &Arc<Vec<AccessSpec>>,
    handles: &Arc<Vec<Option<String>>>,
    op: Op,
    count: usize,
    concurrency: usize,
) -> Phase {
    let count = count.min(specs.len());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for _ in 0..concurrency.min(count) {
        let (conn, specs, handles, next) = (
            Arc::clone(conn),
            Arc::clone(specs),
            Arc::clone(handles),
            Arc::clone(&next),
        );
        tasks.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let spec = &specs[i];
                let handle = handles.get(i).and_then(Option::as_deref);
                let t = Instant::now();
                let result = match op {
                    Op::Verify => conn.verify(spec, handle).await.map(|_| None),
                    Op::Grant => conn.grant(spec).await.map(Some),
                    Op::Revoke => conn.revoke(spec, handle).await.map(|()| None),
                };
                done.push((i, t.elapsed(), result));
            }
            done
        });
    }
    let mut out = Phase {
        wall: Duration::ZERO,
        sorted: Vec::with_capacity(count),
        handles: vec![None; count],
        errors: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        for (i, took, result) in joined.expect("a bench task panicked") {
            out.sorted.push(took);
            match result {
                Ok(handle) => out.handles[i] = handle,
                Err(e) => out.errors.push((i, e)),
            }
        }
    }
    out.wall = start.elapsed();
    out.sorted.sort_unstable();
    out
}

/// Runs a phase and records it as a line of the table.
#[allow(clippy::too_many_arguments)]
async fn measured(
    report: &Report,
    target: &'static str,
    op_name: &'static str,
    conn: &Arc<dyn Connector>,
    specs: &Arc<Vec<AccessSpec>>,
    handles: &Arc<Vec<Option<String>>>,
    op: Op,
    count: usize,
    concurrency: usize,
) -> Phase {
    let p = phase(conn, specs, handles, op, count, concurrency).await;
    let count = p.sorted.len();
    println!(
        "  {target} {op_name}: {count} calls in {:.2} s, {} failed",
        p.wall.as_secs_f64(),
        p.errors.len()
    );
    for (i, e) in p.errors.iter().take(SHOW_ERRORS) {
        report.problem(format!("{target} {op_name} #{i}: {e}"));
    }
    if p.errors.len() > SHOW_ERRORS {
        report.problem(format!(
            "{target} {op_name}: {} more failures",
            p.errors.len() - SHOW_ERRORS
        ));
    }
    report.line(Line {
        target,
        op: op_name,
        count,
        concurrency,
        wall: p.wall,
        sorted: p.sorted.clone(),
        failed: p.errors.len(),
    });
    p
}

/// `count` accesses of distinct identities to the role `target` maps, ending in an hour.
fn specs(names: &Names, kind: &str, target: &RoleTarget, count: usize) -> Vec<AccessSpec> {
    let until = SystemClock.now() + time::Duration::hours(1);
    let prefix = names.account_prefix();
    (0..count)
        .map(|_| {
            let spec = access(names, kind, target, until);
            assert!(
                spec.account_name().starts_with(&prefix),
                "account {} escapes the clean-up prefix {prefix}",
                spec.account_name()
            );
            spec
        })
        .collect()
}

fn access(names: &Names, kind: &str, target: &RoleTarget, until: OffsetDateTime) -> AccessSpec {
    AccessSpec {
        grant: Uuid::new_v4(),
        identity: Uuid::new_v4(),
        employee_id: names.employee(),
        resource: format!("bench_{kind}"),
        kind: kind.to_owned(),
        connection: "bench".to_owned(),
        role: "read".to_owned(),
        target: target.clone(),
        username: "bench".to_owned(),
        until,
    }
}

/// The distinct account names of `specs` (two identities may hash alike).
fn distinct_accounts(specs: &[AccessSpec]) -> usize {
    specs
        .iter()
        .map(AccessSpec::account_name)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Warms the connector up, grants `specs`, runs `check` (the accounts on the
/// target) and revokes them all, then runs `check` again.
async fn grant_then_revoke<F, Fut>(
    report: &Report,
    target: &'static str,
    conn: Arc<dyn Connector>,
    specs: Vec<AccessSpec>,
    concurrency: usize,
    check: F,
) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<usize, String>>,
{
    let count = specs.len();
    let expected = distinct_accounts(&specs);
    let specs = Arc::new(specs);
    let none = Arc::new(Vec::new());
    let warm = concurrency.min(count);
    measured(
        report,
        target,
        "verify (warm-up)",
        &conn,
        &specs,
        &none,
        Op::Verify,
        warm,
        concurrency,
    )
    .await;
    let granted = measured(
        report,
        target,
        "grant",
        &conn,
        &specs,
        &none,
        Op::Grant,
        count,
        concurrency,
    )
    .await;
    match check().await {
        Ok(n) if n == expected => {
            println!("  {target}: {n} bench accounts on the server after the grants, as expected");
        }
        Ok(n) => report.problem(format!(
            "{target}: {n} bench accounts on the server after the grants, expected {expected}"
        )),
        Err(e) => report.problem(format!("{target}: counting accounts: {e}")),
    }
    if expected < count {
        println!(
            "  {target}: {} of {count} accesses share an account name (hash collision)",
            count - expected
        );
    }
    let handles = Arc::new(granted.handles);
    let revoked = measured(
        report,
        target,
        "revoke",
        &conn,
        &specs,
        &handles,
        Op::Revoke,
        count,
        concurrency,
    )
    .await;
    match check().await {
        Ok(0) => println!("  {target}: no bench accounts left after the revokes"),
        Ok(n) => report.problem(format!(
            "{target}: {n} bench accounts left on the server after the revokes"
        )),
        Err(e) => report.problem(format!("{target}: counting accounts: {e}")),
    }
    let failed = granted.errors.len() + revoked.errors.len();
    if failed > 0 {
        return Err(format!("{failed} calls failed"));
    }
    Ok(())
}

// ----- PostgreSQL -----

fn pg_err(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

async fn pg_admin() -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(PG_PARAMS, NoTls)
        .await
        .map_err(|e| format!("connecting to PostgreSQL: {}", pg_err(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The roles whose names start with `prefix`.
async fn pg_accounts(client: &Client, prefix: &str) -> Result<Vec<String>, String> {
    let rows = client
        .query("SELECT rolname::text FROM pg_catalog.pg_roles", &[])
        .await
        .map_err(|e| pg_err(&e))?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| n.starts_with(prefix))
        .collect())
}

async fn bench_postgres(s: Settings, names: Names, report: Report) -> Result<(), String> {
    println!(
        "\npostgres: {} grants, {} tasks, max_connections {}",
        s.grants, s.concurrency, s.concurrency
    );
    let admin = pg_admin().await?;
    let role = names.pg_role();
    admin
        .batch_execute(&format!("CREATE ROLE {} NOLOGIN", escape_identifier(&role)))
        .await
        .map_err(|e| format!("creating {role}: {}", pg_err(&e)))?;
    let conn: Arc<dyn Connector> = Arc::new(
        Postgres::new(
            "bench",
            postgres::Config {
                host: HOST.to_owned(),
                port: 5432,
                user: "postgres".to_owned(),
                database: "test".to_owned(),
                password: None,
                password_env: None,
                password_file: None,
                password_vault: None,
                public_host: None,
                max_connections: s.concurrency,
                connect_timeout_secs: 5,
            },
        )
        .map_err(|e| e.to_string())?,
    );
    let target = RoleTarget::Postgres {
        member_of: vec![role.clone()],
        login: Login::Dynamic,
    };
    let specs = specs(&names, "postgres", &target, s.grants);
    let prefix = &names.account_prefix();
    let (admin, role) = (&admin, &role);
    grant_then_revoke(
        &report,
        "postgres",
        conn,
        specs,
        s.concurrency,
        move || async move {
            let accounts = pg_accounts(admin, prefix).await?;
            // Every account must also hold the membership it was granted.
            let members: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_catalog.pg_auth_members m \
                     JOIN pg_catalog.pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1",
                    &[role],
                )
                .await
                .map_err(|e| pg_err(&e))?
                .get(0);
            if usize::try_from(members).ok() != Some(accounts.len()) {
                return Err(format!(
                    "{} accounts but {members} members of {role}",
                    accounts.len()
                ));
            }
            Ok(accounts.len())
        },
    )
    .await
}

async fn cleanup_postgres(names: &Names) -> Result<String, String> {
    let client = pg_admin().await?;
    let leftovers = pg_accounts(&client, &names.account_prefix()).await?;
    for chunk in leftovers.chunks(100) {
        let list: Vec<String> = chunk.iter().map(|n| escape_identifier(n)).collect();
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", list.join(", ")))
            .await
            .map_err(|e| format!("dropping leftover accounts: {}", pg_err(&e)))?;
    }
    client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {}",
            escape_identifier(&names.pg_role())
        ))
        .await
        .map_err(|e| format!("dropping {}: {}", names.pg_role(), pg_err(&e)))?;
    Ok(format!(
        "{} leftover accounts and role {} dropped",
        leftovers.len(),
        names.pg_role()
    ))
}

// ----- MariaDB -----

async fn mariadb_admin() -> Result<Conn, String> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(HOST)
        .tcp_port(MARIADB_PORT)
        .prefer_socket(false)
        .user(Some("root"));
    tokio::time::timeout(Duration::from_secs(10), Conn::new(opts))
        .await
        .map_err(|_| "connecting to MariaDB timed out".to_owned())?
        .map_err(|e| format!("connecting to MariaDB: {e}"))
}

/// The accounts (`user`, `host`) whose user names start with `prefix`.
async fn mariadb_accounts(conn: &mut Conn, prefix: &str) -> Result<Vec<(String, String)>, String> {
    let all: Vec<(String, String)> = conn
        .query("SELECT User, Host FROM mysql.user")
        .await
        .map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .filter(|(user, _)| user.starts_with(prefix))
        .collect())
}

async fn bench_mariadb(s: Settings, names: Names, report: Report) -> Result<(), String> {
    println!(
        "\nmariadb: {} grants, {} tasks, max_connections {}",
        s.small, s.concurrency, s.concurrency
    );
    let mut admin = mariadb_admin().await?;
    let db = names.database();
    admin
        .query_drop(format!("CREATE DATABASE {}", quote_ident(&db)))
        .await
        .map_err(|e| format!("creating database {db}: {e}"))?;
    admin
        .query_drop(format!(
            "CREATE TABLE {}.{} (id INT PRIMARY KEY, v VARCHAR(64))",
            quote_ident(&db),
            quote_ident("t")
        ))
        .await
        .map_err(|e| format!("creating table {db}.t: {e}"))?;
    let conn: Arc<dyn Connector> = Arc::new(
        Mariadb::new(
            "bench",
            mariadb::Config {
                host: HOST.to_owned(),
                port: MARIADB_PORT,
                user: "root".to_owned(),
                password: None,
                password_env: None,
                password_file: None,
                password_vault: None,
                user_host: "%".to_owned(),
                public_host: None,
                database: None,
                max_connections: s.concurrency,
                connect_timeout_secs: 5,
            },
        )
        .map_err(|e| e.to_string())?,
    );
    let target = RoleTarget::Mariadb {
        grants: vec![MariadbGrant {
            privileges: vec!["SELECT".to_owned()],
            on: format!("{db}.*"),
        }],
    };
    let specs = specs(&names, "mariadb", &target, s.small);
    let prefix = &names.account_prefix();
    let admin = tokio::sync::Mutex::new(admin);
    let checker = &admin;
    let result = grant_then_revoke(
        &report,
        "mariadb",
        conn,
        specs,
        s.concurrency,
        move || async move {
            let mut c = checker.lock().await;
            mariadb_accounts(&mut c, prefix).await.map(|a| a.len())
        },
    )
    .await;
    let _ = admin.into_inner().disconnect().await;
    result
}

async fn cleanup_mariadb(names: &Names) -> Result<String, String> {
    let mut conn = mariadb_admin().await?;
    let leftovers = mariadb_accounts(&mut conn, &names.account_prefix()).await?;
    for (user, host) in &leftovers {
        conn.query_drop(format!(
            "DROP USER IF EXISTS {}@{}",
            quote_str(user),
            quote_str(host)
        ))
        .await
        .map_err(|e| format!("dropping leftover {user}@{host}: {e}"))?;
    }
    conn.query_drop(format!(
        "DROP DATABASE IF EXISTS {}",
        quote_ident(&names.database())
    ))
    .await
    .map_err(|e| format!("dropping database {}: {e}", names.database()))?;
    let _ = conn.disconnect().await;
    Ok(format!(
        "{} leftover accounts and database {} dropped",
        leftovers.len(),
        names.database()
    ))
}

// ----- Redis -----

async fn redis_admin() -> Result<::redis::aio::MultiplexedConnection, String> {
    let client = ::redis::Client::open(REDIS_URL).map_err(|e| e.to_string())?;
    tokio::time::timeout(
        Duration::from_secs(10),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| "connecting to Redis timed out".to_owned())?
    .map_err(|e| format!("connecting to Redis: {e}"))
}

/// The ACL users whose names start with `prefix`.
async fn redis_accounts(
    conn: &mut ::redis::aio::MultiplexedConnection,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let users: Vec<String> = ::redis::cmd("ACL")
        .arg("USERS")
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(users
        .into_iter()
        .filter(|u| u.starts_with(prefix))
        .collect())
}

async fn bench_redis(s: Settings, names: Names, report: Report) -> Result<(), String> {
    println!(
        "\nredis: {} grants, {} tasks, one multiplexed connection",
        s.small, s.concurrency
    );
    let admin = redis_admin().await?;
    let conn: Arc<dyn Connector> = Arc::new(
        Redis::new(
            "bench",
            RedisConfig {
                host: HOST.to_owned(),
                port: 6379,
                ..RedisConfig::default()
            },
        )
        .map_err(|e| e.to_string())?,
    );
    let target = RoleTarget::Redis {
        acl: vec!["+@read".to_owned(), format!("~wb_{}:*", names.rand)],
    };
    let specs = specs(&names, "redis", &target, s.small);
    let prefix = &names.account_prefix();
    let admin = &admin;
    grant_then_revoke(
        &report,
        "redis",
        conn,
        specs,
        s.concurrency,
        move || async move {
            let mut c = admin.clone();
            redis_accounts(&mut c, prefix).await.map(|a| a.len())
        },
    )
    .await
}

async fn cleanup_redis(names: &Names) -> Result<String, String> {
    let mut conn = redis_admin().await?;
    let leftovers = redis_accounts(&mut conn, &names.account_prefix()).await?;
    for chunk in leftovers.chunks(100) {
        let _: i64 = ::redis::cmd("ACL")
            .arg("DELUSER")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("deleting leftover ACL users: {e}"))?;
    }
    Ok(format!("{} leftover ACL users deleted", leftovers.len()))
}

// ----- Driver -----

/// Nearest-rank percentile (`permille` of 1000) of sorted samples.
fn nearest_rank(sorted: &[Duration], permille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (permille * sorted.len())
        .div_ceil(1000)
        .clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn print_table(report: &Report) {
    let lines = report.lines.lock().unwrap_or_else(PoisonError::into_inner);
    println!(
        "\n{:<9} {:<17} {:>6} {:>5} {:>9} {:>10} {:>10} {:>10} {:>6}",
        "target", "operation", "count", "conc", "ops/s", "p50", "p99", "max", "failed"
    );
    for l in lines.iter() {
        let rate = if l.wall.is_zero() {
            0.0
        } else {
            l.count as f64 / l.wall.as_secs_f64()
        };
        println!(
            "{:<9} {:<17} {:>6} {:>5} {:>9.1} {:>10} {:>10} {:>10} {:>6}",
            l.target,
            l.op,
            l.count,
            l.concurrency,
            rate,
            ms(nearest_rank(&l.sorted, 500)),
            ms(nearest_rank(&l.sorted, 990)),
            ms(l.sorted.last().copied().unwrap_or_default()),
            l.failed
        );
    }
}

/// Runs one target's step on a task of its own, so that a panic in it is caught and the
/// other targets and the clean-up still run.
async fn step<Fut>(report: &Report, name: &str, fut: Fut) -> bool
where
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    match tokio::spawn(fut).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            report.problem(format!("{name} step failed: {e}"));
            false
        }
        Err(e) => {
            report.problem(format!("{name} step panicked: {e}"));
            false
        }
    }
}

/// Runs one target's clean-up within [`CLEANUP_TIMEOUT`].
async fn tidy<Fut>(report: &Report, name: &str, fut: Fut) -> bool
where
    Fut: Future<Output = Result<String, String>>,
{
    match tokio::time::timeout(CLEANUP_TIMEOUT, fut).await {
        Ok(Ok(what)) => {
            println!("  {name}: {what}");
            true
        }
        Ok(Err(e)) => {
            report.problem(format!("{name} clean-up failed: {e}"));
            false
        }
        Err(_) => {
            report.problem(format!("{name} clean-up timed out"));
            false
        }
    }
}

async fn run(s: Settings) -> ExitCode {
    let names = Names::new();
    let report = Report::default();
    println!(
        "targets bench: {} cores, suffix {}, {} postgres grants, {} mariadb/redis grants, concurrency {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        names.rand,
        s.grants,
        s.small,
        s.concurrency
    );
    let mut ok = true;
    ok &= step(
        &report,
        "postgres",
        bench_postgres(s, names.clone(), report.clone()),
    )
    .await;
    ok &= step(
        &report,
        "mariadb",
        bench_mariadb(s, names.clone(), report.clone()),
    )
    .await;
    ok &= step(
        &report,
        "redis",
        bench_redis(s, names.clone(), report.clone()),
    )
    .await;

    println!("\nclean-up:");
    ok &= tidy(&report, "postgres", cleanup_postgres(&names)).await;
    ok &= tidy(&report, "mariadb", cleanup_mariadb(&names)).await;
    ok &= tidy(&report, "redis", cleanup_redis(&names)).await;

    print_table(&report);
    let problems = report
        .problems
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if problems.is_empty() && ok {
        ExitCode::SUCCESS
    } else {
        println!("\n{} problems:", problems.len());
        for p in problems.iter() {
            println!("  {p}");
        }
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "targets bench: not run (it needs --bench); use `cargo bench -p warden-connectors --bench targets`"
        );
        return ExitCode::SUCCESS;
    }
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings))
}
