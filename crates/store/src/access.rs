//! The change stream of access, which a replica's in-memory index of active grants is
//! built from and kept current by.
//!
//! Every transaction that writes grants or identities first moves the `access` counter
//! ([`next_access_seq`]) and stamps the rows it writes with the value it moved to
//! (`change_seq`). On PostgreSQL moving the counter locks its row until the transaction
//! ends, so values become visible in the order they were taken; SQLite has one writer.
//! A reader that has seen everything up to `n` therefore reads the changes after `n` as
//! the rows with `change_seq > n`, and never misses one that commits later with a smaller
//! value.

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, Statement};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::request::{RequestKind, RequestState};

use crate::entity::{grants, identities};
use crate::rows::{from_ms, named};
use crate::{Store, StoreError};

/// The counter's row in `change_counters`.
const COUNTER: &str = "access";

/// One grant as an access index keeps it, with its holder's user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    /// Grant id.
    pub grant: Uuid,
    /// The holder.
    pub identity: Uuid,
    /// The holder's user name.
    pub username: String,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// The grant's state: only active grants give access.
    pub state: RequestState,
    /// The kind of the request that made the grant.
    pub kind: RequestKind,
    /// When the access was provisioned.
    pub starts_at: Option<OffsetDateTime>,
    /// When it ends.
    pub ends_at: Option<OffsetDateTime>,
}

/// What changed after a counter value: identities (their user names) and grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessChanges {
    /// The counter value these changes bring the reader to.
    pub seq: i64,
    /// Identities written, with their user names now.
    pub identities: Vec<(Uuid, String)>,
    /// Grants written, as they are now.
    pub grants: Vec<AccessRow>,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    id: Uuid,
    identity_id: Uuid,
    username: String,
    resource: String,
    role: String,
    state: String,
    kind: String,
    starts_at: Option<i64>,
    ends_at: Option<i64>,
}

impl TryFrom<Row> for AccessRow {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Self {
            grant: r.id,
            identity: r.identity_id,
            username: r.username,
            resource: r.resource,
            role: r.role,
            state: named("grants", r.id, &r.state, RequestState::parse)?,
            kind: named("grants", r.id, &r.kind, RequestKind::parse)?,
            starts_at: r.starts_at.map(from_ms).transpose()?,
            ends_at: r.ends_at.map(from_ms).transpose()?,
        })
    }
}

/// Moves the access counter in `txn` and returns its new value, to stamp on the grants
/// and identities the transaction writes.
pub(crate) async fn next_access_seq(txn: &DatabaseTransaction) -> Result<i64, StoreError> {
    let backend = txn.get_database_backend();
    let update = Query::update()
        .table(Alias::new("change_counters"))
        .value(
            Alias::new("value"),
            Expr::col(Alias::new("value")).add(1_i64),
        )
        .and_where(Expr::col(Alias::new("name")).eq(COUNTER))
        .returning_col(Alias::new("value"))
        .to_owned();
    let row = txn
        .query_one_raw(backend.build(&update))
        .await?
        .ok_or_else(|| StoreError::Corrupt("the access change counter is missing".to_owned()))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The select of grants with their holder's user name.
fn grant_rows() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column((grants::Entity, grants::Column::Id))
        .column((grants::Entity, grants::Column::IdentityId))
        .column((identities::Entity, identities::Column::Username))
        .column((grants::Entity, grants::Column::Resource))
        .column((grants::Entity, grants::Column::Role))
        .column((grants::Entity, grants::Column::State))
        .column((grants::Entity, grants::Column::Kind))
        .column((grants::Entity, grants::Column::StartsAt))
        .column((grants::Entity, grants::Column::EndsAt))
        .from(grants::Entity)
        .inner_join(
            identities::Entity,
            Expr::col((identities::Entity, identities::Column::Id))
                .equals((grants::Entity, grants::Column::IdentityId)),
        )
        .to_owned()
}

impl Store {
    /// The number of committed transactions of this process that may have taken access
    /// away before the clock did (an early end, a leaver, a rename). Read it before
    /// reading the change stream: if it has moved on by the time the result is used, an
    /// answer from that read may allow what is no longer allowed.
    pub fn access_epoch(&self) -> u64 {
        self.access_epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The number of committed transactions of this process that may have given access
    /// (a grant made active). While it has moved on since a read, an answer from that
    /// read that does not allow may be out of date.
    pub fn access_widen_epoch(&self) -> u64 {
        self.access_widen_epoch
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks a committed change that may give access, and wakes readers.
    pub(crate) fn access_widened(&self) {
        self.access_widen_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.access_written();
    }

    /// Marks a committed change that may take access away, and wakes readers.
    pub(crate) fn access_changed(&self) {
        self.access_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.access_written();
    }

    /// Wakes a reader of the change stream after a committed write of grants or
    /// identities.
    pub(crate) fn access_written(&self) {
        self.access_wake.notify_one();
    }

    /// Waits until this process commits a write of grants or identities (at once if one
    /// was committed since the last wait).
    pub async fn access_written_here(&self) {
        self.access_wake.notified().await;
    }

    /// The access counter's committed value.
    pub async fn access_seq(&self) -> Result<i64, StoreError> {
        let backend = self.db.get_database_backend();
        let select = Query::select()
            .column(Alias::new("value"))
            .from(Alias::new("change_counters"))
            .and_where(Expr::col(Alias::new("name")).eq(COUNTER))
            .to_owned();
        let row = self
            .db
            .query_one_raw(backend.build(&select))
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt("the access change counter is missing".to_owned())
            })?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    /// Hands every active grant to `f`, one at a time as the database returns them (in
    /// one query, so a million grants never sit in memory as rows): an access index's
    /// first read. Read [`Self::access_seq`] before; every change after it is then in
    /// [`Self::access_changes`].
    pub async fn each_active_access(
        &self,
        mut f: impl FnMut(AccessRow) + Send,
    ) -> Result<(), StoreError> {
        use futures_util::TryStreamExt as _;
        let mut q = grant_rows();
        q.and_where(
            Expr::col((grants::Entity, grants::Column::State)).eq(RequestState::Active.as_str()),
        );
        let stmt: Statement = self.db.get_database_backend().build(&q);
        let mut rows = Row::find_by_statement(stmt).stream(&self.db).await?;
        while let Some(row) = rows.try_next().await? {
            f(AccessRow::try_from(row)?);
        }
        Ok(())
    }

    /// Every identity and grant written after counter value `after`, up to the
    /// counter's value now. A counter below `after` (a database restored from a backup)
    /// comes back as it is, with no changes: the reader must read everything again.
    pub async fn access_changes(&self, after: i64) -> Result<AccessChanges, StoreError> {
        let seq = self.access_seq().await?;
        if seq <= after {
            return Ok(AccessChanges {
                seq,
                ..AccessChanges::default()
            });
        }
        let backend = self.db.get_database_backend();
        let people = Query::select()
            .column(identities::Column::Id)
            .column(identities::Column::Username)
            .from(identities::Entity)
            .and_where(Expr::col(identities::Column::ChangeSeq).gt(after))
            .and_where(Expr::col(identities::Column::ChangeSeq).lte(seq))
            .to_owned();
        let mut renamed = Vec::new();
        for row in self.db.query_all_raw(backend.build(&people)).await? {
            renamed.push((
                row.try_get_by_index::<Uuid>(0)?,
                row.try_get_by_index::<String>(1)?,
            ));
        }
        let mut q = grant_rows();
        q.and_where(Expr::col((grants::Entity, grants::Column::ChangeSeq)).gt(after))
            .and_where(Expr::col((grants::Entity, grants::Column::ChangeSeq)).lte(seq));
        Ok(AccessChanges {
            seq,
            identities: renamed,
            grants: self.rows(&q).await?,
        })
    }

    async fn rows(
        &self,
        q: &sea_orm::sea_query::SelectStatement,
    ) -> Result<Vec<AccessRow>, StoreError> {
        let stmt: Statement = self.db.get_database_backend().build(q);
        Row::find_by_statement(stmt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(AccessRow::try_from)
            .collect()
    }
}
