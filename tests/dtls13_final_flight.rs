//! DTLS 1.3's last handshake flight, the client's Certificate, CertificateVerify and
//! Finished (RFC 9147 §5.8.4, §7): the client counts itself connected as soon as it sends the
//! flight, but the server is connected only once the Finished arrives. If the flight is lost,
//! the client must keep it and resend it on its timer until the server's ACK, even while it
//! already sends application data the server cannot read yet.
//!
//! The driver is a scripted wire in virtual time: every datagram crosses in 10 ms unless the
//! test's rule drops it, and time jumps to the next deadline or delivery.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::dtls::{
    Config, Endpoint, Event, HashAlgorithm, Identity, Role, VersionPolicy, record::Version,
};
use kaon::{Datagram, Protocol};

const CLIENT: &str = "10.0.0.1:5000";
const SERVER: &str = "10.0.0.2:5000";
const LATENCY: Duration = Duration::from_millis(10);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Which way a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

struct Pair {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
    /// Datagrams on the wire: (delivery time, direction, bytes).
    wire: Vec<(Instant, Dir, Vec<u8>)>,
    client_data: Vec<Vec<u8>>,
    server_data: Vec<Vec<u8>>,
}

impl Pair {
    fn new() -> Self {
        let (cid, sid) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let client = Config {
            role: Role::Client,
            local_addr: Some(addr(CLIENT)),
            remote_addr: Some(addr(SERVER)),
            remote_fingerprints: vec![sid.fingerprint(HashAlgorithm::Sha256)],
            versions: VersionPolicy::Dtls13,
            seed: Some(1),
            ..Config::default()
        };
        let server = Config {
            role: Role::Server,
            local_addr: Some(addr(SERVER)),
            remote_fingerprints: vec![cid.fingerprint(HashAlgorithm::Sha256)],
            versions: VersionPolicy::Dtls13,
            seed: Some(2),
            ..Config::default()
        };
        let now = Instant::now();
        Self {
            client: Endpoint::new(client, cid, now).unwrap(),
            server: Endpoint::new(server, sid, now).unwrap(),
            now,
            wire: Vec::new(),
            client_data: Vec::new(),
            server_data: Vec::new(),
        }
    }

    /// Puts what both ends have to send on the wire, unless `drop` says it is lost.
    fn transmit(&mut self, drop: &mut impl FnMut(Dir) -> bool) {
        let mut buf = [0u8; 1500];
        for dir in [Dir::ToServer, Dir::ToClient] {
            let ep = match dir {
                Dir::ToServer => &mut self.client,
                Dir::ToClient => &mut self.server,
            };
            while let Some(t) = ep.poll_transmit(self.now, &mut buf) {
                if !drop(dir) {
                    self.wire
                        .push((self.now + LATENCY, dir, buf[..t.len].to_vec()));
                }
            }
        }
    }

    /// Runs until `until` (virtual time) or until `stop` holds, dropping what `drop` says.
    /// `stop` is checked before anything is sent, so a test can stop just as an endpoint has
    /// queued a flight.
    fn run_until(
        &mut self,
        until: Instant,
        mut drop: impl FnMut(Dir) -> bool,
        stop: impl Fn(&Self) -> bool,
    ) {
        loop {
            if stop(self) {
                return;
            }
            self.transmit(&mut drop);
            let next = [
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.wire.iter().map(|w| w.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|&t| t <= until) else {
                self.now = until.max(self.now);
                return;
            };
            self.now = next.max(self.now);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|w| w.0 <= now);
            self.wire = later;
            for (_, dir, bytes) in due {
                let (to, source, destination) = match dir {
                    Dir::ToServer => (&mut self.server, addr(CLIENT), addr(SERVER)),
                    Dir::ToClient => (&mut self.client, addr(SERVER), addr(CLIENT)),
                };
                to.handle_datagram(
                    now,
                    Datagram {
                        source,
                        destination,
                        contents: &bytes,
                    },
                );
            }
            self.client.handle_timeout(now);
            self.server.handle_timeout(now);
            while let Some(e) = self.client.poll_event() {
                if let Event::Data(d) = e {
                    self.client_data.push(d);
                }
            }
            while let Some(e) = self.server.poll_event() {
                if let Event::Data(d) = e {
                    self.server_data.push(d);
                }
            }
        }
    }

    fn run(&mut self, until: Instant, drop: impl FnMut(Dir) -> bool) {
        self.run_until(until, drop, |_| false);
    }

    /// Runs until the client counts itself connected: it has just queued its last flight,
    /// which nothing has sent yet.
    fn until_client_connected(&mut self) {
        let deadline = self.now + Duration::from_secs(5);
        self.run_until(deadline, |_| false, |p| p.client.is_connected());
        assert!(self.client.is_connected(), "the client never connected");
    }
}

/// The client's last flight is lost, and so is everything the server sends afterwards (its
/// own retransmissions included): only the client's timer can get the Finished across.
#[test]
fn a_lost_client_finished_is_resent_on_the_client_timer_alone() {
    let mut p = Pair::new();
    p.until_client_connected();
    assert!(!p.server.is_connected());
    assert_eq!(p.client.version(), Some(Version::Dtls13));
    // The application starts at once (an SCTP INIT would): epoch 3 data the server cannot
    // read yet.
    p.client
        .send(b"sent before the server has our Finished")
        .unwrap();
    let mut lost = 0;
    let t0 = p.now;
    // The first datagrams the client sends now (its flight and the data) are lost; the
    // server's are all lost, so no repeat of its flight prompts the client.
    p.run(t0 + Duration::from_millis(50), |_| {
        lost += 1;
        true
    });
    assert!(lost >= 2, "the client's flight and data were sent: {lost}");
    assert!(!p.server.is_connected());
    p.run(t0 + Duration::from_secs(5), |dir| dir == Dir::ToClient);
    assert!(
        p.server.is_connected(),
        "the server never got the client's Finished"
    );
    assert!(p.client.stats().retransmissions >= 1);
    // With the server heard again, its ACK of the next retransmission (the timer is capped
    // at 3 s) ends the client's retransmissions, and data flows both ways.
    let t1 = p.now;
    p.run(t1 + Duration::from_secs(4), |_| false);
    assert_eq!(
        p.client.poll_timeout(),
        None,
        "the client's flight was acknowledged"
    );
    let resent = p.client.stats().retransmissions;
    p.client.send(b"from client").unwrap();
    p.server.send(b"from server").unwrap();
    p.run(p.now + Duration::from_secs(1), |_| false);
    assert_eq!(p.server_data, vec![b"from client".to_vec()]);
    assert_eq!(p.client_data, vec![b"from server".to_vec()]);
    assert_eq!(p.client.stats().retransmissions, resent);
}

/// The client's last flight is lost several times over while it keeps sending data (as a
/// connected SCTP association would): the data never stands in for the flight, which goes
/// out again on every timer expiry until it arrives.
#[test]
fn a_client_finished_lost_repeatedly_is_resent_until_it_arrives() {
    let mut p = Pair::new();
    p.until_client_connected();
    let t0 = p.now;
    let mut sent_to_server = 0;
    // Four seconds of losing everything the client sends, data offered every 200 ms.
    let mut at = t0;
    while at < t0 + Duration::from_secs(4) {
        p.client.send(b"lost").unwrap();
        at += Duration::from_millis(200);
        p.run(at, |dir| {
            if dir == Dir::ToServer {
                sent_to_server += 1;
                true
            } else {
                false
            }
        });
    }
    assert!(!p.server.is_connected());
    let resent = p.client.stats().retransmissions;
    assert!(resent >= 4, "{resent} retransmissions in 4 s");
    // Then the link heals: the next retransmission (the timer is capped at 3 s) connects the
    // server, and the data sent from then on arrives.
    p.run(p.now + Duration::from_secs(4), |_| false);
    assert!(p.server.is_connected());
    assert_eq!(p.client.poll_timeout(), None);
    p.client.send(b"after").unwrap();
    p.run(p.now + Duration::from_secs(1), |_| false);
    assert_eq!(p.server_data.last().map(Vec::as_slice), Some(&b"after"[..]));
    assert!(sent_to_server > resent as usize);
}
