//! What every SIEM sink shares: its configuration (`[audit.sinks.NAME]`), the error a
//! delivery can end with, and [`Transport`], which hands a batch of audit records to one
//! receiver and returns only once the receiver has them.
//!
//! Delivery is at-least-once: the caller keeps a durable cursor and, after an error,
//! retries the same batch later. A transport never skips a record and drops its
//! connection (or file handle) after any error, so the next call starts afresh.

use std::path::PathBuf;

use serde::Deserialize;
use warden_audit::Record;

use super::file::FileTransport;
use super::http::HttpTransport;
use super::syslog::SyslogTransport;

/// Records per batch for sinks without a `batch` setting (syslog and file).
pub const DEFAULT_BATCH: usize = 500;

/// The largest `batch` an HTTP sink may ask for.
pub const MAX_BATCH: usize = 10_000;

/// One sink, from `[audit.sinks.NAME]`, chosen by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkConfig {
    /// RFC 5424 over TCP or TLS, RFC 6587 octet-counted.
    Syslog(SyslogConfig),
    /// JSON lines in a local file, rotated by size.
    File(FileConfig),
    /// HTTP POST: Splunk HEC or a JSON array.
    Http(HttpConfig),
}

impl SinkConfig {
    /// Checks the settings that can be checked without I/O. The message names the key
    /// (`audit.sinks.NAME.FIELD`) and what is wrong with it.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        self.check()
            .map_err(|(field, what)| format!("audit.sinks.{name}.{field}: {what}"))
    }

    /// How many records the caller should hand to one [`Transport::deliver`].
    pub fn batch_size(&self) -> usize {
        match self {
            SinkConfig::Http(http) => http.batch,
            SinkConfig::Syslog(_) | SinkConfig::File(_) => DEFAULT_BATCH,
        }
    }

    /// The first problem, as (field, what is wrong).
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        match self {
            SinkConfig::Syslog(c) => c.check(),
            SinkConfig::File(c) => c.check(),
            SinkConfig::Http(c) => c.check(),
        }
    }
}

/// `kind = "syslog"`: RFC 5424 messages over TCP, optionally TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// The receiver, `host:port` (`[v6]:port` for an IPv6 literal).
    pub address: String,
    /// Whether to speak TLS (RFC 5425 style; conventionally port 6514).
    #[serde(default)]
    pub tls: bool,
    /// PEM file with the CA certificates that may sign the receiver's certificate.
    /// Required with `tls`: Warden does not trust the system's roots for audit export.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name the receiver's certificate must carry. Default: the host of `address`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// APP-NAME in every message.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// HOSTNAME in every message. Default: this machine's name, or `-` if it has none
    /// that syslog can carry.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The syslog facility.
    #[serde(default)]
    pub facility: Facility,
    /// Allow a receiver on a loopback, private or other internal address (a relay on
    /// this machine or the local network). Refused by default, like every connection
    /// the configuration names.
    #[serde(default)]
    pub allow_internal: bool,
}

fn default_app_name() -> String {
    "warden".to_owned()
}

/// A syslog facility, by its usual name; the numbers are those of RFC 5424 §6.2.1 and
/// `syslog(3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    /// 4, security/authorization messages.
    #[default]
    Auth,
    /// 10, security/authorization messages (private).
    Authpriv,
    /// 16.
    Local0,
    /// 17.
    Local1,
    /// 18.
    Local2,
    /// 19.
    Local3,
    /// 20.
    Local4,
    /// 21.
    Local5,
    /// 22.
    Local6,
    /// 23.
    Local7,
}

impl Facility {
    /// The facility's number.
    pub fn code(self) -> u8 {
        match self {
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

impl SyslogConfig {
    fn check(&self) -> Result<(), (&'static str, String)> {
        let (host, _) = split_host_port(&self.address).map_err(|e| ("address", e))?;
        if !self.allow_internal {
            crate::outbound::check_configured_host(&host)
                .map_err(|e| ("address", e.to_string()))?;
        }
        match (self.tls, &self.ca_file) {
            (true, None) => {
                return Err((
                    "ca_file",
                    "tls = true needs ca_file, a PEM file with the CA that signs the \
                     receiver's certificate"
                        .to_owned(),
                ));
            }
            (false, Some(_)) => {
                return Err(("ca_file", "is set but tls is false".to_owned()));
            }
            _ => {}
        }
        if let Some(name) = &self.server_name {
            if !self.tls {
                return Err(("server_name", "is set but tls is false".to_owned()));
            }
            rustls::pki_types::ServerName::try_from(name.as_str())
                .map_err(|_| ("server_name", format!("{name:?} is not a DNS name or IP")))?;
        }
        check_header_field(&self.app_name, 48).map_err(|e| ("app_name", e))?;
        if let Some(hostname) = &self.hostname {
            check_header_field(hostname, 255).map_err(|e| ("hostname", e))?;
        }
        Ok(())
    }
}

/// An RFC 5424 header field: 1 to `max` printable US-ASCII characters, no space.
fn check_header_field(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max {
        return Err(format!("must be 1 to {max} characters, is {}", value.len()));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{value:?} must be printable ASCII without spaces (RFC 5424)"
        ));
    }
    Ok(())
}

/// Splits `host:port` (or `[v6]:port`) into the host, without brackets, and the port.
pub fn split_host_port(address: &str) -> Result<(String, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address:?} is not host:port"))?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6,
        None if host.contains(':') => {
            return Err(format!(
                "{address:?}: write an IPv6 address in brackets, [::1]:6514"
            ));
        }
        None => host,
    };
    if host.is_empty() {
        return Err(format!("{address:?} has no host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{address:?} has no valid port"))?;
    if port == 0 {
        return Err(format!("{address:?}: port 0 is not a receiver's port"));
    }
    Ok((host.to_owned(), port))
}

/// `kind = "file"`: one OCSF event per line, appended, rotated by size.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file; its directory must exist. Created with mode 0600.
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// How many rotated files (`path.1` newest … `path.KEEP` oldest) to keep.
    #[serde(default = "default_keep")]
    pub keep: u32,
}

fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}

fn default_keep() -> u32 {
    10
}

impl FileConfig {
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.path.file_name().is_none() {
            return Err(("path", format!("{} names no file", self.path.display())));
        }
        if self.max_bytes == 0 {
            return Err(("max_bytes", "must be more than 0".to_owned()));
        }
        Ok(())
    }
}

/// `kind = "http"`: one POST per batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to POST, `http://` or `https://` (e.g. a Splunk HEC endpoint,
    /// `https://splunk:8088/services/collector/event`).
    pub url: String,
    /// The body's shape.
    #[serde(default)]
    pub format: HttpFormat,
    /// The environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// A file holding the token (surrounding whitespace is ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Seconds a request may take, connecting included.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The most records in one request.
    #[serde(default = "default_http_batch")]
    pub batch: usize,
    /// Allow a receiver on a loopback, private or other internal address (a collector on
    /// the local network). Refused by default, like notification webhooks.
    #[serde(default)]
    pub allow_internal: bool,
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_http_batch() -> usize {
    DEFAULT_BATCH
}

/// The body of an HTTP sink's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpFormat {
    /// Splunk HTTP Event Collector: concatenated event objects, `Authorization: Splunk`.
    #[default]
    Hec,
    /// A JSON array of OCSF events, `Authorization: Bearer` when a token is set.
    Json,
}

impl HttpConfig {
    fn check(&self) -> Result<(), (&'static str, String)> {
        let url = crate::outbound::check_configured_url(&self.url, self.allow_internal)
            .map_err(|e| ("url", e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err((
                "url",
                "must not carry credentials; use token_env or token_file".to_owned(),
            ));
        }
        match (&self.token_env, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err((
                    "token_file",
                    "set token_env or token_file, not both".to_owned(),
                ));
            }
            (None, None) if self.format == HttpFormat::Hec => {
                return Err((
                    "token_env",
                    "format = \"hec\" needs a token: set token_env or token_file".to_owned(),
                ));
            }
            (Some(var), None) if var.is_empty() || var.contains('=') || var.contains('\0') => {
                return Err(("token_env", format!("{var:?} is not a variable name")));
            }
            _ => {}
        }
        if self.timeout_secs == 0 {
            return Err(("timeout_secs", "must be more than 0".to_owned()));
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err((
                "batch",
                format!("must be 1 to {MAX_BATCH}, is {}", self.batch),
            ));
        }
        Ok(())
    }
}

/// Why a delivery (or opening a sink) failed. The text says what failed and where
/// (address, path or URL), never a token.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The configuration cannot work: a bad setting, or a CA or token file that cannot be
    /// read. Retrying does not help until it is fixed.
    #[error("SIEM sink configuration: {0}")]
    Config(String),
    /// The outbound-address guard refused the receiver's address (see
    /// [`crate::outbound`]).
    #[error("syslog receiver {address}: refused: {source}")]
    Refused {
        /// `host:port`.
        address: String,
        /// Why.
        #[source]
        source: crate::outbound::Refused,
    },
    /// No TCP connection to a syslog receiver.
    #[error("syslog receiver {address}: cannot connect: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake with a syslog receiver failed (certificate refused, name
    /// mismatch, protocol error).
    #[error("syslog receiver {address}: TLS handshake failed: {source}")]
    Tls {
        /// `host:port`.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing to a syslog receiver failed; the connection is dropped.
    #[error("syslog receiver {address}: sending failed: {source}")]
    Send {
        /// `host:port`.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A syslog connection or send took too long.
    #[error("syslog receiver {address}: {what} took longer than {secs} s")]
    Timeout {
        /// `host:port`.
        address: String,
        /// `connecting` or `sending`.
        what: &'static str,
        /// The limit.
        secs: u64,
    },
    /// A file operation failed.
    #[error("audit file {path}: cannot {action}: {source}")]
    File {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done (`open`, `write`, `sync`, `rotate`).
        action: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file's directory does not exist: Warden does not create it.
    #[error("audit file {path}: directory {directory} does not exist")]
    NoDirectory {
        /// The file.
        path: PathBuf,
        /// Its directory.
        directory: PathBuf,
    },
    /// The HTTP request did not get a response (refused, timed out, TLS failed).
    #[error("HTTP sink {url}: request failed: {message}")]
    Http {
        /// The URL, without query or credentials.
        url: String,
        /// The error and its causes.
        message: String,
    },
    /// The receiver answered with a status other than 2xx.
    #[error("HTTP sink {url}: receiver answered {status}: {body}")]
    Status {
        /// The URL, without query or credentials.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The first 200 bytes of the response body, on one line.
        body: String,
    },
}

/// An open sink.
#[derive(Debug)]
pub enum Transport {
    /// See [`SyslogTransport`].
    Syslog(SyslogTransport),
    /// See [`FileTransport`].
    File(FileTransport),
    /// See [`HttpTransport`].
    Http(HttpTransport),
}

impl Transport {
    /// Opens the sink `config` describes: reads its CA or token, but connects lazily, on
    /// the first [`deliver`](Self::deliver).
    pub async fn open(config: &SinkConfig) -> Result<Self, SinkError> {
        config
            .check()
            .map_err(|(field, what)| SinkError::Config(format!("{field}: {what}")))?;
        Ok(match config {
            SinkConfig::Syslog(c) => Transport::Syslog(SyslogTransport::open(c).await?),
            SinkConfig::File(c) => Transport::File(FileTransport::open(c)),
            SinkConfig::Http(c) => Transport::Http(HttpTransport::open(c).await?),
        })
    }

    /// Delivers `records` in order and returns when the receiver has them: syslog,
    /// written and flushed to the TCP or TLS stream; file, written and fsync'd; HTTP, a
    /// 2xx answer. After an error the caller retries the same batch later; the transport
    /// reconnects (or reopens) on that call.
    pub async fn deliver(&mut self, records: &[Record<'static>]) -> Result<(), SinkError> {
        match self {
            Transport::Syslog(t) => t.deliver(records).await,
            Transport::File(t) => t.deliver(records).await,
            Transport::Http(t) => t.deliver(records).await,
        }
    }
}

/// This machine's name if syslog and HEC can carry it (printable ASCII, at most 255
/// characters), else `-`.
pub(crate) fn machine_hostname() -> String {
    hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| check_header_field(name, 255).is_ok())
        .unwrap_or_else(|| "-".to_owned())
}

/// The product version the OCSF events carry.
pub(crate) const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<SinkConfig, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn kinds_parse_with_defaults() {
        let SinkConfig::Syslog(s) = parse("kind = \"syslog\"\naddress = \"siem:514\"").unwrap()
        else {
            panic!("not syslog")
        };
        assert!(!s.tls);
        assert_eq!(s.app_name, "warden");
        assert_eq!(s.facility, Facility::Auth);
        assert_eq!(s.facility.code(), 4);

        let f = parse("kind = \"file\"\npath = \"/var/log/warden/audit.jsonl\"").unwrap();
        assert_eq!(f.batch_size(), DEFAULT_BATCH);
        let SinkConfig::File(f) = f else {
            panic!("not file")
        };
        assert_eq!(f.max_bytes, 100 * 1024 * 1024);
        assert_eq!(f.keep, 10);

        let h = parse("kind = \"http\"\nurl = \"https://s:8088/x\"\ntoken_env = \"T\"\nbatch = 7")
            .unwrap();
        assert_eq!(h.batch_size(), 7);
        let SinkConfig::Http(h) = h else {
            panic!("not http")
        };
        assert_eq!(h.format, HttpFormat::Hec);
        assert_eq!(h.timeout_secs, 10);
        assert!(SinkConfig::Http(h).validate("splunk").is_ok());
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let e = parse("kind = \"syslog\"\naddress = \"a:1\"\nport = 2").unwrap_err();
        assert!(e.contains("port"), "{e}");
        let e = parse("kind = \"kafka\"\naddress = \"a:1\"").unwrap_err();
        assert!(e.contains("kafka"), "{e}");
        let e = parse("kind = \"syslog\"\naddress = \"a:1\"\nfacility = \"kern\"").unwrap_err();
        assert!(e.contains("kern"), "{e}");
    }

    #[test]
    fn validation_names_the_key() {
        let cases = [
            (
                "kind = \"syslog\"\naddress = \"siem\"",
                "audit.sinks.s.address",
            ),
            (
                "kind = \"syslog\"\naddress = \"::1:514\"",
                "audit.sinks.s.address",
            ),
            (
                "kind = \"syslog\"\naddress = \"siem:0\"",
                "audit.sinks.s.address",
            ),
            (
                "kind = \"syslog\"\naddress = \"siem:6514\"\ntls = true",
                "audit.sinks.s.ca_file",
            ),
            (
                "kind = \"syslog\"\naddress = \"siem:514\"\nca_file = \"/ca\"",
                "audit.sinks.s.ca_file",
            ),
            (
                "kind = \"syslog\"\naddress = \"siem:514\"\napp_name = \"war den\"",
                "audit.sinks.s.app_name",
            ),
            (
                "kind = \"syslog\"\naddress = \"siem:514\"\nhostname = \"\"",
                "audit.sinks.s.hostname",
            ),
            (
                "kind = \"file\"\npath = \"/var/log/\"\nmax_bytes = 0",
                "audit.sinks.s.max_bytes",
            ),
            (
                "kind = \"http\"\nurl = \"ftp://x/\"\ntoken_env = \"T\"",
                "audit.sinks.s.url",
            ),
            (
                "kind = \"http\"\nurl = \"https://u:p@x/\"\ntoken_env = \"T\"",
                "audit.sinks.s.url",
            ),
            (
                "kind = \"http\"\nurl = \"https://x/\"",
                "audit.sinks.s.token_env",
            ),
            (
                "kind = \"http\"\nurl = \"https://x/\"\ntoken_env = \"T\"\ntoken_file = \"/t\"",
                "audit.sinks.s.token_file",
            ),
            (
                "kind = \"http\"\nurl = \"https://x/\"\ntoken_env = \"T\"\nbatch = 0",
                "audit.sinks.s.batch",
            ),
            (
                "kind = \"http\"\nurl = \"https://x/\"\ntoken_env = \"T\"\ntimeout_secs = 0",
                "audit.sinks.s.timeout_secs",
            ),
        ];
        for (text, key) in cases {
            let e = parse(text).unwrap().validate("s").unwrap_err();
            assert!(e.starts_with(&format!("{key}: ")), "{text:?} gave {e:?}");
        }
        // A JSON sink needs no token; IPv6 literals work in brackets.
        parse("kind = \"http\"\nurl = \"http://x/\"\nformat = \"json\"")
            .unwrap()
            .validate("s")
            .unwrap();
        assert_eq!(
            split_host_port("[::1]:6514").unwrap(),
            ("::1".to_owned(), 6514)
        );
    }
}
