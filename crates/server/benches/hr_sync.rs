//! Full HR sync of 100,000 identities on SQLite, end to end through the sync service:
//! parse, validate, plan joiners against the demo policy, and commit in one transaction.
//! Then an incremental sync of the same population with 1% movers, and a dry run.
//! Prints wall-clock times; run with `cargo bench -p warden-server --bench hr_sync`.

// A benchmark whose set-up fails should stop loudly; it prints its results.
#![allow(clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Instant;

use warden_app::config::Config;
use warden_app::hr_file::HrFormat;
use warden_app::service::hr::{SyncOptions, sync_as};
use warden_app::{AppState, demo, service};
use warden_core::SystemClock;
use warden_core::audit::Actor;
use warden_store::Store;

const PEOPLE: usize = 100_000;
const DEPARTMENTS: [&str; 6] = [
    "Platform",
    "Payments",
    "Engineering",
    "Sales",
    "Security",
    "Finance",
];
const JOBS: [&str; 5] = [
    "SRE",
    "Developer",
    "Engineering Manager",
    "Analyst",
    "SRE Lead",
];

fn population(moved_every: Option<usize>) -> String {
    let mut csv = String::from(
        "employee_id,username,email,name,department,job_function,manager,location,status,type,start_date,end_date\n",
    );
    for i in 0..PEOPLE {
        let moved = moved_every.is_some_and(|n| i % n == 0);
        let dept = DEPARTMENTS[(i + usize::from(moved)) % DEPARTMENTS.len()];
        let job = JOBS[i % JOBS.len()];
        // A tree of managers: each person reports to someone with a smaller number.
        let manager = if i == 0 {
            String::new()
        } else {
            format!("E{}", (i - 1) / 10)
        };
        csv.push_str(&format!(
            "E{i},user{i},user{i}@example.com,User {i},{dept},{job},{manager},Berlin,active,employee,2020-01-01,\n"
        ));
    }
    csv
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("warden.db").display());
        let store = Store::open(&url, &Default::default()).await.expect("store");
        let mut config = Config::default();
        // No targets here: the demo resources' grants are only recorded, so the demo
        // policy applies without their connections.
        config.grants.record_only = true;
        let state = AppState::new(store, Arc::new(SystemClock), config);
        let files = demo::policy_files();
        let policy =
            service::policy::compile_files(&files, Default::default()).expect("demo policy");
        service::policy::commit(&state, &Actor::system(), &files, policy, "bench", None)
            .await
            .expect("apply");

        let initial = population(None);
        let options = SyncOptions {
            format: HrFormat::Csv,
            dry_run: false,
            allow_mass_leave: false,
        };
        let start = Instant::now();
        let report = sync_as(&state, Actor::system(), &initial, options)
            .await
            .expect("initial sync");
        let first = start.elapsed();
        println!(
            "initial sync of {PEOPLE} identities (all joiners): {:.2} s  {:?}",
            first.as_secs_f64(),
            report.counts
        );

        let moved = population(Some(100));
        let start = Instant::now();
        let report = sync_as(&state, Actor::system(), &moved, options)
            .await
            .expect("second sync");
        println!(
            "incremental sync of {PEOPLE} identities (1% movers): {:.2} s  {:?}",
            start.elapsed().as_secs_f64(),
            report.counts
        );

        let start = Instant::now();
        let report = sync_as(
            &state,
            Actor::system(),
            &initial,
            SyncOptions {
                dry_run: true,
                ..options
            },
        )
        .await
        .expect("dry run");
        println!(
            "dry run of {PEOPLE} identities: {:.2} s  {:?}",
            start.elapsed().as_secs_f64(),
            report.counts
        );
    });
}
