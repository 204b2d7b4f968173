//! Throughput of the offline verifier on one core: a bundle of 1,000,000 realistic events
//! (logins, access requests and approvals, grants, revocations and expiries, with actor,
//! target, resource, request and grant ids, risk and details as each has them; about 410
//! bytes of JSON per event on average) with a checkpoint every 1,000, built in memory once,
//! then verified whole with `verify_reader` against a pinned key. The target is at least
//! 1,000,000 events/s.
//!
//! Run with `cargo bench -p warden-audit --bench verify`.

// A benchmark whose set-up fails should stop loudly.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use uuid::Uuid;
use warden_audit::bundle::{self, Header, Line, PublishedKey};
use warden_audit::verify::{Options, verify_reader};
use warden_audit::{Digest, Record, RecordActor, SigningKey};

const EVENTS: u64 = 1_000_000;
const CHECKPOINT_EVERY: u64 = 1_000;

/// A realistic unsealed event number `i`: a mix of logins, access requests and their
/// approvals, grants and revocations, about 380 bytes of JSON on average.
fn event(i: u64) -> Record<'static> {
    let id = |salt: u128| Uuid::from_u128((u128::from(i) << 16) ^ salt ^ 0x0190_7000_8000);
    let user = format!("user{}", i % 97);
    let ip = format!("10.{}.{}.{}", i % 3, i % 200, i % 250);
    let resource = format!("pg-prod-{}", i % 9);
    let mut record = Record {
        seq: 0,
        id: id(1),
        time: 1_700_000_000_000 + i64::try_from(i).unwrap_or(0) * 1_250,
        actor: RecordActor {
            user: Some(user.into()),
            token: None,
            ip: Some(ip.into()),
            user_agent: Some("warden-cli/0.4.2".into()),
        },
        action: "auth.login".into(),
        target: None,
        outcome: "success".into(),
        reason: None,
        resource: None,
        request_id: None,
        grant_id: None,
        risk: None,
        details: BTreeMap::new(),
        prev_hash: Digest::GENESIS,
        hash: Digest::GENESIS,
    };
    match i % 10 {
        0..=2 => {
            if i.is_multiple_of(17) {
                record.outcome = "failure".into();
                record.reason = Some("bad password".into());
            }
        }
        3 | 4 => {
            record.action = "request.submit".into();
            record.target = Some(format!("resource:{resource}").into());
            record.request_id = Some(id(2));
            record.reason = Some(format!("INC-{} on-call fix", 4000 + i % 900).into());
            record.resource = Some(resource.into());
        }
        5 => {
            record.action = "request.approve".into();
            record.request_id = Some(id(2));
            record.risk = Some(u32::try_from(i % 100).unwrap_or(0));
        }
        6 | 7 => {
            record.actor = RecordActor::default();
            record.action = "grant.create".into();
            record.grant_id = Some(id(3));
            record.resource = Some(resource.into());
            record.details.insert("role".into(), "app_read".into());
        }
        8 => {
            record.actor.token = Some(id(4));
            record.actor.user_agent = None;
            record.action = "grant.revoke".into();
            record.grant_id = Some(id(3));
        }
        _ => {
            record.actor = RecordActor::default();
            record.action = "grant.expire".into();
            record.grant_id = Some(id(3));
            record.resource = Some(resource.into());
        }
    }
    record
}

/// The bundle of events 1..=`EVENTS`, as the server would write it.
fn bundle(key: &SigningKey) -> Vec<u8> {
    let public = key.public();
    let header = Header::new(
        1_760_000_000_000,
        1,
        Digest::GENESIS,
        EVENTS,
        vec![PublishedKey {
            key_id: public.key_id(),
            public_key: public.encode(),
        }],
    );
    let mut out = Vec::with_capacity(420 * 1_000_000);
    bundle::write_line(&mut out, &Line::Header(header)).expect("header");
    let (mut prev_seq, mut prev_hash) = (0, Digest::GENESIS);
    for i in 1..=EVENTS {
        let mut record = event(i);
        record.seal_after(prev_seq, prev_hash);
        (prev_seq, prev_hash) = (record.seq, record.hash);
        let time = record.time;
        bundle::write_line(&mut out, &Line::Event(record)).expect("event");
        if i.is_multiple_of(CHECKPOINT_EVERY) || i == EVENTS {
            let checkpoint = key.sign(prev_seq, prev_hash, time + 5);
            bundle::write_line(&mut out, &Line::Checkpoint(checkpoint)).expect("checkpoint");
        }
    }
    out
}

fn verify(c: &mut Criterion) {
    let key = SigningKey::generate().expect("key");
    let bytes = bundle(&key);
    let options = Options {
        pinned_key: Some(key.public()),
    };
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function(
        "1,000,000 events, checkpoint every 1,000, pinned key",
        |b| {
            b.iter(|| {
                let summary = verify_reader(black_box(bytes.as_slice()), options.clone(), |n| {
                    black_box(n);
                })
                .expect("the bundle verifies");
                assert_eq!(summary.events, EVENTS);
            });
        },
    );
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
