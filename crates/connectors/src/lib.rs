//! Warden's connectors to real targets: PostgreSQL, MariaDB and Redis (dynamic accounts
//! made for a grant and dropped when it ends) and OpenSSH (short-lived user certificates
//! signed by Warden's certificate authority). Each implements
//! [`warden_core::connector::Connector`] for one configured connection.
//!
//! A connection's configuration names the target and the admin account the connector
//! logs in with; its password may be kept in Warden's vault (`password_vault`), read
//! through a [`PasswordSource`] each time the connector opens an admin connection.
//! Nothing in a request reaches a statement: account names are generated
//! ([`AccessSpec::account_name`](warden_core::connector::AccessSpec::account_name)), role
//! mappings are validated by policy, and every name is still quoted or escaped here.
//!
//! The PostgreSQL, MariaDB and Redis connectors also manage passwords of existing
//! accounts for the vault's rotation ([`Connector::set_password`] applies one,
//! [`Connector::check_login`] proves it works); a password never appears in their
//! errors, logs or `Debug` output.
//!
//! [`Connector::set_password`]: warden_core::connector::Connector::set_password
//! [`Connector::check_login`]: warden_core::connector::Connector::check_login

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use warden_core::connector::{BoxFuture, ConnectorError};

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

    /// The vaulted account holding the connection's admin password, when the vault keeps
    /// it (`password_vault`); never for SSH, whose connector holds no admin password.
    pub fn password_vault(&self) -> Option<&str> {
        match self {
            Self::Postgres(c) => c.password_vault.as_deref(),
            Self::Mariadb(c) => c.password_vault.as_deref(),
            Self::Redis(c) => c.password_vault.as_deref(),
            Self::Ssh(_) => None,
        }
    }
}

/// Where connectors read admin passwords kept in Warden's vault.
pub trait PasswordSource: Send + Sync + std::fmt::Debug {
    /// The current password of the vaulted account `account` (its name in the vault).
    fn password<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<SecretString, ConnectorError>>;
}

/// Why a connection's admin password settings ([`AdminSecret`]) are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminSecretError {
    /// More than one source of the password is set; holds the names of those set.
    #[error(
        "set at most one of password, password_env, password_file and password_vault (found {})",
        .0.join(" and ")
    )]
    Conflict(Vec<&'static str>),
    /// `password_vault` is blank.
    #[error("password_vault names no vaulted account")]
    NoVaultAccount,
}

/// Where a connector's admin password comes from: the environment variable or file it
/// names (a trailing newline is dropped), the vault (the vaulted account it names, read
/// through a [`PasswordSource`]), or (for development only) inline. At most one of the
/// four may be set ([`check`](Self::check)); none means no password.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminSecret {
    /// Inline password; prefer the others.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The vaulted account holding the password.
    #[serde(default)]
    pub password_vault: Option<String>,
}

impl AdminSecret {
    /// Refuses more than one source of the password, naming those that clash (never a
    /// value), and an empty vault account name.
    pub fn check(&self) -> Result<(), AdminSecretError> {
        let set: Vec<&'static str> = [
            ("password", self.password.is_some()),
            ("password_env", self.password_env.is_some()),
            ("password_file", self.password_file.is_some()),
            ("password_vault", self.password_vault.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if set.len() > 1 {
            return Err(AdminSecretError::Conflict(set));
        }
        if self
            .password_vault
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return Err(AdminSecretError::NoVaultAccount);
        }
        Ok(())
    }

    /// The password, if one is configured, from the three sources outside the vault. An
    /// environment variable or file that is named but missing is an error that names it
    /// (never the value); so is a password kept in the vault, which only
    /// [`resolve_with`](Self::resolve_with) can read.
    pub fn resolve(&self) -> Result<Option<SecretString>, ConnectorError> {
        self.check()
            .map_err(|e| ConnectorError::Refused(e.to_string()))?;
        if let Some(account) = &self.password_vault {
            return Err(ConnectorError::Refused(format!(
                "the admin password is kept in the vault (account {account}); it is read through the vault"
            )));
        }
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

    /// The password of the connection `connection` (as messages name it, such as
    /// `postgres connection main`), wherever it is kept: with `password_vault`, asked of
    /// `vault` (unavailable when there is none); otherwise [`resolve`](Self::resolve).
    /// Asked anew on every call, so a connector that calls it for each new admin
    /// connection picks up a password the vault has rotated.
    pub async fn resolve_with(
        &self,
        connection: &str,
        vault: Option<&dyn PasswordSource>,
    ) -> Result<Option<SecretString>, ConnectorError> {
        let Some(account) = &self.password_vault else {
            return self.resolve();
        };
        self.check()
            .map_err(|e| ConnectorError::Refused(format!("{connection}: {e}")))?;
        let Some(vault) = vault else {
            return Err(ConnectorError::Unavailable(format!(
                "{connection} takes its admin password from the vault account {account}, but the vault is not available"
            )));
        };
        let context = |m: String| {
            format!(
                "{connection}: reading the admin password from the vault account {account}: {m}"
            )
        };
        match vault.password(account).await {
            Ok(p) => Ok(Some(p)),
            Err(ConnectorError::Unavailable(m)) => Err(ConnectorError::Unavailable(context(m))),
            Err(ConnectorError::Refused(m)) => Err(ConnectorError::Refused(context(m))),
        }
    }
}
