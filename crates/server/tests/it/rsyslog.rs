//! A real rsyslogd for the SIEM tests (Debian's `rsyslog`, and `rsyslog-openssl` for TLS).
//!
//! Each [`Rsyslog`] runs its own daemon from a temporary directory: the configuration
//! loads `imtcp` on a free loopback port (octet-counted framing is on by default there),
//! binds it to a ruleset that writes every message to `messages.jsonl` through a JSON
//! template (`pri`, header fields, `%structured-data%`, `%msg%`, and `%rawmsg%`), and
//! keeps its work directory and pid file in the same temporary directory. Control
//! characters are kept as received, so a message with a raw newline shows up as one line
//! of JSON holding `\n`, and a framing error as extra or cut messages. The system
//! service is never touched; the daemon runs in the foreground (`-n`) as a child of the
//! test and is stopped on drop. A missing `rsyslogd` fails the test, naming the package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;

use crate::support::{poll_until, stop_child};

/// Where Debian installs the daemon; `WARDEN_TEST_RSYSLOGD` overrides it.
fn rsyslogd() -> PathBuf {
    std::env::var_os("WARDEN_TEST_RSYSLOGD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/rsyslogd"))
}

/// A loopback port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One message as rsyslog parsed it.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    /// PRI, as digits.
    pub pri: String,
    /// The RFC 5424 version.
    pub version: String,
    /// TIMESTAMP as rsyslog read it, written back in RFC 3339.
    pub timestamp: String,
    /// HOSTNAME.
    pub hostname: String,
    /// APP-NAME.
    pub app_name: String,
    /// PROCID.
    pub procid: String,
    /// MSGID.
    pub msgid: String,
    /// STRUCTURED-DATA, as sent.
    pub structured_data: String,
    /// MSG.
    pub msg: String,
    /// The whole message as received (without the octet count).
    pub raw: String,
}

impl Received {
    /// The value of SD-PARAM `name` in the structured data, unescaped.
    pub fn sd_param(&self, name: &str) -> Option<String> {
        let start = self.structured_data.find(&format!(" {name}=\""))? + name.len() + 3;
        let mut value = String::new();
        let mut chars = self.structured_data[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?),
                '"' => return Some(value),
                c => value.push(c),
            }
        }
        None
    }

    /// MSG parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.msg)
            .unwrap_or_else(|e| panic!("MSG is not JSON ({e}): {:?}", self.msg))
    }
}

/// Certificate and key files for a TLS listener.
pub struct TlsFiles {
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
}

/// An rsyslogd listening on 127.0.0.1, killed on drop.
pub struct Rsyslog {
    /// The TCP (or TLS) port.
    pub port: u16,
    /// Holds the configuration, work directory, pid file, log and output.
    _dir: tempfile::TempDir,
    conf: PathBuf,
    out: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    child: Option<Child>,
    tls: bool,
}

impl Rsyslog {
    /// Starts rsyslogd with a plain TCP listener.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts rsyslogd with a TLS listener (`ossl` driver, no client certificates).
    pub async fn start_tls(files: TlsFiles) -> Self {
        Self::start_with(Some(files)).await
    }

    async fn start_with(tls: Option<TlsFiles>) -> Self {
        let bin = rsyslogd();
        assert!(
            bin.exists(),
            "{} is missing: install Debian's rsyslog package (and rsyslog-openssl for the \
             TLS tests): apt-get install rsyslog rsyslog-openssl; scripts/test does",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let out = dir.path().join("messages.jsonl");
        let conf = dir.path().join("rsyslog.conf");
        let port = free_port();
        let (tls_globals, tls_module) = match &tls {
            None => (String::new(), String::new()),
            Some(files) => (
                format!(
                    "  DefaultNetstreamDriverCAFile=\"{}\"\n  DefaultNetstreamDriverCertFile=\"{}\"\n  DefaultNetstreamDriverKeyFile=\"{}\"\n",
                    files.ca.display(),
                    files.cert.display(),
                    files.key.display()
                ),
                " StreamDriver.Name=\"ossl\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\""
                    .to_owned(),
            ),
        };
        let config = format!(
            r#"# Written by Warden's SIEM tests.
global(
  workDirectory="{work}"
  maxMessageSize="256k"
  parser.escapeControlCharactersOnReceive="off"
{tls_globals})
module(load="imtcp"{tls_module})
template(name="warden" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}}
ruleset(name="warden") {{
  action(type="omfile" file="{out}" template="warden")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="warden")
"#,
            work = work.display(),
            out = out.display(),
        );
        std::fs::write(&conf, config).unwrap();
        let mut server = Self {
            port,
            log: dir.path().join("rsyslogd.log"),
            pid_file: dir.path().join("rsyslogd.pid"),
            _dir: dir,
            conf,
            out,
            child: None,
            tls: tls.is_some(),
        };
        server.launch().await;
        server
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs rsyslogd and waits until its port answers.
    async fn launch(&mut self) {
        let bin = rsyslogd();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&bin)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&self.pid_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} (install Debian's rsyslog package; scripts/test does): {e}",
                    bin.display()
                )
            });
        self.child = Some(child);
        let port = self.port;
        let listening = poll_until(
            Duration::from_secs(15),
            async || {
                if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!(
                        "rsyslogd exited with {status} before listening on 127.0.0.1:{port}: {}",
                        self.log_text()
                    );
                }
                tokio::net::TcpStream::connect(("127.0.0.1", port)).await
            },
            Result::is_ok,
        )
        .await;
        if let Err(refused) = listening {
            panic!(
                "rsyslogd did not listen on 127.0.0.1:{port} within 15 seconds{} ({}): {}",
                if self.tls {
                    " (is rsyslog-openssl installed?)"
                } else {
                    ""
                },
                refused.unwrap_err(),
                self.log_text()
            );
        }
    }

    /// What rsyslogd wrote to stdout and stderr.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops rsyslogd (SIGTERM, then SIGKILL after 10 s) and waits for it to exit; the
    /// port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "TERM", Duration::from_secs(10));
        }
    }

    /// Starts rsyslogd again on the same port, configuration and output file.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    /// The messages written so far.
    pub fn messages(&self) -> Vec<Received> {
        let Ok(text) = std::fs::read_to_string(&self.out) else {
            return Vec::new();
        };
        text.lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("rsyslog wrote a line that is not JSON ({e}): {line}")
                })
            })
            .collect()
    }

    /// Waits until at least `n` messages were written, and returns them all.
    pub async fn wait_for_lines(&self, n: usize, timeout: Duration) -> Vec<Received> {
        poll_until(timeout, async || self.messages(), |got| got.len() >= n)
            .await
            .unwrap_or_else(|got| {
                panic!(
                    "rsyslog wrote {} of {n} messages within {timeout:?}: {got:#?}\nrsyslogd: {}",
                    got.len(),
                    self.log_text()
                )
            })
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA and a server certificate it signed, for `names` (DNS names or IP addresses).
pub struct Pki {
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The server certificate (PEM).
    pub cert_pem: String,
    /// The server key (PEM).
    pub key_pem: String,
}

impl Pki {
    /// A fresh CA and a server certificate for `names`.
    pub fn new(names: &[&str]) -> Self {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("Warden test CA {}", uuid::Uuid::new_v4()),
        );
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "syslog receiver");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes the three files to `dir` (`NAME-ca.pem`, `NAME-cert.pem`, `NAME-key.pem`).
    pub fn write(&self, dir: &Path, name: &str) -> TlsFiles {
        let files = TlsFiles {
            ca: dir.join(format!("{name}-ca.pem")),
            cert: dir.join(format!("{name}-cert.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&files.ca, &self.ca_pem).unwrap();
        std::fs::write(&files.cert, &self.cert_pem).unwrap();
        std::fs::write(&files.key, &self.key_pem).unwrap();
        files
    }
}
