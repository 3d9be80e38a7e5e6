//! ICE over TCP (RFC 6544) between two agents with UDP blocked: each agent's TCP datagrams go
//! through an `IceTcpLink`, and an in-test "network" plays the driver's part, opening
//! connections (or refusing them), carrying bytes in arbitrary pieces with a delay, and
//! dropping every UDP datagram.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::ice::{
    Agent, AgentConfig, Candidate, CandidateKind, IceEvent, IceState, IceTcpLink, TcpType,
    Transport,
};
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::turn::{StreamCommand, StreamId};
use kaon::{Datagram, Protocol, Rng};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What the in-test driver needs beyond [`Protocol`]: where a closed connection is reported.
trait TcpPeer: Protocol {
    fn tcp_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr);
}

impl TcpPeer for Agent {
    fn tcp_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        self.tcp_stream_closed(now, local, remote);
    }
}

impl TcpPeer for PeerConnection {
    fn tcp_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        self.ice_tcp_closed(now, local, remote);
    }
}

/// One side: an agent (or a PeerConnection), its TCP link, and the next ephemeral port its
/// outgoing connections use.
struct Side<P> {
    agent: P,
    link: IceTcpLink,
    /// The address the far side sees for each connection this side opened.
    next_port: u16,
    udp_dropped: usize,
}

/// A connection in the pipe: the ids on both sides.
#[derive(Clone, Copy)]
struct Conn {
    ids: [StreamId; 2],
}

struct Net<P = Agent> {
    sides: [Side<P>; 2],
    /// Listening addresses that accept (passive candidates whose driver listens).
    listening: Vec<SocketAddr>,
    conns: Vec<Conn>,
    /// Bytes in flight: (arrival, to side, stream id on that side, bytes).
    flight: VecDeque<(Instant, usize, StreamId, Vec<u8>)>,
    /// Connect results in flight: (when, side, id, accepted).
    connects: VecDeque<(Instant, usize, StreamId, bool)>,
    delay: Duration,
    rng: Rng,
    /// Largest piece a write is cut into (1 cuts every frame byte by byte).
    max_piece: usize,
}

impl<P: TcpPeer> Net<P> {
    fn new(a: P, b: P, seed: u64) -> Self {
        let side = |agent| Side {
            agent,
            link: IceTcpLink::new(),
            next_port: 50000,
            udp_dropped: 0,
        };
        Self {
            sides: [side(a), side(b)],
            listening: Vec::new(),
            conns: Vec::new(),
            flight: VecDeque::new(),
            connects: VecDeque::new(),
            delay: Duration::from_millis(5),
            rng: Rng::new(Some(seed)),
            max_piece: 7,
        }
    }

    fn side_of_listener(&self, remote: SocketAddr) -> Option<usize> {
        (0..2).find(|&s| self.listening.contains(&remote) && self.sides[s].link.is_local(remote))
    }

    /// One round at `now`: deliver what arrived, let both agents act, carry out their commands.
    fn step(&mut self, now: Instant) {
        while self.connects.front().is_some_and(|c| c.0 <= now) {
            let (_, s, id, ok) = self.connects.pop_front().unwrap();
            if ok {
                self.sides[s].link.handle_connected(id);
            } else if let Some((l, r)) = self.sides[s].link.handle_closed(id) {
                self.sides[s].agent.tcp_closed(now, l, r);
            }
        }
        while self.flight.front().is_some_and(|f| f.0 <= now) {
            let (_, s, id, bytes) = self.flight.pop_front().unwrap();
            let side = &mut self.sides[s];
            let mut got = Vec::new();
            side.link.handle_bytes(id, &bytes, |d| {
                got.push((d.source, d.destination, d.contents.to_vec()))
            });
            for (source, destination, contents) in got {
                side.agent.handle_datagram(
                    now,
                    Datagram {
                        source,
                        destination,
                        contents: &contents,
                    },
                );
            }
        }
        let mut buf = vec![0u8; 2048];
        for s in 0..2 {
            let side = &mut self.sides[s];
            side.agent.handle_timeout(now);
            while let Some(t) = side.agent.poll_transmit(now, &mut buf) {
                if !side.link.send(t.source, t.destination, &buf[..t.len]) {
                    // UDP is blocked between the two.
                    side.udp_dropped += 1;
                }
            }
        }
        for s in 0..2 {
            while let Some(c) = self.sides[s].link.poll_command(&mut buf) {
                match c {
                    StreamCommand::Connect {
                        id, local, remote, ..
                    } => {
                        let other = 1 - s;
                        let accepted = self.side_of_listener(remote) == Some(other);
                        if accepted {
                            let port = self.sides[s].next_port;
                            self.sides[s].next_port += 1;
                            let seen_as = SocketAddr::new(local.ip(), port);
                            let far = self.sides[other].link.accept(remote, seen_as).unwrap();
                            let ids = if s == 0 { [id, far] } else { [far, id] };
                            self.conns.push(Conn { ids });
                        }
                        self.connects.push_back((now + self.delay, s, id, accepted));
                    }
                    StreamCommand::Write { id, len } => {
                        let Some(conn) = self.conns.iter().find(|c| c.ids[s] == id) else {
                            continue;
                        };
                        let (other, far) = (1 - s, conn.ids[1 - s]);
                        let mut at = 0;
                        while at < len {
                            let piece = (self.rng.range(1, self.max_piece as u64 + 1) as usize)
                                .min(len - at);
                            self.flight.push_back((
                                now + self.delay,
                                other,
                                far,
                                buf[at..at + piece].to_vec(),
                            ));
                            at += piece;
                        }
                    }
                    StreamCommand::Close { id } => {
                        if let Some(i) = self.conns.iter().position(|c| c.ids[s] == id) {
                            let far = self.conns.swap_remove(i).ids[1 - s];
                            if let Some((l, r)) = self.sides[1 - s].link.handle_closed(far) {
                                self.sides[1 - s].agent.tcp_closed(now, l, r);
                            }
                        }
                    }
                }
            }
        }
    }

    fn run_until(
        &mut self,
        t0: Instant,
        limit: Duration,
        mut done: impl FnMut(&mut Self, Instant) -> bool,
    ) -> Option<Duration> {
        let mut now = t0;
        while now < t0 + limit {
            self.step(now);
            if done(self, now) {
                return Some(now - t0);
            }
            now += Duration::from_millis(1);
        }
        None
    }
}

/// Exchanges credentials and every local candidate, then end-of-candidates.
fn signal(a: &mut Agent, b: &mut Agent) {
    let (u, p) = a.local_credentials();
    b.set_remote_credentials(u, p).unwrap();
    let (u, p) = b.local_credentials();
    a.set_remote_credentials(u, p).unwrap();
    for c in a.local_candidates().cloned().collect::<Vec<_>>() {
        b.add_remote_candidate(c).unwrap();
    }
    for c in b.local_candidates().cloned().collect::<Vec<_>>() {
        a.add_remote_candidate(c).unwrap();
    }
    a.end_of_remote_candidates();
    b.end_of_remote_candidates();
}

/// A controlling agent with a UDP socket and an active TCP candidate, and a controlled one with
/// a UDP socket and a passive TCP candidate (the browser and the server of the example).
fn active_and_passive(seed: u64) -> Net {
    agents(seed, true)
}

fn agents(seed: u64, udp: bool) -> Net {
    let mut a = Agent::new(AgentConfig::controlling().with_seed(seed));
    let mut b = Agent::new(AgentConfig::controlled().with_seed(seed + 1));
    if udp {
        a.add_local_interface(addr("192.0.2.1:5000")).unwrap();
        b.add_local_interface(addr("192.0.2.2:6000")).unwrap();
    }
    let active = a.add_tcp_active("192.0.2.1".parse().unwrap()).unwrap();
    b.add_tcp_passive(addr("192.0.2.2:7000")).unwrap();
    signal(&mut a, &mut b);
    let mut net = Net::new(a, b, seed);
    net.sides[0].link.add_local(active, TcpType::Active);
    net.sides[1]
        .link
        .add_local(addr("192.0.2.2:7000"), TcpType::Passive);
    net.listening.push(addr("192.0.2.2:7000"));
    net
}

/// Both agents have selected a pair (the UDP pairs may still be failing their checks, so
/// the controlling one can stay in `Connected` rather than `Completed`).
fn connected(n: &Net<Agent>) -> bool {
    n.sides.iter().all(|s| {
        matches!(s.agent.state(), IceState::Connected | IceState::Completed)
            && s.agent.selected_pair().is_some()
    })
}

fn data(agent: &mut Agent) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| agent.poll_event())
        .filter_map(|e| match e {
            IceEvent::Data { contents, .. } => Some(contents.to_vec()),
            _ => None,
        })
        .collect()
}

#[test]
fn agents_connect_over_tcp_when_udp_is_blocked_and_carry_data() {
    for seed in 1..6 {
        let mut net = active_and_passive(seed);
        let t0 = Instant::now();
        let took = net.run_until(t0, Duration::from_secs(30), |n, _| connected(n));
        assert!(
            took.is_some(),
            "seed {seed}: not connected: {:?}",
            net.sides[0].agent.state()
        );
        let pair = net.sides[0].agent.selected_pair().unwrap();
        assert_eq!(
            (pair.local, pair.remote),
            (addr("192.0.2.1:9"), addr("192.0.2.2:7000"))
        );
        let (local, remote) = net.sides[1].agent.selected_candidates().unwrap();
        assert_eq!(local.tcp_type, Some(TcpType::Passive));
        assert_eq!(remote.kind, CandidateKind::PeerReflexive);
        assert_eq!(remote.tcp_type, Some(TcpType::Active));
        assert!(net.sides[0].udp_dropped > 0, "UDP was tried and blocked");
        // Data both ways, each datagram one frame, whatever the stream's cuts.
        let t1 = t0 + took.unwrap();
        while net.sides[1].agent.poll_event().is_some() {}
        while net.sides[0].agent.poll_event().is_some() {}
        net.sides[0].agent.send(b"hello over tcp").unwrap();
        net.sides[1].agent.send(&[7u8; 1200]).unwrap();
        let mut got = [Vec::new(), Vec::new()];
        net.run_until(t1, Duration::from_secs(1), |n, _| {
            for (g, side) in got.iter_mut().zip(n.sides.iter_mut()) {
                g.extend(data(&mut side.agent));
            }
            !got[0].is_empty() && !got[1].is_empty()
        })
        .expect("data crosses the TCP pair");
        assert_eq!(got[1], vec![b"hello over tcp".to_vec()]);
        assert_eq!(got[0], vec![vec![7u8; 1200]]);
        assert_eq!(net.conns.len(), 1, "one connection carries checks and data");
    }
}

#[test]
fn checks_over_tcp_are_not_retransmitted() {
    let mut net = active_and_passive(9);
    // The peer listens but its driver never reads: the connection opens, checks go unanswered.
    net.delay = Duration::from_secs(3600);
    net.connects.clear();
    let t0 = Instant::now();
    net.run_until(t0, Duration::from_secs(5), |_, _| false);
    let tcp_checks = net.sides[0].link.stats().sent;
    assert_eq!(tcp_checks, 1, "one check on the one TCP pair, never resent");
}

#[test]
fn a_refused_connection_fails_the_pair_and_the_agent() {
    let mut net = agents(3, false);
    net.listening.clear(); // nobody listens: every connect is refused
    let t0 = Instant::now();
    let took = net.run_until(t0, Duration::from_secs(60), |n, _| {
        n.sides[0].agent.state() == IceState::Failed
    });
    assert!(took.is_some(), "the controlling agent fails");
    assert_eq!(net.sides[0].agent.stats().tcp_streams_closed, 1);
    assert!(
        took.unwrap() < Duration::from_secs(39),
        "the TCP pair fails when its connect does, not at the check timeout: {took:?}"
    );
}

#[test]
fn a_closed_connection_takes_the_selected_pair_down() {
    let mut net = active_and_passive(4);
    let t0 = Instant::now();
    let took = net
        .run_until(t0, Duration::from_secs(30), |n, _| connected(n))
        .unwrap();
    let id = net.conns[0].ids[0];
    let (l, r) = net.sides[0].link.close(id).unwrap();
    net.sides[0].agent.tcp_stream_closed(t0 + took, l, r);
    assert!(net.sides[0].agent.selected_pair().is_none());
    assert!(net.sides[0].agent.send(b"x").is_err());
}

#[test]
fn a_closed_connection_moves_the_selection_to_another_tcp_pair_at_once() {
    // Two passive candidates on the far side: two TCP pairs from the one active candidate.
    let mut net = active_and_passive(5);
    net.sides[1]
        .agent
        .add_tcp_passive(addr("192.0.2.2:7001"))
        .unwrap();
    let extra = net.sides[1]
        .agent
        .local_candidates()
        .last()
        .cloned()
        .unwrap();
    net.sides[0].agent.add_remote_candidate(extra).unwrap();
    net.sides[1]
        .link
        .add_local(addr("192.0.2.2:7001"), TcpType::Passive);
    net.listening.push(addr("192.0.2.2:7001"));
    let t0 = Instant::now();
    let took = net
        .run_until(t0, Duration::from_secs(30), |n, _| {
            connected(n)
                && n.sides[0]
                    .agent
                    .pairs()
                    .filter(|p| p.state == kaon::ice::PairCheckState::Succeeded)
                    .count()
                    == 2
        })
        .expect("both TCP pairs succeed");
    let first = net.sides[0].agent.selected_pair().unwrap();
    let conn = net
        .conns
        .iter()
        .map(|c| c.ids[0])
        .find(|&id| net.sides[0].link.addresses(id).map(|(_, r)| r) == Some(first.remote))
        .expect("the selected pair's stream");
    let (l, r) = net.sides[0].link.close(conn).unwrap();
    net.sides[0].agent.tcp_stream_closed(t0 + took, l, r);
    let next = net.sides[0]
        .agent
        .selected_pair()
        .expect("another pair, at once");
    assert_ne!((next.local, next.remote), (first.local, first.remote));
    assert!(net.sides[0].agent.send(b"x").is_ok());
}

#[test]
fn passive_only_agent_waits_for_the_peer_to_connect() {
    // The example's server: a passive TCP candidate only (no UDP socket at all), answering a
    // peer that has UDP host candidates and an active TCP one.
    let mut a = Agent::new(AgentConfig::controlling().with_seed(11));
    let mut b = Agent::new(AgentConfig::controlled().with_seed(12));
    a.add_local_interface(addr("192.0.2.1:5000")).unwrap();
    let active = a.add_tcp_active("192.0.2.1".parse().unwrap()).unwrap();
    b.add_tcp_passive(addr("192.0.2.2:443")).unwrap();
    let cands: Vec<Candidate> = b.local_candidates().cloned().collect();
    assert_eq!(cands.len(), 1);
    assert_eq!(cands[0].transport, Transport::Tcp);
    signal(&mut a, &mut b);
    let mut net = Net::new(a, b, 11);
    net.sides[0].link.add_local(active, TcpType::Active);
    net.sides[1]
        .link
        .add_local(addr("192.0.2.2:443"), TcpType::Passive);
    net.listening.push(addr("192.0.2.2:443"));
    let t0 = Instant::now();
    let ok = net
        .run_until(t0, Duration::from_secs(30), |n, _| connected(n))
        .is_some();
    assert!(
        ok,
        "{:?} {:?} {:?} {:?}",
        net.sides[0].agent.state(),
        net.sides[1].agent.state(),
        net.sides[0].link.stats(),
        net.sides[1].link.stats()
    );
    assert_eq!(
        net.sides[1].udp_dropped, 0,
        "the passive side never tries UDP"
    );
    assert_eq!(
        net.sides[1].link.stats().connects,
        0,
        "nor opens a connection"
    );
}

#[test]
fn byte_by_byte_delivery_still_connects() {
    let mut net = active_and_passive(21);
    net.max_piece = 1;
    let t0 = Instant::now();
    assert!(
        net.run_until(t0, Duration::from_secs(30), |n, _| { connected(n) })
            .is_some()
    );
}

/// The `ice_tcp_framing` fuzz target's checks, run on its committed seeds (so a change that
/// breaks the harness shows up without a fuzzer).
#[test]
fn fuzz_seeds_pass_the_framing_harness_checks() {
    use kaon::ice::{IceTcpLinkConfig, MAX_FRAME_PAYLOAD, TcpFramer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/ice_tcp_framing");
    let (mut seen, mut frames) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        seen += 1;
        let passive = addr("192.0.2.1:7000");
        let active = addr("192.0.2.1:9");
        let peer = addr("192.0.2.2:40000");
        let mut link = IceTcpLink::with_config(IceTcpLinkConfig {
            max_streams: 4,
            max_queued: 4096,
        });
        link.add_local(passive, TcpType::Passive);
        link.add_local(active, TcpType::Active);
        let accepted = link.accept(passive, peer);
        link.send(active, addr("192.0.2.3:7000"), &data);
        let mut buf = [0u8; 1500];
        let mut outgoing = None;
        while let Some(c) = link.poll_command(&mut buf) {
            if let StreamCommand::Connect { id, .. } = c {
                link.handle_connected(id);
                outgoing = Some(id);
            }
        }
        let mut framer = TcpFramer::new();
        for (i, chunk) in data.split(|&b| b == 0xfe).enumerate() {
            let id = if i % 2 == 0 { accepted } else { outgoing };
            if let Some(id) = id {
                link.handle_bytes(id, chunk, |d| {
                    assert!(!d.contents.is_empty() && d.contents.len() <= MAX_FRAME_PAYLOAD)
                });
            }
            let mut rest = chunk;
            loop {
                let n = framer.push(rest);
                rest = &rest[n..];
                while let Some(f) = framer.next_frame() {
                    assert!(!f.is_empty());
                    frames += 1;
                }
                if rest.is_empty() {
                    break;
                }
            }
            link.send(passive, peer, chunk);
            link.send(active, peer, chunk);
            while link.poll_command(&mut buf).is_some() {}
            assert!(link.len() <= 4);
        }
    }
    assert!(seen >= 2 && frames > 0);
}

/// Two PeerConnections with UDP sockets that cannot reach each other: the offerer has an
/// active TCP candidate, the answerer a passive one. ICE connects over TCP, and DTLS, SCTP and
/// the data channel run over it unchanged, each record one RFC 4571 frame.
#[test]
fn peer_connections_open_a_data_channel_over_ice_tcp_with_udp_blocked() {
    let t0 = Instant::now();
    let peer = |seed: u64, udp: &str| {
        let mut pc = PeerConnection::new(PeerConfig::with_seed(seed)).unwrap();
        pc.add_local_address(addr(udp)).unwrap();
        pc
    };
    let mut a = peer(1, "192.0.2.1:5000");
    let mut b = peer(2, "192.0.2.2:5000");
    let active = a.add_tcp_active("192.0.2.1".parse().unwrap()).unwrap();
    b.add_tcp_passive(addr("192.0.2.2:7000")).unwrap();
    let id = a
        .create_data_channel(t0, "tcp", ChannelConfig::default())
        .unwrap();
    while a.poll_event().is_some() {}
    let offer = a.create_offer(t0).unwrap();
    assert!(
        offer.to_string().contains("tcptype active"),
        "the offer carries the active TCP candidate"
    );
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    while b.poll_event().is_some() {}
    let answer = b.create_answer(t0).unwrap();
    assert!(answer.to_string().contains("tcptype passive"));
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let mut net = Net::new(a, b, 1);
    net.sides[0].link.add_local(active, TcpType::Active);
    net.sides[1]
        .link
        .add_local(addr("192.0.2.2:7000"), TcpType::Passive);
    net.listening.push(addr("192.0.2.2:7000"));
    let mut events: [Vec<PeerEvent>; 2] = [Vec::new(), Vec::new()];
    let mut sent = false;
    let done = net.run_until(t0, Duration::from_secs(30), |n, now| {
        for (ev, side) in events.iter_mut().zip(n.sides.iter_mut()) {
            ev.extend(std::iter::from_fn(|| side.agent.poll_event()));
        }
        let open = events[0]
            .iter()
            .any(|e| matches!(e, PeerEvent::DataChannelOpen { id: i, .. } if *i == id));
        if open && !sent {
            n.sides[0]
                .agent
                .send_text(now, id, "ping over tcp")
                .unwrap();
            sent = true;
        }
        events[1].iter().any(
            |e| matches!(e, PeerEvent::Message { data, .. } if data[..] == b"ping over tcp"[..]),
        )
    });
    assert!(done.is_some(), "a: {:?}\nb: {:?}", events[0], events[1]);
    let pair = net.sides[0].agent.ice().selected_pair().unwrap();
    assert_eq!(pair.local, active);
    assert!(net.sides[0].udp_dropped > 0);
    let frames = net.sides[1].link.stats().received;
    assert!(
        frames >= 6,
        "checks, DTLS and SCTP crossed as frames: {frames}"
    );
}
