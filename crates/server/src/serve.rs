//! `warden serve`: open storage, initialise on first start, listen, shut down gracefully.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use secrecy::ExposeSecret;
use warden_core::{Clock, SystemClock};
use warden_store::{Store, StoreError, StoreOptions};

use crate::api::app;
use warden_app::config::Config;
use warden_app::service::bootstrap;
use warden_app::state::AppState;

/// A start-up step's refusal as the operator reads it: what went wrong and, for each
/// field (a policy file's line, say), why; an internal failure with its cause.
fn init_failed(e: warden_app::service::error::ServiceError) -> ServeError {
    ServeError::Init(
        e.public_detail()
            .or_else(|| e.cause_chain())
            .unwrap_or_else(|| e.to_string()),
    )
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// Initialisation (initial administrator, demo users) failed.
    #[error("initialisation failed: {0}")]
    Init(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate {cert} or key {key}: {source}")]
    Tls {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Development mode: create demo users on first start and say how to connect.
    pub dev: bool,
}

/// Runs the server until `shutdown` resolves. What an operator must see (the one-time
/// initial credential, where to connect) is written to `out`, never to the log.
pub async fn serve(
    config: Config,
    options: ServeOptions,
    out: &mut (dyn Write + Send),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // Several parts of the process may race to install the provider; one wins, all agree.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let url = config.storage.effective_url();
    let store_options = StoreOptions {
        max_connections: config.storage.max_connections,
        connect_timeout: Duration::from_secs(config.storage.connect_timeout_secs),
    };
    let store = Store::open(&url, &store_options).await?;
    tracing::info!(url = %warden_store::redact_url(&url), "storage ready");
    // Bind before initialising, so a start that cannot listen has shown no credential.
    let addr = config.server.listen;
    let listener = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr()?;

    create_first_users(&store, clock.as_ref(), &options, out).await?;
    let state = build_state(store, clock, &config).await?;
    prepare(&state, &config, &options, out).await?;
    catch_up(&state).await?;
    let workers = spawn_workers(&state);
    let stopping = state.clone();
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle: Handle<SocketAddr> = Handle::new();
    let graceful = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: releasing the worker leases, finishing requests in flight");
        stop_workers(&stopping, workers).await;
        graceful.graceful_shutdown(Some(Duration::from_secs(10)));
    });

    match &config.server.tls {
        Some(tls) => {
            let rustls = RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file)
                .await
                .map_err(|source| ServeError::Tls {
                    cert: tls.cert_file.display().to_string(),
                    key: tls.key_file.display().to_string(),
                    source,
                })?;
            announce(out, &format!("https://{local}"), options.dev)?;
            axum_server::from_tcp_rustls(listener, rustls)?
                .handle(handle)
                .serve(app)
                .await?;
        }
        None => {
            if !local.ip().is_loopback() {
                tracing::warn!(%local, "serving plain HTTP on a non-loopback address: put TLS in front or set [server.tls]");
            }
            announce(out, &format!("http://{local}"), options.dev)?;
            axum_server::from_tcp(listener)?
                .handle(handle)
                .serve(app)
                .await?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// On first start, creates the initial administrator and, in development mode, the demo
/// users, writing their one-time passwords to `out`.
async fn create_first_users(
    store: &Store,
    clock: &dyn Clock,
    options: &ServeOptions,
    out: &mut (dyn Write + Send),
) -> Result<(), ServeError> {
    let admin = bootstrap::initial_admin(store, clock)
        .await
        .map_err(init_failed)?;
    if let Some(admin) = &admin {
        tracing::info!(user = %admin.username, "created the initial administrator; its password was written to standard output once");
        writeln!(
            out,
            "\nWarden created its initial administrator. The password is shown now and never again:\n\n    user:     {}\n    password: {}\n\nLog in with `warden login {}`, then change it with `warden passwd`.\n",
            admin.username,
            admin.password.expose_secret(),
            admin.username
        )?;
    }
    if options.dev
        && let Some(password) = bootstrap::demo_users(store, clock)
            .await
            .map_err(init_failed)?
    {
        let names: Vec<&str> = bootstrap::DEMO_USERS
            .iter()
            .map(|(name, _, _)| *name)
            .collect();
        writeln!(
            out,
            "Demo users {} share the password {} (development only; shown once).\n",
            names.join(", "),
            password.expose_secret()
        )?;
    }
    Ok(())
}

/// The application state over `store`, with the stored policy in force and the worker
/// identity its leases are held under.
async fn build_state(
    store: Store,
    clock: Arc<dyn Clock>,
    config: &Config,
) -> Result<AppState, ServeError> {
    let active = warden_app::service::policy::load_active(&store)
        .await
        .map_err(ServeError::Init)?;
    // Leases are held under the data directory's worker id, so a process started again
    // here takes over at once what the previous one held, even if it was killed.
    let worker = warden_app::leases::WorkerIdentity::for_serving(&config.storage.data_dir)
        .map_err(|e| ServeError::Init(e.to_string()))?;
    match worker.file() {
        Some(file) => tracing::info!(
            worker = %worker.owner(),
            file = %file.display(),
            "worker leases are held under this id, the data directory's"
        ),
        None => tracing::info!(
            worker = %worker.owner(),
            "worker leases are held under this id, this process's own"
        ),
    }
    let state = AppState::with_worker(store, clock, config.clone(), worker);
    state.set_policy(active);
    Ok(state)
}

/// What must be ready before serving: the SSH certificate authority where SSH is
/// configured, the configuration's audit record, the vault, the audit signing key, and
/// in development mode the demo policy and population.
async fn prepare(
    state: &AppState,
    config: &Config,
    options: &ServeOptions,
    out: &mut (dyn Write + Send),
) -> Result<(), ServeError> {
    // Where SSH is configured, the CA is read (or made) before serving: a key that
    // cannot be used stops here. Otherwise it is made on first use.
    let ssh_configured = config.ssh.ca_key_file.is_some()
        || config
            .connections
            .values()
            .any(|c| matches!(c, warden_connectors::ConnectionConfig::Ssh(_)));
    if ssh_configured {
        state
            .ssh_ca()
            .map_err(|e| ServeError::Init(format!("the SSH certificate authority: {e}")))?;
    }
    record_config(state)
        .await
        .map_err(|e| ServeError::Init(format!("recording the configuration: {e}")))?;
    // The vault opens before anything uses a target: sealed with shares, or unsealed with
    // its development key file.
    warden_app::service::vault::open(state)
        .await
        .map_err(|e| ServeError::Init(format!("the vault: {e}")))?;
    // The checkpoint key is read (or made) before serving: an export must be signable.
    let audit_key = state
        .audit_key()
        .map_err(|e| ServeError::Init(format!("the audit signing key: {e}")))?;
    tracing::info!(key_id = %audit_key.public().key_id(), "audit checkpoints are signed with this key");
    if options.dev && warden_app::demo::load(state).await.map_err(init_failed)? {
        writeln!(
            out,
            "Loaded the demo policy (demo/policy) and HR population (demo/hr.csv).\n"
        )?;
    }
    Ok(())
}

/// Revokes the grants that ended while the server was down, before it serves: by this
/// process, unless a live replica holds the grant worker's lease.
async fn catch_up(state: &AppState) -> Result<(), ServeError> {
    let catching_up =
        |e: warden_store::StoreError| ServeError::Init(format!("catching up on due grants: {e}"));
    let caught = if warden_app::service::expiry::take_lease_at_start(state)
        .await
        .map_err(catching_up)?
    {
        warden_app::service::expiry::catch_up(state)
            .await
            .map_err(catching_up)?
    } else {
        tracing::info!("another replica runs the grant worker; it handles due grants");
        warden_app::service::expiry::Report::default()
    };
    if !caught.is_empty() {
        tracing::info!(
            revoked = caught.revoked,
            kept = caught.kept,
            provisioned = caught.provisioned,
            failures = caught.failures,
            "caught up on grants that fell due while the server was down"
        );
    }
    Ok(())
}

/// Starts the background tasks: following the stored policy, the leaver sweep, the
/// access index, housekeeping, the SIEM sinks, and the workers that run under a lease,
/// which are returned so they can be stopped before their leases are released.
fn spawn_workers(state: &AppState) -> tokio::task::JoinSet<()> {
    tokio::spawn(follow_policy(state.clone()));
    tokio::spawn(sweep_leavers(state.clone()));
    // Read in the background: checks read the database until it is done.
    state.access_index().follow_in_background();
    tokio::spawn(warden_app::access_index::run(state.clone()));
    tokio::spawn(housekeeping(state.clone()));
    // The workers that run under a lease, stopped before their leases are released.
    let mut workers = tokio::task::JoinSet::new();
    workers.spawn(warden_app::service::expiry::run(state.clone()));
    workers.spawn(warden_app::notify::deliver::run(state.clone()));
    workers.spawn(warden_app::service::reconcile::schedule(state.clone()));
    workers.spawn(warden_app::service::provisioning::run(state.clone()));
    workers.spawn(warden_app::service::audit::run_checkpoints(state.clone()));
    workers.spawn(warden_app::service::rotation::run(state.clone()));
    // The SIEM sinks' workers stop taking their leases once they are released.
    warden_app::siem::spawn_all(state);
    workers
}

/// Stops the lease workers and releases every lease this process holds, so another
/// replica, or the next process of this data directory, takes them over at once instead
/// of when they lapse.
async fn stop_workers(state: &AppState, mut workers: tokio::task::JoinSet<()>) {
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    match state.release_leases().await {
        Ok(released) => tracing::info!(released, "released the worker leases"),
        Err(e) => tracing::warn!(
            error = %e,
            "cannot release the worker leases: they lapse within 15 s, or are taken back when this data directory's server starts again"
        ),
    }
}

/// Keeps the policy in force in step with the store, so a version applied through another
/// replica takes effect here within a few seconds.
async fn follow_policy(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(e) = warden_app::service::policy::refresh(&state).await {
            tracing::error!(error = %e, "cannot follow the stored policy; keeping the current one");
        }
    }
}

/// Makes leavers of people whose last day passed, at start and then every hour, whether
/// or not HR syncs in between.
async fn sweep_leavers(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match warden_app::service::directory::sweep_leavers(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                leavers = n,
                "people whose last day passed have left; their access is removed"
            ),
            Err(e) => {
                tracing::error!(error = ?e, "the leaver sweep failed; it runs again within the hour")
            }
        }
    }
}

/// Every few seconds: pending requests past their timeout end, break-glass uses whose
/// justification is overdue open incidents, and vendor accounts follow their grants.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(e) = warden_app::service::requests::expire_pending(&state).await {
            tracing::error!(error = ?e, "cannot time out pending requests; retrying");
        }
        if let Err(e) = warden_app::service::breakglass::lapse_overdue(&state).await {
            tracing::error!(error = ?e, "cannot lapse overdue break-glass justifications; retrying");
        }
        if let Err(e) = warden_app::service::vendors::sweep(&state).await {
            tracing::error!(error = ?e, "cannot bring vendor accounts in step with their grants; retrying");
        }
    }
}

fn announce(out: &mut (dyn Write + Send), url: &str, dev: bool) -> std::io::Result<()> {
    if dev {
        writeln!(
            out,
            "Warden (development mode) is listening on {url}\n\nConnect with:\n\n    export WARDEN_ADDR={url}\n    warden login admin\n    warden whoami\n"
        )?;
    } else {
        writeln!(out, "Warden is listening on {url}")?;
    }
    out.flush()
}

/// Audits a start with a configuration different from the last start's (`config.change`,
/// with both digests). The digest covers the configuration as read, with secrets
/// redacted, so a changed inline secret is not detected, and no secret can be guessed
/// from the digest.
async fn record_config(state: &AppState) -> Result<(), warden_store::StoreError> {
    use sha2::Digest as _;
    let text = format!("{:?}", state.config());
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let now = state.clock().now();
    let changed = state
        .store()
        .record_config_digest(&digest, |previous| {
            let event = warden_core::audit::AuditEvent::new(
                now,
                warden_core::audit::Actor::system(),
                warden_core::audit::Action::ConfigChange,
            )
            .target("config")
            .detail("digest", digest.as_str());
            match previous {
                Some(p) => event.detail("previous", p),
                None => event,
            }
        })
        .await?;
    if changed {
        tracing::info!(digest = %digest, "the configuration changed since the last start");
    }
    Ok(())
}
