//! Parsing one bundle line: a quick path for events in the exact shape the server writes
//! (a small scanner over the JSON text), the full `Deserialize` path for everything
//! else, and hex decoding of hashes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use super::*;
use crate::record::RecordActor;

/// Just enough of a header to name its format and version.
#[derive(Deserialize)]
pub(super) struct HeaderProbe {
    pub(super) header: ProbeFields,
}

#[derive(Deserialize)]
pub(super) struct ProbeFields {
    pub(super) format: String,
    pub(super) version: u32,
}

/// Parses one line, or says why it is not a bundle line.
///
/// Events in the exact shape the server writes take a quick path ([`quick_event`]);
/// everything else, and every line the quick path declines, is parsed by [`Line`]'s own
/// `Deserialize`, which also words the errors.
pub(super) fn parse_line(line: u64, text: &[u8], terminated: bool) -> Result<Line<'_>, Failure> {
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
pub(super) fn quick_event(text: &str) -> Option<Record<'_>> {
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
    pub(super) fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    pub(super) fn literal(&mut self, expected: &str) -> Option<()> {
        self.rest().starts_with(expected.as_bytes()).then(|| {
            self.pos += expected.len();
        })
    }

    /// A string with no escapes and no control characters, borrowed.
    pub(super) fn string(&mut self) -> Option<&'a str> {
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
    pub(super) fn fixed<T>(
        &mut self,
        len: usize,
        read: impl FnOnce(&'a str) -> Option<T>,
    ) -> Option<T> {
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
    pub(super) fn uuid(&mut self) -> Option<Uuid> {
        self.fixed(36, |text| Uuid::try_parse(text).ok())
    }

    /// A hash: 64 hex digits.
    pub(super) fn hash(&mut self) -> Option<Digest> {
        self.fixed(64, |text| decode_hash(text.as_bytes()).map(Digest))
    }

    /// Digits as serde_json reads a non-negative integer: no sign, no leading zero, no
    /// fraction or exponent (the caller checks what follows), within u64.
    pub(super) fn digits(&mut self) -> Option<u64> {
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

    pub(super) fn unsigned(&mut self) -> Option<u64> {
        self.digits()
    }

    /// An i64. serde_json reads `-0` as a float, which an i64 refuses; so does this.
    pub(super) fn signed(&mut self) -> Option<i64> {
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
    pub(super) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
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
pub(super) fn decode_hash(text: &[u8]) -> Option<[u8; 32]> {
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
