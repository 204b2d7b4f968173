//! Carrying out the queued target changes of birthright access (`access_jobs`): the
//! provisioning worker reads what is due, and settles each job with its audit event (and
//! notifications) in one transaction: done, or due again later after a failure.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;

use crate::entity::{access_jobs, birthright_assignments};
use crate::outbox::insert_outbox;
use crate::rows::{from_ms, to_ms};
use crate::{OutboxMessage, Store, StoreError, insert_audit};

/// A queued target change, due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueJob {
    /// Job id.
    pub id: Uuid,
    /// `provision` or `deprovision`.
    pub action: String,
    /// For whom.
    pub identity_id: Uuid,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When it was queued.
    pub created_at: OffsetDateTime,
}

/// How a job ended this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Carried out (or found unnecessary); `note` says which.
    Done {
        /// What happened.
        note: String,
    },
    /// Failed; tried again at `due_at`.
    Retry {
        /// Failures so far, this one included.
        attempts: i32,
        /// When to try again.
        due_at: OffsetDateTime,
        /// The failure.
        error: String,
    },
}

impl Store {
    /// Pending jobs due at `now`, oldest first, at most `limit`.
    pub async fn due_access_jobs(
        &self,
        now: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<DueJob>, StoreError> {
        access_jobs::Entity::find()
            .filter(access_jobs::Column::State.eq("pending"))
            .filter(access_jobs::Column::DueAt.lte(to_ms(now)))
            .order_by_asc(access_jobs::Column::CreatedAt)
            .order_by_asc(access_jobs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|j| {
                Ok(DueJob {
                    id: j.id,
                    action: j.action,
                    identity_id: j.identity_id,
                    resource: j.resource,
                    role: j.role,
                    attempts: j.attempts,
                    created_at: from_ms(j.created_at)?,
                })
            })
            .collect()
    }

    /// Settles job `id` (only while it is still pending), with its audit event and
    /// notifications, all or nothing.
    pub async fn settle_access_job(
        &self,
        id: Uuid,
        outcome: &JobOutcome,
        event: &AuditEvent,
        outbox: &[OutboxMessage],
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let update = access_jobs::Entity::update_many()
            .filter(access_jobs::Column::Id.eq(id))
            .filter(access_jobs::Column::State.eq("pending"));
        let update = match outcome {
            JobOutcome::Done { note } => update
                .col_expr(access_jobs::Column::State, Expr::value("done"))
                .col_expr(
                    access_jobs::Column::LastError,
                    Expr::value(Some(note.clone())),
                ),
            JobOutcome::Retry {
                attempts,
                due_at,
                error,
            } => update
                .col_expr(access_jobs::Column::Attempts, Expr::value(*attempts))
                .col_expr(access_jobs::Column::DueAt, Expr::value(to_ms(*due_at)))
                .col_expr(
                    access_jobs::Column::LastError,
                    Expr::value(Some(error.clone())),
                ),
        };
        update.exec(&write.txn).await?;
        insert_audit(&write.txn, event).await?;
        insert_outbox(&write.txn, outbox).await?;
        write.txn.commit().await?;
        Ok(())
    }

    /// The birthright holders of `resource`: (identity, role).
    pub async fn birthright_on(&self, resource: &str) -> Result<Vec<(Uuid, String)>, StoreError> {
        Ok(birthright_assignments::Entity::find()
            .filter(birthright_assignments::Column::Resource.eq(resource))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.identity_id, m.role))
            .collect())
    }

    /// The birthright accesses (identity, resource, role) of `identities`.
    pub async fn birthright_of_identities(
        &self,
        identities: &[Uuid],
    ) -> Result<Vec<(Uuid, String, String)>, StoreError> {
        let mut out = Vec::new();
        for chunk in identities.chunks(500) {
            out.extend(
                birthright_assignments::Entity::find()
                    .filter(birthright_assignments::Column::IdentityId.is_in(chunk.iter().copied()))
                    .all(&self.db)
                    .await?
                    .into_iter()
                    .map(|m| (m.identity_id, m.resource, m.role)),
            );
        }
        Ok(out)
    }

    /// Whether a pending job exists for this access (the worker has not caught up yet).
    pub async fn access_job_pending(
        &self,
        identity: Uuid,
        resource: &str,
        role: &str,
    ) -> Result<bool, StoreError> {
        Ok(access_jobs::Entity::find()
            .filter(access_jobs::Column::IdentityId.eq(identity))
            .filter(access_jobs::Column::Resource.eq(resource))
            .filter(access_jobs::Column::Role.eq(role))
            .filter(access_jobs::Column::State.eq("pending"))
            .one(&self.db)
            .await?
            .is_some())
    }
}
