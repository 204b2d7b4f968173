//! Seeing requests: the list of one's own or of those awaiting one's decision, and one
//! request with its people, risk factors, decisions and grant.

use super::{
    Decided, Request, RiskFactor, StoredFactor, approvers, authorized, caller_identity, case_of,
};
use crate::service::error::Failure;
use uuid::Uuid;
use warden_core::authz::{Operation, Relation};
use warden_core::request::{ApproverFacts, RequestState, check_approver, still_needs};
use warden_store::{RequestFilter, StoredRequest};

use crate::auth::Caller;
use crate::service::authz;
use crate::service::error::ServiceError;
use crate::state::AppState;

/// Requests the caller asked for or would hold; with `pending_approval`, the pending ones
/// the caller may decide on.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    pending_approval: bool,
) -> Result<Vec<Request>, ServiceError> {
    if pending_approval {
        authz::require(
            state,
            caller,
            Operation::RequestQueue,
            Relation::Subordinate,
        )
        .await?;
    } else {
        authz::require(state, caller, Operation::RequestList, Relation::Own).await?;
    }
    let me = caller_identity(state, caller).await?;
    let rows = if pending_approval {
        let live = state.policy();
        let facts = ApproverFacts::of(
            &me.hr,
            live.policy.groups_of(&me.hr),
            state.clock().now().date(),
        );
        let mut mine = Vec::new();
        for r in state
            .store()
            .list_requests(RequestFilter::State(RequestState::Pending))
            .await?
        {
            let Ok((case, _, _)) = case_of(state, &r).await else {
                continue;
            };
            let prior = approvers(&state.store().approvals(r.id).await?, &case)?;
            if check_approver(&case, &facts, &prior).is_ok() {
                mine.push(r);
            }
        }
        mine
    } else {
        state
            .store()
            .list_requests(RequestFilter::Involving(me.id))
            .await?
    };
    let mut out = Vec::new();
    for r in &rows {
        out.push(info(state, r).await?);
    }
    Ok(out)
}

/// One request: for those it involves, its possible approvers, administrators and
/// auditors.
pub async fn show(state: &AppState, caller: &Caller, id: Uuid) -> Result<Request, ServiceError> {
    let (r, _) = authorized(state, caller, id, Operation::RequestRead).await?;
    info(state, &r).await
}

pub(super) async fn info(state: &AppState, r: &StoredRequest) -> Result<Request, ServiceError> {
    let decisions = state.store().approvals(r.id).await?;
    let needs = if r.state == RequestState::Pending {
        match case_of(state, r).await {
            Ok((case, _, _)) => still_needs(&case, &approvers(&decisions, &case)?),
            Err(e) if e.kind() == Failure::Internal => return Err(e),
            Err(_) => vec!["the request no longer meets policy".to_owned()],
        }
    } else {
        Vec::new()
    };
    let requester = crate::service::identity_by_id(state, r.requester_id).await?;
    let beneficiary = if r.beneficiary_id == r.requester_id {
        requester.clone()
    } else {
        crate::service::identity_by_id(state, r.beneficiary_id).await?
    };
    let mut decided = Vec::with_capacity(decisions.len());
    for d in decisions {
        decided.push(Decided {
            approver_name: crate::service::name_of(state, d.approver_id).await?,
            decision: d,
        });
    }
    let factors: Vec<StoredFactor> =
        serde_json::from_str(&r.risk_factors).map_err(ServiceError::internal)?;
    Ok(Request {
        request: r.clone(),
        requester,
        beneficiary,
        risk_factors: factors
            .into_iter()
            .map(|f| RiskFactor {
                name: f.name,
                points: f.points,
                reason: f.reason,
            })
            .collect(),
        decisions: decided,
        needs,
        grant: match state.store().grant_of_request(r.id).await? {
            Some(g) => Some(crate::service::grants::with_holder(state, g).await?),
            None => None,
        },
    })
}
