//! The driver's UDP I/O over loopback (batched on Linux: recvmmsg in, GSO runs out): bursts
//! a peer sends are forwarded whole and in order, the runs of one size cut by shorter
//! datagrams and by a change of destination; on both drivers (reader threads and an inbox,
//! and the thread reading its sockets itself).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::{Datagram, Protocol, Transmit};
use kaon_std::Driver;

/// Forwards every datagram it receives to `to`, or to `other` when its first byte is odd.
struct Forward {
    local: SocketAddr,
    to: SocketAddr,
    other: SocketAddr,
    queue: std::collections::VecDeque<Vec<u8>>,
}

impl Protocol for Forward {
    type Event = ();
    fn handle_datagram(&mut self, _: Instant, d: Datagram<'_>) {
        self.queue.push_back(d.contents.to_vec());
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let bytes = self.queue.pop_front()?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        let to = if bytes[0] % 2 == 1 {
            self.other
        } else {
            self.to
        };
        Some(Transmit::new(self.local, to, bytes.len()))
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn sink() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn drain(socket: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 2048];
    (0..n)
        .map_while(|_| socket.recv(&mut buf).ok().map(|len| buf[..len].to_vec()))
        .collect()
}

#[test]
fn forwarded_bursts_arrive_whole_and_in_order() {
    for inline in [false, true] {
        forward_bursts(inline);
    }
}

fn forward_bursts(inline: bool) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let (even, odd) = (sink(), sink());
    let forward = Forward {
        local,
        to: even.local_addr().unwrap(),
        other: odd.local_addr().unwrap(),
        queue: Default::default(),
    };
    let driver = if inline {
        Driver::spawn_inline(forward, vec![socket])
    } else {
        Driver::spawn(forward, vec![socket])
    }
    .unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Bursts of 20: mostly 100 bytes to one sink, every 7th shorter, every 9th to the other.
    let sent: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            let len = if i % 7 == 6 { 40 } else { 100 };
            let mut v = vec![if i % 9 == 8 { 1 } else { 2 }; len];
            v[1..5].copy_from_slice(&i.to_be_bytes());
            v
        })
        .collect();
    for burst in sent.chunks(20) {
        for d in burst {
            peer.send_to(d, local).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let want =
        |first: u8| -> Vec<Vec<u8>> { sent.iter().filter(|d| d[0] == first).cloned().collect() };
    assert_eq!(drain(&odd, want(1).len()), want(1));
    assert_eq!(drain(&even, want(2).len()), want(2));
    assert_eq!(driver.inbox_stats().dropped, 0);
}

/// The inline driver's thread sleeps in `poll(2)` on its sockets with no deadline: a command
/// must wake it at once, and so must a shutdown.
#[test]
fn an_idle_inline_driver_runs_commands_and_stops_at_once() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let forward = Forward {
        local,
        to: local,
        other: local,
        queue: Default::default(),
    };
    let driver = Driver::spawn_inline(forward, vec![socket]).unwrap();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        assert_eq!(driver.call(|f, _| f.queue.len()), Some(0));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }
    let start = Instant::now();
    assert!(driver.shutdown().is_some());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}
