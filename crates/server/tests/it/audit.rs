//! The audit log through the API: exports that verify offline with the published key,
//! search for auditors only, no way to change an event, and checkpoints signed while
//! events arrive.

use axum::http::{Method, StatusCode};
use serde_json::json;
use warden_audit::PublicKey;
use warden_audit::verify::{Failure, Options, verify_reader};
use warden_proto::audit::{AuditKey, AuditPage};

use crate::support::{TestApp, eventually};

/// Some changes to audit: users, tokens, a failed login.
async fn some_changes(t: &TestApp) -> String {
    let admin = t.admin().await;
    for name in ["ann", "ben", "cy"] {
        let answer = t
            .post(
                "/v1/users",
                &admin,
                json!({"username": name, "scopes": ["request"], "password": format!("{name}-password-123")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    }
    let failed = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "ann", "password": "wrong-password-1"})),
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    admin
}

async fn published_key(t: &TestApp) -> PublicKey {
    // The key is public: no token.
    let answer = t.send(Method::GET, "/v1/audit/key", None, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let published: AuditKey = answer.parse();
    let key = PublicKey::parse(&published.public_key).unwrap();
    assert_eq!(published.key_id, key.key_id());
    key
}

fn verify(bundle: &[u8], key: Option<PublicKey>) -> Result<warden_audit::verify::Summary, Failure> {
    verify_reader(bundle, Options { pinned_key: key }, |_| {})
}

#[tokio::test]
async fn an_export_verifies_offline_with_the_published_key() {
    let t = TestApp::new().await;
    let admin = some_changes(&t).await;
    let auditor = t.user_with("audrey", &["audit:read"]).await;
    let key = published_key(&t).await;

    let export = t.get("/v1/audit/export", &auditor).await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let summary = verify(&export.raw, Some(key)).expect("an untouched export verifies");
    assert!(summary.key_pinned);
    assert_eq!(summary.first_seq, 1);
    // The export is itself audited, and included: it is the last event, and signed.
    let events = t.state.store().audit_events(0, 10_000).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.action, "audit.export");
    assert_eq!(last.actor_user.as_deref(), Some("audrey"));
    assert_eq!(summary.last_seq, u64::try_from(last.seq).unwrap());
    assert_eq!(summary.events, summary.last_seq);
    assert_eq!(
        summary.last_checkpoint.as_ref().unwrap().0,
        summary.last_seq
    );
    let text = String::from_utf8(export.raw.clone()).unwrap();
    for action in [
        "system.bootstrap",
        "user.create",
        "auth.login",
        "auth.login_failed",
    ] {
        assert!(
            text.contains(&format!("\"action\":\"{action}\"")),
            "{action} exported"
        );
    }
    // No secret in the log: the passwords used above never appear.
    for secret in [
        "ann-password-123",
        "wrong-password-1",
        t.admin_password.as_str(),
        admin.as_str(),
        auditor.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret is in the export");
    }

    // A later export from a sequence number verifies on its own, anchored on the event
    // before it.
    let partial = t.get("/v1/audit/export?since=3", &auditor).await;
    assert_eq!(partial.status, StatusCode::OK);
    let summary = verify(&partial.raw, Some(key)).unwrap();
    assert_eq!(summary.first_seq, 4);

    // One changed byte in an event is found, at that event.
    let tampered = text.replacen(
        "\"action\":\"user.create\"",
        "\"action\":\"user.update\"",
        1,
    );
    let failure = verify(tampered.as_bytes(), Some(key)).unwrap_err();
    assert!(matches!(failure, Failure::Altered { .. }), "{failure}");
    // A bundle checked against another key fails.
    let other = warden_audit::SigningKey::generate().unwrap().public();
    assert!(verify(&export.raw, Some(other)).is_err());

    // Past the end of the log there is no event to export after (404, not a malformed
    // request: the document allows any sequence number), and nothing is written.
    let head = t.state.store().audit_head().await.unwrap();
    let beyond = t.get("/v1/audit/export?since=100000", &auditor).await;
    assert_eq!(beyond.status, StatusCode::NOT_FOUND, "{beyond:?}");
    assert!(beyond.detail().contains("the log ends at"), "{beyond:?}");
    assert_eq!(t.state.store().audit_head().await.unwrap(), head);
}

#[tokio::test]
async fn only_auditors_and_admins_read_the_log_and_nobody_changes_it() {
    let t = TestApp::new().await;
    let admin = some_changes(&t).await;
    let requester = t.user_with("rita", &["request"]).await;
    let auditor = t.user_with("audrey", &["audit:read"]).await;
    for path in ["/v1/audit/events", "/v1/audit/export", "/v1/audit/head"] {
        let refused = t.get(path, &requester).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}: {refused:?}");
        let anonymous = t.send(Method::GET, path, None, None).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{path}");
        for token in [&auditor, &admin] {
            assert_eq!(t.get(path, token).await.status, StatusCode::OK, "{path}");
        }
    }
    // The API has no operation but reads under /v1/audit: the OpenAPI document, read as
    // raw JSON.
    let doc = t
        .send(Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/v1/audit") {
            let methods: Vec<&String> = item.as_object().unwrap().keys().collect();
            assert_eq!(methods, vec!["get"], "{path}");
        }
    }
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let answer = t
            .send(
                method.clone(),
                "/v1/audit/events",
                Some(&admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
}

#[tokio::test]
async fn search_filters_pages_and_refuses_bad_queries() {
    let t = TestApp::new().await;
    let admin = some_changes(&t).await;
    let page = t.get("/v1/audit/events?action=user.create", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    let events = page.parse::<AuditPage>().events;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].target.as_deref(), Some("user:cy"), "newest first");
    assert_eq!(events[0].actor.user.as_deref(), Some("admin"));
    assert_eq!(events[0].actor.ip.as_deref(), Some("198.51.100.10"));
    assert_eq!(events[0].actor.user_agent.as_deref(), Some("warden-tests"));
    assert_eq!(events[0].hash.len(), 64);

    let failed = t
        .get("/v1/audit/events?actor=ann&action=auth.*", &admin)
        .await;
    let events = failed.parse::<AuditPage>().events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "auth.login_failed");
    assert_eq!(events[0].outcome, "failure");

    // Paging with the cursor reaches every event once.
    let total = t.state.store().audit_head().await.unwrap().0;
    let mut seen = Vec::new();
    let mut path = "/v1/audit/events?limit=2".to_owned();
    loop {
        let page = t.get(&path, &admin).await;
        assert_eq!(page.status, StatusCode::OK);
        let page: AuditPage = page.parse();
        seen.extend(page.events.iter().map(|e| e.seq));
        match page.next {
            Some(next) => path = format!("/v1/audit/events?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
    assert!(seen.windows(2).all(|w| w[0] == w[1] + 1));

    for bad in [
        "/v1/audit/events?action=grant%25",
        "/v1/audit/events?limit=0",
        "/v1/audit/events?limit=5000",
        "/v1/audit/events?since=yesterday",
    ] {
        let answer = t.get(bad, &admin).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {answer:?}");
    }
    // Each bound fits the document; together they select nothing.
    let empty = t
        .get(
            "/v1/audit/events?since=2026-06-02T00:00:00Z&until=2026-06-01T00:00:00Z",
            &admin,
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY, "{empty:?}");
    assert_eq!(empty.details().errors[0].field, "until");
}

/// The signer runs while events arrive: each new head is signed within its interval, and
/// nothing is signed when nothing arrived.
#[tokio::test]
async fn checkpoints_follow_the_head_while_events_arrive() {
    let t = TestApp::with(warden_store::Backend::Sqlite, |c| {
        c.audit.checkpoint_interval_ms = 100;
    })
    .await;
    let store = t.state.store().clone();
    let key = t.state.audit_key().unwrap().public();
    let worker = tokio::spawn(warden_app::service::audit::run_checkpoints(t.state.clone()));
    for round in 0..3 {
        some_events(&t, round).await;
        let head = store.audit_head().await.unwrap();
        let cp = eventually(
            &format!("round {round}: a checkpoint of head {}", head.0),
            async || store.last_audit_checkpoint().await.unwrap(),
            |cp| cp.as_ref().is_some_and(|cp| cp.seq == head.0),
        )
        .await
        .unwrap();
        assert_eq!(cp.hash, head.1);
        assert!(key.verifies(&cp));
    }
    worker.abort();
    // Quiet: the signer's step, taken again with nothing new, signs nothing. (The loop
    // only ever signs through this step, so it is driven here rather than watched.)
    let before = store
        .audit_checkpoints(0, i64::MAX, 1000)
        .await
        .unwrap()
        .len();
    for _ in 0..3 {
        let signed = warden_app::service::audit::checkpoint(&t.state)
            .await
            .unwrap();
        assert_eq!(signed, None, "nothing arrived since the last checkpoint");
    }
    let after = store
        .audit_checkpoints(0, i64::MAX, 1000)
        .await
        .unwrap()
        .len();
    assert_eq!(before, after);
}

async fn some_events(t: &TestApp, round: u32) {
    for n in 0..5 {
        let answer = t
            .send(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": format!("nobody{round}{n}"), "password": "not-it-at-all"})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
}

/// The signing key is made once, private, and refused when others may read it.
#[tokio::test]
async fn the_signing_key_file_is_private_and_reused() {
    let t = TestApp::new().await;
    let first = t.state.audit_key().unwrap().public();
    let path = t.data.path().join("audit_signing.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let again = warden_app::service::audit::load_or_create_key(&path).unwrap();
    assert_eq!(again.public(), first);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let refused = warden_app::service::audit::load_or_create_key(&path).unwrap_err();
    assert!(refused.contains("0600"), "{refused}");
    // The key's text never shows in Debug output.
    let text = std::fs::read_to_string(&path).unwrap();
    let secret_line = text.lines().nth(1).unwrap();
    assert!(!format!("{again:?}").contains(secret_line));
}
