//! One chained audit record and its canonical encoding.
//!
//! A record's hash is the SHA-256 of its canonical encoding, which includes the hash of
//! the record before it, so changing, removing, inserting or reordering a record breaks
//! the chain from that point on. The encoding is a fixed sequence of length-prefixed
//! fields (documented in `docs/audit-format.md`), never JSON, so that the hash does not depend
//! on key order, whitespace or number formatting, and another implementation can compute
//! it from the published description alone.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// The tag every canonical encoding starts with; a new encoding gets a new tag.
const RECORD_TAG: &[u8] = b"warden.audit.record.v1\0";

/// A SHA-256 value, written as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The hash the first record of a log follows.
    pub const GENESIS: Digest = Digest([0; 32]);

    /// The hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)?;
        Ok(Self(out))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        // Encoding 32 bytes into 64 always fits.
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        let text = std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        Digest::from_hex(&text)
            .map_err(|e| serde::de::Error::custom(format!("a hash must be 64 hex digits: {e}")))
    }
}

/// Who acted: the user (or the name tried in a failed login), the token, the client's
/// address and user agent. All absent for Warden's own work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordActor<'a> {
    /// The user name.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub user: Option<Cow<'a, str>>,
    /// The API token's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Uuid>,
    /// The client's IP address as text.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Cow<'a, str>>,
    /// The client's user agent.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<Cow<'a, str>>,
}

impl RecordActor<'_> {
    /// Whether no field is set (Warden itself).
    pub fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.token.is_none()
            && self.ip.is_none()
            && self.user_agent.is_none()
    }

    /// The same actor owning its text.
    pub fn into_owned(self) -> RecordActor<'static> {
        RecordActor {
            user: self.user.map(|s| Cow::Owned(s.into_owned())),
            token: self.token,
            ip: self.ip.map(|s| Cow::Owned(s.into_owned())),
            user_agent: self.user_agent.map(|s| Cow::Owned(s.into_owned())),
        }
    }
}

/// One audit event as it is chained, stored, exported and verified.
///
/// Text fields borrow from the input where they can, so a verifier reads a bundle without
/// copying; [`Record::into_owned`] gives a record that owns its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record<'a> {
    /// Position in the log: 1 for the first event, one more for each next.
    pub seq: u64,
    /// The event's unique id.
    pub id: Uuid,
    /// When it happened, in milliseconds since the Unix epoch (UTC).
    pub time: i64,
    /// Who did it.
    #[serde(default, borrow, skip_serializing_if = "RecordActor::is_empty")]
    pub actor: RecordActor<'a>,
    /// What happened: a stable dotted name such as `grant.revoked`.
    #[serde(borrow)]
    pub action: Cow<'a, str>,
    /// What it happened to, such as `grant:<id>` or `user:alice`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub target: Option<Cow<'a, str>>,
    /// `success` or `failure`.
    #[serde(borrow)]
    pub outcome: Cow<'a, str>,
    /// Why: a justification, a comment, or the reason for a refusal.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Cow<'a, str>>,
    /// The resource concerned, by its policy name.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Cow<'a, str>>,
    /// The access request concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
    /// The grant concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<Uuid>,
    /// The request's risk score, when the event is a decision on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<u32>,
    /// Further facts, never secrets.
    #[serde(default, borrow, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// The hash of the record before this one ([`Digest::GENESIS`] for the first).
    pub prev_hash: Digest,
    /// The SHA-256 of this record's canonical encoding.
    pub hash: Digest,
}

impl Record<'_> {
    /// Appends the canonical encoding to `out`: everything but `hash`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(RECORD_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        opt_str(out, self.actor.user.as_deref());
        opt_uuid(out, self.actor.token);
        opt_str(out, self.actor.ip.as_deref());
        opt_str(out, self.actor.user_agent.as_deref());
        str(out, &self.action);
        opt_str(out, self.target.as_deref());
        str(out, &self.outcome);
        opt_str(out, self.reason.as_deref());
        opt_str(out, self.resource.as_deref());
        opt_uuid(out, self.request_id);
        opt_uuid(out, self.grant_id);
        match self.risk {
            Some(risk) => {
                out.push(1);
                out.extend_from_slice(&risk.to_be_bytes());
            }
            None => out.push(0),
        }
        len(out, self.details.len());
        for (key, value) in &self.details {
            str(out, key);
            str(out, value);
        }
        out.extend_from_slice(&self.prev_hash.0);
    }

    /// The hash this record should carry, computed with `buf` as scratch space.
    pub fn compute_hash_with(&self, buf: &mut Vec<u8>) -> Digest {
        buf.clear();
        self.encode(buf);
        Digest(Sha256::digest(buf.as_slice()).into())
    }

    /// The hash this record should carry.
    pub fn compute_hash(&self) -> Digest {
        self.compute_hash_with(&mut Vec::with_capacity(256))
    }

    /// Chains the record after `prev`: sets `seq`, `prev_hash` and `hash`.
    pub fn seal_after(&mut self, prev_seq: u64, prev_hash: Digest) {
        self.seq = prev_seq + 1;
        self.prev_hash = prev_hash;
        self.hash = self.compute_hash();
    }

    /// Whether `hash` matches the contents.
    pub fn is_intact(&self) -> bool {
        self.compute_hash() == self.hash
    }

    /// The same record owning its text.
    pub fn into_owned(self) -> Record<'static> {
        Record {
            seq: self.seq,
            id: self.id,
            time: self.time,
            actor: self.actor.into_owned(),
            action: Cow::Owned(self.action.into_owned()),
            target: self.target.map(|s| Cow::Owned(s.into_owned())),
            outcome: Cow::Owned(self.outcome.into_owned()),
            reason: self.reason.map(|s| Cow::Owned(s.into_owned())),
            resource: self.resource.map(|s| Cow::Owned(s.into_owned())),
            request_id: self.request_id,
            grant_id: self.grant_id,
            risk: self.risk,
            details: self
                .details
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

fn len(out: &mut Vec<u8>, n: usize) {
    // Fields are far below 4 GiB; a longer one is cut at the limit of the prefix, which
    // cannot make two different records encode alike because the bytes still differ.
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
}

fn str(out: &mut Vec<u8>, s: &str) {
    len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            str(out, s);
        }
        None => out.push(0),
    }
}

fn opt_uuid(out: &mut Vec<u8>, id: Option<Uuid>) {
    match id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
        None => out.push(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record<'static> {
        let mut r = Record {
            seq: 0,
            id: Uuid::from_u128(7),
            time: 1_700_000_000_123,
            actor: RecordActor {
                user: Some("alice".into()),
                token: Some(Uuid::from_u128(9)),
                ip: Some("127.0.0.1".into()),
                user_agent: None,
            },
            action: "grant.revoke".into(),
            target: Some("grant:1".into()),
            outcome: "success".into(),
            reason: Some("done".into()),
            resource: Some("pg-prod".into()),
            request_id: None,
            grant_id: Some(Uuid::from_u128(1)),
            risk: Some(40),
            details: [("role".into(), "app_read".into())].into_iter().collect(),
            prev_hash: Digest::GENESIS,
            hash: Digest::GENESIS,
        };
        r.seal_after(0, Digest::GENESIS);
        r
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = sample();
        assert!(base.is_intact());
        let changes: Vec<fn(&mut Record<'static>)> = vec![
            |r| r.seq += 1,
            |r| r.id = Uuid::from_u128(8),
            |r| r.time += 1,
            |r| r.actor.user = Some("mallory".into()),
            |r| r.actor.token = None,
            |r| r.actor.ip = Some("10.0.0.1".into()),
            |r| r.actor.user_agent = Some("curl".into()),
            |r| r.action = "grant.extend".into(),
            |r| r.target = None,
            |r| r.outcome = "failure".into(),
            |r| r.reason = Some("done!".into()),
            |r| r.resource = Some("pg-dev".into()),
            |r| r.request_id = Some(Uuid::from_u128(2)),
            |r| r.grant_id = None,
            |r| r.risk = Some(41),
            |r| {
                r.details.insert("role".into(), "app_write".into());
            },
            |r| {
                r.details.insert("extra".into(), String::new().into());
            },
            |r| r.prev_hash = Digest([1; 32]),
        ];
        for (i, change) in changes.into_iter().enumerate() {
            let mut r = base.clone();
            change(&mut r);
            assert!(!r.is_intact(), "change {i} left the hash valid");
        }
    }

    #[test]
    fn absent_and_empty_text_encode_differently() {
        let mut a = sample();
        a.reason = None;
        let mut b = sample();
        b.reason = Some("".into());
        assert_ne!(a.compute_hash(), b.compute_hash());
        // Moving bytes between neighbouring fields changes the hash too.
        let mut c = sample();
        c.target = Some("grant:1d".into());
        c.outcome = "one".into();
        let mut d = sample();
        d.target = Some("grant:1".into());
        d.outcome = "done".into();
        assert_ne!(c.compute_hash(), d.compute_hash());
    }

    #[test]
    fn json_round_trip_keeps_the_hash() {
        let r = sample();
        let json = serde_json::to_string(&r).unwrap();
        let back: Record<'_> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(back.is_intact());
        // Key order in the JSON does not matter: move `hash` (written last) to the front.
        let tail = format!(",\"hash\":\"{}\"}}", r.hash);
        let body = json.strip_suffix(&tail).unwrap().strip_prefix('{').unwrap();
        let text = format!("{{\"hash\":\"{}\",{body}}}", r.hash);
        let back: Record<'_> = serde_json::from_str(&text).unwrap();
        assert!(back.is_intact());
    }

    #[test]
    fn the_encoding_is_stable() {
        // A fixed record hashes to a fixed value: changing the encoding breaks every
        // exported bundle, so it must be a new tag, never an edit.
        let r = sample();
        assert_eq!(r.hash, r.compute_hash());
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert!(buf.starts_with(RECORD_TAG));
        assert_eq!(buf.len(), 236);
        assert_eq!(
            r.hash.to_hex(),
            "029e06d4a144110e96d2192be9102b226a0c8f9f994f8e7b00cd86c99f7a6d9a"
        );
    }
}
