//! Every state-changing API path writes its audit event: a walk over the API that makes a
//! successful call of every non-GET route in [`ROUTES`], and checks the events each call
//! caused: the expected action, by the caller (user, token, address, user agent) or, for
//! follow-ups, by Warden itself, each with a target. Read-only routes (every GET, and the
//! few POSTs that only compute) write nothing. No event of the walk holds a secret the
//! walk used or was given.
//!
//! A route added to [`ROUTES`] without an entry in one of the tables here fails
//! [`every_route_is_in_exactly_one_table`] (and the walk).

use std::collections::BTreeSet;
use std::process::Command;

use axum::body::Body;
use axum::http::{Method, Request};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use warden_app::demo;
use warden_proto::auth::{CreatedToken, LoginResponse};
use warden_proto::directory::PolicyPlan;
use warden_proto::grants::BreakGlassInfo;
use warden_proto::requests::RequestInfo;
use warden_proto::targets::{GrantCredential, ResourceReconciled, SshCertificate};
use warden_proto::users::CreatedUser;
use warden_proto::vault::CheckedOut;
use warden_store::StoredAuditEvent;

use crate::openapi::ROUTES;
// `session-cache` runs on a Redis of the test's own, so credentials and the reconciler
// touch nothing shared.
use crate::support::{Answer, PEER, TestApp};
use crate::targets::PrivateRedis;

/// Non-GET routes, and the actions a successful call writes with the caller as actor.
const AUDITED: &[(&str, &str, &[&str])] = &[
    ("post", "/v1/auth/login", &["auth.login"]),
    ("post", "/v1/auth/logout", &["token.revoke"]),
    ("post", "/v1/auth/password", &["user.update"]),
    ("post", "/v1/tokens", &["token.create"]),
    ("delete", "/v1/tokens/{id}", &["token.revoke"]),
    ("post", "/v1/users", &["user.create"]),
    ("patch", "/v1/users/{username}", &["user.update"]),
    ("post", "/v1/hr/sync", &["hr.sync"]),
    ("post", "/v1/policy/apply", &["policy.apply"]),
    (
        "post",
        "/v1/policy/versions/{version}/restore",
        &["policy.apply"],
    ),
    ("post", "/v1/requests", &["request.create"]),
    ("post", "/v1/requests/{id}/approve", &["request.approve"]),
    ("post", "/v1/requests/{id}/deny", &["request.deny"]),
    ("post", "/v1/requests/{id}/cancel", &["request.cancel"]),
    ("post", "/v1/grants/{id}/revoke", &["grant.revoke"]),
    // An extension is filed as a new request that names the grant it extends, and the
    // grant's own history gets `grant.extend`.
    (
        "post",
        "/v1/grants/{id}/extend",
        &["request.create", "grant.extend"],
    ),
    ("post", "/v1/breakglass", &["breakglass.use"]),
    (
        "post",
        "/v1/breakglass/{id}/justify",
        &["breakglass.justify"],
    ),
    ("post", "/v1/breakglass/{id}/review", &["breakglass.review"]),
    ("post", "/v1/vendors", &["vendor.create", "hr.joiner"]),
    ("post", "/v1/grants/{id}/credential", &["grant.credential"]),
    ("post", "/v1/ssh/certificates", &["ssh.certificate"]),
    ("post", "/v1/reconcile", &["reconcile.run"]),
    ("post", "/v1/operator/init", &["vault.init"]),
    // Unauthenticated: its event names the caller's address and user agent, no user.
    ("post", "/v1/operator/unseal", &["vault.unseal"]),
    ("post", "/v1/operator/seal", &["vault.seal"]),
    ("post", "/v1/operator/rotate", &["vault.rotate_keys"]),
    ("post", "/v1/operator/rekey", &["vault.rekey"]),
    ("post", "/v1/accounts", &["vault.account_add"]),
    ("post", "/v1/accounts/{name}/checkout", &["vault.checkout"]),
    ("post", "/v1/accounts/{name}/checkin", &["vault.checkin"]),
    (
        "post",
        "/v1/accounts/{name}/rotate",
        &["vault.rotate_request"],
    ),
    ("post", "/scim/v2/Users", &["hr.joiner"]),
    // The walk's PUT changes the department (a mover), its PATCH only the name.
    ("put", "/scim/v2/Users/{id}", &["hr.mover"]),
    ("patch", "/scim/v2/Users/{id}", &["hr.update"]),
    ("delete", "/scim/v2/Users/{id}", &["hr.leaver"]),
    ("post", "/scim/v2/Groups", &["group.change"]),
    ("put", "/scim/v2/Groups/{id}", &["group.change"]),
    ("patch", "/scim/v2/Groups/{id}", &["group.change"]),
    ("delete", "/scim/v2/Groups/{id}", &["group.change"]),
];

/// Non-GET routes that change nothing: a successful call writes no event.
const READ_ONLY: &[(&str, &str)] = &[("post", "/v1/policy/plan")];

/// Non-GET routes this walk cannot call successfully, each with the reason. Empty: every
/// route is walked.
const NOT_WALKED: &[(&str, &str, &str)] = &[];

/// GET routes that are audited reads: the event each writes, by the caller.
const AUDITED_READS: &[(&str, &str, &[&str])] = &[("get", "/v1/audit/export", &["audit.export"])];

const PEER_IP: &str = "198.51.100.10";
const USER_AGENT: &str = "warden-tests";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn audited(method: &str, path: &str) -> Option<&'static [&'static str]> {
    AUDITED
        .iter()
        .chain(AUDITED_READS)
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, actions)| *actions)
}

fn read_only(method: &str, path: &str) -> bool {
    READ_ONLY.iter().any(|(m, p)| *m == method && *p == path)
}

fn non_get_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .filter(|(m, _)| *m != "get")
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

#[test]
fn every_route_is_in_exactly_one_table() {
    let mut seen = BTreeSet::new();
    let tables = AUDITED
        .iter()
        .map(|(m, p, _)| (*m, *p, "AUDITED"))
        .chain(READ_ONLY.iter().map(|(m, p)| (*m, *p, "READ_ONLY")))
        .chain(NOT_WALKED.iter().map(|(m, p, _)| (*m, *p, "NOT_WALKED")));
    for (m, p, table) in tables {
        assert_ne!(m, "get", "{table} lists the GET route {p}");
        assert!(
            seen.insert(((*m).to_owned(), (*p).to_owned())),
            "{m} {p} is in more than one table (again in {table})"
        );
    }
    let routes = non_get_routes();
    let missing: Vec<_> = routes.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "non-GET routes in no table of audit_walk.rs (add each to AUDITED with its actions, \
         to READ_ONLY, or to NOT_WALKED with the reason): {missing:?}"
    );
    let stale: Vec<_> = seen.difference(&routes).collect();
    assert!(
        stale.is_empty(),
        "table entries that are not routes: {stale:?}"
    );
    for (_, p, actions) in AUDITED.iter().chain(AUDITED_READS) {
        assert!(!actions.is_empty(), "{p}: no action");
    }
    for (m, p, _) in AUDITED_READS {
        assert!(ROUTES.contains(&(*m, *p)), "{m} {p} is not a route");
    }
    for (_, p, reason) in NOT_WALKED {
        assert!(!reason.trim().is_empty(), "{p}: say why it is not walked");
    }
}

/// Whether `concrete` (a path, maybe with a query) is an instance of the route `template`.
fn instance_of(template: &str, concrete: &str) -> bool {
    let path = concrete.split('?').next().unwrap_or_default();
    let (t, c): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == c.len()
        && t.iter()
            .zip(&c)
            .all(|(t, c)| t == c || (t.starts_with('{') && !c.is_empty()))
}

/// Someone calling the API, with the session or API token they use.
#[derive(Clone, Debug)]
struct Who {
    name: String,
    token: String,
    token_id: String,
}

enum Payload {
    Empty,
    Json(Value),
    Scim(Value),
    Csv(String),
}

fn build(method: &str, path: &str, token: Option<&str>, payload: Payload) -> Request<Body> {
    let method: Method = method.to_uppercase().parse().unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", USER_AGENT);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let (content_type, body) = match payload {
        Payload::Empty => (None, String::new()),
        Payload::Json(v) => (Some("application/json"), v.to_string()),
        Payload::Scim(v) => (Some("application/scim+json"), v.to_string()),
        Payload::Csv(text) => (Some("text/csv"), text),
    };
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.body(Body::from(body)).unwrap()
}

fn actions(events: &[StoredAuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.action.as_str()).collect()
}

fn is_system(e: &StoredAuditEvent) -> bool {
    e.actor_user.is_none()
        && e.actor_token.is_none()
        && e.source.is_none()
        && e.user_agent.is_none()
}

fn by(e: &StoredAuditEvent, name: &str, token_id: &str) -> bool {
    e.actor_user.as_deref() == Some(name)
        && e.actor_token.map(|t| t.to_string()).as_deref() == Some(token_id)
        && e.source.as_deref() == Some(PEER_IP)
        && e.user_agent.as_deref() == Some(USER_AGENT)
}

/// Every field of an event as text.
fn text_of(e: &StoredAuditEvent) -> String {
    let mut out = format!("{e:?}\n");
    for field in [
        e.actor_user.as_deref(),
        e.source.as_deref(),
        e.user_agent.as_deref(),
        Some(e.action.as_str()),
        e.target.as_deref(),
        Some(e.outcome.as_str()),
        e.reason.as_deref(),
        e.resource.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        out.push_str(field);
        out.push('\n');
    }
    for (k, v) in &e.details {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

/// The walk: the routes called so far, and every secret used or returned.
struct Walk<'a> {
    t: &'a TestApp,
    walked: BTreeSet<(String, String)>,
    secrets: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(t: &'a TestApp) -> Self {
        Self {
            t,
            walked: BTreeSet::new(),
            secrets: vec![t.admin_password.clone()],
        }
    }

    fn secret(&mut self, s: &str) {
        assert!(s.len() >= 12, "too short to look for: {s:?}");
        self.secrets.push(s.to_owned());
    }

    /// A bearer token: the whole text, and its tail (which encodes only the secret, not
    /// the token id that events name).
    fn token_secret(&mut self, token: &str) {
        self.secret(token);
        let tail: String = token
            .chars()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        self.secret(&tail);
    }

    async fn head(&self) -> i64 {
        i64::try_from(self.t.state.store().audit_head().await.unwrap().0).unwrap()
    }

    /// Calls `route` at `path` as `actor` and checks the events the call caused: every
    /// action the route's table entry names (and `also`) is among them; the table's are
    /// by the caller, `also`'s by the caller or Warden; every event is by one of them,
    /// succeeded, and has a target. `token_id` is the id of the token the events must
    /// name; `None` takes it from the answer (a login).
    #[allow(clippy::too_many_arguments)]
    async fn call_as(
        &mut self,
        route: (&str, &str),
        path: &str,
        token: Option<&str>,
        actor: &str,
        token_id: Option<&str>,
        payload: Payload,
        also: &[&str],
    ) -> (Answer, Vec<StoredAuditEvent>) {
        let (method, template) = route;
        assert!(
            ROUTES.contains(&route),
            "{method} {template} is not a route"
        );
        assert!(instance_of(template, path), "{path} is not {template}");
        let label = format!("{} {path}", method.to_uppercase());
        let expected = audited(method, template);
        let quiet = read_only(method, template) || (method == "get" && expected.is_none());
        assert!(
            expected.is_some() || quiet,
            "{label}: {template} is in no table of audit_walk.rs"
        );
        let before = self.head().await;
        let answer = self.t.raw(build(method, path, token, payload), PEER).await;
        assert!(answer.status.is_success(), "{label}: {answer:?}");
        let events = self
            .t
            .state
            .store()
            .audit_events(before, 100_000)
            .await
            .unwrap();
        if quiet {
            assert!(
                events.is_empty(),
                "{label} changes nothing but wrote {:?}",
                actions(&events)
            );
        } else {
            let token_id = token_id
                .map(str::to_owned)
                .or_else(|| Some(answer.parse::<LoginResponse>().token_id.to_string()))
                .unwrap_or_else(|| panic!("{label}: no token id"));
            let expected = expected.unwrap_or_default();
            for action in expected.iter().chain(also) {
                let hits: Vec<&StoredAuditEvent> =
                    events.iter().filter(|e| e.action == *action).collect();
                assert!(
                    !hits.is_empty(),
                    "{label} wrote no {action} event; it wrote {:?}",
                    actions(&events)
                );
                if expected.contains(action) {
                    assert!(
                        hits.iter().any(|e| by(e, actor, &token_id)),
                        "{label}: no {action} event by {actor} with token {token_id} from {PEER_IP} ({USER_AGENT}): {hits:#?}"
                    );
                }
            }
            for e in &events {
                assert!(
                    by(e, actor, &token_id) || is_system(e),
                    "{label}: {} is by neither the caller {actor} nor Warden: {e:#?}",
                    e.action
                );
                assert!(
                    e.target.is_some(),
                    "{label}: {} has no target: {e:#?}",
                    e.action
                );
                assert_eq!(e.outcome, "success", "{label}: {e:#?}");
            }
        }
        self.walked.insert((method.to_owned(), template.to_owned()));
        (answer, events)
    }

    async fn call(
        &mut self,
        route: (&str, &str),
        path: &str,
        who: &Who,
        payload: Payload,
    ) -> Answer {
        self.call_also(route, path, who, payload, &[]).await.0
    }

    async fn call_also(
        &mut self,
        route: (&str, &str),
        path: &str,
        who: &Who,
        payload: Payload,
        also: &[&str],
    ) -> (Answer, Vec<StoredAuditEvent>) {
        self.call_as(
            route,
            path,
            Some(&who.token),
            &who.name,
            Some(&who.token_id),
            payload,
            also,
        )
        .await
    }

    /// A GET that must write nothing (or, for an audited read, its event).
    async fn read(&mut self, template: &str, path: &str, token: Option<&Who>) {
        let route = ROUTES
            .iter()
            .find(|(m, p)| *m == "get" && *p == template)
            .copied()
            .unwrap_or_else(|| panic!("GET {template} is not a route"));
        match token {
            Some(who) => {
                self.call_as(
                    route,
                    path,
                    Some(&who.token),
                    &who.name,
                    Some(&who.token_id),
                    Payload::Empty,
                    &[],
                )
                .await;
            }
            None => {
                self.call_as(route, path, None, "", None, Payload::Empty, &[])
                    .await;
            }
        }
    }

    async fn login(&mut self, name: &str, password: &str) -> Who {
        let (answer, _) = self
            .call_as(
                ("post", "/v1/auth/login"),
                "/v1/auth/login",
                None,
                name,
                None,
                Payload::Json(json!({"username": name, "password": password})),
                &[],
            )
            .await;
        let login: LoginResponse = answer.parse();
        let token = login.token.0.expose_secret().to_owned();
        self.token_secret(&token);
        self.secret(password);
        Who {
            name: name.to_owned(),
            token,
            token_id: login.token_id.to_string(),
        }
    }

    /// Creates a user with a password and logs them in.
    async fn user(&mut self, admin: &Who, name: &str, scopes: &[&str]) -> Who {
        let password = format!("{name}-password-123");
        let created = self
            .call(
                ("post", "/v1/users"),
                "/v1/users",
                admin,
                Payload::Json(json!({"username": name, "scopes": scopes, "password": password})),
            )
            .await;
        // The raw JSON: no password field at all when one was given.
        assert!(created.body.get("initial_password").is_none());
        self.login(name, &password).await
    }

    /// Files a request; approves it (bob, then sam where two must) when it waits.
    async fn request(&mut self, who: &Who, body: Value, approvers: &[&Who]) -> RequestInfo {
        let filed: RequestInfo = self
            .call(
                ("post", "/v1/requests"),
                "/v1/requests",
                who,
                Payload::Json(body),
            )
            .await
            .parse();
        let rid = filed.id;
        let mut state = filed.state.clone();
        for approver in approvers {
            if state != "pending" {
                break;
            }
            let decided = self
                .call(
                    ("post", "/v1/requests/{id}/approve"),
                    &format!("/v1/requests/{rid}/approve"),
                    approver,
                    Payload::Json(json!({"comment": "checked the ticket"})),
                )
                .await;
            state = decided.parse::<RequestInfo>().state;
        }
        filed
    }
}

/// The active grant of request `r`, seen by its holder.
async fn active_grant(t: &TestApp, holder: &Who, r: &RequestInfo) -> String {
    let r = t
        .get(&format!("/v1/requests/{}", r.id), &holder.token)
        .await;
    let grant = r.parse::<RequestInfo>().grant;
    let grant = grant.unwrap_or_else(|| panic!("no grant: {r:?}"));
    assert_eq!(grant.state, "active", "{r:?}");
    grant.id.to_string()
}

/// The `id` of a SCIM resource.
fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

fn ask(resource: &str, role: &str, ticket: Option<&str>) -> Value {
    json!({"resource": resource, "role": role, "duration": "1h",
           "justification": "investigating INC-4242 latency", "ticket": ticket})
}

fn scim_user(username: &str, employee: &str, department: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": username,
        "externalId": format!("ext-{employee}"),
        "name": {"givenName": "Walk", "familyName": employee},
        "emails": [{"value": format!("{}@example.com", employee.to_lowercase()), "type": "work", "primary": true}],
        "title": "Engineer",
        "active": true,
        ENTERPRISE: {"employeeNumber": employee, "department": department},
    })
}

/// A fresh ed25519 public key, in OpenSSH form.
fn public_key(dir: &std::path::Path) -> String {
    let key = dir.join("id_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn every_state_changing_route_writes_its_event_by_the_caller_and_no_secret() {
    let redis = PrivateRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ssh_ca");
    let port = redis.port;
    let t = TestApp::with(warden_store::Backend::Sqlite, |c| {
        // Grants are recorded in the database, except on session-cache: its connection
        // is this test's own Redis.
        c.ssh.ca_key_file = Some(ca);
        c.connections.insert(
            "session-cache".into(),
            crate::targets::connection(&format!("kind = \"redis\"\nport = {port}")),
        );
    })
    .await;
    let mut w = Walk::new(&t);

    // ----- login, policy, HR -----
    let admin = w.login("admin", &t.admin_password.clone()).await;
    let files: Vec<Value> = demo::policy_files()
        .into_iter()
        .map(|f| json!({"path": f.path, "text": f.text}))
        .collect();
    let plan = w
        .call(
            ("post", "/v1/policy/plan"),
            "/v1/policy/plan",
            &admin,
            Payload::Json(json!({"files": files})),
        )
        .await;
    assert!(!plan.parse::<PolicyPlan>().resources_added.is_empty());
    w.call(
        ("post", "/v1/policy/apply"),
        "/v1/policy/apply",
        &admin,
        Payload::Json(json!({"files": files, "comment": "demo policy"})),
    )
    .await;
    w.call_also(
        ("post", "/v1/hr/sync"),
        "/v1/hr/sync",
        &admin,
        Payload::Csv(demo::HR_CSV.to_owned()),
        &["hr.joiner"],
    )
    .await;

    // ----- users, passwords, tokens -----
    let alice = w.user(&admin, "alice", &["request"]).await;
    let bob = w.user(&admin, "bob", &["request", "approve"]).await;
    let sam = w.user(&admin, "sam", &["approve"]).await;
    let idp = w.user(&admin, "idp", &["hr:sync"]).await;
    let extra = w
        .call(
            ("post", "/v1/users"),
            "/v1/users",
            &admin,
            Payload::Json(json!({"username": "extra", "scopes": ["audit:read"]})),
        )
        .await;
    let generated = extra
        .parse::<CreatedUser>()
        .initial_password
        .unwrap()
        .0
        .expose_secret()
        .to_owned();
    w.secret(&generated);
    w.call(
        ("patch", "/v1/users/{username}"),
        "/v1/users/extra",
        &admin,
        Payload::Json(json!({"scopes": ["audit:read", "request"]})),
    )
    .await;
    let new_password = "alice-new-password-456";
    w.secret(new_password);
    w.call(
        ("post", "/v1/auth/password"),
        "/v1/auth/password",
        &alice,
        Payload::Json(
            json!({"current_password": "alice-password-123", "new_password": new_password}),
        ),
    )
    .await;
    let created = w
        .call(
            ("post", "/v1/tokens"),
            "/v1/tokens",
            &idp,
            Payload::Json(json!({"name": "scim", "scopes": ["hr:sync"]})),
        )
        .await;
    let created: CreatedToken = created.parse();
    let scim = Who {
        name: "idp".to_owned(),
        token: created.token.0.expose_secret().to_owned(),
        token_id: created.info.id.to_string(),
    };
    w.token_secret(&scim.token);
    let spare = w
        .call(
            ("post", "/v1/tokens"),
            "/v1/tokens",
            &idp,
            Payload::Json(json!({"name": "spare"})),
        )
        .await;
    let spare: CreatedToken = spare.parse();
    w.token_secret(spare.token.0.expose_secret());
    let spare_id = spare.info.id;
    w.call(
        ("delete", "/v1/tokens/{id}"),
        &format!("/v1/tokens/{spare_id}"),
        &idp,
        Payload::Empty,
    )
    .await;
    let (_, restored) = w
        .call_also(
            ("post", "/v1/policy/versions/{version}/restore"),
            "/v1/policy/versions/1/restore",
            &admin,
            Payload::Json(json!({"comment": "the demo policy again"})),
            &[],
        )
        .await;
    assert!(
        restored
            .iter()
            .any(|e| e.details.get("restored_from").map(String::as_str) == Some("1")),
        "{restored:?}"
    );

    // ----- requests and decisions -----
    let approvers = [&bob, &sam];
    let orders = w
        .request(&alice, ask("orders-db", "read", Some("CHG-1")), &approvers)
        .await;
    assert_eq!(orders.state, "pending", "{orders:?}");
    let denied = w
        .request(&alice, ask("orders-db", "write", Some("CHG-2")), &[])
        .await;
    assert_eq!(denied.state, "pending", "{denied:?}");
    w.call(
        ("post", "/v1/requests/{id}/deny"),
        &format!("/v1/requests/{}/deny", denied.id),
        &bob,
        Payload::Json(json!({"comment": "not for this ticket"})),
    )
    .await;
    let cancelled = w
        .request(&alice, ask("payments-db", "read", Some("CHG-3")), &[])
        .await;
    assert_eq!(cancelled.state, "pending", "{cancelled:?}");
    w.call(
        ("post", "/v1/requests/{id}/cancel"),
        &format!("/v1/requests/{}/cancel", cancelled.id),
        &alice,
        Payload::Empty,
    )
    .await;
    // Low risk: approved by Warden at once, in the same call.
    let (auto, _) = w
        .call_also(
            ("post", "/v1/requests"),
            "/v1/requests",
            &alice,
            Payload::Json(ask("session-cache", "read", None)),
            &["request.approve"],
        )
        .await;
    let auto: RequestInfo = auto.parse();
    assert_eq!(auto.state, "provisioning", "{auto:?}");
    let bastion = w
        .request(&alice, ask("bastion", "login", Some("CHG-4")), &approvers)
        .await;
    let report = t.tick().await;
    assert_eq!(report.failures, 0, "{report:?}");
    assert_eq!(report.provisioned, 3, "{report:?}");
    let orders_grant = active_grant(&t, &alice, &orders).await;
    let cache_grant = active_grant(&t, &alice, &auto).await;
    active_grant(&t, &alice, &bastion).await;

    // ----- what a holder takes to a target -----
    let credential = w
        .call(
            ("post", "/v1/grants/{id}/credential"),
            &format!("/v1/grants/{cache_grant}/credential"),
            &alice,
            Payload::Empty,
        )
        .await;
    let password = credential.parse::<GrantCredential>().password;
    w.secret(&password);
    let key = public_key(dir.path());
    let signed = w
        .call(
            ("post", "/v1/ssh/certificates"),
            "/v1/ssh/certificates",
            &alice,
            Payload::Json(json!({"resource": "bastion", "public_key": key})),
        )
        .await;
    assert_eq!(signed.parse::<SshCertificate>().principals, ["ops"]);

    // ----- the vault: shares, an account on the private Redis, check-out, keys -----
    let init = w
        .call(
            ("post", "/v1/operator/init"),
            "/v1/operator/init",
            &admin,
            Payload::Json(json!({"shares": 2, "threshold": 2})),
        )
        .await;
    let shares = crate::vault::shares_of(&init.body);
    for s in &shares {
        w.secret(s);
        w.secret(crate::vault::share_data(s));
    }
    let vaulted = "Walk-vaulted-password-1";
    w.secret(vaulted);
    let mut r = crate::targets::redis_as(port, "default", "").await.unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("walk_ops")
        .arg("on")
        .arg(format!(">{vaulted}"))
        .arg("~walk:*")
        .arg("+get")
        .query_async(&mut r)
        .await
        .unwrap();
    w.call(
        ("post", "/v1/accounts"),
        "/v1/accounts",
        &admin,
        Payload::Json(json!({"name": "cache-ops", "connection": "session-cache",
                             "username": "walk_ops", "password": vaulted,
                             "resource": "session-cache", "roles": ["read"]})),
    )
    .await;
    let out = w
        .call(
            ("post", "/v1/accounts/{name}/checkout"),
            "/v1/accounts/cache-ops/checkout",
            &alice,
            Payload::Json(json!({"grant": cache_grant})),
        )
        .await;
    assert_eq!(
        out.parse::<CheckedOut>().password.0.expose_secret(),
        vaulted
    );
    w.call(
        ("post", "/v1/accounts/{name}/checkin"),
        "/v1/accounts/cache-ops/checkin",
        &alice,
        Payload::Json(json!({})),
    )
    .await;
    w.call(
        ("post", "/v1/accounts/{name}/rotate"),
        "/v1/accounts/cache-ops/rotate",
        &admin,
        Payload::Empty,
    )
    .await;
    w.call(
        ("post", "/v1/operator/rotate"),
        "/v1/operator/rotate",
        &admin,
        Payload::Empty,
    )
    .await;
    let rekeyed = w
        .call(
            ("post", "/v1/operator/rekey"),
            "/v1/operator/rekey",
            &admin,
            Payload::Json(json!({"shares": 2, "threshold": 2})),
        )
        .await;
    let shares = crate::vault::shares_of(&rekeyed.body);
    for s in &shares {
        w.secret(s);
        w.secret(crate::vault::share_data(s));
    }
    let rotated = warden_app::service::rotation::tick(&t.state).await.unwrap();
    assert_eq!(rotated.rotated, 1, "{rotated:?}");
    let generated = warden_app::service::accounts::current_password(&t.state, "cache-ops")
        .await
        .unwrap()
        .unwrap();
    w.secret(secrecy::ExposeSecret::expose_secret(&generated));
    w.call(
        ("post", "/v1/operator/seal"),
        "/v1/operator/seal",
        &admin,
        Payload::Empty,
    )
    .await;
    // Unseal takes no token: the event names the caller's address and agent.
    let before = w.head().await;
    for s in &shares {
        let answer = t
            .raw(
                build(
                    "post",
                    "/v1/operator/unseal",
                    None,
                    Payload::Json(json!({"share": s})),
                ),
                PEER,
            )
            .await;
        assert!(answer.status.is_success(), "{answer:?}");
    }
    let events = t.state.store().audit_events(before, 100).await.unwrap();
    assert_eq!(actions(&events), ["vault.unseal"], "{events:?}");
    let e = &events[0];
    assert_eq!(
        (
            e.source.as_deref(),
            e.user_agent.as_deref(),
            e.actor_user.as_deref()
        ),
        (Some(PEER_IP), Some(USER_AGENT), None)
    );
    assert_eq!(e.outcome, "success");
    w.walked
        .insert(("post".to_owned(), "/v1/operator/unseal".to_owned()));

    // ----- grants: extension, early revocation -----
    let (extended, events) = w
        .call_also(
            ("post", "/v1/grants/{id}/extend"),
            &format!("/v1/grants/{cache_grant}/extend"),
            &alice,
            Payload::Json(json!({"duration": "1h", "reason": "the migration is still running"})),
            &[],
        )
        .await;
    assert_eq!(
        extended
            .parse::<RequestInfo>()
            .extends
            .map(|g| g.to_string()),
        Some(cache_grant.clone())
    );
    assert!(
        events.iter().any(|e| e.action == "request.create"
            && e.details.get("extends") == Some(&cache_grant)),
        "{events:?}"
    );
    w.call(
        ("post", "/v1/grants/{id}/revoke"),
        &format!("/v1/grants/{orders_grant}/revoke"),
        &alice,
        Payload::Json(json!({"reason": "done early"})),
    )
    .await;

    // ----- break-glass -----
    let glass = w
        .call(
            ("post", "/v1/breakglass"),
            "/v1/breakglass",
            &alice,
            Payload::Json(json!({"resource": "session-cache", "role": "read",
                                 "reason": "sessions failing for all EU users, INC-9000"})),
        )
        .await;
    let glass_id = glass.parse::<BreakGlassInfo>().id;
    w.call(
        ("post", "/v1/breakglass/{id}/justify"),
        &format!("/v1/breakglass/{glass_id}/justify"),
        &alice,
        Payload::Json(json!({"justification":
            "EU session store lost quorum; I restarted two replicas and verified logins"})),
    )
    .await;
    w.call(
        ("post", "/v1/breakglass/{id}/review"),
        &format!("/v1/breakglass/{glass_id}/review"),
        &bob,
        Payload::Json(
            json!({"verdict": "justified", "comment": "read the timeline and the ticket"}),
        ),
    )
    .await;

    // ----- vendors -----
    let vendor = w
        .call(
            ("post", "/v1/vendors"),
            "/v1/vendors",
            &bob,
            Payload::Json(json!({"username": "victor", "name": "Victor Vega",
                                 "email": "victor@dbfix.example", "company": "DBFix", "days": 14})),
        )
        .await;
    w.secret(
        vendor
            .parse::<warden_proto::grants::CreatedVendor>()
            .initial_password
            .0
            .expose_secret(),
    );

    // ----- reconciliation, of the private Redis only -----
    let report = t.tick().await;
    assert_eq!(report.failures, 0, "{report:?}");
    let run = w
        .call(
            ("post", "/v1/reconcile"),
            "/v1/reconcile?resource=session-cache",
            &admin,
            Payload::Json(json!({})),
        )
        .await;
    let runs: Vec<ResourceReconciled> = run.parse();
    assert_eq!(runs[0].resource, "session-cache", "{run:?}");
    assert!(runs[0].errors.is_empty(), "{run:?}");

    // ----- SCIM -----
    let walker = id(&w
        .call(
            ("post", "/scim/v2/Users"),
            "/scim/v2/Users",
            &scim,
            Payload::Scim(scim_user("walker", "E9001", "Platform")),
        )
        .await
        .body);
    let runner = id(&w
        .call(
            ("post", "/scim/v2/Users"),
            "/scim/v2/Users",
            &scim,
            Payload::Scim(scim_user("runner", "E9002", "Platform")),
        )
        .await
        .body);
    w.call(
        ("put", "/scim/v2/Users/{id}"),
        &format!("/scim/v2/Users/{walker}"),
        &scim,
        Payload::Scim(scim_user("walker", "E9001", "Payments")),
    )
    .await;
    w.call(
        ("patch", "/scim/v2/Users/{id}"),
        &format!("/scim/v2/Users/{walker}"),
        &scim,
        Payload::Scim(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "name.formatted", "value": "Walt Walker"}]})),
    )
    .await;
    let group = id(&w
        .call(
            ("post", "/scim/v2/Groups"),
            "/scim/v2/Groups",
            &scim,
            Payload::Scim(json!({"displayName": "Walkers", "members": [{"value": walker}]})),
        )
        .await
        .body);
    w.call(
        ("put", "/scim/v2/Groups/{id}"),
        &format!("/scim/v2/Groups/{group}"),
        &scim,
        Payload::Scim(json!({"displayName": "Walkers Team",
                             "members": [{"value": walker}, {"value": runner}]})),
    )
    .await;
    w.call(
        ("patch", "/scim/v2/Groups/{id}"),
        &format!("/scim/v2/Groups/{group}"),
        &scim,
        Payload::Scim(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{runner}\"]")}]})),
    )
    .await;

    // ----- every GET writes nothing, except the audited export -----
    let gets: Vec<(&str, String, Option<&Who>)> = vec![
        ("/healthz", "/healthz".into(), None),
        ("/readyz", "/readyz".into(), None),
        ("/metrics", "/metrics".into(), None),
        ("/v1/openapi.json", "/v1/openapi.json".into(), None),
        ("/v1/auth/whoami", "/v1/auth/whoami".into(), Some(&alice)),
        ("/v1/tokens", "/v1/tokens".into(), Some(&idp)),
        ("/v1/users", "/v1/users".into(), Some(&admin)),
        (
            "/v1/users/{username}",
            "/v1/users/alice".into(),
            Some(&admin),
        ),
        ("/v1/identities", "/v1/identities".into(), Some(&admin)),
        (
            "/v1/identities/{identity}",
            "/v1/identities/alice".into(),
            Some(&admin),
        ),
        (
            "/v1/access/explain",
            "/v1/access/explain?identity=alice&resource=orders-db&role=read".into(),
            Some(&admin),
        ),
        ("/v1/policy", "/v1/policy".into(), Some(&admin)),
        (
            "/v1/policy/versions",
            "/v1/policy/versions".into(),
            Some(&admin),
        ),
        (
            "/v1/policy/versions/{version}",
            "/v1/policy/versions/1".into(),
            Some(&admin),
        ),
        ("/v1/requests", "/v1/requests".into(), Some(&alice)),
        (
            "/v1/requests",
            "/v1/requests?pending_approval=true".into(),
            Some(&bob),
        ),
        (
            "/v1/requests/{id}",
            format!("/v1/requests/{}", orders.id),
            Some(&alice),
        ),
        ("/v1/grants", "/v1/grants".into(), Some(&alice)),
        ("/v1/grants", "/v1/grants?all=true".into(), Some(&admin)),
        (
            "/v1/grants/{id}",
            format!("/v1/grants/{cache_grant}"),
            Some(&alice),
        ),
        (
            "/v1/access/check",
            "/v1/access/check?identity=alice&resource=session-cache&role=read".into(),
            Some(&admin),
        ),
        ("/v1/breakglass", "/v1/breakglass".into(), Some(&admin)),
        (
            "/v1/breakglass/{id}",
            format!("/v1/breakglass/{glass_id}"),
            Some(&alice),
        ),
        ("/v1/incidents", "/v1/incidents".into(), Some(&admin)),
        ("/v1/vendors", "/v1/vendors".into(), Some(&bob)),
        ("/v1/ssh/ca", "/v1/ssh/ca".into(), None),
        (
            "/v1/resources/{name}/accounts",
            "/v1/resources/session-cache/accounts".into(),
            Some(&admin),
        ),
        ("/v1/findings", "/v1/findings?all=true".into(), Some(&admin)),
        ("/v1/audit/events", "/v1/audit/events".into(), Some(&admin)),
        ("/v1/audit/head", "/v1/audit/head".into(), Some(&admin)),
        ("/v1/audit/key", "/v1/audit/key".into(), None),
        ("/v1/audit/export", "/v1/audit/export".into(), Some(&admin)),
        ("/v1/operator/status", "/v1/operator/status".into(), None),
        ("/v1/accounts", "/v1/accounts".into(), Some(&admin)),
        (
            "/v1/accounts/{name}",
            "/v1/accounts/cache-ops".into(),
            Some(&admin),
        ),
        (
            "/scim/v2/ServiceProviderConfig",
            "/scim/v2/ServiceProviderConfig".into(),
            Some(&scim),
        ),
        ("/scim/v2/Schemas", "/scim/v2/Schemas".into(), Some(&scim)),
        (
            "/scim/v2/Schemas/{id}",
            format!("/scim/v2/Schemas/{ENTERPRISE}"),
            Some(&scim),
        ),
        (
            "/scim/v2/ResourceTypes",
            "/scim/v2/ResourceTypes".into(),
            Some(&scim),
        ),
        (
            "/scim/v2/ResourceTypes/{id}",
            "/scim/v2/ResourceTypes/User".into(),
            Some(&scim),
        ),
        ("/scim/v2/Users", "/scim/v2/Users".into(), Some(&scim)),
        (
            "/scim/v2/Users/{id}",
            format!("/scim/v2/Users/{walker}"),
            Some(&scim),
        ),
        ("/scim/v2/Groups", "/scim/v2/Groups".into(), Some(&scim)),
        (
            "/scim/v2/Groups/{id}",
            format!("/scim/v2/Groups/{group}"),
            Some(&scim),
        ),
    ];
    for (template, path, who) in &gets {
        w.read(template, path, *who).await;
    }
    let get_routes: BTreeSet<&str> = ROUTES
        .iter()
        .filter(|(m, _)| *m == "get")
        .map(|(_, p)| *p)
        .collect();
    let read: BTreeSet<&str> = gets.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(read, get_routes, "every GET route is read once at least");

    // ----- deletions and logout -----
    w.call(
        ("delete", "/scim/v2/Groups/{id}"),
        &format!("/scim/v2/Groups/{group}"),
        &scim,
        Payload::Empty,
    )
    .await;
    w.call(
        ("delete", "/scim/v2/Users/{id}"),
        &format!("/scim/v2/Users/{walker}"),
        &scim,
        Payload::Empty,
    )
    .await;
    w.call(
        ("post", "/v1/auth/logout"),
        "/v1/auth/logout",
        &sam,
        Payload::Empty,
    )
    .await;

    // Every state-changing route was called, successfully, with its events checked.
    let walked_changes: BTreeSet<(String, String)> = w
        .walked
        .iter()
        .filter(|(m, _)| m != "get")
        .cloned()
        .collect();
    let expected: BTreeSet<(String, String)> = non_get_routes()
        .into_iter()
        .filter(|(m, p)| !NOT_WALKED.iter().any(|(nm, np, _)| nm == m && np == p))
        .collect();
    assert_eq!(walked_changes, expected);

    // No event of the whole walk holds a secret.
    let all = t.state.store().audit_events(0, 100_000).await.unwrap();
    assert!(all.len() > 50, "{}", all.len());
    for e in &all {
        let text = text_of(e);
        for secret in &w.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "event {} ({}) holds a secret: {text}",
                e.seq,
                e.action
            );
        }
    }
    drop(redis);
}
