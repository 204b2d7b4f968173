//! Integration tests of the OpenSSH certificate authority and connector against a real
//! OpenSSH server: the harness starts `/usr/sbin/sshd` on loopback with a temporary
//! configuration that trusts a test CA, makes a Unix user to log in as, and logs in with
//! the system `ssh` client using certificates signed by `CertificateAuthority::sign`.
//! Needs root (to add the user) and the openssh-server package; without them the tests
//! fail, they never skip.
//!
//! For password management the same sshd also takes passwords (`UsePAM no`: sshd checks
//! /etc/shadow itself), lets root in by certificate only (`PermitRootLogin
//! prohibit-password`, principal `root` for root; root's shadow entry must not be locked
//! with `!`), and the harness writes a known_hosts file with its host key. A second
//! configuration (`Auth::Pam`) offers keyboard-interactive authentication through PAM
//! instead of passwords. User-database changes (useradd, userdel, chpasswd, and the
//! connector's own chpasswd on the host) hold a lock file shared by the test processes,
//! so that parallel tests do not fail on /etc/shadow's lock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration as StdDuration, Instant};

use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use warden_connectors::ConnectionConfig;
use warden_connectors::ssh::{
    self, CLOCK_SKEW, CaError, CertRequest, CertificateAuthority, NoWindow, SignedCertificate,
    SshHosts, window,
};
use warden_core::connector::{
    AccessSpec, Account, Connector, ConnectorError, Origin, Presence, RoleTarget,
};
use warden_core::{Clock, SystemClock};

const SSHD: &str = "/usr/sbin/sshd";

fn now() -> OffsetDateTime {
    SystemClock.now()
}

/// Waits on this test's own thread (the sshd tests are synchronous; no runtime to block).
#[allow(clippy::disallowed_methods)]
fn pause(ms: u64) {
    std::thread::sleep(StdDuration::from_millis(ms));
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A Unix user made for one test and deleted (with its home) on drop.
struct UnixUser {
    name: String,
}

impl UnixUser {
    fn create() -> Self {
        let name = format!("wt{}", &Uuid::new_v4().simple().to_string()[..8]);
        // `-p '*'`: no password, but not locked either; sshd without PAM refuses a
        // locked (`!`) account even with a valid certificate.
        retry(&format!("useradd {name}"), || {
            Command::new("useradd")
                .args(["-m", "-s", "/bin/sh", "-p", "*", &name])
                .output()
        });
        Self { name }
    }

    /// Sets the user's password with the system's chpasswd.
    fn set_password(&self, password: &str) {
        retry(&format!("chpasswd {}", self.name), || {
            let mut child = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "{}:{password}", self.name)?;
            drop(stdin);
            child.wait_with_output()
        });
    }
}

impl Drop for UnixUser {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.name])
            .status();
        retry(&format!("userdel {}", self.name), || {
            Command::new("userdel").args(["-r", &self.name]).output()
        });
    }
}

/// A lock file shared by the test processes around changes to the user database, so
/// that one test's useradd does not make another's chpasswd fail on /etc/shadow's lock.
fn userdb_lock() -> fs::File {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("warden-connectors-ssh-userdb.lock"))
        .unwrap();
    file.lock().unwrap();
    file
}

/// Runs a user-database command, retrying while another test holds the lock on
/// /etc/passwd. Panics (outside a drop) when it keeps failing.
fn retry(what: &str, f: impl Fn() -> std::io::Result<Output>) {
    let mut last = String::new();
    for _ in 0..50 {
        let lock = userdb_lock();
        let result = f();
        drop(lock);
        match result {
            Ok(out) if out.status.success() => return,
            Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => last = e.to_string(),
        }
        pause(100);
    }
    if std::thread::panicking() {
        eprintln!("{what} failed: {last}");
    } else {
        panic!("{what} failed: {last}");
    }
}

/// An sshd child process, killed on drop.
struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Sshd {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Let the connections still closing end first (up to 2 s), so sshd reaps them
        // rather than leaving them to init.
        let pid = self.child.id();
        let children = format!("/proc/{pid}/task/{pid}/children");
        for _ in 0..40 {
            match fs::read_to_string(&children) {
                Ok(list) if !list.trim().is_empty() => pause(50),
                _ => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the harness's sshd lets people in besides certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// Password authentication, checked by sshd against /etc/shadow (`UsePAM no`).
    Password,
    /// Keyboard-interactive authentication through PAM, and no password method.
    Pam,
}

/// A running sshd trusting `ca`, a user to log in as and a key pair for that user.
/// Dropped in field order: sshd first, then the user, then the directory.
struct Fixture {
    sshd: Sshd,
    user: UnixUser,
    dir: tempfile::TempDir,
    ca: CertificateAuthority,
    ca_file: PathBuf,
    port: u16,
    user_key: PathBuf,
    user_pub: String,
    /// The host's public key line (`ssh-ed25519 AAAA... test-host`).
    host_pub: String,
    /// A known_hosts file recording the host key for `[127.0.0.1]:port`.
    known_hosts: PathBuf,
    certs: std::cell::Cell<u32>,
}

impl Fixture {
    fn start() -> Self {
        Self::start_with(Auth::Password)
    }

    fn start_with(auth: Auth) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install the openssh-server package (apt-get install openssh-server) to run the ssh connector tests"
        );
        let user = UnixUser::create();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // The principals file is read with the user's privileges: the path must be
        // traversable by them. Nothing here is group- or world-writable.
        chmod(root, 0o755);
        fs::create_dir_all("/run/sshd").unwrap();
        chmod(Path::new("/run/sshd"), 0o755);

        let host_key = root.join("host_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test-host", "-f"])
            .arg(&host_key));

        let ca_file = root.join("ca");
        let ca = CertificateAuthority::load_or_create(&ca_file).unwrap();
        let ca_pub = root.join("ca.pub");
        fs::write(&ca_pub, format!("{}\n", ca.public_key())).unwrap();
        chmod(&ca_pub, 0o644);

        let principals = root.join("principals");
        fs::create_dir(&principals).unwrap();
        chmod(&principals, 0o755);
        let file = principals.join(&user.name);
        fs::write(&file, format!("{}\n", user.name)).unwrap();
        chmod(&file, 0o644);
        // Root logs in by certificate with the principal `root` (Warden's admin login).
        let file = principals.join("root");
        fs::write(&file, "root\n").unwrap();
        chmod(&file, 0o644);

        let user_key = root.join("userkey");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "someone@test", "-f"])
            .arg(&user_key));
        let user_pub = fs::read_to_string(root.join("userkey.pub")).unwrap();

        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = root.join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 Port {port}\n\
                 HostKey {host_key}\n\
                 TrustedUserCAKeys {ca_pub}\n\
                 AuthorizedPrincipalsFile {principals}/%u\n\
                 AuthorizedKeysFile none\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\n\
                 {auth}\
                 PidFile {pid}\n\
                 StrictModes no\n\
                 LogLevel VERBOSE\n",
                host_key = host_key.display(),
                ca_pub = ca_pub.display(),
                principals = principals.display(),
                pid = root.join("sshd.pid").display(),
                auth = match auth {
                    Auth::Password =>
                        "PasswordAuthentication yes\n\
                                       KbdInteractiveAuthentication no\n\
                                       UsePAM no\n",
                    Auth::Pam =>
                        "PasswordAuthentication no\n\
                                  KbdInteractiveAuthentication yes\n\
                                  UsePAM yes\n",
                },
            ),
        )
        .unwrap();
        chmod(&config, 0o644);

        let log = root.join("sshd.log");
        let log_file = fs::File::create(&log).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
        let mut sshd = Sshd { child, log };

        let deadline = Instant::now() + StdDuration::from_secs(10);
        loop {
            if let Some(status) = sshd.child.try_wait().unwrap() {
                panic!("sshd exited ({status}):\n{}", sshd.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {port}:\n{}",
                sshd.log()
            );
            pause(50);
        }

        let host_pub = fs::read_to_string(root.join("host_ed25519.pub"))
            .unwrap()
            .trim()
            .to_owned();
        let known_hosts = root.join("known_hosts");
        fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}\n")).unwrap();

        Self {
            sshd,
            user,
            dir,
            ca,
            ca_file,
            port,
            user_key,
            user_pub,
            host_pub,
            known_hosts,
            certs: std::cell::Cell::new(0),
        }
    }

    /// The connection's configuration for password management: root as the admin and
    /// the harness's known_hosts file.
    fn config(&self) -> ssh::Config {
        ssh::Config {
            host: "127.0.0.1".into(),
            port: self.port,
            admin_user: Some("root".into()),
            known_hosts_file: Some(self.known_hosts.clone()),
            use_sudo: false,
        }
    }

    /// The connector for this sshd, with the fixture's CA key file.
    fn hosts(&self) -> SshHosts {
        self.hosts_with(self.config())
    }

    fn hosts_with(&self, config: ssh::Config) -> SshHosts {
        SshHosts::new("hosts", config).with_ca_file(self.ca_file.clone())
    }

    /// The host key's SHA-256 fingerprint, as `ssh-keygen -l` prints it.
    fn host_fingerprint(&self) -> String {
        ssh_key::PublicKey::from_openssh(&self.host_pub)
            .unwrap()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    }

    /// Writes a file in the fixture's directory.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn request<'a>(
        &'a self,
        principals: &'a [String],
        extensions: &'a [String],
        valid_after: OffsetDateTime,
        valid_before: OffsetDateTime,
    ) -> CertRequest<'a> {
        CertRequest {
            public_key: &self.user_pub,
            key_id: "test",
            serial: 1,
            principals,
            extensions,
            force_command: None,
            valid_after,
            valid_before,
        }
    }

    /// Writes a certificate to a new file in the fixture's directory.
    fn write_cert(&self, cert: &SignedCertificate) -> PathBuf {
        let n = self.certs.get() + 1;
        self.certs.set(n);
        let path = self.dir.path().join(format!("cert{n}.pub"));
        fs::write(&path, format!("{}\n", cert.certificate)).unwrap();
        path
    }

    /// `ssh -i userkey -o CertificateFile=cert ... user@127.0.0.1 true`.
    fn login(&self, cert: &SignedCertificate) -> Output {
        let cert = self.write_cert(cert);
        Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(&self.user_key)
            .arg("-o")
            .arg(format!("CertificateFile={}", cert.display()))
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-p",
            ])
            .arg(self.port.to_string())
            .arg(format!("{}@127.0.0.1", self.user.name))
            .arg("true")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn assert_login_works(&self, cert: &SignedCertificate) {
        let out = self.login(cert);
        assert!(
            out.status.success(),
            "login failed ({}): {}\nsshd log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.sshd.log()
        );
    }

    /// Asserts that logging in fails, and that sshd's log gained a line with `reason`.
    fn assert_login_refused(&self, cert: &SignedCertificate, reason: &str) {
        let before = self.sshd.log().len();
        let out = self.login(cert);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "login should fail: {stderr}");
        assert!(stderr.contains("Permission denied"), "{stderr}");
        // sshd writes its log line before it answers the client.
        let log = self.sshd.log();
        let new = &log[before.min(log.len())..];
        assert!(
            new.contains(reason),
            "sshd should say {reason:?}; it logged:\n{new}"
        );
    }

    fn own(&self) -> Vec<String> {
        vec![self.user.name.clone()]
    }
}

fn hours(h: i64) -> Duration {
    Duration::hours(h)
}

#[test]
fn a_certificate_for_the_users_principal_logs_in_and_carries_only_what_was_asked() {
    let fx = Fixture::start();
    let start = now();
    let principals = fx.own();
    let extensions = vec!["permit-pty".to_owned()];
    let mut req = fx.request(
        &principals,
        &extensions,
        start - CLOCK_SKEW,
        start + hours(1),
    );
    req.key_id = "grant 1234 alice";
    req.serial = 77;
    let cert = fx.ca.sign(&req).unwrap();
    assert_eq!(cert.principals, principals);
    assert_eq!(
        cert.valid_after.unix_timestamp(),
        (start - CLOCK_SKEW).unix_timestamp() + 1
    );
    assert_eq!(
        cert.valid_before.unix_timestamp(),
        (start + hours(1)).unix_timestamp()
    );
    assert_eq!(cert.valid_after.nanosecond(), 0);
    assert!(
        cert.certificate
            .starts_with("ssh-ed25519-cert-v01@openssh.com AAAA")
    );

    fx.assert_login_works(&cert);

    let path = fx.write_cert(&cert);
    let out = run(Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .arg("-L")
        .arg("-f")
        .arg(&path));
    let text = String::from_utf8_lossy(&out.stdout);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let expect_valid = format!(
        "Valid: from {} to {}",
        cert.valid_after.format(&fmt).unwrap(),
        cert.valid_before.format(&fmt).unwrap()
    );
    assert!(
        text.contains("Type: ssh-ed25519-cert-v01@openssh.com user certificate"),
        "{text}"
    );
    assert!(
        text.contains(&expect_valid),
        "expected {expect_valid:?} in:\n{text}"
    );
    assert!(text.contains("Key ID: \"grant 1234 alice\""), "{text}");
    assert!(text.contains("Serial: 77"), "{text}");
    let section = |name: &str| -> Vec<String> {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let at = lines.iter().position(|l| l.starts_with(name)).unwrap();
        if lines[at].ends_with("(none)") {
            return Vec::new();
        }
        lines[at + 1..]
            .iter()
            .take_while(|l| !l.ends_with(':') && !l.contains(": "))
            .map(|l| (*l).to_owned())
            .collect()
    };
    assert_eq!(section("Principals:"), principals, "{text}");
    assert_eq!(section("Critical Options:"), Vec::<String>::new(), "{text}");
    assert_eq!(section("Extensions:"), extensions, "{text}");
    let ca_fingerprint = ssh_key::PublicKey::from_openssh(&fx.ca.public_key())
        .unwrap()
        .fingerprint(ssh_key::HashAlg::Sha256);
    assert!(
        text.contains(&format!("Signing CA: ED25519 {ca_fingerprint}")),
        "{text}"
    );

    // A forced command is a critical option, and only when asked for.
    let mut req = fx.request(&principals, &[], start, start + hours(1));
    req.force_command = Some("uptime");
    let forced = fx.ca.sign(&req).unwrap();
    let path = fx.write_cert(&forced);
    let out = run(Command::new("ssh-keygen").arg("-L").arg("-f").arg(&path));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("force-command uptime"), "{text}");
    assert!(text.contains("Extensions: (none)"), "{text}");
}

#[test]
fn certificates_outside_their_window_do_not_log_in() {
    let fx = Fixture::start();
    let principals = fx.own();
    let t = now();
    // Control: the same user, key and server accept a current certificate.
    fx.assert_login_works(
        &fx.ca
            .sign(&fx.request(&principals, &[], t - CLOCK_SKEW, t + hours(1)))
            .unwrap(),
    );

    let ended = fx
        .ca
        .sign(&fx.request(
            &principals,
            &[],
            t - Duration::minutes(5),
            t - Duration::seconds(5),
        ))
        .unwrap();
    fx.assert_login_refused(&ended, "expired");

    let future = fx
        .ca
        .sign(&fx.request(&principals, &[], t + hours(1), t + hours(2)))
        .unwrap();
    fx.assert_login_refused(&future, "not yet valid");
}

#[test]
fn a_certificate_from_another_ca_does_not_log_in() {
    let fx = Fixture::start();
    let principals = fx.own();
    let t = now();
    let other_dir = tempfile::tempdir().unwrap();
    let other = CertificateAuthority::load_or_create(&other_dir.path().join("ca")).unwrap();
    assert_ne!(other.public_key(), fx.ca.public_key());
    fx.assert_login_works(
        &fx.ca
            .sign(&fx.request(&principals, &[], t - CLOCK_SKEW, t + hours(1)))
            .unwrap(),
    );
    let foreign = other
        .sign(&fx.request(&principals, &[], t - CLOCK_SKEW, t + hours(1)))
        .unwrap();
    // At this log level sshd names the untrusted CA only in its failure line.
    let fingerprint = ssh_key::PublicKey::from_openssh(&other.public_key())
        .unwrap()
        .fingerprint(ssh_key::HashAlg::Sha256);
    fx.assert_login_refused(&foreign, &format!("Failed publickey for {} ", fx.user.name));
    assert!(fx.sshd.log().contains(&format!("CA ED25519 {fingerprint}")));
}

#[test]
fn principals_that_could_smuggle_another_user_are_refused() {
    let fx = Fixture::start();
    let t = now();
    for bad in [
        "deploy,root",
        "a b",
        "a\nroot",
        "-oProxyCommand=x",
        "",
        "root\0",
    ] {
        let principals = vec![bad.to_owned()];
        let err = fx
            .ca
            .sign(&fx.request(&principals, &[], t - CLOCK_SKEW, t + hours(1)))
            .unwrap_err();
        assert!(matches!(err, CaError::Principal(_)), "{bad:?}: {err:?}");
        assert!(
            err.to_string().contains("not a principal Warden signs"),
            "{err}"
        );
    }
    // One bad principal spoils the lot.
    let mixed = vec![fx.user.name.clone(), "deploy,root".to_owned()];
    assert!(matches!(
        fx.ca.sign(&fx.request(&mixed, &[], t, t + hours(1))),
        Err(CaError::Principal(_))
    ));

    // A certificate for a principal the user's principals file does not list.
    let other = vec![format!("{}-other", fx.user.name)];
    let cert = fx
        .ca
        .sign(&fx.request(&other, &[], t - CLOCK_SKEW, t + hours(1)))
        .unwrap();
    fx.assert_login_refused(&cert, "does not contain an authorized principal");
    // Control: the listed principal works.
    fx.assert_login_works(
        &fx.ca
            .sign(&fx.request(&fx.own(), &[], t - CLOCK_SKEW, t + hours(1)))
            .unwrap(),
    );
}

/// A CA in a temporary directory, without sshd.
fn bare_ca() -> (tempfile::TempDir, CertificateAuthority) {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::load_or_create(&dir.path().join("ca")).unwrap();
    (dir, ca)
}

fn user_key_line(dir: &Path, name: &str, args: &[&str]) -> String {
    let path = dir.join(name);
    run(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "k"])
        .args(args)
        .arg("-f")
        .arg(&path));
    fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap()
}

fn req<'a>(key: &'a str, principals: &'a [String]) -> CertRequest<'a> {
    let t = now();
    CertRequest {
        public_key: key,
        key_id: "id",
        serial: 0,
        principals,
        extensions: &[],
        force_command: None,
        valid_after: t,
        valid_before: t + hours(1),
    }
}

#[test]
fn keys_that_are_not_a_users_public_key_are_refused() {
    let (dir, ca) = bare_ca();
    let principals = vec!["deploy".to_owned()];
    let key = user_key_line(dir.path(), "ed", &["-t", "ed25519"]);
    let cert = ca.sign(&req(&key, &principals)).unwrap();

    let err = ca.sign(&req(&cert.certificate, &principals)).unwrap_err();
    assert!(matches!(err, CaError::CertificateAsKey), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    let err = ca.sign(&req(&ca.public_key(), &principals)).unwrap_err();
    assert!(matches!(err, CaError::CaKeyAsKey), "{err:?}");

    for garbage in [
        "",
        "garbage",
        "ssh-ed25519",
        "ssh-ed25519 AAAA",
        "ssh-ed25519 not-base64!!",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti x",
    ] {
        let err = ca.sign(&req(garbage, &principals)).unwrap_err();
        assert!(
            matches!(err, CaError::InvalidPublicKey(_)),
            "{garbage:?}: {err:?}"
        );
    }

    let small_rsa = user_key_line(dir.path(), "rsa1024", &["-t", "rsa", "-b", "1024"]);
    let err = ca.sign(&req(&small_rsa, &principals)).unwrap_err();
    assert!(matches!(err, CaError::UnacceptableKey(_)), "{err:?}");
    assert!(err.to_string().contains("1024 bits"), "{err}");
    let rsa = user_key_line(dir.path(), "rsa3072", &["-t", "rsa", "-b", "3072"]);
    ca.sign(&req(&rsa, &principals)).unwrap();

    let ecdsa = user_key_line(dir.path(), "ecdsa", &["-t", "ecdsa"]);
    let err = ca.sign(&req(&ecdsa, &principals)).unwrap_err();
    assert!(matches!(err, CaError::UnacceptableKey(_)), "{err:?}");

    // DSA: ssh-keygen may no longer make these; a hand-built key line is enough.
    let dsa = dsa_key_line();
    let err = ca.sign(&req(&dsa, &principals)).unwrap_err();
    assert!(matches!(err, CaError::UnacceptableKey(_)), "{err:?}");
}

/// An `ssh-dss` public key line with small made-up parameters (it is never used).
fn dsa_key_line() -> String {
    fn put(out: &mut Vec<u8>, field: &[u8]) {
        out.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
        out.extend_from_slice(field);
    }
    let mut blob = Vec::new();
    put(&mut blob, b"ssh-dss");
    for n in [&[0x7f_u8; 128][..], &[0x7f; 20], &[0x02; 128], &[0x03; 128]] {
        put(&mut blob, n);
    }
    format!("ssh-dss {} k", base64(&blob))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn what_goes_into_a_certificate_is_checked() {
    let (dir, ca) = bare_ca();
    let key = user_key_line(dir.path(), "ed", &["-t", "ed25519"]);
    let principals = vec!["deploy".to_owned()];
    let t = now();

    assert!(matches!(
        ca.sign(&req(&key, &[])),
        Err(CaError::NoPrincipals)
    ));

    let bad_ext = vec!["permit-everything".to_owned()];
    let r = CertRequest {
        extensions: &bad_ext,
        ..req(&key, &principals)
    };
    assert!(matches!(ca.sign(&r), Err(CaError::Extension(_))));

    let r = CertRequest {
        force_command: Some("ls\nrm -rf /"),
        ..req(&key, &principals)
    };
    assert!(matches!(ca.sign(&r), Err(CaError::ForceCommand(_))));

    let r = CertRequest {
        key_id: "a\nb",
        ..req(&key, &principals)
    };
    assert!(matches!(ca.sign(&r), Err(CaError::KeyId)));

    for (after, before) in [
        (t, t),
        (t, t - Duration::seconds(1)),
        (t, t + hours(25)),
        (t, t + hours(24) + CLOCK_SKEW + Duration::seconds(2)),
    ] {
        let r = CertRequest {
            valid_after: after,
            valid_before: before,
            ..req(&key, &principals)
        };
        assert!(
            matches!(ca.sign(&r), Err(CaError::Window(_))),
            "{after} {before}"
        );
    }
    // The longest window `window()` hands out is accepted.
    let (after, before) = window(t, t + hours(48), t, ssh::MAX_WINDOW).unwrap();
    let r = CertRequest {
        valid_after: after,
        valid_before: before,
        ..req(&key, &principals)
    };
    ca.sign(&r).unwrap();

    // Duplicates are signed once; order is kept.
    let dup = vec!["b".to_owned(), "a".to_owned(), "b".to_owned()];
    let ext = vec!["permit-pty".to_owned(), "permit-pty".to_owned()];
    let r = CertRequest {
        extensions: &ext,
        ..req(&key, &dup)
    };
    let cert = ca.sign(&r).unwrap();
    assert_eq!(cert.principals, vec!["b".to_owned(), "a".to_owned()]);
}

#[test]
fn the_ca_key_is_created_private_reloaded_and_refused_when_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca_key");
    let ca = CertificateAuthority::load_or_create(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let public = ca.public_key();
    assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
    assert!(public.ends_with(" warden-ca"), "{public}");
    // ssh-keygen reads both files.
    run(Command::new("ssh-keygen").arg("-l").arg("-f").arg(&path));

    let again = CertificateAuthority::load_or_create(&path).unwrap();
    assert_eq!(again.public_key(), public);

    let debug = format!("{ca:?}");
    let pem = fs::read_to_string(&path).unwrap();
    assert!(debug.contains("SHA256:"), "{debug}");
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!debug.contains(line), "Debug shows the key: {debug}");
    }

    for mode in [0o644, 0o640, 0o604, 0o660] {
        chmod(&path, mode);
        let err = CertificateAuthority::load_or_create(&path).unwrap_err();
        assert!(matches!(err, CaError::InsecureKeyFile { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
    chmod(&path, 0o400);
    assert_eq!(
        CertificateAuthority::load_or_create(&path)
            .unwrap()
            .public_key(),
        public
    );

    // A key that is not Ed25519 is refused, as is something that is no key at all.
    let rsa = dir.path().join("rsa");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&rsa));
    let err = CertificateAuthority::load_or_create(&rsa).unwrap_err();
    assert!(matches!(err, CaError::BadKeyFile { .. }), "{err:?}");
    assert!(err.to_string().contains("Ed25519"), "{err}");
    let junk = dir.path().join("junk");
    fs::write(&junk, "not a key").unwrap();
    chmod(&junk, 0o600);
    assert!(matches!(
        CertificateAuthority::load_or_create(&junk),
        Err(CaError::BadKeyFile { .. })
    ));
    // A missing directory is an error naming the path.
    let nowhere = dir.path().join("missing/ca");
    let err = CertificateAuthority::load_or_create(&nowhere).unwrap_err();
    assert!(matches!(err, CaError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing/ca"), "{err}");
}

#[test]
fn window_edges() {
    let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let max = hours(8);
    // A grant that started earlier: from now minus the skew to its end.
    assert_eq!(
        window(t - hours(1), t + hours(2), t, max),
        Ok((t - CLOCK_SKEW, t + hours(2)))
    );
    // A long grant: cut at now + max.
    assert_eq!(
        window(t - hours(1), t + hours(20), t, max),
        Ok((t - CLOCK_SKEW, t + max))
    );
    // A grant that starts later: from its start minus the skew.
    assert_eq!(
        window(t + hours(1), t + hours(2), t, max),
        Ok((t + hours(1) - CLOCK_SKEW, t + hours(2)))
    );
    // Never past the grant's end, even by a second.
    let end = t + Duration::seconds(1);
    assert_eq!(window(t - hours(1), end, t, max), Ok((t - CLOCK_SKEW, end)));
    // Ended, or ending right now.
    assert_eq!(
        window(t - hours(2), t - hours(1), t, max),
        Err(NoWindow::Ended)
    );
    assert_eq!(window(t - hours(2), t, t, max), Err(NoWindow::Ended));
    // Starting later than now + max: nothing to sign yet.
    assert_eq!(
        window(t + hours(9), t + hours(10), t, max),
        Err(NoWindow::NotYet {
            starts_at: t + hours(9)
        })
    );
    // No time allowed at all.
    assert_eq!(
        window(t - hours(1), t + hours(1), t, Duration::ZERO),
        Err(NoWindow::UnderASecond { until: t })
    );
    assert_eq!(
        window(t - hours(1), t + hours(1), t, -hours(1)),
        Err(NoWindow::UnderASecond {
            until: t - hours(1)
        })
    );
}

/// Regression: a certificate signed in a grant's last second was already expired when
/// issued, its end rounded down to a second that had begun before it was signed.
#[test]
fn nothing_is_signed_in_a_grants_last_second_and_no_certificate_outlasts_it() {
    let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let ms = Duration::milliseconds;
    let max = hours(8);
    // Asked at .300 for a grant ending at .800 of the same second: rounded down, its end
    // would be before the request.
    assert_eq!(
        window(t - hours(1), t + ms(800), t + ms(300), max),
        Err(NoWindow::UnderASecond { until: t })
    );
    // Or less than a second after it.
    assert_eq!(
        window(t - hours(1), t + ms(1500), t + ms(300), max),
        Err(NoWindow::UnderASecond {
            until: t + Duration::SECOND
        })
    );
    // With a second or more left: whole seconds, the end rounded down, never up.
    let (after, before) = window(t - hours(1), t + ms(2500), t + ms(300), max).unwrap();
    assert_eq!(before, t + Duration::seconds(2));
    assert_eq!(after, t - Duration::seconds(29));
    // What the signed certificate carries.
    let (dir, ca) = bare_ca();
    let key = user_key_line(dir.path(), "ed", &["-t", "ed25519"]);
    let principals = vec!["ops".to_owned()];
    let signed = ca
        .sign(&CertRequest {
            valid_after: after,
            valid_before: before,
            ..req(&key, &principals)
        })
        .unwrap();
    assert_eq!((signed.valid_after, signed.valid_before), (after, before));
    let cert = ssh_key::Certificate::from_openssh(&signed.certificate).unwrap();
    assert_eq!(
        (cert.valid_after(), cert.valid_before()),
        (
            u64::try_from(after.unix_timestamp()).unwrap(),
            u64::try_from(before.unix_timestamp()).unwrap()
        )
    );
}

fn access(target: RoleTarget) -> AccessSpec {
    AccessSpec {
        grant: Uuid::new_v4(),
        identity: Uuid::new_v4(),
        employee_id: "E1".into(),
        resource: "web".into(),
        kind: "ssh".into(),
        connection: "hosts".into(),
        role: "login".into(),
        target,
        username: "alice".into(),
        until: now() + hours(1),
    }
}

#[tokio::test]
async fn the_connector_changes_nothing_on_the_hosts() {
    let hosts = SshHosts::new(
        "hosts",
        ssh::Config {
            host: "bastion.example".into(),
            port: 2222,
            admin_user: None,
            known_hosts_file: None,
            use_sudo: false,
        },
    );
    assert_eq!(hosts.host(), "bastion.example");
    assert_eq!(hosts.port(), 2222);
    let ok = access(RoleTarget::Ssh {
        principals: vec!["deploy".into()],
        extensions: vec!["permit-pty".into()],
        force_command: None,
    });
    assert_eq!(hosts.grant(&ok).await.unwrap(), "certificate");
    assert_eq!(hosts.grant(&ok).await.unwrap(), "certificate");
    hosts.revoke(&ok, Some("certificate")).await.unwrap();
    hosts.revoke(&ok, None).await.unwrap();
    assert_eq!(hosts.verify(&ok, None).await.unwrap(), Presence::Absent);
    let err = hosts.credential(&ok, None).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Refused("ssh access is by certificate: use `warden ssh`".into())
    );
    assert!(
        matches!(hosts.discover().await, Err(ConnectorError::Refused(m)) if m.starts_with("ssh hosts are not inventoried"))
    );
    let account = Account {
        name: "root".into(),
        origin: Origin::Other,
        privileges: vec![],
        until: None,
    };
    assert!(matches!(
        hosts.remove(&account).await,
        Err(ConnectorError::Refused(_))
    ));

    for target in [
        RoleTarget::Unmapped,
        RoleTarget::Redis {
            acl: vec!["+@read".into()],
        },
    ] {
        let err = hosts.grant(&access(target)).await.unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Refused(m) if m.contains("has no ssh mapping")),
            "{err:?}"
        );
    }
    for bad in [
        RoleTarget::Ssh {
            principals: vec![],
            extensions: vec![],
            force_command: None,
        },
        RoleTarget::Ssh {
            principals: vec!["deploy,root".into()],
            extensions: vec![],
            force_command: None,
        },
        RoleTarget::Ssh {
            principals: vec!["deploy".into()],
            extensions: vec!["permit-all".into()],
            force_command: None,
        },
        RoleTarget::Ssh {
            principals: vec!["deploy".into()],
            extensions: vec![],
            force_command: Some("a\nb".into()),
        },
    ] {
        assert!(matches!(
            hosts.grant(&access(bad)).await,
            Err(ConnectorError::Refused(_))
        ));
    }
}

/// A TOML-like table as a serde map: string, integer and boolean values.
enum V {
    S(&'static str),
    N(i64),
    B(bool),
}

impl<'de> serde::de::IntoDeserializer<'de> for V {
    type Deserializer = VDe;
    fn into_deserializer(self) -> VDe {
        VDe(self)
    }
}

struct VDe(V);

impl<'de> serde::Deserializer<'de> for VDe {
    type Error = serde::de::value::Error;
    fn deserialize_any<W: serde::de::Visitor<'de>>(self, v: W) -> Result<W::Value, Self::Error> {
        match self.0 {
            V::S(s) => v.visit_borrowed_str(s),
            V::N(n) => v.visit_i64(n),
            V::B(b) => v.visit_bool(b),
        }
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

fn table(entries: Vec<(&'static str, V)>) -> Result<ConnectionConfig, serde::de::value::Error> {
    use serde::Deserialize;
    ConnectionConfig::deserialize(serde::de::value::MapDeserializer::new(entries.into_iter()))
}

#[test]
fn a_connection_table_of_kind_ssh_deserializes() {
    let c = table(vec![
        ("kind", V::S("ssh")),
        ("host", V::S("bastion.example")),
        ("port", V::N(2222)),
    ])
    .unwrap();
    assert_eq!(c.kind(), "ssh");
    let ConnectionConfig::Ssh(cfg) = c else {
        panic!("not ssh")
    };
    assert_eq!((cfg.host.as_str(), cfg.port), ("bastion.example", 2222));

    let ConnectionConfig::Ssh(cfg) =
        table(vec![("kind", V::S("ssh")), ("host", V::S("h"))]).unwrap()
    else {
        panic!("not ssh")
    };
    assert_eq!(cfg.port, 22);

    assert!(
        table(vec![("kind", V::S("ssh"))]).is_err(),
        "host is required"
    );
    let err = table(vec![
        ("kind", V::S("ssh")),
        ("host", V::S("h")),
        ("password", V::S("x")),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");

    // Password management is off unless configured.
    assert_eq!(
        (cfg_of(vec![("kind", V::S("ssh")), ("host", V::S("h"))]).admin_user),
        None
    );
    let cfg = cfg_of(vec![
        ("kind", V::S("ssh")),
        ("host", V::S("h")),
        ("admin_user", V::S("root")),
        ("known_hosts_file", V::S("/etc/warden/known_hosts")),
        ("use_sudo", V::B(true)),
    ]);
    assert_eq!(cfg.admin_user.as_deref(), Some("root"));
    assert_eq!(
        cfg.known_hosts_file.as_deref(),
        Some(Path::new("/etc/warden/known_hosts"))
    );
    assert!(cfg.use_sudo);
    let plain = cfg_of(vec![("kind", V::S("ssh")), ("host", V::S("h"))]);
    assert!(plain.known_hosts_file.is_none() && !plain.use_sudo);
}

fn cfg_of(entries: Vec<(&'static str, V)>) -> ssh::Config {
    match table(entries).unwrap() {
        ConnectionConfig::Ssh(cfg) => cfg,
        _ => panic!("not ssh"),
    }
}

// Password management: `set_password` and `check_login` against the harness's sshd.

/// The passwords of these tests: distinct from each other and from anything a message
/// says, so a leak is found by a plain search.
const P1: &str = "first-Pa55word-3f9a1c";
const P2: &str = "second-Pa55word-c71e0d";
const WRONG: &str = "wrong-Pa55word-0b2d77";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Asserts that neither the Display nor the Debug of `err` shows any of `passwords`.
fn assert_no_password(err: &ConnectorError, passwords: &[&str]) {
    let shown = format!("{err} {err:?}");
    for p in passwords {
        assert!(!shown.contains(p), "an error shows a password: {shown}");
    }
}

fn refused(err: &ConnectorError) -> &str {
    match err {
        ConnectorError::Refused(m) => m,
        other => panic!("expected Refused, got {other:?}"),
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A user name nobody has.
fn ghost() -> String {
    format!("wt{}", &Uuid::new_v4().simple().to_string()[..8])
}

#[tokio::test]
async fn rotation_sets_a_password_that_logs_in_and_retires_the_old_one() {
    let fx = Fixture::start();
    fx.user.set_password(P1);
    let hosts = fx.hosts();
    let user = fx.user.name.as_str();

    assert!(hosts.check_login(user, &secret(P1)).await.unwrap());
    assert!(!hosts.check_login(user, &secret(WRONG)).await.unwrap());

    {
        let _lock = userdb_lock();
        hosts.set_password(user, &secret(P2)).await.unwrap();
    }
    assert!(hosts.check_login(user, &secret(P2)).await.unwrap());
    assert!(!hosts.check_login(user, &secret(P1)).await.unwrap());

    // Warden logged in as root with a certificate that names the rotation.
    let log = fx.sshd.log();
    assert!(
        log.contains("Accepted publickey for root from 127.0.0.1"),
        "sshd log:\n{log}"
    );
    assert!(
        log.contains(&format!("ID warden password rotation of {user} on hosts")),
        "sshd log:\n{log}"
    );

    // Again, with the CA already loaded; and an account nobody has does not log in.
    {
        let _lock = userdb_lock();
        hosts.set_password(user, &secret(P1)).await.unwrap();
    }
    assert!(hosts.check_login(user, &secret(P1)).await.unwrap());
    assert!(!hosts.check_login(&ghost(), &secret(P1)).await.unwrap());

    // Debug shows the CA's fingerprint, never its key.
    let debug = format!("{hosts:?}");
    assert!(debug.contains("SHA256:"), "{debug}");
    let pem = fs::read_to_string(&fx.ca_file).unwrap();
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!debug.contains(line), "Debug shows the CA key: {debug}");
    }
}

#[tokio::test]
async fn set_password_refuses_unknown_users_root_and_passwords_chpasswd_would_misread() {
    let fx = Fixture::start();
    fx.user.set_password(P1);
    let hosts = fx.hosts();
    let user = fx.user.name.as_str();

    // chpasswd itself refuses an account that does not exist; its message names it.
    let nobody = ghost();
    let err = {
        let _lock = userdb_lock();
        hosts.set_password(&nobody, &secret(P2)).await.unwrap_err()
    };
    let m = refused(&err);
    assert!(m.contains(&nobody) && m.contains("exit status"), "{m}");
    assert_no_password(&err, &[P1, P2]);

    // The rest is refused before connecting: a connector for a closed port answers alike.
    let closed = fx.hosts_with(ssh::Config {
        port: closed_port(),
        ..fx.config()
    });
    for h in [&hosts, &closed] {
        let err = h.set_password("root", &secret(P2)).await.unwrap_err();
        assert!(refused(&err).contains("root's password"), "{err}");
        assert_no_password(&err, &[P2]);
        let err = h.check_login("root", &secret(P2)).await.unwrap_err();
        assert!(refused(&err).contains("root's password"), "{err}");

        for bad in [
            format!("{P2}:x"),
            format!("{P2}\nroot:{P1}"),
            format!("{P2}\n"),
            format!("{P2}\r"),
            format!("{P2}\0"),
        ] {
            let err = h.set_password(user, &secret(&bad)).await.unwrap_err();
            assert!(refused(&err).contains("chpasswd cannot take"), "{err}");
            assert_no_password(&err, &[P1, P2]);
        }
        let err = h.set_password(user, &secret("")).await.unwrap_err();
        assert!(refused(&err).contains("empty password"), "{err}");

        for name in [
            "",
            "Alice",
            "a b",
            "-x",
            "x:y",
            "1abc",
            "a/../b",
            "root\n",
            &"a".repeat(33),
        ] {
            let err = h.set_password(name, &secret(P2)).await.unwrap_err();
            assert!(refused(&err).contains("not a Unix account name"), "{err}");
            let err = h.check_login(name, &secret(P2)).await.unwrap_err();
            assert!(matches!(err, ConnectorError::Refused(_)), "{err:?}");
        }
    }

    // Nothing changed.
    assert!(hosts.check_login(user, &secret(P1)).await.unwrap());
}

#[tokio::test]
async fn a_host_key_not_in_known_hosts_is_refused_and_nothing_changes() {
    let fx = Fixture::start();
    fx.user.set_password(P1);
    let user = fx.user.name.as_str();
    let port = fx.port;
    let host_pub = &fx.host_pub;
    let fingerprint = fx.host_fingerprint();
    let other = user_key_line(fx.dir.path(), "otherhost", &["-t", "ed25519"]);
    let other = other.trim();

    for (name, text, problem) in [
        ("empty", String::new(), "is not in"),
        (
            "other-port",
            format!("[127.0.0.1]:1 {host_pub}\n127.0.0.1 {host_pub}\n"),
            "is not in",
        ),
        (
            "changed",
            format!("[127.0.0.1]:{port} {other}\n"),
            "differs from the key",
        ),
        (
            "revoked",
            format!("[127.0.0.1]:{port} {host_pub}\n@revoked * {host_pub}\n"),
            "@revoked",
        ),
    ] {
        let file = fx.file(name, &text);
        let hosts = fx.hosts_with(ssh::Config {
            known_hosts_file: Some(file.clone()),
            ..fx.config()
        });
        let errors = [
            hosts.check_login(user, &secret(P1)).await.unwrap_err(),
            hosts.set_password(user, &secret(P2)).await.unwrap_err(),
        ];
        for err in &errors {
            let m = refused(err);
            assert!(m.contains("host key verification failed"), "{name}: {m}");
            assert!(m.contains(problem), "{name}: {m}");
            assert!(
                m.contains(&format!("ssh-ed25519 {fingerprint}")),
                "{name}: the message should name the offered key: {m}"
            );
            assert!(m.contains(&file.display().to_string()), "{name}: {m}");
            assert_no_password(err, &[P1, P2]);
        }
    }

    // A known_hosts file that is missing, or none configured at all.
    let missing = fx.dir.path().join("no-such-known_hosts");
    let hosts = fx.hosts_with(ssh::Config {
        known_hosts_file: Some(missing.clone()),
        ..fx.config()
    });
    let err = hosts.check_login(user, &secret(P1)).await.unwrap_err();
    assert!(
        refused(&err).contains(&missing.display().to_string()),
        "{err}"
    );
    let hosts = fx.hosts_with(ssh::Config {
        known_hosts_file: None,
        ..fx.config()
    });
    for err in [
        hosts.check_login(user, &secret(P1)).await.unwrap_err(),
        hosts.set_password(user, &secret(P2)).await.unwrap_err(),
    ] {
        assert!(refused(&err).contains("known_hosts_file"), "{err}");
    }

    // Warden never logged in as root, and the old password still works, also with a
    // known_hosts file whose names are hashed (as `HashKnownHosts yes` writes them).
    assert!(!fx.sshd.log().contains("Accepted publickey for root"));
    let hashed = fx.file("hashed", &fs::read_to_string(&fx.known_hosts).unwrap());
    run(Command::new("ssh-keygen").arg("-H").arg("-f").arg(&hashed));
    let text = fs::read_to_string(&hashed).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    let hosts = fx.hosts_with(ssh::Config {
        known_hosts_file: Some(hashed),
        ..fx.config()
    });
    assert!(hosts.check_login(user, &secret(P1)).await.unwrap());
    assert!(!hosts.check_login(user, &secret(P2)).await.unwrap());
}

#[tokio::test]
async fn without_an_admin_user_or_ca_file_passwords_are_not_changed() {
    let fx = Fixture::start();
    fx.user.set_password(P1);
    let user = fx.user.name.as_str();

    let hosts = fx.hosts_with(ssh::Config {
        admin_user: None,
        ..fx.config()
    });
    let err = hosts.set_password(user, &secret(P2)).await.unwrap_err();
    let m = refused(&err);
    assert!(
        m.contains("no admin_user is configured") && m.contains("sudo -n chpasswd"),
        "{m}"
    );
    assert_no_password(&err, &[P2]);
    // Checking a login needs no admin.
    assert!(hosts.check_login(user, &secret(P1)).await.unwrap());

    let no_ca = SshHosts::new("hosts", fx.config());
    let err = no_ca.set_password(user, &secret(P2)).await.unwrap_err();
    assert!(refused(&err).contains("ca_key_file"), "{err}");

    // An admin the host does not accept Warden's certificate for.
    let hosts = fx.hosts_with(ssh::Config {
        admin_user: Some("daemon".into()),
        ..fx.config()
    });
    let err = hosts.set_password(user, &secret(P2)).await.unwrap_err();
    let m = refused(&err);
    assert!(
        m.contains("refused Warden's certificate for admin_user daemon"),
        "{m}"
    );
    assert!(hosts.check_login(user, &secret(P1)).await.unwrap());
}

#[tokio::test]
async fn use_sudo_runs_chpasswd_under_sudo() {
    let fx = Fixture::start();
    fx.user.set_password(P1);
    let user = fx.user.name.as_str();
    let hosts = fx.hosts_with(ssh::Config {
        use_sudo: true,
        ..fx.config()
    });
    let result = {
        let _lock = userdb_lock();
        hosts.set_password(user, &secret(P2)).await
    };
    // Root may always sudo; where sudo is not installed the shell says so (status 127).
    let sudo = ["/usr/bin/sudo", "/bin/sudo"]
        .iter()
        .any(|p| Path::new(p).exists());
    if sudo {
        result.unwrap();
        assert!(hosts.check_login(user, &secret(P2)).await.unwrap());
    } else {
        let err = result.unwrap_err();
        let m = refused(&err);
        assert!(
            m.contains("sudo -n chpasswd") && m.contains("exit status 127"),
            "{m}"
        );
        assert_no_password(&err, &[P1, P2]);
        assert!(hosts.check_login(user, &secret(P1)).await.unwrap());
    }
}

#[tokio::test]
async fn an_unreachable_host_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    fs::write(&known_hosts, "").unwrap();
    let hosts = SshHosts::new(
        "hosts",
        ssh::Config {
            host: "127.0.0.1".into(),
            port: closed_port(),
            admin_user: Some("root".into()),
            known_hosts_file: Some(known_hosts),
            use_sudo: false,
        },
    )
    .with_ca_file(dir.path().join("ca"));
    for err in [
        hosts.check_login("alice", &secret(P1)).await.unwrap_err(),
        hosts.set_password("alice", &secret(P2)).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, ConnectorError::Unavailable(m) if m.contains("cannot connect")),
            "{err:?}"
        );
        assert!(err.retryable());
        assert_no_password(&err, &[P1, P2]);
    }
}

#[tokio::test]
async fn keyboard_interactive_is_answered_when_passwords_are_not_offered() {
    let fx = Fixture::start_with(Auth::Pam);
    fx.user.set_password(P1);
    let hosts = fx.hosts();
    let user = fx.user.name.as_str();
    assert!(hosts.check_login(user, &secret(P1)).await.unwrap());
    assert!(!hosts.check_login(user, &secret(WRONG)).await.unwrap());
}
