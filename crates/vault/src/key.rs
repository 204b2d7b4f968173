//! Vault keys: 32 random bytes for XChaCha20-Poly1305, wiped from memory when dropped.
//!
//! A [`Key`] is a root key, a data key or the development unseal key alike; what it is used
//! for is said by the [`Purpose`](crate::Purpose) of what it seals. Keys are told apart by a
//! [`KeyId`] stored in each envelope, and shown to people by [`Key::fingerprint`], which is
//! safe to print. The text form [`Key::to_text`] / [`Key::from_text`] is the content of the
//! development unseal key file: `warden-unseal-key-v1:` followed by the key in standard
//! base64.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::VaultError;

/// Identifies a key among those of a vault; stored big-endian in every envelope header so
/// that the opener can pick the key it was sealed with.
pub type KeyId = u32;

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;

/// Domain tag hashed before the key in [`Key::fingerprint`].
const FINGERPRINT_DOMAIN: &[u8] = b"warden.vault.key-fingerprint.v1\0";

/// Prefix of the text form of an unseal key.
const TEXT_PREFIX: &str = "warden-unseal-key-v1:";

/// A 256-bit vault key, with its XChaCha20-Poly1305 instance ready for sealing.
///
/// Both the bytes and the cipher's copy of them are wiped when the key is dropped. `Debug`
/// prints only the fingerprint.
#[derive(Clone)]
pub struct Key {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    cipher: XChaCha20Poly1305,
}

impl Key {
    /// A new key from the operating system's random source.
    ///
    /// # Errors
    /// [`VaultError::Random`] if the random source fails.
    pub fn generate() -> Result<Key, VaultError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut_slice())?;
        Ok(Key::from_zeroizing(bytes))
    }

    /// The key made of these bytes. Prefer passing a value the caller wipes afterwards; the
    /// key keeps its own wiped copy.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key::from_zeroizing(Zeroizing::new(bytes))
    }

    /// The key made of these bytes, which must be exactly 32.
    ///
    /// # Errors
    /// [`VaultError::KeyLength`] if `bytes` is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Key, VaultError> {
        let array: &[u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| VaultError::KeyLength { got: bytes.len() })?;
        let mut owned = Zeroizing::new([0u8; KEY_LEN]);
        owned.copy_from_slice(array);
        Ok(Key::from_zeroizing(owned))
    }

    fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> Key {
        // By reference, so that the only copy outside `bytes` is the cipher's own, which it
        // wipes on drop (the `zeroize` feature of chacha20poly1305).
        let key: &chacha20poly1305::Key = (&*bytes).into();
        let cipher = XChaCha20Poly1305::new(key);
        Key { bytes, cipher }
    }

    /// The raw key bytes. Whoever calls this handles key material: keep the borrow short and
    /// copy the bytes only into memory that is wiped.
    #[must_use]
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The ready cipher instance.
    pub(crate) fn cipher(&self) -> &XChaCha20Poly1305 {
        &self.cipher
    }

    /// A short, safe-to-show name of this key: the first 16 hex characters of SHA-256 over
    /// `warden.vault.key-fingerprint.v1\0` followed by the key bytes. It identifies the key
    /// (two people can compare it) and reveals nothing usable about it.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_DOMAIN)
            .chain_update(self.bytes.as_slice())
            .finalize();
        let mut text = hex::encode(digest);
        text.truncate(16);
        text
    }

    /// The text form of the key, for the development unseal key file:
    /// `warden-unseal-key-v1:` followed by the 32 bytes in standard base64 (with padding).
    #[must_use]
    pub fn to_text(&self) -> SecretString {
        // Built in a wiped buffer, then copied once into the SecretString's exact-size box,
        // so no unwiped copy is left behind by a reallocation.
        let mut text = Zeroizing::new(String::with_capacity(TEXT_PREFIX.len() + 44));
        text.push_str(TEXT_PREFIX);
        STANDARD.encode_string(self.bytes.as_slice(), &mut text);
        SecretString::from(text.as_str())
    }

    /// Reads the text form written by [`Key::to_text`]. Whitespace around it (such as the
    /// newline at the end of a file) is ignored.
    ///
    /// # Errors
    /// [`VaultError::KeyText`] saying what is wrong: not the `warden-unseal-key-v1:` prefix,
    /// not base64, or not 32 bytes. The message never contains the key text.
    pub fn from_text(text: &str) -> Result<Key, VaultError> {
        let text = text.trim();
        let Some(encoded) = text.strip_prefix(TEXT_PREFIX) else {
            return Err(VaultError::KeyText(
                if text.starts_with("warden-unseal-key-") {
                    "it is of a key text version this build does not know (expected \
                     \"warden-unseal-key-v1:\")"
                } else {
                    "it does not start with \"warden-unseal-key-v1:\""
                },
            ));
        };
        // Large enough for any base64 that could be 32 bytes; longer input fails as too long.
        let mut buf = Zeroizing::new([0u8; 48]);
        let len = STANDARD
            .decode_slice(encoded.as_bytes(), buf.as_mut_slice())
            .map_err(|err| {
                VaultError::KeyText(match err {
                    base64::DecodeSliceError::OutputSliceTooSmall => {
                        "the key part is longer than 32 bytes"
                    }
                    // The base64 error names the offending character: not repeated here.
                    base64::DecodeSliceError::DecodeError(_) => {
                        "the key part is not valid standard base64"
                    }
                })
            })?;
        if len != KEY_LEN {
            return Err(VaultError::KeyText("the key part is not 32 bytes long"));
        }
        let (key, _) = buf
            .split_first_chunk::<KEY_LEN>()
            .ok_or(VaultError::KeyText("the key part is not 32 bytes long"))?;
        let mut owned = Zeroizing::new([0u8; KEY_LEN]);
        owned.copy_from_slice(key);
        Ok(Key::from_zeroizing(owned))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("fingerprint", &self.fingerprint())
            .field("bytes", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn text_round_trip() {
        let key = Key::from_bytes([7; 32]);
        let text = key.to_text();
        assert!(text.expose_secret().starts_with("warden-unseal-key-v1:"));
        let back = Key::from_text(&format!("  {}\n", text.expose_secret())).unwrap();
        assert_eq!(back.expose(), key.expose());
    }

    #[test]
    fn text_refuses_other_prefixes_and_lengths() {
        for bad in [
            "warden-unseal-key-v2:AAAA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "warden-unseal-key-v1:AAAA",
            "warden-unseal-key-v1:!!!!",
            "warden-unseal-key-v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(
                matches!(Key::from_text(bad), Err(VaultError::KeyText(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn fingerprint_is_16_hex_and_depends_on_the_key() {
        let a = Key::from_bytes([1; 32]);
        let b = Key::from_bytes([2; 32]);
        assert_eq!(a.fingerprint().len(), 16);
        assert!(a.fingerprint().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(matches!(
            Key::from_slice(&[0; 31]),
            Err(VaultError::KeyLength { got: 31 })
        ));
        assert!(Key::from_slice(&[0; 32]).is_ok());
    }
}
