//! Warden's connectors to real targets: PostgreSQL, MariaDB and Redis (dynamic accounts
//! made for a grant and dropped when it ends) and OpenSSH (short-lived user certificates
//! signed by Warden's certificate authority). Each implements
//! [`warden_core::connector::Connector`] for one configured connection.
//!
//! A connection's configuration names the target and the admin account the connector
//! logs in with. Nothing in a request reaches a statement: account names are generated
//! ([`AccessSpec::account_name`](warden_core::connector::AccessSpec::account_name)), role
//! mappings are validated by policy, and every name is still quoted or escaped here.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use warden_core::connector::ConnectorError;

pub mod keyfile;
pub mod mariadb;
pub mod postgres;
pub mod redis;
pub mod ssh;

/// One `[connections.NAME]` table of the server's configuration, by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConnectionConfig {
    /// A PostgreSQL server.
    Postgres(postgres::Config),
    /// A MariaDB server.
    Mariadb(mariadb::Config),
    /// A Redis server.
    Redis(redis::Config),
    /// OpenSSH hosts that trust Warden's certificate authority.
    Ssh(ssh::Config),
}

impl ConnectionConfig {
    /// The resource kind this connection serves, as policy names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Mariadb(_) => "mariadb",
            Self::Redis(_) => "redis",
            Self::Ssh(_) => "ssh",
        }
    }
}

/// Where a connector's admin password comes from: the environment variable or file it
/// names (a trailing newline is dropped), or (for development only) inline.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminSecret {
    /// Inline password; prefer the other two.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl AdminSecret {
    /// The password, if one is configured. An environment variable or file that is named
    /// but missing is an error that names it (never the value).
    pub fn resolve(&self) -> Result<Option<SecretString>, ConnectorError> {
        if let Some(p) = &self.password {
            return Ok(Some(p.clone()));
        }
        if let Some(var) = &self.password_env {
            return std::env::var(var)
                .map(|v| Some(SecretString::from(v)))
                .map_err(|_| {
                    ConnectorError::Refused(format!("environment variable {var} is not set"))
                });
        }
        if let Some(path) = &self.password_file {
            let raw = std::fs::read_to_string(path).map_err(|e| {
                ConnectorError::Refused(format!("cannot read {}: {e}", path.display()))
            })?;
            let trimmed = raw.strip_suffix('\n').unwrap_or(&raw);
            let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
            return Ok(Some(SecretString::from(trimmed.to_owned())));
        }
        Ok(None)
    }
}
