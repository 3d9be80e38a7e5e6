//! The whole PeerConnection stack in process, two peers wired in memory on a perfect link:
//! the CPU cost of a full connect (offer/answer, ICE, DTLS, SCTP, channel open; certificates
//! made beforehand) and data channel throughput through ICE, DTLS (AES-GCM) and SCTP.
//!
//! `cargo bench --bench peer` (criterion), or `cargo bench --bench peer -- --table` for a
//! quick table only.

use criterion::{Criterion, Throughput};
use kaon::datachannel::ChannelConfig;
use kaon::dtls::Identity;
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
        let now = Instant::now();
        let peer = |seed, id: &Identity, addr: &str| {
            let mut pc = PeerConnection::new(PeerConfig {
                identity: Some(id.clone()),
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
        let offer = a.create_offer().unwrap();
        a.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        b.set_remote_description(SdpType::Offer, offer).unwrap();
        while b.poll_event().is_some() {}
        let answer = b.create_answer().unwrap();
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
        let goal = self.received + total;
        let mut sent = 0;
        while self.received < goal {
            while sent < total && self.a.buffered_amount(self.id) < 1 << 20 {
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

fn table() {
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let runs = 50;
    let start = Instant::now();
    for _ in 0..runs {
        Pair::new(&ida, &idb).connect();
    }
    println!(
        "connect, both peers: {:.3} ms",
        start.elapsed().as_secs_f64() * 1e3 / f64::from(runs)
    );
    let mut p = Pair::new(&ida, &idb);
    p.connect();
    let msg = bytes::Bytes::from(vec![0xab; 16 * 1024]);
    p.transfer(TOTAL, &msg);
    let start = Instant::now();
    p.transfer(4 * TOTAL, &msg);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "data channel throughput, one thread, both peers: {:.1} MiB/s",
        (4 * TOTAL) as f64 / secs / (1 << 20) as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--table") {
        table();
        return;
    }
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("peer/connect", |b| {
        b.iter(|| Pair::new(&ida, &idb).connect())
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
