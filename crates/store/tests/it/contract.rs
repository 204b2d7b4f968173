//! Contract tests of the store, each run on SQLite and PostgreSQL.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, Database};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_core::credential::{PresentedToken, mint_token};
use warden_core::secret::ExposeSecret;
use warden_core::throttle::ThrottlePolicy;
use warden_core::user::{TokenKind, TokenRecord};
use warden_core::{Scope, ScopeSet, Username};
use warden_store::testing::TestDb;
use warden_store::{Backend, NewUser, Store, StoreError, UserChange};

use crate::contract_test;

const T0: OffsetDateTime = datetime!(2026-03-02 10:15:30.123 UTC);

fn new_user(name: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        username: Username::parse(name).unwrap(),
        display_name: format!("{name} example"),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        scopes: ScopeSet::new([Scope::Request]),
        linked_to_directory: true,
        created_at: T0,
    }
}

fn event(action: Action, target: &str) -> AuditEvent {
    AuditEvent::new(
        T0,
        Actor {
            user: Some("admin".into()),
            ..Actor::default()
        },
        action,
    )
    .target(target)
}

fn token_for(
    user_id: Uuid,
    at: OffsetDateTime,
) -> (TokenRecord, warden_core::credential::NewToken) {
    let minted = mint_token(time::OffsetDateTime::UNIX_EPOCH).unwrap();
    let record = TokenRecord {
        id: minted.id,
        user_id,
        name: "ci".into(),
        kind: TokenKind::Api,
        scopes: ScopeSet::new([Scope::Request]),
        created_at: at,
        expires_at: at + Duration::hours(1),
        revoked_at: None,
    };
    (record, minted)
}

async fn audit_actions(store: &Store) -> Vec<String> {
    store
        .audit_events(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

contract_test!(
    migrations_are_applied_and_reopening_is_idempotent,
    migrations
);
async fn migrations(store: Store, db: TestDb) {
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    store.ping().await.unwrap();
    store.close().await.unwrap();
    let again = Store::open(&db.url, &Default::default()).await.unwrap();
    assert_eq!(again.pending_migrations().await.unwrap(), 0);
}

contract_test!(bootstrap_happens_once, bootstrap_once);
async fn bootstrap_once(store: Store, _db: TestDb) {
    assert!(!store.is_bootstrapped().await.unwrap());
    let admin = NewUser {
        scopes: ScopeSet::new([Scope::Admin]),
        ..new_user("admin")
    };
    assert!(
        store
            .bootstrap(&admin, &event(Action::SystemBootstrap, "user:admin"))
            .await
            .unwrap()
    );
    assert!(store.is_bootstrapped().await.unwrap());
    let second = NewUser {
        scopes: ScopeSet::new([Scope::Admin]),
        ..new_user("admin2")
    };
    assert!(
        !store
            .bootstrap(&second, &event(Action::SystemBootstrap, "user:admin2"))
            .await
            .unwrap()
    );
    let users = store.list_users().await.unwrap();
    assert_eq!(
        users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["admin"]
    );
    assert_eq!(audit_actions(&store).await, ["system.bootstrap"]);
}

contract_test!(users_round_trip_and_names_are_unique, users);
async fn users(store: Store, _db: TestDb) {
    let alice = new_user("alice");
    let created = store
        .create_user(&alice, &event(Action::UserCreate, "user:alice"))
        .await
        .unwrap();
    assert_eq!(created.username.as_str(), "alice");
    assert_eq!(
        created.created_at, T0,
        "millisecond precision survives the round trip"
    );
    assert!(!created.disabled);

    let dup = NewUser {
        id: Uuid::now_v7(),
        ..new_user("alice")
    };
    match store
        .create_user(&dup, &event(Action::UserCreate, "user:alice"))
        .await
    {
        Err(StoreError::Conflict(what)) => assert_eq!(what, "user alice"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        audit_actions(&store).await,
        ["user.create"],
        "a refused create leaves no event"
    );

    let creds = store
        .user_credentials(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.user, created);
    assert_eq!(creds.password_hash, alice.password_hash);
    assert!(
        store
            .user_credentials(&Username::parse("nobody").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let change = UserChange {
        scopes: Some(ScopeSet::new([Scope::Request, Scope::Approve])),
        disabled: Some(true),
        password_hash: None,
    };
    let updated = store
        .update_user(
            created.id,
            &change,
            T0 + Duration::minutes(1),
            &event(Action::UserUpdate, "user:alice"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(updated.disabled);
    assert_eq!(
        updated.scopes,
        ScopeSet::new([Scope::Request, Scope::Approve])
    );
    assert_eq!(updated.created_at, T0);
    assert!(
        store
            .update_user(
                Uuid::now_v7(),
                &change,
                T0,
                &event(Action::UserUpdate, "user:x")
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert_eq!(audit_actions(&store).await, ["user.create", "user.update"]);
}

contract_test!(tokens_store_only_a_hash_and_revoke_once, tokens);
async fn tokens(store: Store, _db: TestDb) {
    let user = store
        .create_user(&new_user("bob"), &event(Action::UserCreate, "user:bob"))
        .await
        .unwrap();
    let (first, first_minted) = token_for(user.id, T0);
    let (second, _) = token_for(user.id, T0 + Duration::seconds(1));
    store
        .create_token(
            &first,
            &first_minted.hash,
            &event(Action::TokenCreate, "token"),
        )
        .await
        .unwrap();
    store
        .create_token(
            &second,
            &mint_token(time::OffsetDateTime::UNIX_EPOCH).unwrap().hash,
            &event(Action::TokenCreate, "token"),
        )
        .await
        .unwrap();

    let (record, hash, owner) = store.token_for_auth(first.id).await.unwrap().unwrap();
    assert_eq!(record, first);
    assert_eq!(owner, user);
    let presented = PresentedToken::parse(first_minted.text.expose_secret()).unwrap();
    assert!(hash.matches(&presented));
    assert!(
        store
            .token_for_auth(Uuid::now_v7())
            .await
            .unwrap()
            .is_none()
    );

    let listed: Vec<Uuid> = store
        .list_tokens(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [second.id, first.id], "newest first");

    let at = T0 + Duration::minutes(5);
    assert!(
        store
            .revoke_token(first.id, at, &event(Action::TokenRevoke, "token"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_token(first.id, at, &event(Action::TokenRevoke, "token"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_token(Uuid::now_v7(), at, &event(Action::TokenRevoke, "token"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.token(first.id).await.unwrap().unwrap().revoked_at,
        Some(at)
    );
    assert_eq!(
        audit_actions(&store).await,
        [
            "user.create",
            "token.create",
            "token.create",
            "token.revoke"
        ],
        "revoking twice writes one event"
    );
}

contract_test!(login_failures_lock_and_success_clears, throttle);
async fn throttle(store: Store, _db: TestDb) {
    let policy = ThrottlePolicy {
        max_failures: 3,
        ..ThrottlePolicy::default()
    };
    let failed = |n: i64| {
        AuditEvent::new(
            T0 + Duration::seconds(n),
            Actor::default(),
            Action::AuthLoginFailed,
        )
        .failed("bad password")
    };
    for n in 0..2 {
        let state = store
            .record_login_failure("carol", T0 + Duration::seconds(n), &policy, &failed(n))
            .await
            .unwrap();
        assert!(!state.is_locked(T0 + Duration::seconds(n)));
    }
    let state = store
        .record_login_failure("carol", T0 + Duration::seconds(2), &policy, &failed(2))
        .await
        .unwrap();
    assert!(state.is_locked(T0 + Duration::seconds(2)));
    assert_eq!(store.throttle_state("carol").await.unwrap(), Some(state));
    assert_eq!(store.throttle_state("dave").await.unwrap(), None);

    let user = store
        .create_user(&new_user("carol"), &event(Action::UserCreate, "user:carol"))
        .await
        .unwrap();
    let (token, minted) = token_for(user.id, T0);
    store
        .record_login_success(
            "carol",
            &token,
            &minted.hash,
            &event(Action::AuthLogin, "user:carol"),
        )
        .await
        .unwrap();
    assert_eq!(store.throttle_state("carol").await.unwrap(), None);
    assert!(store.token(token.id).await.unwrap().is_some());
}

contract_test!(audit_events_keep_order_and_fields, audit);
async fn audit(store: Store, _db: TestDb) {
    let ev = AuditEvent::new(
        T0,
        Actor {
            user: Some("erin".into()),
            token_id: Some(Uuid::now_v7()),
            source: Some("192.0.2.7".parse().unwrap()),
            user_agent: Some("warden-cli/0.1".into()),
        },
        Action::TokenCreate,
    )
    .target("token:x")
    .detail("scopes", "request")
    .detail("expires_at", "2026-03-02T11:15:30Z");
    store.append_audit(&ev).await.unwrap();
    store
        .append_audit(&ev.clone().failed("denied"))
        .await
        .unwrap();
    let events = store.audit_events(0, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    let first = &events[0];
    assert!(events[0].seq < events[1].seq);
    assert_eq!(first.at, T0);
    assert_eq!(first.actor_user.as_deref(), Some("erin"));
    assert_eq!(first.actor_token, ev.actor.token_id);
    assert_eq!(first.source.as_deref(), Some("192.0.2.7"));
    assert_eq!(first.user_agent.as_deref(), Some("warden-cli/0.1"));
    assert_eq!(first.action, "token.create");
    assert_eq!(first.target.as_deref(), Some("token:x"));
    assert_eq!(first.outcome, "success");
    assert_eq!(first.details, ev.details);
    assert_eq!(events[1].outcome, "failure");
    assert_eq!(events[1].reason.as_deref(), Some("denied"));
    assert_eq!(
        store.audit_events(events[0].seq, 10).await.unwrap(),
        events[1..]
    );
}

contract_test!(no_change_without_its_audit_event, fail_closed);
async fn fail_closed(store: Store, db: TestDb) {
    // Break audit writes behind the store's back, as a full disk or a lost table would.
    let raw = Database::connect(db.url.as_str()).await.unwrap();
    let ddl: &[&str] = match db.backend() {
        Backend::Sqlite => &[
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit down'); END",
        ],
        Backend::Postgres => &[
            "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_down()",
        ],
    };
    for stmt in ddl {
        raw.execute_unprepared(stmt).await.unwrap();
    }

    let err = store
        .create_user(&new_user("frank"), &event(Action::UserCreate, "user:frank"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("audit down"), "{err}");
    assert_eq!(
        store.count_users().await.unwrap(),
        0,
        "the user was not created"
    );

    let admin = NewUser {
        scopes: ScopeSet::new([Scope::Admin]),
        ..new_user("admin")
    };
    assert!(
        store
            .bootstrap(&admin, &event(Action::SystemBootstrap, "user:admin"))
            .await
            .is_err()
    );
    assert!(
        !store.is_bootstrapped().await.unwrap(),
        "bootstrap rolled back whole"
    );

    let policy = ThrottlePolicy::default();
    let failed = AuditEvent::new(T0, Actor::default(), Action::AuthLoginFailed);
    assert!(
        store
            .record_login_failure("grace", T0, &policy, &failed)
            .await
            .is_err()
    );
    assert_eq!(store.throttle_state("grace").await.unwrap(), None);
}

contract_test!(concurrent_writers_all_commit, concurrent);
async fn concurrent(store: Store, _db: TestDb) {
    let store = Arc::new(store);
    let policy = ThrottlePolicy {
        max_failures: 1000,
        ..ThrottlePolicy::default()
    };
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let name = format!("user{}", i % 3);
                let ev = AuditEvent::new(T0, Actor::default(), Action::AuthLoginFailed);
                store
                    .record_login_failure(&name, T0, &policy, &ev)
                    .await
                    .unwrap();
                store
                    .create_user(
                        &new_user(&format!("u{i}")),
                        &event(Action::UserCreate, "user"),
                    )
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.count_users().await.unwrap(), 24);
    for i in 0..3 {
        assert_eq!(
            store
                .throttle_state(&format!("user{i}"))
                .await
                .unwrap()
                .unwrap()
                .failures,
            8
        );
    }
    assert_eq!(store.audit_events(0, 1000).await.unwrap().len(), 48);
}

contract_test!(
    a_write_planned_from_a_stale_read_is_refused_whole,
    stale_writes
);
async fn stale_writes(store: Store, _db: TestDb) {
    use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, Identity, IdentityKind};
    use warden_store::{ChangeSet, IdentityWrite, StoreError as E};
    let hr = HrRecord {
        employee_id: EmployeeId::parse("E1").unwrap(),
        username: Username::parse("ann").unwrap(),
        email: "ann@example.com".into(),
        display_name: "Ann".into(),
        department: Some("Platform".into()),
        job_function: None,
        manager: None,
        location: None,
        status: EmploymentStatus::Active,
        kind: IdentityKind::Employee,
        start_date: None,
        end_date: None,
        groups: Default::default(),
    };
    let identity = Identity {
        id: Uuid::now_v7(),
        hr,
        source: "hr-file".into(),
        external_id: None,
        created_at: T0,
        updated_at: T0,
    };
    let write =
        |identity: Identity, is_new: bool, expected: Option<OffsetDateTime>| IdentityWrite {
            identity,
            is_new,
            expected_updated_at: expected,
            birthright_add: Vec::new(),
            birthright_remove: Vec::new(),
            disable_account: false,
        };
    let at = |t| ChangeSet {
        at: Some(t),
        ..ChangeSet::default()
    };
    store
        .apply(&ChangeSet {
            identities: vec![write(identity.clone(), true, None)],
            ..at(T0)
        })
        .await
        .unwrap();

    // Writer A, planned from the row as of T0, commits first.
    let t1 = T0 + Duration::minutes(1);
    let mut a = identity.clone();
    a.hr.department = Some("Payments".into());
    a.updated_at = t1;
    store
        .apply(&ChangeSet {
            identities: vec![write(a, false, Some(T0))],
            ..at(t1)
        })
        .await
        .unwrap();

    // Writer B planned from the same old row: refused, and its audit event with it.
    let mut b = identity.clone();
    b.hr.department = Some("Sales".into());
    b.updated_at = t1 + Duration::seconds(1);
    let changes = ChangeSet {
        identities: vec![write(b, false, Some(T0))],
        events: vec![event(Action::UserUpdate, "identity:E1")],
        ..at(t1)
    };
    match store.apply(&changes).await {
        Err(E::Stale(what)) => assert_eq!(what, "identity E1"),
        other => panic!("expected a stale write, got {other:?}"),
    }
    let stored = store.list_identities().await.unwrap();
    assert_eq!(
        stored[0].hr.department.as_deref(),
        Some("Payments"),
        "A's change stands"
    );
    assert!(
        audit_actions(&store).await.is_empty(),
        "nothing of B was written"
    );
}

contract_test!(one_replica_holds_a_worker_lease_at_a_time, leases);
async fn leases(store: Store, _db: TestDb) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let until = T0 + Duration::seconds(5);
    assert!(store.lease("grants", a, T0, until).await.unwrap());
    assert!(
        !store.lease("grants", b, T0, until).await.unwrap(),
        "held by a"
    );
    assert!(
        store
            .lease(
                "grants",
                a,
                T0 + Duration::seconds(1),
                until + Duration::seconds(1)
            )
            .await
            .unwrap(),
        "a renews"
    );
    assert!(
        store.lease("outbox", b, T0, until).await.unwrap(),
        "leases are per name"
    );
    // a stops renewing: once its lease ran out, b takes over and a cannot renew.
    let later = until + Duration::seconds(2);
    assert!(
        store
            .lease("grants", b, later, later + Duration::seconds(5))
            .await
            .unwrap()
    );
    assert!(
        !store
            .lease("grants", a, later, later + Duration::seconds(5))
            .await
            .unwrap()
    );
    store.release("grants", b).await.unwrap();
    assert!(
        store
            .lease("grants", a, later, later + Duration::seconds(5))
            .await
            .unwrap(),
        "released"
    );
    // Many racing for a free lease: exactly one wins.
    store.release("grants", a).await.unwrap();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .lease(
                    "grants",
                    Uuid::now_v7(),
                    later,
                    later + Duration::seconds(5),
                )
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);

    // A clean shutdown gives up every lease of its owner, and only those.
    let winner = store.lease_holder("grants").await.unwrap().unwrap();
    assert_eq!(winner.until, later + Duration::seconds(5));
    for name in ["outbox", "vault-rotation", "audit-sink:siem"] {
        assert!(
            store
                .lease(name, a, later, later + Duration::seconds(5))
                .await
                .unwrap()
        );
    }
    assert_eq!(store.release_all(a).await.unwrap(), 3);
    let left = store.lease_holders().await.unwrap();
    assert_eq!(
        left,
        vec![("grants".to_owned(), winner)],
        "the other owner's lease stays"
    );
    assert_eq!(store.lease_holder("outbox").await.unwrap(), None);
    assert!(
        store
            .lease("outbox", b, later, later + Duration::seconds(5))
            .await
            .unwrap(),
        "a released lease is taken at once"
    );
}
