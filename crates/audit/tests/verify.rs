//! The offline verifier against real bundles built in memory: an untouched bundle and a
//! partial (`--since`) one pass, and each kind of tampering fails naming the exact event
//! and line.

// Tests fail loudly: unwrap, expect, panic and indexing are assertions here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;
use std::io::{BufReader, Read};

use uuid::Uuid;
use warden_audit::bundle::{self, Header, Line, PublishedKey};
use warden_audit::verify::{Failure, Options, Summary, Verifier, verify_reader};
use warden_audit::{Checkpoint, Digest, PublicKey, Record, RecordActor, SigningKey};

const EXPORTED_AT: i64 = 1_760_000_000_000;
const ACTIONS: [&str; 6] = [
    "grant.revoke",
    "grant.create",
    "request.approve",
    "request.submit",
    "auth.login",
    "grant.extend",
];

/// A realistic unsealed event number `i`.
fn event(i: u64) -> Record<'static> {
    let action = ACTIONS[(i % ACTIONS.len() as u64) as usize];
    let mut details = std::collections::BTreeMap::new();
    details.insert(Cow::from("role"), Cow::from(format!("app_read_{}", i % 7)));
    if i.is_multiple_of(3) {
        details.insert(Cow::from("ttl"), Cow::from("3600s"));
    }
    Record {
        seq: 0,
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(i)),
        time: 1_700_000_000_000 + i as i64 * 1_250,
        actor: RecordActor {
            user: Some(format!("user{}", i % 13).into()),
            token: i
                .is_multiple_of(4)
                .then(|| Uuid::from_u128(u128::from(i) * 31)),
            ip: Some(format!("10.1.{}.{}", i % 200, i % 250).into()),
            user_agent: Some("warden-cli/0.1.0 (linux; x86_64)".into()),
        },
        action: action.into(),
        target: Some(format!("grant:{}", Uuid::from_u128(u128::from(i) * 7)).into()),
        outcome: if i.is_multiple_of(11) {
            "failure"
        } else {
            "success"
        }
        .into(),
        reason: i
            .is_multiple_of(5)
            .then(|| "on-call: incident \"INC-4711\" follow-up".into()),
        resource: Some(format!("pg-prod-{}", i % 9).into()),
        request_id: Some(Uuid::from_u128(u128::from(i) * 13)),
        grant_id: Some(Uuid::from_u128(u128::from(i) * 17)),
        risk: i.is_multiple_of(2).then_some((i % 100) as u32),
        details,
        prev_hash: Digest::GENESIS,
        hash: Digest::GENESIS,
    }
}

/// Events 1..=n chained from the genesis hash.
fn chain(n: u64) -> Vec<Record<'static>> {
    let mut out: Vec<Record<'static>> = Vec::new();
    for i in 1..=n {
        let (prev_seq, prev_hash) = out.last().map_or((0, Digest::GENESIS), |r| (r.seq, r.hash));
        let mut r = event(i);
        r.seal_after(prev_seq, prev_hash);
        out.push(r);
    }
    out
}

fn published(key: &PublicKey) -> PublishedKey {
    PublishedKey {
        key_id: key.key_id(),
        public_key: key.encode(),
    }
}

fn json(line: &Line<'_>) -> String {
    let mut out = Vec::new();
    bundle::write_line(&mut out, line).unwrap();
    out.pop();
    String::from_utf8(out).unwrap()
}

/// A bundle as its lines (without newlines), built the way the server writes one.
#[derive(Clone)]
struct Bundle {
    lines: Vec<String>,
}

impl Bundle {
    /// Exports `records` (a consecutive stretch of the chain) with a checkpoint every 10
    /// events and one over the last.
    fn export(records: &[Record<'static>], key: &SigningKey) -> Self {
        let first_seq = records.first().map_or(1, |r| r.seq);
        let anchor = records.first().map_or(Digest::GENESIS, |r| r.prev_hash);
        let last_seq = records.last().map_or(0, |r| r.seq);
        let header = Header::new(
            EXPORTED_AT,
            first_seq,
            anchor,
            last_seq,
            vec![published(&key.public())],
        );
        let mut lines = vec![json(&Line::Header(header))];
        for (i, r) in records.iter().enumerate() {
            lines.push(json(&Line::Event(r.clone())));
            if r.seq.is_multiple_of(10) || i + 1 == records.len() {
                lines.push(json(&Line::Checkpoint(sign(key, r))));
            }
        }
        Self { lines }
    }

    fn of(n: u64, key: &SigningKey) -> Self {
        Self::export(&chain(n), key)
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for line in &self.lines {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }

    fn verify(&self) -> Result<Summary, Failure> {
        self.verify_with(Options::default())
    }

    fn verify_with(&self, options: Options) -> Result<Summary, Failure> {
        verify_reader(self.bytes().as_slice(), options, |_| {})
    }

    /// The 1-based line of event `seq` (the first event line carrying it).
    fn line_of(&self, seq: u64) -> u64 {
        self.find(|l| matches!(l, Line::Event(r) if r.seq == seq))
    }

    /// The 1-based line of the checkpoint over `seq`.
    fn checkpoint_line(&self, seq: u64) -> u64 {
        self.find(|l| matches!(l, Line::Checkpoint(c) if c.seq == seq))
    }

    fn find(&self, pred: impl Fn(&Line<'_>) -> bool) -> u64 {
        let i = self
            .lines
            .iter()
            .position(|l| pred(&serde_json::from_str(l).unwrap()))
            .unwrap();
        i as u64 + 1
    }

    fn event(&self, seq: u64) -> Record<'static> {
        match serde_json::from_str::<Line<'_>>(self.text(self.line_of(seq))).unwrap() {
            Line::Event(r) => r.into_owned(),
            _ => unreachable!(),
        }
    }

    fn header(&self) -> Header {
        match serde_json::from_str::<Line<'_>>(&self.lines[0]).unwrap() {
            Line::Header(h) => h,
            _ => unreachable!(),
        }
    }

    fn set_header(&mut self, header: Header) {
        self.lines[0] = json(&Line::Header(header));
    }

    fn text(&self, line: u64) -> &str {
        &self.lines[line as usize - 1]
    }

    fn set_line(&mut self, line: u64, value: &Line<'_>) {
        self.lines[line as usize - 1] = json(value);
    }

    fn remove_line(&mut self, line: u64) -> String {
        self.lines.remove(line as usize - 1)
    }

    /// Inserts `value` so that it becomes line `line`.
    fn insert_line(&mut self, line: u64, value: &Line<'_>) {
        self.lines.insert(line as usize - 1, json(value));
    }
}

fn sign(key: &SigningKey, r: &Record<'_>) -> Checkpoint {
    key.sign(r.seq, r.hash, r.time + 5)
}

fn key() -> SigningKey {
    SigningKey::generate().unwrap()
}

fn pinned(key: &SigningKey) -> Options {
    Options {
        pinned_key: Some(key.public()),
    }
}

#[test]
fn an_untouched_bundle_verifies() {
    let key = key();
    let b = Bundle::of(100, &key);
    let summary = b.verify().unwrap();
    let last_time = b.event(100).time + 5;
    assert_eq!(
        summary,
        Summary {
            first_seq: 1,
            last_seq: 100,
            events: 100,
            checkpoints: 10,
            last_checkpoint: Some((100, last_time, key.public().key_id())),
            key_pinned: false,
        }
    );
    let summary = b.verify_with(pinned(&key)).unwrap();
    assert!(summary.key_pinned);
    assert_eq!(summary.events, 100);
}

#[test]
fn a_bundle_not_ending_on_a_round_number_verifies() {
    let key = key();
    let summary = Bundle::of(37, &key).verify_with(pinned(&key)).unwrap();
    assert_eq!((summary.events, summary.checkpoints), (37, 4));
    assert_eq!(summary.last_checkpoint.map(|c| c.0), Some(37));
}

#[test]
fn a_since_bundle_verifies_from_its_anchor() {
    let key = key();
    let records = chain(100);
    let b = Bundle::export(&records[50..], &key);
    let header = b.header();
    assert_eq!((header.first_seq, header.anchor), (51, records[49].hash));
    let summary = b.verify_with(pinned(&key)).unwrap();
    assert_eq!(
        (
            summary.first_seq,
            summary.last_seq,
            summary.events,
            summary.checkpoints
        ),
        (51, 100, 50, 5)
    );
}

#[test]
fn an_empty_export_verifies() {
    let key = key();
    let records = chain(10);
    let header = Header::new(
        EXPORTED_AT,
        11,
        records[9].hash,
        10,
        vec![published(&key.public())],
    );
    let b = Bundle {
        lines: vec![json(&Line::Header(header))],
    };
    let summary = b.verify().unwrap();
    assert_eq!((summary.events, summary.checkpoints), (0, 0));
    // It may carry a checkpoint over its anchor, the head it was exported at.
    let mut signed = b.clone();
    signed
        .lines
        .push(json(&Line::Checkpoint(sign(&key, &records[9]))));
    let summary = signed.verify_with(pinned(&key)).unwrap();
    assert_eq!(summary.last_checkpoint.map(|c| c.0), Some(10));
}

#[test]
fn the_streaming_api_matches_the_reader() {
    let key = key();
    let b = Bundle::of(25, &key);
    let mut v = Verifier::new(Options::default());
    for (i, line) in b.lines.iter().enumerate() {
        v.line(i as u64 + 1, line.as_bytes()).unwrap();
    }
    assert_eq!(v.finish().unwrap(), b.verify().unwrap());
}

#[test]
fn a_failure_sticks() {
    let key = key();
    let mut b = Bundle::of(20, &key);
    let mut r = b.event(5);
    r.reason = Some("nothing to see".into());
    b.set_line(6, &Line::Event(r));
    let mut v = Verifier::new(Options::default());
    let mut first = None;
    for (i, line) in b.lines.iter().enumerate() {
        if let Err(f) = v.line(i as u64 + 1, line.as_bytes()) {
            first.get_or_insert(f);
        }
    }
    let expected = Failure::Altered { seq: 5, line: 6 };
    assert_eq!(first, Some(expected.clone()));
    assert_eq!(v.finish(), Err(expected));
}

#[test]
fn progress_reaches_the_whole_size() {
    let key = key();
    let b = Bundle::of(1_000, &key);
    let bytes = b.bytes();
    let mut seen = Vec::new();
    verify_reader(bytes.as_slice(), Options::default(), |n| seen.push(n)).unwrap();
    assert!(seen.len() > 2, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(seen.last().copied(), Some(bytes.len() as u64));
}

#[test]
fn a_changed_field_without_rehash_is_altered() {
    let key = key();
    let b = Bundle::of(100, &key);
    for seq in [1, 37, 40, 100] {
        let mut t = b.clone();
        let line = t.line_of(seq);
        let mut r = t.event(seq);
        r.actor.user = Some("mallory".into());
        t.set_line(line, &Line::Event(r));
        assert_eq!(
            t.verify(),
            Err(Failure::Altered { seq, line }),
            "event {seq}"
        );
    }
    // A changed hash alone is an alteration too.
    let mut t = b.clone();
    let line = t.line_of(37);
    let mut r = t.event(37);
    r.hash = Digest([0xab; 32]);
    t.set_line(line, &Line::Event(r));
    assert_eq!(t.verify(), Err(Failure::Altered { seq: 37, line }));
}

#[test]
fn a_changed_field_with_rehash_breaks_the_next_link() {
    let key = key();
    let b = Bundle::of(100, &key);
    let mut t = b.clone();
    let mut r = t.event(37);
    r.outcome = "failure".into();
    r.hash = r.compute_hash();
    t.set_line(t.line_of(37), &Line::Event(r));
    let failure = t.verify().unwrap_err();
    assert_eq!(
        failure,
        Failure::BrokenLink {
            seq: 38,
            line: b.line_of(38),
            prev_seq: 37
        }
    );
    let text = failure.to_string();
    assert!(
        text.contains("event 38") && text.contains("event 37"),
        "{text}"
    );
    assert!(text.contains(&format!("line {}", b.line_of(38))), "{text}");
}

#[test]
fn a_rehashed_event_before_a_checkpoint_mismatches_it() {
    let key = key();
    let b = Bundle::of(100, &key);
    for seq in [40, 100] {
        let mut t = b.clone();
        let mut r = t.event(seq);
        r.details.insert("role".into(), "superuser".into());
        r.hash = r.compute_hash();
        t.set_line(t.line_of(seq), &Line::Event(r));
        assert_eq!(
            t.verify(),
            Err(Failure::CheckpointMismatch {
                seq,
                line: b.checkpoint_line(seq)
            }),
            "event {seq}"
        );
    }
}

#[test]
fn a_rewritten_stretch_is_caught_by_the_next_checkpoint() {
    // Re-hashing from the change onwards mends every link up to the next checkpoint.
    let key = key();
    let b = Bundle::of(100, &key);
    let mut t = b.clone();
    let mut prev = t.event(32).hash;
    for seq in 33..=40 {
        let mut r = t.event(seq);
        if seq == 33 {
            r.target = Some("grant:someone-else".into());
        }
        r.seal_after(seq - 1, prev);
        prev = r.hash;
        t.set_line(t.line_of(seq), &Line::Event(r));
    }
    assert_eq!(
        t.verify(),
        Err(Failure::CheckpointMismatch {
            seq: 40,
            line: b.checkpoint_line(40)
        })
    );
}

#[test]
fn a_deleted_event_is_removed() {
    let key = key();
    let b = Bundle::of(100, &key);
    let mut t = b.clone();
    let line = t.line_of(37);
    t.remove_line(line);
    let failure = t.verify().unwrap_err();
    assert_eq!(
        failure,
        Failure::Removed {
            from_seq: 37,
            to_seq: 37,
            line
        }
    );
    assert!(
        failure.to_string().starts_with("event 37 is missing"),
        "{failure}"
    );
    // Several in a row.
    let mut t = b.clone();
    for _ in 34..=36 {
        t.remove_line(b.line_of(34));
    }
    assert_eq!(
        t.verify(),
        Err(Failure::Removed {
            from_seq: 34,
            to_seq: 36,
            line: b.line_of(34)
        })
    );
    // The first.
    let mut t = b.clone();
    t.remove_line(2);
    assert_eq!(
        t.verify(),
        Err(Failure::Removed {
            from_seq: 1,
            to_seq: 1,
            line: 2
        })
    );
}

#[test]
fn deleting_any_single_event_is_detected_and_named() {
    let key = key();
    let b = Bundle::of(200, &key);
    for seq in 1..=200 {
        let mut t = b.clone();
        let line = t.line_of(seq);
        t.remove_line(line);
        match t.verify() {
            Err(Failure::Removed {
                from_seq,
                to_seq,
                line: at,
            }) => {
                assert_eq!((from_seq, to_seq, at), (seq, seq, line), "event {seq}");
            }
            // The event right before a checkpoint: the checkpoint now follows event seq-1.
            Err(Failure::CheckpointAhead {
                seq: signed,
                line: at,
                events_end,
            }) => {
                assert_eq!(
                    (signed, at, events_end),
                    (seq, line, seq - 1),
                    "event {seq}"
                );
            }
            other => panic!("deleting event {seq}: {other:?}"),
        }
    }
}

#[test]
fn rehashing_any_single_event_is_detected_and_named() {
    let key = key();
    let b = Bundle::of(60, &key);
    for seq in 1..=60 {
        let mut t = b.clone();
        let mut r = t.event(seq);
        r.time += 1;
        r.hash = r.compute_hash();
        t.set_line(t.line_of(seq), &Line::Event(r));
        let expected = if seq.is_multiple_of(10) {
            Failure::CheckpointMismatch {
                seq,
                line: b.checkpoint_line(seq),
            }
        } else {
            Failure::BrokenLink {
                seq: seq + 1,
                line: b.line_of(seq + 1),
                prev_seq: seq,
            }
        };
        assert_eq!(t.verify(), Err(expected), "event {seq}");
    }
}

/// A forged event numbered `seq` that links to the genuine event before it.
fn forged(b: &Bundle, seq: u64) -> Record<'static> {
    let prev = b.event(seq - 1);
    let mut r = b.event(seq);
    r.actor.user = Some("mallory".into());
    r.action = "grant.create".into();
    r.id = Uuid::from_u128(0xbad);
    r.seal_after(prev.seq, prev.hash);
    r
}

#[test]
fn an_inserted_event_is_named_after_the_genuine_one() {
    let key = key();
    let b = Bundle::of(100, &key);
    for seq in [37, 40, 100] {
        let mut t = b.clone();
        let line = b.line_of(seq) + 1;
        t.insert_line(line, &Line::Event(forged(&b, seq)));
        let failure = t.verify().unwrap_err();
        assert_eq!(failure, Failure::Inserted { seq, line }, "event {seq}");
        assert!(
            failure
                .to_string()
                .contains(&format!("event {seq} (line {line})"))
        );
    }
}

#[test]
fn an_inserted_event_is_named_before_the_genuine_one() {
    let key = key();
    let b = Bundle::of(100, &key);
    for seq in [2, 37, 40, 100] {
        let mut t = b.clone();
        let line = b.line_of(seq);
        t.insert_line(line, &Line::Event(forged(&b, seq)));
        assert_eq!(
            t.verify(),
            Err(Failure::Inserted { seq, line }),
            "event {seq}"
        );
    }
}

#[test]
fn an_event_after_the_final_checkpoint_is_inserted() {
    let key = key();
    let b = Bundle::of(30, &key);
    let mut t = b.clone();
    t.lines.push(json(&Line::Event(forged(&b, 30))));
    let line = t.lines.len() as u64;
    assert_eq!(t.verify(), Err(Failure::Inserted { seq: 30, line }));
    // A genuine-looking 31st event is past the header's end.
    let mut t = b.clone();
    let mut r = event(31);
    let last = b.event(30);
    r.seal_after(last.seq, last.hash);
    t.lines.push(json(&Line::Event(r)));
    assert_eq!(
        t.verify(),
        Err(Failure::PastEnd {
            seq: 31,
            line: t.lines.len() as u64,
            last_seq: 30
        })
    );
}

#[test]
fn a_replayed_event_is_inserted() {
    let key = key();
    let b = Bundle::of(30, &key);
    let mut t = b.clone();
    let line = b.line_of(15);
    let copy = t.text(line).to_owned();
    t.lines.insert(line as usize, copy);
    assert_eq!(
        t.verify(),
        Err(Failure::Inserted {
            seq: 15,
            line: line + 1
        })
    );
}

#[test]
fn swapped_events_are_reordered() {
    let key = key();
    let b = Bundle::of(100, &key);
    let mut t = b.clone();
    let (a, c) = (b.line_of(35), b.line_of(36));
    t.lines.swap(a as usize - 1, c as usize - 1);
    let failure = t.verify().unwrap_err();
    assert_eq!(
        failure,
        Failure::Reordered {
            seq: 36,
            line: a,
            expected_seq: 35
        }
    );
    assert!(failure.to_string().contains("out of order"), "{failure}");
    // The first two, and two further apart.
    let mut t = b.clone();
    t.lines.swap(1, 2);
    assert_eq!(
        t.verify(),
        Err(Failure::Reordered {
            seq: 2,
            line: 2,
            expected_seq: 1
        })
    );
    let mut t = b.clone();
    let (a, c) = (b.line_of(42), b.line_of(46));
    t.lines.swap(a as usize - 1, c as usize - 1);
    assert_eq!(
        t.verify(),
        Err(Failure::Reordered {
            seq: 46,
            line: a,
            expected_seq: 42
        })
    );
}

#[test]
fn an_event_moved_far_is_missing_where_it_belonged() {
    let key = key();
    let b = Bundle::of(30, &key);
    let mut t = b.clone();
    let moved = t.remove_line(b.line_of(3));
    let at = b.line_of(8) as usize;
    t.lines.insert(at - 1, moved);
    // The gap shows first, at event 4, and the next event does not fill it.
    assert_eq!(
        t.verify(),
        Err(Failure::Removed {
            from_seq: 3,
            to_seq: 3,
            line: b.line_of(3)
        })
    );
}

#[test]
fn a_cut_tail_is_detected() {
    let key = key();
    let b = Bundle::of(100, &key);
    // Events after checkpoint 90 removed, the final checkpoint kept.
    let mut t = b.clone();
    for _ in 91..=100 {
        t.remove_line(b.line_of(91));
    }
    let line = b.checkpoint_line(90) + 1;
    let failure = t.verify().unwrap_err();
    assert_eq!(
        failure,
        Failure::CheckpointAhead {
            seq: 100,
            line,
            events_end: 90
        }
    );
    assert!(failure.to_string().contains("cut off"), "{failure}");
    // ... and the final checkpoint too: the header still says 100.
    t.remove_line(line);
    let failure = t.verify().unwrap_err();
    assert_eq!(
        failure,
        Failure::TruncatedTail {
            last_seq: 100,
            events_end: 90,
            line: b.line_of(90)
        }
    );
    assert!(
        failure.to_string().contains("runs to event 100"),
        "{failure}"
    );
    // ... and the header edited to end at 90: undetectable from the bundle alone, which
    // is why the last checkpoint is reported (see docs/audit-format.md).
    let mut header = t.header();
    header.last_seq = 90;
    t.set_header(header);
    assert_eq!(t.verify().unwrap().last_checkpoint.map(|c| c.0), Some(90));
}

#[test]
fn a_removed_final_checkpoint_leaves_an_unsigned_tail() {
    let key = key();
    let b = Bundle::of(100, &key);
    let mut t = b.clone();
    t.remove_line(b.checkpoint_line(100));
    let failure = t.verify().unwrap_err();
    assert_eq!(
        failure,
        Failure::UnsignedTail {
            last_checkpoint: 90,
            last_seq: 100
        }
    );
    assert!(
        failure.to_string().contains("events 91 to 100"),
        "{failure}"
    );
    // Cutting events mid-stretch and editing the header to match does not help.
    let mut t = b.clone();
    t.lines.truncate(b.line_of(95) as usize);
    let mut header = t.header();
    header.last_seq = 95;
    t.set_header(header);
    assert_eq!(
        t.verify(),
        Err(Failure::UnsignedTail {
            last_checkpoint: 90,
            last_seq: 95
        })
    );
    // A header that ends early while the events go on.
    let mut t = b.clone();
    let mut header = t.header();
    header.last_seq = 95;
    t.set_header(header);
    assert_eq!(
        t.verify(),
        Err(Failure::PastEnd {
            seq: 96,
            line: b.line_of(96),
            last_seq: 95
        })
    );
}

#[test]
fn a_bundle_without_checkpoints_fails() {
    let key = key();
    let mut b = Bundle::of(25, &key);
    b.lines.retain(|l| !l.starts_with("{\"checkpoint\""));
    assert_eq!(b.verify(), Err(Failure::NoCheckpoint { last_seq: 25 }));
    let mut empty = Bundle::of(25, &key);
    empty.lines.truncate(1);
    assert_eq!(
        empty.verify(),
        Err(Failure::NoEvents {
            first_seq: 1,
            last_seq: 25
        })
    );
}

#[test]
fn a_file_cut_mid_line_is_truncated() {
    let key = key();
    let b = Bundle::of(20, &key);
    let bytes = b.bytes();
    let last_line = b.lines.len() as u64;
    let last_len = b.lines.last().unwrap().len();
    let start = bytes.len() - 1 - last_len;
    // Every cut inside the final checkpoint's line.
    for cut in 1..last_len {
        let result = verify_reader(&bytes[..start + cut], Options::default(), |_| {});
        assert!(
            matches!(result, Err(Failure::Truncated { line, .. }) if line == last_line),
            "cut at {cut}: {result:?}"
        );
    }
    // Every cut inside the last event's line (the final checkpoint gone too).
    let event_line = b.line_of(20);
    let event_len = b.text(event_line).len();
    let event_start = start - 1 - event_len;
    for cut in 1..event_len {
        let result = verify_reader(&bytes[..event_start + cut], Options::default(), |_| {});
        assert!(
            matches!(result, Err(Failure::Truncated { line, .. }) if line == event_line),
            "cut at {cut}: {result:?}"
        );
    }
    // A final line without its newline but whole is fine.
    let summary = verify_reader(&bytes[..bytes.len() - 1], Options::default(), |_| {});
    assert_eq!(summary.map(|s| s.events), Ok(20));
    // A cut line followed by more lines is malformed, not truncated.
    let mut t = b.clone();
    let line = b.line_of(7);
    let text = t.text(line).to_owned();
    t.lines[line as usize - 1] = text[..text.len() / 2].to_owned();
    assert!(
        matches!(t.verify(), Err(Failure::Malformed { line: l, .. }) if l == line),
        "{:?}",
        t.verify()
    );
}

#[test]
fn a_checkpoint_from_another_key_fails_when_pinned() {
    let key = key();
    let other = SigningKey::generate().unwrap();
    let b = Bundle::of(30, &key);
    let failure = b.verify_with(pinned(&other)).unwrap_err();
    assert_eq!(
        failure,
        Failure::WrongKey {
            seq: 10,
            line: b.checkpoint_line(10),
            key_id: key.public().key_id(),
            pinned_key_id: other.public().key_id(),
        }
    );
    let text = failure.to_string();
    assert!(text.contains("wrong key"), "{text}");
    assert!(text.contains(&key.public().key_id()) && text.contains(&other.public().key_id()));
}

#[test]
fn an_attacker_who_re_signs_passes_only_without_pinning() {
    let key = key();
    let attacker = SigningKey::generate().unwrap();
    let b = Bundle::of(50, &key);
    // Rewrite event 12 and everything after it, re-sign, and swap the header's key.
    let mut records: Vec<Record<'static>> = (1..=50).map(|s| b.event(s)).collect();
    records[11].outcome = "failure".into();
    for i in 11..50 {
        let prev_hash = records[i - 1].hash;
        let prev_seq = records[i - 1].seq;
        records[i].seal_after(prev_seq, prev_hash);
    }
    let forged = Bundle::export(&records, &attacker);
    let summary = forged.verify().unwrap();
    assert!(!summary.key_pinned);
    assert_eq!(
        summary.last_checkpoint.map(|c| c.2),
        Some(attacker.public().key_id())
    );
    assert_eq!(
        forged.verify_with(pinned(&key)),
        Err(Failure::WrongKey {
            seq: 10,
            line: forged.checkpoint_line(10),
            key_id: attacker.public().key_id(),
            pinned_key_id: key.public().key_id(),
        })
    );
    // Claiming the real key's id with the attacker's signature fails the signature.
    let mut claimed = forged.clone();
    for line in 1..=claimed.lines.len() as u64 {
        if let Line::Checkpoint(mut cp) = serde_json::from_str(claimed.text(line)).unwrap() {
            cp.key_id = key.public().key_id();
            claimed.set_line(line, &Line::Checkpoint(cp));
        }
    }
    assert_eq!(
        claimed.verify_with(pinned(&key)),
        Err(Failure::BadSignature {
            seq: 10,
            line: forged.checkpoint_line(10),
            key_id: key.public().key_id(),
        })
    );
}

#[test]
fn an_altered_checkpoint_has_a_bad_signature() {
    let key = key();
    let b = Bundle::of(30, &key);
    let line = b.checkpoint_line(20);
    let Line::Checkpoint(cp) = serde_json::from_str(b.text(line)).unwrap() else {
        unreachable!()
    };
    let changes: Vec<fn(&mut Checkpoint)> = vec![
        |c| {
            let mut sig = c.signature.clone().into_bytes();
            sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
            c.signature = String::from_utf8(sig).unwrap();
        },
        |c| c.signature = "not base64!".to_owned(),
        |c| c.time += 1,
        |c| c.hash = Digest([1; 32]),
    ];
    for (i, change) in changes.into_iter().enumerate() {
        let mut t = b.clone();
        let mut bad = cp.clone();
        change(&mut bad);
        t.set_line(line, &Line::Checkpoint(bad));
        let expected = Failure::BadSignature {
            seq: 20,
            line,
            key_id: key.public().key_id(),
        };
        assert_eq!(t.verify(), Err(expected.clone()), "change {i}");
        assert_eq!(t.verify_with(pinned(&key)), Err(expected), "change {i}");
    }
}

#[test]
fn a_checkpoint_out_of_place_fails() {
    let key = key();
    let b = Bundle::of(30, &key);
    // Moved one event later.
    let mut t = b.clone();
    let line = b.checkpoint_line(10);
    t.lines.swap(line as usize - 1, line as usize);
    assert_eq!(
        t.verify(),
        Err(Failure::CheckpointMisplaced {
            seq: 10,
            line: line + 1,
            after_seq: 11
        })
    );
    // Repeated.
    let mut t = b.clone();
    let copy = t.text(line).to_owned();
    t.lines.insert(line as usize, copy);
    assert_eq!(
        t.verify(),
        Err(Failure::CheckpointOrder {
            seq: 10,
            line: line + 1,
            prev_seq: 10
        })
    );
}

#[test]
fn a_key_the_header_does_not_list_is_unknown() {
    let key = key();
    let mut b = Bundle::of(20, &key);
    let mut header = b.header();
    header.public_keys.clear();
    b.set_header(header);
    assert_eq!(
        b.verify(),
        Err(Failure::UnknownKey {
            seq: 10,
            line: b.checkpoint_line(10),
            key_id: key.public().key_id()
        })
    );
    // The pinned key does not need the header.
    assert!(b.verify_with(pinned(&key)).is_ok());
}

#[test]
fn a_missing_or_foreign_header_fails() {
    let key = key();
    let b = Bundle::of(20, &key);
    let mut t = b.clone();
    t.remove_line(1);
    assert!(
        matches!(t.verify(), Err(Failure::NoHeader { line: 1, ref reason }) if reason == "it is an event"),
        "{:?}",
        t.verify()
    );
    let mut t = b.clone();
    t.lines[0] = "hello".to_owned();
    assert!(matches!(t.verify(), Err(Failure::NoHeader { line: 1, .. })));
    assert_eq!(
        verify_reader(&b""[..], Options::default(), |_| {}),
        Err(Failure::Empty)
    );
    // Another format, another version, and a future version with other fields.
    let mut header = b.header();
    header.format = "something-else".to_owned();
    let mut t = b.clone();
    t.set_header(header);
    assert_eq!(
        t.verify(),
        Err(Failure::WrongFormat {
            line: 1,
            format: "something-else".to_owned(),
            version: 1
        })
    );
    let mut header = b.header();
    header.version = 2;
    let mut t = b.clone();
    t.set_header(header);
    assert!(matches!(
        t.verify(),
        Err(Failure::WrongFormat { version: 2, .. })
    ));
    let mut t = b.clone();
    t.lines[0] = r#"{"header":{"format":"warden-audit-bundle","version":3,"chain":"x"}}"#.into();
    let failure = t.verify().unwrap_err();
    assert!(
        matches!(failure, Failure::WrongFormat { version: 3, .. }),
        "{failure:?}"
    );
    assert!(failure.to_string().contains("version 3"), "{failure}");
    // A second header.
    let mut t = b.clone();
    let header = t.lines[0].clone();
    t.lines.insert(5, header);
    assert_eq!(t.verify(), Err(Failure::ExtraHeader { line: 6 }));
}

#[test]
fn an_inconsistent_header_fails() {
    let key = key();
    let other = SigningKey::generate().unwrap();
    let b = Bundle::of(20, &key);
    let cases: Vec<fn(&mut Header, &PublicKey)> = vec![
        |h, other| h.public_keys[0].key_id = other.key_id(),
        |h, _| h.public_keys[0].public_key = "ed25519:AAAA".to_owned(),
        |h, _| h.first_seq = 0,
        |h, _| h.anchor = Digest([3; 32]),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let mut header = b.header();
        case(&mut header, &other.public());
        let mut t = b.clone();
        t.set_header(header);
        assert!(
            matches!(t.verify(), Err(Failure::BadHeader { line: 1, .. })),
            "case {i}: {:?}",
            t.verify()
        );
    }
}

#[test]
fn a_since_bundle_must_follow_its_anchor() {
    let key = key();
    let records = chain(100);
    let b = Bundle::export(&records[50..], &key);
    let mut t = b.clone();
    let mut header = t.header();
    header.anchor = records[48].hash;
    t.set_header(header);
    assert_eq!(t.verify(), Err(Failure::Unanchored { seq: 51, line: 2 }));
    // Its first event removed.
    let mut t = b.clone();
    t.remove_line(2);
    assert_eq!(
        t.verify(),
        Err(Failure::Removed {
            from_seq: 51,
            to_seq: 51,
            line: 2
        })
    );
    // An event from before its start.
    let mut t = b.clone();
    t.insert_line(2, &Line::Event(records[49].clone()));
    assert_eq!(
        t.verify(),
        Err(Failure::BeforeStart {
            seq: 50,
            line: 2,
            first_seq: 51
        })
    );
}

#[test]
fn blank_and_garbage_lines_are_malformed() {
    let key = key();
    let b = Bundle::of(20, &key);
    for (text, hint) in [
        ("", "blank"),
        ("   ", "blank"),
        ("{\"event\":", "EOF"),
        ("[1,2,3]", "expected"),
        ("{\"comment\":\"hi\"}", "unknown variant"),
    ] {
        let mut t = b.clone();
        t.lines.insert(5, text.to_owned());
        match t.verify() {
            Err(Failure::Malformed { line: 6, reason }) => {
                assert!(reason.contains(hint), "{text:?}: {reason}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn a_read_error_is_reported_with_its_line() {
    struct Failing {
        data: Vec<u8>,
        pos: usize,
    }
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pos >= self.data.len() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.data.len() - self.pos).min(100);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
    let key = key();
    let b = Bundle::of(20, &key);
    let bytes = b.bytes();
    let first_two = b.lines[0].len() + b.lines[1].len() + 2;
    let reader = BufReader::new(Failing {
        data: bytes[..first_two + 10].to_vec(),
        pos: 0,
    });
    match verify_reader(reader, Options::default(), |_| {}) {
        Err(Failure::Read { line: 3, reason }) => assert!(reason.contains("disk on fire")),
        other => panic!("{other:?}"),
    }
}
