//! The connectors in force. A resource's `connection` names a `[connections.NAME]` table
//! of the configuration, which says the target's kind and how to reach it; the connector
//! made from it serves every resource naming it. `[grants] record_only = true` puts the
//! [`Recording`] connector behind every resource whose connection is not configured: it
//! keeps the access it is given in Warden's own database, so the whole lifecycle can be
//! tried, demonstrated and tested without touching a target. Without it, a resource with
//! no connector fails its grants (and alerts) rather than pretending.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use warden_connectors::PasswordSource;
use warden_core::Clock;
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, Presence,
};
use warden_store::Store;

/// The connectors by connection name (and, for tests, by resource kind).
#[derive(Clone, Default)]
pub struct Connectors {
    by_connection: HashMap<String, (String, Arc<dyn Connector>)>,
    by_kind: HashMap<String, Arc<dyn Connector>>,
    fallback: Option<Arc<dyn Connector>>,
}

impl fmt::Debug for Connectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connectors")
            .field(
                "connections",
                &self.by_connection.keys().collect::<Vec<_>>(),
            )
            .field("kinds", &self.by_kind.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl Connectors {
    /// No connectors: every grant fails.
    pub fn none() -> Self {
        Self::default()
    }

    /// `connector` for every kind without its own.
    pub fn with_fallback(mut self, connector: Arc<dyn Connector>) -> Self {
        self.fallback = Some(connector);
        self
    }

    /// `connector` for resources of `kind`.
    pub fn with(mut self, kind: &str, connector: Arc<dyn Connector>) -> Self {
        self.by_kind.insert(kind.to_owned(), connector);
        self
    }

    /// `connector` for the connection `name`, which reaches targets of `kind`.
    pub fn with_connection(
        mut self,
        name: &str,
        kind: &str,
        connector: Arc<dyn Connector>,
    ) -> Self {
        self.by_connection
            .insert(name.to_owned(), (kind.to_owned(), connector));
        self
    }

    /// The connector for a resource of `kind` reached through `connection`: the
    /// connection's own, else one for the kind, else the fallback. A connection
    /// configured for another kind serves nothing here: the error says so.
    pub fn for_resource(
        &self,
        kind: &str,
        connection: &str,
    ) -> Result<Arc<dyn Connector>, ConnectorError> {
        if let Some((configured, c)) = self.by_connection.get(connection) {
            if configured != kind {
                return Err(ConnectorError::Refused(format!(
                    "connection {connection} is configured for {configured}, but the resource is {kind}"
                )));
            }
            return Ok(c.clone());
        }
        self.by_kind
            .get(kind)
            .cloned()
            .or_else(|| self.fallback.clone())
            .ok_or_else(|| {
                ConnectorError::Refused(format!(
                    "no connection {connection} is configured ([connections.{connection}]), and grants are not record-only"
                ))
            })
    }

    /// The connectors the configuration's `[connections.NAME]` tables describe. Making one
    /// does no I/O; a connection whose settings are wrong is an error naming it.
    /// `with` gives what connectors need beyond their table: the vault's admin
    /// passwords, the SSH CA key file and the clock.
    pub fn from_config(
        connections: &std::collections::BTreeMap<String, warden_connectors::ConnectionConfig>,
        with: &Extras,
    ) -> Result<Self, ConnectionError> {
        let mut out = Self::none();
        for (name, c) in connections {
            let connector = build(name, c, with).map_err(|source| ConnectionError {
                name: name.clone(),
                source,
            })?;
            out = out.with_connection(name, c.kind(), connector);
        }
        Ok(out)
    }

    /// The connector configured for connection `name` and its kind, if any.
    pub fn configured(&self, name: &str) -> Option<(&str, Arc<dyn Connector>)> {
        self.by_connection
            .get(name)
            .map(|(kind, c)| (kind.as_str(), c.clone()))
    }
}

/// A `[connections.NAME]` table no connector can be made from.
#[derive(Debug, Clone, thiserror::Error)]
#[error("connections.{name}: {source}")]
pub struct ConnectionError {
    /// The connection's name.
    pub name: String,
    /// Why its connector refused the settings.
    pub source: ConnectorError,
}

/// What connectors need beyond their `[connections.NAME]` table.
#[derive(Clone, Default)]
pub struct Extras {
    /// Admin passwords kept in the vault (`password_vault`).
    pub passwords: Option<Arc<dyn PasswordSource>>,
    /// The SSH CA's key file: an SSH connection logs in to its hosts with certificates
    /// it signs, to change vaulted host account passwords.
    pub ssh_ca_file: Option<std::path::PathBuf>,
    /// The clock certificates are dated by.
    pub clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for Extras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extras")
            .field("passwords", &self.passwords.is_some())
            .field("ssh_ca_file", &self.ssh_ca_file)
            .finish_non_exhaustive()
    }
}

/// The connector for one configured connection.
pub fn build(
    name: &str,
    config: &warden_connectors::ConnectionConfig,
    with: &Extras,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    use warden_connectors::{ConnectionConfig as C, mariadb, postgres, redis, ssh};
    let passwords = with.passwords.clone();
    Ok(match (config, passwords) {
        (C::Postgres(c), Some(p)) => {
            Arc::new(postgres::Postgres::new(name, c.clone())?.with_passwords(p))
        }
        (C::Postgres(c), None) => Arc::new(postgres::Postgres::new(name, c.clone())?),
        (C::Mariadb(c), Some(p)) => {
            Arc::new(mariadb::Mariadb::new(name, c.clone())?.with_passwords(p))
        }
        (C::Mariadb(c), None) => Arc::new(mariadb::Mariadb::new(name, c.clone())?),
        (C::Redis(c), Some(p)) => Arc::new(redis::Redis::new(name, c.clone())?.with_passwords(p)),
        (C::Redis(c), None) => Arc::new(redis::Redis::new(name, c.clone())?),
        (C::Ssh(c), _) => {
            let mut hosts = ssh::SshHosts::new(name, c.clone());
            if let Some(path) = &with.ssh_ca_file {
                hosts = hosts.with_ca_file(path.clone());
            }
            if let Some(clock) = &with.clock {
                hosts = hosts.with_clock(Arc::clone(clock));
            }
            Arc::new(hosts)
        }
    })
}

/// Records access in Warden's database instead of a target. Failures can be injected per
/// resource, to exercise retries, backoff and alerts.
pub struct Recording {
    store: Store,
    clock: Arc<dyn Clock>,
    faults: Mutex<HashMap<String, ConnectorError>>,
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording").finish_non_exhaustive()
    }
}

impl Recording {
    /// A recording connector over `store`.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            faults: Mutex::new(HashMap::new()),
        }
    }

    /// Makes every call for `resource` fail with `error` (or succeed again with `None`).
    pub fn set_fault(&self, resource: &str, error: Option<ConnectorError>) {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        match error {
            Some(e) => faults.insert(resource.to_owned(), e),
            None => faults.remove(resource),
        };
    }

    fn fault(&self, resource: &str) -> Result<(), ConnectorError> {
        match self
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(resource)
        {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn unavailable(e: impl fmt::Display) -> ConnectorError {
    ConnectorError::Unavailable(e.to_string())
}

impl Connector for Recording {
    fn grant<'a>(&'a self, a: &'a AccessSpec) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(async move {
            self.fault(&a.resource)?;
            self.store
                .record_access(
                    a.identity,
                    &a.resource,
                    &a.role,
                    a.until,
                    a.grant,
                    self.clock.now(),
                )
                .await
                .map_err(unavailable)?;
            Ok(format!(
                "recorded:{}:{}:{}",
                a.employee_id, a.resource, a.role
            ))
        })
    }

    fn revoke<'a>(
        &'a self,
        a: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.fault(&a.resource)?;
            self.store
                .erase_access(a.identity, &a.resource, &a.role, a.grant, self.clock.now())
                .await
                .map_err(unavailable)
        })
    }

    fn verify<'a>(
        &'a self,
        a: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>> {
        Box::pin(async move {
            self.fault(&a.resource)?;
            let until = self
                .store
                .recorded_access(a.identity, &a.resource, &a.role)
                .await
                .map_err(unavailable)?;
            Ok(match until {
                Some(until) => Presence::Present { until: Some(until) },
                None => Presence::Absent,
            })
        })
    }

    fn credential<'a>(
        &'a self,
        a: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Credential, ConnectorError>> {
        Box::pin(async move {
            self.fault(&a.resource)?;
            let secret = warden_core::secret::generate_password(32)
                .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
            let mut hints = std::collections::BTreeMap::new();
            hints.insert(
                "note".to_owned(),
                "record-only: this password opens nothing".to_owned(),
            );
            Ok(Credential {
                username: a.account_name(),
                secret,
                hints,
            })
        })
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn remove<'a>(&'a self, _account: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }
}
