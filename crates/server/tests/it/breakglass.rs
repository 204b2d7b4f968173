//! Break-glass through the HTTP API: access at once without approval, security told at
//! once, a justification due within 24 hours, review by the holder's manager and
//! security, and an incident when the use is judged unjustified or never justified.

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::Duration;

use crate::requests::people_with;
use crate::support::TestApp;

fn with_channel(c: &mut warden_app::config::Config) {
    let channel: warden_app::config::ChannelConfig = toml::from_str(
        "name = \"security\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s3cret-for-tests\"\nallow_internal = true\nevents = [\"breakglass.used\", \"incident.opened\", \"breakglass.review_due\"]",
    )
    .unwrap();
    c.notifications.channel.push(channel);
}

async fn take(t: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let a = t.post("/v1/breakglass", token, body).await;
    (a.status, a.body)
}

fn glass() -> Value {
    json!({"resource": "session-cache", "role": "read", "reason": "sessions failing for all EU users, INC-9000"})
}

async fn announced(t: &TestApp) -> Vec<String> {
    t.state
        .store()
        .outbox_messages()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.message.event)
        .collect()
}

async fn review(t: &TestApp, token: &str, id: &str, verdict: &str) -> (StatusCode, Value) {
    let a = t
        .post(
            &format!("/v1/breakglass/{id}/review"),
            token,
            json!({"verdict": verdict, "comment": "read the timeline and the ticket"}),
        )
        .await;
    (a.status, a.body)
}

#[tokio::test]
async fn break_glass_is_granted_at_once_and_reviewed_by_manager_and_security() {
    let (t, p) = people_with(with_channel).await;
    let (status, too_long) = take(&t, &p.alice, json!({"resource": "session-cache", "role": "read", "reason": "sessions failing for all EU users", "duration": "3h"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{too_long:?}");
    let (status, not_eligible) = take(&t, &p.dave, glass()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only roles policy makes you eligible for: {not_eligible:?}"
    );

    let (status, bg) = take(&t, &p.alice, glass()).await;
    assert_eq!(status, StatusCode::CREATED, "{bg:?}");
    assert_eq!(bg["review"], "justification_due");
    assert_eq!(bg["grant"]["kind"], "breakglass");
    assert_eq!(
        announced(&t).await,
        ["breakglass.used"],
        "security told at once"
    );
    let id = bg["id"].as_str().unwrap().to_owned();
    t.tick().await;
    let shown = t.get(&format!("/v1/breakglass/{id}"), &p.alice).await;
    assert_eq!(shown.body["grant"]["state"], "active", "{shown:?}");
    let ends = time::OffsetDateTime::parse(
        shown.body["grant"]["ends_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let starts = time::OffsetDateTime::parse(
        shown.body["grant"]["starts_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        ends - starts,
        Duration::hours(2),
        "the break-glass maximum by default"
    );
    let event = t
        .state
        .store()
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "breakglass.use")
        .unwrap();
    assert_eq!(
        event.details.get("breakglass").map(String::as_str),
        Some("true")
    );

    // Nobody judges a use before it is justified, except to reject it; the holder never.
    let (status, _) = review(&t, &p.sam, &id, "justified").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let justified = t.post(&format!("/v1/breakglass/{id}/justify"), &p.alice, json!({"justification": "EU session store lost quorum; I restarted two replicas and verified logins"})).await;
    assert_eq!(justified.status, StatusCode::OK, "{justified:?}");
    assert_eq!(justified.body["review"], "review_due");
    let bob_self = t.post("/v1/breakglass", &p.bob, glass()).await;
    assert_eq!(bob_self.status, StatusCode::CREATED);
    let (status, _) = review(&t, &p.dave, &id, "justified").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no approve scope");
    // Neither manager nor security: not hers to see, so not found.
    let (status, body) = review(&t, &p.paula, &id, "justified").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:?}");

    let (status, body) = review(&t, &p.bob, &id, "justified").await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(body["review"], "review_due");
    assert_eq!(body["needs"], json!(["a verdict in the security capacity"]));
    let (status, again) = review(&t, &p.bob, &id, "justified").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "one verdict per capacity: {again:?}"
    );
    let (status, body) = review(&t, &p.sam, &id, "justified").await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(body["review"], "justified");
    assert!(body["incident"].is_null());
    let capacities: Vec<&str> = body["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["capacity"].as_str().unwrap())
        .collect();
    assert_eq!(capacities, ["manager", "security"]);
}

#[tokio::test]
async fn an_unjustified_use_opens_an_incident() {
    let (t, p) = people_with(with_channel).await;
    let (_, bg) = take(&t, &p.alice, glass()).await;
    let id = bg["id"].as_str().unwrap().to_owned();
    let (status, body) = review(&t, &p.sam, &id, "unjustified").await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(body["review"], "unjustified");
    assert!(body["incident"].is_string());
    let admin = t.admin().await;
    let incidents = t.get("/v1/incidents", &admin).await;
    assert_eq!(incidents.body.as_array().unwrap().len(), 1, "{incidents:?}");
    assert_eq!(incidents.body[0]["request"], id.as_str());
    assert!(
        incidents.body[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unjustified")
    );
    assert_eq!(
        t.get("/v1/incidents", &p.alice).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(announced(&t).await.contains(&"incident.opened".to_owned()));
    let (status, _) = review(&t, &p.bob, &id, "justified").await;
    assert_eq!(status, StatusCode::CONFLICT, "decided");
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|a| a == "incident.open"), "{actions:?}");
}

#[tokio::test]
async fn a_justification_never_given_lapses_into_an_incident() {
    let (t, p) = people_with(with_channel).await;
    let (_, bg) = take(&t, &p.alice, glass()).await;
    let id = bg["id"].as_str().unwrap().to_owned();
    t.tick().await;
    assert_eq!(
        warden_app::service::breakglass::lapse_overdue(&t.state)
            .await
            .unwrap(),
        0
    );
    t.clock.advance(Duration::hours(24));
    assert_eq!(
        warden_app::service::breakglass::lapse_overdue(&t.state)
            .await
            .unwrap(),
        1
    );
    let admin = t.admin().await;
    let shown = t.get(&format!("/v1/breakglass/{id}"), &admin).await;
    assert_eq!(shown.body["review"], "unjustified", "{shown:?}");
    assert!(shown.body["incident"].is_string());
    // The grant ended long before, at its own end.
    t.tick().await;
    assert_eq!(
        t.get(&format!("/v1/breakglass/{id}"), &admin).await.body["grant"]["state"],
        "revoked"
    );
    let alice = t.login("alice", "alice-password-123").await;
    let late = t
        .post(
            &format!("/v1/breakglass/{id}/justify"),
            &alice,
            json!({"justification": "sorry, I forgot to write this up in time"}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    drop(p);
}
