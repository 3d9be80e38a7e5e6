//! DTLS costs: a full in-process handshake for both sides together (DTLS 1.2 with X25519
//! beside DTLS 1.3 with X25519MLKEM768), and record seal/open throughput for 1200-byte
//! payloads through the endpoint (both versions, AES-128-GCM) beside the raw aws-lc-rs
//! AES-128-GCM cost, measured in the same run; the ratios are printed at the end.
//!
//! What one "seal + open" is: `send_into` sealing a 1200-byte payload straight into the
//! caller's datagram buffer, `handle_datagram` opening it on the other endpoint and the `Data`
//! event read and recycled. "Through the send queue" is the same with `send` (a copy into the
//! queue) and `poll_transmit` sealing from there. The records on the wire:
//! - DTLS 1.2: 1229 bytes (13-byte header, 8-byte explicit nonce, 1200 bytes of ciphertext,
//!   16-byte tag); the AEAD seals 1200 bytes with 13 bytes of additional data.
//! - DTLS 1.3: 1237 bytes (5-byte unified header, 1216 bytes of ciphertext: the payload, the
//!   inner content type and 15 zeros of padding that make whole AES blocks, 16-byte tag); the
//!   AEAD seals 1216 bytes with the 5-byte header as additional data, and each side also
//!   computes the record-number mask (one AES block). Unpadded (1201 bytes) the AEAD costs
//!   about 8% more here: aws-lc's AES-GCM takes a slower path for a partial last block.
//!
//! "Raw" is aws-lc-rs `LessSafeKey` sealing then opening the same plaintext size in place:
//! 1200 bytes (the payload, and DTLS 1.2's AEAD input) and 1201 bytes (DTLS 1.3's AEAD
//! input unpadded). Beside them, "same calls" is each version's
//! own AEAD work alone, through the API the record layer uses: the payload sealed out of
//! place into the record (1.3: the content type and padding as the AEAD's extra input) and the record
//! opened out of place into the event's vector, with each version's additional data. What
//! the endpoint costs above "same calls" is the record layer and the endpoint itself (and,
//! in 1.3, the record-number mask: one AES block on each side).
//!
//! Also timed alone: the record-number masks of one 1.3 seal + open (two aws-lc-rs
//! `HeaderProtectionKey::new_mask` calls, one AES block each, the second's input depending
//! on the first's output), and one AES block of a 16-byte sample through each path aws-lc-rs
//! offers without `unsafe`: `quic::HeaderProtectionKey::new_mask` (what the record layer
//! uses), `cipher::EncryptingKey` in ECB mode, and in CTR mode (the first key-stream block
//! is the IV encrypted).
//!
//! The summary times each loop in alternating rounds, by wall clock and by this thread's CPU
//! time, and gives each ratio twice: of the fastest rounds, and the median of the ratios of
//! rounds run side by side. The handshakes are timed in pairs, one of each version back to
//! back, and their ratio is the median of the pairs' ratios.
//!
//! `cargo bench --bench dtls`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::quic::{AES_128, HeaderProtectionKey};
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{self, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use criterion::{Criterion, Throughput};
use kaon::dtls::{
    CipherSuite, Config, Endpoint, Event, HashAlgorithm, Identity, Role, VersionPolicy,
};
use kaon::{Datagram, Protocol, Transmit};

const PAYLOAD: usize = 1200;
/// Handshake pairs (one of each version) the summary times.
const HANDSHAKE_PAIRS: u32 = 300;
/// DTLS 1.3's content type (application data) and the zeros that pad a 1200-byte payload's
/// AEAD input to whole AES blocks.
const PADDED_TYPE: [u8; 16] = [23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Ids {
    client: Identity,
    server: Identity,
}

fn pair(ids: &Ids, hello_verify: bool, v13: bool, now: Instant) -> (Endpoint, Endpoint) {
    let versions = if v13 {
        VersionPolicy::Dtls13
    } else {
        VersionPolicy::Dtls12
    };
    let client = Config {
        role: Role::Client,
        local_addr: Some(addr("10.0.0.1:1")),
        remote_addr: Some(addr("10.0.0.2:2")),
        remote_fingerprints: vec![ids.server.fingerprint(HashAlgorithm::Sha256)],
        cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256],
        // Room for a 1200-byte payload in one record.
        mtu: 1300,
        versions,
        seed: Some(1),
        ..Config::default()
    };
    let server = Config {
        role: Role::Server,
        local_addr: Some(addr("10.0.0.2:2")),
        remote_fingerprints: vec![ids.client.fingerprint(HashAlgorithm::Sha256)],
        hello_verify,
        mtu: 1300,
        versions,
        seed: Some(2),
        ..Config::default()
    };
    (
        Endpoint::new(client, ids.client.clone(), now).unwrap(),
        Endpoint::new(server, ids.server.clone(), now).unwrap(),
    )
}

fn shuttle(from: &mut Endpoint, to: &mut Endpoint, now: Instant, buf: &mut [u8]) -> bool {
    let mut any = false;
    while let Some(t) = from.poll_transmit(now, buf) {
        to.handle_datagram(
            now,
            Datagram {
                source: t.source,
                destination: t.destination,
                contents: &buf[..t.len],
            },
        );
        any = true;
    }
    any
}

fn handshake(ids: &Ids, hello_verify: bool, v13: bool) -> (Endpoint, Endpoint) {
    let now = Instant::now();
    let (mut c, mut s) = pair(ids, hello_verify, v13, now);
    let mut buf = [0u8; 2048];
    while shuttle(&mut c, &mut s, now, &mut buf) | shuttle(&mut s, &mut c, now, &mut buf) {}
    assert!(c.is_connected() && s.is_connected());
    while c.poll_event().is_some() | s.poll_event().is_some() {}
    (c, s)
}

/// Seal on one side straight into the datagram, open on the other: one record per datagram.
fn seal_open(c: &mut Endpoint, s: &mut Endpoint, payload: &[u8], buf: &mut [u8], now: Instant) {
    let t = c.send_into(payload, buf).unwrap().unwrap();
    open(s, t, buf, now);
}

/// [`seal_open`] through the send queue: `send`, then `poll_transmit` seals.
fn seal_open_queued(
    c: &mut Endpoint,
    s: &mut Endpoint,
    payload: &[u8],
    buf: &mut [u8],
    now: Instant,
) {
    c.send(payload).unwrap();
    let t = c.poll_transmit(now, buf).unwrap();
    open(s, t, buf, now);
}

/// `s` opens the record in `buf` and hands back the `Data` event's vector.
fn open(s: &mut Endpoint, t: Transmit, buf: &[u8], now: Instant) {
    s.handle_datagram(
        now,
        Datagram {
            source: t.source,
            destination: t.destination,
            contents: &buf[..t.len],
        },
    );
    match s.poll_event() {
        // Handed back as the PeerConnection does, so the steady state allocates nothing.
        Some(Event::Data(d)) => s.recycle(black_box(d)),
        other => panic!("{other:?}"),
    }
}

/// A 16-byte record-number sample that changes with `seq`.
fn sample(seq: u64) -> [u8; 16] {
    let mut sample = [0u8; 16];
    sample[..8].copy_from_slice(&seq.to_be_bytes());
    sample
}

fn raw_seal_open<const N: usize>(key: &LessSafeKey, data: &mut [u8], seq: u64) {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&seq.to_be_bytes());
    let aad = [0u8; 13];
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut data[..N],
        )
        .unwrap();
    data[N..N + 16].copy_from_slice(tag.as_ref());
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut data[..N + 16],
        )
        .unwrap();
    black_box(plain);
}

/// One version's AEAD calls alone, as its record layer makes them: `plain` sealed out of
/// place into `wire` with `extra` (DTLS 1.3's content type) as extra input, then the
/// ciphertext and tag opened out of place into `out`.
fn raw_same_calls(
    key: &LessSafeKey,
    plain: &[u8],
    extra: &[u8],
    aad: &[u8],
    wire: &mut [u8],
    out: &mut [u8],
    seq: u64,
) {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&seq.to_be_bytes());
    let (n, m) = (plain.len(), plain.len() + extra.len());
    let (ciphertext, rest) = wire.split_at_mut(n);
    key.seal_out_of_place_scatter(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        plain,
        ciphertext,
        extra,
        &mut rest[..extra.len() + 16],
    )
    .unwrap();
    key.open_separate_gather(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &wire[..m],
        &wire[m..m + 16],
        &mut out[..m],
    )
    .unwrap();
    black_box(out);
}

/// This thread's CPU time (user and system), which a loaded machine does not inflate as it
/// does wall-clock time.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// One loop's alternating rounds: each round's cost per call, by wall clock and by this
/// thread's CPU time.
#[derive(Default)]
struct Rounds {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Rounds {
    /// Times one round of `n` calls of `f`.
    fn round(&mut self, n: u32, f: &mut dyn FnMut()) {
        let (start, cpu) = (Instant::now(), thread_cpu());
        for _ in 0..n {
            f();
        }
        self.wall.push(start.elapsed() / n);
        self.cpu.push((thread_cpu() - cpu) / n);
    }

    /// The fastest round, by wall clock and by CPU time.
    fn best(&self) -> (Duration, Duration) {
        let min = |v: &[Duration]| v.iter().copied().min().unwrap_or_default();
        (min(&self.wall), min(&self.cpu))
    }

    /// `self` over `base` as the ratio of their fastest rounds, then as the median of the
    /// ratios of rounds run side by side (round i of each), by wall clock and by CPU time.
    fn over(&self, base: &Self) -> String {
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        let median = |a: &[Duration], b: &[Duration]| {
            let mut v: Vec<f64> = a.iter().zip(b).map(|(&a, &b)| r(a, b)).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let ((w, c), (bw, bc)) = (self.best(), base.best());
        format!(
            "{:.2}x wall / {:.2}x cpu fastest, {:.2}x / {:.2}x median of pairs",
            r(w, bw),
            r(c, bc),
            median(&self.wall, &base.wall),
            median(&self.cpu, &base.cpu)
        )
    }
}

impl std::fmt::Display for Rounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (wall, cpu) = self.best();
        write!(f, "{wall:?} wall / {cpu:?} cpu")
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let ids = Ids {
        client: Identity::generate().unwrap(),
        server: Identity::generate().unwrap(),
    };

    let mut g = criterion.benchmark_group("dtls_handshake");
    g.bench_function("both_sides_no_cookie", |b| {
        b.iter(|| handshake(&ids, false, false))
    });
    g.bench_function("both_sides_with_cookie", |b| {
        b.iter(|| handshake(&ids, true, false))
    });
    g.bench_function("dtls13_x25519mlkem768_both_sides_no_cookie", |b| {
        b.iter(|| handshake(&ids, false, true))
    });
    g.finish();

    let (mut c, mut s) = handshake(&ids, false, false);
    let (mut c13, mut s13) = handshake(&ids, false, true);
    let payload = vec![0x5a; PAYLOAD];
    let mut buf = vec![0u8; 2048];
    let now = Instant::now();
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7; 16]).unwrap());
    let mut data = [0u8; PAYLOAD + 17];
    let mut seq = 0u64;

    let mut g = criterion.benchmark_group("dtls_record_1200B");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    g.bench_function("endpoint_seal_open", |b| {
        b.iter(|| seal_open(&mut c, &mut s, &payload, &mut buf, now))
    });
    g.bench_function("endpoint13_seal_open", |b| {
        b.iter(|| seal_open(&mut c13, &mut s13, &payload, &mut buf, now))
    });
    g.bench_function("raw_aes128gcm_seal_open", |b| {
        b.iter(|| {
            seq += 1;
            raw_seal_open::<PAYLOAD>(&key, &mut data, seq)
        })
    });
    g.bench_function("raw_aes128gcm_1201B_seal_open", |b| {
        b.iter(|| {
            seq += 1;
            raw_seal_open::<{ PAYLOAD + 1 }>(&key, &mut data, seq)
        })
    });
    g.finish();

    // The loops timed in alternating rounds: on a shared machine another process can slow any
    // round down, never speed one up, so the fastest rounds are what the code costs; beside
    // their ratio, the median of the ratios of rounds run side by side.
    let mut wire = vec![0u8; 2048];
    let mut out = vec![0u8; 2048];
    let (mut endpoint, mut endpoint13) = (Rounds::default(), Rounds::default());
    let (mut queued, mut queued13) = (Rounds::default(), Rounds::default());
    let (mut raw, mut raw1201) = (Rounds::default(), Rounds::default());
    let (mut same12, mut same13) = (Rounds::default(), Rounds::default());
    let (mut masks, mut mask) = (Rounds::default(), Rounds::default());
    let (mut ecb, mut ctr) = (Rounds::default(), Rounds::default());
    let sn_key = HeaderProtectionKey::new(&AES_128, &[9; 16]).unwrap();
    let ecb_key =
        EncryptingKey::ecb(UnboundCipherKey::new(&cipher::AES_128, &[9; 16]).unwrap()).unwrap();
    let ctr_key =
        EncryptingKey::ctr(UnboundCipherKey::new(&cipher::AES_128, &[9; 16]).unwrap()).unwrap();
    for _ in 0..2_000 {
        seal_open(&mut c, &mut s, &payload, &mut buf, now);
        seal_open(&mut c13, &mut s13, &payload, &mut buf, now);
    }
    for _ in 0..200 {
        endpoint.round(1_000, &mut || {
            seal_open(&mut c, &mut s, &payload, &mut buf, now)
        });
        endpoint13.round(1_000, &mut || {
            seal_open(&mut c13, &mut s13, &payload, &mut buf, now)
        });
        queued.round(1_000, &mut || {
            seal_open_queued(&mut c, &mut s, &payload, &mut buf, now)
        });
        queued13.round(1_000, &mut || {
            seal_open_queued(&mut c13, &mut s13, &payload, &mut buf, now)
        });
        raw.round(1_000, &mut || {
            seq += 1;
            raw_seal_open::<PAYLOAD>(&key, &mut data, seq)
        });
        raw1201.round(1_000, &mut || {
            seq += 1;
            raw_seal_open::<{ PAYLOAD + 1 }>(&key, &mut data, seq)
        });
        // DTLS 1.2: 13 bytes of additional data, nothing extra; DTLS 1.3: the 5-byte header,
        // the content type and 15 zeros.
        same12.round(1_000, &mut || {
            seq += 1;
            raw_same_calls(&key, &payload, &[], &[0; 13], &mut wire, &mut out, seq)
        });
        same13.round(1_000, &mut || {
            seq += 1;
            raw_same_calls(
                &key,
                &payload,
                &PADDED_TYPE,
                &[0; 5],
                &mut wire,
                &mut out,
                seq,
            )
        });
        // The masks of one seal + open, each sample depending on the mask before (as the
        // receiver's input depends on the sender's), then one AES block alone three ways.
        masks.round(1_000, &mut || {
            seq += 1;
            let mut sample = sample(seq);
            let m = sn_key.new_mask(&sample).unwrap();
            sample[8] = m[0];
            black_box(sn_key.new_mask(black_box(&sample)).unwrap());
        });
        mask.round(1_000, &mut || {
            seq += 1;
            black_box(sn_key.new_mask(&sample(seq)).unwrap());
        });
        ecb.round(1_000, &mut || {
            seq += 1;
            let mut block = sample(seq);
            ecb_key.encrypt(&mut block).unwrap();
            black_box(block);
        });
        ctr.round(1_000, &mut || {
            seq += 1;
            // CTR's first key stream block is the IV encrypted: the mask of the sample.
            let mut block = [0u8; 16];
            let iv = EncryptionContext::Iv128(FixedLength::from(sample(seq)));
            ctr_key.less_safe_encrypt(&mut block, iv).unwrap();
            black_box(block);
        });
    }
    // Handshakes in pairs, one of each version back to back (which goes first alternates),
    // each timed alone: a pair shares the machine's state of the moment, so the median of the
    // per-pair ratios holds under load that comes and goes, where the ratio of two loops
    // timed apart does not.
    let (mut hs, mut hs13) = (Rounds::default(), Rounds::default());
    for i in 0..HANDSHAKE_PAIRS {
        let mut v12 = || {
            black_box(handshake(&ids, false, false));
        };
        let mut v13 = || {
            black_box(handshake(&ids, false, true));
        };
        if i % 2 == 0 {
            hs.round(1, &mut v12);
            hs13.round(1, &mut v13);
        } else {
            hs13.round(1, &mut v13);
            hs.round(1, &mut v12);
        }
    }
    println!(
        "\nsummary: handshake (both sides, no cookie, {HANDSHAKE_PAIRS} pairs): DTLS 1.2 X25519 {hs}, DTLS 1.3 X25519MLKEM768 {hs13}: {}",
        hs13.over(&hs)
    );
    println!(
        "summary: 1200-byte payload seal+open: raw AES-128-GCM in place {raw}, 1201 B {raw1201}; the record layers' own AEAD calls alone: 1.2 {same12}, 1.3 {same13}"
    );
    println!(
        "summary: 1.3's two record-number masks alone {masks}: {} raw; one AES block: quic new_mask {mask}, cipher ECB EncryptingKey {ecb}, cipher CTR EncryptingKey {ctr}",
        masks.over(&raw)
    );
    println!(
        "summary: DTLS 1.2 {endpoint}: {} raw, {} its AEAD calls; through the send queue {queued}: {} raw",
        endpoint.over(&raw),
        endpoint.over(&same12),
        queued.over(&raw)
    );
    println!(
        "summary: DTLS 1.3 {endpoint13}: {} raw, {} raw 1201 B, {} its AEAD calls, {} DTLS 1.2; through the send queue {queued13}: {} raw",
        endpoint13.over(&raw),
        endpoint13.over(&raw1201),
        endpoint13.over(&same13),
        endpoint13.over(&endpoint),
        queued13.over(&raw)
    );
    criterion.final_summary();
}
