//! The credential vault end to end: unsealing with k of n shares (and refusing fewer,
//! mistyped, foreign and forged ones), a restart that comes back sealed and serves only
//! health and unseal, key rotation with old secrets still readable and re-sealed, and
//! vaulted accounts on the real PostgreSQL, MariaDB and Redis: check-out under a grant,
//! check-in (explicit and at the grant's end) followed by a rotation whose new password
//! logs in while the old one stops working, a target that refuses the change, a crash
//! between applying and committing settled at start, a connection whose admin password
//! is vaulted, and a scan of the database, a PostgreSQL dump and the logs for every
//! secret used.

use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Digest as _;
use time::{Duration, OffsetDateTime};
use warden_app::config::Config;
use warden_app::service::{accounts, rotation};
use warden_proto::grants::RevokeGrant;
use warden_proto::vault::{
    AccountInfo, AddAccount, CheckedOut, CheckoutRequest, InitVault, InitializedVault, VaultStatus,
};
use warden_store::{Backend, SecretVersion};

use crate::support::{Answer, TestApp, json_of};
use crate::targets::{PgFixture, connection, env, granted, maria, pg, redis_as, tag};

// ----- helpers -----

async fn status(t: &TestApp) -> VaultStatus {
    let a = t.send(Method::GET, "/v1/operator/status", None, None).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.parse()
}

async fn unseal(t: &TestApp, share: &str) -> Answer {
    t.send(
        Method::POST,
        "/v1/operator/unseal",
        None,
        Some(json!({ "share": share })),
    )
    .await
}

async fn init(t: &TestApp, admin: &str, shares: u8, threshold: u8) -> Vec<String> {
    let a = t
        .post(
            "/v1/operator/init",
            admin,
            json_of(&InitVault { shares, threshold }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    shares_of(&a.body)
}

/// The shares in an init or rekey answer.
pub(crate) fn shares_of(body: &Value) -> Vec<String> {
    serde_json::from_value::<InitializedVault>(body.clone())
        .unwrap()
        .shares
        .iter()
        .map(|s| s.0.expose_secret().to_owned())
        .collect()
}

/// An account `name` on `connection`, logging in as `username` with `password`, with
/// every other setting left to its default.
fn new_account(name: &str, connection: &str, username: &str, password: &str) -> AddAccount {
    AddAccount {
        name: name.to_owned(),
        connection: connection.to_owned(),
        username: username.to_owned(),
        password: password.into(),
        resource: None,
        roles: Vec::new(),
        groups: Vec::new(),
        checkout_max: None,
        exclusive: false,
        rotate_every: None,
        password_length: None,
        symbols: None,
        rotate_now: false,
    }
}

/// [`new_account`] as the JSON body sent.
fn account_body(name: &str, connection: &str, username: &str, password: &str) -> Value {
    json_of(&new_account(name, connection, username, password))
}

/// A check-out under `grant` (or none), sent as the proto type describes it.
fn checkout(grant: Option<uuid::Uuid>) -> Value {
    json_of(&CheckoutRequest {
        grant,
        exclusive: false,
    })
}

/// The share with one character of its data changed and its checksum made to match: it
/// parses, and recombines to a wrong key.
fn forged(share: &str) -> String {
    let (body, _) = share.rsplit_once('-').unwrap();
    let mut chars: Vec<char> = body.chars().collect();
    let at = chars.len() - 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let body: String = chars.into_iter().collect();
    let sum = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    format!("{body}-{}", &sum[..8])
}

fn key_file(c: &mut Config) {
    c.vault.unseal_key_file = Some(c.storage.data_dir.join("vault_unseal.key"));
}

async fn add(t: &TestApp, admin: &str, body: Value) -> Answer {
    t.post("/v1/accounts", admin, body).await
}

async fn account(t: &TestApp, admin: &str, name: &str) -> AccountInfo {
    let a = t.get(&format!("/v1/accounts/{name}"), admin).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.parse()
}

async fn current(t: &TestApp, name: &str) -> String {
    accounts::current_password(&t.state, name)
        .await
        .unwrap()
        .unwrap()
        .expose_secret()
        .to_owned()
}

async fn tick(t: &TestApp) -> rotation::Report {
    rotation::tick(&t.state).await.unwrap()
}

fn audit_has(events: &[warden_store::StoredAuditEvent], action: &str, outcome: &str) -> usize {
    events
        .iter()
        .filter(|e| e.action == action && e.outcome == outcome)
        .count()
}

async fn events(t: &TestApp) -> Vec<warden_store::StoredAuditEvent> {
    t.state.store().audit_events(0, 100_000).await.unwrap()
}

// ----- seal and unseal -----

/// An unseal request is checked as the document describes it whatever the vault's state:
/// schemathesis found an open vault answering 200 to a malformed share and to a body with
/// neither a share nor a reset.
#[tokio::test]
async fn an_unseal_request_is_checked_even_when_the_vault_is_open() {
    let t = TestApp::with(Backend::Sqlite, key_file).await;
    assert!(!status(&t).await.sealed);
    let post = |body: Value| t.send(Method::POST, "/v1/operator/unseal", None, Some(body));
    for body in [
        json!({"share": "not a share"}),
        json!({"share": "", "reset": true}),
        json!({}),
        json!({"reset": false}),
    ] {
        let answer = post(body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {answer:?}");
        assert_eq!(answer.details().errors[0].field, "share", "{body}");
    }
    let reset = post(json!({"reset": true})).await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    assert!(!reset.parse::<VaultStatus>().sealed);
}

#[tokio::test]
async fn a_vault_restarts_sealed_and_unseals_only_with_enough_right_shares() {
    let t = TestApp::with(Backend::Sqlite, |c| {
        c.auth.login_attempts_per_source_per_minute = 1_000;
    })
    .await;
    let admin = t.admin().await;
    assert!(!status(&t).await.initialized);
    let carol = t.user_with("carol", &["request"]).await;
    let refused = t
        .post(
            "/v1/operator/init",
            &carol,
            json_of(&InitVault {
                shares: 5,
                threshold: 3,
            }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let bad = t
        .post(
            "/v1/operator/init",
            &admin,
            json_of(&InitVault {
                shares: 3,
                threshold: 4,
            }),
        )
        .await;
    // Each number is within 1 to 16; together they make no split.
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");

    let shares = init(&t, &admin, 5, 3).await;
    assert_eq!(shares.len(), 5);
    assert!(shares.iter().all(|s| s.starts_with("wvs1-")), "{shares:?}");
    let again = t
        .post(
            "/v1/operator/init",
            &admin,
            json_of(&InitVault {
                shares: 5,
                threshold: 3,
            }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    assert!(!status(&t).await.sealed);

    // A restart comes back sealed: only health, metrics and unseal are served.
    let t = t.restarted().await;
    let s = status(&t).await;
    assert!(s.sealed, "{s:?}");
    assert_eq!(s.threshold, 3);
    assert_eq!(s.progress, 0);
    for path in [
        "/v1/grants",
        "/v1/audit/events",
        "/v1/accounts",
        "/v1/auth/whoami",
    ] {
        let a = t.get(path, &admin).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {a:?}");
        assert_eq!(a.problem(), "sealed", "{path}");
        assert!(a.detail().contains("sealed"), "{a:?}");
    }
    let login = t
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": t.admin_password})),
        )
        .await;
    assert_eq!(login.problem(), "sealed");
    let health = t.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = t.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.problem(), "sealed");

    // One share is progress; the same share twice, a mistyped one and one of another
    // vault are refused and change nothing.
    let one = unseal(&t, &shares[0]).await;
    assert_eq!(one.status, StatusCode::OK, "{one:?}");
    let one: VaultStatus = one.parse();
    assert_eq!(one.progress, 1);
    assert!(one.sealed);
    let twice = unseal(&t, &shares[0]).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY, "{twice:?}");
    let mut typo = shares[1].clone();
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    let mistyped = unseal(&t, &typo).await;
    assert_eq!(
        mistyped.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{mistyped:?}"
    );
    assert!(mistyped.detail().contains("mistyped"), "{mistyped:?}");
    let other_key = warden_vault::Key::generate().unwrap();
    let foreign = warden_vault::split(&other_key, 3, 5, "0123456789abcdef").unwrap();
    let foreign = unseal(&t, foreign[0].expose_secret()).await;
    assert_eq!(
        foreign.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{foreign:?}"
    );
    assert!(
        foreign.detail().contains("not of this vault"),
        "{foreign:?}"
    );
    assert_eq!(status(&t).await.progress, 1);

    // A forged share (right form and checksum, wrong data) makes the combination fail:
    // the vault stays sealed and the shares given are forgotten.
    assert_eq!(
        unseal(&t, &forged(&shares[1]))
            .await
            .parse::<VaultStatus>()
            .progress,
        2
    );
    let wrong = unseal(&t, &shares[2]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong:?}");
    assert!(
        wrong.detail().contains("does not open this vault"),
        "{wrong:?}"
    );
    let s = status(&t).await;
    assert_eq!((s.sealed, s.progress), (true, 0));

    // Fewer than the threshold do not unseal; the threshold does.
    assert_eq!(
        unseal(&t, &shares[3]).await.parse::<VaultStatus>().progress,
        1
    );
    assert_eq!(
        unseal(&t, &shares[1]).await.parse::<VaultStatus>().progress,
        2
    );
    assert_eq!(t.get("/v1/accounts", &admin).await.problem(), "sealed");
    let done = unseal(&t, &shares[4]).await;
    assert_eq!(done.status, StatusCode::OK, "{done:?}");
    assert!(!done.parse::<VaultStatus>().sealed);
    assert_eq!(t.get("/v1/accounts", &admin).await.status, StatusCode::OK);

    // Every completed attempt is audited, failed or not; no share is in the log.
    let log = events(&t).await;
    assert_eq!(audit_has(&log, "vault.init", "success"), 1);
    assert_eq!(audit_has(&log, "vault.unseal", "failure"), 1);
    assert_eq!(audit_has(&log, "vault.unseal", "success"), 1);
    let text = format!("{log:?}");
    for s in &shares {
        let data = share_data(s);
        assert!(!text.contains(data), "a share is in the audit log");
    }

    // An administrator seals it again.
    let sealed = t.post("/v1/operator/seal", &admin, json!({})).await;
    assert_eq!(sealed.status, StatusCode::OK, "{sealed:?}");
    assert!(sealed.parse::<VaultStatus>().sealed);
    assert_eq!(t.get("/v1/accounts", &admin).await.problem(), "sealed");
    for s in &shares[..3] {
        unseal(&t, s).await;
    }
    assert!(!status(&t).await.sealed);
}

#[tokio::test]
async fn a_rekey_gives_new_shares_and_the_old_ones_no_longer_unseal() {
    let tag = tag();
    let p1 = format!("Rekey-{tag}-pass");
    let target = Target::make("redis", &tag, &p1).await;
    let t = TestApp::starting_at(Backend::Sqlite, OffsetDateTime::now_utc(), |c| {
        c.connections
            .insert("cache".to_owned(), connection("kind = \"redis\""));
        c.auth.login_attempts_per_source_per_minute = 1_000;
    })
    .await;
    let admin = t.admin().await;
    let old = init(&t, &admin, 3, 2).await;
    let first_id = status(&t).await.vault_id;
    let added = add(
        &t,
        &admin,
        account_body("app", "cache", &target.username(), &p1),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    let rekeyed = t
        .post(
            "/v1/operator/rekey",
            &admin,
            json_of(&InitVault {
                shares: 5,
                threshold: 3,
            }),
        )
        .await;
    assert_eq!(rekeyed.status, StatusCode::OK, "{rekeyed:?}");
    let new = shares_of(&rekeyed.body);
    assert_eq!(new.len(), 5);
    assert!(new.iter().all(|n| !old.contains(n)));
    let s = status(&t).await;
    assert_eq!((s.threshold, s.shares), (3, 5));

    let rekeyed: InitializedVault = rekeyed.parse();
    assert_eq!(s.vault_id.as_deref(), Some(rekeyed.vault_id.as_str()));
    assert_ne!(s.vault_id, first_id, "a rekey gives the vault a new id");
    assert!(!old[0].contains(&rekeyed.vault_id));
    let t = t.restarted().await;
    // The new split carries a new vault id: an old share is refused as it is given.
    let refused = unseal(&t, &old[0]).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    assert!(
        refused.detail().contains("not of this vault"),
        "{refused:?}"
    );
    for n in &new[2..] {
        assert_eq!(unseal(&t, n).await.status, StatusCode::OK);
    }
    assert!(!status(&t).await.sealed);
    assert_eq!(current(&t, "app").await, p1, "secrets survive the rekey");
    let log = events(&t).await;
    assert_eq!(audit_has(&log, "vault.rekey", "success"), 1);
    let text = format!("{log:?}");
    for s in old.iter().chain(&new) {
        assert!(!text.contains(share_data(s)), "a share is in the audit log");
    }
}

// ----- accounts on the real targets -----

/// A target account with a password, made on the shared server and removed on drop.
pub(crate) enum Target {
    Postgres(String),
    Mariadb(String),
    Redis(String),
}

impl Target {
    pub(crate) async fn make(kind: &str, tag: &str, password: &str) -> Self {
        let name = format!("{tag}_app");
        match kind {
            "postgres" => {
                pg("postgres", "")
                    .await
                    .unwrap()
                    .batch_execute(&format!(
                        "CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE warden_scram"
                    ))
                    .await
                    .unwrap();
                Self::Postgres(name)
            }
            "mariadb" => {
                use mysql_async::prelude::Queryable;
                let mut root = maria("root", "").await.unwrap();
                root.query_drop(format!(
                    "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"
                ))
                .await
                .unwrap();
                Self::Mariadb(name)
            }
            _ => {
                let mut c = redis_as(6379, "default", "").await.unwrap_or_else(|_| {
                    unreachable!("the default Redis user logs in without a password")
                });
                let _: () = redis::cmd("ACL")
                    .arg("SETUSER")
                    .arg(&name)
                    .arg("on")
                    .arg(format!(">{password}"))
                    .arg(format!("~{tag}:*"))
                    .arg("+@read")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                Self::Redis(name)
            }
        }
    }

    /// The user name the vault knows it by.
    pub(crate) fn username(&self) -> String {
        match self {
            Self::Postgres(n) | Self::Redis(n) => n.clone(),
            Self::Mariadb(n) => format!("{n}@%"),
        }
    }

    async fn logs_in(&self, password: &str) -> bool {
        match self {
            Self::Postgres(n) => pg(n, password).await.is_ok(),
            Self::Mariadb(n) => maria(n, password).await.is_ok(),
            // The connection authenticates (AUTH) as it opens.
            Self::Redis(n) => redis_as(6379, n, password).await.is_ok(),
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let sql = match self {
            Self::Postgres(n) => format!("DROP ROLE IF EXISTS {n}"),
            Self::Mariadb(n) => format!("DROP USER IF EXISTS '{n}'@'%'"),
            Self::Redis(n) => n.clone(),
        };
        let kind = match self {
            Self::Postgres(_) => 0,
            Self::Mariadb(_) => 1,
            Self::Redis(_) => 2,
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                match kind {
                    0 => {
                        if let Ok(c) = pg("postgres", "").await {
                            let _ = c.batch_execute(&sql).await;
                        }
                    }
                    1 => {
                        use mysql_async::prelude::Queryable;
                        if let Ok(mut c) = maria("root", "").await {
                            let _ = c.query_drop(sql).await;
                        }
                    }
                    _ => {
                        if let Ok(mut c) = redis_as(6379, "default", "").await {
                            let _: redis::RedisResult<()> = redis::cmd("ACL")
                                .arg("DELUSER")
                                .arg(&sql)
                                .query_async(&mut c)
                                .await;
                        }
                    }
                }
            });
        })
        .join();
    }
}

/// Add, check out under a grant, check in, rotate; check out again and let the grant's
/// end check it in and rotate again. The passwords are checked by logging in.
async fn round_trip(kind: &str, connection: &str, resource: &str) {
    let tag = tag();
    let _fixture = if kind == "postgres" {
        Some(PgFixture::new(&tag).await)
    } else {
        None
    };
    let e = env(&tag, key_file).await;
    let p1 = format!("First-{tag}-pass");
    let target = Target::make(kind, &tag, &p1).await;
    assert!(target.logs_in(&p1).await, "the fixture's password logs in");
    assert!(
        !target.logs_in("not-the-password").await,
        "passwords are checked"
    );

    // Adding checks the password; a wrong one is refused.
    let mut body = AddAccount {
        resource: Some(resource.to_owned()),
        roles: vec!["read".to_owned()],
        rotate_every: Some("30d".to_owned()),
        ..new_account(
            "app",
            connection,
            &target.username(),
            "wrong-password-given",
        )
    };
    let wrong = add(&e.t, &e.admin, json_of(&body)).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong:?}");
    body.password = p1.as_str().into();
    let added = add(&e.t, &e.admin, json_of(&body)).await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    assert!(
        !String::from_utf8_lossy(&added.raw).contains(&p1),
        "metadata carries no secret"
    );
    assert_eq!(added.parse::<AccountInfo>().version, 1);
    let listed = e.t.get("/v1/accounts", &e.admin).await;
    assert!(!String::from_utf8_lossy(&listed.raw).contains(&p1));
    assert_eq!(
        e.t.get("/v1/accounts", &e.alice).await.status,
        StatusCode::FORBIDDEN
    );

    // Check-out needs the caller's own running grant on the account's resource.
    let g = granted(&e, resource, "read").await;
    let gid = g.id;
    let path = "/v1/accounts/app/checkout";
    let not_theirs = e.t.post(path, &e.bob, checkout(Some(gid))).await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND, "{not_theirs:?}");
    let out = e.t.post(path, &e.alice, checkout(Some(gid))).await;
    assert_eq!(out.status, StatusCode::OK, "{out:?}");
    let out: CheckedOut = out.parse();
    assert_eq!(out.password.0.expose_secret(), p1);
    assert_eq!(out.version, 1);
    // Returned once: not again under the same grant while it is out.
    let twice = e.t.post(path, &e.alice, checkout(Some(gid))).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{twice:?}");
    // Checked out, the account is not rotated.
    let early =
        e.t.post("/v1/accounts/app/rotate", &e.admin, json!({}))
            .await;
    assert_eq!(early.status, StatusCode::ACCEPTED, "{early:?}");
    assert_eq!(tick(&e.t).await.rotated, 0);
    assert!(target.logs_in(&p1).await);
    // The list shows who holds it.
    let listed: Vec<AccountInfo> = e.t.get("/v1/accounts", &e.admin).await.parse();
    let row = listed.iter().find(|a| a.name == "app").unwrap();
    let held = &row.checkouts;
    assert_eq!(held.len(), 1, "{listed:?}");
    assert_eq!(held[0].username, "alice", "{listed:?}");

    // Check-in rotates: the new password logs in, the old one no longer does.
    let back =
        e.t.post("/v1/accounts/app/checkin", &e.alice, json!({}))
            .await;
    assert_eq!(back.status, StatusCode::OK, "{back:?}");
    let r = tick(&e.t).await;
    assert_eq!(r.rotated, 1, "{r:?}");
    let a = account(&e.t, &e.admin, "app").await;
    assert_eq!(a.version, 2, "{a:?}");
    assert_eq!(a.rotation_failures, 0);
    let p2 = current(&e.t, "app").await;
    assert_ne!(p2, p1);
    assert!(
        p2.len() >= 24,
        "generated passwords are 24 characters or more"
    );
    assert!(target.logs_in(&p2).await, "the new password logs in");
    assert!(
        !target.logs_in(&p1).await,
        "the old password no longer does"
    );

    // Checked out again, the grant's end checks it in and rotates.
    let out: CheckedOut = e.t.post(path, &e.alice, checkout(Some(gid))).await.parse();
    assert_eq!(out.password.0.expose_secret(), p2, "{out:?}");
    let revoked =
        e.t.post(
            &format!("/v1/grants/{gid}/revoke"),
            &e.alice,
            json_of(&RevokeGrant {
                reason: "done".to_owned(),
            }),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    e.t.tick().await;
    let r = tick(&e.t).await;
    assert_eq!((r.checked_in, r.rotated), (1, 1), "{r:?}");
    let p3 = current(&e.t, "app").await;
    assert!(target.logs_in(&p3).await);
    assert!(!target.logs_in(&p2).await);

    let log = events(&e.t).await;
    for action in ["vault.account_add", "vault.rotate_request"] {
        assert_eq!(audit_has(&log, action, "success"), 1, "{action}");
    }
    assert_eq!(audit_has(&log, "vault.checkout", "success"), 2);
    assert_eq!(audit_has(&log, "vault.checkin", "success"), 2);
    assert_eq!(audit_has(&log, "vault.rotate", "success"), 2);
    let ended = log
        .iter()
        .find(|e| e.action == "vault.checkin" && e.actor_user.is_none())
        .unwrap();
    assert_eq!(ended.reason.as_deref(), Some("the grant ended"));
    let text = format!("{log:?}");
    for p in [&p1, &p2, &p3] {
        assert!(!text.contains(p.as_str()), "a password is in the audit log");
    }
}

#[tokio::test]
async fn a_postgres_account_is_checked_out_under_a_grant_and_rotated_after_use() {
    round_trip("postgres", "orders-primary", "orders-db").await;
}

#[tokio::test]
async fn a_mariadb_account_is_checked_out_under_a_grant_and_rotated_after_use() {
    round_trip("mariadb", "analytics", "analytics-db").await;
}

#[tokio::test]
async fn a_redis_account_is_checked_out_under_a_grant_and_rotated_after_use() {
    round_trip("redis", "session-cache", "session-cache").await;
}

#[tokio::test]
async fn a_policy_group_checks_out_without_a_grant_for_a_while() {
    let tag = tag();
    let e = env(&tag, key_file).await;
    let p1 = format!("Group-{tag}-pass");
    let target = Target::make("redis", &tag, &p1).await;
    let mut body = AddAccount {
        groups: vec!["no-such-group".to_owned()],
        checkout_max: Some("30m".to_owned()),
        ..new_account("cache-breakglass", "session-cache", &target.username(), &p1)
    };
    let unknown = add(&e.t, &e.admin, json_of(&body)).await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{unknown:?}"
    );
    body.groups = vec!["sre-leads".to_owned()];
    let added = add(&e.t, &e.admin, json_of(&body)).await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    assert_eq!(added.parse::<AccountInfo>().checkout_max_secs, 1800);

    // Alice is an SRE but not a lead: no grant, no group, no password.
    let path = "/v1/accounts/cache-breakglass/checkout";
    let refused = e.t.post(path, &e.alice, checkout(None)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(refused.detail().contains("sre-leads"), "{refused:?}");
    // Bob leads the SREs: policy lets him take it for 30 minutes, once.
    let out = e.t.post(path, &e.bob, checkout(None)).await;
    assert_eq!(out.status, StatusCode::OK, "{out:?}");
    let out: CheckedOut = out.parse();
    assert_eq!(out.password.0.expose_secret(), p1);
    assert_eq!(out.allowed_by, "group:sre-leads");
    assert_eq!(out.grant, None);
    let twice = e.t.post(path, &e.bob, checkout(None)).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{twice:?}");
    assert_eq!(tick(&e.t).await.rotated, 0, "not rotated while it is out");

    // When the time runs out Warden checks it in and rotates the password.
    e.t.clock.advance(Duration::minutes(31));
    let r = tick(&e.t).await;
    assert_eq!((r.checked_in, r.rotated), (1, 1), "{r:?}");
    let p2 = current(&e.t, "cache-breakglass").await;
    assert!(target.logs_in(&p2).await);
    assert!(!target.logs_in(&p1).await);
    let log = events(&e.t).await;
    let taken = log.iter().find(|e| e.action == "vault.checkout").unwrap();
    assert_eq!(
        taken.details.get("allowed_by").map(String::as_str),
        Some("group:sre-leads")
    );
    assert_eq!(taken.actor_user.as_deref(), Some("bob"));
    let back = log.iter().find(|e| e.action == "vault.checkin").unwrap();
    assert_eq!(back.reason.as_deref(), Some("the check-out time ran out"));
}

/// A vault on `connection` (a PostgreSQL one unless given), opened with a key file.
async fn vault_app(connections: &[(&str, &str)], tweak: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::starting_at(Backend::Sqlite, OffsetDateTime::now_utc(), |c| {
        key_file(c);
        for (name, text) in connections {
            c.connections.insert((*name).to_owned(), connection(text));
        }
        tweak(c);
    })
    .await
}

#[tokio::test]
async fn a_target_that_refuses_the_change_keeps_the_old_password_and_alerts_after_three() {
    let tag = tag();
    let p1 = format!("Super-{tag}-pass");
    let admin_role = format!("{tag}_adm");
    let su = format!("{tag}_su");
    let root = pg("postgres", "").await.unwrap();
    root.batch_execute(&format!(
        "CREATE ROLE {admin_role} LOGIN CREATEROLE; \
         CREATE ROLE {su} SUPERUSER LOGIN PASSWORD '{p1}' IN ROLE warden_scram"
    ))
    .await
    .unwrap();
    let limited = format!("kind = \"postgres\"\nuser = \"{admin_role}\"\ndatabase = \"test\"");
    let t = vault_app(&[("pg-limited", &limited)], |c| {
        c.vault.retry_base_secs = 60;
        c.vault.retry_max_secs = 600;
        c.notifications.channel = vec![warden_app::config::ChannelConfig {
            name: "security".to_owned(),
            kind: warden_app::config::ChannelKind::Webhook,
            url: Some("http://127.0.0.1:9/hook".to_owned()),
            secret: None,
            to: Vec::new(),
            events: vec!["vault.rotation_failing".to_owned()],
            allow_internal: true,
            people: false,
        }];
    })
    .await;
    let admin = t.admin().await;
    let added = add(&t, &admin, account_body("su", "pg-limited", &su, &p1)).await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    assert_eq!(
        t.post("/v1/accounts/su/rotate", &admin, json!({}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let su_logs_in = |p: String| {
        let su = su.clone();
        async move { pg(&su, &p).await.is_ok() }
    };
    let mut waits = Vec::new();
    for attempt in 1..=3u32 {
        let r = tick(&t).await;
        assert_eq!((r.rotated, r.failed), (0, 1), "attempt {attempt}: {r:?}");
        let a = account(&t, &admin, "su").await;
        assert_eq!(a.version, 1, "{a:?}");
        assert_eq!(a.rotation_failures, attempt);
        assert!(!a.rotation_pending, "the refused version is dropped");
        assert!(
            a.last_error.as_deref().unwrap().contains("refused"),
            "{a:?}"
        );
        // Not retried before its time, then retried with backoff.
        assert_eq!(tick(&t).await.failed, 0);
        let next = a.next_rotation_at;
        waits.push(next - warden_core::Clock::now(&t.clock));
        t.clock.set(next);
        assert!(su_logs_in(p1.clone()).await, "the old password still works");
        assert_eq!(current(&t, "su").await, p1);
    }
    assert!(
        waits[1] > waits[0] && waits[2] > waits[1],
        "backoff: {waits:?}"
    );
    // The third failure in a row alerts security (once), and retries go on.
    let alerts: Vec<_> = t
        .state
        .store()
        .outbox_messages()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.message.event == "vault.rotation_failing")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].message.payload.contains("\"attempts\":3"),
        "{alerts:?}"
    );
    assert!(!alerts[0].message.payload.contains(&p1));
    assert_eq!(tick(&t).await.failed, 1);
    let log = events(&t).await;
    assert_eq!(audit_has(&log, "vault.rotate", "failure"), 4);
    drop(t);
    root.batch_execute(&format!("DROP ROLE {su}; DROP ROLE {admin_role}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rotation_cut_between_the_target_and_the_commit_is_settled_at_start() {
    let tag = tag();
    let p1 = format!("Before-{tag}-crash");
    let target = Target::make("postgres", &tag, &p1).await;
    let pg_conn = "kind = \"postgres\"\nuser = \"postgres\"\ndatabase = \"test\"";
    let t = vault_app(&[("pg", pg_conn)], |_| {}).await;
    let admin = t.admin().await;
    let added = add(
        &t,
        &admin,
        account_body("app", "pg", &target.username(), &p1),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");

    // A rotation falls due, its version 2 is staged and applied on the target, and the
    // server stops before committing it.
    let stage = |t: &TestApp, version: u64, password: String| {
        let state = t.state.clone();
        async move {
            let a = state.store().vault_account("app").await.unwrap().unwrap();
            let now = state.clock().now();
            state
                .store()
                .vault_schedule_rotation(a.id, now, &[])
                .await
                .unwrap();
            let ring = state.vault().keyring().unwrap();
            let (key_id, envelope) = ring
                .seal_secret(a.id, version, password.as_bytes())
                .unwrap();
            state
                .store()
                .vault_stage(&SecretVersion {
                    account_id: a.id,
                    version,
                    key_id,
                    envelope,
                    state: "pending".to_owned(),
                    created_at: now,
                    committed_at: None,
                })
                .await
                .unwrap();
        }
    };
    let p2 = format!("After-{tag}-apply");
    stage(&t, 2, p2.clone()).await;
    pg("postgres", "")
        .await
        .unwrap()
        .batch_execute(&format!("ALTER ROLE {} PASSWORD '{p2}'", target.username()))
        .await
        .unwrap();
    assert!(account(&t, &admin, "app").await.rotation_pending);
    let listed: Vec<AccountInfo> = t.get("/v1/accounts", &admin).await.parse();
    assert!(
        listed.iter().any(|a| a.name == "app" && a.rotation_pending),
        "{listed:?}"
    );
    let t = t.restarted().await;
    let r = tick(&t).await;
    assert_eq!(r.recovered, 1, "{r:?}");
    let a = account(&t, &admin, "app").await;
    assert_eq!(a.version, 2, "{a:?}");
    assert!(!a.rotation_pending);
    assert_eq!(current(&t, "app").await, p2);
    assert!(target.logs_in(&p2).await);
    assert!(!target.logs_in(&p1).await);

    // A version staged but never applied (the stop came first) is dropped: the password
    // the target has stays current.
    stage(&t, 3, format!("Never-{tag}-applied")).await;
    let t = t.restarted().await;
    let r = tick(&t).await;
    assert_eq!(r.recovered, 1, "{r:?}");
    let a = account(&t, &admin, "app").await;
    assert_eq!(a.version, 2, "{a:?}");
    assert!(!a.rotation_pending);
    assert_eq!(current(&t, "app").await, p2);
    assert!(target.logs_in(&p2).await);

    let log = events(&t).await;
    assert_eq!(audit_has(&log, "vault.recover", "success"), 2);
}

#[tokio::test]
async fn key_rotation_keeps_old_secrets_readable_and_reseals_them() {
    let tag = tag();
    let p1 = format!("Keyed-{tag}-pass");
    let target = Target::make("redis", &tag, &p1).await;
    let t = vault_app(&[("cache", "kind = \"redis\"")], |_| {}).await;
    let admin = t.admin().await;
    let added = add(
        &t,
        &admin,
        account_body("cache-app", "cache", &target.username(), &p1),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    let a = t
        .state
        .store()
        .vault_account("cache-app")
        .await
        .unwrap()
        .unwrap();
    let sealed_by = |t: &TestApp| {
        let store = t.state.store().clone();
        async move { store.vault_secret(a.id, 1).await.unwrap().unwrap().key_id }
    };
    assert_eq!(sealed_by(&t).await, 1);

    let rotated = t.post("/v1/operator/rotate", &admin, json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    let rotated: VaultStatus = rotated.parse();
    assert_eq!(rotated.root_version, 2);
    assert_eq!(rotated.active_data_key, 2);
    // Still sealed by the old data key, and readable.
    assert_eq!(sealed_by(&t).await, 1);
    assert_eq!(current(&t, "cache-app").await, p1);
    // Another replica, unsealed before the rotation, reads what the new data key seals:
    // it reloads the rotated keys with the unseal key it holds.
    let other = warden_app::AppState::new(
        warden_store::Store::open(&t.db.url, &Default::default())
            .await
            .unwrap(),
        Arc::new(t.clock.clone()),
        t.state.config().clone(),
    );
    let p_new = format!("Keyed-{tag}-later");
    let later = Target::make("redis", &format!("{tag}l"), &p_new).await;
    warden_app::service::vault::open(&other).await.unwrap();
    let rotated_again = t.post("/v1/operator/rotate", &admin, json!({})).await;
    assert_eq!(
        rotated_again.parse::<VaultStatus>().active_data_key,
        3,
        "{rotated_again:?}"
    );
    let added = add(
        &t,
        &admin,
        account_body("later", "cache", &later.username(), &p_new),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    let read = accounts::current_password(&other, "later")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.expose_secret(), p_new);
    // After a restart too: the old data key is re-wrapped by the new root key.
    let t = t.restarted().await;
    assert_eq!(current(&t, "cache-app").await, p1);
    // The worker re-seals it under the new data key.
    let r = tick(&t).await;
    assert_eq!(r.rewrapped, 1, "{r:?}");
    assert_eq!(sealed_by(&t).await, 3);
    assert_eq!(current(&t, "cache-app").await, p1);
    assert!(target.logs_in(&p1).await);
    let log = events(&t).await;
    assert_eq!(audit_has(&log, "vault.rotate_keys", "success"), 2);
}

#[tokio::test]
async fn a_secret_moved_to_another_account_or_altered_does_not_open() {
    let tag = tag();
    let p1 = format!("Bound-{tag}-one");
    let p2 = format!("Bound-{tag}-two");
    let one = Target::make("redis", &tag, &p1).await;
    let tag2 = format!("{tag}b");
    let two = Target::make("redis", &tag2, &p2).await;
    let t = vault_app(&[("cache", "kind = \"redis\"")], |_| {}).await;
    let admin = t.admin().await;
    for (name, target, p) in [("one", &one, &p1), ("two", &two, &p2)] {
        let added = add(
            &t,
            &admin,
            account_body(name, "cache", &target.username(), p),
        )
        .await;
        assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    }
    let store = t.state.store();
    let a1 = store.vault_account("one").await.unwrap().unwrap();
    let a2 = store.vault_account("two").await.unwrap().unwrap();
    let e1 = store.vault_secret(a1.id, 1).await.unwrap().unwrap();
    let ring = t.state.vault().keyring().unwrap();
    // The envelope names its account and version in its associated data.
    assert!(ring.open_password(a2.id, 1, &e1.envelope).is_err());
    assert!(ring.open_password(a1.id, 2, &e1.envelope).is_err());
    let mut altered = e1.envelope.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    assert!(ring.open_password(a1.id, 1, &altered).is_err());
    assert_eq!(
        ring.open_password(a1.id, 1, &e1.envelope)
            .unwrap()
            .expose_secret(),
        p1
    );
}

#[tokio::test]
async fn a_connection_takes_its_admin_password_from_the_vault_and_rotates_it() {
    let tag = tag();
    let pa = format!("Admin-{tag}-pass");
    let adm = format!("{tag}_adm");
    {
        let mut c = redis_as(6379, "default", "").await.unwrap();
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&adm)
            .arg("on")
            .arg(format!(">{pa}"))
            .arg("~*")
            .arg("&*")
            .arg("+@all")
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let p1 = format!("App-{tag}-pass");
    let app = Target::make("redis", &tag, &p1).await;
    let conn = format!("kind = \"redis\"\nuser = \"{adm}\"\npassword_vault = \"cache-admin\"");
    let t = vault_app(&[("cache", &conn)], |_| {}).await;
    let admin = t.admin().await;

    // The admin's own password goes in the vault first, then an account it manages.
    for (name, user, p) in [
        ("cache-admin", adm.clone(), &pa),
        ("app", app.username(), &p1),
    ] {
        let added = add(&t, &admin, account_body(name, "cache", &user, p)).await;
        assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    }
    // Rotating the app's password goes through the admin login the vault holds.
    t.post("/v1/accounts/app/rotate", &admin, json!({})).await;
    assert_eq!(tick(&t).await.rotated, 1);
    let p2 = current(&t, "app").await;
    assert!(app.logs_in(&p2).await && !app.logs_in(&p1).await);
    // The admin's own password rotates too; the connector then logs in with the new one.
    t.post("/v1/accounts/cache-admin/rotate", &admin, json!({}))
        .await;
    assert_eq!(tick(&t).await.rotated, 1);
    let pa2 = current(&t, "cache-admin").await;
    assert_ne!(pa2, pa);
    assert!(redis_as(6379, &adm, &pa2).await.is_ok());
    assert!(redis_as(6379, &adm, &pa).await.is_err());
    let t = t.restarted().await;
    t.post("/v1/accounts/app/rotate", &admin, json!({})).await;
    assert_eq!(tick(&t).await.rotated, 1, "the new admin password is used");
    let p3 = current(&t, "app").await;
    assert!(app.logs_in(&p3).await);
    // Sealed, the vault gives no password: the connector says so and nothing rotates.
    t.state.vault().seal();
    let source = warden_app::vault::VaultPasswords {
        store: t.state.store().clone(),
        vault: Arc::new(warden_app::vault::Vault::default()),
    };
    let err = warden_connectors::PasswordSource::password(&source, "cache-admin")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sealed"), "{err}");
    let mut c = redis_as(6379, "default", "").await.unwrap();
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&adm)
        .query_async(&mut c)
        .await
        .unwrap();
}

// ----- no secret at rest or in logs -----

/// Log lines written while the test runs, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs the vault's life on `backend`: init with shares, a restart and unseal, an account
/// added, rotated twice around a key rotation. Returns the app and every secret used.
async fn vault_life(backend: Backend, tag: &str) -> (TestApp, Vec<String>, Target) {
    let p1 = format!("Scan-{tag}-pass");
    let target = Target::make("redis", tag, &p1).await;
    let t = TestApp::starting_at(backend, OffsetDateTime::now_utc(), |c| {
        c.connections
            .insert("cache".to_owned(), connection("kind = \"redis\""));
        c.auth.login_attempts_per_source_per_minute = 1_000;
    })
    .await;
    let admin = t.admin().await;
    let shares = init(&t, &admin, 3, 2).await;
    let t = t.restarted().await;
    for s in &shares[1..] {
        assert_eq!(unseal(&t, s).await.status, StatusCode::OK);
    }
    let added = add(
        &t,
        &admin,
        json_of(&AddAccount {
            rotate_now: true,
            ..new_account("scan", "cache", &target.username(), &p1)
        }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    let mut secrets = vec![p1.clone()];
    assert_eq!(tick(&t).await.rotated, 1);
    secrets.push(current(&t, "scan").await);
    t.post("/v1/operator/rotate", &admin, json!({})).await;
    t.post("/v1/accounts/scan/rotate", &admin, json!({})).await;
    t.clock.advance(Duration::seconds(1));
    let r = tick(&t).await;
    assert_eq!(r.rotated, 1, "{r:?}");
    secrets.push(current(&t, "scan").await);
    for s in &shares {
        secrets.push(s.clone());
        secrets.push(share_data(s).to_owned());
    }
    secrets.push(t.admin_password.clone());
    (t, secrets, target)
}

fn assert_absent(haystack: &[u8], secrets: &[String], place: &str) {
    for s in secrets {
        assert!(
            !haystack.windows(s.len()).any(|w| w == s.as_bytes()),
            "a secret ({} characters) is in {place}",
            s.len()
        );
    }
}

#[tokio::test]
async fn no_secret_is_in_the_database_a_postgres_dump_or_the_logs() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let tag = tag();

    // SQLite: the database file and its write-ahead log.
    let (t, secrets, _target) = vault_life(Backend::Sqlite, &tag).await;
    let path = t.db.url.strip_prefix("sqlite://").unwrap();
    let path = path.split('?').next().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    for extra in ["-wal", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{path}{extra}")) {
            bytes.extend(more);
        }
    }
    assert!(bytes.len() > 10_000, "the database was read");
    // The envelopes are there, just not what they seal.
    assert!(
        bytes.windows(3).any(|w| w == b"WV\x01"),
        "the vault's envelopes are in the file"
    );
    assert_absent(&bytes, &secrets, "the SQLite database");
    let mut all = secrets.clone();

    // PostgreSQL: a dump of Warden's database.
    let tag2 = format!("{tag}p");
    let (t, secrets, _target2) = vault_life(Backend::Postgres, &tag2).await;
    let dump = std::process::Command::new("pg_dump")
        .arg("--dbname")
        .arg(&t.db.url)
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(
        String::from_utf8_lossy(&dump.stdout).contains("vault_secrets"),
        "the dump holds the vault"
    );
    assert_absent(&dump.stdout, &secrets, "the PostgreSQL dump");
    all.extend(secrets);

    // The logs, at every level.
    let captured = logs.0.lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&captured).contains("password rotated and verified"),
        "the logs were captured"
    );
    assert_absent(&captured, &all, "the logs");
}

/// The data part of a share: everything between its fourth `-` and its last (the data is
/// base64url, which has `-` of its own).
pub(crate) fn share_data(share: &str) -> &str {
    let rest = share.splitn(5, '-').nth(4).unwrap();
    rest.rsplit_once('-').unwrap().0
}
