//! Grants end to end through the HTTP API, with the grant worker run step by step on a
//! manual clock: provisioning starts the clock, expiry and early revocation remove the
//! access from the target (the recording connector), overlapping grants are counted,
//! extensions overlap the grant they extend, failures back off per grant and alert, and
//! grants that end while the server is down are revoked when it starts again.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;
use time::Duration;
use uuid::Uuid;
use warden_app::AppState;
use warden_app::service::expiry;
use warden_core::Clock;
use warden_core::connector::ConnectorError;
use warden_proto::directory::{ApplyPolicy, PolicyFile};
use warden_proto::grants::{AccessCheck, ExtendGrant, GrantInfo, RevokeGrant};
use warden_proto::requests::RequestInfo;
use warden_store::Store;

use crate::requests::{ask, decide, file, people, people_with};
use crate::support::{Answer, TestApp, eventually, json_of};

/// The id of the request an answer carries.
fn id(answer: &Answer) -> String {
    answer.parse::<RequestInfo>().id.to_string()
}

/// A body revoking a grant for `reason`.
fn revoke(reason: &str) -> serde_json::Value {
    json_of(&RevokeGrant {
        reason: reason.to_owned(),
    })
}

/// A body extending a grant by `duration` for `reason`.
fn extend(duration: &str, reason: &str) -> serde_json::Value {
    json_of(&ExtendGrant {
        duration: duration.to_owned(),
        reason: reason.to_owned(),
        ticket: None,
    })
}

async fn identity_id(t: &TestApp, who: &str) -> Uuid {
    t.state
        .store()
        .find_identities(warden_store::IdentityFilter::Username(who))
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .id
}

async fn request(t: &TestApp, token: &str, rid: &str) -> RequestInfo {
    let r = t.get(&format!("/v1/requests/{rid}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.parse()
}

async fn check(t: &TestApp, token: &str, who: &str, resource: &str, role: &str) -> AccessCheck {
    let r = t
        .get(
            &format!("/v1/access/check?identity={who}&resource={resource}&role={role}"),
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.parse()
}

/// A channel that receives every event; nothing delivers it in these tests, so the outbox
/// shows what was announced.
fn with_channel(c: &mut warden_app::config::Config) {
    let channel: warden_app::config::ChannelConfig = toml::from_str(
        "name = \"security\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s3cret-for-tests\"\nallow_internal = true",
    )
    .unwrap();
    c.notifications.channel.push(channel);
}

async fn checker(t: &TestApp) -> String {
    t.user_with("gatekeeper", &["identities:read"]).await
}

#[tokio::test]
async fn an_auto_approved_grant_starts_when_provisioned_and_is_revoked_at_its_end() {
    let (t, p) = people().await;
    let gate = checker(&t).await;
    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let created: RequestInfo = created.parse();
    assert_eq!(created.state, "provisioning");
    assert_eq!(created.grant.unwrap().state, "provisioning");
    let rid = created.id.to_string();
    assert!(
        !check(&t, &gate, "alice", "session-cache", "read")
            .await
            .allowed
    );

    // The worker runs a little later: the clock starts then, not at the request.
    t.clock.advance(Duration::seconds(7));
    let provisioned_at = t.clock.now();
    let report = t.tick().await;
    assert_eq!(report.provisioned, 1, "{report:?}");
    let body = request(&t, &p.alice, &rid).await;
    assert_eq!(body.state, "active");
    let grant = body.grant.unwrap();
    assert_eq!(grant.state, "active");
    let starts = grant.starts_at.unwrap();
    let ends = grant.ends_at.unwrap();
    assert_eq!(starts, provisioned_at);
    assert_eq!(ends - starts, Duration::hours(1));
    let alice = identity_id(&t, "alice").await;
    let store = t.state.store();
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        Some(ends)
    );
    let allowed = check(&t, &gate, "alice", "session-cache", "read").await;
    assert!(allowed.allowed);
    assert_eq!(allowed.grant, Some(grant.id));
    // Checking needs identities:read.
    let refused = t
        .get(
            "/v1/access/check?identity=alice&resource=session-cache&role=read",
            &p.dave,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Not yet due: nothing happens.
    t.clock.advance(Duration::minutes(59));
    let report = t.tick().await;
    assert_eq!(
        (report.revoked, report.warned),
        (0, 1),
        "warned 15 minutes before: {report:?}"
    );
    assert!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap()
            .is_some()
    );

    t.clock.advance(Duration::minutes(1));
    let report = t.tick().await;
    assert_eq!(report.revoked, 1, "{report:?}");
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        None
    );
    let body = request(&t, &p.alice, &rid).await;
    assert_eq!(body.state, "revoked");
    assert_eq!(body.grant.unwrap().state, "revoked");
    assert!(
        !check(&t, &gate, "alice", "session-cache", "read")
            .await
            .allowed
    );
    let calls: Vec<String> = store
        .connector_calls()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.op)
        .collect();
    assert_eq!(calls, ["grant", "revoke"]);
    let actions = t.audit_actions().await;
    for a in [
        "request.create",
        "request.approve",
        "grant.provision",
        "grant.revoked",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    let revoked = store
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.action == "grant.revoked")
        .unwrap();
    assert!(revoked.details.contains_key("lag_ms"), "{revoked:?}");
}

#[tokio::test]
async fn an_approved_request_is_provisioned_and_its_holder_can_revoke_it_early() {
    let (t, p) = people().await;
    let created = file(&t, &p.alice, ask("orders-db", "read", "2h", Some("CHG-77"))).await;
    let created: RequestInfo = created.parse();
    assert_eq!(created.state, "pending");
    assert!(created.grant.is_none());
    let rid = created.id.to_string();
    assert_eq!(
        t.tick().await.provisioned,
        0,
        "nothing to provision while pending"
    );
    let approved: RequestInfo = decide(&t, &p.bob, &rid, "approve").await.parse();
    assert_eq!(approved.state, "provisioning", "{approved:?}");
    t.tick().await;
    let body = request(&t, &p.alice, &rid).await;
    assert_eq!(body.state, "active");
    let gid = body.grant.unwrap().id;

    // Someone else cannot see or revoke it.
    let other = t
        .post(
            &format!("/v1/grants/{gid}/revoke"),
            &p.dave,
            revoke("not mine"),
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let mine: Vec<GrantInfo> = t.get("/v1/grants", &p.alice).await.parse();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        t.get("/v1/grants?all=true", &p.alice).await.status,
        StatusCode::FORBIDDEN
    );

    let revoked = t
        .post(
            &format!("/v1/grants/{gid}/revoke"),
            &p.alice,
            revoke("done early"),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    let revoked: GrantInfo = revoked.parse();
    assert_eq!(
        revoked.state, "active",
        "revoked only once the target confirms"
    );
    assert!(revoked.end_reason.unwrap().contains("done early"));
    let report = t.tick().await;
    assert_eq!(report.revoked, 1);
    let body = request(&t, &p.alice, &rid).await;
    assert_eq!(body.grant.unwrap().state, "revoked");
    let again = t
        .post(
            &format!("/v1/grants/{gid}/revoke"),
            &p.alice,
            revoke("twice"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|a| a == "grant.revoke"), "{actions:?}");
}

#[tokio::test]
async fn overlapping_grants_are_counted_and_ending_one_never_cuts_the_other() {
    let (t, p) = people().await;
    let store = t.state.store();
    let alice = identity_id(&t, "alice").await;
    let short = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    let long = file(&t, &p.alice, ask("session-cache", "read", "3h", None)).await;
    t.tick().await;
    let short = request(&t, &p.alice, &id(&short)).await.grant.unwrap();
    let long = request(&t, &p.alice, &id(&long)).await.grant.unwrap();
    assert_eq!(
        (short.state.as_str(), long.state.as_str()),
        ("active", "active")
    );
    let long_end = long.ends_at.unwrap();
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        Some(long_end),
        "the target holds the access to the latest end"
    );

    // The short one expires: the long one keeps the access.
    t.clock.advance(Duration::hours(1));
    let report = t.tick().await;
    assert_eq!((report.kept, report.revoked), (1, 0), "{report:?}");
    assert!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap()
            .is_some()
    );
    let gate = checker(&t).await;
    assert_eq!(
        check(&t, &gate, "alice", "session-cache", "read")
            .await
            .grant,
        Some(long.id)
    );
    let kept = store
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.action == "grant.revoked")
        .unwrap();
    assert_eq!(
        kept.details.get("kept_by"),
        Some(&long.id.to_string()),
        "names the grant that keeps it: {kept:?}"
    );

    // The long one revoked early: now the access goes.
    let gid = long.id;
    t.post(
        &format!("/v1/grants/{gid}/revoke"),
        &p.alice,
        revoke("finished"),
    )
    .await;
    let report = t.tick().await;
    assert_eq!(report.revoked, 1, "{report:?}");
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        None
    );
    let ops: Vec<String> = store
        .connector_calls()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.op)
        .collect();
    assert_eq!(
        ops.iter().filter(|o| *o == "revoke").count(),
        1,
        "one revocation on the target: {ops:?}"
    );
}

#[tokio::test]
async fn revoking_the_later_of_two_grants_early_moves_the_targets_end_back() {
    let (t, p) = people().await;
    let store = t.state.store();
    let alice = identity_id(&t, "alice").await;
    let short = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    let long = file(&t, &p.alice, ask("session-cache", "read", "3h", None)).await;
    t.tick().await;
    let short = request(&t, &p.alice, &id(&short)).await.grant.unwrap();
    let long = request(&t, &p.alice, &id(&long)).await.grant.unwrap();
    let short_end = short.ends_at.unwrap();
    t.post(
        &format!("/v1/grants/{}/revoke", long.id),
        &p.alice,
        revoke("not needed"),
    )
    .await;
    let report = t.tick().await;
    assert_eq!(report.kept, 1, "{report:?}");
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        Some(short_end)
    );
}

#[tokio::test]
async fn an_extension_is_a_new_request_that_overlaps_its_grant() {
    let (t, p) = people().await;
    let store = t.state.store();
    let alice = identity_id(&t, "alice").await;
    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    let grant = request(&t, &p.alice, &id(&created)).await.grant.unwrap();
    let gid = grant.id;
    let ends = grant.ends_at.unwrap();

    t.clock.advance(Duration::minutes(50));
    let too_long = t
        .post(
            &format!("/v1/grants/{gid}/extend"),
            &p.alice,
            extend("4h", "migration runs long"),
        )
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::FORBIDDEN,
        "remaining plus added beyond the rule's maximum: {too_long:?}"
    );
    let ext = t
        .post(
            &format!("/v1/grants/{gid}/extend"),
            &p.alice,
            extend("30m", "migration runs long"),
        )
        .await;
    assert_eq!(ext.status, StatusCode::CREATED, "{ext:?}");
    let ext: RequestInfo = ext.parse();
    assert_eq!(ext.kind, "extension");
    assert_eq!(ext.extends, Some(gid));
    assert_eq!(ext.duration_secs, 1800);
    // The factors as the wire has them, names, points and reasons alike.
    let factors = serde_json::to_string(&ext.risk_factors).unwrap();
    assert!(
        factors.contains("extension"),
        "scored as an extension: {factors}"
    );
    t.tick().await;
    let ext_grant = request(&t, &p.alice, &ext.id.to_string())
        .await
        .grant
        .unwrap();
    assert_eq!(ext_grant.state, "active");
    let ext_end = ext_grant.ends_at.unwrap();
    assert_eq!(ext_end, ends + Duration::minutes(30));

    // The original ends; the extension holds the access on.
    t.clock.advance(Duration::minutes(10));
    assert_eq!(t.tick().await.kept, 1);
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        Some(ext_end)
    );
    t.clock.advance(Duration::minutes(30));
    assert_eq!(t.tick().await.revoked, 1);
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        None
    );

    // An ended grant is not extended.
    let late = t
        .post(
            &format!("/v1/grants/{gid}/extend"),
            &p.alice,
            extend("30m", "one more time please"),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{late:?}");
}

#[tokio::test]
async fn a_failing_target_backs_off_alerts_after_three_failures_and_never_delays_another() {
    let (t, p) = people_with(with_channel).await;
    let store = t.state.store();
    let alice = identity_id(&t, "alice").await;
    let cache = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    // A second access on another resource, ending at the same time.
    let bob_cache = file(&t, &p.bob, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    let recording = t.state.recording().unwrap().clone();
    recording.set_fault(
        "session-cache",
        Some(ConnectorError::Unavailable("connection refused".into())),
    );

    t.clock.advance(Duration::hours(1));
    let report = t.tick().await;
    assert_eq!(report.failures, 2, "{report:?}");
    let g = store
        .grant_of_request(id(&cache).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((g.state.as_str(), g.attempts), ("revoking", 1));
    assert_eq!(g.due_at, Some(t.clock.now() + Duration::seconds(1)));
    assert!(
        g.last_error
            .as_deref()
            .unwrap()
            .contains("connection refused")
    );
    // Not retried before its time.
    assert!(t.tick().await.is_empty());

    // Each grant retries on its own schedule, doubling; the third failure alerts.
    for n in 2..=3 {
        t.clock.advance(warden_core::connector::retry_delay(n - 1));
        let r = t.tick().await;
        assert_eq!(r.failures, 2, "round {n}: {r:?}");
    }
    let alerts: Vec<_> = store
        .outbox_messages()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.message.event == "grant.failing")
        .collect();
    assert_eq!(alerts.len(), 2, "one alert per grant at the third failure");
    assert!(alerts[0].message.payload.contains("failed 3 times"));
    let metrics = t
        .send(axum::http::Method::GET, "/metrics", None, None)
        .await;
    let text = String::from_utf8(metrics.raw).unwrap();
    assert!(text.contains("warden_grant_alerts_total 2"), "{text}");
    assert!(
        text.contains("warden_grant_failures_total{step=\"revoke\"} 6"),
        "{text}"
    );
    assert!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap()
            .is_some()
    );

    recording.set_fault("session-cache", None);
    t.clock.advance(warden_core::connector::retry_delay(3));
    let r = t.tick().await;
    assert_eq!(r.revoked, 2, "{r:?}");
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        None
    );
    let g = store
        .grant_of_request(id(&bob_cache).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.state.as_str(), "revoked");
}

#[tokio::test]
async fn one_failing_target_does_not_hold_up_revocations_on_another() {
    let (t, p) = people().await;
    let store = t.state.store();
    let cache = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    let recording = t.state.recording().unwrap().clone();
    recording.set_fault(
        "session-cache",
        Some(ConnectorError::Refused("permission denied".into())),
    );
    let sre_read = file(
        &t,
        &p.alice,
        ask("analytics-db", "read", "1h", Some("CHG-5")),
    )
    .await;
    let sre_read: RequestInfo = sre_read.parse();
    let rid = sre_read.id.to_string();
    if sre_read.state == "pending" {
        decide(&t, &p.bob, &rid, "approve").await;
    }
    t.clock.advance(Duration::minutes(1));
    t.tick().await;
    let analytics = store
        .grant_of_request(rid.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        analytics.state.as_str(),
        "active",
        "provisioned despite the other target failing"
    );
    t.clock.advance(Duration::hours(1));
    let r = t.tick().await;
    assert!(r.revoked >= 1, "{r:?}");
    let analytics = store
        .grant_of_request(rid.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(analytics.state.as_str(), "revoked");
    let cache = store
        .grant_of_request(id(&cache).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cache.state.as_str(), "revoking");
}

#[tokio::test]
async fn provisioning_that_keeps_failing_fails_the_request_and_alerts() {
    let (t, p) = people_with(with_channel).await;
    let recording = t.state.recording().unwrap().clone();
    recording.set_fault(
        "session-cache",
        Some(ConnectorError::Unavailable("timeout".into())),
    );
    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    let rid = id(&created);
    for n in 1..=3 {
        let r = t.tick().await;
        assert_eq!(r.failures, 1, "attempt {n}: {r:?}");
        t.clock.advance(Duration::seconds(5));
    }
    let body = request(&t, &p.alice, &rid).await;
    assert_eq!(body.state, "failed");
    assert_eq!(body.grant.unwrap().state, "failed");
    let events: Vec<String> = t
        .state
        .store()
        .outbox_messages()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.message.event)
        .collect();
    assert!(events.iter().any(|e| e == "grant.failing"), "{events:?}");
    let gate = checker(&t).await;
    assert!(
        !check(&t, &gate, "alice", "session-cache", "read")
            .await
            .allowed
    );
}

#[tokio::test]
async fn grants_that_end_while_the_server_is_stopped_are_revoked_at_start() {
    let (t, p) = people().await;
    let alice = identity_id(&t, "alice").await;
    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    let rid: Uuid = id(&created).parse().unwrap();
    let url = t.db.url.clone();
    let clock = t.clock.clone();
    let config = t.state.config().clone();
    drop(p);
    drop(t.app);
    drop(t.state);

    // Two hours later, a new server on the same database.
    clock.advance(Duration::hours(2));
    let store = Store::open(&url, &Default::default()).await.unwrap();
    let state = AppState::new(store, Arc::new(clock.clone()), config);
    let report = expiry::catch_up(&state).await.unwrap();
    assert_eq!(report.revoked, 1, "{report:?}");
    let g = state.store().grant_of_request(rid).await.unwrap().unwrap();
    assert_eq!(g.state.as_str(), "revoked");
    assert_eq!(
        state
            .store()
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        None
    );
    let revoked = state
        .store()
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.action == "grant.revoked")
        .unwrap();
    assert_eq!(
        revoked.details.get("lag_ms").map(String::as_str),
        Some("3600000"),
        "the lag is recorded honestly: {revoked:?}"
    );
    drop(t.db);
}

#[tokio::test]
async fn pending_requests_time_out_in_the_background_and_the_requester_is_told() {
    let (t, p) = people().await;
    let created = file(&t, &p.alice, ask("orders-db", "read", "1h", Some("CHG-8"))).await;
    let rid = id(&created);
    assert_eq!(
        warden_app::service::requests::expire_pending(&t.state)
            .await
            .unwrap(),
        0
    );
    t.clock.advance(Duration::hours(24));
    assert_eq!(
        warden_app::service::requests::expire_pending(&t.state)
            .await
            .unwrap(),
        1
    );
    let alice = t.login("alice", "alice-password-123").await;
    assert_eq!(request(&t, &alice, &rid).await.state, "timed_out");
    drop(p);
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|a| a == "request.timeout"));
}

#[tokio::test]
async fn a_mover_loses_the_grants_their_new_role_is_not_eligible_for() {
    let (t, p) = people().await;
    let store = t.state.store();
    let alice = identity_id(&t, "alice").await;
    let cache = file(&t, &p.alice, ask("session-cache", "read", "2h", None)).await;
    t.tick().await;
    let rid: Uuid = id(&cache).parse().unwrap();
    assert_eq!(
        store
            .grant_of_request(rid)
            .await
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "active"
    );

    // Alice moves from SRE to the Payments developers: no longer in group sre.
    let admin = t.admin().await;
    let moved = warden_app::demo::HR_CSV.replace(
        "E1001,alice,alice@example.com,Alice Andersen,Platform,SRE,E1002",
        "E1001,alice,alice@example.com,Alice Andersen,Payments,Developer,E1006",
    );
    let req = axum::http::Request::post("/v1/hr/sync")
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::from(moved))
        .unwrap();
    let synced = t.raw(req, crate::support::PEER).await;
    assert_eq!(synced.status, StatusCode::OK, "{synced:?}");
    let g = store.grant_of_request(rid).await.unwrap().unwrap();
    assert_eq!(g.due_at, Some(t.clock.now()), "due at once");
    assert!(
        g.end_reason
            .as_deref()
            .unwrap()
            .contains("no longer eligible")
    );
    assert_eq!(t.tick().await.revoked, 1);
    assert_eq!(
        store
            .recorded_access(alice, "session-cache", "read")
            .await
            .unwrap(),
        None
    );
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|a| a == "grant.revoke"), "{actions:?}");
}

#[tokio::test]
async fn a_policy_apply_ends_grants_it_no_longer_allows() {
    let (t, p) = people().await;
    let store = t.state.store();
    let cache = file(&t, &p.alice, ask("session-cache", "read", "2h", None)).await;
    t.tick().await;
    let rid: Uuid = id(&cache).parse().unwrap();
    let admin = t.admin().await;
    let files: Vec<PolicyFile> = warden_app::demo::policy_files()
        .into_iter()
        .map(|f| {
            let text = if f.path == "access.toml" {
                f.text.replace(
                    "name = \"sre-prod-data\"\nwho = \"group:sre\"",
                    "name = \"sre-prod-data\"\nwho = \"group:sre-leads\"",
                )
            } else {
                f.text.to_string()
            };
            PolicyFile { path: f.path, text }
        })
        .collect();
    let applied = t
        .post(
            "/v1/policy/apply",
            &admin,
            json_of(&ApplyPolicy {
                files,
                comment: "tier 2 data for leads only".to_owned(),
            }),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    let g = store.grant_of_request(rid).await.unwrap().unwrap();
    assert!(g.end_reason.is_some(), "{g:?}");
    assert_eq!(t.tick().await.revoked, 1);
}

#[tokio::test]
async fn one_replica_runs_the_grant_worker_and_another_takes_over_when_it_stops() {
    let (t, p) = people().await;
    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    let rid: Uuid = id(&created).parse().unwrap();
    // A second replica on the same database.
    let store = Store::open(&t.db.url, &Default::default()).await.unwrap();
    let other = AppState::new(store, Arc::new(t.clock.clone()), t.state.config().clone());

    assert!(t.state.hold_lease(expiry::LEASE_NAME).await);
    assert!(
        !other.hold_lease(expiry::LEASE_NAME).await,
        "held by the first"
    );
    let skipped = expiry::catch_up(&other).await.unwrap();
    assert!(
        skipped.is_empty(),
        "the second leaves the work to the first: {skipped:?}"
    );
    assert_eq!(
        other
            .store()
            .grant_of_request(rid)
            .await
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "provisioning"
    );

    // The first stops renewing; once its lease has run out the second takes over.
    t.clock
        .advance(warden_app::state::LEASE + Duration::seconds(1));
    let report = expiry::catch_up(&other).await.unwrap();
    assert_eq!(report.provisioned, 1, "{report:?}");
    assert!(
        !t.state.hold_lease(expiry::LEASE_NAME).await,
        "the first has lost it"
    );
}

/// Regression: a server restarted within its predecessor's lease served before catching
/// up. A start now leaves the grant worker to a replica that renews its lease, takes the
/// lease of one that stopped renewing as soon as it lapses (before serving), and takes at
/// once the leases a stopping replica released.
#[tokio::test]
async fn a_start_waits_for_a_gone_holders_lease_and_a_stopping_replica_releases_its_own() {
    let (t, p) = people().await;
    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    let rid: Uuid = id(&created).parse().unwrap();
    let replica = || async {
        let store = Store::open(&t.db.url, &Default::default()).await.unwrap();
        AppState::new(store, Arc::new(t.clock.clone()), t.state.config().clone())
    };

    // A live holder renews its lease while the other starts: the start leaves it the work.
    assert!(t.state.hold_lease(expiry::LEASE_NAME).await);
    let starting = replica().await;
    let start = tokio::spawn({
        let starting = starting.clone();
        async move { expiry::take_lease_at_start(&starting).await.unwrap() }
    });
    // Each look moves the clock a little and renews, as a live holder does.
    eventually(
        "the start to see the holder renew",
        async || {
            t.clock.advance(Duration::milliseconds(100));
            assert!(t.state.hold_lease(expiry::LEASE_NAME).await);
            start.is_finished()
        },
        |finished| *finished,
    )
    .await;
    assert!(
        !start.await.unwrap(),
        "a live replica keeps the grant worker"
    );

    // The holder stops renewing (it died): the start takes its lease once it lapsed.
    let start = tokio::spawn({
        let starting = starting.clone();
        async move { expiry::take_lease_at_start(&starting).await.unwrap() }
    });
    // The wait is what is tested: the clock stands still, so the lease cannot lapse
    // and the start must still be waiting after several of its looks at the lease
    // (`LEASE_WATCH` apart). A start that wrongly gave up would have finished; one that
    // waits shows nothing to wait on, so a fixed real-time pause is the only check.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !start.is_finished(),
        "waits while the lease may still be renewed"
    );
    t.clock
        .advance(warden_app::state::LEASE + Duration::milliseconds(500));
    assert!(start.await.unwrap(), "took the lapsed lease");
    let report = expiry::catch_up(&starting).await.unwrap();
    assert_eq!(report.provisioned, 1, "{report:?}");
    assert!(!t.state.hold_lease(expiry::LEASE_NAME).await);
    assert_eq!(
        starting
            .store()
            .grant_of_request(rid)
            .await
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "active"
    );

    // A stopping replica gives up every lease it holds, and takes none after that.
    assert!(starting.hold_lease("outbox").await);
    assert_eq!(starting.release_leases().await.unwrap(), 2);
    assert!(!starting.hold_lease(expiry::LEASE_NAME).await);
    assert!(
        t.state.hold_lease(expiry::LEASE_NAME).await,
        "taken at once"
    );
    assert!(t.state.hold_lease("outbox").await, "taken at once");
}

#[tokio::test]
async fn a_request_with_a_start_time_is_provisioned_then_and_its_clock_starts_then() {
    let (t, p) = people().await;
    let start = t.clock.now() + Duration::hours(3);
    let mut body = crate::requests::request("session-cache", "read", "1h", None);
    body.start_at = Some(start);
    let created = file(&t, &p.alice, json_of(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let rid = id(&created);
    assert_eq!(t.tick().await.provisioned, 0, "not before its start");
    t.clock.advance(Duration::hours(3));
    assert_eq!(t.tick().await.provisioned, 1);
    let alice = t.login("alice", "alice-password-123").await;
    let grant = request(&t, &alice, &rid).await.grant.unwrap();
    assert_eq!(grant.starts_at, Some(start));

    let mut past = crate::requests::request("session-cache", "read", "1h", None);
    past.start_at = Some(time::macros::datetime!(2020-01-01 00:00 UTC));
    let refused = file(&t, &alice, json_of(&past)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.details().errors[0].field, "start_at");
    drop(p);
}

#[tokio::test]
async fn the_worker_loop_warns_of_an_end_even_when_nothing_else_is_due() {
    let (t, p) = people_with(with_channel).await;
    let worker = tokio::spawn(expiry::run(t.state.clone()));
    let store = t.state.store();
    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    let rid: Uuid = id(&created).parse().unwrap();
    eventually(
        "the grant to be provisioned",
        async || store.grant_of_request(rid).await.unwrap().unwrap().state,
        |state| state.as_str() == "active",
    )
    .await;
    // 46 minutes later nothing is due, but the grant ends within the warning time.
    t.clock.advance(Duration::minutes(46));
    eventually(
        "the expiring-soon notice",
        async || store.grant_of_request(rid).await.unwrap().unwrap(),
        |grant| grant.warned,
    )
    .await;
    worker.abort();
    let expiring = store
        .outbox_messages()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.message.event == "grant.expiring")
        .count();
    assert_eq!(expiring, 1, "warned once");
}

#[tokio::test]
async fn the_worker_loop_provisions_when_woken_and_revokes_when_due() {
    let (t, p) = people().await;
    let worker = tokio::spawn(expiry::run(t.state.clone()));
    let store = t.state.store();
    let mut rids = Vec::new();
    for resource_role in [("session-cache", "read"), ("session-cache", "read")] {
        let created = file(
            &t,
            &p.alice,
            ask(resource_role.0, resource_role.1, "1h", None),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        rids.push(id(&created).parse::<Uuid>().unwrap());
    }
    for rid in &rids {
        eventually(
            "the grant to be provisioned",
            async || store.grant_of_request(*rid).await.unwrap().unwrap().state,
            |state| state.as_str() == "active",
        )
        .await;
    }
    t.clock.advance(Duration::hours(1));
    t.state.wake_grants();
    for rid in &rids {
        eventually(
            "the grant to be revoked",
            async || store.grant_of_request(*rid).await.unwrap().unwrap().state,
            |state| state.as_str() == "revoked",
        )
        .await;
    }
    worker.abort();
    let revokes = store
        .connector_calls()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.op == "revoke")
        .count();
    assert_eq!(
        revokes, 2,
        "each of the two grants ending together revoked once, never twice"
    );
}

#[tokio::test]
async fn the_access_check_stops_answering_a_token_the_moment_it_is_revoked_or_its_user_disabled() {
    let (t, p) = people().await;
    let admin = t.admin().await;
    let checker = t.user_with("checker", &["identities:read"]).await;
    let other = t.user_with("auditor2", &["identities:read"]).await;
    // Verified once, then answered from the cache (no clock movement in between).
    for _ in 0..3 {
        check(&t, &checker, "alice", "orders-db", "read").await;
    }
    check(&t, &other, "alice", "orders-db", "read").await;
    // Logging out revokes the token: the very next check is refused.
    let out = t
        .send(
            axum::http::Method::POST,
            "/v1/auth/logout",
            Some(&checker),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{out:?}");
    let refused = t
        .get(
            "/v1/access/check?identity=alice&resource=orders-db&role=read",
            &checker,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    // Disabling a user stops its tokens at once too.
    let disabled = t
        .send(
            axum::http::Method::PATCH,
            "/v1/users/auditor2",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{disabled:?}");
    let refused = t
        .get(
            "/v1/access/check?identity=alice&resource=orders-db&role=read",
            &other,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    // A wrong secret for a cached token id is refused as well.
    let third = t.user_with("auditor3", &["identities:read"]).await;
    check(&t, &third, "alice", "orders-db", "read").await;
    let last = third.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &third[..third.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let r = t
        .get(
            "/v1/access/check?identity=alice&resource=orders-db&role=read",
            &forged,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let _ = p;
}

#[tokio::test]
async fn a_grant_is_provisioned_and_revoked_on_postgresql_storage_too() {
    let t = TestApp::with(warden_store::Backend::Postgres, |_| {}).await;
    let admin = t.admin().await;
    crate::directory::apply_demo_policy(&t, &admin).await;
    let synced = crate::directory::sync(&t, &admin, warden_app::demo::HR_CSV, "").await;
    assert_eq!(synced.status, StatusCode::OK, "{synced:?}");
    let alice = t.user_with("alice", &["request"]).await;
    let bob = t.user_with("bob", &["request", "approve"]).await;
    let mut ids = Vec::new();
    for (resource, role) in [("orders-db", "read"), ("analytics-db", "read")] {
        let r = file(&t, &alice, ask(resource, role, "1h", Some("CHG-9"))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let created: RequestInfo = r.parse();
        let rid = created.id.to_string();
        if created.state == "pending" {
            let d = decide(&t, &bob, &rid, "approve").await;
            assert_eq!(d.status, StatusCode::OK, "{d:?}");
        }
        ids.push(rid);
    }
    let report = t.tick().await;
    assert_eq!(report.provisioned, 2, "{report:?}");
    for rid in &ids {
        assert_eq!(request(&t, &alice, rid).await.state, "active");
    }
    // The access check, here and on a second replica following the change stream.
    let gate = checker(&t).await;
    assert!(check(&t, &gate, "alice", "orders-db", "read").await.allowed);
    let store = Store::open(&t.db.url, &Default::default()).await.unwrap();
    let other = AppState::new(store, Arc::new(t.clock.clone()), t.state.config().clone());
    let other_app = warden_server::api::app(other.clone());
    let follower = tokio::spawn(warden_app::access_index::run(other.clone()));
    eventually(
        "the other replica's index to hold both grants",
        async || other.access_index().grants(),
        |grants| *grants == Some(2),
    )
    .await;
    let orders = request(&t, &alice, &ids[0]).await.grant.unwrap().id;
    let revoked = t
        .post(
            &format!("/v1/grants/{orders}/revoke"),
            &alice,
            revoke("done"),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert!(
        !check(&t, &gate, "alice", "orders-db", "read").await.allowed,
        "here at once"
    );
    eventually(
        "the other replica to see the revocation",
        async || check_on(&other_app, &gate, "alice", "orders-db", "read").await,
        |check| !check.allowed,
    )
    .await;
    assert!(
        check_on(&other_app, &gate, "alice", "analytics-db", "read")
            .await
            .allowed,
        "the other grant still runs"
    );
    follower.abort();
    t.tick().await;
    t.clock.advance(Duration::hours(1));
    let report = t.tick().await;
    assert_eq!(report.revoked, 1, "{report:?}");
    for rid in &ids {
        assert_eq!(request(&t, &alice, rid).await.state, "revoked");
    }
    let grants: Vec<GrantInfo> = t.get("/v1/grants", &alice).await.parse();
    assert!(grants.iter().all(|g| g.state == "revoked"), "{grants:?}");
}

#[tokio::test]
async fn a_grant_ending_leaves_the_account_its_holder_has_as_birthright() {
    let (t, admin) = crate::directory::demo_app().await;
    // An extra rule lets engineers ask for what they already hold as birthright.
    let files: Vec<PolicyFile> = warden_app::demo::policy_files()
        .into_iter()
        .map(|f| {
            let mut text = f.text.to_owned();
            if f.path.ends_with("access.toml") {
                text.push_str(
                    "\n[[eligibility]]\nname = \"wiki-again\"\nwho = \"group:engineering\"\nroles = [\"read\"]\nresources = { names = [\"wiki-db\"] }\nmax_duration = \"4h\"\napproval = \"low-risk\"\n",
                );
            }
            PolicyFile { path: f.path, text }
        })
        .collect();
    let applied = t
        .post(
            "/v1/policy/apply",
            &admin,
            json_of(&ApplyPolicy {
                files,
                comment: "wiki again".to_owned(),
            }),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    let alice = t.user_with("alice", &["request"]).await;
    let bob = t.user_with("bob", &["request", "approve"]).await;
    let r = file(&t, &alice, ask("wiki-db", "read", "1h", None)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let created: RequestInfo = r.parse();
    if created.state == "pending" {
        let d = decide(&t, &bob, &created.id.to_string(), "approve").await;
        assert_eq!(d.status, StatusCode::OK, "{d:?}");
    }
    assert_eq!(t.tick().await.provisioned, 1);
    let alice_id = identity_id(&t, "alice").await;
    t.clock.advance(Duration::hours(1));
    let report = t.tick().await;
    assert_eq!((report.revoked, report.kept), (0, 1), "{report:?}");
    // The account stays, now without end, as birthright has it.
    let until = t
        .state
        .store()
        .recorded_access(alice_id, "wiki-db", "read")
        .await
        .unwrap()
        .expect("the birthright account was removed with the grant");
    assert_eq!(until.year(), 9999);
    let events = t.state.store().audit_events(0, 10_000).await.unwrap();
    assert!(
        events.iter().any(|e| e.action == "grant.revoked"
            && e.details.get("kept_by").map(String::as_str) == Some("birthright")),
        "no grant.revoked kept by birthright"
    );
}

/// Alice holds `read` on the session cache through an auto-approved grant, and the check
/// (which reads the access index) says so.
async fn alice_reads_the_session_cache(t: &TestApp, p: &crate::requests::Tokens, gate: &str) {
    file(t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    assert!(
        check(t, gate, "alice", "session-cache", "read")
            .await
            .allowed
    );
}

/// A check through another replica's router.
async fn check_on(
    app: &axum::Router,
    token: &str,
    who: &str,
    resource: &str,
    role: &str,
) -> AccessCheck {
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::get(format!(
        "/v1/access/check?identity={who}&resource={resource}&role={role}"
    ))
    .header("authorization", format!("Bearer {token}"))
    .body(axum::body::Body::empty())
    .unwrap();
    let peer: std::net::SocketAddr = crate::support::PEER.parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let answer = app.clone().oneshot(req).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(answer.into_body())
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn another_replica_answers_the_access_check_from_memory_and_follows_grants_made_and_revoked_here()
 {
    let (t, p) = people().await;
    let gate = checker(&t).await;
    // A second replica on the same database, following the change stream as `serve`
    // does.
    let store = Store::open(&t.db.url, &Default::default()).await.unwrap();
    let other = AppState::new(store, Arc::new(t.clock.clone()), t.state.config().clone());
    let other_app = warden_server::api::app(other.clone());
    let follower = tokio::spawn(warden_app::access_index::run(other.clone()));
    eventually(
        "the other replica to read its index",
        async || other.access_index().grants(),
        Option::is_some,
    )
    .await;
    let no = check_on(&other_app, &gate, "alice", "session-cache", "read").await;
    assert!(!no.allowed, "{no:?}");

    let created = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    let gid = request(&t, &p.alice, &id(&created)).await.grant.unwrap().id;
    eventually(
        "the other replica's index to hold the grant",
        async || other.access_index().grants(),
        |grants| *grants == Some(1),
    )
    .await;
    let yes = check_on(&other_app, &gate, "alice", "session-cache", "read").await;
    assert!(yes.allowed, "{yes:?}");
    assert_eq!(yes.grant, Some(gid));
    // Another role of the same holder is not allowed.
    let write = check_on(&other_app, &gate, "alice", "session-cache", "write").await;
    assert!(!write.allowed);

    // Revoked early here: the other replica stops allowing it, before the target is
    // even cleaned up (the worker has not run).
    let revoked = t
        .post(
            &format!("/v1/grants/{gid}/revoke"),
            &p.alice,
            revoke("done"),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    eventually(
        "the other replica to see the revocation",
        async || check_on(&other_app, &gate, "alice", "session-cache", "read").await,
        |check| !check.allowed,
    )
    .await;
    // And its end needs no change at all: a grant stops at its end by the clock.
    let again = file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
    t.tick().await;
    eventually(
        "the other replica to see the second grant",
        async || check_on(&other_app, &gate, "alice", "session-cache", "read").await,
        |check| check.allowed,
    )
    .await;
    t.clock.advance(Duration::hours(1));
    let ended = check_on(&other_app, &gate, "alice", "session-cache", "read").await;
    assert!(!ended.allowed, "at its end, before any revocation");
    follower.abort();
}

#[tokio::test]
async fn the_access_check_follows_a_holder_renamed_by_hr_at_once() {
    let (t, p) = people().await;
    let gate = checker(&t).await;
    let admin = t.login("admin", &t.admin_password.clone()).await;
    alice_reads_the_session_cache(&t, &p, &gate).await;
    let renamed = warden_app::demo::HR_CSV.replace(
        "E1001,alice,alice@example.com",
        "E1001,alicia,alice@example.com",
    );
    let req = axum::http::Request::post("/v1/hr/sync")
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::from(renamed))
        .unwrap();
    let synced = t.raw(req, crate::support::PEER).await;
    assert_eq!(synced.status, StatusCode::OK, "{synced:?}");
    let new_name = check(&t, &gate, "alicia", "session-cache", "read").await;
    assert!(new_name.allowed, "{new_name:?}");
    let old = t
        .get(
            "/v1/access/check?identity=alice&resource=session-cache&role=read",
            &gate,
        )
        .await;
    assert_eq!(old.status, StatusCode::NOT_FOUND, "{old:?}");
}

#[tokio::test]
async fn until_the_background_read_of_the_index_is_done_the_access_check_reads_the_database() {
    let (t, p) = people().await;
    // As `serve` does: the index is read by a background task (not started here).
    t.state.access_index().follow_in_background();
    let gate = checker(&t).await;
    file(&t, &p.alice, ask("session-cache", "read", "1h", None)).await;
    t.tick().await;
    let yes = check(&t, &gate, "alice", "session-cache", "read").await;
    assert!(yes.allowed, "{yes:?}");
    let no = check(&t, &gate, "alice", "session-cache", "write").await;
    assert!(!no.allowed, "{no:?}");
    assert_eq!(
        t.state.access_index().grants(),
        None,
        "no check made the first read itself"
    );
    // Once read, the index answers.
    t.state
        .access_index()
        .refresh(t.state.store())
        .await
        .unwrap();
    assert_eq!(t.state.access_index().grants(), Some(1));
    let yes = check(&t, &gate, "alice", "session-cache", "read").await;
    assert!(yes.allowed, "{yes:?}");
}

#[tokio::test]
async fn a_grant_made_active_here_is_allowed_by_the_next_check_even_for_a_holder_the_index_knows() {
    let (t, p) = people().await;
    let gate = checker(&t).await;
    // Alice is in the index, with one grant.
    alice_reads_the_session_cache(&t, &p, &gate).await;
    assert!(!check(&t, &gate, "alice", "orders-db", "read").await.allowed);
    assert_eq!(t.state.access_index().grants(), Some(1));
    let created = file(&t, &p.alice, ask("orders-db", "read", "1h", Some("CHG-5"))).await;
    let approved = decide(&t, &p.bob, &id(&created), "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{approved:?}");
    assert_eq!(t.tick().await.provisioned, 1);
    // The worker's commit gave access: the very next check says so.
    let now = check(&t, &gate, "alice", "orders-db", "read").await;
    assert!(now.allowed, "{now:?}");
    assert_eq!(t.state.access_index().grants(), Some(2));
    // Its revocation at the end needs no read: the clock already refuses it.
    t.clock.advance(Duration::hours(1));
    let ended = check(&t, &gate, "alice", "orders-db", "read").await;
    assert!(!ended.allowed, "{ended:?}");
}

#[tokio::test]
async fn a_database_restored_from_a_backup_makes_the_index_read_everything_again() {
    use sea_orm::ConnectionTrait as _;
    let (t, p) = people().await;
    let gate = checker(&t).await;
    alice_reads_the_session_cache(&t, &p, &gate).await;
    // The database goes back to a state from before the grant ran, counter and all,
    // behind the server's back, as a restore from a backup does.
    let raw = sea_orm::Database::connect(t.db.url.as_str()).await.unwrap();
    raw.execute_unprepared(
        "UPDATE grants SET state = 'revoked', change_seq = 0; \
         UPDATE change_counters SET value = 0 WHERE name = 'access'",
    )
    .await
    .unwrap();
    t.state
        .access_index()
        .refresh(t.state.store())
        .await
        .unwrap();
    assert_eq!(t.state.access_index().grants(), Some(0));
    let after = check(&t, &gate, "alice", "session-cache", "read").await;
    assert!(!after.allowed, "{after:?}");
}
