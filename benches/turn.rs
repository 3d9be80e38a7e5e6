//! The TURN server's relay hot path, in process: ChannelData from a client relayed to its peer,
//! and a peer's datagram relayed to the client as ChannelData (1200-byte payloads), plus the
//! allocations per relayed packet (must be 0) and the heap per allocation, printed.
//!
//! `cargo bench --bench turn -- --warm-up-time 1 --measurement-time 2`

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaon::turn::{ChannelData, Client, ClientConfig, Server, ServerConfig};
use kaon::{Datagram, Protocol};
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

const SERVER: &str = "192.0.2.1:3478";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Allocates from `client` on `server` and binds a channel to `peer`.
fn allocate(now: Instant, server: &mut Server, local: SocketAddr, peer: Option<SocketAddr>) {
    let mut client = Client::new(ClientConfig {
        seed: Some(1),
        ..ClientConfig::new(local, addr(SERVER), "alice", "secret")
    });
    client.allocate(now);
    if let Some(peer) = peer {
        client.permit(now, peer);
    }
    let mut buf = [0u8; 1500];
    for _ in 0..6 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let d = Datagram {
                source: t.source,
                destination: t.destination,
                contents: &buf[..t.len],
            };
            server.handle_datagram(now, d);
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            let d = Datagram {
                source: t.source,
                destination: t.destination,
                contents: &buf[..t.len],
            };
            client.handle_datagram(now, d);
        }
    }
    while server.poll_event().is_some() {}
    assert!(peer.is_none() || client.channel(peer.unwrap()).is_some());
}

fn server(now: Instant, relays: usize) -> Server {
    let relays = (0..relays)
        .map(|i| SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 10_000 + i as u16))
        .collect();
    let mut cfg = ServerConfig::new("bench", vec![addr(SERVER)], relays);
    cfg.users.push(("alice".into(), "secret".into()));
    cfg.max_allocations_per_user = usize::MAX;
    cfg.seed = Some(2);
    Server::new(cfg, now, 1_700_000_000)
}

fn benches(c: &mut Criterion) {
    let now = Instant::now();
    let client = addr("198.51.100.7:40000");
    let peer = addr("203.0.113.9:5000");
    let relay = addr("192.0.2.1:10000");
    let mut s = server(now, 1);
    allocate(now, &mut s, client, Some(peer));
    let payload = [7u8; 1200];
    let mut framed = [0u8; 1300];
    let n = ChannelData {
        channel: 0x4000,
        data: &payload,
    }
    .write(&mut framed, false)
    .unwrap();
    let framed = &framed[..n];
    let mut out = [0u8; 1500];

    let mut relay_both = |s: &mut Server| {
        let d = Datagram {
            source: client,
            destination: addr(SERVER),
            contents: black_box(framed),
        };
        s.handle_datagram(now, d);
        let t = s.poll_transmit(now, &mut out).unwrap();
        debug_assert_eq!(t.destination, peer);
        let d = Datagram {
            source: peer,
            destination: relay,
            contents: black_box(&payload),
        };
        s.handle_datagram(now, d);
        s.poll_transmit(now, &mut out).unwrap()
    };
    for _ in 0..100 {
        relay_both(&mut s);
    }
    let before = counting_alloc::allocations();
    for _ in 0..10_000 {
        relay_both(&mut s);
    }
    let per_packet = (counting_alloc::allocations() - before) as f64 / 20_000.0;
    println!("turn: heap allocations per relayed packet: {per_packet}");

    let mut g = c.benchmark_group("turn");
    g.throughput(Throughput::Elements(2));
    g.bench_function(
        "server relays ChannelData client->peer and peer->client (1200 B)",
        |b| b.iter(|| relay_both(&mut s)),
    );
    g.finish();

    // Heap per allocation: the server's live bytes across 1000 more allocations (each with a
    // permission and a channel), after 1000 to get past the first growth of its tables.
    let mut big = server(now, 2000);
    let local = |i: u32| SocketAddr::new(Ipv4Addr::from(0x0a00_0000 + i).into(), 5000);
    for i in 0..1000 {
        allocate(now, &mut big, local(i), Some(peer));
    }
    let live = counting_alloc::live_bytes();
    for i in 1000..2000 {
        allocate(now, &mut big, local(i), Some(peer));
    }
    let per_allocation = (counting_alloc::live_bytes() - live) / 1000;
    println!(
        "turn: heap per allocation (with a permission and a channel): {per_allocation} bytes; server estimate {} bytes for {} allocations",
        big.memory(),
        big.allocations()
    );
}

criterion_group!(turn, benches);
criterion_main!(turn);
