//! The audit log: appending chained events (in the caller's transaction, or group-committed
//! when an event accompanies no other change), searching them, signed checkpoints, and
//! the cursors of the SIEM exports.
//!
//! Appends are serialised: on SQLite by the store's writer lock, on PostgreSQL by a
//! transaction-scoped advisory lock taken before the head of the chain is read, so two
//! replicas can never chain two events after the same one. There is no method that
//! changes or deletes an event.

use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;
use warden_audit::{Checkpoint, Digest};
use warden_core::audit::AuditEvent;

use crate::entity::{audit_checkpoints, audit_cursors, audit_events};
use crate::rows::{self, StoredAuditEvent, to_ms};
use crate::{Store, StoreError};

/// The advisory lock that serialises appends on PostgreSQL.
const CHAIN_LOCK_KEY: i64 = 0x5741_5244_4155; // "WARDAU"
/// Most rows in one INSERT (well under SQLite's 32,766 bound parameters at 18 a row).
const INSERT_CHUNK: usize = 500;
/// Most events one group commit writes.
const GROUP_MAX: usize = 10_000;

/// An event waiting for a group commit, with the channel its writer waits on.
type Waiting = (AuditEvent, oneshot::Sender<Result<(), StoreError>>);

/// The name of the audit queue's lock, as [`StoreError::Poisoned`] gives it.
const QUEUE_LOCK: &str = "the audit queue";

/// The events waiting for a group commit.
#[derive(Debug, Default)]
pub(crate) struct AuditQueue {
    pending: std::sync::Mutex<Vec<Waiting>>,
    leader: tokio::sync::Mutex<()>,
}

/// Which events a search returns. Every filter that is set must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The acting user's name.
    pub actor: Option<String>,
    /// An action, or a family of them.
    pub action: Option<ActionFilter>,
    /// The resource concerned.
    pub resource: Option<String>,
    /// The request concerned.
    pub request_id: Option<Uuid>,
    /// The grant concerned.
    pub grant_id: Option<Uuid>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
    /// Only events older than this sequence number (the cursor of the next page).
    pub before_seq: Option<i64>,
}

/// Which actions a search matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    /// This action only (`grant.revoke`).
    Exact(String),
    /// Every action starting with this prefix, which ends in `.` (`grant.`).
    Family(String),
}

/// Text that is neither an action name nor a family of them ([`ActionFilter::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an action name (grant.revoke) or family (grant. or grant.*): lower-case letters, \
     digits, _ and ."
)]
pub struct BadActionFilter;

impl ActionFilter {
    /// Reads `grant.revoke` (one action), or `grant.` or `grant.*` (a family). Action
    /// names are lower-case letters, digits, `_` and `.`; nothing else is accepted.
    pub fn parse(text: &str) -> Result<Self, BadActionFilter> {
        let family = text.strip_suffix(".*").or_else(|| text.strip_suffix('.'));
        let name = family.unwrap_or(text);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        match (valid, family) {
            (false, _) => Err(BadActionFilter),
            (true, Some(f)) => Ok(Self::Family(format!("{f}."))),
            (true, None) => Ok(Self::Exact(text.to_owned())),
        }
    }
}

/// Appends `events`, in order, after the head of the chain, in `txn`.
pub(crate) async fn insert_audits<E: std::borrow::Borrow<AuditEvent>>(
    txn: &DatabaseTransaction,
    events: &[E],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let (mut seq, mut prev) = lock_head(txn).await?;
    let mut buf = Vec::with_capacity(512);
    let mut models = Vec::with_capacity(events.len().min(INSERT_CHUNK));
    for chunk in events.chunks(INSERT_CHUNK) {
        models.clear();
        for event in chunk {
            let mut record =
                rows::new_record(event.borrow(), warden_core::clock::id_at(event.borrow().at));
            record.seq = seq + 1;
            record.prev_hash = prev;
            record.hash = record.compute_hash_with(&mut buf);
            seq = record.seq;
            prev = record.hash;
            models.push(rows::audit_model(&record)?);
        }
        audit_events::Entity::insert_many(models.drain(..))
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Takes the chain lock (PostgreSQL) and reads the head: the last sequence number and
/// hash, or `(0, GENESIS)` for an empty log.
async fn lock_head(txn: &DatabaseTransaction) -> Result<(u64, Digest), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})"),
        ))
        .await?;
    }
    head_in(txn).await
}

async fn head_in(db: &impl ConnectionTrait) -> Result<(u64, Digest), StoreError> {
    let last = audit_events::Entity::find()
        .select_only()
        .column(audit_events::Column::Seq)
        .column(audit_events::Column::Hash)
        .order_by_desc(audit_events::Column::Seq)
        .limit(1)
        .into_tuple::<(i64, Option<Vec<u8>>)>()
        .one(db)
        .await?;
    match last {
        None => Ok((0, Digest::GENESIS)),
        Some((seq, hash)) => Ok((
            u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("audit seq {seq}")))?,
            rows::digest("audit hash", hash.as_deref())?,
        )),
    }
}

impl Store {
    /// Writes an event that accompanies no other change (a refused request, a failed
    /// check). Concurrent callers are group-committed: one transaction, one sync to disk,
    /// for every event waiting when the previous commit ends. Returns once the event is
    /// durable.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let (tx, mut rx) = oneshot::channel();
        self.audit_queue
            .pending
            .lock()
            .map_err(|_| StoreError::Poisoned(QUEUE_LOCK))?
            .push((event.clone(), tx));
        loop {
            // Whoever holds the leader lock commits everything waiting, so while we hold
            // it no batch is in flight: our event is either answered or still waiting.
            let leader = self.audit_queue.leader.lock().await;
            match rx.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(StoreError::Abandoned),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch: Vec<_> = {
                let mut pending = self
                    .audit_queue
                    .pending
                    .lock()
                    .map_err(|_| StoreError::Poisoned(QUEUE_LOCK))?;
                let n = pending.len().min(GROUP_MAX);
                pending.drain(..n).collect()
            };
            let (events, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let result = async {
                let write = self.begin_write().await?;
                insert_audits(&write.txn, &events).await?;
                write.txn.commit().await?;
                Ok::<_, StoreError>(())
            }
            .await;
            for waiter in waiters {
                // A waiter that gave up (its request was dropped) no longer listens.
                let _ = waiter.send(result.clone());
            }
            drop(leader);
            // Our own event was in this batch unless more than GROUP_MAX were waiting
            // ahead of it; then the next round (ours or another writer's) takes it.
        }
    }

    /// Events with a sequence number above `after`, oldest first, at most `limit`.
    pub async fn audit_events(
        &self,
        after: i64,
        limit: u64,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        audit_events::Entity::find()
            .filter(audit_events::Column::Seq.gt(after))
            .order_by_asc(audit_events::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(rows::audit)
            .collect()
    }

    /// Events matching `filter`, newest first, at most `limit`.
    pub async fn search_audit(
        &self,
        filter: &AuditFilter,
        limit: u64,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        use audit_events::Column as C;
        let mut query = audit_events::Entity::find();
        if let Some(actor) = &filter.actor {
            query = query.filter(C::ActorUser.eq(actor.as_str()));
        }
        match &filter.action {
            Some(ActionFilter::Exact(action)) => {
                query = query.filter(C::Action.eq(action.as_str()));
            }
            Some(ActionFilter::Family(prefix)) => {
                // `_` is a LIKE wildcard and may appear in action names: escape it.
                let pattern = format!("{}%", prefix.replace('_', "\\_"));
                query =
                    query.filter(Expr::col(C::Action).like(LikeExpr::new(pattern).escape('\\')));
            }
            None => {}
        }
        if let Some(resource) = &filter.resource {
            query = query.filter(C::Resource.eq(resource.as_str()));
        }
        if let Some(id) = filter.request_id {
            query = query.filter(C::RequestId.eq(id));
        }
        if let Some(id) = filter.grant_id {
            query = query.filter(C::GrantId.eq(id));
        }
        if let Some(since) = filter.since {
            query = query.filter(C::At.gte(to_ms(since)));
        }
        if let Some(until) = filter.until {
            query = query.filter(C::At.lt(to_ms(until)));
        }
        if let Some(before) = filter.before_seq {
            query = query.filter(C::Seq.lt(before));
        }
        query
            .order_by_desc(C::Seq)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(rows::audit)
            .collect()
    }

    /// The head of the chain: the last sequence number and its hash (`(0, GENESIS)` for
    /// an empty log).
    pub async fn audit_head(&self) -> Result<(u64, Digest), StoreError> {
        head_in(&self.db).await
    }

    /// The hash of event `seq` (`GENESIS` for 0), if it exists.
    pub async fn audit_hash_at(&self, seq: u64) -> Result<Option<Digest>, StoreError> {
        if seq == 0 {
            return Ok(Some(Digest::GENESIS));
        }
        let seq = i64::try_from(seq).map_err(|_| StoreError::Corrupt("audit seq".to_owned()))?;
        let hash = audit_events::Entity::find_by_id(seq)
            .select_only()
            .column(audit_events::Column::Hash)
            .into_tuple::<Option<Vec<u8>>>()
            .one(&self.db)
            .await?;
        hash.map(|h| rows::digest("audit hash", h.as_deref()))
            .transpose()
    }

    /// The time of event `seq`, if it exists.
    pub async fn audit_time_at(&self, seq: i64) -> Result<Option<OffsetDateTime>, StoreError> {
        let at = audit_events::Entity::find_by_id(seq)
            .select_only()
            .column(audit_events::Column::At)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?;
        at.map(rows::from_ms).transpose()
    }

    // ----- checkpoints -----

    /// Stores a signed checkpoint; a second one for the same sequence number (another
    /// replica signing the same head) is ignored.
    pub async fn add_audit_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let model = audit_checkpoints::ActiveModel {
            seq: Set(i64::try_from(checkpoint.seq)
                .map_err(|_| StoreError::Corrupt("checkpoint seq".to_owned()))?),
            hash: Set(checkpoint.hash.0.to_vec()),
            at: Set(checkpoint.time),
            key_id: Set(checkpoint.key_id.clone()),
            signature: Set(checkpoint.signature.clone()),
        };
        audit_checkpoints::Entity::insert(model)
            .on_conflict(
                OnConflict::column(audit_checkpoints::Column::Seq)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&write.txn)
            .await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// The latest checkpoint, if any.
    pub async fn last_audit_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        audit_checkpoints::Entity::find()
            .order_by_desc(audit_checkpoints::Column::Seq)
            .limit(1)
            .one(&self.db)
            .await?
            .map(checkpoint)
            .transpose()
    }

    /// Checkpoints over events `first..=last`, oldest first, at most `limit`.
    pub async fn audit_checkpoints(
        &self,
        first: i64,
        last: i64,
        limit: u64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        audit_checkpoints::Entity::find()
            .filter(audit_checkpoints::Column::Seq.gte(first))
            .filter(audit_checkpoints::Column::Seq.lte(last))
            .order_by_asc(audit_checkpoints::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(checkpoint)
            .collect()
    }

    // ----- SIEM cursors -----

    /// How far export `sink` has delivered: the last sequence number it confirmed (0 when
    /// it never ran).
    pub async fn audit_cursor(&self, sink: &str) -> Result<i64, StoreError> {
        Ok(audit_cursors::Entity::find_by_id(sink.to_owned())
            .one(&self.db)
            .await?
            .map_or(0, |c| c.seq))
    }

    /// Records that export `sink` delivered every event up to `seq`. The cursor only moves
    /// forward.
    pub async fn set_audit_cursor(
        &self,
        sink: &str,
        seq: i64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let model = audit_cursors::ActiveModel {
            sink: Set(sink.to_owned()),
            seq: Set(seq),
            updated_at: Set(to_ms(at)),
        };
        audit_cursors::Entity::insert(model)
            .on_conflict(
                OnConflict::column(audit_cursors::Column::Sink)
                    .value(
                        audit_cursors::Column::Seq,
                        Expr::cust("CASE WHEN excluded.seq > audit_cursors.seq THEN excluded.seq ELSE audit_cursors.seq END"),
                    )
                    .update_column(audit_cursors::Column::UpdatedAt)
                    .to_owned(),
            )
            .exec_without_returning(&write.txn)
            .await?;
        write.txn.commit().await?;
        Ok(())
    }
}

fn checkpoint(m: audit_checkpoints::Model) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        seq: u64::try_from(m.seq).map_err(|_| StoreError::Corrupt("checkpoint seq".to_owned()))?,
        hash: rows::digest("checkpoint hash", Some(&m.hash))?,
        time: m.at,
        key_id: m.key_id,
        signature: m.signature,
    })
}
