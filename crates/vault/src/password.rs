//! Generated passwords for vaulted accounts.
//!
//! The alphabet is `A-Z`, `a-z`, `0-9` and, when [`PasswordPolicy::symbols`] is set, the
//! four URL-unreserved symbols `-`, `_`, `.` and `~`. Those need no quoting or escaping in a
//! shell, a URL, an SQL string literal, a connection string or a Redis ACL rule, so a
//! generated password can be handed to any target as it is.
//!
//! Each character is drawn uniformly from the alphabet by rejection sampling over bytes of
//! the operating system's random source (no modulo bias). A password is kept only if it has
//! at least one lowercase letter, one uppercase letter, one digit and, with symbols, one
//! symbol, and does not start with `-` (it would read as a command-line option) or `~` (a
//! shell would expand it); otherwise a whole new one is drawn. Rejecting whole candidates
//! keeps the result uniform over the passwords that meet these rules.

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::VaultError;

/// Letters and digits.
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Letters, digits and the URL-unreserved symbols.
const WITH_SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
/// The symbols a password may contain.
pub const SYMBOLS: &[u8] = b"-_.~";

/// Shortest password a policy may ask for.
pub const MIN_LENGTH: usize = 16;
/// Longest password a policy may ask for.
pub const MAX_LENGTH: usize = 128;

/// What a generated password looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Number of characters, 16 to 128.
    pub length: usize,
    /// Whether the symbols `- _ . ~` are used besides letters and digits.
    pub symbols: bool,
}

impl Default for PasswordPolicy {
    /// 24 characters with symbols: about 145 bits.
    fn default() -> Self {
        PasswordPolicy {
            length: 24,
            symbols: true,
        }
    }
}

impl PasswordPolicy {
    /// Checks that the policy can be used.
    ///
    /// # Errors
    /// [`VaultError::PasswordPolicy`] if the length is not 16 to 128.
    pub fn check(&self) -> Result<(), VaultError> {
        if (MIN_LENGTH..=MAX_LENGTH).contains(&self.length) {
            Ok(())
        } else {
            Err(VaultError::PasswordPolicy {
                length: self.length,
                min: MIN_LENGTH,
                max: MAX_LENGTH,
            })
        }
    }
}

/// A new random password following `policy` (see the module documentation for how).
///
/// # Errors
/// [`VaultError::PasswordPolicy`] for a policy that [`PasswordPolicy::check`] refuses;
/// [`VaultError::Random`] if the random source fails.
pub fn generate(policy: &PasswordPolicy) -> Result<SecretString, VaultError> {
    policy.check()?;
    let alphabet = if policy.symbols { WITH_SYMBOLS } else { ALNUM };
    let mut random = RandomBytes::new();
    // One wiped buffer reused for every candidate; its capacity is never exceeded, so it is
    // never reallocated.
    let mut candidate = Zeroizing::new(String::with_capacity(policy.length));
    loop {
        candidate.clear();
        for _ in 0..policy.length {
            candidate.push(char::from(random.pick(alphabet)?));
        }
        if acceptable(candidate.as_bytes(), policy.symbols) {
            return Ok(SecretString::from(candidate.as_str()));
        }
    }
}

/// Whether a candidate meets the class and first-character rules.
fn acceptable(password: &[u8], symbols: bool) -> bool {
    let first_ok = password.first().is_some_and(|c| *c != b'-' && *c != b'~');
    first_ok
        && password.iter().any(u8::is_ascii_lowercase)
        && password.iter().any(u8::is_ascii_uppercase)
        && password.iter().any(u8::is_ascii_digit)
        && (!symbols || password.iter().any(|c| SYMBOLS.contains(c)))
}

/// Bytes from the operating system's random source, fetched a block at a time and wiped
/// when dropped.
struct RandomBytes {
    block: Zeroizing<[u8; 128]>,
    next: usize,
}

impl RandomBytes {
    fn new() -> RandomBytes {
        RandomBytes {
            block: Zeroizing::new([0; 128]),
            next: usize::MAX,
        }
    }

    fn byte(&mut self) -> Result<u8, VaultError> {
        if let Some(&b) = self.block.get(self.next) {
            self.next += 1;
            return Ok(b);
        }
        getrandom::fill(self.block.as_mut_slice())?;
        self.next = 1;
        Ok(self.block.first().copied().unwrap_or_default())
    }

    /// A uniformly drawn element of `alphabet` (1 to 256 elements): bytes at or above the
    /// largest multiple of its length that fits in a byte are drawn again.
    fn pick(&mut self, alphabet: &[u8]) -> Result<u8, VaultError> {
        let n = alphabet.len().clamp(1, 256);
        let limit = 256 - 256 % n;
        loop {
            let b = usize::from(self.byte()?);
            if b < limit {
                return Ok(alphabet.get(b % n).copied().unwrap_or_default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn alphabets() {
        assert_eq!(ALNUM.len(), 62);
        assert_eq!(WITH_SYMBOLS.len(), 66);
        assert!(WITH_SYMBOLS.starts_with(ALNUM) && WITH_SYMBOLS.ends_with(SYMBOLS));
    }

    #[test]
    fn acceptance_rules() {
        assert!(acceptable(b"aA1-", true));
        assert!(acceptable(b"aA1b", false));
        assert!(!acceptable(b"aA1b", true), "no symbol");
        assert!(!acceptable(b"-aA1", true), "leading dash");
        assert!(!acceptable(b"~aA1", true), "leading tilde");
        assert!(!acceptable(b"aa1-", true), "no uppercase");
        assert!(!acceptable(b"AA1-", true), "no lowercase");
        assert!(!acceptable(b"aAb-", true), "no digit");
        assert!(!acceptable(b"", false));
    }

    #[test]
    fn picks_are_roughly_uniform() {
        let mut random = RandomBytes::new();
        let mut counts = [0u32; 66];
        for _ in 0..66_000 {
            let c = random.pick(WITH_SYMBOLS).unwrap();
            let i = WITH_SYMBOLS.iter().position(|a| *a == c).unwrap();
            if let Some(n) = counts.get_mut(i) {
                *n += 1;
            }
        }
        // Expected 1,000 each; 6 standard deviations is about 190.
        assert!(
            counts.iter().all(|n| (800..=1200).contains(n)),
            "{counts:?}"
        );
    }
}
