//! Sponsored vendor accounts: created by a sponsor, enabled only while a grant runs,
//! disabled (tokens revoked) when it ends, deleted after the retention period.

use axum::http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use time::Duration;
use warden_proto::grants::{CreateVendor, CreatedVendor, GrantInfo, VendorInfo};
use warden_proto::requests::RequestInfo;

use crate::requests::{decide, file, people};
use crate::support::json_of;

/// A vendor `username` of `company`, sponsored for `days` (the default when none).
fn vendor(username: &str, name: &str, company: &str, days: Option<u32>) -> Value {
    json_of(&CreateVendor {
        username: username.to_owned(),
        name: name.to_owned(),
        email: format!("{username}@{}.example", company.to_lowercase()),
        company: company.to_owned(),
        days,
    })
}

#[tokio::test]
async fn a_vendor_account_lives_only_as_long_as_its_grants_and_is_deleted_after_retention() {
    let (t, p) = people().await;
    let carol = t.user_with("carol", &["approve"]).await;
    let created = t
        .post(
            "/v1/vendors",
            &p.bob,
            vendor("victor", "Victor Vega", "DBFix", Some(14)),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let created: CreatedVendor = created.parse();
    let password = created.initial_password.0.expose_secret().to_owned();
    assert_eq!(created.vendor.sponsor, "E1002");
    assert!(!created.vendor.active);
    let employee_id = created.vendor.employee_id;
    // Too long a sponsorship, and a vendor cannot sponsor.
    let too_long = t
        .post(
            "/v1/vendors",
            &p.bob,
            vendor("vera", "Vera", "X", Some(365)),
        )
        .await;
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
    let mut body = crate::requests::request("analytics-db", "read", "2h", Some("CHG-31"));
    body.on_behalf_of = Some("victor".to_owned());
    let asked = file(&t, &p.bob, json_of(&body)).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{asked:?}");
    let rid = asked.parse::<RequestInfo>().id.to_string();
    decide(&t, &carol, &rid, "approve").await;
    let done: RequestInfo = decide(&t, &p.sam, &rid, "approve").await.parse();
    assert_eq!(done.state, "provisioning", "{done:?}");
    t.tick().await;
    assert_eq!(
        warden_app::service::vendors::sweep(&t.state).await.unwrap(),
        1
    );
    let victor = t.login("victor", &password).await;
    let grants: Vec<GrantInfo> = t.get("/v1/grants", &victor).await.parse();
    assert_eq!(grants[0].identity, employee_id, "{grants:?}");
    assert_eq!(grants[0].state, "active");

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
    let listed: Vec<VendorInfo> = t.get("/v1/vendors", &bob).await.parse();
    assert!(!listed[0].active, "{listed:?}");
    assert!(listed[0].delete_after.is_some());

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
    let request: RequestInfo = t.get(&format!("/v1/requests/{rid}"), &admin).await.parse();
    assert_eq!(request.beneficiary, "(deleted)", "{request:?}");
    assert_eq!(request.grant.unwrap().state, "revoked");
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
        .post("/v1/vendors", &p.bob, vendor("wanda", "Wanda W", "X", None))
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
