//! Link behaviour as endpoints see it: delay, jitter, loss, bursts, duplication, reordering,
//! bandwidth and queueing, MTU.
#![cfg(feature = "sim")]

mod sim_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::sim::{
    Direction, DropReason, EndpointId, GilbertElliott, InterfaceId, LinkConfig, Outcome, Sim,
};
use sim_support::{Peer, Recv, Reply, addr, ip};

const MS: Duration = Duration::from_millis(1);

/// Two hosts on one LAN: `a` (10.0.0.1, with `link`) sends to `b` (10.0.0.2, perfect link).
struct Pair {
    sim: Sim,
    t0: Instant,
    a: EndpointId,
    b: EndpointId,
    a_if: InterfaceId,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
}

fn pair(seed: u64, link: LinkConfig, b_reply: Reply) -> Pair {
    let t0 = Instant::now();
    let mut sim = Sim::new(seed, t0);
    let lan = sim.add_network("lan");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    let a_if = sim.add_interface(ha, lan, ip("10.0.0.1"), link);
    sim.add_interface(hb, lan, ip("10.0.0.2"), LinkConfig::default());
    let a_addr = addr("10.0.0.1:1000");
    let b_addr = addr("10.0.0.2:2000");
    let a = sim.add_endpoint(ha, &[a_addr], Peer::silent());
    let b = sim.add_endpoint(hb, &[b_addr], Peer::new(b_reply));
    Pair {
        sim,
        t0,
        a,
        b,
        a_if,
        a_addr,
        b_addr,
    }
}

impl Pair {
    /// `a` sends `count` numbered datagrams of `size` bytes to `b`, one every `interval`; runs
    /// until everything has landed and returns what `b` received.
    fn blast(&mut self, count: u32, interval: Duration, size: usize) -> Vec<Recv> {
        let (t0, from, to) = (self.t0, self.a_addr, self.b_addr);
        self.sim
            .endpoint_mut::<Peer>(self.a)
            .send_every(t0, interval, count, 0, from, to, size);
        self.sim.run_until_idle().unwrap();
        self.sim.take_events::<Peer>(self.b)
    }

    /// One-way delay of each received datagram, given the send schedule of [`blast`].
    fn delays(&self, received: &[Recv], interval: Duration) -> Vec<Duration> {
        received
            .iter()
            .map(|r| r.at - (self.t0 + interval * r.seq()))
            .collect()
    }
}

#[test]
fn one_way_delay_is_exact_without_jitter() {
    // 7 ms on a's link plus 3 ms on b's: 10 ms one way, 20 ms round trip.
    let t0 = Instant::now();
    let mut sim = Sim::new(1, t0);
    let lan = sim.add_network("lan");
    let ha = sim.add_host("a");
    let hb = sim.add_host("b");
    sim.add_interface(ha, lan, ip("10.0.0.1"), LinkConfig::with_latency(7 * MS));
    sim.add_interface(hb, lan, ip("10.0.0.2"), LinkConfig::with_latency(3 * MS));
    let (a_addr, b_addr) = (addr("10.0.0.1:1000"), addr("10.0.0.2:2000"));
    let mut pinger = Peer::silent();
    pinger.send_every(t0, 5 * MS, 10, 0, a_addr, b_addr, 100);
    let a = sim.add_endpoint(ha, &[a_addr], pinger);
    let b = sim.add_endpoint(hb, &[b_addr], Peer::echo());
    sim.run_until_idle().unwrap();

    let at_b = sim.take_events::<Peer>(b);
    let at_a = sim.take_events::<Peer>(a);
    assert_eq!(at_b.len(), 10);
    assert_eq!(at_a.len(), 10);
    for r in &at_b {
        assert_eq!(r.at - t0, 5 * MS * r.seq() + 10 * MS);
        assert_eq!(r.source, a_addr);
    }
    for r in &at_a {
        assert_eq!(r.at - t0, 5 * MS * r.seq() + 20 * MS);
    }
    let first = sim.trace()[0];
    assert_eq!(first.at, 10 * MS);
    assert_eq!(first.outcome, Outcome::Delivered);
}

#[test]
fn jitter_stays_within_bounds() {
    let link = LinkConfig {
        latency: 50 * MS,
        jitter: 10 * MS,
        ..LinkConfig::default()
    };
    let mut p = pair(2, link, Reply::Nothing);
    let got = p.blast(2000, MS, 100);
    assert_eq!(got.len(), 2000);
    let delays = p.delays(&got, MS);
    let min = *delays.iter().min().unwrap();
    let max = *delays.iter().max().unwrap();
    assert!(min >= 40 * MS && max <= 60 * MS, "{min:?}..{max:?}");
    // Uniform over ±10 ms: 2,000 samples come close to both ends.
    assert!(min < 41 * MS && max > 59 * MS, "{min:?}..{max:?}");
    let mean = delays.iter().sum::<Duration>() / delays.len() as u32;
    assert!(mean > 49 * MS && mean < 51 * MS, "mean {mean:?}");
}

#[test]
fn random_loss_rate_matches_config() {
    let link = LinkConfig {
        loss: 0.1,
        ..LinkConfig::default()
    };
    let mut p = pair(3, link, Reply::Nothing);
    let got = p.blast(10_000, MS, 100);
    let lost = 10_000 - got.len() as u64;
    // Binomial(10 000, 0.1): sigma = 30, so ±300 is ten sigma.
    assert!((700..=1300).contains(&lost), "lost {lost}");
    assert_eq!(p.sim.stats().dropped(DropReason::Loss), lost);
    assert_eq!(p.sim.stats().dropped_total(), lost);
}

/// Lengths of the runs of consecutive lost sequence numbers.
fn loss_bursts(received: &[Recv], sent: u32) -> Vec<u32> {
    let mut got = vec![false; sent as usize];
    for r in received {
        got[r.seq() as usize] = true;
    }
    let mut bursts = Vec::new();
    let mut run = 0;
    for ok in got {
        if ok {
            if run > 0 {
                bursts.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run > 0 {
        bursts.push(run);
    }
    bursts
}

#[test]
fn gilbert_elliott_losses_come_in_bursts() {
    let ge = GilbertElliott::gilbert(0.02, 0.25);
    let link = LinkConfig {
        burst_loss: Some(ge),
        ..LinkConfig::default()
    };
    let mut p = pair(4, link, Reply::Nothing);
    let sent = 40_000;
    let got = p.blast(sent, MS, 100);
    let bursts = loss_bursts(&got, sent);
    let lost: u32 = bursts.iter().sum();
    let mean_burst = f64::from(lost) / bursts.len() as f64;
    // Mean burst length 1 / p_bad_to_good = 4; long-run loss 0.02 / 0.27 = 7.4 %.
    assert!((mean_burst - 4.0).abs() < 0.4, "mean burst {mean_burst}");
    let rate = f64::from(lost) / f64::from(sent);
    assert!((rate - 0.074).abs() < 0.015, "loss rate {rate}");
    assert_eq!(
        p.sim.stats().dropped(DropReason::BurstLoss),
        u64::from(lost)
    );

    // The same average loss, independently drawn, hardly ever loses two in a row.
    let link = LinkConfig {
        loss: rate,
        ..LinkConfig::default()
    };
    let mut q = pair(4, link, Reply::Nothing);
    let got = q.blast(sent, MS, 100);
    let bursts = loss_bursts(&got, sent);
    let mean_random = f64::from(bursts.iter().sum::<u32>()) / bursts.len() as f64;
    assert!(
        mean_random < 1.2,
        "independent loss mean burst {mean_random}"
    );
}

#[test]
fn duplication_delivers_some_datagrams_twice() {
    let link = LinkConfig {
        duplicate: 0.2,
        ..LinkConfig::default()
    };
    let mut p = pair(5, link, Reply::Nothing);
    let got = p.blast(5000, MS, 100);
    let extra = got.len() as u64 - 5000;
    assert!((800..=1200).contains(&extra), "{extra} duplicates");
    assert_eq!(p.sim.stats().duplicated, extra);
    let mut copies = vec![0u32; 5000];
    for r in &got {
        copies[r.seq() as usize] += 1;
    }
    assert!(copies.iter().all(|&c| c == 1 || c == 2));
    let dup_entries = p
        .sim
        .trace()
        .iter()
        .filter(|e| e.outcome == Outcome::Duplicated)
        .count();
    assert_eq!(dup_entries as u64, extra);
}

#[test]
fn reordering_actually_reorders() {
    let link = LinkConfig {
        latency: 5 * MS,
        reorder: 0.1,
        reorder_delay: 25 * MS,
        ..LinkConfig::default()
    };
    let mut p = pair(6, link, Reply::Nothing);
    let got = p.blast(2000, 10 * MS, 100);
    assert_eq!(got.len(), 2000, "reordering loses nothing");
    // A held-back datagram arrives after the two or three sent after it.
    let late = got.windows(2).filter(|w| w[1].seq() < w[0].seq()).count();
    assert!(
        (140..=260).contains(&late),
        "{late} arrived after a later one"
    );
    let delays = p.delays(&got, 10 * MS);
    assert!(delays.iter().all(|&d| d == 5 * MS || d == 30 * MS));
}

#[test]
fn jitter_alone_can_reorder() {
    let link = LinkConfig {
        latency: 20 * MS,
        jitter: 5 * MS,
        ..LinkConfig::default()
    };
    let mut p = pair(7, link, Reply::Nothing);
    let got = p.blast(1000, MS, 100);
    assert!(got.windows(2).any(|w| w[1].seq() < w[0].seq()));
}

#[test]
fn bandwidth_limit_caps_throughput_and_queue_tail_drops() {
    // 1 Mbit/s with a 10 kB queue, offered 8 Mbit/s: 1,000-byte IP packets every millisecond.
    let link = LinkConfig {
        rate: Some(1_000_000),
        queue_bytes: 10_000,
        ..LinkConfig::default()
    };
    let mut p = pair(8, link, Reply::Nothing);
    let payload = 1000 - kaon::sim::IPV4_UDP_OVERHEAD;
    let got = p.blast(2000, MS, payload);
    let first = got.first().unwrap().at;
    let last = got.last().unwrap().at;
    // Each packet takes 8 ms to serialize, back to back, once the queue is full.
    assert_eq!(first - p.t0, 8 * MS);
    let bits = (got.len() - 1) as f64 * 8000.0;
    let rate = bits / (last - first).as_secs_f64();
    assert!(
        (rate - 1_000_000.0).abs() < 1_000.0,
        "throughput {rate} bit/s"
    );
    // Two seconds at 1 Mbit/s is ~250 packets, plus what the queue held; the rest tail-drops.
    assert!((250..=262).contains(&got.len()), "{} delivered", got.len());
    let drops = p.sim.stats().dropped(DropReason::QueueFull);
    assert_eq!(drops, 2000 - got.len() as u64);
    // The queue delay is real: a full 10 kB queue is 80 ms at 1 Mbit/s.
    let max_delay = p.delays(&got, MS).into_iter().max().unwrap();
    assert!(max_delay > 75 * MS && max_delay <= 88 * MS, "{max_delay:?}");
}

#[test]
fn oversized_datagrams_are_dropped_as_too_big() {
    let mut p = pair(9, LinkConfig::default(), Reply::Nothing);
    let (a_addr, b_addr) = (p.a_addr, p.b_addr);
    let peer = p.sim.endpoint_mut::<Peer>(p.a);
    // 1500-byte MTU minus 28 bytes of IPv4 + UDP header.
    peer.send(a_addr, b_addr, &[1; 1472]);
    peer.send(a_addr, b_addr, &[2; 1473]);
    p.sim.run_until_idle().unwrap();
    let got = p.sim.take_events::<Peer>(p.b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].contents.len(), 1472);
    let too_big: Vec<_> = p
        .sim
        .trace()
        .iter()
        .filter(|e| e.outcome == Outcome::Dropped(DropReason::TooBig))
        .collect();
    assert_eq!(too_big.len(), 1);
    assert_eq!(too_big[0].size, 1473);
}

#[test]
fn asymmetric_links_apply_per_direction() {
    let mut p = pair(10, LinkConfig::default(), Reply::Echo);
    let up = LinkConfig::with_latency(30 * MS);
    let down = LinkConfig::with_latency(2 * MS);
    p.sim.set_link(p.a_if, Direction::Up, up);
    p.sim.set_link(p.a_if, Direction::Down, down);
    let (a_addr, b_addr) = (p.a_addr, p.b_addr);
    p.sim.endpoint_mut::<Peer>(p.a).send(a_addr, b_addr, b"x");
    p.sim.run_until_idle().unwrap();
    assert_eq!(p.sim.events::<Peer>(p.b)[0].at - p.t0, 30 * MS);
    assert_eq!(p.sim.events::<Peer>(p.a)[0].at - p.t0, 32 * MS);
}
