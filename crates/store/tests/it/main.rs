//! The storage contract: every test here runs against SQLite and against the real
//! PostgreSQL, each on a fresh database.

// Tests fail loudly (unwrap, expect, panic, indexing are assertions here), and the
// process-level helpers may block a test thread while they wait for a child process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod audit;
mod contract;
mod lifecycle;
mod races;

/// Defines `$name::sqlite` and `$name::postgres`, each calling `$body(store, testdb)`.
#[macro_export]
macro_rules! contract_test {
    ($name:ident, $body:ident) => {
        mod $name {
            use warden_store::Backend;

            #[tokio::test]
            async fn sqlite() {
                $crate::run(Backend::Sqlite, super::$body).await;
            }

            #[tokio::test]
            async fn postgres() {
                $crate::run(Backend::Postgres, super::$body).await;
            }
        }
    };
}

/// Runs `body` against a fresh store on `backend`, then drops its database.
pub async fn run<F, Fut>(backend: warden_store::Backend, body: F)
where
    F: FnOnce(warden_store::Store, warden_store::testing::TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = warden_store::testing::TestDb::new(backend).await;
    let store = warden_store::Store::open(&db.url, &Default::default())
        .await
        .expect("open store");
    assert_eq!(store.backend(), backend);
    body(store, db).await;
}
