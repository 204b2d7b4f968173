//! The sections of the configuration other than notifications: `[server]`, `[storage]`,
//! `[auth]`, `[log]`, `[grants]`, `[ssh]`, `[reconcile]`, `[audit]`, `[vault]`, each with
//! its defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use warden_core::rotation::MAX_ROTATION_INTERVAL;

/// `[vault]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Development only: keep the unseal key in this file (mode 0600) instead of
    /// splitting it into shares. The vault is initialised with it at first start and
    /// unsealed with it at every start. Whoever reads the file and the database reads
    /// every vaulted secret; production vaults use `warden operator init` shares.
    pub unseal_key_file: Option<PathBuf>,
    /// The rotation interval of accounts added without one (`30d`, at most `366d`).
    pub rotate_every: String,
    /// The wait before the first retry of a failed rotation, in seconds; it doubles with
    /// every failure in a row, up to `retry_max_secs`.
    pub retry_base_secs: u64,
    /// The longest wait between retries, in seconds.
    pub retry_max_secs: u64,
    /// How often the rotation worker looks for due work, in milliseconds.
    pub tick_ms: u64,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            unseal_key_file: None,
            rotate_every: "30d".to_owned(),
            retry_base_secs: 30,
            retry_max_secs: 3_600,
            tick_ms: 1_000,
        }
    }
}

impl VaultConfig {
    /// The default rotation interval, checked.
    pub fn default_rotation(&self) -> Result<time::Duration, warden_core::policy::DurationError> {
        warden_core::policy::parse_duration_within(&self.rotate_every, MAX_ROTATION_INTERVAL)
    }
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The Ed25519 key that signs checkpoints (mode 0600), made at first start when
    /// absent. Default: `audit_signing.key` in the data directory. Keep a copy of its
    /// public key (`warden audit key`) where the database's administrators cannot change
    /// it: that is what makes an export verifiable.
    pub signing_key_file: Option<PathBuf>,
    /// How often the head of the log is signed while events arrive, in milliseconds.
    pub checkpoint_interval_ms: u64,
    /// SIEM exports by name: `[audit.sinks.NAME]` with `kind = "syslog" | "file" | "http"`.
    pub sinks: std::collections::BTreeMap<String, crate::siem::transport::SinkConfig>,
    /// Refusals (`authz.deny` events) written per caller and minute; the ones left out
    /// are counted in the caller's next event.
    pub denials_per_minute: u32,
    /// Refusals written per minute by all callers together.
    pub denials_per_minute_all: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            signing_key_file: None,
            checkpoint_interval_ms: 1_000,
            sinks: std::collections::BTreeMap::new(),
            denials_per_minute: 10,
            denials_per_minute_all: 120,
        }
    }
}

/// `[ssh]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    /// The CA's private key (OpenSSH format, mode 0600), made at first start when absent.
    /// Default: `ssh_ca` in the data directory.
    pub ca_key_file: Option<PathBuf>,
    /// The longest a certificate is valid, in seconds, however long its grant runs:
    /// `warden ssh` asks for a fresh one for every connection.
    pub certificate_max_secs: u64,
}

impl Default for SshConfig {
    fn default() -> Self {
        Self {
            ca_key_file: None,
            certificate_max_secs: 300,
        }
    }
}

/// `[reconcile]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Seconds between scheduled reconciliations of every configured connection; 0 turns
    /// the schedule off (on-demand runs still work).
    pub interval_secs: u64,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self { interval_secs: 300 }
    }
}

/// `[grants]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrantsConfig {
    /// Record grants in Warden's own database instead of changing targets: for trials,
    /// demos and tests, until a resource kind has a connector configured. Off by default,
    /// so a grant with no connector fails (and alerts) rather than pretending.
    pub record_only: bool,
    /// How long before a grant ends its holder is warned, in seconds.
    pub warn_before_secs: u64,
    /// The longest break-glass grant, in seconds.
    pub breakglass_max_secs: u64,
    /// How long a vendor identity and account are kept once no grant of theirs runs, in
    /// days.
    pub vendor_retention_days: u64,
    /// The longest a sponsor may sponsor a vendor at once, in days.
    pub vendor_max_days: u64,
    /// Most grants the expiry worker handles in one batch.
    pub batch_size: u64,
    /// Most connector calls in flight at once.
    pub concurrency: usize,
}

impl Default for GrantsConfig {
    fn default() -> Self {
        Self {
            record_only: false,
            warn_before_secs: 15 * 60,
            breakglass_max_secs: 2 * 3600,
            vendor_retention_days: 30,
            vendor_max_days: 90,
            batch_size: 1000,
            concurrency: 64,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Serve HTTPS with these files; plain HTTP when absent.
    pub tls: Option<TlsConfig>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Largest HR file accepted by `POST /v1/hr/sync`, in bytes.
    pub hr_sync_body_limit_bytes: usize,
    /// Longest a request may take, in seconds.
    pub request_timeout_secs: u64,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR blocks). From any
    /// other peer the header is ignored.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8700)),
            tls: None,
            body_limit_bytes: 1024 * 1024,
            hr_sync_body_limit_bytes: 64 * 1024 * 1024,
            request_timeout_secs: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[server.tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://PATH` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. Defaults to
    /// `warden.db` in `data_dir`.
    pub url: Option<String>,
    /// Directory for Warden's own files (the SQLite database by default).
    pub data_dir: PathBuf,
    /// Most database connections.
    pub max_connections: u32,
    /// Seconds to wait for the database at start and for a connection.
    pub connect_timeout_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            data_dir: PathBuf::from("/var/lib/warden"),
            max_connections: 10,
            connect_timeout_secs: 5,
        }
    }
}

impl StorageConfig {
    /// The database URL in effect.
    pub fn effective_url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("warden.db").display()))
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a token from a password login.
    pub session_ttl_secs: u64,
    /// Lifetime of an API token when none is asked for.
    pub token_default_ttl_secs: u64,
    /// Longest lifetime of an API token.
    pub token_max_ttl_secs: u64,
    /// Failed logins of one account name within the window that lock it.
    pub login_max_failures: u32,
    /// The window failed logins are counted in.
    pub login_failure_window_secs: u64,
    /// How long a locked account name stays locked.
    pub login_lockout_secs: u64,
    /// Login attempts allowed from one client address per minute.
    pub login_attempts_per_source_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: 12 * 3600,
            token_default_ttl_secs: 30 * 24 * 3600,
            token_max_ttl_secs: 365 * 24 * 3600,
            login_max_failures: 5,
            login_failure_window_secs: 900,
            login_lockout_secs: 900,
            login_attempts_per_source_per_minute: 30,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `warden_server=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
