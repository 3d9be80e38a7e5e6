//! The RTP path of a whole PeerConnection beside the raw SRTP cipher, in one run:
//!
//! - send: `write_rtp` (header rewrite, extensions, RTX history, stream counters) and
//!   `poll_transmit` (protect, ICE pair) per packet, against one SRTP protect of the same size
//!   (DESIGN target for forwarding to one more subscriber: 1.3x);
//! - receive: `handle_datagram` (ICE check of the pair, RFC 7983 demux, unprotect in place,
//!   SSRC routing, stream bookkeeping) and `poll_event` (the `Rtp` event) per packet, against
//!   one SRTP unprotect (target 1.3x);
//! - receive in place: the same work through `handle_datagram_in_place`, which decrypts in
//!   the datagram's own buffer and hands the packet back borrowed from it (no receive chunk,
//!   no `Bytes`, no event), alternated with the row above in the same batches;
//! - receive in place + `poll_transmit` drained after each datagram, as a driver's turn does
//!   (nothing is due, so each poll answers `None`): what a receiving connection costs in a
//!   real loop, where the poll after a media datagram finds the connection still quiet.
//!
//! `cargo bench --bench media_peer` prints the table; each figure is the best of several rounds
//! of 20,000 packets of 1,100 bytes, wall and CPU time (this thread's, from the kernel).
//! `-- send` (or `receive`, `forward`, `cold`) runs only the rows whose section has that
//! name, `--no-copying` leaves the forward section's copying rows out, and `--rounds N` runs
//! N times the default rounds: for a profiler
//! (`perf record -g target/release/deps/media_peer-* --bench send --rounds 40`). The
//! peers negotiate no per-packet congestion control feedback (no transport-cc, no RFC 8888),
//! so nothing is paced: with it, the pacer adds its own ~140 ns per packet (`cargo bench
//! --bench bwe -- pacer`). They do negotiate `goog-remb`, as browsers do, so the receiver
//! feeds each packet to its REMB estimator (about 220 instructions of the ~4,560 a packet
//! costs in place; a batch's datagrams share their instant, as a driver hands over what one
//! `recvmmsg` read, and the estimator does its per-instant work once per batch). Between
//! batches the peers are driven as a driver does, each turn ending with everything polled
//! out, so the receiver is quiet (nothing ahead of media to send) when a batch arrives.
//!
//! A round of 20,000 datagrams is far bigger than the caches, and the send side in between
//! touches more memory than the raw protect does, so the receive row reads its datagrams from
//! memory while the raw unprotect finds most of its packets still cached. The batch rows run
//! ours and the raw cipher in alternating batches (256 packets, warm, as datagrams are right
//! after `recvmmsg` or before `sendmmsg`) and give the best batch of each: the steadier figure
//! on a busy machine.
//!
//! The forward rows are an SFU's fan-out: each packet received (`handle_datagram` +
//! `poll_event`) is written to N subscriber connections (`write_rtp_bytes` + `poll_transmit`
//! on each, with its own SRTP keys and RTX history), N = 1, 4 and 16; one more subscriber costs
//! (time at 16 - time at 1) / 15, against one raw protect in the same run (DESIGN target
//! 1.3x). `write_rtp_bytes` keeps the payload by reference (the histories hold the rewritten
//! headers and share the received buffers); the same rows through `write_rtp`, which copies
//! each packet into each subscriber's history (about 1.1 MB each, sixteen of which do not fit
//! the caches), run alternating with them on another 16 subscribers.
//! (The bench's clock hardly moves while it sends, so each history is full: 1024 packets,
//! all younger than the 3 s a history keeps them.)
//!
//! The send rows' raw baseline is given two ways: sealed in place (`protect_rtp`, the packet
//! built in the buffer it goes out in) and sealed from one buffer into another
//! (`protect_rtp_into`, as kaon seals its queued plaintext into the caller's datagram).

use std::time::{Duration, Instant};

use kaon::dtls::Identity;
use kaon::peer::{
    LocalTrack, MediaEngine, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind,
};
use kaon::rtp::{RtpBuilder, RtpHeader};
use kaon::srtp::{Config, Context, Profile};
use kaon::{Datagram, Protocol, Transmit};

const N: usize = 20_000;
/// Rounds (or batches of sixteen) per row, unless `--rounds` says more.
const ROUNDS: usize = 5;

/// What the command line asked for: the sections to run and the rounds in each.
struct Args {
    filter: Option<String>,
    rounds: usize,
    /// Whether the forward section also runs the copying path (`--no-copying` leaves it out,
    /// and its subscribers' histories out of the caches).
    copying: bool,
}

impl Args {
    fn parse() -> Self {
        let mut args = std::env::args().skip(1);
        let (mut filter, mut rounds, mut copying) = (None, ROUNDS, true);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--rounds" => {
                    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                    rounds = ROUNDS * n.max(1);
                }
                "--no-copying" => copying = false,
                a if a.starts_with('-') => {}
                a => filter = Some(a.to_owned()),
            }
        }
        Self {
            filter,
            rounds,
            copying,
        }
    }

    /// Whether the section `name` runs.
    fn runs(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }
}
const PAYLOAD: usize = 1100;

/// This thread's CPU time so far, to the nanosecond (`CLOCK_THREAD_CPUTIME_ID`; the
/// scheduler's tick-granular counters are too coarse for a batch of packets), or zero where
/// there is no such clock.
#[cfg(not(unix))]
fn cpu() -> Duration {
    Duration::ZERO
}

/// This thread's CPU time so far, to the nanosecond (`CLOCK_THREAD_CPUTIME_ID`; the
/// scheduler's tick-granular counters are too coarse for a batch of packets).
#[cfg(unix)]
fn cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs both peers' timers and exchanges until `until`, and ends as a driver ends each turn:
/// with everything polled out (so a connection with nothing ahead of its media is quiet).
fn pump(a: &mut PeerConnection, b: &mut PeerConnection, now: &mut Instant, until: Instant) {
    let mut buf = vec![0u8; 2048];
    loop {
        let mut moved = false;
        for from_a in [true, false] {
            let (from, to) = if from_a {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(t) = from.poll_transmit(*now, &mut buf) {
                moved = true;
                to.handle_datagram(
                    *now,
                    Datagram {
                        source: t.source,
                        destination: t.destination,
                        contents: &buf[..t.len],
                    },
                );
            }
        }
        for pc in [&mut *a, &mut *b] {
            while pc.poll_event().is_some() {}
        }
        if !moved {
            if *now >= until {
                break;
            }
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until);
            *now = next.clamp(*now, until);
            a.handle_timeout(*now);
            b.handle_timeout(*now);
        }
    }
}

fn connected() -> (PeerConnection, PeerConnection, Instant) {
    let mut now = Instant::now();
    let (a, b) = pair(&mut now, 1);
    (a, b, now)
}

/// Two peers, each sending one video track, connected over a perfect link by `now` + 1 s;
/// `n` picks their seeds and addresses.
fn pair(now: &mut Instant, n: u8) -> (PeerConnection, PeerConnection) {
    let peer = |seed, addr: String, now| {
        // Congestion control off: packets leave as they are written, so a round of 20,000 is
        // the engine's per-packet cost; the pacer's own is `cargo bench --bench bwe -- pacer`.
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(Identity::generate().unwrap()),
            media: std::sync::Arc::new(MediaEngine::default().without_twcc()),
            ..PeerConfig::with_seed(seed)
        })
        .unwrap();
        pc.add_local_address(addr.parse().unwrap()).unwrap();
        pc.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
            .unwrap();
        pc
    };
    let seed = 2 * u64::from(n);
    let mut a = peer(seed - 1, format!("192.0.2.{n}:5000"), *now);
    let mut b = peer(seed, format!("198.51.100.{n}:5000"), *now);
    let offer = a.create_offer(*now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(*now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let t0 = *now;
    pump(&mut a, &mut b, now, t0 + Duration::from_secs(1));
    (a, b)
}

fn rtp(buf: &mut [u8], seq: u16) -> usize {
    let payload = [0x5a; PAYLOAD];
    RtpBuilder::new(RtpHeader {
        marker: true,
        payload_type: 96,
        sequence_number: seq,
        timestamp: u32::from(seq) * 3000,
        ssrc: 7,
    })
    .payload(&payload)
    .write(buf)
    .unwrap()
}

#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

impl Cost {
    fn per_packet(self) -> (f64, f64) {
        (
            self.wall.as_nanos() as f64 / N as f64,
            self.cpu.as_nanos() as f64 / N as f64,
        )
    }
}

fn best(costs: &[Cost]) -> Cost {
    let wall = costs.iter().map(|c| c.wall).min().unwrap();
    let cpu = costs.iter().map(|c| c.cpu).min().unwrap();
    Cost { wall, cpu }
}

fn timed(f: impl FnOnce()) -> Cost {
    let (w, c) = (Instant::now(), cpu());
    f();
    Cost {
        wall: w.elapsed(),
        cpu: cpu() - c,
    }
}

fn main() {
    let args = Args::parse();
    let (a, b, now) = connected();
    // Each datagram is written straight into its own buffer, as the raw protect below writes
    // into its own: neither side pays for an allocation or a copy the other does not.
    let mut s = Setup {
        a,
        b,
        now,
        seq: 0,
        datagrams: (0..N).map(|_| (None, vec![0u8; 2048])).collect(),
        rounds: args.rounds,
    };
    if args.runs("cold") {
        cold(&mut s);
    }
    if args.runs("receive") {
        let Received {
            ours,
            in_place,
            polled,
            raw,
            into,
            paired,
            in_place_paired,
            polled_paired,
        } = warm_receive(&mut s);
        let name = format!("receive, batches of {BATCH} warm datagrams");
        batch_row(&name, "unprotect", ours, raw, into, paired);
        let name = format!("receive in place (handle_datagram_in_place), batches of {BATCH}");
        batch_row(&name, "unprotect", in_place, raw, into, in_place_paired);
        let name = format!(
            "receive in place + poll_transmit after each datagram (a driver's turn), batches \
             of {BATCH}"
        );
        batch_row(&name, "unprotect", polled, raw, into, polled_paired);
    }
    if args.runs("send") {
        let (ours, raw, into, paired) = warm_send(&mut s);
        let name = format!("send, batches of {BATCH} packets");
        batch_row(&name, "protect", ours, raw, into, paired);
    }
    if args.runs("forward") {
        fan_out(&mut s, args.copying);
    }
}

/// One batch row: ours against the raw cipher in place and into a second buffer, best batches
/// by wall and CPU time, and the median of paired batches.
fn batch_row(name: &str, raw_name: &str, ours: Best, raw: Best, into: Best, paired: f64) {
    println!(
        "| {name}, best batch | {:.0} ns wall, {:.0} ns CPU | {:.2}x wall, {:.2}x CPU (raw \
         {raw_name} {:.0} ns wall, {:.0} ns CPU in place; {:.2}x wall against {:.0} ns into a \
         second buffer); median of paired batches {paired:.2}x CPU |",
        ours.wall,
        ours.cpu,
        ours.wall / raw.wall,
        ours.cpu / raw.cpu,
        raw.wall,
        raw.cpu,
        ours.wall / into.wall,
        into.wall
    );
}

/// Rounds of 20,000 packets sent by `a` and received by `b`, far more than the caches hold,
/// beside raw protect and unprotect of as many: the table's first rows.
fn cold(s: &mut Setup) {
    let (a, b, now, seq, datagrams, rounds) = s.parts();
    let mut plain = [0u8; 1500];
    let (mut send, mut recv, mut raw_p, mut raw_u) = (vec![], vec![], vec![], vec![]);
    // The raw cipher: the profile kaon and itself negotiate (AEAD_AES_128_GCM).
    let key = [7u8; 16];
    let salt = [9u8; 12];
    let mut tx = Context::new(Profile::AeadAes128Gcm, &key, &salt, &Config::default()).unwrap();
    let mut rx = Context::new(Profile::AeadAes128Gcm, &key, &salt, &Config::default()).unwrap();
    let mut raw_out: Vec<Vec<u8>> = (0..N).map(|_| vec![0u8; 1500]).collect();
    let mut raw_len = vec![0usize; N];
    for round in 0..rounds + 1 {
        let c = timed(|| {
            for (t, buf) in datagrams.iter_mut() {
                let n = rtp(&mut plain, *seq);
                *seq = seq.wrapping_add(1);
                a.write_rtp(*now, "0", &plain[..n]).unwrap();
                *t = a.poll_transmit(*now, buf);
            }
        });
        let mut got = 0;
        let d = timed(|| {
            for (t, bytes) in datagrams.iter() {
                let t = t.unwrap();
                b.handle_datagram(
                    *now,
                    Datagram {
                        source: t.source,
                        destination: t.destination,
                        contents: &bytes[..t.len],
                    },
                );
                while let Some(e) = b.poll_event() {
                    if matches!(e, PeerEvent::Rtp { .. }) {
                        got += 1;
                    }
                }
            }
        });
        assert_eq!(got, N, "every packet arrived");
        let rs = (round as u16).wrapping_mul(N as u16);
        let p = timed(|| {
            for (i, out) in raw_out.iter_mut().enumerate() {
                let n = rtp(out, rs.wrapping_add(i as u16));
                raw_len[i] = tx.protect_rtp(out, n).unwrap();
            }
        });
        let u = timed(|| {
            for (out, len) in raw_out.iter_mut().zip(&raw_len) {
                rx.unprotect_rtp(&mut out[..*len]).unwrap();
            }
        });
        // RTCP and timers between rounds, as a real connection would run them.
        let step = *now + Duration::from_millis(200);
        pump(a, b, now, step);
        if round > 0 {
            send.push(c);
            recv.push(d);
            raw_p.push(p);
            raw_u.push(u);
        }
    }
    let row = |what: &str, c: Cost, base: Cost| {
        let (w, cp) = c.per_packet();
        let (bw, bc) = base.per_packet();
        println!(
            "| {what} | {w:.0} ns wall, {cp:.0} ns CPU | {:.2}x wall, {:.2}x CPU |",
            w / bw,
            cp / bc
        );
    };
    println!(
        "{N} RTP packets of {PAYLOAD} B per round, best of {rounds} rounds (raw cipher: AEAD_AES_128_GCM)"
    );
    println!("| path | per packet | vs raw SRTP in the same run |");
    println!("|---|---|---|");
    row(
        "send: write_rtp + poll_transmit (vs protect)",
        best(&send),
        best(&raw_p),
    );
    row(
        "receive: handle_datagram + poll_event (vs unprotect)",
        best(&recv),
        best(&raw_u),
    );
    let (pw, pc) = best(&raw_p).per_packet();
    let (uw, uc) = best(&raw_u).per_packet();
    println!(
        "raw protect {pw:.0} ns wall / {pc:.0} ns CPU; raw unprotect {uw:.0} ns wall / {uc:.0} ns CPU"
    );
}

/// The connection under test (`a` sends to `b`), its clock and next sequence number, the
/// datagram slots the rows fill, and the rounds each row runs.
struct Setup {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    seq: u16,
    datagrams: Vec<(Option<Transmit>, Vec<u8>)>,
    rounds: usize,
}

/// A row's view of the [`Setup`]: each part on its own.
type Parts<'a> = (
    &'a mut PeerConnection,
    &'a mut PeerConnection,
    &'a mut Instant,
    &'a mut u16,
    &'a mut [(Option<Transmit>, Vec<u8>)],
    usize,
);

impl Setup {
    fn parts(&mut self) -> Parts<'_> {
        let s = self;
        (
            &mut s.a,
            &mut s.b,
            &mut s.now,
            &mut s.seq,
            &mut s.datagrams,
            s.rounds,
        )
    }
}

/// The best batch's wall and CPU time per packet (each the minimum over the batches).
#[derive(Clone, Copy)]
struct Best {
    wall: f64,
    cpu: f64,
}

impl Best {
    const NONE: Best = Best {
        wall: f64::MAX,
        cpu: f64::MAX,
    };

    fn keep(&mut self, c: Cost, packets: usize) {
        self.wall = self.wall.min(c.wall.as_nanos() as f64 / packets as f64);
        self.cpu = self.cpu.min(c.cpu.as_nanos() as f64 / packets as f64);
    }
}

/// Raw SRTP protects of packets built just before, a batch at a time: the send rows' baseline.
/// In place (`protect_rtp`, the packet built in the buffer it is sealed in) and from one
/// buffer into another (`protect_rtp_into`, as kaon's send path seals its queued plaintext
/// into the caller's datagram), each with its own key and packets.
struct RawProtect {
    tx: Context,
    packets: Vec<Vec<u8>>,
    seq: u16,
    tx_into: Context,
    plain: Vec<u8>,
}

impl RawProtect {
    fn new(batch: usize) -> Self {
        let cfg = Config::default();
        Self {
            tx: Context::new(Profile::AeadAes128Gcm, &[7; 16], &[9; 12], &cfg).unwrap(),
            packets: (0..batch).map(|_| vec![0u8; 1500]).collect(),
            seq: 0,
            tx_into: Context::new(Profile::AeadAes128Gcm, &[7; 16], &[9; 12], &cfg).unwrap(),
            plain: vec![0u8; 1500],
        }
    }

    /// Builds and protects one batch in place: its cost.
    fn batch(&mut self) -> Cost {
        timed(|| {
            for out in self.packets.iter_mut() {
                let n = rtp(out, self.seq);
                self.seq = self.seq.wrapping_add(1);
                self.tx.protect_rtp(out, n).unwrap();
            }
        })
    }

    /// Builds each packet of a batch in one buffer and protects it into the batch's own
    /// (the packets sealed in place just before): its cost.
    fn batch_into(&mut self) -> Cost {
        let seq = self.seq.wrapping_sub(self.packets.len() as u16);
        timed(|| {
            for (i, out) in self.packets.iter_mut().enumerate() {
                let n = rtp(&mut self.plain, seq.wrapping_add(i as u16));
                self.tx_into
                    .protect_rtp_into(&self.plain[..n], out)
                    .unwrap();
            }
        })
    }
}

/// `write_rtp` + `poll_transmit` and raw protect (all building the packet first), in
/// alternating batches of [`BATCH`]: the best batch of each: ours, raw in place, raw into a
/// second buffer; and the median over the batches of ours over raw in place by CPU time, each
/// batch against the raw one run right after it (steadier than the best batches on a busy
/// machine).
fn warm_send(s: &mut Setup) -> (Best, Best, Best, f64) {
    let (a, b, now, seq, datagrams, rounds) = s.parts();
    let mut plain = [0u8; 1500];
    let mut raw = RawProtect::new(BATCH);
    let (mut ours, mut theirs, mut into) = (Best::NONE, Best::NONE, Best::NONE);
    let mut ratios = Vec::new();
    for round in 0..rounds * 16 {
        let c = timed(|| {
            for (t, buf) in datagrams[..BATCH].iter_mut() {
                let n = rtp(&mut plain, *seq);
                *seq = seq.wrapping_add(1);
                a.write_rtp(*now, "0", &plain[..n]).unwrap();
                // Until the packet is out: RTCP or a consent check that fell due goes first.
                loop {
                    *t = a.poll_transmit(*now, buf);
                    if t.is_none() || is_rtp(buf) {
                        break;
                    }
                }
            }
        });
        let p = raw.batch();
        let q = raw.batch_into();
        assert!(datagrams[..BATCH].iter().all(|(t, _)| t.is_some()));
        // `b` sees the batch's last packet (untimed): a receiver that saw none of 2^15
        // sequence numbers could not tell the rollover counter any more (RFC 3711 §3.3.1), and
        // the forward section that follows would find every packet refused.
        if let Some((Some(t), buf)) = datagrams[..BATCH].last() {
            deliver(b, *now, *t, buf);
            while b.poll_event().is_some() {}
        }
        if round > 0 {
            ours.keep(c, BATCH);
            theirs.keep(p, BATCH);
            into.keep(q, BATCH);
            ratios.push(c.cpu.as_secs_f64() / p.cpu.as_secs_f64());
        }
        if round % 16 == 15 {
            let step = *now + Duration::from_millis(200);
            pump(a, b, now, step);
        }
    }
    (ours, theirs, into, median(ratios))
}

/// The median of `v` (not empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes a packet on `a` for each slot and polls it out into the slot; RTCP or a consent
/// check that fell due goes to `b` at once, so that every slot holds RTP.
fn send_batch(
    a: &mut PeerConnection,
    b: &mut PeerConnection,
    now: Instant,
    seq: &mut u16,
    slots: &mut [(Option<Transmit>, Vec<u8>)],
) {
    let mut plain = [0u8; 1500];
    for (t, buf) in slots.iter_mut() {
        let n = rtp(&mut plain, *seq);
        *seq = seq.wrapping_add(1);
        a.write_rtp(now, "0", &plain[..n]).unwrap();
        *t = a.poll_transmit(now, buf);
        while let Some(other) = t.filter(|_| !is_rtp(buf)) {
            deliver(b, now, other, buf);
            *t = a.poll_transmit(now, buf);
        }
    }
}

/// Hands `b` the datagram `t` whose bytes are `bytes[..t.len]`.
fn deliver(b: &mut PeerConnection, now: Instant, t: Transmit, bytes: &[u8]) {
    let d = Datagram {
        source: t.source,
        destination: t.destination,
        contents: &bytes[..t.len],
    };
    b.handle_datagram(now, d);
}

/// Whether a datagram is RTP (RFC 7983 first byte, RFC 5761 second byte), not RTCP or STUN.
fn is_rtp(datagram: &[u8]) -> bool {
    datagram[0] >> 6 == 2 && !matches!(datagram[1], 192..=223)
}

/// Subscribers in the widest fan-out row.
const FAN_OUT: usize = 16;
/// Packets per fan-out batch.
const FAN_BATCH: usize = 64;

/// An SFU's forward: each packet `a` sends is received by `b` (`handle_datagram` +
/// `poll_event`), then written to N subscriber connections (`write_rtp_bytes`, the payload
/// kept by reference, + `poll_transmit` each, with its own SRTP keys), for N = 1, 4 and 16,
/// beside a raw protect of the same size, in alternating batches; and the same through
/// `write_rtp` (copying the packet into each subscriber's queue and RTX history) to another
/// 16 subscribers, alternating with them. Prints the rows and the cost of one more subscriber
/// each way.
///
/// Comparing two builds: one binary copied to four files measured 1.66x, 1.79x, 1.67x and
/// 1.77x for one more subscriber (medians of 12 runs of each file, shuffled, in one session),
/// a bias of the file's place in memory as large as most changes to this path. Compare builds
/// over several copies of each binary (four, each run a few times in shuffled order), not one
/// file of each.
fn fan_out(s: &mut Setup, copying: bool) {
    let ways = if copying { 2 } else { 1 };
    let (a, b, now, seq, datagrams, rounds) = s.parts();
    let mut subs: [Vec<(PeerConnection, PeerConnection)>; 2] = [0, 1].map(|set| {
        (0..FAN_OUT)
            .map(|i| {
                let mut t = *now;
                pair(&mut t, 10 + (set * FAN_OUT + i) as u8)
            })
            .collect()
    });
    const WAYS: [&str; 2] = ["by reference (`write_rtp_bytes`)", "copying (`write_rtp`)"];
    // The subscribers' clocks ran a second ahead while they connected.
    *now += Duration::from_secs(1);
    let step = *now + Duration::from_millis(200);
    pump(a, b, now, step);
    let mut out = vec![0u8; 2048];
    let mut raw = RawProtect::new(FAN_BATCH);
    let widths = [1, 4, FAN_OUT];
    let mut best = [[Best::NONE; 3]; 2];
    let (mut protect, mut into) = (Best::NONE, Best::NONE);
    let (mut this, mut ratios) = ([[0.0; 3]; 2], [Vec::new(), Vec::new()]);
    for round in 0..rounds * 16 {
        for (way, subs) in subs.iter_mut().enumerate().take(ways) {
            for (w, &n) in widths.iter().enumerate() {
                send_batch(a, b, *now, seq, &mut datagrams[..FAN_BATCH]);
                let mut sent = 0;
                let c = timed(|| {
                    for (t, bytes) in &datagrams[..FAN_BATCH] {
                        deliver(b, *now, t.unwrap(), bytes);
                        while let Some(e) = b.poll_event() {
                            let PeerEvent::Rtp { packet, .. } = e else {
                                continue;
                            };
                            for (s, _) in &mut subs[..n] {
                                if way == 0 {
                                    s.write_rtp_bytes(*now, "0", packet.clone()).unwrap();
                                } else {
                                    s.write_rtp(*now, "0", &packet).unwrap();
                                }
                                // Until the packet is out: RTCP or a consent check that fell
                                // due goes ahead of it.
                                while s.poll_transmit(*now, &mut out).is_some() {
                                    if is_rtp(&out) {
                                        sent += 1;
                                        break;
                                    }
                                }
                            }
                        }
                    }
                });
                assert_eq!(sent, n * FAN_BATCH, "every packet was forwarded");
                if round > 0 {
                    best[way][w].keep(c, FAN_BATCH);
                }
                this[way][w] = c.cpu.as_secs_f64();
            }
        }
        let p = raw.batch();
        let q = raw.batch_into();
        if round > 0 {
            protect.keep(p, FAN_BATCH);
            into.keep(q, FAN_BATCH);
            for (way, this) in this.iter().enumerate().take(ways) {
                let extra = (this[2] - this[0]) / (FAN_OUT - 1) as f64;
                ratios[way].push(extra / p.cpu.as_secs_f64());
            }
        }
        if round % 16 == 15 {
            let step = *now + Duration::from_millis(200);
            pump(a, b, now, step);
            for (s, sink) in subs.iter_mut().flatten() {
                let mut t = *now - Duration::from_millis(200);
                pump(s, sink, &mut t, step);
            }
        }
    }
    for (way, best) in best.iter().enumerate().take(ways) {
        for (w, &n) in widths.iter().enumerate() {
            println!(
                "| forward to {n} subscriber(s) {}, batches of {FAN_BATCH}, best batch | \
                 {:.0} ns wall, {:.0} ns CPU per packet received |",
                WAYS[way], best[w].wall, best[w].cpu
            );
        }
    }
    for (way, best) in best.iter().enumerate().take(ways) {
        let extra = |f: fn(&Best) -> f64| (f(&best[2]) - f(&best[0])) / (FAN_OUT - 1) as f64;
        let (ew, ec) = (extra(|b| b.wall), extra(|b| b.cpu));
        println!(
            "| forward {}: one more subscriber (from 1 to {FAN_OUT}) | {ew:.0} ns wall, {ec:.0} \
             ns CPU | {:.2}x wall, {:.2}x CPU (raw protect {:.0} ns wall, {:.0} ns CPU in place; \
             {:.2}x wall against {:.0} ns into a second buffer); median of the rounds \
             {:.2}x CPU |",
            WAYS[way],
            ew / protect.wall,
            ec / protect.cpu,
            protect.wall,
            protect.cpu,
            ew / into.wall,
            into.wall,
            median(std::mem::take(&mut ratios[way]))
        );
    }
}

/// Datagrams per batch in [`warm_receive`].
const BATCH: usize = 256;

/// The receive rows' best batches (wall and CPU per packet): ours through `handle_datagram`,
/// through `handle_datagram_in_place`, and through it with `poll_transmit` drained after each
/// datagram as a driver does; raw unprotect in place and into a second buffer; and for each
/// of ours the median over the batches of ours over raw in place by CPU time.
struct Received {
    ours: Best,
    in_place: Best,
    polled: Best,
    raw: Best,
    into: Best,
    paired: f64,
    in_place_paired: f64,
    polled_paired: f64,
}

/// `b` takes each of `datagrams` through `handle_datagram_in_place` and drains its events,
/// then, with `poll` (a buffer), drains `poll_transmit` as a driver's turn does; every packet
/// must come back in place. The time it took.
fn in_place_batch(
    b: &mut PeerConnection,
    now: Instant,
    datagrams: &mut [(Option<Transmit>, Vec<u8>)],
    mut poll: Option<&mut [u8]>,
) -> Cost {
    let mut in_place = 0;
    let n = datagrams.len();
    let cost = timed(|| {
        for (t, bytes) in datagrams.iter_mut() {
            let t = t.unwrap();
            let d = &mut bytes[..t.len];
            if let Some(p) = b.handle_datagram_in_place(now, t.source, t.destination, d) {
                std::hint::black_box(p.packet);
                in_place += 1;
            }
            // An application drains its events between datagrams (none here).
            while b.poll_event().is_some() {}
            // Nothing is due here (the receiver's reports wait for their interval): every
            // poll answers `None`.
            if let Some(buf) = poll.as_deref_mut() {
                while b.poll_transmit(now, buf).is_some() {}
            }
        }
    });
    assert_eq!(in_place, n, "every packet was handed back in place");
    cost
}

/// Receive (through `handle_datagram` + `poll_event`, then through
/// `handle_datagram_in_place` + `poll_event`, then the same with `poll_transmit` drained) and
/// raw unprotect, each on a batch of datagrams made just before it; each of ours against the
/// raw batch run right after them.
fn warm_receive(s: &mut Setup) -> Received {
    let (a, b, now, seq, datagrams, rounds) = s.parts();
    let key = [7u8; 16];
    let salt = [9u8; 12];
    // A fresh pair, so the raw receiver's replay window starts with this sender.
    let mut tx = Context::new(Profile::AeadAes128Gcm, &key, &salt, &Config::default()).unwrap();
    let mut fresh = Context::new(Profile::AeadAes128Gcm, &key, &salt, &Config::default()).unwrap();
    // The same packets again, decrypted out of place into a second buffer.
    let mut fresh_into =
        Context::new(Profile::AeadAes128Gcm, &key, &salt, &Config::default()).unwrap();
    let mut into = vec![0u8; 1500];
    let mut raw: Vec<(usize, Vec<u8>)> = (0..BATCH).map(|_| (0, vec![0u8; 1500])).collect();
    let mut r = Received {
        ours: Best::NONE,
        in_place: Best::NONE,
        polled: Best::NONE,
        raw: Best::NONE,
        into: Best::NONE,
        paired: 0.0,
        in_place_paired: 0.0,
        polled_paired: 0.0,
    };
    let (mut ratios, mut in_place_ratios, mut polled_ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = vec![0u8; 1500];
    let mut raw_seq = 0u16;
    for round in 0..rounds * 16 {
        send_batch(a, b, *now, seq, &mut datagrams[..BATCH]);
        let mut got = 0;
        let ours = timed(|| {
            for (t, bytes) in &datagrams[..BATCH] {
                deliver(b, *now, t.unwrap(), bytes);
                while let Some(e) = b.poll_event() {
                    if matches!(e, PeerEvent::Rtp { .. }) {
                        got += 1;
                    }
                }
            }
        });
        assert_eq!(got, BATCH, "every packet arrived");
        send_batch(a, b, *now, seq, &mut datagrams[..BATCH]);
        let borrowed = in_place_batch(b, *now, &mut datagrams[..BATCH], None);
        send_batch(a, b, *now, seq, &mut datagrams[..BATCH]);
        let turns = in_place_batch(b, *now, &mut datagrams[..BATCH], Some(&mut out));
        for (len, out) in raw.iter_mut() {
            let n = rtp(out, raw_seq);
            raw_seq = raw_seq.wrapping_add(1);
            *len = tx.protect_rtp(out, n).unwrap();
        }
        let out_of_place = timed(|| {
            for (len, out) in raw.iter() {
                fresh_into
                    .unprotect_rtp_into(&out[..*len], &mut into)
                    .unwrap();
            }
        });
        let theirs = timed(|| {
            for (len, out) in raw.iter_mut() {
                fresh.unprotect_rtp(&mut out[..*len]).unwrap();
            }
        });
        if round > 0 {
            r.ours.keep(ours, BATCH);
            r.in_place.keep(borrowed, BATCH);
            r.polled.keep(turns, BATCH);
            r.raw.keep(theirs, BATCH);
            r.into.keep(out_of_place, BATCH);
            ratios.push(ours.cpu.as_secs_f64() / theirs.cpu.as_secs_f64());
            in_place_ratios.push(borrowed.cpu.as_secs_f64() / theirs.cpu.as_secs_f64());
            polled_ratios.push(turns.cpu.as_secs_f64() / theirs.cpu.as_secs_f64());
        }
        if round % 16 == 15 {
            let step = *now + Duration::from_millis(200);
            pump(a, b, now, step);
        }
    }
    r.paired = median(ratios);
    r.in_place_paired = median(in_place_ratios);
    r.polled_paired = median(polled_ratios);
    r
}
