//! STUN hot paths, on the message ICE sends most: a connectivity check (USERNAME, PRIORITY,
//! ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT; 108 bytes), beside the
//! raw aws-lc-rs HMAC-SHA1 over the same bytes in the same run.
//!
//! `cargo bench --bench stun`

use aws_lc_rs::hmac;
use criterion::{Criterion, criterion_group, criterion_main};
use kaon::stun::{Attribute, Class, Key, Message, Method, TransactionId};
use std::borrow::Cow;
use std::hint::black_box;

const PASSWORD: &str = "asd88fgpdd777uzjYhagZg";

fn check(id: TransactionId) -> Message<'static> {
    Message::new(Class::Request, Method::Binding, id)
        .with(Attribute::Username(Cow::Borrowed("9uB6:evtj")))
        .with(Attribute::Priority(1_853_824_767))
        .with(Attribute::IceControlling(0x932f_f9b1_5126_3b36))
        .with(Attribute::UseCandidate)
}

fn benches(c: &mut Criterion) {
    let key = Key::short_term(PASSWORD);
    let raw_key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, PASSWORD.as_bytes());
    let mut rng = kaon::Rng::from_seed(1);
    let message = check(TransactionId::random(&mut rng));
    let mut wire = [0u8; 512];
    let len = message.write(&mut wire, Some(&key), true).unwrap();
    let wire = &wire[..len];

    let mut g = c.benchmark_group("stun");
    g.bench_function("parse", |b| {
        b.iter(|| Message::parse(black_box(wire)).unwrap())
    });
    g.bench_function("parse + integrity + fingerprint check", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(wire)).unwrap();
            m.verify(&key).unwrap();
            m.verify_fingerprint().unwrap();
        })
    });
    let mut out = [0u8; 512];
    g.bench_function("build + write", |b| {
        b.iter(|| {
            check(black_box(TransactionId([7; 12])))
                .write(&mut out, None, false)
                .unwrap()
        })
    });
    g.bench_function("build + sign (integrity + fingerprint)", |b| {
        b.iter(|| {
            check(black_box(TransactionId([7; 12])))
                .write(&mut out, Some(&key), true)
                .unwrap()
        })
    });
    // The floor for the signed paths: one HMAC-SHA1 over the bytes MESSAGE-INTEGRITY covers.
    let covered = &wire[..len - 8 - 24];
    g.bench_function("raw HMAC-SHA1 (aws-lc-rs)", |b| {
        b.iter(|| hmac::sign(&raw_key, black_box(covered)))
    });
    g.finish();
}

criterion_group!(stun, benches);
criterion_main!(stun);
