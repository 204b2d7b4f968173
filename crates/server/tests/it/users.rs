//! Local users: creation, generated passwords, delegation limits, audit.

use axum::http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use warden_proto::auth::{CreatedToken, WhoAmI};
use warden_proto::users::{CreateUser, CreatedUser, UpdateUser, UserInfo};

use crate::support::{TestApp, json_of};

/// A body creating `username` with `scopes` and a generated password.
fn new_user(username: &str, scopes: &[&str]) -> Value {
    json_of(&CreateUser {
        username: username.to_owned(),
        display_name: None,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        password: None,
    })
}

/// A body giving a user exactly `scopes`.
fn set_scopes(scopes: &[&str]) -> Value {
    json_of(&UpdateUser {
        scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
        disabled: None,
    })
}

/// A body disabling a user.
fn disable() -> Value {
    json_of(&UpdateUser {
        scopes: None,
        disabled: Some(true),
    })
}

#[tokio::test]
async fn created_user_gets_a_generated_password_once_and_can_log_in() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let created = t
        .post(
            "/v1/users",
            &admin,
            json_of(&CreateUser {
                username: "jane".to_owned(),
                display_name: Some("Jane Doe".to_owned()),
                scopes: vec!["request".to_owned()],
                password: None,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let created: CreatedUser = created.parse();
    let password = created
        .initial_password
        .unwrap()
        .0
        .expose_secret()
        .to_owned();
    assert_eq!(password.len(), 24);
    assert_eq!(created.user.display_name, "Jane Doe");
    let token = t.login("jane", &password).await;
    assert_eq!(
        t.get("/v1/auth/whoami", &token)
            .await
            .parse::<WhoAmI>()
            .scopes,
        ["request"]
    );

    let listed = t.get("/v1/users", &admin).await;
    assert!(
        listed
            .parse::<Vec<UserInfo>>()
            .iter()
            .any(|u| u.username == "jane")
    );
    assert!(
        !listed
            .raw
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "no password in listings"
    );
    let shown = t.get("/v1/users/jane", &admin).await;
    assert_eq!(shown.parse::<UserInfo>().username, "jane");
    // The raw JSON: a typed read would pass over a field UserInfo does not have.
    assert!(shown.body.get("initial_password").is_none());
}

#[tokio::test]
async fn bad_names_duplicates_and_weak_passwords_are_refused_with_the_field() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    for bad in [
        "Upper",
        "deploy,root",
        "a b",
        "../admin",
        "",
        "x'; drop table users;--",
    ] {
        let answer = t.post("/v1/users", &admin, json!({"username": bad})).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(answer.details().errors[0].field, "username", "{bad:?}");
    }
    let weak = t
        .post(
            "/v1/users",
            &admin,
            json!({"username": "kim", "password": "short"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(weak.details().errors[0].field, "password");
    assert_eq!(
        t.post("/v1/users", &admin, new_user("kim", &[]))
            .await
            .status,
        StatusCode::CREATED
    );
    let dup = t.post("/v1/users", &admin, new_user("kim", &[])).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.problem(), "conflict");
    let creates = t
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a == "user.create")
        .count();
    assert_eq!(
        creates, 1,
        "refusals change nothing and leave no create event"
    );
}

#[tokio::test]
async fn a_delegated_administrator_cannot_give_or_take_more_than_they_hold() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let lead = t
        .user_with("lead", &["users:write", "users:read", "request", "approve"])
        .await;
    let raise = t
        .post("/v1/users", &lead, new_user("crony", &["admin"]))
        .await;
    assert_eq!(raise.status, StatusCode::FORBIDDEN);
    assert_eq!(raise.problem(), "insufficient-scope");
    let ok = t
        .post("/v1/users", &lead, new_user("newbie", &["request"]))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let escalate = t
        .send(
            Method::PATCH,
            "/v1/users/newbie",
            Some(&lead),
            Some(set_scopes(&["policy:write"])),
        )
        .await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    // Stripping the administrator needs what the administrator holds.
    let strip = t
        .send(
            Method::PATCH,
            "/v1/users/admin",
            Some(&lead),
            Some(set_scopes(&["request"])),
        )
        .await;
    assert_eq!(strip.status, StatusCode::FORBIDDEN);
    let self_disable = t
        .send(
            Method::PATCH,
            "/v1/users/admin",
            Some(&admin),
            Some(disable()),
        )
        .await;
    assert_eq!(self_disable.status, StatusCode::UNPROCESSABLE_ENTITY);
    let nothing = t
        .send(
            Method::PATCH,
            "/v1/users/newbie",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_change_leaves_an_audit_event_with_actor_and_source() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    t.post("/v1/users", &admin, new_user("leo", &["request"]))
        .await;
    t.send(
        Method::PATCH,
        "/v1/users/leo",
        Some(&admin),
        Some(disable()),
    )
    .await;
    let token = t
        .post(
            "/v1/tokens",
            &admin,
            json_of(&warden_proto::auth::CreateToken {
                name: "ci".to_owned(),
                scopes: None,
                expires_in_secs: None,
            }),
        )
        .await;
    let id = token.parse::<CreatedToken>().info.id.to_string();
    t.send(
        Method::DELETE,
        &format!("/v1/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await;
    let events = t.state.store().audit_events(0, 100).await.unwrap();
    let tail: Vec<_> = events
        .iter()
        .skip(2)
        .map(|e| (e.action.as_str(), e.target.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        tail,
        [
            ("user.create", "user:leo".to_owned()),
            ("user.update", "user:leo".to_owned()),
            ("token.create", format!("token:{id}")),
            ("token.revoke", format!("token:{id}")),
        ]
    );
    for e in events.iter().skip(2) {
        assert_eq!(e.actor_user.as_deref(), Some("admin"));
        assert!(e.actor_token.is_some());
        assert_eq!(e.source.as_deref(), Some("198.51.100.10"));
        assert_eq!(e.user_agent.as_deref(), Some("warden-tests"));
    }
}

/// Removing `admin` from the last enabled administrator, or disabling them, would leave
/// nobody able to give it back.
#[tokio::test]
async fn the_last_enabled_administrator_keeps_admin() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let own = t
        .send(
            Method::PATCH,
            "/v1/users/admin",
            Some(&admin),
            Some(set_scopes(&["users:read"])),
        )
        .await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{own:?}");
    assert!(
        own.detail().contains("last enabled administrator"),
        "{own:?}"
    );
    assert_eq!(
        t.get("/v1/users/admin", &admin)
            .await
            .parse::<UserInfo>()
            .scopes,
        ["admin"]
    );

    // With a second administrator, either may step down, but then not the other.
    let second = t.user_with("second", &["admin"]).await;
    let step_down = t
        .send(
            Method::PATCH,
            "/v1/users/admin",
            Some(&second),
            Some(set_scopes(&["audit:read"])),
        )
        .await;
    assert_eq!(step_down.status, StatusCode::OK, "{step_down:?}");
    let last = t
        .send(
            Method::PATCH,
            "/v1/users/second",
            Some(&second),
            Some(set_scopes(&["request"])),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{last:?}");
}
