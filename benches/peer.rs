//! The whole PeerConnection stack in process, two peers wired in memory on a perfect link:
//! the CPU cost of a full connect (offer/answer, ICE, DTLS, SCTP, channel open; certificates
//! made beforehand), with DTLS 1.2 pinned (`peer/connect_dtls12`) and with the default DTLS
//! 1.3 with an X25519MLKEM768 key share (`peer/connect`), beside the bare DTLS handshakes of
//! both versions (the default policy for 1.3, so the key shares are the same) as their floor (`peer/floor_dtls12_handshake`, `peer/floor_dtls13_handshake`:
//! what a connect cannot get under), and data channel throughput through ICE, DTLS (AES-GCM) and SCTP, beside
//! the AEAD ceiling (aws-lc-rs AES-128-GCM seal + open of the same bytes) measured in the same
//! run. With `--features sim` the table also runs the same two peers through the simulator
//! (`--sim-only` for that row alone, to profile the simulator's share).
//!
//! `cargo bench --bench peer` (criterion), or `cargo bench --features sim --bench peer --
//! --table` for a quick table only, or `cargo bench --bench peer -- --connect-table` for the
//! connect lines alone (CPU time beside wall clock: a shared machine distorts it less).
//! `cargo bench --bench peer -- --table --case N` runs throughput row N (0: 16 KiB messages,
//! 128 KiB in flight; 1: 8 MiB in flight; 2: 1 KiB messages) alone, for a profiler.

use criterion::{Criterion, Throughput};
use kaon::datachannel::ChannelConfig;
use kaon::dtls::{Identity, VersionPolicy};
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::{Datagram, Protocol};
use std::time::{Duration, Instant};

struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    buf: Vec<u8>,
    id: u16,
    opened: usize,
    received: usize,
}

impl Pair {
    fn new(ida: &Identity, idb: &Identity) -> Self {
        Self::with_versions(ida, idb, PeerConfig::default().dtls_versions)
    }

    fn with_versions(ida: &Identity, idb: &Identity, dtls_versions: VersionPolicy) -> Self {
        let now = Instant::now();
        let peer = |seed, id: &Identity, addr: &str| {
            let mut pc = PeerConnection::new(PeerConfig {
                identity: Some(id.clone()),
                dtls_versions,
                ..PeerConfig::with_seed(seed)
            })
            .unwrap();
            pc.add_local_address(addr.parse().unwrap()).unwrap();
            pc
        };
        let mut a = peer(1, ida, "192.0.2.1:5000");
        let mut b = peer(2, idb, "192.0.2.2:5000");
        let id = a
            .create_data_channel(now, "bench", ChannelConfig::default())
            .unwrap();
        while a.poll_event().is_some() {}
        let offer = a.create_offer(now).unwrap();
        a.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        b.set_remote_description(SdpType::Offer, offer).unwrap();
        while b.poll_event().is_some() {}
        let answer = b.create_answer(now).unwrap();
        b.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        a.set_remote_description(SdpType::Answer, answer).unwrap();
        Self {
            a,
            b,
            now,
            buf: vec![0; 2048],
            id,
            opened: 0,
            received: 0,
        }
    }

    /// Moves every datagram across; advances virtual time to the next deadline when idle.
    fn step(&mut self) {
        let mut moved = false;
        for from_a in [true, false] {
            loop {
                let (from, to) = if from_a {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                let Some(t) = from.poll_transmit(self.now, &mut self.buf) else {
                    break;
                };
                moved = true;
                to.handle_datagram(
                    self.now,
                    Datagram {
                        source: t.source,
                        destination: t.destination,
                        contents: &self.buf[..t.len],
                    },
                );
            }
        }
        for pc in [&mut self.a, &mut self.b] {
            while let Some(e) = pc.poll_event() {
                match e {
                    PeerEvent::DataChannelOpen { .. } => self.opened += 1,
                    PeerEvent::Message { data, .. } => self.received += data.len(),
                    _ => {}
                }
            }
        }
        if !moved {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            self.now = next.map_or(self.now + Duration::from_millis(1), |t| t.max(self.now));
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
    }

    fn connect(&mut self) {
        while self.opened < 2 {
            self.step();
        }
    }

    /// Sends `total` bytes as 16 KiB messages, keeping 1 MiB queued, until all arrive.
    fn transfer(&mut self, total: usize, msg: &bytes::Bytes) {
        self.transfer_queued(total, msg, 1 << 20);
    }

    /// Sends `total` bytes as messages like `msg`, keeping `queued` bytes accepted by the
    /// sender and not yet delivered, until all arrive. That bounds what is in flight: the
    /// link is perfect and instant, so everything sent and not yet read is in flight.
    fn transfer_queued(&mut self, total: usize, msg: &bytes::Bytes, queued: usize) {
        let goal = self.received + total;
        let start = self.received;
        let mut sent = 0;
        while self.received < goal {
            while sent < total && sent - (self.received - start) < queued {
                self.a
                    .send_message(self.now, self.id, msg.clone(), true)
                    .unwrap();
                sent += msg.len();
            }
            self.step();
        }
    }
}

const TOTAL: usize = 8 << 20;

/// The size of the DTLS records the stack writes in the transfer (SCTP packets of up to
/// 1136 bytes), for the AEAD ceiling.
const RECORD: usize = 1136;

/// The AEAD ceiling: AES-128-GCM seal then open of `total` bytes in `RECORD`-byte records with
/// aws-lc-rs alone, the least any DTLS stack must spend per byte.
fn aead_ceiling(total: usize) {
    use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7; 16]).unwrap());
    let mut data = vec![0x5a_u8; RECORD + 16];
    for seq in 0..(total / RECORD) as u64 {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&seq.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([0u8; 13]),
                &mut data[..RECORD],
            )
            .unwrap();
        data[RECORD..].copy_from_slice(tag.as_ref());
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([0u8; 13]),
                &mut data[..],
            )
            .unwrap();
        std::hint::black_box(plain);
    }
}

/// The bare DTLS handshake of `versions` for both sides, in memory, with the certificates
/// the peers use: the floor under a connect.
fn dtls_handshake(ida: &Identity, idb: &Identity, versions: VersionPolicy) {
    use kaon::dtls::{Config, Endpoint, HashAlgorithm, Role};
    let now = Instant::now();
    let (ca, sa) = (
        "192.0.2.1:5000".parse().unwrap(),
        "192.0.2.2:5000".parse().unwrap(),
    );
    let cfg = |role, seed, local, remote, peer: &Identity| Config {
        role,
        local_addr: Some(local),
        remote_addr: Some(remote),
        remote_fingerprints: vec![peer.fingerprint(HashAlgorithm::Sha256)],
        // As the PeerConnection configures it.
        mtu: 1200,
        hello_verify: false,
        versions,
        seed: Some(seed),
        ..Config::default()
    };
    let mut c = Endpoint::new(cfg(Role::Client, 1, ca, sa, idb), ida.clone(), now).unwrap();
    let mut s = Endpoint::new(cfg(Role::Server, 2, sa, ca, ida), idb.clone(), now).unwrap();
    let mut buf = [0u8; 2048];
    let shuttle = |from: &mut Endpoint, to: &mut Endpoint, buf: &mut [u8]| {
        let mut moved = false;
        while let Some(t) = from.poll_transmit(now, buf) {
            let contents = &buf[..t.len];
            let (source, destination) = (t.source, t.destination);
            to.handle_datagram(
                now,
                Datagram {
                    source,
                    destination,
                    contents,
                },
            );
            moved = true;
        }
        moved
    };
    while shuttle(&mut c, &mut s, &mut buf) | shuttle(&mut s, &mut c, &mut buf) {}
    assert!(c.is_connected() && s.is_connected());
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

/// Mean milliseconds per call of `f` over `runs` calls: (wall clock, this thread's CPU).
fn mean_ms(runs: u32, mut f: impl FnMut()) -> (f64, f64) {
    let (start, cpu) = (Instant::now(), thread_cpu());
    for _ in 0..runs {
        f();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(runs);
    (per(start.elapsed()), per(thread_cpu() - cpu))
}

/// The connect lines of the table: each connect and floor as CPU and wall-clock time.
fn connect_table(ida: &Identity, idb: &Identity, runs: u32) {
    let (v12, def) = (VersionPolicy::Dtls12, PeerConfig::default().dtls_versions);
    let rows: [(&str, (f64, f64)); 4] = [
        (
            "connect, DTLS 1.2",
            mean_ms(runs, || Pair::with_versions(ida, idb, v12).connect()),
        ),
        (
            "bare DTLS 1.2 handshake (floor)",
            mean_ms(runs, || dtls_handshake(ida, idb, v12)),
        ),
        (
            "connect, default (DTLS 1.3 or 1.2)",
            mean_ms(runs, || Pair::new(ida, idb).connect()),
        ),
        (
            "bare DTLS 1.3 handshake (floor)",
            mean_ms(runs, || dtls_handshake(ida, idb, def)),
        ),
    ];
    for (what, (wall, cpu)) in rows {
        println!("{what}, both peers: {cpu:.3} ms CPU ({wall:.3} ms wall), mean of {runs}");
    }
}

/// The throughput rows (the `--case N` one alone, without the connect lines, for a profile).
fn table() {
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let args: Vec<String> = std::env::args().collect();
    let case = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1)?.parse::<usize>().ok());
    if case.is_none() {
        connect_table(&ida, &idb, 50);
    }
    for (n, &(size, queued, name)) in IN_FLIGHT.iter().enumerate() {
        if case.is_some_and(|c| c != n) {
            continue;
        }
        let msg = bytes::Bytes::from(vec![0xab; size]);
        let mut p = Pair::new(&ida, &idb);
        p.connect();
        p.transfer_queued(TOTAL, &msg, queued);
        // Ours and the ceiling alternate, best of three each, so that machine load hits both;
        // CPU time too, which the load of a shared machine distorts less.
        let (mut ours, mut ours_cpu, mut ceiling, mut ceiling_cpu) =
            (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..3 {
            let (start, cpu) = (Instant::now(), thread_cpu());
            p.transfer_queued(4 * TOTAL, &msg, queued);
            ours = ours.min(start.elapsed().as_secs_f64());
            ours_cpu = ours_cpu.min(cpu_since(cpu));
            let (start, cpu) = (Instant::now(), thread_cpu());
            aead_ceiling(4 * TOTAL);
            ceiling = ceiling.min(start.elapsed().as_secs_f64());
            ceiling_cpu = ceiling_cpu.min(cpu_since(cpu));
        }
        let mib = |secs: f64| (4 * TOTAL) as f64 / secs / (1 << 20) as f64;
        println!(
            "data channel throughput, one thread, both peers, {} B messages, {name} in flight: \
             {:.1} MiB/s \
             ({:.1} MiB per CPU-second); AES-128-GCM seal + open alone ({RECORD}-byte records): \
             {:.1} MiB/s ({:.1} per CPU-second); ours is {:.0}% of that ceiling ({:.0}% by CPU)",
            msg.len(),
            mib(ours),
            mib(ours_cpu),
            mib(ceiling),
            mib(ceiling_cpu),
            100.0 * ceiling / ours,
            100.0 * ceiling_cpu / ours_cpu,
        );
    }
}

/// The message size and what the application keeps queued and unread in the throughput rows
/// (everything queued is in flight on the perfect link). 16 KiB messages are cut into chunks
/// and joined again; 1 KiB ones travel whole, one per packet.
const IN_FLIGHT: [(usize, usize, &str); 3] = [
    (16 << 10, 128 << 10, "128 KiB"),
    (16 << 10, 8 << 20, "8 MiB"),
    (1 << 10, 128 << 10, "128 KiB"),
];

/// Seconds of this thread's CPU since `start`.
fn cpu_since(start: Duration) -> f64 {
    (thread_cpu() - start).as_secs_f64()
}

/// The same work through the simulator (`--features sim`): two hosts on one network with
/// perfect links, every datagram through the simulator's event queue.
#[cfg(feature = "sim")]
fn sim_table(ida: &Identity, idb: &Identity) {
    use kaon::sim::{LinkConfig, Sim};
    let now = Instant::now();
    let mut sim = Sim::new(1, now);
    sim.set_max_steps(u64::MAX);
    sim.set_trace(false);
    let lan = sim.add_network("lan");
    let mut ids = Vec::new();
    for (n, (addr, identity)) in [("10.0.0.1:5000", ida), ("10.0.0.2:5000", idb)]
        .into_iter()
        .enumerate()
    {
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        let host = sim.add_host(&format!("peer{n}"));
        sim.add_interface(host, lan, addr.ip(), LinkConfig::default());
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(identity.clone()),
            ..PeerConfig::with_seed(n as u64 + 1)
        })
        .unwrap();
        pc.add_local_address(addr).unwrap();
        ids.push(sim.add_endpoint(host, &[addr], pc));
    }
    let (a, b) = (ids[0], ids[1]);
    let start = Instant::now();
    let id = {
        let pc = sim.endpoint_mut::<PeerConnection>(a);
        pc.create_data_channel(now, "bench", ChannelConfig::default())
            .unwrap()
    };
    let offer = sim
        .endpoint_mut::<PeerConnection>(a)
        .create_offer(now)
        .unwrap();
    let pa = sim.endpoint_mut::<PeerConnection>(a);
    pa.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let pb = sim.endpoint_mut::<PeerConnection>(b);
    pb.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = pb.create_answer(now).unwrap();
    pb.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let pa = sim.endpoint_mut::<PeerConnection>(a);
    pa.set_remote_description(SdpType::Answer, answer).unwrap();
    let opened = |sim: &Sim| {
        sim.events::<PeerConnection>(b)
            .iter()
            .any(|e| matches!(e, PeerEvent::DataChannelOpen { .. }))
    };
    let deadline = now + Duration::from_secs(10);
    assert!(sim.run_until_cond(deadline, opened).unwrap());
    let connect = start.elapsed();
    sim.take_events::<PeerConnection>(b);

    let msg = bytes::Bytes::from(vec![0xab; 16 * 1024]);
    let total = 4 * TOTAL;
    let start = Instant::now();
    let (mut sent, mut received) = (0, 0);
    while received < total {
        let t = sim.now();
        let pa = sim.endpoint_mut::<PeerConnection>(a);
        while sent < total && pa.buffered_amount(id) < 1 << 20 {
            pa.send_message(t, id, msg.clone(), true).unwrap();
            sent += msg.len();
        }
        // Run until half the queue has gone out, then top it up again.
        let far = sim.now() + Duration::from_secs(60);
        let refill = sent < total;
        sim.run_until_cond(far, |sim| {
            (refill && sim.endpoint::<PeerConnection>(a).buffered_amount(id) < 1 << 19)
                || sim.events::<PeerConnection>(b).len() >= 64
        })
        .unwrap();
        sim.take_events::<PeerConnection>(a);
        for e in sim.take_events::<PeerConnection>(b) {
            if let PeerEvent::Message { data, .. } = e {
                received += data.len();
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "through the simulator (perfect links): connect {:.3} ms wall (both peers and the \
         simulator); data channel {:.1} MiB/s",
        connect.as_secs_f64() * 1e3,
        total as f64 / secs / (1 << 20) as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--connect-table") {
        let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        connect_table(&ida, &idb, 500);
        return;
    }
    if std::env::args().any(|a| a == "--table") {
        if !std::env::args().any(|a| a == "--sim-only") {
            table();
        }
        #[cfg(feature = "sim")]
        if !std::env::args().any(|a| a == "--case") {
            sim_table(
                &Identity::generate().unwrap(),
                &Identity::generate().unwrap(),
            );
        }
        return;
    }
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("peer/connect_dtls12", |b| {
        b.iter(|| Pair::with_versions(&ida, &idb, VersionPolicy::Dtls12).connect())
    });
    c.bench_function("peer/connect", |b| {
        b.iter(|| Pair::new(&ida, &idb).connect())
    });
    c.bench_function("peer/floor_dtls12_handshake", |b| {
        b.iter(|| dtls_handshake(&ida, &idb, VersionPolicy::Dtls12))
    });
    c.bench_function("peer/floor_dtls13_handshake", |b| {
        b.iter(|| dtls_handshake(&ida, &idb, PeerConfig::default().dtls_versions))
    });
    let mut g = c.benchmark_group("peer/throughput");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    let mut p = Pair::new(&ida, &idb);
    p.connect();
    let msg = bytes::Bytes::from(vec![0xab; 16 * 1024]);
    g.bench_function("8MiB", |b| b.iter(|| p.transfer(TOTAL, &msg)));
    g.finish();
    c.final_summary();
}
