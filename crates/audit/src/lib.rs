//! Warden's tamper-evident audit log format, on its own so that an auditor can build the
//! verifier without the server.
//!
//! - [`Record`]: one event, chained to the one before by the SHA-256 of a canonical
//!   encoding.
//! - [`Checkpoint`]: the head of the chain signed with Ed25519 ([`SigningKey`],
//!   [`PublicKey`]).
//! - [`bundle`]: the export format, JSON lines of a header, events and checkpoints.
//! - [`verify`]: checks a bundle offline and names the first thing that is wrong.

pub mod bundle;
mod checkpoint;
mod record;
pub mod verify;

pub use checkpoint::{Checkpoint, KeyError, PublicKey, SigningKey};
pub use record::{Digest, Record, RecordActor};
