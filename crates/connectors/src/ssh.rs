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

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;
use warden_core::{Clock, SystemClock};
use zeroize::Zeroizing;

use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, PrivateKey};
use time::{Duration, OffsetDateTime};
use warden_core::connector::{
    AccessSpec, Account, BoxFuture, Connector, ConnectorError, Credential, Presence, RoleTarget,
    RoleTargetError, check_extension, check_force_command, check_principal,
};

mod ca;
mod known_hosts;
mod password;

pub use ca::{CaError, CertRequest, CertificateAuthority, NoWindow, SignedCertificate, window};

/// How long the certificate Warden signs for its own login to a host (password
/// management) lasts from the moment it is signed.
pub const ADMIN_CERT_LIFETIME: Duration = Duration::seconds(60);

/// How long one password change or login check may take in all.
pub const PASSWORD_TIMEOUT: std::time::Duration = password::TIMEOUT;

/// How far [`window`] back-dates a certificate's start, for hosts whose clocks run behind.
pub const CLOCK_SKEW: Duration = Duration::seconds(30);

/// The longest a certificate may be valid, not counting the [`CLOCK_SKEW`] margin.
pub const MAX_WINDOW: Duration = Duration::hours(24);

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
