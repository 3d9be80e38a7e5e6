//! FORWARD-TSN is bounded, and an association that stops moving says so (RFC 3758 §3.6,
//! RFC 9260 §6.2.1 and §8.1): a forged or buggy FORWARD-TSN can neither freeze a channel in
//! silence nor make every later message vanish.

use kaon::sctp::chunk::{Chunk, ForwardTsn, cause};
use kaon::sctp::packet::{Header, Packet, PacketWriter};
use kaon::sctp::{Association, CloseReason, Config, Event, SendOptions};
use std::time::{Duration, Instant};

struct Pair {
    a: Association,
    b: Association,
    /// The tag `b` expects on packets from `a`.
    b_tag: u32,
    now: Instant,
}

impl Pair {
    fn connected() -> Self {
        let now = Instant::now();
        let cfg = |seed| Config {
            seed: Some(seed),
            ..Config::default()
        };
        let mut p = Pair {
            a: Association::new(cfg(11)),
            b: Association::new(cfg(12)),
            b_tag: 0,
            now,
        };
        p.a.connect(now);
        p.b.connect(now);
        p.shuttle();
        assert!(p.a.is_established() && p.b.is_established());
        while p.a.poll_event().is_some() {}
        while p.b.poll_event().is_some() {}
        p
    }

    /// Delivers packets both ways until both sides are quiet; returns the TSNs of the DATA
    /// chunks `a` sent.
    fn shuttle(&mut self) -> Vec<u32> {
        let mut buf = [0u8; 1500];
        let mut tsns = Vec::new();
        for _ in 0..50 {
            let mut moved = false;
            while let Some(n) = self.a.poll_packet(self.now, &mut buf) {
                self.b_tag = u32::from_be_bytes(buf[4..8].try_into().unwrap());
                tsns.extend(data_tsns(&buf[..n]));
                self.b.handle_packet(self.now, &buf[..n]);
                moved = true;
            }
            while let Some(n) = self.b.poll_packet(self.now, &mut buf) {
                self.a.handle_packet(self.now, &buf[..n]);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        tsns
    }

    /// A FORWARD-TSN (or I-FORWARD-TSN, as negotiated) that looks as if `a` sent it.
    fn forged_forward_tsn(&self, new_cum_tsn: u32) -> Vec<u8> {
        let f = ForwardTsn {
            new_cum_tsn,
            streams: Default::default(),
        };
        let chunk = if self.a.interleaving() {
            Chunk::IForwardTsn(f)
        } else {
            Chunk::ForwardTsn(f)
        };
        let mut pkt = vec![0u8; 1200];
        let mut pw = PacketWriter::new(
            &mut pkt,
            Header {
                src_port: 5000,
                dst_port: 5000,
                vtag: self.b_tag,
            },
        )
        .unwrap();
        assert!(pw.push(&chunk));
        let n = pw.finish(false);
        pkt.truncate(n);
        pkt
    }

    fn messages_at_b(&mut self) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while let Some(e) = self.b.poll_event() {
            if let Event::Message(m) = e {
                got.push(m.data.to_vec());
            }
        }
        got
    }
}

fn data_tsns(pkt: &[u8]) -> Vec<u32> {
    let Ok(p) = Packet::parse(pkt) else {
        return Vec::new();
    };
    p.chunks()
        .filter_map(|c| match c {
            Ok(Chunk::Data(d) | Chunk::IData(d)) => Some(d.tsn),
            _ => None,
        })
        .collect()
}

fn closed(a: &mut Association) -> Option<CloseReason> {
    let mut reason = None;
    while let Some(e) = a.poll_event() {
        if let Event::Closed(r) = e {
            reason = Some(r);
        }
    }
    reason
}

#[test]
fn forged_forward_tsn_far_ahead_is_refused() {
    let mut p = Pair::connected();
    let now = p.now;
    p.a.send(now, 0, 51, &b"first"[..], SendOptions::default())
        .unwrap();
    let tsns = p.shuttle();
    assert_eq!(p.messages_at_b(), vec![b"first".to_vec()]);
    let last = *tsns.last().unwrap();

    // A million TSNs ahead: further than any DATA `b` would accept.
    let forged = p.forged_forward_tsn(last.wrapping_add(1_000_000));
    p.b.handle_packet(now, &forged);
    assert_eq!(p.b.stats().forward_tsns_refused, 1);

    // Every later message still arrives, and nothing was torn down.
    for i in 0..20u8 {
        p.a.send(now, 0, 53, vec![i; 100], SendOptions::default())
            .unwrap();
        p.shuttle();
    }
    let got = p.messages_at_b();
    assert_eq!(
        got.len(),
        20,
        "no message lost after the forged FORWARD-TSN"
    );
    assert!(p.a.is_established() && p.b.is_established());
}

#[test]
fn sack_for_tsns_never_sent_aborts_with_protocol_violation() {
    // A FORWARD-TSN within reach but past what `a` sent moves `b`'s cumulative TSN (it
    // cannot tell); `b`'s SACK then acknowledges TSNs `a` never sent. `a` must not wait for
    // ever: it aborts, and both sides report why.
    let mut p = Pair::connected();
    let now = p.now;
    p.a.send(now, 0, 51, &b"first"[..], SendOptions::default())
        .unwrap();
    let last = *p.shuttle().last().unwrap();
    while p.b.poll_event().is_some() {}

    let forged = p.forged_forward_tsn(last.wrapping_add(1000));
    p.b.handle_packet(now, &forged);
    assert_eq!(p.b.stats().forward_tsns_refused, 0, "within reach: taken");
    p.shuttle();
    assert_eq!(
        closed(&mut p.a),
        Some(CloseReason::ProtocolViolation(cause::PROTOCOL_VIOLATION))
    );
    assert_eq!(
        closed(&mut p.b),
        Some(CloseReason::AbortedByPeer(Some(cause::PROTOCOL_VIOLATION)))
    );
}

#[test]
fn a_peer_that_keeps_resending_acknowledged_data_is_reported_stalled() {
    // `b` acknowledged the message, but `a` keeps sending it again, as a peer does that
    // never hears our SACKs or counts TSNs differently. After more such packets in a row
    // than a sender may retransmit (Association.Max.Retrans), `b` reports the stall and
    // aborts instead of staying silently "open".
    let mut p = Pair::connected();
    let max = p.b.config().max_retransmits;
    let mut buf = [0u8; 1500];
    p.a.send(p.now, 0, 51, &b"hello"[..], SendOptions::default())
        .unwrap();
    let n = p.a.poll_packet(p.now, &mut buf).unwrap();
    let data = buf[..n].to_vec();
    assert!(!data_tsns(&data).is_empty());
    p.b.handle_packet(p.now, &data);
    assert_eq!(p.messages_at_b(), vec![b"hello".to_vec()]);
    // One every 4 s: a stall needs the run to last 30 s too (a lost-SACK burst does not).
    for _ in 0..max {
        p.now += Duration::from_secs(4);
        p.b.handle_packet(p.now, &data);
        assert!(p.b.is_established());
        while p.b.poll_packet(p.now, &mut buf).is_some() {}
    }
    assert_eq!(
        closed(&mut p.b),
        None,
        "{max} duplicates are still within the rules"
    );
    p.b.handle_packet(p.now, &data);
    assert_eq!(closed(&mut p.b), Some(CloseReason::Stalled));
    // The peer hears about it too.
    let n = p.b.poll_packet(p.now, &mut buf).expect("an ABORT");
    p.a.handle_packet(p.now, &buf[..n]);
    assert_eq!(
        closed(&mut p.a),
        Some(CloseReason::AbortedByPeer(Some(cause::PROTOCOL_VIOLATION)))
    );
}

#[test]
fn a_few_spurious_retransmissions_are_not_a_stall() {
    // Resending what `b` has, then new data: an ordinary lost-SACK episode.
    let mut p = Pair::connected();
    let mut buf = [0u8; 1500];
    for round in 0..5u8 {
        p.a.send(p.now, 0, 53, vec![round; 10], SendOptions::default())
            .unwrap();
        let mut pkts = Vec::new();
        while let Some(n) = p.a.poll_packet(p.now, &mut buf) {
            pkts.push(buf[..n].to_vec());
        }
        for _ in 0..3 {
            for pkt in &pkts {
                p.b.handle_packet(p.now, pkt);
            }
        }
        p.shuttle();
    }
    assert_eq!(p.messages_at_b().len(), 5);
    assert!(p.b.is_established());
    assert!(p.b.stats().duplicates_received >= 10);
}

#[test]
fn a_stalled_association_closes_every_data_channel_and_says_why() {
    use kaon::datachannel::{self, ChannelConfig, DataChannels, Role};
    let now = Instant::now();
    let cfg = |seed, role| {
        let mut c = datachannel::Config::new(role);
        c.sctp.seed = Some(seed);
        c
    };
    let mut a = DataChannels::new(cfg(1, Role::Client));
    let mut b = DataChannels::new(cfg(2, Role::Server));
    a.connect(now);
    b.connect(now);
    let id = a
        .create_channel(now, ChannelConfig::labelled("chat"))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut opened = false;
    for _ in 0..8 {
        while let Some(n) = a.poll_packet(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
        }
        while let Some(n) = b.poll_packet(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
        }
        while a.poll_event().is_some() {}
        while let Some(e) = b.poll_event() {
            opened |= matches!(e, datachannel::Event::ChannelOpen { .. });
        }
    }
    assert!(opened);
    a.send_text(now, id, "hello").unwrap();
    let n = a.poll_packet(now, &mut buf).unwrap();
    let data = buf[..n].to_vec();
    let max = b.association().config().max_retransmits;
    // The same DATA again and again for minutes: our SACKs never reach the peer.
    let mut t = now;
    for _ in 0..=max + 1 {
        t += Duration::from_secs(4);
        b.handle_packet(t, &data);
        while b.poll_packet(t, &mut buf).is_some() {}
    }
    let events: Vec<_> = std::iter::from_fn(|| b.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, datachannel::Event::ChannelClosed(c) if *c == id)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| *e == datachannel::Event::Closed(CloseReason::Stalled)),
        "{events:?}"
    );
}

#[test]
fn a_burst_of_duplicates_after_lost_sacks_is_not_a_stall() {
    // A sender that missed our SACKs resends its whole window at once: far more duplicate
    // packets in a row than Association.Max.Retrans, all within a moment.
    let mut p = Pair::connected();
    let max = p.b.config().max_retransmits;
    let mut buf = [0u8; 1500];
    p.a.send(p.now, 0, 51, &b"hello"[..], SendOptions::default())
        .unwrap();
    let n = p.a.poll_packet(p.now, &mut buf).unwrap();
    let data = buf[..n].to_vec();
    for _ in 0..=3 * max {
        p.now += Duration::from_millis(5);
        p.b.handle_packet(p.now, &data);
        while p.b.poll_packet(p.now, &mut buf).is_some() {}
    }
    assert_eq!(closed(&mut p.b), None);
    assert!(p.b.is_established());
}
