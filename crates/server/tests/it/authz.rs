//! The authorization matrix: every route of the OpenAPI document, called by every kind of
//! caller on objects of every relation, answers as core's one table
//! ([`warden_core::authz::RULES`]) says, and every refusal to a signed-in caller is an
//! `authz.deny` event by the caller's token, while nothing allowed writes one.
//!
//! The callers are tokens narrowed to one persona's scopes (each scope alone, a
//! requester, an approver, an auditor, a delegated user manager, an administrator),
//! held by a person who stands in one relation to the objects: alice owns them, bob is
//! her manager (so her requests and break-glass uses are in his charge, and he sponsors
//! a vendor), sam is in the security group, audrey has nothing to do with them. A caller
//! without a token and a disabled user get 401 on every route that is not public.
//!
//! A route in the document without an entry in [`variants`] fails the walk. The named
//! tests below pin the holes found from outside, each as it was reported.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use warden_app::demo;
use warden_core::authz::{self, Operation as Op, Refusal, Relation};
use warden_core::{Scope, ScopeSet};
use warden_proto::grants::GrantInfo;
use warden_proto::requests::RequestInfo;
use warden_proto::users::UserInfo;

use crate::openapi::ROUTES;
use crate::support::{Answer, PEER, TestApp};
use crate::targets::PrivateRedis;

/// The personas: a token's scopes.
const PERSONAS: &[(&str, &[&str])] = &[
    ("admin", &["admin"]),
    ("users:read", &["users:read"]),
    ("users:write", &["users:write"]),
    ("requester", &["request"]),
    ("approve", &["approve"]),
    ("policy:read", &["policy:read"]),
    ("policy:write", &["policy:write"]),
    ("hr:sync", &["hr:sync"]),
    ("audit:read", &["audit:read"]),
    ("identities:read", &["identities:read"]),
    ("approver", &["request", "approve"]),
    ("auditor", &["audit:read", "identities:read"]),
    ("user manager", &["users:read", "users:write"]),
];

/// The people, by how they stand to alice's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Who {
    /// Owns the objects.
    Alice,
    /// Alice's manager, one of her requests' approvers, reviewer of her break-glass use,
    /// sponsor of the vendor vince.
    Bob,
    /// In the security group: reviews every break-glass use.
    Sam,
    /// An auditor by trade, with no relation to anything of alice's.
    Audrey,
}

impl Who {
    const ALL: [Who; 4] = [Who::Alice, Who::Bob, Who::Sam, Who::Audrey];

    fn name(self) -> &'static str {
        match self {
            Who::Alice => "alice",
            Who::Bob => "bob",
            Who::Sam => "sam",
            Who::Audrey => "audrey",
        }
    }
}

#[derive(Debug, Clone)]
enum Payload {
    Empty,
    Json(Value),
    Scim(Value),
    Csv(String),
}

/// An object made afresh before each case that is expected to pass, because passing uses
/// it up.
#[derive(Debug, Clone, Copy)]
enum Fresh {
    /// A pending request of alice's (`{fresh}` in the path).
    PendingRequest,
    /// An open check-out of alice's on `cache-ops` (`{fresh}` in the body).
    Checkout,
    /// A SCIM user (`{fresh}` in the path).
    ScimUser,
    /// A SCIM group (`{fresh}` in the path).
    ScimGroup,
    /// The token the case is made with (a logout ends it).
    Token,
}

/// One way of calling a route: by whom, on what, and which decisions of the table the
/// server takes in turn (`None`: the gate, before the object is looked up).
#[derive(Debug, Clone)]
struct Variant {
    who: Who,
    /// The scopes the object holds (a user, a token to be), and the relation the caller
    /// has to it when their persona holds them all; `Other` otherwise.
    beyond: Option<(&'static [&'static str], Relation)>,
    path: String,
    payload: Payload,
    checks: Vec<(Op, Option<Relation>)>,
    fresh: Option<Fresh>,
}

fn v(who: Who, path: impl Into<String>, payload: Payload, op: Op, rel: Relation) -> Variant {
    Variant {
        who,
        beyond: None,
        path: path.into(),
        payload,
        checks: vec![(op, None), (op, Some(rel))],
        fresh: None,
    }
}

impl Variant {
    fn fresh(mut self, fresh: Fresh) -> Self {
        self.fresh = Some(fresh);
        self
    }

    fn beyond(mut self, scopes: &'static [&'static str], covered: Relation) -> Self {
        self.beyond = Some((scopes, covered));
        self
    }

    /// The table's decisions in turn for a caller holding `scopes`.
    fn checks_for(&self, scopes: &ScopeSet) -> Vec<(Op, Option<Relation>)> {
        let mut checks = self.checks.clone();
        if let Some((held, covered)) = self.beyond
            && let Some((_, Some(rel))) = checks.last_mut()
        {
            *rel = if scopes.covers(&scope_set(held)) {
                covered
            } else {
                Relation::Other
            };
        }
        checks
    }

    fn then(mut self, op: Op, rel: Relation) -> Self {
        self.checks.push((op, Some(rel)));
        self
    }
}

/// What a case must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past authorization: neither 401, 403 nor 404, and no `authz.deny`.
    Pass,
    /// 403 and one `authz.deny` by the caller's token.
    Refused,
    /// 404 (the object is not the caller's to see) and one `authz.deny`.
    Hidden,
}

/// The objects the walk acts on, made once.
struct Objects {
    pending: String,
    grant: String,
    checkout_grant: String,
    glass: String,
    spare_token: String,
    scim_user: String,
    scim_group: String,
    public_key: String,
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn ask(resource: &str, role: &str, ticket: Option<&str>) -> Value {
    json!({"resource": resource, "role": role, "duration": "1h",
           "justification": "investigating INC-4242 latency", "ticket": ticket})
}

fn scim_user(username: &str, employee: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": username,
        "externalId": format!("ext-{employee}"),
        "name": {"givenName": "Matrix", "familyName": employee},
        "emails": [{"value": format!("{}@example.com", employee.to_lowercase()), "type": "work", "primary": true}],
        "active": true,
        ENTERPRISE: {"employeeNumber": employee, "department": "Platform"},
    })
}

/// The variants of `route`; every route of the document must have some.
fn variants(route: (&str, &str), o: &Objects, n: usize) -> Vec<Variant> {
    use Fresh as F;
    use Payload::{Csv, Empty, Json, Scim};
    use Relation::{Other, Own, Subordinate as Sub};
    use Who::{Alice, Audrey, Bob, Sam};
    let (g, r, bg) = (&o.grant, &o.pending, &o.glass);
    match route {
        ("post", "/v1/auth/logout") => {
            vec![v(Alice, "/v1/auth/logout", Empty, Op::Logout, Own).fresh(F::Token)]
        }
        ("get", "/v1/auth/whoami") => vec![v(Bob, "/v1/auth/whoami", Empty, Op::Whoami, Own)],
        ("post", "/v1/auth/password") => vec![v(
            Bob,
            "/v1/auth/password",
            Json(
                json!({"current_password": "matrix-same-passw0rd", "new_password": "matrix-same-passw0rd"}),
            ),
            Op::PasswordChange,
            Own,
        )],
        ("get", "/v1/tokens") => vec![v(Bob, "/v1/tokens", Empty, Op::TokenList, Own)],
        ("post", "/v1/tokens") => vec![
            v(
                Bob,
                "/v1/tokens",
                Json(json!({"name": "mine"})),
                Op::TokenCreate,
                Own,
            ),
            v(
                Bob,
                "/v1/tokens",
                Json(json!({"name": "wider", "scopes": ["admin"]})),
                Op::TokenCreate,
                Other,
            )
            .beyond(&["admin"], Own),
        ],
        ("delete", "/v1/tokens/{id}") => {
            let path = format!("/v1/tokens/{}", o.spare_token);
            vec![
                v(Alice, &path, Empty, Op::TokenRevoke, Own),
                v(Audrey, &path, Empty, Op::TokenRevoke, Other),
            ]
        }
        ("get", "/v1/users") => vec![v(Bob, "/v1/users", Empty, Op::UserList, Other)],
        ("post", "/v1/users") => vec![
            v(
                Bob,
                "/v1/users",
                Json(json!({"username": format!("peon{n}"), "scopes": []})),
                Op::UserCreate,
                Sub,
            ),
            v(
                Bob,
                "/v1/users",
                Json(json!({"username": format!("boss{n}"), "scopes": ["admin"]})),
                Op::UserCreate,
                Other,
            )
            .beyond(&["admin"], Sub),
        ],
        ("get", "/v1/users/{username}") => {
            vec![v(Bob, "/v1/users/boss", Empty, Op::UserRead, Other)]
        }
        ("patch", "/v1/users/{username}") => {
            let body = || Json(json!({"disabled": false}));
            vec![
                v(Bob, "/v1/users/bob", body(), Op::UserUpdate, Own),
                v(Bob, "/v1/users/peon", body(), Op::UserUpdate, Sub),
                v(Bob, "/v1/users/boss", body(), Op::UserUpdate, Other).beyond(&["admin"], Sub),
            ]
        }
        ("post", "/v1/hr/sync") => vec![v(
            Bob,
            "/v1/hr/sync?dry_run=true",
            Csv(demo::HR_CSV.to_owned()),
            Op::HrSync,
            Other,
        )],
        ("get", "/v1/identities") => vec![v(Bob, "/v1/identities", Empty, Op::IdentityList, Other)],
        ("get", "/v1/identities/{identity}") => vec![
            v(Alice, "/v1/identities/alice", Empty, Op::IdentityRead, Own),
            v(
                Audrey,
                "/v1/identities/alice",
                Empty,
                Op::IdentityRead,
                Other,
            ),
        ],
        ("get", "/v1/access/explain") => {
            let path = "/v1/access/explain?identity=alice&resource=session-cache&role=read";
            vec![
                v(Alice, path, Empty, Op::AccessExplain, Own),
                v(Audrey, path, Empty, Op::AccessExplain, Other),
            ]
        }
        ("get", "/v1/policy") => vec![v(Bob, "/v1/policy", Empty, Op::PolicyRead, Other)],
        ("post", "/v1/policy/plan") => vec![v(
            Bob,
            "/v1/policy/plan",
            Json(json!({"files": policy_files()})),
            Op::PolicyRead,
            Other,
        )],
        ("post", "/v1/policy/apply") => vec![v(
            Bob,
            "/v1/policy/apply",
            Json(json!({"files": policy_files(), "comment": "the same again"})),
            Op::PolicyApply,
            Other,
        )],
        ("get", "/v1/policy/versions") => {
            vec![v(Bob, "/v1/policy/versions", Empty, Op::PolicyRead, Other)]
        }
        ("get", "/v1/policy/versions/{version}") => {
            vec![v(
                Bob,
                "/v1/policy/versions/1",
                Empty,
                Op::PolicyRead,
                Other,
            )]
        }
        ("post", "/v1/policy/versions/{version}/restore") => vec![v(
            Bob,
            "/v1/policy/versions/1/restore",
            Json(json!({"comment": "the first again"})),
            Op::PolicyApply,
            Other,
        )],
        ("post", "/v1/requests") => {
            let mut vendor = ask("analytics-db", "read", Some("CHG-7"));
            vendor["on_behalf_of"] = json!("vince");
            vec![
                v(
                    Alice,
                    "/v1/requests",
                    Json(ask("session-cache", "read", None)),
                    Op::RequestCreate,
                    Own,
                ),
                v(
                    Bob,
                    "/v1/requests",
                    Json(vendor.clone()),
                    Op::RequestCreate,
                    Sub,
                ),
                v(
                    Audrey,
                    "/v1/requests",
                    Json(vendor),
                    Op::RequestCreate,
                    Other,
                ),
            ]
        }
        ("get", "/v1/requests") => vec![
            v(Alice, "/v1/requests", Empty, Op::RequestList, Own),
            v(
                Bob,
                "/v1/requests?pending_approval=true",
                Empty,
                Op::RequestQueue,
                Sub,
            ),
        ],
        ("get", "/v1/requests/{id}") => {
            let path = format!("/v1/requests/{r}");
            vec![
                v(Alice, &path, Empty, Op::RequestRead, Own),
                v(Bob, &path, Empty, Op::RequestRead, Sub),
                v(Audrey, &path, Empty, Op::RequestRead, Other),
            ]
        }
        ("post", "/v1/requests/{id}/approve") | ("post", "/v1/requests/{id}/deny") => {
            let verb = route.1.rsplit('/').next().unwrap_or_default();
            let body = || Json(json!({"comment": "looked at the ticket"}));
            vec![
                v(
                    Alice,
                    format!("/v1/requests/{r}/{verb}"),
                    body(),
                    Op::RequestDecide,
                    Own,
                ),
                v(
                    Bob,
                    format!("/v1/requests/{{fresh}}/{verb}"),
                    body(),
                    Op::RequestDecide,
                    Sub,
                )
                .fresh(F::PendingRequest),
                v(
                    Audrey,
                    format!("/v1/requests/{r}/{verb}"),
                    body(),
                    Op::RequestDecide,
                    Other,
                ),
            ]
        }
        ("post", "/v1/requests/{id}/cancel") => {
            let path = format!("/v1/requests/{r}/cancel");
            vec![
                v(Bob, &path, Empty, Op::RequestCancel, Sub),
                v(Audrey, &path, Empty, Op::RequestCancel, Other),
                v(Alice, &path, Empty, Op::RequestCancel, Own),
            ]
        }
        ("get", "/v1/grants") => vec![
            v(Alice, "/v1/grants", Empty, Op::GrantList, Own),
            v(Audrey, "/v1/grants?all=true", Empty, Op::GrantList, Other),
        ],
        ("get", "/v1/grants/{id}") => vec![
            v(Alice, format!("/v1/grants/{g}"), Empty, Op::GrantRead, Own),
            v(
                Audrey,
                format!("/v1/grants/{g}"),
                Empty,
                Op::GrantRead,
                Other,
            ),
        ],
        ("post", "/v1/grants/{id}/revoke") => {
            let body = || Json(json!({"reason": "no longer needed"}));
            vec![
                v(
                    Audrey,
                    format!("/v1/grants/{g}/revoke"),
                    body(),
                    Op::GrantRevoke,
                    Other,
                ),
                v(
                    Alice,
                    format!("/v1/grants/{g}/revoke"),
                    body(),
                    Op::GrantRevoke,
                    Own,
                ),
            ]
        }
        ("post", "/v1/grants/{id}/extend") => {
            let body = || Json(json!({"duration": "1h", "reason": "the migration still runs"}));
            vec![
                v(
                    Alice,
                    format!("/v1/grants/{g}/extend"),
                    body(),
                    Op::GrantExtend,
                    Own,
                ),
                v(
                    Audrey,
                    format!("/v1/grants/{g}/extend"),
                    body(),
                    Op::GrantExtend,
                    Other,
                ),
            ]
        }
        ("post", "/v1/grants/{id}/credential") => vec![
            v(
                Alice,
                format!("/v1/grants/{g}/credential"),
                Empty,
                Op::GrantCredential,
                Own,
            ),
            v(
                Audrey,
                format!("/v1/grants/{g}/credential"),
                Empty,
                Op::GrantCredential,
                Other,
            ),
        ],
        ("get", "/v1/access/check") => vec![v(
            Audrey,
            "/v1/access/check?identity=alice&resource=session-cache&role=read",
            Empty,
            Op::AccessCheck,
            Other,
        )],
        ("post", "/v1/breakglass") => vec![v(
            Alice,
            "/v1/breakglass",
            Json(json!({"resource": "session-cache", "role": "read",
                        "reason": "sessions failing for all EU users, INC-9000"})),
            Op::BreakGlassTake,
            Own,
        )],
        ("get", "/v1/breakglass") => vec![
            v(Sam, "/v1/breakglass", Empty, Op::BreakGlassList, Sub),
            v(Audrey, "/v1/breakglass", Empty, Op::BreakGlassList, Other),
        ],
        ("get", "/v1/breakglass/{id}") => {
            let path = format!("/v1/breakglass/{bg}");
            vec![
                v(Alice, &path, Empty, Op::BreakGlassRead, Own),
                v(Bob, &path, Empty, Op::BreakGlassRead, Sub),
                v(Sam, &path, Empty, Op::BreakGlassRead, Sub),
                v(Audrey, &path, Empty, Op::BreakGlassRead, Other),
            ]
        }
        ("post", "/v1/breakglass/{id}/justify") => {
            let path = format!("/v1/breakglass/{bg}/justify");
            let body = || {
                Json(json!({"justification":
                    "EU session store lost quorum; I restarted two replicas and verified logins"}))
            };
            vec![
                v(Bob, &path, body(), Op::BreakGlassJustify, Sub),
                v(Audrey, &path, body(), Op::BreakGlassJustify, Other),
                v(Alice, &path, body(), Op::BreakGlassJustify, Own),
            ]
        }
        ("post", "/v1/breakglass/{id}/review") => {
            let path = format!("/v1/breakglass/{bg}/review");
            let body =
                || Json(json!({"verdict": "justified", "comment": "read the timeline and ticket"}));
            vec![
                v(Alice, &path, body(), Op::BreakGlassReview, Own),
                v(Bob, &path, body(), Op::BreakGlassReview, Sub),
                v(Sam, &path, body(), Op::BreakGlassReview, Sub),
                v(Audrey, &path, body(), Op::BreakGlassReview, Other),
            ]
        }
        ("get", "/v1/incidents") => vec![v(Bob, "/v1/incidents", Empty, Op::IncidentList, Other)],
        ("post", "/v1/vendors") => vec![v(
            Bob,
            "/v1/vendors",
            Json(
                json!({"username": format!("vendor{n}"), "name": "Victor Vega",
                        "email": format!("vendor{n}@dbfix.example"), "company": "DBFix", "days": 14}),
            ),
            Op::VendorCreate,
            Sub,
        )],
        ("get", "/v1/vendors") => vec![v(Bob, "/v1/vendors", Empty, Op::VendorList, Sub)],
        ("get", "/v1/ssh/ca") | ("get", "/v1/audit/key") | ("get", "/v1/operator/status") => {
            Vec::new()
        }
        ("post", "/v1/ssh/certificates") => vec![v(
            Alice,
            "/v1/ssh/certificates",
            Json(json!({"resource": "bastion", "public_key": o.public_key})),
            Op::SshSign,
            Own,
        )],
        ("get", "/v1/resources/{name}/accounts") => vec![v(
            Bob,
            "/v1/resources/session-cache/accounts",
            Empty,
            Op::TargetInventory,
            Other,
        )],
        ("post", "/v1/reconcile") => vec![v(
            Bob,
            "/v1/reconcile?resource=session-cache",
            Json(json!({})),
            Op::ReconcileRun,
            Other,
        )],
        ("get", "/v1/findings") => vec![v(Bob, "/v1/findings", Empty, Op::FindingList, Other)],
        ("get", "/v1/audit/events") | ("get", "/v1/audit/head") => {
            vec![v(Audrey, route.1, Empty, Op::AuditRead, Other)]
        }
        ("get", "/v1/audit/export") => {
            vec![v(Audrey, "/v1/audit/export", Empty, Op::AuditExport, Other)]
        }
        ("post", "/v1/operator/init") => vec![v(
            Bob,
            "/v1/operator/init",
            Json(json!({"shares": 2, "threshold": 2})),
            Op::VaultInit,
            Other,
        )],
        ("post", "/v1/operator/seal") => {
            vec![v(Bob, "/v1/operator/seal", Empty, Op::VaultSeal, Other)]
        }
        ("post", "/v1/operator/rotate") => {
            vec![v(Bob, "/v1/operator/rotate", Empty, Op::VaultRotate, Other)]
        }
        ("post", "/v1/operator/rekey") => vec![v(
            Bob,
            "/v1/operator/rekey",
            Json(json!({"shares": 2, "threshold": 2})),
            Op::VaultRotate,
            Other,
        )],
        ("get", "/v1/accounts") => vec![v(Bob, "/v1/accounts", Empty, Op::AccountRead, Other)],
        ("get", "/v1/accounts/{name}") => {
            vec![v(
                Bob,
                "/v1/accounts/cache-ops",
                Empty,
                Op::AccountRead,
                Other,
            )]
        }
        ("post", "/v1/accounts") => vec![v(
            Bob,
            "/v1/accounts",
            Json(
                json!({"name": format!("acct{n}"), "connection": "session-cache",
                        "username": "nobody_here", "password": "Not-the-password-1"}),
            ),
            Op::AccountAdd,
            Other,
        )],
        ("post", "/v1/accounts/{name}/checkout") => {
            let body = || Json(json!({"grant": o.checkout_grant}));
            vec![
                v(
                    Alice,
                    "/v1/accounts/cache-ops/checkout",
                    body(),
                    Op::AccountCheckout,
                    Own,
                ),
                // Someone else's grant is its holder's to use: not found to whoever may
                // not see it, refused to whoever may.
                Variant {
                    checks: vec![(Op::AccountCheckout, None)],
                    ..v(
                        Audrey,
                        "/v1/accounts/cache-ops/checkout",
                        body(),
                        Op::AccountCheckout,
                        Other,
                    )
                }
                .then(Op::GrantCredential, Other),
            ]
        }
        ("post", "/v1/accounts/{name}/checkin") => vec![
            v(
                Alice,
                "/v1/accounts/cache-ops/checkin",
                Json(json!({})),
                Op::AccountCheckin,
                Own,
            )
            .fresh(F::Checkout),
            v(
                Audrey,
                "/v1/accounts/cache-ops/checkin",
                Json(json!({"checkout": "{fresh}"})),
                Op::AccountCheckin,
                Other,
            )
            .fresh(F::Checkout),
        ],
        ("post", "/v1/accounts/{name}/rotate") => vec![v(
            Bob,
            "/v1/accounts/cache-ops/rotate",
            Empty,
            Op::AccountRotate,
            Other,
        )],
        ("get", p) if p.starts_with("/scim/v2/") && !p.contains('{') => {
            vec![v(Bob, p, Empty, Op::Scim, Other)]
        }
        ("get", "/scim/v2/Schemas/{id}") => vec![v(
            Bob,
            "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            Empty,
            Op::Scim,
            Other,
        )],
        ("get", "/scim/v2/ResourceTypes/{id}") => {
            vec![v(
                Bob,
                "/scim/v2/ResourceTypes/User",
                Empty,
                Op::Scim,
                Other,
            )]
        }
        ("post", "/scim/v2/Users") => vec![v(
            Bob,
            "/scim/v2/Users",
            Scim(scim_user(&format!("scimmer{n}"), &format!("E7{n:03}"))),
            Op::Scim,
            Other,
        )],
        ("get", "/scim/v2/Users/{id}") => {
            vec![v(
                Bob,
                format!("/scim/v2/Users/{}", o.scim_user),
                Empty,
                Op::Scim,
                Other,
            )]
        }
        ("put", "/scim/v2/Users/{id}") => vec![v(
            Bob,
            format!("/scim/v2/Users/{}", o.scim_user),
            Scim(scim_user("matrixer", "E6001")),
            Op::Scim,
            Other,
        )],
        ("patch", "/scim/v2/Users/{id}") => vec![v(
            Bob,
            format!("/scim/v2/Users/{}", o.scim_user),
            Scim(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "name.formatted", "value": "Matt Rix"}]})),
            Op::Scim,
            Other,
        )],
        ("delete", "/scim/v2/Users/{id}") => {
            vec![v(Bob, "/scim/v2/Users/{fresh}", Empty, Op::Scim, Other).fresh(F::ScimUser)]
        }
        ("post", "/scim/v2/Groups") => vec![v(
            Bob,
            "/scim/v2/Groups",
            Scim(json!({"displayName": format!("Matrix {n}")})),
            Op::Scim,
            Other,
        )],
        ("get", "/scim/v2/Groups/{id}") => {
            vec![v(
                Bob,
                format!("/scim/v2/Groups/{}", o.scim_group),
                Empty,
                Op::Scim,
                Other,
            )]
        }
        ("put", "/scim/v2/Groups/{id}") => vec![v(
            Bob,
            format!("/scim/v2/Groups/{}", o.scim_group),
            Scim(json!({"displayName": "Matrixers"})),
            Op::Scim,
            Other,
        )],
        ("patch", "/scim/v2/Groups/{id}") => vec![v(
            Bob,
            format!("/scim/v2/Groups/{}", o.scim_group),
            Scim(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "displayName", "value": "Matrix group"}]})),
            Op::Scim,
            Other,
        )],
        ("delete", "/scim/v2/Groups/{id}") => {
            vec![v(Bob, "/scim/v2/Groups/{fresh}", Empty, Op::Scim, Other).fresh(F::ScimGroup)]
        }
        _ => panic!(
            "{} {} has no entry in the authorization matrix (authz.rs, `variants`)",
            route.0, route.1
        ),
    }
}

/// Routes anyone may call without a token, with what a call sends.
fn public(route: (&str, &str)) -> Option<(String, Payload)> {
    let json = |v: Value| Payload::Json(v);
    match route {
        ("get", p @ ("/healthz" | "/readyz" | "/metrics" | "/v1/openapi.json")) => {
            Some((p.to_owned(), Payload::Empty))
        }
        ("get", p @ ("/v1/ssh/ca" | "/v1/audit/key" | "/v1/operator/status")) => {
            Some((p.to_owned(), Payload::Empty))
        }
        ("post", "/v1/auth/login") => Some((
            "/v1/auth/login".to_owned(),
            json(json!({"username": "peon", "password": "peon-password-123"})),
        )),
        ("post", "/v1/operator/unseal") => Some((
            "/v1/operator/unseal".to_owned(),
            json(json!({"share": "not-a-share"})),
        )),
        _ => None,
    }
}

fn policy_files() -> Vec<Value> {
    demo::policy_files()
        .into_iter()
        .map(|f| json!({"path": f.path, "text": f.text}))
        .collect()
}

/// What core's table says a caller holding `scopes` gets, deciding `checks` in turn.
fn expected(scopes: &ScopeSet, checks: &[(Op, Option<Relation>)]) -> Expect {
    for (op, rel) in checks {
        let decision = match rel {
            None => authz::gate(*op, scopes).map_or(Ok(()), Err),
            // A list of everyone's is shown to whoever may see everyone's, whatever else.
            Some(_)
                if matches!(op, Op::VendorList | Op::BreakGlassList)
                    && authz::allows(*op, scopes, Relation::Other) =>
            {
                Ok(())
            }
            Some(rel) => authz::decide(*op, scopes, *rel),
        };
        match decision {
            Ok(()) => {}
            Err(Refusal::Hidden) => return Expect::Hidden,
            Err(_) => return Expect::Refused,
        }
    }
    Expect::Pass
}

fn scope_set(names: &[&str]) -> ScopeSet {
    ScopeSet::parse(names.iter().copied()).unwrap()
}

fn build(method: &str, path: &str, token: Option<&str>, payload: &Payload) -> Request<Body> {
    let method: Method = method.to_uppercase().parse().unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", "warden-tests");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let (content_type, body) = match payload {
        Payload::Empty => (None, String::new()),
        Payload::Json(v) => (Some("application/json"), v.to_string()),
        Payload::Scim(v) => (Some("application/scim+json"), v.to_string()),
        Payload::Csv(text) => (Some("text/csv"), text.clone()),
    };
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.body(Body::from(body)).unwrap()
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// A token and its id.
#[derive(Clone)]
struct Minted {
    token: String,
    id: Uuid,
}

struct Matrix {
    t: TestApp,
    _redis: PrivateRedis,
    _dir: tempfile::TempDir,
    admin: String,
    /// Each person's full token (their user holds `admin`, so theirs can be narrowed).
    full: BTreeMap<Who, String>,
    tokens: BTreeMap<(Who, usize), Minted>,
    shares: Vec<String>,
    n: usize,
}

impl Matrix {
    async fn send(&self, method: &str, path: &str, token: Option<&str>, p: &Payload) -> Answer {
        self.t.raw(build(method, path, token, p), PEER).await
    }

    async fn ok(&self, method: &str, path: &str, token: &str, p: Payload) -> Value {
        let a = self.send(method, path, Some(token), &p).await;
        assert!(a.status.is_success(), "{method} {path}: {a:?}");
        a.body
    }

    async fn mint(&self, who: Who, scopes: &[&str]) -> Minted {
        let body = self
            .ok(
                "post",
                "/v1/tokens",
                &self.full[&who],
                Payload::Json(json!({"name": "matrix", "scopes": scopes})),
            )
            .await;
        Minted {
            token: body["token"].as_str().unwrap().to_owned(),
            id: body["info"]["id"].as_str().unwrap().parse().unwrap(),
        }
    }

    async fn token(&mut self, who: Who, persona: usize) -> Minted {
        if let Some(m) = self.tokens.get(&(who, persona)) {
            return m.clone();
        }
        let m = self.mint(who, PERSONAS[persona].1).await;
        self.tokens.insert((who, persona), m.clone());
        m
    }

    /// A request of alice's on orders-db, which waits for an approver.
    async fn pending(&self) -> String {
        let body = self
            .ok(
                "post",
                "/v1/requests",
                &self.full[&Who::Alice],
                Payload::Json(ask("orders-db", "read", Some("CHG-1"))),
            )
            .await;
        assert_eq!(body["state"], "pending", "{body}");
        id(&body)
    }

    /// A running grant of alice's on session-cache (on the walk's own Redis).
    async fn running_grant(&self) -> String {
        let body = self
            .ok(
                "post",
                "/v1/requests",
                &self.full[&Who::Alice],
                Payload::Json(ask("session-cache", "read", None)),
            )
            .await;
        let report = self.t.tick().await;
        assert_eq!(report.failures, 0, "{report:?}");
        let r = self
            .ok(
                "get",
                &format!("/v1/requests/{}", id(&body)),
                &self.full[&Who::Alice],
                Payload::Empty,
            )
            .await;
        assert_eq!(r["grant"]["state"], "active", "{r}");
        id(&r["grant"])
    }

    async fn fresh(&mut self, fresh: Fresh) -> String {
        self.n += 1;
        let n = self.n;
        match fresh {
            Fresh::PendingRequest => self.pending().await,
            Fresh::Checkout => {
                let grant = self.running_grant().await;
                let out = self
                    .ok(
                        "post",
                        "/v1/accounts/cache-ops/checkout",
                        &self.full[&Who::Alice],
                        Payload::Json(json!({"grant": grant})),
                    )
                    .await;
                out["checkout"].as_str().unwrap().to_owned()
            }
            Fresh::ScimUser => id(&self
                .ok(
                    "post",
                    "/scim/v2/Users",
                    &self.admin,
                    Payload::Scim(scim_user(&format!("gone{n}"), &format!("E5{n:03}"))),
                )
                .await),
            Fresh::ScimGroup => id(&self
                .ok(
                    "post",
                    "/scim/v2/Groups",
                    &self.admin,
                    Payload::Scim(json!({"displayName": format!("Gone {n}")})),
                )
                .await),
            Fresh::Token => String::new(),
        }
    }

    /// `authz.deny` events after `after` made with `token`.
    async fn denials(&self, after: i64, token: Uuid) -> Vec<warden_store::StoredAuditEvent> {
        self.t
            .state
            .store()
            .audit_events(after, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "authz.deny" && e.actor_token == Some(token))
            .collect()
    }

    async fn head(&self) -> i64 {
        i64::try_from(self.t.state.store().audit_head().await.unwrap().0).unwrap()
    }

    /// After a case: the vault unsealed again if it sealed it, with new shares if it
    /// rekeyed.
    async fn restore_vault(&mut self, answer: &Answer) {
        if answer.status.is_success() && answer.body.get("shares").is_some_and(Value::is_array) {
            self.shares = crate::vault::shares_of(&answer.body);
        }
        let status = self
            .send("get", "/v1/operator/status", None, &Payload::Empty)
            .await;
        if status.body["sealed"] == true {
            for s in self.shares.clone() {
                let a = self
                    .send(
                        "post",
                        "/v1/operator/unseal",
                        None,
                        &Payload::Json(json!({"share": s})),
                    )
                    .await;
                assert!(a.status.is_success(), "{a:?}");
            }
        }
    }
}

async fn setup() -> Matrix {
    let redis = PrivateRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ssh_ca");
    let port = redis.port;
    let (t, admin) = crate::directory::demo_app_with(|c| {
        c.ssh.ca_key_file = Some(ca);
        c.connections.insert(
            "session-cache".into(),
            crate::targets::connection(&format!("kind = \"redis\"\nport = {port}")),
        );
        // Every refusal of the walk is audited: the flood limit is set out of reach.
        c.audit.denials_per_minute = 1_000_000;
        c.audit.denials_per_minute_all = 1_000_000;
    })
    .await;
    let mut full = BTreeMap::new();
    for who in Who::ALL {
        full.insert(who, t.user_with(who.name(), &["admin"]).await);
    }
    t.user_with("peon", &[]).await;
    t.user_with("boss", &["admin"]).await;
    let mut m = Matrix {
        t,
        _redis: redis,
        _dir: dir,
        admin,
        full,
        tokens: BTreeMap::new(),
        shares: Vec::new(),
        n: 0,
    };
    // The vault, with an account on the walk's Redis.
    let init = m
        .ok(
            "post",
            "/v1/operator/init",
            &m.admin,
            Payload::Json(json!({"shares": 2, "threshold": 2})),
        )
        .await;
    m.shares = crate::vault::shares_of(&init);
    let vaulted = "Matrix-vaulted-password-1";
    let mut r = crate::targets::redis_as(port, "default", "").await.unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("matrix_ops")
        .arg("on")
        .arg(format!(">{vaulted}"))
        .arg("~matrix:*")
        .arg("+get")
        .query_async(&mut r)
        .await
        .unwrap();
    m.ok(
        "post",
        "/v1/accounts",
        &m.admin.clone(),
        Payload::Json(json!({"name": "cache-ops", "connection": "session-cache",
                             "username": "matrix_ops", "password": vaulted,
                             "resource": "session-cache", "roles": ["read"]})),
    )
    .await;
    m
}

async fn objects(m: &mut Matrix) -> Objects {
    let alice = m.full[&Who::Alice].clone();
    let pending = m.pending().await;
    let grant = m.running_grant().await;
    let checkout_grant = m.running_grant().await;
    // A bastion grant, approved by bob and (where two must) by sam, for SSH signing.
    let bastion = m
        .ok(
            "post",
            "/v1/requests",
            &alice,
            Payload::Json(ask("bastion", "login", Some("CHG-4"))),
        )
        .await;
    let mut state = bastion["state"].as_str().unwrap().to_owned();
    for who in [Who::Bob, Who::Sam] {
        if state != "pending" {
            break;
        }
        let decided = m
            .ok(
                "post",
                &format!("/v1/requests/{}/approve", id(&bastion)),
                &m.full[&who].clone(),
                Payload::Json(json!({"comment": "ticket checked"})),
            )
            .await;
        state = decided["state"].as_str().unwrap().to_owned();
    }
    m.t.tick().await;
    let glass = id(&m
        .ok(
            "post",
            "/v1/breakglass",
            &alice,
            Payload::Json(json!({"resource": "session-cache", "role": "read",
                                 "reason": "sessions failing for all EU users, INC-9000"})),
        )
        .await);
    let spare = m
        .ok(
            "post",
            "/v1/tokens",
            &alice,
            Payload::Json(json!({"name": "spare"})),
        )
        .await;
    let scim_user = id(&m
        .ok(
            "post",
            "/scim/v2/Users",
            &m.admin.clone(),
            Payload::Scim(scim_user("matrixer", "E6001")),
        )
        .await);
    let scim_group = id(&m
        .ok(
            "post",
            "/scim/v2/Groups",
            &m.admin.clone(),
            Payload::Scim(json!({"displayName": "Matrixers"})),
        )
        .await);
    let key = {
        let path = m._dir.path().join("id_ed25519");
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::read_to_string(path.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned()
    };
    Objects {
        pending,
        grant,
        checkout_grant,
        glass,
        spare_token: spare["info"]["id"].as_str().unwrap().to_owned(),
        scim_user,
        scim_group,
        public_key: key,
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    let mut m = setup().await;
    let o = objects(&mut m).await;
    // A disabled user's token.
    let ghost = m.t.user_with("ghost", &["admin"]).await;
    let disabled = m
        .send(
            "patch",
            "/v1/users/ghost",
            Some(&m.admin),
            &Payload::Json(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{disabled:?}");

    let mut failures = Vec::new();
    let mut cases = 0;
    let mut seen_ops = BTreeSet::new();
    for &(method, template) in ROUTES {
        if let Some((path, payload)) = public((method, template)) {
            for token in [None, Some(m.tokens_any().await)] {
                let a = m.send(method, &path, token.as_deref(), &payload).await;
                cases += 1;
                if a.status == StatusCode::UNAUTHORIZED || a.status == StatusCode::FORBIDDEN {
                    failures.push(format!("{method} {path} is public but answered {a:?}"));
                }
            }
            continue;
        }
        m.n += 1;
        let vs = variants((method, template), &o, m.n);
        assert!(!vs.is_empty(), "{method} {template}: no variant");
        for v in vs {
            seen_ops.extend(v.checks.iter().map(|(op, _)| *op));
            // Without a token, and with a disabled user's: 401.
            let path = v.path.replace("{fresh}", &Uuid::now_v7().to_string());
            for token in [None, Some(ghost.as_str())] {
                let a = m.send(method, &path, token, &v.payload).await;
                cases += 1;
                if a.status != StatusCode::UNAUTHORIZED {
                    failures.push(format!(
                        "{method} {path} without a valid token answered {}",
                        a.status
                    ));
                }
            }
            // Refusals first, so a case that passes cannot change what a refusal sees.
            let mut order: Vec<(usize, Expect)> = PERSONAS
                .iter()
                .enumerate()
                .map(|(i, (_, scopes))| {
                    let scopes = scope_set(scopes);
                    (i, expected(&scopes, &v.checks_for(&scopes)))
                })
                .collect();
            order.sort_by_key(|(_, e)| *e == Expect::Pass);
            for (persona, expect) in order {
                m.n += 1;
                let minted = match v.fresh {
                    Some(Fresh::Token) => m.mint(v.who, PERSONAS[persona].1).await,
                    _ => m.token(v.who, persona).await,
                };
                let made = match v.fresh {
                    // A check-out must exist for a refusal to be about it.
                    Some(f @ Fresh::Checkout) => m.fresh(f).await,
                    Some(f) if expect == Expect::Pass => m.fresh(f).await,
                    _ => Uuid::now_v7().to_string(),
                };
                let path = v.path.replace("{fresh}", &made);
                let payload = match &v.payload {
                    Payload::Json(j) => Payload::Json(
                        serde_json::from_str(&j.to_string().replace("{fresh}", &made)).unwrap(),
                    ),
                    p => p.clone(),
                };
                let before = m.head().await;
                let a = m.send(method, &path, Some(&minted.token), &payload).await;
                m.restore_vault(&a).await;
                cases += 1;
                let denials = m.denials(before, minted.id).await;
                let label = format!(
                    "{method} {path} by {} as {} ({:?})",
                    v.who.name(),
                    PERSONAS[persona].0,
                    v.checks_for(&scope_set(PERSONAS[persona].1))
                );
                let ok = match expect {
                    Expect::Pass => {
                        ![
                            StatusCode::UNAUTHORIZED,
                            StatusCode::FORBIDDEN,
                            StatusCode::NOT_FOUND,
                        ]
                        .contains(&a.status)
                            && denials.is_empty()
                    }
                    Expect::Refused => a.status == StatusCode::FORBIDDEN && denials.len() == 1,
                    Expect::Hidden => a.status == StatusCode::NOT_FOUND && denials.len() == 1,
                };
                if !ok {
                    failures.push(format!(
                        "{label}: expected {expect:?}, got {} {} with {} authz.deny event(s)",
                        a.status,
                        a.body
                            .get("detail")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        denials.len()
                    ));
                }
                for e in &denials {
                    if e.outcome != "failure"
                        || e.actor_user.as_deref() != Some(v.who.name())
                        || e.target.is_none()
                        || !e.details.contains_key("operation")
                    {
                        failures.push(format!("{label}: a malformed denial {e:?}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every operation of the table is reached by some route.
    let unreached: Vec<_> = Op::ALL
        .iter()
        .filter(|op| !seen_ops.contains(*op))
        .collect();
    assert!(
        unreached.is_empty(),
        "operations no route reaches: {unreached:?}"
    );
}

impl Matrix {
    /// Some valid token, for calling public routes with one.
    async fn tokens_any(&mut self) -> String {
        self.token(Who::Bob, 0).await.token
    }
}

/// The table as people read it, in docs/authorization.md: a change to the table shows as a
/// change to the document in review.
#[test]
fn the_documented_matrix_is_the_table() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/authorization.md"
    ))
    .unwrap();
    let table = authz::render_matrix();
    assert!(
        doc.contains(&table),
        "docs/authorization.md does not hold the current table; put this in it:\n\n{table}"
    );
}

// ----- the holes found from outside, each as reported -----

/// Hole 1: a delegated user manager (`users:write`, not `admin`) could disable an
/// administrator.
#[tokio::test]
async fn a_delegated_user_manager_cannot_disable_an_administrator() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let lead = t.user_with("lead", &["users:read", "users:write"]).await;
    t.user_with("root2", &["admin"]).await;
    let before = t.audit_actions().await.len();
    for (user, body) in [
        ("admin", json!({"disabled": true})),
        ("root2", json!({"disabled": true})),
        ("root2", json!({"scopes": ["users:read"]})),
    ] {
        let a = t
            .send(
                Method::PATCH,
                &format!("/v1/users/{user}"),
                Some(&lead),
                Some(body),
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{user}: {a:?}");
        assert_eq!(a.problem(), "insufficient-scope");
    }
    // The administrators still work.
    assert_eq!(
        t.get("/v1/auth/whoami", &admin).await.status,
        StatusCode::OK
    );
    let root2: UserInfo = t.get("/v1/users/root2", &admin).await.parse();
    assert!(!root2.disabled);
    assert_eq!(root2.scopes, ["admin"]);
    // Each attempt is audited as refused.
    let events = t.state.store().audit_events(0, 10_000).await.unwrap();
    let denied: Vec<_> = events
        .iter()
        .skip(before)
        .filter(|e| e.action == "authz.deny")
        .collect();
    assert_eq!(denied.len(), 3, "{events:?}");
    assert!(
        denied
            .iter()
            .all(|e| e.actor_user.as_deref() == Some("lead")
                && e.details.get("operation").map(String::as_str) == Some("user.update")
                && e.details.get("relation").map(String::as_str) == Some("other"))
    );
    // A user within the manager's scopes is theirs to disable.
    t.user_with("reader", &["users:read"]).await;
    let ok = t
        .send(
            Method::PATCH,
            "/v1/users/reader",
            Some(&lead),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
}

/// Hole 2: a user with `request` and `audit:read` could revoke anyone's grant: seeing a
/// grant was taken for the right to end it.
#[tokio::test]
async fn seeing_a_grant_is_not_the_right_to_end_it() {
    let (t, p) = crate::requests::people().await;
    let watcher = t.user_with("audrey", &["request", "audit:read"]).await;
    let filed = t
        .post("/v1/requests", &p.alice, ask("session-cache", "read", None))
        .await;
    assert_eq!(
        filed.parse::<RequestInfo>().state,
        "provisioning",
        "{filed:?}"
    );
    t.tick().await;
    let grants: Vec<GrantInfo> = t.get("/v1/grants", &p.alice).await.parse();
    let gid = grants[0].id;

    // The auditor sees it, and is told why she may not end it.
    assert_eq!(
        t.get(&format!("/v1/grants/{gid}"), &watcher).await.status,
        StatusCode::OK
    );
    let revoke = t
        .post(
            &format!("/v1/grants/{gid}/revoke"),
            &watcher,
            json!({"reason": "because I can"}),
        )
        .await;
    assert_eq!(revoke.status, StatusCode::FORBIDDEN, "{revoke:?}");
    assert_eq!(revoke.problem(), "insufficient-scope");
    assert!(revoke.detail().contains("not change it"), "{revoke:?}");
    // Another requester does not even see it.
    let hidden = t
        .post(
            &format!("/v1/grants/{gid}/revoke"),
            &p.dave,
            json!({"reason": "because"}),
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{hidden:?}");
    let still: GrantInfo = t.get(&format!("/v1/grants/{gid}"), &p.alice).await.parse();
    assert_eq!(still.state, "active", "{still:?}");
    assert!(still.end_reason.is_none());
}

/// Hole 6: refused attempts at privileged operations left no audit event; only failed
/// logins did.
#[tokio::test]
async fn refused_privileged_attempts_are_audited() {
    let (t, p) = crate::requests::people().await;
    let mallory = t.user_with("mallory", &["request", "policy:read"]).await;
    let own = t
        .post(
            "/v1/requests",
            &p.bob,
            ask("orders-db", "read", Some("CHG-2")),
        )
        .await;
    let own = own.parse::<RequestInfo>().id.to_string();
    let attempts: Vec<(&str, &str, Option<Value>, &str, &str)> = vec![
        (
            "post",
            "/v1/users",
            Some(json!({"username": "crony", "scopes": ["admin"]})),
            "user.create",
            "insufficient-scope",
        ),
        (
            "get",
            "/v1/audit/export",
            None,
            "audit.export",
            "insufficient-scope",
        ),
        (
            "post",
            "/v1/operator/seal",
            None,
            "vault.seal",
            "insufficient-scope",
        ),
        (
            "post",
            "/v1/policy/apply",
            Some(json!({"files": policy_files(), "comment": "mine now"})),
            "policy.apply",
            "insufficient-scope",
        ),
    ];
    for (method, path, body, op, problem) in attempts {
        let before = t.state.store().audit_head().await.unwrap().0;
        let a = t
            .send(
                method.to_uppercase().parse().unwrap(),
                path,
                Some(&mallory),
                body,
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {a:?}");
        assert_eq!(a.problem(), problem);
        let events = t
            .state
            .store()
            .audit_events(i64::try_from(before).unwrap(), 100)
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{path}: {events:?}");
        let e = &events[0];
        assert_eq!(e.action, "authz.deny");
        assert_eq!(e.outcome, "failure");
        assert_eq!(e.actor_user.as_deref(), Some("mallory"));
        assert_eq!(e.source.as_deref(), Some("198.51.100.10"));
        assert_eq!(
            e.details.get("operation").map(String::as_str),
            Some(op),
            "{e:?}"
        );
        assert_eq!(e.reason.as_deref(), a.body["detail"].as_str());
    }
    // Approving one's own request.
    let before = t.state.store().audit_head().await.unwrap().0;
    let a = t
        .post(
            &format!("/v1/requests/{own}/approve"),
            &p.bob,
            json!({"comment": "fine by me"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{a:?}");
    let events = t
        .state
        .store()
        .audit_events(i64::try_from(before).unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].action, "authz.deny");
    assert_eq!(
        events[0].target.as_deref(),
        Some(format!("request:{own}").as_str())
    );
    assert_eq!(
        events[0].details.get("operation").map(String::as_str),
        Some("request.decide")
    );
    assert_eq!(
        events[0].details.get("relation").map(String::as_str),
        Some("own")
    );
}

/// A flood of refusals by one caller writes a bounded number of events; the rest are
/// counted, and the request itself is refused every time.
#[tokio::test]
async fn a_flood_of_refusals_does_not_swamp_the_log() {
    let t = TestApp::with(warden_store::Backend::Sqlite, |c| {
        c.audit.denials_per_minute = 3;
        c.audit.denials_per_minute_all = 100;
    })
    .await;
    let mallory = t.user_with("mallory", &["request"]).await;
    let other = t.user_with("trudy", &["request"]).await;
    for _ in 0..50 {
        assert_eq!(
            t.get("/v1/users", &mallory).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        t.get("/v1/users", &other).await.status,
        StatusCode::FORBIDDEN
    );
    let denials: Vec<String> = t
        .state
        .store()
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "authz.deny")
        .map(|e| e.actor_user.unwrap_or_default())
        .collect();
    assert_eq!(denials, ["mallory", "mallory", "mallory", "trudy"]);
}

#[test]
fn personas_name_real_scopes() {
    for (name, scopes) in PERSONAS {
        assert!(ScopeSet::parse(scopes.iter().copied()).is_ok(), "{name}");
    }
    assert!(PERSONAS.iter().any(|(_, s)| *s == [Scope::Admin.as_str()]));
}
