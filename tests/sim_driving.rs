//! Driving the simulator: determinism, the step limit, the run helpers, time, and speed.
#![cfg(feature = "sim")]

mod sim_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::sim::{
    EndpointId, GilbertElliott, LinkConfig, NatConfig, Sim, SimConfig, SimError, TraceEntry,
};
use kaon::{Datagram, Protocol, Transmit};
use sim_support::{Busy, Peer, addr, ip};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// A client behind a symmetric NAT pings an echo server over lossy, jittery, duplicating,
/// reordering, rate-limited links.
struct Scenario {
    sim: Sim,
    client: EndpointId,
    server: EndpointId,
}

fn scenario(seed: u64, t0: Instant, pings: u32, interval: Duration) -> Scenario {
    let mut sim = Sim::new(seed, t0);
    let internet = sim.add_network("internet");
    let home = sim.add_network("home");
    sim.add_nat(
        "router",
        home,
        internet,
        &[ip("203.0.113.1")],
        NatConfig::symmetric(),
    );
    let rough = LinkConfig {
        latency: 20 * MS,
        jitter: 5 * MS,
        loss: 0.01,
        burst_loss: Some(GilbertElliott::gilbert(0.005, 0.3)),
        duplicate: 0.01,
        reorder: 0.02,
        rate: Some(2_000_000),
        queue_bytes: 20_000,
        ..LinkConfig::default()
    };
    let laptop = sim.add_host("laptop");
    sim.add_interface(laptop, home, ip("192.168.1.2"), rough);
    let server = sim.add_host("server");
    sim.add_interface(
        server,
        internet,
        ip("198.51.100.1"),
        LinkConfig::with_latency(10 * MS),
    );
    let (c, s) = (addr("192.168.1.2:5000"), addr("198.51.100.1:7"));
    let mut pinger = Peer::silent();
    pinger.send_every(t0, interval, pings, 0, c, s, 160);
    let client = sim.add_endpoint(laptop, &[c], pinger);
    let server = sim.add_endpoint(server, &[s], Peer::echo());
    Scenario {
        sim,
        client,
        server,
    }
}

/// What the client received: when (since `t0`), from where, and what.
type Received = Vec<(Duration, SocketAddr, Vec<u8>)>;

/// The trace and what the client received, after running to the end.
fn run(seed: u64, t0: Instant) -> (Vec<TraceEntry>, Received) {
    let mut s = scenario(seed, t0, 2000, 5 * MS);
    s.sim.run_until_idle().unwrap();
    let events = s
        .sim
        .take_events::<Peer>(s.client)
        .into_iter()
        .map(|r| (r.at - t0, r.source, r.contents))
        .collect();
    (s.sim.trace().to_vec(), events)
}

#[test]
fn same_seed_gives_same_trace() {
    let t0 = Instant::now();
    let (trace_a, events_a) = run(42, t0);
    let (trace_b, events_b) = run(42, t0);
    assert!(trace_a.len() > 4000, "{} entries", trace_a.len());
    assert_eq!(trace_a, trace_b);
    assert_eq!(events_a, events_b);
    let (trace_c, events_c) = run(43, t0);
    assert_ne!(trace_a, trace_c);
    assert_ne!(events_a, events_c);
}

#[test]
fn step_limit_stops_an_endpoint_that_is_always_due() {
    assert_eq!(SimConfig::default().max_steps, 10_000_000);
    let t0 = Instant::now();
    let mut sim = Sim::new(1, t0);
    sim.set_max_steps(10_000);
    let lan = sim.add_network("lan");
    let host = sim.add_host("h");
    sim.add_interface(host, lan, ip("10.0.0.1"), LinkConfig::default());
    let busy = sim.add_endpoint(
        host,
        &[addr("10.0.0.1:1")],
        Busy {
            now: t0,
            timeouts: 0,
        },
    );
    let result = sim.run_for(SEC);
    assert_eq!(
        result,
        Err(SimError::StepLimit {
            limit: 10_000,
            at: Duration::ZERO
        })
    );
    assert_eq!(sim.endpoint::<Busy>(busy).timeouts, 10_000);
    assert_eq!(sim.elapsed(), Duration::ZERO, "time did not move");
}

/// Wakes up every `period` forever.
struct Ticker {
    next: Instant,
    period: Duration,
    ticks: u32,
}

impl Protocol for Ticker {
    type Event = u32;
    fn handle_datagram(&mut self, _now: Instant, _d: Datagram<'_>) {}
    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next {
            self.ticks += 1;
            self.next += self.period;
        }
    }
    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<u32> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }
}

fn ticker_sim(t0: Instant) -> (Sim, EndpointId) {
    let mut sim = Sim::new(2, t0);
    let lan = sim.add_network("lan");
    let host = sim.add_host("h");
    sim.add_interface(host, lan, ip("10.0.0.1"), LinkConfig::default());
    let ticker = Ticker {
        next: t0 + 10 * MS,
        period: 10 * MS,
        ticks: 0,
    };
    let id = sim.add_endpoint(host, &[addr("10.0.0.1:1")], ticker);
    (sim, id)
}

#[test]
fn periodic_timers_never_idle_so_run_until_idle_hits_the_step_limit() {
    let t0 = Instant::now();
    let (mut sim, _) = ticker_sim(t0);
    sim.set_max_steps(1000);
    let err = sim.run_until_idle().unwrap_err();
    assert_eq!(
        err,
        SimError::StepLimit {
            limit: 1000,
            at: 10 * SEC
        }
    );
    // The budget is per run: the next call gets a fresh one.
    sim.run_for(SEC).unwrap();
}

#[test]
fn run_until_cond_stops_when_the_condition_holds_or_at_the_deadline() {
    let t0 = Instant::now();
    let (mut sim, ticker) = ticker_sim(t0);
    let done = sim
        .run_until_cond(t0 + 10 * SEC, |sim| {
            sim.endpoint::<Ticker>(ticker).ticks >= 7
        })
        .unwrap();
    assert!(done);
    assert_eq!(sim.elapsed(), 70 * MS);
    let done = sim
        .run_until_cond(t0 + SEC, |sim| sim.endpoint::<Ticker>(ticker).ticks >= 1000)
        .unwrap();
    assert!(!done);
    assert_eq!(sim.now(), t0 + SEC);
    assert_eq!(sim.endpoint::<Ticker>(ticker).ticks, 100);
}

#[test]
fn run_until_sets_the_clock_even_without_events() {
    let t0 = Instant::now();
    let mut sim = Sim::new(3, t0);
    sim.run_until(t0 + 5 * SEC).unwrap();
    assert_eq!(sim.elapsed(), 5 * SEC);
    // Never backwards.
    sim.run_until(t0 + SEC).unwrap();
    assert_eq!(sim.elapsed(), 5 * SEC);
    assert_eq!(sim.step(), Ok(false));
}

#[test]
fn endpoint_mut_changes_are_polled_before_the_next_step() {
    let t0 = Instant::now();
    let mut s = scenario(4, t0, 0, MS);
    s.sim.run_until(t0 + SEC).unwrap();
    assert_eq!(s.sim.next_event_at(), None);
    s.sim.endpoint_mut::<Peer>(s.client).send(
        addr("192.168.1.2:5000"),
        addr("198.51.100.1:7"),
        b"late",
    );
    // One step polls the endpoint, which sends; the datagram is then on the link.
    assert_eq!(s.sim.step(), Ok(true));
    assert_eq!(s.sim.stats().sent, 1);
    s.sim.run_until_idle().unwrap();
    assert_eq!(s.sim.events::<Peer>(s.server).len(), 1);
}

/// Asks for a deadline long past, once, after its first datagram.
struct Stale {
    deadline: Option<Instant>,
    t0: Instant,
    seen: Vec<Instant>,
}

impl Protocol for Stale {
    type Event = ();
    fn handle_datagram(&mut self, now: Instant, _d: Datagram<'_>) {
        self.seen.push(now);
        self.deadline = Some(self.t0);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.seen.push(now);
        self.deadline = None;
    }
    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

#[test]
fn a_deadline_in_the_past_is_served_now() {
    let t0 = Instant::now();
    let mut sim = Sim::new(5, t0);
    let lan = sim.add_network("lan");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    sim.add_interface(ha, lan, ip("10.0.0.1"), LinkConfig::with_latency(300 * MS));
    sim.add_interface(hb, lan, ip("10.0.0.2"), LinkConfig::default());
    let mut a = Peer::silent();
    a.send(addr("10.0.0.1:1"), addr("10.0.0.2:2"), b"wake up");
    sim.add_endpoint(ha, &[addr("10.0.0.1:1")], a);
    let stale = Stale {
        deadline: None,
        t0,
        seen: Vec::new(),
    };
    let b = sim.add_endpoint(hb, &[addr("10.0.0.2:2")], stale);
    sim.run_until_idle().unwrap();
    assert_eq!(sim.endpoint::<Stale>(b).seen, [t0 + 300 * MS; 2]);
}

#[test]
fn tracing_off_still_counts() {
    let t0 = Instant::now();
    let mut s = scenario(6, t0, 100, 10 * MS);
    s.sim.set_trace(false);
    s.sim.run_until_idle().unwrap();
    assert!(s.sim.trace().is_empty());
    let stats = s.sim.stats();
    assert_eq!(
        stats.sent,
        100 + s.sim.events::<Peer>(s.server).len() as u64
    );
    assert!(stats.delivered > 150);
}

#[test]
fn one_minute_of_traffic_runs_in_well_under_a_second() {
    let wall = Instant::now();
    let mut s = scenario(7, wall, 6000, 10 * MS);
    s.sim.set_trace(false);
    s.sim.run_for(60 * SEC + SEC).unwrap();
    let took = wall.elapsed();
    let stats = s.sim.stats().clone();
    eprintln!(
        "60 s simulated in {took:?} wall: {} sent, {} delivered, {} dropped, {} steps",
        stats.sent,
        stats.delivered,
        stats.dropped_total(),
        s.sim.steps()
    );
    assert!(stats.sent >= 11_000, "{stats:?}");
    assert!(s.sim.events::<Peer>(s.client).len() > 5_500);
    // Generous for a shared machine and a debug build; typically far less.
    assert!(took < 5 * SEC, "took {took:?}");
}
