//! A deterministic network simulator for kaon protocols (feature `sim`).
//!
//! [`Sim`] runs any number of [`Protocol`] instances ("endpoints") on a virtual clock, over a
//! simulated network of hosts, links and NAT boxes. Nothing reads a real clock and everything
//! random comes from one seed, so a scenario replays exactly: the same seed and setup give the
//! same packet trace and the same events. A failing seed is a regression test.
//!
//! # What it models
//!
//! - **Networks** ([`Sim::add_network`]): L3 segments such as "the internet" or "home LAN".
//!   A datagram to IP *D* goes to the interface on the current network that owns *D*; if none
//!   does and the network sits behind a NAT, to that NAT, which translates it onto its outside
//!   network (recursively, so NAT behind NAT works); otherwise it is dropped
//!   ([`DropReason::NoRoute`]). A datagram to a multicast address (mDNS's 224.0.0.251 or
//!   ff02::fb) reaches every other interface on the sender's network and goes no further; on
//!   each it is delivered to the endpoint bound to that port on one of the interface's
//!   addresses of the same family (the sender's own interface gets no copy).
//! - **Hosts** ([`Sim::add_host`]) with one or more **interfaces** ([`Sim::add_interface`]),
//!   each on one network with one or more IPv4 and IPv6 addresses ([`Sim::add_address`]). A
//!   datagram leaves through the interface that owns its source address.
//! - **Links** ([`LinkConfig`]): each interface's link has latency, jitter, random loss,
//!   Gilbert-Elliott burst loss, duplication, reordering, a bandwidth limit with a bounded
//!   tail-drop queue, and an MTU, applied separately in each direction. Interfaces can be cut
//!   and restored, now or at a given instant ([`Sim::cut_interface_at`]).
//! - **NATs** ([`NatConfig`]) with the mapping and filtering behaviours of RFC 4787
//!   (endpoint-independent, address-dependent, address-and-port-dependent), mapping timeouts,
//!   hairpinning and port preservation. IPv4 is translated; IPv6 crosses a NAT box untranslated,
//!   through a stateful firewall with the same filtering behaviour.
//! - **Endpoints** ([`Sim::add_endpoint`]): a protocol bound to socket addresses of a host.
//!   The simulator drives it exactly as the [`Protocol`] contract says: datagrams and timeouts
//!   in; transmits, events and the next deadline out. Events are kept per endpoint
//!   ([`Sim::events`]); the protocol itself stays reachable ([`Sim::endpoint_mut`]).
//!
//! Every datagram's fate is in the [`trace`](Sim::trace) (delivered, dropped and why, NAT
//! translations) and in the [`stats`](Sim::stats) counters.
//!
//! # Driving
//!
//! The clock jumps from one event to the next: a datagram leaving a link, an endpoint's
//! [`poll_timeout`](Protocol::poll_timeout) deadline, or a scheduled cut or restore.
//! [`Sim::step`] processes one; [`Sim::run_until`], [`Sim::run_for`], [`Sim::run_until_idle`]
//! and [`Sim::run_until_cond`] loop over them. A step budget ([`SimConfig::max_steps`]) turns a
//! livelock into [`SimError::StepLimit`] instead of a hung test.
//!
//! # Simplifications
//!
//! - Each network has at most one NAT as its default route, and a datagram is routed from the
//!   network of the interface that owns its source address; there are no routing tables, TTLs
//!   (a loop guard drops after 32 networks) or ICMP errors.
//! - NAT boxes have no inside address and add no delay; an endpoint binds concrete addresses
//!   (no wildcard `0.0.0.0`), and there is no IP fragmentation: too big is dropped.
//! - A NAT mapping's filter remembers every remote it reached for as long as the mapping
//!   lives, rather than with a timer per remote.
//!
//! # Example
//!
//! A laptop behind a home NAT sends "hello" to a server on the internet, which answers with the
//! address it saw: the NAT's public address and the port of the laptop's mapping.
//!
//! ```
//! # #[cfg(feature = "sim")] {
//! use kaon::sim::{LinkConfig, NatConfig, Outcome, Sim};
//! use kaon::{Datagram, Protocol, Transmit};
//! use std::collections::VecDeque;
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//!
//! /// Sends what it is given; receives datagrams as events; a reflector answers each datagram
//! /// with the source address it saw.
//! #[derive(Default)]
//! struct Node {
//!     reflect: bool,
//!     outbox: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
//!     received: VecDeque<String>,
//! }
//!
//! impl Protocol for Node {
//!     type Event = String;
//!     fn handle_datagram(&mut self, _now: Instant, d: Datagram<'_>) {
//!         self.received.push_back(String::from_utf8_lossy(d.contents).into_owned());
//!         if self.reflect {
//!             let seen = d.source.to_string().into_bytes();
//!             self.outbox.push_back((d.destination, d.source, seen));
//!         }
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
//!         let (source, destination, bytes) = self.outbox.pop_front()?;
//!         buf[..bytes.len()].copy_from_slice(&bytes);
//!         Some(Transmit::new(source, destination, bytes.len()))
//!     }
//!     fn poll_event(&mut self) -> Option<String> {
//!         self.received.pop_front()
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> {
//!         None
//!     }
//! }
//!
//! let mut sim = Sim::new(7, Instant::now());
//! let internet = sim.add_network("internet");
//! let home = sim.add_network("home");
//! let router = sim.add_nat(
//!     "router",
//!     home,
//!     internet,
//!     &["203.0.113.1".parse()?],
//!     NatConfig::port_restricted_cone(),
//! );
//! let ms = Duration::from_millis;
//! let server_host = sim.add_host("server");
//! sim.add_interface(server_host, internet, "198.51.100.7".parse()?, LinkConfig::with_latency(ms(20)));
//! let laptop = sim.add_host("laptop");
//! sim.add_interface(laptop, home, "192.168.1.10".parse()?, LinkConfig::with_latency(ms(5)));
//!
//! let server_addr: SocketAddr = "198.51.100.7:3478".parse()?;
//! let laptop_addr: SocketAddr = "192.168.1.10:5000".parse()?;
//! let reflector = Node { reflect: true, ..Node::default() };
//! let server = sim.add_endpoint(server_host, &[server_addr], reflector);
//! let mut client = Node::default();
//! client.outbox.push_back((laptop_addr, server_addr, b"hello".to_vec()));
//! let client = sim.add_endpoint(laptop, &[laptop_addr], client);
//!
//! sim.run_until_idle()?;
//! assert_eq!(sim.events::<Node>(server), ["hello"]);
//! let seen = sim.take_events::<Node>(client);
//! assert!(seen[0].starts_with("203.0.113.1:"), "{seen:?}");
//! // 5 ms + 20 ms each way: both uplink and downlink carry each interface's latency.
//! assert_eq!(sim.elapsed(), ms(50));
//! // The trace shows the mapping the NAT made on the way out.
//! assert!(sim.trace().iter().any(|e| e.from == laptop_addr
//!     && matches!(e.outcome, Outcome::Translated { nat, .. } if nat == router)));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod endpoint;
pub mod lab;
mod link;
mod nat;
mod run;
mod topology;
mod trace;

use std::collections::{BTreeSet, BinaryHeap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use link::{GilbertElliott, IPV4_UDP_OVERHEAD, IPV6_UDP_OVERHEAD, LinkConfig};
pub use nat::{Behavior, NatConfig};
pub use topology::{EndpointId, HostId, InterfaceId, NatId, NetworkId};
pub use trace::{DropReason, Outcome, Stats, TraceEntry};

use crate::{Protocol, Rng};
use endpoint::{Endpoint, Slot};
use run::Scheduled;
use topology::Topology;
use trace::Recorder;

/// Which direction of an interface's link [`Sim::set_link`] configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Host to network.
    Up,
    /// Network to host.
    Down,
    /// Both directions.
    Both,
}

/// Settings of a [`Sim`] that are not part of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// How many steps one `run_*` call may take before it fails with
    /// [`SimError::StepLimit`]. A step is one datagram hop, one timeout, or one datagram an
    /// endpoint hands over. Bare [`Sim::step`] calls count since the last `run_*` call.
    pub max_steps: u64,
    /// Whether to record the packet trace (the [`Stats`] are always kept).
    pub trace: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            max_steps: 10_000_000,
            trace: true,
        }
    }
}

/// Why a simulation run stopped before its goal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The step budget ran out: most likely a livelock, such as an endpoint whose deadline is
    /// always now, or endpoints with periodic timers under [`Sim::run_until_idle`].
    #[error("step limit of {limit} reached at {at:?} of simulated time")]
    StepLimit {
        /// The budget that ran out.
        limit: u64,
        /// Simulated time since the start when it ran out.
        at: Duration,
    },
}

/// The simulator: a virtual clock, a network and the endpoints on it. See the
/// [module documentation](self).
pub struct Sim {
    start: Instant,
    /// Virtual time since `start`. Internally all time is kept this way.
    now: Duration,
    rng: Rng,
    topo: Topology,
    endpoints: Vec<Endpoint>,
    dirty: Vec<EndpointId>,
    timers: BTreeSet<(Duration, EndpointId)>,
    queue: BinaryHeap<Scheduled>,
    next_seq: u64,
    next_packet: u64,
    pool: Vec<Vec<u8>>,
    buf: Vec<u8>,
    rec: Recorder,
    max_steps: u64,
    steps: u64,
    budget_from: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("elapsed", &self.now)
            .field("topology", &self.topo)
            .field("endpoints", &self.endpoints)
            .field("scheduled", &self.queue.len())
            .field("stats", &self.rec.stats)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A simulator whose randomness all derives from `seed` and whose clock starts at `start`
    /// (the caller supplies it: the core never reads a clock).
    pub fn new(seed: u64, start: Instant) -> Self {
        Self::with_config(seed, start, SimConfig::default())
    }

    /// Like [`new`](Self::new), with explicit settings.
    pub fn with_config(seed: u64, start: Instant, config: SimConfig) -> Self {
        Self {
            start,
            now: Duration::ZERO,
            rng: Rng::from_seed(seed),
            topo: Topology::default(),
            endpoints: Vec::new(),
            dirty: Vec::new(),
            timers: BTreeSet::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            next_packet: 0,
            pool: Vec::new(),
            buf: vec![0; 65_536],
            rec: Recorder::new(config.trace),
            max_steps: config.max_steps,
            steps: 0,
            budget_from: 0,
        }
    }

    /// The current simulated instant.
    pub fn now(&self) -> Instant {
        self.start + self.now
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    /// The instant the simulation started at.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Changes the step budget of each `run_*` call (see [`SimConfig::max_steps`]).
    pub fn set_max_steps(&mut self, max_steps: u64) {
        self.max_steps = max_steps;
    }

    /// Steps taken since the simulation started.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Adds a network (an L3 segment).
    pub fn add_network(&mut self, name: &str) -> NetworkId {
        self.topo.add_network(name)
    }

    /// Adds a host with no interface yet.
    pub fn add_host(&mut self, name: &str) -> HostId {
        self.topo.add_host(name)
    }

    /// Attaches `host` to `network` through a new interface with address `addr`, whose link
    /// applies `link` in both directions (see [`set_link`](Self::set_link) for asymmetric
    /// links). Each direction gets its own random stream, so adding a link does not change what
    /// happens on the others.
    ///
    /// # Panics
    ///
    /// On a setup mistake: an unknown host or network, `addr` already in use on the network or
    /// the host, or a link `rate` of zero.
    pub fn add_interface(
        &mut self,
        host: HostId,
        network: NetworkId,
        addr: IpAddr,
        link: LinkConfig,
    ) -> InterfaceId {
        let iface = self.topo.add_interface(host, network, link, &mut self.rng);
        self.topo.add_address(iface, addr);
        iface
    }

    /// Gives an interface one more address (for example an IPv6 address next to its IPv4 one).
    ///
    /// # Panics
    ///
    /// If the interface is unknown or `addr` is already in use on its network or host.
    pub fn add_address(&mut self, iface: InterfaceId, addr: IpAddr) {
        self.topo.add_address(iface, addr);
    }

    /// Replaces the link config of one or both directions of an interface. Queued and in-flight
    /// datagrams keep the timing they already have.
    ///
    /// # Panics
    ///
    /// If the interface is unknown or the link `rate` is zero.
    pub fn set_link(&mut self, iface: InterfaceId, direction: Direction, link: LinkConfig) {
        let i = &mut self.topo.ifaces[iface.0];
        if direction != Direction::Down {
            i.uplink.set_config(link);
        }
        if direction != Direction::Up {
            i.downlink.set_config(link);
        }
    }

    /// Adds a NAT box that connects `inside` (which gets it as its default route) to `outside`,
    /// where its `public` IPv4 addresses live.
    ///
    /// # Panics
    ///
    /// On a setup mistake: unknown networks, `inside == outside`, `inside` already behind a
    /// NAT, no public address, an IPv6 public address, or a public address already in use.
    pub fn add_nat(
        &mut self,
        name: &str,
        inside: NetworkId,
        outside: NetworkId,
        public: &[IpAddr],
        config: NatConfig,
    ) -> NatId {
        let rng = self.rng.fork();
        self.topo
            .add_nat(name, inside, outside, public, config, rng)
    }

    /// A NAT's live mappings as (internal, external) address pairs, in external-address order.
    pub fn nat_mappings(&self, nat: NatId) -> Vec<(SocketAddr, SocketAddr)> {
        self.topo.nats[nat.0].nat.mappings(self.now)
    }

    /// A NAT's public addresses.
    pub fn nat_public_addrs(&self, nat: NatId) -> &[IpAddr] {
        self.topo.nats[nat.0].nat.public()
    }

    /// The name a network was created with.
    pub fn network_name(&self, id: NetworkId) -> &str {
        &self.topo.networks[id.0].name
    }

    /// The name a host was created with.
    pub fn host_name(&self, id: HostId) -> &str {
        &self.topo.hosts[id.0].name
    }

    /// The name a NAT was created with.
    pub fn nat_name(&self, id: NatId) -> &str {
        &self.topo.nats[id.0].name
    }

    /// Cuts an interface now: datagrams sent, queued, in flight on or arriving over its link
    /// are dropped with [`DropReason::LinkDown`] until it is restored.
    pub fn cut_interface(&mut self, iface: InterfaceId) {
        self.set_interface_up(iface, false);
    }

    /// Restores a cut interface now.
    pub fn restore_interface(&mut self, iface: InterfaceId) {
        self.set_interface_up(iface, true);
    }

    /// Cuts an interface at `at` (now, if `at` has passed).
    pub fn cut_interface_at(&mut self, at: Instant, iface: InterfaceId) {
        assert!(
            iface.0 < self.topo.ifaces.len(),
            "unknown interface {iface:?}"
        );
        self.schedule_at(at, run::Event::Cut(iface));
    }

    /// Restores an interface at `at` (now, if `at` has passed).
    pub fn restore_interface_at(&mut self, at: Instant, iface: InterfaceId) {
        assert!(
            iface.0 < self.topo.ifaces.len(),
            "unknown interface {iface:?}"
        );
        self.schedule_at(at, run::Event::Restore(iface));
    }

    /// Whether an interface is up.
    pub fn interface_is_up(&self, iface: InterfaceId) -> bool {
        self.topo.ifaces[iface.0].up
    }

    /// Binds `protocol` to the socket addresses `addrs` of `host` and returns its id. Datagrams
    /// to those addresses reach its [`handle_datagram`](Protocol::handle_datagram); it may send
    /// from any of them. The simulator polls it before the next step.
    ///
    /// # Panics
    ///
    /// On a setup mistake: an unknown host, an address none of the host's interfaces owns, port
    /// zero, or an address already bound on the host.
    pub fn add_endpoint<P>(&mut self, host: HostId, addrs: &[SocketAddr], protocol: P) -> EndpointId
    where
        P: Protocol + 'static,
        P::Event: 'static,
    {
        let id = EndpointId(self.endpoints.len());
        let h = self.topo.hosts.get_mut(host.0).expect("unknown host");
        for addr in addrs {
            assert!(
                h.by_ip.contains_key(&addr.ip()),
                "host {:?} has no interface with address {}",
                h.name,
                addr.ip()
            );
            assert_ne!(addr.port(), 0, "endpoints bind to a concrete port");
            assert!(
                h.bindings.insert(*addr, id).is_none(),
                "{addr} is already bound on host {:?}",
                h.name
            );
        }
        self.endpoints.push(Endpoint {
            host,
            addrs: addrs.to_vec(),
            driven: Box::new(Slot {
                protocol,
                events: Vec::new(),
            }),
            deadline: None,
            dirty: true,
            type_name: std::any::type_name::<P>(),
        });
        self.dirty.push(id);
        id
    }

    /// The protocol of an endpoint.
    ///
    /// # Panics
    ///
    /// If the endpoint holds another type than `P` (a test-setup mistake).
    pub fn endpoint<P>(&self, id: EndpointId) -> &P
    where
        P: Protocol + 'static,
        P::Event: 'static,
    {
        &self.endpoints[id.0].slot::<P>().protocol
    }

    /// The protocol of an endpoint, to call its mutators. The simulator polls it again
    /// (transmits, events, deadline) before the next step.
    ///
    /// # Panics
    ///
    /// If the endpoint holds another type than `P`.
    pub fn endpoint_mut<P>(&mut self, id: EndpointId) -> &mut P
    where
        P: Protocol + 'static,
        P::Event: 'static,
    {
        let ep = &mut self.endpoints[id.0];
        if !ep.dirty {
            ep.dirty = true;
            self.dirty.push(id);
        }
        &mut ep.slot_mut::<P>().protocol
    }

    /// The events an endpoint has produced so far (and not taken), oldest first.
    ///
    /// # Panics
    ///
    /// If the endpoint holds another type than `P`.
    pub fn events<P>(&self, id: EndpointId) -> &[P::Event]
    where
        P: Protocol + 'static,
        P::Event: 'static,
    {
        &self.endpoints[id.0].slot::<P>().events
    }

    /// Takes the events an endpoint has produced so far, oldest first.
    ///
    /// # Panics
    ///
    /// If the endpoint holds another type than `P`.
    pub fn take_events<P>(&mut self, id: EndpointId) -> Vec<P::Event>
    where
        P: Protocol + 'static,
        P::Event: 'static,
    {
        std::mem::take(&mut self.endpoints[id.0].slot_mut::<P>().events)
    }

    /// The socket addresses an endpoint is bound to.
    pub fn endpoint_addrs(&self, id: EndpointId) -> &[SocketAddr] {
        &self.endpoints[id.0].addrs
    }

    /// The packet trace so far (empty while tracing is off).
    pub fn trace(&self) -> &[TraceEntry] {
        self.rec.entries()
    }

    /// Turns the packet trace on or off; the counters are always kept.
    pub fn set_trace(&mut self, enabled: bool) {
        self.rec.set_enabled(enabled);
    }

    /// Forgets the trace recorded so far.
    pub fn clear_trace(&mut self) {
        self.rec.clear();
    }

    /// Counters of sent, delivered and dropped datagrams.
    pub fn stats(&self) -> &Stats {
        &self.rec.stats
    }

    /// Datagrams (and copies) currently on a link. Counts by walking the event queue: for
    /// assertions, not for hot loops.
    pub fn in_flight(&self) -> usize {
        self.queue
            .iter()
            .filter(|s| {
                matches!(
                    s.event,
                    run::Event::Uplinked { .. } | run::Event::Downlinked { .. }
                )
            })
            .count()
    }
}
