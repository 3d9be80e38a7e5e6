//! Media through a whole PeerConnection pair, counted by the allocator: RTP written with
//! `write_rtp`, protected, carried, unprotected, demultiplexed and handed out as events, with
//! the streams' NACK/SR/RR and TWCC bookkeeping underneath: where the allocator is called in
//! the steady state (receiving and handing out: never, when the application drops its
//! packets; one receive chunk per chunk's worth of packets it holds on to); and what a
//! connected, idle audio + video connection keeps on the heap, before any media and after
//! some. Datagrams are told apart by their first byte (RFC 7983), so ICE's consent checks
//! are counted as STUN, not as media; answering them allocates nothing either.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::dtls::Identity;
use kaon::peer::{MediaEngine, PeerConnection, PeerEvent};
use kaon::{Datagram, Protocol};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "support/media_pair.rs"]
mod media_pair;
use media_pair::{av_peer, negotiate, packet};

/// Allocations counted by where they happened.
#[derive(Debug, Default, Clone, Copy)]
struct Where {
    /// `write_rtp`.
    write: usize,
    /// `poll_transmit` of every datagram.
    transmit: usize,
    /// `handle_datagram` of an RTP datagram.
    rtp_in: usize,
    /// `handle_datagram` of a STUN datagram (ICE consent checks and their answers).
    stun_in: usize,
    /// `handle_datagram` of an RTCP datagram (reports, NACK, TWCC feedback parsed).
    rtcp_in: usize,
    /// `poll_event`.
    events: usize,
    /// `handle_timeout` (reports and TWCC feedback built).
    timers: usize,
    /// STUN datagrams handled (not allocations): consent checks and their answers.
    stun_datagrams: usize,
}

/// Carries datagrams between the two until `until`, jumping to deadlines; counts RTP events
/// and allocations by place. Received packets are dropped at once, or kept in `held`.
fn run(
    a: &mut PeerConnection,
    b: &mut PeerConnection,
    now: &mut Instant,
    until: Instant,
    w: &mut Where,
    mut held: Option<&mut Vec<Bytes>>,
) -> u64 {
    let mut buf = vec![0u8; 2048];
    let mut rtp = 0;
    loop {
        let mut moved = false;
        for from_a in [true, false] {
            let (from, to) = if from_a {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            loop {
                let x = allocations();
                let Some(t) = from.poll_transmit(*now, &mut buf) else {
                    break;
                };
                w.transmit += allocations() - x;
                moved = true;
                // RFC 7983: 128..=191 is RTP or RTCP (RFC 5761 §4 by the second byte);
                // 0..=3 is STUN.
                let media = (128..=191).contains(&buf[0]);
                let rtcp = media && (192..=223).contains(&buf[1]);
                let x = allocations();
                to.handle_datagram(
                    *now,
                    Datagram {
                        source: t.source,
                        destination: t.destination,
                        contents: &buf[..t.len],
                    },
                );
                let n = allocations() - x;
                if !media {
                    w.stun_in += n;
                    w.stun_datagrams += 1;
                } else if rtcp {
                    w.rtcp_in += n;
                } else {
                    w.rtp_in += n;
                }
            }
        }
        for pc in [&mut *a, &mut *b] {
            loop {
                let x = allocations();
                let Some(e) = pc.poll_event() else { break };
                w.events += allocations() - x;
                if let PeerEvent::Rtp { packet, .. } = e {
                    rtp += 1;
                    match held.as_deref_mut() {
                        Some(held) => held.push(packet),
                        None => drop(packet),
                    }
                }
            }
        }
        if *now >= until {
            return rtp;
        }
        if !moved {
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until);
            *now = next.clamp(*now, until);
            let x = allocations();
            a.handle_timeout(*now);
            b.handle_timeout(*now);
            w.timers += allocations() - x;
        }
    }
}

/// Two peers sending audio and video to each other, connected, at `now`.
fn connected() -> (PeerConnection, PeerConnection, Instant) {
    connected_with(MediaEngine::default())
}

/// [`connected`] with the codecs and feedback of `engine`.
fn connected_with(engine: MediaEngine) -> (PeerConnection, PeerConnection, Instant) {
    let engine = std::sync::Arc::new(engine);
    let (ida, idb) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut now = Instant::now();
    let mut a = av_peer(1, &ida, &engine, "192.0.2.1:5000", now);
    let mut b = av_peer(2, &idb, &engine, "192.0.2.2:5000", now);
    negotiate(&mut a, &mut b, now);
    let t0 = now;
    run(
        &mut a,
        &mut b,
        &mut now,
        t0 + Duration::from_secs(1),
        &mut Where::default(),
        None,
    );
    assert_eq!(a.connection_state(), kaon::peer::ConnectionState::Connected);
    (a, b, now)
}

/// 30 video and 50 audio packets a second both ways for `secs`.
fn media(
    a: &mut PeerConnection,
    b: &mut PeerConnection,
    now: &mut Instant,
    from: u16,
    secs: u16,
    w: &mut Where,
    mut held: Option<&mut Vec<Bytes>>,
) -> u64 {
    let mut buf = [0u8; 1500];
    let mut got = 0;
    for i in from..from + secs * 50 {
        for pc in [&mut *a, &mut *b] {
            let n = packet(&mut buf, 111, i, 80);
            let x = allocations();
            pc.write_rtp(*now, "0", &buf[..n]).unwrap();
            w.write += allocations() - x;
            if i % 5 < 3 {
                let n = packet(&mut buf, 96, i, 1100);
                let x = allocations();
                pc.write_rtp(*now, "1", &buf[..n]).unwrap();
                w.write += allocations() - x;
            }
        }
        let step = *now + Duration::from_millis(20);
        got += run(a, b, now, step, w, held.as_deref_mut());
    }
    got
}

#[test]
fn media_through_the_whole_connection_allocates_nothing_per_received_packet() {
    let (mut a, mut b, mut now) = connected();
    // Warm up: streams, histories, buffer pools and the decrypt chunk reach their size.
    media(&mut a, &mut b, &mut now, 0, 3, &mut Where::default(), None);
    let mut w = Where::default();
    let got = media(&mut a, &mut b, &mut now, 150, 5, &mut w, None);
    let per = |n: usize| n as f64 / got as f64;
    eprintln!(
        "{got} RTP packets in 5 s both ways (audio + video, TWCC feedback every 50 ms, reports): \
         allocations per packet: write_rtp {:.3}, poll_transmit {:.3}, RTP in {}, events \
         {}; per 5 s: RTCP in {}, STUN in {} and timers {} (TWCC feedback and reports built \
         and parsed, consent checks answered)",
        per(w.write),
        per(w.transmit),
        w.rtp_in,
        w.events,
        w.rtcp_in,
        w.stun_in,
        w.timers
    );
    assert_eq!(got, 800, "every packet arrived");
    // Receiving (unprotect, demux, stream and TWCC bookkeeping) and handing out: nothing at
    // all once warm, receive chunks being recycled.
    assert_eq!(w.rtp_in, 0, "receiving RTP allocates nothing: {w:?}");
    assert_eq!(w.events, 0, "handing packets out allocates nothing: {w:?}");
    // ICE consent (RFC 7675): the checks both ways were answered, and answering (and taking
    // the answers) allocated nothing.
    assert!(w.stun_datagrams >= 2, "{w:?}");
    assert_eq!(
        w.stun_in, 0,
        "answering consent checks allocates nothing: {w:?}"
    );
    // The send side's buffer pools may still grow by one now and then.
    assert!(per(w.write) < 0.01 && per(w.transmit) < 0.01, "{w:?}");
}

#[test]
fn receive_chunks_are_recycled_when_the_application_drops_its_packets() {
    let (mut a, mut b, mut now) = connected();
    media(&mut a, &mut b, &mut now, 0, 3, &mut Where::default(), None);
    let mut w = Where::default();
    // 30 s both ways: about 36 receive chunks' worth of video and audio, all recycled.
    let got = media(&mut a, &mut b, &mut now, 150, 30, &mut w, None);
    eprintln!(
        "{got} RTP packets in 30 s both ways: allocations in handle_datagram of RTP {} ({:.4} \
         per packet), in poll_event {}",
        w.rtp_in,
        w.rtp_in as f64 / got as f64,
        w.events
    );
    assert_eq!(got, 4800, "every packet arrived");
    assert_eq!(w.events, 0, "{w:?}");
    // No chunk is allocated (that alone would be 36), nor anything else.
    assert_eq!(w.rtp_in, 0, "{w:?}");
}

#[test]
fn held_packets_keep_their_chunks_and_reuse_resumes_once_they_are_dropped() {
    let (mut a, mut b, mut now) = connected();
    media(&mut a, &mut b, &mut now, 0, 3, &mut Where::default(), None);
    let mut base = Where::default();
    media(&mut a, &mut b, &mut now, 150, 5, &mut base, None);
    // The application keeps every packet for 5 s: each 64 KiB chunk it fills stays alive, so
    // new ones are allocated, about one per 64 KiB received, on top of the same run's
    // allocations with packets dropped.
    let mut held = Vec::new();
    let mut w = Where::default();
    let got = media(&mut a, &mut b, &mut now, 400, 5, &mut w, Some(&mut held));
    let bytes: usize = held.iter().map(Bytes::len).sum();
    let chunks = bytes / (64 * 1024);
    let extra = w.rtp_in.saturating_sub(base.rtp_in);
    eprintln!(
        "{got} RTP packets ({bytes} B) held for 5 s: {} allocations in handle_datagram of RTP, \
         {} when dropped ({chunks} chunks' worth of bytes)",
        w.rtp_in, base.rtp_in
    );
    assert_eq!(got, 800);
    assert!(extra <= chunks + 4, "{w:?} vs {base:?}");
    assert!(w.rtp_in >= chunks, "{w:?}");
    // Dropped: the pool takes chunks back and receiving allocates as before.
    drop(held);
    media(
        &mut a,
        &mut b,
        &mut now,
        650,
        1,
        &mut Where::default(),
        None,
    );
    let mut after = Where::default();
    media(&mut a, &mut b, &mut now, 700, 5, &mut after, None);
    assert_eq!(after.rtp_in, 0, "{after:?} vs {base:?}");
}

/// Unpaced (no congestion control negotiated), bursts of video as long as the queue allows,
/// of varied sizes, written before any is polled, leave whole and in order, round after round
/// as the RTX history's ring wraps over what was sent before.
#[test]
fn unpaced_bursts_leave_whole_and_in_order() {
    let (mut a, mut b, mut now) = connected_with(MediaEngine::default().without_twcc());
    let mut buf = [0u8; 1500];
    let mut out = vec![0u8; 2048];
    for round in 0..3u16 {
        let from = 1000 + round * 1000;
        for seq in from..from + 1000 {
            let n = packet(&mut buf, 96, seq, usize::from(seq % 1100));
            a.write_rtp(now, "1", &buf[..n]).unwrap();
        }
        let mut got = Vec::new();
        while let Some(t) = a.poll_transmit(now, &mut out) {
            let d = Datagram {
                source: t.source,
                destination: t.destination,
                contents: &out[..t.len],
            };
            b.handle_datagram(now, d);
            while let Some(e) = b.poll_event() {
                if let PeerEvent::Rtp { packet, .. } = e {
                    let p = kaon::rtp::RtpPacket::new_checked(&packet[..]).unwrap();
                    let seq = p.sequence_number();
                    assert_eq!(p.payload(), &[0x5a; 1100][..usize::from(seq % 1100)]);
                    got.push(seq);
                }
            }
        }
        assert_eq!(
            got,
            (from..from + 1000).collect::<Vec<_>>(),
            "round {round}"
        );
        now += Duration::from_millis(20);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    let m = a.media_counters();
    assert_eq!((m.protect_failed, m.pacer_dropped), (0, 0));
}

#[test]
fn a_connected_idle_audio_video_peer_is_small() {
    let (mut a, mut b, mut now) = connected();
    media(&mut a, &mut b, &mut now, 0, 1, &mut Where::default(), None);
    // Idle long enough for reports and consent to settle, and for the RTX histories to age
    // out (3 s at this round-trip time) and give their memory back.
    let until = now + Duration::from_secs(30);
    run(&mut a, &mut b, &mut now, until, &mut Where::default(), None);
    let before = live_bytes();
    drop(a);
    let each = before - live_bytes() + std::mem::size_of::<PeerConnection>() as isize;
    eprintln!(
        "connected audio + video PeerConnection after 1 s of media, then 30 s idle: {each} B \
         (heap + struct; the RTX histories have emptied)"
    );
    assert!(each < 1024 * 1024, "{each} B");
}

#[test]
fn a_connected_audio_video_peer_sending_media_is_bounded() {
    let (mut a, mut b, mut now) = connected();
    media(&mut a, &mut b, &mut now, 0, 1, &mut Where::default(), None);
    let before = live_bytes();
    drop(a);
    let each = before - live_bytes() + std::mem::size_of::<PeerConnection>() as isize;
    eprintln!(
        "connected audio + video PeerConnection right after 1 s of media: {each} B (heap + \
         struct; the RTX histories hold what was sent)"
    );
    assert!(each < 1024 * 1024, "{each} B");
}

#[test]
fn a_connected_audio_video_peer_before_any_media_is_small() {
    let (mut a, mut b, mut now) = connected();
    // Connected and negotiated, no RTP yet: consent checks and nothing else run.
    let until = now + Duration::from_secs(30);
    run(&mut a, &mut b, &mut now, until, &mut Where::default(), None);
    assert_eq!(a.media_counters().rtp_sent, 0, "no media yet");
    let before = live_bytes();
    drop(a);
    let each = before - live_bytes() + std::mem::size_of::<PeerConnection>() as isize;
    eprintln!(
        "connected audio + video PeerConnection before any media, idle: {each} B (heap + struct)"
    );
    assert!(each < 256 * 1024, "{each} B");
}

/// An SFU's path: `a` publishes video to `b`; every packet `b` hands out is forwarded to
/// subscriber connection `c` (sinks `d`), with `write_rtp_bytes` or, with `copy`, with
/// `write_rtp`; `per_step` video packets every 20 ms for `secs`. Counts the allocations of
/// the forwarding calls and of the subscriber's side in `w`; returns the packets `d` got.
/// The packets are also kept in `others`, as other subscribers' histories would keep them.
#[allow(clippy::too_many_arguments)]
fn forward(
    (a, b): (&mut PeerConnection, &mut PeerConnection),
    (c, d): (&mut PeerConnection, &mut PeerConnection),
    (now, sub_now): (&mut Instant, &mut Instant),
    from: u16,
    secs: u16,
    per_step: u16,
    copy: bool,
    w: &mut Where,
    others: &mut Vec<Bytes>,
) -> u64 {
    let mut buf = [0u8; 1500];
    let mut got = 0;
    let mut received = Vec::with_capacity(64);
    for i in 0..secs * 50 {
        for k in 0..per_step {
            let n = packet(&mut buf, 96, from + i * per_step + k, 1100);
            a.write_rtp(*now, "1", &buf[..n]).unwrap();
        }
        let step = *now + Duration::from_millis(20);
        run(a, b, now, step, &mut Where::default(), Some(&mut received));
        for p in received.drain(..) {
            others.push(p.clone());
            let x = allocations();
            if copy {
                c.write_rtp(*sub_now, "1", &p).unwrap();
            } else {
                c.write_rtp_bytes(*sub_now, "1", p).unwrap();
            }
            w.write += allocations() - x;
        }
        got += run(c, d, sub_now, step, w, None);
    }
    got
}

#[test]
fn forwarding_by_reference_allocates_nothing_per_packet() {
    let (mut a, mut b, mut now) = connected();
    let (mut c, mut d, mut sub_now) = connected();
    let (pubs, subs) = ((&mut a, &mut b), (&mut c, &mut d));
    sub_now = sub_now.max(now);
    now = sub_now;
    let clocks = (&mut now, &mut sub_now);
    // Warm up: the streams, histories, buffer pools and receive chunks reach their size.
    let mut others = Vec::new();
    forward(
        pubs,
        subs,
        clocks,
        0,
        3,
        2,
        false,
        &mut Where::default(),
        &mut others,
    );
    others.clear();
    let (pubs, subs, clocks) = ((&mut a, &mut b), (&mut c, &mut d), (&mut now, &mut sub_now));
    let mut w = Where::default();
    let got = forward(pubs, subs, clocks, 300, 5, 2, false, &mut w, &mut others);
    eprintln!(
        "{got} video packets forwarded by reference in 5 s: allocations write_rtp_bytes {}, \
         subscriber's poll_transmit {}, its receiver's RTP in {} (per 5 s; TWCC feedback and \
         reports: RTCP in {}, timers {})",
        w.write, w.transmit, w.rtp_in, w.rtcp_in, w.timers
    );
    assert_eq!(got, 500, "every packet was forwarded");
    assert_eq!(w.write, 0, "forwarding allocates nothing: {w:?}");
    assert_eq!(w.rtp_in, 0, "{w:?}");
    assert!(w.transmit as f64 / (got as f64) < 0.01, "{w:?}");
}

/// What one more subscriber costs in memory: a subscriber connection whose video RTX history
/// is full (1,024 packets of 1,100 bytes, forwarded in under a second), copying and by
/// reference. By reference, the payloads are the publisher's receive chunks, held by the
/// history and shared with every other subscriber's, and are not the subscriber's own.
#[test]
fn a_subscriber_forwarded_to_by_reference_holds_headers_not_payloads() {
    let engine = || MediaEngine::default().without_twcc();
    let mut each = [0isize; 2];
    for (copy, each) in [true, false].into_iter().zip(&mut each) {
        let (mut a, mut b, mut now) = connected_with(engine());
        let (mut c, mut d, mut sub_now) = connected_with(engine());
        sub_now = sub_now.max(now);
        now = sub_now;
        let (pubs, subs) = ((&mut a, &mut b), (&mut c, &mut d));
        let clocks = (&mut now, &mut sub_now);
        let mut others = Vec::new();
        let w = &mut Where::default();
        let got = forward(pubs, subs, clocks, 0, 1, 30, copy, w, &mut others);
        assert_eq!(got, 1500);
        let before = live_bytes();
        drop(c);
        *each = before - live_bytes() + std::mem::size_of::<PeerConnection>() as isize;
    }
    let [copied, shared] = each;
    eprintln!(
        "a subscriber connection with a full video RTX history (1,024 packets of 1,100 B): \
         {copied} B copying, {shared} B forwarding by reference (heap + struct; the payloads \
         stay in the publisher's receive chunks, shared by every subscriber)"
    );
    // The whole connection (audio and video, queues, pools) against the copies of 1,024
    // payloads: by reference, a history holds about 120 KiB of tables and headers.
    assert!(shared < 320 * 1024, "{shared} B");
    assert!(copied - shared > 1024 * 1000, "{copied} B vs {shared} B");
}
