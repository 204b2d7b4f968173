//! Secrets never reach the log or the database in plaintext; the initial administrator's
//! password is shown once, on standard output, and never again.

use std::path::Path;

use crate::support::{Server, sqlite_config};

/// Every file of the SQLite database, read raw.
fn database_bytes(data: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["warden.db", "warden.db-wal", "warden.db-shm"] {
        if let Ok(bytes) = std::fs::read(data.join(name)) {
            all.extend(bytes);
        }
    }
    assert!(!all.is_empty(), "database files exist");
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_stay_out_of_logs_and_the_database() {
    let dir = tempfile::tempdir().unwrap();
    // Debug logs in JSON: the most a deployment would ever log.
    let config = sqlite_config(dir.path(), "[log]\nlevel = \"debug\"\nformat = \"json\"\n");
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let admin_password = server.admin_password();
    assert_eq!(
        server.stdout().matches(&admin_password).count(),
        1,
        "shown exactly once"
    );

    let mut secrets = vec![admin_password.clone()];
    server.ok(
        &["login", "admin", "--password-stdin"],
        Some(&format!("{admin_password}\n")),
    );
    let session = std::fs::read_to_string(dir.path().join("client/credentials.toml")).unwrap();
    let session_token = session
        .lines()
        .find_map(|l| l.strip_prefix("token = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    secrets.push(session_token);

    // A user with a generated password, who logs in with it.
    let added = server.ok(&["user", "add", "nora", "--scope", "request"], None);
    let nora_password = added
        .lines()
        .find_map(|l| l.strip_prefix("Initial password (shown once): "))
        .unwrap()
        .to_owned();
    secrets.push(nora_password.clone());

    // An API token.
    let created = server.ok(&["token", "create", "ci", "--scope", "users:read"], None);
    let api_token = created
        .lines()
        .find(|l| l.starts_with("wdn_"))
        .unwrap()
        .to_owned();
    secrets.push(api_token.clone());
    server.ok(&["--token", &api_token, "user", "list"], None);

    // A wrong password guess is a secret too (often a typo of the real one).
    let wrong = "hunter2-almost-right";
    let refused = server.client(
        &["login", "nora", "--password-stdin"],
        Some(&format!("{wrong}\n")),
    );
    assert!(!refused.status.success());
    secrets.push(wrong.to_owned());
    server.ok(
        &["login", "nora", "--password-stdin"],
        Some(&format!("{nora_password}\n")),
    );

    let data = dir.path().join("data");
    let (status, stdout, logs) = server.stop();
    assert!(status.success(), "clean shutdown: {status}");
    assert!(
        logs.contains("\"message\":\"finished processing request\""),
        "requests were logged: {logs}"
    );
    assert!(
        logs.contains("\"request_id\":\""),
        "log lines carry the request id: {logs}"
    );
    let db = database_bytes(&data);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "secret in the log: {secret}"
        );
        assert!(
            !contains(&db, secret),
            "secret in the database file: {secret}"
        );
    }
    // Token secrets are stored as hashes; the token ids are there, the text is not.
    assert!(!contains(&db, &api_token[4..30]));
    assert_eq!(stdout.matches(&admin_password).count(), 1);

    // A restart never shows the credential again.
    let again = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let (_, stdout, logs) = again.stop();
    assert!(!stdout.contains("password"), "{stdout}");
    assert!(!logs.contains(&admin_password));
}
