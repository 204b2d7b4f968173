//! OpenSSH access by short-lived user certificates. Hosts trust Warden's certificate
//! authority (`TrustedUserCAKeys`) and map principals to local users
//! (`AuthorizedPrincipalsFile`); Warden signs a certificate on demand for a person's own
//! public key while their grant lasts. Nothing is created on the hosts, so the connector
//! ([`SshHosts`]) has nothing to add or remove: a grant ends when Warden stops signing
//! and the certificates already signed run out.
//!
//! [`CertificateAuthority`] holds the Ed25519 CA key (an OpenSSH private key file of mode
//! 0600) and signs user certificates. [`CertificateAuthority::sign`] checks everything it
//! puts into a certificate: the subject key (no certificates, no CA key, no DSA, no RSA
//! under 2,048 bits), principals, extensions, a forced command, the key id and the
//! validity window, and it adds nothing that was not asked for.
//!
//! # Validity and clock skew
//!
//! Certificates carry their validity in whole seconds. `sign` rounds `valid_after` up and
//! `valid_before` down, so a certificate never outlasts what it was asked for. The
//! server computes the window with [`window`]: it back-dates `valid_after` by
//! [`CLOCK_SKEW`] (30 s, so a host whose clock runs a little behind still accepts a fresh
//! certificate) and never moves `valid_before` past the grant's end, rounding it down to
//! the second. In the grant's last second that end is already past, so nothing is signed
//! then ([`NoWindow::UnderASecond`]): the certificate is the only thing that ends SSH
//! access (nothing is removed from hosts), so it must not outlast the grant by the
//! fraction of a second rounding up would add. A window may last at most [`MAX_WINDOW`]
//! from now, plus the skew margin.
//!
//! # Password management
//!
//! For the vault's rotation of a Unix account's password on a host,
//! [`Connector::set_password`] and [`Connector::check_login`] log in to the host
//! themselves, over SSH ([`russh`]), when the connection sets `admin_user` and
//! `known_hosts_file` (see [`Config`]) and the server gave the connector its CA key file
//! ([`SshHosts::with_ca_file`], loaded once, when first needed).
//!
//! - `set_password` makes an Ed25519 key in memory, signs a certificate for it with the
//!   CA (principal `admin_user`, valid at most [`ADMIN_CERT_LIFETIME`] from now, no
//!   extensions, so no pty and no forwarding, and `chpasswd` as its forced command), logs
//!   in as `admin_user` and runs `chpasswd` (`sudo -n chpasswd` with `use_sudo`), writing
//!   `user:password` on its standard input: the password is on no command line. Exit
//!   status 0 is success; anything else is refused with the command's error output. The
//!   host must trust the CA (`TrustedUserCAKeys`) and accept the principal for
//!   `admin_user` (`AuthorizedPrincipalsFile`); root needs `PermitRootLogin
//!   prohibit-password` (or `forced-commands-only`).
//! - `check_login` tries password authentication, or keyboard-interactive answering a
//!   single hidden prompt, and disconnects: accepted is `Ok(true)` (also when the host
//!   then asks for a further factor), refused `Ok(false)`.
//!
//! Both refuse an account name that is not a plain POSIX name (`[a-z_][a-z0-9_-]{0,31}`)
//! and `root`: Warden does not rotate the password of the account it may administer the
//! host with. `set_password` refuses a password `chpasswd` would misread (a `:`, a line
//! break or a NUL) before connecting. Both connect only to a host whose key the
//! `known_hosts_file` records for `host` (`[host]:port` off port 22): an unknown, changed
//! or `@revoked` key is refused, naming the key the host offered. Each call has
//! [`PASSWORD_TIMEOUT`] in all; a timeout, or a session lost while `chpasswd` runs, is
//! `Unavailable` (the outcome is unknown). Host keys of type Ed25519 and ECDSA are
//! verified; RSA is not (russh is built without it). No password reaches an error, a
//! log line or `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;
use warden_core::{Clock, SystemClock};
use zeroize::Zeroizing;

use crate::keyfile::{self, KeyFileError};
use ssh_key::certificate::{Builder, CertType};
use ssh_key::public::KeyData;
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey};
use time::{Duration, OffsetDateTime};
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, Presence, RoleTarget,
    RoleTargetError, check_extension, check_force_command, check_principal,
};

mod known_hosts;
mod password;

/// How long the certificate Warden signs for its own login to a host (password
/// management) lasts from the moment it is signed.
pub const ADMIN_CERT_LIFETIME: Duration = Duration::seconds(60);

/// How long one password change or login check may take in all.
pub const PASSWORD_TIMEOUT: std::time::Duration = password::TIMEOUT;

/// How far [`window`] back-dates a certificate's start, for hosts whose clocks run behind.
pub const CLOCK_SKEW: Duration = Duration::seconds(30);

/// The longest a certificate may be valid, not counting the [`CLOCK_SKEW`] margin.
pub const MAX_WINDOW: Duration = Duration::hours(24);

/// The comment on the CA's public key line.
const CA_COMMENT: &str = "warden-ca";

/// The smallest RSA modulus, in bits, of a key Warden certifies.
const MIN_RSA_BITS: usize = 2048;

/// The most principals one certificate carries.
const MAX_PRINCIPALS: usize = 64;

/// The longest key id.
const MAX_KEY_ID: usize = 256;

/// The validity of a certificate for a grant from `grant_start` to `grant_end`, issued at
/// `now` and lasting at most `max`, in whole seconds as certificates carry it: from
/// `max(grant_start, now) - CLOCK_SKEW` rounded up to `min(grant_end, now + max)` rounded
/// down, so it never outlasts the grant, not even by a fraction of a second (hosts accept
/// a certificate while their clock reads less than its end). Refused when the grant has
/// ended, when that would leave less than a second from `now` (a certificate signed in
/// the grant's last second would be expired when issued, or nearly), or when the grant
/// starts later than a certificate signed now may last.
pub fn window(
    grant_start: OffsetDateTime,
    grant_end: OffsetDateTime,
    now: OffsetDateTime,
    max: Duration,
) -> Result<(OffsetDateTime, OffsetDateTime), NoWindow> {
    if grant_end <= now {
        return Err(NoWindow::Ended);
    }
    let end = floor_second(now.checked_add(max).map_or(grant_end, |m| grant_end.min(m)));
    if end - now < Duration::SECOND {
        return Err(NoWindow::UnderASecond { until: end });
    }
    let start = ceil_second(grant_start.max(now).saturating_sub(CLOCK_SKEW));
    if end <= start {
        return Err(NoWindow::NotYet {
            starts_at: grant_start,
        });
    }
    Ok((start, end))
}

/// Why [`window`] has no certificate to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoWindow {
    /// The grant has ended.
    #[error("the grant has ended")]
    Ended,
    /// Less than a second is left: certificates count whole seconds and never outlast
    /// the grant, so one signed now would be valid only until `until`.
    #[error(
        "less than a second of the grant is left: a certificate counts whole seconds and never outlasts its grant, so one signed now would be valid only until {until}"
    )]
    UnderASecond {
        /// The end a certificate would carry.
        until: OffsetDateTime,
    },
    /// The grant starts later than a certificate signed now may last.
    #[error("the grant starts at {starts_at}, later than a certificate signed now may last")]
    NotYet {
        /// The grant's start.
        starts_at: OffsetDateTime,
    },
}

/// `t` without its fraction of a second.
fn floor_second(t: OffsetDateTime) -> OffsetDateTime {
    t - Duration::nanoseconds(i64::from(t.nanosecond()))
}

/// `t` rounded up to a whole second.
fn ceil_second(t: OffsetDateTime) -> OffsetDateTime {
    let whole = floor_second(t);
    if whole == t {
        t
    } else {
        whole + Duration::SECOND
    }
}

/// Why the certificate authority could not load its key or sign a certificate.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The key file could not be read or written.
    #[error("cannot {action} the CA key file {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create`, `write`).
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file can be read or written by group or others.
    #[error(
        "the CA key file {} has mode {mode:04o}: it must not be accessible to group or others (chmod 600)",
        path.display()
    )]
    InsecureKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold an unencrypted Ed25519 OpenSSH private key.
    #[error("the CA key file {} is not usable: {reason}", path.display())]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The submitted public key line does not parse.
    #[error("not an OpenSSH public key line: {0}")]
    InvalidPublicKey(String),
    /// A certificate was submitted where a public key was expected.
    #[error(
        "a certificate was submitted instead of a public key: submit the public key (the .pub file), not a certificate"
    )]
    CertificateAsKey,
    /// The CA's own public key was submitted.
    #[error("the submitted key is the certificate authority's own key")]
    CaKeyAsKey,
    /// The key's algorithm or size is not one Warden certifies.
    #[error("key not accepted: {0}")]
    UnacceptableKey(String),
    /// No principal was asked for (a certificate without principals is valid for all).
    #[error("a certificate needs at least one principal")]
    NoPrincipals,
    /// Too many principals were asked for.
    #[error("a certificate carries at most {MAX_PRINCIPALS} principals")]
    TooManyPrincipals,
    /// A principal is not one Warden signs.
    #[error("{0}")]
    Principal(RoleTargetError),
    /// An extension is not one Warden allows.
    #[error("{0}")]
    Extension(RoleTargetError),
    /// The forced command is not acceptable.
    #[error("{0}")]
    ForceCommand(RoleTargetError),
    /// The key id is not acceptable.
    #[error("the key id must be at most {MAX_KEY_ID} bytes without control characters")]
    KeyId,
    /// The validity window is empty, too long or out of range.
    #[error("invalid validity window: {0}")]
    Window(String),
    /// Encoding or signing failed.
    #[error("signing the certificate failed: {0}")]
    Signing(String),
}

/// What to certify: a person's public key, for the principals, extensions and window a
/// grant allows.
#[derive(Debug, Clone, Copy)]
pub struct CertRequest<'a> {
    /// The user's public key line (`ssh-ed25519 AAAA... comment`).
    pub public_key: &'a str,
    /// The key id, recorded by hosts in their logs (no control characters).
    pub key_id: &'a str,
    /// The certificate's serial number.
    pub serial: u64,
    /// The principals (user names on the hosts); at least one.
    pub principals: &'a [String],
    /// The extensions, such as `permit-pty`; nothing else is added.
    pub extensions: &'a [String],
    /// A forced command (the `force-command` critical option), if any.
    pub force_command: Option<&'a str>,
    /// The start of the validity (rounded up to a second).
    pub valid_after: OffsetDateTime,
    /// The end of the validity (rounded down to a second).
    pub valid_before: OffsetDateTime,
}

/// A signed user certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCertificate {
    /// The OpenSSH certificate line (`ssh-ed25519-cert-v01@openssh.com AAAA...`).
    pub certificate: String,
    /// The start of its validity, as signed (whole seconds).
    pub valid_after: OffsetDateTime,
    /// The end of its validity, as signed (whole seconds).
    pub valid_before: OffsetDateTime,
    /// The principals it carries.
    pub principals: Vec<String>,
}

impl From<KeyFileError> for CaError {
    fn from(e: KeyFileError) -> Self {
        match e {
            KeyFileError::Io {
                action,
                path,
                source,
            } => CaError::Io {
                action,
                path,
                source,
            },
            KeyFileError::Insecure { path, mode } => CaError::InsecureKeyFile { path, mode },
            KeyFileError::Bad { path, reason } => CaError::BadKeyFile { path, reason },
        }
    }
}

/// Warden's SSH user certificate authority: an Ed25519 key kept in an OpenSSH private
/// key file. `Debug` shows the file and the key's fingerprint, never the key.
pub struct CertificateAuthority {
    key: PrivateKey,
    path: PathBuf,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("path", &self.path)
            .field(
                "fingerprint",
                &self
                    .key
                    .public_key()
                    .fingerprint(HashAlg::Sha256)
                    .to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads the CA key from `path`, or makes a new Ed25519 key and writes it there
    /// (mode 0600, created with that mode) when the file does not exist. Refuses a file
    /// that group or others may access, an encrypted key and a key that is not Ed25519.
    pub fn load_or_create(path: &Path) -> Result<Self, CaError> {
        let pem = keyfile::read_or_create(path, || {
            let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
                .map_err(|e| CaError::Signing(format!("generating the CA key: {e}")))?;
            key.set_comment(CA_COMMENT);
            key.to_openssh(LineEnding::LF)
                .map_err(|e| CaError::Signing(format!("encoding the CA key: {e}")))
        })?;
        let bad = |reason: String| CaError::BadKeyFile {
            path: path.to_owned(),
            reason,
        };
        let key = PrivateKey::from_openssh(pem.as_bytes())
            .map_err(|e| bad(format!("not an OpenSSH private key ({e})")))?;
        if key.is_encrypted() {
            return Err(bad(
                "the key is encrypted; Warden needs it unencrypted".to_owned()
            ));
        }
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(bad(format!(
                "the key is {}; the CA key must be Ed25519",
                key.algorithm()
            )));
        }
        Ok(Self {
            key,
            path: path.to_owned(),
        })
    }

    /// The CA's public key line, `ssh-ed25519 AAAA... warden-ca`: what a host puts in
    /// its `TrustedUserCAKeys` file.
    pub fn public_key(&self) -> String {
        let public = PublicKey::new(self.key.public_key().key_data().clone(), CA_COMMENT);
        // Encoding an Ed25519 public key into a string cannot fail.
        public.to_openssh().unwrap_or_default()
    }

    /// Signs a user certificate for `req`, after checking everything in it (see the
    /// module documentation).
    pub fn sign(&self, req: &CertRequest<'_>) -> Result<SignedCertificate, CaError> {
        let subject = self.subject_key(req.public_key)?;

        if req.key_id.len() > MAX_KEY_ID || req.key_id.chars().any(char::is_control) {
            return Err(CaError::KeyId);
        }

        if req.principals.is_empty() {
            return Err(CaError::NoPrincipals);
        }
        if req.principals.len() > MAX_PRINCIPALS {
            return Err(CaError::TooManyPrincipals);
        }
        let mut principals: Vec<String> = Vec::with_capacity(req.principals.len());
        for p in req.principals {
            check_principal(p).map_err(CaError::Principal)?;
            if !principals.contains(p) {
                principals.push(p.clone());
            }
        }

        let mut extensions: Vec<&str> = Vec::with_capacity(req.extensions.len());
        for e in req.extensions {
            check_extension(e).map_err(CaError::Extension)?;
            if !extensions.contains(&e.as_str()) {
                extensions.push(e);
            }
        }

        if let Some(c) = req.force_command {
            check_force_command(c).map_err(CaError::ForceCommand)?;
        }

        let (after, before) = seconds(req.valid_after, req.valid_before)?;
        let at = |secs: u64| {
            i64::try_from(secs)
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .ok_or_else(|| CaError::Window("time out of range".to_owned()))
        };
        let (valid_after, valid_before) = (at(after)?, at(before)?);

        let sign_err = |e: ssh_key::Error| CaError::Signing(e.to_string());
        let mut builder =
            Builder::new_with_random_nonce(&mut OsRng, subject, after, before).map_err(sign_err)?;
        builder.cert_type(CertType::User).map_err(sign_err)?;
        builder.serial(req.serial).map_err(sign_err)?;
        builder.key_id(req.key_id).map_err(sign_err)?;
        for p in &principals {
            builder.valid_principal(p.as_str()).map_err(sign_err)?;
        }
        for e in &extensions {
            builder.extension(*e, "").map_err(sign_err)?;
        }
        if let Some(c) = req.force_command {
            builder
                .critical_option("force-command", c)
                .map_err(sign_err)?;
        }
        let cert = builder.sign(&self.key).map_err(sign_err)?;
        let certificate = cert.to_openssh().map_err(sign_err)?;
        Ok(SignedCertificate {
            certificate,
            valid_after,
            valid_before,
            principals,
        })
    }

    /// Parses the subject's public key line and refuses certificates, the CA's own key
    /// and keys Warden does not certify.
    fn subject_key(&self, line: &str) -> Result<KeyData, CaError> {
        let line = line.trim();
        let algorithm = line.split_ascii_whitespace().next().unwrap_or_default();
        if algorithm.ends_with("-cert-v01@openssh.com") {
            return Err(CaError::CertificateAsKey);
        }
        let key = PublicKey::from_openssh(line).map_err(|e| {
            if algorithm.starts_with("ecdsa-") || algorithm.starts_with("sk-ecdsa-") {
                CaError::UnacceptableKey(
                    "ECDSA keys are not supported; use an Ed25519 key".to_owned(),
                )
            } else {
                CaError::InvalidPublicKey(e.to_string())
            }
        })?;
        let data = key.key_data();
        if data == self.key.public_key().key_data() {
            return Err(CaError::CaKeyAsKey);
        }
        match data {
            KeyData::Ed25519(_) | KeyData::SkEd25519(_) => {}
            KeyData::Rsa(rsa) => {
                let bits = rsa.n.as_positive_bytes().map(bit_length).unwrap_or(0);
                if bits < MIN_RSA_BITS {
                    return Err(CaError::UnacceptableKey(format!(
                        "an RSA key of {bits} bits is too small (at least {MIN_RSA_BITS}); use an Ed25519 key"
                    )));
                }
            }
            KeyData::Dsa(_) => {
                return Err(CaError::UnacceptableKey(
                    "DSA keys are not accepted; use an Ed25519 key".to_owned(),
                ));
            }
            other => {
                return Err(CaError::UnacceptableKey(format!(
                    "{} keys are not accepted; use an Ed25519 key",
                    other.algorithm()
                )));
            }
        }
        Ok(data.clone())
    }
}

/// The number of significant bits in a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(i) => bytes.get(i..).unwrap_or_default(),
        None => return 0,
    };
    let top = bytes.first().copied().unwrap_or(0);
    (bytes.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
}

/// The window in Unix seconds: the start rounded up, the end rounded down; refused when
/// empty, longer than [`MAX_WINDOW`] plus [`CLOCK_SKEW`], or before 1970.
fn seconds(after: OffsetDateTime, before: OffsetDateTime) -> Result<(u64, u64), CaError> {
    if before <= after {
        return Err(CaError::Window(format!(
            "valid_before ({before}) must be later than valid_after ({after})"
        )));
    }
    let start = after.unix_timestamp() + i64::from(after.nanosecond() > 0);
    let end = before.unix_timestamp();
    if end <= start {
        return Err(CaError::Window(
            "the window is shorter than a second".to_owned(),
        ));
    }
    let longest = MAX_WINDOW + CLOCK_SKEW;
    if end - start > longest.whole_seconds() {
        return Err(CaError::Window(format!(
            "the window lasts {} s; at most {} s",
            end - start,
            longest.whole_seconds()
        )));
    }
    let start = u64::try_from(start)
        .map_err(|_| CaError::Window("valid_after is before 1970".to_owned()))?;
    let end = u64::try_from(end)
        .map_err(|_| CaError::Window("valid_before is before 1970".to_owned()))?;
    Ok((start, end))
}

fn default_port() -> u16 {
    22
}

/// The configuration of a set of OpenSSH hosts. Nothing in it is secret: access is by
/// certificates that the server signs with its CA key, configured elsewhere.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where people connect (a host name or address), shown to them as a hint; also
    /// where Warden itself logs in for password management.
    pub host: String,
    /// The SSH port; 22 unless set.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The account Warden logs in as to change passwords of host accounts (password
    /// management for the vault): `root`, or an account allowed to run `sudo -n chpasswd`
    /// (with `use_sudo`). The host must accept a certificate from Warden's CA with this
    /// principal for it. Unset (the default), Warden changes no passwords on the hosts.
    #[serde(default)]
    pub admin_user: Option<String>,
    /// An OpenSSH known_hosts file recording the host's key. Warden logs in to the host
    /// itself (to change or check a password) only when the key it offers is recorded
    /// there for `host` (`[host]:port` off port 22); hashed names and `@revoked` lines
    /// are understood. Required for password management.
    #[serde(default)]
    pub known_hosts_file: Option<PathBuf>,
    /// Run `sudo -n chpasswd` rather than `chpasswd`, for an `admin_user` that is not
    /// root. Off unless set.
    #[serde(default)]
    pub use_sudo: bool,
}

/// OpenSSH hosts that trust Warden's certificate authority. Certificates are signed on
/// demand by the server (`warden ssh`), so nothing on the hosts changes when access is
/// granted or revoked: Warden stops signing when a grant ends, and the certificates it
/// signed end at the grant's end at the latest.
///
/// With `admin_user` and `known_hosts_file` set and a CA key file given
/// ([`with_ca_file`](Self::with_ca_file)), it also changes and checks passwords of host
/// accounts for the vault (see the module documentation).
#[derive(Debug, Clone)]
pub struct SshHosts {
    name: String,
    config: Config,
    ca_file: Option<PathBuf>,
    /// The CA, loaded from `ca_file` when first needed; shared by clones.
    ca: Arc<OnceCell<CertificateAuthority>>,
    clock: Arc<dyn Clock>,
}

impl SshHosts {
    /// The connector for connection `name`.
    pub fn new(name: &str, config: Config) -> Self {
        Self {
            name: name.to_owned(),
            config,
            ca_file: None,
            ca: Arc::new(OnceCell::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Gives the connector the CA key file (the server's `[ssh] ca_key_file`), which it
    /// loads with [`CertificateAuthority::load_or_create`] the first time it logs in to a
    /// host to change a password. Without it, `set_password` is refused.
    pub fn with_ca_file(mut self, path: PathBuf) -> Self {
        self.ca_file = Some(path);
        self.ca = Arc::new(OnceCell::new());
        self
    }

    /// Replaces the clock the admin certificates' validity is computed from (the system
    /// clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where people connect.
    pub fn host(&self) -> &str {
        &self.config.host
    }

    /// The port people connect to.
    pub fn port(&self) -> u16 {
        self.config.port
    }

    fn refused(&self, what: &str) -> ConnectorError {
        ConnectorError::Refused(format!("ssh connection {}: {what}", self.name))
    }

    /// Where the connector's own logins go, once a known_hosts file is configured.
    fn login_target(&self) -> Result<password::Target<'_>, ConnectorError> {
        let Some(known_hosts) = self.config.known_hosts_file.as_deref() else {
            return Err(self.refused(
                "no known_hosts_file is configured: Warden logs in to a host only when a known_hosts file records its key (set known_hosts_file)",
            ));
        };
        Ok(password::Target {
            name: &self.name,
            host: &self.config.host,
            port: self.config.port,
            known_hosts,
        })
    }

    /// The CA, loaded from the CA key file the first time it is needed.
    async fn ca(&self) -> Result<&CertificateAuthority, ConnectorError> {
        let Some(path) = self.ca_file.clone() else {
            return Err(self.refused(
                "the connector was given no CA key file (the server's [ssh] ca_key_file): it cannot sign its own login",
            ));
        };
        self.ca
            .get_or_try_init(|| async move {
                let loaded = tokio::task::spawn_blocking(move || {
                    CertificateAuthority::load_or_create(&path)
                })
                .await;
                match loaded {
                    Ok(Ok(ca)) => Ok(ca),
                    Ok(Err(e @ CaError::Io { .. })) => Err(ConnectorError::Unavailable(format!(
                        "ssh connection {}: {e}",
                        self.name
                    ))),
                    Ok(Err(e)) => Err(self.refused(&e.to_string())),
                    Err(e) => Err(ConnectorError::Unavailable(format!(
                        "ssh connection {}: loading the CA key: {e}",
                        self.name
                    ))),
                }
            })
            .await
    }

    /// The admin account and the command that sets passwords, or why there are none.
    fn admin(&self) -> Result<(&str, &'static str), ConnectorError> {
        let Some(admin) = self.config.admin_user.as_deref() else {
            return Err(self.refused(
                "no admin_user is configured, so Warden changes no passwords on these hosts: set admin_user (root, or an account allowed `sudo -n chpasswd` with use_sudo = true) and known_hosts_file, and let the hosts accept Warden's CA for that principal",
            ));
        };
        if !is_posix_account(admin) {
            return Err(self.refused(&format!(
                "admin_user {admin:?} is not a Unix account name ([a-z_][a-z0-9_-]{{0,31}})"
            )));
        }
        let command = if self.config.use_sudo {
            "sudo -n chpasswd"
        } else {
            "chpasswd"
        };
        Ok((admin, command))
    }

    /// Checks an account whose password is to be set or checked.
    fn check_account(&self, username: &str) -> Result<(), ConnectorError> {
        if username == "root" {
            return Err(self.refused(
                "Warden does not manage root's password: it may be the account Warden administers the host with",
            ));
        }
        if !is_posix_account(username) {
            return Err(self.refused(&format!(
                "{username:?} is not a Unix account name Warden manages ([a-z_][a-z0-9_-]{{0,31}})"
            )));
        }
        Ok(())
    }

    async fn set_password_inner(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<(), ConnectorError> {
        self.check_account(username)?;
        check_chpasswd_password(password.expose_secret()).map_err(|m| self.refused(m))?;
        let (admin, command) = self.admin()?;
        let target = self.login_target()?;
        let ca = self.ca().await?;

        // An ephemeral key, certified for a minute to run the one command as the admin.
        let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
            .map_err(|e| self.refused(&format!("generating a session key: {e}")))?;
        let public = key
            .public_key()
            .to_openssh()
            .map_err(|e| self.refused(&format!("encoding the session key: {e}")))?;
        let seed = Zeroizing::new(
            key.key_data()
                .ed25519()
                .map(|k| k.private.to_bytes())
                .ok_or_else(|| self.refused("the session key is not Ed25519"))?,
        );
        let session_key = russh::keys::PrivateKey::from(
            russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed),
        );
        let now = self.clock.now();
        let (valid_after, valid_before) =
            window(now, now + ADMIN_CERT_LIFETIME, now, ADMIN_CERT_LIFETIME).map_err(|e| {
                self.refused(&format!(
                    "no validity window for the admin certificate: {e}"
                ))
            })?;
        let principals = [admin.to_owned()];
        let key_id = format!("warden password rotation of {username} on {}", self.name);
        let signed = ca
            .sign(&CertRequest {
                public_key: &public,
                key_id: &key_id,
                serial: uuid::Uuid::new_v4().as_u64_pair().0,
                principals: &principals,
                extensions: &[],
                force_command: Some(command),
                valid_after,
                valid_before,
            })
            .map_err(|e| self.refused(&format!("signing the admin certificate: {e}")))?;
        let cert = russh::keys::Certificate::from_openssh(&signed.certificate)
            .map_err(|e| self.refused(&format!("reading the admin certificate: {e}")))?;
        password::change(
            &target,
            admin,
            session_key,
            cert,
            command,
            username,
            password,
        )
        .await
    }

    async fn check_login_inner(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<bool, ConnectorError> {
        self.check_account(username)?;
        let target = self.login_target()?;
        password::try_login(&target, username, password).await
    }
}

/// A plain POSIX account name: `[a-z_][a-z0-9_-]{0,31}`.
fn is_posix_account(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Refuses a password `chpasswd` would misread: empty, or holding a `:`, a line break or
/// a NUL. The message never shows the password.
fn check_chpasswd_password(password: &str) -> Result<(), &'static str> {
    if password.is_empty() {
        return Err("refusing to set an empty password");
    }
    if password.contains([':', '\n', '\r', '\0']) {
        return Err(
            "the password holds a character chpasswd cannot take (':', a line break or NUL): it was not sent",
        );
    }
    Ok(())
}

/// The handle of every SSH grant: access is by certificate, not by an account.
const HANDLE: &str = "certificate";

/// Checks that `access` maps to certificate contents Warden signs.
fn check_target(access: &AccessSpec) -> Result<(), ConnectorError> {
    let RoleTarget::Ssh {
        principals,
        extensions,
        force_command,
    } = &access.target
    else {
        return Err(ConnectorError::Refused(format!(
            "role {} on {} has no ssh mapping in policy (principals)",
            access.role, access.resource
        )));
    };
    if principals.is_empty() {
        return Err(ConnectorError::Refused(format!(
            "role {} on {} maps to no principals",
            access.role, access.resource
        )));
    }
    for p in principals {
        check_principal(p)?;
    }
    for e in extensions {
        check_extension(e)?;
    }
    if let Some(c) = force_command {
        check_force_command(c)?;
    }
    Ok(())
}

impl Connector for SshHosts {
    fn grant<'a>(
        &'a self,
        access: &'a AccessSpec,
    ) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(async move {
            check_target(access)?;
            Ok(HANDLE.to_owned())
        })
    }

    fn revoke<'a>(
        &'a self,
        _access: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        // Nothing lives on the hosts; the signed certificates end with the grant.
        Box::pin(async { Ok(()) })
    }

    fn verify<'a>(
        &'a self,
        _access: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Presence, ConnectorError>> {
        // No state lives on the hosts: there is nothing to find.
        Box::pin(async { Ok(Presence::Absent) })
    }

    fn credential<'a>(
        &'a self,
        _access: &'a AccessSpec,
        _handle: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Credential, ConnectorError>> {
        Box::pin(async {
            Err(ConnectorError::Refused(
                "ssh access is by certificate: use `warden ssh`".to_owned(),
            ))
        })
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async {
            Err(ConnectorError::Refused(
                "ssh hosts are not inventoried: access is by short-lived certificates, and the hosts' own accounts are not Warden's to list".to_owned(),
            ))
        })
    }

    fn remove<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            Err(ConnectorError::Refused(format!(
                "cannot remove {} from ssh hosts: Warden keeps no accounts there",
                account.name
            )))
        })
    }

    /// `chpasswd` (or `sudo -n chpasswd`) run as `admin_user`, logged in with a
    /// one-minute certificate; see the module documentation.
    fn set_password<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.set_password_inner(username, password))
    }

    /// Password (or keyboard-interactive) authentication on a new SSH connection.
    fn check_login<'a>(
        &'a self,
        username: &'a str,
        password: &'a SecretString,
    ) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(self.check_login_inner(username, password))
    }
}
