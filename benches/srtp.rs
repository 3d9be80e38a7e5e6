//! SRTP protect and unprotect per profile for a 1200-byte payload (a 1212-byte RTP packet),
//! beside the raw aws-lc-rs cost of the same cryptographic work, measured in the same run:
//! AES-128-CTR over the payload plus HMAC-SHA1 over the packet and ROC, or AES-GCM over the
//! payload with the 12-byte header as AAD.
//!
//! `cargo bench --bench srtp` runs the criterion groups and then prints a ratio table;
//! `cargo bench --bench srtp -- ratio` skips criterion (no benchmark matches) and prints only
//! the table. Target: kaon within 1.2x of raw.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{constant_time, hmac};
use criterion::{BatchSize, Criterion};
use kaon::srtp::{Config, Context, Profile};

const PAYLOAD: usize = 1200;
const HEADER: usize = 12;
const PACKET: usize = HEADER + PAYLOAD;
const ROOM: usize = PACKET + 32;

/// The bare primitives for one profile, keyed once, with fixed IVs.
enum Raw {
    AesCm(Box<RawCm>),
    Gcm(LessSafeKey),
}

struct RawCm {
    ctr: EncryptingKey,
    mac: hmac::Key,
    tag: usize,
}

impl Raw {
    fn new(profile: Profile) -> Self {
        match profile {
            Profile::AeadAes128Gcm => Raw::Gcm(LessSafeKey::new(
                UnboundKey::new(&AES_128_GCM, &[1; 16]).unwrap(),
            )),
            Profile::AeadAes256Gcm => Raw::Gcm(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &[1; 32]).unwrap(),
            )),
            _ => Raw::AesCm(Box::new(RawCm {
                ctr: EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &[1; 16]).unwrap())
                    .unwrap(),
                mac: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[2; 20]),
                tag: profile.rtp_overhead(),
            })),
        }
    }

    /// Encrypts `buf[HEADER..PACKET]` and writes the tag after it.
    fn protect(&self, buf: &mut [u8]) -> usize {
        match self {
            Raw::AesCm(cm) => {
                let RawCm { ctr, mac, tag } = &**cm;
                let iv = EncryptionContext::Iv128(FixedLength::from([3; 16]));
                ctr.less_safe_encrypt(&mut buf[HEADER..PACKET], iv).unwrap();
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&buf[..PACKET]);
                ctx.update(&[0; 4]);
                buf[PACKET..PACKET + tag].copy_from_slice(&ctx.sign().as_ref()[..*tag]);
                PACKET + tag
            }
            Raw::Gcm(key) => {
                let (header, rest) = buf.split_at_mut(HEADER);
                let (payload, tag) = rest.split_at_mut(PAYLOAD);
                let nonce = Nonce::assume_unique_for_key([4; 12]);
                key.seal_in_place_scatter(nonce, Aad::from(&*header), payload, &[], &mut tag[..16])
                    .unwrap();
                PACKET + 16
            }
        }
    }

    /// Verifies the tag of `buf` (a whole protected packet), then decrypts.
    fn unprotect(&self, buf: &mut [u8]) -> usize {
        match self {
            Raw::AesCm(cm) => {
                let RawCm { ctr, mac, tag } = &**cm;
                let len = buf.len() - tag;
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&buf[..len]);
                ctx.update(&[0; 4]);
                constant_time::verify_slices_are_equal(&ctx.sign().as_ref()[..*tag], &buf[len..])
                    .unwrap();
                let iv = EncryptionContext::Iv128(FixedLength::from([3; 16]));
                ctr.less_safe_encrypt(&mut buf[HEADER..len], iv).unwrap();
                len
            }
            Raw::Gcm(key) => {
                let len = buf.len() - 16;
                let (header, rest) = buf.split_at_mut(HEADER);
                let (payload, tag) = rest.split_at_mut(PAYLOAD);
                let nonce = Nonce::assume_unique_for_key([4; 12]);
                key.open_in_place_separate_tag(nonce, Aad::from(&*header), tag, payload)
                    .unwrap();
                len
            }
        }
    }
}

fn context(profile: Profile) -> Context {
    let key = vec![5; profile.key_len()];
    let salt = vec![6; profile.salt_len()];
    Context::new(profile, &key, &salt, &Config::default()).unwrap()
}

fn packet(seq: u16) -> [u8; ROOM] {
    let mut p = [0x5a; ROOM];
    p[..HEADER].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p
}

fn name(profile: Profile) -> &'static str {
    match profile {
        Profile::Aes128CmSha1_80 => "aes128_cm_sha1_80",
        Profile::Aes128CmSha1_32 => "aes128_cm_sha1_32",
        Profile::AeadAes128Gcm => "aead_aes_128_gcm",
        Profile::AeadAes256Gcm => "aead_aes_256_gcm",
        Profile::Unknown(_) => "unknown",
    }
}

/// A stream of protected packets with rising sequence numbers, for unprotect.
struct Sender {
    ctx: Context,
    seq: u16,
}

impl Sender {
    fn next(&mut self) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        let mut p = packet(self.seq);
        let n = self.ctx.protect_rtp(&mut p, PACKET).unwrap();
        p[..n].to_vec()
    }
}

fn criterion_groups(c: &mut Criterion) {
    for profile in Profile::SUPPORTED {
        let mut g = c.benchmark_group(format!("srtp/{}", name(profile)));
        g.throughput(criterion::Throughput::Bytes(PAYLOAD as u64));
        let raw = Raw::new(profile);
        let mut ours = context(profile);
        let mut buf = packet(1);
        g.bench_function("protect/kaon", |b| {
            b.iter(|| ours.protect_rtp(black_box(&mut buf), PACKET).unwrap())
        });
        g.bench_function("protect/raw", |b| {
            b.iter(|| raw.protect(black_box(&mut buf)))
        });
        let mut tx = Sender {
            ctx: context(profile),
            seq: 0,
        };
        let mut rx = context(profile);
        g.bench_function("unprotect/kaon", |b| {
            b.iter_batched_ref(
                || tx.next(),
                |p| rx.unprotect_rtp(black_box(p)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let mut sealed = packet(1);
        let n = raw.protect(&mut sealed);
        g.bench_function("unprotect/raw", |b| {
            b.iter_batched_ref(
                || sealed[..n].to_vec(),
                |p| raw.unprotect(black_box(p)),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

/// Nanoseconds per packet: the median of `rounds` timed batches of `batch` packets.
fn median_ns(samples: &mut [Duration], batch: usize) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_nanos() as f64 / batch as f64
}

/// ns/packet for (kaon protect, raw protect, kaon unprotect, raw unprotect); kaon and raw
/// batches alternate so both see the same machine.
fn ratio_row(profile: Profile) -> [f64; 4] {
    const BATCH: usize = 256;
    const ROUNDS: usize = 300;
    let raw = Raw::new(profile);
    let mut ours = context(profile);
    let mut tx = Sender {
        ctx: context(profile),
        seq: 0,
    };
    let mut rx = context(profile);
    let mut buf = packet(1);
    let mut sealed = packet(1);
    let sealed_len = raw.protect(&mut sealed);
    let mut t: [Vec<Duration>; 4] = Default::default();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(ours.protect_rtp(black_box(&mut buf), PACKET).unwrap());
        }
        t[0].push(start.elapsed());
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(raw.protect(black_box(&mut buf)));
        }
        t[1].push(start.elapsed());
        let mut ours_in: Vec<Vec<u8>> = (0..BATCH).map(|_| tx.next()).collect();
        let start = Instant::now();
        for p in &mut ours_in {
            black_box(rx.unprotect_rtp(black_box(p)).unwrap());
        }
        t[2].push(start.elapsed());
        let mut raw_in: Vec<Vec<u8>> = (0..BATCH).map(|_| sealed[..sealed_len].to_vec()).collect();
        let start = Instant::now();
        for p in &mut raw_in {
            black_box(raw.unprotect(black_box(p)));
        }
        t[3].push(start.elapsed());
    }
    t.map(|mut s| median_ns(&mut s, BATCH))
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    criterion_groups(&mut c);
    c.final_summary();

    println!("\nSRTP, {PAYLOAD}-byte payload, ns/packet (median of 300 batches of 256)");
    println!(
        "{:<20} {:>9} {:>9} {:>6}   {:>9} {:>9} {:>6}",
        "profile", "protect", "raw", "ratio", "unprotect", "raw", "ratio"
    );
    for profile in Profile::SUPPORTED {
        let [p, pr, u, ur] = ratio_row(profile);
        println!(
            "{:<20} {:>9.1} {:>9.1} {:>6.2}   {:>9.1} {:>9.1} {:>6.2}",
            name(profile),
            p,
            pr,
            p / pr,
            u,
            ur,
            u / ur
        );
    }
}
