//! Forwarding by reference (`write_rtp_bytes`, an SFU's fan-out) against copying
//! (`write_rtp`): two subscriber connections, made alike from the same seeds, are given the
//! same packets, one by each call, and lose the same datagrams on the way to their receivers.
//! Both receivers must get the same packets, byte for byte, those repaired through RTX
//! included, and both senders must answer the same NACKs with the same retransmissions.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kaon::dtls::Identity;
use kaon::peer::{
    ConnectionState, LocalTrack, MediaEngine, PeerConfig, PeerConnection, PeerEvent, SdpType,
    TrackKind,
};
use kaon::rtp::{RtpBuilder, RtpHeader, RtpPacket};
use kaon::{Datagram, Protocol, Transmit};

/// The video payload type of the default engine, and its RTX one.
const VIDEO_PT: u8 = 96;

/// A subscriber connection (sends video) and its receiver, connected, at `now`; the same
/// seeds give the same SSRCs, sequence numbers and payload types on every call.
fn subscriber(engine: &MediaEngine, now: Instant) -> (PeerConnection, PeerConnection, Instant) {
    let engine = std::sync::Arc::new(engine.clone());
    let peer = |seed, addr: &str| {
        let mut pc = PeerConnection::new(PeerConfig {
            identity: Some(Identity::generate().unwrap()),
            media: engine.clone(),
            ..PeerConfig::with_seed(seed)
        })
        .unwrap();
        pc.add_local_address(addr.parse().unwrap()).unwrap();
        pc.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
            .unwrap();
        pc
    };
    let mut s = peer(21, "192.0.2.1:5000");
    let mut r = peer(22, "192.0.2.2:5000");
    let offer = s.create_offer(now).unwrap();
    s.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    r.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = r.create_answer(now).unwrap();
    r.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    s.set_remote_description(SdpType::Answer, answer).unwrap();
    let mut t = now;
    let mut got = Vec::new();
    run(
        &mut s,
        &mut r,
        &mut t,
        now + Duration::from_secs(1),
        &mut got,
    );
    assert_eq!(s.connection_state(), kaon::peer::ConnectionState::Connected);
    (s, r, t)
}

/// Carries datagrams between sender `s` and receiver `r` until `until`, jumping to deadlines.
/// The first transmission of each video packet whose sequence number is a multiple of 7 is
/// lost (the RTP header is in the clear under SRTP; the first packet is never lost, as a
/// receiver cannot ask for what came before it); RTX packets and RTCP go through. The
/// receiver's RTP packets are appended to `got`.
fn run(
    s: &mut PeerConnection,
    r: &mut PeerConnection,
    now: &mut Instant,
    until: Instant,
    got: &mut Vec<Bytes>,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let mut moved = false;
        for from_s in [true, false] {
            let (from, to) = if from_s {
                (&mut *s, &mut *r)
            } else {
                (&mut *r, &mut *s)
            };
            while let Some(t) = from.poll_transmit(*now, &mut buf) {
                moved = true;
                let rtp = buf[0] >> 6 == 2 && !(192..=223).contains(&buf[1]);
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                if from_s && rtp && buf[1] & 0x7f == VIDEO_PT && seq.is_multiple_of(7) {
                    continue;
                }
                deliver(to, *now, t, &buf);
            }
        }
        while let Some(e) = r.poll_event() {
            if let PeerEvent::Rtp { packet, .. } = e {
                got.push(packet);
            }
        }
        while s.poll_event().is_some() {}
        if *now >= until {
            return;
        }
        if !moved {
            let next = [s.poll_timeout(), r.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until);
            *now = next.clamp(*now, until);
            s.handle_timeout(*now);
            r.handle_timeout(*now);
        }
    }
}

/// Hands `to` the datagram `t` that was written into `buf`.
fn deliver(to: &mut PeerConnection, now: Instant, t: Transmit, buf: &[u8]) {
    let d = Datagram {
        source: t.source,
        destination: t.destination,
        contents: &buf[..t.len],
    };
    to.handle_datagram(now, d);
}

/// Packets as an SFU receives them: slices of one receive buffer, each with a CSRC, an
/// extension and padding the forwarder does not keep.
fn received(count: u16) -> Vec<Bytes> {
    let mut chunk = BytesMut::with_capacity(64 * 1024);
    let mut out = Vec::new();
    for i in 0..count {
        let seq = 7001 + i;
        let payload: Vec<u8> = (0..200 + usize::from(i % 9) * 100)
            .map(|b| (b as u16 ^ seq) as u8)
            .collect();
        let ext = [(5, kaon::rtp::ExtensionValue::TransportCc(i))];
        let b = RtpBuilder::new(RtpHeader {
            marker: i % 3 == 2,
            payload_type: VIDEO_PT,
            sequence_number: seq,
            timestamp: 3000 * u32::from(i / 3),
            ssrc: 0x1234,
        })
        .csrcs(&[9])
        .extensions(&ext)
        .payload(&payload)
        .padding(4);
        if chunk.capacity() < b.len() {
            chunk = BytesMut::with_capacity(64 * 1024);
        }
        chunk.resize(b.len(), 0);
        b.write(&mut chunk[..]).unwrap();
        out.push(chunk.split().freeze());
    }
    out
}

fn forward_alike(engine: MediaEngine) {
    let t0 = Instant::now();
    let (mut copy, mut copy_sink, mut t_copy) = subscriber(&engine, t0);
    let (mut by_ref, mut by_ref_sink, mut t_ref) = subscriber(&engine, t0);
    assert_eq!(t_copy, t_ref);
    let packets = received(300);
    let (mut got_copy, mut got_ref) = (Vec::new(), Vec::new());
    for (n, group) in packets.chunks(10).enumerate() {
        for p in group {
            copy.write_rtp(t_copy, "0", p).unwrap();
            by_ref.write_rtp_bytes(t_ref, "0", p.clone()).unwrap();
        }
        let step = t0 + Duration::from_secs(1) + Duration::from_millis(20 * (n as u64 + 1));
        run(&mut copy, &mut copy_sink, &mut t_copy, step, &mut got_copy);
        run(
            &mut by_ref,
            &mut by_ref_sink,
            &mut t_ref,
            step,
            &mut got_ref,
        );
    }
    // Time for the last NACKs to be answered.
    let end = t_copy + Duration::from_secs(1);
    run(&mut copy, &mut copy_sink, &mut t_copy, end, &mut got_copy);
    run(&mut by_ref, &mut by_ref_sink, &mut t_ref, end, &mut got_ref);

    let seqs = |got: &[Bytes]| {
        let mut v: Vec<u16> = got
            .iter()
            .map(|p| RtpPacket::new_checked(&p[..]).unwrap().sequence_number())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    assert_eq!(seqs(&got_copy), (7001..7301).collect::<Vec<_>>(), "copying");
    assert_eq!(
        got_ref, got_copy,
        "the same packets, byte for byte, in the same order"
    );
    for p in &got_ref {
        let p = RtpPacket::new_checked(&p[..]).unwrap();
        let sent = &packets[usize::from(p.sequence_number() - 7001)];
        let sent = RtpPacket::new_checked(&sent[..]).unwrap();
        assert_eq!(p.payload(), sent.payload());
    }
    let (a, b) = (
        copy.transceivers()
            .next()
            .unwrap()
            .1
            .sender_stats()
            .unwrap(),
        by_ref
            .transceivers()
            .next()
            .unwrap()
            .1
            .sender_stats()
            .unwrap(),
    );
    // One in seven was lost and repaired through RTX, by both.
    assert!(a.retransmitted_packets_sent >= 300 / 7, "{a:?}");
    assert_eq!(a, b);
    let (a, b) = (copy.media_counters(), by_ref.media_counters());
    assert_eq!((a.rtp_sent, a.protect_failed), (b.rtp_sent, 0));
    assert_eq!(b.protect_failed, 0);
}

#[test]
fn forwarding_by_reference_delivers_and_repairs_what_copying_does_unpaced() {
    forward_alike(MediaEngine::default().without_twcc());
}

#[test]
fn forwarding_by_reference_delivers_and_repairs_what_copying_does_paced() {
    forward_alike(MediaEngine::default());
}

#[test]
fn forwarding_by_reference_refuses_what_write_rtp_refuses() {
    let engine = MediaEngine::default();
    let (mut s, _r, now) = subscriber(&engine, Instant::now());
    let p = &received(1)[0];
    // An unknown payload type, a malformed packet, an unknown mid: the same errors.
    let mut bad_pt = p.to_vec();
    bad_pt[1] = (bad_pt[1] & 0x80) | 55;
    let bad_pt = Bytes::from(bad_pt);
    let short = p.slice(..8);
    for (mid, packet) in [("0", bad_pt), ("0", short), ("9", p.clone())] {
        let copied = s.write_rtp(now, mid, &packet).unwrap_err();
        let shared = s.write_rtp_bytes(now, mid, packet).unwrap_err();
        assert_eq!(format!("{copied:?}"), format!("{shared:?}"));
    }
}

/// A forwarder's pattern: a packet written before every poll, and polling stopped at the first
/// RTP packet out, 2 ms apart for `secs` simulated seconds; the receiver's answers go back
/// after each (with `deaf`, they are dropped, and the sender is never given a timeout: it is
/// only written to and polled). `close_at` (seconds in) closes the sender there. Returns the binding requests
/// the sender sent, the RTP datagrams it sent after closing, whether the receiver saw
/// DTLS closed, and the datagrams other than STUN the receiver was given.
fn one_poll_per_packet(
    s: &mut PeerConnection,
    r: &mut PeerConnection,
    now: &mut Instant,
    secs: u64,
    close_at: Option<u64>,
    deaf: bool,
) -> (usize, usize, bool, u64) {
    let packets = received(64);
    let mut buf = vec![0u8; 2048];
    let (mut requests, mut rtp_after_close, mut peer_closed) = (0, 0, false);
    let mut secure_to_r = 0;
    let end = *now + Duration::from_secs(secs);
    let close_at = close_at.map(|c| *now + Duration::from_secs(c));
    let mut i = 0;
    while *now < end {
        if close_at.is_some_and(|c| *now >= c) && s.connection_state() != ConnectionState::Closed {
            s.close(*now);
        }
        let closed = s.connection_state() == ConnectionState::Closed;
        if !closed {
            s.write_rtp_bytes(*now, "0", packets[i % packets.len()].clone())
                .unwrap();
            i += 1;
        }
        while let Some(t) = s.poll_transmit(*now, &mut buf) {
            let rtp = buf[0] >> 6 == 2 && !(192..=223).contains(&buf[1]);
            requests += usize::from(buf[..2] == [0, 1]);
            rtp_after_close += usize::from(closed && rtp);
            secure_to_r += u64::from(buf[0] > 3);
            deliver(r, *now, t, &buf);
            if rtp {
                break;
            }
        }
        while let Some(t) = r.poll_transmit(*now, &mut buf) {
            if deaf {
                continue;
            }
            deliver(s, *now, t, &buf);
        }
        while let Some(e) = r.poll_event() {
            peer_closed |= matches!(e, PeerEvent::DtlsClosed);
        }
        while s.poll_event().is_some() {}
        *now += Duration::from_millis(2);
        for (i, pc) in [&mut *s, &mut *r].into_iter().enumerate() {
            if (i == 1 || !deaf) && pc.poll_timeout().is_some_and(|t| t <= *now) {
                pc.handle_timeout(*now);
            }
        }
    }
    (requests, rtp_after_close, peer_closed, secure_to_r)
}

/// Every poll finds a media packet waiting, and the caller stops at it: what goes ahead of
/// media (ICE consent checks, RFC 7675, every 4 to 6 s) still leaves on time, so after 40 s
/// the connection holds.
#[test]
fn consent_checks_keep_their_schedule_while_every_poll_finds_media() {
    for engine in [
        MediaEngine::default().without_twcc(),
        MediaEngine::default(),
    ] {
        let (mut s, mut r, mut now) = subscriber(&engine, Instant::now());
        let received_before = r.get_stats(now).transport.counters;
        let (requests, _, _, secure_to_r) =
            one_poll_per_packet(&mut s, &mut r, &mut now, 40, None, false);
        assert!(requests >= 6, "{requests} binding requests in 40 s");
        assert_eq!(s.connection_state(), ConnectionState::Connected);
        assert_eq!(r.connection_state(), ConnectionState::Connected);
        // The receiver polls after every datagram, so media mostly finds it quiet: what
        // arrived counts all the same, on the transport and on the pair, mid-stream.
        let report = r.get_stats(now);
        let got = report.transport.counters;
        assert_eq!(
            got.packets_received - received_before.packets_received,
            secure_to_r
        );
        let pairs: u64 = (report.candidate_pairs.iter())
            .map(|p| p.counters.bytes_received)
            .sum();
        assert_eq!(pairs, got.bytes_received);
        // What leaves while nothing else is due is counted like the rest, per pair too.
        let mut buf = vec![0u8; 2048];
        for p in received(3) {
            s.write_rtp_bytes(now, "0", p).unwrap();
            while s.poll_transmit(now, &mut buf).is_some() {}
        }
        let stats = s.stats();
        assert!(stats.datagrams_sent > 19_000, "{stats:?}");
        let report = s.get_stats(now);
        let pairs: u64 = (report.candidate_pairs.iter())
            .map(|p| p.counters.packets_sent)
            .sum();
        assert_eq!(report.transport.counters.packets_sent, stats.datagrams_sent);
        assert_eq!(pairs, stats.datagrams_sent);
    }
}

/// A sender that is only written to and polled (no datagram in, no timeout given): the
/// consent checks fall due while every poll finds media, and still go out, ahead of it.
#[test]
fn consent_checks_fall_due_for_a_sender_only_written_and_polled() {
    let (mut s, mut r, mut now) = subscriber(&MediaEngine::default(), Instant::now());
    let (requests, _, _, _) = one_poll_per_packet(&mut s, &mut r, &mut now, 12, None, true);
    assert!(requests >= 2, "{requests} binding requests in 12 s");
}

/// Closing in the middle of a stream written a packet per poll: nothing more leaves as RTP,
/// and the receiver sees DTLS closed.
#[test]
fn closing_mid_stream_stops_media_at_once() {
    let (mut s, mut r, mut now) = subscriber(&MediaEngine::default(), Instant::now());
    let (_, after, peer_closed, _) =
        one_poll_per_packet(&mut s, &mut r, &mut now, 3, Some(1), false);
    assert_eq!(after, 0, "RTP sent after close");
    assert_eq!(s.connection_state(), ConnectionState::Closed);
    assert!(peer_closed, "the receiver saw no close_notify");
}
