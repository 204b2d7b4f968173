//! `warden serve` as operators run it: development mode, TLS, PostgreSQL.

use crate::support::{Server, config_file, sqlite_config, warden};

#[test]
fn dev_mode_starts_with_demo_users_and_says_how_to_connect() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev", "--data-dir", "devdata", "--listen", "127.0.0.1:0"],
        &[],
    );
    let out = server.stdout();
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert!(
        out.contains(&format!("export WARDEN_ADDR={}", server.url)),
        "{out}"
    );
    assert!(out.contains("warden login admin"), "{out}");
    assert!(
        dir.path().join("devdata/warden.db").exists(),
        "SQLite in the data directory"
    );

    let password = server.admin_password();
    let login = server.ok(
        &["login", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert!(login.contains("Logged in"), "{login}");
    let whoami = server.ok(&["whoami"], None);
    assert!(
        whoami.contains("admin") && whoami.contains("scopes:   admin"),
        "{whoami}"
    );

    let demo = out
        .lines()
        .find_map(|l| l.split("share the password ").nth(1))
        .unwrap();
    let demo = demo.split_whitespace().next().unwrap();
    let users = server.ok(&["user", "list"], None);
    for name in ["alice", "bob", "sam", "audrey"] {
        assert!(users.contains(name), "{users}");
    }
    server.ok(
        &["login", "alice", "--password-stdin"],
        Some(&format!("{demo}\n")),
    );
    let denied = server.client(&["user", "list"], None);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("users:read"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("client/credentials.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(dir.path().join("devdata/warden.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "database readable by its owner only");
    }
    server.ok(&["logout"], None);
    assert!(!dir.path().join("client/credentials.toml").exists());
}

#[test]
fn serves_https_from_configured_files() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let config = sqlite_config(
        dir.path(),
        &format!(
            "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert_path.display(),
            key_path.display()
        ),
    );
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let password = server.admin_password();
    let ca = cert_path.to_str().unwrap();
    server.ok(
        &["--ca-cert", ca, "login", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert!(
        server
            .ok(&["--ca-cert", ca, "whoami"], None)
            .contains("admin")
    );
    // Without trusting the certificate the client refuses to talk.
    let untrusted = server.client(&["whoami"], None);
    assert!(!untrusted.status.success());
    // Plain HTTP to the TLS port gets nowhere.
    let plain = server.url.replace("https://", "http://");
    let out = warden(dir.path())
        .args(["--addr", &plain, "whoami"])
        .env("WARDEN_TOKEN", "wdn_x")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn runs_on_postgres_from_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(warden_store::testing::TestDb::postgres());
    let config = config_file(
        dir.path(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\nurl = \"{}\"\n",
            db.url
        ),
    );
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let password = server.admin_password();
    server.ok(
        &["login", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    server.ok(&["user", "add", "olga", "--scope", "request"], None);
    assert!(server.ok(&["user", "list"], None).contains("olga"));
    let (status, _, _) = server.stop();
    assert!(status.success());
    // A second replica start on the same database does not initialise again.
    let again = Server::start(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        &[("WARDEN_SERVER__LISTEN", "127.0.0.1:0")],
    );
    assert!(!again.stdout().contains("password:"));
    drop(again);
    drop(db);
}
