//! Offline verification of an export bundle: reads it line by line, checks the header,
//! every event's hash and link, and every checkpoint's signature and position, and names
//! the first thing that is wrong, by event sequence number and bundle line.
//!
//! The [`Verifier`] holds a fixed amount of state whatever the number of events: the head
//! of the chain, the last checkpoint, the header's keys and one line of lookahead used to
//! tell an inserted event from the genuine one and a reordering from a removal. The rules
//! and what each [`Failure`] means are described in `docs/audit-format.md`.

use std::io::{BufRead, Read as _};

use crate::bundle::{self, Header, Line};
use crate::checkpoint::{Checkpoint, PublicKey};
use crate::record::{Digest, Record};

mod failure;
mod parse;
#[cfg(test)]
mod tests;

pub use failure::Failure;
use parse::{HeaderProbe, ProbeFields, parse_line};

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
