//! Two PeerConnections wired to each other in memory (no simulator): what the demultiplexer
//! drops, what survives junk, and how much CPU a full connect costs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::dtls::Identity;
use kaon::peer::{ConnectionState, IceCandidate, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon::{Datagram, Protocol};

const A: &str = "192.0.2.1:5000";
const B: &str = "192.0.2.2:5000";

struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    events_a: Vec<PeerEvent>,
    events_b: Vec<PeerEvent>,
}

impl Pair {
    /// Carries datagrams between the two with no delay, jumping virtual time to the next
    /// deadline when nothing is in flight; stops when `done` holds or after `limit`.
    fn run(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let end = self.now + limit;
        let mut buf = vec![0u8; 2048];
        while self.now < end {
            let mut moved = false;
            for from_a in [true, false] {
                loop {
                    let (from, to) = if from_a {
                        (&mut self.a, &mut self.b)
                    } else {
                        (&mut self.b, &mut self.a)
                    };
                    let Some(t) = from.poll_transmit(self.now, &mut buf) else {
                        break;
                    };
                    moved = true;
                    to.handle_datagram(
                        self.now,
                        Datagram {
                            source: t.source,
                            destination: t.destination,
                            contents: &buf[..t.len],
                        },
                    );
                }
            }
            while let Some(e) = self.a.poll_event() {
                self.events_a.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.events_b.push(e);
            }
            if done(self) {
                return true;
            }
            if !moved {
                let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                self.now = match next {
                    Some(t) => t.max(self.now).min(end),
                    None => end,
                };
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
            }
        }
        done(self)
    }

    fn opened(&self, id: u16) -> bool {
        let open = |v: &[PeerEvent]| {
            v.iter()
                .any(|e| matches!(e, PeerEvent::DataChannelOpen { id: i, .. } if *i == id))
        };
        open(&self.events_a) && open(&self.events_b)
    }

    fn got_b(&self, text: &[u8]) -> bool {
        self.events_b
            .iter()
            .any(|e| matches!(e, PeerEvent::Message { data, .. } if data[..] == *text))
    }
}

fn negotiated(ida: Identity, idb: Identity) -> (Pair, u16) {
    let now = Instant::now();
    let peer = |seed, identity, addr: &str| {
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(identity),
            ..PeerConfig::with_seed(seed)
        })
        .unwrap();
        pc.add_local_address(addr.parse().unwrap()).unwrap();
        pc
    };
    let mut a = peer(1, ida, A);
    let mut b = peer(2, idb, B);
    let id = a
        .create_data_channel(now, "mem", ChannelConfig::default())
        .unwrap();
    while a.poll_event().is_some() {}
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    while b.poll_event().is_some() {}
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let p = Pair {
        a,
        b,
        now,
        events_a: Vec::new(),
        events_b: Vec::new(),
    };
    (p, id)
}

fn connected() -> (Pair, u16) {
    let (mut p, id) = negotiated(Identity::generate().unwrap(), Identity::generate().unwrap());
    assert!(p.run(Duration::from_secs(5), |p| p.opened(id)));
    (p, id)
}

#[test]
fn datagrams_outside_webrtc_are_dropped_and_counted() {
    let (mut p, id) = connected();
    let before = p.b.stats().dropped;
    let a: SocketAddr = A.parse().unwrap();
    let stranger: SocketAddr = "198.51.100.7:4000".parse().unwrap();
    let b: SocketAddr = B.parse().unwrap();
    let junk: [(&[u8], SocketAddr); 7] = [
        (&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], a), // RTP: no media negotiated
        (&[0x80, 200, 0, 6], a),                        // RTCP
        (&[16, 0, 0, 0], a),                            // ZRTP
        (&[255, 1, 2], a),                              // unknown first byte
        (&[], a),                                       // empty
        (&[0, 1, 0, 0], a),                             // 0..=3 but not STUN
        (&[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 1, 0], stranger), // DTLS, unknown pair
    ];
    for (contents, source) in junk {
        p.b.handle_datagram(
            p.now,
            Datagram {
                source,
                destination: b,
                contents,
            },
        );
    }
    assert_eq!(p.b.stats().dropped - before, 7);
    // A forged DTLS record from the real peer reaches DTLS, fails authentication and is
    // dropped there; nothing breaks.
    p.b.handle_datagram(
        p.now,
        Datagram {
            source: a,
            destination: b,
            contents: &[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3, 1, 2, 3],
        },
    );
    let now = p.now;
    p.a.send_text(now, id, "after junk").unwrap();
    assert!(p.run(Duration::from_secs(2), |p| p.got_b(b"after junk")));
    assert_eq!(p.b.connection_state(), ConnectionState::Connected);
}

#[test]
fn handshake_cpu_cost_of_a_full_connect() {
    // Certificates are made outside the measurement: applications reuse them.
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let runs = 20;
    let mut total = Duration::ZERO;
    for _ in 0..runs {
        let (ia, ib) = (ida.clone(), idb.clone());
        let start = Instant::now();
        let (mut p, id) = negotiated(ia, ib);
        assert!(p.run(Duration::from_secs(5), |p| p.opened(id)));
        total += start.elapsed();
    }
    let per = total / runs;
    println!(
        "full in-memory connect (offer/answer, ICE, DTLS, SCTP, channel open), both peers: {:.3} ms CPU",
        per.as_secs_f64() * 1e3
    );
    // Debug builds are slow; this only guards against something pathological.
    assert!(per < Duration::from_millis(200), "{per:?}");
}

#[test]
fn a_peer_that_closes_dtls_leaves_the_other_closed_not_connecting() {
    let (mut p, _) = connected();
    let now = p.now;
    p.a.close(now);
    assert!(p.run(Duration::from_secs(5), |p| {
        p.events_b
            .iter()
            .any(|e| matches!(e, PeerEvent::DtlsClosed | PeerEvent::SctpClosed))
    }));
    assert_ne!(p.b.connection_state(), ConnectionState::Connecting);
}

#[test]
fn a_passive_answer_makes_the_offerer_the_dtls_client() {
    let now = Instant::now();
    let peer = |seed, addr: &str| {
        let mut pc = PeerConnection::new(PeerConfig::with_seed(seed)).unwrap();
        pc.add_local_address(addr.parse().unwrap()).unwrap();
        pc
    };
    let (mut a, mut b) = (peer(1, A), peer(2, B));
    // Created before the answer: the id assumes the usual active answerer (odd).
    let early = a
        .create_data_channel(now, "early", ChannelConfig::default())
        .unwrap();
    while a.poll_event().is_some() {}
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    while b.poll_event().is_some() {}
    let answer = b.create_answer(now).unwrap().to_string();
    let answer =
        kaon::sdp::SessionDescription::parse(&answer.replace("setup:active", "setup:passive"))
            .unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    // Now the offerer is the DTLS client: new ids are even, the answerer's odd.
    let late = a
        .create_data_channel(now, "late", ChannelConfig::default())
        .unwrap();
    let from_b = b
        .create_data_channel(now, "from-b", ChannelConfig::default())
        .unwrap();
    assert_eq!((late % 2, from_b % 2), (0, 1));
    let mut p = Pair {
        a,
        b,
        now,
        events_a: Vec::new(),
        events_b: Vec::new(),
    };
    assert!(p.run(Duration::from_secs(5), |p| p.opened(early)
        && p.opened(late)
        && p.opened(from_b)));
    let now = p.now;
    p.a.send_text(now, late, "over a passive answer").unwrap();
    assert!(p.run(Duration::from_secs(2), |p| {
        p.got_b(b"over a passive answer")
    }));
}

#[test]
fn negotiated_channels_skip_dcep_on_both_sides() {
    let (mut p, _) = connected();
    let now = p.now;
    let cfg = ChannelConfig {
        negotiated: Some(42),
        ..ChannelConfig::default()
    };
    assert_eq!(p.a.create_data_channel(now, "n", cfg.clone()).unwrap(), 42);
    assert_eq!(p.b.create_data_channel(now, "n", cfg).unwrap(), 42);
    p.a.send_text(now, 42, "negotiated").unwrap();
    assert!(p.run(Duration::from_secs(2), |p| p.got_b(b"negotiated")));
}

#[test]
fn ice_failure_fails_the_connection() {
    // Each side is told the other has no candidates at all.
    let now = Instant::now();
    let peer = |seed, addr: &str| {
        let mut pc = PeerConnection::new(PeerConfig::with_seed(seed)).unwrap();
        pc.add_local_address(addr.parse().unwrap()).unwrap();
        pc
    };
    // The descriptions go over with their candidate lines removed.
    let without_candidates = |d: SessionDescription| {
        let text: String = d
            .to_string()
            .lines()
            .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        SessionDescription::parse(&text).unwrap()
    };
    let (mut a, mut b) = (peer(1, A), peer(2, B));
    let offer = without_candidates(a.create_offer(now).unwrap());
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    b.add_ice_candidate(now, &IceCandidate::from_line("a=end-of-candidates"))
        .unwrap();
    let answer = without_candidates(b.create_answer(now).unwrap());
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    a.add_ice_candidate(now, &IceCandidate::end_of_candidates())
        .unwrap();
    // Drop the candidate events: nothing is trickled.
    let mut p = Pair {
        a,
        b,
        now,
        events_a: Vec::new(),
        events_b: Vec::new(),
    };
    assert!(p.run(Duration::from_secs(60), |p| {
        p.a.connection_state() == ConnectionState::Failed
            && p.b.connection_state() == ConnectionState::Failed
    }));
    assert!(
        p.events_a
            .contains(&PeerEvent::ConnectionStateChanged(ConnectionState::Failed))
    );
}
