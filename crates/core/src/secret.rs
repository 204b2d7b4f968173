//! Random secrets. Every secret Warden makes comes from the operating system's random
//! source and is held in a [`SecretString`], whose `Debug` prints a placeholder.

pub use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The operating system's random source failed; nothing secret can be made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the system random source failed: {0}")]
pub struct RandomError(#[source] getrandom::Error);

/// Fills a fresh buffer of `N` random bytes, wiped when dropped.
pub fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, RandomError> {
    let mut buf = Zeroizing::new([0u8; N]);
    getrandom::fill(buf.as_mut()).map_err(RandomError)?;
    Ok(buf)
}

/// Letters and digits without the look-alikes `0 O 1 l I`, so a password read off a
/// screen is typed right the first time.
const PASSWORD_ALPHABET: &[u8] = b"23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// A random password of `len` characters from a safe alphabet, drawn without modulo bias.
pub fn generate_password(len: usize) -> Result<SecretString, RandomError> {
    let alphabet_len = PASSWORD_ALPHABET.len();
    // Largest multiple of the alphabet size that fits in a byte: bytes at or above it are
    // thrown away so every character is equally likely.
    let limit = 256 - (256 % alphabet_len);
    let mut out = Zeroizing::new(String::with_capacity(len));
    while out.len() < len {
        let bytes = random_bytes::<64>()?;
        for &b in bytes.iter() {
            if out.len() == len {
                break;
            }
            if usize::from(b) >= limit {
                continue;
            }
            if let Some(&c) = PASSWORD_ALPHABET.get(usize::from(b) % alphabet_len) {
                out.push(char::from(c));
            }
        }
    }
    Ok(SecretString::from(out.as_str()))
}

/// Lower-case hexadecimal of `bytes`, as digests are shown.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn passwords_have_the_length_and_alphabet_asked_for() {
        let pw = generate_password(24).unwrap();
        assert_eq!(pw.expose_secret().len(), 24);
        assert!(
            pw.expose_secret()
                .bytes()
                .all(|b| PASSWORD_ALPHABET.contains(&b))
        );
    }

    #[test]
    fn passwords_differ() {
        let seen: HashSet<String> = (0..50)
            .map(|_| generate_password(20).unwrap().expose_secret().to_owned())
            .collect();
        assert_eq!(seen.len(), 50);
    }

    #[test]
    fn hex_is_lower_case_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let pw = generate_password(24).unwrap();
        assert!(!format!("{pw:?}").contains(pw.expose_secret()));
    }
}
