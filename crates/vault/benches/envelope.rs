//! Single-thread throughput of sealing and opening one vaulted secret: a 32-byte password
//! under a data key, with a UUID object id and a version, as the server does for every
//! secret it stores or checks out. The target is at least 100,000 operations per second per
//! core; each measurement reports elements (operations) per second.
//!
//! Run with `cargo bench -p warden-vault --bench envelope`.
//!
//! Short messages are dominated by a fixed cost of the `poly1305` crate's AVX2 backend
//! (about 1 µs of set-up per message on an AMD EPYC, against ~0.1 µs for its portable
//! backend). Building with `RUSTFLAGS='--cfg poly1305_backend="soft"'` roughly doubles
//! throughput here: measured about 0.5 M seals/s and 0.6 M opens/s by default, 1.0 M and
//! 1.4 M with the portable backend. The other fixed cost of a seal is the `getrandom`
//! system call for its nonce (about 0.3 µs), kept on purpose: a buffered generator would
//! repeat nonces in a forked child.

// A benchmark whose set-up fails should stop loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use warden_vault::{Key, Purpose, envelope_key_id, open, seal};

const OBJECT_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const VERSION: u64 = 12;
const KEY_ID: u32 = 3;
const SECRET: &[u8; 32] = b"Xq3.vT9_kLm2-Rz8pW4~nB7_cD1.eF5g";

fn envelope(c: &mut Criterion) {
    let key = Key::generate().expect("key");
    let sealed = seal(&key, KEY_ID, Purpose::Secret, OBJECT_ID, VERSION, SECRET).expect("seal");

    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal 32-byte secret", |b| {
        b.iter(|| {
            seal(
                black_box(&key),
                black_box(KEY_ID),
                Purpose::Secret,
                black_box(OBJECT_ID),
                black_box(VERSION),
                black_box(SECRET),
            )
            .expect("seal")
        });
    });
    group.bench_function("open 32-byte secret", |b| {
        b.iter(|| {
            open(
                black_box(&key),
                Purpose::Secret,
                black_box(OBJECT_ID),
                black_box(VERSION),
                black_box(&sealed),
            )
            .expect("open")
        });
    });
    group.bench_function("key id + open 32-byte secret", |b| {
        b.iter(|| {
            let id = envelope_key_id(black_box(&sealed)).expect("key id");
            assert_eq!(id, KEY_ID);
            open(
                &key,
                Purpose::Secret,
                OBJECT_ID,
                VERSION,
                black_box(&sealed),
            )
            .expect("open")
        });
    });
    group.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
