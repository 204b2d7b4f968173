//! Offline verification of an export bundle: reads it line by line, checks the header,
//! every event's hash and link, and every checkpoint's signature and position, and names
//! the first thing that is wrong, by event sequence number and bundle line.
//!
//! The [`Verifier`] holds a fixed amount of state whatever the number of events: the head
//! of the chain, the last checkpoint, the header's keys and one line of lookahead used to
//! tell an inserted event from the genuine one and a reordering from a removal. The rules
//! and what each [`Failure`] means are described in `docs/audit-format.md`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Read as _};

use serde::Deserialize;
use uuid::Uuid;

use crate::bundle::{self, Header, Line};
use crate::checkpoint::{Checkpoint, PublicKey};
use crate::record::{Digest, Record, RecordActor};

/// How often [`verify_reader`] reports progress, in bytes read.
const PROGRESS_EVERY: u64 = 64 * 1024;
/// The longest line [`verify_reader`] accepts, so that a hostile file cannot exhaust
/// memory with one endless line. Real lines are a few hundred bytes.
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// What the verifier trusts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The server's checkpoint key, obtained apart from the bundle. With it, every
    /// checkpoint must be signed by this key; without it, by a key the bundle's own header
    /// lists, which proves integrity only against someone who cannot re-sign.
    pub pinned_key: Option<PublicKey>,
}

/// What a bundle that verified holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The first event's sequence number, from the header.
    pub first_seq: u64,
    /// The last event's sequence number, from the header (below `first_seq` for an empty
    /// export).
    pub last_seq: u64,
    /// How many events the bundle holds.
    pub events: u64,
    /// How many checkpoints the bundle holds.
    pub checkpoints: u64,
    /// The last checkpoint: the sequence number it signs, when it was signed (Unix
    /// milliseconds) and the id of the key that signed it.
    pub last_checkpoint: Option<(u64, i64, String)>,
    /// Whether the signatures were checked against a pinned key rather than the keys the
    /// bundle carries.
    pub key_pinned: bool,
}

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

/// What the header fixed.
#[derive(Debug)]
struct Start {
    first_seq: u64,
    last_seq: u64,
    anchor: Digest,
}

/// An accepted event.
#[derive(Debug, Clone, Copy)]
struct Head {
    seq: u64,
    hash: Digest,
    line: u64,
}

/// A problem found whose description depends on the next line.
#[derive(Debug)]
enum Pending {
    /// An event numbered past the expected one: a removal, unless the next event fills
    /// the gap, which makes it a reordering.
    Gap { expected: u64, seq: u64, line: u64 },
    /// An event numbered like the one before it: whichever of the two the next line
    /// follows is genuine, the other was inserted.
    Duplicate { first: Head, second: Head },
}

/// Checks a bundle fed to it line by line; see the module documentation.
#[derive(Debug)]
pub struct Verifier {
    /// The pinned key and its id.
    pinned: Option<(String, PublicKey)>,
    /// The header, once read.
    start: Option<Start>,
    /// The header's keys by id.
    keys: Vec<(String, PublicKey)>,
    /// The sequence number the next event must carry.
    expected_seq: u64,
    /// The previous hash the next event must carry.
    expected_prev: Digest,
    /// The last accepted event.
    last_event: Option<Head>,
    /// The last checkpoint: the sequence number it signs, its time and key id.
    last_checkpoint: Option<(u64, i64, String)>,
    events: u64,
    checkpoints: u64,
    pending: Option<Pending>,
    /// The first failure, returned again if the caller goes on.
    failed: Option<Failure>,
    /// Scratch space for canonical encodings.
    buf: Vec<u8>,
}

impl Verifier {
    /// A verifier waiting for the header line.
    pub fn new(options: Options) -> Self {
        Self {
            pinned: options.pinned_key.map(|key| (key.key_id(), key)),
            start: None,
            keys: Vec::new(),
            expected_seq: 0,
            expected_prev: Digest::GENESIS,
            last_event: None,
            last_checkpoint: None,
            events: 0,
            checkpoints: 0,
            pending: None,
            failed: None,
            buf: Vec::with_capacity(512),
        }
    }

    /// Feeds one line of the bundle (without its newline); `line_no` is 1-based.
    pub fn line(&mut self, line_no: u64, text: &[u8]) -> Result<(), Failure> {
        self.feed(line_no, text, true)
    }

    /// Feeds the bundle's last line when it did not end with a newline: if it stops in
    /// the middle of its JSON, the bundle was cut off ([`Failure::Truncated`]).
    pub fn unterminated_line(&mut self, line_no: u64, text: &[u8]) -> Result<(), Failure> {
        self.feed(line_no, text, false)
    }

    /// Ends the bundle: checks the tail.
    pub fn finish(mut self) -> Result<Summary, Failure> {
        if let Some(failure) = self.failed.take() {
            return Err(failure);
        }
        if let Some(pending) = self.pending.take() {
            return Err(self.resolve(pending, None));
        }
        let Some(start) = &self.start else {
            return Err(Failure::Empty);
        };
        if start.last_seq >= start.first_seq {
            let Some(last) = self.last_event else {
                return Err(Failure::NoEvents {
                    first_seq: start.first_seq,
                    last_seq: start.last_seq,
                });
            };
            // Events past `last_seq` were refused as they came, so the last is not above.
            if last.seq != start.last_seq {
                return Err(Failure::TruncatedTail {
                    last_seq: start.last_seq,
                    events_end: last.seq,
                    line: last.line,
                });
            }
            match &self.last_checkpoint {
                None => return Err(Failure::NoCheckpoint { last_seq: last.seq }),
                Some((signed, _, _)) if *signed != last.seq => {
                    return Err(Failure::UnsignedTail {
                        last_checkpoint: *signed,
                        last_seq: last.seq,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(Summary {
            first_seq: start.first_seq,
            last_seq: start.last_seq,
            events: self.events,
            checkpoints: self.checkpoints,
            last_checkpoint: self.last_checkpoint,
            key_pinned: self.pinned.is_some(),
        })
    }

    fn feed(&mut self, line_no: u64, text: &[u8], terminated: bool) -> Result<(), Failure> {
        if let Some(failure) = &self.failed {
            return Err(failure.clone());
        }
        let result = self.step(line_no, text, terminated);
        if let Err(failure) = &result {
            self.failed = Some(failure.clone());
        }
        result
    }

    fn step(&mut self, line_no: u64, text: &[u8], terminated: bool) -> Result<(), Failure> {
        if self.start.is_none() {
            return self.header(line_no, text, terminated);
        }
        let line = match parse_line(line_no, text, terminated) {
            Ok(line) => line,
            Err(failure) => {
                if let Some(pending) = self.pending.take() {
                    return Err(self.resolve(pending, None));
                }
                return Err(failure);
            }
        };
        if let Some(pending) = self.pending.take() {
            return Err(self.resolve(pending, Some(&line)));
        }
        match &line {
            Line::Event(record) => self.event(line_no, record),
            Line::Checkpoint(checkpoint) => self.checkpoint(line_no, checkpoint),
            Line::Header(_) => Err(Failure::ExtraHeader { line: line_no }),
        }
    }

    fn header(&mut self, line_no: u64, text: &[u8], terminated: bool) -> Result<(), Failure> {
        let header = match parse_line(line_no, text, terminated) {
            Ok(Line::Header(header)) => header,
            Ok(Line::Event(_)) => {
                return Err(Failure::NoHeader {
                    line: line_no,
                    reason: "it is an event".to_owned(),
                });
            }
            Ok(Line::Checkpoint(_)) => {
                return Err(Failure::NoHeader {
                    line: line_no,
                    reason: "it is a checkpoint".to_owned(),
                });
            }
            Err(failure) => {
                // A header of another format or version may not parse as this one; say
                // which it is rather than what field it lacks.
                if let Ok(probe) = serde_json::from_slice::<HeaderProbe>(text) {
                    let HeaderProbe {
                        header: ProbeFields { format, version },
                    } = probe;
                    if format != bundle::FORMAT || version != bundle::VERSION {
                        return Err(Failure::WrongFormat {
                            line: line_no,
                            format,
                            version,
                        });
                    }
                }
                return Err(match failure {
                    Failure::Malformed { line, reason } => Failure::NoHeader { line, reason },
                    other => other,
                });
            }
        };
        let Header {
            format,
            version,
            first_seq,
            anchor,
            last_seq,
            public_keys,
            exported_at: _,
        } = header;
        if format != bundle::FORMAT || version != bundle::VERSION {
            return Err(Failure::WrongFormat {
                line: line_no,
                format,
                version,
            });
        }
        let bad = |reason: String| Failure::BadHeader {
            line: line_no,
            reason,
        };
        if first_seq == 0 {
            return Err(bad(
                "first_seq is 0, but events are numbered from 1".to_owned()
            ));
        }
        if first_seq == 1 && anchor != Digest::GENESIS {
            return Err(bad(format!(
                "the bundle starts at event 1, so its anchor must be the genesis hash (64 \
                 zeros), not {anchor}"
            )));
        }
        for published in public_keys {
            let key = PublicKey::parse(&published.public_key).map_err(|e| {
                bad(format!(
                    "public key {:?} cannot be read: {e}",
                    published.key_id
                ))
            })?;
            let key_id = key.key_id();
            if key_id != published.key_id {
                return Err(bad(format!(
                    "public key {} is listed under the id {:?}, but its id is {key_id}",
                    published.public_key, published.key_id
                )));
            }
            self.keys.push((key_id, key));
        }
        self.expected_seq = first_seq;
        self.expected_prev = anchor;
        self.start = Some(Start {
            first_seq,
            last_seq,
            anchor,
        });
        Ok(())
    }

    fn event(&mut self, line: u64, record: &Record<'_>) -> Result<(), Failure> {
        let seq = record.seq;
        if record.compute_hash_with(&mut self.buf) != record.hash {
            return Err(Failure::Altered { seq, line });
        }
        let this = Head {
            seq,
            hash: record.hash,
            line,
        };
        if let Some(prev) = self.last_event
            && prev.seq == seq
        {
            self.pending = Some(Pending::Duplicate {
                first: prev,
                second: this,
            });
            return Ok(());
        }
        if seq > self.expected_seq {
            self.pending = Some(Pending::Gap {
                expected: self.expected_seq,
                seq,
                line,
            });
            return Ok(());
        }
        if seq < self.expected_seq {
            return Err(match (&self.last_event, &self.start) {
                (None, Some(start)) => Failure::BeforeStart {
                    seq,
                    line,
                    first_seq: start.first_seq,
                },
                _ => Failure::Reordered {
                    seq,
                    line,
                    expected_seq: self.expected_seq,
                },
            });
        }
        if record.prev_hash != self.expected_prev {
            return Err(match self.last_event {
                Some(prev) => Failure::BrokenLink {
                    seq,
                    line,
                    prev_seq: prev.seq,
                },
                None => Failure::Unanchored { seq, line },
            });
        }
        if let Some(start) = &self.start
            && seq > start.last_seq
        {
            return Err(Failure::PastEnd {
                seq,
                line,
                last_seq: start.last_seq,
            });
        }
        self.last_event = Some(this);
        self.expected_seq = seq.saturating_add(1);
        self.expected_prev = record.hash;
        self.events += 1;
        Ok(())
    }

    fn checkpoint(&mut self, line: u64, checkpoint: &Checkpoint) -> Result<(), Failure> {
        let seq = checkpoint.seq;
        // Authenticate first: the position of a checkpoint nobody signed means nothing.
        let key = match &self.pinned {
            Some((pinned_id, pinned)) => {
                if checkpoint.key_id != *pinned_id {
                    return Err(Failure::WrongKey {
                        seq,
                        line,
                        key_id: checkpoint.key_id.clone(),
                        pinned_key_id: pinned_id.clone(),
                    });
                }
                pinned
            }
            None => match self.keys.iter().find(|(id, _)| *id == checkpoint.key_id) {
                Some((_, key)) => key,
                None => {
                    return Err(Failure::UnknownKey {
                        seq,
                        line,
                        key_id: checkpoint.key_id.clone(),
                    });
                }
            },
        };
        if !key.verifies(checkpoint) {
            return Err(Failure::BadSignature {
                seq,
                line,
                key_id: checkpoint.key_id.clone(),
            });
        }
        if let Some((prev_seq, _, _)) = &self.last_checkpoint
            && seq <= *prev_seq
        {
            return Err(Failure::CheckpointOrder {
                seq,
                line,
                prev_seq: *prev_seq,
            });
        }
        // The event it must sign: the last one accepted, or before any, the anchor (a
        // checkpoint may sign the head a bundle starts from).
        let head = match (self.last_event, &self.start) {
            (Some(event), _) => Some((event.seq, event.hash)),
            (None, Some(start)) => start.first_seq.checked_sub(1).map(|s| (s, start.anchor)),
            (None, None) => None,
        };
        let (head_seq, head_hash) = head.unwrap_or((0, Digest::GENESIS));
        if seq > head_seq {
            return Err(Failure::CheckpointAhead {
                seq,
                line,
                events_end: head_seq,
            });
        }
        if seq < head_seq {
            return Err(Failure::CheckpointMisplaced {
                seq,
                line,
                after_seq: head_seq,
            });
        }
        if checkpoint.hash != head_hash {
            return Err(Failure::CheckpointMismatch { seq, line });
        }
        self.checkpoints += 1;
        self.last_checkpoint = Some((seq, checkpoint.time, checkpoint.key_id.clone()));
        Ok(())
    }

    /// Names a pending problem, using the line after it when there is one.
    fn resolve(&mut self, pending: Pending, next: Option<&Line<'_>>) -> Failure {
        match pending {
            Pending::Gap {
                expected,
                seq,
                line,
            } => {
                let fills = match next {
                    Some(Line::Event(next)) => {
                        (expected..seq).contains(&next.seq) && self.intact(next)
                    }
                    _ => false,
                };
                if fills {
                    Failure::Reordered {
                        seq,
                        line,
                        expected_seq: expected,
                    }
                } else {
                    Failure::Removed {
                        from_seq: expected,
                        to_seq: seq.saturating_sub(1),
                        line,
                    }
                }
            }
            Pending::Duplicate { first, second } => {
                let follows_second = first.hash != second.hash
                    && match next {
                        Some(Line::Event(next)) => {
                            next.prev_hash == second.hash && self.intact(next)
                        }
                        Some(Line::Checkpoint(checkpoint)) => checkpoint.hash == second.hash,
                        _ => false,
                    };
                let inserted = if follows_second { first } else { second };
                Failure::Inserted {
                    seq: inserted.seq,
                    line: inserted.line,
                }
            }
        }
    }

    fn intact(&mut self, record: &Record<'_>) -> bool {
        record.compute_hash_with(&mut self.buf) == record.hash
    }
}

/// Just enough of a header to name its format and version.
#[derive(Deserialize)]
struct HeaderProbe {
    header: ProbeFields,
}

#[derive(Deserialize)]
struct ProbeFields {
    format: String,
    version: u32,
}

/// Parses one line, or says why it is not a bundle line.
///
/// Events in the exact shape the server writes take a quick path ([`quick_event`]);
/// everything else, and every line the quick path declines, is parsed by [`Line`]'s own
/// `Deserialize`, which also words the errors.
fn parse_line(line: u64, text: &[u8], terminated: bool) -> Result<Line<'_>, Failure> {
    let text = std::str::from_utf8(text).map_err(|e| {
        let reason = format!("it is not valid UTF-8 (byte {})", e.valid_up_to() + 1);
        // A multi-byte character cut at the very end is a cut, not bad text.
        if !terminated && e.error_len().is_none() {
            Failure::Truncated { line, reason }
        } else {
            Failure::Malformed { line, reason }
        }
    })?;
    if let Some(record) = quick_event(text) {
        return Ok(Line::Event(record));
    }
    if text.trim().is_empty() {
        return Err(Failure::Malformed {
            line,
            reason: "the line is blank".to_owned(),
        });
    }
    serde_json::from_str::<Line<'_>>(text).map_err(|error| {
        // serde_json appends "at line 1 column N"; the line is always 1 here.
        let message = error.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head);
        let reason = format!("{message}, at column {}", error.column());
        if !terminated && error.is_eof() {
            Failure::Truncated { line, reason }
        } else {
            Failure::Malformed { line, reason }
        }
    })
}

// The quick path. Parsing with `Line`'s `Deserialize` costs more than everything else the
// verifier does together: serde copies every optional text field, the details and both
// hashes into new allocations (it borrows a `Cow` only when that is the field's whole
// type), and the hex decoder branches on every digit. Most lines are events exactly as
// the server writes them: compact JSON, known keys once each, strings without escapes.
// `quick_event` reads only that shape, borrowing every string from the line, and returns
// `None` at the first thing it does not expect (whitespace, an escape, `null`, an unknown
// or repeated key, a number serde would not take), so the line goes to serde instead.
// Whatever it accepts it reads exactly as serde does; the unit tests check this on
// mutated lines. It cannot make a bundle pass that serde would refuse, and a misread
// would show as a hash mismatch, never as a pass.

/// Reads an event line in the server's exact shape; `None` for anything else.
fn quick_event(text: &str) -> Option<Record<'_>> {
    let mut scan = Scan { text, pos: 0 };
    scan.literal("{\"event\":")?;
    let mut seq = None;
    let mut id = None;
    let mut time = None;
    let mut actor = None;
    let mut action = None;
    let mut target = None;
    let mut outcome = None;
    let mut reason = None;
    let mut resource = None;
    let mut request_id = None;
    let mut grant_id = None;
    let mut risk = None;
    let mut details = None;
    let mut prev_hash = None;
    let mut hash = None;
    scan.object(|scan, key| match key {
        "seq" => once(&mut seq, scan.unsigned()),
        "id" => once(&mut id, scan.uuid()),
        "time" => once(&mut time, scan.signed()),
        "actor" => once(&mut actor, quick_actor(scan)),
        "action" => once(&mut action, scan.string()),
        "target" => once(&mut target, scan.string()),
        "outcome" => once(&mut outcome, scan.string()),
        "reason" => once(&mut reason, scan.string()),
        "resource" => once(&mut resource, scan.string()),
        "request_id" => once(&mut request_id, scan.uuid()),
        "grant_id" => once(&mut grant_id, scan.uuid()),
        "risk" => once(
            &mut risk,
            scan.unsigned().and_then(|n| u32::try_from(n).ok()),
        ),
        "details" => once(&mut details, quick_details(scan)),
        "prev_hash" => once(&mut prev_hash, scan.hash()),
        "hash" => once(&mut hash, scan.hash()),
        _ => None,
    })?;
    scan.literal("}")?;
    if scan.pos != text.len() {
        return None;
    }
    Some(Record {
        seq: seq?,
        id: id?,
        time: time?,
        actor: actor.unwrap_or_default(),
        action: Cow::Borrowed(action?),
        target: target.map(Cow::Borrowed),
        outcome: Cow::Borrowed(outcome?),
        reason: reason.map(Cow::Borrowed),
        resource: resource.map(Cow::Borrowed),
        request_id,
        grant_id,
        risk,
        details: details.unwrap_or_default(),
        prev_hash: prev_hash?,
        hash: hash?,
    })
}

fn quick_actor<'a>(scan: &mut Scan<'a>) -> Option<RecordActor<'a>> {
    let mut user = None;
    let mut token = None;
    let mut ip = None;
    let mut user_agent = None;
    scan.object(|scan, key| match key {
        "user" => once(&mut user, scan.string()),
        "token" => once(&mut token, scan.uuid()),
        "ip" => once(&mut ip, scan.string()),
        "user_agent" => once(&mut user_agent, scan.string()),
        _ => None,
    })?;
    Some(RecordActor {
        user: user.map(Cow::Borrowed),
        token,
        ip: ip.map(Cow::Borrowed),
        user_agent: user_agent.map(Cow::Borrowed),
    })
}

fn quick_details<'a>(scan: &mut Scan<'a>) -> Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>> {
    let mut details = BTreeMap::new();
    scan.object(|scan, key| {
        let value = scan.string()?;
        // serde keeps the last of repeated keys; leave that case to it.
        details
            .insert(Cow::Borrowed(key), Cow::Borrowed(value))
            .is_none()
            .then_some(())
    })?;
    Some(details)
}

/// Sets `slot` to `value` unless it was set before or there is no value.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// A position in a line for the quick path. Every method returns `None` when the text
/// there is not what it reads, leaving the position unspecified.
struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    fn literal(&mut self, expected: &str) -> Option<()> {
        self.rest().starts_with(expected.as_bytes()).then(|| {
            self.pos += expected.len();
        })
    }

    /// A string with no escapes and no control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.literal("\"")?;
        let len = self
            .rest()
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let end = self.pos + len;
        if self.text.as_bytes().get(end) != Some(&b'"') {
            return None;
        }
        let value = self.text.get(self.pos..end)?;
        self.pos = end + 1;
        Some(value)
    }

    /// A string of exactly `len` bytes read by `read`, which must refuse quotes,
    /// backslashes and control characters (hex and UUID parsers do).
    fn fixed<T>(&mut self, len: usize, read: impl FnOnce(&'a str) -> Option<T>) -> Option<T> {
        let start = self.pos + 1;
        let end = start + len;
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') || bytes.get(end) != Some(&b'"') {
            return None;
        }
        let value = read(self.text.get(start..end)?)?;
        self.pos = end + 1;
        Some(value)
    }

    /// A UUID in its hyphenated form.
    fn uuid(&mut self) -> Option<Uuid> {
        self.fixed(36, |text| Uuid::try_parse(text).ok())
    }

    /// A hash: 64 hex digits.
    fn hash(&mut self) -> Option<Digest> {
        self.fixed(64, |text| decode_hash(text.as_bytes()).map(Digest))
    }

    /// Digits as serde_json reads a non-negative integer: no sign, no leading zero, no
    /// fraction or exponent (the caller checks what follows), within u64.
    fn digits(&mut self) -> Option<u64> {
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        let digits = rest.get(..len)?;
        if digits.is_empty() || (digits.len() > 1 && digits.first() == Some(&b'0')) {
            return None;
        }
        let mut value = 0u64;
        for digit in digits {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        self.pos += len;
        Some(value)
    }

    fn unsigned(&mut self) -> Option<u64> {
        self.digits()
    }

    /// An i64. serde_json reads `-0` as a float, which an i64 refuses; so does this.
    fn signed(&mut self) -> Option<i64> {
        if self.literal("-").is_some() {
            match self.digits()? {
                0 => None,
                magnitude if magnitude == 1 << 63 => Some(i64::MIN),
                magnitude => i64::try_from(magnitude).ok().map(|m| -m),
            }
        } else {
            i64::try_from(self.digits()?).ok()
        }
    }

    /// An object: calls `field` with each key, positioned at its value, which `field`
    /// must read.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.literal("{")?;
        if self.literal("}").is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.literal(":")?;
            field(self, key)?;
            if self.literal(",").is_none() {
                return self.literal("}");
            }
        }
    }
}

/// The value of each byte as a hex digit, or 0xff.
// Evaluated by the compiler: an index out of bounds fails the build, never a run.
#[allow(clippy::indexing_slicing)]
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decodes 64 hex digits (either case) without a branch per digit.
fn decode_hash(text: &[u8]) -> Option<[u8; 32]> {
    let text: &[u8; 64] = text.try_into().ok()?;
    let digit = |c: u8| HEX_DIGITS.get(usize::from(c)).copied().unwrap_or(0xff);
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = match pair {
            [high, low] => (digit(*high), digit(*low)),
            _ => (0xff, 0xff),
        };
        invalid |= high | low;
        *byte = (high << 4) | low;
    }
    (invalid & 0xf0 == 0).then_some(out)
}

/// Verifies a whole bundle from `reader`, calling `progress` with the number of bytes read
/// so far about every 64 KiB and once at the end.
pub fn verify_reader<R: BufRead>(
    mut reader: R,
    options: Options,
    mut progress: impl FnMut(u64),
) -> Result<Summary, Failure> {
    let mut verifier = Verifier::new(options);
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    let mut bytes = 0u64;
    let mut reported = 0u64;
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Failure::Read {
                line: line_no + 1,
                reason: e.to_string(),
            })?;
        if read == 0 {
            break;
        }
        line_no += 1;
        bytes += read as u64;
        match buf.strip_suffix(b"\n") {
            Some(text) => verifier.line(line_no, text)?,
            None if read as u64 > MAX_LINE_BYTES => {
                return Err(Failure::Malformed {
                    line: line_no,
                    reason: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            None => verifier.unterminated_line(line_no, &buf)?,
        }
        if bytes - reported >= PROGRESS_EVERY {
            progress(bytes);
            reported = bytes;
        }
    }
    progress(bytes);
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Record<'static> {
        let mut r = Record {
            seq: 0,
            id: Uuid::from_u128(7),
            time: -1_700_000_000_123,
            actor: RecordActor {
                user: Some("al\"ice\\ é 😀".into()),
                token: Some(Uuid::from_u128(9)),
                ip: Some("::1".into()),
                user_agent: Some("curl/8\n\t\u{1}".into()),
            },
            action: "grant.revoke".into(),
            target: Some("grant:1".into()),
            outcome: "success".into(),
            reason: Some(String::new().into()),
            resource: Some("pg-prod".into()),
            request_id: Some(Uuid::from_u128(3)),
            grant_id: Some(Uuid::from_u128(1)),
            risk: Some(u32::MAX),
            details: [
                ("ro\"le".into(), "app_read".into()),
                ("b".into(), "".into()),
            ]
            .into_iter()
            .collect(),
            prev_hash: Digest::GENESIS,
            hash: Digest::GENESIS,
        };
        r.seal_after(41, Digest([0xa5; 32]));
        r
    }

    fn bare() -> Record<'static> {
        let mut r = full();
        r.actor = RecordActor::default();
        r.target = None;
        r.reason = None;
        r.resource = None;
        r.request_id = None;
        r.grant_id = None;
        r.risk = None;
        r.details.clear();
        r.seal_after(41, Digest([0xa5; 32]));
        r
    }

    fn line_of(r: Record<'_>) -> String {
        serde_json::to_string(&Line::Event(r)).unwrap()
    }

    /// If the quick path reads `text`, `Line` reads the same record from it.
    fn agrees(text: &str) -> bool {
        let Some(quick) = quick_event(text) else {
            return false;
        };
        match serde_json::from_str::<Line<'_>>(text) {
            Ok(Line::Event(reference)) => assert_eq!(quick, reference, "{text}"),
            other => panic!("the quick path read {text}, serde gives {other:?}"),
        }
        true
    }

    #[test]
    fn the_quick_path_reads_what_the_server_writes() {
        let mut plain = full();
        plain.actor.user = Some("alice é 😀".into());
        plain.actor.user_agent = Some("curl/8".into());
        plain.details = [("role".into(), "app_read".into())].into_iter().collect();
        plain.seal_after(41, plain.prev_hash);
        for r in [plain, bare()] {
            assert!(agrees(&line_of(r)));
        }
        let mut extreme = bare();
        extreme.seq = u64::MAX;
        extreme.time = i64::MIN;
        extreme.risk = Some(u32::MAX);
        assert!(agrees(&line_of(extreme.clone())));
        extreme.time = i64::MAX;
        assert!(agrees(&line_of(extreme)));
        // Escapes go to serde.
        assert!(quick_event(&line_of(full())).is_none());
    }

    #[test]
    fn the_quick_path_declines_what_serde_reads_differently() {
        let line = line_of(bare());
        let cases = [
            line.replace("\"seq\":42", "\"seq\":042"),
            line.replace("\"seq\":42", "\"seq\":42.0"),
            line.replace("\"seq\":42", "\"seq\":4e1"),
            line.replace("\"seq\":42", "\"seq\":-42"),
            line.replace("\"seq\":42", "\"seq\":18446744073709551616"),
            line.replace("\"time\":-1700000000123", "\"time\":-0"),
            line.replace("\"time\":-1700000000123", "\"time\":-9223372036854775809"),
            line.replace("\"time\":-1700000000123", "\"time\":9223372036854775808"),
            line.replace("\"action\"", "\"act\\u0069on\""),
            line.replace(",\"outcome\"", ", \"outcome\""),
            line.replace(",\"outcome\"", ",\"reason\":null,\"outcome\""),
            line.replace(",\"outcome\"", ",\"extra\":1,\"outcome\""),
            line.replace(",\"outcome\"", ",\"action\":\"x\",\"outcome\""),
            line.replace(
                ",\"outcome\"",
                ",\"details\":{\"a\":\"1\",\"a\":\"2\"},\"outcome\"",
            ),
            line.replace(",\"outcome\"", ",\"risk\":4294967296,\"outcome\""),
            format!("{line} "),
        ];
        for case in &cases {
            assert_ne!(case, &line);
            assert!(quick_event(case).is_none(), "{case}");
        }
    }

    #[test]
    fn the_quick_path_agrees_with_serde_on_mutated_lines() {
        let mut r = full();
        r.actor.user = Some("alice".into());
        r.actor.user_agent = Some("curl/8".into());
        r.details = [("role".into(), "app_read".into()), ("b".into(), "".into())]
            .into_iter()
            .collect();
        r.seal_after(41, r.prev_hash);
        let mut lines = vec![line_of(r), line_of(bare())];
        lines.push(lines[1].replace("-1700000000123", "0"));
        let bytes: &[u8] = b"\"\\{}[],: 0179-+.eEaAfFgnul\x01\x7f";
        let mut accepted = 0;
        for line in &lines {
            let original = line.as_bytes();
            for at in 0..original.len() {
                let mut variants = Vec::new();
                for &b in bytes {
                    let mut v = original.to_vec();
                    v[at] = b;
                    variants.push(v.clone());
                    v.insert(at, b);
                    variants.push(v);
                }
                let mut removed = original.to_vec();
                removed.remove(at);
                variants.push(removed);
                for variant in variants {
                    if let Ok(text) = std::str::from_utf8(&variant) {
                        accepted += usize::from(agrees(text));
                    }
                }
            }
        }
        // Some mutations stay valid (another digit, another letter in a text).
        assert!(accepted > 1_000, "{accepted}");
    }

    #[test]
    fn text_without_escapes_is_borrowed() {
        let mut r = full();
        r.actor.user = Some("alice".into());
        r.actor.user_agent = Some("curl/8".into());
        r.details = [("role".into(), "app_read".into())].into_iter().collect();
        r.seal_after(41, r.prev_hash);
        let text = serde_json::to_string(&Line::Event(r)).unwrap();
        let Some(r) = quick_event(&text) else {
            panic!("{text}")
        };
        let borrowed = |c: &Option<Cow<'_, str>>| matches!(c, Some(Cow::Borrowed(_)));
        assert!(borrowed(&r.actor.user) && borrowed(&r.actor.ip) && borrowed(&r.actor.user_agent));
        assert!(borrowed(&r.target) && borrowed(&r.reason) && borrowed(&r.resource));
        assert!(matches!(r.action, Cow::Borrowed(_)) && matches!(r.outcome, Cow::Borrowed(_)));
        assert!(
            r.details
                .iter()
                .all(|(k, v)| matches!((k, v), (Cow::Borrowed(_), Cow::Borrowed(_))))
        );
        assert!(r.is_intact());
    }

    #[test]
    fn hash_decoding_matches_digest_from_hex() {
        let base = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
        assert_eq!(
            decode_hash(base.as_bytes()).map(Digest),
            Digest::from_hex(base).ok()
        );
        for byte in 0..=255u8 {
            for at in [0, 1, 63] {
                let mut text = base.as_bytes().to_vec();
                text[at] = byte;
                let reference = std::str::from_utf8(&text)
                    .ok()
                    .and_then(|t| Digest::from_hex(t).ok());
                assert_eq!(decode_hash(&text).map(Digest), reference, "{byte} at {at}");
            }
        }
        assert_eq!(decode_hash(&base.as_bytes()[1..]), None);
        assert_eq!(decode_hash(b""), None);
    }

    #[test]
    fn lines_that_are_not_text_or_are_cut_say_so() {
        let text = serde_json::to_string(&Line::Event(full())).unwrap();
        // Cut inside the 4-byte emoji: a cut when it is the unterminated last line.
        let at = text.find('😀').unwrap() + 2;
        let cut = &text.as_bytes()[..at];
        assert!(matches!(
            parse_line(3, cut, false),
            Err(Failure::Truncated { line: 3, .. })
        ));
        assert!(matches!(
            parse_line(3, cut, true),
            Err(Failure::Malformed { line: 3, .. })
        ));
        let mut bad = text.into_bytes();
        bad[at - 2] = 0xff;
        assert!(matches!(
            parse_line(3, &bad, false),
            Err(Failure::Malformed { line: 3, .. })
        ));
    }
}
