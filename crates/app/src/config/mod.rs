//! Configuration: one typed struct, read once from `warden.toml` and `WARDEN_*` environment
//! overrides, checked, and passed explicitly to whatever needs it.
//!
//! An override names a key by its path with `__` between the parts:
//! `WARDEN_STORAGE__URL`, `WARDEN_SERVER__TLS__CERT_FILE`, `WARDEN_AUTH__SESSION_TTL_SECS`.
//! Variables without `__` (`WARDEN_ADDR`, `WARDEN_TOKEN`) belong to the client and are
//! ignored here. Unknown keys, in the file or the environment, are errors naming the key.

mod error;
mod notifications;
mod sections;

pub use error::ConfigError;
pub use notifications::{ChannelConfig, ChannelKind, NotificationsConfig, SmtpConfig};
pub use sections::{
    AuditConfig, AuthConfig, GrantsConfig, LogConfig, LogFormat, ReconcileConfig, ServerConfig,
    SshConfig, StorageConfig, TlsConfig, VaultConfig,
};

use std::path::{Path, PathBuf};

use serde::Deserialize;

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
            message: error::file_error(text, &e),
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

    /// Checks what the types cannot say, in a fixed order; the first problem found is the
    /// error.
    fn validate(&self) -> Result<(), ConfigError> {
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
        self.validate_audit()?;
        self.validate_vault()?;
        if self.ssh.certificate_max_secs < 10 || self.ssh.certificate_max_secs > 86_400 {
            return invalid("ssh.certificate_max_secs", "must be between 10 and 86400");
        }
        if self.storage.connect_timeout_secs == 0 {
            return invalid("storage.connect_timeout_secs", "must be at least 1");
        }
        self.validate_auth()?;
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

    /// Checks `[audit]`: the checkpoint interval, the denial rates, and each sink's name
    /// and settings.
    fn validate_audit(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// Checks `[vault]`: the default rotation, the retry backoff and the worker's tick.
    fn validate_vault(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// Checks `[auth]`: session and token lifetimes, and login throttling.
    fn validate_auth(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }
}

/// The error of the value at `key`, out of range or inconsistent.
fn invalid(key: &'static str, message: &str) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key,
        message: message.to_owned(),
    })
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
