//! Signed checkpoints: the head of the log (sequence number and hash) signed with
//! Ed25519, so that a verifier holding the public key can tell the events up to that
//! point are the ones the server wrote, and that none after it were cut off.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::record::Digest;

/// The tag every signed checkpoint message starts with.
const CHECKPOINT_TAG: &[u8] = b"warden.audit.checkpoint.v1\0";
/// The first line of a signing key file.
const KEY_FILE_TAG: &str = "warden-audit-signing-key-v1";

/// Why a key could not be read. New variants may be added: match with a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a key in the expected form.
    #[error("{0}")]
    Invalid(String),
}

/// The private key that signs checkpoints. Its bytes are wiped when it is dropped and
/// never printed.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.public().key_id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice())
            .map_err(|e| KeyError::Invalid(format!("no randomness for a new key: {e}")))?;
        Ok(Self {
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    /// Reads the text of a key file written by [`SigningKey::to_file_text`].
    pub fn from_file_text(text: &str) -> Result<Self, KeyError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(KEY_FILE_TAG) {
            return Err(KeyError::Invalid(format!(
                "not an audit signing key: the first line must be {KEY_FILE_TAG}"
            )));
        }
        let encoded = lines
            .next()
            .ok_or_else(|| KeyError::Invalid("the key line is missing".to_owned()))?;
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| KeyError::Invalid("the key line is not base64".to_owned()))?,
        );
        let seed: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Invalid("the key must be 32 bytes".to_owned()))?;
        Ok(Self {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        })
    }

    /// The text of a key file: a tag line and the base64 seed.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(format!("{KEY_FILE_TAG}\n{}\n", STANDARD.encode(*seed)))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// Signs the head `(seq, hash)` at `time` (Unix milliseconds).
    pub fn sign(&self, seq: u64, hash: Digest, time: i64) -> Checkpoint {
        let signature = self.key.sign(&Checkpoint::message(seq, hash, time));
        Checkpoint {
            seq,
            hash,
            time,
            key_id: self.public().key_id(),
            signature: STANDARD.encode(signature.to_bytes()),
        }
    }
}

/// The key that verifies checkpoints; published by the server and pinned by auditors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl PublicKey {
    /// Parses the published form: the 32 key bytes in base64, optionally after `ed25519:`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let text = text.strip_prefix("ed25519:").unwrap_or(text);
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| KeyError::Invalid("a public key must be base64".to_owned()))?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Invalid("an Ed25519 public key is 32 bytes".to_owned()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::Invalid("not a valid Ed25519 public key".to_owned()))?;
        Ok(Self { key })
    }

    /// The published form: `ed25519:` and the key in base64.
    pub fn encode(&self) -> String {
        format!("ed25519:{}", STANDARD.encode(self.key.as_bytes()))
    }

    /// A short, stable name for the key: the first 16 hex digits of its SHA-256.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.key.as_bytes());
        hex::encode(digest.get(..8).unwrap_or_default())
    }

    /// Whether `checkpoint` carries this key's valid signature over its head.
    pub fn verifies(&self, checkpoint: &Checkpoint) -> bool {
        let Ok(bytes) = STANDARD.decode(&checkpoint.signature) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        let message = Checkpoint::message(checkpoint.seq, checkpoint.hash, checkpoint.time);
        self.key.verify(&message, &signature).is_ok()
    }
}

/// A signed head of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The sequence number of the last event it covers.
    pub seq: u64,
    /// That event's hash.
    pub hash: Digest,
    /// When it was signed, in Unix milliseconds.
    pub time: i64,
    /// Which key signed it ([`PublicKey::key_id`]).
    pub key_id: String,
    /// The Ed25519 signature over [`Checkpoint::message`], in base64.
    pub signature: String,
}

impl Checkpoint {
    /// The bytes that are signed: a tag, the sequence number, the hash and the time.
    pub fn message(seq: u64, hash: Digest, time: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHECKPOINT_TAG.len() + 8 + 32 + 8);
        out.extend_from_slice(CHECKPOINT_TAG);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&hash.0);
        out.extend_from_slice(&time.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_only_with_its_key_and_head() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let cp = key.sign(42, Digest([7; 32]), 1_700_000_000_000);
        assert_eq!(cp.key_id, key.public().key_id());
        assert!(key.public().verifies(&cp));
        assert!(!other.public().verifies(&cp));
        for change in [
            |c: &mut Checkpoint| c.seq += 1,
            |c: &mut Checkpoint| c.hash = Digest([8; 32]),
            |c: &mut Checkpoint| c.time += 1,
            |c: &mut Checkpoint| c.signature = "AAAA".to_owned(),
        ] {
            let mut bad = cp.clone();
            change(&mut bad);
            assert!(!key.public().verifies(&bad));
        }
    }

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let key = SigningKey::generate().unwrap();
        let text = key.to_file_text();
        let back = SigningKey::from_file_text(&text).unwrap();
        assert_eq!(back.public(), key.public());
        let public = PublicKey::parse(&key.public().encode()).unwrap();
        assert_eq!(public, key.public());
        assert!(!format!("{key:?}").contains(text.lines().nth(1).unwrap()));
        assert!(SigningKey::from_file_text("nonsense").is_err());
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
    }
}
