//! The audit log's write path on SQLite (a file in a temporary directory, WAL,
//! `synchronous = FULL`, so every commit is synced to disk): durable appends through
//! `Store::append_audit` (group commit) from many concurrent writers, and what the
//! checkpoint signer costs them.
//!
//! In the order it runs, each phase `PHASE_SECS` long and run `ROUNDS` times, alternating:
//!
//! - appends alone: events per second;
//! - appends while `service::audit::run_checkpoints` signs the head every second (as
//!   `warden serve` does): events per second, and the difference to the phase before;
//! - the cost of one checkpoint (`service::audit::checkpoint` on a log that has grown
//!   since the last one), timed over 200 calls: that time once a second, as a share of a
//!   second, is the signer's share of the writer.
//!
//! Run with `cargo bench -p warden-server --bench audit`; `WARDEN_BENCH_WRITERS` sets the
//! number of concurrent writers (default 256).

// A benchmark whose set-up fails should stop loudly; it prints its results; it indexes
// the middle of the lists it filled.
#![allow(clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing)]
// Ids made here are stamped with the real time, as a running server stamps them.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use warden_app::config::Config;
use warden_app::{AppState, service};
use warden_core::Clock as _;
use warden_core::SystemClock;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_store::Store;

const PHASE_SECS: u64 = 10;
const ROUNDS: usize = 3;

fn event(n: u64) -> AuditEvent {
    AuditEvent::new(
        SystemClock.now(),
        Actor {
            user: Some(format!("user{}", n % 1000)),
            token_id: Some(uuid::Uuid::now_v7()),
            source: Some("10.20.30.40".parse().expect("ip")),
            user_agent: Some("warden-cli/0.1.0".to_owned()),
        },
        Action::GrantProvision,
    )
    .target(format!("grant:{}", uuid::Uuid::now_v7()))
    .reason("incident INC-4711: disk full on the primary")
    .detail("resource", "pg-prod")
    .detail("role", "app_write")
    .detail("identity", format!("E{:05}", n % 100_000))
}

/// Appends from `writers` tasks for `secs`; returns events per second.
async fn appends(store: &Store, writers: usize, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let stop = stop.clone();
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = w as u64 * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                store.append_audit(&event(n)).await.expect("append");
                count.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let done = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    for t in tasks {
        t.await.expect("writer");
    }
    done as f64 / elapsed.as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let writers: usize = std::env::var("WARDEN_BENCH_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    let store = Store::open(&url, &Default::default())
        .await
        .expect("open the store");
    let mut config = Config::default();
    config.storage.data_dir = dir.path().to_owned();
    let state = AppState::new(store.clone(), Arc::new(SystemClock), config);
    state.audit_key().expect("signing key");
    println!(
        "audit append on SQLite (WAL, synchronous=FULL), {writers} concurrent writers, \
         {PHASE_SECS} s a phase, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut plain = Vec::new();
    let mut signed = Vec::new();
    for round in 1..=ROUNDS {
        let rate = appends(&store, writers, PHASE_SECS).await;
        println!("round {round}: appends alone:            {rate:>9.0} events/s");
        plain.push(rate);
        let signer = tokio::spawn(service::audit::run_checkpoints(state.clone()));
        let rate = appends(&store, writers, PHASE_SECS).await;
        signer.abort();
        println!("round {round}: appends with the signer:  {rate:>9.0} events/s");
        signed.push(rate);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (p, s) = (median(&mut plain), median(&mut signed));
    println!(
        "median: {p:.0} events/s alone, {s:.0} with the signer ({:+.2}%)",
        (s - p) / p * 100.0
    );

    // One checkpoint's cost, on a log that grew since the last one.
    let mut total = Duration::ZERO;
    for n in 0..200 {
        store.append_audit(&event(n)).await.expect("append");
        let start = Instant::now();
        service::audit::checkpoint(&state)
            .await
            .expect("checkpoint")
            .expect("a new head was signed");
        total += start.elapsed();
    }
    let each = total / 200;
    println!(
        "one checkpoint: {:.3} ms, so signing every second takes {:.3}% of a second",
        each.as_secs_f64() * 1000.0,
        each.as_secs_f64() * 100.0
    );
    let (head, _) = store.audit_head().await.expect("head");
    println!("log length at the end: {head} events");
}
