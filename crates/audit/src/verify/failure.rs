//! What the verifier reports: the first thing found wrong with a bundle, each failure with
//! the event and line it concerns.

use std::fmt;

use super::*;

/// The first thing found wrong with a bundle. Lines are counted from 1. New checks may
/// add variants: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The bundle could not be read.
    #[error("could not read line {line} of the bundle: {reason}")]
    Read {
        /// The line being read.
        line: u64,
        /// The I/O error.
        reason: String,
    },
    /// The bundle has no lines at all.
    #[error("the bundle is empty: it has no header line")]
    Empty,
    /// The first line is not a bundle header.
    #[error(
        "line {line} is not a bundle header ({reason}): the header is missing or this is \
         not a Warden audit bundle"
    )]
    NoHeader {
        /// The first line's number.
        line: u64,
        /// What the line is instead.
        reason: String,
    },
    /// The header names another format or version.
    #[error(
        "line {line} is a header for format {format:?} version {version}, but this verifier \
         reads format {:?} version {}",
        bundle::FORMAT,
        bundle::VERSION
    )]
    WrongFormat {
        /// The header's line.
        line: u64,
        /// The format it names.
        format: String,
        /// The version it names.
        version: u32,
    },
    /// The header's contents are inconsistent.
    #[error("the header (line {line}) is invalid: {reason}")]
    BadHeader {
        /// The header's line.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A header after the first line.
    #[error("line {line} is a second header: a bundle has one, on its first line")]
    ExtraHeader {
        /// Its line.
        line: u64,
    },
    /// A line that is not the JSON of a header, event or checkpoint.
    #[error("line {line} is not a valid bundle line: {reason}")]
    Malformed {
        /// Its line.
        line: u64,
        /// What the JSON parser found.
        reason: String,
    },
    /// The last line stops in the middle and has no newline: the file was cut off.
    #[error("the bundle was truncated: its last line ({line}) is cut off mid-way ({reason})")]
    Truncated {
        /// The last line.
        line: u64,
        /// What the JSON parser found.
        reason: String,
    },
    /// An event whose hash does not match its contents.
    #[error("event {seq} (line {line}) was altered: its contents do not match its hash")]
    Altered {
        /// The event's sequence number (as written, which may itself be altered).
        seq: u64,
        /// Its line.
        line: u64,
    },
    /// The first event does not follow the hash the header anchors the bundle to.
    #[error(
        "event {seq} (line {line}), the first in the bundle, does not follow the bundle's \
         anchor: the event or the header's anchor was altered"
    )]
    Unanchored {
        /// The event's sequence number.
        seq: u64,
        /// Its line.
        line: u64,
    },
    /// An event numbered before the first one the header gives.
    #[error("event {seq} (line {line}) comes before the bundle's first event, {first_seq}")]
    BeforeStart {
        /// The event's sequence number.
        seq: u64,
        /// Its line.
        line: u64,
        /// The header's first sequence number.
        first_seq: u64,
    },
    /// An event numbered after the last one the header gives.
    #[error(
        "event {seq} (line {line}) is past the bundle's last event, {last_seq}, as the header \
         gives it: the header was altered or events were appended"
    )]
    PastEnd {
        /// The event's sequence number.
        seq: u64,
        /// Its line.
        line: u64,
        /// The header's last sequence number.
        last_seq: u64,
    },
    /// Events are missing from the sequence.
    #[error(
        "{} {} missing: the bundle skips to event {} at line {line}, so they were removed",
        Events(*.from_seq, *.to_seq),
        if .from_seq == .to_seq { "is" } else { "are" },
        (*.to_seq).saturating_add(1)
    )]
    Removed {
        /// The first missing sequence number.
        from_seq: u64,
        /// The last missing sequence number.
        to_seq: u64,
        /// The line where the gap shows: the event after the missing ones.
        line: u64,
    },
    /// Two events carry the same sequence number; this is the one the chain does not
    /// run through.
    #[error(
        "event {seq} (line {line}) was inserted: another event has the same sequence number \
         and the chain runs through that one"
    )]
    Inserted {
        /// The duplicated sequence number.
        seq: u64,
        /// The line of the inserted event.
        line: u64,
    },
    /// An event appears where another was expected, and that one comes later.
    #[error(
        "event {seq} (line {line}) is out of order: event {expected_seq} should come there, \
         so events were moved"
    )]
    Reordered {
        /// The event's sequence number.
        seq: u64,
        /// Its line.
        line: u64,
        /// The sequence number expected at that line.
        expected_seq: u64,
    },
    /// An intact event with the right number whose previous hash is not the hash of the
    /// event before it.
    #[error(
        "event {seq} (line {line}) does not follow event {prev_seq}: event {prev_seq} was \
         altered and re-hashed, or an event was inserted or removed there"
    )]
    BrokenLink {
        /// The event's sequence number.
        seq: u64,
        /// Its line.
        line: u64,
        /// The sequence number of the event before it.
        prev_seq: u64,
    },
    /// A checkpoint whose signed hash is not the hash of the event it follows.
    #[error(
        "the checkpoint at line {line} does not match event {seq}: the signed head differs \
         from the events, so events up to {seq} were rewritten"
    )]
    CheckpointMismatch {
        /// The sequence number it signs.
        seq: u64,
        /// Its line.
        line: u64,
    },
    /// A checkpoint that signs an event the bundle has not reached.
    #[error(
        "the checkpoint at line {line} signs event {seq}, but the events before it end at \
         event {events_end}: the events after {events_end} were cut off or removed"
    )]
    CheckpointAhead {
        /// The sequence number it signs.
        seq: u64,
        /// Its line.
        line: u64,
        /// The last event before it (the anchor's number when there is none).
        events_end: u64,
    },
    /// A checkpoint that signs an event other than the one right before it.
    #[error(
        "the checkpoint at line {line} signs event {seq} but comes after event {after_seq}: \
         the checkpoint was moved, or events were inserted after event {seq}"
    )]
    CheckpointMisplaced {
        /// The sequence number it signs.
        seq: u64,
        /// Its line.
        line: u64,
        /// The event it follows.
        after_seq: u64,
    },
    /// A checkpoint that does not advance past the one before it.
    #[error(
        "the checkpoint at line {line} signs event {seq}, which is not after the previous \
         checkpoint's event {prev_seq}: checkpoints were repeated or moved"
    )]
    CheckpointOrder {
        /// The sequence number it signs.
        seq: u64,
        /// Its line.
        line: u64,
        /// The sequence number the previous checkpoint signs.
        prev_seq: u64,
    },
    /// Without a pinned key: a checkpoint signed by a key the header does not list.
    #[error(
        "the checkpoint at line {line} (event {seq}) names key {key_id}, which the header \
         does not list"
    )]
    UnknownKey {
        /// The sequence number it signs.
        seq: u64,
        /// Its line.
        line: u64,
        /// The key id it names.
        key_id: String,
    },
    /// With a pinned key: a checkpoint signed by another key.
    #[error(
        "the checkpoint at line {line} (event {seq}) is signed with the wrong key: key \
         {key_id}, not the pinned key {pinned_key_id}, so the bundle is not the trusted \
         server's"
    )]
    WrongKey {
        /// The sequence number it signs.
        seq: u64,
        /// Its line.
        line: u64,
        /// The key id it names.
        key_id: String,
        /// The pinned key's id.
        pinned_key_id: String,
    },
    /// A checkpoint whose signature does not verify with the key it names.
    #[error(
        "the checkpoint at line {line} (event {seq}) has a signature that does not verify \
         with key {key_id}: the checkpoint was altered or forged"
    )]
    BadSignature {
        /// The sequence number it signs (as written, which may itself be altered).
        seq: u64,
        /// Its line.
        line: u64,
        /// The key it was checked with.
        key_id: String,
    },
    /// The header announces events and the bundle has none.
    #[error(
        "the header says the bundle holds events {first_seq} to {last_seq}, but it has none: \
         they were cut off"
    )]
    NoEvents {
        /// The header's first sequence number.
        first_seq: u64,
        /// The header's last sequence number.
        last_seq: u64,
    },
    /// The events stop before the last one the header gives.
    #[error(
        "the header says the log runs to event {last_seq}, but the events end at event \
         {events_end} (line {line}): the tail was cut off"
    )]
    TruncatedTail {
        /// The header's last sequence number.
        last_seq: u64,
        /// The last event in the bundle.
        events_end: u64,
        /// That event's line.
        line: u64,
    },
    /// The bundle has events and no checkpoint.
    #[error(
        "no checkpoint signs the events, which run to event {last_seq}: nothing proves they \
         are the server's"
    )]
    NoCheckpoint {
        /// The last event in the bundle.
        last_seq: u64,
    },
    /// Events after the last checkpoint.
    #[error(
        "no checkpoint covers {}: the last one signs event {last_checkpoint}, so the \
         bundle's final checkpoint was removed",
        Events((*.last_checkpoint).saturating_add(1), *.last_seq)
    )]
    UnsignedTail {
        /// The sequence number the last checkpoint signs.
        last_checkpoint: u64,
        /// The last event in the bundle.
        last_seq: u64,
    },
}

/// Names a range of events: "event 5" or "events 5 to 9".
struct Events(u64, u64);

impl fmt::Display for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == self.1 {
            write!(f, "event {}", self.0)
        } else {
            write!(f, "events {} to {}", self.0, self.1)
        }
    }
}
