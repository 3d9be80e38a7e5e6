//! In-process SCTP throughput on a perfect link, with 128 KiB, 1 MiB and 8 MiB in flight.
//!
//! The sender fills its window, every packet is delivered, the receiver's application reads
//! everything and its SACKs go back at the end: one round per window. Per-packet work must not
//! grow with the window, so MB/s must not fall as it grows (the SCTP stack str0m uses drops
//! from ~124 to ~29 MiB/s between 128 KiB and 1 MiB on this kind of machine).
//!
//! The table ends with 1 KiB messages (one chunk each) received the way DTLS hands records
//! on: copied into a vector (before), or split off an arena as `Bytes` that SCTP keeps
//! slices of (`handle_packet_bytes`, what the PeerConnection does now).
//!
//! `cargo bench --bench sctp` (criterion), or `cargo bench --bench sctp -- --table` for a
//! quick table only.

use criterion::{BenchmarkId, Criterion, Throughput};
use kaon::sctp::{Association, Config, Event, SendOptions};
use std::time::{Duration, Instant};

struct Pipe {
    a: Association,
    b: Association,
    now: Instant,
    buf: Vec<u8>,
    msg: bytes::Bytes,
    window: usize,
    /// The most bytes in flight seen at the end of a round's sending, to show the window is
    /// used.
    in_flight: usize,
    /// How b receives: `None` borrows the packet from `buf`; `Some(false)` copies it into a
    /// recycled vector first (as a DTLS record was decrypted into one); `Some(true)` into an
    /// arena it is split off as `Bytes`, for `handle_packet_bytes` (as the PeerConnection's
    /// DTLS now hands records on).
    record: Option<bool>,
    vec: Vec<u8>,
    arena: bytes::BytesMut,
}

impl Pipe {
    fn new(window: usize, zero_checksum: bool) -> Self {
        let cfg = |seed| Config {
            seed: Some(seed),
            receive_window: window,
            send_buffer: 4 * window.max(1 << 20),
            // Start with the window open: this measures steady state, not slow start.
            initial_cwnd_mtus: window / 1000 + 10,
            zero_checksum,
            heartbeat_interval: None,
            ..Config::default()
        };
        let mut p = Self {
            a: Association::new(cfg(1)),
            b: Association::new(cfg(2)),
            now: Instant::now(),
            buf: vec![0u8; 1200],
            msg: bytes::Bytes::from(vec![0xab; 16 * 1024]),
            in_flight: 0,
            window,
            record: None,
            vec: Vec::new(),
            arena: bytes::BytesMut::new(),
        };
        p.a.connect(p.now);
        p.b.connect(p.now);
        for _ in 0..4 {
            p.round();
        }
        assert!(p.a.is_established() && p.b.is_established());
        p
    }

    /// One round trip: a sends its window, b reads and acknowledges. Returns bytes delivered.
    fn round(&mut self) -> usize {
        let now = self.now;
        // Keep more queued than the window, so the window is what limits each round.
        while self.a.buffered_total() < self.window + self.msg.len() {
            if self
                .a
                .send(now, 0, 53, self.msg.clone(), SendOptions::default())
                .is_err()
            {
                break;
            }
        }
        // Each packet is handed to b at once; b's SACKs wait for the end of the round, so the
        // whole window is unacknowledged (in flight, for the sender) when the round ends.
        while let Some(n) = self.a.poll_packet(now, &mut self.buf) {
            let packet = &self.buf[..n];
            match self.record {
                None => self.b.handle_packet(now, packet),
                Some(false) => {
                    self.vec.clear();
                    self.vec.extend_from_slice(packet);
                    self.b.handle_packet(now, &self.vec);
                }
                Some(true) => {
                    if self.arena.capacity() < n && !self.arena.try_reclaim(n) {
                        self.arena = bytes::BytesMut::with_capacity(16 * 1024);
                    }
                    self.arena.extend_from_slice(packet);
                    let record = self.arena.split().freeze();
                    self.b.handle_packet_bytes(now, &record);
                }
            }
        }
        self.in_flight = self.in_flight.max(self.a.congestion().1);
        let mut got = 0;
        while let Some(e) = self.b.poll_event() {
            if let Event::Message(m) = e {
                got += m.data.len();
            }
        }
        while let Some(n) = self.b.poll_packet(now, &mut self.buf) {
            self.a.handle_packet(now, &self.buf[..n]);
        }
        // Delayed acks flush on the next tick; time moves a little each round.
        self.now += Duration::from_micros(100);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        got
    }

    /// Moves at least `bytes` and returns how many moved.
    fn transfer(&mut self, bytes: usize) -> usize {
        let mut moved = 0;
        while moved < bytes {
            moved += self.round();
        }
        moved
    }
}

/// CPU time this thread has used (Linux `/proc/thread-self/schedstat`), for figures that a
/// loaded machine does not distort; `None` elsewhere.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}

const WINDOWS: [(usize, &str); 3] = [(128 << 10, "128KiB"), (1 << 20, "1MiB"), (8 << 20, "8MiB")];

/// `--only N`: run the table for the N-th window only (for profiling).
fn only() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--only")?;
    args.get(i + 1)?.parse().ok()
}

fn table() {
    println!("in-process SCTP, perfect link, one stream of 16 KiB messages");
    println!(
        "{:>10} {:>14} {:>16} {:>18}   MB per CPU-second (CRC32c, zero csum)",
        "window", "MB/s (CRC32c)", "MB/s (zero csum)", "max in flight"
    );
    for (i, (w, name)) in WINDOWS.into_iter().enumerate() {
        if only().is_some_and(|o| o != i) {
            continue;
        }
        let mut row = Vec::new();
        let mut cpu = Vec::new();
        let mut flight = 0;
        for zero in [false, true] {
            let mut p = Pipe::new(w, zero);
            p.transfer(64 << 20); // warm up
            let t = Instant::now();
            let c = thread_cpu();
            let moved = p.transfer(512 << 20);
            row.push(moved as f64 / t.elapsed().as_secs_f64() / 1e6);
            if let (Some(a), Some(b)) = (c, thread_cpu()) {
                cpu.push(format!("{:.0}", moved as f64 / (b - a).as_secs_f64() / 1e6));
            }
            flight = p.in_flight;
        }
        println!(
            "{:>10} {:>14.0} {:>16.0} {:>14} KiB   {}",
            name,
            row[0],
            row[1],
            flight / 1024,
            cpu.join(", ")
        );
    }
}

/// Messages that fit one chunk, received as DTLS handed records on before (a copy into a
/// vector, then SCTP copies each message out) and now (a copy into an arena, then SCTP keeps
/// each message as a slice of it), alternated in one run.
fn small_messages_table() {
    let mut best = [f64::MAX; 2];
    for _ in 0..3 {
        for (i, shared) in [false, true].into_iter().enumerate() {
            let mut p = Pipe::new(1 << 20, true);
            p.msg = bytes::Bytes::from(vec![0xab; 1024]);
            p.record = Some(shared);
            p.transfer(16 << 20);
            let (Some(a), moved, Some(b)) = (thread_cpu(), p.transfer(128 << 20), thread_cpu())
            else {
                return;
            };
            best[i] = best[i].min((b - a).as_secs_f64() / moved as f64);
        }
    }
    println!(
        "1 KiB messages, 1 MiB window, zero csum, MB per CPU-second (best of 3, alternated): \
         record copied into a vector {:.0}, record split off an arena as Bytes {:.0} ({:.2}x)",
        1e-6 / best[0],
        1e-6 / best[1],
        best[0] / best[1]
    );
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sctp_in_flight");
    const CHUNK: usize = 16 << 20;
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(10);
    for (w, name) in WINDOWS {
        for zero in [false, true] {
            let id = format!("{name}/{}", if zero { "zero-checksum" } else { "crc32c" });
            let mut p = Pipe::new(w, zero);
            g.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| p.transfer(CHUNK))
            });
        }
    }
    g.finish();
}

fn main() {
    if std::env::args().any(|a| a == "--table") {
        table();
        if only().is_none() {
            small_messages_table();
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
