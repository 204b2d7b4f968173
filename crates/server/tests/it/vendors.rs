//! Sponsored vendor accounts: created by a sponsor, enabled only while a grant runs,
//! disabled (tokens revoked) when it ends, deleted after the retention period.

use axum::http::{Method, StatusCode};
use serde_json::json;
use time::Duration;

use crate::requests::{decide, file, people};

#[tokio::test]
async fn a_vendor_account_lives_only_as_long_as_its_grants_and_is_deleted_after_retention() {
    let (t, p) = people().await;
    let carol = t.user_with("carol", &["approve"]).await;
    let created = t
        .post(
            "/v1/vendors",
            &p.bob,
            json!({"username": "victor", "name": "Victor Vega", "email": "victor@dbfix.example", "company": "DBFix", "days": 14}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let password = created.body["initial_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created.body["vendor"]["sponsor"], "E1002");
    assert_eq!(created.body["vendor"]["active"], false);
    let employee_id = created.body["vendor"]["employee_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Too long a sponsorship, and a vendor cannot sponsor.
    let too_long = t.post("/v1/vendors", &p.bob, json!({"username": "vera", "name": "Vera", "email": "vera@x.example", "company": "X", "days": 365})).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);

    // No grant yet: the account cannot log in.
    let login = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "victor", "password": password})),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);

    // The sponsor asks on the vendor's behalf; the sponsor's manager and security approve.
    let mut body = crate::requests::ask("analytics-db", "read", "2h", Some("CHG-31"));
    body["on_behalf_of"] = json!("victor");
    let asked = file(&t, &p.bob, body).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{asked:?}");
    let rid = asked.body["id"].as_str().unwrap().to_owned();
    decide(&t, &carol, &rid, "approve").await;
    let done = decide(&t, &p.sam, &rid, "approve").await;
    assert_eq!(done.body["state"], "provisioning", "{done:?}");
    t.tick().await;
    assert_eq!(
        warden_app::service::vendors::sweep(&t.state).await.unwrap(),
        1
    );
    let victor = t.login("victor", &password).await;
    let grants = t.get("/v1/grants", &victor).await;
    assert_eq!(
        grants.body[0]["identity"],
        employee_id.as_str(),
        "{grants:?}"
    );
    assert_eq!(grants.body[0]["state"], "active");

    // The grant ends: the account is disabled and its session dies with it.
    t.clock.advance(Duration::hours(2));
    t.tick().await;
    assert_eq!(
        warden_app::service::vendors::sweep(&t.state).await.unwrap(),
        1
    );
    assert_eq!(
        t.get("/v1/grants", &victor).await.status,
        StatusCode::UNAUTHORIZED
    );
    let bob = t.login("bob", "bob-password-123").await;
    let listed = t.get("/v1/vendors", &bob).await;
    assert_eq!(listed.body[0]["active"], false, "{listed:?}");
    assert!(listed.body[0]["delete_after"].is_string());

    // Thirty days later the identity and the account are gone; the record of the grant stays.
    t.clock.advance(Duration::days(29));
    assert_eq!(
        warden_app::service::vendors::sweep(&t.state).await.unwrap(),
        0
    );
    t.clock.advance(Duration::days(1));
    assert_eq!(
        warden_app::service::vendors::sweep(&t.state).await.unwrap(),
        1
    );
    let store = t.state.store();
    assert!(
        store
            .find_identities(warden_store::IdentityFilter::Username("victor"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .user_by_name(&warden_core::Username::parse("victor").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let admin = t.admin().await;
    let request = t.get(&format!("/v1/requests/{rid}"), &admin).await;
    assert_eq!(request.body["beneficiary"], "(deleted)", "{request:?}");
    assert_eq!(request.body["grant"]["state"], "revoked");
    let actions = t.audit_actions().await;
    for a in [
        "vendor.create",
        "vendor.activate",
        "vendor.deactivate",
        "vendor.delete",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    drop(p);
}

#[tokio::test]
async fn a_vendor_never_granted_anything_is_deleted_after_retention() {
    let (t, p) = people().await;
    let created = t
        .post("/v1/vendors", &p.bob, json!({"username": "wanda", "name": "Wanda W", "email": "wanda@x.example", "company": "X"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    t.clock.advance(Duration::days(30));
    assert_eq!(
        warden_app::service::vendors::sweep(&t.state).await.unwrap(),
        1
    );
    assert!(t.state.store().vendors().await.unwrap().is_empty());
    drop(p);
}
