//! `warden ssh` end to end: a dev server with an ssh connection, a real OpenSSH server
//! (`/usr/sbin/sshd` on loopback) that trusts the server's CA, and the system `ssh`
//! client run by the CLI. A login works only while the holder's grant runs.
//!
//! Needs root (to add a Unix user), the openssh-server and openssh-client packages;
//! without them the test fails, it never skips.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{Server, eventually, poll_until, warden};

const SSHD: &str = "/usr/sbin/sshd";

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The first `name` on `PATH`, as an absolute path.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs a user-database command, retrying while another test holds the lock on
/// /etc/passwd. Panics (outside a drop) when it keeps failing.
fn retry(what: &str, f: impl Fn() -> std::io::Result<Output>) {
    let outcome = poll_until(
        Duration::from_secs(10),
        || match f() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(e) => Err(e.to_string()),
        },
        Result::is_ok,
    );
    let Err(Err(last)) = outcome else {
        return;
    };
    if std::thread::panicking() {
        eprintln!("{what} failed: {last}");
    } else {
        panic!("{what} failed (this test needs root to add a Unix user): {last}");
    }
}

/// A Unix user made for this test and deleted (with its home) on drop.
struct UnixUser {
    name: String,
}

impl UnixUser {
    fn create() -> Self {
        let name = format!("wt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        // `-p '*'`: no password, but not locked; sshd without PAM refuses a locked
        // (`!`) account even with a valid certificate.
        retry(&format!("useradd {name}"), || {
            Command::new("useradd")
                .args(["-m", "-s", "/bin/sh", "-p", "*", &name])
                .output()
        });
        Self { name }
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

/// An sshd child process, killed on drop.
struct Sshd {
    child: Child,
    log: PathBuf,
    /// The public half of its host key.
    host_key: PathBuf,
}

impl Sshd {
    /// Starts sshd on `port` trusting `ca_public_key`; `user` may log in with a
    /// certificate carrying principal `principal`. Its files live in `dir`.
    fn start(dir: &Path, port: u16, ca_public_key: &str, user: &str, principal: &str) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install the openssh-server package (apt-get install openssh-server) to run the warden ssh test"
        );
        // The principals file is read with the user's privileges: the path must be
        // traversable by them. Nothing here is group- or world-writable.
        chmod(dir, 0o755);
        fs::create_dir_all("/run/sshd").unwrap();
        chmod(Path::new("/run/sshd"), 0o755);

        let host_key = dir.join("host_ed25519");
        let keygen = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test-host", "-f"])
            .arg(&host_key)
            .output()
            .expect("ssh-keygen (openssh-client) is needed");
        assert!(keygen.status.success(), "{}", text(&keygen));

        let ca_pub = dir.join("ca.pub");
        fs::write(&ca_pub, format!("{ca_public_key}\n")).unwrap();
        chmod(&ca_pub, 0o644);
        let principals = dir.join("principals");
        fs::create_dir(&principals).unwrap();
        chmod(&principals, 0o755);
        let file = principals.join(user);
        fs::write(&file, format!("{principal}\n")).unwrap();
        chmod(&file, 0o644);

        let config = dir.join("sshd_config");
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
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 PidFile {pid}\n\
                 StrictModes no\n\
                 LogLevel VERBOSE\n",
                host_key = host_key.display(),
                ca_pub = ca_pub.display(),
                principals = principals.display(),
                pid = dir.join("sshd.pid").display(),
            ),
        )
        .unwrap();
        chmod(&config, 0o644);

        let log = dir.join("sshd.log");
        let log_file = fs::File::create(&log).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
        let mut sshd = Self {
            child,
            log,
            host_key: dir.join("host_ed25519.pub"),
        };
        let listening = poll_until(
            Duration::from_secs(10),
            || {
                if let Some(status) = sshd.child.try_wait().unwrap() {
                    panic!("sshd exited ({status}):\n{}", sshd.log());
                }
                TcpStream::connect(("127.0.0.1", port))
            },
            Result::is_ok,
        );
        if let Err(refused) = listening {
            panic!(
                "sshd did not listen on {port} ({}):\n{}",
                refused.unwrap_err(),
                sshd.log()
            );
        }
        sshd
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Let the connections still closing end first (up to 2 s), so sshd reaps them;
        // after that they are killed with it.
        let pid = self.child.id();
        let children = format!("/proc/{pid}/task/{pid}/children");
        let _ = poll_until(
            Duration::from_secs(2),
            || fs::read_to_string(&children).map(|list| list.trim().is_empty()),
            |closed| !matches!(closed, Ok(false)),
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on the server without authentication; returns the status line and body.
fn http_get(url: &str, path: &str) -> (String, String) {
    let authority = url
        .strip_prefix("http://")
        .expect("a plain http dev server");
    let mut stream = TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
}

/// Everything of the test, dropped in field order: sshd, the Unix user, the server,
/// then the directories.
struct Fixture {
    sshd: Sshd,
    user: UnixUser,
    server: Server,
    /// The `ssh` that the CLI finds on its `PATH`: a wrapper that records its arguments
    /// in `ssh_calls` and runs the real client with a configuration that never prompts.
    bin: PathBuf,
    ssh_calls: PathBuf,
    key: PathBuf,
    port: u16,
    _sshd_dir: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn start() -> Self {
        let real_ssh = on_path("ssh").expect(
            "the ssh client is missing: install the openssh-client package (apt-get install openssh-client) to run the warden ssh test",
        );
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install the openssh-server package (apt-get install openssh-server) to run the warden ssh test"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let port_text = port.to_string();
        let server = Server::start(
            dir.path(),
            &["--dev", "--data-dir", "devdata", "--listen", "127.0.0.1:0"],
            &[
                ("WARDEN_CONNECTIONS__BASTION__KIND", "ssh"),
                ("WARDEN_CONNECTIONS__BASTION__HOST", "127.0.0.1"),
                ("WARDEN_CONNECTIONS__BASTION__PORT", &port_text),
            ],
        );
        // With an ssh connection configured, the CA key is made at start.
        assert!(
            dir.path().join("devdata/ssh_ca").exists(),
            "the CA key is made in the data directory at start"
        );

        let (status, body) = http_get(&server.url, "/v1/ssh/ca");
        assert!(status.contains(" 200 "), "GET /v1/ssh/ca: {status}\n{body}");
        let ca = json(&body);
        let ca_key = field(&ca, "public_key").trim().to_owned();
        assert!(
            ca_key.starts_with("ssh-ed25519 AAAA") && ca_key.ends_with(" warden-ca"),
            "{ca_key}"
        );

        let user = UnixUser::create();
        let sshd_dir = tempfile::tempdir().unwrap();
        let sshd = Sshd::start(sshd_dir.path(), port, &ca_key, &user.name, "ops");

        let key = dir.path().join("id_ed25519");
        let keygen = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(keygen.status.success(), "{}", text(&keygen));

        // OpenSSH reads `~/.ssh/config` from the passwd entry's home, not `$HOME`, so
        // the CLI gets an `ssh` first on its PATH that names a configuration of its own.
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let config = dir.path().join("ssh_config");
        fs::write(
            &config,
            "Host *\n  BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  GlobalKnownHostsFile /dev/null\n  ConnectTimeout 10\n  LogLevel ERROR\n",
        )
        .unwrap();
        let ssh_calls = dir.path().join("ssh_calls");
        let wrapper = bin.join("ssh");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{calls}'\nprintf -- '----\\n' >> '{calls}'\nexec '{ssh}' -F '{config}' \"$@\"\n",
                calls = ssh_calls.display(),
                ssh = real_ssh.display(),
                config = config.display(),
            ),
        )
        .unwrap();
        chmod(&wrapper, 0o755);

        Self {
            sshd,
            user,
            server,
            bin,
            ssh_calls,
            key,
            port,
            _sshd_dir: sshd_dir,
            _dir: dir,
        }
    }

    /// Logs in as a demo user and returns the session token.
    fn login(&self, name: &str, password: &str) -> String {
        self.server.ok(
            &["login", name, "--password-stdin"],
            Some(&format!("{password}\n")),
        );
        let stored = fs::read_to_string(self.server.dir.join("client/credentials.toml")).unwrap();
        stored
            .lines()
            .find_map(|l| l.strip_prefix("token = "))
            .unwrap()
            .trim_matches('"')
            .to_owned()
    }

    /// `warden ssh bastion -i KEY -l USER -- REMOTE...` as the holder of `token`.
    fn ssh(&self, token: &str, remote: &[&str]) -> Output {
        self.ssh_with(token, &[], remote)
    }

    /// `warden ssh bastion -i KEY -l USER OPTIONS... -- REMOTE...` as the holder of `token`.
    fn ssh_with(&self, token: &str, options: &[&str], remote: &[&str]) -> Output {
        let path = std::env::join_paths(std::iter::once(self.bin.clone()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        warden(&self.server.dir)
            .env("WARDEN_ADDR", &self.server.url)
            .env("PATH", path)
            .args(["--token", token, "ssh", "bastion", "-i"])
            .arg(&self.key)
            .args(["-l", &self.user.name])
            .args(options)
            .arg("--")
            .args(remote)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The argument lists the CLI ran `ssh` with so far.
    fn ssh_calls(&self) -> Vec<Vec<String>> {
        let text = fs::read_to_string(&self.ssh_calls).unwrap_or_default();
        text.split_terminator("----\n")
            .map(|call| call.lines().map(str::to_owned).collect())
            .collect()
    }

    fn certificate(&self) -> PathBuf {
        let mut p = self.key.clone().into_os_string();
        p.push("-cert.pub");
        PathBuf::from(p)
    }

    /// Polls `requests show ID` as `token` until the request is active; returns the grant id.
    fn wait_active(&self, token: &str, request: &str) -> String {
        let r = eventually(
            "the request to be active",
            || {
                let r = json(&self.server.ok(
                    &["--token", token, "--json", "requests", "show", request],
                    None,
                ));
                assert!(
                    !["denied", "cancelled", "timed_out", "failed", "revoked"]
                        .contains(&field(&r, "state")),
                    "the request ended without access: {r}"
                );
                r
            },
            |r| field(r, "state") == "active",
        );
        assert_eq!(field(&r["grant"], "state"), "active", "{r}");
        field(&r["grant"], "id").to_owned()
    }

    /// Polls `grants show ID` as `token` until the grant is revoked.
    fn wait_revoked(&self, token: &str, grant: &str) {
        eventually(
            "the grant to be revoked",
            || {
                json(
                    &self
                        .server
                        .ok(&["--token", token, "--json", "grants", "show", grant], None),
                )
            },
            |g| field(g, "state") == "revoked",
        );
    }
}

#[test]
fn warden_ssh_logs_in_with_a_certificate_only_while_the_grant_runs() {
    let fx = Fixture::start();
    let demo = fx.server.stdout();
    let password = demo
        .lines()
        .find_map(|l| l.split("share the password ").nth(1))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let alice = fx.login("alice", &password);
    let bob = fx.login("bob", &password);
    let sam = fx.login("sam", &password);

    // Control: the key alone (no certificate yet) does not open the host.
    assert!(!fx.certificate().exists());
    let bare = Command::new(on_path("ssh").unwrap())
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(&fx.key)
        .args([
            "-p",
            &fx.port.to_string(),
            "-l",
            &fx.user.name,
            "127.0.0.1",
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(bare.status.code(), Some(255), "{}", text(&bare));
    assert!(
        String::from_utf8_lossy(&bare.stderr).contains("Permission denied"),
        "{}",
        text(&bare)
    );

    // Before any grant: no certificate, no ssh run.
    let before = fx.ssh(&alice, &["true"]);
    assert!(!before.status.success(), "{}", text(&before));
    let err = String::from_utf8_lossy(&before.stderr);
    assert!(
        err.contains("you hold no running grant on bastion"),
        "{}",
        text(&before)
    );
    assert!(!fx.certificate().exists(), "no certificate is written");
    assert!(fx.ssh_calls().is_empty(), "ssh was not run");

    // Alice asks for login on bastion; bob approves as her manager (and sam as security,
    // when the route needs a second approver).
    let filed = json(&fx.server.ok(
        &[
            "--token",
            &alice,
            "--json",
            "request",
            "bastion",
            "--role",
            "login",
            "--for",
            "1h",
            "--reason",
            "rotating the bastion's log partition",
            "--ticket",
            "CHG-1",
        ],
        None,
    ));
    assert_eq!(field(&filed, "state"), "pending", "{filed}");
    assert_eq!(field(&filed, "rule"), "sre-bastion", "{filed}");
    let request = field(&filed, "id").to_owned();
    let approved = json(&fx.server.ok(
        &[
            "--token",
            &bob,
            "--json",
            "approve",
            &request,
            "--comment",
            "ticket checked",
        ],
        None,
    ));
    if field(&approved, "state") == "pending" {
        fx.server.ok(
            &[
                "--token",
                &sam,
                "--json",
                "approve",
                &request,
                "--comment",
                "security agrees",
            ],
            None,
        );
    }
    let grant = fx.wait_active(&alice, &request);

    // With the grant running: a certificate, and a real login with it.
    let during = fx.ssh(&alice, &["id", "-un"]);
    assert!(
        during.status.success(),
        "{}\nsshd log:\n{}",
        text(&during),
        fx.sshd.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&during.stdout).trim(),
        fx.user.name,
        "{}",
        text(&during)
    );
    let err = String::from_utf8_lossy(&during.stderr);
    assert!(
        err.contains(&format!("certificate {}", fx.certificate().display()))
            && err.contains("for ops valid until"),
        "{}",
        text(&during)
    );
    let cert = fs::read_to_string(fx.certificate()).unwrap();
    assert!(
        cert.starts_with("ssh-ed25519-cert-v01@openssh.com AAAA"),
        "{cert}"
    );
    let key = fx.key.display().to_string();
    let cert_file = fx.certificate().display().to_string();
    let port = fx.port.to_string();
    let expected: Vec<String> = [
        "-i",
        &key,
        "-o",
        &format!("CertificateFile=\"{cert_file}\""),
        "-o",
        "IdentitiesOnly=yes",
        "-p",
        &port,
        "-l",
        &fx.user.name,
        "--",
        "127.0.0.1",
        "id",
        "-un",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(fx.ssh_calls(), vec![expected], "how the CLI ran ssh");

    // Options pass through to ssh with -o, and --known-hosts pins the host key for use
    // without a person to confirm it (a regression test: `--` came before the host, so
    // no ssh option could be given, and there was no way to name a known_hosts file).
    let host_key = fs::read_to_string(&fx.sshd.host_key).unwrap();
    let known = fx.server.dir.join("known_hosts");
    fs::write(
        &known,
        format!("[127.0.0.1]:{} {}", fx.port, host_key.trim()),
    )
    .unwrap();
    let known_text = known.display().to_string();
    let pinned = fx.ssh_with(
        &alice,
        &["--known-hosts", &known_text, "-o", "ConnectTimeout=7"],
        &["id", "-un"],
    );
    assert!(pinned.status.success(), "{}", text(&pinned));
    assert_eq!(String::from_utf8_lossy(&pinned.stdout).trim(), fx.user.name);
    let call = fx.ssh_calls().pop().unwrap();
    let options: Vec<&str> = call
        .iter()
        .map(String::as_str)
        .take_while(|a| *a != "--")
        .collect();
    let known_option = format!("UserKnownHostsFile=\"{known_text}\"");
    assert_eq!(
        options,
        [
            "-i",
            key.as_str(),
            "-o",
            &format!("CertificateFile=\"{cert_file}\""),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            &known_option,
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=7",
            "-p",
            &port,
            "-l",
            &fx.user.name,
        ],
        "{call:?}"
    );
    // A host key that is not the one pinned fails the login, even when the options try
    // to switch the check off: Warden's come first, and ssh keeps the first value.
    let other = fx.server.dir.join("other_known_hosts");
    let impostor = fx.server.dir.join("impostor");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&impostor)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", text(&keygen));
    let impostor_pub = fs::read_to_string(impostor.with_extension("pub")).unwrap();
    fs::write(
        &other,
        format!("[127.0.0.1]:{} {}", fx.port, impostor_pub.trim()),
    )
    .unwrap();
    let refused = fx.ssh_with(
        &alice,
        &[
            "--known-hosts",
            other.to_str().unwrap(),
            "-o",
            "StrictHostKeyChecking=no",
        ],
        &["true"],
    );
    assert_eq!(refused.status.code(), Some(255), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Host key verification failed"),
        "{}",
        text(&refused)
    );
    // A known_hosts file that is not there is named before anything runs.
    let calls = fx.ssh_calls().len();
    let missing = fx.ssh_with(
        &alice,
        &["--known-hosts", "/nonexistent/known_hosts"],
        &["true"],
    );
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("--known-hosts /nonexistent/known_hosts: no such file"),
        "{}",
        text(&missing)
    );
    assert_eq!(fx.ssh_calls().len(), calls, "ssh was not run");
    // sshd accepted the key by Warden's certificate for this grant, not by the key alone.
    let log = fx.sshd.log();
    assert!(
        log.contains(&format!(
            "Accepted certificate ID \"warden:E1001:{grant}:bastion\""
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("Accepted publickey for {}", fx.user.name)),
        "{log}"
    );

    // Alice ends the grant; Warden signs nothing more for it. (The certificate already
    // issued stays valid until its own end, at most [ssh] certificate_max_secs.)
    let revoked = fx.server.ok(
        &[
            "--token",
            &alice,
            "revoke",
            &grant,
            "--reason",
            "done with the partition",
        ],
        None,
    );
    assert!(
        revoked.contains("revoking (ended early by you at")
            && revoked.contains(": done with the partition)"),
        "{revoked}"
    );
    fx.wait_revoked(&alice, &grant);
    fs::remove_file(fx.certificate()).unwrap();
    let calls_before = fx.ssh_calls().len();
    let after = fx.ssh(&alice, &["true"]);
    assert!(!after.status.success(), "{}", text(&after));
    assert!(
        String::from_utf8_lossy(&after.stderr).contains("you hold no running grant on bastion"),
        "{}",
        text(&after)
    );
    assert!(!fx.certificate().exists(), "no certificate is written");
    assert_eq!(fx.ssh_calls().len(), calls_before, "ssh was not run again");
}
