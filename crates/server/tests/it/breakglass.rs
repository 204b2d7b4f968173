//! Break-glass through the HTTP API: access at once without approval, security told at
//! once, a justification due within 24 hours, review by the holder's manager and
//! security, and an incident when the use is judged unjustified or never justified.

use axum::http::StatusCode;
use serde_json::Value;
use time::Duration;
use warden_proto::grants::{
    BreakGlassInfo, BreakGlassRequest, IncidentInfo, JustifyBreakGlass, ReviewBreakGlass,
};

use crate::requests::people_with;
use crate::support::{Answer, TestApp, json_of};

fn with_channel(c: &mut warden_app::config::Config) {
    let channel: warden_app::config::ChannelConfig = toml::from_str(
        "name = \"security\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s3cret-for-tests\"\nallow_internal = true\nevents = [\"breakglass.used\", \"incident.opened\", \"breakglass.review_due\"]",
    )
    .unwrap();
    c.notifications.channel.push(channel);
}

async fn take(t: &TestApp, token: &str, body: Value) -> Answer {
    t.post("/v1/breakglass", token, body).await
}

fn glass() -> Value {
    json_of(&BreakGlassRequest {
        resource: "session-cache".to_owned(),
        role: "read".to_owned(),
        reason: "sessions failing for all EU users, INC-9000".to_owned(),
        duration: None,
        ticket: None,
    })
}

/// A justification body.
fn justification(text: &str) -> Value {
    json_of(&JustifyBreakGlass {
        justification: text.to_owned(),
    })
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

async fn review(t: &TestApp, token: &str, id: &str, verdict: &str) -> Answer {
    t.post(
        &format!("/v1/breakglass/{id}/review"),
        token,
        json_of(&ReviewBreakGlass {
            verdict: verdict.to_owned(),
            comment: "read the timeline and the ticket".to_owned(),
        }),
    )
    .await
}

#[tokio::test]
async fn break_glass_is_granted_at_once_and_reviewed_by_manager_and_security() {
    let (t, p) = people_with(with_channel).await;
    let too_long = BreakGlassRequest {
        resource: "session-cache".to_owned(),
        role: "read".to_owned(),
        reason: "sessions failing for all EU users".to_owned(),
        duration: Some("3h".to_owned()),
        ticket: None,
    };
    let too_long = take(&t, &p.alice, json_of(&too_long)).await;
    assert_eq!(
        too_long.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{too_long:?}"
    );
    let not_eligible = take(&t, &p.dave, glass()).await;
    assert_eq!(
        not_eligible.status,
        StatusCode::FORBIDDEN,
        "only roles policy makes you eligible for: {not_eligible:?}"
    );

    let bg = take(&t, &p.alice, glass()).await;
    assert_eq!(bg.status, StatusCode::CREATED, "{bg:?}");
    let bg: BreakGlassInfo = bg.parse();
    assert_eq!(bg.review, "justification_due");
    assert_eq!(bg.grant.unwrap().kind, "breakglass");
    assert_eq!(
        announced(&t).await,
        ["breakglass.used"],
        "security told at once"
    );
    let id = bg.id.to_string();
    t.tick().await;
    let shown: BreakGlassInfo = t
        .get(&format!("/v1/breakglass/{id}"), &p.alice)
        .await
        .parse();
    let grant = shown.grant.unwrap();
    assert_eq!(grant.state, "active", "{grant:?}");
    let ends = grant.ends_at.unwrap();
    let starts = grant.starts_at.unwrap();
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
    let early = review(&t, &p.sam, &id, "justified").await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    let justified = t
        .post(
            &format!("/v1/breakglass/{id}/justify"),
            &p.alice,
            justification(
                "EU session store lost quorum; I restarted two replicas and verified logins",
            ),
        )
        .await;
    assert_eq!(justified.status, StatusCode::OK, "{justified:?}");
    assert_eq!(justified.parse::<BreakGlassInfo>().review, "review_due");
    let bob_self = t.post("/v1/breakglass", &p.bob, glass()).await;
    assert_eq!(bob_self.status, StatusCode::CREATED);
    let dave = review(&t, &p.dave, &id, "justified").await;
    assert_eq!(dave.status, StatusCode::FORBIDDEN, "no approve scope");
    // Neither manager nor security: not hers to see, so not found.
    let paula = review(&t, &p.paula, &id, "justified").await;
    assert_eq!(paula.status, StatusCode::NOT_FOUND, "{paula:?}");

    let manager = review(&t, &p.bob, &id, "justified").await;
    assert_eq!(manager.status, StatusCode::OK, "{manager:?}");
    let manager: BreakGlassInfo = manager.parse();
    assert_eq!(manager.review, "review_due");
    assert_eq!(manager.needs, ["a verdict in the security capacity"]);
    let again = review(&t, &p.bob, &id, "justified").await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "one verdict per capacity: {again:?}"
    );
    let security = review(&t, &p.sam, &id, "justified").await;
    assert_eq!(security.status, StatusCode::OK, "{security:?}");
    let security: BreakGlassInfo = security.parse();
    assert_eq!(security.review, "justified");
    assert!(security.incident.is_none());
    let capacities: Vec<&str> = security
        .reviews
        .iter()
        .map(|r| r.capacity.as_str())
        .collect();
    assert_eq!(capacities, ["manager", "security"]);
}

#[tokio::test]
async fn an_unjustified_use_opens_an_incident() {
    let (t, p) = people_with(with_channel).await;
    let bg: BreakGlassInfo = take(&t, &p.alice, glass()).await.parse();
    let id = bg.id.to_string();
    let judged = review(&t, &p.sam, &id, "unjustified").await;
    assert_eq!(judged.status, StatusCode::OK, "{judged:?}");
    let judged: BreakGlassInfo = judged.parse();
    assert_eq!(judged.review, "unjustified");
    assert!(judged.incident.is_some());
    let admin = t.admin().await;
    let incidents: Vec<IncidentInfo> = t.get("/v1/incidents", &admin).await.parse();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].request, bg.id);
    assert!(incidents[0].reason.contains("unjustified"));
    assert_eq!(
        t.get("/v1/incidents", &p.alice).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(announced(&t).await.contains(&"incident.opened".to_owned()));
    let late = review(&t, &p.bob, &id, "justified").await;
    assert_eq!(late.status, StatusCode::CONFLICT, "decided");
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|a| a == "incident.open"), "{actions:?}");
}

#[tokio::test]
async fn a_justification_never_given_lapses_into_an_incident() {
    let (t, p) = people_with(with_channel).await;
    let bg: BreakGlassInfo = take(&t, &p.alice, glass()).await.parse();
    let id = bg.id.to_string();
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
    let shown: BreakGlassInfo = t.get(&format!("/v1/breakglass/{id}"), &admin).await.parse();
    assert_eq!(shown.review, "unjustified", "{shown:?}");
    assert!(shown.incident.is_some());
    // The grant ended long before, at its own end.
    t.tick().await;
    let shown: BreakGlassInfo = t.get(&format!("/v1/breakglass/{id}"), &admin).await.parse();
    assert_eq!(shown.grant.unwrap().state, "revoked");
    let alice = t.login("alice", "alice-password-123").await;
    let late = t
        .post(
            &format!("/v1/breakglass/{id}/justify"),
            &alice,
            justification("sorry, I forgot to write this up in time"),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    drop(p);
}
