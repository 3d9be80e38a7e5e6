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

/// A client on a blocking loopback socket: allocates on `server`, binds a channel to a peer
/// socket of its own, tells `warm` after `warmup` round trips and `done` after `rounds` more.
/// A round trip is ChannelData to the peer through the relay, and the peer's echo back to the
/// client as ChannelData: one relayed packet each way, paced so that none is lost.
fn ping_pong_client(
    server: std::net::SocketAddr,
    warmup: usize,
    rounds: usize,
    warm: tokio::sync::oneshot::Sender<()>,
    done: tokio::sync::oneshot::Sender<()>,
) -> Result<(), String> {
    use kaon::turn::{ChannelData, Client, ClientConfig, ClientEvent};
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};
    let timeout = Some(Duration::from_secs(5));
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let peer = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    peer.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    let (local, peer_addr) = (sock.local_addr().unwrap(), peer.local_addr().unwrap());
    let mut client = Client::new(ClientConfig {
        seed: Some(1),
        ..ClientConfig::new(local, server, "alice", "secret")
    });
    let start = Instant::now();
    client.allocate(start);
    client.permit(start, peer_addr);
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2048];
    let mut channel = None;
    while channel.is_none() {
        let now = Instant::now();
        if now - start > Duration::from_secs(5) {
            return Err("no channel bound within 5 s".into());
        }
        Protocol::handle_timeout(&mut client, now);
        while let Some(t) = Protocol::poll_transmit(&mut client, now, &mut buf) {
            let _ = sock.send_to(&buf[..t.len], t.destination);
        }
        if let Ok((n, source)) = sock.recv_from(&mut buf) {
            let d = Datagram {
                source,
                destination: local,
                contents: &buf[..n],
            };
            Protocol::handle_datagram(&mut client, Instant::now(), d);
        }
        while let Some(e) = Protocol::poll_event(&mut client) {
            match e {
                ClientEvent::ChannelBound { channel: c, .. } => channel = Some(c),
                ClientEvent::Failed(e) => return Err(e.to_string()),
                _ => {}
            }
        }
    }
    let channel = channel.unwrap();
    sock.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    let payload = [0x5au8; 100];
    let mut framed = [0u8; 128];
    let n = ChannelData {
        channel,
        data: &payload,
    }
    .write(&mut framed, false)
    .map_err(|e| e.to_string())?;
    let mut round_trip = || -> Result<(), String> {
        sock.send_to(&framed[..n], server)
            .map_err(|e| e.to_string())?;
        let (len, relay) = peer.recv_from(&mut buf).map_err(|e| e.to_string())?;
        if buf[..len] != payload {
            return Err(format!("the peer got {len} bytes, not the payload"));
        }
        peer.send_to(&payload, relay).map_err(|e| e.to_string())?;
        let len = sock.recv(&mut buf).map_err(|e| e.to_string())?;
        match ChannelData::parse(&buf[..len]) {
            Ok(m) if m.channel == channel && m.data == payload => Ok(()),
            _ => Err(format!("the client got {len} bytes, not the echo")),
        }
    };
    for _ in 0..warmup {
        round_trip()?;
    }
    let _ = warm.send(());
    for _ in 0..rounds {
        round_trip()?;
    }
    let _ = done.send(());
    Ok(())
}

/// The relay path as users run it (kaon-tokio's driver reading its sockets inline with the
/// TCP wrapper, on a current-thread runtime, as the `turn-server` example does) over real
/// loopback sockets: once warm, relaying ChannelData both ways allocates nothing on the
/// thread that runs the server (the socket reads, the core and the batched sends all run on
/// it). The client and the peer run on a thread of their own, whose allocations are not
/// counted.
#[test]
fn the_tokio_driver_relays_channel_data_without_allocating() {
    assert_eq!(tokio_relay_allocations(true), 0);
}

/// As above, on the driver with reader tasks and an inbox (`Driver::spawn`).
#[test]
fn the_tokio_driver_with_reader_tasks_relays_channel_data_without_allocating() {
    assert_eq!(tokio_relay_allocations(false), 0);
}

/// Allocations on the server's thread while it relays 2 × `ROUNDS` packets, on kaon-tokio's
/// driver reading `inline` or through reader tasks.
fn tokio_relay_allocations(inline: bool) -> usize {
    use kaon_tokio::turn_server::TcpServer;
    const WARMUP: usize = 200;
    const ROUNDS: usize = 2000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let allocations_while_relaying = runtime.block_on(async {
        let listen = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let relay = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = listen.local_addr().unwrap();
        let server = loopback_server(server_addr, relay.local_addr().unwrap());
        let (server, sockets) = (TcpServer::new(server), vec![listen, relay]);
        let driver = if inline {
            kaon_tokio::Driver::spawn_inline(server, sockets)
        } else {
            kaon_tokio::Driver::spawn(server, sockets)
        }
        .unwrap();
        let (warm_tx, warm_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let client = std::thread::spawn(move || {
            ping_pong_client(server_addr, WARMUP, ROUNDS, warm_tx, done_tx)
        });
        let warmed = warm_rx.await;
        let before = allocations();
        let finished = done_rx.await;
        let during = allocations() - before;
        if let Err(e) = client.join().unwrap() {
            panic!("client: {e}");
        }
        assert!(warmed.is_ok() && finished.is_ok());
        let stats = driver.call(|s, _| s.inner().stats().clone()).await.unwrap();
        assert!(stats.to_peers >= (WARMUP + ROUNDS) as u64, "{stats:?}");
        assert!(stats.to_clients >= (WARMUP + ROUNDS) as u64, "{stats:?}");
        driver.shutdown().await;
        during
    });
    println!(
        "{allocations_while_relaying} allocations on the server's thread over {} relayed packets \
         (inline: {inline})",
        2 * ROUNDS
    );
    allocations_while_relaying
}

/// kaon-std's driver reading its sockets inline (one thread polling them, no reader threads)
/// relays ChannelData both ways without allocating on its thread once warm.
#[test]
fn the_std_inline_driver_relays_channel_data_without_allocating() {
    use kaon_std::turn_stream::TcpServer;
    const WARMUP: usize = 200;
    const ROUNDS: usize = 2000;
    let listen = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = listen.local_addr().unwrap();
    let server = loopback_server(server_addr, relay.local_addr().unwrap());
    let driver =
        kaon_std::Driver::spawn_inline(TcpServer::new(server), vec![listen, relay]).unwrap();
    let (warm_tx, warm_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let client =
        std::thread::spawn(move || ping_pong_client(server_addr, WARMUP, ROUNDS, warm_tx, done_tx));
    let warmed = warm_rx.blocking_recv();
    // Counted on the driver's thread, which the calls run on.
    let before = driver.call(|_, _| allocations()).unwrap();
    let finished = done_rx.blocking_recv();
    let during = driver.call(|_, _| allocations()).unwrap() - before;
    if let Err(e) = client.join().unwrap() {
        panic!("client: {e}");
    }
    assert!(warmed.is_ok() && finished.is_ok());
    let stats = driver.call(|s, _| s.inner().stats().clone()).unwrap();
    assert!(stats.to_peers >= (WARMUP + ROUNDS) as u64, "{stats:?}");
    assert!(stats.to_clients >= (WARMUP + ROUNDS) as u64, "{stats:?}");
    driver.shutdown();
    println!(
        "{during} allocations on the std driver's thread over {} relayed packets",
        2 * ROUNDS
    );
    assert_eq!(during, 0);
}

/// The server the driver tests relay through: alice's, listening on `listen`, one relay.
fn loopback_server(
    listen: std::net::SocketAddr,
    relay: std::net::SocketAddr,
) -> kaon::turn::Server {
    let mut cfg = kaon::turn::ServerConfig::new("example.org", vec![listen], vec![relay]);
    cfg.users.push(("alice".into(), "secret".into()));
    cfg.seed = Some(5);
    kaon::turn::Server::new(cfg, std::time::Instant::now(), UNIX_NOW)
}
