//! House rules checked on the source tree, so that breaking an architecture rule fails
//! the build rather than waiting for a reviewer: every Rust file opens with a `//!`
//! paragraph saying what it is for; the application crate (the service layer and what it
//! runs on) depends on no web framework and no wire types, and speaks no HTTP; core reads
//! no clock but through `Clock`; no id is stamped with the system's time; the stored names
//! of the lifecycle enums are spelled only by the enums themselves. ARCHITECTURE.md lists
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

/// The non-test code of every crate's `src`: comment lines left out, and each file cut at
/// its first `#[cfg(test)]` (unit tests sit at the end of their file).
fn non_test_sources() -> Vec<(String, String)> {
    let root = root();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let dir = src.strip_prefix(&root).unwrap().display().to_string();
        for (name, code) in sources(&dir) {
            let code = match code.find("#[cfg(test)]") {
                Some(at) => code[..at].to_owned(),
                None => code,
            };
            out.push((name, code));
        }
    }
    out
}

#[test]
fn lifecycle_names_are_spelled_only_by_their_enums() {
    use warden_core::request::{BreakGlassReview, RequestKind, RequestRoute, RequestState};
    // Each enum's stored names, with the one file allowed to spell them: its own.
    let owned: [(&str, Vec<&str>); 3] = [
        (
            "crates/core/src/request/lifecycle.rs",
            RequestState::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "crates/core/src/request/names.rs",
            RequestKind::ALL
                .iter()
                .map(|k| k.as_str())
                .chain(RequestRoute::ALL.iter().map(|r| r.as_str()))
                .collect(),
        ),
        (
            "crates/core/src/request/breakglass.rs",
            BreakGlassReview::ALL.iter().map(|r| r.as_str()).collect(),
        ),
    ];
    // The same words meaning something else, each counted exactly: (file, word, uses).
    let elsewhere: &[(&str, &str, usize)] = &[
        // Other state machines: queued target changes and vault secret versions.
        ("crates/store/src/jobs.rs", "pending", 3),
        ("crates/store/src/directory/apply.rs", "pending", 1),
        ("crates/store/src/vault.rs", "pending", 5),
        ("crates/app/src/service/accounts.rs", "pending", 1),
        ("crates/app/src/service/rotation.rs", "pending", 1),
        // The column default of the migration that added grant kinds (schema history).
        ("crates/store/src/migration/m0005_grants.rs", "standard", 1),
        // An employment status, a SCIM attribute, a vault field and a table heading.
        ("crates/core/src/identity.rs", "active", 1),
        ("crates/server/src/scim/schema.rs", "active", 1),
        ("crates/server/src/scim/user_map.rs", "active", 4),
        ("crates/app/src/vault.rs", "active", 1),
        ("crates/warden/src/vendors.rs", "active", 1),
        // Audit detail and notice keys.
        ("crates/app/src/service/breakglass.rs", "breakglass", 4),
        (
            "crates/app/src/service/breakglass.rs",
            "justification_due",
            1,
        ),
        // A command-line flag's name, an SSH known_hosts marker, a table heading.
        ("crates/warden/src/breakglass.rs", "unjustified", 2),
        ("crates/connectors/src/ssh/known_hosts.rs", "revoked", 1),
        ("crates/warden/src/tokens.rs", "revoked", 1),
    ];
    let words: Vec<&str> = owned.iter().flat_map(|(_, w)| w.iter().copied()).collect();
    let mut found = Vec::new();
    for (name, code) in non_test_sources() {
        for word in &words {
            if owned
                .iter()
                .any(|(file, w)| name == *file && w.contains(word))
            {
                continue;
            }
            let uses = code.matches(&format!("\"{word}\"")).count();
            let allowed = elsewhere
                .iter()
                .find(|(file, w, _)| name == *file && w == word)
                .map_or(0, |(_, _, n)| *n);
            if uses != allowed {
                found.push(format!(
                    "{name}: \"{word}\" {uses} times, {allowed} allowed"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "lifecycle names spelled as text (use the core enum's as_str or parse): {found:#?}"
    );
}
