//! Configuration: one typed struct, read once from `warden.toml` and `WARDEN_*` environment
//! overrides, checked, and passed explicitly to whatever needs it.
//!
//! An override names a key by its path with `__` between the parts:
//! `WARDEN_STORAGE__URL`, `WARDEN_SERVER__TLS__CERT_FILE`, `WARDEN_AUTH__SESSION_TTL_SECS`.
//! Variables without `__` (`WARDEN_ADDR`, `WARDEN_TOKEN`) belong to the client and are
//! ignored here. Unknown keys, in the file or the environment, are errors naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use warden_core::rotation::MAX_ROTATION_INTERVAL;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// Database.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Authentication of API callers.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Grants: connectors, expiry, break-glass and vendor terms.
    #[serde(default)]
    pub grants: GrantsConfig,
    /// Where notifications go.
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// How ticket checks named by policy reach their tracker.
    #[serde(default)]
    pub tickets: crate::tickets::TicketsConfig,
    /// Targets, by connection name: `[connections.NAME]` with `kind` and how to reach it.
    /// A resource in policy names its connection.
    #[serde(default)]
    pub connections: std::collections::BTreeMap<String, warden_connectors::ConnectionConfig>,
    /// The SSH certificate authority.
    #[serde(default)]
    pub ssh: SshConfig,
    /// The reconciler.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// The audit log: checkpoint signing and SIEM exports.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The credential vault: how it unseals and how vaulted passwords rotate.
    #[serde(default)]
    pub vault: VaultConfig,
}

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

/// `[notifications]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// The channels; every event goes to each channel that subscribes to it.
    pub channel: Vec<ChannelConfig>,
    /// The mail server for `email` channels.
    pub smtp: Option<SmtpConfig>,
}

/// The kind of a notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A JSON POST signed with HMAC-SHA256 (`Warden-Signature` header).
    Webhook,
    /// A Slack-compatible incoming webhook (`{"text": ...}`).
    Slack,
    /// A Microsoft Teams-compatible incoming webhook (`{"text": ...}`).
    Teams,
    /// E-mail over SMTP (`[notifications.smtp]`).
    Email,
}

/// `[[notifications.channel]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// A name for logs and the outbox.
    pub name: String,
    /// What it is.
    pub kind: ChannelKind,
    /// Where to POST (webhook, slack, teams).
    #[serde(default)]
    pub url: Option<String>,
    /// The HMAC key of a `webhook` channel.
    #[serde(default)]
    pub secret: Option<secrecy::SecretString>,
    /// Recipients of an `email` channel.
    #[serde(default)]
    pub to: Vec<String>,
    /// Event names this channel receives; all when empty.
    #[serde(default)]
    pub events: Vec<String>,
    /// Allow a URL on a loopback or private address (refused by default).
    #[serde(default)]
    pub allow_internal: bool,
    /// For an `email` channel: also mail the people an event concerns (the approvers a
    /// request waits for, the holder of a grant, the manager who reviews a break-glass
    /// use), from their HR e-mail addresses.
    #[serde(default)]
    pub people: bool,
}

/// `[notifications.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `none` (loopback and tests only), `starttls` or `tls`.
    #[serde(default = "default_smtp_tls")]
    pub tls: String,
    /// Sender address.
    pub from: String,
    /// User name, when the server wants a login.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, when the server wants a login.
    #[serde(default)]
    pub password: Option<secrecy::SecretString>,
    /// Allow a server on a loopback, private or other internal address (a relay on this
    /// machine or the local network). Refused by default.
    #[serde(default)]
    pub allow_internal: bool,
}

fn default_smtp_tls() -> String {
    "starttls".to_owned()
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

/// What is wrong with the configuration. Each message names the file, the key or the
/// environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a bad value.
    #[error("invalid configuration file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An environment override is wrong.
    #[error("invalid environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {key}: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A value inside a list of tables is missing, out of range or inconsistent; the key
    /// carries the index (`notifications.channel[2].url`).
    #[error("invalid configuration: {key}: {message}")]
    InvalidAt {
        /// The key, with the index of its table.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The parser's message for an error in the file, at the place it concerns. toml reports
/// an unknown key of a table read through a tagged enum (`[connections.NAME]`,
/// `[audit.sinks.NAME]`) at the table's header; such a key is pointed at on its own line,
/// and its table named.
fn file_error(text: &str, e: &toml::de::Error) -> String {
    match unknown_key(text, e) {
        Some((span, table)) if Some(&span) != e.span().as_ref() => at_span(
            text,
            span,
            &format!("{}\nin `{}`", e.message(), table.join(".")),
        ),
        _ => e.to_string(),
    }
}

/// Where the key an "unknown field" error names is written, inside the table the error
/// points at, and that table's path.
fn unknown_key(text: &str, e: &toml::de::Error) -> Option<(std::ops::Range<usize>, Vec<String>)> {
    let key = e
        .message()
        .strip_prefix("unknown field `")?
        .split('`')
        .next()?;
    let at = e.span()?;
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    key_in_table(doc.get_ref(), &doc.span(), &at, key, &mut path).map(|span| (span, path))
}

/// The span of `key` in the table (or a table below it) whose own span is `at`; `path`
/// ends as the keys that lead to that table.
fn key_in_table(
    table: &toml::de::DeTable<'_>,
    span: &std::ops::Range<usize>,
    at: &std::ops::Range<usize>,
    key: &str,
    path: &mut Vec<String>,
) -> Option<std::ops::Range<usize>> {
    if span == at
        && let Some((k, _)) = table.iter().find(|(k, _)| k.get_ref() == key)
    {
        return Some(k.span());
    }
    for (name, v) in table.iter() {
        path.push(name.get_ref().to_string());
        let found = match v.get_ref() {
            toml::de::DeValue::Table(inner) => key_in_table(inner, &v.span(), at, key, path),
            toml::de::DeValue::Array(items) => {
                items.into_iter().find_map(|item| match item.get_ref() {
                    toml::de::DeValue::Table(inner) => {
                        key_in_table(inner, &item.span(), at, key, path)
                    }
                    _ => None,
                })
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        path.pop();
    }
    None
}

/// `message` shown as toml shows its own errors: line, column, the line itself and a
/// mark under `span`.
fn at_span(text: &str, span: std::ops::Range<usize>, message: &str) -> String {
    let before = text.get(..span.start).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    let content = text
        .get(line_start..)
        .and_then(|rest| rest.split('\n').next())
        .unwrap_or_default();
    let width = text
        .get(span.clone())
        .map_or(1, |s| s.chars().count().max(1));
    let gutter = " ".repeat(line.to_string().len() + 1);
    format!(
        "TOML parse error at line {line}, column {column}\n{gutter}|\n{line} | {content}\n{gutter}|{}{}\n{message}\n",
        " ".repeat(column),
        "^".repeat(width)
    )
}

/// The prefix of configuration overrides in the environment.
pub const ENV_PREFIX: &str = "WARDEN_";

impl Config {
    /// Reads `path` (if given), applies overrides from `env`, and checks the result.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (text, path) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                (text, path.to_owned())
            }
            None => (String::new(), PathBuf::from("<defaults>")),
        };
        Self::from_toml(&text, &path, env)
    }

    /// Parses configuration text (named `path` in errors), applies overrides, checks.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        // First pass on the file alone: its errors carry line and column.
        toml::from_str::<Config>(text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: file_error(text, &e),
        })?;
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut overrides: Vec<(String, Vec<String>)> = Vec::new();
        for (var, raw) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains("__") {
                continue;
            }
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if keys.iter().any(String::is_empty) {
                return Err(ConfigError::Env {
                    var,
                    message: "empty key part".to_owned(),
                });
            }
            set_path(&mut table, &keys, env_value(&raw)).map_err(|message| ConfigError::Env {
                var: var.clone(),
                message,
            })?;
            overrides.push((var, keys));
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let at: Vec<String> = e.path().iter().map(|seg| seg.to_string()).collect();
                let dotted = e.path().to_string();
                let message = e.inner().to_string();
                match overrides
                    .iter()
                    .find(|(_, keys)| keys.starts_with(&at) || at.starts_with(keys))
                {
                    Some((var, _)) => ConfigError::Env {
                        var: var.clone(),
                        message: format!("{dotted}: {message}"),
                    },
                    None => ConfigError::File {
                        path: path.to_owned(),
                        message: format!("{dotted}: {message}"),
                    },
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if self.server.body_limit_bytes < 1024 {
            return invalid("server.body_limit_bytes", "must be at least 1024");
        }
        if self.server.request_timeout_secs == 0 {
            return invalid("server.request_timeout_secs", "must be at least 1");
        }
        if self.storage.max_connections == 0 {
            return invalid("storage.max_connections", "must be at least 1");
        }
        for (name, c) in &self.connections {
            if let Err(e) = crate::connectors::build(name, c, &Default::default()) {
                return Err(ConfigError::InvalidAt {
                    key: format!("connections.{name}"),
                    message: e.to_string(),
                });
            }
        }
        if !(10..=1_000).contains(&self.audit.checkpoint_interval_ms) {
            return invalid(
                "audit.checkpoint_interval_ms",
                "must be between 10 and 1000",
            );
        }
        if self.audit.denials_per_minute == 0 {
            return invalid("audit.denials_per_minute", "must be at least 1");
        }
        if self.audit.denials_per_minute_all < self.audit.denials_per_minute {
            return invalid(
                "audit.denials_per_minute_all",
                "must be at least audit.denials_per_minute",
            );
        }
        for (name, sink) in &self.audit.sinks {
            let bad_name = name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if bad_name {
                return Err(ConfigError::InvalidAt {
                    key: format!("audit.sinks.{name}"),
                    message: "a sink name is 1-64 letters, digits, - and _".to_owned(),
                });
            }
            if let Err(said) = sink.validate(name) {
                // `validate` says `audit.sinks.NAME.FIELD: what is wrong`.
                let (key, message) = said
                    .split_once(": ")
                    .map(|(k, m)| (k.to_owned(), m.to_owned()))
                    .unwrap_or_else(|| (format!("audit.sinks.{name}"), said.clone()));
                return Err(ConfigError::InvalidAt { key, message });
            }
        }
        if let Err(e) = self.vault.default_rotation() {
            return invalid("vault.rotate_every", &e.to_string());
        }
        if self.vault.retry_base_secs == 0 || self.vault.retry_base_secs > self.vault.retry_max_secs
        {
            return invalid(
                "vault.retry_base_secs",
                "must be at least 1 and at most vault.retry_max_secs",
            );
        }
        if !(10..=60_000).contains(&self.vault.tick_ms) {
            return invalid("vault.tick_ms", "must be between 10 and 60000");
        }
        if self.ssh.certificate_max_secs < 10 || self.ssh.certificate_max_secs > 86_400 {
            return invalid("ssh.certificate_max_secs", "must be between 10 and 86400");
        }
        if self.storage.connect_timeout_secs == 0 {
            return invalid("storage.connect_timeout_secs", "must be at least 1");
        }
        let auth = &self.auth;
        if auth.session_ttl_secs < 60 {
            return invalid("auth.session_ttl_secs", "must be at least 60");
        }
        if auth.token_max_ttl_secs < 60 {
            return invalid("auth.token_max_ttl_secs", "must be at least 60");
        }
        if auth.token_default_ttl_secs < 60 || auth.token_default_ttl_secs > auth.token_max_ttl_secs
        {
            return invalid(
                "auth.token_default_ttl_secs",
                "must be between 60 and auth.token_max_ttl_secs",
            );
        }
        if auth.login_max_failures == 0 {
            return invalid("auth.login_max_failures", "must be at least 1");
        }
        if auth.login_failure_window_secs == 0 || auth.login_lockout_secs == 0 {
            return invalid(
                "auth.login_failure_window_secs",
                "window and lockout must be at least 1 second",
            );
        }
        if auth.login_attempts_per_source_per_minute == 0 {
            return invalid(
                "auth.login_attempts_per_source_per_minute",
                "must be at least 1",
            );
        }
        if let Some(url) = &self.storage.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return invalid("storage.url", "must start with sqlite:// or postgres://");
        }
        if let Some(tls) = &self.server.tls {
            for (key, file) in [
                ("server.tls.cert_file", &tls.cert_file),
                ("server.tls.key_file", &tls.key_file),
            ] {
                if let Err(e) = std::fs::File::open(file) {
                    return Err(ConfigError::Invalid {
                        key,
                        message: format!("cannot read {}: {e}", file.display()),
                    });
                }
            }
        }
        self.notifications.validate()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map(|_| ())
            .or_else(|e| invalid("log.level", &format!("{e}")))
    }
}

impl NotificationsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| Err(ConfigError::InvalidAt { key, message });
        if let Some(smtp) = &self.smtp {
            let key = |field: &str| format!("notifications.smtp.{field}");
            if smtp.host.trim().is_empty() {
                return invalid(key("host"), "must not be empty".to_owned());
            }
            if smtp.port == 0 {
                return invalid(key("port"), "must be between 1 and 65535".to_owned());
            }
            if !matches!(smtp.tls.as_str(), "none" | "starttls" | "tls") {
                return invalid(
                    key("tls"),
                    format!("is {:?}; must be none, starttls or tls", smtp.tls),
                );
            }
            if let Err(e) = smtp.from.parse::<lettre::message::Mailbox>() {
                return invalid(key("from"), format!("not an e-mail address: {e}"));
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                return invalid(
                    key("password"),
                    "username and password go together".to_owned(),
                );
            }
            let loopback = smtp.host == "localhost"
                || smtp
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !smtp.allow_internal
                && let Err(e) = crate::outbound::check_configured_host(&smtp.host)
            {
                return invalid(key("host"), e.to_string());
            }
            if smtp.tls == "none" && smtp.password.is_some() && !loopback {
                return invalid(
                    key("tls"),
                    "none would send the password in clear to a host that is not loopback; use starttls or tls".to_owned(),
                );
            }
        }
        for (i, channel) in self.channel.iter().enumerate() {
            let key = |field: &str| format!("notifications.channel[{i}].{field}");
            if channel.name.trim().is_empty() {
                return invalid(key("name"), "must not be empty".to_owned());
            }
            if self
                .channel
                .iter()
                .take(i)
                .any(|other| other.name == channel.name)
            {
                return invalid(
                    key("name"),
                    format!("{:?} is used by an earlier channel", channel.name),
                );
            }
            for event in &channel.events {
                if !crate::notify::events::ALL.contains(&event.as_str()) {
                    return invalid(
                        key("events"),
                        format!(
                            "unknown event {event:?}; known: {}",
                            crate::notify::events::ALL.join(", ")
                        ),
                    );
                }
            }
            match channel.kind {
                ChannelKind::Webhook | ChannelKind::Slack | ChannelKind::Teams => {
                    let Some(url) = &channel.url else {
                        return invalid(key("url"), "is required for this kind".to_owned());
                    };
                    if let Err(message) =
                        crate::notify::deliver::check_url(url, channel.allow_internal)
                    {
                        return invalid(key("url"), message);
                    }
                    if channel.kind == ChannelKind::Webhook && channel.secret.is_none() {
                        return invalid(
                            key("secret"),
                            "is required for a webhook (the HMAC key of Warden-Signature)"
                                .to_owned(),
                        );
                    }
                }
                ChannelKind::Email => {
                    if channel.to.is_empty() && !channel.people {
                        return invalid(
                            key("to"),
                            "needs at least one address (or people = true)".to_owned(),
                        );
                    }
                    for (j, to) in channel.to.iter().enumerate() {
                        if let Err(e) = to.parse::<lettre::message::Mailbox>() {
                            return invalid(
                                format!("notifications.channel[{i}].to[{j}]"),
                                format!("not an e-mail address: {e}"),
                            );
                        }
                    }
                    if self.smtp.is_none() {
                        return invalid(
                            "notifications.smtp".to_owned(),
                            format!("is required by the email channel notifications.channel[{i}]"),
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// An environment value as TOML when it parses as a TOML value (numbers, booleans,
/// arrays, quoted strings), and as a plain string otherwise.
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    match keys {
        [] => Err("no key".to_owned()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(format!("{first} is not a table")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_toml(
            text,
            Path::new("warden.toml"),
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn audit_sinks_are_read_and_checked() {
        let ok = load(
            "[audit]\ncheckpoint_interval_ms = 500\n\n[audit.sinks.soc]\nkind = \"syslog\"\naddress = \"127.0.0.1:6514\"\nallow_internal = true\n\n[audit.sinks.archive]\nkind = \"file\"\npath = \"/var/log/warden/audit.jsonl\"\n\n[audit.sinks.splunk]\nkind = \"http\"\nurl = \"https://splunk.example:8088/services/collector\"\ntoken_env = \"HEC_TOKEN\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(ok.audit.checkpoint_interval_ms, 500);
        assert_eq!(
            ok.audit.sinks.keys().collect::<Vec<_>>(),
            vec!["archive", "soc", "splunk"]
        );
        let show = |text: &str| match load(text, &[]) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        let port = show("[audit.sinks.soc]\nkind = \"syslog\"\naddress = \"nowhere\"\n");
        assert!(port.contains("audit.sinks.soc.address"), "{port}");
        let unknown = show("[audit.sinks.soc]\nkind = \"carrier-pigeon\"\n");
        assert!(unknown.contains("carrier-pigeon"), "{unknown}");
        let name = show("[audit.sinks.\"a b\"]\nkind = \"file\"\npath = \"/tmp/x\"\n");
        assert!(name.contains("audit.sinks.a b"), "{name}");
        let often = show("[audit]\ncheckpoint_interval_ms = 5000\n");
        assert!(often.contains("audit.checkpoint_interval_ms"), "{often}");
    }

    #[test]
    fn connections_are_checked_and_name_what_is_wrong() {
        let ok = load(
            "[connections.orders]\nkind = \"postgres\"\nuser = \"warden\"\npassword_env = \"PGPASS\"\n\n[connections.bastion]\nkind = \"ssh\"\nhost = \"bastion.internal\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(ok.connections.len(), 2);
        assert_eq!(
            ok.connections.get("orders").map(|c| c.kind()),
            Some("postgres")
        );
        let show = |text: &str| match load(text, &[]) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        let unknown = show("[connections.orders]\nkind = \"postgres\"\nuser = \"w\"\ncolour = 1\n");
        assert!(
            unknown.contains("connections.orders") && unknown.contains("colour"),
            "{unknown}"
        );
        let kind = show("[connections.crm]\nkind = \"oracle\"\nuser = \"w\"\n");
        // An unknown kind is named with its line and the kinds there are.
        assert!(
            kind.contains("line 2") && kind.contains("oracle") && kind.contains("postgres"),
            "{kind}"
        );
        let missing = show("[connections.cache]\nkind = \"mariadb\"\n");
        assert!(
            missing.contains("connections.cache") && missing.contains("user"),
            "{missing}"
        );
        let host =
            show("[connections.w]\nkind = \"mariadb\"\nuser = \"w\"\nuser_host = \"x' OR 1\"\n");
        assert!(host.contains("connections.w"), "{host}");
        // A password given inline never appears in what the configuration prints.
        let inline = load(
            "[connections.c]\nkind = \"redis\"\npassword = \"hunter2-not-shown\"\n",
            &[],
        )
        .unwrap();
        assert!(!format!("{inline:?}").contains("hunter2-not-shown"));
    }

    #[test]
    fn defaults_are_valid() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8700");
        assert_eq!(
            config.storage.effective_url(),
            "sqlite:///var/lib/warden/warden.db"
        );
        assert_eq!(config.log.format, LogFormat::Text);
    }

    #[test]
    fn file_values_are_read() {
        let config = load(
            "[server]\nlisten = \"0.0.0.0:9000\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n[storage]\nurl = \"postgres://w@db/w\"\n[log]\nformat = \"json\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.server.trusted_proxies.len(), 1);
        assert_eq!(config.storage.effective_url(), "postgres://w@db/w");
        assert_eq!(config.log.format, LogFormat::Json);
    }

    #[test]
    fn unknown_key_in_file_is_named_with_its_line() {
        let err = load("[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 9\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("warden.toml"), "{err}");
        assert!(err.contains("listen_port"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    /// A regression test: an unknown key of a connection or an audit sink (tables read by
    /// their `kind`) was reported at the table's header line, not its own.
    #[test]
    fn unknown_key_of_a_tagged_table_is_named_at_its_own_line_and_column() {
        let err = load(
            "[server]\nlisten = \"127.0.0.1:1\"\n\n[connections.orders]\nkind = \"postgres\"\nuser = \"w\"\n  colour = 1\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("warden.toml"), "{err}");
        assert!(err.contains("line 7, column 3"), "{err}");
        assert!(err.contains("7 |   colour = 1"), "{err}");
        assert!(err.contains("  |   ^^^^^^\n"), "{err}");
        assert!(err.contains("unknown field `colour`"), "{err}");
        assert!(err.contains("in `connections.orders`"), "{err}");
        assert!(!err.contains("[connections.orders]"), "{err}");

        let err = load(
            "[audit.sinks.soc]\nkind = \"syslog\"\naddress = \"127.0.0.1:6514\"\nfacilty = \"auth\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 4, column 1"), "{err}");
        assert!(err.contains("unknown field `facilty`"), "{err}");
        // An inline table too.
        let err = load(
            "connections.c = { kind = \"redis\", passwd = \"x\" }\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 1, column 35"), "{err}");
    }

    #[test]
    fn unknown_section_is_named() {
        let err = load("[storge]\nurl = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("storge"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = load("[server]\nlisten = \"not an address\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn env_overrides_apply_with_types() {
        let config = load(
            "[auth]\nsession_ttl_secs = 600\n",
            &[
                ("WARDEN_AUTH__SESSION_TTL_SECS", "3600"),
                ("WARDEN_STORAGE__URL", "postgres://warden@127.0.0.1/warden"),
                ("WARDEN_SERVER__LISTEN", "127.0.0.1:9100"),
                ("WARDEN_LOG__FORMAT", "json"),
                ("WARDEN_ADDR", "http://ignored"),
                ("WARDEN_TOKEN", "ignored"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        assert_eq!(config.auth.session_ttl_secs, 3600);
        assert_eq!(
            config.storage.url.as_deref(),
            Some("postgres://warden@127.0.0.1/warden")
        );
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(config.log.format, LogFormat::Json);
    }

    #[test]
    fn unknown_env_key_names_the_variable() {
        let err = load("", &[("WARDEN_STORAGE__URLL", "sqlite://x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("WARDEN_STORAGE__URLL"), "{err}");
        assert!(err.contains("urll"), "{err}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let err = load("", &[("WARDEN_AUTH__LOGIN_MAX_FAILURES", "many")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("WARDEN_AUTH__LOGIN_MAX_FAILURES"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for (text, key) in [
            (
                "[server]\nbody_limit_bytes = 10\n",
                "server.body_limit_bytes",
            ),
            (
                "[auth]\nlogin_max_failures = 0\n",
                "auth.login_max_failures",
            ),
            (
                "[auth]\ntoken_default_ttl_secs = 999999999\n",
                "auth.token_default_ttl_secs",
            ),
            ("[storage]\nurl = \"mysql://x\"\n", "storage.url"),
            ("[log]\nlevel = \"[[[\"\n", "log.level"),
            (
                "[server.tls]\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"/nonexistent/k.pem\"\n",
                "server.tls.cert_file",
            ),
        ] {
            let err = load(text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
