//! The SSH client behind password management: one short connection per call, to a host
//! whose key the configured known_hosts file records ([`super::known_hosts`]).
//!
//! [`change`] logs in as the admin account with a certificate Warden just signed for an
//! ephemeral key and runs `chpasswd` (or `sudo -n chpasswd`), writing `user:password` on
//! its standard input, so the password never appears on a command line. [`try_login`]
//! tries password authentication (or keyboard-interactive, answering one password
//! prompt) and disconnects. Each gives up after [`TIMEOUT`].

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use russh::client::{self, AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::{Algorithm, Certificate, EcdsaCurve, PrivateKey, PublicKeyOrCertificate};
use russh::{AlgorithmKind, ChannelMsg, Disconnect, MethodKind};
use secrecy::{ExposeSecret, SecretString};
use warden_core::connector::ConnectorError;
use zeroize::Zeroizing;

use super::known_hosts::{KnownHosts, Verdict, describe};

/// The longest one call may take, connecting, authenticating and running included.
pub(super) const TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// The most of the command's standard error kept for the error message.
const MAX_STDERR: usize = 2048;

/// The most keyboard-interactive rounds answered before giving up.
const MAX_ROUNDS: usize = 4;

/// The host key types Warden verifies (built without RSA support, to stay lean).
const SUPPORTED_HOST_KEYS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
];

/// Where to log in: the connection (for messages) and the host.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    /// The connection's name.
    pub name: &'a str,
    /// The host name or address.
    pub host: &'a str,
    /// The SSH port.
    pub port: u16,
    /// The known_hosts file vouching for the host's key.
    pub known_hosts: &'a Path,
}

impl Target<'_> {
    fn prefix(&self) -> String {
        format!("ssh connection {} ({}:{})", self.name, self.host, self.port)
    }

    fn unavailable(&self, what: &str) -> ConnectorError {
        ConnectorError::Unavailable(format!("{}: {what}", self.prefix()))
    }

    fn refused(&self, what: &str) -> ConnectorError {
        ConnectorError::Refused(format!("{}: {what}", self.prefix()))
    }
}

/// Why a session ended early: the host key was not vouched for, or SSH failed.
#[derive(Debug)]
enum SessionError {
    HostKey(String),
    Ssh(russh::Error),
}

impl From<russh::Error> for SessionError {
    fn from(e: russh::Error) -> Self {
        Self::Ssh(e)
    }
}

/// The client side of a session: it only checks the host key.
struct Verifier {
    known: Arc<KnownHosts>,
    host: String,
    port: u16,
}

impl client::Handler for Verifier {
    type Error = SessionError;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // No certificate algorithm is asked for; should a host send a certificate all
        // the same, the key it certifies must be pinned like any other.
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key(),
        };
        let file = self.known.path().display();
        let offered = describe(key);
        let problem = match self.known.check(&self.host, self.port, key) {
            Verdict::Known => return Ok(true),
            Verdict::Revoked { line } => format!(
                "host key verification failed: the host offered {offered}, which {file} marks @revoked (line {line})"
            ),
            Verdict::Changed { lines } => format!(
                "host key verification failed: the host offered {offered}, which differs from the key {file} records for it (line {}): the host key changed, or someone is in between",
                lines
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Verdict::Unknown => {
                let skipped = match self.known.skipped() {
                    0 => String::new(),
                    n => format!(" ({n} of its lines do not parse and were skipped)"),
                };
                format!(
                    "host key verification failed: the host offered {offered}, which is not in {file}{skipped}; add the host's key there (ssh-keyscan, checked against the host) to let Warden log in"
                )
            }
        };
        Err(SessionError::HostKey(problem))
    }
}

/// Connects to the host and checks its key; nothing is authenticated yet.
async fn connect(target: &Target<'_>) -> Result<Handle<Verifier>, ConnectorError> {
    let known = KnownHosts::read(target.known_hosts).map_err(|e| target.refused(&e.to_string()))?;
    // Ask for the key types the file records for the host (as OpenSSH does), so a
    // host with several keys offers one the file can vouch for.
    let recorded: Vec<Algorithm> = known
        .algorithms(target.host, target.port)
        .into_iter()
        .filter(|a| SUPPORTED_HOST_KEYS.contains(a))
        .collect();
    let mut config = client::Config {
        inactivity_timeout: Some(TIMEOUT),
        nodelay: true,
        ..client::Config::default()
    };
    config.preferred.key = if recorded.is_empty() {
        Cow::Borrowed(SUPPORTED_HOST_KEYS)
    } else {
        Cow::Owned(recorded.clone())
    };
    let verifier = Verifier {
        known: Arc::new(known),
        host: target.host.to_owned(),
        port: target.port,
    };
    let result = client::connect(Arc::new(config), (target.host, target.port), verifier).await;
    result.map_err(|e| match e {
        SessionError::HostKey(m) => target.refused(&m),
        SessionError::Ssh(russh::Error::NoCommonAlgo {
            kind: AlgorithmKind::Key,
            theirs,
            ..
        }) => target.refused(&format!(
            "host key verification failed: the host offers host keys of type {}, none of them {} in {}",
            theirs.join(", "),
            if recorded.is_empty() {
                "a type Warden verifies (ssh-ed25519, ecdsa-sha2-nistp*) and recorded".to_owned()
            } else {
                format!(
                    "of a type recorded for it ({})",
                    recorded
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            target.known_hosts.display()
        )),
        SessionError::Ssh(e) => target.unavailable(&format!("cannot connect: {e}")),
    })
}

async fn bye(handle: &Handle<Verifier>) {
    let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
}

/// Logs in to the host as `admin` with `cert` (for `key`), runs `command` and writes
/// `username:password` to it: `Ok` when it exits 0, `Refused` with its standard error
/// (any trace of the password removed) and exit status otherwise.
pub(super) async fn change(
    target: &Target<'_>,
    admin: &str,
    key: PrivateKey,
    cert: Certificate,
    command: &str,
    username: &str,
    password: &SecretString,
) -> Result<(), ConnectorError> {
    let run = async {
        let mut handle = connect(target).await?;
        let auth = handle
            .authenticate_openssh_cert(admin, Arc::new(key), cert)
            .await
            .map_err(|e| target.unavailable(&format!("authenticating as {admin}: {e}")))?;
        if !matches!(auth, AuthResult::Success) {
            bye(&handle).await;
            return Err(target.refused(&format!(
                "the host refused Warden's certificate for admin_user {admin}: it must trust Warden's CA (TrustedUserCAKeys) and list the principal {admin} for {admin} (AuthorizedPrincipalsFile)"
            )));
        }
        let outcome = exec(target, &handle, command, username, password).await;
        bye(&handle).await;
        outcome
    };
    match tokio::time::timeout(TIMEOUT, run).await {
        Ok(r) => r,
        Err(_) => Err(target.unavailable(&format!(
            "timed out after {} s changing the password of {username}; whether it changed is unknown",
            TIMEOUT.as_secs()
        ))),
    }
}

/// Runs `command` on an authenticated session and feeds it the new password.
async fn exec(
    target: &Target<'_>,
    handle: &Handle<Verifier>,
    command: &str,
    username: &str,
    password: &SecretString,
) -> Result<(), ConnectorError> {
    let lost = |e: russh::Error| {
        target.unavailable(&format!(
            "running {command} for {username}: {e}; whether the password changed is unknown"
        ))
    };
    let mut channel = handle
        .channel_open_session()
        .await
        .map_err(|e| target.unavailable(&format!("opening a session: {e}")))?;
    channel
        .exec(true, command)
        .await
        .map_err(|e| target.unavailable(&format!("asking to run {command}: {e}")))?;
    // Wait for the host to start the command before anything secret is sent.
    loop {
        match channel.wait().await {
            Some(ChannelMsg::Success) => break,
            Some(ChannelMsg::Failure) => {
                return Err(target.refused(&format!("the host would not run {command}")));
            }
            Some(ChannelMsg::Close) | None => {
                return Err(
                    target.unavailable(&format!("the session closed before {command} started"))
                );
            }
            Some(_) => {}
        }
    }
    let line = Zeroizing::new(format!("{username}:{}\n", password.expose_secret()));
    channel.data(line.as_bytes()).await.map_err(lost)?;
    channel.eof().await.map_err(lost)?;

    let mut stderr = Vec::new();
    let mut status = None;
    let mut signal = None;
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                let room = MAX_STDERR.saturating_sub(stderr.len());
                stderr.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
            }
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => signal = Some(signal_name),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    match (status, signal) {
        (Some(0), _) => {
            tracing::info!(connection = %target.name, user = username, "ssh host account password set");
            Ok(())
        }
        (Some(code), _) => Err(target.refused(&format!(
            "{command} for {username} failed (exit status {code}): {}",
            clean(&stderr, password.expose_secret())
        ))),
        (None, Some(sig)) => Err(target.unavailable(&format!(
            "{command} for {username} was killed by signal {sig:?}; whether the password changed is unknown"
        ))),
        (None, None) => Err(target.unavailable(&format!(
            "the session ended before {command} for {username} reported its exit status; whether the password changed is unknown"
        ))),
    }
}

/// The command's standard error on one line: control characters as spaces, the
/// password (should it appear at all) replaced.
fn clean(stderr: &[u8], password: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if !password.is_empty() {
        text = text.replace(password, "[redacted]");
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "(no error output)".to_owned()
    } else {
        text
    }
}

/// Tries to log in as `username` with `password`: `Ok(true)` when the host accepts it
/// (even if it then asks for a further factor), `Ok(false)` when it refuses it.
pub(super) async fn try_login(
    target: &Target<'_>,
    username: &str,
    password: &SecretString,
) -> Result<bool, ConnectorError> {
    let run = async {
        let mut handle = connect(target).await?;
        let outcome = authenticate(target, &mut handle, username, password).await;
        bye(&handle).await;
        outcome
    };
    match tokio::time::timeout(TIMEOUT, run).await {
        Ok(r) => r,
        Err(_) => Err(target.unavailable(&format!(
            "timed out after {} s checking the login of {username}",
            TIMEOUT.as_secs()
        ))),
    }
}

async fn authenticate(
    target: &Target<'_>,
    handle: &mut Handle<Verifier>,
    username: &str,
    password: &SecretString,
) -> Result<bool, ConnectorError> {
    let failed =
        |e: russh::Error| target.unavailable(&format!("authenticating as {username}: {e}"));
    // "none" first, to learn which methods the host offers (OpenSSH does not count it
    // as a failed attempt).
    let methods = match handle.authenticate_none(username).await.map_err(failed)? {
        AuthResult::Success => {
            return Err(target.refused(&format!(
                "the host lets {username} in without authenticating: there is no password to check"
            )));
        }
        AuthResult::Failure {
            remaining_methods, ..
        } => remaining_methods,
    };
    if methods.contains(&MethodKind::Password) {
        let result = handle
            .authenticate_password(username, password.expose_secret())
            .await
            .map_err(failed)?;
        return Ok(accepted(&result));
    }
    if methods.contains(&MethodKind::KeyboardInteractive) {
        return keyboard_interactive(target, handle, username, password).await;
    }
    let offered: Vec<&str> = methods.iter().map(<&str>::from).collect();
    Err(target.refused(&format!(
        "the host offers {username} neither password nor keyboard-interactive authentication (it offers: {})",
        if offered.is_empty() {
            "nothing".to_owned()
        } else {
            offered.join(", ")
        }
    )))
}

/// Success, or the password accepted with a further factor asked for.
fn accepted(result: &AuthResult) -> bool {
    match result {
        AuthResult::Success => true,
        AuthResult::Failure {
            partial_success, ..
        } => *partial_success,
    }
}

/// Keyboard-interactive authentication answering one hidden prompt with the password;
/// anything more (a second prompt, an echoed prompt, several at once) is refused.
async fn keyboard_interactive(
    target: &Target<'_>,
    handle: &mut Handle<Verifier>,
    username: &str,
    password: &SecretString,
) -> Result<bool, ConnectorError> {
    let failed = |e: russh::Error| {
        target.unavailable(&format!(
            "keyboard-interactive authentication as {username}: {e}"
        ))
    };
    let mut answered = false;
    let mut response = handle
        .authenticate_keyboard_interactive_start(username, None::<String>)
        .await
        .map_err(failed)?;
    for _ in 0..MAX_ROUNDS {
        let prompts = match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure {
                partial_success, ..
            } => return Ok(partial_success),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => prompts,
        };
        let answers = match prompts.as_slice() {
            [] => Vec::new(),
            [one] if !one.echo && !answered => {
                answered = true;
                vec![password.expose_secret().to_owned()]
            }
            _ => {
                let asked: Vec<String> = prompts
                    .iter()
                    .map(|p| clean(p.prompt.as_bytes(), password.expose_secret()))
                    .collect();
                return Err(target.refused(&format!(
                    "the host asks {username} for more than a password (prompts: {})",
                    asked.join(" | ")
                )));
            }
        };
        response = handle
            .authenticate_keyboard_interactive_respond(answers)
            .await
            .map_err(failed)?;
    }
    Err(target.refused(&format!(
        "keyboard-interactive authentication as {username} did not end after {MAX_ROUNDS} rounds"
    )))
}
