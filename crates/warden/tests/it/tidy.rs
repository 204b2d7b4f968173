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
        ("crates/store/src/vault.rs", "pending", 4),
        ("crates/store/src/checkouts.rs", "pending", 1),
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

/// The longest function, and the longest source file (its code before any `#[cfg(test)]`
/// module), allowed without a reason: a `// Long:` comment above the function, or among
/// the file's first lines, saying why it is better whole.
const MAX_FN_LINES: usize = 100;
const MAX_FILE_LINES: usize = 800;

/// `text` with comments, strings and character literals blanked (newlines kept), so that
/// braces can be counted.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && {
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            chars.get(i + 1 + hashes) == Some(&'"')
        } {
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let start = i + 2 + hashes;
            let rest: String = chars[start..].iter().collect();
            let len = rest.find(&close).map_or(rest.len(), |e| e + close.len());
            let end = start + rest[..len].chars().count();
            for ch in &chars[i..end.min(chars.len())] {
                out.push(blank(*ch));
            }
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{7f}'.
            out.push_str("  ");
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The non-test lines of a file: everything before its first `#[cfg(test)]`.
fn non_test_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .collect()
}

/// Whether one of the comment or attribute lines right above line `at` gives a reason.
fn has_reason(lines: &[&str], at: usize) -> bool {
    lines[..at]
        .iter()
        .rev()
        .take_while(|l| {
            let t = l.trim_start();
            t.starts_with("//") || t.starts_with("#[")
        })
        .any(|l| l.trim_start().starts_with("// Long:"))
}

/// Each `(file:line fn name, lines)` over [`MAX_FN_LINES`] without a reason, and each file
/// over [`MAX_FILE_LINES`] without one, among the non-test sources under `crates/*/src`.
fn too_long() -> Vec<String> {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    let fn_start = |l: &str| -> Option<String> {
        let mut words = l.split_whitespace().peekable();
        while let Some(w) = words.next() {
            match w {
                "pub" | "async" | "const" | "unsafe" | "extern" => {}
                w if w.starts_with("pub(") => {}
                "fn" => {
                    let name = words.next()?;
                    let end = name.find(['(', '<']).unwrap_or(name.len());
                    return Some(name[..end].to_owned());
                }
                _ => return None,
            }
        }
        None
    };
    let mut found = Vec::new();
    for f in files {
        let name = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        if !name.contains("/src/") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let original = non_test_lines(&text);
        let code = code_only(&original.join("\n"));
        let code: Vec<&str> = code.lines().collect();
        if original.len() > MAX_FILE_LINES
            && !original
                .iter()
                .take(40)
                .any(|l| l.trim_start().starts_with("// Long:"))
        {
            found.push(format!("{name}: {} lines", original.len()));
        }
        let mut i = 0;
        while i < code.len() {
            let Some(fn_name) = fn_start(code[i]) else {
                i += 1;
                continue;
            };
            let (mut depth, mut opened, mut j) = (0i64, false, i);
            while j < code.len() {
                for c in code[j].chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && code[j].trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            let lines = j - i + 1;
            if opened && lines > MAX_FN_LINES && !has_reason(&original, i) {
                found.push(format!("{name}:{} fn {fn_name}: {lines} lines", i + 1));
            }
            // Functions nested in this one are part of it.
            i = if opened { j + 1 } else { i + 1 };
        }
    }
    found
}

/// Functions and files over the limits that are still to be split, named so that no other
/// one can join them: each entry must still be over its limit (a stale entry fails too).
/// This list only shrinks.
const NOT_YET_SPLIT: &[&str] = &[
    "crates/app/src/service/expiry.rs",
    "crates/app/src/service/expiry.rs fn run",
    "crates/app/src/service/expiry.rs fn provision",
    "crates/app/src/service/expiry.rs fn revoke",
    "crates/app/src/service/requests/decide.rs fn decide",
    "crates/app/src/service/requests/file.rs fn file",
];

#[test]
fn no_long_function_or_file_without_a_reason() {
    // An entry of `too_long` is "file: N lines" or "file:LINE fn NAME: N lines".
    let key = |entry: &str| -> String {
        let (place, _) = entry.rsplit_once(": ").unwrap();
        match place.split_once(" fn ") {
            Some((file_line, name)) => {
                let file = file_line.rsplit_once(':').map_or(file_line, |(f, _)| f);
                format!("{file} fn {name}")
            }
            None => place.to_owned(),
        }
    };
    let all = too_long();
    let keys: Vec<String> = all.iter().map(|e| key(e)).collect();
    let stale: Vec<&&str> = NOT_YET_SPLIT
        .iter()
        .filter(|k| !keys.iter().any(|f| f == **k))
        .collect();
    assert!(
        stale.is_empty(),
        "split already, remove from NOT_YET_SPLIT: {stale:?}"
    );
    let found: Vec<&String> = all
        .iter()
        .zip(&keys)
        .filter(|(_, k)| !NOT_YET_SPLIT.contains(&k.as_str()))
        .map(|(e, _)| e)
        .collect();
    assert!(
        found.is_empty(),
        "over {MAX_FN_LINES} lines per function or {MAX_FILE_LINES} per file, with no \
         `// Long:` reason: {found:#?}"
    );
}

#[test]
fn the_length_rule_sees_through_strings_and_comments() {
    let text = "fn a() {\n    let s = \"}}}\";\n    // }\n    let c = '}';\n    let r = r#\"}\"#;\n}\nfn b() {}\n";
    let code = code_only(text);
    assert_eq!(code.matches('{').count(), code.matches('}').count());
    assert_eq!(code.lines().count(), text.lines().count());
}
