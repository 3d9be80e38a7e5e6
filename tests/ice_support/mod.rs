//! Two ICE agents in the simulator with a signalling channel between them, and topology
//! helpers for the scenarios.
#![allow(dead_code)] // each scenario file uses a different part of this

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use kaon::ice::{Agent, AgentConfig, Candidate, IceEvent, IceState};
use kaon::sim::{EndpointId, HostId, InterfaceId, LinkConfig, NatConfig, NetworkId, Sim};
use kaon::stun::{Server, ServerConfig};

pub const MS: Duration = Duration::from_millis(1);
pub const SEC: Duration = Duration::from_secs(1);

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A network behind a NAT on `outside`, with the given public IPv4 address.
pub fn natted(
    sim: &mut Sim,
    name: &str,
    outside: NetworkId,
    public: &str,
    nat: NatConfig,
) -> NetworkId {
    let inside = sim.add_network(name);
    sim.add_nat(&format!("{name}-nat"), inside, outside, &[ip(public)], nat);
    inside
}

/// A STUN server on `network` at `at`.
pub fn stun_server(sim: &mut Sim, network: NetworkId, at: &str) -> SocketAddr {
    let a = addr(at);
    let h = sim.add_host(&format!("stun-{at}"));
    sim.add_interface(h, network, a.ip(), LinkConfig::with_latency(5 * MS));
    sim.add_endpoint(h, &[a], Server::new(ServerConfig::new(vec![a])));
    a
}

/// One side: the agent's host, its socket addresses and config.
pub struct Side {
    pub host: HostId,
    /// The addresses the endpoint binds.
    pub addrs: Vec<SocketAddr>,
    /// How many of `addrs` (the first ones) the agent is told about at the start.
    pub announce: usize,
    pub ifaces: Vec<InterfaceId>,
    pub config: AgentConfig,
}

impl Side {
    /// A host with one interface per `(network, ip)`, each with link `latency`, binding port
    /// 5000 on each address.
    pub fn new(
        sim: &mut Sim,
        name: &str,
        ifaces: &[(NetworkId, &str)],
        latency: Duration,
        config: AgentConfig,
    ) -> Self {
        let host = sim.add_host(name);
        let mut addrs = Vec::new();
        let mut ids = Vec::new();
        for (net, a) in ifaces {
            let a = ip(a);
            ids.push(sim.add_interface(host, *net, a, LinkConfig::with_latency(latency)));
            addrs.push(SocketAddr::new(a, 5000));
        }
        Self {
            host,
            announce: addrs.len(),
            addrs,
            ifaces: ids,
            config,
        }
    }
}

/// What a session saw, with simulated times since the start.
#[derive(Debug, Default)]
pub struct Log {
    pub events: Vec<(Duration, IceEvent)>,
    /// (time received, payload) of application data.
    pub data: Vec<(Duration, Vec<u8>)>,
}

impl Log {
    /// When the state first became one of `states`.
    pub fn first(&self, states: &[IceState]) -> Option<Duration> {
        self.events.iter().find_map(|(t, e)| match e {
            IceEvent::StateChanged(s) if states.contains(s) => Some(*t),
            _ => None,
        })
    }

    pub fn connected_at(&self) -> Option<Duration> {
        self.first(&[IceState::Connected, IceState::Completed])
    }

    pub fn states(&self) -> Vec<IceState> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                IceEvent::StateChanged(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    pub fn selected_changes(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, IceEvent::SelectedPairChanged { .. }))
            .count()
    }
}

/// A signalling message.
#[derive(Debug, Clone)]
enum Signal {
    Candidate(Candidate),
    EndOfCandidates,
}

/// Two agents and a signalling channel with a fixed delay.
pub struct Session {
    pub sim: Sim,
    pub t0: Instant,
    pub a: EndpointId,
    pub b: EndpointId,
    pub ifaces_a: Vec<InterfaceId>,
    pub ifaces_b: Vec<InterfaceId>,
    pub addrs_a: Vec<SocketAddr>,
    pub addrs_b: Vec<SocketAddr>,
    pub log_a: Log,
    pub log_b: Log,
    pub signal_delay: Duration,
    /// Whether end-of-candidates is signalled after gathering completes.
    pub end_of_candidates: bool,
    /// Whether candidates flow through the signalling channel at all (turn off to script it).
    pub trickle: bool,
    signals: BTreeMap<(Instant, u64), (bool, Signal)>,
    seq: u64,
    /// Application traffic: every `interval` each side sends a numbered datagram.
    pub data_interval: Option<Duration>,
    next_data: Option<Instant>,
    pub sent: (u32, u32),
}

impl Session {
    /// Creates both agents with each side's addresses as host candidates and exchanges the
    /// credentials at once; candidates then trickle with `signal_delay`.
    pub fn new(mut sim: Sim, t0: Instant, a: Side, b: Side) -> Self {
        let mut agent_a = Agent::new(a.config);
        let mut agent_b = Agent::new(b.config);
        for addr in &a.addrs[..a.announce] {
            agent_a.add_local_interface(*addr).unwrap();
        }
        for addr in &b.addrs[..b.announce] {
            agent_b.add_local_interface(*addr).unwrap();
        }
        exchange_credentials(&mut agent_a, &mut agent_b);
        let ea = sim.add_endpoint(a.host, &a.addrs, agent_a);
        let eb = sim.add_endpoint(b.host, &b.addrs, agent_b);
        Self {
            sim,
            t0,
            a: ea,
            b: eb,
            ifaces_a: a.ifaces,
            ifaces_b: b.ifaces,
            addrs_a: a.addrs,
            addrs_b: b.addrs,
            log_a: Log::default(),
            log_b: Log::default(),
            signal_delay: Duration::ZERO,
            end_of_candidates: true,
            trickle: true,
            signals: BTreeMap::new(),
            seq: 0,
            data_interval: None,
            next_data: None,
            sent: (0, 0),
        }
    }

    pub fn agent(&mut self, a_side: bool) -> &mut Agent {
        let id = if a_side { self.a } else { self.b };
        self.sim.endpoint_mut::<Agent>(id)
    }

    pub fn agent_ref(&self, a_side: bool) -> &Agent {
        let id = if a_side { self.a } else { self.b };
        self.sim.endpoint::<Agent>(id)
    }

    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Starts sending a numbered datagram from each side every `interval` over its selected
    /// pair (when it has one).
    pub fn send_data_every(&mut self, interval: Duration) {
        self.data_interval = Some(interval);
        self.next_data = Some(self.sim.now());
    }

    /// Logs events, delivers due signals and sends due data; returns whether it touched an
    /// agent.
    fn exchange(&mut self) -> bool {
        let mut touched = false;
        let now = self.sim.now();
        let at = now - self.t0;
        for a_side in [true, false] {
            let id = if a_side { self.a } else { self.b };
            for e in self.sim.take_events::<Agent>(id) {
                let signal = match &e {
                    IceEvent::LocalCandidate(c) if self.trickle => {
                        Some(Signal::Candidate(c.clone()))
                    }
                    IceEvent::GatheringComplete if self.trickle && self.end_of_candidates => {
                        Some(Signal::EndOfCandidates)
                    }
                    _ => None,
                };
                if let Some(s) = signal {
                    self.seq += 1;
                    self.signals
                        .insert((now + self.signal_delay, self.seq), (!a_side, s));
                }
                let log = if a_side {
                    &mut self.log_a
                } else {
                    &mut self.log_b
                };
                match e {
                    IceEvent::Data { contents, .. } => log.data.push((at, contents)),
                    e => log.events.push((at, e)),
                }
            }
        }
        while let Some(entry) = self.signals.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to_a, signal) = entry.remove();
            touched = true;
            let agent = self.agent(to_a);
            match signal {
                Signal::Candidate(c) => {
                    let _ = agent.add_remote_candidate(c);
                }
                Signal::EndOfCandidates => agent.end_of_remote_candidates(),
            }
        }
        if let (Some(interval), Some(next)) = (self.data_interval, self.next_data)
            && now >= next
        {
            touched = true;
            self.next_data = Some(next + interval);
            for a_side in [true, false] {
                let seq = if a_side { self.sent.0 } else { self.sent.1 };
                if self.agent(a_side).send(&seq.to_be_bytes()).is_ok() {
                    if a_side {
                        self.sent.0 += 1;
                    } else {
                        self.sent.1 += 1;
                    }
                }
            }
        }
        touched
    }

    /// Runs until `done` holds (checked after every simulator step) or `limit` of simulated
    /// time has passed since the start; returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Session) -> bool) -> bool {
        let deadline = self.t0 + limit;
        loop {
            // Poll the endpoints touched since the last step, then pass on what they said;
            // repeat while that touches them again.
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
            if let Some((&(t, _), _)) = self.signals.first_key_value() {
                next = next.min(t);
            }
            if let Some(t) = self.next_data.filter(|_| self.data_interval.is_some()) {
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

    /// Runs for `d` more simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.elapsed() + d;
        self.run_until(limit, |_| false);
    }

    /// Runs until both sides are connected (or completed), up to `limit`; prints and returns
    /// the time it took.
    pub fn connect(&mut self, name: &str, limit: Duration) -> Option<Duration> {
        let ok = self.run_until(limit, |s| {
            s.log_a.connected_at().is_some() && s.log_b.connected_at().is_some()
        });
        let t = ok.then(|| {
            self.log_a
                .connected_at()
                .unwrap()
                .max(self.log_b.connected_at().unwrap())
        });
        eprintln!("{name}: time to connected {t:?}");
        t
    }

    /// Exchanges the current credentials both ways (after a restart).
    pub fn exchange_credentials(&mut self) {
        let creds = |a: &Agent| {
            let (u, p) = a.local_credentials();
            (u.to_owned(), p.to_owned())
        };
        let (ua, pa) = creds(self.agent_ref(true));
        let (ub, pb) = creds(self.agent_ref(false));
        self.agent(true).set_remote_credentials(&ub, &pb).unwrap();
        self.agent(false).set_remote_credentials(&ua, &pa).unwrap();
    }

    /// Prints the packet trace and both logs, for debugging a scenario.
    pub fn dump(&self) {
        for e in self.sim.trace() {
            eprintln!("{e:?}");
        }
        for (name, log) in [("A", &self.log_a), ("B", &self.log_b)] {
            for (t, e) in &log.events {
                eprintln!("{name} {t:?} {e:?}");
            }
        }
        eprintln!("A {:?}", self.agent_ref(true).stats());
        eprintln!("B {:?}", self.agent_ref(false).stats());
    }

    pub fn state(&self, a_side: bool) -> IceState {
        self.agent_ref(a_side).state()
    }
}

pub fn exchange_credentials(a: &mut Agent, b: &mut Agent) {
    let (ua, pa) = {
        let (u, p) = a.local_credentials();
        (u.to_owned(), p.to_owned())
    };
    let (ub, pb) = {
        let (u, p) = b.local_credentials();
        (u.to_owned(), p.to_owned())
    };
    a.set_remote_credentials(&ub, &pb).unwrap();
    b.set_remote_credentials(&ua, &pa).unwrap();
}
