//! Access requests and the decisions on them. A decision commits only when the request is
//! still in the state it was read in, so two approvers racing cannot both move it.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::audit::AuditEvent;
use warden_core::request::{
    BreakGlassReview, Event, RequestKind, RequestRoute, RequestState, TransitionError,
};

use crate::entity::{approvals, requests};
use crate::grants::{StoredGrant, insert_grant};
use crate::outbox::{OutboxMessage, insert_outbox};
use crate::rows::{from_ms, named, state_names, to_ms};
use crate::{Store, StoreError};

/// An access request, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// Request id.
    pub id: Uuid,
    /// The identity who asked.
    pub requester_id: Uuid,
    /// The identity who would hold the access (the requester, or a sponsored vendor).
    pub beneficiary_id: Uuid,
    /// The Warden user who filed it.
    pub requested_by: String,
    /// Resource name.
    pub resource: String,
    /// Role name.
    pub role: String,
    /// Asked duration, in seconds.
    pub duration_secs: i64,
    /// Why.
    pub justification: String,
    /// Ticket, if given.
    pub ticket: Option<String>,
    /// The eligibility rule that allowed it.
    pub rule: String,
    /// The approval policy.
    pub approval: String,
    /// How it is approved, fixed at creation.
    pub route: RequestRoute,
    /// Risk score.
    pub risk_total: i32,
    /// Risk factors as JSON (`[{"name","points","reason"}]`).
    pub risk_factors: String,
    /// Lifecycle state.
    pub state: RequestState,
    /// Filed.
    pub created_at: OffsetDateTime,
    /// When a pending request times out.
    pub pending_until: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// What kind of request it is.
    pub kind: RequestKind,
    /// The grant an extension extends.
    pub extends: Option<Uuid>,
    /// The break-glass review state; `None` for other kinds.
    pub review: Option<BreakGlassReview>,
    /// The holder's post-facto justification of a break-glass grant.
    pub review_justification: Option<String>,
    /// When the break-glass justification is due.
    pub review_due_at: Option<OffsetDateTime>,
    /// The earliest the access may be provisioned (a request made ahead of a change
    /// window); `None` for as soon as it is approved.
    pub start_at: Option<OffsetDateTime>,
}

/// What a change brings with it, written in its transaction: the grant it queues, the
/// notifications it announces, and its audit events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Effects<'a> {
    /// A grant to queue for provisioning.
    pub grant: Option<&'a StoredGrant>,
    /// Notifications to deliver.
    pub outbox: &'a [OutboxMessage],
    /// Audit events.
    pub events: &'a [AuditEvent],
}

/// A decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApproval {
    /// Decision id.
    pub id: Uuid,
    /// The request.
    pub request_id: Uuid,
    /// The approver's identity.
    pub approver_id: Uuid,
    /// The approver's employee id.
    pub approver_employee_id: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// In which capacity (the approver sources met, and `security`), as text.
    pub capacity: String,
    /// The approver's comment.
    pub comment: String,
    /// When.
    pub at: OffsetDateTime,
}

/// A move of a request from one state to another, made by an [`Event`]: only a move
/// [`RequestState::next`] allows can be built, so the store cannot write an illegal one.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    request_id: Uuid,
    read_at: OffsetDateTime,
    from: RequestState,
    to: RequestState,
    at: OffsetDateTime,
}

impl Transition {
    /// `event` happening at `at` to request `request_id`, read in state `from` with
    /// `updated_at` `read_at`; refused when the lifecycle does not allow it.
    pub fn new(
        request_id: Uuid,
        read_at: OffsetDateTime,
        from: RequestState,
        event: Event,
        at: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        Ok(Self {
            request_id,
            read_at,
            from,
            to: from.next(event)?,
            at,
        })
    }

    /// Then `event` happens too, in the same write (an approval that queues the grant at
    /// once); refused when the lifecycle does not allow it.
    pub fn then(self, event: Event) -> Result<Self, TransitionError> {
        Ok(Self {
            to: self.to.next(event)?,
            ..self
        })
    }

    /// The state the request moves to.
    pub fn to(&self) -> RequestState {
        self.to
    }
}

/// Which requests to list.
#[derive(Debug, Clone, Copy)]
pub enum RequestFilter {
    /// Those an identity asked for or would hold.
    Involving(Uuid),
    /// Those in a state.
    State(RequestState),
    /// All.
    All,
}

fn request_from(m: requests::Model) -> Result<StoredRequest, StoreError> {
    Ok(StoredRequest {
        id: m.id,
        requester_id: m.requester_id,
        beneficiary_id: m.beneficiary_id,
        requested_by: m.requested_by,
        resource: m.resource,
        role: m.role,
        duration_secs: m.duration_secs,
        justification: m.justification,
        ticket: m.ticket,
        rule: m.rule,
        approval: m.approval,
        route: named("requests", m.id, &m.route, RequestRoute::parse)?,
        risk_total: m.risk_total,
        risk_factors: m.risk_factors,
        state: named("requests", m.id, &m.state, RequestState::parse)?,
        created_at: from_ms(m.created_at)?,
        pending_until: from_ms(m.pending_until)?,
        updated_at: from_ms(m.updated_at)?,
        kind: named("requests", m.id, &m.kind, RequestKind::parse)?,
        extends: m.extends,
        review: m
            .review
            .as_deref()
            .map(|r| named("requests", m.id, r, BreakGlassReview::parse))
            .transpose()?,
        review_justification: m.review_justification,
        review_due_at: m.review_due_at.map(from_ms).transpose()?,
        start_at: m.start_at.map(from_ms).transpose()?,
    })
}

impl Store {
    /// Stores a new request with its events (creation, and approval when automatic).
    pub async fn insert_request(
        &self,
        r: &StoredRequest,
        effects: Effects<'_>,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        requests::Entity::insert(requests::ActiveModel {
            id: Set(r.id),
            requester_id: Set(r.requester_id),
            beneficiary_id: Set(r.beneficiary_id),
            requested_by: Set(r.requested_by.clone()),
            resource: Set(r.resource.clone()),
            role: Set(r.role.clone()),
            duration_secs: Set(r.duration_secs),
            justification: Set(r.justification.clone()),
            ticket: Set(r.ticket.clone()),
            rule: Set(r.rule.clone()),
            approval: Set(r.approval.clone()),
            route: Set(r.route.as_str().to_owned()),
            risk_total: Set(r.risk_total),
            risk_factors: Set(r.risk_factors.clone()),
            state: Set(r.state.as_str().to_owned()),
            created_at: Set(to_ms(r.created_at)),
            pending_until: Set(to_ms(r.pending_until)),
            updated_at: Set(to_ms(r.updated_at)),
            kind: Set(r.kind.as_str().to_owned()),
            extends: Set(r.extends),
            review: Set(r.review.map(|r| r.as_str().to_owned())),
            review_justification: Set(r.review_justification.clone()),
            review_due_at: Set(r.review_due_at.map(to_ms)),
            start_at: Set(r.start_at.map(to_ms)),
        })
        .exec_without_returning(&write.txn)
        .await?;
        write_effects(&write.txn, effects).await?;
        write.txn.commit().await?;
        // A grant is written as provisioning: it gives no access until the worker has
        // made it active. Readers are woken, not invalidated.
        self.access_written();
        Ok(())
    }

    /// One request.
    pub async fn request(&self, id: Uuid) -> Result<Option<StoredRequest>, StoreError> {
        requests::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(request_from)
            .transpose()
    }

    /// Requests, newest first.
    pub async fn list_requests(
        &self,
        filter: RequestFilter,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let query = match filter {
            RequestFilter::Involving(id) => requests::Entity::find().filter(
                Condition::any()
                    .add(requests::Column::RequesterId.eq(id))
                    .add(requests::Column::BeneficiaryId.eq(id)),
            ),
            RequestFilter::State(state) => {
                requests::Entity::find().filter(requests::Column::State.eq(state.as_str()))
            }
            RequestFilter::All => requests::Entity::find(),
        };
        query
            .order_by_desc(requests::Column::CreatedAt)
            .order_by_desc(requests::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(request_from)
            .collect()
    }

    /// The decisions on a request, oldest first.
    pub async fn approvals(&self, request_id: Uuid) -> Result<Vec<StoredApproval>, StoreError> {
        approvals::Entity::find()
            .filter(approvals::Column::RequestId.eq(request_id))
            .order_by_asc(approvals::Column::At)
            .order_by_asc(approvals::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(StoredApproval {
                    id: m.id,
                    request_id: m.request_id,
                    approver_id: m.approver_id,
                    approver_employee_id: m.approver_employee_id,
                    decision: m.decision,
                    capacity: m.capacity,
                    comment: m.comment,
                    at: from_ms(m.at)?,
                })
            })
            .collect()
    }

    /// Whether the beneficiary has had this role on this resource approved before.
    pub async fn approved_before(
        &self,
        beneficiary: Uuid,
        resource: &str,
        role: &str,
    ) -> Result<bool, StoreError> {
        let found = requests::Entity::find()
            .filter(requests::Column::BeneficiaryId.eq(beneficiary))
            .filter(requests::Column::Resource.eq(resource))
            .filter(requests::Column::Role.eq(role))
            .filter(requests::Column::State.is_in(state_names(RequestState::APPROVED_ONCE)))
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Records a decision (or a state change without one, such as a cancel or a timeout)
    /// and moves the request from `from` to `to`, with its audit events. Refused with
    /// [`StoreError::Stale`] when the request changed since it was read (`read_at` is the
    /// `updated_at` it was read with): two approvers deciding at once cannot both count
    /// on a state the other has changed.
    pub async fn decide(
        &self,
        t: &Transition,
        decision: Option<&StoredApproval>,
        effects: Effects<'_>,
    ) -> Result<(), StoreError> {
        let (request_id, read_at, from, to, at) = (t.request_id, t.read_at, t.from, t.to, t.at);
        // `updated_at` is the version the next decision is checked against, so it moves
        // forward even for a decision made in the millisecond the request was read: one
        // approval of several leaves the state as it was, and another decision planned
        // from the same read must still find it changed.
        let stamp = to_ms(at).max(to_ms(read_at).saturating_add(1));
        let write = self.begin_write().await?;
        let moved = requests::Entity::update_many()
            .col_expr(requests::Column::State, Expr::value(to.as_str()))
            .col_expr(requests::Column::UpdatedAt, Expr::value(stamp))
            .filter(requests::Column::Id.eq(request_id))
            .filter(requests::Column::State.eq(from.as_str()))
            .filter(requests::Column::UpdatedAt.eq(to_ms(read_at)))
            .exec(&write.txn)
            .await?;
        if moved.rows_affected == 0 {
            return Err(StoreError::Stale(format!("request {request_id}")));
        }
        if let Some(d) = decision {
            approvals::Entity::insert(approvals::ActiveModel {
                id: Set(d.id),
                request_id: Set(d.request_id),
                approver_id: Set(d.approver_id),
                approver_employee_id: Set(d.approver_employee_id.clone()),
                decision: Set(d.decision.clone()),
                capacity: Set(d.capacity.clone()),
                comment: Set(d.comment.clone()),
                at: Set(to_ms(d.at)),
            })
            .exec_without_returning(&write.txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    StoreError::Conflict(format!(
                        "a decision of {} on request {request_id}",
                        d.approver_employee_id
                    ))
                }
                _ => StoreError::from(e),
            })?;
        }
        write_effects(&write.txn, effects).await?;
        write.txn.commit().await?;
        // A grant is written as provisioning: it gives no access until the worker has
        // made it active. Readers are woken, not invalidated.
        self.access_written();
        Ok(())
    }
}

/// Writes what a change brings with it.
pub(crate) async fn write_effects(
    txn: &sea_orm::DatabaseTransaction,
    effects: Effects<'_>,
) -> Result<(), StoreError> {
    if let Some(g) = effects.grant {
        insert_grant(txn, g).await?;
    }
    insert_outbox(txn, effects.outbox).await?;
    crate::audit::insert_audits(txn, effects.events).await?;
    Ok(())
}
