//! Authentication: tokens, scopes, logins, throttling.

use axum::http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use time::Duration;
use warden_proto::auth::{ChangePassword, CreateToken, CreatedToken, LoginRequest, WhoAmI};
use warden_proto::system::Ready;
use warden_proto::users::{CreateUser, UpdateUser};
use warden_store::Backend;

use crate::support::{PEER, TestApp, json_of};

fn login_body(user: &str, password: &str) -> Option<Value> {
    Some(json_of(&LoginRequest {
        username: user.to_owned(),
        password: password.into(),
    }))
}

/// A body creating a token `name`, of `scopes` (the caller's when none), living
/// `expires_in_secs` (the default when none).
fn token(name: &str, scopes: Option<&[&str]>, expires_in_secs: Option<u64>) -> Value {
    json_of(&CreateToken {
        name: name.to_owned(),
        scopes: scopes.map(|s| s.iter().map(|s| (*s).to_owned()).collect()),
        expires_in_secs,
    })
}

#[tokio::test]
async fn good_token_is_accepted_and_names_its_holder() {
    let t = TestApp::new().await;
    let token = t.admin().await;
    let me = t.get("/v1/auth/whoami", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    let me: WhoAmI = me.parse();
    assert_eq!(me.username, "admin");
    assert_eq!(me.scopes, ["admin"]);
    let actions = t.audit_actions().await;
    assert_eq!(actions, ["system.bootstrap", "auth.login"]);
}

#[tokio::test]
async fn missing_malformed_unknown_and_tampered_tokens_get_the_same_401() {
    let t = TestApp::new().await;
    let good = t.admin().await;
    // Same id, other secret: well-formed, but must not match.
    let mut tampered: Vec<char> = good.chars().collect();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == 'x' { 'y' } else { 'x' };
    let tampered: String = tampered.into_iter().collect();
    let unknown = warden_core::credential::mint_token(time::OffsetDateTime::UNIX_EPOCH).unwrap();
    let unknown = secrecy::ExposeSecret::expose_secret(&unknown.text).to_owned();

    let mut bodies = Vec::new();
    for token in [
        None,
        Some("garbage"),
        Some("wdn_"),
        Some(unknown.as_str()),
        Some(tampered.as_str()),
    ] {
        let answer = t.send(Method::GET, "/v1/auth/whoami", token, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(answer.problem(), "unauthorized");
        assert_eq!(
            answer.headers["www-authenticate"],
            "Bearer realm=\"warden\""
        );
        // The raw JSON: the refusals must be the same on the wire, field for field.
        let mut body = answer.body.clone();
        body.as_object_mut().unwrap().remove("request_id");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "all refusals identical: {bodies:?}"
    );
    // A non-Bearer scheme is no token either.
    let basic = t
        .raw(
            axum::http::Request::get("/v1/auth/whoami")
                .header("authorization", format!("Basic {good}"))
                .body(axum::body::Body::empty())
                .unwrap(),
            PEER,
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_token_is_refused() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let created = t
        .post("/v1/tokens", &admin, token("short", None, Some(120)))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let token = created
        .parse::<CreatedToken>()
        .token
        .0
        .expose_secret()
        .to_owned();
    assert_eq!(
        t.get("/v1/auth/whoami", &token).await.status,
        StatusCode::OK
    );
    t.clock.advance(Duration::seconds(119));
    assert_eq!(
        t.get("/v1/auth/whoami", &token).await.status,
        StatusCode::OK
    );
    t.clock.advance(Duration::seconds(1));
    let expired = t.get("/v1/auth/whoami", &token).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.problem(), "unauthorized");
}

#[tokio::test]
async fn session_tokens_expire_after_the_configured_time() {
    let t = TestApp::with(Backend::Sqlite, |c| c.auth.session_ttl_secs = 600).await;
    let token = t.admin().await;
    t.clock.advance(Duration::seconds(599));
    assert_eq!(
        t.get("/v1/auth/whoami", &token).await.status,
        StatusCode::OK
    );
    t.clock.advance(Duration::seconds(1));
    assert_eq!(
        t.get("/v1/auth/whoami", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_scope_is_403_and_names_the_scope() {
    let t = TestApp::new().await;
    let alice = t.user_with("alice", &["request"]).await;
    let answer = t.get("/v1/users", &alice).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.problem(), "insufficient-scope");
    assert!(answer.detail().contains("users:read"), "{answer:?}");

    // A token narrower than its user: admin minting a users:read token cannot write.
    let admin = t.admin().await;
    let narrow = t
        .post(
            "/v1/tokens",
            &admin,
            token("ro", Some(&["users:read"]), None),
        )
        .await;
    let narrow = narrow
        .parse::<CreatedToken>()
        .token
        .0
        .expose_secret()
        .to_owned();
    assert_eq!(t.get("/v1/users", &narrow).await.status, StatusCode::OK);
    let write = t
        .post(
            "/v1/users",
            &narrow,
            json_of(&CreateUser {
                username: "mallory".to_owned(),
                display_name: None,
                scopes: Vec::new(),
                password: None,
            }),
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(write.problem(), "insufficient-scope");
}

#[tokio::test]
async fn a_token_cannot_mint_a_wider_token() {
    let t = TestApp::new().await;
    let alice = t.user_with("alice", &["request"]).await;
    let wider = t
        .post("/v1/tokens", &alice, token("x", Some(&["admin"]), None))
        .await;
    assert_eq!(wider.status, StatusCode::FORBIDDEN);
    assert_eq!(wider.problem(), "insufficient-scope");
    let unknown = t
        .post(
            "/v1/tokens",
            &alice,
            json!({"name": "x", "scopes": ["request", "root"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.details().errors[0].field, "scopes.1");
    let too_long = t
        .post("/v1/tokens", &alice, token("x", None, Some(10_000_000_000)))
        .await;
    // A lifetime the document allows, past what this server issues.
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = too_long.details().errors;
    assert_eq!(errors[0].field, "expires_in_secs");
    // The limit in words as well as in the field's seconds.
    assert_eq!(
        errors[0].message,
        "must be between 60 and 31536000 seconds (1m to 365d)"
    );
    let ok = t.post("/v1/tokens", &alice, token("ci", None, None)).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(
        ok.parse::<CreatedToken>().info.scopes,
        ["request"],
        "defaults to the caller's scopes"
    );
}

#[tokio::test]
async fn taking_a_scope_from_a_user_takes_it_from_their_tokens() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let reader = t.user_with("rita", &["users:read", "request"]).await;
    assert_eq!(t.get("/v1/users", &reader).await.status, StatusCode::OK);
    let change = t
        .send(
            Method::PATCH,
            "/v1/users/rita",
            Some(&admin),
            Some(json_of(&UpdateUser {
                scopes: Some(vec!["request".to_owned()]),
                disabled: None,
            })),
        )
        .await;
    assert_eq!(change.status, StatusCode::OK, "{change:?}");
    assert_eq!(
        t.get("/v1/users", &reader).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn revoked_token_and_disabled_user_are_refused() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let dave = t.user_with("dave", &["request"]).await;
    let second = t
        .post("/v1/tokens", &dave, token("laptop", None, None))
        .await;
    let second: CreatedToken = second.parse();
    let second_id = second.info.id;
    let second = second.token.0.expose_secret().to_owned();

    // Logout revokes the session token only.
    assert_eq!(
        t.send(Method::POST, "/v1/auth/logout", Some(&dave), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/v1/auth/whoami", &dave).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.get("/v1/auth/whoami", &second).await.status,
        StatusCode::OK
    );

    // Another user's token is "not found" to a non-admin; the admin may revoke it.
    let eve = t.user_with("eve", &["request"]).await;
    let probe = t
        .send(
            Method::DELETE,
            &format!("/v1/tokens/{second_id}"),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(probe.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.get("/v1/auth/whoami", &second).await.status,
        StatusCode::OK
    );

    // Disabling the user stops every token at once.
    let off = t
        .send(
            Method::PATCH,
            "/v1/users/dave",
            Some(&admin),
            Some(json_of(&UpdateUser {
                scopes: None,
                disabled: Some(true),
            })),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(
        t.get("/v1/auth/whoami", &second).await.status,
        StatusCode::UNAUTHORIZED
    );
    let relogin = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("dave", "dave-password-123"),
        )
        .await;
    assert_eq!(relogin.status, StatusCode::UNAUTHORIZED);

    let revoke = t
        .send(
            Method::DELETE,
            &format!("/v1/tokens/{second_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let actions = t.audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "token.revoke").count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_are_indistinguishable() {
    let t = TestApp::new().await;
    t.user_with("frank", &["request"]).await;
    let wrong = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("frank", "not-franks-password"),
        )
        .await;
    let unknown = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("nobody", "not-franks-password"),
        )
        .await;
    let invalid = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("Not A Name;--", "x"),
        )
        .await;
    for answer in [&wrong, &unknown, &invalid] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.problem(), "unauthorized");
    }
    // The raw JSON: the three refusals must be the same on the wire, field for field.
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    assert_eq!(strip(&wrong.body), strip(&unknown.body));
    assert_eq!(strip(&wrong.body), strip(&invalid.body));
    let header_names = |a: &crate::support::Answer| {
        let mut names: Vec<String> = a.headers.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&wrong), header_names(&unknown));
    let events = t.state.store().audit_events(0, 100).await.unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.action == "auth.login_failed")
        .collect();
    assert_eq!(failed.len(), 3);
    assert!(
        failed
            .iter()
            .all(|e| e.outcome == "failure" && e.source.as_deref() == Some("198.51.100.10"))
    );
}

#[tokio::test]
async fn login_attempts_are_limited_per_source() {
    let t = TestApp::with(Backend::Sqlite, |c| {
        c.auth.login_attempts_per_source_per_minute = 3
    })
    .await;
    for _ in 0..3 {
        let a = t
            .send(
                Method::POST,
                "/v1/auth/login",
                None,
                login_body("ghost", "wrong-password"),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let limited = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("admin", &t.admin_password),
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert_eq!(limited.problem(), "rate-limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
    // Another address is not affected.
    let other = t
        .send_from(
            "203.0.113.5:5000",
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("admin", &t.admin_password),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_name_from_any_source() {
    let t = TestApp::with(Backend::Sqlite, |c| {
        c.auth.login_max_failures = 3;
        c.auth.login_lockout_secs = 300;
    })
    .await;
    t.user_with("gina", &["request"]).await;
    for i in 0..3 {
        let peer = format!("203.0.113.{}:4000", i + 1);
        let a = t
            .send_from(
                &peer,
                Method::POST,
                "/v1/auth/login",
                None,
                login_body("gina", "guess-guess-guess"),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let locked = t
        .send_from(
            "203.0.113.99:4000",
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("gina", "gina-password-123"),
        )
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.problem(), "rate-limited");
    assert_eq!(locked.headers["retry-after"], "300");

    // A name with no account locks the same way, so the lock tells nothing.
    for _ in 0..3 {
        t.send_from(
            "203.0.113.50:1",
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("nosuchuser", "guess-guess"),
        )
        .await;
    }
    let ghost = t
        .send_from(
            "203.0.113.51:1",
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("nosuchuser", "x"),
        )
        .await;
    assert_eq!(ghost.status, StatusCode::TOO_MANY_REQUESTS);

    t.clock.advance(Duration::seconds(300));
    t.login("gina", "gina-password-123").await;
    let actions = t.audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "auth.login_locked").count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn password_change_needs_the_current_password() {
    let t = TestApp::new().await;
    let hank = t.user_with("hank", &["request"]).await;
    let body = |current: &str, new: &str| {
        json_of(&ChangePassword {
            current_password: current.into(),
            new_password: new.into(),
        })
    };
    let wrong = t
        .post(
            "/v1/auth/password",
            &hank,
            body("not-it-at-all", "a-brand-new-password"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let weak = t
        .post(
            "/v1/auth/password",
            &hank,
            body("hank-password-123", "short"),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(weak.details().errors[0].field, "new_password");
    let ok = t
        .post(
            "/v1/auth/password",
            &hank,
            body("hank-password-123", "a-brand-new-password"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{ok:?}");
    let old = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("hank", "hank-password-123"),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    t.login("hank", "a-brand-new-password").await;
}

#[tokio::test]
async fn authentication_works_the_same_on_postgres() {
    let t = TestApp::with(Backend::Postgres, |_| {}).await;
    let token = t.user_with("ivy", &["request"]).await;
    assert_eq!(
        t.get("/v1/auth/whoami", &token)
            .await
            .parse::<WhoAmI>()
            .username,
        "ivy"
    );
    assert_eq!(
        t.get("/v1/users", &token).await.status,
        StatusCode::FORBIDDEN
    );
    let wrong = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            login_body("ivy", "wrong-wrong-wrong"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ready = t.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.parse::<Ready>().storage, "postgres");
}
