//! Ending a request without a decision: cancelled by its requester, or timed out when
//! nobody decided before its approval window closed.

use super::{Request, authorized, info, party_emails, request_data};
use uuid::Uuid;
use warden_core::audit::{Action, AuditEvent};
use warden_core::authz::Operation;
use warden_core::request::Event;
use warden_store::{Effects, Transition};

use crate::auth::Caller;
use crate::notify::{self, Notice, events};
use crate::service::error::ServiceError;
use crate::state::AppState;

/// Cancels one's own request before it is provisioned.
pub async fn cancel(state: &AppState, caller: &Caller, id: Uuid) -> Result<Request, ServiceError> {
    let (r, _) = authorized(state, caller, id, Operation::RequestCancel).await?;
    let now = state.clock().now();
    let transition = Transition::new(id, r.updated_at, r.state, Event::Cancel, now)?;
    let event =
        AuditEvent::new(now, caller.actor(), Action::RequestCancel).target(format!("request:{id}"));
    state
        .store()
        .decide(
            &transition,
            None,
            Effects {
                events: &[event],
                ..Effects::default()
            },
        )
        .await?;
    let stored = state
        .store()
        .request(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("request {id}")))?;
    info(state, &stored).await
}

/// Times out pending requests whose approval window passed: run every few seconds by the
/// server, so a request nobody decides on ends on time and its requester is told.
pub async fn expire_pending(state: &AppState) -> Result<usize, ServiceError> {
    let now = state.clock().now();
    let mut n = 0;
    for id in state.store().timed_out_requests(now, 500).await? {
        let Some(r) = state.store().request(id).await? else {
            continue;
        };
        let holder = crate::service::employee_id_of(state, r.beneficiary_id).await?;
        let event = AuditEvent::new(
            now,
            warden_core::audit::Actor::system(),
            Action::RequestTimeout,
        )
        .target(format!("request:{id}"))
        .failed("no decision before the pending timeout");
        let notice = Notice::new(
            events::TIMED_OUT,
            format!(
                "{holder}'s request for {} on {} got no decision in time",
                r.role, r.resource
            ),
            request_data(&r, &holder),
        )
        .to(party_emails(state, &r).await?);
        let outbox = notify::messages(&state.config().notifications, &notice, now);
        match state
            .store()
            .decide(
                &Transition::new(id, r.updated_at, r.state, Event::TimeOut, now)?,
                None,
                Effects {
                    grant: None,
                    outbox: &outbox,
                    events: &[event],
                },
            )
            .await
        {
            Ok(()) => n += 1,
            Err(warden_store::StoreError::Stale(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if n > 0 {
        notify::deliver::wake();
    }
    Ok(n)
}
