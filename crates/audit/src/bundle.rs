//! The export bundle: JSON lines that carry everything needed to verify a stretch of
//! the log without the server.
//!
//! The first line is a [`Header`]; then come events in sequence order, each
//! [`Checkpoint`] right after the event it signs. A bundle written by the server always
//! ends with a checkpoint over its last event, so a tail cut off after a checkpoint is
//! detected.

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::record::{Digest, Record};

/// The `format` every bundle header names.
pub const FORMAT: &str = "warden-audit-bundle";
/// The bundle version this crate writes and reads.
pub const VERSION: u32 = 1;

/// One line of a bundle.
// Lines are parsed one at a time into one value; boxing the large variant would cost an
// allocation per event on the verifier's hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line<'a> {
    /// The first line.
    Header(Header),
    /// An event.
    Event(#[serde(borrow)] Record<'a>),
    /// A signed checkpoint over the event before it.
    Checkpoint(Checkpoint),
}

/// What a bundle is and where it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// When it was written, in Unix milliseconds.
    pub exported_at: i64,
    /// The sequence number of the first event (1 for a whole log).
    pub first_seq: u64,
    /// The hash the first event follows: [`Digest::GENESIS`] for a whole log, else the
    /// hash of the event before the first one exported.
    pub anchor: Digest,
    /// The sequence number of the last event, as the server wrote it.
    pub last_seq: u64,
    /// The keys that signed the checkpoints in the bundle.
    pub public_keys: Vec<PublishedKey>,
}

/// A checkpoint key as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKey {
    /// [`crate::PublicKey::key_id`].
    pub key_id: String,
    /// [`crate::PublicKey::encode`].
    pub public_key: String,
}

impl Header {
    /// A header for a bundle of the events `first_seq..=last_seq`, following `anchor`.
    pub fn new(
        exported_at: i64,
        first_seq: u64,
        anchor: Digest,
        last_seq: u64,
        public_keys: Vec<PublishedKey>,
    ) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            exported_at,
            first_seq,
            anchor,
            last_seq,
            public_keys,
        }
    }
}

/// Writes one line (JSON and a newline) to `out`.
pub fn write_line(out: &mut Vec<u8>, line: &Line<'_>) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *out, line)?;
    out.push(b'\n');
    Ok(())
}
