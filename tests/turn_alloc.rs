//! The TURN server relays ChannelData, Send and Data indications without allocating once
//! its buffers are warm, and the client wraps and unwraps without allocating either.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
mod turn_support;

use counting_alloc::*;
use kaon::ice::{Relay, Unwrapped};
use kaon::{Datagram, Protocol};
use turn_support::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn relaying_a_packet_allocates_nothing_on_either_end() {
    for channels in [true, false] {
        let mut w = World::new(server_config());
        let mut c = client_config("alice", "secret");
        c.channels = channels;
        w.add_client(c);
        let peer = addr(PEER);
        w.clients[0].permit(w.now, peer);
        w.step();
        assert_eq!(w.clients[0].channel(peer).is_some(), channels);
        let (now, client, server, relay) = (w.now, addr(CLIENT), addr(SERVER), addr(RELAY));
        let payload = [7u8; 1200];
        let mut wire = [0u8; 1500];
        let mut out = [0u8; 1500];
        let mut round = |w: &mut World| {
            // Client -> server -> peer.
            let n = Relay::wrap(&mut w.clients[0], now, peer, &payload, &mut wire).unwrap();
            let d = Datagram {
                source: client,
                destination: server,
                contents: &wire[..n],
            };
            w.server.handle_datagram(now, d);
            let t = w.server.poll_transmit(now, &mut out).unwrap();
            assert_eq!(
                (t.source, t.destination, t.len),
                (relay, peer, payload.len())
            );
            // Peer -> server -> client.
            let d = Datagram {
                source: peer,
                destination: relay,
                contents: &payload,
            };
            w.server.handle_datagram(now, d);
            let t = w.server.poll_transmit(now, &mut out).unwrap();
            assert_eq!(t.destination, client);
            match Relay::unwrap(&mut w.clients[0], now, &out[..t.len]) {
                Unwrapped::Data {
                    peer: p,
                    payload: got,
                } => {
                    assert_eq!((p, got.len()), (peer, payload.len()))
                }
                other => panic!("{other:?}"),
            }
        };
        for _ in 0..10 {
            round(&mut w); // warm the outbox's buffers
        }
        let before = allocations();
        for _ in 0..1000 {
            round(&mut w);
        }
        assert_eq!(allocations() - before, 0, "channels: {channels}");
    }
}

/// Allocates from a fresh client at `local` on `server` and binds a channel to `peer`.
fn allocate_at(
    now: std::time::Instant,
    server: &mut kaon::turn::Server,
    local: std::net::SocketAddr,
) {
    let mut client = kaon::turn::Client::new(kaon::turn::ClientConfig {
        seed: Some(1),
        ..kaon::turn::ClientConfig::new(local, addr(SERVER), "alice", "secret")
    });
    client.allocate(now);
    client.permit(now, addr(PEER));
    let mut buf = [0u8; 1500];
    for _ in 0..6 {
        while let Some(t) = Protocol::poll_transmit(&mut client, now, &mut buf) {
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
            Protocol::handle_datagram(&mut client, now, d);
        }
    }
    while server.poll_event().is_some() {}
    assert!(client.channel(addr(PEER)).is_some());
}

/// The heap an allocation (with a permission and a channel) holds on the server, measured
/// as `benches/turn.rs` does: the live bytes across 1000 allocations after the first 1000.
/// The README's figure; the bound catches a regression (885 B before the 5-tuple key).
#[test]
fn an_allocation_holds_under_one_kib_of_heap() {
    use std::net::{Ipv4Addr, SocketAddr};
    let now = std::time::Instant::now();
    let relays = (0..2000)
        .map(|i| SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 10_000 + i as u16))
        .collect();
    let mut cfg = kaon::turn::ServerConfig::new("example.org", vec![addr(SERVER)], relays);
    cfg.users.push(("alice".into(), "secret".into()));
    cfg.max_allocations_per_user = usize::MAX;
    cfg.seed = Some(2);
    let mut server = kaon::turn::Server::new(cfg, now, UNIX_NOW);
    let local = |i: u32| SocketAddr::new(Ipv4Addr::from(0x0a00_0000 + i).into(), 5000);
    for i in 0..1000 {
        allocate_at(now, &mut server, local(i));
    }
    let live = live_bytes();
    for i in 1000..2000 {
        allocate_at(now, &mut server, local(i));
    }
    let per_allocation = (live_bytes() - live) / 1000;
    println!("heap per allocation (a permission and a channel): {per_allocation} bytes");
    assert_eq!(server.allocations(), 2000);
    assert!(
        per_allocation < 1024,
        "{per_allocation} bytes per allocation"
    );
}
