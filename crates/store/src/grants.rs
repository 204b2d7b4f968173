//! Grants and the due-time queue that drives them. Break-glass reviews and incidents
//! (`breakglass`), the notification outbox (`outbox`), worker leases (`leases`) and the
//! recording connector's tables (`recording`) have their own modules.
//!
//! A grant row is its own queue entry: `due_at` is when the worker must next act on it
//! (provision it, end it, retry), `NULL` once it is final. The worker reads what is due in
//! due-time order and settles a batch of outcomes in one transaction; each outcome
//! applies only if the grant is unchanged since it was read, so an early revocation racing
//! the worker is never overwritten.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;
use warden_core::request::{RequestKind, RequestState};

use crate::entity::{grants, requests};
use crate::outbox::{OutboxMessage, insert_outbox};
use crate::rows::{from_ms, named, state_names, to_ms};
use crate::{Store, StoreError};

/// Who holds an access, as connectors and notices need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// HR's employee id.
    pub employee_id: String,
    /// The user name (a person's own login on targets).
    pub username: String,
    /// Where notices go.
    pub email: String,
}
/// A grant, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrant {
    /// Grant id.
    pub id: Uuid,
    /// The request that made it.
    pub request_id: Uuid,
    /// The identity holding it.
    pub identity_id: Uuid,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// The resource's kind when granted: which connector revokes it, even if the resource
    /// has since left policy.
    pub target_kind: String,
    /// The resource's connection when granted.
    pub connection: String,
    /// The kind of the request that made it.
    pub kind: RequestKind,
    /// Provisioning, active, revoking, revoked or failed.
    pub state: RequestState,
    /// How long it runs once provisioned, in seconds.
    pub duration_secs: i64,
    /// When the access was provisioned (the clock's start).
    pub starts_at: Option<OffsetDateTime>,
    /// When it must be gone.
    pub ends_at: Option<OffsetDateTime>,
    /// When the worker must next act on it; `None` once final.
    pub due_at: Option<OffsetDateTime>,
    /// Failed attempts of the current step.
    pub attempts: i32,
    /// The last failure, as the connector reported it.
    pub last_error: Option<String>,
    /// The connector's handle for the access.
    pub handle: Option<String>,
    /// Why it ended before its time (revoked early, leaver, ...), if it did.
    pub end_reason: Option<String>,
    /// Whether the expiring-soon notice was sent.
    pub warned: bool,
    /// Queued.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// The worker's outcome for one grant it read: the grant's new values, applied only when
/// the grant's `updated_at` is still `read_at`, with the request's new state and what the
/// outcome brings with it. The worker computes a new state with [`RequestState::next`]
/// from the state it read, and the request moves to the same state.
#[derive(Debug, Clone)]
pub struct GrantChange {
    /// The `updated_at` the grant was read with.
    pub read_at: OffsetDateTime,
    /// The grant as it is to be.
    pub grant: StoredGrant,
    /// The request's new state, if it changes.
    pub request_state: Option<RequestState>,
    /// Notifications.
    pub outbox: Vec<OutboxMessage>,
    /// Audit events.
    pub events: Vec<AuditEvent>,
}

/// Which grants to list.
#[derive(Debug, Clone, Copy)]
pub enum GrantFilter {
    /// Those an identity holds.
    Identity(Uuid),
    /// Live ones (provisioning, active, revoking).
    Live,
    /// All.
    All,
}

fn grant_from(m: grants::Model) -> Result<StoredGrant, StoreError> {
    Ok(StoredGrant {
        id: m.id,
        request_id: m.request_id,
        identity_id: m.identity_id,
        resource: m.resource,
        role: m.role,
        target_kind: m.target_kind,
        connection: m.connection,
        kind: named("grants", m.id, &m.kind, RequestKind::parse)?,
        state: named("grants", m.id, &m.state, RequestState::parse)?,
        duration_secs: m.duration_secs,
        starts_at: m.starts_at.map(from_ms).transpose()?,
        ends_at: m.ends_at.map(from_ms).transpose()?,
        due_at: m.due_at.map(from_ms).transpose()?,
        attempts: m.attempts,
        last_error: m.last_error,
        handle: m.handle,
        end_reason: m.end_reason,
        warned: m.warned,
        created_at: from_ms(m.created_at)?,
        updated_at: from_ms(m.updated_at)?,
    })
}

/// Grant rows per settling statement (12 parameters each).
const SETTLE_ROWS: usize = 200;

/// A `VALUES` list of `rows` as placeholders, with their values in order. `types` names
/// each column's PostgreSQL type: PostgreSQL types a `VALUES` column from its first row,
/// so each placeholder says its type there.
fn values_list<const N: usize>(
    backend: sea_orm::DbBackend,
    types: [&str; N],
    rows: impl IntoIterator<Item = [sea_orm::Value; N]>,
) -> (String, Vec<sea_orm::Value>) {
    let mut values = Vec::new();
    let mut tuples = Vec::new();
    for row in rows {
        let marks: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, ty)| match backend {
                sea_orm::DbBackend::Postgres => format!("${}::{ty}", values.len() + i + 1),
                _ => "?".to_owned(),
            })
            .collect();
        tuples.push(format!("({})", marks.join(", ")));
        values.extend(row);
    }
    (tuples.join(", "), values)
}

/// One statement that settles `changes`: each row's mutable columns set only where the
/// row still has the `updated_at` it was read with.
fn settle_statement(
    backend: sea_orm::DbBackend,
    changes: &[GrantChange],
    seq: i64,
) -> (String, Vec<sea_orm::Value>) {
    use sea_orm::Value;
    const TYPES: [&str; 12] = [
        "uuid", "int8", "text", "int8", "int8", "int8", "int4", "text", "text", "text", "bool",
        "int8",
    ];
    let rows = changes.iter().map(|c| {
        let g = &c.grant;
        [
            Value::from(g.id),
            Value::from(to_ms(c.read_at)),
            Value::from(g.state.as_str()),
            Value::from(g.starts_at.map(to_ms)),
            Value::from(g.ends_at.map(to_ms)),
            Value::from(g.due_at.map(to_ms)),
            Value::from(g.attempts),
            Value::from(g.last_error.clone()),
            Value::from(g.handle.clone()),
            Value::from(g.end_reason.clone()),
            Value::from(g.warned),
            Value::from(to_ms(g.updated_at)),
        ]
    });
    let (list, values) = values_list(backend, TYPES, rows);
    let sql = format!(
        "UPDATE grants SET state = v.column3, starts_at = v.column4, ends_at = v.column5, \
         due_at = v.column6, attempts = v.column7, last_error = v.column8, handle = v.column9, \
         end_reason = v.column10, warned = v.column11, updated_at = v.column12, \
         change_seq = {seq} \
         FROM (VALUES {list}) AS v WHERE grants.id = v.column1 AND grants.updated_at = v.column2"
    );
    (sql, values)
}

fn grant_model(g: &StoredGrant, change_seq: i64) -> grants::ActiveModel {
    grants::ActiveModel {
        id: Set(g.id),
        request_id: Set(g.request_id),
        identity_id: Set(g.identity_id),
        resource: Set(g.resource.clone()),
        role: Set(g.role.clone()),
        target_kind: Set(g.target_kind.clone()),
        connection: Set(g.connection.clone()),
        kind: Set(g.kind.as_str().to_owned()),
        state: Set(g.state.as_str().to_owned()),
        duration_secs: Set(g.duration_secs),
        starts_at: Set(g.starts_at.map(to_ms)),
        ends_at: Set(g.ends_at.map(to_ms)),
        due_at: Set(g.due_at.map(to_ms)),
        attempts: Set(g.attempts),
        last_error: Set(g.last_error.clone()),
        handle: Set(g.handle.clone()),
        end_reason: Set(g.end_reason.clone()),
        warned: Set(g.warned),
        created_at: Set(to_ms(g.created_at)),
        updated_at: Set(to_ms(g.updated_at)),
        change_seq: Set(change_seq),
    }
}

pub(crate) async fn insert_grant(
    txn: &DatabaseTransaction,
    g: &StoredGrant,
) -> Result<(), StoreError> {
    let seq = crate::access::next_access_seq(txn).await?;
    grants::Entity::insert(grant_model(g, seq))
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

impl Store {
    // ----- grants -----

    /// One grant.
    pub async fn grant(&self, id: Uuid) -> Result<Option<StoredGrant>, StoreError> {
        grants::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(grant_from)
            .transpose()
    }

    /// The grant a request made, if any.
    pub async fn grant_of_request(
        &self,
        request_id: Uuid,
    ) -> Result<Option<StoredGrant>, StoreError> {
        grants::Entity::find()
            .filter(grants::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await?
            .map(grant_from)
            .transpose()
    }

    /// The live grants (provisioning, active, revoking) on `resource`.
    pub async fn live_grants_on(&self, resource: &str) -> Result<Vec<StoredGrant>, StoreError> {
        grants::Entity::find()
            .filter(grants::Column::Resource.eq(resource))
            .filter(grants::Column::State.is_in(state_names(RequestState::LIVE)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(grant_from)
            .collect()
    }

    /// Grants, newest first.
    pub async fn list_grants(&self, filter: GrantFilter) -> Result<Vec<StoredGrant>, StoreError> {
        let query = match filter {
            GrantFilter::Identity(id) => {
                grants::Entity::find().filter(grants::Column::IdentityId.eq(id))
            }
            GrantFilter::Live => grants::Entity::find()
                .filter(grants::Column::State.is_in(state_names(RequestState::LIVE))),
            GrantFilter::All => grants::Entity::find(),
        };
        query
            .order_by_desc(grants::Column::CreatedAt)
            .order_by_desc(grants::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(grant_from)
            .collect()
    }

    /// Grants due at `now`, earliest first, at most `limit`.
    pub async fn due_grants(
        &self,
        now: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<StoredGrant>, StoreError> {
        grants::Entity::find()
            .filter(grants::Column::DueAt.lte(to_ms(now)))
            .order_by_asc(grants::Column::DueAt)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(grant_from)
            .collect()
    }

    /// When the next grant is due, if any is queued.
    pub async fn next_grant_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let next: Option<Option<i64>> = grants::Entity::find()
            .select_only()
            .column(grants::Column::DueAt)
            .filter(grants::Column::DueAt.is_not_null())
            .order_by_asc(grants::Column::DueAt)
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        next.flatten().map(from_ms).transpose()
    }

    /// The live grants of one access (identity, resource, role).
    pub async fn live_grants_of(
        &self,
        identity: Uuid,
        resource: &str,
        role: &str,
    ) -> Result<Vec<StoredGrant>, StoreError> {
        grants::Entity::find()
            .filter(grants::Column::IdentityId.eq(identity))
            .filter(grants::Column::Resource.eq(resource))
            .filter(grants::Column::Role.eq(role))
            .filter(grants::Column::State.is_in(state_names(RequestState::LIVE)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(grant_from)
            .collect()
    }

    /// The live grants of every access of `identities`, in one query per 500 identities:
    /// the worker's look at overlapping grants, for a whole round at once.
    pub async fn live_grants_of_identities(
        &self,
        identities: &[Uuid],
    ) -> Result<Vec<StoredGrant>, StoreError> {
        let mut out = Vec::new();
        for chunk in identities.chunks(500) {
            let rows = grants::Entity::find()
                .filter(grants::Column::IdentityId.is_in(chunk.iter().copied()))
                .filter(grants::Column::State.is_in(state_names(RequestState::LIVE)))
                .all(&self.db)
                .await?;
            for m in rows {
                out.push(grant_from(m)?);
            }
        }
        Ok(out)
    }

    /// The live grants of each access (identity, resource, role) of `accesses`, in one
    /// query per 300 accesses: the worker's look at overlapping grants, for a whole round
    /// at once. Each access is one probe of the access index.
    pub async fn live_grants_of_accesses(
        &self,
        accesses: &[(Uuid, String, String)],
    ) -> Result<Vec<StoredGrant>, StoreError> {
        use sea_orm::{FromQueryResult as _, Value};
        let backend = self.db.get_database_backend();
        let mut out = Vec::new();
        for chunk in accesses.chunks(300) {
            let (list, values) = values_list(
                backend,
                ["uuid", "text", "text"],
                chunk.iter().map(|(identity, resource, role)| {
                    [
                        Value::from(*identity),
                        Value::from(resource.clone()),
                        Value::from(role.clone()),
                    ]
                }),
            );
            let states = RequestState::LIVE
                .iter()
                .map(|s| s.as_str())
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT g.* FROM (VALUES {list}) AS v \
                 JOIN grants g ON g.identity_id = v.column1 AND g.resource = v.column2 \
                 AND g.role = v.column3 WHERE g.state IN ({states})"
            );
            let rows = grants::Model::find_by_statement(sea_orm::Statement::from_sql_and_values(
                backend, sql, values,
            ))
            .all(&self.db)
            .await?;
            for m in rows {
                out.push(grant_from(m)?);
            }
        }
        Ok(out)
    }

    /// The employee id, user name and e-mail address of each of `identities` that exists.
    pub async fn contacts(
        &self,
        identities: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Contact>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for chunk in identities.chunks(500) {
            let rows: Vec<(Uuid, String, String, String)> =
                crate::entity::identities::Entity::find()
                    .select_only()
                    .column(crate::entity::identities::Column::Id)
                    .column(crate::entity::identities::Column::EmployeeId)
                    .column(crate::entity::identities::Column::Username)
                    .column(crate::entity::identities::Column::Email)
                    .filter(crate::entity::identities::Column::Id.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(&self.db)
                    .await?;
            for (id, employee_id, username, email) in rows {
                out.insert(
                    id,
                    Contact {
                        employee_id,
                        username,
                        email,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The active grant of an access that runs at `now` and ends last, if any: the hot
    /// path of the access check.
    pub async fn active_grant(
        &self,
        identity: Uuid,
        resource: &str,
        role: &str,
        now: OffsetDateTime,
    ) -> Result<Option<StoredGrant>, StoreError> {
        self.running_grant(grants::Column::IdentityId.eq(identity), resource, role, now)
            .await
    }

    /// [`Self::active_grant`] for the identity with user name `username`, in one query:
    /// the access check's fast path. `None` also when there is no such identity.
    pub async fn active_grant_of_username(
        &self,
        username: &str,
        resource: &str,
        role: &str,
        now: OffsetDateTime,
    ) -> Result<Option<StoredGrant>, StoreError> {
        use sea_orm::sea_query::Query;
        let identity = Query::select()
            .column(crate::entity::identities::Column::Id)
            .from(crate::entity::identities::Entity)
            .and_where(crate::entity::identities::Column::Username.eq(username))
            .to_owned();
        self.running_grant(
            grants::Column::IdentityId.in_subquery(identity),
            resource,
            role,
            now,
        )
        .await
    }

    /// The active grant running at `now` and ending last of `resource` and `role` for the
    /// identity `holder` selects.
    async fn running_grant(
        &self,
        holder: sea_orm::sea_query::SimpleExpr,
        resource: &str,
        role: &str,
        now: OffsetDateTime,
    ) -> Result<Option<StoredGrant>, StoreError> {
        let now = to_ms(now);
        grants::Entity::find()
            .filter(holder)
            .filter(grants::Column::Resource.eq(resource))
            .filter(grants::Column::Role.eq(role))
            .filter(grants::Column::State.eq(RequestState::Active.as_str()))
            .filter(grants::Column::StartsAt.lte(now))
            .filter(grants::Column::EndsAt.gt(now))
            .order_by_desc(grants::Column::EndsAt)
            .one(&self.db)
            .await?
            .map(grant_from)
            .transpose()
    }

    /// Active grants ending after `now` and by `before` whose expiring-soon notice has not
    /// been sent. A grant already at its end is the revocation's business, not a warning's.
    pub async fn grants_to_warn(
        &self,
        now: OffsetDateTime,
        before: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<StoredGrant>, StoreError> {
        grants::Entity::find()
            .filter(grants::Column::State.eq(RequestState::Active.as_str()))
            .filter(grants::Column::Warned.eq(false))
            .filter(grants::Column::EndsAt.gt(to_ms(now)))
            .filter(grants::Column::EndsAt.lte(to_ms(before)))
            .order_by_asc(grants::Column::EndsAt)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(grant_from)
            .collect()
    }

    /// Applies the worker's outcomes in one transaction. An outcome whose grant changed
    /// since it was read is skipped with everything it brings; the ids of those are
    /// returned.
    pub async fn settle_grants(&self, changes: &[GrantChange]) -> Result<Vec<Uuid>, StoreError> {
        let write = self.begin_write().await?;
        let mut stale = Vec::new();
        // Grant rows many per statement, each applied only over the state it was read in;
        // then which were applied is read back, and only those carry their consequences.
        use sea_orm::ConnectionTrait as _;
        let backend = write.txn.get_database_backend();
        let seq = crate::access::next_access_seq(&write.txn).await?;
        for chunk in changes.chunks(SETTLE_ROWS) {
            let (sql, values) = settle_statement(backend, chunk, seq);
            write
                .txn
                .execute_raw(sea_orm::Statement::from_sql_and_values(
                    backend, sql, values,
                ))
                .await?;
        }
        // A row counts as applied only when this transaction wrote it (its `change_seq`
        // is this transaction's): a row another settler already moved to the very same
        // values (same outcome, same millisecond) was not written here, and its outcome's
        // events and notices must not be written a second time.
        let mut now_stored: std::collections::HashMap<Uuid, (i64, String, i64)> =
            std::collections::HashMap::new();
        for chunk in changes.chunks(500) {
            let rows: Vec<(Uuid, i64, String, i64)> = grants::Entity::find()
                .select_only()
                .column(grants::Column::Id)
                .column(grants::Column::UpdatedAt)
                .column(grants::Column::State)
                .column(grants::Column::ChangeSeq)
                .filter(grants::Column::Id.is_in(chunk.iter().map(|c| c.grant.id)))
                .into_tuple()
                .all(&write.txn)
                .await?;
            now_stored.extend(
                rows.into_iter()
                    .map(|(id, at, state, written)| (id, (at, state, written))),
            );
        }
        let mut request_moves: std::collections::BTreeMap<&str, Vec<Uuid>> =
            std::collections::BTreeMap::new();
        let mut outbox = Vec::new();
        let mut events = Vec::new();
        let mut latest = None;
        let mut widened = false;
        for c in changes {
            let g = &c.grant;
            let applied = now_stored.get(&g.id).is_some_and(|(at, state, written)| {
                *written == seq && *at == to_ms(g.updated_at) && state == g.state.as_str()
            });
            if !applied {
                stale.push(g.id);
                continue;
            }
            if let Some(state) = c.request_state {
                request_moves
                    .entry(state.as_str())
                    .or_default()
                    .push(g.request_id);
            }
            latest = latest.max(Some(g.updated_at));
            widened |= g.state == RequestState::Active;
            outbox.extend(c.outbox.iter().cloned());
            events.extend(c.events.iter());
        }
        if let Some(at) = latest {
            for (state, ids) in request_moves {
                for chunk in ids.chunks(500) {
                    requests::Entity::update_many()
                        .col_expr(requests::Column::State, Expr::value(state.to_owned()))
                        .col_expr(requests::Column::UpdatedAt, Expr::value(to_ms(at)))
                        .filter(requests::Column::Id.is_in(chunk.iter().copied()))
                        .exec(&write.txn)
                        .await?;
                }
            }
        }
        for chunk in outbox.chunks(200) {
            insert_outbox(&write.txn, chunk).await?;
        }
        crate::audit::insert_audits(&write.txn, &events).await?;
        write.txn.commit().await?;
        // The worker's outcomes never take access away before the clock has: a grant it
        // settles as ended had already reached its end. They give access when they make a
        // grant active.
        if widened {
            self.access_widened();
        } else {
            self.access_written();
        }
        Ok(stale)
    }

    /// Ends live grants now (revoked early, holder left, no longer eligible): their end
    /// moves to `at` unless it is earlier, and they are due at once. Returns how many
    /// grants changed; none when `ids` are all final.
    pub async fn end_grants(
        &self,
        ids: &[Uuid],
        at: OffsetDateTime,
        reason: &str,
        outbox: &[OutboxMessage],
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let write = self.begin_write().await?;
        let n = end_grants_in(&write.txn, ids, at, reason).await?;
        if n > 0 {
            insert_outbox(&write.txn, outbox).await?;
            crate::audit::insert_audits(&write.txn, events).await?;
        }
        write.txn.commit().await?;
        self.access_changed();
        Ok(n)
    }

    /// Pending requests whose timeout passed at `now`.
    pub async fn timed_out_requests(
        &self,
        now: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<Uuid>, StoreError> {
        Ok(requests::Entity::find()
            .select_only()
            .column(requests::Column::Id)
            .filter(requests::Column::State.eq(RequestState::Pending.as_str()))
            .filter(requests::Column::PendingUntil.lte(to_ms(now)))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}

/// Ends the live grants among `ids` at `at` (see [`Store::end_grants`]).
pub(crate) async fn end_grants_in(
    txn: &DatabaseTransaction,
    ids: &[Uuid],
    at: OffsetDateTime,
    reason: &str,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let at = to_ms(at);
    let seq = crate::access::next_access_seq(txn).await?;
    let mut n = 0;
    for chunk in ids.chunks(500) {
        let live = Condition::all()
            .add(grants::Column::Id.is_in(chunk.iter().copied()))
            .add(grants::Column::State.is_in(state_names(
                RequestState::ALL.into_iter().filter(|s| s.keeps_access()),
            )));
        // The end only moves earlier.
        grants::Entity::update_many()
            .col_expr(grants::Column::EndsAt, Expr::value(at))
            .filter(live.clone())
            .filter(
                Condition::any()
                    .add(grants::Column::EndsAt.is_null())
                    .add(grants::Column::EndsAt.gt(at)),
            )
            .exec(txn)
            .await?;
        let moved = grants::Entity::update_many()
            .col_expr(grants::Column::DueAt, Expr::value(at))
            .col_expr(grants::Column::EndReason, Expr::value(reason.to_owned()))
            .col_expr(grants::Column::UpdatedAt, Expr::value(at))
            .col_expr(grants::Column::ChangeSeq, Expr::value(seq))
            .filter(live)
            .exec(txn)
            .await?;
        n += moved.rows_affected;
    }
    Ok(n)
}
