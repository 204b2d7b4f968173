//! The audit log as a service: the checkpoint signer, search, the published key, and
//! exports that verify offline.
//!
//! The signing key lives in a file outside the database (`[audit] signing_key_file`, by
//! default `audit_signing.key` in the data directory, mode 0600), so that someone who can
//! rewrite the database still cannot sign a rewritten chain.

use std::path::Path;
use std::time::Duration as StdDuration;

use time::OffsetDateTime;
use uuid::Uuid;
use warden_audit::bundle::{self, Header, Line, PublishedKey};
use warden_audit::{Checkpoint, Digest, PublicKey, SigningKey};
use warden_connectors::keyfile::{self, KeyFileError};
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::{Operation, Relation};
use warden_store::{ActionFilter, AuditFilter, StoredAuditEvent};

use crate::auth::Caller;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// Events read from the store per page of an export.
const EXPORT_PAGE: u64 = 2_000;

/// A search of the log: every field given narrows it.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Events by this user name.
    pub actor: Option<String>,
    /// An action or action family, as given.
    pub action: Option<String>,
    /// Events on this resource.
    pub resource: Option<String>,
    /// Events about this request.
    pub request: Option<Uuid>,
    /// Events about this grant.
    pub grant: Option<Uuid>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
    /// Events before this sequence number (the next page).
    pub before: Option<i64>,
    /// At most this many events (100 when absent).
    pub limit: Option<u32>,
}

/// A page of events, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    /// The events.
    pub events: Vec<StoredAuditEvent>,
    /// The `before` of the next page, when there may be one.
    pub next: Option<i64>,
}

/// The head of the log and its latest checkpoint.
#[derive(Debug, Clone)]
pub struct Head {
    /// The last event's sequence number (0: none yet).
    pub seq: u64,
    /// The last event's hash.
    pub hash: Digest,
    /// The latest checkpoint's sequence number.
    pub checkpoint_seq: Option<u64>,
    /// When the latest checkpoint was signed.
    pub checkpoint_time: Option<OffsetDateTime>,
}

/// Loads the signing key from `path`, or makes one there (created with mode 0600) when
/// the file does not exist. Refuses a file that group or others may read.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, String> {
    let text = keyfile::read_or_create(path, || {
        let key = SigningKey::generate().map_err(|e| KeyFileError::Bad {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        tracing::info!(path = %path.display(), key_id = %key.public().key_id(), "made a new audit signing key");
        Ok(key.to_file_text())
    })
    .map_err(|e: KeyFileError| e.to_string())?;
    SigningKey::from_file_text(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Signs the head of the chain when events arrived since the last checkpoint. Returns
/// the new checkpoint, if one was made.
pub async fn checkpoint(state: &AppState) -> Result<Option<Checkpoint>, ServiceError> {
    let key = state.audit_key().map_err(ServiceError::internal)?;
    let store = state.store();
    let (seq, hash) = store.audit_head().await?;
    let last = store.last_audit_checkpoint().await?;
    metrics::gauge!("warden_audit_head_seq").set(seq as f64);
    if seq == 0 || last.as_ref().is_some_and(|cp| cp.seq >= seq) {
        return Ok(None);
    }
    let cp = key.sign(seq, hash, warden_store::unix_ms(state.clock().now()));
    store.add_audit_checkpoint(&cp).await?;
    metrics::gauge!("warden_audit_checkpoint_seq").set(cp.seq as f64);
    metrics::counter!("warden_audit_checkpoints_total").increment(1);
    Ok(Some(cp))
}

/// Signs a checkpoint every `[audit] checkpoint_interval_ms` while events arrive, on the
/// replica holding the `audit-checkpoint` lease.
pub async fn run_checkpoints(state: AppState) {
    let every = StdDuration::from_millis(state.config().audit.checkpoint_interval_ms.max(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The lease is renewed every few seconds, not on every tick.
    let mut held_until = None;
    loop {
        tick.tick().await;
        let now = state.clock().now();
        if held_until.is_none_or(|until| until <= now) {
            held_until = state
                .hold_lease("audit-checkpoint")
                .await
                .then(|| now + time::Duration::seconds(5));
            if held_until.is_none() {
                continue;
            }
        }
        if let Err(e) = checkpoint(&state).await {
            tracing::error!(error = ?e, "signing an audit checkpoint failed");
        }
    }
}

/// The published checkpoint key.
pub fn key(state: &AppState) -> Result<PublicKey, ServiceError> {
    let key = state.audit_key().map_err(ServiceError::internal)?;
    Ok(key.public())
}

/// The head of the log and its latest checkpoint. Needs `audit:read` or `admin`.
pub async fn head(state: &AppState, caller: &Caller) -> Result<Head, ServiceError> {
    super::authz::require(state, caller, Operation::AuditRead, Relation::Other).await?;
    let (seq, hash) = state.store().audit_head().await?;
    let last = state.store().last_audit_checkpoint().await?;
    Ok(Head {
        seq,
        hash,
        checkpoint_seq: last.as_ref().map(|cp| cp.seq),
        checkpoint_time: last
            .as_ref()
            .map(|cp| warden_store::from_unix_ms(cp.time))
            .transpose()?,
    })
}

/// A page of events matching `q`, newest first. Needs `audit:read` or `admin`.
pub async fn search(state: &AppState, caller: &Caller, q: &Query) -> Result<Page, ServiceError> {
    super::authz::require(state, caller, Operation::AuditRead, Relation::Other).await?;
    let action = q
        .action
        .as_deref()
        .map(ActionFilter::parse)
        .transpose()
        .map_err(|e| ServiceError::field("action", e.to_string()))?;
    if let (Some(since), Some(until)) = (q.since, q.until)
        && until <= since
    {
        return Err(ServiceError::unprocessable("until", "must be after since"));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ServiceError::field("limit", "must be between 1 and 1000"));
    }
    let filter = AuditFilter {
        actor: q.actor.clone(),
        action,
        resource: q.resource.clone(),
        request_id: q.request,
        grant_id: q.grant,
        since: q.since,
        until: q.until,
        before_seq: q.before,
    };
    let events = state
        .store()
        .search_audit(&filter, u64::from(limit))
        .await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten()
        .filter(|seq| *seq > 1);
    Ok(Page { events, next })
}

/// What an export streams: the header, then pages of events with their checkpoints.
pub struct Export {
    state: AppState,
    next_after: u64,
    last_seq: u64,
    header: Option<Header>,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("next_after", &self.next_after)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

/// Starts an export of the events after `since`: audits it, signs a checkpoint over the
/// head (so the bundle ends signed), and returns the stream's state. Needs `audit:read`
/// or `admin`.
pub async fn export(state: &AppState, caller: &Caller, since: u64) -> Result<Export, ServiceError> {
    super::authz::require(state, caller, Operation::AuditExport, Relation::Other).await?;
    let (head, _) = state.store().audit_head().await?;
    if since > head {
        return Err(ServiceError::new(
            crate::service::error::Failure::NotFound,
            format!("since: there is no event {since}; the log ends at {head}"),
        ));
    }
    let now = state.clock().now();
    let event = AuditEvent::new(now, caller.actor(), Action::AuditExport)
        .target("audit")
        .detail("since", since.to_string());
    state.store().append_audit(&event).await?;
    // The export event moved the head, so this signs a new checkpoint, unless the
    // signer got there first.
    let last = match checkpoint(state).await? {
        Some(cp) => cp,
        None => state
            .store()
            .last_audit_checkpoint()
            .await?
            .ok_or_else(|| ServiceError::internal("no checkpoint after signing one"))?,
    };
    let key = state.audit_key().map_err(ServiceError::internal)?;
    let last_seq = last.seq;
    let anchor = state
        .store()
        .audit_hash_at(since)
        .await?
        .ok_or_else(|| ServiceError::internal(format!("event {since} has no hash")))?;
    let public = key.public();
    let header = Header::new(
        warden_store::unix_ms(now),
        since + 1,
        anchor,
        last_seq,
        vec![PublishedKey {
            key_id: public.key_id(),
            public_key: public.encode(),
        }],
    );
    Ok(Export {
        state: state.clone(),
        next_after: since,
        last_seq,
        header: Some(header),
    })
}

impl Export {
    /// The next chunk of the bundle, or `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, std::io::Error> {
        let mut out = Vec::with_capacity(1 << 20);
        let json = |e: serde_json::Error| std::io::Error::other(e.to_string());
        let store_err = |e: warden_store::StoreError| std::io::Error::other(e.to_string());
        if let Some(header) = self.header.take() {
            bundle::write_line(&mut out, &Line::Header(header)).map_err(json)?;
        }
        if self.next_after >= self.last_seq {
            return Ok((!out.is_empty()).then_some(out));
        }
        let after = i64::try_from(self.next_after).map_err(std::io::Error::other)?;
        let last = i64::try_from(self.last_seq).map_err(std::io::Error::other)?;
        let remaining = self.last_seq - self.next_after;
        let events = self
            .state
            .store()
            .audit_events(after, EXPORT_PAGE.min(remaining))
            .await
            .map_err(store_err)?;
        let Some(page_last) = events.last().map(|e| e.seq) else {
            return Err(std::io::Error::other(format!(
                "the log ends before event {}",
                self.next_after + 1
            )));
        };
        let checkpoints = self
            .state
            .store()
            .audit_checkpoints(after + 1, page_last.min(last), EXPORT_PAGE)
            .await
            .map_err(store_err)?;
        let mut cps = checkpoints.into_iter().peekable();
        for e in &events {
            bundle::write_line(&mut out, &Line::Event(e.record())).map_err(json)?;
            while let Some(cp) = cps.next_if(|cp| i64::try_from(cp.seq).is_ok_and(|s| s <= e.seq)) {
                bundle::write_line(&mut out, &Line::Checkpoint(cp)).map_err(json)?;
            }
        }
        self.next_after = u64::try_from(page_last).map_err(std::io::Error::other)?;
        Ok(Some(out))
    }
}
