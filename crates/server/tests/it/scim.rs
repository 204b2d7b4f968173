//! SCIM 2.0 flows through the whole HTTP stack: an identity provider creating, listing,
//! replacing, patching and deleting users and groups, and what that does to identities,
//! birthright access, Warden accounts and the audit log.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::support::{Answer, PEER, TestApp};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A policy: Platform people hold `wiki/read`; members of the pushed group "DB Oncall"
/// hold `cache/read`.
const POLICY: &str = r#"
[[resource]]
name = "wiki"
kind = "postgres"
connection = "wiki"
environment = "prod"
tier = 2
owner = "group:platform"

[[resource]]
name = "cache"
kind = "redis"
connection = "cache"
environment = "prod"
tier = 2
owner = "group:platform"

[[role]]
kind = "postgres"
name = "read"
privilege = "read"

[[role]]
kind = "redis"
name = "read"
privilege = "read"

[[group]]
name = "platform"
rule = { department = "Platform" }

[[group]]
name = "oncall"
external = "DB Oncall"

[[birthright]]
name = "platform-wiki"
who = "group:platform"
grants = [{ resource = "wiki", role = "read" }]

[[birthright]]
name = "oncall-cache"
who = "group:oncall"
grants = [{ resource = "cache", role = "read" }]
"#;

/// An app and a token of an identity provider (a user holding only `hr:sync`).
async fn setup() -> (TestApp, String) {
    let t = TestApp::new().await;
    let token = t.user_with("idp", &["hr:sync"]).await;
    (t, token)
}

/// Sends a SCIM request with `Content-Type: application/scim+json`.
async fn scim(
    t: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    t.send_typed(PEER, method, path, token, body, "application/scim+json")
        .await
}

/// Asserts a SCIM answer: its status and its media type.
fn expect(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{answer:?}");
    if status != StatusCode::NO_CONTENT {
        assert_eq!(
            answer.headers["content-type"], "application/scim+json",
            "{answer:?}"
        );
    }
}

/// Asserts a SCIM error with its status and keyword.
fn expect_error(answer: &Answer, status: StatusCode, scim_type: Option<&str>) {
    expect(answer, status);
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{answer:?}"
    );
    assert_eq!(answer.body["status"], status.as_u16().to_string());
    assert_eq!(answer.body["scimType"].as_str(), scim_type, "{answer:?}");
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}

fn user(username: &str, employee: &str, department: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": username,
        "externalId": format!("ext-{employee}"),
        "name": {"givenName": "Given", "familyName": employee},
        "emails": [{"value": format!("{}@example.com", employee.to_lowercase()), "type": "work", "primary": true}],
        "title": "Engineer",
        "active": true,
        ENTERPRISE: {"employeeNumber": employee, "department": department},
    })
}

/// Creates a user; returns its id.
async fn create(t: &TestApp, token: &str, body: Value) -> String {
    let answer = scim(t, Method::POST, "/scim/v2/Users", Some(token), Some(body)).await;
    expect(&answer, StatusCode::CREATED);
    answer.body["id"].as_str().unwrap().to_owned()
}

async fn patch(t: &TestApp, token: &str, path: &str, operations: Value) -> Answer {
    scim(
        t,
        Method::PATCH,
        path,
        Some(token),
        Some(json!({"schemas": [PATCH_OP], "Operations": operations})),
    )
    .await
}

/// The identity as Warden's own API shows it.
async fn identity(t: &TestApp, name: &str) -> Value {
    let admin = t.admin().await;
    let answer = t.get(&format!("/v1/identities/{name}"), &admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.body
}

fn groups_of(detail: &Value) -> Vec<String> {
    detail["identity"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect()
}

fn birthright_of(detail: &Value) -> Vec<String> {
    let list = detail["birthright"].as_array().unwrap();
    list.iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"].as_str().unwrap(),
                e["role"].as_str().unwrap()
            )
        })
        .collect()
}

async fn apply_policy(t: &TestApp) {
    let admin = t.admin().await;
    let answer = t
        .post(
            "/v1/policy/apply",
            &admin,
            json!({"files": [{"path": "policy.toml", "text": POLICY}], "comment": "scim tests"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

/// Audit events of `action`, oldest first.
async fn events(t: &TestApp, action: &str) -> Vec<warden_store::StoredAuditEvent> {
    let all = t.state.store().audit_events(0, 10_000).await.unwrap();
    all.into_iter().filter(|e| e.action == action).collect()
}

/// Percent-encodes a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn create_and_get_a_user_with_the_enterprise_extension() {
    let (t, token) = setup().await;
    let boss = create(&t, &token, user("boss", "E100", "Platform")).await;
    let mut body = user("Alice@Example.com", "E101", "Platform");
    body[ENTERPRISE]["manager"] = json!({"value": boss});
    body["userType"] = json!("Contractor");
    let answer = scim(&t, Method::POST, "/scim/v2/Users", Some(&token), Some(body)).await;
    expect(&answer, StatusCode::CREATED);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(answer.headers["location"], format!("/scim/v2/Users/{id}"));
    let u = &answer.body;
    assert_eq!(u["userName"], "alice@example.com", "lower-cased");
    assert_eq!(
        u["displayName"], "Given E101",
        "from the given and family names"
    );
    assert_eq!(u["externalId"], "ext-E101");
    assert_eq!(u["active"], true);
    assert_eq!(u["title"], "Engineer");
    assert_eq!(u["userType"], "contractor");
    assert_eq!(u["emails"][0]["value"], "e101@example.com");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "E101");
    assert_eq!(u[ENTERPRISE]["department"], "Platform");
    assert_eq!(u[ENTERPRISE]["manager"]["value"], boss.as_str());
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(u["meta"]["location"], format!("/scim/v2/Users/{id}"));
    assert_eq!(u["meta"]["created"], "2026-06-01T09:00:00Z");

    let got = scim(
        &t,
        Method::GET,
        &format!("/scim/v2/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    expect(&got, StatusCode::OK);
    assert_eq!(&got.body, u);

    let detail = identity(&t, "alice@example.com").await;
    assert_eq!(detail["identity"]["employee_id"], "E101");
    assert_eq!(detail["identity"]["manager"], "E100");
    assert_eq!(detail["identity"]["type"], "contractor");
    assert_eq!(detail["identity"]["source"], "scim");
    let joiners = events(&t, "hr.joiner").await;
    assert_eq!(joiners.len(), 2);
    assert_eq!(joiners[1].target.as_deref(), Some("identity:E101"));
    assert_eq!(joiners[1].actor_user.as_deref(), Some("idp"));
    assert_eq!(joiners[1].details["cause"], "scim POST /Users");

    // Managers: unknown ids and loops are refused.
    let mut stray = user("stray", "E102", "Platform");
    stray[ENTERPRISE]["manager"] = json!({"value": "00000000-0000-7000-8000-000000000000"});
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&token),
        Some(stray),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let path = format!("/scim/v2/Users/{boss}");
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": id}]),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("chain of managers"),
        "{answer:?}"
    );

    // Absent ids are SCIM 404s.
    let missing = scim(
        &t,
        Method::GET,
        "/scim/v2/Users/00000000-0000-7000-8000-000000000000",
        Some(&token),
        None,
    )
    .await;
    expect_error(&missing, StatusCode::NOT_FOUND, None);
    let garbage = scim(
        &t,
        Method::GET,
        "/scim/v2/Users/not-an-id",
        Some(&token),
        None,
    )
    .await;
    expect_error(&garbage, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn a_new_user_needs_an_employee_number_and_unique_names() {
    let (t, token) = setup().await;
    // No employeeNumber: an externalId usable as one serves.
    let mut body = user("dana", "E200", "Platform");
    body[ENTERPRISE] = json!({"department": "Platform"});
    body["externalId"] = json!("E200");
    let id = create(&t, &token, body.clone()).await;
    assert!(!id.is_empty());
    let mut bad = user("erin", "E201", "Platform");
    bad[ENTERPRISE] = json!({});
    bad["externalId"] = json!("not an employee number");
    let answer = scim(&t, Method::POST, "/scim/v2/Users", Some(&token), Some(bad)).await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("employeeNumber")
    );

    // The same userName or employeeNumber again is a uniqueness conflict.
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&token),
        Some(user("DANA", "E299", "Platform")),
    )
    .await;
    expect_error(&answer, StatusCode::CONFLICT, Some("uniqueness"));
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&token),
        Some(user("dana2", "E200", "Platform")),
    )
    .await;
    expect_error(&answer, StatusCode::CONFLICT, Some("uniqueness"));

    // An identity from an HR file is not SCIM's: same name -> conflict, and it stays
    // invisible to SCIM.
    let admin = t.admin().await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/hr/sync")
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "text/csv")
        .body(Body::from(
            "employee_id,username,email,name\nH1,harry,harry@example.com,Harry\n",
        ))
        .unwrap();
    let synced = t.raw(req, PEER).await;
    assert_eq!(synced.status, StatusCode::OK, "{synced:?}");
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&token),
        Some(user("harry", "E202", "Platform")),
    )
    .await;
    expect_error(&answer, StatusCode::CONFLICT, Some("uniqueness"));
    assert!(
        answer.body["detail"].as_str().unwrap().contains("hr-file"),
        "{answer:?}"
    );
    let list = scim(&t, Method::GET, "/scim/v2/Users", Some(&token), None).await;
    assert_eq!(list.body["totalResults"], 1, "only dana: {list:?}");

    // Bad input: no e-mail, an invalid user name, a body that is not JSON.
    let mut no_mail = user("fay", "E203", "Platform");
    no_mail["emails"] = json!([]);
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&token),
        Some(no_mail),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&token),
        Some(user("fay smith", "E203", "Platform")),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let req = Request::builder()
        .method(Method::POST)
        .uri("/scim/v2/Users")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/scim+json")
        .body(Body::from("{not json"))
        .unwrap();
    expect_error(
        &t.raw(req, PEER).await,
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
    );
}

#[tokio::test]
async fn list_with_filters_and_paging() {
    let (t, token) = setup().await;
    let alice = create(&t, &token, user("alice", "E1", "Platform")).await;
    let bob = create(&t, &token, user("bob", "E2", "Sales")).await;
    let carol = create(&t, &token, user("carol", "E3", "Sales")).await;

    let list = |filter: &str| {
        let path = format!("/scim/v2/Users?filter={}", enc(filter));
        let t = &t;
        let token = token.clone();
        async move { scim(t, Method::GET, &path, Some(&token), None).await }
    };
    let ids = |answer: &Answer| -> Vec<String> {
        answer.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let answer = list(r#"userName eq "ALICE""#).await;
    expect(&answer, StatusCode::OK);
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(answer.body["totalResults"], 1);
    assert_eq!(ids(&answer), [alice.as_str()]);
    assert_eq!(
        ids(&list(r#"UserName Eq "bob""#).await),
        [bob.as_str()],
        "attribute names and operators in any case"
    );
    assert_eq!(
        ids(&list(r#"externalId eq "ext-E3""#).await),
        [carol.as_str()]
    );
    assert!(
        ids(&list(r#"externalId eq "EXT-E3""#).await).is_empty(),
        "externalId is case-exact"
    );
    assert_eq!(
        ids(&list(r#"emails.value eq "E2@example.com""#).await),
        [bob.as_str()]
    );
    assert_eq!(
        ids(&list(r#"emails eq "e1@example.com""#).await),
        [alice.as_str()]
    );
    assert_eq!(
        ids(&list(&format!(
            r#"{ENTERPRISE}:department eq "sales" and userName eq "carol""#
        ))
        .await),
        [carol.as_str()]
    );
    assert!(ids(&list(r#"userName eq "alice" and externalId eq "ext-E2""#).await).is_empty());

    let by_number = list(&format!(r#"{ENTERPRISE}:employeeNumber eq "E2""#)).await;
    assert_eq!(ids(&by_number), [bob.as_str()]);
    assert!(
        ids(&list(&format!(r#"{ENTERPRISE}:employeeNumber eq "e2""#)).await).is_empty(),
        "case-exact"
    );
    assert_eq!(
        ids(&list(&format!(r#"id eq "{carol}""#)).await),
        [carol.as_str()]
    );
    assert!(ids(&list(r#"id eq "nope""#).await).is_empty());
    assert!(ids(&list(r#"userName eq "carol" and active eq false"#).await).is_empty());

    for bad in [
        r#"userName co "a""#,
        r#"title eq "x""#,
        r#"userName eq "a" or userName eq "b""#,
        "userName eq",
    ] {
        expect_error(
            &list(bad).await,
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
        );
    }

    let page = scim(
        &t,
        Method::GET,
        "/scim/v2/Users?startIndex=2&count=1",
        Some(&token),
        None,
    )
    .await;
    expect(&page, StatusCode::OK);
    assert_eq!(page.body["totalResults"], 3);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 1);
    assert_eq!(ids(&page), [bob.as_str()], "in creation order");
    let all = scim(&t, Method::GET, "/scim/v2/Users", Some(&token), None).await;
    assert_eq!(ids(&all), [alice, bob, carol]);
    let beyond = scim(
        &t,
        Method::GET,
        "/scim/v2/Users?startIndex=10",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (
            beyond.body["totalResults"].clone(),
            beyond.body["itemsPerPage"].clone()
        ),
        (json!(3), json!(0))
    );
    let counted = scim(
        &t,
        Method::GET,
        "/scim/v2/Users?count=0",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(counted.body["Resources"], json!([]));
    let bad = scim(
        &t,
        Method::GET,
        "/scim/v2/Users?count=many",
        Some(&token),
        None,
    )
    .await;
    expect_error(&bad, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let slim = scim(
        &t,
        Method::GET,
        "/scim/v2/Users?attributes=userName",
        Some(&token),
        None,
    )
    .await;
    let first = &slim.body["Resources"][0];
    assert!(
        first.get("userName").is_some()
            && first.get("id").is_some()
            && first.get("emails").is_none(),
        "{first}"
    );
}

#[tokio::test]
async fn put_replaces_a_user() {
    let (t, token) = setup().await;
    let id = create(&t, &token, user("gus", "E5", "Platform")).await;
    let mut body = user("gus", "E5", "Payments");
    body["displayName"] = json!("Gus Grey");
    body.as_object_mut().unwrap().remove("title");
    let answer = scim(
        &t,
        Method::PUT,
        &format!("/scim/v2/Users/{id}"),
        Some(&token),
        Some(body.clone()),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(answer.body["displayName"], "Gus Grey");
    assert_eq!(answer.body[ENTERPRISE]["department"], "Payments");
    assert!(answer.body.get("title").is_none(), "left out, so cleared");
    let movers = events(&t, "hr.mover").await;
    assert_eq!(movers.len(), 1);
    assert_eq!(movers[0].details["cause"], format!("scim PUT /Users/{id}"));
    assert!(
        movers[0].details["attributes"].contains("department: Platform -> Payments"),
        "{:?}",
        movers[0]
    );

    // The same again changes nothing and writes nothing.
    let before = t.state.store().audit_events(0, 10_000).await.unwrap().len();
    let again = scim(
        &t,
        Method::PUT,
        &format!("/scim/v2/Users/{id}"),
        Some(&token),
        Some(body.clone()),
    )
    .await;
    expect(&again, StatusCode::OK);
    assert_eq!(
        t.state.store().audit_events(0, 10_000).await.unwrap().len(),
        before
    );

    // employeeNumber is the key and cannot change.
    body[ENTERPRISE]["employeeNumber"] = json!("E6");
    let answer = scim(
        &t,
        Method::PUT,
        &format!("/scim/v2/Users/{id}"),
        Some(&token),
        Some(body),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("mutability"));
}

#[tokio::test]
async fn patch_with_paths_and_value_objects_and_deactivate_as_a_leaver() {
    let (t, token) = setup().await;
    apply_policy(&t).await;
    // A Warden account with the identity's user name, logged in.
    let carol_token = t.user_with("carol", &["request"]).await;
    let id = create(&t, &token, user("carol", "E7", "Platform")).await;
    assert_eq!(birthright_of(&identity(&t, "carol").await), ["wiki/read"]);
    let path = format!("/scim/v2/Users/{id}");

    // Path style: a value-filtered e-mail, a sub-attribute, a plain attribute.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "carol.new@example.com"},
            {"op": "replace", "path": "name.formatted", "value": "Carol Cole"},
            {"op": "add", "path": "TITLE", "value": "SRE"},
        ]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(answer.body["emails"][0]["value"], "carol.new@example.com");
    assert_eq!(answer.body["displayName"], "Carol Cole");
    assert_eq!(answer.body["title"], "SRE");
    assert_eq!(
        identity(&t, "carol").await["identity"]["email"],
        "carol.new@example.com"
    );

    // Entra ID style: no path, a value object, "False" as text.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "Replace", "value": {"active": "False"}}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(answer.body["active"], false);
    let detail = identity(&t, "carol").await;
    assert_eq!(detail["identity"]["status"], "terminated");
    assert!(birthright_of(&detail).is_empty(), "{detail}");
    // The account is disabled and its token refused.
    let whoami = t
        .send(Method::GET, "/v1/auth/whoami", Some(&carol_token), None)
        .await;
    assert_eq!(whoami.status, StatusCode::UNAUTHORIZED);
    let admin = t.admin().await;
    assert_eq!(
        t.get("/v1/users/carol", &admin).await.body["disabled"],
        true
    );
    // The birthright is deprovisioned on the target.
    let uuid = id.parse().unwrap();
    let jobs = t.state.store().access_jobs(Some(uuid)).await.unwrap();
    let summary: Vec<(String, String)> = jobs
        .iter()
        .map(|j| (j.action.clone(), format!("{}/{}", j.resource, j.role)))
        .collect();
    assert_eq!(
        summary,
        [
            ("provision".to_owned(), "wiki/read".to_owned()),
            ("deprovision".to_owned(), "wiki/read".to_owned())
        ]
    );
    let leavers = events(&t, "hr.leaver").await;
    assert_eq!(leavers.len(), 1);
    assert_eq!(
        leavers[0].details["cause"],
        format!("scim PATCH /Users/{id}")
    );
    assert!(leavers[0].details["account"].contains("disabled"));

    // Active again: a rejoiner with the birthright back.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(birthright_of(&identity(&t, "carol").await), ["wiki/read"]);
    assert_eq!(events(&t, "hr.joiner").await.len(), 2);

    // Bad operations.
    let answer = patch(&t, &token, &path, json!([{"op": "remove"}])).await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("noTarget"));
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "path": "active", "value": "maybe"}]),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "path": "urn:example:x:attr", "value": 1}]),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidPath"));
    let answer = scim(
        &t,
        Method::PATCH,
        &path,
        Some(&token),
        Some(json!({"Operations": []})),
    )
    .await;
    expect_error(&answer, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
}

#[tokio::test]
async fn a_department_change_through_the_enterprise_path_is_a_mover() {
    let (t, token) = setup().await;
    apply_policy(&t).await;
    let id = create(&t, &token, user("dave", "E8", "Sales")).await;
    assert!(birthright_of(&identity(&t, "dave").await).is_empty());
    let path = format!("/scim/v2/Users/{id}");
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Platform"}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(answer.body[ENTERPRISE]["department"], "Platform");
    assert_eq!(
        answer.body[ENTERPRISE]["employeeNumber"], "E8",
        "the rest of the extension kept"
    );
    assert_eq!(birthright_of(&identity(&t, "dave").await), ["wiki/read"]);
    let movers = events(&t, "hr.mover").await;
    assert_eq!(movers.len(), 1);
    assert_eq!(movers[0].target.as_deref(), Some("identity:E8"));
    assert_eq!(movers[0].details["birthright_added"], "wiki/read");

    // The same with a value object whose keys are paths (Okta and Entra send both).
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "value": {format!("{ENTERPRISE}:department"): "Sales", "name.givenName": "David"}}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(answer.body[ENTERPRISE]["department"], "Sales");
    assert_eq!(events(&t, "hr.mover").await.len(), 2);
    assert!(birthright_of(&identity(&t, "dave").await).is_empty());
}

#[tokio::test]
async fn delete_is_a_leaver_hidden_from_scim_and_a_new_post_revives() {
    let (t, token) = setup().await;
    apply_policy(&t).await;
    let id = create(&t, &token, user("erin", "E9", "Platform")).await;
    let group = scim(
        &t,
        Method::POST,
        "/scim/v2/Groups",
        Some(&token),
        Some(json!({"displayName": "DB Oncall", "members": [{"value": id}]})),
    )
    .await;
    expect(&group, StatusCode::CREATED);
    let path = format!("/scim/v2/Users/{id}");
    let deleted = scim(&t, Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    expect_error(
        &scim(&t, Method::GET, &path, Some(&token), None).await,
        StatusCode::NOT_FOUND,
        None,
    );
    expect_error(
        &scim(&t, Method::DELETE, &path, Some(&token), None).await,
        StatusCode::NOT_FOUND,
        None,
    );
    let list = scim(&t, Method::GET, "/scim/v2/Users", Some(&token), None).await;
    assert_eq!(list.body["totalResults"], 0);
    let detail = identity(&t, "erin").await;
    assert_eq!(detail["identity"]["status"], "terminated");
    assert_eq!(detail["identity"]["source"], "scim-deleted");
    assert!(groups_of(&detail).is_empty(), "out of every group");
    assert!(birthright_of(&detail).is_empty());
    let group_id = group.body["id"].as_str().unwrap();
    let group = scim(
        &t,
        Method::GET,
        &format!("/scim/v2/Groups/{group_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(group.body["members"], json!([]));
    assert_eq!(events(&t, "hr.leaver").await.len(), 1);

    // Created again: the same identity, back as a rejoiner.
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&token),
        Some(user("erin", "E9", "Platform")),
    )
    .await;
    expect(&answer, StatusCode::CREATED);
    assert_eq!(answer.body["id"], id.as_str());
    let detail = identity(&t, "erin").await;
    assert_eq!(detail["identity"]["status"], "active");
    assert_eq!(detail["identity"]["source"], "scim");
    assert_eq!(birthright_of(&detail), ["wiki/read"]);
    let joiners = events(&t, "hr.joiner").await;
    assert_eq!(joiners.last().unwrap().details["lifecycle"], "rejoiner");
}

#[tokio::test]
async fn group_membership_moves_its_members() {
    let (t, token) = setup().await;
    apply_policy(&t).await;
    let ann = create(&t, &token, user("ann", "E10", "Sales")).await;
    let ben = create(&t, &token, user("ben", "E11", "Sales")).await;

    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Groups",
        Some(&token),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "DB Oncall",
            "externalId": "grp-1",
            "members": [{"value": ann}],
        })),
    )
    .await;
    expect(&answer, StatusCode::CREATED);
    let gid = answer.body["id"].as_str().unwrap().to_owned();
    let path = format!("/scim/v2/Groups/{gid}");
    assert_eq!(answer.headers["location"], path.as_str());
    assert_eq!(
        answer.body["members"],
        json!([{"value": ann, "$ref": format!("/scim/v2/Users/{ann}"), "type": "User"}])
    );
    let detail = identity(&t, "ann").await;
    assert_eq!(groups_of(&detail), ["DB Oncall"]);
    assert_eq!(
        birthright_of(&detail),
        ["cache/read"],
        "the policy group selects the pushed group"
    );
    let user = scim(
        &t,
        Method::GET,
        &format!("/scim/v2/Users/{ann}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(user.body["groups"][0]["value"], gid.as_str());
    assert_eq!(user.body["groups"][0]["display"], "DB Oncall");

    // Add a member.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "add", "path": "members", "value": [{"value": ben}]}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(answer.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(groups_of(&identity(&t, "ben").await), ["DB Oncall"]);
    // Remove one with a value filter.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    let detail = identity(&t, "ann").await;
    assert!(groups_of(&detail).is_empty());
    assert!(birthright_of(&detail).is_empty());
    // Rename: every member's groups change.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "path": "displayName", "value": "DB Team"}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    let detail = identity(&t, "ben").await;
    assert_eq!(groups_of(&detail), ["DB Team"]);
    assert!(
        birthright_of(&detail).is_empty(),
        "no longer the group the policy names"
    );
    // Remove with a list value (Entra ID), then replace the members.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "Remove", "path": "members", "value": [{"value": ben}]}]),
    )
    .await;
    assert_eq!(answer.body["members"], json!([]));
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    assert_eq!(answer.body["members"][0]["value"], ann.as_str());
    assert_eq!(groups_of(&identity(&t, "ann").await), ["DB Team"]);

    // Unknown members and taken names are refused.
    let stranger = json!([{"op": "add", "path": "members", "value": [{"value": "00000000-0000-7000-8000-000000000000"}]}]);
    expect_error(
        &patch(&t, &token, &path, stranger).await,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
    );
    let other = scim(
        &t,
        Method::POST,
        "/scim/v2/Groups",
        Some(&token),
        Some(json!({"displayName": "db team"})),
    )
    .await;
    expect_error(&other, StatusCode::CONFLICT, Some("uniqueness"));

    // Filters on groups.
    let found = scim(
        &t,
        Method::GET,
        &format!(
            "/scim/v2/Groups?filter={}",
            enc(r#"displayName eq "db TEAM""#)
        ),
        Some(&token),
        None,
    )
    .await;
    expect(&found, StatusCode::OK);
    assert_eq!(found.body["totalResults"], 1);
    let slim = scim(
        &t,
        Method::GET,
        "/scim/v2/Groups?excludedAttributes=members",
        Some(&token),
        None,
    )
    .await;
    assert!(slim.body["Resources"][0].get("members").is_none());
    let none = scim(
        &t,
        Method::GET,
        &format!("/scim/v2/Groups?filter={}", enc(r#"externalId eq "grp-2""#)),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(none.body["totalResults"], 0);

    // PUT replaces the whole group.
    let answer = scim(
        &t,
        Method::PUT,
        &path,
        Some(&token),
        Some(json!({"displayName": "DB Oncall", "members": [{"value": ben}]})),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert!(answer.body.get("externalId").is_none());
    assert!(groups_of(&identity(&t, "ann").await).is_empty());
    assert_eq!(birthright_of(&identity(&t, "ben").await), ["cache/read"]);

    // Delete: the members move out.
    let deleted = scim(&t, Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(groups_of(&identity(&t, "ben").await).is_empty());
    expect_error(
        &scim(&t, Method::GET, &path, Some(&token), None).await,
        StatusCode::NOT_FOUND,
        None,
    );

    let changes = events(&t, "group.change").await;
    let operations: Vec<&str> = changes
        .iter()
        .map(|e| e.details["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        [
            "create", "update", "update", "update", "update", "update", "update", "delete"
        ]
    );
    assert_eq!(changes[0].details["members_added"], "E10");
    assert_eq!(changes[3].details["renamed_from"], "DB Oncall");
    assert!(
        events(&t, "hr.mover").await.len() >= 7,
        "each member change is a mover"
    );
}

#[tokio::test]
async fn tokens_scopes_and_media_types() {
    let (t, token) = setup().await;
    let answer = scim(&t, Method::GET, "/scim/v2/Users", None, None).await;
    expect_error(&answer, StatusCode::UNAUTHORIZED, None);
    assert!(answer.headers.contains_key("www-authenticate"));
    let answer = scim(
        &t,
        Method::GET,
        "/scim/v2/Users",
        Some("wdn_not-a-token"),
        None,
    )
    .await;
    expect_error(&answer, StatusCode::UNAUTHORIZED, None);
    let reader = t.user_with("reader", &["identities:read"]).await;
    for path in [
        "/scim/v2/Users",
        "/scim/v2/Groups",
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/Schemas",
    ] {
        expect_error(
            &scim(&t, Method::GET, path, Some(&reader), None).await,
            StatusCode::FORBIDDEN,
            None,
        );
    }
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Users",
        Some(&reader),
        Some(user("x", "E1", "Sales")),
    )
    .await;
    expect_error(&answer, StatusCode::FORBIDDEN, None);

    // application/json is accepted as well; other media types are not.
    let plain = t
        .send(
            Method::POST,
            "/scim/v2/Users",
            Some(&token),
            Some(user("jo", "E20", "Sales")),
        )
        .await;
    expect(&plain, StatusCode::CREATED);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/scim/v2/Users")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/plain")
        .body(Body::from(user("kim", "E21", "Sales").to_string()))
        .unwrap();
    expect_error(
        &t.raw(req, PEER).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
    );

    // The admin's token holds every scope.
    let admin = t.admin().await;
    expect(
        &scim(&t, Method::GET, "/scim/v2/Users", Some(&admin), None).await,
        StatusCode::OK,
    );
}

#[tokio::test]
async fn discovery_documents() {
    let (t, token) = setup().await;
    let config = scim(
        &t,
        Method::GET,
        "/scim/v2/ServiceProviderConfig",
        Some(&token),
        None,
    )
    .await;
    expect(&config, StatusCode::OK);
    let c = &config.body;
    assert_eq!(
        c["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(c["filter"], json!({"supported": true, "maxResults": 1000}));
    for unsupported in ["bulk", "changePassword", "sort", "etag"] {
        assert_eq!(c[unsupported]["supported"], false, "{unsupported}");
    }
    assert_eq!(c["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let schemas = scim(&t, Method::GET, "/scim/v2/Schemas", Some(&token), None).await;
    expect(&schemas, StatusCode::OK);
    assert_eq!(schemas.body["totalResults"], 3);
    let ids: Vec<&str> = schemas.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            ENTERPRISE
        ]
    );
    let one = scim(
        &t,
        Method::GET,
        &format!("/scim/v2/Schemas/{ENTERPRISE}"),
        Some(&token),
        None,
    )
    .await;
    expect(&one, StatusCode::OK);
    let names: Vec<&str> = one.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["employeeNumber", "department", "manager"]);
    let user_schema = &schemas.body["Resources"][0];
    let user_name = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(
        (
            user_name["required"].clone(),
            user_name["uniqueness"].clone()
        ),
        (json!(true), json!("server"))
    );
    expect_error(
        &scim(
            &t,
            Method::GET,
            "/scim/v2/Schemas/urn:nope",
            Some(&token),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        None,
    );

    let types = scim(
        &t,
        Method::GET,
        "/scim/v2/ResourceTypes",
        Some(&token),
        None,
    )
    .await;
    expect(&types, StatusCode::OK);
    assert_eq!(types.body["totalResults"], 2);
    let user_type = scim(
        &t,
        Method::GET,
        "/scim/v2/ResourceTypes/User",
        Some(&token),
        None,
    )
    .await;
    expect(&user_type, StatusCode::OK);
    assert_eq!(user_type.body["endpoint"], "/Users");
    assert_eq!(
        user_type.body["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}])
    );
    let group_type = scim(
        &t,
        Method::GET,
        "/scim/v2/ResourceTypes/Group",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        group_type.body["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    );
    expect_error(
        &scim(
            &t,
            Method::GET,
            "/scim/v2/ResourceTypes/Device",
            Some(&token),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        None,
    );
}

/// The SCIM routes: those of the one route list that start with `/scim/`.
fn scim_routes() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    crate::openapi::ROUTES
        .iter()
        .filter(|(_, path)| path.starts_with("/scim/"))
}

#[tokio::test]
async fn every_scim_route_is_documented_and_refuses_without_a_token() {
    let t = TestApp::new().await;
    let doc = t
        .send(Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/scim/"))
    {
        for (method, op) in item.as_object().unwrap() {
            assert_eq!(op["tags"], json!(["scim"]), "{method} {path}");
            assert!(
                op["operationId"].as_str().unwrap().starts_with("scim_"),
                "{method} {path}"
            );
            documented.push((method.clone(), path.clone()));
        }
    }
    let mut expected: Vec<(String, String)> = scim_routes()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    documented.sort();
    expected.sort();
    assert_eq!(documented, expected);
    for (method, path) in scim_routes() {
        let concrete = path.replace("{id}", "00000000-0000-7000-8000-000000000000");
        let method: Method = method.to_uppercase().parse().unwrap();
        let answer = scim(&t, method, &concrete, None, Some(json!({}))).await;
        expect_error(&answer, StatusCode::UNAUTHORIZED, None);
    }
}

/// Two PATCHes adding members to one group at once: each reads the group, adds its
/// member and stores the list; without taking turns one member would be lost.
#[tokio::test]
async fn concurrent_member_adds_are_not_lost() {
    let (t, token) = setup().await;
    let mut members = Vec::new();
    for (name, number) in [("pat", "E30"), ("quinn", "E31"), ("ray", "E32")] {
        members.push(create(&t, &token, user(name, number, "Sales")).await);
    }
    let group = scim(
        &t,
        Method::POST,
        "/scim/v2/Groups",
        Some(&token),
        Some(json!({"displayName": "Crew"})),
    )
    .await;
    let path = format!("/scim/v2/Groups/{}", group.body["id"].as_str().unwrap());
    let add = |id: &str| json!([{"op": "add", "path": "members", "value": [{"value": id}]}]);
    let (a, b, c) = tokio::join!(
        patch(&t, &token, &path, add(&members[0])),
        patch(&t, &token, &path, add(&members[1])),
        patch(&t, &token, &path, add(&members[2])),
    );
    for answer in [a, b, c] {
        expect(&answer, StatusCode::OK);
    }
    let stored = scim(&t, Method::GET, &path, Some(&token), None).await;
    assert_eq!(
        stored.body["members"].as_array().unwrap().len(),
        3,
        "{stored:?}"
    );
    for name in ["pat", "quinn", "ray"] {
        assert_eq!(groups_of(&identity(&t, name).await), ["Crew"], "{name}");
    }
}

/// GETs a SCIM resource.
async fn fetch(t: &TestApp, token: &str, path: &str) -> Value {
    let answer = scim(t, Method::GET, path, Some(token), None).await;
    expect(&answer, StatusCode::OK);
    answer.body
}

/// Sends each of `cases` (operations, expected `scimType`) as its own PATCH of `path`
/// and checks that each is refused with a 400 of that type and changes nothing.
async fn refused_patches(t: &TestApp, token: &str, path: &str, cases: &[(Value, &str)]) {
    let before = fetch(t, token, path).await;
    for (operations, scim_type) in cases {
        let answer = patch(t, token, path, operations.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{operations}: {answer:?}"
        );
        expect_error(&answer, StatusCode::BAD_REQUEST, Some(scim_type));
        assert_eq!(
            fetch(t, token, path).await,
            before,
            "{operations} changed it"
        );
    }
}

/// Regression: PATCH answered 200 to a path naming no attribute, or a read-only one
/// (`id`, `meta.created`), instead of `invalidPath` / `mutability` (RFC 7644 sections
/// 3.5.2 and 3.12). Every operation, with a path or without one, on Users and Groups;
/// and a PATCH whose last operation is refused changes nothing.
#[tokio::test]
async fn patch_refuses_unknown_and_read_only_attributes_and_changes_nothing() {
    let (t, token) = setup().await;
    let id = create(&t, &token, user("erin", "E20", "Sales")).await;
    let path = format!("/scim/v2/Users/{id}");
    let mut cases = Vec::new();
    for op in ["add", "replace", "remove"] {
        let value = json!("x");
        for (attr, scim_type) in [
            ("favouriteColour", "invalidPath"),
            ("name.middleName", "invalidPath"),
            (&format!("{ENTERPRISE}:costCenter") as &str, "invalidPath"),
            ("id", "mutability"),
            ("meta", "mutability"),
            ("meta.created", "mutability"),
            ("META.lastModified", "mutability"),
            ("groups", "mutability"),
            ("schemas", "mutability"),
            (
                &format!("{ENTERPRISE}:manager.displayName") as &str,
                "mutability",
            ),
        ] {
            cases.push((json!([{"op": op, "path": attr, "value": value}]), scim_type));
        }
        if op != "remove" {
            // Without a path: the value's keys name the attributes.
            for (values, scim_type) in [
                (json!({"favouriteColour": "blue"}), "invalidPath"),
                (json!({"id": id}), "mutability"),
                (
                    json!({"meta": {"created": "2020-01-01T00:00:00Z"}}),
                    "mutability",
                ),
                (
                    json!({"meta.created": "2020-01-01T00:00:00Z"}),
                    "mutability",
                ),
                (json!({"name": {"middleName": "Q"}}), "invalidPath"),
                (json!({ENTERPRISE: {"costCenter": "42"}}), "invalidPath"),
                (
                    json!({ENTERPRISE: {"manager": {"value": id, "displayName": "Boss"}}}),
                    "mutability",
                ),
            ] {
                cases.push((json!([{"op": op, "value": values}]), scim_type));
            }
        }
    }
    // An immutable attribute cannot be removed, on its own or with its extension.
    cases.push((
        json!([{"op": "remove", "path": format!("{ENTERPRISE}:employeeNumber")}]),
        "mutability",
    ));
    cases.push((json!([{"op": "remove", "path": ENTERPRISE}]), "mutability"));
    // All or nothing: a good operation before a refused one is not applied.
    cases.push((
        json!([
            {"op": "replace", "path": "title", "value": "Boss"},
            {"op": "replace", "path": "displayName", "value": "Erin E"},
            {"op": "replace", "path": "id", "value": "00000000-0000-7000-8000-000000000000"},
        ]),
        "mutability",
    ));
    refused_patches(&t, &token, &path, &cases).await;
    // A good PATCH still applies.
    let answer = patch(
        &t,
        &token,
        &path,
        json!([{"op": "replace", "path": "title", "value": "Boss"}]),
    )
    .await;
    expect(&answer, StatusCode::OK);
    assert_eq!(answer.body["title"], "Boss");
    assert_eq!(answer.body["id"], id.as_str());

    // Groups.
    let ann = create(&t, &token, user("ann", "E21", "Sales")).await;
    let ben = create(&t, &token, user("ben", "E22", "Sales")).await;
    let answer = scim(
        &t,
        Method::POST,
        "/scim/v2/Groups",
        Some(&token),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Night Shift",
            "members": [{"value": ann}],
        })),
    )
    .await;
    expect(&answer, StatusCode::CREATED);
    let group = format!("/scim/v2/Groups/{}", answer.body["id"].as_str().unwrap());
    let mut cases = Vec::new();
    for op in ["add", "replace", "remove"] {
        for (attr, scim_type) in [
            ("description", "invalidPath"),
            ("members.display2", "invalidPath"),
            (&format!("{ENTERPRISE}:department") as &str, "invalidPath"),
            ("id", "mutability"),
            ("meta.lastModified", "mutability"),
            (
                &format!("members[value eq \"{ann}\"].value") as &str,
                "mutability",
            ),
        ] {
            if op == "add" && attr.starts_with("members[") {
                continue;
            }
            cases.push((json!([{"op": op, "path": attr, "value": "x"}]), scim_type));
        }
        if op != "remove" {
            for (values, scim_type) in [
                (json!({"owner": "x"}), "invalidPath"),
                (json!({"id": "x"}), "mutability"),
                (json!({"meta": {"version": "W/\"1\""}}), "mutability"),
            ] {
                cases.push((json!([{"op": op, "value": values}]), scim_type));
            }
        }
    }
    cases.push((
        json!([
            {"op": "add", "path": "members", "value": [{"value": ben}]},
            {"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"},
        ]),
        "mutability",
    ));
    refused_patches(&t, &token, &group, &cases).await;
    let members = fetch(&t, &token, &group).await["members"].clone();
    assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
    assert_eq!(groups_of(&identity(&t, "ben").await), Vec::<String>::new());
}
