//! Bad configuration stops `warden serve` with one clear message and a non-zero exit.

use std::process::{Command, Stdio};

use crate::support::{config_file, warden};

/// Runs `warden serve` expecting it to refuse to start; returns (exit code, stderr).
fn refuse(cmd: &mut Command) -> (i32, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success(),
        "should have failed; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warden: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error message: {stderr}");
    (out.status.code().unwrap(), stderr)
}

#[test]
fn unknown_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:0\"\nlisten_prot = 1\n",
    );
    let (code, err) = refuse(warden(dir.path()).args(["serve", "--config"]).arg(&path));
    assert_eq!(code, 2);
    assert!(
        err.contains("listen_prot") && err.contains("warden.toml") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn bad_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), "[auth]\nsession_ttl_secs = \"twelve hours\"\n");
    let (code, err) = refuse(warden(dir.path()).args(["serve", "--config"]).arg(&path));
    assert_eq!(code, 2);
    assert!(err.contains("session_ttl_secs"), "{err}");
}

#[test]
fn unknown_environment_override_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), "");
    let (code, err) = refuse(
        warden(dir.path())
            .args(["serve", "--config"])
            .arg(&path)
            .env("WARDEN_STORAGE__PASSWORD", "x"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("WARDEN_STORAGE__PASSWORD"), "{err}");
}

#[test]
fn unreadable_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) =
        refuse(warden(dir.path()).args(["serve", "--config", "/nonexistent/warden.toml"]));
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/warden.toml"), "{err}");
    // A directory where the file should be.
    let (code, err) = refuse(
        warden(dir.path())
            .args(["serve", "--config"])
            .arg(dir.path()),
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot read configuration file"), "{err}");
}

#[test]
fn unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\nurl = \"postgres://warden:hunter2-secret@127.0.0.1:1/warden\"\nconnect_timeout_secs = 1\n",
    );
    let (code, err) = refuse(warden(dir.path()).args(["serve", "--config"]).arg(&path));
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot open the database at postgres://warden:***@127.0.0.1:1/warden"),
        "{err}"
    );
    assert!(!err.contains("hunter2-secret"), "{err}");
}

#[test]
fn dev_mode_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = refuse(warden(dir.path()).args(["serve", "--dev", "--listen", "0.0.0.0:0"]));
    assert_eq!(code, 2);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn address_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let path = config_file(
        dir.path(),
        &format!(
            "[server]\nlisten = \"{addr}\"\n[storage]\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    );
    let out = warden(dir.path())
        .args(["serve", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

/// A demo policy this configuration cannot serve (grants not recorded, no connections)
/// stops `serve --dev` naming each resource's file, line and the table to add, not a
/// debug dump of the error.
#[test]
fn a_policy_the_configuration_cannot_serve_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = warden(dir.path())
        .args([
            "serve",
            "--dev",
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("WARDEN_GRANTS__RECORD_ONLY", "false")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("resources.toml:4")
            && stderr.contains("add [connections.payments-primary] (kind = \"postgres\")"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ApiError") && !stderr.contains("FieldError"),
        "{stderr}"
    );
}
