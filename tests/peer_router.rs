//! Many server-side PeerConnections behind one address in a [`Router`], each client a
//! PeerConnection of its own, wired in memory: routing by ufrag and by 5-tuple, what spoofed
//! input can and cannot do, removal, and the cost of idle polls with 10,000 peers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::dtls::Identity;
use kaon::peer::{
    ConnectionState, IceCandidate, PeerConfig, PeerConnection, PeerEvent, PeerId, Router, SdpType,
};
use kaon::sdp::SessionDescription;
use kaon::{Datagram, Protocol};
use proptest::prelude::*;

const SERVER: &str = "192.0.2.1:3478";

fn server() -> SocketAddr {
    SERVER.parse().unwrap()
}

fn client_addr(i: usize) -> SocketAddr {
    let i = u16::try_from(i).unwrap();
    SocketAddr::from(([198, 51, 100, (i % 200) as u8 + 1], 5000 + i / 200))
}

struct Client {
    addr: SocketAddr,
    pc: PeerConnection,
    /// The server-side peer that answered this client.
    peer: PeerId,
    channel: u16,
    events: Vec<PeerEvent>,
}

/// One router at [`SERVER`] and its clients, on a perfect network with no delay.
struct Net {
    router: Router,
    clients: Vec<Client>,
    index: HashMap<SocketAddr, usize>,
    peer_events: HashMap<PeerId, Vec<PeerEvent>>,
    now: Instant,
    identities: (Identity, Identity),
}

impl Net {
    fn new() -> Self {
        Self {
            router: Router::new(),
            clients: Vec::new(),
            index: HashMap::new(),
            peer_events: HashMap::new(),
            now: Instant::now(),
            identities: (Identity::generate().unwrap(), Identity::generate().unwrap()),
        }
    }

    /// Adds a client at its own address offering a channel "ch-<i>", and its answering peer in
    /// the router at the shared address.
    fn add_client(&mut self) -> usize {
        let i = self.clients.len();
        let addr = client_addr(i);
        let seed = 1000 + 2 * i as u64;
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(self.identities.0.clone()),
            ..PeerConfig::with_seed(seed)
        })
        .unwrap();
        pc.add_local_address(addr).unwrap();
        let channel = pc
            .create_data_channel(self.now, &format!("ch-{i}"), ChannelConfig::default())
            .unwrap();
        let offer = pc.create_offer(self.now).unwrap();
        pc.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        let mut peer = PeerConnection::new(PeerConfig {
            identity: Some(self.identities.1.clone()),
            ..PeerConfig::with_seed(seed + 1)
        })
        .unwrap();
        peer.add_local_address(server()).unwrap();
        peer.set_remote_description(SdpType::Offer, offer).unwrap();
        let answer = peer.create_answer(self.now).unwrap();
        peer.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        pc.set_remote_description(SdpType::Answer, answer).unwrap();
        let peer = self.router.insert(peer).unwrap();
        self.index.insert(addr, i);
        self.clients.push(Client {
            addr,
            pc,
            peer,
            channel,
            events: Vec::new(),
        });
        i
    }

    /// Carries datagrams until `done` holds or `limit` of virtual time passes, jumping to the
    /// next deadline when nothing is in flight.
    fn run(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let end = self.now + limit;
        let mut buf = vec![0u8; 2048];
        loop {
            let mut moved = false;
            while let Some(t) = self.router.poll_transmit(self.now, &mut buf) {
                moved = true;
                assert_eq!(
                    t.source,
                    server(),
                    "every peer sends from the shared socket"
                );
                if let Some(&i) = self.index.get(&t.destination) {
                    self.clients[i].pc.handle_datagram(
                        self.now,
                        Datagram {
                            source: t.source,
                            destination: t.destination,
                            contents: &buf[..t.len],
                        },
                    );
                }
            }
            for c in &mut self.clients {
                while let Some(t) = c.pc.poll_transmit(self.now, &mut buf) {
                    moved = true;
                    self.router.handle_datagram(
                        self.now,
                        Datagram {
                            source: t.source,
                            destination: t.destination,
                            contents: &buf[..t.len],
                        },
                    );
                }
                while let Some(e) = c.pc.poll_event() {
                    c.events.push(e);
                }
            }
            while let Some((id, e)) = self.router.poll_event() {
                self.peer_events.entry(id).or_default().push(e);
            }
            if done(self) {
                return true;
            }
            if moved {
                continue;
            }
            let next = self
                .clients
                .iter()
                .filter_map(|c| c.pc.poll_timeout())
                .chain(self.router.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => return done(self),
            }
            self.router.handle_timeout(self.now);
            for c in &mut self.clients {
                if c.pc.poll_timeout().is_some_and(|t| t <= self.now) {
                    c.pc.handle_timeout(self.now);
                }
            }
        }
    }

    fn client_open(&self, i: usize) -> bool {
        let c = &self.clients[i];
        c.events
            .iter()
            .any(|e| matches!(e, PeerEvent::DataChannelOpen { id, .. } if *id == c.channel))
    }

    fn peer_open(&self, i: usize) -> bool {
        let c = &self.clients[i];
        self.peer_events.get(&c.peer).is_some_and(|v| {
            v.iter()
                .any(|e| matches!(e, PeerEvent::DataChannelOpen { id, .. } if *id == c.channel))
        })
    }

    fn all_open(&self) -> bool {
        (0..self.clients.len()).all(|i| self.client_open(i) && self.peer_open(i))
    }

    /// Texts the server-side peer `id` received.
    fn peer_texts(&self, id: PeerId) -> Vec<String> {
        self.peer_events.get(&id).map_or(Vec::new(), |v| texts(v))
    }

    fn client_texts(&self, i: usize) -> Vec<String> {
        texts(&self.clients[i].events)
    }

    /// `n` clients, every channel open on both sides.
    fn connected(n: usize) -> Self {
        let mut net = Self::new();
        for _ in 0..n {
            net.add_client();
        }
        assert!(
            net.run(Duration::from_secs(10), Net::all_open),
            "channels did not open: {:?}",
            net.router.stats()
        );
        net
    }

    /// A client sends `text`; the router's peer answers `reply` through `get_mut`.
    fn round_trip(&mut self, i: usize, text: &str, reply: &str) -> bool {
        let now = self.now;
        let (ch, peer) = (self.clients[i].channel, self.clients[i].peer);
        self.clients[i].pc.send_text(now, ch, text).unwrap();
        let got = |n: &Net| n.peer_texts(peer).iter().any(|t| t == text);
        if !self.run(Duration::from_secs(2), got) {
            return false;
        }
        let now = self.now;
        self.router
            .get_mut(peer)
            .unwrap()
            .send_text(now, ch, reply)
            .unwrap();
        self.run(Duration::from_secs(2), |n| {
            n.client_texts(i).iter().any(|t| t == reply)
        })
    }
}

fn texts(events: &[PeerEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Message { data, .. } => Some(String::from_utf8_lossy(data).into_owned()),
            _ => None,
        })
        .collect()
}

/// A STUN Binding request with only a USERNAME (and so no valid MESSAGE-INTEGRITY).
fn binding_request(username: &str) -> Vec<u8> {
    let mut value = username.as_bytes().to_vec();
    let len = value.len() as u16;
    while !value.len().is_multiple_of(4) {
        value.push(0);
    }
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&(4 + value.len() as u16).to_be_bytes());
    m.extend_from_slice(&0x2112_A442u32.to_be_bytes());
    m.extend_from_slice(&[9; 12]);
    m.extend_from_slice(&[0x00, 0x06]);
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(&value);
    m
}

fn ufrag(pc: &PeerConnection) -> String {
    pc.ice().local_credentials().0.to_string()
}

#[test]
fn many_peers_share_one_socket_and_each_opens_its_channel() {
    let n = 50;
    let mut net = Net::connected(n);
    assert_eq!(net.router.len(), n);
    for i in 0..n {
        // Each server-side peer saw its own client's channel, by label.
        let c = &net.clients[i];
        let label = format!("ch-{i}");
        let opened = &net.peer_events[&c.peer];
        assert!(
            opened
                .iter()
                .any(|e| matches!(e, PeerEvent::DataChannelOpen { label: l, .. } if *l == label)),
            "peer {i} did not see {label}"
        );
        assert_eq!(
            net.router.get(c.peer).unwrap().connection_state(),
            ConnectionState::Connected
        );
    }
    for i in 0..n {
        let now = net.now;
        let c = &mut net.clients[i];
        c.pc.send_text(now, c.channel, &format!("hello from {i}"))
            .unwrap();
    }
    assert!(net.run(Duration::from_secs(5), |net| {
        net.clients
            .iter()
            .all(|c| !net.peer_texts(c.peer).is_empty())
    }));
    for (i, c) in net.clients.iter().enumerate() {
        assert_eq!(net.peer_texts(c.peer), vec![format!("hello from {i}")]);
    }
    // Replies go through get_mut, which the router notices without any other call.
    let now = net.now;
    for c in &net.clients {
        net.router
            .get_mut(c.peer)
            .unwrap()
            .send_text(now, c.channel, &format!("welcome {}", c.peer.index()))
            .unwrap();
    }
    assert!(net.run(Duration::from_secs(5), |net| {
        (0..n).all(|i| !net.client_texts(i).is_empty())
    }));
    for (i, c) in net.clients.iter().enumerate() {
        assert_eq!(
            net.client_texts(i),
            vec![format!("welcome {}", c.peer.index())]
        );
    }
    let s = net.router.stats();
    println!("{s:?}, {} routes", net.router.route_count());
    assert!(s.routed_by_ufrag >= n as u64 && s.routed_by_address > n as u64);
    assert_eq!((s.dropped_unknown_ufrag, s.dropped_no_route), (0, 0));
    assert!(net.router.route_count() >= n);
    for c in &net.clients {
        assert_eq!(net.router.route(c.addr, server()), Some(c.peer));
    }
}

#[test]
fn a_stun_request_with_an_unknown_ufrag_is_dropped_and_counted() {
    let mut net = Net::connected(2);
    let before = net.router.stats();
    let received = net.router.get(net.clients[0].peer).unwrap().stats();
    // From a client that has a route: a request still goes by its ufrag, never by address.
    let known = ufrag(&net.clients[0].pc);
    net.router.handle_datagram(
        net.now,
        Datagram {
            source: net.clients[0].addr,
            destination: server(),
            contents: &binding_request(&format!("nobody:{known}")),
        },
    );
    // And from a stranger.
    net.router.handle_datagram(
        net.now,
        Datagram {
            source: "203.0.113.9:9999".parse().unwrap(),
            destination: server(),
            contents: &binding_request("zzzz:yyyy"),
        },
    );
    let after = net.router.stats();
    assert_eq!(
        after.dropped_unknown_ufrag - before.dropped_unknown_ufrag,
        2
    );
    assert_eq!(after.peer_calls, before.peer_calls, "no peer was called");
    assert_eq!(
        net.router
            .get(net.clients[0].peer)
            .unwrap()
            .stats()
            .datagrams_received,
        received.datagrams_received
    );
    assert!(net.round_trip(0, "still fine", "yes"));
}

#[test]
fn a_spoofed_datagram_cannot_steal_a_route() {
    let mut net = Net::connected(2);
    let (a, b) = (net.clients[0].addr, net.clients[1].addr);
    let (pa, pb) = (net.clients[0].peer, net.clients[1].peer);
    let before = net.router.stats();

    // 1. From A's address, a check naming B's server-side peer: routed to B by ufrag, whose
    //    agent refuses it (no valid MESSAGE-INTEGRITY), so B sends nothing to A's address.
    let b_ufrag = ufrag(net.router.get(pb).unwrap());
    let forged = binding_request(&format!("{b_ufrag}:evil"));
    let d = Datagram {
        source: a,
        destination: server(),
        contents: &forged,
    };
    net.router.handle_datagram(net.now, d);
    // 2. From A's address, a forged DTLS record: routed to A's peer, which drops it.
    let dtls = [23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3, 1, 2, 3];
    let d = Datagram {
        source: a,
        destination: server(),
        contents: &dtls,
    };
    net.router.handle_datagram(net.now, d);
    assert_eq!(
        net.router.stats().routed_by_ufrag - before.routed_by_ufrag,
        1
    );
    net.run(Duration::from_millis(200), |_| false);
    assert_eq!(net.router.route(a, server()), Some(pa));

    // 3. B's signalling party names A's address as a candidate: B checks it, but A's peer has
    //    selected that pair, so the route stays with A.
    let line = format!(
        "candidate:9 1 udp 2130706431 {} {} typ host",
        a.ip(),
        a.port()
    );
    net.router
        .get_mut(pb)
        .unwrap()
        .add_ice_candidate(Instant::now(), &IceCandidate::from_line(&line))
        .unwrap();
    let conflicts = before.route_conflicts;
    net.run(Duration::from_secs(3), |_| false);
    assert_eq!(net.router.route(a, server()), Some(pa));
    assert_eq!(net.router.route(b, server()), Some(pb));
    assert!(
        net.router.stats().route_conflicts > conflicts,
        "B never sent to A's address: {:?}",
        net.router.stats()
    );
    assert!(!net.router.routes(pb).contains(&(a, server())));
    assert!(net.round_trip(0, "A works", "A ok"));
    assert!(net.round_trip(1, "B works", "B ok"));
}

/// B's signalling party names A's address: B's checks go there, but A's peer owns the route.
/// An answer to one of B's checks still reaches B (by its transaction ID), the route stays with
/// A, and an answer to a transaction already answered goes by address again.
#[test]
fn a_stun_response_reaches_the_peer_whose_request_it_answers() {
    let mut net = Net::connected(2);
    let a = net.clients[0].addr;
    let (pa, pb) = (net.clients[0].peer, net.clients[1].peer);
    let b_ufrag = ufrag(net.router.get(pb).unwrap());
    let line = format!(
        "candidate:9 1 udp 2130706431 {} {} typ host",
        a.ip(),
        a.port()
    );
    net.router
        .get_mut(pb)
        .unwrap()
        .add_ice_candidate(Instant::now(), &IceCandidate::from_line(&line))
        .unwrap();
    // Drive the router alone (the clients hear nothing) until B checks A's address.
    let mut buf = vec![0u8; 2048];
    let mut asked = None;
    for _ in 0..5000 {
        while let Some(t) = net.router.poll_transmit(net.now, &mut buf) {
            let Ok(m) = kaon::stun::Message::parse(&buf[..t.len]) else {
                continue;
            };
            let from_b = m
                .username()
                .is_some_and(|u| u.ends_with(&format!(":{b_ufrag}")));
            if t.destination == a && from_b && asked.is_none() {
                asked = Some(m.transaction_id());
            }
        }
        if asked.is_some() {
            break;
        }
        net.now += Duration::from_millis(1);
        net.router.handle_timeout(net.now);
    }
    let id = asked.expect("B never checked A's address");
    // A success response header with that transaction (its integrity is B's agent's business).
    let mut response = vec![0x01, 0x01, 0, 0];
    response.extend_from_slice(&0x2112_A442u32.to_be_bytes());
    response.extend_from_slice(id.as_bytes());
    let before = net.router.stats();
    let d = Datagram {
        source: a,
        destination: server(),
        contents: &response,
    };
    net.router.handle_datagram(net.now, d);
    let after = net.router.stats();
    assert_eq!(
        after.routed_by_transaction,
        before.routed_by_transaction + 1
    );
    assert_eq!(after.routed_by_address, before.routed_by_address);
    assert_eq!(net.router.route(a, server()), Some(pa));
    // The transaction is over: the same answer again goes by address, to A's peer.
    net.router.handle_datagram(net.now, d);
    let again = net.router.stats();
    assert_eq!(again.routed_by_transaction, after.routed_by_transaction);
    assert_eq!(again.routed_by_address, after.routed_by_address + 1);
}

#[test]
fn removed_peer_leaves_no_routes() {
    let mut net = Net::connected(3);
    let gone = net.clients[1].peer;
    let gone_ufrag = ufrag(net.router.get(gone).unwrap());
    let its_routes = net.router.routes(gone).to_vec();
    assert!(!its_routes.is_empty());
    let total = net.router.route_count();

    let pc = net.router.remove(gone).expect("it was there");
    assert_eq!(ufrag(&pc), gone_ufrag);
    assert_eq!(net.router.len(), 2);
    assert_eq!(net.router.route_count(), total - its_routes.len());
    for (remote, local) in its_routes {
        assert_eq!(net.router.route(remote, local), None);
    }
    assert_eq!(net.router.peer_by_ufrag(&gone_ufrag), None);
    assert!(net.router.get(gone).is_none() && net.router.remove(gone).is_none());

    // Its client's datagrams are now dropped and counted, not delivered to anyone.
    let before = net.router.stats();
    let now = net.now;
    let c = &mut net.clients[1];
    c.pc.send_text(now, c.channel, "anyone?").unwrap();
    net.run(Duration::from_secs(1), |_| false);
    assert!(net.router.stats().dropped_no_route > before.dropped_no_route);

    // A new peer reuses the slot under a new id; the old id stays dead.
    let i = net.add_client();
    let fresh = net.clients[i].peer;
    assert_eq!(fresh.index(), gone.index());
    assert_ne!(fresh, gone);
    assert!(net.router.get(gone).is_none());
    assert!(net.run(Duration::from_secs(10), |n| n.client_open(i)
        && n.peer_open(i)));
    assert!(net.round_trip(0, "first", "1"));
    assert!(net.round_trip(2, "third", "3"));
    assert!(net.round_trip(i, "new", "n"));
}

/// `count` answering peers in a router, ICE checks started towards addresses nobody answers:
/// every peer has timers in the heap. Returns the router and the time after the first drain.
fn idle_router(count: usize) -> (Router, Instant) {
    let now = Instant::now();
    let identity = Identity::generate().unwrap();
    let mut client = PeerConnection::new(PeerConfig::with_seed(7)).unwrap();
    client.add_local_address(client_addr(0)).unwrap();
    client
        .create_data_channel(now, "x", ChannelConfig::default())
        .unwrap();
    let offer = client.create_offer(now).unwrap().to_string();
    let host = format!("{} {}", client_addr(0).ip(), client_addr(0).port());
    assert!(offer.contains(&host));
    let mut router = Router::with_capacity(count);
    for i in 0..count {
        let a = client_addr(i);
        let offer = offer.replace(&host, &format!("{} {}", a.ip(), a.port()));
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(identity.clone()),
            ..PeerConfig::with_seed(100_000 + i as u64)
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
    (router, now)
}

/// One idle round of a driver: nothing arrived, nothing is due.
fn idle_round(router: &mut Router, now: Instant, buf: &mut [u8]) {
    router.handle_timeout(now);
    assert!(router.poll_transmit(now, buf).is_none());
    assert!(router.poll_event().is_none());
    assert!(router.poll_timeout().is_some_and(|t| t > now));
}

#[test]
fn idle_poll_does_not_scan_peers() {
    let mut buf = vec![0u8; 2048];
    let mut per_round = Vec::new();
    for count in [10, 10_000] {
        let (mut router, now) = idle_router(count);
        assert_eq!(router.len(), count);
        assert_eq!(router.route_count(), count, "each peer checked its client");
        let calls = router.stats().peer_calls;
        // The fastest of several batches: a batch the scheduler interrupted says nothing.
        let best = (0..10)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..2_000 {
                    idle_round(&mut router, now, &mut buf);
                }
                start.elapsed() / 2_000
            })
            .min()
            .unwrap();
        per_round.push(best);
        // The proof: with nothing to do, the router called no peer at all.
        assert_eq!(router.stats().peer_calls, calls, "{count} peers");
    }
    println!(
        "idle driver round (handle_timeout, poll_transmit, poll_event, poll_timeout): \
         {:?} with 10 peers, {:?} with 10,000",
        per_round[0], per_round[1]
    );
    // Timing is noisy on a shared machine; the counter above is the real check.
    assert!(
        per_round[1] < per_round[0] * 20 + Duration::from_micros(2),
        "{per_round:?}"
    );
}

thread_local! {
    static FIXTURE: RefCell<Option<Net>> = const { RefCell::new(None) };
}

proptest! {
    // PROPTEST_CASES wins; 256 when it is unset.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// Any bytes from any of these sources, shaped or not like a check naming a real peer,
    /// are routed or dropped and counted: nothing panics, and every datagram is accounted for.
    #[test]
    fn any_datagram_is_routed_or_counted_never_panics(
        source in 0usize..3,
        shape in 0usize..3,
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        FIXTURE.with(|f| {
            let mut f = f.borrow_mut();
            let net = f.get_or_insert_with(|| Net::connected(2));
            let source = match source {
                0 => net.clients[0].addr,
                1 => net.clients[1].addr,
                _ => "203.0.113.5:1234".parse().unwrap(),
            };
            let contents = match shape {
                // A check naming the first peer, followed by arbitrary attributes.
                0 => {
                    let u = ufrag(net.router.get(net.clients[0].peer).unwrap());
                    let mut m = binding_request(&format!("{u}:x"));
                    m.extend_from_slice(&bytes);
                    let len = (m.len() - 20) as u16;
                    m[2..4].copy_from_slice(&len.to_be_bytes());
                    m
                }
                // A STUN header and arbitrary body.
                1 => {
                    let mut m = binding_request("");
                    m.truncate(20);
                    m.extend_from_slice(&bytes);
                    m
                }
                _ => bytes,
            };
            let before = net.router.stats();
            net.router.handle_datagram(
                net.now,
                Datagram { source, destination: server(), contents: &contents },
            );
            let after = net.router.stats();
            let accounted = |s: kaon::peer::RouterStats| {
                s.routed_by_ufrag + s.routed_by_address + s.routed_by_transaction
                    + s.dropped_unknown_ufrag + s.dropped_no_route
            };
            prop_assert_eq!(accounted(after) - accounted(before), 1);
            net.run(Duration::from_millis(20), |_| false);
            Ok(())
        })?;
    }
}

#[test]
fn a_change_through_a_leaked_guard_is_still_noticed() {
    let mut net = Net::connected(1);
    let (peer, ch) = (net.clients[0].peer, net.clients[0].channel);
    let now = net.now;
    let mut guard = net.router.get_mut(peer).unwrap();
    guard.send_text(now, ch, "leaked").unwrap();
    // Its Drop never runs; the router still knows the peer was handed out.
    std::mem::forget(guard);
    assert!(net.router.poll_timeout().is_some_and(|t| t <= now));
    assert!(net.run(Duration::from_secs(2), |n| {
        n.client_texts(0).iter().any(|t| t == "leaked")
    }));
}

/// One `kaon_std::Driver` over one UDP socket on 127.0.0.1 serves every peer of the router;
/// each client runs in its own driver on its own socket. Peers join while the router runs.
#[test]
fn one_std_driver_serves_every_peer_over_one_udp_socket() {
    use kaon_std::Driver;
    use std::net::UdpSocket;
    use std::sync::mpsc::RecvTimeoutError;

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let shared = socket.local_addr().unwrap();
    let router = Driver::spawn(Router::new(), vec![socket]).unwrap();
    let (server_id, client_id) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut clients = Vec::new();
    for i in 0..3u64 {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(client_id.clone()),
            ..PeerConfig::default()
        })
        .unwrap();
        pc.add_local_address(socket.local_addr().unwrap()).unwrap();
        let ch = pc
            .create_data_channel(
                Instant::now(),
                &format!("udp-{i}"),
                ChannelConfig::default(),
            )
            .unwrap();
        let offer = pc.create_offer(Instant::now()).unwrap();
        pc.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        let mut peer = PeerConnection::new(PeerConfig {
            identity: Some(server_id.clone()),
            ..PeerConfig::default()
        })
        .unwrap();
        peer.add_local_address(shared).unwrap();
        peer.set_remote_description(SdpType::Offer, offer).unwrap();
        let answer = peer.create_answer(Instant::now()).unwrap();
        peer.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        pc.set_remote_description(SdpType::Answer, answer).unwrap();
        let id = router
            .call(move |r: &mut Router, _| r.insert(peer).unwrap())
            .unwrap();
        clients.push((id, ch, Driver::spawn(pc, vec![socket]).unwrap()));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let wait = || deadline.saturating_duration_since(Instant::now());
    // Each server-side peer hears its client's channel open and then its message.
    for (_, ch, client) in &clients {
        loop {
            match client.events().recv_timeout(wait()) {
                Ok(PeerEvent::DataChannelOpen { id, .. }) if id == *ch => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("a client's channel did not open")
                }
            }
        }
        let ch = *ch;
        client.call(move |pc: &mut PeerConnection, now| pc.send_text(now, ch, "ping").unwrap());
    }
    let mut pinged = Vec::new();
    while pinged.len() < clients.len() {
        match router.events().recv_timeout(wait()) {
            Ok((id, PeerEvent::Message { data, .. })) => {
                assert_eq!(&data[..], b"ping");
                pinged.push(id);
            }
            Ok(_) => {}
            Err(e) => panic!("server-side peers got {pinged:?} before {e:?}"),
        }
    }
    pinged.sort();
    let mut expected: Vec<PeerId> = clients.iter().map(|c| c.0).collect();
    expected.sort();
    assert_eq!(pinged, expected);
    // And answers through get_mut reach the right client.
    for (id, ch, client) in &clients {
        let (id, ch) = (*id, *ch);
        router.call(move |r: &mut Router, now| {
            let text = format!("pong {}", id.index());
            r.get_mut(id).unwrap().send_text(now, ch, &text).unwrap();
        });
        loop {
            match client.events().recv_timeout(wait()) {
                Ok(PeerEvent::Message { data, .. }) => {
                    assert_eq!(data, format!("pong {}", id.index()).as_bytes());
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("no pong: {e:?}"),
            }
        }
    }
    let r = router.shutdown().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(
        r.stats().dropped_no_route + r.stats().dropped_unknown_ufrag,
        0
    );
    for (.., client) in clients {
        client.shutdown();
    }
}

#[test]
fn a_peer_whose_ufrag_is_taken_is_refused_and_given_back() {
    let mut router = Router::new();
    let identity = Identity::generate().unwrap();
    // The same seed gives the same ICE credentials.
    let pc = || {
        PeerConnection::new(PeerConfig {
            identity: Some(identity.clone()),
            ..PeerConfig::with_seed(42)
        })
        .unwrap()
    };
    let first = router.insert(pc()).unwrap();
    match router.insert(pc()) {
        Err(kaon::peer::InsertError::UfragInUse { owner, peer }) => {
            assert_eq!(owner, first);
            assert_eq!(ufrag(&peer), ufrag(router.get(first).unwrap()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(router.len(), 1);
    let u = ufrag(router.get(first).unwrap());
    assert_eq!(router.peer_by_ufrag(&u), Some(first));
}

/// In the simulator: clients in three homes, two per home behind one NAT (full cone, port
/// restricted, symmetric), 25 ms from the server over a lossy internet. The server's peers see
/// each client at a NAT mapping it never signalled (peer-reflexive): its first checks find the
/// peer by ufrag, and the peer's answers to the mapping make the route.
#[cfg(feature = "sim")]
#[test]
fn clients_behind_nats_reach_their_peers_through_one_router() {
    use kaon::sim::{LinkConfig, NatConfig, Sim};

    let t0 = Instant::now();
    let mut sim = Sim::new(5, t0);
    let internet = sim.add_network("internet");
    let link = LinkConfig {
        loss: 0.01,
        ..LinkConfig::with_latency(Duration::from_millis(25))
    };
    let host = sim.add_host("server");
    sim.add_interface(host, internet, server().ip(), link);
    let router = sim.add_endpoint(host, &[server()], Router::new());
    let nats = [
        NatConfig::full_cone(),
        NatConfig::port_restricted_cone(),
        NatConfig::symmetric(),
    ];
    let (server_id, client_id) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut clients = Vec::new();
    for (h, nat) in nats.into_iter().enumerate() {
        let home = sim.add_network(&format!("home-{h}"));
        let public = format!("203.0.113.{}", h + 1).parse().unwrap();
        sim.add_nat(&format!("nat-{h}"), home, internet, &[public], nat);
        for k in 0..2 {
            let addr: SocketAddr = format!("192.168.{h}.{}:5000", k + 2).parse().unwrap();
            let host = sim.add_host(&format!("client-{h}-{k}"));
            sim.add_interface(
                host,
                home,
                addr.ip(),
                LinkConfig::with_latency(Duration::from_millis(1)),
            );
            let seed = 50 + 2 * clients.len() as u64;
            let mut pc = PeerConnection::new(PeerConfig {
                identity: Some(client_id.clone()),
                ..PeerConfig::with_seed(seed)
            })
            .unwrap();
            pc.add_local_address(addr).unwrap();
            let label = format!("home-{h}-{k}");
            let ch = pc
                .create_data_channel(t0, &label, ChannelConfig::default())
                .unwrap();
            let offer = pc.create_offer(t0).unwrap();
            pc.set_local_description(SdpType::Offer, offer.clone())
                .unwrap();
            let mut peer = PeerConnection::new(PeerConfig {
                identity: Some(server_id.clone()),
                ..PeerConfig::with_seed(seed + 1)
            })
            .unwrap();
            peer.add_local_address(server()).unwrap();
            peer.set_remote_description(SdpType::Offer, offer).unwrap();
            let answer = peer.create_answer(t0).unwrap();
            peer.set_local_description(SdpType::Answer, answer.clone())
                .unwrap();
            pc.set_remote_description(SdpType::Answer, answer).unwrap();
            let id = sim.endpoint_mut::<Router>(router).insert(peer).unwrap();
            let endpoint = sim.add_endpoint(host, &[addr], pc);
            clients.push((endpoint, id, ch, label));
        }
    }
    let open = |sim: &Sim, (endpoint, id, ch, _): &(_, PeerId, u16, String)| {
        let client = sim
            .events::<PeerConnection>(*endpoint)
            .iter()
            .any(|e| matches!(e, PeerEvent::DataChannelOpen { id, .. } if id == ch));
        let peer = sim.events::<Router>(router).iter().any(|(p, e)| {
            p == id && matches!(e, PeerEvent::DataChannelOpen { id, .. } if id == ch)
        });
        client && peer
    };
    let all_open = sim
        .run_until_cond(t0 + Duration::from_secs(20), |sim| {
            clients.iter().all(|c| open(sim, c))
        })
        .unwrap();
    assert!(all_open, "not all open at {:?}: {:?}", sim.elapsed(), {
        let r = sim.endpoint::<Router>(router);
        (r.stats(), r.route_count())
    });
    // Every peer answers its client's mapping, not the address the client signalled.
    for (_, id, ..) in &clients {
        let routes = sim.endpoint::<Router>(router).routes(*id).to_vec();
        assert!(
            routes
                .iter()
                .any(|(remote, _)| remote.ip().to_string().starts_with("203.0.113.")),
            "{routes:?}"
        );
    }
    // A message each way per client, the server's replies through get_mut.
    for (endpoint, _, ch, label) in &clients {
        let now = sim.now();
        sim.endpoint_mut::<PeerConnection>(*endpoint)
            .send_text(now, *ch, label)
            .unwrap();
    }
    let got = |sim: &Sim, id: PeerId, text: &str| {
        sim.events::<Router>(router).iter().any(|(p, e)| {
            *p == id && matches!(e, PeerEvent::Message { data, .. } if data[..] == *text.as_bytes())
        })
    };
    assert!(
        sim.run_until_cond(sim.now() + Duration::from_secs(5), |sim| {
            clients.iter().all(|(_, id, _, label)| got(sim, *id, label))
        })
        .unwrap()
    );
    for (_, id, ch, label) in &clients {
        let now = sim.now();
        let reply = format!("re: {label}");
        sim.endpoint_mut::<Router>(router)
            .get_mut(*id)
            .unwrap()
            .send_text(now, *ch, &reply)
            .unwrap();
    }
    let replied = |sim: &Sim, endpoint, label: &str| {
        let reply = format!("re: {label}");
        sim.events::<PeerConnection>(endpoint)
            .iter()
            .any(|e| matches!(e, PeerEvent::Message { data, .. } if data[..] == *reply.as_bytes()))
    };
    assert!(
        sim.run_until_cond(sim.now() + Duration::from_secs(5), |sim| {
            clients
                .iter()
                .all(|(e, _, _, label)| replied(sim, *e, label))
        })
        .unwrap()
    );
    let s = sim.endpoint::<Router>(router).stats();
    println!("{s:?}");
    assert_eq!(s.dropped_unknown_ufrag, 0);
}

#[test]
fn a_client_restarting_ice_reconnects_through_the_router() {
    let mut net = Net::connected(2);
    let peer = net.clients[0].peer;
    let old = ufrag(net.router.get(peer).unwrap());
    let now = net.now;
    net.clients[0].pc.restart_ice(now).unwrap();
    let (seen_client, seen_peer) = (net.clients[0].events.len(), net.peer_events[&peer].len());
    // The client offers again with new credentials; the server side answers through get_mut
    // (and restarts too, RFC 8445 §9).
    let offer = net.clients[0].pc.create_offer(now).unwrap();
    net.clients[0]
        .pc
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let answer = {
        let mut p = net.router.get_mut(peer).unwrap();
        p.set_remote_description(SdpType::Offer, offer).unwrap();
        let answer = p.create_answer(now).unwrap();
        p.set_local_description(SdpType::Answer, answer.clone())
            .unwrap();
        answer
    };
    net.clients[0]
        .pc
        .set_remote_description(SdpType::Answer, answer)
        .unwrap();
    let new = ufrag(net.router.get(peer).unwrap());
    assert_ne!(old, new);
    assert_eq!(net.router.peer_by_ufrag(&new), Some(peer));
    let selected = |events: &[PeerEvent]| {
        events
            .iter()
            .any(|e| matches!(e, PeerEvent::SelectedCandidatePairChanged { .. }))
    };
    assert!(
        net.run(Duration::from_secs(10), |n| selected(
            &n.clients[0].events[seen_client..]
        ) && selected(
            &n.peer_events[&peer][seen_peer..]
        )),
        "no pair on the new credentials: {:?}",
        net.router.stats()
    );
    assert!(net.round_trip(0, "after the restart", "welcome back"));
    // Checks on the old credentials went on being answered until the new pair was chosen;
    // the old ufrag no longer routes once the agent dropped it.
    assert_eq!(net.router.stats().dropped_unknown_ufrag, 0);
    assert_eq!(net.router.peer_by_ufrag(&old), None);
    assert!(net.round_trip(1, "the other client", "is unaffected"));
}
