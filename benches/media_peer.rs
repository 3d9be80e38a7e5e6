//! The RTP path of a whole PeerConnection beside the raw SRTP cipher, in one run:
//!
//! - send: `write_rtp` (header rewrite, extensions, RTX history, stream counters) and
//!   `poll_transmit` (protect, ICE pair) per packet, against one SRTP protect of the same size
//!   (DESIGN target for forwarding to one more subscriber: 1.3x);
//! - receive: `handle_datagram` (ICE check of the pair, RFC 7983 demux, unprotect in place,
//!   SSRC routing, stream bookkeeping) and `poll_event` (the `Rtp` event) per packet, against
//!   one SRTP unprotect (target 1.3x).
//!
//! `cargo bench --bench media_peer` prints the table; each figure is the best of several rounds
//! of 20,000 packets of 1,100 bytes, wall and CPU time (this thread's, from the kernel). The
//! peers negotiate no congestion control feedback, so nothing is paced: with it, the pacer
//! adds its own ~140 ns per packet (`cargo bench --bench bwe -- pacer`).
//!
//! A round of 20,000 datagrams is far bigger than the caches, and the send side in between
//! touches more memory than the raw protect does, so the receive row reads its datagrams from
//! memory while the raw unprotect finds most of its packets still cached. The last row runs
//! receive and raw unprotect in batches of 256 just sent (warm, as datagrams are right after
//! `recvmmsg`) and gives the best batch of each, by wall time: the steadier figure on a busy
//! machine, where per-thread CPU time is counted only in scheduler ticks.

use std::time::{Duration, Instant};

use kaon::dtls::Identity;
use kaon::peer::{
    LocalTrack, MediaEngine, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind,
};
use kaon::rtp::{RtpBuilder, RtpHeader};
use kaon::srtp::{Config, Context, Profile};
use kaon::{Datagram, Protocol, Transmit};

const N: usize = 20_000;
const ROUNDS: usize = 5;
const PAYLOAD: usize = 1100;

/// This thread's CPU time so far (Linux), or zero elsewhere.
fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn pump(a: &mut PeerConnection, b: &mut PeerConnection, now: &mut Instant, until: Instant) {
    let mut buf = vec![0u8; 2048];
    while *now < until {
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
    let peer = |seed, addr: &str, now| {
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
    let mut a = peer(1, "192.0.2.1:5000", now);
    let mut b = peer(2, "192.0.2.2:5000", now);
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let t0 = now;
    pump(&mut a, &mut b, &mut now, t0 + Duration::from_secs(1));
    (a, b, now)
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
    let (mut a, mut b, mut now) = connected();
    let mut seq = 0u16;
    let mut plain = [0u8; 1500];
    // Each datagram is written straight into its own buffer, as the raw protect below writes
    // into its own: neither side pays for an allocation or a copy the other does not.
    let mut datagrams: Vec<(Option<Transmit>, Vec<u8>)> =
        (0..N).map(|_| (None, vec![0u8; 2048])).collect();
    let (mut send, mut recv, mut raw_p, mut raw_u) = (vec![], vec![], vec![], vec![]);
    // The raw cipher: the profile kaon and itself negotiate (AEAD_AES_128_GCM).
    let key = [7u8; 16];
    let salt = [9u8; 12];
    let mut tx = Context::new(Profile::AeadAes128Gcm, &key, &salt, &Config::default()).unwrap();
    let mut rx = Context::new(Profile::AeadAes128Gcm, &key, &salt, &Config::default()).unwrap();
    let mut raw_out: Vec<Vec<u8>> = (0..N).map(|_| vec![0u8; 1500]).collect();
    let mut raw_len = vec![0usize; N];
    for round in 0..ROUNDS + 1 {
        let c = timed(|| {
            for (t, buf) in datagrams.iter_mut() {
                let n = rtp(&mut plain, seq);
                seq = seq.wrapping_add(1);
                a.write_rtp(now, "0", &plain[..n]).unwrap();
                *t = a.poll_transmit(now, buf);
            }
        });
        let mut got = 0;
        let d = timed(|| {
            for (t, bytes) in &datagrams {
                let t = t.unwrap();
                b.handle_datagram(
                    now,
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
        let step = now + Duration::from_millis(200);
        pump(&mut a, &mut b, &mut now, step);
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
        "{N} RTP packets of {PAYLOAD} B per round, best of {ROUNDS} rounds (raw cipher: AEAD_AES_128_GCM)"
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
    let (ours, raw, into) = warm_receive(&mut a, &mut b, &mut now, &mut seq, &mut datagrams);
    println!(
        "| receive, batches of {BATCH} warm datagrams, best batch | {ours:.0} ns wall | {:.2}x wall \
         (raw unprotect {raw:.0} ns in place, {into:.0} ns into a second buffer) |",
        ours / raw
    );
}

/// Datagrams per batch in [`warm_receive`].
const BATCH: usize = 256;

/// Receive and raw unprotect, each on a batch of datagrams made just before it: the best
/// batch's wall time per packet: ours, raw in place, and raw into a second buffer.
fn warm_receive(
    a: &mut PeerConnection,
    b: &mut PeerConnection,
    now: &mut Instant,
    seq: &mut u16,
    datagrams: &mut [(Option<Transmit>, Vec<u8>)],
) -> (f64, f64, f64) {
    let mut plain = [0u8; 1500];
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
    let (mut ours_best, mut raw_best, mut into_best) = (f64::MAX, f64::MAX, f64::MAX);
    let mut raw_seq = 0u16;
    for round in 0..ROUNDS * 16 {
        for (t, buf) in datagrams[..BATCH].iter_mut() {
            let n = rtp(&mut plain, *seq);
            *seq = seq.wrapping_add(1);
            a.write_rtp(*now, "0", &plain[..n]).unwrap();
            *t = a.poll_transmit(*now, buf);
        }
        let mut got = 0;
        let w = Instant::now();
        for (t, bytes) in &datagrams[..BATCH] {
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
        let ours = w.elapsed().as_nanos() as f64 / BATCH as f64;
        assert_eq!(got, BATCH, "every packet arrived");
        for (len, out) in raw.iter_mut() {
            let n = rtp(out, raw_seq);
            raw_seq = raw_seq.wrapping_add(1);
            *len = tx.protect_rtp(out, n).unwrap();
        }
        let w = Instant::now();
        for (len, out) in raw.iter() {
            fresh_into
                .unprotect_rtp_into(&out[..*len], &mut into)
                .unwrap();
        }
        let out_of_place = w.elapsed().as_nanos() as f64 / BATCH as f64;
        let w = Instant::now();
        for (len, out) in raw.iter_mut() {
            fresh.unprotect_rtp(&mut out[..*len]).unwrap();
        }
        let theirs = w.elapsed().as_nanos() as f64 / BATCH as f64;
        if round > 0 {
            ours_best = ours_best.min(ours);
            raw_best = raw_best.min(theirs);
            into_best = into_best.min(out_of_place);
        }
        if round % 16 == 15 {
            let step = *now + Duration::from_millis(200);
            pump(a, b, now, step);
        }
    }
    (ours_best, raw_best, into_best)
}
