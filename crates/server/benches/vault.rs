//! Rotation of a vaulted password on the local PostgreSQL, end to end, as the rotation
//! worker does it: the check that the server really checks the account's password (a
//! random wrong one is refused), a new password generated and sealed, staged as the
//! pending version in SQLite (a file in a temporary directory, synced commits), set on
//! PostgreSQL as a SCRAM-SHA-256 verifier through the connector's admin pool, verified by
//! logging in with it on a new connection, and committed with its audit event.
//!
//! The account is a login role made for the run, a member of `warden_scram` so that its
//! logins are checked with SCRAM (scripts/test puts the `pg_hba.conf` line there). The
//! target is p99 < 100 ms.
//!
//! Run with `cargo bench -p warden-server --bench vault`; `WARDEN_BENCH_ROTATIONS` sets
//! the number of rotations timed (default 500, after 20 unmeasured).

// A benchmark whose set-up fails should stop loudly; it prints its results; it indexes
// the sorted samples it filled.
#![allow(clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing)]
// Ids made here are stamped with the real time, as a running server stamps them.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use uuid::Uuid;
use warden_app::AppState;
use warden_app::config::Config;
use warden_app::service::rotation;
use warden_core::Clock as _;
use warden_core::SystemClock;
use warden_store::{SecretVersion, Store, VaultAccount};

const WARMUP: usize = 20;

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn pg_admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(5432)
        .user("postgres")
        .dbname("test")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("the local PostgreSQL answers as postgres");
    tokio::spawn(conn);
    client
}

fn main() {
    let rotations: usize = std::env::var("WARDEN_BENCH_ROTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("warden.db").display());
        let store = Store::open(&url, &Default::default())
            .await
            .expect("store");
        let mut config = Config::default();
        config.storage.data_dir = dir.path().to_owned();
        config.vault.unseal_key_file = Some(dir.path().join("vault_unseal.key"));
        config.connections.insert(
            "pg".to_owned(),
            toml::from_str("kind = \"postgres\"\nuser = \"postgres\"\ndatabase = \"test\"")
                .expect("connection"),
        );
        let state = AppState::new(store, std::sync::Arc::new(SystemClock), config);
        warden_app::service::vault::open(&state)
            .await
            .expect("vault opens with its key file");

        let role = format!("wb{}", &Uuid::new_v4().simple().to_string()[..10]);
        let first = warden_vault::generate(&Default::default()).expect("password");
        let admin = pg_admin().await;
        admin
            .batch_execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{}' IN ROLE warden_scram",
                first.expose_secret()
            ))
            .await
            .expect("bench role");

        let ring = state.vault().keyring().expect("unsealed");
        let now = SystemClock.now();
        let id = Uuid::now_v7();
        let (key_id, envelope) = ring
            .seal_secret(id, 1, first.expose_secret().as_bytes())
            .expect("seal");
        let mut account = VaultAccount {
            id,
            name: "bench".to_owned(),
            connection: "pg".to_owned(),
            username: role.clone(),
            resource: None,
            roles: Vec::new(),
            groups: Vec::new(),
            checkout_max_secs: 3_600,
            exclusive: false,
            rotate_every_secs: 86_400,
            password_length: 24,
            password_symbols: true,
            version: 1,
            next_rotation_at: now,
            rotation_failures: 0,
            last_rotated_at: None,
            last_error: None,
            created_at: now,
            created_by: "bench".to_owned(),
        };
        state
            .store()
            .vault_add_account(
                &account,
                &SecretVersion {
                    account_id: id,
                    version: 1,
                    key_id,
                    envelope,
                    state: "current".to_owned(),
                    created_at: now,
                    committed_at: Some(now),
                },
                &[],
            )
            .await
            .expect("account");

        println!(
            "rotation of a vaulted PostgreSQL password, end to end: {rotations} timed after {WARMUP} (target p99 < 100 ms)"
        );
        let mut samples = Vec::with_capacity(rotations);
        for i in 0..WARMUP + rotations {
            let started = Instant::now();
            let done = rotation::rotate(&state, &ring, &account)
                .await
                .expect("rotation");
            let took = started.elapsed();
            assert_eq!(done, Some(true), "rotation {i} committed");
            account = state
                .store()
                .vault_account("bench")
                .await
                .expect("read")
                .expect("account");
            if i >= WARMUP {
                samples.push(took);
            }
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        println!(
            "p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  mean {:.1} ms  ({} rotations, version {})",
            pct(&samples, 0.50).as_secs_f64() * 1e3,
            pct(&samples, 0.99).as_secs_f64() * 1e3,
            samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3 / samples.len().max(1) as f64,
            samples.len(),
            account.version,
        );
        admin
            .batch_execute(&format!("DROP ROLE {role}"))
            .await
            .expect("drop the bench role");
    });
}
