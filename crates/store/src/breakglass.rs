//! Break-glass reviews and incidents: the holder's justification, the reviewers'
//! verdicts, each move of the review checked by core's review state machine, and the
//! incidents an unjustified or lapsed use opens.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;
use warden_core::request::{BreakGlassReview, ReviewEvent};

use crate::entity::{incidents, requests, reviews};
use crate::outbox::{OutboxMessage, insert_outbox};
use crate::rows::{from_ms, to_ms};
use crate::{Store, StoreError};

/// A post-facto review of a break-glass grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReview {
    /// Review id.
    pub id: Uuid,
    /// The break-glass request.
    pub request_id: Uuid,
    /// The reviewer's identity.
    pub reviewer_id: Uuid,
    /// The reviewer's employee id.
    pub reviewer_employee_id: String,
    /// `manager` or `security`.
    pub capacity: String,
    /// `justified` or `unjustified`.
    pub verdict: String,
    /// Why.
    pub comment: String,
    /// When.
    pub at: OffsetDateTime,
}

/// A security incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIncident {
    /// Incident id.
    pub id: Uuid,
    /// The request that caused it.
    pub request_id: Uuid,
    /// Opened.
    pub opened_at: OffsetDateTime,
    /// Why.
    pub reason: String,
    /// `open` or `closed`.
    pub state: String,
}

/// A move of a break-glass review.
#[derive(Debug, Clone)]
pub struct ReviewStep<'a> {
    /// The request.
    pub request_id: Uuid,
    /// The review state it must still be in.
    pub from: BreakGlassReview,
    /// What happens to it: the state it moves to is `from.next(event)`; `None` when a
    /// verdict is recorded and the review waits for another.
    pub event: Option<ReviewEvent>,
    /// The holder's justification, when this step records it.
    pub justification: Option<&'a str>,
    /// A reviewer's verdict to record.
    pub review: Option<&'a StoredReview>,
    /// An incident to open.
    pub incident: Option<&'a StoredIncident>,
    /// When.
    pub at: OffsetDateTime,
}

fn incident_from(m: incidents::Model) -> Result<StoredIncident, StoreError> {
    Ok(StoredIncident {
        id: m.id,
        request_id: m.request_id,
        opened_at: from_ms(m.opened_at)?,
        reason: m.reason,
        state: m.state,
    })
}

impl Store {
    /// Moves a break-glass review, recording a verdict, a justification or an incident
    /// with it. Refused with [`StoreError::Stale`] when the review is no longer in `from`.
    pub async fn review_step(
        &self,
        step: &ReviewStep<'_>,
        outbox: &[OutboxMessage],
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let to = match step.event {
            Some(event) => step.from.next(event)?,
            None => step.from,
        };
        let write = self.begin_write().await?;
        let mut update = requests::Entity::update_many()
            .col_expr(requests::Column::Review, Expr::value(to.as_str()));
        if let Some(j) = step.justification {
            update = update.col_expr(
                requests::Column::ReviewJustification,
                Expr::value(j.to_owned()),
            );
        }
        let moved = update
            .filter(requests::Column::Id.eq(step.request_id))
            .filter(requests::Column::Review.eq(step.from.as_str()))
            .exec(&write.txn)
            .await?;
        if moved.rows_affected == 0 {
            return Err(StoreError::Stale(format!(
                "break-glass review of request {}",
                step.request_id
            )));
        }
        if let Some(r) = step.review {
            reviews::Entity::insert(reviews::ActiveModel {
                id: Set(r.id),
                request_id: Set(r.request_id),
                reviewer_id: Set(r.reviewer_id),
                reviewer_employee_id: Set(r.reviewer_employee_id.clone()),
                capacity: Set(r.capacity.clone()),
                verdict: Set(r.verdict.clone()),
                comment: Set(r.comment.clone()),
                at: Set(to_ms(r.at)),
            })
            .exec_without_returning(&write.txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    StoreError::Conflict(format!(
                        "a review of {} on request {}",
                        r.reviewer_employee_id, r.request_id
                    ))
                }
                _ => StoreError::from(e),
            })?;
        }
        if let Some(i) = step.incident {
            incidents::Entity::insert(incidents::ActiveModel {
                id: Set(i.id),
                request_id: Set(i.request_id),
                opened_at: Set(to_ms(i.opened_at)),
                reason: Set(i.reason.clone()),
                state: Set(i.state.clone()),
            })
            .exec_without_returning(&write.txn)
            .await?;
        }
        insert_outbox(&write.txn, outbox).await?;
        crate::audit::insert_audits(&write.txn, events).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// The reviews of a break-glass request, oldest first.
    pub async fn reviews(&self, request_id: Uuid) -> Result<Vec<StoredReview>, StoreError> {
        reviews::Entity::find()
            .filter(reviews::Column::RequestId.eq(request_id))
            .order_by_asc(reviews::Column::At)
            .order_by_asc(reviews::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(StoredReview {
                    id: m.id,
                    request_id: m.request_id,
                    reviewer_id: m.reviewer_id,
                    reviewer_employee_id: m.reviewer_employee_id,
                    capacity: m.capacity,
                    verdict: m.verdict,
                    comment: m.comment,
                    at: from_ms(m.at)?,
                })
            })
            .collect()
    }

    /// The incident a request opened, if it did.
    pub async fn incident_of(
        &self,
        request_id: Uuid,
    ) -> Result<Option<StoredIncident>, StoreError> {
        incidents::Entity::find()
            .filter(incidents::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await?
            .map(incident_from)
            .transpose()
    }

    /// Every incident, newest first.
    pub async fn incidents(&self) -> Result<Vec<StoredIncident>, StoreError> {
        incidents::Entity::find()
            .order_by_desc(incidents::Column::OpenedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(incident_from)
            .collect()
    }

    /// Break-glass requests whose justification is overdue at `now`.
    pub async fn overdue_justifications(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<Uuid>, StoreError> {
        Ok(requests::Entity::find()
            .select_only()
            .column(requests::Column::Id)
            .filter(requests::Column::Review.eq(BreakGlassReview::JustificationDue.as_str()))
            .filter(requests::Column::ReviewDueAt.lte(to_ms(now)))
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
