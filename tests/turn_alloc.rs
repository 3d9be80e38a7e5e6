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
