//! The configuration of one PostgreSQL connection (`kind = "postgres"`).

use super::*;

/// The configuration of one PostgreSQL connection (`kind = "postgres"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host name or address of the server.
    #[serde(default = "default_host")]
    pub host: String,
    /// Port of the server.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The admin login the connector uses.
    pub user: String,
    /// The database the connector connects to (a revocation also connects to any other
    /// database where the login owns objects), also handed to holders as a hint.
    #[serde(default = "default_database")]
    pub database: String,
    /// The admin password inline (development only; see [`AdminSecret`]).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The environment variable holding the admin password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the admin password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The vaulted account holding the admin password (read through the connector's
    /// [`PasswordSource`], see [`Postgres::with_passwords`]).
    #[serde(default)]
    pub password_vault: Option<String>,
    /// The host name people connect to, given in credential hints (default: `host`).
    #[serde(default)]
    pub public_host: Option<String>,
    /// The most admin connections kept open and used at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long to wait for a connection to the server, in seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    5432
}

fn default_database() -> String {
    "postgres".to_owned()
}

fn default_max_connections() -> usize {
    4
}

fn default_connect_timeout() -> u64 {
    5
}

impl Config {
    /// Where the admin password comes from.
    pub(super) fn admin_secret(&self) -> AdminSecret {
        AdminSecret {
            password: self.password.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            password_vault: self.password_vault.clone(),
        }
    }
}
