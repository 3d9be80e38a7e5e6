//! A packet-level bottleneck model on virtual time for the RFC 8867 congestion control test
//! cases: links with a (time-varying) rate, a drop-tail queue bounded in time, random loss, and
//! per-flow one-way delays; GCC media flows (encoder, pacer, controller, feedback recorder) and
//! a TCP-like AIMD bulk flow; the RFC 8868 metrics; and an SVG chart per run.

#![allow(dead_code)]

use kaon::bwe::{
    Class, Config, Controller, Event, FeedbackRecorder, Paced, Pacer, PacerConfig, PacketResult,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Seconds as f64 since the run started.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A capacity schedule: (from second, bits per second).
#[derive(Debug, Clone)]
pub struct Capacity(pub Vec<(f64, u64)>);

impl Capacity {
    pub fn constant(bps: u64) -> Self {
        Self(vec![(0.0, bps)])
    }

    pub fn at(&self, t: f64) -> u64 {
        let mut rate = self.0[0].1;
        for &(from, bps) in &self.0 {
            if t >= from {
                rate = bps;
            }
        }
        rate
    }
}

/// One direction's bottleneck.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    pub capacity: Capacity,
    /// RFC 8867 §4.1: the bottleneck queue holds about 300 ms.
    pub queue: Duration,
    /// Random loss, applied before the queue.
    pub loss: f64,
}

impl LinkSpec {
    pub fn new(capacity: Capacity) -> Self {
        Self {
            capacity,
            queue: Duration::from_millis(300),
            loss: 0.0,
        }
    }

    /// A path with no bottleneck worth the name.
    pub fn wide() -> Self {
        Self::new(Capacity::constant(1_000_000_000))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Through the forward bottleneck; feedback comes back on the backward link.
    Forward,
    /// Through the backward link; its feedback goes forward.
    Backward,
}

#[derive(Debug, Clone)]
pub struct FlowSpec {
    pub start: f64,
    pub end: f64,
    pub one_way: Duration,
    pub dir: Dir,
}

#[derive(Debug, Clone)]
pub struct BulkSpec {
    pub start: f64,
    pub end: f64,
    pub one_way: Duration,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub duration: f64,
    pub forward: LinkSpec,
    pub backward: LinkSpec,
    pub flows: Vec<FlowSpec>,
    pub bulk: Vec<BulkSpec>,
    pub config: Config,
    pub seed: u64,
}

impl Scenario {
    pub fn new(name: &'static str, duration: f64, forward: LinkSpec) -> Self {
        Self {
            name,
            duration,
            forward,
            backward: LinkSpec::wide(),
            flows: Vec::new(),
            bulk: Vec::new(),
            config: Config {
                start_bitrate: 300_000,
                min_bitrate: 50_000,
                max_bitrate: 2_500_000,
                ..Config::default()
            },
            seed: 1,
        }
    }

    pub fn flow(mut self, start: f64, end: f64, one_way_ms: u64) -> Self {
        self.flows.push(FlowSpec {
            start,
            end,
            one_way: Duration::from_millis(one_way_ms),
            dir: Dir::Forward,
        });
        self
    }

    pub fn reverse_flow(mut self, start: f64, end: f64, one_way_ms: u64) -> Self {
        self.flows.push(FlowSpec {
            start,
            end,
            one_way: Duration::from_millis(one_way_ms),
            dir: Dir::Backward,
        });
        self
    }

    pub fn bulk(mut self, start: f64, end: f64, one_way_ms: u64) -> Self {
        self.bulk.push(BulkSpec {
            start,
            end,
            one_way: Duration::from_millis(one_way_ms),
        });
        self
    }
}

/// A small deterministic generator (xorshift64*), so the test needs no extra crate.
struct Xorshift(u64);

impl Xorshift {
    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Link {
    spec: LinkSpec,
    busy_until: Option<Instant>,
    rng: Xorshift,
}

enum Admit {
    /// Leaves the bottleneck at this instant, after waiting this long in the queue.
    Exit(Instant, Duration),
    RandomLoss,
    QueueFull,
}

impl Link {
    fn admit(&mut self, now: Instant, t: f64, size: usize) -> Admit {
        if self.spec.loss > 0.0 && self.rng.next_f64() < self.spec.loss {
            return Admit::RandomLoss;
        }
        let start = self.busy_until.map_or(now, |b| b.max(now));
        let wait = start - now;
        if wait > self.spec.queue {
            return Admit::QueueFull;
        }
        let rate = self.spec.capacity.at(t).max(1) as f64;
        let exit = start + Duration::from_secs_f64(size as f64 * 8.0 / rate);
        self.busy_until = Some(exit);
        Admit::Exit(exit, wait)
    }
}

#[derive(Debug)]
enum What {
    Media {
        flow: usize,
        seq: u64,
        size: usize,
    },
    Feedback {
        flow: usize,
        packets: Vec<PacketResult>,
    },
    Bulk {
        flow: usize,
        size: usize,
    },
    BulkAck {
        flow: usize,
    },
    BulkLoss {
        flow: usize,
    },
}

/// A media flow's time series, one sample per bin.
#[derive(Debug, Default, Clone)]
pub struct FlowTrace {
    pub estimate: Vec<f64>,
    pub sent: Vec<f64>,
    pub received: Vec<f64>,
    /// Per-packet queuing delay at the bottleneck, ms.
    pub queue_delays: Vec<f64>,
    pub sent_packets: u64,
    pub dropped_queue: u64,
    pub dropped_random: u64,
    /// Seconds from the flow's start until the estimate first reached a level (filled by
    /// [`Run::time_to_reach`]).
    pub start: f64,
    pub end: f64,
    pub dir: Option<Dir>,
}

/// The outcome of one run.
#[derive(Debug, Default)]
pub struct Run {
    pub name: String,
    pub bin: f64,
    pub capacity: Vec<f64>,
    pub backward_capacity: Vec<f64>,
    /// Max bottleneck queuing delay per bin (forward), ms.
    pub queue_ms: Vec<f64>,
    pub flows: Vec<FlowTrace>,
    pub bulk_received: Vec<Vec<f64>>,
    /// Total forward-link goodput per bin (all traffic), bits per second.
    pub link_received: Vec<f64>,
}

struct MediaFlow {
    spec: FlowSpec,
    bwe: Controller,
    pacer: Pacer<()>,
    recorder: FeedbackRecorder,
    seq: u64,
    next_frame: Instant,
    target: u64,
}

struct BulkFlow {
    spec: BulkSpec,
    cwnd: f64,
    ssthresh: f64,
    inflight: u32,
    last_cut: Option<Instant>,
}

const BIN: f64 = 0.1;
const MTU: usize = 1200;
const BULK_SIZE: usize = 1500;
const FPS: f64 = 30.0;

pub fn run(s: &Scenario) -> Run {
    let t0 = Instant::now();
    let at = |x: f64| t0 + Duration::from_secs_f64(x);
    let bins = (s.duration / BIN).ceil() as usize + 1;
    let mut fwd = Link {
        spec: s.forward.clone(),
        busy_until: None,
        rng: Xorshift(s.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
    };
    let mut bwd = Link {
        spec: s.backward.clone(),
        busy_until: None,
        rng: Xorshift(s.seed.wrapping_add(7) | 1),
    };
    let mut flows: Vec<MediaFlow> = s
        .flows
        .iter()
        .map(|spec| MediaFlow {
            spec: spec.clone(),
            bwe: Controller::new(s.config.clone()),
            pacer: Pacer::new(PacerConfig::default()),
            recorder: FeedbackRecorder::default(),
            seq: 65_000, // the 16-bit wire sequence wraps early in every run
            next_frame: at(spec.start),
            target: s.config.start_bitrate,
        })
        .collect();
    let mut bulks: Vec<BulkFlow> = s
        .bulk
        .iter()
        .map(|spec| BulkFlow {
            spec: spec.clone(),
            cwnd: 2.0,
            ssthresh: f64::MAX,
            inflight: 0,
            last_cut: None,
        })
        .collect();
    let mut out = Run {
        name: s.name.to_string(),
        bin: BIN,
        capacity: (0..bins)
            .map(|b| s.forward.capacity.at(b as f64 * BIN) as f64)
            .collect(),
        backward_capacity: (0..bins)
            .map(|b| s.backward.capacity.at(b as f64 * BIN) as f64)
            .collect(),
        queue_ms: vec![0.0; bins],
        flows: s
            .flows
            .iter()
            .map(|f| FlowTrace {
                estimate: vec![f64::NAN; bins],
                sent: vec![0.0; bins],
                received: vec![0.0; bins],
                start: f.start,
                end: f.end,
                dir: Some(f.dir),
                ..FlowTrace::default()
            })
            .collect(),
        bulk_received: vec![vec![0.0; bins]; s.bulk.len()],
        link_received: vec![0.0; bins],
    };
    let mut heap: BinaryHeap<Reverse<(Instant, u64, usize)>> = BinaryHeap::new();
    let mut payloads: Vec<Option<What>> = Vec::new();
    let mut order = 0u64;
    let mut schedule = |heap: &mut BinaryHeap<Reverse<(Instant, u64, usize)>>,
                        payloads: &mut Vec<Option<What>>,
                        when: Instant,
                        w: What| {
        order += 1;
        payloads.push(Some(w));
        heap.push(Reverse((when, order, payloads.len() - 1)));
    };
    let end = at(s.duration);
    let mut now = t0;
    let bin_of = |now: Instant| ((secs(now - t0) / BIN) as usize).min(bins - 1);

    loop {
        let t = secs(now - t0);
        // Deliveries due now.
        while let Some(Reverse((when, _, idx))) = heap.peek().copied() {
            if when > now {
                break;
            }
            heap.pop();
            let w = payloads[idx].take().expect("delivered once");
            match w {
                What::Media { flow, seq, size } => {
                    let b = bin_of(now);
                    out.flows[flow].received[b] += size as f64 * 8.0 / BIN;
                    flows[flow].recorder.on_packet(now, seq as u16);
                }
                What::Feedback { flow, packets } => flows[flow].bwe.on_feedback(now, &packets),
                What::Bulk { flow, size } => {
                    let b = bin_of(now);
                    out.bulk_received[flow][b] += size as f64 * 8.0 / BIN;
                    // The ack returns over the other direction.
                    let one_way = bulks[flow].spec.one_way;
                    if let Admit::Exit(exit, _) = bwd.admit(now, t, 40) {
                        schedule(
                            &mut heap,
                            &mut payloads,
                            exit + one_way,
                            What::BulkAck { flow },
                        );
                    }
                }
                What::BulkAck { flow } => {
                    let b = &mut bulks[flow];
                    b.inflight = b.inflight.saturating_sub(1);
                    if b.cwnd < b.ssthresh {
                        b.cwnd += 1.0;
                    } else {
                        b.cwnd += 1.0 / b.cwnd;
                    }
                }
                What::BulkLoss { flow } => {
                    let b = &mut bulks[flow];
                    b.inflight = b.inflight.saturating_sub(1);
                    let rtt = b.spec.one_way * 2;
                    if b.last_cut.is_none_or(|c| now - c > rtt) {
                        b.cwnd = (b.cwnd / 2.0).max(2.0);
                        b.ssthresh = b.cwnd;
                        b.last_cut = Some(now);
                    }
                }
            }
        }

        // Media senders.
        for (i, f) in flows.iter_mut().enumerate() {
            let active = t >= f.spec.start && t < f.spec.end;
            while let Some(Event::BitrateEstimate { bitrate, .. }) = f.bwe.poll_event() {
                f.target = bitrate;
            }
            if active && f.next_frame <= now {
                // The encoder makes one frame at the target rate, split into packets.
                let bytes = (f.target as f64 / 8.0 / FPS) as usize;
                let n = bytes.div_ceil(MTU).max(1);
                for k in 0..n {
                    let size = bytes / n + usize::from(k < bytes % n);
                    f.pacer.enqueue(now, (), size.max(50), Class::Video);
                }
                f.next_frame += Duration::from_secs_f64(1.0 / FPS);
            }
            f.bwe.handle_timeout(now);
            // Probes (the initial ones too) go out once the flow has started.
            while active && let Some(c) = f.bwe.poll_probe() {
                f.pacer.start_probe(c);
            }
            f.pacer.set_rates(f.bwe.pacing_rate(), f.bwe.padding_rate());
            while let Some(p) = f.pacer.poll_send(now) {
                let (size, kind) = match p {
                    Paced::Packet { size, kind, .. } | Paced::Padding { size, kind } => {
                        (size, kind)
                    }
                };
                f.seq += 1;
                f.bwe.on_packet_sent(now, f.seq, size, kind);
                let b = bin_of(now);
                let tr = &mut out.flows[i];
                tr.sent[b] += size as f64 * 8.0 / BIN;
                tr.sent_packets += 1;
                let link = if f.spec.dir == Dir::Forward {
                    &mut fwd
                } else {
                    &mut bwd
                };
                match link.admit(now, t, size) {
                    Admit::Exit(exit, wait) => {
                        let ms = wait.as_secs_f64() * 1000.0;
                        tr.queue_delays.push(ms);
                        if f.spec.dir == Dir::Forward {
                            out.queue_ms[b] = out.queue_ms[b].max(ms);
                            out.link_received[bin_of(exit)] += size as f64 * 8.0 / BIN;
                        }
                        schedule(
                            &mut heap,
                            &mut payloads,
                            exit + f.spec.one_way,
                            What::Media {
                                flow: i,
                                seq: f.seq,
                                size,
                            },
                        );
                    }
                    Admit::RandomLoss => tr.dropped_random += 1,
                    Admit::QueueFull => tr.dropped_queue += 1,
                }
            }
            while f.pacer.poll_dropped().is_some() {}
            // The receiver's feedback goes back over the other direction.
            if let Some(fb) = f.recorder.poll_feedback(now) {
                let size = 20 + fb.packets.len() + fb.packets.len() / 7 * 2;
                let link = if f.spec.dir == Dir::Forward {
                    &mut bwd
                } else {
                    &mut fwd
                };
                if let Admit::Exit(exit, _) = link.admit(now, t, size) {
                    schedule(
                        &mut heap,
                        &mut payloads,
                        exit + f.spec.one_way,
                        What::Feedback {
                            flow: i,
                            packets: fb.packets,
                        },
                    );
                }
            }
            if t >= f.spec.start && t < f.spec.end + 1.0 {
                out.flows[i].estimate[bin_of(now)] = f.bwe.target_bitrate() as f64;
            }
        }

        // Bulk senders: send while the window allows.
        for (i, b) in bulks.iter_mut().enumerate() {
            if t < b.spec.start || t >= b.spec.end {
                continue;
            }
            while f64::from(b.inflight) < b.cwnd.floor() {
                b.inflight += 1;
                match fwd.admit(now, t, BULK_SIZE) {
                    Admit::Exit(exit, wait) => {
                        let bn = bin_of(now);
                        out.queue_ms[bn] = out.queue_ms[bn].max(wait.as_secs_f64() * 1000.0);
                        out.link_received[bin_of(exit)] += BULK_SIZE as f64 * 8.0 / BIN;
                        schedule(
                            &mut heap,
                            &mut payloads,
                            exit + b.spec.one_way,
                            What::Bulk {
                                flow: i,
                                size: BULK_SIZE,
                            },
                        );
                    }
                    _ => {
                        // The sender learns of the loss about one round trip later.
                        schedule(
                            &mut heap,
                            &mut payloads,
                            now + b.spec.one_way * 2,
                            What::BulkLoss { flow: i },
                        );
                    }
                }
            }
        }

        if now >= end {
            break;
        }
        // The next instant anything has to happen.
        let mut next = end;
        if let Some(Reverse((when, _, _))) = heap.peek() {
            next = next.min(*when);
        }
        for f in &flows {
            for d in [
                f.pacer.poll_timeout(),
                f.bwe.poll_timeout(),
                f.recorder.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            {
                next = next.min(d);
            }
            if t < f.spec.end {
                next = next.min(f.next_frame.max(at(f.spec.start)));
            }
        }
        for b in &bulks {
            if t < b.spec.start {
                next = next.min(at(b.spec.start));
            }
        }
        // Time always moves: anything due "now" was handled above.
        now = next.max(now + Duration::from_micros(1));
    }
    out
}

impl Run {
    fn bin_range(&self, from: f64, to: f64) -> std::ops::Range<usize> {
        let a = (from / self.bin).round() as usize;
        let b = ((to / self.bin).round() as usize).min(self.capacity.len());
        a..b.max(a)
    }

    fn mean(v: &[f64]) -> f64 {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }

    /// Mean received rate of a media flow over [from, to), bits per second.
    pub fn flow_rate(&self, flow: usize, from: f64, to: f64) -> f64 {
        Self::mean(&self.flows[flow].received[self.bin_range(from, to)])
    }

    pub fn bulk_rate(&self, flow: usize, from: f64, to: f64) -> f64 {
        Self::mean(&self.bulk_received[flow][self.bin_range(from, to)])
    }

    /// All forward-link traffic delivered over [from, to) divided by the capacity.
    pub fn utilisation(&self, from: f64, to: f64) -> f64 {
        let r = self.bin_range(from, to);
        let got: f64 = self.link_received[r.clone()].iter().sum();
        let cap: f64 = self.capacity[r].iter().sum();
        got / cap
    }

    /// Media received (forward flows only) over capacity.
    pub fn media_utilisation(&self, from: f64, to: f64) -> f64 {
        let r = self.bin_range(from, to);
        let cap: f64 = self.capacity[r.clone()].iter().sum();
        let got: f64 = self
            .flows
            .iter()
            .filter(|f| f.dir == Some(Dir::Forward))
            .map(|f| f.received[r.clone()].iter().sum::<f64>())
            .sum();
        got / cap
    }

    /// 95th percentile of a flow's per-packet queuing delay at the bottleneck, ms.
    pub fn p95_queue_ms(&self, flow: usize) -> f64 {
        let mut v = self.flows[flow].queue_delays.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[(v.len() as f64 * 0.95) as usize].min(v[v.len() - 1])
    }

    /// The largest forward queuing delay seen over [from, to), ms.
    pub fn max_queue_ms(&self, from: f64, to: f64) -> f64 {
        self.queue_ms[self.bin_range(from, to)]
            .iter()
            .copied()
            .fold(0.0, f64::max)
    }

    /// Packets lost (queue overflow and random) over packets sent.
    pub fn loss(&self, flow: usize) -> f64 {
        let f = &self.flows[flow];
        (f.dropped_queue + f.dropped_random) as f64 / f.sent_packets.max(1) as f64
    }

    pub fn queue_loss(&self, flow: usize) -> f64 {
        let f = &self.flows[flow];
        f.dropped_queue as f64 / f.sent_packets.max(1) as f64
    }

    /// Seconds after `from` until the flow's estimate first reached `bps`.
    pub fn time_to_reach(&self, flow: usize, from: f64, bps: f64) -> Option<f64> {
        let r = self.bin_range(from, self.capacity.len() as f64 * self.bin);
        r.clone()
            .find(|&b| self.flows[flow].estimate[b] >= bps)
            .map(|b| (b + 1) as f64 * self.bin - from)
    }

    /// Jain's fairness index over the flows' mean received rates.
    pub fn jain(rates: &[f64]) -> f64 {
        let s: f64 = rates.iter().sum();
        let s2: f64 = rates.iter().map(|x| x * x).sum();
        s * s / (rates.len() as f64 * s2)
    }

    /// Writes the chart: capacity, each flow's estimate and sending rate (left axis, Mbit/s),
    /// bottleneck queuing delay (right axis, ms).
    pub fn write_svg(&self) -> std::path::PathBuf {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("bwe-charts");
        std::fs::create_dir_all(&dir).expect("chart dir");
        let path = dir.join(format!("{}.svg", self.name));
        std::fs::write(&path, self.svg()).expect("write chart");
        path
    }

    pub fn svg(&self) -> String {
        const W: f64 = 960.0;
        const H: f64 = 420.0;
        const L: f64 = 60.0;
        const R: f64 = 60.0;
        const T: f64 = 48.0;
        const B: f64 = 50.0;
        let n = self.capacity.len();
        let duration = n as f64 * self.bin;
        let max_rate = self
            .capacity
            .iter()
            .chain(
                self.flows
                    .iter()
                    .flat_map(|f| f.estimate.iter().chain(f.sent.iter())),
            )
            .copied()
            .filter(|v| v.is_finite())
            .fold(1.0, f64::max)
            .min(self.capacity.iter().copied().fold(1.0, f64::max) * 2.0)
            * 1.05;
        let max_delay = 400.0;
        let x = |t: f64| L + t / duration * (W - L - R);
        let y = |bps: f64| T + (1.0 - bps.min(max_rate) / max_rate) * (H - T - B);
        let yd = |ms: f64| T + (1.0 - ms.min(max_delay) / max_delay) * (H - T - B);
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r##"<text x="{L}" y="16" font-size="14">{}</text><text x="{L}" y="32" fill="#555">estimate (solid), sending rate over 1 s (dashed), capacity (black), bulk flow (dotted), queuing delay (grey, right axis)</text>"##,
            self.name
        );
        // Axes and grid.
        for i in 0..=5 {
            let v = max_rate * i as f64 / 5.0;
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{L}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{:.1}</text>"##,
                W - R,
                L - 5.0,
                yy + 4.0,
                v / 1e6
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#777">{:.0}</text>"##,
                W - R + 5.0,
                yd(max_delay * i as f64 / 5.0) + 4.0,
                max_delay * i as f64 / 5.0
            );
        }
        let step = if duration > 60.0 { 20.0 } else { 5.0 };
        let mut tick = 0.0;
        while tick <= duration {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{tick:.0}</text>"#,
                x(tick),
                H - B + 16.0
            );
            tick += step;
        }
        let _ = writeln!(
            s,
            r#"<text x="15" y="{:.1}" transform="rotate(-90 15 {:.1})">Mbit/s</text>"#,
            H / 2.0,
            H / 2.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds</text>"#,
            W / 2.0,
            H - 12.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" transform="rotate(90 {:.1} {:.1})" fill="#777">queuing delay, ms</text>"##,
            W - 15.0,
            H / 2.0 - 40.0,
            W - 15.0,
            H / 2.0 - 40.0
        );
        let poly = |s: &mut String, pts: Vec<(f64, f64)>, style: &str| {
            let mut d = String::new();
            for (px, py) in pts {
                let _ = write!(d, "{px:.1},{py:.1} ");
            }
            let _ = writeln!(s, r#"<polyline fill="none" points="{d}" {style}/>"#);
        };
        // Queuing delay.
        poly(
            &mut s,
            (0..n)
                .map(|b| (x(b as f64 * self.bin), yd(self.queue_ms[b])))
                .collect(),
            r##"stroke="#aaa" stroke-width="1""##,
        );
        // Capacity.
        poly(
            &mut s,
            (0..n)
                .map(|b| (x(b as f64 * self.bin), y(self.capacity[b])))
                .collect(),
            r##"stroke="#000" stroke-width="2""##,
        );
        for (i, f) in self.flows.iter().enumerate() {
            let c = colors[i % colors.len()];
            // Sending rate, smoothed over 1 s for readability.
            let sm: Vec<(f64, f64)> = (0..n)
                .filter(|&b| (b as f64 * self.bin) >= f.start && (b as f64 * self.bin) < f.end)
                .map(|b| {
                    let lo = b.saturating_sub(9);
                    (x(b as f64 * self.bin), y(Self::mean(&f.sent[lo..=b])))
                })
                .collect();
            poly(
                &mut s,
                sm,
                &format!(r#"stroke="{c}" stroke-width="1" stroke-dasharray="4 3""#),
            );
            let est: Vec<(f64, f64)> = (0..n)
                .filter(|&b| f.estimate[b].is_finite())
                .map(|b| (x(b as f64 * self.bin), y(f.estimate[b])))
                .collect();
            poly(&mut s, est, &format!(r#"stroke="{c}" stroke-width="2""#));
        }
        for (i, bulk) in self.bulk_received.iter().enumerate() {
            let pts = (0..n)
                .map(|b| {
                    let lo = b.saturating_sub(9);
                    (x(b as f64 * self.bin), y(Self::mean(&bulk[lo..=b])))
                })
                .collect();
            let _ = i;
            poly(
                &mut s,
                pts,
                r##"stroke="#8c564b" stroke-width="1" stroke-dasharray="1 2""##,
            );
        }
        s.push_str("</svg>\n");
        s
    }
}
