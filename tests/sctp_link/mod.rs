//! A small deterministic network for SCTP tests, until `kaon::sim` lands: two packet layers
//! joined by two one-way links with latency, jitter, loss, reordering, duplication and a
//! bandwidth limit with a tail-drop queue, on a virtual clock that jumps to the next delivery
//! or deadline. Seeded: the same seed replays the same schedule.
#![allow(dead_code)]

pub mod throughput;

use kaon::PacketProtocol;
use kaon::Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// One direction of the path.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Extra delay, uniform in [0, jitter] per packet (can reorder).
    pub jitter: Duration,
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is held back by `reorder_delay` (and so overtaken).
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Probability a packet is delivered twice.
    pub duplicate: f64,
    /// Link rate in bits per second; `None` for infinite.
    pub bandwidth: Option<u64>,
    /// Bytes the bottleneck queue holds before it drops (tail drop).
    pub queue: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            duplicate: 0.0,
            bandwidth: None,
            queue: usize::MAX,
        }
    }
}

impl LinkConfig {
    /// A path with this round-trip time (split evenly) and nothing else.
    pub fn rtt(rtt: Duration) -> Self {
        Self {
            latency: rtt / 2,
            ..Self::default()
        }
    }
}

/// Counters per direction.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkStats {
    pub sent: u64,
    pub bytes_sent: u64,
    pub lost: u64,
    pub queue_drops: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

struct Link {
    cfg: LinkConfig,
    rng: Rng,
    busy_until: Instant,
    stats: LinkStats,
}

impl Link {
    /// When a packet of `len` bytes sent at `now` arrives, or `None` if it is dropped; plus
    /// the arrival of a duplicate.
    fn schedule(&mut self, now: Instant, len: usize) -> (Option<Instant>, Option<Instant>) {
        self.stats.sent += 1;
        self.stats.bytes_sent += len as u64;
        let mut depart = now;
        if let Some(bw) = self.cfg.bandwidth {
            let start = self.busy_until.max(now);
            let backlog = start.saturating_duration_since(now);
            let queued = (backlog.as_secs_f64() * bw as f64 / 8.0) as usize;
            if queued + len > self.cfg.queue {
                self.stats.queue_drops += 1;
                return (None, None);
            }
            let tx = Duration::from_nanos((len as u64 * 8 * 1_000_000_000) / bw);
            self.busy_until = start + tx;
            depart = self.busy_until;
        }
        if self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return (None, None);
        }
        let mut at = depart + self.cfg.latency;
        if !self.cfg.jitter.is_zero() {
            at += self.cfg.jitter.mul_f64(self.rng.unit());
        }
        if self.rng.chance(self.cfg.reorder) {
            self.stats.reordered += 1;
            at += self.cfg.reorder_delay;
        }
        let dup = if self.rng.chance(self.cfg.duplicate) {
            self.stats.duplicated += 1;
            Some(at + Duration::from_micros(100))
        } else {
            None
        };
        (Some(at), dup)
    }
}

/// Two layers and the path between them. `a` sends on link 0, `b` on link 1.
pub struct Pair<A, B> {
    pub a: A,
    pub b: B,
    pub now: Instant,
    /// An extra instant to wake at (the test's own schedule, e.g. to send at a fixed rate).
    pub wake: Option<Instant>,
    links: [Link; 2],
    /// (arrival, sequence, direction, buffer index)
    heap: BinaryHeap<Reverse<(Instant, u64, u8, usize)>>,
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    free: Vec<usize>,
    seq: u64,
    scratch: Vec<u8>,
}

impl<A: PacketProtocol, B: PacketProtocol> Pair<A, B> {
    pub fn new(a: A, b: B, ab: LinkConfig, ba: LinkConfig, seed: u64) -> Self {
        let now = Instant::now();
        let link = |cfg, s| Link {
            cfg,
            rng: Rng::from_seed(s),
            busy_until: now,
            stats: LinkStats::default(),
        };
        Self {
            a,
            b,
            now,
            wake: None,
            links: [link(ab, seed), link(ba, seed ^ 0x5eed)],
            heap: BinaryHeap::new(),
            bufs: Vec::new(),
            lens: Vec::new(),
            free: Vec::new(),
            seq: 0,
            scratch: vec![0u8; 65536],
        }
    }

    pub fn stats(&self, dir: usize) -> LinkStats {
        self.links[dir].stats
    }

    pub fn link_mut(&mut self, dir: usize) -> &mut LinkConfig {
        &mut self.links[dir].cfg
    }

    fn enqueue(&mut self, dir: u8, at: Instant, len: usize) {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.bufs.push(Vec::new());
            self.lens.push(0);
            self.bufs.len() - 1
        });
        let b = &mut self.bufs[idx];
        b.clear();
        b.extend_from_slice(&self.scratch[..len]);
        self.lens[idx] = len;
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, dir, idx)));
    }

    /// Takes every packet both sides want to send now and puts it on its link.
    fn pump(&mut self) {
        let now = self.now;
        for dir in 0..2u8 {
            loop {
                let n = if dir == 0 {
                    self.a.poll_transmit(now, &mut self.scratch)
                } else {
                    self.b.poll_transmit(now, &mut self.scratch)
                };
                let Some(n) = n else { break };
                let (at, dup) = self.links[dir as usize].schedule(now, n);
                if let Some(at) = at {
                    self.enqueue(dir, at, n);
                }
                if let Some(at) = dup {
                    self.enqueue(dir, at, n);
                }
            }
        }
    }

    /// The next instant anything happens.
    fn next_event(&self) -> Option<Instant> {
        [
            self.heap.peek().map(|Reverse((t, ..))| *t),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.wake.filter(|&w| w > self.now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs until `done` returns true (checked after every step) or `limit` of virtual time
    /// passes. `done` gets the pair to feed data and drain events. Returns whether `done`
    /// said so.
    pub fn run(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.pump();
            if done(self) {
                return true;
            }
            self.pump();
            let Some(next) = self.next_event() else {
                return false;
            };
            if next > end {
                self.now = end;
                return false;
            }
            self.now = self.now.max(next);
            let now = self.now;
            while let Some(Reverse((t, _, dir, idx))) = self.heap.peek().copied() {
                if t > now {
                    break;
                }
                self.heap.pop();
                let len = self.lens[idx];
                let pkt = std::mem::take(&mut self.bufs[idx]);
                if dir == 0 {
                    self.b.handle_datagram(now, &pkt[..len]);
                } else {
                    self.a.handle_datagram(now, &pkt[..len]);
                }
                self.bufs[idx] = pkt;
                self.free.push(idx);
            }
            if self.a.poll_timeout().is_some_and(|t| t <= now) {
                self.a.handle_timeout(now);
            }
            if self.b.poll_timeout().is_some_and(|t| t <= now) {
                self.b.handle_timeout(now);
            }
        }
    }
}
