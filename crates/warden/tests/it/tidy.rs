//! House rules checked on the source tree, so that breaking an architecture rule fails
//! the build rather than waiting for a reviewer: every Rust file opens with a `//!`
//! paragraph saying what it is for; the application crate (the service layer and what it
//! runs on) depends on no web framework and no wire types, and speaks no HTTP; core reads
//! no clock
//! but through `Clock`; no id is stamped with the system's time. ARCHITECTURE.md lists
//! each rule beside the test or lint that pins it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Rust files under `dir` (relative to the repository root) with their text, comment
/// lines left out so that prose may name what the code must not use.
fn sources(dir: &str) -> Vec<(String, String)> {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join(dir), &mut files);
    assert!(!files.is_empty(), "no sources under {dir}");
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let code: Vec<&str> = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect();
            let name = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
            (name, code.join("\n"))
        })
        .collect()
}

/// Each `(file, word)` where a file under `dir` uses one of `banned`.
fn uses_of(dir: &str, banned: &[&str], except: &[&str]) -> Vec<(String, String)> {
    sources(dir)
        .into_iter()
        .filter(|(name, _)| !except.iter().any(|e| name.ends_with(e)))
        .flat_map(|(name, code)| {
            banned
                .iter()
                .filter(|b| code.contains(**b))
                .map(|b| (name.clone(), (*b).to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_application_crate_depends_on_no_web_framework() {
    // Front doors (the JSON API, SCIM, and later the portal and the gateway) live in
    // other crates; the services they call cannot reach an HTTP type.
    let manifest = std::fs::read_to_string(root().join("crates/app/Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let mut found = Vec::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
            continue;
        };
        for name in deps.keys() {
            // The wire types (warden-proto) belong to the JSON API and its client: services
            // take and return domain types, and each front door converts.
            let web = [
                "axum",
                "tower",
                "hyper",
                "http",
                "utoipa",
                "warden-server",
                "warden-proto",
            ]
            .iter()
            .any(|w| name == w || name.starts_with(&format!("{w}-")));
            if web {
                found.push(format!("{section}.{name}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "web dependencies of warden-app: {found:?}"
    );
}

#[test]
fn the_application_crate_speaks_no_http() {
    // Services return ServiceError; each front door maps it to its own answer.
    let found = uses_of(
        "crates/app/src",
        &[
            "axum",
            "tower",
            "StatusCode",
            "ProblemType",
            "problem::",
            "ApiError",
            "warden_server",
            "warden_proto",
            "IntoResponse",
            "HeaderMap",
        ],
        &[],
    );
    assert!(found.is_empty(), "HTTP in the application crate: {found:?}");
}

#[test]
fn core_reads_no_clock_but_through_clock() {
    let found = uses_of(
        "crates/core/src",
        &[
            "now_utc",
            "SystemTime::now",
            "Instant::now",
            "now_v7",
            "UtcDateTime::now",
        ],
        &["crates/core/src/clock.rs"],
    );
    assert!(found.is_empty(), "core reads the system time: {found:?}");
}

#[test]
fn no_id_is_stamped_with_the_system_time() {
    // UUID v7 ids carry a time: they take it from the injected clock (Clock::new_id,
    // clock::id_at), so they agree with every other time Warden records.
    let mut found = Vec::new();
    for dir in [
        "crates/core/src",
        "crates/store/src",
        "crates/app/src",
        "crates/server/src",
        "crates/warden/src",
    ] {
        found.extend(uses_of(dir, &["now_v7"], &[]));
    }
    assert!(found.is_empty(), "ids from the system clock: {found:?}");
}

#[test]
fn every_rust_file_opens_with_a_doc_paragraph() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["crates", "fuzz"] {
        if root.join(dir).exists() {
            rust_files(&root.join(dir), &mut files);
        }
    }
    assert!(files.len() > 20, "found the sources: {files:?}");
    let missing: Vec<_> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! opening paragraph: {missing:?}"
    );
}
