//! The audit chain in the store: every path that writes events extends one gap-free
//! chain; concurrent writers (group commit, and two replicas on PostgreSQL) never fork
//! it; search, checkpoints and export cursors.

use std::sync::Arc;

use sea_orm::DbErr;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use warden_audit::{Digest, SigningKey};
use warden_core::audit::{Action, Actor, AuditEvent};
use warden_store::{
    ActionFilter, AuditFilter, Backend, BadActionFilter, Store, StoreError, StoredAuditEvent,
};

use crate::contract_test;

const T0: OffsetDateTime = datetime!(2026-03-02 10:15:30.123 UTC);

fn event(n: usize, user: &str, action: Action) -> AuditEvent {
    AuditEvent::new(
        T0 + Duration::milliseconds(i64::try_from(n).unwrap()),
        Actor {
            user: Some(user.into()),
            source: Some("10.1.2.3".parse().unwrap()),
            ..Actor::default()
        },
        action,
    )
    .target(format!("grant:{}", Uuid::from_u128(n as u128)))
    .detail(
        "resource",
        if n.is_multiple_of(2) {
            "pg-prod"
        } else {
            "redis-cache"
        },
    )
    .detail("n", n.to_string())
}

/// Asserts the whole log is one chain 1..=n with intact hashes, and returns it.
async fn assert_chain(store: &Store) -> Vec<StoredAuditEvent> {
    let events = store.audit_events(0, 100_000).await.unwrap();
    let mut prev = Digest::GENESIS;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i64::try_from(i).unwrap() + 1, "sequence has a gap");
        assert_eq!(
            e.prev_hash, prev,
            "event {} does not follow its predecessor",
            e.seq
        );
        assert!(
            e.record().is_intact(),
            "event {} does not match its hash",
            e.seq
        );
        prev = e.hash;
    }
    let (head_seq, head_hash) = store.audit_head().await.unwrap();
    assert_eq!(head_seq, events.len() as u64);
    assert_eq!(head_hash, prev);
    events
}

async fn chain_of_every_path(store: Store, _db: warden_store::testing::TestDb) {
    store
        .append_audit(&event(0, "alice", Action::GrantRevoke))
        .await
        .unwrap();
    // Many concurrent writers are group-committed, each returning once durable.
    let mut tasks = Vec::new();
    for n in 1..=300 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(&event(n, "bob", Action::RequestCreate))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let events = assert_chain(&store).await;
    assert_eq!(events.len(), 301);
    // The subjects are indexed columns, read from the target and details.
    let first = &events[0];
    assert_eq!(first.grant_id, Some(Uuid::from_u128(0)));
    assert_eq!(first.resource.as_deref(), Some("pg-prod"));
    assert_eq!(first.source.as_deref(), Some("10.1.2.3"));
}
contract_test!(every_append_extends_one_gap_free_chain, chain_of_every_path);

/// Two replicas on one PostgreSQL database writing at once never fork the chain.
#[tokio::test]
async fn replicas_on_postgres_share_one_chain() {
    let db = warden_store::testing::TestDb::new(Backend::Postgres).await;
    let a = Store::open(&db.url, &Default::default()).await.unwrap();
    let b = Store::open(&db.url, &Default::default()).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..200usize {
        let store = if n.is_multiple_of(2) {
            a.clone()
        } else {
            b.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(&event(n, "carol", Action::GrantProvision))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(assert_chain(&a).await.len(), 200);
}

async fn search(store: Store, _db: warden_store::testing::TestDb) {
    for n in 0..40 {
        let (user, action) = match n % 4 {
            0 => ("alice", Action::GrantRevoke),
            1 => ("bob", Action::GrantExtend),
            2 => ("alice", Action::RequestCreate),
            _ => ("dave", Action::AuthLogin),
        };
        store.append_audit(&event(n, user, action)).await.unwrap();
    }
    let all = |f: AuditFilter| {
        let store = store.clone();
        async move { store.search_audit(&f, 1000).await.unwrap() }
    };
    let alice = all(AuditFilter {
        actor: Some("alice".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(alice.len(), 20);
    assert!(
        alice.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );
    let grants = all(AuditFilter {
        action: Some(ActionFilter::parse("grant.").unwrap()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(grants.len(), 20);
    assert!(grants.iter().all(|e| e.action.starts_with("grant.")));
    let star = all(AuditFilter {
        action: Some(ActionFilter::parse("grant.*").unwrap()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(star.len(), 20);
    let exact = all(AuditFilter {
        action: Some(ActionFilter::parse("grant.revoke").unwrap()),
        resource: Some("pg-prod".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(exact.len(), 10);
    let window = all(AuditFilter {
        since: Some(T0 + Duration::milliseconds(10)),
        until: Some(T0 + Duration::milliseconds(20)),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(window.len(), 10);
    let by_grant = all(AuditFilter {
        grant_id: Some(Uuid::from_u128(7)),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_grant.len(), 1);
    // Paging: the cursor is the last sequence number seen.
    let page1 = store
        .search_audit(&AuditFilter::default(), 15)
        .await
        .unwrap();
    let page2 = store
        .search_audit(
            &AuditFilter {
                before_seq: Some(page1.last().unwrap().seq),
                ..AuditFilter::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(page1.len() + page2.len(), 40);
    assert_eq!(page2.first().unwrap().seq, page1.last().unwrap().seq - 1);
    // Only action characters are accepted.
    assert_eq!(ActionFilter::parse("grant%"), Err(BadActionFilter));
    assert_eq!(ActionFilter::parse(".*"), Err(BadActionFilter));
    assert_eq!(
        BadActionFilter.to_string(),
        "an action name (grant.revoke) or family (grant. or grant.*): lower-case letters, \
         digits, _ and ."
    );
    assert_eq!(
        ActionFilter::parse("grant.*").unwrap(),
        ActionFilter::Family("grant.".into())
    );
}
contract_test!(search_filters_and_pages, search);

async fn checkpoints_and_cursors(store: Store, _db: warden_store::testing::TestDb) {
    for n in 0..5 {
        store
            .append_audit(&event(n, "alice", Action::AuthLogin))
            .await
            .unwrap();
    }
    assert_eq!(store.last_audit_checkpoint().await.unwrap(), None);
    let key = SigningKey::generate().unwrap();
    let (seq, hash) = store.audit_head().await.unwrap();
    let cp = key.sign(seq, hash, 1_000);
    store.add_audit_checkpoint(&cp).await.unwrap();
    // Another replica signing the same head is ignored, not an error.
    store
        .add_audit_checkpoint(&key.sign(seq, hash, 2_000))
        .await
        .unwrap();
    assert_eq!(
        store.last_audit_checkpoint().await.unwrap(),
        Some(cp.clone())
    );
    assert!(key.public().verifies(&cp));
    assert_eq!(store.audit_checkpoints(1, 5, 10).await.unwrap(), vec![cp]);
    assert_eq!(store.audit_hash_at(5).await.unwrap(), Some(hash));
    assert_eq!(store.audit_hash_at(0).await.unwrap(), Some(Digest::GENESIS));
    assert_eq!(store.audit_hash_at(6).await.unwrap(), None);

    assert_eq!(store.audit_cursor("siem").await.unwrap(), 0);
    store.set_audit_cursor("siem", 3, T0).await.unwrap();
    store.set_audit_cursor("siem", 2, T0).await.unwrap();
    assert_eq!(
        store.audit_cursor("siem").await.unwrap(),
        3,
        "cursors never move back"
    );
    store.set_audit_cursor("siem", 5, T0).await.unwrap();
    assert_eq!(store.audit_cursor("siem").await.unwrap(), 5);
    assert_eq!(store.audit_cursor("other").await.unwrap(), 0);
}
contract_test!(checkpoints_and_export_cursors, checkpoints_and_cursors);

/// A failed change leaves no event and no hole: the next event takes the next number.
async fn rollback_leaves_no_gap(store: Store, _db: warden_store::testing::TestDb) {
    let user = warden_store::NewUser {
        id: Uuid::now_v7(),
        username: warden_core::Username::parse("erin").unwrap(),
        display_name: "Erin".into(),
        password_hash: None,
        scopes: warden_core::ScopeSet::new([warden_core::Scope::Request]),
        linked_to_directory: true,
        created_at: T0,
    };
    store
        .create_user(&user, &event(0, "admin", Action::UserCreate))
        .await
        .unwrap();
    let again = store
        .create_user(&user, &event(1, "admin", Action::UserCreate))
        .await;
    assert!(again.is_err());
    store
        .append_audit(&event(2, "admin", Action::AuthLogin))
        .await
        .unwrap();
    let events = assert_chain(&store).await;
    assert_eq!(events.len(), 2);
}
contract_test!(a_rolled_back_change_leaves_no_gap, rollback_leaves_no_gap);

/// A failed group commit answers every event it carried with the driver's own error.
/// Regression: the error was turned into text and every waiter got a `DbErr::Custom`
/// holding it, whatever had failed.
async fn failed_group_commit_keeps_the_error(store: Store, _db: warden_store::testing::TestDb) {
    store.clone().close().await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(&event(n, "bob", Action::AuthLogin))
                .await
        }));
    }
    for t in tasks {
        match t.await.unwrap() {
            Err(StoreError::Db(e)) => assert!(!matches!(*e, DbErr::Custom(_)), "{e}"),
            other => panic!("expected the driver's error, got {other:?}"),
        }
    }
}
contract_test!(
    a_failed_group_commit_keeps_the_error,
    failed_group_commit_keeps_the_error
);

#[tokio::test]
async fn group_commit_answers_every_waiter() {
    let db = warden_store::testing::TestDb::new(Backend::Sqlite).await;
    let store = Arc::new(Store::open(&db.url, &Default::default()).await.unwrap());
    let mut tasks = Vec::new();
    for n in 0..2_000 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(&event(n, "bob", Action::AuthLogin))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(assert_chain(&store).await.len(), 2_000);
}
