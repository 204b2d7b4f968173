//! Costs of the credential checks on the request path: verifying a bearer token (every
//! authenticated request) and verifying a password (every login).

// A benchmark whose set-up fails should stop loudly.
#![allow(clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::{ExposeSecret, SecretString};
use std::hint::black_box;
use warden_core::credential::{PresentedToken, hash_password, mint_token, verify_password};

fn tokens(c: &mut Criterion) {
    let token = mint_token(time::OffsetDateTime::UNIX_EPOCH).expect("mint");
    let text = token.text.expose_secret().to_owned();
    c.bench_function("token: parse and verify a presented bearer token", |b| {
        b.iter(|| {
            let presented = PresentedToken::parse(black_box(&text)).expect("parse");
            assert!(token.hash.matches(&presented));
        });
    });
    c.bench_function("token: mint", |b| {
        b.iter(|| black_box(mint_token(time::OffsetDateTime::UNIX_EPOCH).expect("mint")))
    });
}

fn passwords(c: &mut Criterion) {
    let password = SecretString::from("correct horse battery staple");
    let stored = hash_password(&password).expect("hash");
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("argon2id verify (19 MiB, t=2, p=1)", |b| {
        b.iter(|| assert!(verify_password(black_box(&password), Some(&stored))));
    });
    group.bench_function("unknown user (dummy verify)", |b| {
        b.iter(|| assert!(!verify_password(black_box(&password), None)));
    });
    group.finish();
}

criterion_group!(benches, tokens, passwords);
criterion_main!(benches);
