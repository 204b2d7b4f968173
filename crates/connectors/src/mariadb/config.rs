//! The configuration of one MariaDB connection (`kind = "mariadb"`) and the check of the
//! host part of the accounts Warden creates.

use super::*;

/// The configuration of one MariaDB connection (`[connections.NAME]` with
/// `kind = "mariadb"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server's address, as Warden reaches it (TCP only).
    #[serde(default = "default_host")]
    pub host: String,
    /// The server's port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The admin user Warden logs in as; it needs `CREATE USER`, `GRANT OPTION` with the
    /// privileges roles grant, `PROCESS`, `CONNECTION ADMIN` (or `SUPER`) and `SELECT` on
    /// `mysql`.
    pub user: String,
    /// Inline admin password (development only); see [`AdminSecret`].
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The environment variable holding the admin password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the admin password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The vaulted account holding the admin password (read through the connector's
    /// [`PasswordSource`], see [`Mariadb::with_passwords`]).
    #[serde(default)]
    pub password_vault: Option<String>,
    /// The host part of the accounts Warden creates (`%`, `localhost`, an address or a
    /// pattern of `A-Z a-z 0-9 . % _ -`).
    #[serde(default = "default_user_host")]
    pub user_host: String,
    /// The host people connect to, for credential hints (default: `host`).
    #[serde(default)]
    pub public_host: Option<String>,
    /// A database to name in credential hints; only a hint for people.
    #[serde(default)]
    pub database: Option<String>,
    /// The most admin connections open at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long to wait for an admin connection, in seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

fn default_port() -> u16 {
    3306
}

fn default_user_host() -> String {
    "%".to_owned()
}

fn default_max_connections() -> usize {
    4
}

fn default_connect_timeout() -> u64 {
    5
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

    /// Checks what can be checked without reaching the server.
    pub(super) fn check(&self) -> Result<(), ConnectorError> {
        let refuse = |m: String| Err(ConnectorError::Refused(m));
        if self.host.trim().is_empty() {
            return refuse("mariadb: `host` is empty".to_owned());
        }
        if self.user.is_empty() {
            return refuse("mariadb: `user` is empty".to_owned());
        }
        if let Err(e) = self.admin_secret().check() {
            return refuse(format!("mariadb: {e}"));
        }
        check_user_host(&self.user_host).map_err(|e| ConnectorError::Refused(e.to_string()))?;
        if self.max_connections == 0 {
            return refuse("mariadb: `max_connections` must be at least 1".to_owned());
        }
        if self.connect_timeout_secs == 0 {
            return refuse("mariadb: `connect_timeout_secs` must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// A `user_host` that [`check_user_host`] refuses; holds it as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mariadb: `user_host` {0:?} is not `%`, `localhost` or a host of A-Z a-z 0-9 . % _ -")]
pub struct BadUserHost(pub String);

/// Checks the host part of the accounts Warden creates: `%`, `localhost`, or an address,
/// host name or pattern of 1 to 255 characters of `A-Z a-z 0-9 . % _ -`.
pub fn check_user_host(host: &str) -> Result<(), BadUserHost> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '%' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BadUserHost(host.to_owned()))
    }
}
