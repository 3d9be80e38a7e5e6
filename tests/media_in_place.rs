//! `PeerConnection::handle_datagram_in_place` against `handle_datagram`: two pairs of peers
//! built alike (same seeds, certificates and addresses, driven on the same clock) carry the
//! same media, one pair's receiver taking every datagram through `handle_datagram`, the
//! other's through the in-place entry point. What the application sees (events, with each
//! packet handed back in place standing where its `Rtp` event stands on the other side),
//! what the receiver sends back (reports, NACKs, consent answers), its counters, its receive
//! streams' statistics and its next deadline must be the same at every step. Also: the
//! ordering rule (a packet is never handed back ahead of a waiting event), bad input, frames
//! on, the router's entry point, and no allocation per packet in place.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::dtls::Identity;
use kaon::peer::{ConnectionState, MediaEngine, PeerConnection, PeerEvent, Router};
use kaon::rtp::RtpPacket;
use kaon::{Datagram, Protocol};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "support/media_pair.rs"]
mod media_pair;
use media_pair::{av_peer, negotiate, packet};

/// How the receiver `b` takes its datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Queued,
    InPlace,
}

/// What happened to a datagram on its way from `a` to `b`.
type Wire = fn(n: usize, datagram: &mut Vec<u8>) -> bool;

/// Every datagram arrives as sent.
fn perfect(_: usize, _: &mut Vec<u8>) -> bool {
    true
}

/// One of two peers sending audio and video to each other, `b` receiving one [`Way`].
struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    way: Way,
    /// What `b`'s application saw and sent, in order.
    log: Vec<Seen>,
    /// RTP datagrams from `a` to `b` so far (what a [`Wire`] is told).
    rtp_to_b: usize,
    /// Packets handed back in place, and datagrams `b` took that were not.
    in_place: usize,
    other: usize,
    /// Allocations inside `handle_datagram_in_place` calls that handed a packet back.
    in_place_allocations: usize,
}

/// One thing `b`'s application saw or sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Event(PeerEvent),
    /// A datagram `b` sent: its first byte (RFC 7983 class; RTCP packet type) and length.
    Sent(u8, u8, usize),
}

/// Two peers (audio and video both ways), connected at `now`, built from `seed`'s
/// certificates and seeds so that two calls make the same pair.
fn pair(ids: &(Identity, Identity), engine: MediaEngine, start: Instant, way: Way) -> Pair {
    let engine = std::sync::Arc::new(engine);
    let mut a = av_peer(1, &ids.0, &engine, "192.0.2.1:5000", start);
    let mut b = av_peer(2, &ids.1, &engine, "192.0.2.2:5000", start);
    negotiate(&mut a, &mut b, start);
    let mut p = Pair {
        a,
        b,
        now: start,
        way,
        log: Vec::new(),
        rtp_to_b: 0,
        in_place: 0,
        other: 0,
        in_place_allocations: 0,
    };
    p.run(start + Duration::from_secs(1), perfect);
    assert_eq!(p.a.connection_state(), ConnectionState::Connected);
    assert_eq!(p.b.connection_state(), ConnectionState::Connected);
    p.log.clear();
    p
}

impl Pair {
    /// Carries datagrams both ways until `until`, jumping to deadlines; `wire` may change or
    /// drop each RTP datagram from `a` to `b`.
    fn run(&mut self, until: Instant, wire: Wire) {
        let mut buf = vec![0u8; 2048];
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit(self.now, &mut buf) {
                moved = true;
                let mut datagram = buf[..t.len].to_vec();
                if is_rtp(&datagram) {
                    self.rtp_to_b += 1;
                    if !wire(self.rtp_to_b, &mut datagram) {
                        continue;
                    }
                }
                self.deliver(t.source, t.destination, &mut datagram);
            }
            while let Some(t) = self.b.poll_transmit(self.now, &mut buf) {
                moved = true;
                self.log.push(Seen::Sent(buf[0], buf[1], t.len));
                let d = Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: &buf[..t.len],
                };
                self.a.handle_datagram(self.now, d);
            }
            while self.a.poll_event().is_some() {}
            if self.now >= until {
                return;
            }
            if !moved {
                let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(until);
                self.now = next.clamp(self.now, until);
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                self.drain_b();
            }
        }
    }

    /// Hands `b` one datagram its way, then takes its events.
    fn deliver(&mut self, source: SocketAddr, destination: SocketAddr, datagram: &mut [u8]) {
        match self.way {
            Way::Queued => {
                let contents = &*datagram;
                let d = Datagram {
                    source,
                    destination,
                    contents,
                };
                self.b.handle_datagram(self.now, d);
            }
            Way::InPlace => {
                let x = allocations();
                let got = self
                    .b
                    .handle_datagram_in_place(self.now, source, destination, datagram);
                match got {
                    Some(p) => {
                        self.in_place_allocations += allocations() - x;
                        self.in_place += 1;
                        assert!(RtpPacket::new_checked(p.packet).is_ok());
                        self.log.push(Seen::Event(PeerEvent::Rtp {
                            mid: p.mid,
                            packet: Bytes::copy_from_slice(p.packet),
                        }));
                    }
                    None => self.other += 1,
                }
            }
        }
        self.drain_b();
    }

    fn drain_b(&mut self) {
        while let Some(e) = self.b.poll_event() {
            self.log.push(Seen::Event(e));
        }
    }

    /// 30 video and 50 audio packets a second from `a` for `secs`, through `wire`.
    fn media(&mut self, from: u16, secs: u16, wire: Wire) {
        let mut buf = [0u8; 1500];
        for i in from..from + secs * 50 {
            let n = packet(&mut buf, 111, i, 80);
            self.a.write_rtp(self.now, "0", &buf[..n]).unwrap();
            if i % 5 < 3 {
                let n = packet(&mut buf, 96, i, 1100);
                self.a.write_rtp(self.now, "1", &buf[..n]).unwrap();
            }
            let step = self.now + Duration::from_millis(20);
            self.run(step, wire);
        }
    }

    /// Everything about `b` the two ways must agree on.
    fn state(&self) -> String {
        let rx: Vec<_> = self
            .b
            .transceivers()
            .flat_map(|(_, t)| t.receiver_stats().collect::<Vec<_>>())
            .collect();
        format!(
            "now {:?} timeout {:?} stats {:?} media {:?} ice {:?} receivers {rx:?} report {:?}",
            self.now,
            self.b.poll_timeout(),
            self.b.stats(),
            self.b.media_counters(),
            self.b.ice().stats(),
            self.b.get_stats(self.now),
        )
    }
}

/// RFC 7983 first byte, RFC 5761 second byte: RTP, not RTCP.
fn is_rtp(d: &[u8]) -> bool {
    d.len() > 1 && d[0] >> 6 == 2 && !matches!(d[1], 192..=223)
}

/// The two pairs, built alike.
fn both(engine: impl Fn() -> MediaEngine) -> (Pair, Pair) {
    let ids = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let start = Instant::now();
    (
        pair(&ids, engine(), start, Way::Queued),
        pair(&ids, engine(), start, Way::InPlace),
    )
}

/// Runs `f` on both pairs and checks that they agree.
fn alike(q: &mut Pair, p: &mut Pair, f: impl Fn(&mut Pair)) {
    f(q);
    f(p);
    assert_eq!(q.log.len(), p.log.len(), "as many events and datagrams");
    for (i, (x, y)) in q.log.iter().zip(&p.log).enumerate() {
        assert_eq!(x, y, "entry {i} of what b saw and sent");
    }
    assert_eq!(q.state(), p.state());
}

#[test]
fn in_place_receive_matches_the_queued_path_through_loss_nack_and_rtx() {
    let (mut q, mut p) = both(MediaEngine::default);
    alike(&mut q, &mut p, |x| x.media(0, 2, perfect));
    // Every tenth RTP datagram lost: NACKs go back, RTX comes and is unwrapped in place.
    alike(&mut q, &mut p, |x| x.media(100, 3, |n, _| n % 10 != 3));
    // Duplicates (the same datagram twice) and tampered ones (the tag fails).
    alike(&mut q, &mut p, |x| {
        x.media(250, 1, |n, d| {
            if n % 7 == 0 {
                let last = d.len() - 1;
                d[last] ^= 1;
            }
            true
        })
    });
    alike(&mut q, &mut p, |x| {
        x.run(x.now + Duration::from_secs(3), perfect)
    });
    // Once warm, as on the queued path (`media_peer_alloc.rs`): nothing per packet.
    p.in_place_allocations = 0;
    let before = p.in_place;
    alike(&mut q, &mut p, |x| x.media(300, 3, perfect));
    assert!(p.in_place - before >= 240, "{}", p.in_place - before);
    let m = p.b.media_counters();
    assert!(m.rtx_received > 0, "retransmissions were unwrapped: {m:?}");
    assert!(m.unprotect_failed > 0, "{m:?}");
    let events = |x: &Pair, f: fn(&PeerEvent) -> bool| {
        x.log
            .iter()
            .filter(|s| matches!(s, Seen::Event(e) if f(e)))
            .count()
    };
    assert_eq!(events(&p, |e| matches!(e, PeerEvent::Track(_))), 2);
    // Only the two sources' first packets (behind their `Track`) went out as events.
    let rtp = events(&q, |e| matches!(e, PeerEvent::Rtp { .. }));
    assert_eq!(p.in_place as u64, m.rtp_received - 2);
    assert_eq!(rtp as u64, m.rtp_received);
    let nacks = q.log.iter().filter(|s| matches!(s, Seen::Sent(_, 205, _)));
    assert!(nacks.count() > 0, "b asked for the lost packets");
    assert_eq!(
        p.in_place_allocations, 0,
        "handing packets back in place allocates nothing"
    );
}

#[test]
fn a_packet_is_not_handed_back_in_place_ahead_of_a_waiting_event() {
    let (mut q, mut p) = both(MediaEngine::default);
    alike(&mut q, &mut p, |x| x.media(0, 1, perfect));
    // The application leaves an event waiting: the next packets go behind it.
    let mut buf = [0u8; 1500];
    for seq in [50, 51] {
        let n = packet(&mut buf, 111, seq, 80);
        p.a.write_rtp(p.now, "0", &buf[..n]).unwrap();
    }
    p.b.restart_ice(p.now).unwrap();
    let mut sent = Vec::new();
    while let Some(t) = p.a.poll_transmit(p.now, &mut buf) {
        if is_rtp(&buf[..t.len]) {
            sent.push((t, buf[..t.len].to_vec()));
        }
    }
    assert!(sent.len() >= 2, "{}", sent.len());
    for (t, d) in &mut sent {
        let got =
            p.b.handle_datagram_in_place(p.now, t.source, t.destination, d);
        assert!(got.is_none(), "queued behind NegotiationNeeded");
    }
    assert_eq!(p.b.poll_event(), Some(PeerEvent::NegotiationNeeded));
    let rtp = std::iter::from_fn(|| p.b.poll_event())
        .filter(|e| matches!(e, PeerEvent::Rtp { .. }))
        .count();
    assert_eq!(rtp, sent.len(), "queued, in order, none lost");
}

#[test]
fn transceivers_with_frames_on_get_their_packets_as_events_and_frames() {
    let (mut q, mut p) = both(MediaEngine::default);
    for x in [&mut q, &mut p] {
        x.b.set_receive_frames("1", true).unwrap();
    }
    alike(&mut q, &mut p, |x| x.media(0, 2, perfect));
    // Audio (frames off) is handed back in place, every packet but the first (behind its
    // `Track`); video goes to the frame assembler and out as events.
    assert_eq!(p.in_place, 100 - 1);
    assert_eq!(p.b.media_counters().rtp_received, 100 + 60);
}

#[test]
fn garbage_and_truncated_datagrams_are_dropped_without_panic() {
    let (_, mut p) = both(MediaEngine::default);
    p.media(0, 1, perfect);
    let (source, destination) = (
        "192.0.2.1:5000".parse().unwrap(),
        "192.0.2.2:5000".parse().unwrap(),
    );
    let before = p.b.media_counters();
    let mut buf = [0u8; 1500];
    let n = packet(&mut buf, 96, 70, 1100);
    p.a.write_rtp(p.now, "1", &buf[..n]).unwrap();
    let t = p.a.poll_transmit(p.now, &mut buf).unwrap();
    let good = buf[..t.len].to_vec();
    for cut in [0, 1, 2, 11, 12, 13, 20, good.len() - 16, good.len() - 1] {
        let mut d = good[..cut].to_vec();
        let got =
            p.b.handle_datagram_in_place(p.now, source, destination, &mut d);
        assert!(got.is_none(), "{cut} bytes");
    }
    let mut junk = vec![0x80u8; 1200];
    assert!(
        p.b.handle_datagram_in_place(p.now, source, destination, &mut junk)
            .is_none()
    );
    let mut empty = [];
    assert!(
        p.b.handle_datagram_in_place(p.now, source, destination, &mut empty)
            .is_none()
    );
    // From an address ICE does not know: rejected before SRTP.
    let mut d = good.clone();
    let stranger = "203.0.113.9:4000".parse().unwrap();
    assert!(
        p.b.handle_datagram_in_place(p.now, stranger, destination, &mut d)
            .is_none()
    );
    let after = p.b.media_counters();
    assert!(
        after.unprotect_failed > before.unprotect_failed,
        "{after:?}"
    );
    assert_eq!(after.rtp_received, before.rtp_received);
    // The untouched packet still authenticates: nothing above moved its replay window.
    let mut d = good.clone();
    let got =
        p.b.handle_datagram_in_place(p.now, source, destination, &mut d);
    assert!(got.is_some_and(|g| g.packet.len() == good.len() - 16));
}

#[test]
fn the_router_hands_packets_back_in_place_with_their_peer() {
    let ids = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let start = Instant::now();
    let mut p = pair(&ids, MediaEngine::default(), start, Way::Queued);
    p.media(0, 1, perfect);
    let mut router = Router::new();
    let id = router.insert(p.b).unwrap();
    // The router learns the peer's route from what it sends; a and the router's peer
    // exchange what fell due (consent checks, reports) before the media.
    let mut buf = [0u8; 1500];
    let now = p.now + Duration::from_millis(1500);
    router.handle_timeout(now);
    p.a.handle_timeout(now);
    for _ in 0..3 {
        while let Some(t) = router.poll_transmit(now, &mut buf) {
            let (source, destination) = (t.source, t.destination);
            let d = Datagram {
                source,
                destination,
                contents: &buf[..t.len],
            };
            p.a.handle_datagram(now, d);
        }
        while let Some(t) = p.a.poll_transmit(now, &mut buf) {
            let (source, destination) = (t.source, t.destination);
            let d = Datagram {
                source,
                destination,
                contents: &buf[..t.len],
            };
            router.handle_datagram(now, d);
        }
        while router.poll_event().is_some() {}
    }
    let (mut got, mut sent) = (0, 0);
    for i in 100..120 {
        let n = packet(&mut buf, 111, i, 80);
        p.a.write_rtp(now, "0", &buf[..n]).unwrap();
        while let Some(t) = p.a.poll_transmit(now, &mut buf) {
            let mut d = buf[..t.len].to_vec();
            sent += usize::from(is_rtp(&d));
            if let Some((peer, rtp)) =
                router.handle_datagram_in_place(now, t.source, t.destination, &mut d)
            {
                assert_eq!((peer, rtp.mid.as_str()), (id, "0"));
                got += 1;
            }
        }
        while router.poll_event().is_some() {}
    }
    assert_eq!((got, sent), (20, 20));
    assert_eq!(router.stats().dropped_no_route, 0);
}
