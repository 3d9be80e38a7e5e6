//! The driver's batched UDP I/O over loopback: a burst of equal-size datagrams to one peer
//! (sent as GSO runs on Linux) arrives whole and in order, a burst to several peers
//! interleaved arrives whole, and a GSO train a peer sends (cut apart by the kernel, or
//! received as one GRO buffer where a socket asks for GRO) reaches the protocol as its
//! separate datagrams. Each on both drivers: reader tasks and an inbox (`Driver::spawn`), and
//! the task reading its sockets itself (`Driver::spawn_inline`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::{Datagram, Protocol, Transmit};
use kaon_tokio::Driver;
use tokio::net::UdpSocket;

/// Sends what it is told to, and reports every datagram it receives as an event.
#[derive(Default)]
struct Blaster {
    local: Option<SocketAddr>,
    queue: std::collections::VecDeque<(SocketAddr, Vec<u8>)>,
}

impl Protocol for Blaster {
    type Event = Vec<u8>;
    fn handle_datagram(&mut self, _: Instant, d: Datagram<'_>) {
        self.queue
            .push_back((SocketAddr::from(([0, 0, 0, 0], 0)), d.contents.to_vec()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        // Received datagrams wait as events (destination 0.0.0.0:0), not transmits.
        let i = self.queue.iter().position(|(to, _)| to.port() != 0)?;
        let (to, bytes) = self.queue.remove(i)?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Some(Transmit::new(self.local?, to, bytes.len()))
    }
    fn poll_event(&mut self) -> Option<Vec<u8>> {
        let i = self.queue.iter().position(|(to, _)| to.port() == 0)?;
        self.queue.remove(i).map(|(_, b)| b)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn numbered(i: u32, len: usize) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; len];
    v[..4].copy_from_slice(&i.to_be_bytes());
    v
}

async fn driver(inline: bool) -> (Driver<Blaster>, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let blaster = Blaster {
        local: Some(local),
        ..Blaster::default()
    };
    let driver = if inline {
        Driver::spawn_inline(blaster, vec![socket])
    } else {
        Driver::spawn(blaster, vec![socket])
    };
    (driver.unwrap(), local)
}

/// Receives until `n` datagrams came or a second passes without one.
async fn collect(socket: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await {
            Ok(Ok((len, _))) => got.push(buf[..len].to_vec()),
            _ => break,
        }
    }
    got
}

#[tokio::test]
async fn a_burst_to_one_peer_arrives_whole_and_in_order() {
    for inline in [false, true] {
        burst_to_one_peer(inline).await;
    }
}

async fn burst_to_one_peer(inline: bool) {
    let (driver, _) = driver(inline).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = peer.local_addr().unwrap();
    // 150 datagrams of 100 bytes and a shorter last one: runs of one size end with it.
    let sent: Vec<Vec<u8>> = (0..151)
        .map(|i| numbered(i, if i == 150 { 37 } else { 100 }))
        .collect();
    let queued = sent.clone();
    driver
        .call(move |b: &mut Blaster, _| {
            b.queue.extend(queued.into_iter().map(|v| (to, v)));
        })
        .await
        .unwrap();
    let got = collect(&peer, sent.len()).await;
    assert_eq!(got, sent);
}

#[tokio::test]
async fn a_burst_to_interleaved_peers_arrives_whole() {
    for inline in [false, true] {
        burst_to_interleaved_peers(inline).await;
    }
}

async fn burst_to_interleaved_peers(inline: bool) {
    let (driver, _) = driver(inline).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    // Sizes change within runs too: 100, 100, 60, 100, 1200 ...
    let sizes = [100, 100, 60, 100, 1200, 1200, 20];
    let plan: Vec<(SocketAddr, Vec<u8>)> = (0..140u32)
        .map(|i| {
            let to = if (i / 3) % 2 == 0 { to_a } else { to_b };
            (to, numbered(i, sizes[i as usize % sizes.len()]))
        })
        .collect();
    let queued = plan.clone();
    driver
        .call(move |p: &mut Blaster, _| p.queue.extend(queued))
        .await
        .unwrap();
    let want_a: Vec<Vec<u8>> = plan
        .iter()
        .filter(|(t, _)| *t == to_a)
        .map(|(_, v)| v.clone())
        .collect();
    let want_b: Vec<Vec<u8>> = plan
        .iter()
        .filter(|(t, _)| *t == to_b)
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(collect(&a, want_a.len()).await, want_a);
    assert_eq!(collect(&b, want_b.len()).await, want_b);
}

#[tokio::test]
async fn a_gso_train_from_a_peer_reaches_the_protocol_as_separate_datagrams() {
    for inline in [false, true] {
        gso_train_from_a_peer(inline).await;
    }
}

async fn gso_train_from_a_peer(inline: bool) {
    let (driver, local) = driver(inline).await;
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let state = quinn_udp::UdpSocketState::new((&peer).into()).unwrap();
    let segments = state.max_gso_segments().clamp(1, 10);
    let train: Vec<u8> = (0..segments as u32)
        .flat_map(|i| numbered(i, 100))
        .collect();
    let transmit = quinn_udp::Transmit {
        destination: local,
        ecn: None,
        contents: &train,
        segment_size: (segments > 1).then_some(100),
        src_ip: None,
    };
    state.try_send((&peer).into(), &transmit).unwrap();
    let mut got = Vec::new();
    while got.len() < segments {
        let e = tokio::time::timeout(Duration::from_secs(2), driver.next_event())
            .await
            .expect("every segment arrives")
            .unwrap();
        got.push(e);
    }
    let want: Vec<Vec<u8>> = (0..segments as u32).map(|i| numbered(i, 100)).collect();
    assert_eq!(got, want);
}
