//! The versioned envelope: one value sealed with XChaCha20-Poly1305 under a vault [`Key`],
//! bound to what it is, which object it belongs to, that object's version and the key id.
//!
//! # Layout (format 1)
//!
//! ```text
//! offset  length  field
//!      0       2  magic "WV" (0x57 0x56)
//!      2       1  format version, 0x01
//!      3       4  key id, u32 big-endian
//!      7      24  nonce, random for every seal
//!     31       n  ciphertext (n = plaintext length)
//!   31+n      16  Poly1305 tag
//! ```
//!
//! The first 7 bytes are the *header*. The smallest envelope (empty plaintext) is 47 bytes.
//!
//! # Associated data
//!
//! The AEAD associated data is this canonical encoding, never stored, rebuilt by the opener
//! from what it expects:
//!
//! ```text
//! "warden.vault.envelope.v1\0"             25 bytes, domain separation
//! u32 BE length ‖ purpose tag              "secret", "data-key" or "root-key"
//! u32 BE length ‖ object id (UTF-8 bytes)
//! u64 BE object version
//! the 7-byte header                        magic, format, key id
//! ```
//!
//! So an envelope opens only with the key it was sealed with, for the purpose, object id and
//! version it was sealed for, and with its header as written: moving a secret's envelope to
//! another secret or version, using a data key's envelope as a secret, or editing the key
//! id all fail as [`VaultError::Decrypt`], which on purpose does not say which.
//!
//! `crates/vault/FORMAT.md` documents the same format for readers outside the code.

use chacha20poly1305::AeadInOut as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::VaultError;
use crate::key::{Key, KeyId};

/// The magic bytes every envelope starts with.
pub const MAGIC: [u8; 2] = *b"WV";
/// The format version this code writes and reads.
pub const FORMAT_V1: u8 = 0x01;
/// Length of the header: magic, format version, key id.
pub const HEADER_LEN: usize = 7;
/// Length of the XChaCha20 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Length of the smallest envelope (an empty plaintext).
pub const MIN_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Domain tag at the start of the associated data.
const AAD_DOMAIN: &[u8] = b"warden.vault.envelope.v1\0";

/// What an envelope holds. Its tag is part of the associated data, so an envelope sealed
/// for one purpose never opens as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A vaulted secret (a password, a private key, a token).
    Secret,
    /// A data key, sealed under the root key.
    DataKey,
    /// The root key, sealed under the unseal key.
    RootKey,
}

impl Purpose {
    /// The stable tag of this purpose in the associated data. Never change one: envelopes
    /// already written would stop opening.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Purpose::Secret => "secret",
            Purpose::DataKey => "data-key",
            Purpose::RootKey => "root-key",
        }
    }
}

/// Seals `plaintext` under `key`, with a fresh random nonce, for `purpose`, `object_id` and
/// `version`; `key_id` is written in the header so the opener can find the key.
///
/// # Errors
/// [`VaultError::Random`] if the random source fails; [`VaultError::ObjectIdTooLong`] or
/// [`VaultError::PlaintextTooLong`] for inputs beyond what the format can hold.
pub fn seal(
    key: &Key,
    key_id: KeyId,
    purpose: Purpose,
    object_id: &str,
    version: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)?;
    seal_with_nonce(key, key_id, purpose, object_id, version, &nonce, plaintext)
}

/// [`seal`] with a nonce chosen by the caller. Only for test vectors: reusing a nonce with
/// the same key destroys the confidentiality and integrity of both messages.
///
/// # Errors
/// As [`seal`], less the random source.
#[doc(hidden)]
pub fn seal_with_nonce(
    key: &Key,
    key_id: KeyId,
    purpose: Purpose,
    object_id: &str,
    version: u64,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let header = header(key_id);
    let aad = associated_data(purpose, object_id, version, &header)?;
    let capacity = plaintext
        .len()
        .checked_add(MIN_LEN)
        .ok_or(VaultError::PlaintextTooLong)?;
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&header);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let body = out.get_mut(HEADER_LEN + NONCE_LEN..).unwrap_or_default();
    match key
        .cipher()
        .encrypt_inout_detached(nonce.into(), aad.as_slice(), body.into())
    {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(out)
        }
        Err(_) => {
            // Only a plaintext over the cipher's limit; the buffer still holds it.
            out.zeroize();
            Err(VaultError::PlaintextTooLong)
        }
    }
}

/// Opens an envelope sealed by [`seal`] with the same key, purpose, object id and version.
/// The plaintext comes back in memory that is wiped on drop.
///
/// # Errors
/// [`VaultError::EnvelopeTooShort`], [`VaultError::EnvelopeMagic`] or
/// [`VaultError::EnvelopeFormat`] if this is not an envelope of format 1;
/// [`VaultError::Decrypt`] for every failure of authentication, whatever its cause.
pub fn open(
    key: &Key,
    purpose: Purpose,
    object_id: &str,
    version: u64,
    envelope: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let parts = Parts::parse(envelope)?;
    let aad = associated_data(purpose, object_id, version, parts.header)?;
    let mut plaintext = Zeroizing::new(parts.ciphertext.to_vec());
    key.cipher()
        .decrypt_inout_detached(
            parts.nonce.into(),
            aad.as_slice(),
            plaintext.as_mut_slice().into(),
            parts.tag.into(),
        )
        .map_err(|_| VaultError::Decrypt)?;
    Ok(plaintext)
}

/// The key id in an envelope's header, so the caller can pick the key to open it with.
/// This reads the header only: the id is authenticated when the envelope is opened.
///
/// # Errors
/// As [`open`] for an envelope that is not of format 1.
pub fn envelope_key_id(envelope: &[u8]) -> Result<KeyId, VaultError> {
    Parts::parse(envelope).map(|parts| parts.key_id)
}

/// The header of an envelope sealed under key `key_id`.
fn header(key_id: KeyId) -> [u8; HEADER_LEN] {
    let [m0, m1] = MAGIC;
    let [k0, k1, k2, k3] = key_id.to_be_bytes();
    [m0, m1, FORMAT_V1, k0, k1, k2, k3]
}

/// An envelope cut into its fields (not yet authenticated).
struct Parts<'a> {
    header: &'a [u8; HEADER_LEN],
    key_id: KeyId,
    nonce: &'a [u8; NONCE_LEN],
    ciphertext: &'a [u8],
    tag: &'a [u8; TAG_LEN],
}

impl<'a> Parts<'a> {
    fn parse(envelope: &'a [u8]) -> Result<Parts<'a>, VaultError> {
        // Magic and format first, as far as they are there, so that a foreign blob or a
        // newer format is named as such rather than as "too short".
        if envelope
            .first_chunk::<2>()
            .is_some_and(|magic| *magic != MAGIC)
        {
            return Err(VaultError::EnvelopeMagic);
        }
        if let Some(&format) = envelope.get(2)
            && format != FORMAT_V1
        {
            return Err(VaultError::EnvelopeFormat(format));
        }
        let too_short = || VaultError::EnvelopeTooShort {
            len: envelope.len(),
            min: MIN_LEN,
        };
        let (header, rest) = envelope
            .split_first_chunk::<HEADER_LEN>()
            .ok_or_else(too_short)?;
        let (nonce, rest) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(too_short)?;
        let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(too_short)?;
        let [_, _, _, k0, k1, k2, k3] = *header;
        Ok(Parts {
            header,
            key_id: KeyId::from_be_bytes([k0, k1, k2, k3]),
            nonce,
            ciphertext,
            tag,
        })
    }
}

/// The canonical associated data (see the module documentation).
fn associated_data(
    purpose: Purpose,
    object_id: &str,
    version: u64,
    header: &[u8; HEADER_LEN],
) -> Result<SmallBuf, VaultError> {
    let tag = purpose.tag();
    let id_len = u32::try_from(object_id.len()).map_err(|_| VaultError::ObjectIdTooLong {
        len: object_id.len(),
    })?;
    let tag_len = u32::try_from(tag.len()).unwrap_or(u32::MAX);
    let mut aad = SmallBuf::new();
    aad.push(AAD_DOMAIN);
    aad.push(&tag_len.to_be_bytes());
    aad.push(tag.as_bytes());
    aad.push(&id_len.to_be_bytes());
    aad.push(object_id.as_bytes());
    aad.push(&version.to_be_bytes());
    aad.push(header);
    Ok(aad)
}

/// Room on the stack for associated data: object ids up to about 200 bytes (a UUID is 36)
/// need no allocation.
const SMALL_BUF: usize = 256;

/// A byte buffer on the stack that moves to the heap if it outgrows it. Holds only public
/// data (the associated data), so it is not wiped.
struct SmallBuf {
    stack: [u8; SMALL_BUF],
    len: usize,
    heap: Option<Vec<u8>>,
}

impl SmallBuf {
    fn new() -> SmallBuf {
        SmallBuf {
            stack: [0; SMALL_BUF],
            len: 0,
            heap: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if let Some(heap) = &mut self.heap {
            heap.extend_from_slice(bytes);
            return;
        }
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.stack.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        } else {
            let mut heap = Vec::with_capacity(end.saturating_mul(2));
            heap.extend_from_slice(self.as_slice());
            heap.extend_from_slice(bytes);
            self.heap = Some(heap);
        }
    }

    fn as_slice(&self) -> &[u8] {
        match &self.heap {
            Some(heap) => heap,
            None => self.stack.get(..self.len).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn associated_data_is_the_documented_encoding() {
        let header = header(0x0102_0304);
        let aad = associated_data(Purpose::DataKey, "ab", 7, &header).unwrap();
        let mut expected = b"warden.vault.envelope.v1\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 8]);
        expected.extend_from_slice(b"data-key");
        expected.extend_from_slice(&[0, 0, 0, 2]);
        expected.extend_from_slice(b"ab");
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(&[b'W', b'V', 1, 1, 2, 3, 4]);
        assert_eq!(aad.as_slice(), expected.as_slice());
    }

    #[test]
    fn long_object_ids_spill_to_the_heap() {
        let long = "x".repeat(1000);
        let aad = associated_data(Purpose::Secret, &long, 1, &header(1)).unwrap();
        assert_eq!(aad.as_slice().len(), 25 + 4 + 6 + 4 + 1000 + 8 + 7);
        assert!(aad.as_slice().windows(1000).any(|w| w == long.as_bytes()));
        assert!(aad.as_slice().ends_with(&header(1)));
    }
}
