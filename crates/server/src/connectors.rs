//! The connectors in force, by resource kind. Until target connectors are configured,
//! `[grants] record_only = true` puts the [`Recording`] connector behind every kind: it
//! keeps the access it is given in Warden's own database, so the whole lifecycle can be
//! tried, demonstrated and tested without touching a target. Without it, a kind with no
//! connector fails its grants (and alerts) rather than pretending.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use warden_core::Clock;
use warden_core::connector::{AccessSpec, BoxFuture, Connector, ConnectorError, Presence};
use warden_store::Store;

/// The connectors by resource kind.
#[derive(Clone, Default)]
pub struct Connectors {
    by_kind: HashMap<String, Arc<dyn Connector>>,
    fallback: Option<Arc<dyn Connector>>,
}

impl fmt::Debug for Connectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connectors")
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

    /// The connector for `kind`.
    pub fn for_kind(&self, kind: &str) -> Option<Arc<dyn Connector>> {
        self.by_kind
            .get(kind)
            .cloned()
            .or_else(|| self.fallback.clone())
    }
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
}
