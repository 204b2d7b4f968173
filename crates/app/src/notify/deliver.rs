//! Delivery of outbox messages. [`tick`] reads the messages due now, sends each through
//! its channel (a signed JSON webhook, a Slack or Teams incoming webhook, or e-mail over
//! SMTP), marks it delivered, or records the failure and when to try again
//! ([`retry_delay`]: 1 s doubling to 5 min). Messages are sent concurrently, each within
//! [`TIMEOUT`], so one slow or failing channel never holds back another. [`run`] is the
//! loop `warden serve` keeps going; [`wake`] makes it look at the outbox at once.
//!
//! Delivery is at least once: a crash between sending and marking sends the message
//! again, with the same id (`Warden-Delivery`), for the receiver to drop.
//!
//! Every connection goes through the outbound-address guard ([`crate::outbound`]):
//! webhook, Slack and Teams URLs and the SMTP server may reach loopback, private,
//! link-local and other internal addresses only when their configuration says
//! `allow_internal = true`. IP literals are judged before the request, host names on the
//! addresses they resolve to when connecting, and redirects are never followed, so a name
//! cannot smuggle a request inside.
//!
//! Text that people typed (a justification, a reason) reaches Slack and Teams as text,
//! never as markup: [`chat_text`] escapes what each format would read as a link, a
//! mention or formatting.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use warden_core::connector::{ALERT_AFTER, retry_delay};
use warden_store::{StoreError, StoredOutbox};

use crate::config::{ChannelConfig, ChannelKind, SmtpConfig};
use crate::outbound::{self, error_chain};
use crate::state::AppState;

/// Most messages read from the outbox in one tick.
pub const BATCH: u64 = 200;

/// Most deliveries in flight at once.
pub const CONCURRENCY: usize = 16;

/// The longest one delivery may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest [`run`] sleeps between two looks at the outbox.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Why a tick could not do its work. A failed delivery is not an error of the tick: it is
/// recorded on the message and retried.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The outbox could not be read or updated.
    #[error("notification outbox: {0}")]
    Store(#[from] StoreError),
}

/// Why one message could not be delivered. The text is stored as the message's last
/// error and logged; it never holds a URL (Slack and Teams URLs are secrets) or a key.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message names a channel that is not configured (any more).
    #[error("channel {0:?} is not configured; the message waits until it is")]
    UnknownChannel(String),
    /// The channel's configuration cannot work.
    #[error("channel misconfigured: {0}")]
    Config(String),
    /// The URL is refused (scheme or internal address).
    #[error("refused URL: {0}")]
    Refused(String),
    /// The stored payload is not the JSON Warden writes.
    #[error("payload is not valid JSON: {0}")]
    Payload(String),
    /// The receiver could not be reached or did not answer.
    #[error("HTTP request failed: {0}")]
    Http(String),
    /// The receiver answered, but not with success.
    #[error("receiver answered HTTP {0}")]
    Status(u16),
    /// The mail could not be built or sent.
    #[error("mail: {0}")]
    Mail(String),
    /// No answer within [`TIMEOUT`].
    #[error("no answer within {} seconds", TIMEOUT.as_secs())]
    Timeout,
}

// ----- the loop -----

static WAKER: Notify = Notify::const_new();

/// What [`run`] waits on besides its timer.
pub fn waker() -> &'static Notify {
    &WAKER
}

/// Makes [`run`] look at the outbox now (call after committing outbox rows). A wake
/// while the loop is busy is kept, so it is never lost.
pub fn wake() {
    WAKER.notify_one();
}

/// The lease of the delivery worker: one replica at a time delivers.
pub const LEASE_NAME: &str = "outbox";

/// Delivers notifications until the task is dropped: a tick, then a sleep until the next
/// message is due (at most [`MAX_SLEEP`]), cut short by [`wake`]. Only while this
/// replica holds the delivery lease.
pub async fn run(state: AppState) {
    loop {
        if !state.hold_lease(LEASE_NAME).await {
            // Another replica delivers; be ready to take over when it stops.
            tokio::select! {
                () = tokio::time::sleep(MAX_SLEEP) => {}
                () = WAKER.notified() => {}
            }
            continue;
        }
        let ticked = match tick(&state).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "notification delivery could not run");
                false
            }
        };
        let wait = if ticked {
            match state.store().next_outbox_due().await {
                Ok(Some(due)) => {
                    let left = due - state.clock().now();
                    Duration::try_from(left)
                        .unwrap_or(Duration::ZERO)
                        .min(MAX_SLEEP)
                }
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read when the next notification is due");
                    MAX_SLEEP
                }
            }
        } else {
            MAX_SLEEP
        };
        if wait.is_zero() {
            // A full batch left more due now; let other tasks run before the next one.
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = WAKER.notified() => {}
        }
    }
}

/// Delivers the messages due now (at most [`BATCH`]) and returns how many were delivered.
/// Each failure is recorded on its message with the time of the next attempt.
pub async fn tick(state: &AppState) -> Result<usize, DeliverError> {
    let now = state.clock().now();
    let due = state.store().due_outbox(now, BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for message in due {
        let state = state.clone();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            // The semaphore is never closed, so a permit always comes.
            let _permit = limit.acquire_owned().await;
            deliver_one(&state, message).await
        });
    }
    let mut delivered = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(true)) => delivered += 1,
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot record a notification's delivery");
                first_error.get_or_insert(e);
            }
            Err(e) => tracing::error!(error = %e, "a notification delivery task failed"),
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(delivered),
    }
}

/// Sends one message and records the outcome; `true` when delivered.
async fn deliver_one(state: &AppState, stored: StoredOutbox) -> Result<bool, StoreError> {
    let message = &stored.message;
    let notifications = &state.config().notifications;
    let result = match notifications
        .channel
        .iter()
        .find(|c| c.name == message.channel)
    {
        None => Err(SendError::UnknownChannel(message.channel.clone())),
        Some(channel) => {
            let sending = send(
                channel,
                notifications.smtp.as_ref(),
                &stored,
                state.clock().now(),
            );
            tokio::time::timeout(TIMEOUT, sending)
                .await
                .unwrap_or(Err(SendError::Timeout))
        }
    };
    let at = state.clock().now();
    match result {
        Ok(()) => {
            state.store().outbox_delivered(message.id, at).await?;
            tracing::debug!(
                channel = %message.channel,
                delivery = %message.id,
                event = %message.event,
                "notification delivered"
            );
            Ok(true)
        }
        Err(error) => {
            let attempts = stored.attempts.saturating_add(1);
            let retry_at = at + retry_delay(attempts);
            let text = error.to_string();
            if attempts >= ALERT_AFTER {
                tracing::error!(
                    channel = %message.channel,
                    delivery = %message.id,
                    event = %message.event,
                    attempts,
                    %retry_at,
                    error = %text,
                    "notification delivery keeps failing"
                );
            } else {
                tracing::warn!(
                    channel = %message.channel,
                    delivery = %message.id,
                    event = %message.event,
                    attempts,
                    %retry_at,
                    error = %text,
                    "notification delivery failed; will retry"
                );
            }
            state
                .store()
                .outbox_failed(message.id, attempts, retry_at, &text)
                .await?;
            Ok(false)
        }
    }
}

async fn send(
    channel: &ChannelConfig,
    smtp: Option<&SmtpConfig>,
    stored: &StoredOutbox,
    now: OffsetDateTime,
) -> Result<(), SendError> {
    match channel.kind {
        ChannelKind::Webhook => send_webhook(channel, stored, now).await,
        ChannelKind::Slack | ChannelKind::Teams => send_chat(channel, stored).await,
        ChannelKind::Email => {
            let smtp = smtp.ok_or_else(|| {
                SendError::Config("an email channel needs [notifications.smtp]".to_owned())
            })?;
            send_email(channel, smtp, stored, now).await
        }
    }
}

// ----- webhooks -----

type HmacSha256 = Hmac<Sha256>;

/// The `Warden-Signature` header value of `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<lowercase hex HMAC-SHA256 over "<timestamp>.<body>">`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mac = signed_mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(mac))
}

fn signed_mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    #[allow(clippy::expect_used)] // HMAC hashes a long key and pads a short one: no length fails
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Whether `header` (a `Warden-Signature` value) signs `body` with `secret`, and its time
/// is within `tolerance_secs` of `now_unix`. Several `v1=` values (during a key change)
/// are accepted when one matches. The comparison is constant-time.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                if timestamp.is_some() {
                    return false;
                }
                match t.parse::<i64>() {
                    Ok(t) => timestamp = Some(t),
                    Err(_) => return false,
                }
            }
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if now_unix.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return false;
    }
    signatures.into_iter().any(|v| {
        hex::decode(v).is_ok_and(|tag| {
            signed_mac(secret, timestamp, body)
                .verify_slice(&tag)
                .is_ok()
        })
    })
}

async fn send_webhook(
    channel: &ChannelConfig,
    stored: &StoredOutbox,
    now: OffsetDateTime,
) -> Result<(), SendError> {
    let message = &stored.message;
    let url = channel_url(channel)?;
    let secret = channel
        .secret
        .as_ref()
        .ok_or_else(|| SendError::Config("a webhook channel needs a secret".to_owned()))?;
    let signature = sign(
        secret.expose_secret().as_bytes(),
        now.unix_timestamp(),
        message.payload.as_bytes(),
    );
    let request = http_client(channel.allow_internal)?
        .post(url.as_str())
        .map_err(|e| SendError::Refused(e.to_string()))?
        .header(CONTENT_TYPE, "application/json")
        .header("Warden-Event", message.event.as_str())
        .header("Warden-Delivery", message.id.to_string())
        .header("Warden-Signature", signature)
        .body(message.payload.clone());
    post(request).await
}

/// A string field of a payload, empty when missing.
fn text_field<'a>(payload: &'a Value, key: &str) -> &'a str {
    payload.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The markup a chat channel reads in its `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    /// Slack's mrkdwn (and Slack-compatible receivers): `<…>` makes links and mentions.
    Slack,
    /// Teams: Markdown, with HTML.
    Teams,
}

/// The one-line text of a Slack or Teams message: summary, event, and the plain facts,
/// escaped for `format` so that what people typed stays text.
pub fn chat_text(format: ChatFormat, payload: &Value) -> String {
    let summary = text_field(payload, "summary");
    let event = text_field(payload, "event");
    let mut text = format!("[Warden] {summary} ({event}");
    if let Some(data) = payload.get("data").and_then(Value::as_object) {
        for (key, value) in data.iter().take(8) {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            let _ = write!(text, ", {key}: {value}");
        }
    }
    text.push(')');
    escape_chat(format, &one_line(&text))
}

/// The JSON body posted to a Slack or Teams webhook. Slack's is sent with
/// `"mrkdwn": false`, so `*`, `_`, `~` and `` ` `` stay characters (Slack has no escape
/// for them).
pub fn chat_body(format: ChatFormat, payload: &Value) -> Value {
    let text = chat_text(format, payload);
    match format {
        ChatFormat::Slack => serde_json::json!({ "text": text, "mrkdwn": false }),
        ChatFormat::Teams => serde_json::json!({ "text": text }),
    }
}

/// Escapes text for a chat format. Both read `<…>`: Slack as links and mentions
/// (`<!channel>`, `<@U123>`, `<https://…|label>`), Teams as HTML; `&` starts an entity in
/// both. Teams also reads Markdown, whose every control character is escaped with a
/// backslash (CommonMark drops the backslash when rendering), so `[label](url)` shows as
/// written instead of becoming a link.
fn escape_chat(format: ChatFormat, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '!' | '|' | '#'
                if format == ChatFormat::Teams =>
            {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` on one line: control characters, and the invisible ones that reorder text on
/// screen (bidirectional overrides and isolates), become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            let reorders = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || reorders { ' ' } else { c }
        })
        .collect()
}

async fn send_chat(channel: &ChannelConfig, stored: &StoredOutbox) -> Result<(), SendError> {
    let url = channel_url(channel)?;
    let payload: Value = serde_json::from_str(&stored.message.payload)
        .map_err(|e| SendError::Payload(e.to_string()))?;
    let format = match channel.kind {
        ChannelKind::Teams => ChatFormat::Teams,
        _ => ChatFormat::Slack,
    };
    let body = chat_body(format, &payload);
    let request = http_client(channel.allow_internal)?
        .post(url.as_str())
        .map_err(|e| SendError::Refused(e.to_string()))?
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    post(request).await
}

async fn post(request: reqwest::RequestBuilder) -> Result<(), SendError> {
    let response = request
        .send()
        .await
        .map_err(|e| SendError::Http(error_chain(&e.without_url())))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError::Status(status.as_u16()))
    }
}

/// The channel's URL, checked as at each delivery: the guard's check of IP literals, and
/// the channels' own rule, `https://` unless `allow_internal`. Names are judged when
/// connecting.
fn channel_url(channel: &ChannelConfig) -> Result<Url, SendError> {
    let url = channel.url.as_deref().ok_or_else(|| {
        SendError::Config(format!("a {:?} channel needs a url", channel.kind).to_lowercase())
    })?;
    let parsed = outbound::check_url(url, channel.allow_internal)
        .map_err(|e| SendError::Refused(e.to_string()))?;
    https_unless_internal(&parsed, channel.allow_internal).map_err(SendError::Refused)?;
    Ok(parsed)
}

fn https_unless_internal(url: &Url, allow_internal: bool) -> Result<(), String> {
    if url.scheme() == "http" && !allow_internal {
        return Err("http:// is allowed only with allow_internal = true; use https://".to_owned());
    }
    Ok(())
}

/// Checks a webhook, Slack or Teams URL in the configuration: a valid `https://` URL
/// (`http://` only with `allow_internal`) whose host is neither an internal IP literal
/// nor `localhost`, unless `allow_internal`. The message never repeats the URL, whose
/// path may be a secret.
pub fn check_url(url: &str, allow_internal: bool) -> Result<Url, String> {
    let parsed = outbound::check_configured_url(url, allow_internal).map_err(|e| e.to_string())?;
    https_unless_internal(&parsed, allow_internal)?;
    Ok(parsed)
}

/// Two shared clients: one for channels that allow internal addresses, one that checks
/// every address it connects to ([`outbound::Client`]).
fn http_client(allow_internal: bool) -> Result<&'static outbound::Client, SendError> {
    static OPEN: OnceLock<outbound::Client> = OnceLock::new();
    static GUARDED: OnceLock<outbound::Client> = OnceLock::new();
    let cell = if allow_internal { &OPEN } else { &GUARDED };
    if let Some(client) = cell.get() {
        return Ok(client);
    }
    let client = outbound::Client::new(allow_internal, TIMEOUT).map_err(|e| {
        SendError::Http(format!("cannot build the HTTP client: {}", error_chain(&e)))
    })?;
    Ok(cell.get_or_init(|| client))
}

// ----- e-mail -----

/// The plain-text body of a notification mail.
pub fn email_body(stored: &StoredOutbox, payload: &Value) -> String {
    let message = &stored.message;
    let summary = text_field(payload, "summary");
    let data = serde_json::to_string_pretty(payload.get("data").unwrap_or(&Value::Null))
        .unwrap_or_default();
    format!(
        "{summary}\n\nEvent: {event}\nDelivery: {id}\n\nDetails:\n{data}\n\n-- \nSent by Warden. The delivery id is the same if this notice is sent again.\n",
        event = message.event,
        id = message.id,
    )
}

async fn send_email(
    channel: &ChannelConfig,
    smtp: &SmtpConfig,
    stored: &StoredOutbox,
    now: OffsetDateTime,
) -> Result<(), SendError> {
    let message = &stored.message;
    let payload: Value =
        serde_json::from_str(&message.payload).map_err(|e| SendError::Payload(e.to_string()))?;
    let mut recipients: Vec<String> = channel.to.clone();
    if channel.people
        && let Some(people) = payload.get("people").and_then(Value::as_array)
    {
        for p in people.iter().filter_map(Value::as_str) {
            if !recipients.iter().any(|r| r.eq_ignore_ascii_case(p)) {
                recipients.push(p.to_owned());
            }
        }
    }
    if recipients.is_empty() {
        // Nobody to tell about this event on this channel: nothing to send.
        return Ok(());
    }
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| SendError::Config(format!("notifications.smtp.from: {e}")))?;
    let summary = one_line(text_field(&payload, "summary"));
    let mut builder = Message::builder()
        .message_id(Some(format!("<{}@{}>", message.id, from.email.domain())))
        .from(from)
        .subject(format!("[Warden] {summary}"))
        .date(std::time::SystemTime::from(now))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Warden-Delivery"),
            message.id.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Warden-Event"),
            one_line(&message.event),
        ));
    for to in &recipients {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Config(format!("recipient {to:?}: {e}")))?;
        builder = builder.to(to);
    }
    let email = builder
        .header(ContentType::TEXT_PLAIN)
        .body(email_body(stored, &payload))
        .map_err(|e| SendError::Mail(e.to_string()))?;
    smtp_transport(smtp)
        .await?
        .send(email)
        .await
        .map_err(|e| SendError::Mail(error_chain(&e)))?;
    Ok(())
}

/// The SMTP transport for one delivery. It connects to an address of `smtp.host` that
/// the guard resolved and vetted (never to the name, which could answer differently the
/// second time), and checks the server's certificate against the name.
async fn smtp_transport(
    smtp: &SmtpConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    // The server installs ring at start; lettre falls back to ring without it as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mail_error = |e: lettre::transport::smtp::Error| SendError::Mail(error_chain(&e));
    let address = outbound::resolve(&smtp.host, smtp.port, smtp.allow_internal)
        .await
        .map_err(|e| SendError::Refused(format!("notifications.smtp.host: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| SendError::Mail(format!("{} resolves to no address", smtp.host)))?;
    let name = smtp.host.trim_start_matches('[').trim_end_matches(']');
    let tls = match smtp.tls.as_str() {
        "none" => Tls::None,
        "starttls" => Tls::Required(TlsParameters::new(name.to_owned()).map_err(mail_error)?),
        "tls" => Tls::Wrapper(TlsParameters::new(name.to_owned()).map_err(mail_error)?),
        other => {
            return Err(SendError::Config(format!(
                "notifications.smtp.tls is {other:?}; expected none, starttls or tls"
            )));
        }
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
            .port(address.port())
            .tls(tls)
            .timeout(Some(TIMEOUT));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_rejects_changes() {
        let header = sign(b"k", 1_700_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify_signature(
            b"k",
            &header,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            b"x",
            &header,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            b"k",
            &header,
            b"{\"a\":2}",
            1_700_000_100,
            300
        ));
        assert!(!verify_signature(
            b"k",
            &header,
            b"{\"a\":1}",
            1_700_000_301,
            300
        ));
        assert!(!verify_signature(b"k", "v1=00", b"", 0, 300));
    }

    #[test]
    fn channel_urls_need_https_and_no_internal_host_without_allow_internal() {
        for url in [
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://192.168.0.1/x",
            "https://172.16.0.1/x",
            "https://169.254.169.254/latest",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            // What the check of old missed.
            "https://[::7f00:1]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://[2002:7f00:1::]/x",
            "https://198.18.0.1/x",
            "https://localhost/x",
            "http://hooks.example.com/x",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("ftp://hooks.example.com/x", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }

    /// A justification written to become a link, a mention or formatting in chat.
    const HOSTILE: &str = "[click here](https://evil.example) <!channel> <https://evil.example|update> *urgent* _now_ `x` ~y~ \\ ![img](https://evil.example/p.png) <b>bold</b> &amp; a\u{202e}b";

    fn hostile_payload() -> Value {
        serde_json::json!({
            "summary": format!("alice asks for admin on db: {HOSTILE}\nsecond line"),
            "event": "request.needs_approval",
            "data": {"justification": HOSTILE, "resource": "db<>", "nested": {"x": 1}},
        })
    }

    #[test]
    fn slack_text_cannot_link_mention_or_break_the_line() {
        let text = chat_text(ChatFormat::Slack, &hostile_payload());
        assert_eq!(
            text,
            "[Warden] alice asks for admin on db: [click here](https://evil.example) \
             &lt;!channel&gt; &lt;https://evil.example|update&gt; *urgent* _now_ `x` ~y~ \\ \
             ![img](https://evil.example/p.png) &lt;b&gt;bold&lt;/b&gt; &amp;amp; a b second \
             line (request.needs_approval, justification: [click here](https://evil.example) \
             &lt;!channel&gt; &lt;https://evil.example|update&gt; *urgent* _now_ `x` ~y~ \\ \
             ![img](https://evil.example/p.png) &lt;b&gt;bold&lt;/b&gt; &amp;amp; a b, \
             resource: db&lt;&gt;)"
        );
        // Slack does not read [label](url); mrkdwn off keeps * _ ~ ` as characters.
        let body = chat_body(ChatFormat::Slack, &hostile_payload());
        assert_eq!(body["mrkdwn"], false);
        assert_eq!(body["text"], text);
    }

    #[test]
    fn teams_text_shows_markdown_and_html_as_written() {
        let text = chat_text(ChatFormat::Teams, &hostile_payload());
        assert_eq!(
            text,
            "\\[Warden\\] alice asks for admin on db: \\[click here\\]\\(https://evil.example\\) \
             &lt;\\!channel&gt; &lt;https://evil.example\\|update&gt; \\*urgent\\* \\_now\\_ \
             \\`x\\` \\~y\\~ \\\\ \\!\\[img\\]\\(https://evil.example/p.png\\) \
             &lt;b&gt;bold&lt;/b&gt; &amp;amp; a b second line \\(request.needs\\_approval, \
             justification: \\[click here\\]\\(https://evil.example\\) &lt;\\!channel&gt; \
             &lt;https://evil.example\\|update&gt; \\*urgent\\* \\_now\\_ \\`x\\` \\~y\\~ \\\\ \
             \\!\\[img\\]\\(https://evil.example/p.png\\) &lt;b&gt;bold&lt;/b&gt; &amp;amp; a b, \
             resource: db&lt;&gt;\\)"
        );
        // No ]( is left for a Markdown link, no < for a tag or an autolink.
        assert!(!text.contains("]("), "{text}");
        assert!(!text.contains('<'), "{text}");
        let body = chat_body(ChatFormat::Teams, &hostile_payload());
        assert_eq!(body, serde_json::json!({ "text": text }));
    }
}
