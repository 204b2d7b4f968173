//! The one error type of the vault crate, [`VaultError`].
//!
//! Messages say what is wrong in words a key holder or an operator can act on. None of them
//! ever carries key bytes, plaintext, share data or any other secret: where a parser of
//! secret text fails (a key file, a share), the message names the part that is wrong, not
//! its content.

use thiserror::Error;

/// What went wrong in the vault's cryptography.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The operating system's random source failed; nothing was generated.
    #[error("the system random source failed: {0}")]
    Random(getrandom::Error),

    /// Key bytes of the wrong length were given.
    #[error("a vault key is 32 bytes, got {got}")]
    KeyLength {
        /// How many bytes were given.
        got: usize,
    },

    /// The text form of an unseal key could not be read; the reason names the part that is
    /// wrong, never the key text.
    #[error("this is not a usable Warden unseal key: {0}")]
    KeyText(&'static str),

    /// The envelope is shorter than the smallest envelope of its format (it was cut short,
    /// or is not an envelope at all).
    #[error("the envelope is too short: {len} bytes, a sealed envelope has at least {min}")]
    EnvelopeTooShort {
        /// Length of what was given.
        len: usize,
        /// Smallest possible envelope length.
        min: usize,
    },

    /// The envelope does not start with the magic bytes `WV`.
    #[error("this is not a Warden vault envelope (it does not start with \"WV\")")]
    EnvelopeMagic,

    /// The envelope is of a format version this code does not know.
    #[error("unknown vault envelope format version {0} (this build knows version 1)")]
    EnvelopeFormat(u8),

    /// The object id is too long to be encoded (more than 4 GiB).
    #[error("the object id is too long to seal ({len} bytes)")]
    ObjectIdTooLong {
        /// Its length in bytes.
        len: usize,
    },

    /// The plaintext is too long for one XChaCha20-Poly1305 message (256 GiB).
    #[error("the plaintext is too long to seal in one envelope")]
    PlaintextTooLong,

    /// Authentication failed. On purpose this does not say why: the key may be the wrong
    /// one, the object id, version or purpose may not be those it was sealed for, or the
    /// envelope may have been altered.
    #[error(
        "the envelope could not be opened: wrong key, not sealed for this object, version and \
         purpose, or altered"
    )]
    Decrypt,

    /// A share's checksum does not match its text: it was mistyped or cut short.
    #[error("the share's checksum does not match: the share is mistyped or incomplete")]
    ShareChecksum,

    /// A share's text is not in the share format; the reason names the part that is wrong.
    #[error("this is not a well-formed vault share: {0}")]
    ShareMalformed(&'static str),

    /// No share was given to combine.
    #[error("no shares were given")]
    ShareNone,

    /// Shares of two different vaults were given together.
    #[error("the shares belong to different vaults ({first} and {other})")]
    ShareVaultMismatch {
        /// Vault id of the first share.
        first: String,
        /// The first different vault id seen.
        other: String,
    },

    /// Shares with different thresholds were given together (they come from different
    /// splits).
    #[error(
        "the shares come from different splits (thresholds {first} and {other}): use shares \
         of one split only"
    )]
    ShareThresholdMismatch {
        /// Threshold of the first share.
        first: u8,
        /// The first different threshold seen.
        other: u8,
    },

    /// The same share (same index) was given twice.
    #[error("share number {index} was given twice")]
    ShareDuplicate {
        /// The repeated index.
        index: u8,
    },

    /// Fewer distinct shares than the threshold were given.
    #[error("{needed} more share(s) needed: {have} given, the threshold is {threshold}")]
    ShareTooFew {
        /// Distinct shares given.
        have: usize,
        /// Shares the split requires.
        threshold: u8,
        /// How many more are needed.
        needed: usize,
    },

    /// The parameters of a split are refused; the reason says which rule they break.
    #[error("cannot split the key: {0}")]
    SplitParams(String),

    /// A vault id is not 8 to 32 characters of `a-z` and `0-9`.
    #[error(
        "a vault id is 8 to 32 characters, each a-z or 0-9 (the one given is {len} characters \
         long)"
    )]
    VaultId {
        /// Length of the id given.
        len: usize,
    },

    /// A password policy asks for a length outside 16..=128.
    #[error("a generated password is {min} to {max} characters long, {length} was asked for")]
    PasswordPolicy {
        /// Length asked for.
        length: usize,
        /// Shortest allowed.
        min: usize,
        /// Longest allowed.
        max: usize,
    },
}

impl From<getrandom::Error> for VaultError {
    fn from(err: getrandom::Error) -> Self {
        VaultError::Random(err)
    }
}
