//! Host key pinning with an OpenSSH `known_hosts` file, for the connector's own logins
//! (password management). Warden logs in only to a host whose offered key is recorded for
//! it; it never learns a key and never asks anyone, so an unknown, changed or revoked key
//! fails closed.
//!
//! Understood as OpenSSH does: `host`, `[host]:port` (for a port other than 22),
//! comma-separated pattern lists with `*`, `?` and `!` negation, hashed names
//! (`|1|salt|hash`, as `HashKnownHosts` writes them) and `@revoked` lines.
//! `@cert-authority` lines are ignored: Warden pins host keys, not host certificates.
//! Lines that do not parse are skipped (and counted), as OpenSSH skips them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// The largest known_hosts file read.
const MAX_FILE: u64 = 4 * 1024 * 1024;

/// What a line says about the key on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// The key is the host's.
    Plain,
    /// The key must never be accepted.
    Revoked,
}

/// One usable line.
#[derive(Debug)]
struct Entry {
    /// Its line number (from 1), for messages.
    line: usize,
    marker: Marker,
    /// The host field: a pattern list or one hashed name.
    hosts: String,
    key: KeyData,
}

/// The parsed contents of a known_hosts file.
#[derive(Debug)]
pub(super) struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
    /// Lines that were neither blank, comments nor usable.
    skipped: usize,
}

/// Why a known_hosts file cannot be used. Either way no host is trusted.
#[derive(Debug, thiserror::Error)]
pub(super) enum KnownHostsError {
    /// The file cannot be read.
    #[error("cannot read the known_hosts file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than Warden reads.
    #[error("the known_hosts file {} is larger than {MAX_FILE} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

/// What the file says about the key a host offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Recorded for the host: log in.
    Known,
    /// Recorded as revoked.
    Revoked {
        /// The line saying so.
        line: usize,
    },
    /// The file records other keys of the same type for the host: the key changed.
    Changed {
        /// The lines with the recorded keys.
        lines: Vec<usize>,
    },
    /// Nothing of this type is recorded for the host.
    Unknown,
}

impl KnownHosts {
    /// Reads and parses `path`; an error (naming the file) when it cannot be read.
    pub(super) fn read(path: &Path) -> Result<Self, KnownHostsError> {
        let unreadable = |source| KnownHostsError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if meta.len() > MAX_FILE {
            return Err(KnownHostsError::TooLarge {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        Ok(Self::parse(path, &text))
    }

    /// Parses the text of a known_hosts file read from `path`.
    pub(super) fn parse(path: &Path, text: &str) -> Self {
        let mut entries = Vec::new();
        let mut skipped = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Some(Some((marker, hosts, key))) => entries.push(Entry {
                    line: i + 1,
                    marker,
                    hosts: hosts.to_owned(),
                    key,
                }),
                Some(None) => {}
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(
                file = %path.display(),
                skipped,
                "known_hosts lines that do not parse were skipped"
            );
        }
        Self {
            path: path.to_owned(),
            entries,
            skipped,
        }
    }

    /// The file's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Lines skipped because they did not parse.
    pub(super) fn skipped(&self) -> usize {
        self.skipped
    }

    /// The lines for `host` on `port`, of the given marker.
    fn matching<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        marker: Marker,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        let name = host_name(host, port);
        self.entries
            .iter()
            .filter(move |e| e.marker == marker && host_matches(&e.hosts, &name))
    }

    /// The host key algorithms recorded (not revoked) for `host` on `port`, first
    /// recorded first, without duplicates: what to ask the host for, so that it offers a
    /// key the file can vouch for.
    pub(super) fn algorithms(&self, host: &str, port: u16) -> Vec<Algorithm> {
        let mut out: Vec<Algorithm> = Vec::new();
        for e in self.matching(host, port, Marker::Plain) {
            let a = e.key.algorithm();
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// What the file says about `key`, offered by `host` on `port`.
    pub(super) fn check(&self, host: &str, port: u16, key: &KeyData) -> Verdict {
        if let Some(e) = self
            .matching(host, port, Marker::Revoked)
            .find(|e| e.key == *key)
        {
            return Verdict::Revoked { line: e.line };
        }
        let mut changed = Vec::new();
        for e in self.matching(host, port, Marker::Plain) {
            if e.key == *key {
                return Verdict::Known;
            }
            if e.key.algorithm() == key.algorithm() {
                changed.push(e.line);
            }
        }
        if changed.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Changed { lines: changed }
        }
    }
}

/// `Some(Some(..))` for a usable line, `Some(None)` for a line Warden ignores
/// (`@cert-authority`, unknown markers), `None` for a line that does not parse.
#[allow(clippy::type_complexity)] // a private parser's one result
fn parse_line(line: &str) -> Option<Option<(Marker, &str, KeyData)>> {
    let mut fields = line.split_ascii_whitespace();
    let mut first = fields.next()?;
    let marker = if let Some(m) = first.strip_prefix('@') {
        first = fields.next()?;
        match m {
            "revoked" => Marker::Revoked,
            "cert-authority" => return Some(None),
            _ => return None,
        }
    } else {
        Marker::Plain
    };
    let algorithm = fields.next()?;
    let blob = fields.next()?;
    let key = PublicKey::from_openssh(&format!("{algorithm} {blob}")).ok()?;
    Some(Some((marker, first, key.key_data().clone())))
}

/// The name a known_hosts line records a host by: `host`, or `[host]:port` off port 22.
fn host_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Whether the host field of a line matches `name`: a hashed name, or a pattern list in
/// which no negated pattern matches and at least one other does.
fn host_matches(field: &str, name: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(&negated.to_ascii_lowercase(), name) {
                return false;
            }
        } else if glob(&pattern.to_ascii_lowercase(), name) {
            matched = true;
        }
    }
    matched
}

/// `salt|hash` (both base64) against HMAC-SHA1(salt, name).
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    let Ok(mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// An OpenSSH pattern (`*` any run, `?` any one character) against the whole of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in the text it was tried up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// How a host key is named in messages: `ssh-ed25519 SHA256:...`.
pub(super) fn describe(key: &KeyData) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{} {}",
        key.algorithm(),
        key.fingerprint(HashAlg::Sha256)
    );
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEyTwYR4ae7eZFBk4n2tn7boo8aTcyXiZIHOLJ42j+t";

    fn key(line: &str) -> KeyData {
        PublicKey::from_openssh(line).unwrap().key_data().clone()
    }

    fn hosts(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("/kh"), text)
    }

    #[test]
    fn glob_patterns() {
        for (p, t, m) in [
            ("a", "a", true),
            ("a", "b", false),
            ("*", "anything", true),
            ("*.example", "h.example", true),
            ("*.example", "example", false),
            ("h?", "h1", true),
            ("h?", "h12", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("[h]:2222", "[h]:2222", true),
            ("[h]:*", "[h]:2222", true),
            ("", "", true),
            ("**", "", true),
        ] {
            assert_eq!(glob(p, t), m, "{p:?} {t:?}");
        }
    }

    #[test]
    fn lines_match_as_openssh_matches_them() {
        let a = key(KEY_A);
        let b = key(KEY_B);
        let kh = hosts(&format!(
            "# comment\n\n{KEY_A} no host field\nh1,h2 {KEY_A} c\n[h3]:2222\t{KEY_A}\n\
             *.example,!bad.example {KEY_A}\nbroken-line\nh4 ssh-ed25519 notbase64\n\
             @cert-authority * {KEY_B}\n"
        ));
        assert_eq!(kh.skipped(), 3, "{kh:?}");
        assert_eq!(kh.check("h1", 22, &a), Verdict::Known);
        assert_eq!(kh.check("H2", 22, &a), Verdict::Known);
        assert_eq!(kh.check("h1", 2222, &a), Verdict::Unknown);
        assert_eq!(kh.check("h3", 2222, &a), Verdict::Known);
        assert_eq!(kh.check("h3", 22, &a), Verdict::Unknown);
        assert_eq!(kh.check("web.example", 22, &a), Verdict::Known);
        assert_eq!(kh.check("bad.example", 22, &a), Verdict::Unknown);
        // A CA line vouches for no host key.
        assert_eq!(
            kh.check("web.example", 22, &b),
            Verdict::Changed { lines: vec![6] }
        );
        assert_eq!(kh.check("other", 22, &b), Verdict::Unknown);
        assert_eq!(kh.algorithms("h1", 22), vec![Algorithm::Ed25519]);
        assert!(kh.algorithms("other", 22).is_empty());
    }

    #[test]
    fn revoked_keys_and_changed_keys_are_told_apart() {
        let a = key(KEY_A);
        let b = key(KEY_B);
        let kh = hosts(&format!("h {KEY_A}\n@revoked * {KEY_B}\n"));
        assert_eq!(kh.check("h", 22, &b), Verdict::Revoked { line: 2 });
        let kh = hosts(&format!("h {KEY_A}\n"));
        assert_eq!(kh.check("h", 22, &b), Verdict::Changed { lines: vec![1] });
        // Revoked wins even over a line listing the key.
        let kh = hosts(&format!("h {KEY_A}\n@revoked h {KEY_A}\n"));
        assert_eq!(kh.check("h", 22, &a), Verdict::Revoked { line: 2 });
        assert!(kh.algorithms("h", 22).contains(&Algorithm::Ed25519));
    }

    #[test]
    fn hashed_names_match() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222": HMAC-SHA1 over the name with the salt.
        let salt = [7_u8; 20];
        let name = "[127.0.0.1]:2222";
        let mac = Hmac::<Sha1>::new_from_slice(&salt)
            .unwrap()
            .chain_update(name.as_bytes())
            .finalize()
            .into_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        let field = format!("|1|{}|{}", b64.encode(salt), b64.encode(mac));
        let kh = hosts(&format!("{field} {KEY_A}\n"));
        assert_eq!(kh.check("127.0.0.1", 2222, &key(KEY_A)), Verdict::Known);
        assert_eq!(kh.check("127.0.0.1", 22, &key(KEY_A)), Verdict::Unknown);
        assert_eq!(kh.check("127.0.0.2", 2222, &key(KEY_A)), Verdict::Unknown);
    }

    #[test]
    fn describe_names_type_and_fingerprint() {
        let d = describe(&key(KEY_A));
        assert!(d.starts_with("ssh-ed25519 SHA256:"), "{d}");
    }
}
