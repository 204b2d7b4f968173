//! Policy against the server's connections: a resource whose `connection` the server
//! does not configure is refused at plan and apply (with its file and line) unless grants
//! are record-only, where the plan warns that its grants are only recorded; and a grant
//! that never reached a target is settled without a revocation that could never run.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_app::AppState;
use warden_proto::directory::{PolicyApplied, PolicyPlan};
use warden_proto::grants::GrantInfo;
use warden_proto::requests::RequestInfo;
use warden_server::api;
use warden_store::Store;

use crate::requests::{ask, decide, file, people};
use crate::support::{Answer, TestApp};
use crate::targets::connection;

/// A `[connections.NAME]` table of `kind`, enough to be valid.
fn of_kind(kind: &str) -> warden_connectors::ConnectionConfig {
    let rest = match kind {
        "postgres" | "mariadb" => "\nuser = \"warden\"",
        "ssh" => "\nhost = \"bastion.internal\"",
        _ => "",
    };
    connection(&format!("kind = \"{kind}\"{rest}"))
}

fn demo_files() -> Value {
    let files: Vec<Value> = warden_app::demo::policy_files()
        .into_iter()
        .map(|f| json!({"path": f.path, "text": f.text}))
        .collect();
    json!(files)
}

/// The `file:line` and message of each error of a refused policy, by resource name.
fn errors_of(answer: &Answer) -> Vec<(String, String)> {
    let errors = answer.details().errors;
    assert!(!errors.is_empty(), "no errors: {answer:?}");
    errors.into_iter().map(|e| (e.field, e.message)).collect()
}

/// Regression: a resource naming a connection the server did not have was applied with
/// no word; every grant of it then failed. Plan and apply now refuse it, naming the
/// resource's file and line; a connection configured for another kind is refused too.
#[tokio::test]
async fn plan_and_apply_refuse_a_resource_whose_connection_the_server_lacks() {
    let t = TestApp::with(warden_store::Backend::Sqlite, |c| {
        c.grants.record_only = false;
        for (name, kind) in [
            ("payments-primary", "postgres"),
            ("orders-primary", "postgres"),
            ("session-cache", "redis"),
            ("bastion", "ssh"),
            // The demo's analytics is a MariaDB; wiki is left out.
            ("analytics", "redis"),
        ] {
            c.connections.insert(name.into(), of_kind(kind));
        }
    })
    .await;
    let admin = t.admin().await;
    let change = json!({"files": demo_files(), "comment": "connections"});
    for path in ["/v1/policy/plan", "/v1/policy/apply"] {
        let answer = t.post(path, &admin, change.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
        assert_eq!(answer.problem(), "bad-request");
        let errors = errors_of(&answer);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let (analytics, wiki) = (&errors[0], &errors[1]);
        // `[[resource]]` of analytics-db is on line 22 of resources.toml, wiki-db's on 49.
        assert_eq!(analytics.0, "resources.toml:22", "{errors:?}");
        assert!(
            analytics
                .1
                .contains("resource analytics-db (mariadb) names connection analytics")
                && analytics.1.contains("configures for redis"),
            "{errors:?}"
        );
        assert_eq!(wiki.0, "resources.toml:49", "{errors:?}");
        assert!(
            wiki.1
                .contains("names connection wiki, which the server does not configure")
                && wiki.1.contains("[connections.wiki] (kind = \"mariadb\")"),
            "{errors:?}"
        );
    }
    assert_eq!(t.state.policy().version, None, "nothing was applied");
    assert!(!t.audit_actions().await.contains(&"policy.apply".to_owned()));
}

/// With `[grants] record_only`, a resource without a configured connection is accepted,
/// and the plan (and the apply's plan) says its grants are only recorded.
#[tokio::test]
async fn with_record_only_the_plan_warns_which_resources_are_only_recorded() {
    let t = TestApp::with(warden_store::Backend::Sqlite, |c| {
        c.grants.record_only = true;
        for (name, kind) in [
            ("payments-primary", "postgres"),
            ("orders-primary", "postgres"),
            ("session-cache", "redis"),
            ("bastion", "ssh"),
            ("analytics", "mariadb"),
        ] {
            c.connections.insert(name.into(), of_kind(kind));
        }
    })
    .await;
    let admin = t.admin().await;
    let change = json!({"files": demo_files(), "comment": "connections"});
    let plan = t.post("/v1/policy/plan", &admin, change.clone()).await;
    assert_eq!(plan.status, StatusCode::OK, "{plan:?}");
    let expected = [
        "resources.toml:49: resource wiki-db names connection wiki, which the server does not \
         configure: its grants are only recorded in Warden's database ([grants] record_only), \
         never made on a target",
    ];
    assert_eq!(plan.parse::<PolicyPlan>().warnings, expected, "{plan:?}");
    let applied = t.post("/v1/policy/apply", &admin, change).await;
    assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    assert_eq!(
        applied.parse::<PolicyApplied>().plan.warnings,
        expected,
        "{applied:?}"
    );
}

/// Regression: a grant whose provisioning failed because its connection had no
/// connector was followed by a clean-up revocation through that same missing connector,
/// which failed, was retried and alerted forever. A grant that never reached a target
/// now settles without one.
#[tokio::test]
async fn a_grant_that_never_reached_its_target_settles_without_a_revocation() {
    // Approved while grants were recorded; the worker runs only after a restart without
    // record_only, when orders-db's connection has no connector.
    let (t, p) = people().await;
    let filed = file(&t, &p.alice, ask("orders-db", "read", "1h", Some("CHG-1"))).await;
    assert_eq!(filed.status, StatusCode::CREATED, "{filed:?}");
    let rid = filed.parse::<RequestInfo>().id;
    let approved = decide(&t, &p.bob, &rid.to_string(), "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{approved:?}");

    let TestApp {
        state,
        clock,
        admin_password,
        db,
        data,
        ..
    } = t;
    let mut config = state.config().clone();
    config.grants.record_only = false;
    let store = Store::open(&db.url, &Default::default()).await.unwrap();
    let state = AppState::new(store, Arc::new(clock.clone()), config);
    let active = warden_app::service::policy::load_active(state.store())
        .await
        .unwrap();
    state.set_policy(active);
    let t = TestApp {
        app: api::app(state.clone()),
        state,
        clock,
        admin_password,
        db,
        data,
    };

    // Provisioning fails for good: no connector.
    let first = t.tick().await;
    assert_eq!((first.provisioned, first.failures), (0, 1), "{first:?}");
    // The clean-up settles at once, without a revocation.
    let second = t.tick().await;
    assert_eq!(second.failures, 0, "{second:?}");
    let grants: Vec<GrantInfo> = t.get("/v1/grants", &p.alice).await.parse();
    let g = grants
        .iter()
        .find(|g| g.request == rid)
        .unwrap_or_else(|| panic!("{grants:?}"));
    assert_eq!(g.state, "failed", "{g:?}");
    let events = t.state.store().audit_events(0, 10_000).await.unwrap();
    let revoked: Vec<_> = events
        .iter()
        .filter(|e| e.action == "grant.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{events:?}");
    assert_eq!(
        revoked[0].details["target"],
        "never reached: no connector for its connection"
    );
    assert!(
        !events.iter().any(|e| e.action == "grant.revoke_failed"),
        "{events:?}"
    );
    // Nothing is left to retry.
    t.clock.advance(time::Duration::hours(2));
    let later = t.tick().await;
    assert_eq!((later.failures, later.revoked), (0, 0), "{later:?}");
}
