//! kaon's TURN server over TCP and TLS on kaon-tokio (`kaon_tokio::turn_server::TcpServer`,
//! RFC 8656 §3.1): an allocation over TCP ends when its connection closes; two kaon peers
//! connect relay-only through it, one over `turns:` (rustls on both ends, a CA the test makes
//! with openssl); and coturn's `turnutils_uclient -S` relays through it over TLS. The TLS
//! tests need `openssl` (and `turnutils_uclient`), which `.ci/run` installs.

#[path = "turn_support/certs.rs"]
mod certs;
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::ice::IceTransportPolicy;
use kaon::peer::{IceServer, PeerConfig, PeerEvent, SdpType};
use kaon::turn::{
    Client, ClientConfig, ClientEvent, Server, ServerConfig, ServerEvent, StreamFramer,
    TurnTransport,
};
use kaon::{Datagram, Protocol};
use kaon_tokio::Driver;
use kaon_tokio::turn_server::{TcpServer, tls_config_from_pem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use certs::{Scratch, make_certificates};

const USER: &str = "test";
const PASSWORD: &str = "test123";
const REALM: &str = "example.test";

type TurnDriver = Driver<TcpServer<Server>>;

/// A UDP socket and a TCP listener on the same loopback address.
async fn udp_and_tcp() -> (UdpSocket, TcpListener) {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(t) = TcpListener::bind(u.local_addr().unwrap()).await {
            return (u, t);
        }
    }
}

/// kaon's TURN server on kaon-tokio: UDP and TCP at one address, TLS at another when `tls`
/// gives a certificate directory. Returns the UDP/TCP address, the TLS one, and the driver.
async fn kaon_server(tls: Option<&Path>) -> (SocketAddr, Option<SocketAddr>, TurnDriver) {
    let (udp, tcp) = udp_and_tcp().await;
    let listen = udp.local_addr().unwrap();
    let tls_listener = match tls {
        Some(_) => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        None => None,
    };
    let tls_addr = tls_listener.as_ref().map(|l| l.local_addr().unwrap());
    let mut sockets = vec![udp];
    for _ in 0..8 {
        sockets.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let listening = std::iter::once(listen).chain(tls_addr).collect();
    let mut cfg = ServerConfig::new(REALM, listening, addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let server = Server::new(cfg, Instant::now(), 1_700_000_000);
    // As the `turn-server` example runs it: the driver task reads its sockets itself.
    let driver = Driver::spawn_inline(TcpServer::new(server), sockets).unwrap();
    TcpServer::listen(&driver, tcp).unwrap();
    if let (Some(dir), Some(listener)) = (tls, tls_listener) {
        let cert = std::fs::read(dir.join("server.pem")).unwrap();
        let key = std::fs::read(dir.join("server.key")).unwrap();
        let config = tls_config_from_pem(&cert, &key).unwrap();
        TcpServer::listen_tls(&driver, listener, config).unwrap();
    }
    (listen, tls_addr, driver)
}

async fn allocations(driver: &TurnDriver) -> usize {
    driver
        .call(|s: &mut TcpServer<Server>, _| s.inner().allocations())
        .await
        .unwrap()
}

/// Allocates with kaon's client over `tcp`, a connection to `server`; returns the relayed
/// addresses. kaon's client speaks datagrams; over TCP each is one whole message.
async fn allocate_over_tcp(
    tcp: &mut tokio::net::TcpStream,
    server: SocketAddr,
    seed: u64,
) -> Vec<SocketAddr> {
    let local = tcp.local_addr().unwrap();
    let mut client = Client::new(ClientConfig {
        seed: Some(seed),
        transport: TurnTransport::Tcp,
        ..ClientConfig::new(local, server, USER, PASSWORD)
    });
    client.allocate(Instant::now());
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 2048];
    let mut read = vec![0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no allocation over TCP");
        let now = Instant::now();
        client.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            tcp.write_all(&buf[..t.len]).await.unwrap();
        }
        if let Ok(n) = tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut read)).await {
            let n = n.unwrap();
            assert!(n > 0, "the server closed the connection");
            framer.push(&read[..n]);
            while let Ok(Some(m)) = framer.next_message() {
                let d = Datagram {
                    source: server,
                    destination: local,
                    contents: m,
                };
                client.handle_datagram(Instant::now(), d);
            }
        }
        while let Some(e) = client.poll_event() {
            match e {
                ClientEvent::Allocated { relayed, .. } => return relayed,
                ClientEvent::Failed(e) => panic!("allocation failed over TCP: {e}"),
                _ => {}
            }
        }
    }
}

/// Allocates with kaon's client over `udp`; returns the relayed addresses.
async fn allocate_over_udp(udp: &UdpSocket, server: SocketAddr, seed: u64) -> Vec<SocketAddr> {
    let local = udp.local_addr().unwrap();
    let mut client = Client::new(ClientConfig {
        seed: Some(seed),
        ..ClientConfig::new(local, server, USER, PASSWORD)
    });
    client.allocate(Instant::now());
    let mut buf = vec![0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no allocation over UDP");
        let now = Instant::now();
        client.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            udp.send_to(&buf[..t.len], t.destination).await.unwrap();
        }
        let limit = Duration::from_millis(50);
        if let Ok(Ok((n, from))) = tokio::time::timeout(limit, udp.recv_from(&mut buf)).await {
            let d = Datagram {
                source: from,
                destination: local,
                contents: &buf[..n],
            };
            client.handle_datagram(Instant::now(), d);
        }
        while let Some(e) = client.poll_event() {
            match e {
                ClientEvent::Allocated { relayed, .. } => return relayed,
                ClientEvent::Failed(e) => panic!("allocation failed over UDP: {e}"),
                _ => {}
            }
        }
    }
}

/// RFC 8656 §2.2: a UDP client and a TCP client at the same IP and port are two 5-tuples.
/// Both allocate through the server's UDP and TCP listeners at one address, each answered
/// over its own transport, and the TCP connection closing ends only its own allocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_and_a_tcp_client_at_one_address_get_two_allocations() {
    let (server, _, driver) = kaon_server(None).await;
    // A UDP socket and a TCP connection from the same loopback address and port.
    let (udp, mut tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if socket.bind(udp.local_addr().unwrap()).is_ok() {
            break (udp, socket.connect(server).await.unwrap());
        }
    };
    assert_eq!(udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let over_tcp = allocate_over_tcp(&mut tcp, server, 5).await;
    let over_udp = allocate_over_udp(&udp, server, 6).await;
    assert_ne!(over_tcp, over_udp);
    assert_eq!(allocations(&driver).await, 2);
    drop(tcp);
    let deadline = Instant::now() + Duration::from_secs(5);
    while allocations(&driver).await != 1 {
        assert!(
            Instant::now() < deadline,
            "the TCP allocation outlived its connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_over_tcp_ends_when_its_connection_closes() {
    let (server, _, driver) = kaon_server(None).await;
    let mut tcp = tokio::net::TcpStream::connect(server).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let relayed = allocate_over_tcp(&mut tcp, server, 3).await;
    assert_eq!(allocations(&driver).await, 1);
    // The client goes away without deallocating: the connection just closes.
    drop(tcp);
    let deadline = Instant::now() + Duration::from_secs(5);
    while allocations(&driver).await != 0 {
        assert!(
            Instant::now() < deadline,
            "the allocation outlived its connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let limit = Duration::from_secs(2);
    let first = tokio::time::timeout(limit, driver.next_event())
        .await
        .unwrap();
    assert!(
        matches!(first, Some(ServerEvent::Allocated { client, .. }) if client == local),
        "{first:?}"
    );
    let second = tokio::time::timeout(limit, driver.next_event())
        .await
        .unwrap();
    assert_eq!(
        second,
        Some(ServerEvent::Released {
            client: local,
            relayed,
            expired: false
        })
    );
}

/// Two kaon-tokio peers relay-only through kaon's server, `a` over `a_url` trusting `tls`.
async fn channel_through(a_url: &str, tls: kaon_tokio::turn_stream::TurnTls, b_url: &str) {
    let peer = |url: &str, tls| {
        let url = url.to_owned();
        async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let config = PeerConfig {
                ice_servers: vec![IceServer::turn(&url, USER, PASSWORD)],
                ice_transport_policy: IceTransportPolicy::Relay,
                ..PeerConfig::default()
            };
            Arc::new(kaon_tokio::PeerConnection::with_turn_tls(config, vec![socket], tls).unwrap())
        }
    };
    let a = peer(a_url, tls).await;
    let b = peer(b_url, kaon_tokio::turn_stream::TurnTls::System).await;
    let chat = a
        .create_data_channel("turns", ChannelConfig::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .await
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer)
        .await
        .unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .await
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer)
        .await
        .unwrap();
    let mut trickles = Vec::new();
    for (from, to) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        trickles.push(tokio::spawn(async move {
            while let Some(e) = from.next_event().await {
                if let PeerEvent::LocalCandidate(c) = e {
                    assert!(c.candidate.contains(" typ relay"), "{}", c.candidate);
                    to.add_ice_candidate(c).await.unwrap();
                }
            }
        }));
    }
    let limit = Duration::from_secs(20);
    tokio::time::timeout(limit, chat.wait_open())
        .await
        .unwrap_or_else(|_| panic!("{a_url}: channel never opened"))
        .unwrap();
    let remote = tokio::time::timeout(limit, b.accept_data_channel())
        .await
        .unwrap()
        .unwrap();
    chat.send_text("hello over turns").await.unwrap();
    let got = tokio::time::timeout(limit, remote.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"hello over turns");
    remote.send_text("and back").await.unwrap();
    let got = tokio::time::timeout(limit, chat.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"and back");
    let relayed = a
        .call(|pc, _| pc.ice().selected_pair().map(|p| p.relayed))
        .await
        .unwrap();
    assert_eq!(relayed, Some(true), "{a_url}");
    for t in trickles {
        t.abort();
    }
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaon_peers_connect_relay_only_through_kaons_server_over_turns() {
    if common::which("openssl").is_none() {
        common::missing_peer("turn_tls_server", "openssl");
        return;
    }
    let scratch = Scratch::new("turn-tls-peers");
    make_certificates(&scratch.0);
    let (server, tls, driver) = kaon_server(Some(&scratch.0)).await;
    let tls = tls.unwrap();
    let ca = std::fs::read(scratch.0.join("ca.pem")).unwrap();
    let roots = kaon_tokio::turn_stream::TurnTls::from_pem(&ca).unwrap();
    let turns = format!("turns:127.0.0.1:{}", tls.port());
    let udp = format!("turn:127.0.0.1:{}?transport=udp", server.port());
    channel_through(&turns, roots, &udp).await;
    let (stats, link) = driver
        .call(|s: &mut TcpServer<Server>, _| (s.inner().stats().clone(), *s.link().stats()))
        .await
        .unwrap();
    assert!(stats.allocations >= 2 && stats.to_peers > 0, "{stats:?}");
    assert!(link.opened >= 1 && link.bad_framing == 0, "{link:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_uclient_over_tls_relays_through_kaons_server() {
    let (Some(uclient), Some(_)) = (common::which("turnutils_uclient"), common::which("openssl"))
    else {
        common::missing_peer(
            "turn_tls_server",
            "turnutils_uclient (Debian package coturn) and openssl",
        );
        return;
    };
    let scratch = Scratch::new("turn-tls-uclient");
    make_certificates(&scratch.0);
    let (_, tls, driver) = kaon_server(Some(&scratch.0)).await;
    let port = tls.unwrap().port().to_string();
    // -t -S: TLS over TCP to the server (RFC 8656 §3.1); the relays stay UDP.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(uclient)
            .args([
                "-t", "-S", "-u", USER, "-w", PASSWORD, "-y", "-c", "-n", "20", "-m", "2", "-l",
                "200",
            ])
            .args(["-p", &port, "127.0.0.1"])
            .output()
            .expect("run turnutils_uclient")
    })
    .await
    .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "uclient failed:\n{text}");
    assert!(
        text.contains("Total lost packets 0 (0.000000%)"),
        "uclient lost packets:\n{text}"
    );
    let (stats, link) = driver
        .call(|s: &mut TcpServer<Server>, _| (s.inner().stats().clone(), *s.link().stats()))
        .await
        .unwrap();
    assert!(stats.allocations >= 2, "{stats:?}");
    assert!(link.opened >= 2 && link.bad_framing == 0, "{link:?}");
}
