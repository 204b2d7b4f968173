//! Validated names. A name is checked once where it enters Warden and is safe to use
//! everywhere after: in a log line, a database key or, later, an identifier on a target.

use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name was empty.
    #[error("must not be empty")]
    Empty,
    /// The name was longer than allowed.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The longest allowed length.
        max: usize,
    },
    /// The name held a character outside its alphabet.
    #[error(
        "character {found:?} is not allowed; use a-z, 0-9, '.', '_', '-' or '@', starting with a letter or digit"
    )]
    BadCharacter {
        /// The first offending character.
        found: char,
    },
}

/// A user name: 1 to 64 characters of `a-z 0-9 . _ - @`, starting with a letter or digit
/// (so an identity provider's `alice@example.com` fits). Upper case is refused rather than folded, so a name means one account.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

impl Username {
    /// The longest user name.
    pub const MAX_LEN: usize = 64;

    /// Checks `raw` and wraps it.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        check_name(raw, Self::MAX_LEN)?;
        Ok(Self(raw.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({:?})", self.0)
    }
}

/// The shared rule for names: a restricted alphabet, a first character that is a letter or
/// digit, and a length bound.
pub(crate) fn check_name(raw: &str, max: usize) -> Result<(), NameError> {
    let mut chars = raw.chars();
    let Some(first) = chars.next() else {
        return Err(NameError::Empty);
    };
    if raw.chars().count() > max {
        return Err(NameError::TooLong { max });
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(NameError::BadCharacter { found: first });
    }
    match chars.find(|c| {
        !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@'))
    }) {
        Some(found) => Err(NameError::BadCharacter { found }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in [
            "alice",
            "a",
            "bob.smith",
            "svc-deploy_2",
            "0day",
            "alice@example.com",
        ] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_separators_quotes_and_case() {
        let cases = [
            ("", NameError::Empty),
            ("Alice", NameError::BadCharacter { found: 'A' }),
            ("deploy,root", NameError::BadCharacter { found: ',' }),
            (
                "a'; drop table users; --",
                NameError::BadCharacter { found: '\'' },
            ),
            ("a\nb", NameError::BadCharacter { found: '\n' }),
            ("-rf", NameError::BadCharacter { found: '-' }),
            (".hidden", NameError::BadCharacter { found: '.' }),
            ("a b", NameError::BadCharacter { found: ' ' }),
            ("ålice", NameError::BadCharacter { found: 'å' }),
        ];
        for (raw, want) in cases {
            assert_eq!(Username::parse(raw).unwrap_err(), want, "{raw:?}");
        }
        assert_eq!(
            Username::parse(&"a".repeat(65)).unwrap_err(),
            NameError::TooLong { max: 64 }
        );
        assert!(Username::parse(&"a".repeat(64)).is_ok());
    }
}
