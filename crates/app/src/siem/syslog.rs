//! The syslog sink: each record as one RFC 5424 message carrying its OCSF event, framed
//! with RFC 6587 octet counting (`LEN SP MSG`) over TCP or TLS.
//!
//! Octet counting, not newline framing, because a message may contain any byte: a
//! receiver splits on the length, so a record whose text holds a newline still arrives as
//! one message.
//!
//! The formatter is our own rather than `fasyslog`'s (which STACK.md suggests):
//! `fasyslog::format::RFC5424Formatter` stamps every message with `Timestamp::now()` and
//! has no way to take the time from the record, it does not bound MSGID, and it brings
//! `jiff` and `nix` for what is here some fifty lines. An audit event must carry the time
//! it happened, not the time it was exported (a retry after an outage would otherwise
//! date it hours late).
//!
//! The message:
//!
//! ```text
//! <PRI>1 2023-11-14T22:13:20.123Z HOST warden - grant.revoke [warden@32473 seq="42" hash="…"] {"class_uid":6003,…}
//! ```
//!
//! - PRI is facility × 8 + severity: warning (4) for a failure, notice (5) for
//!   break-glass, incidents and reconciler findings, informational (6) for the rest.
//! - MSGID is the action, cut to 32 printable ASCII characters.
//! - The SD-ID uses 32473, the private enterprise number RFC 5612 reserves for
//!   documentation, until Warden has its own.
//! - MSG is the OCSF JSON in UTF-8 *without* a BOM (RFC 5424 `MSG-ANY`): receivers such as
//!   rsyslog keep a BOM as part of the message text, where it would stop the JSON parsers
//!   of most SIEMs, and the text is UTF-8 either way.
//!
//! Syslog over TCP has no acknowledgements: "delivered" means written and flushed to the
//! stream. Before each batch the transport checks whether the receiver closed the
//! connection (so a receiver restarted since the last batch is noticed before anything
//! is written into the dead connection), but a receiver that dies while a batch is in
//! flight can lose it. The HTTP sink gets an answer for every batch.
//!
//! The receiver is reached through the outbound-address guard ([`crate::outbound`]): only
//! at the addresses its name resolves to that are not internal (loopback, private,
//! link-local, …), unless the sink says `allow_internal = true`.

use std::fmt;
use std::io::{self, Read as _};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use socket2::SockRef;
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use warden_audit::Record;

use super::ocsf;
use super::transport::{
    Facility, PRODUCT_VERSION, SinkError, SyslogConfig, machine_hostname, split_host_port,
};
use crate::outbound;

/// How long connecting (TCP and TLS handshake together) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long writing and flushing one batch may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The SD-ID of Warden's structured data element.
pub const SD_ID: &str = "warden@32473";

/// RFC 5424 severities Warden uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// 4.
    Warning = 4,
    /// 5.
    Notice = 5,
    /// 6.
    Informational = 6,
}

/// The syslog severity of a record: failures are warnings, notable actions (break-glass,
/// incidents, reconciler findings) notices, the rest informational.
pub fn severity(record: &Record<'_>) -> Severity {
    if ocsf::is_failure(record) {
        Severity::Warning
    } else if ocsf::is_notable(&record.action) {
        Severity::Notice
    } else {
        Severity::Informational
    }
}

/// What every message of a sink shares.
#[derive(Debug, Clone)]
pub struct Header {
    /// The facility.
    pub facility: Facility,
    /// HOSTNAME: printable ASCII, no space (checked by the configuration), or `-`.
    pub hostname: String,
    /// APP-NAME: printable ASCII, no space.
    pub app_name: String,
}

/// The RFC 5424 message of `record`, unframed.
pub fn format_message(header: &Header, record: &Record<'_>) -> String {
    let pri = u16::from(header.facility.code()) * 8 + severity(record) as u16;
    let event = ocsf::event(record, PRODUCT_VERSION);
    format!(
        "<{pri}>1 {time} {host} {app} - {msgid} [{SD_ID} seq=\"{seq}\" hash=\"{hash}\"] {event}",
        time = timestamp(record.time),
        host = header.hostname,
        app = header.app_name,
        msgid = msgid(&record.action),
        seq = sd_escape(&record.seq.to_string()),
        hash = sd_escape(&record.hash.to_hex()),
    )
}

/// Appends `message` to `out` framed by octet counting: its length in bytes, a space,
/// the message.
pub fn frame(message: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(message.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(message.as_bytes());
}

/// RFC 3339 UTC with milliseconds (`2023-11-14T22:13:20.123Z`), or `-` (NILVALUE) for a
/// time out of range.
pub fn timestamp(millis: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "-".to_owned())
}

/// MSGID: the action's printable ASCII (others become `_`), at most 32 characters; `-`
/// when empty.
pub fn msgid(action: &str) -> String {
    let id: String = action
        .chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if id.is_empty() { "-".to_owned() } else { id }
}

/// An SD-PARAM value with `"`, `\` and `]` escaped by a backslash (RFC 5424 §6.3.3).
pub fn sd_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Delivers to one syslog receiver over TCP, or TLS with the configured CA.
pub struct SyslogTransport {
    /// The receiver, as configured (`host:port`).
    pub address: String,
    host: String,
    port: u16,
    header: Header,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    allow_internal: bool,
    conn: Option<Connection>,
}

impl fmt::Debug for SyslogTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyslogTransport")
            .field("address", &self.address)
            .field("header", &self.header)
            .field("tls", &self.tls.as_ref().map(|(_, name)| name))
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl SyslogTransport {
    /// Reads the CA file (with TLS) and settles the HOSTNAME; connects on the first
    /// delivery.
    pub async fn open(config: &SyslogConfig) -> Result<Self, SinkError> {
        let (host, port) = split_host_port(&config.address)
            .map_err(|e| SinkError::Config(format!("address: {e}")))?;
        let tls = if config.tls {
            let ca_file = config
                .ca_file
                .as_ref()
                .ok_or_else(|| SinkError::Config("ca_file: needed with tls = true".to_owned()))?;
            let name = config.server_name.clone().unwrap_or_else(|| host.clone());
            let name = ServerName::try_from(name)
                .map_err(|e| SinkError::Config(format!("server_name: {e}")))?;
            Some((connector(ca_file).await?, name))
        } else {
            None
        };
        Ok(Self {
            address: config.address.clone(),
            host,
            port,
            header: Header {
                facility: config.facility,
                hostname: config.hostname.clone().unwrap_or_else(machine_hostname),
                app_name: config.app_name.clone(),
            },
            tls,
            allow_internal: config.allow_internal,
            conn: None,
        })
    }

    /// Whether a connection is open (it may still have been closed by the receiver).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Writes every record of the batch, then flushes; see
    /// [`Transport::deliver`](super::transport::Transport::deliver).
    pub async fn deliver(&mut self, records: &[Record<'static>]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(records.len() * 1024);
        for record in records {
            frame(&format_message(&self.header, record), &mut batch);
        }
        // A connection the receiver closed since the last batch is replaced before
        // anything is written into it.
        let mut conn = match self.conn.take() {
            Some(mut conn) => {
                if conn.peer_closed() {
                    drop(conn);
                    self.connect().await?
                } else {
                    conn
                }
            }
            None => self.connect().await?,
        };
        let sent = tokio::time::timeout(SEND_TIMEOUT, async {
            conn.write_all(&batch).await?;
            conn.flush().await
        })
        .await;
        match sent {
            Ok(Ok(())) => {
                self.conn = Some(conn);
                Ok(())
            }
            // The connection is dropped (not put back): the next call reconnects.
            Ok(Err(source)) => Err(SinkError::Send {
                address: self.address.clone(),
                source,
            }),
            Err(_) => Err(SinkError::Timeout {
                address: self.address.clone(),
                what: "sending",
                secs: SEND_TIMEOUT.as_secs(),
            }),
        }
    }

    async fn connect(&self) -> Result<Connection, SinkError> {
        let timed_out = || SinkError::Timeout {
            address: self.address.clone(),
            what: "connecting",
            secs: CONNECT_TIMEOUT.as_secs(),
        };
        tokio::time::timeout(CONNECT_TIMEOUT, async {
            // Only to addresses the outbound guard vetted, each in turn.
            let addresses = outbound::resolve(&self.host, self.port, self.allow_internal)
                .await
                .map_err(|source| SinkError::Refused {
                    address: self.address.clone(),
                    source,
                })?;
            let tcp = TcpStream::connect(addresses.as_slice())
                .await
                .map_err(|source| SinkError::Connect {
                    address: self.address.clone(),
                    source,
                })?;
            match &self.tls {
                None => Ok(Connection::Tcp(tcp)),
                Some((connector, name)) => connector
                    .connect(name.clone(), tcp)
                    .await
                    .map(|tls| Connection::Tls(Box::new(tls)))
                    .map_err(|source| SinkError::Tls {
                        address: self.address.clone(),
                        source,
                    }),
            }
        })
        .await
        .map_err(|_| timed_out())?
    }
}

/// A TLS connector trusting only the certificates in `ca_file`, on the ring provider
/// whatever the process default is.
async fn connector(ca_file: &std::path::Path) -> Result<TlsConnector, SinkError> {
    let config_error =
        |what: String| SinkError::Config(format!("ca_file {}: {what}", ca_file.display()));
    let pem = tokio::fs::read(ca_file)
        .await
        .map_err(|e| config_error(format!("cannot read it: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| config_error(format!("not PEM certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| config_error(format!("a certificate cannot be used: {e}")))?;
    }
    if roots.is_empty() {
        return Err(config_error("holds no certificate".to_owned()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| config_error(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// An open connection to the receiver.
enum Connection {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection {
    /// Whether the receiver closed the connection (or it broke) since the last batch.
    ///
    /// A syslog receiver never sends application data, so a read that does not wait finds
    /// either nothing (open), the end of the stream or an error (closed). The read is made
    /// on the socket itself rather than through tokio, whose readiness is only as fresh as
    /// the last turn of its I/O driver: a receiver that went away a moment ago must be
    /// noticed before the batch is written into its dead connection. With TLS, the bytes
    /// read (session tickets, a close_notify) go to the rustls connection, exactly as a
    /// read through the stream would.
    fn peer_closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        // Bounded: a receiver that keeps sending is taken as open.
        for _ in 0..64 {
            let (tcp, tls) = match self {
                Connection::Tcp(s) => (&*s, None),
                Connection::Tls(s) => {
                    let (io, conn) = s.get_mut();
                    (&*io, Some(conn))
                }
            };
            let socket = SockRef::from(tcp);
            let n = match (&*socket).read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            };
            if let Some(conn) = tls
                && take_in(conn, buf.get(..n).unwrap_or_default())
            {
                return true;
            }
        }
        false
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Connection::Tcp(s) => s.write_all(bytes).await,
            Connection::Tls(s) => s.write_all(bytes).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Connection::Tcp(s) => s.flush().await,
            Connection::Tls(s) => s.flush().await,
        }
    }
}

/// Feeds bytes read from the socket to the TLS connection; whether the connection is
/// over (close_notify, or bytes that are not valid TLS). Plaintext, which a receiver
/// should not send, is discarded.
fn take_in(conn: &mut rustls::ClientConnection, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match conn.read_tls(&mut bytes) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
        match conn.process_new_packets() {
            Ok(state) if state.peer_has_closed() => return true,
            Ok(_) => {}
            Err(_) => return true,
        }
        let mut sink = [0u8; 1024];
        loop {
            match conn.reader().read(&mut sink) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;
    use warden_audit::{Digest, RecordActor};

    use super::*;

    fn header() -> Header {
        Header {
            facility: Facility::Auth,
            hostname: "pam1".to_owned(),
            app_name: "warden".to_owned(),
        }
    }

    fn record(action: &str, outcome: &str) -> Record<'static> {
        let mut r = Record {
            seq: 0,
            id: Uuid::from_u128(7),
            time: 1_700_000_000_123,
            actor: RecordActor {
                user: Some("alice".into()),
                ..RecordActor::default()
            },
            action: action.to_owned().into(),
            target: Some("grant:1".into()),
            outcome: outcome.to_owned().into(),
            reason: Some("line one\nline \"two\" ]".into()),
            resource: None,
            request_id: None,
            grant_id: None,
            risk: None,
            details: Default::default(),
            prev_hash: Digest::GENESIS,
            hash: Digest::GENESIS,
        };
        r.seal_after(0, Digest::GENESIS);
        r
    }

    #[test]
    fn the_header_follows_rfc_5424() {
        let r = record("grant.revoke", "success");
        let m = format_message(&header(), &r);
        let expected = format!(
            "<38>1 2023-11-14T22:13:20.123Z pam1 warden - grant.revoke \
             [warden@32473 seq=\"1\" hash=\"{}\"] {{",
            r.hash
        );
        assert!(m.starts_with(&expected), "{m}");
        // The MSG is the OCSF event, on one line.
        let json = m.strip_prefix(&expected[..expected.len() - 1]).unwrap();
        let event: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(event["status_detail"], "line one\nline \"two\" ]");
        assert!(!m.contains('\n'));
    }

    #[test]
    fn pri_follows_facility_and_severity() {
        let pri = |facility, action, outcome| {
            let h = Header {
                facility,
                ..header()
            };
            let m = format_message(&h, &record(action, outcome));
            m[1..m.find('>').unwrap()].parse::<u16>().unwrap()
        };
        assert_eq!(pri(Facility::Auth, "grant.revoke", "success"), 4 * 8 + 6);
        assert_eq!(pri(Facility::Auth, "login", "failure"), 4 * 8 + 4);
        assert_eq!(
            pri(Facility::Authpriv, "breakglass.used", "success"),
            10 * 8 + 5
        );
        assert_eq!(
            pri(Facility::Local7, "breakglass.used", "failure"),
            23 * 8 + 4
        );
        assert_eq!(
            pri(Facility::Local0, "incident.opened", "success"),
            16 * 8 + 5
        );
    }

    #[test]
    fn fields_are_escaped_and_bounded() {
        assert_eq!(sd_escape(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(msgid("grant.revoke"), "grant.revoke");
        assert_eq!(msgid("a b\u{e9}c"), "a_b_c");
        assert_eq!(msgid(""), "-");
        assert_eq!(msgid(&"x".repeat(40)), "x".repeat(32));
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_700_000_000_005), "2023-11-14T22:13:20.005Z");
        assert_eq!(timestamp(i64::MAX), "-");
    }

    #[test]
    fn frames_count_bytes_not_characters() {
        let mut out = Vec::new();
        frame("z\u{f6}e\n", &mut out);
        frame("x", &mut out);
        assert_eq!(out, "5 z\u{f6}e\n1 x".as_bytes());
    }
}
