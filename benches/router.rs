//! Many peers on one socket: a `Router` at one address, its clients wired in memory.
//!
//! - route cost per datagram with 10 and 10,000 peers: a datagram from a routed address (the
//!   peer drops it at once, so the figure is mostly the router's own work; the same datagram
//!   given to a lone `PeerConnection` is printed next to it), one from an unknown address, and
//!   a connectivity check naming an unknown ufrag;
//! - an idle driver round and `poll_timeout` alone with 10,000 peers that all have timers;
//! - connecting 1,000 clients to one router at once (CPU of both sides, one thread);
//! - memory per connected idle server-side peer with one data channel: what the allocator gets
//!   back when the router removes and drops the peers, then itself (the connection's own share
//!   and the router's printed apart).
//!
//! `cargo bench --bench router` (criterion), or `cargo bench --bench router -- --table` for a
//! quick table only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use kaon::datachannel::ChannelConfig;
use kaon::dtls::Identity;
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, Router, SdpType};
use kaon::sdp::SessionDescription;
use kaon::{Datagram, Protocol};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts the bytes held and the calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn server() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 3478))
}

fn client_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5000))
}

struct Client {
    pc: PeerConnection,
    open: bool,
}

/// A router and its clients on a perfect network.
struct Net {
    router: Router,
    clients: Vec<Client>,
    index: HashMap<SocketAddr, usize>,
    open_peers: usize,
    now: Instant,
    buf: Vec<u8>,
}

impl Net {
    /// `n` clients with an offer each, answered by `n` peers in one router.
    fn negotiated(n: usize, ids: &(Identity, Identity)) -> Self {
        let now = Instant::now();
        let mut router = Router::with_capacity(n);
        let mut clients = Vec::with_capacity(n);
        let mut index = HashMap::with_capacity(n);
        for i in 0..n {
            let seed = 2 * i as u64;
            let mut pc = PeerConnection::new(PeerConfig {
                identity: Some(ids.0.clone()),
                ..PeerConfig::with_seed(seed)
            })
            .unwrap();
            pc.add_local_address(client_addr(i)).unwrap();
            pc.create_data_channel(now, "bench", ChannelConfig::default())
                .unwrap();
            let offer = pc.create_offer(now).unwrap();
            pc.set_local_description(SdpType::Offer, offer.clone())
                .unwrap();
            let mut peer = PeerConnection::new(PeerConfig {
                identity: Some(ids.1.clone()),
                ..PeerConfig::with_seed(seed + 1)
            })
            .unwrap();
            peer.add_local_address(server()).unwrap();
            peer.set_remote_description(SdpType::Offer, offer).unwrap();
            let answer = peer.create_answer(now).unwrap();
            peer.set_local_description(SdpType::Answer, answer.clone())
                .unwrap();
            pc.set_remote_description(SdpType::Answer, answer).unwrap();
            router.insert(peer).unwrap();
            index.insert(client_addr(i), i);
            clients.push(Client { pc, open: false });
        }
        Self {
            router,
            clients,
            index,
            open_peers: 0,
            now,
            buf: vec![0; 2048],
        }
    }

    /// Carries datagrams until every channel is open on both sides (or `limit` passes).
    fn connect(&mut self, limit: Duration) {
        let end = self.now + limit;
        let n = self.clients.len();
        while self.now < end {
            let moved = self.step();
            if self.open_peers == n && self.clients.iter().all(|c| c.open) {
                return;
            }
            if !moved {
                self.advance(end);
            }
        }
        panic!("only {} of {n} peers connected", self.open_peers);
    }

    /// Runs `d` of virtual time.
    fn idle(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            if !self.step() {
                self.advance(end);
            }
        }
    }

    fn advance(&mut self, end: Instant) {
        let next = self
            .clients
            .iter()
            .filter_map(|c| c.pc.poll_timeout())
            .chain(self.router.poll_timeout())
            .min()
            .unwrap_or(end);
        self.now = next.clamp(self.now, end);
        self.router.handle_timeout(self.now);
        for c in &mut self.clients {
            if c.pc.poll_timeout().is_some_and(|t| t <= self.now) {
                c.pc.handle_timeout(self.now);
            }
        }
    }

    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(t) = self.router.poll_transmit(self.now, &mut self.buf) {
            moved = true;
            if let Some(&i) = self.index.get(&t.destination) {
                let d = Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &self.buf[..t.len],
                };
                self.clients[i].pc.handle_datagram(self.now, d);
            }
        }
        for c in &mut self.clients {
            while let Some(t) = c.pc.poll_transmit(self.now, &mut self.buf) {
                moved = true;
                let d = Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &self.buf[..t.len],
                };
                self.router.handle_datagram(self.now, d);
            }
            while let Some(e) = c.pc.poll_event() {
                c.open |= matches!(e, PeerEvent::DataChannelOpen { .. });
            }
        }
        while let Some((_, e)) = self.router.poll_event() {
            if matches!(e, PeerEvent::DataChannelOpen { .. }) {
                self.open_peers += 1;
            }
        }
        moved
    }
}

/// `n` answering peers whose checks go to addresses nobody answers: every peer has a route
/// (from its first check) and timers in the heap, and nothing is due at the returned time.
fn checking_router(n: usize) -> (Router, Instant) {
    let now = Instant::now();
    let identity = Identity::generate().unwrap();
    let mut client = PeerConnection::new(PeerConfig::with_seed(7)).unwrap();
    client.add_local_address(client_addr(0)).unwrap();
    client
        .create_data_channel(now, "x", ChannelConfig::default())
        .unwrap();
    let offer = client.create_offer(now).unwrap().to_string();
    let host = format!("{} 5000", client_addr(0).ip());
    let mut router = Router::with_capacity(n);
    for i in 0..n {
        let offer = offer.replace(&host, &format!("{} 5000", client_addr(i).ip()));
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(identity.clone()),
            ..PeerConfig::with_seed(1_000_000 + i as u64)
        })
        .unwrap();
        pc.add_local_address(server()).unwrap();
        pc.set_remote_description(SdpType::Offer, SessionDescription::parse(&offer).unwrap())
            .unwrap();
        let answer = pc.create_answer(now).unwrap();
        pc.set_local_description(SdpType::Answer, answer).unwrap();
        router.insert(pc).unwrap();
    }
    let mut buf = vec![0u8; 2048];
    router.handle_timeout(now);
    while router.poll_transmit(now, &mut buf).is_some() {}
    while router.poll_event().is_some() {}
    assert_eq!(router.route_count(), n);
    (router, now)
}

/// An RTP-shaped datagram: every peer drops it at once (no media negotiated).
const RTP: [u8; 12] = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];

/// A check naming a ufrag nobody has.
fn unknown_check() -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0, 12, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[3; 12]);
    m.extend_from_slice(&[0x00, 0x06, 0, 8]);
    m.extend_from_slice(b"nope:who");
    m
}

fn per_op(iters: u32, mut f: impl FnMut(u32)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    start.elapsed() / iters
}

fn route_figures(n: usize) {
    let (mut router, now) = checking_router(n);
    let iters = 200_000;
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let hit = per_op(iters, |i| {
        let d = Datagram {
            source: client_addr(i as usize % n),
            destination: server(),
            contents: &RTP,
        };
        router.handle_datagram(now, black_box(d));
    });
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs;
    // The driver drains after each datagram; the peers have nothing to say.
    let mut buf = [0u8; 2048];
    while router.poll_transmit(now, &mut buf).is_some() {}
    while router.poll_event().is_some() {}
    let stranger: SocketAddr = "203.0.113.1:1".parse().unwrap();
    let miss = per_op(iters, |_| {
        let d = Datagram {
            source: stranger,
            destination: server(),
            contents: &RTP,
        };
        router.handle_datagram(now, black_box(d));
    });
    let check = unknown_check();
    let unknown = per_op(iters, |_| {
        let d = Datagram {
            source: stranger,
            destination: server(),
            contents: &check,
        };
        router.handle_datagram(now, black_box(d));
    });
    println!(
        "{n:>6} peers: routed datagram {:>4.0} ns ({} allocations in {iters}), \
         no route {:>3.0} ns, unknown ufrag {:>3.0} ns",
        hit.as_nanos(),
        allocs,
        miss.as_nanos(),
        unknown.as_nanos()
    );
}

fn idle_figures(n: usize) {
    let (mut router, now) = checking_router(n);
    let mut buf = [0u8; 2048];
    let iters = 1_000_000;
    let timeout = per_op(iters, |_| {
        black_box(router.poll_timeout());
    });
    let round = per_op(iters, |_| {
        router.handle_timeout(now);
        black_box(router.poll_transmit(now, &mut buf));
        black_box(router.poll_event());
        black_box(router.poll_timeout());
    });
    println!(
        "{n:>6} peers: idle poll_timeout {:>4.1} ns, idle driver round (handle_timeout, \
         poll_transmit, poll_event, poll_timeout) {:>5.1} ns",
        timeout.as_nanos() as f64,
        round.as_nanos() as f64
    );
}

fn table() {
    let ids = (Identity::generate().unwrap(), Identity::generate().unwrap());
    // A lone PeerConnection given the same datagram: what the peer itself costs.
    let (router, now) = checking_router(1);
    let (id, _) = router.iter().next().unwrap();
    let mut router = router;
    let mut lone = router.remove(id).unwrap();
    let direct = per_op(200_000, |_| {
        let d = Datagram {
            source: client_addr(0),
            destination: server(),
            contents: &RTP,
        };
        lone.handle_datagram(now, black_box(d));
        black_box(lone.poll_timeout());
    });
    println!(
        "a lone PeerConnection, same datagram, plus its poll_timeout: {:.0} ns",
        direct.as_nanos()
    );
    for n in [10, 10_000] {
        route_figures(n);
    }
    for n in [10, 10_000] {
        idle_figures(n);
    }

    // `--connect N` connects N clients instead of 1,000 (10,000 takes about a minute and
    // a few hundred MB with the clients).
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .iter()
        .position(|a| a == "--connect")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1_000);
    let mut net = Net::negotiated(n, &ids);
    let start = Instant::now();
    net.connect(Duration::from_secs(60));
    let cpu = start.elapsed();
    println!(
        "connect {n} clients to one router at once (ICE, DTLS, SCTP, channel open; both sides, \
         one thread): {:.2} s, {:.3} ms per peer",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e3 / n as f64
    );
    net.idle(Duration::from_secs(2));
    // Connected and idle: consent and SCTP timers run, nothing is due right now.
    let now = net.now;
    let mut buf = [0u8; 2048];
    net.router.handle_timeout(now);
    while net.router.poll_transmit(now, &mut buf).is_some() {}
    while net.router.poll_event().is_some() {}
    let calls = net.router.stats().peer_calls;
    let round = per_op(1_000_000, |_| {
        net.router.handle_timeout(now);
        assert!(net.router.poll_transmit(now, &mut buf).is_none());
        black_box(net.router.poll_event());
        black_box(net.router.poll_timeout());
    });
    println!(
        "{n:>6} connected idle peers: idle driver round {:.1} ns, calls into peers {}, next \
         deadline in {:?}",
        round.as_nanos() as f64,
        net.router.stats().peer_calls - calls,
        net.router
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now)),
    );
    println!("router counters: {:?}", net.router.stats());
    // Removing and dropping the peers frees what their connections allocated; dropping the
    // router then frees its slots (each with a connection's inline bytes), tables, heap and
    // queues. The clients stay.
    let inline = std::mem::size_of::<PeerConnection>();
    let live = || LIVE.load(Ordering::Relaxed);
    let before = live();
    let peers: Vec<_> = net.router.iter().map(|(id, _)| id).collect();
    for id in peers {
        drop(net.router.remove(id).unwrap());
    }
    let heap = (before - live()) as f64 / n as f64;
    let before = live();
    drop(std::mem::take(&mut net.router));
    let router = (before - live()) as f64 / n as f64;
    println!(
        "memory per connected idle server-side peer (one open channel): {:.1} KiB in all; the \
         PeerConnection {:.1} KiB ({:.1} KiB allocated + {inline} bytes inline), the router's \
         slot, tables and heap {:.0} bytes",
        (heap + router) / 1024.0,
        (heap + inline as f64) / 1024.0,
        heap / 1024.0,
        router - inline as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--table") {
        table();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let (mut router, now) = checking_router(10_000);
    c.bench_function("router/10k/routed_datagram", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % 10_000;
            let d = Datagram {
                source: client_addr(i),
                destination: server(),
                contents: &RTP,
            };
            router.handle_datagram(now, black_box(d));
        })
    });
    let mut buf = [0u8; 2048];
    while router.poll_transmit(now, &mut buf).is_some() {}
    while router.poll_event().is_some() {}
    c.bench_function("router/10k/idle_poll_timeout", |b| {
        b.iter(|| black_box(router.poll_timeout()))
    });
    c.bench_function("router/10k/idle_round", |b| {
        b.iter(|| {
            router.handle_timeout(now);
            black_box(router.poll_transmit(now, &mut buf));
            black_box(router.poll_event());
        })
    });
    c.final_summary();
}
