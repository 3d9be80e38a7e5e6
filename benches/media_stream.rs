//! The receive stream's bookkeeping per packet (`StreamRx::on_packet`: RFC 3550 sequence
//! validation, loss and jitter, the duplicate window and the NACK list) beside SRTP unprotect
//! of the same 1212-byte packet, measured in the same run, and the send stream's `on_send`
//! (counters and the RTX history copy) beside SRTP protect.
//!
//! `cargo bench --bench media_stream` runs short criterion groups and then prints a ratio
//! table; `cargo bench --bench media_stream -- ratio` prints only the table. Target: unprotect
//! plus stream bookkeeping within 1.3x of unprotect alone.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use kaon::media::{NtpEpoch, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig};
use kaon::srtp::{Config, Context, Profile};

const PAYLOAD: usize = 1200;
const HEADER: usize = 12;
const PACKET: usize = HEADER + PAYLOAD;
const ROOM: usize = PACKET + 32;
const SSRC: u32 = 0x1122_3344;
const BATCH: usize = 256;
const ROUNDS: usize = 300;

fn context(profile: Profile) -> Context {
    let key = vec![5; profile.key_len()];
    let salt = vec![6; profile.salt_len()];
    Context::new(profile, &key, &salt, &Config::default()).unwrap()
}

fn packet(seq: u16) -> [u8; ROOM] {
    let mut p = [0x5a; ROOM];
    p[..HEADER].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p
}

fn rx() -> StreamRx {
    let mut c = StreamRxConfig::new(SSRC, 90_000);
    c.seed = Some(1);
    StreamRx::new(c)
}

fn tx(t0: Instant) -> StreamTx {
    let mut c = StreamTxConfig::new(
        SSRC,
        90_000,
        NtpEpoch {
            at: t0,
            ntp: 1 << 62,
        },
    );
    c.seed = Some(2);
    StreamTx::new(c)
}

/// Protected packets with rising sequence numbers, and their plaintext twins.
struct Source {
    ctx: Context,
    seq: u16,
}

impl Source {
    fn next(&mut self) -> (Vec<u8>, Vec<u8>) {
        self.seq = self.seq.wrapping_add(1);
        let plain = packet(self.seq);
        let mut p = plain;
        let n = self.ctx.protect_rtp(&mut p, PACKET).unwrap();
        (p[..n].to_vec(), plain[..PACKET].to_vec())
    }
}

fn name(profile: Profile) -> &'static str {
    match profile {
        Profile::Aes128CmSha1_80 => "aes128_cm_sha1_80",
        Profile::AeadAes128Gcm => "aead_aes_128_gcm",
        _ => "other",
    }
}

const PROFILES: [Profile; 2] = [Profile::AeadAes128Gcm, Profile::Aes128CmSha1_80];

fn criterion_groups(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut g = c.benchmark_group("media_stream");
    let mut stream = rx();
    let mut seq = 0u16;
    g.bench_function("rx_on_packet", |b| {
        b.iter_batched_ref(
            || {
                seq = seq.wrapping_add(1);
                packet(seq)
            },
            |p| stream.on_packet(t0, black_box(&p[..PACKET])),
            BatchSize::SmallInput,
        )
    });
    let mut sender = tx(t0);
    let mut seq = 0u16;
    g.bench_function("tx_on_send", |b| {
        b.iter_batched_ref(
            || {
                seq = seq.wrapping_add(1);
                packet(seq)
            },
            |p| sender.on_send(t0, black_box(&p[..PACKET])),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Nanoseconds per packet: the median of timed batches.
fn median_ns(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_nanos() as f64 / BATCH as f64
}

/// ns/packet for (unprotect, on_packet alone, unprotect + on_packet, protect, on_send).
fn ratio_row(profile: Profile) -> [f64; 5] {
    let t0 = Instant::now();
    let mut src = Source {
        ctx: context(profile),
        seq: 0,
    };
    let mut srtp_only = context(profile);
    let mut srtp_path = context(profile);
    let mut stream_only = rx();
    let mut stream_path = rx();
    let mut protect = context(profile);
    let mut sender = tx(t0);
    let mut plain_out = packet(1);
    let mut t: [Vec<Duration>; 5] = Default::default();
    let mut now = t0;
    for _ in 0..ROUNDS {
        let batch: Vec<(Vec<u8>, Vec<u8>)> = (0..BATCH).map(|_| src.next()).collect();
        let mut a: Vec<Vec<u8>> = batch.iter().map(|(p, _)| p.clone()).collect();
        let mut b = a.clone();
        // Unprotect alone.
        let start = Instant::now();
        for p in &mut a {
            black_box(srtp_only.unprotect_rtp(black_box(p)).unwrap());
        }
        t[0].push(start.elapsed());
        // The stream's bookkeeping alone, on the plaintext.
        let start = Instant::now();
        for (_, plain) in &batch {
            now += Duration::from_micros(500);
            black_box(stream_only.on_packet(now, black_box(plain)));
        }
        t[1].push(start.elapsed());
        // The receive path: unprotect in place, then the stream.
        let start = Instant::now();
        for p in &mut b {
            let n = srtp_path.unprotect_rtp(black_box(p)).unwrap();
            black_box(stream_path.on_packet(now, &p[..n]));
        }
        t[2].push(start.elapsed());
        // Send side: protect alone, and on_send alone.
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(
                protect
                    .protect_rtp(black_box(&mut plain_out), PACKET)
                    .unwrap(),
            );
        }
        t[3].push(start.elapsed());
        let start = Instant::now();
        for (_, plain) in &batch {
            sender.on_send(now, black_box(plain));
        }
        t[4].push(start.elapsed());
    }
    assert_eq!(
        stream_path.stats().packets_received,
        (ROUNDS * BATCH) as u64
    );
    t.map(|mut s| median_ns(&mut s))
}

fn main() {
    let ratio_only = std::env::args().any(|a| a == "ratio");
    if !ratio_only {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .configure_from_args();
        criterion_groups(&mut c);
        c.final_summary();
    }
    println!(
        "\nMedia stream per packet, {PAYLOAD}-byte payload, ns (median of {ROUNDS} batches of {BATCH})"
    );
    println!(
        "{:<18} {:>9} {:>9} {:>10} {:>6}   {:>8} {:>8}",
        "profile", "unprotect", "on_packet", "unprot+rx", "ratio", "protect", "on_send"
    );
    for profile in PROFILES {
        let [unprotect, on_packet, path, protect, on_send] = ratio_row(profile);
        println!(
            "{:<18} {:>9.1} {:>9.1} {:>10.1} {:>5.2}x   {:>8.1} {:>8.1}",
            name(profile),
            unprotect,
            on_packet,
            path,
            path / unprotect,
            protect,
            on_send
        );
    }
}
