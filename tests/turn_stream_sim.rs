//! TURN over a byte stream in the simulator (RFC 8656 §3.1): a peer whose network drops all
//! UDP reaches kaon's TURN server over a stream (modelled as an in-memory pipe between two
//! [`StreamLink`]s, with latency and arbitrary cuts in the byte stream) and connects relay-only
//! to a peer on the internet; the same peer over UDP TURN cannot.
#![cfg(feature = "sim")]

mod ice_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_support::{MS, SEC, addr, exchange_credentials, ip};
use kaon::ice::{Agent, AgentConfig, IceEvent, IceState, IceTransportPolicy, TurnServer};
use kaon::sim::{DropReason, EndpointId, LinkConfig, NetworkId, Sim};
use kaon::turn::{Server, ServerConfig, StreamCommand, StreamId, StreamLink, TurnTransport};
use kaon::{Datagram, Protocol, Transmit};

const TURN: &str = "198.51.100.50:3478";
/// Where the server sees the stream client come from (its NAT's TCP mapping).
const CLIENT_TCP: &str = "203.0.113.77:40000";
/// One way through the pipe.
const PIPE_LATENCY: Duration = Duration::from_millis(15);

/// What crosses the pipe, named by the client side's connection id.
#[derive(Debug, Clone)]
enum PipeMsg {
    Connect(u32),
    Connected(u32),
    Bytes(u32, Vec<u8>),
    Closed(u32),
}

/// How a protocol takes messages from streams and gives them back: a client's stream traffic
/// is its ordinary datagrams, while the server keeps stream clients apart from UDP ones
/// (RFC 8656 §2.2: the transport is part of the 5-tuple).
trait Side: Protocol {
    fn handle_stream_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        self.handle_datagram(now, d);
    }
    fn poll_stream_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<Transmit> {
        None
    }
}

impl Side for Agent {}

impl Side for Server {
    fn handle_stream_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        Server::handle_stream_datagram(self, now, d);
    }
    fn poll_stream_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Server::poll_stream_transmit(self, now, buf)
    }
}

/// A datagram protocol whose traffic to stream servers (client side) or from accepted
/// connections (server side) goes through a [`StreamLink`] and the pipe; the rest stays on the
/// simulator's UDP network.
struct OverStream<P> {
    inner: P,
    link: StreamLink,
    /// The listening address, on the server side.
    listen: Option<SocketAddr>,
    /// Pipe connection number to link id (the server side's own ids differ).
    ids: Vec<(u32, StreamId)>,
    out: Vec<PipeMsg>,
    /// Connections that closed, as (local, remote), for the test to tell the protocol.
    closed: Vec<(SocketAddr, SocketAddr)>,
}

impl<P: Side> OverStream<P> {
    fn client(inner: P, server: SocketAddr, transport: TurnTransport) -> Self {
        let mut link = StreamLink::new();
        link.add_server(server, transport);
        Self {
            inner,
            link,
            listen: None,
            ids: Vec::new(),
            out: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn server(inner: P, listen: SocketAddr) -> Self {
        Self {
            inner,
            link: StreamLink::new(),
            listen: Some(listen),
            ids: Vec::new(),
            out: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// The link's id for pipe connection `n`: the same number on the client side.
    fn link_id(&self, n: u32) -> Option<StreamId> {
        match self.listen {
            None => Some(StreamId(n)),
            Some(_) => self.ids.iter().find(|(m, _)| *m == n).map(|(_, id)| *id),
        }
    }

    /// A message from the other end of the pipe.
    fn deliver(&mut self, now: Instant, msg: PipeMsg) {
        match msg {
            PipeMsg::Connect(n) => {
                let listen = self.listen.expect("only servers accept");
                match self.link.accept(listen, addr(CLIENT_TCP)) {
                    Some(id) => {
                        self.ids.push((n, id));
                        self.out.push(PipeMsg::Connected(n));
                    }
                    None => self.out.push(PipeMsg::Closed(n)),
                }
            }
            PipeMsg::Connected(n) => self.link.handle_connected(StreamId(n)),
            PipeMsg::Bytes(n, bytes) => {
                if let Some(id) = self.link_id(n) {
                    let inner = &mut self.inner;
                    self.link
                        .handle_bytes(id, &bytes, |d| inner.handle_stream_datagram(now, d));
                }
            }
            PipeMsg::Closed(n) => {
                if let Some(closed) = self.link_id(n).and_then(|id| self.link.handle_closed(id)) {
                    self.closed.push(closed);
                }
            }
        }
    }

    /// Turns the link's commands into pipe messages.
    fn drain_link(&mut self, buf: &mut [u8]) {
        while let Some(c) = self.link.poll_command(buf) {
            let msg = match c {
                StreamCommand::Connect { id, tls, .. } => {
                    assert!(!tls);
                    PipeMsg::Connect(id.0)
                }
                StreamCommand::Write { id, len } => {
                    let n = match self.listen {
                        Some(_) => self.ids.iter().find(|(_, i)| *i == id).map(|(n, _)| *n),
                        None => Some(id.0),
                    };
                    let Some(n) = n else { continue };
                    PipeMsg::Bytes(n, buf[..len].to_vec())
                }
                StreamCommand::Close { id } => PipeMsg::Closed(id.0),
            };
            self.out.push(msg);
        }
    }
}

impl<P: Side> Protocol for OverStream<P> {
    type Event = P::Event;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.inner.handle_datagram(now, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(t) = self.inner.poll_transmit(now, buf) {
            if !self.link.send(t.source, t.destination, &buf[..t.len]) {
                return Some(t);
            }
        }
        while let Some(t) = self.inner.poll_stream_transmit(now, buf) {
            self.link.send(t.source, t.destination, &buf[..t.len]);
        }
        self.drain_link(buf);
        None
    }

    fn poll_event(&mut self) -> Option<P::Event> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

type StreamAgent = OverStream<Agent>;
type StreamServer = OverStream<Server>;

struct World {
    sim: Sim,
    t0: Instant,
    server: EndpointId,
    a: EndpointId,
    b: EndpointId,
    /// (delivery time, sequence) -> (to the server?, message).
    pipe: BTreeMap<(Instant, u64), (bool, PipeMsg)>,
    seq: u64,
    /// Cuts the pipe's byte chunks into pieces of 1..=cut bytes.
    cut: usize,
    a_events: Vec<IceEvent>,
    b_events: Vec<IceEvent>,
    a_data: Vec<Vec<u8>>,
    b_data: Vec<Vec<u8>>,
}

/// kaon's TURN server, a peer `b` on the internet, and a peer `a` on a network with no route
/// for UDP anywhere, relay-only over `transport`.
fn world(seed: u64, transport: TurnTransport) -> World {
    let t0 = Instant::now();
    let mut sim = Sim::new(seed, t0);
    let internet = sim.add_network("internet");
    let walled: NetworkId = sim.add_network("udp-blocked");

    let h = sim.add_host("turn");
    sim.add_interface(
        h,
        internet,
        ip("198.51.100.50"),
        LinkConfig::with_latency(5 * MS),
    );
    let relays: Vec<SocketAddr> = (0..4)
        .map(|i| SocketAddr::new(ip("198.51.100.50"), 49152 + i))
        .collect();
    let mut cfg = ServerConfig::new("kaon.test", vec![addr(TURN)], relays.clone());
    cfg.users.push(("alice".into(), "secret".into()));
    cfg.seed = Some(seed);
    let mut bound = vec![addr(TURN)];
    bound.extend(&relays);
    let server = sim.add_endpoint(
        h,
        &bound,
        OverStream::server(Server::new(cfg, t0, 1_700_000_000), addr(TURN)),
    );

    let hb = sim.add_host("b");
    sim.add_interface(
        hb,
        internet,
        ip("192.0.2.20"),
        LinkConfig::with_latency(20 * MS),
    );
    let mut agent_b = Agent::new(AgentConfig {
        controlling: false,
        seed: Some(seed * 2 + 1),
        ..AgentConfig::default()
    });
    agent_b
        .add_local_interface(addr("192.0.2.20:5000"))
        .unwrap();

    let ha = sim.add_host("a");
    sim.add_interface(
        ha,
        walled,
        ip("10.0.0.2"),
        LinkConfig::with_latency(20 * MS),
    );
    let mut turn = TurnServer::new(addr(TURN), "alice", "secret");
    turn.transport = transport;
    let mut agent_a = Agent::new(AgentConfig {
        controlling: true,
        seed: Some(seed * 2),
        turn_servers: vec![turn],
        transport_policy: IceTransportPolicy::Relay,
        ..AgentConfig::default()
    });
    agent_a.add_local_interface(addr("10.0.0.2:5000")).unwrap();
    exchange_credentials(&mut agent_a, &mut agent_b);

    let b = sim.add_endpoint(
        hb,
        &[addr("192.0.2.20:5000")],
        OverStream::client(agent_b, addr(TURN), TurnTransport::Udp),
    );
    let a = sim.add_endpoint(
        ha,
        &[addr("10.0.0.2:5000")],
        OverStream::client(agent_a, addr(TURN), transport),
    );
    World {
        sim,
        t0,
        server,
        a,
        b,
        pipe: BTreeMap::new(),
        seq: 0,
        cut: 1 + (seed as usize % 7) * 13,
        a_events: Vec::new(),
        b_events: Vec::new(),
        a_data: Vec::new(),
        b_data: Vec::new(),
    }
}

impl World {
    fn agent(&mut self, a: bool) -> &mut Agent {
        let id = if a { self.a } else { self.b };
        &mut self.sim.endpoint_mut::<StreamAgent>(id).inner
    }

    /// Signals candidates at once, moves pipe messages, logs events; whether it did anything.
    fn exchange(&mut self) -> bool {
        let now = self.sim.now();
        let mut touched = false;
        for a_side in [true, false] {
            let id = if a_side { self.a } else { self.b };
            for e in self.sim.take_events::<StreamAgent>(id) {
                if let IceEvent::LocalCandidate(c) = &e {
                    touched = true;
                    let _ = self.agent(!a_side).add_remote_candidate(c.clone());
                }
                match e {
                    IceEvent::Data { contents, .. } if a_side => self.a_data.push(contents),
                    IceEvent::Data { contents, .. } => self.b_data.push(contents),
                    e if a_side => self.a_events.push(e),
                    e => self.b_events.push(e),
                }
            }
        }
        // Into the pipe, cut into small pieces: framing must not care where TCP splits.
        let from_a = std::mem::take(&mut self.sim.endpoint_mut::<StreamAgent>(self.a).out);
        let from_server =
            std::mem::take(&mut self.sim.endpoint_mut::<StreamServer>(self.server).out);
        for (to_server, msgs) in [(true, from_a), (false, from_server)] {
            for msg in msgs {
                let pieces = match msg {
                    PipeMsg::Bytes(n, bytes) => bytes
                        .chunks(self.cut)
                        .map(|c| PipeMsg::Bytes(n, c.to_vec()))
                        .collect(),
                    other => vec![other],
                };
                for p in pieces {
                    self.seq += 1;
                    self.pipe
                        .insert((now + PIPE_LATENCY, self.seq), (to_server, p));
                }
            }
        }
        while let Some(entry) = self.pipe.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to_server, msg) = entry.remove();
            touched = true;
            if to_server {
                self.sim
                    .endpoint_mut::<StreamServer>(self.server)
                    .deliver(now, msg);
            } else {
                self.sim
                    .endpoint_mut::<StreamAgent>(self.a)
                    .deliver(now, msg);
            }
        }
        touched
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) -> bool {
        let deadline = self.t0 + limit;
        loop {
            self.sim.run_until(self.sim.now()).unwrap();
            if self.exchange() {
                continue;
            }
            if done(self) {
                return true;
            }
            let now = self.sim.now();
            if now >= deadline {
                return false;
            }
            let mut next = deadline;
            if let Some((&(t, _), _)) = self.pipe.first_key_value() {
                next = next.min(t);
            }
            match self.sim.next_event_at() {
                Some(t) if t <= next => {
                    self.sim.step().unwrap();
                }
                _ => self.sim.run_until(next).unwrap(),
            }
        }
    }

    fn connected(events: &[IceEvent]) -> bool {
        events.iter().any(|e| {
            matches!(
                e,
                IceEvent::StateChanged(IceState::Connected | IceState::Completed)
            )
        })
    }
}

#[test]
fn a_peer_without_udp_connects_relay_only_over_turn_tcp() {
    for seed in [31, 32, 33] {
        let mut w = world(seed, TurnTransport::Tcp);
        let ok = w.run_until(20 * SEC, |w| {
            World::connected(&w.a_events) && World::connected(&w.b_events)
        });
        assert!(ok, "seed {seed}: {:?}", w.a_events);
        assert!(w.agent(true).selected_pair().unwrap().relayed);
        for i in 0u32..20 {
            let _ = w.agent(true).send(&i.to_be_bytes());
            let _ = w.agent(false).send(&(100 + i).to_be_bytes());
            let until = w.sim.elapsed() + 20 * MS;
            w.run_until(until, |_| false);
        }
        let until = w.sim.elapsed() + SEC;
        w.run_until(until, |_| false);
        assert_eq!(w.b_data.len(), 20, "seed {seed}: a to b");
        assert_eq!(w.a_data.len(), 20, "seed {seed}: b to a");
        let a = w.sim.endpoint::<StreamAgent>(w.a);
        // Every message of a's went through the stream: checks, data, TURN control.
        assert!(a.link.stats().sent > 20, "{:?}", a.link.stats());
        assert_eq!(a.link.stats().bad_framing, 0);
        let server = w.sim.endpoint::<StreamServer>(w.server);
        assert_eq!(server.inner.allocations(), 1);
        assert!(server.link.stats().received > 20);
        // a never had a way out over UDP.
        assert_eq!(
            w.sim.stats().dropped(DropReason::NoRoute),
            0,
            "a sent nothing over UDP"
        );
    }
}

#[test]
fn the_same_peer_over_udp_turn_never_connects_and_says_why() {
    let mut w = world(34, TurnTransport::Udp);
    let ok = w.run_until(45 * SEC, |w| World::connected(&w.a_events));
    assert!(!ok);
    assert!(w.sim.stats().dropped(DropReason::NoRoute) > 0);
    let failures = w.agent(true).relay_failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].1.contains("did not answer"), "{failures:?}");
}

#[test]
fn a_turn_tcp_request_is_not_retransmitted() {
    // RFC 8489 §6.2.2: over a reliable transport the client sends a request once and waits
    // Ti (39.5 s). Here the server end never answers: the pipe is never drained.
    let mut w = world(35, TurnTransport::Tcp);
    w.sim.run_until(w.t0 + 30 * SEC).unwrap();
    let out = &w.sim.endpoint::<StreamAgent>(w.a).link;
    // The one Allocate, still waiting for its connection, and no copy of it.
    assert_eq!(out.stats().sent, 1, "{:?}", out.stats());
}

#[test]
fn a_closed_turn_tcp_connection_fails_the_relay_at_once() {
    let mut w = world(36, TurnTransport::Tcp);
    let ok = w.run_until(20 * SEC, |w| {
        World::connected(&w.a_events) && World::connected(&w.b_events)
    });
    assert!(ok);
    assert!(w.agent(true).relay_failures().is_empty());
    // The server's end goes away (RFC 8656 §3.1: the allocation goes with it).
    let now = w.sim.now();
    let a = w.sim.endpoint_mut::<StreamAgent>(w.a);
    a.deliver(now, PipeMsg::Closed(0));
    let closed = std::mem::take(&mut a.closed);
    assert_eq!(closed, vec![(addr("10.0.0.2:5000"), addr(TURN))]);
    for (local, server) in closed {
        assert_eq!(a.inner.relay_stream_closed(now, local, server), 1);
    }
    let failures = w.agent(true).relay_failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].1.contains("connection"), "{failures:?}");
}
