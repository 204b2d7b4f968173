//! HR sync, joiner/mover/leaver, policy as code and access explanations, through the API.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::collections::BTreeMap;

use serde_json::{Value, json};
use warden_app::demo;
use warden_proto::directory::{
    ApplyPolicy, EntitlementInfo, Explanation, IdentityDetail, PersonChange, PolicyApplied,
    PolicyChange, PolicyFile, PolicyPlan, PolicyVersionInfo, RestoreRequest, SyncReport,
};

use crate::support::{Answer, PEER, TestApp, json_of};

/// A plan of the policy directory `files`.
fn plan_of(files: &[PolicyFile]) -> Value {
    json_of(&PolicyChange {
        files: files.to_vec(),
        comment: None,
    })
}

/// An apply of the policy directory `files`, for `comment`.
fn apply_of(files: &[PolicyFile], comment: &str) -> Value {
    json_of(&ApplyPolicy {
        files: files.to_vec(),
        comment: comment.to_owned(),
    })
}

/// A restore of a policy version, for `comment`.
fn restore(comment: &str) -> Value {
    json_of(&RestoreRequest {
        comment: comment.to_owned(),
    })
}

/// Counts of a sync report, as `(lifecycle, count)` pairs.
fn counts<const N: usize>(pairs: [(&str, usize); N]) -> BTreeMap<String, usize> {
    pairs.into_iter().map(|(k, n)| (k.to_owned(), n)).collect()
}

const HEADER: &str = "employee_id,username,email,name,department,job_function,manager,location,status,type,start_date,end_date\n";

/// The demo population with one line replaced (by employee id) or dropped.
fn population(replace: &[(&str, Option<&str>)]) -> String {
    let mut out = String::new();
    for line in demo::HR_CSV.lines() {
        let id = line.split(',').next().unwrap_or_default();
        match replace.iter().find(|(r, _)| *r == id) {
            Some((_, Some(new))) => out.push_str(new),
            Some((_, None)) => continue,
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

pub(crate) async fn sync(t: &TestApp, token: &str, body: &str, query: &str) -> Answer {
    let req = Request::post(format!("/v1/hr/sync?{query}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/csv")
        .body(Body::from(body.to_owned()))
        .unwrap();
    t.raw(req, PEER).await
}

pub(crate) async fn apply_demo_policy(t: &TestApp, admin: &str) -> Answer {
    let files: Vec<PolicyFile> = demo::policy_files()
        .into_iter()
        .map(|f| PolicyFile {
            path: f.path,
            text: f.text,
        })
        .collect();
    let answer = t
        .post(
            "/v1/policy/apply",
            admin,
            json_of(&ApplyPolicy {
                files,
                comment: "demo policy".to_owned(),
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer
}

/// An app with the demo policy applied and the demo population synced.
pub(crate) async fn demo_app() -> (TestApp, String) {
    demo_app_with(|_| {}).await
}

/// The demo app with its configuration changed by `tweak`.
pub(crate) async fn demo_app_with(
    tweak: impl FnOnce(&mut warden_app::config::Config),
) -> (TestApp, String) {
    let t = TestApp::with(warden_store::Backend::Sqlite, tweak).await;
    let admin = t.admin().await;
    apply_demo_policy(&t, &admin).await;
    let answer = sync(&t, &admin, demo::HR_CSV, "").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    (t, admin)
}

async fn identity(t: &TestApp, admin: &str, who: &str) -> IdentityDetail {
    let answer = t.get(&format!("/v1/identities/{who}"), admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.parse()
}

fn entitlements(list: &[EntitlementInfo]) -> Vec<String> {
    list.iter()
        .map(|e| format!("{}/{}", e.resource, e.role))
        .collect()
}

#[tokio::test]
async fn a_csv_sync_makes_joiners_with_birthright_and_queued_provisioning() {
    let (t, admin) = demo_app().await;
    let alice = identity(&t, &admin, "alice").await;
    assert_eq!(alice.identity.department.as_deref(), Some("Platform"));
    assert_eq!(alice.policy_groups, ["engineering", "sre"]);
    assert_eq!(entitlements(&alice.birthright), ["wiki-db/read"]);
    assert!(entitlements(&alice.eligible).contains(&"payments-db/admin".to_owned()));
    // Vendors are not engineering: no birthright.
    assert_eq!(
        entitlements(&identity(&t, &admin, "vince").await.birthright),
        Vec::<String>::new()
    );

    let jobs = t.state.store().access_jobs(None).await.unwrap();
    let provisioned: Vec<String> = jobs
        .iter()
        .map(|j| format!("{} {}/{}", j.action, j.resource, j.role))
        .collect();
    // Carol, alice, bob (Platform, Engineering) and dave, paula (Payments).
    assert_eq!(
        provisioned
            .iter()
            .filter(|j| *j == "provision wiki-db/read")
            .count(),
        5,
        "{provisioned:?}"
    );
    assert!(
        jobs.iter()
            .all(|j| j.state == "pending" && j.reason.starts_with("hr-sync sha256:"))
    );

    let actions = t.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "hr.joiner").count(), 8);
    assert_eq!(actions.last().map(String::as_str), Some("hr.sync"));
}

#[tokio::test]
async fn a_json_sync_reads_the_same_population() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let json = r#"[
      {"employee_id": "E1", "username": "Jo@Example.com", "email": "jo@example.com", "name": "Jo", "department": "Platform", "type": "contractor"},
      {"employee_id": "E2", "username": "kim", "email": "kim@example.com", "name": "Kim", "manager": "E1", "end_date": "2030-01-01"}
    ]"#;
    let answer = sync(&t, &admin, json, "format=json").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.parse::<SyncReport>().counts, counts([("joiner", 2)]));
    let jo = identity(&t, &admin, "jo@example.com").await;
    assert_eq!(jo.identity.kind, "contractor");
    assert_eq!(
        identity(&t, &admin, "E2").await.identity.manager.as_deref(),
        Some("E1")
    );
}

#[tokio::test]
async fn every_kind_of_bad_file_is_refused_whole_with_line_and_field() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let cases = [
        (
            format!("{HEADER}E1,ann,ann@example.com,Ann,,,,,,,,\nE2,bo,not-mail,Bo,,,,,,,,\n"),
            "line 3: email",
        ),
        (
            format!("{HEADER}E1,ann,ann@example.com,Ann,,,E9,,,,,\n"),
            "line 2: manager",
        ),
        (
            format!(
                "{HEADER}E1,ann,ann@example.com,Ann,,,E2,,,,,\nE2,bo,bo@example.com,Bo,,,E1,,,,,\n"
            ),
            "managers form a cycle",
        ),
        (
            format!(
                "{HEADER}E1,ann,ann@example.com,Ann,,,,,,,,\nE1,bo,bo@example.com,Bo,,,,,,,,\n"
            ),
            "line 3: employee_id",
        ),
        (
            format!(
                "{HEADER}E1,ann,ann@example.com,Ann,,,,,,,,\nE2,ann,bo@example.com,Bo,,,,,,,,\n"
            ),
            "line 3: username",
        ),
        (
            "employee_id,username,email,name,shoe_size\nE1,ann,ann@example.com,Ann,9\n".to_owned(),
            "line 1: shoe_size",
        ),
        (
            format!("{HEADER}E1,ann,ann@example.com,Ann,,,,,retired,,,\n"),
            "line 2: status",
        ),
    ];
    for (file, expected) in cases {
        let answer = sync(&t, &admin, &file, "").await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{expected}: {answer:?}"
        );
        let problem = answer.details();
        assert!(
            problem
                .detail
                .as_deref()
                .unwrap()
                .contains("nothing was changed")
        );
        let errors: Vec<String> = problem
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected} in {errors:?}"
        );
    }
    // Several problems in one file are all listed.
    let many = format!(
        "{HEADER}E1,ann,bad,Ann,,,,,,,,\nE2,bo,bo@example.com,Bo,,,,,,,,\nE2,cy,cy@example.com,Cy,,,,,,,,\nE3,di,di@example.com,Di,,,E7,,,,,\n"
    );
    let answer = sync(&t, &admin, &many, "").await;
    assert!(answer.details().errors.len() >= 3, "{answer:?}");
    assert!(
        t.state.store().list_identities().await.unwrap().is_empty(),
        "nothing stored"
    );
    assert!(!t.audit_actions().await.iter().any(|a| a.starts_with("hr.")));
}

#[tokio::test]
async fn a_dry_run_reports_joiners_movers_and_leavers_and_changes_nothing() {
    let (t, admin) = demo_app().await;
    let jobs_before = t.state.store().access_jobs(None).await.unwrap().len();
    let events_before = t.audit_actions().await.len();
    let file = population(&[
        (
            "E1001",
            Some(
                "E1001,alice,alice@example.com,Alice Andersen,Payments,Developer,E1006,Berlin,active,employee,2022-06-01,",
            ),
        ),
        ("E1005", None),
    ]);
    let file = format!("{file}E1007,erin,erin@example.com,Erin,Platform,SRE,E1002,,,,,\n");
    let answer = sync(&t, &admin, &file, "dry_run=true").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let report: SyncReport = answer.parse();
    assert!(report.dry_run);
    assert_eq!(
        report.counts,
        counts([("joiner", 1), ("leaver", 1), ("mover", 1), ("unchanged", 6)])
    );
    let by_user = |name: &str| -> &PersonChange {
        report.changes.iter().find(|c| c.username == name).unwrap()
    };
    assert_eq!(by_user("alice").lifecycle, "mover");
    assert!(
        by_user("alice")
            .attributes
            .iter()
            .any(|a| a == "department: Platform -> Payments")
    );
    assert!(
        by_user("alice")
            .eligibility_removed
            .iter()
            .any(|e| e == "payments-db/admin")
    );
    assert_eq!(by_user("dave").lifecycle, "leaver");
    assert_eq!(by_user("dave").birthright_removed, ["wiki-db/read"]);
    assert_eq!(by_user("erin").birthright_added, ["wiki-db/read"]);

    assert_eq!(
        identity(&t, &admin, "alice")
            .await
            .identity
            .department
            .as_deref(),
        Some("Platform"),
        "unchanged"
    );
    assert_eq!(
        t.state.store().access_jobs(None).await.unwrap().len(),
        jobs_before
    );
    assert_eq!(t.audit_actions().await.len(), events_before);
}

#[tokio::test]
async fn a_mover_loses_what_the_new_job_does_not_give() {
    let (t, admin) = demo_app().await;
    let file = population(&[(
        "E1001",
        Some(
            "E1001,alice,alice@example.com,Alice Andersen,Payments,Developer,E1006,Berlin,active,employee,2022-06-01,",
        ),
    )]);
    let answer = sync(&t, &admin, &file, "").await;
    assert_eq!(
        answer.parse::<SyncReport>().counts.get("mover"),
        Some(&1),
        "{answer:?}"
    );
    let alice = identity(&t, &admin, "alice").await;
    assert_eq!(alice.policy_groups, ["engineering", "payments-developers"]);
    assert!(!entitlements(&alice.eligible).contains(&"payments-db/admin".to_owned()));
    assert_eq!(
        entitlements(&alice.birthright),
        ["wiki-db/read"],
        "still engineering"
    );
    let events = t.state.store().audit_events(0, 1000).await.unwrap();
    let mover = events.iter().find(|e| e.action == "hr.mover").unwrap();
    assert_eq!(mover.target.as_deref(), Some("identity:E1001"));
    assert!(mover.details["attributes"].contains("department: Platform -> Payments"));
    assert!(mover.details["eligibility_removed"].contains("payments-db/admin"));
}

#[tokio::test]
async fn a_leaver_loses_everything_at_once_and_revocations_are_queued_by_the_same_sync() {
    let (t, admin) = demo_app().await;
    // Alice has a Warden account with a live token.
    let alice_token = t.user_with("alice", &["request"]).await;
    assert_eq!(
        t.get("/v1/auth/whoami", &alice_token).await.status,
        StatusCode::OK
    );
    let alice_id = t
        .state
        .store()
        .find_identities(warden_store::IdentityFilter::Username("alice"))
        .await
        .unwrap()[0]
        .id;

    let file = population(&[(
        "E1001",
        Some(
            "E1001,alice,alice@example.com,Alice Andersen,Platform,SRE,E1002,Berlin,terminated,employee,2022-06-01,2026-05-31",
        ),
    )]);
    let answer = sync(&t, &admin, &file, "").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let report: SyncReport = answer.parse();
    assert_eq!(report.counts.get("leaver"), Some(&1));
    assert_eq!(report.accounts_disabled, 1);
    assert!(report.tokens_revoked >= 1);

    // Immediately after the sync: no access left in the store...
    let store = t.state.store();
    assert!(
        store
            .birthright_by_identity()
            .await
            .unwrap()
            .get(&alice_id)
            .is_none_or(Vec::is_empty)
    );
    let detail = identity(&t, &admin, "alice").await;
    assert_eq!(detail.identity.status, "terminated");
    assert!(detail.eligible.is_empty(), "{detail:?}");
    // ...the revocation is queued for the connectors...
    let jobs = store.access_jobs(Some(alice_id)).await.unwrap();
    let last = jobs.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.resource.as_str(),
            last.role.as_str(),
            last.state.as_str()
        ),
        ("deprovision", "wiki-db", "read", "pending")
    );
    assert!(
        last.reason.contains("leaver") && last.reason.contains("status: active -> terminated"),
        "{}",
        last.reason
    );
    // ...the account and its tokens are dead, and the leaver is audited with its cause.
    assert_eq!(
        t.get("/v1/auth/whoami", &alice_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let events = store.audit_events(0, 1000).await.unwrap();
    let leaver = events.iter().find(|e| e.action == "hr.leaver").unwrap();
    assert!(leaver.details["attributes"].contains("status: active -> terminated"));
    assert!(leaver.details["cause"].starts_with("hr-sync sha256:"));
    assert_eq!(leaver.details["birthright_removed"], "wiki-db/read");
}

#[tokio::test]
async fn missing_from_the_file_or_past_the_last_day_is_leaving_too() {
    let (t, admin) = demo_app().await;
    // Dave is not in the file any more.
    let answer = sync(&t, &admin, &population(&[("E1005", None)]), "").await;
    assert_eq!(
        answer.parse::<SyncReport>().counts.get("leaver"),
        Some(&1),
        "{answer:?}"
    );
    assert_eq!(
        identity(&t, &admin, "dave").await.identity.status,
        "terminated"
    );
    // Vince's contract ends 2026-12-31; the clock passes it and the same file syncs again.
    t.clock.set(time::macros::datetime!(2027-01-02 08:00 UTC));
    let admin = t.admin().await; // the old session expired with the year
    let answer = sync(&t, &admin, &population(&[("E1005", None)]), "").await;
    let report: SyncReport = answer.parse();
    let leavers: Vec<&str> = report
        .changes
        .iter()
        .filter(|c| c.lifecycle == "leaver")
        .map(|c| c.username.as_str())
        .collect();
    assert_eq!(leavers, ["vince"], "{answer:?}");
}

#[tokio::test]
async fn a_last_day_passing_without_any_sync_makes_a_leaver() {
    let (t, admin) = demo_app().await;
    let vince = t
        .state
        .store()
        .find_identities(warden_store::IdentityFilter::Username("vince"))
        .await
        .unwrap()[0]
        .id;
    assert_eq!(
        warden_app::service::directory::sweep_leavers(&t.state)
            .await
            .unwrap(),
        0,
        "still under contract"
    );
    t.clock.set(time::macros::datetime!(2027-01-01 00:00 UTC));
    assert_eq!(
        warden_app::service::directory::sweep_leavers(&t.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        warden_app::service::directory::sweep_leavers(&t.state)
            .await
            .unwrap(),
        0,
        "processed once"
    );
    let admin_again = t.admin().await;
    let detail = identity(&t, &admin_again, "vince").await;
    assert!(detail.eligible.is_empty(), "{detail:?}");
    let events = t.state.store().audit_events(0, 1000).await.unwrap();
    let leaver = events.iter().find(|e| e.action == "hr.leaver").unwrap();
    assert_eq!(leaver.target.as_deref(), Some("identity:V2001"));
    assert_eq!(leaver.details["cause"], "end date passed");
    let _ = (admin, vince);
}

#[tokio::test]
async fn a_file_that_would_make_most_people_leave_is_refused_unless_asked_for() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let full: String = (1..=10)
        .map(|i| format!("E{i},u{i},u{i}@example.com,U {i},,,,,,,,\n"))
        .collect();
    assert_eq!(
        sync(&t, &admin, &format!("{HEADER}{full}"), "")
            .await
            .status,
        StatusCode::OK
    );
    let truncated: String = (1..=3)
        .map(|i| format!("E{i},u{i},u{i}@example.com,U {i},,,,,,,,\n"))
        .collect();
    let refused = sync(&t, &admin, &format!("{HEADER}{truncated}"), "").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{refused:?}");
    assert!(refused.detail().contains("7 of 10"));
    assert_eq!(identity(&t, &admin, "u9").await.identity.status, "active");
    let forced = sync(
        &t,
        &admin,
        &format!("{HEADER}{truncated}"),
        "allow_mass_leave=true",
    )
    .await;
    assert_eq!(forced.parse::<SyncReport>().counts.get("leaver"), Some(&7));
}

#[tokio::test]
async fn a_file_cannot_take_over_an_identity_managed_by_scim() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let scim = t.user_with("idp", &["hr:sync"]).await;
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "zoe", "displayName": "Zoe", "emails": [{"value": "zoe@example.com", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E77"}
    });
    let req = Request::post("/scim/v2/Users")
        .header("authorization", format!("Bearer {scim}"))
        .header("content-type", "application/scim+json")
        .body(Body::from(user.to_string()))
        .unwrap();
    assert_eq!(t.raw(req, PEER).await.status, StatusCode::CREATED);
    let answer = sync(
        &t,
        &admin,
        &format!(
            "{HEADER}E77,zed,zed@example.com,Zed,,,,,,,,\nE78,zoe,zoe2@example.com,Zoe 2,,,,,,,,\n"
        ),
        "",
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{answer:?}"
    );
    let errors = answer.details().errors;
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["line 2: employee_id", "line 3: username"]);
    assert_eq!(identity(&t, &admin, "zoe").await.identity.source, "scim");
}

#[tokio::test]
async fn a_leaver_named_like_the_initial_administrator_cannot_disable_it() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    // HR has a person whose user name is "admin"; they leave.
    let joined = sync(
        &t,
        &admin,
        &format!("{HEADER}E9,admin,admin@example.com,Ada Min,,,,,,,,\n"),
        "",
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{joined:?}");
    let left = sync(
        &t,
        &admin,
        &format!("{HEADER}E9,admin,admin@example.com,Ada Min,,,,,terminated,,,\n"),
        "",
    )
    .await;
    let report: SyncReport = left.parse();
    assert_eq!(report.counts.get("leaver"), Some(&1), "{left:?}");
    assert_eq!(report.accounts_disabled, 0);
    // The local break-glass administrator is not the directory's to disable.
    assert_eq!(
        t.get("/v1/auth/whoami", &admin).await.status,
        StatusCode::OK
    );
    t.login("admin", &t.admin_password.clone()).await;
}

#[tokio::test]
async fn hr_sync_needs_its_scope() {
    let t = TestApp::new().await;
    let alice = t.user_with("alice", &["request"]).await;
    let answer = sync(&t, &alice, demo::HR_CSV, "").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.problem(), "insufficient-scope");
}

#[tokio::test]
async fn policy_errors_name_file_and_line_and_paths_cannot_escape() {
    let t = TestApp::new().await;
    let admin = t.admin().await;
    let broken = "[[resource]]\nname = \"db\"\nkind = \"postgres\"\nconnection = \"db\"\nenvironment = \"prod\"\ntier = 7\nowner = \"group:nobody\"\n";
    let answer = t
        .post(
            "/v1/policy/plan",
            &admin,
            json!({"files": [{"path": "resources.toml", "text": broken}]}),
        )
        .await;
    // The request fits the document; the policy in it does not compile.
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{answer:?}"
    );
    let errors = answer.details().errors;
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(
        fields.contains(&"resources.toml:6"),
        "tier on line 6: {answer:?}"
    );
    assert!(
        fields.iter().all(|f| f.starts_with("resources.toml:")),
        "{fields:?}"
    );

    for path in [
        "../etc/warden.toml",
        "/abs.toml",
        "a/../../b.toml",
        "ok\u{0}.toml",
    ] {
        let answer = t
            .post(
                "/v1/policy/apply",
                &admin,
                json!({"files": [{"path": path, "text": ""}], "comment": "x"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path:?}");
        assert_eq!(answer.details().errors[0].field, "files.0.path", "{path:?}");
    }
    // Paths of the documented form, given twice: the request fits, the directory cannot
    // be.
    let twice = t
        .post(
            "/v1/policy/plan",
            &admin,
            json!({"files": [{"path": "a.toml", "text": ""}, {"path": "a.toml", "text": ""}]}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY, "{twice:?}");
    // A path's length is counted in characters, as the document and the message say: 105
    // of them in 205 bytes is a path.
    let long = format!("{}.toml", "é".repeat(100));
    let answer = t
        .post(
            "/v1/policy/plan",
            &admin,
            json!({"files": [{"path": long, "text": ""}]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(t.state.store().latest_policy().await.unwrap().is_none());
}

#[tokio::test]
async fn policy_applies_are_versioned_audited_and_restorable() {
    let (t, admin) = demo_app().await;
    let live = |answer: Answer| answer.parse::<Option<PolicyVersionInfo>>().unwrap().version;
    assert_eq!(live(t.get("/v1/policy", &admin).await), 1);

    // Version 2 drops the wiki birthright: plan first, then apply.
    let files: Vec<PolicyFile> = demo::policy_files()
        .into_iter()
        .map(|f| {
            let text = if f.path == "access.toml" {
                without_birthright(&f.text)
            } else {
                f.text
            };
            PolicyFile { path: f.path, text }
        })
        .collect();
    let plan = t.post("/v1/policy/plan", &admin, plan_of(&files)).await;
    assert_eq!(plan.status, StatusCode::OK, "{plan:?}");
    let planned: PolicyPlan = plan.parse();
    assert_eq!(planned.live_version, Some(1));
    let removed: Vec<&str> = planned
        .changes
        .iter()
        .filter(|c| c.birthright_removed == ["wiki-db/read"])
        .map(|c| c.username.as_str())
        .collect();
    assert_eq!(removed.len(), 5, "{plan:?}");
    assert_eq!(
        live(t.get("/v1/policy", &admin).await),
        1,
        "a plan changes nothing"
    );

    // Without the comment the type requires: written out.
    let no_comment = t
        .post("/v1/policy/apply", &admin, json!({"files": files}))
        .await;
    assert_eq!(no_comment.status, StatusCode::BAD_REQUEST);
    let applied = t
        .post(
            "/v1/policy/apply",
            &admin,
            apply_of(&files, "wiki is public now"),
        )
        .await;
    assert_eq!(applied.parse::<PolicyApplied>().version, 2, "{applied:?}");
    assert_eq!(
        entitlements(&identity(&t, &admin, "alice").await.birthright),
        Vec::<String>::new()
    );
    let deprovisions = t
        .state
        .store()
        .access_jobs(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.action == "deprovision" && j.reason.contains("policy apply"))
        .count();
    assert_eq!(deprovisions, 5);

    let restored = t
        .post(
            "/v1/policy/versions/1/restore",
            &admin,
            restore("wiki back"),
        )
        .await;
    assert_eq!(restored.parse::<PolicyApplied>().version, 3, "{restored:?}");
    assert_eq!(
        entitlements(&identity(&t, &admin, "alice").await.birthright),
        ["wiki-db/read"]
    );
    let history: Vec<PolicyVersionInfo> = t.get("/v1/policy/versions", &admin).await.parse();
    let versions: Vec<i64> = history.iter().map(|v| v.version).collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(history[0].digest, history[2].digest);
    let events = t.state.store().audit_events(0, 1000).await.unwrap();
    let applies: Vec<_> = events
        .iter()
        .filter(|e| e.action == "policy.apply")
        .collect();
    assert_eq!(applies.len(), 3);
    assert_eq!(applies[2].details["restored_from"], "1");
    assert_eq!(applies[1].reason.as_deref(), Some("wiki is public now"));

    // Only policy:write may apply.
    let reader = t.user_with("rhea", &["policy:read"]).await;
    assert_eq!(
        t.post("/v1/policy/plan", &reader, plan_of(&files))
            .await
            .status,
        StatusCode::OK
    );
    let denied = t
        .post("/v1/policy/apply", &reader, apply_of(&files, "x"))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

fn without_birthright(text: &str) -> String {
    // Drop the [[birthright]] table(s): from its header to the next table header.
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.trim_start().starts_with("[[") {
            skipping = line.trim() == "[[birthright]]";
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn a_policy_applied_through_one_replica_comes_into_force_in_another() {
    let (t, _admin) = demo_app().await;
    // A second server on the same database, started before anything changes.
    let store = warden_store::Store::open(&t.db.url, &Default::default())
        .await
        .unwrap();
    let other = warden_app::AppState::new(
        store,
        std::sync::Arc::new(t.clock.clone()),
        Default::default(),
    );
    assert_eq!(
        warden_app::service::policy::refresh(&other).await.unwrap(),
        Some(1)
    );
    assert_eq!(other.policy().version, Some(1));
    assert_eq!(
        warden_app::service::policy::refresh(&other).await.unwrap(),
        None,
        "nothing newer"
    );
    let admin = t.admin().await;
    let restored = t
        .post("/v1/policy/versions/1/restore", &admin, restore("again"))
        .await;
    assert_eq!(restored.parse::<PolicyApplied>().version, 2, "{restored:?}");
    assert_eq!(
        warden_app::service::policy::refresh(&other).await.unwrap(),
        Some(2)
    );
    assert!(other.policy().policy.resource("payments-db").is_some());
}

#[tokio::test]
async fn explain_says_which_rule_and_why_and_is_private() {
    let (t, admin) = demo_app().await;
    let explain = |who: &str, extra: &str| {
        format!("/v1/access/explain?identity={who}&resource=payments-db&role=read{extra}")
    };
    let yes = t
        .get(&explain("alice", "&ticket=CHG-1&duration=1h"), &admin)
        .await;
    assert_eq!(yes.status, StatusCode::OK, "{yes:?}");
    let yes: Explanation = yes.parse();
    assert!(yes.eligible);
    assert_eq!(yes.rule.as_deref(), Some("sre-prod-data-critical"));
    assert!(yes.location.as_deref().unwrap().starts_with("access.toml:"));
    assert!(yes.route.contains("tier 0"), "{yes:?}");

    let no: Explanation = t.get(&explain("dave", ""), &admin).await.parse();
    assert!(!no.eligible);
    let reasons: Vec<String> = no
        .rules
        .iter()
        .flat_map(|r| r.reasons.iter().cloned())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("not in group sre")),
        "{reasons:?}"
    );

    let too_long = t
        .get(&explain("alice", "&ticket=CHG-1&duration=9h"), &admin)
        .await;
    assert!(!too_long.parse::<Explanation>().eligible);

    // Anyone may explain their own access; others' needs identities:read, and without it
    // someone else is as unknown as nobody.
    let bob = t.user_with("bob", &["request"]).await;
    assert_eq!(
        t.get(&explain("bob", ""), &bob).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&explain("alice", ""), &bob).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = t.get(&explain("alice", "&duration=forever"), &admin).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // A duration of the documented form, longer than any grant may be.
    let long = t.get(&explain("alice", "&duration=8d"), &admin).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY, "{long:?}");
    assert_eq!(
        t.get(&explain("nobody", ""), &admin).await.status,
        StatusCode::NOT_FOUND
    );
    // On leave: never eligible.
    let file = population(&[(
        "E1001",
        Some(
            "E1001,alice,alice@example.com,Alice Andersen,Platform,SRE,E1002,Berlin,leave,employee,2022-06-01,",
        ),
    )]);
    sync(&t, &admin, &file, "").await;
    assert!(
        !t.get(&explain("alice", "&ticket=CHG-1"), &admin)
            .await
            .parse::<Explanation>()
            .eligible
    );
}
