//! The notification outbox: messages written in the same transaction as the change they
//! announce, delivered by the worker at least once (receivers drop repeats by id), with
//! their delivery state.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;

use crate::entity::outbox;
use crate::rows::{from_ms, to_ms};
use crate::{Store, StoreError};

/// One notification for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Message id: receivers use it to drop a repeated delivery.
    pub id: Uuid,
    /// The configured channel that delivers it.
    pub channel: String,
    /// The event name (`request.needs_approval`, `grant.revoked`, ...).
    pub event: String,
    /// The event as JSON.
    pub payload: String,
    /// Written.
    pub created_at: OffsetDateTime,
}

/// An outbox row with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutbox {
    /// The message.
    pub message: OutboxMessage,
    /// When the next attempt is due; `None` once delivered.
    pub due_at: Option<OffsetDateTime>,
    /// Failed attempts so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<OffsetDateTime>,
}

fn outbox_from(m: outbox::Model) -> Result<StoredOutbox, StoreError> {
    Ok(StoredOutbox {
        message: OutboxMessage {
            id: m.id,
            channel: m.channel,
            event: m.event,
            payload: m.payload,
            created_at: from_ms(m.created_at)?,
        },
        due_at: m.due_at.map(from_ms).transpose()?,
        attempts: m.attempts,
        last_error: m.last_error,
        delivered_at: m.delivered_at.map(from_ms).transpose()?,
    })
}

pub(crate) async fn insert_outbox(
    txn: &DatabaseTransaction,
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    outbox::Entity::insert_many(messages.iter().map(|m| outbox::ActiveModel {
        id: Set(m.id),
        channel: Set(m.channel.clone()),
        event: Set(m.event.clone()),
        payload: Set(m.payload.clone()),
        created_at: Set(to_ms(m.created_at)),
        due_at: Set(Some(to_ms(m.created_at))),
        attempts: Set(0),
        last_error: Set(None),
        delivered_at: Set(None),
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

impl Store {
    /// Writes notifications (with their events) that accompany no other change.
    pub async fn notify(
        &self,
        outbox: &[OutboxMessage],
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        insert_outbox(&write.txn, outbox).await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Messages due for delivery at `now`, earliest first.
    pub async fn due_outbox(
        &self,
        now: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<StoredOutbox>, StoreError> {
        outbox::Entity::find()
            .filter(outbox::Column::DueAt.lte(to_ms(now)))
            .order_by_asc(outbox::Column::DueAt)
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(outbox_from)
            .collect()
    }

    /// When the next message is due, if any waits.
    pub async fn next_outbox_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let next: Option<Option<i64>> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::DueAt)
            .filter(outbox::Column::DueAt.is_not_null())
            .order_by_asc(outbox::Column::DueAt)
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        next.flatten().map(from_ms).transpose()
    }

    /// Every message, oldest first (for operators and tests).
    pub async fn outbox_messages(&self) -> Result<Vec<StoredOutbox>, StoreError> {
        outbox::Entity::find()
            .order_by_asc(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(outbox_from)
            .collect()
    }

    /// Marks a message delivered: it is never sent again.
    pub async fn outbox_delivered(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        outbox::Entity::update_many()
            .col_expr(outbox::Column::DeliveredAt, Expr::value(to_ms(at)))
            .col_expr(outbox::Column::DueAt, Expr::value(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id))
            .exec(&write.txn)
            .await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// Records a failed delivery and when to try again.
    pub async fn outbox_failed(
        &self,
        id: Uuid,
        attempts: i32,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(outbox::Column::DueAt, Expr::value(to_ms(retry_at)))
            .col_expr(outbox::Column::LastError, Expr::value(error.to_owned()))
            .filter(outbox::Column::Id.eq(id))
            .exec(&write.txn)
            .await?;
        write.txn.commit().await?;
        Ok(())
    }
}
