//! Warden's SSH certificate authority: the Ed25519 CA key file, the validity window of a
//! certificate for a grant, and the signing of user certificates with every field checked.

use std::fmt;
use std::path::Path;

use ssh_key::certificate::{Builder, CertType};
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, LineEnding, PublicKey};

use super::*;
use crate::keyfile::{self, KeyFileError};

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
