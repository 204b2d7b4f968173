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

use warden_connectors::ssh::CertificateAuthority;

use crate::config::Config;
use crate::connectors::{Connectors, Recording};
use warden_core::connector::Connector;

/// Creates `dir` (and its parents), readable by its owner only.
pub(crate) fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

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
    worker: crate::leases::WorkerIdentity,
    /// `true` once the process stops: no lease is taken or renewed any more. Taking or
    /// renewing one holds it for reading, releasing them all for writing, so no lease
    /// is taken after they were released.
    stopping: tokio::sync::RwLock<bool>,
    ssh_ca: std::sync::OnceLock<Result<Arc<CertificateAuthority>, String>>,
    audit_key: std::sync::OnceLock<Result<Arc<warden_audit::SigningKey>, String>>,
    check_tokens: crate::auth::TokenCache,
    access_index: crate::access_index::AccessIndex,
    vault: Arc<crate::vault::Vault>,
    rotation_wake: Arc<tokio::sync::Notify>,
    denials: crate::service::authz::DenialLog,
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
    /// configuration gives (the recording connector with `[grants] record_only`), holding
    /// worker leases under an id of its own.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> Self {
        Self::with_worker(
            store,
            clock,
            config,
            crate::leases::WorkerIdentity::process(),
        )
    }

    /// [`AppState::new`], holding worker leases as `worker` (`serve`: the data
    /// directory's identity).
    pub fn with_worker(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        worker: crate::leases::WorkerIdentity,
    ) -> Self {
        let recording = config
            .grants
            .record_only
            .then(|| Arc::new(Recording::new(store.clone(), Arc::clone(&clock))));
        // The configuration was checked when it was loaded (`Config::validate` builds
        // every connection). Should building them still fail here, no connection is
        // used at all (not only the failing one): every grant fails and alerts rather
        // than pretend, and the log names the connection.
        let vault = Arc::new(crate::vault::Vault::default());
        let passwords = Arc::new(crate::vault::VaultPasswords {
            store: store.clone(),
            vault: Arc::clone(&vault),
        });
        let extras = crate::connectors::Extras {
            passwords: Some(passwords as Arc<dyn warden_connectors::PasswordSource>),
            ssh_ca_file: Some(
                config
                    .ssh
                    .ca_key_file
                    .clone()
                    .unwrap_or_else(|| config.storage.data_dir.join("ssh_ca")),
            ),
            clock: Some(Arc::clone(&clock)),
        };
        let configured =
            Connectors::from_config(&config.connections, &extras).unwrap_or_else(|e| {
                tracing::error!(error = %e, "a configured connection cannot be used");
                Connectors::none()
            });
        let connectors = match &recording {
            Some(r) => configured.with_fallback(Arc::clone(r) as Arc<dyn Connector>),
            None => configured,
        };
        Self::build(store, clock, config, connectors, recording, vault, worker)
    }

    /// State with the given connectors (target connectors, or a stand-in for benchmarks).
    pub fn with_connectors(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        connectors: Connectors,
    ) -> Self {
        Self::build(
            store,
            clock,
            config,
            connectors,
            None,
            Arc::default(),
            crate::leases::WorkerIdentity::process(),
        )
    }

    fn build(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        connectors: Connectors,
        recording: Option<Arc<Recording>>,
        vault: Arc<crate::vault::Vault>,
        worker: crate::leases::WorkerIdentity,
    ) -> Self {
        let per_minute = NonZeroU32::new(config.auth.login_attempts_per_source_per_minute)
            .unwrap_or(NonZeroU32::MIN);
        let login_limiter = RateLimiter::keyed(Quota::per_minute(per_minute));
        let metrics = crate::telemetry::metrics_handle();
        let policy = ArcSwap::from_pointee(ActivePolicy::empty());
        let denials = crate::service::authz::DenialLog::new(
            config.audit.denials_per_minute,
            config.audit.denials_per_minute_all,
        );
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
                worker,
                stopping: tokio::sync::RwLock::new(false),
                ssh_ca: std::sync::OnceLock::new(),
                audit_key: std::sync::OnceLock::new(),
                check_tokens: crate::auth::TokenCache::default(),
                access_index: crate::access_index::AccessIndex::default(),
                vault,
                rotation_wake: Arc::new(tokio::sync::Notify::new()),
                denials,
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

    /// Tokens verified for the access check.
    pub fn check_tokens(&self) -> &crate::auth::TokenCache {
        &self.inner.check_tokens
    }

    /// The access check's index of active grants.
    pub fn access_index(&self) -> &crate::access_index::AccessIndex {
        &self.inner.access_index
    }

    /// The connectors in force.
    pub fn connectors(&self) -> &Connectors {
        &self.inner.connectors
    }

    /// The SSH certificate authority, loaded (or made) on first use from `[ssh]
    /// ca_key_file`, by default `ssh_ca` in the data directory. `serve` loads it before
    /// serving, so a key that cannot be read stops the start.
    pub fn ssh_ca(&self) -> Result<Arc<CertificateAuthority>, String> {
        self.inner
            .ssh_ca
            .get_or_init(|| {
                let path = self.key_file(self.config().ssh.ca_key_file.as_ref(), "ssh_ca")?;
                CertificateAuthority::load_or_create(&path)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// The path of a key file: the configured one, or `default_name` in the data
    /// directory; its directory is created (0700) when missing.
    fn key_file(
        &self,
        configured: Option<&std::path::PathBuf>,
        default_name: &str,
    ) -> Result<std::path::PathBuf, String> {
        let path = configured
            .cloned()
            .unwrap_or_else(|| self.config().storage.data_dir.join(default_name));
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            make_private_dir(dir)
                .map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
        }
        Ok(path)
    }

    /// The key that signs audit checkpoints, loaded (or made) on first use from `[audit]
    /// signing_key_file`, by default `audit_signing.key` in the data directory. `serve`
    /// loads it before serving, so a key that cannot be read stops the start.
    pub fn audit_key(&self) -> Result<Arc<warden_audit::SigningKey>, String> {
        self.inner
            .audit_key
            .get_or_init(|| {
                let path = self.key_file(
                    self.config().audit.signing_key_file.as_ref(),
                    "audit_signing.key",
                )?;
                crate::service::audit::load_or_create_key(&path).map(Arc::new)
            })
            .clone()
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

    /// This process's id among replicas, for worker leases: under `serve`, the data
    /// directory's ([`crate::leases`]), so a restarted process is the same holder.
    pub fn instance(&self) -> uuid::Uuid {
        self.inner.worker.owner()
    }

    /// Whether this replica holds (takes or renews) the worker lease `name`: a singleton
    /// worker (grants, outbox) runs on one replica at a time, and another takes over
    /// within [`crate::state::LEASE`] when it stops renewing, or at once when it releases
    /// its leases ([`AppState::release_leases`]). Never once the process is stopping.
    pub async fn hold_lease(&self, name: &str) -> bool {
        let stopping = self.inner.stopping.read().await;
        if *stopping {
            return false;
        }
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

    /// Stops holding worker leases and gives up every one this process holds, whatever
    /// its name, so another replica (or this data directory's next process) takes them
    /// over at once rather than when they lapse. Returns how many were held.
    pub async fn release_leases(&self) -> Result<u64, warden_store::StoreError> {
        let mut stopping = self.inner.stopping.write().await;
        *stopping = true;
        self.store().release_all(self.instance()).await
    }

    /// The credential vault in this process: sealed or not, and its keys.
    pub fn vault(&self) -> &crate::vault::Vault {
        &self.inner.vault
    }

    /// Which refusals are audited (rate-limited per caller).
    pub fn denials(&self) -> &crate::service::authz::DenialLog {
        &self.inner.denials
    }

    /// What the vault's rotation worker waits on.
    pub fn rotation_waker(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.inner.rotation_wake)
    }

    /// The Prometheus registry.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }
}
