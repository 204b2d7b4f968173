//! Writers racing on one row, each run on SQLite and PostgreSQL: settlers of a grant they
//! read at the same version, approvers deciding one request at once, and a vaulted
//! account's rotation staged and committed while another writer does the same.
//!
//! The writers run as tokio tasks released together by a barrier. On PostgreSQL they
//! really run at once (the row locks and each statement's condition decide); SQLite takes
//! one writer at a time, so there the race is decided by who gets the lock first, and the
//! same contract is checked: exactly one wins, the other gets the store's documented
//! answer, and nothing is written twice.

use std::future::Future;
use std::sync::Arc;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::request::{Event, RequestKind, RequestRoute, RequestState};
use warden_store::testing::TestDb;
use warden_store::{
    Effects, GrantChange, OutboxMessage, RotationFailure, SecretVersion, Store, StoreError,
    StoredApproval, StoredGrant, StoredRequest, Transition, VaultAccount,
};

use crate::contract_test;

pub(crate) const T0: OffsetDateTime = datetime!(2026-03-02 10:15:30.123 UTC);

/// Runs `a` and `b` as two tasks released at the same moment; returns both outcomes.
async fn race<A, B, FA, FB>(store: &Arc<Store>, a: A, b: B) -> (FA::Output, FB::Output)
where
    A: FnOnce(Arc<Store>) -> FA + Send + 'static,
    B: FnOnce(Arc<Store>) -> FB + Send + 'static,
    FA: Future + Send + 'static,
    FB: Future + Send + 'static,
    FA::Output: Send + 'static,
    FB::Output: Send + 'static,
{
    let start = Arc::new(Barrier::new(2));
    let task_a = tokio::spawn({
        let (store, start) = (Arc::clone(store), Arc::clone(&start));
        async move {
            start.wait().await;
            a(store).await
        }
    });
    let task_b = tokio::spawn({
        let (store, start) = (Arc::clone(store), Arc::clone(&start));
        async move {
            start.wait().await;
            b(store).await
        }
    });
    (task_a.await.unwrap(), task_b.await.unwrap())
}

pub(crate) fn event(action: Action, target: String) -> AuditEvent {
    AuditEvent::new(T0, Actor::system(), action).target(target)
}

/// How many audit events of `action` the store holds.
async fn count_events(store: &Store, action: Action) -> usize {
    store
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action.as_str())
        .count()
}

// ----- grants settled by two workers -----

pub(crate) fn request_row(id: Uuid, state: &str, route: &str) -> StoredRequest {
    StoredRequest {
        id,
        requester_id: Uuid::from_u128(1),
        beneficiary_id: Uuid::from_u128(1),
        requested_by: "ann".into(),
        resource: "orders-db".into(),
        role: "read".into(),
        duration_secs: 3600,
        justification: "looking into slow queries".into(),
        ticket: None,
        rule: "engineers-read".into(),
        approval: "two-approvers".into(),
        route: RequestRoute::parse(route).unwrap(),
        risk_total: 10,
        risk_factors: "[]".into(),
        state: RequestState::parse(state).unwrap(),
        created_at: T0,
        pending_until: T0 + Duration::hours(24),
        updated_at: T0,
        kind: RequestKind::Standard,
        extends: None,
        review: None,
        review_justification: None,
        review_due_at: None,
        start_at: None,
    }
}

pub(crate) fn grant_row(id: Uuid, request_id: Uuid, at: OffsetDateTime) -> StoredGrant {
    StoredGrant {
        id,
        request_id,
        identity_id: Uuid::from_u128(1),
        resource: "orders-db".into(),
        role: "read".into(),
        target_kind: "postgres".into(),
        connection: "orders".into(),
        kind: RequestKind::Standard,
        state: RequestState::Provisioning,
        duration_secs: 3600,
        starts_at: None,
        ends_at: None,
        due_at: Some(at),
        attempts: 0,
        last_error: None,
        handle: None,
        end_reason: None,
        warned: false,
        created_at: at,
        updated_at: at,
    }
}

/// A request with its grant queued for provisioning; returns the grant as stored.
async fn queued_grant(store: &Store) -> StoredGrant {
    let request = request_row(Uuid::now_v7(), "provisioning", "auto");
    let grant = grant_row(Uuid::now_v7(), request.id, T0);
    store
        .insert_request(
            &request,
            Effects {
                grant: Some(&grant),
                ..Effects::default()
            },
        )
        .await
        .unwrap();
    store.grant(grant.id).await.unwrap().unwrap()
}

/// A worker's outcome for `read`: provisioned at `at` (made active, the request with it),
/// announced and audited.
fn provisioned(read: &StoredGrant, at: OffsetDateTime, worker: &str) -> GrantChange {
    let mut grant = read.clone();
    grant.state = RequestState::Active;
    grant.starts_at = Some(at);
    grant.ends_at = Some(at + Duration::hours(1));
    grant.due_at = Some(at + Duration::hours(1));
    grant.handle = Some(format!("handle of {worker}"));
    grant.updated_at = at;
    GrantChange {
        read_at: read.updated_at,
        grant,
        request_state: Some(RequestState::Active),
        outbox: vec![OutboxMessage {
            id: Uuid::now_v7(),
            channel: "security".into(),
            event: "grant.active".into(),
            payload: format!("{{\"worker\":\"{worker}\"}}"),
            created_at: at,
        }],
        events: vec![event(Action::GrantProvision, format!("grant:{}", read.id))],
    }
}

/// The worker's outcomes for one grant, each committed by a settler of its own.
async fn settle_both(store: &Arc<Store>, a: GrantChange, b: GrantChange) -> [Vec<Uuid>; 2] {
    let (a, b) = race(
        store,
        move |s| async move { s.settle_grants(&[a]).await.unwrap() },
        move |s| async move { s.settle_grants(&[b]).await.unwrap() },
    )
    .await;
    [a, b]
}

/// Checks that exactly one of two settlers of grant `id` won: the other was told its
/// outcome was stale (`settle_grants` returns the ids it skipped), the grant holds the
/// winner's outcome, and its event, announcement and request move were written once.
/// Returns which settler won (0 or 1).
async fn exactly_one_settled(
    store: &Store,
    id: Uuid,
    skipped: &[Vec<Uuid>; 2],
    outcomes: &[GrantChange; 2],
) -> usize {
    let winners: Vec<usize> = (0..2).filter(|&i| skipped[i].is_empty()).collect();
    assert_eq!(winners.len(), 1, "exactly one settler wins: {skipped:?}");
    let winner = winners[0];
    assert_eq!(skipped[1 - winner], [id], "the other is told it was stale");
    let stored = store.grant(id).await.unwrap().unwrap();
    assert_eq!(stored.handle, outcomes[winner].grant.handle, "the winner's");
    assert_eq!(stored.state.as_str(), "active");
    let announced: Vec<String> = store
        .outbox_messages()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.message.event == "grant.active")
        .map(|m| m.message.payload)
        .collect();
    assert_eq!(announced, [outcomes[winner].outbox[0].payload.clone()]);
    let request = store.request(stored.request_id).await.unwrap().unwrap();
    assert_eq!(request.state.as_str(), "active");
    winner
}

contract_test!(two_settlers_of_one_grant_version_write_it_once, settle_race);
async fn settle_race(store: Store, _db: TestDb) {
    let store = Arc::new(store);

    // Two workers read the grant at the same version and settle different outcomes.
    let read = queued_grant(&store).await;
    let outcomes = [
        provisioned(&read, T0 + Duration::seconds(1), "a"),
        provisioned(&read, T0 + Duration::seconds(2), "b"),
    ];
    let skipped = settle_both(&store, outcomes[0].clone(), outcomes[1].clone()).await;
    exactly_one_settled(&store, read.id, &skipped, &outcomes).await;
    assert_eq!(count_events(&store, Action::GrantProvision).await, 1);

    // The same, when both reached the same outcome at the same millisecond (two replicas
    // whose clocks agree): the loser's outcome is identical to what is stored, and must
    // still not bring its event and announcement a second time.
    let read = queued_grant(&store).await;
    let at = T0 + Duration::seconds(3);
    let outcomes = [provisioned(&read, at, "c"), provisioned(&read, at, "c")];
    let skipped = settle_both(&store, outcomes[0].clone(), outcomes[1].clone()).await;
    let winners = skipped.iter().filter(|s| s.is_empty()).count();
    assert_eq!(
        (winners, count_events(&store, Action::GrantProvision).await),
        (1, 2),
        "one settler, one more event: {skipped:?}"
    );

    // A settle planned before an early revocation committed is refused whole: the
    // revocation stands.
    let read = queued_grant(&store).await;
    let ended = store
        .end_grants(
            &[read.id],
            T0 + Duration::seconds(4),
            "revoked early",
            &[],
            &[event(Action::GrantRevoke, format!("grant:{}", read.id))],
        )
        .await
        .unwrap();
    assert_eq!(ended, 1);
    let late = provisioned(&read, T0 + Duration::seconds(5), "late");
    assert_eq!(store.settle_grants(&[late]).await.unwrap(), [read.id]);
    let stored = store.grant(read.id).await.unwrap().unwrap();
    assert_eq!(stored.end_reason.as_deref(), Some("revoked early"));
    assert_eq!(stored.state.as_str(), "provisioning");
    assert_eq!(count_events(&store, Action::GrantProvision).await, 2);
}

// ----- approvers deciding at once -----

fn approval(request: Uuid, approver: u128, decision: &str, at: OffsetDateTime) -> StoredApproval {
    StoredApproval {
        id: Uuid::now_v7(),
        request_id: request,
        approver_id: Uuid::from_u128(approver),
        approver_employee_id: format!("E{approver}"),
        decision: decision.into(),
        capacity: "manager".into(),
        comment: String::new(),
        at,
    }
}

/// A decision by `approver` on `request` as read, moving it from `from` to `to`, with its
/// audit event (and the grant an approval that completes the quorum queues).
async fn decide(
    store: Arc<Store>,
    read: StoredRequest,
    approver: u128,
    decision: &'static str,
    to: &'static str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let action = match decision {
        "approve" => Action::RequestApprove,
        _ => Action::RequestDeny,
    };
    let grant = grant_row(Uuid::now_v7(), read.id, at);
    let events = [event(action, format!("request:{}", read.id))];
    store
        .decide(
            &transition(&read, to, at),
            Some(&approval(read.id, approver, decision, at)),
            Effects {
                grant: (to == "provisioning").then_some(&grant),
                events: &events,
                ..Effects::default()
            },
        )
        .await
}

/// The move of pending request `read` that leaves it in state `to`: an approval that
/// does not complete the route (`pending`), one that does and queues the grant
/// (`provisioning`), or a denial (`denied`).
fn transition(read: &StoredRequest, to: &str, at: OffsetDateTime) -> Transition {
    let approve = |complete| Event::Approve { complete };
    let new = |event| Transition::new(read.id, read.updated_at, read.state, event, at);
    match to {
        "pending" => new(approve(false)),
        "provisioning" => new(approve(true)).and_then(|t| t.then(Event::StartProvisioning)),
        "denied" => new(Event::Deny),
        other => panic!("no decision leaves a pending request {other}"),
    }
    .unwrap()
}

/// A pending request on `route`, as stored.
async fn pending(store: &Store, route: &str) -> StoredRequest {
    let request = request_row(Uuid::now_v7(), "pending", route);
    store
        .insert_request(&request, Effects::default())
        .await
        .unwrap();
    store.request(request.id).await.unwrap().unwrap()
}

/// Checks that exactly one of two decisions applied and the other was refused as stale.
fn one_applied(outcomes: &[Result<(), StoreError>; 2]) -> usize {
    let applied: Vec<usize> = (0..2).filter(|&i| outcomes[i].is_ok()).collect();
    assert_eq!(
        applied.len(),
        1,
        "exactly one decision applies: {outcomes:?}"
    );
    let loser = &outcomes[1 - applied[0]];
    assert!(
        matches!(loser, Err(StoreError::Stale(_))),
        "the other is stale: {loser:?}"
    );
    applied[0]
}

contract_test!(
    approvers_racing_on_one_request_make_one_consistent_decision,
    decide_race
);
async fn decide_race(store: Store, _db: TestDb) {
    let store = Arc::new(store);
    let t1 = T0 + Duration::minutes(1);

    // Two approvals of a dual-approval request, each counting only its own (both read
    // none): one applies, the other must read again. Read again, it completes the quorum.
    let read = pending(&store, "dual").await;
    let (a, b) = race(
        &store,
        {
            let read = read.clone();
            move |s| decide(s, read, 11, "approve", "pending", t1)
        },
        {
            let read = read.clone();
            move |s| decide(s, read, 12, "approve", "pending", t1)
        },
    )
    .await;
    let outcomes = [a, b];
    let first = one_applied(&outcomes);
    let approvals = store.approvals(read.id).await.unwrap();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(
        approvals[0].approver_employee_id,
        format!("E{}", 11 + first)
    );
    let again = store.request(read.id).await.unwrap().unwrap();
    assert_eq!((again.state.as_str(), again.updated_at), ("pending", t1));
    let second = 12 - u128::try_from(first).unwrap();
    decide(
        Arc::clone(&store),
        again,
        second,
        "approve",
        "provisioning",
        t1 + Duration::seconds(1),
    )
    .await
    .unwrap();
    let approvers: Vec<String> = store
        .approvals(read.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.approver_employee_id)
        .collect();
    assert_eq!(
        approvers.len(),
        2,
        "each approver counted once: {approvers:?}"
    );
    assert!(approvers.contains(&"E11".to_owned()) && approvers.contains(&"E12".to_owned()));
    let decided = store.request(read.id).await.unwrap().unwrap();
    assert_eq!(decided.state.as_str(), "provisioning");
    assert!(store.grant_of_request(read.id).await.unwrap().is_some());
    assert_eq!(count_events(&store, Action::RequestApprove).await, 2);

    // An approval and a denial of a single-approval request at once: one decision, and the
    // request, its decisions, its grant and the audit all say the same.
    let read = pending(&store, "single").await;
    let (approved, denied) = race(
        &store,
        {
            let read = read.clone();
            move |s| decide(s, read, 21, "approve", "provisioning", t1)
        },
        {
            let read = read.clone();
            move |s| decide(s, read, 22, "deny", "denied", t1)
        },
    )
    .await;
    let outcomes = [approved, denied];
    let winner = one_applied(&outcomes);
    let decided = store.request(read.id).await.unwrap().unwrap();
    let decisions: Vec<(String, String)> = store
        .approvals(read.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.approver_employee_id, a.decision))
        .collect();
    let grant = store.grant_of_request(read.id).await.unwrap();
    if winner == 0 {
        assert_eq!(decided.state.as_str(), "provisioning");
        assert_eq!(decisions, [("E21".to_owned(), "approve".to_owned())]);
        assert!(grant.is_some());
    } else {
        assert_eq!(decided.state.as_str(), "denied");
        assert_eq!(decisions, [("E22".to_owned(), "deny".to_owned())]);
        assert!(grant.is_none());
    }
    assert_eq!(
        count_events(&store, Action::RequestApprove).await
            + count_events(&store, Action::RequestDeny).await,
        3,
        "one event for the one decision applied here"
    );

    // The same approver twice at once (a double click reaching two replicas): counted once.
    let approvals_before = count_events(&store, Action::RequestApprove).await;
    let read = pending(&store, "dual").await;
    let (a, b) = race(
        &store,
        {
            let read = read.clone();
            move |s| decide(s, read, 31, "approve", "pending", t1)
        },
        {
            let read = read.clone();
            move |s| decide(s, read, 31, "approve", "pending", t1 + Duration::seconds(1))
        },
    )
    .await;
    one_applied(&[a, b]);
    assert_eq!(store.approvals(read.id).await.unwrap().len(), 1);
    assert_eq!(
        count_events(&store, Action::RequestApprove).await,
        approvals_before + 1
    );

    // Decided in the same millisecond as the read: a change the other decision must
    // still see. Two first approvals of a dual request, both at the time of filing.
    let read = pending(&store, "dual").await;
    let at = read.updated_at;
    let (a, b) = race(
        &store,
        {
            let read = read.clone();
            move |s| decide(s, read, 41, "approve", "pending", at)
        },
        {
            let read = read.clone();
            move |s| decide(s, read, 42, "approve", "pending", at)
        },
    )
    .await;
    one_applied(&[a, b]);
    assert_eq!(store.approvals(read.id).await.unwrap().len(), 1);
}

// ----- a vaulted account's rotation -----

fn secret(account: Uuid, version: u64, state: &str, at: OffsetDateTime) -> SecretVersion {
    SecretVersion {
        account_id: account,
        version,
        key_id: 1,
        envelope: format!("sealed secret {version}").into_bytes(),
        state: state.into(),
        created_at: at,
        committed_at: (state == "current").then_some(at),
    }
}

/// A vaulted account with its first secret (version 1, current).
async fn vaulted(store: &Store) -> Uuid {
    let id = Uuid::now_v7();
    let account = VaultAccount {
        id,
        name: format!("orders-admin-{}", id.simple()),
        connection: "orders".into(),
        username: "orders_admin".into(),
        resource: Some("orders-db".into()),
        roles: vec!["admin".into()],
        groups: Vec::new(),
        checkout_max_secs: 3600,
        exclusive: true,
        rotate_every_secs: 86_400,
        password_length: 32,
        password_symbols: false,
        version: 1,
        next_rotation_at: T0 + Duration::days(1),
        rotation_failures: 0,
        last_rotated_at: Some(T0),
        last_error: None,
        created_at: T0,
        created_by: "admin".into(),
    };
    store
        .vault_add_account(
            &account,
            &secret(id, 1, "current", T0),
            &[event(Action::VaultAccountAdd, format!("vault:{id}"))],
        )
        .await
        .unwrap();
    id
}

/// The account's secret versions by state: (current, pending, previous).
async fn versions(store: &Store, account: Uuid) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let mut found = (Vec::new(), Vec::new(), Vec::new());
    for v in 1..=5 {
        if let Some(s) = store.vault_secret(account, v).await.unwrap() {
            match s.state.as_str() {
                "current" => found.0.push(v),
                "pending" => found.1.push(v),
                "previous" => found.2.push(v),
                other => panic!("version {v} in state {other:?}"),
            }
        }
    }
    found
}

async fn commit(
    store: Arc<Store>,
    account: Uuid,
    version: u64,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    store
        .vault_commit(
            account,
            version,
            at,
            at + Duration::days(1),
            &[event(Action::VaultRotate, format!("vault:{account}"))],
        )
        .await
}

contract_test!(
    a_rotation_staged_and_committed_against_another_leaves_one_current_secret,
    vault_race
);
async fn vault_race(store: Store, _db: TestDb) {
    let store = Arc::new(store);
    let account = vaulted(&store).await;
    let t1 = T0 + Duration::days(1);

    // Two rotations staged at once: one is pending, the other is refused.
    let (a, b) = race(
        &store,
        move |s| async move { s.vault_stage(&secret(account, 2, "pending", t1)).await },
        move |s| async move { s.vault_stage(&secret(account, 3, "pending", t1)).await },
    )
    .await;
    let staged: Vec<u64> = [(2, &a), (3, &b)]
        .into_iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(v, _)| v)
        .collect();
    assert_eq!(staged.len(), 1, "one staging wins: {a:?} {b:?}");
    for r in [&a, &b] {
        assert!(
            matches!(r, Ok(()) | Err(StoreError::Conflict(_))),
            "the other conflicts: {r:?}"
        );
    }
    let version = staged[0];
    assert_eq!(
        versions(&store, account).await,
        (vec![1], vec![version], vec![])
    );

    // Two commits of that stage at once (two replicas finishing the same rotation): one
    // commits, the other is stale, and the rotation is audited once.
    let (a, b) = race(
        &store,
        move |s| commit(s, account, version, t1),
        move |s| commit(s, account, version, t1),
    )
    .await;
    one_applied(&[a, b]);
    assert_eq!(
        versions(&store, account).await,
        (vec![version], vec![], vec![1])
    );
    let stored = store.vault_account_by_id(account).await.unwrap().unwrap();
    assert_eq!(stored.version, version);
    assert_eq!(count_events(&store, Action::VaultRotate).await, 1);

    // A commit of a stage that was dropped meanwhile (the rotation failed and ended) is
    // stale, and changes nothing.
    let t2 = t1 + Duration::days(1);
    store
        .vault_stage(&secret(account, 4, "pending", t2))
        .await
        .unwrap();
    store
        .vault_rotation_failed(
            account,
            Some(4),
            &RotationFailure {
                failures: 1,
                retry_at: t2 + Duration::minutes(5),
                error: "target refused the new password".into(),
            },
            &[],
            &[],
        )
        .await
        .unwrap();
    let late = commit(Arc::clone(&store), account, 4, t2).await;
    assert!(matches!(late, Err(StoreError::Stale(_))), "{late:?}");
    assert_eq!(
        versions(&store, account).await,
        (vec![version], vec![], vec![1])
    );
    assert_eq!(count_events(&store, Action::VaultRotate).await, 1);

    // A commit racing the staging of the next rotation: whichever comes first, the account
    // ends with one current secret, at most one pending, and the commit audited once.
    store
        .vault_stage(&secret(account, 4, "pending", t2))
        .await
        .unwrap();
    let (committed, next) = race(
        &store,
        move |s| commit(s, account, 4, t2),
        move |s| async move { s.vault_stage(&secret(account, 5, "pending", t2)).await },
    )
    .await;
    committed.unwrap();
    let (current, pending, previous) = versions(&store, account).await;
    assert_eq!((current, previous), (vec![4], vec![version]));
    match next {
        Ok(()) => assert_eq!(pending, [5], "staged after the commit"),
        Err(StoreError::Conflict(_)) => assert_eq!(pending, Vec::<u64>::new()),
        other => panic!("staging: {other:?}"),
    }
    assert_eq!(count_events(&store, Action::VaultRotate).await, 2);
}
