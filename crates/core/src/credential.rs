//! Credentials of API callers: passwords (Argon2id) and API tokens.
//!
//! An API token reads `wdn_` followed by 64 base64url characters: a 16-byte token id and a
//! 32-byte secret. The id finds the stored record; only the SHA-256 of the secret is
//! stored, and the presented secret is compared with it in constant time. The secret
//! carries 256 bits of entropy, so a fast hash is the right one here: a slow password hash
//! would add nothing but a denial-of-service lever.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::secret::{RandomError, random_bytes};

/// The prefix of every API token, so secret scanners can recognise one.
pub const TOKEN_PREFIX: &str = "wdn_";

/// Why a credential operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    /// The system random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Argon2 refused the hasher's parameters (they are fixed here, so a defect).
    #[error("password hashing failed: {0}")]
    Params(#[source] argon2::Error),
    /// Hashing a password failed (the salt could not be made, say).
    #[error("password hashing failed: {0}")]
    Hash(#[source] argon2::password_hash::Error),
    /// A new password breaks the password rules.
    #[error("password {0}")]
    WeakPassword(&'static str),
}

/// The SHA-256 of a token secret: all that is stored of a token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// Whether `presented` hashes to this value, compared in constant time.
    pub fn matches(&self, presented: &PresentedToken) -> bool {
        Self::of(presented.secret.as_ref()).0.ct_eq(&self.0).into()
    }
}

/// A freshly minted token: the text to hand to its holder once, and what to store.
#[derive(Debug)]
pub struct NewToken {
    /// The token id, the stored record's key.
    pub id: Uuid,
    /// The whole token text, shown once.
    pub text: SecretString,
    /// The hash to store.
    pub hash: TokenHash,
}

/// Mints a token with a fresh id (stamped `at`) and secret.
pub fn mint_token(at: time::OffsetDateTime) -> Result<NewToken, CredentialError> {
    let id = crate::clock::id_at(at);
    let secret = random_bytes::<32>()?;
    let mut raw = Zeroizing::new(Vec::with_capacity(48));
    raw.extend_from_slice(id.as_bytes());
    raw.extend_from_slice(secret.as_ref());
    let text = Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(raw.as_slice())
    ));
    Ok(NewToken {
        id,
        text: SecretString::from(text.as_str()),
        hash: TokenHash::of(secret.as_ref()),
    })
}

/// A token as presented by a caller, split into its id and secret.
pub struct PresentedToken {
    /// The id to look the record up by.
    pub id: Uuid,
    secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PresentedToken {
    /// Splits a presented token; `None` when it is not a well-formed Warden token.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(TOKEN_PREFIX)?;
        let raw = Zeroizing::new(URL_SAFE_NO_PAD.decode(body).ok()?);
        if raw.len() != 48 {
            return None;
        }
        let id = Uuid::from_slice(raw.get(..16)?).ok()?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(raw.get(16..)?);
        Some(Self { id, secret })
    }
}

/// The shortest password a local user may set.
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest password accepted, so hashing cost stays bounded.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Argon2id with the OWASP-recommended minimum: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Result<Argon2<'static>, CredentialError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(CredentialError::Params)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks a new password against the password rules.
pub fn check_new_password(password: &SecretString) -> Result<(), CredentialError> {
    let len = password.expose_secret().chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(CredentialError::WeakPassword(
            "must be at least 12 characters",
        ));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(CredentialError::WeakPassword(
            "must be at most 1024 characters",
        ));
    }
    Ok(())
}

/// Hashes a password into a PHC string (`$argon2id$...`). Slow by design: call it off the
/// async runtime.
pub fn hash_password(password: &SecretString) -> Result<String, CredentialError> {
    hasher()?
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(CredentialError::Hash)
}

/// Verifies a password against a stored PHC string. With `None` (no such user) it hashes
/// against a fixed dummy so that an unknown user costs the same time as a wrong password,
/// and answers `false`.
pub fn verify_password(password: &SecretString, stored: Option<&str>) -> bool {
    let Ok(argon) = hasher() else { return false };
    let candidate = password.expose_secret().as_bytes();
    if candidate.len() > MAX_PASSWORD_LEN {
        return false;
    }
    match stored {
        Some(stored) => argon.verify_password(candidate, stored).is_ok(),
        None => {
            // Same work as a real verification; the result is thrown away.
            let _ = argon.hash_password_with_salt(candidate, b"warden-dummy-salt");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_parses_and_matches_its_hash_only() {
        let token = mint_token(time::OffsetDateTime::UNIX_EPOCH).unwrap();
        let text = token.text.expose_secret();
        assert!(text.starts_with(TOKEN_PREFIX));
        assert_eq!(text.len(), TOKEN_PREFIX.len() + 64);
        let presented = PresentedToken::parse(text).unwrap();
        assert_eq!(presented.id, token.id);
        assert!(token.hash.matches(&presented));

        let other = mint_token(time::OffsetDateTime::UNIX_EPOCH).unwrap();
        assert!(!other.hash.matches(&presented));
    }

    #[test]
    fn tampered_or_malformed_tokens_are_refused() {
        let token = mint_token(time::OffsetDateTime::UNIX_EPOCH).unwrap();
        let text = token.text.expose_secret().to_owned();
        // Flip one character of the secret part: still well-formed, no longer matching.
        let mut chars: Vec<char> = text.chars().collect();
        let last = chars.len() - 2;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        let presented = PresentedToken::parse(&tampered).unwrap();
        assert!(!token.hash.matches(&presented));

        for bad in [
            "",
            "wdn_",
            "Bearer x",
            &text[4..],
            &format!("{text}A"),
            "wdn_!!!!",
        ] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let pw = SecretString::from("correct horse battery");
        let stored = hash_password(&pw).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!stored.contains("correct horse"));
        assert!(verify_password(&pw, Some(&stored)));
        assert!(!verify_password(
            &SecretString::from("wrong horse battery"),
            Some(&stored)
        ));
        assert!(!verify_password(&pw, None));
        assert!(!verify_password(&pw, Some("not a phc string")));
    }

    #[test]
    fn password_rules() {
        assert!(check_new_password(&SecretString::from("short")).is_err());
        assert!(check_new_password(&SecretString::from("twelve chars")).is_ok());
        assert!(check_new_password(&SecretString::from("x".repeat(1025))).is_err());
    }

    #[test]
    fn debug_of_token_parts_hides_secrets() {
        let token = mint_token(time::OffsetDateTime::UNIX_EPOCH).unwrap();
        let shown = format!(
            "{token:?} {:?}",
            PresentedToken::parse(token.text.expose_secret())
        );
        assert!(!shown.contains(&token.text.expose_secret()[4..20]));
    }
}
