//! The SIEM transports against real receivers: rsyslogd (plain TCP and TLS, started by
//! the test on a loopback port, see [`crate::rsyslog`]), an HTTP server standing in for
//! Splunk's HTTP Event Collector or a JSON collector, and files on disk. The records are
//! realistic chained ones, sealed with `Record::seal_after`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use uuid::Uuid;
use warden_app::siem::file::numbered;
use warden_app::siem::syslog::{self, Header};
use warden_app::siem::transport::{Facility, SinkConfig, SinkError, Transport};
use warden_audit::{Digest, Record, RecordActor};

use crate::rsyslog::{Pki, Rsyslog, free_port};
use crate::support::eventually;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "hec-4f1d2c3b-9a8e-4c7d-b6a5-0123456789ab";

// ----- records -----

/// Builds a hash chain of realistic records.
struct Chain {
    seq: u64,
    hash: Digest,
    time: i64,
}

impl Chain {
    fn new() -> Self {
        Self {
            seq: 0,
            hash: Digest::GENESIS,
            time: 1_767_225_600_000, // 2026-01-01T00:00:00Z
        }
    }

    /// The next record: `action` with `outcome`, changed by `edit` before it is sealed.
    fn next(
        &mut self,
        action: &str,
        outcome: &str,
        edit: impl FnOnce(&mut Record<'static>),
    ) -> Record<'static> {
        self.time += 1_234;
        let n = u128::from(self.seq) + 1;
        let mut r = Record {
            seq: 0,
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n),
            time: self.time,
            actor: RecordActor {
                user: Some("alice".into()),
                token: Some(Uuid::from_u128(0xa11ce)),
                ip: Some("192.0.2.10".into()),
                user_agent: Some("warden-cli/0.1.0".into()),
            },
            action: action.to_owned().into(),
            target: Some(format!("grant:{}", Uuid::from_u128(n)).into()),
            outcome: outcome.to_owned().into(),
            reason: Some("CHG-1234 rotate the payments DB password".into()),
            resource: Some("payments-db".into()),
            request_id: Some(Uuid::from_u128(0x5eed + n)),
            grant_id: Some(Uuid::from_u128(n)),
            risk: Some(35),
            details: [("role".into(), "app_admin".into())].into_iter().collect(),
            prev_hash: Digest::GENESIS,
            hash: Digest::GENESIS,
        };
        edit(&mut r);
        r.seal_after(self.seq, self.hash);
        self.seq = r.seq;
        self.hash = r.hash;
        r
    }

    /// `n` records cycling through everyday actions.
    fn batch(&mut self, n: usize) -> Vec<Record<'static>> {
        let kinds = [
            ("request.create", "success"),
            ("request.approve", "success"),
            ("grant.activate", "success"),
            ("auth.login", "failure"),
            ("breakglass.used", "success"),
            ("grant.revoke", "success"),
        ];
        (0..n)
            .map(|i| {
                let (action, outcome) = kinds[i % kinds.len()];
                self.next(action, outcome, |r| {
                    if outcome == "failure" {
                        r.actor.token = None;
                        r.reason = Some("wrong password".into());
                        r.target = None;
                        r.resource = None;
                        r.request_id = None;
                        r.grant_id = None;
                        r.risk = None;
                        r.details = BTreeMap::new();
                    }
                })
            })
            .collect()
    }
}

fn sink(toml_text: &str) -> SinkConfig {
    let config: SinkConfig = toml::from_str(toml_text).unwrap();
    config.validate("test").unwrap();
    config
}

fn syslog_sink(address: &str, extra: &str) -> SinkConfig {
    sink(&format!(
        "kind = \"syslog\"\naddress = \"{address}\"\nhostname = \"pam-test\"\nallow_internal = true\n{extra}"
    ))
}

/// Checks that `got` are the messages of `records`, in order.
fn assert_messages(got: &[crate::rsyslog::Received], records: &[Record<'static>]) {
    assert_eq!(got.len(), records.len(), "{got:#?}");
    let header = Header {
        facility: Facility::Auth,
        hostname: "pam-test".to_owned(),
        app_name: "warden".to_owned(),
    };
    for (m, r) in got.iter().zip(records) {
        assert_eq!(m.version, "1");
        assert_eq!(m.hostname, "pam-test");
        assert_eq!(m.app_name, "warden");
        assert_eq!(m.procid, "-");
        assert_eq!(m.msgid, syslog::msgid(&r.action));
        assert_eq!(m.timestamp, syslog::timestamp(r.time));
        let expected_pri = 4 * 8 + syslog::severity(r) as u16;
        assert_eq!(m.pri, expected_pri.to_string(), "{}", r.action);
        assert_eq!(
            m.sd_param("seq").as_deref(),
            Some(r.seq.to_string().as_str())
        );
        assert_eq!(m.sd_param("hash"), Some(r.hash.to_hex()));
        assert!(m.structured_data.starts_with("[warden@32473 "), "{m:?}");
        // What arrived is exactly what the transport formats.
        assert_eq!(m.raw, syslog::format_message(&header, r));
        let event = m.json();
        assert_eq!(event["class_uid"], 6003);
        assert_eq!(event["metadata"]["sequence"], r.seq);
        assert_eq!(event["metadata"]["uid"], r.id.to_string());
        assert_eq!(event["unmapped"]["hash"], r.hash.to_hex());
        assert_eq!(event["unmapped"]["prev_hash"], r.prev_hash.to_hex());
        assert_eq!(event["time"], r.time);
    }
}

// ----- syslog -----

#[tokio::test]
async fn syslog_delivers_each_record_as_one_message() {
    let rsyslog = Rsyslog::start().await;
    let mut transport = Transport::open(&syslog_sink(&rsyslog.address(), ""))
        .await
        .unwrap();
    let mut chain = Chain::new();
    let first = chain.batch(30);
    let second = chain.batch(7);
    transport.deliver(&first).await.unwrap();
    transport.deliver(&second).await.unwrap();
    transport.deliver(&[]).await.unwrap();
    let all: Vec<_> = first.into_iter().chain(second).collect();
    let got = rsyslog.wait_for_lines(all.len(), WAIT).await;
    assert_messages(&got, &all);
    // The chain survives the trip: each event's prev_hash is the hash before it.
    for pair in got.windows(2) {
        assert_eq!(
            pair[1].json()["unmapped"]["prev_hash"],
            pair[0].json()["unmapped"]["hash"]
        );
    }
}

#[tokio::test]
async fn syslog_message_with_newlines_quotes_and_brackets_arrives_whole() {
    let rsyslog = Rsyslog::start().await;
    let mut transport = Transport::open(&syslog_sink(&rsyslog.address(), "facility = \"local3\""))
        .await
        .unwrap();
    let mut chain = Chain::new();
    let nasty = "line one\nline two \"quoted\" ] [x@1 a=\"b\"] back\\slash\r\n\ttab, zoë 🔐";
    let records = vec![
        chain.next("grant.revoke", "success", |r| {
            r.reason = Some(nasty.into());
            r.target = Some("user:\"]\n[".into());
            r.details.insert("note".into(), "a\nb]\"c".into());
        }),
        // An action longer than a MSGID may be, with characters it may not hold.
        chain.next(
            "reconcile.finding.unmanaged privileged role détecté",
            "success",
            |_| {},
        ),
        chain.next("grant.extend", "success", |_| {}),
    ];
    transport.deliver(&records).await.unwrap();
    let got = rsyslog.wait_for_lines(3, WAIT).await;
    assert_eq!(got.len(), 3, "{got:#?}");
    let event = got[0].json();
    assert_eq!(event["status_detail"], nasty);
    assert_eq!(event["unmapped"]["target"], "user:\"]\n[");
    assert_eq!(event["unmapped"]["details"]["note"], "a\nb]\"c");
    assert_eq!(got[0].sd_param("hash"), Some(records[0].hash.to_hex()));
    assert_eq!(got[0].pri, (19 * 8 + 6).to_string());
    assert_eq!(got[1].msgid, "reconcile.finding.unmanaged_priv");
    assert_eq!(got[1].msgid.len(), 32);
    assert_eq!(got[1].pri, (19 * 8 + 5).to_string());
    assert_eq!(
        got[1].json()["activity_name"],
        "reconcile.finding.unmanaged privileged role détecté"
    );
    assert_eq!(got[2].msgid, "grant.extend");
}

/// The harness's own check: rsyslog splits octet-counted frames by their length, so
/// messages with raw newlines (which Warden's JSON never has, but a framing bug would
/// produce) arrive one each, and a frame is never split at a newline.
#[tokio::test]
async fn rsyslog_splits_octet_counted_frames_not_lines() {
    use tokio::io::AsyncWriteExt as _;

    let rsyslog = Rsyslog::start().await;
    let messages = [
        "<38>1 2026-01-01T00:00:00.000Z h warden - a.b - first\nsecond line\nthird",
        "<38>1 2026-01-01T00:00:00.001Z h warden - c.d [x@32473 v=\"q\\\"\\]\"] {\"k\":\"v\"}\n",
        "<38>1 2026-01-01T00:00:00.002Z h warden - e.f - last",
    ];
    let mut bytes = Vec::new();
    for m in messages {
        syslog::frame(m, &mut bytes);
    }
    let mut stream = tokio::net::TcpStream::connect(rsyslog.address())
        .await
        .unwrap();
    // Split the frames at awkward places: inside a length and inside a message.
    let (a, rest) = bytes.split_at(1);
    let (b, c) = rest.split_at(40);
    for part in [a, b, c] {
        stream.write_all(part).await.unwrap();
        stream.flush().await.unwrap();
        // The pause is what is tested: it lets each part arrive as a read of its own, so
        // rsyslog must join the frames across reads. Nothing is asserted until every
        // message is waited for below.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = rsyslog.wait_for_lines(3, WAIT).await;
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0].msg, "first\nsecond line\nthird");
    assert_eq!(got[0].msgid, "a.b");
    assert_eq!(got[1].sd_param("v").as_deref(), Some("q\"]"));
    assert_eq!(got[2].msg, "last");
}

#[tokio::test]
async fn syslog_reconnects_after_the_receiver_restarts_and_loses_nothing() {
    let mut rsyslog = Rsyslog::start().await;
    let mut transport = Transport::open(&syslog_sink(&rsyslog.address(), ""))
        .await
        .unwrap();
    let mut chain = Chain::new();
    let first = chain.batch(5);
    transport.deliver(&first).await.unwrap();
    rsyslog.wait_for_lines(5, WAIT).await;

    // The receiver goes away: the batch fails (the closed connection is noticed before
    // anything is written into it, and the reconnect is refused) and fails again on retry.
    rsyslog.stop();
    let second = chain.batch(5);
    for _ in 0..2 {
        let error = transport.deliver(&second).await.unwrap_err();
        assert!(matches!(error, SinkError::Connect { .. }), "{error:?}");
        assert!(error.to_string().contains(&rsyslog.address()), "{error}");
    }

    // Back on the same port: the retried batch goes through on a new connection.
    rsyslog.restart().await;
    transport.deliver(&second).await.unwrap();
    let third = chain.batch(2);
    transport.deliver(&third).await.unwrap();
    let all: Vec<_> = first.into_iter().chain(second).chain(third).collect();
    let got = rsyslog.wait_for_lines(all.len(), WAIT).await;
    let seqs: Vec<u64> = got
        .iter()
        .map(|m| m.sd_param("seq").unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<u64>>());
    assert_messages(&got, &all);
}

#[tokio::test]
async fn syslog_connection_refused_names_the_address() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut transport = Transport::open(&syslog_sink(&address, "")).await.unwrap();
    let records = Chain::new().batch(1);
    let error = transport.deliver(&records).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&address) && text.contains("cannot connect"),
        "{text}"
    );
}

#[tokio::test]
async fn syslog_over_tls_verifies_the_receiver() {
    let certs = tempfile::tempdir().unwrap();
    let pki = Pki::new(&["syslog.test", "127.0.0.1"]);
    let files = pki.write(certs.path(), "good");
    let ca = files.ca.clone();
    let rsyslog = Rsyslog::start_tls(files).await;
    let mut chain = Chain::new();

    // By name, checked against the certificate.
    let config = syslog_sink(
        &rsyslog.address(),
        &format!(
            "tls = true\nca_file = \"{}\"\nserver_name = \"syslog.test\"",
            ca.display()
        ),
    );
    let mut transport = Transport::open(&config).await.unwrap();
    let first = chain.batch(4);
    transport.deliver(&first).await.unwrap();
    // By the IP address of `address` (the default name), on a second connection.
    let config = syslog_sink(
        &rsyslog.address(),
        &format!("tls = true\nca_file = \"{}\"", ca.display()),
    );
    let mut by_ip = Transport::open(&config).await.unwrap();
    let second = chain.batch(3);
    by_ip.deliver(&second).await.unwrap();
    // The first connection is still usable after the server's post-handshake messages.
    let third = chain.batch(2);
    transport.deliver(&third).await.unwrap();

    let all: Vec<_> = first.into_iter().chain(second).chain(third).collect();
    let mut got = rsyslog.wait_for_lines(all.len(), WAIT).await;
    // Two connections: rsyslog may interleave them; order by seq.
    got.sort_by_key(|m| m.sd_param("seq").unwrap().parse::<u64>().unwrap());
    assert_messages(&got, &all);
}

#[tokio::test]
async fn syslog_over_tls_notices_a_restarted_receiver() {
    let certs = tempfile::tempdir().unwrap();
    let files = Pki::new(&["syslog.test"]).write(certs.path(), "server");
    let ca = files.ca.clone();
    let mut rsyslog = Rsyslog::start_tls(files).await;
    let config = syslog_sink(
        &rsyslog.address(),
        &format!(
            "tls = true\nca_file = \"{}\"\nserver_name = \"syslog.test\"",
            ca.display()
        ),
    );
    let mut transport = Transport::open(&config).await.unwrap();
    let mut chain = Chain::new();
    let first = chain.batch(3);
    transport.deliver(&first).await.unwrap();
    rsyslog.wait_for_lines(3, WAIT).await;

    // The server's session tickets wait unread ahead of its close; they are taken in
    // and the close is still seen before the next batch is written.
    rsyslog.stop();
    let second = chain.batch(3);
    let error = transport.deliver(&second).await.unwrap_err();
    assert!(matches!(error, SinkError::Connect { .. }), "{error:?}");
    rsyslog.restart().await;
    transport.deliver(&second).await.unwrap();
    let all: Vec<_> = first.into_iter().chain(second).collect();
    assert_messages(&rsyslog.wait_for_lines(all.len(), WAIT).await, &all);
}

#[tokio::test]
async fn syslog_over_tls_refuses_an_unknown_ca_or_a_wrong_name() {
    let certs = tempfile::tempdir().unwrap();
    let files = Pki::new(&["syslog.test"]).write(certs.path(), "server");
    let other = Pki::new(&["syslog.test"]).write(certs.path(), "other");
    let rsyslog = Rsyslog::start_tls(files).await;
    let server_ca = certs.path().join("server-ca.pem");
    let records = Chain::new().batch(2);

    // A certificate signed by a CA the sink does not trust.
    let config = syslog_sink(
        &rsyslog.address(),
        &format!(
            "tls = true\nca_file = \"{}\"\nserver_name = \"syslog.test\"",
            other.ca.display()
        ),
    );
    let mut transport = Transport::open(&config).await.unwrap();
    let error = transport.deliver(&records).await.unwrap_err();
    assert!(matches!(error, SinkError::Tls { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&rsyslog.address())
            && text.contains("invalid peer certificate")
            && text.contains("UnknownIssuer"),
        "{text}"
    );

    // The right CA, but a name the certificate does not carry.
    let config = syslog_sink(
        &rsyslog.address(),
        &format!(
            "tls = true\nca_file = \"{}\"\nserver_name = \"elsewhere.test\"",
            server_ca.display()
        ),
    );
    let mut transport = Transport::open(&config).await.unwrap();
    let error = transport.deliver(&records).await.unwrap_err();
    assert!(matches!(error, SinkError::Tls { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("not valid for name \"elsewhere.test\""),
        "{error}"
    );

    // Nothing got through; with the right CA and name it does. Each refusal came back
    // before anything was sent, so nothing can be on its way: had a record slipped out
    // anyway, rsyslog would hold it before the two delivered below, and more than two
    // messages in all (`assert_messages` counts them).
    assert!(rsyslog.messages().is_empty());
    let config = syslog_sink(
        &rsyslog.address(),
        &format!(
            "tls = true\nca_file = \"{}\"\nserver_name = \"syslog.test\"",
            server_ca.display()
        ),
    );
    let mut transport = Transport::open(&config).await.unwrap();
    transport.deliver(&records).await.unwrap();
    assert_messages(&rsyslog.wait_for_lines(2, WAIT).await, &records);
}

#[tokio::test]
async fn syslog_tls_needs_a_readable_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let config = syslog_sink(
        "127.0.0.1:6514",
        &format!("tls = true\nca_file = \"{}\"", missing.display()),
    );
    let error = Transport::open(&config).await.unwrap_err();
    assert!(matches!(error, SinkError::Config(_)), "{error:?}");
    assert!(error.to_string().contains("missing.pem"), "{error}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let config = syslog_sink(
        "127.0.0.1:6514",
        &format!("tls = true\nca_file = \"{}\"", empty.display()),
    );
    let error = Transport::open(&config).await.unwrap_err();
    assert!(error.to_string().contains("no certificate"), "{error}");
}

// ----- HTTP -----

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

struct ReceiverState {
    seen: Mutex<Vec<Seen>>,
    /// The status to answer with.
    status: Mutex<StatusCode>,
}

/// An HTTP collector on 127.0.0.1 that records requests and answers with a set status;
/// an error answer echoes the request's Authorization header, as a careless proxy might.
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

async fn collect(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    state.seen.lock().unwrap().push(Seen {
        headers,
        body: body.to_vec(),
    });
    let status = *state.status.lock().unwrap();
    if status.is_success() {
        (status, "{\"text\":\"Success\",\"code\":0}".to_owned())
    } else {
        let padding = "x".repeat(300);
        (
            status,
            format!("{{\"text\":\"Server is busy\",\"code\":9,\"got\":\"{auth}\"}}\n{padding}"),
        )
    }
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState {
            seen: Mutex::new(Vec::new()),
            status: Mutex::new(StatusCode::OK),
        });
        let app = Router::new()
            .fallback(collect)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(&self, status: StatusCode) {
        *self.state.status.lock().unwrap() = status;
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn token_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("hec.token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[tokio::test]
async fn hec_posts_a_batch_with_the_splunk_token() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sink(&format!(
        "kind = \"http\"\nallow_internal = true\nurl = \"{}\"\ntoken_file = \"{}\"",
        receiver.url("/services/collector/event"),
        token_file(dir.path()).display()
    ));
    let mut transport = Transport::open(&config).await.unwrap();
    let records = Chain::new().batch(6);
    transport.deliver(&records).await.unwrap();

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        request.header("authorization"),
        Some(format!("Splunk {TOKEN}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    let events: Vec<Value> = serde_json::Deserializer::from_slice(&request.body)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events.len(), records.len());
    for (e, r) in events.iter().zip(&records) {
        assert_eq!(e["source"], "warden");
        assert_eq!(e["sourcetype"], "warden:audit");
        assert!(!e["host"].as_str().unwrap().is_empty());
        let time = e["time"].as_f64().unwrap();
        assert_eq!((time * 1000.0).round() as i64, r.time);
        assert_eq!(e["event"]["metadata"]["sequence"], r.seq);
        assert_eq!(e["event"]["unmapped"]["hash"], r.hash.to_hex());
        assert_eq!(e["event"]["activity_name"], r.action.as_ref());
    }
    // Seconds with milliseconds, as HEC expects: 1767225601.234.
    let text = String::from_utf8(request.body.clone()).unwrap();
    assert!(text.contains("\"time\":1767225601.234"), "{text}");
}

#[tokio::test]
async fn json_format_posts_an_array_with_an_optional_bearer_token() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let records = Chain::new().batch(3);

    let config = sink(&format!(
        "kind = \"http\"\nallow_internal = true\nformat = \"json\"\nurl = \"{}\"\ntoken_file = \"{}\"",
        receiver.url("/ingest"),
        token_file(dir.path()).display()
    ));
    let mut transport = Transport::open(&config).await.unwrap();
    transport.deliver(&records).await.unwrap();
    let config = sink(&format!(
        "kind = \"http\"\nallow_internal = true\nformat = \"json\"\nurl = \"{}\"",
        receiver.url("/ingest")
    ));
    let mut anonymous = Transport::open(&config).await.unwrap();
    anonymous.deliver(&records[..1]).await.unwrap();

    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let events: Vec<Value> = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(events.len(), 3);
    for (e, r) in events.iter().zip(&records) {
        assert_eq!(e["unmapped"]["seq"], r.seq);
        assert_eq!(e["class_uid"], 6003);
    }
    assert_eq!(seen[1].header("authorization"), None);
    let events: Vec<Value> = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn http_error_status_fails_the_batch_until_the_receiver_recovers() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sink(&format!(
        "kind = \"http\"\nallow_internal = true\nurl = \"{}?channel=abc\"\ntoken_file = \"{}\"",
        receiver.url("/services/collector/event"),
        token_file(dir.path()).display()
    ));
    let mut transport = Transport::open(&config).await.unwrap();
    let records = Chain::new().batch(4);

    receiver.answer(StatusCode::SERVICE_UNAVAILABLE);
    let error = transport.deliver(&records).await.unwrap_err();
    let SinkError::Status { status, body, .. } = &error else {
        panic!("not a status error: {error:?}");
    };
    assert_eq!(*status, 503);
    assert!(body.starts_with("{\"text\":\"Server is busy\""), "{body}");
    assert!(body.len() <= 200 + "[redacted]".len(), "{body}");
    let text = error.to_string();
    assert!(text.contains("503"), "{text}");
    assert!(
        text.contains(&receiver.url("/services/collector/event")),
        "{text}"
    );
    // The receiver echoed the token; the error does not.
    assert!(
        !text.contains(TOKEN) && !format!("{error:?}").contains(TOKEN),
        "{text}"
    );
    assert!(!text.contains(&TOKEN[..8]), "{text}");
    assert!(text.contains("[redacted]"), "{text}");

    receiver.answer(StatusCode::OK);
    transport.deliver(&records).await.unwrap();
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the retry sends the same batch");
}

#[tokio::test]
async fn http_receiver_down_is_an_error_naming_the_url_not_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/services/collector/event", free_port());
    let config = sink(&format!(
        "kind = \"http\"\nallow_internal = true\nurl = \"{url}\"\ntoken_file = \"{}\"\ntimeout_secs = 3",
        token_file(dir.path()).display()
    ));
    let mut transport = Transport::open(&config).await.unwrap();
    let error = transport.deliver(&Chain::new().batch(2)).await.unwrap_err();
    assert!(matches!(error, SinkError::Http { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&url), "{text}");
    for shown in [
        text,
        format!("{error:?}"),
        format!("{config:?}"),
        format!("{transport:?}"),
    ] {
        assert!(!shown.contains(TOKEN), "the token leaked: {shown}");
    }
}

/// Syslog goes through the outbound-address guard too: a receiver on loopback — by
/// address, in an IPv6 form or as `localhost` — is refused by the configuration check
/// and when opening the sink, unless the sink says `allow_internal = true`; with it, the
/// transport connects to the addresses the guard resolved.
#[tokio::test]
async fn a_syslog_receiver_on_loopback_needs_allow_internal() {
    let rsyslog = Rsyslog::start().await;
    let port = rsyslog.address().rsplit_once(':').unwrap().1.to_owned();
    for address in [
        format!("127.0.0.1:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("localhost:{port}"),
    ] {
        let text = format!("kind = \"syslog\"\naddress = \"{address}\"");
        let config: SinkConfig = toml::from_str(&text).unwrap();
        let error = config.validate("soc").unwrap_err();
        assert!(
            error.starts_with("audit.sinks.soc.address: "),
            "{address}: {error}"
        );
        assert!(
            error.contains("allow_internal = true"),
            "{address}: {error}"
        );
        let error = Transport::open(&config).await.unwrap_err();
        assert!(
            matches!(error, SinkError::Config(_)),
            "{address}: {error:?}"
        );
    }
    let records = Chain::new().batch(2);
    let mut transport = Transport::open(&syslog_sink(&format!("localhost:{port}"), ""))
        .await
        .unwrap();
    transport.deliver(&records).await.unwrap();
    assert_messages(&rsyslog.wait_for_lines(records.len(), WAIT).await, &records);
}

/// SIEM over HTTP goes through the outbound-address guard: a collector on loopback —
/// by address, in an IPv6 form, or by the name `localhost` — is refused by the
/// configuration check and when opening the sink, unless the sink says
/// `allow_internal = true`.
#[tokio::test]
async fn an_http_collector_on_loopback_needs_allow_internal() {
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let records = Chain::new().batch(1);
    for url in [
        receiver.url("/ingest"),
        format!("http://[::ffff:127.0.0.1]:{port}/ingest"),
        format!("http://localhost:{port}/ingest"),
    ] {
        let text = format!("kind = \"http\"\nformat = \"json\"\nurl = \"{url}\"");
        let config: SinkConfig = toml::from_str(&text).unwrap();
        let error = config.validate("soc").unwrap_err();
        assert!(error.starts_with("audit.sinks.soc.url: "), "{url}: {error}");
        assert!(error.contains("allow_internal = true"), "{url}: {error}");
        let error = Transport::open(&config).await.unwrap_err();
        assert!(matches!(error, SinkError::Config(_)), "{url}: {error:?}");

        let allowed = sink(&format!("{text}\nallow_internal = true"));
        let mut transport = Transport::open(&allowed).await.unwrap();
        transport.deliver(&records).await.unwrap();
    }
    assert_eq!(receiver.seen().len(), 3);
}

#[tokio::test]
async fn http_token_from_an_unset_variable_is_a_configuration_error() {
    let config = sink(
        "kind = \"http\"\nurl = \"https://splunk.invalid:8088/services/collector/event\"\n\
         token_env = \"WARDEN_TEST_SIEM_TOKEN_THAT_IS_NOT_SET\"",
    );
    let error = Transport::open(&config).await.unwrap_err();
    assert!(matches!(error, SinkError::Config(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("WARDEN_TEST_SIEM_TOKEN_THAT_IS_NOT_SET is not set"),
        "{error}"
    );
}

// ----- file -----

fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["metadata"]["sequence"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn file_appends_json_lines_readable_by_the_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let config = sink(&format!("kind = \"file\"\npath = \"{}\"", path.display()));
    let mut transport = Transport::open(&config).await.unwrap();
    let mut chain = Chain::new();
    let first = chain.batch(5);
    let second = chain.batch(3);
    transport.deliver(&first).await.unwrap();
    transport.deliver(&second).await.unwrap();

    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let events = read_events(&path);
    assert_eq!(seqs(&events), (1..=8).collect::<Vec<_>>());
    for (e, r) in events.iter().zip(first.iter().chain(&second)) {
        assert_eq!(e["unmapped"]["hash"], r.hash.to_hex());
    }

    // A second transport (a restarted server) appends to the same file.
    let mut again = Transport::open(&config).await.unwrap();
    again.deliver(&chain.batch(1)).await.unwrap();
    assert_eq!(seqs(&read_events(&path)), (1..=9).collect::<Vec<_>>());
}

#[tokio::test]
async fn file_rotates_by_size_and_keeps_the_configured_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut chain = Chain::new();
    let records = chain.batch(40);
    let line = |r: &Record<'static>| {
        warden_app::siem::ocsf::event(r, env!("CARGO_PKG_VERSION"))
            .to_string()
            .len() as u64
            + 1
    };
    let longest = records.iter().map(line).max().unwrap();
    // Room for three lines of the longest kind per file.
    let max_bytes = longest * 3;
    // A stale file from an earlier, larger `keep` is cleaned up as well.
    std::fs::write(numbered(&path, 4), "old\n").unwrap();
    let config = sink(&format!(
        "kind = \"file\"\npath = \"{}\"\nmax_bytes = {max_bytes}\nkeep = 2",
        path.display()
    ));
    let mut transport = Transport::open(&config).await.unwrap();
    for batch in records.chunks(7) {
        transport.deliver(batch).await.unwrap();
    }

    assert!(!numbered(&path, 3).exists());
    assert!(!numbered(&path, 4).exists());
    let mut kept = Vec::new();
    for p in [numbered(&path, 2), numbered(&path, 1), path.clone()] {
        let size = std::fs::metadata(&p).unwrap().len();
        assert!(size <= max_bytes, "{} has {size} bytes", p.display());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
        let events = read_events(&p);
        assert!(!events.is_empty(), "{} is empty", p.display());
        kept.extend(seqs(&events));
    }
    // The kept files hold the newest records, in order, without a gap, ending with the
    // last one; older files were deleted.
    assert!(kept.len() < records.len());
    let expected: Vec<u64> =
        ((records.len() - kept.len() + 1) as u64..=records.len() as u64).collect();
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn file_needs_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("audit.jsonl");
    let config = sink(&format!("kind = \"file\"\npath = \"{}\"", path.display()));
    let mut transport = Transport::open(&config).await.unwrap();
    let error = transport.deliver(&Chain::new().batch(1)).await.unwrap_err();
    assert!(matches!(error, SinkError::NoDirectory { .. }), "{error:?}");
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert!(!path.parent().unwrap().exists());

    // Once the directory is there, the same transport delivers.
    std::fs::create_dir(path.parent().unwrap()).unwrap();
    transport.deliver(&Chain::new().batch(1)).await.unwrap();
    assert_eq!(read_events(&path).len(), 1);
}

#[tokio::test]
async fn file_ends_a_line_cut_short_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // What a crash or a full disk in the middle of a write leaves.
    std::fs::write(&path, "{\"class_uid\":6003,\"tim").unwrap();
    let config = sink(&format!("kind = \"file\"\npath = \"{}\"", path.display()));
    let mut transport = Transport::open(&config).await.unwrap();
    transport.deliver(&Chain::new().batch(2)).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "{\"class_uid\":6003,\"tim");
    for line in &lines[1..] {
        serde_json::from_str::<Value>(line).unwrap();
    }
}

// ----- the export worker, end to end -----

/// Changes made through the API, so the log has events to export.
async fn api_changes(t: &crate::support::TestApp, names: &[&str]) {
    let admin = t.admin().await;
    for name in names {
        let answer = t
            .post(
                "/v1/users",
                &admin,
                serde_json::json!({"username": name, "scopes": ["request"], "password": format!("{name}-password-123")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    }
}

fn gauge(t: &crate::support::TestApp, name: &str, sink: &str) -> f64 {
    let text = t.state.metrics().render();
    let prefix = format!("{name}{{sink=\"{sink}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in the metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// The server's events reach a real rsyslogd in order; while it is down they wait (the
/// backlog and lag say so), an hour later they all arrive, each once, when it returns.
#[tokio::test]
async fn server_events_reach_rsyslog_and_catch_up_after_an_hour_down() {
    let mut rs = Rsyslog::start().await;
    let address = format!("127.0.0.1:{}", rs.port);
    let config = syslog_sink(&address, "");
    let t = crate::support::TestApp::with(warden_store::Backend::Sqlite, |c| {
        c.audit.sinks.insert("soc".to_owned(), config.clone());
    })
    .await;
    api_changes(&t, &["ann", "ben"]).await;
    let mut transport = None;
    let first = warden_app::siem::pass(&t.state, "soc", &config, &mut transport)
        .await
        .unwrap();
    let head = t.state.store().audit_head().await.unwrap().0;
    assert_eq!(first.delivered, head);
    assert_eq!(first.backlog, 0);
    rs.wait_for_lines(usize::try_from(head).unwrap(), WAIT)
        .await;

    // The receiver goes away for an hour while the server keeps working.
    rs.stop();
    api_changes(&t, &["cy", "dee", "eve"]).await;
    t.clock.advance(time::Duration::hours(1));
    let failed = warden_app::siem::pass(&t.state, "soc", &config, &mut transport).await;
    assert!(failed.is_err(), "delivery to a stopped receiver must fail");
    let now_head = t.state.store().audit_head().await.unwrap().0;
    assert_eq!(
        gauge(&t, "warden_audit_sink_backlog", "soc"),
        (now_head - head) as f64
    );
    assert!(gauge(&t, "warden_audit_sink_lag_seconds", "soc") >= 3600.0);
    assert_eq!(
        t.state.store().audit_cursor("soc").await.unwrap(),
        i64::try_from(head).unwrap(),
        "the cursor does not move past undelivered events"
    );

    // It returns; the real worker loop (with its retry) catches up.
    rs.restart().await;
    let worker = tokio::spawn(warden_app::siem::run(
        t.state.clone(),
        "soc".to_owned(),
        config.clone(),
    ));
    let got = rs
        .wait_for_lines(usize::try_from(now_head).unwrap(), WAIT)
        .await;
    worker.abort();
    let seqs: Vec<u64> = got
        .iter()
        .map(|m| m.sd_param("seq").unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=now_head).collect::<Vec<_>>(),
        "each event once, in order"
    );
    let events = t.state.store().audit_events(0, 1000).await.unwrap();
    for (m, e) in got.iter().zip(&events) {
        assert_eq!(m.sd_param("hash").unwrap(), e.hash.to_hex());
        assert_eq!(m.msgid, e.action);
        assert_eq!(m.json()["unmapped"]["hash"], e.hash.to_hex());
    }
    assert_eq!(gauge(&t, "warden_audit_sink_backlog", "soc"), 0.0);
    // The users' passwords never reached the SIEM.
    for m in &got {
        assert!(!m.raw.contains("-password-123"));
    }
}

/// An HTTP collector that refuses for a while gets every event once it accepts, at least
/// once each and in order of first arrival; requests were never blocked meanwhile.
#[tokio::test]
async fn server_events_reach_an_http_collector_after_it_recovers() {
    let receiver = Receiver::start().await;
    receiver.answer(StatusCode::SERVICE_UNAVAILABLE);
    let dir = tempfile::tempdir().unwrap();
    let config = sink(&format!(
        "kind = \"http\"\nallow_internal = true\nurl = \"{}\"\ntoken_file = \"{}\"\nbatch = 4",
        receiver.url("/services/collector/event"),
        token_file(dir.path()).display()
    ));
    let t = crate::support::TestApp::with(warden_store::Backend::Sqlite, |c| {
        c.audit.sinks.insert("splunk".to_owned(), config.clone());
    })
    .await;
    let worker = tokio::spawn(warden_app::siem::run(
        t.state.clone(),
        "splunk".to_owned(),
        config.clone(),
    ));
    // The API answers while the collector refuses.
    api_changes(&t, &["ann", "ben", "cy"]).await;
    eventually(
        "the worker to try the refusing collector",
        async || receiver.seen().len(),
        |tries| *tries > 0,
    )
    .await;
    assert_eq!(t.state.store().audit_cursor("splunk").await.unwrap(), 0);
    receiver.answer(StatusCode::OK);
    let head = t.state.store().audit_head().await.unwrap().0;
    let head_seq = i64::try_from(head).unwrap();
    eventually(
        "the sink's cursor to reach the head of the chain",
        async || t.state.store().audit_cursor("splunk").await.unwrap(),
        |cursor| *cursor >= head_seq,
    )
    .await;
    worker.abort();
    let mut first_seen = Vec::new();
    for request in receiver.seen() {
        // Refused batches were sent again later: count each event at its first arrival.
        let body = String::from_utf8(request.body.clone()).unwrap();
        for e in serde_json::Deserializer::from_str(&body).into_iter::<Value>() {
            let seq = e.unwrap()["event"]["metadata"]["sequence"]
                .as_u64()
                .unwrap();
            if !first_seen.contains(&seq) {
                first_seen.push(seq);
            }
        }
    }
    assert_eq!(first_seen, (1..=head).collect::<Vec<_>>());
}
