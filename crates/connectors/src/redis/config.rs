//! The configuration of one Redis connection (`kind = "redis"`).

use super::*;

/// The connection's configuration: the server and the admin ACL user the connector logs
/// in with (it needs the `@admin` commands `ACL` and `CLIENT KILL`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server's host name or address.
    #[serde(default = "default_host")]
    pub host: String,
    /// The server's port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The admin ACL user.
    #[serde(default = "default_user")]
    pub user: String,
    /// The admin password inline (development only; prefer the others). None of the
    /// four: the admin user has `nopass`.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The environment variable holding the admin password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the admin password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The vaulted account holding the admin password (read through the connector's
    /// [`PasswordSource`], see [`Redis::with_passwords`]).
    #[serde(default)]
    pub password_vault: Option<String>,
    /// The host name people connect to, given in credential hints (default: `host`).
    #[serde(default)]
    pub public_host: Option<String>,
    /// Seconds to wait for a connection (and its `AUTH`).
    #[serde(default = "default_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds to wait for the answer to a command.
    #[serde(default = "default_timeout")]
    pub response_timeout_secs: u64,
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    6379
}

fn default_user() -> String {
    "default".to_owned()
}

fn default_timeout() -> u64 {
    5
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            user: default_user(),
            password: None,
            password_env: None,
            password_file: None,
            password_vault: None,
            public_host: None,
            connect_timeout_secs: default_timeout(),
            response_timeout_secs: default_timeout(),
        }
    }
}

impl Config {
    /// Where the admin password comes from.
    pub fn admin_secret(&self) -> AdminSecret {
        AdminSecret {
            password: self.password.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            password_vault: self.password_vault.clone(),
        }
    }
}
