//! The cryptography of Warden's credential vault, on its own: no I/O, no database, no other
//! Warden crate.
//!
//! - [`Key`], [`KeyId`]: 256-bit keys, wiped on drop, shown only by fingerprint.
//! - [`seal`], [`open`], [`envelope_key_id`]: the versioned XChaCha20-Poly1305 envelope,
//!   whose associated data binds the [`Purpose`], the object id, its version and the key id.
//! - [`split`], [`combine`], [`Share`]: Shamir shares of the unseal key (blahaj) in a text
//!   form with a checksum against typing mistakes.
//! - [`generate`], [`PasswordPolicy`]: passwords for vaulted accounts, safe to use unquoted.
//! - [`VaultError`]: every error, none carrying secret bytes.
//!
//! The byte and text formats are specified in `crates/vault/FORMAT.md`.

pub mod envelope;
pub mod error;
pub mod key;
pub mod password;
pub mod shares;

pub use envelope::{Purpose, envelope_key_id, open, seal};
pub use error::VaultError;
pub use key::{Key, KeyId};
pub use password::{PasswordPolicy, generate};
pub use shares::{Share, combine, split};
