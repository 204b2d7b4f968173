//! The lifecycle at the store's edge: a stored name that names nothing is reported as
//! corrupt with its table, row and value, never read as something else; a move the
//! lifecycle refuses is refused before anything is written.

use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;
use warden_core::audit::Action;
use warden_core::request::{BreakGlassReview, Event, RequestState, ReviewEvent};
use warden_store::testing::TestDb;
use warden_store::{Effects, ReviewStep, Store, StoreError, Transition};

use crate::contract_test;
use crate::races::{T0, event, grant_row, request_row};

contract_test!(a_stored_name_that_names_nothing_is_corrupt, corrupt_names);
async fn corrupt_names(store: Store, db: TestDb) {
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
    let raw = Database::connect(db.url.as_str()).await.unwrap();
    raw.execute_unprepared("UPDATE grants SET state = 'expired'")
        .await
        .unwrap();
    raw.execute_unprepared("UPDATE requests SET route = 'triple'")
        .await
        .unwrap();
    let Err(StoreError::Corrupt(why)) = store.grant(grant.id).await else {
        panic!("an unknown grant state is corrupt");
    };
    assert_eq!(
        why,
        format!("grants row {}: unknown request state \"expired\"", grant.id)
    );
    let Err(StoreError::Corrupt(why)) = store.request(request.id).await else {
        panic!("an unknown route is corrupt");
    };
    assert_eq!(
        why,
        format!(
            "requests row {}: unknown request route \"triple\"",
            request.id
        )
    );
}

contract_test!(a_move_the_lifecycle_refuses_is_not_written, refused_moves);
async fn refused_moves(store: Store, _db: TestDb) {
    let mut request = request_row(Uuid::now_v7(), "provisioning", "breakglass");
    request.review = Some(BreakGlassReview::JustificationDue);
    store
        .insert_request(&request, Effects::default())
        .await
        .unwrap();
    // A revoked request cannot be cancelled: no Transition can even be built.
    let refused =
        Transition::new(request.id, T0, RequestState::Revoked, Event::Cancel, T0).unwrap_err();
    assert_eq!(
        (refused.from, refused.event),
        (RequestState::Revoked, Event::Cancel)
    );
    // A review not yet justified cannot be accepted: the store refuses the step.
    let events = [event(
        Action::BreakGlassReview,
        format!("request:{}", request.id),
    )];
    let step = ReviewStep {
        request_id: request.id,
        from: BreakGlassReview::JustificationDue,
        event: Some(ReviewEvent::Accept),
        justification: None,
        review: None,
        incident: None,
        at: T0,
    };
    let Err(StoreError::Review(e)) = store.review_step(&step, &[], &events).await else {
        panic!("accepting an unjustified review is refused");
    };
    assert_eq!(
        (e.from, e.event),
        (BreakGlassReview::JustificationDue, ReviewEvent::Accept)
    );
    let stored = store.request(request.id).await.unwrap().unwrap();
    assert_eq!(stored.review, Some(BreakGlassReview::JustificationDue));
    assert!(
        store.audit_events(0, 100).await.unwrap().is_empty(),
        "nothing written"
    );
}
