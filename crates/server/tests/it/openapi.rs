//! The OpenAPI document: valid OpenAPI 3.1, and it lists exactly the routes the server
//! answers.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

/// Every route of the API. Adding a route means adding it here, and the test below checks
/// that the document and the router agree with this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/openapi.json"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/auth/whoami"),
    ("post", "/v1/auth/password"),
    ("get", "/v1/tokens"),
    ("post", "/v1/tokens"),
    ("delete", "/v1/tokens/{id}"),
    ("get", "/v1/users"),
    ("post", "/v1/users"),
    ("get", "/v1/users/{username}"),
    ("patch", "/v1/users/{username}"),
    ("post", "/v1/hr/sync"),
    ("get", "/v1/identities"),
    ("get", "/v1/identities/{identity}"),
    ("get", "/v1/access/explain"),
    ("get", "/v1/policy"),
    ("post", "/v1/policy/plan"),
    ("post", "/v1/policy/apply"),
    ("get", "/v1/policy/versions"),
    ("get", "/v1/policy/versions/{version}"),
    ("post", "/v1/policy/versions/{version}/restore"),
    ("post", "/v1/requests"),
    ("get", "/v1/requests"),
    ("get", "/v1/requests/{id}"),
    ("post", "/v1/requests/{id}/approve"),
    ("post", "/v1/requests/{id}/deny"),
    ("post", "/v1/requests/{id}/cancel"),
    ("get", "/v1/grants"),
    ("get", "/v1/grants/{id}"),
    ("post", "/v1/grants/{id}/revoke"),
    ("post", "/v1/grants/{id}/extend"),
    ("get", "/v1/access/check"),
    ("post", "/v1/breakglass"),
    ("get", "/v1/breakglass"),
    ("get", "/v1/breakglass/{id}"),
    ("post", "/v1/breakglass/{id}/justify"),
    ("post", "/v1/breakglass/{id}/review"),
    ("get", "/v1/incidents"),
    ("post", "/v1/vendors"),
    ("get", "/v1/vendors"),
    ("post", "/v1/grants/{id}/credential"),
    ("get", "/v1/ssh/ca"),
    ("post", "/v1/ssh/certificates"),
    ("get", "/v1/resources/{name}/accounts"),
    ("post", "/v1/reconcile"),
    ("get", "/v1/findings"),
    ("get", "/v1/audit/events"),
    ("get", "/v1/audit/head"),
    ("get", "/v1/audit/key"),
    ("get", "/v1/audit/export"),
    ("get", "/v1/operator/status"),
    ("post", "/v1/operator/init"),
    ("post", "/v1/operator/unseal"),
    ("post", "/v1/operator/seal"),
    ("post", "/v1/operator/rotate"),
    ("post", "/v1/operator/rekey"),
    ("get", "/v1/accounts"),
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts/{name}"),
    ("post", "/v1/accounts/{name}/checkout"),
    ("post", "/v1/accounts/{name}/checkin"),
    ("post", "/v1/accounts/{name}/rotate"),
    ("get", "/scim/v2/ServiceProviderConfig"),
    ("get", "/scim/v2/Schemas"),
    ("get", "/scim/v2/Schemas/{id}"),
    ("get", "/scim/v2/ResourceTypes"),
    ("get", "/scim/v2/ResourceTypes/{id}"),
    ("get", "/scim/v2/Users"),
    ("post", "/scim/v2/Users"),
    ("get", "/scim/v2/Users/{id}"),
    ("put", "/scim/v2/Users/{id}"),
    ("patch", "/scim/v2/Users/{id}"),
    ("delete", "/scim/v2/Users/{id}"),
    ("get", "/scim/v2/Groups"),
    ("post", "/scim/v2/Groups"),
    ("get", "/scim/v2/Groups/{id}"),
    ("put", "/scim/v2/Groups/{id}"),
    ("patch", "/scim/v2/Groups/{id}"),
    ("delete", "/scim/v2/Groups/{id}"),
];

/// The served OpenAPI document, as raw JSON: it has no proto type, and these tests check
/// its shape.
async fn document(t: &TestApp) -> Value {
    let answer = t.send(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    answer.body
}

#[tokio::test]
async fn document_is_valid_openapi_3_1() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    assert_eq!(doc["openapi"], "3.1.0");
    // A typed OpenAPI 3.1 model must accept it.
    let spec = oas3::from_json(doc.to_string()).expect("the document parses as OpenAPI 3.1");
    assert_eq!(spec.info.title, "Warden");

    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let where_ = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{where_}: operationId"));
            assert!(
                operation_ids.insert(id.to_owned()),
                "{where_}: duplicate operationId {id}"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{where_}: responses"
            );
            // Every {param} in the path is declared.
            for param in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == param && p["in"] == "path" && p["required"] == true)
                });
                assert!(declared, "{where_}: path parameter {param} declared");
            }
            // Every operation that needs a token says so.
            let public = [
                "/healthz",
                "/readyz",
                "/metrics",
                "/v1/openapi.json",
                "/v1/auth/login",
                "/v1/ssh/ca",
                "/v1/audit/key",
                "/v1/operator/status",
                "/v1/operator/unseal",
            ];
            if !public.contains(&path.as_str()) {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{"bearer": []}]),
                    "{where_}: security"
                );
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    // Every $ref points at something that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn document_lists_every_route_and_every_listed_route_answers() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);

    // And the router really serves each one: nothing answers "no such endpoint" or 405.
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{id}", "00000000-0000-7000-8000-000000000000")
            .replace("{username}", "admin");
        let method: Method = method.to_uppercase().parse().unwrap();
        let answer = t.send(method.clone(), &concrete, None, None).await;
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if answer.status == StatusCode::NOT_FOUND {
            // Raw JSON: any route's 404, with or without a detail.
            assert_ne!(
                answer.body["detail"], "no such endpoint",
                "{method} {path} is not routed"
            );
        }
    }
}

/// Paths a sealed vault still serves: every other operation can answer 503.
const SERVED_WHILE_SEALED: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/openapi.json",
    "/v1/operator/status",
    "/v1/operator/unseal",
];

/// The responses of `op`, each resolved from `components/responses` when it is a `$ref`.
fn responses<'a>(doc: &'a Value, op: &'a Value) -> Vec<(&'a str, &'a Value)> {
    op["responses"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(status, r)| {
            let r = match r["$ref"].as_str() {
                Some(reference) => doc
                    .pointer(reference.strip_prefix('#').unwrap())
                    .unwrap_or_else(|| panic!("dangling {reference}")),
                None => r,
            };
            (status.as_str(), r)
        })
        .collect()
}

/// Every operation documents the refusals it can give, which schemathesis found missing:
/// 400 for a path or query value that does not parse, 401 and 403 where a token is
/// needed, 413 and 415 where it takes a JSON body, 503 while the vault is sealed; and
/// every parameter is where the document says (`GET /v1/findings` once declared its
/// query parameters as path parameters).
#[tokio::test]
async fn every_operation_documents_the_refusals_it_can_give() {
    let t = TestApp::with(warden_store::Backend::Sqlite, |c| {
        c.vault.unseal_key_file = Some(c.storage.data_dir.join("vault_unseal.key"));
    })
    .await;
    let doc = document(&t).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let where_ = format!("{method} {path}");
            let documented = responses(&doc, op);
            let has = |status: &str| documented.iter().any(|(s, _)| *s == status);
            for (status, r) in &documented {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{where_}: {status} has a description"
                );
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{where_}: path parameter {name} is in the path"
                    );
                }
            }
            let body = &op["requestBody"]["content"];
            if !params.is_empty() || body.is_object() {
                assert!(has("400"), "{where_}: 400");
            }
            if body.is_object() {
                assert!(has("413"), "{where_}: 413");
                let json = body
                    .as_object()
                    .unwrap()
                    .keys()
                    .all(|media| media.ends_with("json"));
                assert_eq!(has("415"), json, "{where_}: 415 when it takes JSON");
            }
            if op["security"].is_array() {
                assert!(has("401"), "{where_}: 401");
                let unauthorized = documented.iter().find(|(s, _)| *s == "401").unwrap().1;
                assert!(
                    unauthorized["headers"]["WWW-Authenticate"].is_object(),
                    "{where_}: 401 names WWW-Authenticate"
                );
                let any_token = ["whoami", "logout", "list_tokens"]
                    .contains(&op["operationId"].as_str().unwrap());
                assert_eq!(has("403"), !any_token, "{where_}: 403");
            }
            if !SERVED_WHILE_SEALED.contains(&path.as_str()) {
                assert!(has("503"), "{where_}: 503 while sealed");
            }
            assert!(has("500"), "{where_}: 500");
        }
    }
    // And a sealed server answers those operations so.
    let admin = t.admin().await;
    let sealed = t.post("/v1/operator/seal", &admin, json!({})).await;
    assert_eq!(sealed.status, StatusCode::OK, "{sealed:?}");
    let answer = t.get("/v1/grants/not-even-an-id", &admin).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.problem(), "sealed");
}

/// The request bodies say what the server refuses, so a body that fits the document is
/// not refused as malformed: `{}` fitted `PATCH /v1/users/{username}`, `POST
/// /v1/operator/unseal`, `POST /v1/policy/apply` and SCIM's `POST Users` before.
#[tokio::test]
async fn request_bodies_state_the_rules_the_server_checks() {
    let t = TestApp::new().await;
    let doc = document(&t).await;
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let body_of = |path: &str, method: &str, media: &str| {
        let reference =
            doc["paths"][path][method]["requestBody"]["content"][media]["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} {media}"))
                .to_owned();
        reference.rsplit('/').next().unwrap().to_owned()
    };

    // At least one of the fields, given and not null.
    for (name, fields) in [
        ("UpdateUser", ["scopes", "disabled"]),
        ("Unseal", ["share", "reset"]),
    ] {
        let rule = &schema(name)["allOf"][1]["anyOf"];
        let required: Vec<&str> = rule
            .as_array()
            .unwrap_or_else(|| panic!("{name} has an anyOf rule"))
            .iter()
            .map(|alt| alt["required"][0].as_str().unwrap())
            .collect();
        assert_eq!(required, fields, "{name}");
    }
    assert_eq!(
        body_of("/v1/policy/apply", "post", "application/json"),
        "ApplyPolicy"
    );
    assert_eq!(
        schema("ApplyPolicy")["required"],
        json!(["files", "comment"])
    );
    assert_eq!(schema("ApplyPolicy")["properties"]["files"]["minItems"], 1);
    for (path, body, required) in [
        ("/scim/v2/Users", "ScimUser", "userName"),
        ("/scim/v2/Groups", "ScimGroup", "displayName"),
    ] {
        for media in ["application/scim+json", "application/json"] {
            assert_eq!(body_of(path, "post", media), body);
        }
        assert_eq!(schema(body)["required"], json!([required]), "{body}");
    }
    assert_eq!(
        schema("ScimPatchOp")["required"],
        json!(["schemas", "Operations"])
    );

    // Scopes are the server's.
    let names: Vec<&str> = warden_core::Scope::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(schema("ScopeName")["enum"], json!(names));

    // Free text says what trimming and control characters the server applies, and its
    // length: a name of 100 characters fits a token, 101 does not, however padded.
    let pattern = schema("CreateToken")["properties"]["name"]["pattern"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pattern.contains("{0,98}"), "{pattern}");
    // Integers are bounded as the server reads them.
    assert_eq!(schema("InitVault")["properties"]["shares"]["maximum"], 16);
}
