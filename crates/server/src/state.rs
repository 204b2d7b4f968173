//! Shared server state, handed to every handler.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use arc_swap::ArcSwap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use warden_core::Clock;
use warden_core::policy::Policy;
use warden_store::Store;

use crate::config::Config;
use crate::connectors::{Connectors, Recording};
use warden_core::connector::Connector;

/// How long a worker lease lasts without renewal: the longest a singleton worker stops
/// when the replica running it dies.
pub const LEASE: time::Duration = time::Duration::seconds(15);

/// The state behind every request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Config,
    login_limiter: DefaultKeyedRateLimiter<IpAddr>,
    metrics: PrometheusHandle,
    policy: ArcSwap<ActivePolicy>,
    directory_writes: Arc<tokio::sync::Mutex<()>>,
    connectors: Connectors,
    recording: Option<Arc<Recording>>,
    grants_wake: Arc<tokio::sync::Notify>,
    instance: uuid::Uuid,
}

/// The policy in force, compiled.
#[derive(Debug, Clone)]
pub struct ActivePolicy {
    /// The stored version, `None` before the first apply.
    pub version: Option<i64>,
    /// SHA-256 of its files.
    pub digest: Option<String>,
    /// The compiled policy.
    pub policy: Arc<Policy>,
}

impl ActivePolicy {
    /// No policy yet: nobody is eligible for anything.
    pub fn empty() -> Self {
        Self {
            version: None,
            digest: None,
            policy: Arc::new(Policy::empty()),
        }
    }
}

impl AppState {
    /// State over `store`, reading time from `clock`, with the connectors the
    /// configuration gives (the recording connector with `[grants] record_only`).
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> Self {
        let recording = config
            .grants
            .record_only
            .then(|| Arc::new(Recording::new(store.clone(), Arc::clone(&clock))));
        let connectors = match &recording {
            Some(r) => Connectors::none().with_fallback(Arc::clone(r) as Arc<dyn Connector>),
            None => Connectors::none(),
        };
        Self::build(store, clock, config, connectors, recording)
    }

    /// State with the given connectors (target connectors, or a stand-in for benchmarks).
    pub fn with_connectors(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        connectors: Connectors,
    ) -> Self {
        Self::build(store, clock, config, connectors, None)
    }

    fn build(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        connectors: Connectors,
        recording: Option<Arc<Recording>>,
    ) -> Self {
        let per_minute = NonZeroU32::new(config.auth.login_attempts_per_source_per_minute)
            .unwrap_or(NonZeroU32::MIN);
        let login_limiter = RateLimiter::keyed(Quota::per_minute(per_minute));
        let metrics = crate::telemetry::metrics_handle();
        let policy = ArcSwap::from_pointee(ActivePolicy::empty());
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                login_limiter,
                metrics,
                policy,
                directory_writes: Arc::new(tokio::sync::Mutex::new(())),
                connectors,
                recording,
                grants_wake: Arc::new(tokio::sync::Notify::new()),
                instance: uuid::Uuid::now_v7(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Login attempts per client address.
    pub fn login_limiter(&self) -> &DefaultKeyedRateLimiter<IpAddr> {
        &self.inner.login_limiter
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<ActivePolicy> {
        self.inner.policy.load_full()
    }

    /// Puts a newly applied or loaded policy in force.
    pub fn set_policy(&self, policy: ActivePolicy) {
        self.inner.policy.store(Arc::new(policy));
    }

    /// A turn to change the directory. Writers of identities (HR sync, SCIM, policy
    /// applies, the leaver sweep) read the directory, plan, then commit; holding the turn
    /// from the read to the commit keeps two of them in this process from each missing the
    /// other's change. (Replicas on one PostgreSQL are not covered by this lock.)
    pub async fn directory_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        Arc::clone(&self.inner.directory_writes).lock_owned().await
    }

    /// The connectors by resource kind.
    pub fn connectors(&self) -> &Connectors {
        &self.inner.connectors
    }

    /// The recording connector, when `[grants] record_only` is on.
    pub fn recording(&self) -> Option<&Arc<Recording>> {
        self.inner.recording.as_ref()
    }

    /// Wakes the grant worker: a grant was queued or ended early.
    pub fn wake_grants(&self) {
        self.inner.grants_wake.notify_one();
    }

    /// What the grant worker waits on.
    pub fn grants_waker(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.inner.grants_wake)
    }

    /// This process's id among replicas, for worker leases.
    pub fn instance(&self) -> uuid::Uuid {
        self.inner.instance
    }

    /// Whether this replica holds (takes or renews) the worker lease `name`: a singleton
    /// worker (grants, outbox) runs on one replica at a time, and another takes over
    /// within [`crate::state::LEASE`] when it stops renewing.
    pub async fn hold_lease(&self, name: &str) -> bool {
        let now = self.clock().now();
        match self
            .store()
            .lease(name, self.instance(), now, now + LEASE)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(error = %e, lease = name, "cannot take or renew a worker lease");
                false
            }
        }
    }

    /// The Prometheus registry.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }
}
