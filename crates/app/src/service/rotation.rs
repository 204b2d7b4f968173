//! The rotation worker: it changes vaulted passwords on their targets, settles rotations
//! a crash interrupted, checks in what ended grants still hold, and re-seals secrets
//! under the newest data key after a key rotation.
//!
//! One rotation: generate a password from the account's policy → store it encrypted as
//! the *pending* version → apply it on the target → log in with it → commit it as the
//! current version. Every attempt makes a new password, so a failed one is never tried
//! again. When the target refuses, the pending version is dropped and the old password,
//! which still works, stays current. When the outcome is unknown (the target stopped
//! answering, or the new password does not log in), the pending version is kept and
//! settled by logging in: the new one works → commit; the old one works → drop the new;
//! neither → keep both and alert. Failures back off exponentially (`[vault]
//! retry_base_secs` doubling up to `retry_max_secs`); the third in a row alerts
//! (`vault.rotation_failing`). A pending version found at start is settled the same way.
//!
//! The worker runs on one replica at a time (lease `vault-rotation`), so rotations of an
//! account never overlap.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::Duration;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::connector::ConnectorError;
use warden_store::{RotationFailure, SecretVersion, StoreError, VaultAccount};
use warden_vault::PasswordPolicy;

use super::accounts::{connector_of, require_password_check};
use crate::notify::{self, Notice, events};
use crate::state::AppState;
use crate::vault::Keyring;

/// Failures in a row after which security is alerted; retries go on.
pub const ALERT_AFTER: u32 = 3;

/// Accounts rotated per pass at most.
const BATCH: u64 = 100;

/// Secrets re-sealed per pass at most.
const REWRAP_BATCH: u64 = 500;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Check-outs taken back because their grant ended or their time ran out.
    pub checked_in: usize,
    /// Interrupted rotations settled (committed or dropped).
    pub recovered: usize,
    /// Passwords rotated and committed.
    pub rotated: usize,
    /// Rotations that failed (or stay unsettled).
    pub failed: usize,
    /// Secrets re-sealed under the active data key.
    pub rewrapped: u64,
}

/// Wakes the rotation worker.
pub fn wake(state: &AppState) {
    state.rotation_waker().notify_one();
}

/// Runs passes for ever, on the replica holding the lease, every `[vault] tick_ms` or
/// when woken.
pub async fn run(state: AppState) {
    let waker = state.rotation_waker();
    let period = StdDuration::from_millis(state.config().vault.tick_ms);
    loop {
        if state.vault().keyring().is_some() && state.hold_lease("vault-rotation").await {
            match tick(&state).await {
                Ok(r) if r != Report::default() => {
                    tracing::info!(?r, "vault rotation pass");
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "a vault rotation pass failed"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = waker.notified() => {}
        }
    }
}

/// One pass: check in what ended grants hold, settle interrupted rotations, rotate due
/// accounts, re-seal a batch of secrets. Does nothing while the vault is sealed.
pub async fn tick(state: &AppState) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let ring = match state.vault().current_keyring(state.store()).await {
        Ok(Some(ring)) => ring,
        Ok(None) => return Ok(report),
        Err(e) => return Err(StoreError::Corrupt(format!("the vault's keys: {e}"))),
    };
    let now = state.clock().now();
    for c in state.store().vault_checkouts_ended(now).await? {
        let name = state
            .store()
            .vault_account_by_id(c.account_id)
            .await?
            .map_or_else(|| c.account_id.to_string(), |a| a.name);
        let reason = if c.grant_id.is_some() {
            "the grant ended"
        } else {
            "the check-out time ran out"
        };
        if super::accounts::check_in(state, Actor::system(), &name, &c, reason, now)
            .await?
            .is_some()
        {
            report.checked_in += 1;
        }
    }
    for p in state.store().vault_pending().await? {
        let Some(a) = state.store().vault_account_by_id(p.account_id).await? else {
            continue;
        };
        if a.next_rotation_at > now {
            continue;
        }
        match settle(state, &ring, &a, &p, None).await? {
            Settled::Committed | Settled::Dropped => report.recovered += 1,
            Settled::Unsettled => report.failed += 1,
        }
    }
    for a in state.store().vault_due_accounts(now, BATCH).await? {
        if !state.store().vault_open_checkouts(a.id).await?.is_empty() {
            continue;
        }
        if state
            .store()
            .vault_secret(a.id, a.version + 1)
            .await?
            .is_some()
        {
            // Pending and not yet due for settling: it is backing off.
            continue;
        }
        match rotate(state, &ring, &a).await? {
            Some(true) => report.rotated += 1,
            Some(false) => report.failed += 1,
            None => {}
        }
    }
    report.rewrapped = rewrap(state, &ring).await?;
    Ok(report)
}

/// Rotates `a` now. `Some(true)` when committed, `Some(false)` when it failed (recorded,
/// retried later), `None` when it could not start (checked out meanwhile).
pub async fn rotate(
    state: &AppState,
    ring: &Keyring,
    a: &VaultAccount,
) -> Result<Option<bool>, StoreError> {
    let connector = match connector_of(state, &a.connection) {
        Ok(c) => c,
        Err(m) => {
            fail(state, a, None, &m).await?;
            return Ok(Some(false));
        }
    };
    if let Err(e) = require_password_check(connector.as_ref(), &a.connection, &a.username).await {
        fail(state, a, None, &e.to_string()).await?;
        return Ok(Some(false));
    }
    let policy = PasswordPolicy {
        length: usize::try_from(a.password_length).unwrap_or(usize::MAX),
        symbols: a.password_symbols,
    };
    let new = match warden_vault::generate(&policy) {
        Ok(p) => p,
        Err(e) => {
            fail(state, a, None, &e.to_string()).await?;
            return Ok(Some(false));
        }
    };
    let version = a.version + 1;
    let now = state.clock().now();
    let (key_id, envelope) = match ring.seal_secret(a.id, version, new.expose_secret().as_bytes()) {
        Ok(sealed) => sealed,
        Err(e) => {
            fail(state, a, None, &e.to_string()).await?;
            return Ok(Some(false));
        }
    };
    let pending = SecretVersion {
        account_id: a.id,
        version,
        key_id,
        envelope,
        state: "pending".to_owned(),
        created_at: now,
        committed_at: None,
    };
    match state.store().vault_stage(&pending).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_) | StoreError::Stale(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    match connector.set_password(&a.username, &new).await {
        Ok(()) => {}
        Err(ConnectorError::Refused(m)) => {
            // The target refused: the old password is still the one it has.
            fail(
                state,
                a,
                Some(version),
                &format!("the target refused the new password: {m}"),
            )
            .await?;
            return Ok(Some(false));
        }
        Err(e @ ConnectorError::Unavailable(_)) => {
            // The change may or may not have been made: settle by logging in.
            tracing::warn!(account = %a.name, error = %e, "applying a rotated password did not answer; settling by login");
        }
    }
    Ok(Some(matches!(
        settle(state, ring, a, &pending, Some(new)).await?,
        Settled::Committed
    )))
}

/// How a pending version was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// The target has it: committed.
    Committed,
    /// The target kept the old one: dropped.
    Dropped,
    /// Neither logs in (or the target does not answer): kept, failure recorded.
    Unsettled,
}

/// Settles the pending version `p` of `a` by logging in: the new password works →
/// commit; the old one works → drop the new; else keep both and record a failure.
/// `fresh` is the new password when this process just applied it (a rotation), `None`
/// for one found pending (a recovery).
async fn settle(
    state: &AppState,
    ring: &Keyring,
    a: &VaultAccount,
    p: &SecretVersion,
    fresh: Option<SecretString>,
) -> Result<Settled, StoreError> {
    let recovering = fresh.is_none();
    let new = match fresh {
        Some(n) => n,
        None => match ring.open_password(a.id, p.version, &p.envelope) {
            Ok(n) => n,
            Err(e) => {
                fail(
                    state,
                    a,
                    None,
                    &format!("the pending version cannot be opened: {e}"),
                )
                .await?;
                return Ok(Settled::Unsettled);
            }
        },
    };
    let connector = match connector_of(state, &a.connection) {
        Ok(c) => c,
        Err(m) => {
            fail(state, a, None, &m).await?;
            return Ok(Settled::Unsettled);
        }
    };
    let now = state.clock().now();
    let new_works = connector.check_login(&a.username, &new).await;
    if matches!(new_works, Ok(true)) {
        let action = if recovering {
            Action::VaultRecover
        } else {
            Action::VaultRotate
        };
        let mut event = AuditEvent::new(now, Actor::system(), action)
            .target(format!("account:{}", a.name))
            .detail("connection", a.connection.as_str())
            .detail("username", a.username.as_str())
            .detail("version", p.version.to_string())
            .detail("verified", "logged in with the new password");
        if recovering {
            event = event.reason("the new password was on the target: committed");
        }
        if let Some(r) = &a.resource {
            event = event.resource(r.as_str());
        }
        let next = now + Duration::seconds(a.rotate_every_secs);
        state
            .store()
            .vault_commit(a.id, p.version, now, next, &[event])
            .await?;
        metrics::counter!("warden_vault_rotations_total").increment(1);
        tracing::info!(account = %a.name, version = p.version, "password rotated and verified");
        return Ok(Settled::Committed);
    }
    let old_works = match ring.current_password(state.store(), a).await {
        Ok(old) => connector.check_login(&a.username, &old).await,
        Err(_) => Ok(false),
    };
    let why_new = match &new_works {
        Ok(_) => "the new password does not log in".to_owned(),
        Err(e) => format!("logging in with the new password failed: {e}"),
    };
    if matches!(old_works, Ok(true)) {
        let reason = format!("{why_new}; the old one still does, so it stays");
        if recovering {
            let event = AuditEvent::new(now, Actor::system(), Action::VaultRecover)
                .target(format!("account:{}", a.name))
                .detail("version", p.version.to_string())
                .reason("the target kept the old password: the pending one was dropped");
            state.store().append_audit(&event).await?;
        }
        fail(state, a, Some(p.version), &reason).await?;
        return Ok(Settled::Dropped);
    }
    let why_old = match &old_works {
        Ok(_) => "nor does the old one".to_owned(),
        Err(e) => format!("logging in with the old one failed too: {e}"),
    };
    fail(
        state,
        a,
        None,
        &format!("{why_new}, {why_old}: both are kept and it is tried again"),
    )
    .await?;
    Ok(Settled::Unsettled)
}

/// The wait before retry number `failures`.
fn retry_delay(state: &AppState, failures: u32) -> Duration {
    let v = &state.config().vault;
    let factor = 1u64 << failures.saturating_sub(1).min(30);
    let secs = v
        .retry_base_secs
        .saturating_mul(factor)
        .min(v.retry_max_secs);
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Records a failed rotation of `a` (dropping the pending `version` when given), with its
/// audit event, a retry with backoff and, at the third failure in a row, an alert.
async fn fail(
    state: &AppState,
    a: &VaultAccount,
    version: Option<u64>,
    error: &str,
) -> Result<(), StoreError> {
    let now = state.clock().now();
    let failures = a.rotation_failures + 1;
    let retry_at = now + retry_delay(state, failures);
    let mut event = AuditEvent::new(now, Actor::system(), Action::VaultRotate)
        .target(format!("account:{}", a.name))
        .detail("connection", a.connection.as_str())
        .detail("username", a.username.as_str())
        .detail("attempts", failures.to_string())
        .detail("retry_at", retry_at.to_string())
        .failed(error);
    if let Some(r) = &a.resource {
        event = event.resource(r.as_str());
    }
    metrics::counter!("warden_vault_rotation_failures_total").increment(1);
    let outbox = if failures == ALERT_AFTER {
        metrics::counter!("warden_vault_alerts_total").increment(1);
        tracing::error!(account = %a.name, connection = %a.connection, attempts = failures, error, "rotating a vaulted password keeps failing; security is alerted and retries go on");
        let notice = Notice::new(
            events::ROTATION_FAILING,
            format!(
                "rotating the password of {} ({} on {}) failed {failures} times ({error}); the old password stays in force and retries go on",
                a.name, a.username, a.connection
            ),
            json!({
                "account": a.name,
                "connection": a.connection,
                "username": a.username,
                "attempts": failures,
                "error": error,
                "retry_at": retry_at.to_string(),
            }),
        );
        notify::messages(&state.config().notifications, &notice, now)
    } else {
        tracing::warn!(account = %a.name, attempts = failures, error, "rotating a vaulted password failed; retrying later");
        Vec::new()
    };
    let failure = RotationFailure {
        failures,
        retry_at,
        error: error.to_owned(),
    };
    state
        .store()
        .vault_rotation_failed(a.id, version, &failure, &[event], &outbox)
        .await?;
    if !outbox.is_empty() {
        notify::deliver::wake();
    }
    Ok(())
}

/// Re-seals a batch of secrets still under an older data key with the active one.
async fn rewrap(state: &AppState, ring: &Arc<Keyring>) -> Result<u64, StoreError> {
    let old = state
        .store()
        .vault_secrets_not_under(ring.active, REWRAP_BATCH)
        .await?;
    if old.is_empty() {
        return Ok(0);
    }
    let mut updates = Vec::with_capacity(old.len());
    for s in old {
        let plain = match ring.open_secret(s.account_id, s.version, &s.envelope) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(account = %s.account_id, version = s.version, error = %e, "a vaulted secret cannot be opened for re-sealing");
                continue;
            }
        };
        match ring.seal_secret(s.account_id, s.version, &plain) {
            Ok((key_id, envelope)) => {
                let from = s.key_id;
                updates.push((
                    SecretVersion {
                        key_id,
                        envelope,
                        ..s
                    },
                    from,
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "re-sealing a vaulted secret failed");
            }
        }
    }
    state.store().vault_rewrap(&updates).await
}
