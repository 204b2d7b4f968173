//! Notification delivery from the outbox against real receivers on loopback: an HTTP
//! server (axum) standing in for a webhook receiver, Slack and Teams, and a real SMTP
//! server (Debian's `python3-aiosmtpd`, started by the test, writing a Maildir). Also the
//! configuration checks of `[notifications]`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::Duration;
use warden_app::AppState;
use warden_app::config::{ChannelConfig, ChannelKind, Config, NotificationsConfig, SmtpConfig};
use warden_app::notify::{self, Notice, deliver, events};
use warden_core::Clock;
use warden_proto::requests::RequestInfo;
use warden_store::{Backend, OutboxMessage, Store, StoredOutbox};

use crate::support::{TestApp, eventually, json_of, poll_until};

const SECRET: &str = "whsec-test-0123456789";

// ----- an HTTP receiver -----

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Log {
    seen: Mutex<Vec<Seen>>,
    /// How many more requests to each path get a 500.
    fail: Mutex<HashMap<String, usize>>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers 200, or 500 for
/// paths told to fail.
struct Receiver {
    addr: SocketAddr,
    log: Arc<Log>,
    task: tokio::task::JoinHandle<()>,
}

async fn record(
    State(log): State<Arc<Log>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_owned();
    log.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    let mut fail = log.fail.lock().unwrap();
    match fail.get_mut(&path) {
        Some(n) if *n > 0 => {
            *n -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::OK,
    }
}

impl Receiver {
    async fn start() -> Self {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    fn on(listener: tokio::net::TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Log::default());
        let app = Router::new().fallback(record).with_state(Arc::clone(&log));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, log, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn fail_next(&self, path: &str, times: usize) {
        self.log.fail.lock().unwrap().insert(path.to_owned(), times);
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.seen.lock().unwrap().clone()
    }

    fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port nobody listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ----- configuration helpers -----

fn channel(name: &str, kind: ChannelKind, url: Option<String>) -> ChannelConfig {
    ChannelConfig {
        name: name.to_owned(),
        kind,
        url,
        secret: None,
        to: Vec::new(),
        events: Vec::new(),
        allow_internal: true,
        people: false,
    }
}

fn webhook(name: &str, url: String) -> ChannelConfig {
    ChannelConfig {
        secret: Some(SecretString::from(SECRET.to_owned())),
        ..channel(name, ChannelKind::Webhook, Some(url))
    }
}

fn http_channels(rx: &Receiver) -> NotificationsConfig {
    NotificationsConfig {
        channel: vec![
            webhook("hook", rx.url("/hook")),
            channel("slack", ChannelKind::Slack, Some(rx.url("/slack"))),
            channel("teams", ChannelKind::Teams, Some(rx.url("/teams"))),
        ],
        smtp: None,
    }
}

fn granted() -> Notice {
    Notice::new(
        events::GRANTED,
        "alice was granted admin on payments-db until 10:00",
        json!({"identity": "alice", "resource": "payments-db", "role": "admin", "minutes": 60}),
    )
}

/// Writes the outbox messages of `notices` as a change would, and returns them.
async fn announce(state: &AppState, notices: &[Notice]) -> Vec<OutboxMessage> {
    let messages =
        notify::all_messages(&state.config().notifications, notices, state.clock().now());
    state.store().notify(&messages, &[]).await.unwrap();
    messages
}

async fn outbox(state: &AppState) -> HashMap<String, StoredOutbox> {
    state
        .store()
        .outbox_messages()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.message.channel.clone(), m))
        .collect()
}

fn id_of<'a>(messages: &'a [OutboxMessage], channel: &str) -> &'a OutboxMessage {
    messages.iter().find(|m| m.channel == channel).unwrap()
}

// ----- HTTP channels -----

#[tokio::test]
async fn webhook_slack_and_teams_each_get_their_format_once() {
    let rx = Receiver::start().await;
    let notifications = http_channels(&rx);
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    let now = app.clock.now();
    let messages = announce(&app.state, &[granted()]).await;
    assert_eq!(messages.len(), 3);

    assert_eq!(deliver::tick(&app.state).await.unwrap(), 3);

    // The webhook: the payload as written, signed, with its event and delivery id.
    let hook = rx.seen_at("/hook");
    assert_eq!(hook.len(), 1, "{hook:?}");
    let hook = &hook[0];
    let message = id_of(&messages, "hook");
    assert_eq!(hook.header("content-type"), "application/json");
    assert_eq!(hook.header("warden-event"), "grant.active");
    assert_eq!(hook.header("warden-delivery"), message.id.to_string());
    assert_eq!(hook.body, message.payload.as_bytes());
    let body = hook.json();
    assert_eq!(body["id"], message.id.to_string());
    assert_eq!(body["event"], "grant.active");
    assert_eq!(
        body["summary"],
        "alice was granted admin on payments-db until 10:00"
    );
    assert_eq!(body["data"]["resource"], "payments-db");
    let signature = hook.header("warden-signature");
    let t = now.unix_timestamp();
    assert!(signature.starts_with(&format!("t={t},v1=")), "{signature}");
    let v1 = signature.split_once(",v1=").unwrap().1;
    assert_eq!(v1.len(), 64);
    assert!(
        v1.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    assert_eq!(signature, deliver::sign(SECRET.as_bytes(), t, &hook.body));
    assert!(deliver::verify_signature(
        SECRET.as_bytes(),
        signature,
        &hook.body,
        t + 10,
        300
    ));
    assert!(!deliver::verify_signature(
        b"another secret",
        signature,
        &hook.body,
        t,
        300
    ));
    let mut changed = hook.body.clone();
    changed[10] ^= 1;
    assert!(!deliver::verify_signature(
        SECRET.as_bytes(),
        signature,
        &changed,
        t,
        300
    ));
    assert!(
        !deliver::verify_signature(SECRET.as_bytes(), signature, &hook.body, t + 301, 300),
        "a replay after the tolerance is refused"
    );

    // Slack and Teams: {"text": ...} with the summary, the event and the facts; Slack's
    // with mrkdwn off, Teams' with Markdown escaped.
    for (path, keys, start) in [
        (
            "/slack",
            2,
            "[Warden] alice was granted admin on payments-db until 10:00 (grant.active, ",
        ),
        (
            "/teams",
            1,
            "\\[Warden\\] alice was granted admin on payments-db until 10:00 \\(grant.active, ",
        ),
    ] {
        let seen = rx.seen_at(path);
        assert_eq!(seen.len(), 1, "{path}: {seen:?}");
        assert_eq!(seen[0].header("content-type"), "application/json");
        assert!(seen[0].headers.get("warden-signature").is_none());
        let body = seen[0].json();
        assert_eq!(body.as_object().unwrap().len(), keys, "{body}");
        let text = body["text"].as_str().unwrap();
        assert!(text.starts_with(start), "{text}");
        for fact in [
            "identity: alice",
            "resource: payments-db",
            "role: admin",
            "minutes: 60",
        ] {
            assert!(text.contains(fact), "{fact} in {text}");
        }
        assert!(text.ends_with(')') && !text.contains('\n'), "{text}");
    }

    // Every row is marked delivered, and nothing is sent again.
    for (name, row) in outbox(&app.state).await {
        assert_eq!(row.delivered_at, Some(now), "{name}");
        assert_eq!(row.due_at, None, "{name}");
        assert_eq!(row.attempts, 0, "{name}");
    }
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    app.clock.advance(Duration::hours(1));
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    assert_eq!(rx.seen().len(), 3);
}

#[tokio::test]
async fn channels_receive_only_the_events_they_subscribe_to() {
    let rx = Receiver::start().await;
    let mut notifications = http_channels(&rx);
    notifications.channel[1].events = vec![events::NEEDS_APPROVAL.to_owned()];
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    announce(&app.state, &[granted()]).await;
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 2);
    assert_eq!(rx.seen_at("/hook").len(), 1);
    assert_eq!(rx.seen_at("/teams").len(), 1);
    assert!(rx.seen_at("/slack").is_empty());
}

#[tokio::test]
async fn a_failure_is_retried_after_its_backoff_and_does_not_hold_back_others() {
    let rx = Receiver::start().await;
    rx.fail_next("/hook", 1);
    // A receiver that is not listening yet.
    let late_port = free_port();
    let mut notifications = http_channels(&rx);
    notifications.channel.push(webhook(
        "late",
        format!("http://127.0.0.1:{late_port}/late"),
    ));
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    let start = app.clock.now();
    let messages = announce(&app.state, &[granted()]).await;

    // First tick: slack and teams go through although hook answers 500 and late is down.
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 2);
    let rows = outbox(&app.state).await;
    assert!(rows["slack"].delivered_at.is_some());
    assert!(rows["teams"].delivered_at.is_some());
    let hook = &rows["hook"];
    assert_eq!(hook.delivered_at, None);
    assert_eq!(hook.attempts, 1);
    assert_eq!(hook.due_at, Some(start + Duration::seconds(1)));
    let error = hook.last_error.as_deref().unwrap();
    assert!(error.contains("500"), "{error}");
    let late = &rows["late"];
    assert_eq!(late.attempts, 1);
    assert_eq!(late.due_at, Some(start + Duration::seconds(1)));
    let error = late.last_error.as_deref().unwrap();
    assert!(error.contains("HTTP request failed"), "{error}");
    assert!(
        !error.contains("/late"),
        "the URL stays out of errors: {error}"
    );
    assert_eq!(rx.seen_at("/hook").len(), 1);

    // Not before the backoff.
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    app.clock.advance(Duration::milliseconds(999));
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    assert_eq!(rx.seen_at("/hook").len(), 1);
    assert_eq!(outbox(&app.state).await["late"].attempts, 1);

    // After it: hook recovers, late fails again and waits twice as long.
    app.clock.advance(Duration::milliseconds(1));
    let second = app.clock.now();
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 1);
    let rows = outbox(&app.state).await;
    assert_eq!(rows["hook"].delivered_at, Some(second));
    assert_eq!(rows["late"].attempts, 2);
    assert_eq!(rows["late"].due_at, Some(second + Duration::seconds(2)));
    let hooks = rx.seen_at("/hook");
    assert_eq!(hooks.len(), 2);
    let id = id_of(&messages, "hook").id.to_string();
    assert!(hooks.iter().all(|h| h.header("warden-delivery") == id));
    // The retry is signed anew at its own time.
    let t = second.unix_timestamp();
    assert!(deliver::verify_signature(
        SECRET.as_bytes(),
        hooks[1].header("warden-signature"),
        &hooks[1].body,
        t,
        0
    ));

    // The late receiver comes up; the message goes once its backoff has passed.
    let late_rx = Receiver::on(
        tokio::net::TcpListener::bind(("127.0.0.1", late_port))
            .await
            .unwrap(),
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    assert!(late_rx.seen().is_empty());
    app.clock.advance(Duration::seconds(1));
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 1);
    let late = late_rx.seen_at("/late");
    assert_eq!(late.len(), 1);
    assert_eq!(
        late[0].header("warden-delivery"),
        id_of(&messages, "late").id.to_string()
    );

    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    assert_eq!(rx.seen_at("/hook").len(), 2);
    assert!(
        outbox(&app.state)
            .await
            .values()
            .all(|r| r.delivered_at.is_some())
    );
}

#[tokio::test]
async fn a_message_for_a_removed_channel_waits_with_a_clear_error() {
    let rx = Receiver::start().await;
    let notifications = http_channels(&rx);
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    let now = app.clock.now();
    let orphan = OutboxMessage {
        id: uuid::Uuid::now_v7(),
        channel: "pager".to_owned(),
        event: events::INCIDENT.to_owned(),
        payload: json!({"summary": "x"}).to_string(),
        created_at: now,
    };
    app.state.store().notify(&[orphan], &[]).await.unwrap();
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    let row = &outbox(&app.state).await["pager"];
    assert_eq!(row.delivered_at, None);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.due_at, Some(now + Duration::seconds(1)));
    let error = row.last_error.as_deref().unwrap();
    assert!(error.contains("\"pager\" is not configured"), "{error}");
    assert!(rx.seen().is_empty());
}

/// Issue: the channels' check missed IPv6 forms of internal addresses, and a name is
/// only as good as what it resolves to when connecting. Without `allow_internal`, IP
/// literals are refused before connecting, and a name resolving to loopback (`localhost`)
/// when connecting: nothing reaches the listeners on loopback.
#[tokio::test]
async fn internal_addresses_are_refused_at_delivery_without_allow_internal() {
    let rx = Receiver::start().await;
    // A bare port on loopback, to see whether anything connects at all.
    let bare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bare.set_nonblocking(true).unwrap();
    let port = bare.local_addr().unwrap().port();
    let mut notifications = http_channels(&rx);
    notifications.channel.extend([
        webhook("named", format!("https://localhost:{port}/named")),
        webhook(
            "mapped",
            format!("https://[::ffff:127.0.0.1]:{port}/mapped"),
        ),
        webhook(
            "compatible",
            format!("https://[::7f00:1]:{port}/compatible"),
        ),
        webhook("nat64", format!("https://[64:ff9b::7f00:1]:{port}/nat64")),
        webhook("6to4", format!("https://[2002:7f00:1::]:{port}/6to4")),
    ]);
    for c in &mut notifications.channel {
        c.allow_internal = false;
    }
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    announce(&app.state, &[granted()]).await;
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    let rows = outbox(&app.state).await;
    assert_eq!(rows.len(), 8);
    for (name, row) in rows {
        let error = row.last_error.as_deref().unwrap();
        if name == "named" {
            assert!(
                error.contains("localhost resolves only to internal addresses"),
                "{name}: {error}"
            );
        } else {
            assert!(error.starts_with("refused URL: host "), "{name}: {error}");
            assert!(error.contains("allow_internal"), "{name}: {error}");
        }
        assert_eq!(row.delivered_at, None, "{name}");
    }
    assert!(rx.seen().is_empty());
    assert_eq!(
        bare.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "something connected to loopback"
    );
}

/// `allow_internal = true` lets a channel reach a receiver on loopback, by address or by
/// a name that resolves there.
#[tokio::test]
async fn allow_internal_lets_a_channel_reach_loopback_by_name() {
    let rx = Receiver::start().await;
    let notifications = NotificationsConfig {
        channel: vec![webhook(
            "hook",
            format!("http://localhost:{}/hook", rx.addr.port()),
        )],
        smtp: None,
    };
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    announce(&app.state, &[granted()]).await;
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 1);
    assert_eq!(rx.seen_at("/hook").len(), 1);
}

#[tokio::test]
async fn messages_committed_before_a_crash_are_delivered_once_after_restart() {
    let rx = Receiver::start().await;
    let notifications = http_channels(&rx);
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    let config = app.state.config().clone();
    let notices = [
        granted(),
        Notice::new(
            events::REVOKED,
            "alice lost admin on payments-db",
            json!({"identity": "alice"}),
        ),
    ];
    let messages = announce(&app.state, &notices).await;
    assert_eq!(messages.len(), 6);

    // The process stops before its worker ran: nothing was sent.
    let TestApp {
        app: router,
        state,
        clock,
        db,
        ..
    } = app;
    drop(router);
    drop(state);
    assert!(rx.seen().is_empty());

    // A new process on the same database.
    let store = Store::open(&db.url, &Default::default()).await.unwrap();
    let state = AppState::new(store, Arc::new(clock.clone()), config);
    assert_eq!(deliver::tick(&state).await.unwrap(), 6);
    assert_eq!(deliver::tick(&state).await.unwrap(), 0);
    clock.advance(Duration::minutes(10));
    assert_eq!(deliver::tick(&state).await.unwrap(), 0);

    let seen = rx.seen();
    assert_eq!(seen.len(), 6);
    let mut delivered: Vec<String> = seen
        .iter()
        .map(|s| match s.path.as_str() {
            "/hook" => s.header("warden-delivery").to_owned(),
            path => format!("{path} {}", s.json()["text"].as_str().unwrap()),
        })
        .collect();
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered.len(), 6, "each message once: {delivered:?}");
    let mut hook_ids: Vec<String> = rx
        .seen_at("/hook")
        .iter()
        .map(|s| s.header("warden-delivery").to_owned())
        .collect();
    hook_ids.sort();
    let mut expected: Vec<String> = messages
        .iter()
        .filter(|m| m.channel == "hook")
        .map(|m| m.id.to_string())
        .collect();
    expected.sort();
    assert_eq!(hook_ids, expected);
}

#[tokio::test]
async fn the_worker_loop_delivers_when_woken() {
    let rx = Receiver::start().await;
    let notifications = http_channels(&rx);
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    let worker = tokio::spawn(deliver::run(app.state.clone()));
    announce(&app.state, &[granted()]).await;
    deliver::wake();
    eventually(
        "the worker to deliver every message",
        async || outbox(&app.state).await,
        |rows| rows.values().all(|r| r.delivered_at.is_some()),
    )
    .await;
    worker.abort();
    assert_eq!(rx.seen().len(), 3);
}

// ----- e-mail through a real SMTP server -----

/// Debian's Python, where `python3-aiosmtpd` is installed (a `python3` earlier on PATH,
/// such as pyenv's, may not have it).
fn python() -> String {
    std::env::var("WARDEN_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_owned())
}

/// aiosmtpd on a loopback port, storing every message in a Maildir; killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let log = dir.path().join("aiosmtpd.log");
        let port = free_port();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} -m aiosmtpd (install python3-aiosmtpd; scripts/test does): {e}",
                    python()
                )
            });
        let mut server = Self {
            child,
            port,
            maildir,
            _dir: dir,
        };
        let listening = poll_until(
            StdDuration::from_secs(10),
            async || {
                if let Some(status) = server.child.try_wait().unwrap() {
                    panic!(
                        "aiosmtpd exited with {status} before listening on 127.0.0.1:{port} \
                         (is python3-aiosmtpd installed for {}?): {}",
                        python(),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                tokio::net::TcpStream::connect(("127.0.0.1", port)).await
            },
            Result::is_ok,
        )
        .await;
        if let Err(refused) = listening {
            panic!(
                "aiosmtpd did not listen on 127.0.0.1:{port} within 10 seconds ({}): {}",
                refused.unwrap_err(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        server
    }

    /// The messages received, as raw text.
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.join("new");
        let Ok(entries) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The unfolded value of header `name` in a raw message.
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\n\n").next().unwrap();
    let mut value: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push_str(line.trim_end());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}

fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        tls: "none".to_owned(),
        from: "Warden <warden@example.org>".to_owned(),
        username: None,
        password: None,
        // aiosmtpd runs on loopback.
        allow_internal: true,
    }
}

#[tokio::test]
async fn email_is_sent_through_a_real_smtp_server() {
    let server = SmtpServer::start().await;
    let notifications = NotificationsConfig {
        channel: vec![ChannelConfig {
            to: vec![
                "alice@example.org".to_owned(),
                "Security <sec@example.org>".to_owned(),
            ],
            ..channel("mail", ChannelKind::Email, None)
        }],
        smtp: Some(smtp_config(server.port)),
    };
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    let messages = announce(&app.state, &[granted()]).await;
    let id = messages[0].id.to_string();

    assert_eq!(deliver::tick(&app.state).await.unwrap(), 1);

    let mails = server.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = mails[0].replace("\r\n", "\n");
    assert_eq!(
        header(&mail, "X-RcptTo").as_deref(),
        Some("alice@example.org, sec@example.org"),
        "{mail}"
    );
    assert_eq!(
        header(&mail, "X-MailFrom").as_deref(),
        Some("warden@example.org")
    );
    let to = header(&mail, "To").unwrap();
    assert!(
        to.contains("alice@example.org") && to.contains("sec@example.org"),
        "{to}"
    );
    assert_eq!(
        header(&mail, "Subject").as_deref(),
        Some("[Warden] alice was granted admin on payments-db until 10:00")
    );
    assert_eq!(header(&mail, "X-Warden-Delivery"), Some(id.clone()));
    assert_eq!(
        header(&mail, "X-Warden-Event").as_deref(),
        Some("grant.active")
    );
    assert_eq!(
        header(&mail, "Message-ID"),
        Some(format!("<{id}@example.org>"))
    );
    assert!(
        header(&mail, "Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    let encoding = header(&mail, "Content-Transfer-Encoding").unwrap();
    assert_eq!(encoding, "7bit", "{mail}");
    let body = mail.split_once("\n\n").unwrap().1;
    assert!(
        body.starts_with("alice was granted admin on payments-db until 10:00\n"),
        "{body}"
    );
    assert!(body.contains("Event: grant.active\n"), "{body}");
    assert!(body.contains(&format!("Delivery: {id}\n")), "{body}");
    assert!(
        body.contains("  \"resource\": \"payments-db\",\n"),
        "pretty data: {body}"
    );
    assert!(body.contains("  \"minutes\": 60\n"), "{body}");

    let row = &outbox(&app.state).await["mail"];
    assert!(row.delivered_at.is_some());
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    assert_eq!(server.messages().len(), 1);
}

/// The SMTP server goes through the guard too: on a name that resolves to loopback it is
/// refused when connecting unless `[notifications.smtp] allow_internal = true`.
#[tokio::test]
async fn email_to_an_smtp_server_on_loopback_needs_allow_internal() {
    let server = SmtpServer::start().await;
    let mail_channel = || ChannelConfig {
        to: vec!["alice@example.org".to_owned()],
        ..channel("mail", ChannelKind::Email, None)
    };
    let refused = NotificationsConfig {
        channel: vec![mail_channel()],
        smtp: Some(SmtpConfig {
            host: "localhost".to_owned(),
            allow_internal: false,
            ..smtp_config(server.port)
        }),
    };
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = refused).await;
    announce(&app.state, &[granted()]).await;
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    let error = outbox(&app.state).await["mail"].last_error.clone().unwrap();
    assert!(
        error.contains("localhost resolves only to internal addresses"),
        "{error}"
    );
    assert!(error.contains("allow_internal"), "{error}");
    assert!(server.messages().is_empty());

    let allowed = NotificationsConfig {
        channel: vec![mail_channel()],
        smtp: Some(smtp_config(server.port)),
    };
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = allowed).await;
    announce(&app.state, &[granted()]).await;
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 1);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn email_waits_for_an_smtp_server_that_is_down() {
    let port = free_port();
    let notifications = NotificationsConfig {
        channel: vec![ChannelConfig {
            to: vec!["alice@example.org".to_owned()],
            ..channel("mail", ChannelKind::Email, None)
        }],
        smtp: Some(smtp_config(port)),
    };
    let app = TestApp::with(Backend::Sqlite, |c| c.notifications = notifications).await;
    announce(&app.state, &[granted()]).await;
    assert_eq!(deliver::tick(&app.state).await.unwrap(), 0);
    let row = &outbox(&app.state).await["mail"];
    assert_eq!(row.attempts, 1);
    let error = row.last_error.as_deref().unwrap();
    assert!(error.starts_with("mail:"), "{error}");
}

// ----- configuration -----

fn load(text: &str) -> Result<Config, String> {
    Config::from_toml(text, Path::new("warden.toml"), std::iter::empty()).map_err(|e| e.to_string())
}

const SMTP: &str = "[notifications.smtp]\nhost = \"mail.example.org\"\nport = 587\nfrom = \"warden@example.org\"\n";

#[test]
fn a_complete_notifications_section_is_accepted() {
    let config = load(&format!(
        "{SMTP}
[[notifications.channel]]
name = \"siem\"
kind = \"webhook\"
url = \"https://hooks.example.com/warden\"
secret = \"s3cret\"
events = [\"grant.active\", \"grant.revoked\"]

[[notifications.channel]]
name = \"slack\"
kind = \"slack\"
url = \"https://hooks.slack.com/services/T0/B0/X\"

[[notifications.channel]]
name = \"teams\"
kind = \"teams\"
url = \"https://example.webhook.office.com/x\"

[[notifications.channel]]
name = \"local\"
kind = \"webhook\"
url = \"http://127.0.0.1:9000/hook\"
secret = \"s\"
allow_internal = true

[[notifications.channel]]
name = \"mail\"
kind = \"email\"
to = [\"security@example.org\"]
"
    ))
    .unwrap();
    assert_eq!(config.notifications.channel.len(), 5);
    assert_eq!(config.notifications.smtp.unwrap().tls, "starttls");
}

#[test]
fn bad_notification_settings_are_refused_naming_the_key() {
    let hook = |extra: &str| {
        format!("[[notifications.channel]]\nname = \"h\"\nkind = \"webhook\"\n{extra}")
    };
    let ok_hook = hook("url = \"https://hooks.example.com/x\"\nsecret = \"s\"\n");
    for (text, key, words) in [
        (
            format!("{ok_hook}{ok_hook}"),
            "notifications.channel[1].name",
            "earlier channel",
        ),
        (
            hook("secret = \"s\"\n"),
            "notifications.channel[0].url",
            "required",
        ),
        (
            hook("url = \"not a url\"\nsecret = \"s\"\n"),
            "notifications.channel[0].url",
            "not a valid URL",
        ),
        (
            format!(
                "{ok_hook}{}",
                hook("url = \"https://10.0.0.5/x\"\nsecret = \"s\"\n").replace("\"h\"", "\"h2\"")
            ),
            "notifications.channel[1].url",
            "allow_internal",
        ),
        (
            hook("url = \"https://[::1]/x\"\nsecret = \"s\"\n"),
            "notifications.channel[0].url",
            "in loopback (::1)",
        ),
        (
            hook("url = \"http://hooks.example.com/x\"\nsecret = \"s\"\n"),
            "notifications.channel[0].url",
            "https",
        ),
        (
            hook("url = \"https://hooks.example.com/x\"\n"),
            "notifications.channel[0].secret",
            "required",
        ),
        (
            hook(
                "url = \"https://hooks.example.com/x\"\nsecret = \"s\"\nevents = [\"grant.exploded\"]\n",
            ),
            "notifications.channel[0].events",
            "grant.exploded",
        ),
        (
            "[[notifications.channel]]\nname = \"s\"\nkind = \"slack\"\n".to_owned(),
            "notifications.channel[0].url",
            "required",
        ),
        (
            format!("{SMTP}[[notifications.channel]]\nname = \"m\"\nkind = \"email\"\n"),
            "notifications.channel[0].to",
            "at least one",
        ),
        (
            format!(
                "{SMTP}[[notifications.channel]]\nname = \"m\"\nkind = \"email\"\nto = [\"not an address\"]\n"
            ),
            "notifications.channel[0].to[0]",
            "e-mail address",
        ),
        (
            "[[notifications.channel]]\nname = \"m\"\nkind = \"email\"\nto = [\"a@example.org\"]\n"
                .to_owned(),
            "notifications.smtp",
            "notifications.channel[0]",
        ),
        (
            format!("{SMTP}tls = \"ssl\"\n"),
            "notifications.smtp.tls",
            "none, starttls or tls",
        ),
        (
            format!("{SMTP}username = \"u\"\n"),
            "notifications.smtp.password",
            "go together",
        ),
        (
            format!("{SMTP}tls = \"none\"\nusername = \"u\"\npassword = \"p\"\n"),
            "notifications.smtp.tls",
            "in clear",
        ),
        (
            SMTP.replace("mail.example.org", "10.0.0.25"),
            "notifications.smtp.host",
            "host 10.0.0.25 is in private (10.0.0.0/8); set allow_internal = true",
        ),
        (
            SMTP.replace("mail.example.org", "localhost"),
            "notifications.smtp.host",
            "allow_internal",
        ),
        (
            hook("url = \"https://[64:ff9b::a9fe:a9fe]/x\"\nsecret = \"s\"\n"),
            "notifications.channel[0].url",
            "the NAT64 form of 169.254.169.254",
        ),
    ] {
        let err = load(&text).unwrap_err();
        assert!(
            err.contains(&format!("{key}:")),
            "{text}\nwanted {key}: {err}"
        );
        assert!(err.contains(words), "{text}\nwanted {words:?}: {err}");
    }
}

#[test]
fn the_error_never_repeats_a_webhook_url() {
    // Slack and Teams URLs are credentials: a refusal names the host, not the path.
    let err = load(
        "[[notifications.channel]]\nname = \"s\"\nkind = \"slack\"\nurl = \"http://hooks.slack.com/services/T0/B0/SECRETPART\"\n",
    )
    .unwrap_err();
    assert!(!err.contains("SECRETPART"), "{err}");
}

#[tokio::test]
async fn approvers_and_the_requester_are_mailed_as_a_request_moves_on() {
    let server = SmtpServer::start().await;
    let port = server.port;
    let (t, p) = crate::requests::people_with(move |c| {
        c.notifications = NotificationsConfig {
            channel: vec![ChannelConfig {
                people: true,
                events: vec![
                    events::NEEDS_APPROVAL.to_owned(),
                    events::APPROVED.to_owned(),
                    events::GRANTED.to_owned(),
                ],
                ..channel("people", ChannelKind::Email, None)
            }],
            smtp: Some(smtp_config(port)),
        };
    })
    .await;
    let created = crate::requests::file(
        &t,
        &p.alice,
        crate::requests::ask("orders-db", "read", "1h", Some("CHG-50")),
    )
    .await;
    let created: RequestInfo = created.parse();
    assert_eq!(created.route, "single", "{created:?}");
    assert_eq!(deliver::tick(&t.state).await.unwrap(), 1);
    let mails = server.messages();
    assert_eq!(mails.len(), 1);
    let rcpt = header(&mails[0].replace("\r\n", "\n"), "X-RcptTo").unwrap();
    // Alice's manager Bob (also an SRE lead) and the owner group's Paula may approve.
    assert!(
        rcpt.contains("bob@example.com") && rcpt.contains("paula@example.com"),
        "{rcpt}"
    );
    assert!(
        !rcpt.contains("alice@"),
        "the requester is not asked to approve: {rcpt}"
    );

    let id = created.id.to_string();
    crate::requests::decide(&t, &p.bob, &id, "approve").await;
    t.tick().await;
    assert_eq!(
        deliver::tick(&t.state).await.unwrap(),
        2,
        "approved, then granted"
    );
    let mut rcpts: Vec<String> = server
        .messages()
        .iter()
        .map(|m| header(&m.replace("\r\n", "\n"), "X-RcptTo").unwrap())
        .collect();
    rcpts.sort();
    assert_eq!(
        rcpts
            .iter()
            .filter(|r| r.as_str() == "alice@example.com")
            .count(),
        2,
        "{rcpts:?}"
    );
}

/// Issue: a justification `[click here](https://evil.example)` became a live link in
/// Teams. A request filed with a justification written to link, mention and format
/// reaches Slack and Teams as text: Slack gets `<` `>` `&` escaped (no `<!channel>`, no
/// `<url|label>` link) and mrkdwn off; Teams gets every Markdown control character
/// escaped and HTML as entities.
#[tokio::test]
async fn a_hostile_justification_reaches_slack_and_teams_as_text() {
    let rx = Receiver::start().await;
    let slack = rx.url("/slack");
    let teams = rx.url("/teams");
    let (t, p) = crate::requests::people_with(move |c| {
        c.notifications = NotificationsConfig {
            channel: vec![
                channel("slack", ChannelKind::Slack, Some(slack)),
                channel("teams", ChannelKind::Teams, Some(teams)),
            ],
            smtp: None,
        };
    })
    .await;
    let mut ask = crate::requests::request("orders-db", "read", "1h", Some("CHG-50"));
    ask.justification =
        "INC-1 [click here](https://evil.example) <!channel> <https://evil.example|docs> *now*"
            .to_owned();
    let created = crate::requests::file(&t, &p.alice, json_of(&ask)).await;
    assert_eq!(
        created.parse::<RequestInfo>().state,
        "pending",
        "{created:?}"
    );
    assert_eq!(deliver::tick(&t.state).await.unwrap(), 2);

    let slack = &rx.seen_at("/slack")[0].json();
    assert_eq!(slack["mrkdwn"], false, "{slack}");
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.contains(
            "): INC-1 [click here](https://evil.example) &lt;!channel&gt; \
             &lt;https://evil.example|docs&gt; *now* (request.needs_approval, "
        ),
        "{text}"
    );
    assert!(!text.contains('<') && !text.contains('>'), "{text}");

    let teams = &rx.seen_at("/teams")[0].json();
    let text = teams["text"].as_str().unwrap();
    assert!(
        text.contains(
            "\\): INC-1 \\[click here\\]\\(https://evil.example\\) &lt;\\!channel&gt; \
             &lt;https://evil.example\\|docs&gt; \\*now\\* \\(request.needs\\_approval, "
        ),
        "{text}"
    );
    assert!(!text.contains("](") && !text.contains('<'), "{text}");
}
