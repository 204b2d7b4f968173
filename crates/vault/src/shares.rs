//! Shamir shares of the unseal key: [`split`] a [`Key`] into `count` shares of which any
//! `threshold` give it back through [`combine`]. The arithmetic is blahaj's (GF(256), one
//! polynomial per key byte); this module adds the text form a key holder types or pastes.
//!
//! # Text form of a share
//!
//! ```text
//! wvs1-<vault id>-<threshold>-<index>-<data>-<checksum>
//! ```
//!
//! - `wvs1` names the format (Warden vault share, version 1).
//! - `<vault id>`: 8 to 32 characters of `a-z0-9` naming the vault the key belongs to.
//! - `<threshold>`, `<index>`: decimal, no leading zeros, each 1 to 16.
//! - `<data>`: blahaj's share bytes (the index byte, then one byte per key byte: 33 bytes)
//!   in base64url without padding, 44 characters. This alphabet includes `-` and `_`, so
//!   `<data>` is everything between the fourth `-` and the last one.
//! - `<checksum>`: the first 8 lowercase hex characters of SHA-256 over all the text before
//!   the last `-` (from `wvs1` to the end of `<data>`). Read in either case.
//!
//! The checksum catches typing mistakes; it is no protection against a share altered on
//! purpose. A share whose data was changed and checksum recomputed recombines, with the
//! others, to a *different* key, silently: that is inherent to Shamir's scheme. The caller
//! notices when the recombined key fails to open the sealed root key.
//!
//! With a threshold of 1 every share holds the key itself.

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blahaj::Sharks;
use chacha20::ChaCha20Rng;
use chacha20::rand_core::SeedableRng as _;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::key::{KEY_LEN, Key};

/// The most shares one split may make.
pub const MAX_SHARES: u8 = 16;

/// The text every share starts with.
const PREFIX: &str = "wvs1-";

/// Length of blahaj's bytes for one share of a key: the index, then the key's length.
const SHARE_DATA_LEN: usize = 1 + KEY_LEN;

/// One share of an unseal key, read from its text form by [`Share::parse`].
#[derive(Clone)]
pub struct Share {
    /// The vault the shared key belongs to.
    pub vault_id: String,
    /// How many distinct shares give the key back.
    pub threshold: u8,
    /// The number of this share, 1 to 16.
    pub index: u8,
    /// blahaj's share bytes (index then one byte per key byte).
    data: Zeroizing<Vec<u8>>,
}

impl Share {
    /// Reads a share from its text form (see the module documentation). Whitespace around
    /// it is ignored.
    ///
    /// # Errors
    /// [`VaultError::ShareChecksum`] if the checksum does not match (a typing mistake);
    /// [`VaultError::ShareMalformed`] naming the part that is wrong otherwise. No message
    /// repeats the share's text.
    pub fn parse(text: &str) -> Result<Share, VaultError> {
        let text = text.trim();
        if !text.starts_with(PREFIX) {
            return Err(VaultError::ShareMalformed(if text.starts_with("wvs") {
                "it is of a share format this build does not know (expected \"wvs1-\")"
            } else {
                "it does not start with \"wvs1-\""
            }));
        }
        let too_few = || {
            VaultError::ShareMalformed(
                "it has too few parts: expected wvs1-<vault id>-<threshold>-<index>-<data>-<checksum>",
            )
        };
        let (signed, checksum) = text.rsplit_once('-').ok_or_else(too_few)?;
        let mut fields = signed
            .strip_prefix(PREFIX)
            .unwrap_or_default()
            .splitn(4, '-');
        let (Some(vault_id), Some(threshold), Some(index), Some(data)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(too_few());
        };
        if !vault_id_ok(vault_id) {
            return Err(VaultError::ShareMalformed(
                "the vault id part is not 8 to 32 characters of a-z and 0-9",
            ));
        }
        let threshold = parse_small(threshold).ok_or(VaultError::ShareMalformed(
            "the threshold part is not a number from 1 to 16",
        ))?;
        let index = parse_small(index).ok_or(VaultError::ShareMalformed(
            "the index part is not a number from 1 to 16",
        ))?;
        if checksum.len() != 8 || !checksum.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(VaultError::ShareMalformed(
                "the checksum (the last part) is not 8 hexadecimal characters",
            ));
        }
        if !checksum.eq_ignore_ascii_case(&checksum_of(signed)) {
            return Err(VaultError::ShareChecksum);
        }
        // Past the checksum the text is as it was written, unless altered on purpose.
        let mut buf = Zeroizing::new([0u8; 64]);
        let len = URL_SAFE_NO_PAD
            .decode_slice(data.as_bytes(), buf.as_mut_slice())
            .map_err(|_| VaultError::ShareMalformed("the data part is not base64url"))?;
        let bytes = buf.get(..len).unwrap_or_default();
        if len != SHARE_DATA_LEN {
            return Err(VaultError::ShareMalformed(
                "the data part is not the length of a share of a 32-byte key",
            ));
        }
        if bytes.first() != Some(&index) {
            return Err(VaultError::ShareMalformed(
                "the data part does not match the index part",
            ));
        }
        Ok(Share {
            vault_id: vault_id.to_owned(),
            threshold,
            index,
            data: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// The text form of this share, as [`split`] gave it.
    #[must_use]
    pub fn to_text(&self) -> SecretString {
        share_text(&self.vault_id, self.threshold, self.index, &self.data)
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("vault_id", &self.vault_id)
            .field("threshold", &self.threshold)
            .field("index", &self.index)
            .field("data", &"[redacted]")
            .finish()
    }
}

/// Whether `vault_id` is a well-formed vault id: 8 to 32 characters of `a-z` and `0-9`.
#[must_use]
pub fn vault_id_ok(vault_id: &str) -> bool {
    (8..=32).contains(&vault_id.len())
        && vault_id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Splits `key` into `count` shares of which any `threshold` give it back, for the vault
/// `vault_id`. Each share is returned in its text form, to hand to one key holder.
///
/// The polynomial coefficients come from a ChaCha20 generator seeded from the operating
/// system's random source.
///
/// # Errors
/// [`VaultError::VaultId`] for a malformed vault id; [`VaultError::SplitParams`] unless
/// 1 ≤ `threshold` ≤ `count` ≤ 16; [`VaultError::Random`] if the random source fails.
pub fn split(
    key: &Key,
    threshold: u8,
    count: u8,
    vault_id: &str,
) -> Result<Vec<SecretString>, VaultError> {
    if !vault_id_ok(vault_id) {
        return Err(VaultError::VaultId {
            len: vault_id.chars().count(),
        });
    }
    if count == 0 {
        return Err(VaultError::SplitParams(
            "the number of shares must be at least 1".to_owned(),
        ));
    }
    if count > MAX_SHARES {
        return Err(VaultError::SplitParams(format!(
            "at most {MAX_SHARES} shares can be made, {count} were asked for"
        )));
    }
    if threshold == 0 {
        return Err(VaultError::SplitParams(
            "the threshold must be at least 1".to_owned(),
        ));
    }
    if threshold > count {
        return Err(VaultError::SplitParams(format!(
            "the threshold ({threshold}) is greater than the number of shares ({count}): the \
             key could never be recovered"
        )));
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice())?;
    // The generator wipes its state on drop (chacha20's `zeroize` feature).
    let mut rng = ChaCha20Rng::from_seed(*seed);
    let shares = Sharks(threshold)
        .dealer_rng(key.expose(), &mut rng)
        .take(usize::from(count))
        .map(|share| {
            // blahaj's share wipes itself on drop; its bytes are wiped here.
            let data = Zeroizing::new(Vec::from(&share));
            let index = data.first().copied().unwrap_or_default();
            share_text(vault_id, threshold, index, &data)
        })
        .collect();
    Ok(shares)
}

/// Recombines shares given by [`split`] into the key.
///
/// A share altered on purpose (and re-checksummed) is not detected here: the result is then
/// a different key, found out when it fails to open what the real key sealed.
///
/// # Errors
/// [`VaultError::ShareNone`] for no shares; [`VaultError::ShareVaultMismatch`] or
/// [`VaultError::ShareThresholdMismatch`] for shares of different vaults or splits;
/// [`VaultError::ShareDuplicate`] for an index given twice; [`VaultError::ShareTooFew`]
/// with how many more are needed.
pub fn combine(shares: &[Share]) -> Result<Key, VaultError> {
    let first = shares.first().ok_or(VaultError::ShareNone)?;
    let mut seen = [false; 256];
    for share in shares {
        if share.vault_id != first.vault_id {
            return Err(VaultError::ShareVaultMismatch {
                first: first.vault_id.clone(),
                other: share.vault_id.clone(),
            });
        }
        if share.threshold != first.threshold {
            return Err(VaultError::ShareThresholdMismatch {
                first: first.threshold,
                other: share.threshold,
            });
        }
        // The fields are public and could have been edited since parsing: the x coordinate
        // blahaj uses is the data's first byte, so that is what must match and be unique.
        if share.data.first() != Some(&share.index) {
            return Err(VaultError::ShareMalformed(
                "the data part does not match the index part",
            ));
        }
        if let Some(slot) = seen.get_mut(usize::from(share.index)) {
            if *slot {
                return Err(VaultError::ShareDuplicate { index: share.index });
            }
            *slot = true;
        }
    }
    let threshold = first.threshold;
    if shares.len() < usize::from(threshold) {
        return Err(VaultError::ShareTooFew {
            have: shares.len(),
            threshold,
            needed: usize::from(threshold) - shares.len(),
        });
    }
    let points = shares
        .iter()
        .map(|share| blahaj::Share::try_from(share.data.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| VaultError::ShareMalformed("the data part is too short"))?;
    let secret = Zeroizing::new(
        Sharks(threshold)
            .recover(&points)
            .map_err(|_| VaultError::ShareMalformed("the data parts differ in length"))?,
    );
    Key::from_slice(&secret)
}

/// The text form of a share (see the module documentation).
fn share_text(vault_id: &str, threshold: u8, index: u8, data: &[u8]) -> SecretString {
    // Room for everything, so the wiped buffer is never reallocated (which would leave an
    // unwiped copy behind); copied once into the SecretString's exact-size box.
    let capacity = PREFIX.len() + vault_id.len() + 12 + data.len().saturating_mul(2) + 9;
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    text.push_str(PREFIX);
    text.push_str(vault_id);
    // Writing to a String cannot fail.
    let _ = write!(text, "-{threshold}-{index}-");
    URL_SAFE_NO_PAD.encode_string(data, &mut text);
    let checksum = checksum_of(&text);
    text.push('-');
    text.push_str(&checksum);
    SecretString::from(text.as_str())
}

/// The checksum of the text before it: first 8 hex characters of its SHA-256.
fn checksum_of(signed: &str) -> String {
    let mut hex = hex::encode(Sha256::digest(signed.as_bytes()));
    hex.truncate(8);
    hex
}

/// A decimal number from 1 to 16 written without sign or leading zeros.
fn parse_small(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 2 || text.starts_with('0') {
        return None;
    }
    if !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>()
        .ok()
        .filter(|n| (1..=MAX_SHARES).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_numbers_are_strict() {
        assert_eq!(parse_small("3"), Some(3));
        assert_eq!(parse_small("16"), Some(16));
        for bad in ["", "0", "03", "+3", "17", "255", "1a", " 3"] {
            assert_eq!(parse_small(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn vault_ids() {
        assert!(vault_id_ok("prod0001"));
        assert!(vault_id_ok(&"a".repeat(32)));
        for bad in ["short", "Prod0001", "prod-0001", "", &"a".repeat(33)] {
            assert!(!vault_id_ok(bad), "{bad:?}");
        }
    }
}
