//! The outbound-address guard on the ticket check, against a real tracker on loopback: a
//! host name that resolves to loopback is refused when connecting, the requester reads
//! the same refusal whether the guard refused the address or nothing listens, policy
//! refuses an internal IP address at apply, naming file and line, and `[tickets]
//! allow_internal = true` lets an in-house tracker through. (Webhooks, SMTP and SIEM
//! over HTTP are shown in `notify` and `siem`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use serde_json::Value;
use warden_app::tickets::not_confirmed;

use crate::requests::{Tokens, apply_standard_intake, ask, file, people, people_with};
use crate::support::{Answer, TestApp};

/// An issue tracker on 127.0.0.1 that says every ticket is open, and counts the requests
/// it gets.
struct Tracker {
    port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let app = axum::Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::OK }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { port, hits, task }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Applies a policy whose `standard` approval checks tickets at `url`; it must apply.
async fn check_tickets_at(t: &TestApp, url: &str) {
    let applied = apply_standard_intake(t, &format!("ticket_check_url = \"{url}\"")).await;
    assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
}

/// alice files a request with ticket CHG-1.
async fn file_with_ticket(t: &TestApp, p: &Tokens) -> Answer {
    file(t, &p.alice, ask("orders-db", "read", "1h", Some("CHG-1"))).await
}

/// What the requester reads of a refusal: the whole problem but its request id.
/// Read as raw JSON, so that the comparison covers every field on the wire.
fn as_read(answer: &Answer) -> Value {
    let mut body = answer.body.clone();
    body.as_object_mut().unwrap().remove("request_id");
    body
}

async fn requests_filed(t: &TestApp) -> usize {
    t.state
        .store()
        .list_requests(warden_store::RequestFilter::All)
        .await
        .unwrap()
        .len()
}

/// Issue: policy could point the ticket check at loopback, which the server then called
/// on every request. A name passes policy (it is judged when connecting); `localhost`
/// resolves to loopback, so the connection is refused and the tracker never hears of it.
#[tokio::test]
async fn a_ticket_check_on_a_name_resolving_to_loopback_is_refused_when_connecting() {
    let tracker = Tracker::start().await;
    let (t, p) = people().await;
    check_tickets_at(
        &t,
        &format!("http://localhost:{}/tickets/{{ticket}}", tracker.port),
    )
    .await;

    let refused = file_with_ticket(&t, &p).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    let errors = refused.details().errors;
    assert_eq!(errors[0].field, "ticket", "{refused:?}");
    assert_eq!(errors[0].message, not_confirmed("CHG-1"), "{refused:?}");
    assert_eq!(tracker.hits(), 0, "the tracker on loopback was called");
    assert_eq!(requests_filed(&t).await, 0);
}

/// Issue: the requester learned from the error whether a port answered. An address the
/// guard refuses and a tracker where nothing listens read exactly the same.
#[tokio::test]
async fn a_refused_address_and_a_tracker_that_is_down_read_the_same() {
    let tracker = Tracker::start().await;
    let (guarded, p) = people().await;
    check_tickets_at(
        &guarded,
        &format!("http://localhost:{}/tickets/{{ticket}}", tracker.port),
    )
    .await;
    let refused = file_with_ticket(&guarded, &p).await;

    let (open, q) = people_with(|c| c.tickets.allow_internal = true).await;
    check_tickets_at(
        &open,
        &format!("http://127.0.0.1:{}/tickets/{{ticket}}", closed_port()),
    )
    .await;
    let down = file_with_ticket(&open, &q).await;

    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    assert_eq!(down.status, refused.status, "{down:?}");
    assert_eq!(as_read(&down), as_read(&refused));
    assert_eq!(tracker.hits(), 0);
}

/// Issue: policy could name a loopback or link-local address. An IP address in an
/// internal range is refused at apply, with the file and line of `ticket_check_url`.
#[tokio::test]
async fn policy_refuses_a_ticket_check_on_an_internal_address_naming_file_and_line() {
    let (t, _) = people().await;
    let before = t.state.policy().version;
    for (url, why) in [
        (
            "http://169.254.169.254/latest/meta-data/{ticket}",
            "in link-local (169.254.0.0/16)",
        ),
        (
            "http://[64:ff9b::a9fe:a9fe]/{ticket}",
            "the NAT64 form of 169.254.169.254, in link-local (169.254.0.0/16)",
        ),
        (
            "http://[2002:7f00:1::]:8080/{ticket}",
            "the 6to4 form of 127.0.0.1, in loopback (127.0.0.0/8)",
        ),
    ] {
        let refused = apply_standard_intake(&t, &format!("ticket_check_url = \"{url}\"")).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused:?}"
        );
        let errors = refused.details().errors;
        assert_eq!(errors.len(), 1, "{refused:?}");
        let field = &errors[0].field;
        assert!(field.starts_with("approvals.toml:"), "{field}");
        let message = &errors[0].message;
        assert!(message.contains(why), "{url}: {message}");
        assert!(
            message.contains("[tickets] allow_internal = true"),
            "{message}"
        );
    }
    assert_eq!(t.state.policy().version, before, "nothing was applied");
}

/// `[tickets] allow_internal = true`: the operator's switch for an in-house tracker. Both
/// an IP address and a name on loopback are then called.
#[tokio::test]
async fn allow_internal_lets_an_in_house_tracker_through() {
    let tracker = Tracker::start().await;
    for (host, hits) in [("127.0.0.1", 1), ("localhost", 2)] {
        let (t, p) = people_with(|c| c.tickets.allow_internal = true).await;
        check_tickets_at(
            &t,
            &format!("http://{host}:{}/tickets/{{ticket}}", tracker.port),
        )
        .await;
        let filed = file_with_ticket(&t, &p).await;
        assert_eq!(filed.status, StatusCode::CREATED, "{host}: {filed:?}");
        assert_eq!(tracker.hits(), hits, "{host}");
    }
}
