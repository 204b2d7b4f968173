//! The contract between Warden and a target system. A connector creates, removes and
//! checks one access (an identity holding a role on a resource) on its target. Every call
//! is idempotent: granting what exists moves its end, revoking what is gone succeeds, so
//! the expiry worker can retry any step after a crash or a failure without harm.
//!
//! Errors say whether trying again can help ([`ConnectorError::retryable`]); the worker
//! retries with [`retry_delay`] per grant, so one failing target never holds up the
//! others, and alerts after [`ALERT_AFTER`] failures while it goes on trying.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A boxed future, so connectors can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One access on a target, as a connector sees it. Connection details and the target's
/// admin credentials are the connector's own configuration, never part of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSpec {
    /// The grant this call serves.
    pub grant: Uuid,
    /// The identity holding the access.
    pub identity: Uuid,
    /// Its employee id.
    pub employee_id: String,
    /// The resource's name in policy.
    pub resource: String,
    /// The resource's kind (`postgres`, `ssh`, ...).
    pub kind: String,
    /// The resource's connection name (a key into the connector's configuration).
    pub connection: String,
    /// The role's name.
    pub role: String,
    /// When the access must end on the target (the latest end of its live grants).
    pub until: OffsetDateTime,
}

/// Whether an access exists on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It exists (until the given end, where the target keeps one).
    Present {
        /// The end the target enforces, if it has one.
        until: Option<OffsetDateTime>,
    },
    /// It does not.
    Absent,
}

/// Why a connector call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The target could not be reached or answered with a temporary failure: retry.
    #[error("target unavailable: {0}")]
    Unavailable(String),
    /// The target refused (bad configuration, missing permission, unknown role): retrying
    /// the same call will not help until someone fixes it, though the worker still
    /// retries a revocation, since access that should be gone must not stay.
    #[error("target refused: {0}")]
    Refused(String),
}

impl ConnectorError {
    /// Whether a retry can succeed without anyone changing anything.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A target system.
pub trait Connector: Send + Sync + Debug {
    /// Creates the access, or moves its end to `access.until` when it exists. Returns
    /// the connector's handle for it (a generated account name, say), kept with the grant.
    fn grant<'a>(&'a self, access: &'a AccessSpec)
    -> BoxFuture<'a, Result<String, ConnectorError>>;

    /// Removes the access and cuts sessions using it. Succeeds when it is already gone.
    fn revoke<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Whether the access exists on the target.
    fn verify<'a>(
        &'a self,
        access: &'a AccessSpec,
        handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>>;
}

/// Failures after which security is alerted; retries go on.
pub const ALERT_AFTER: i32 = 3;

/// How long to wait before attempt `attempts + 1` after `attempts` failures: one second,
/// doubling, at most five minutes.
pub fn retry_delay(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let secs = 1_i64.checked_shl(exp).unwrap_or(i64::MAX).min(300);
    Duration::seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_to_a_ceiling() {
        let d: Vec<i64> = (1..=11).map(|n| retry_delay(n).whole_seconds()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(retry_delay(0).whole_seconds(), 1);
        assert_eq!(retry_delay(i32::MAX).whole_seconds(), 300);
    }

    #[test]
    fn only_unavailability_is_worth_a_blind_retry() {
        assert!(ConnectorError::Unavailable("timeout".into()).retryable());
        assert!(!ConnectorError::Refused("no such role".into()).retryable());
    }
}
