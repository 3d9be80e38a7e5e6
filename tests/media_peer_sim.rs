//! Two kaon PeerConnections with audio and video in the simulator: negotiation of m-lines,
//! RTP both ways through SRTP, Track events, keyframe requests, renegotiation that adds and
//! stops tracks.
#![cfg(feature = "sim")]

mod peer_support;

use kaon::peer::{
    ConnectionState, Direction, KeyframeKind, LocalTrack, PeerEvent, SdpType, TrackKind,
};
use kaon::rtp::{RtpBuilder, RtpHeader, RtpPacket};
use kaon::sdp::SessionDescription;
use kaon::sim::{Direction as SimDirection, LinkConfig};
use std::time::Duration;

use peer_support::{MS, Pair, SEC};

fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let b = RtpBuilder::new(RtpHeader {
        marker: true,
        payload_type: pt,
        sequence_number: seq,
        timestamp: ts,
        ssrc: 0x1234,
    })
    .payload(payload);
    let mut buf = vec![0; b.len()];
    b.write(&mut buf).unwrap();
    buf
}

/// RTP packets `a_side` received on `mid`, as (seq, payload).
fn received(p: &Pair, a_side: bool, mid: &str) -> Vec<(u16, Vec<u8>)> {
    p.log(a_side)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Rtp { mid: m, packet } if *m == mid => {
                let pkt = RtpPacket::new_checked(&packet[..]).unwrap();
                Some((pkt.sequence_number(), pkt.payload().to_vec()))
            }
            _ => None,
        })
        .collect()
}

fn connected(p: &Pair) -> bool {
    p.state(true) == ConnectionState::Connected && p.state(false) == ConnectionState::Connected
}

fn av_pair(seed: u64) -> (Pair, String, String) {
    let mut p = Pair::lan(seed, 10 * MS, 0.0);
    let now = p.now();
    let a = p.pc(true);
    a.add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"]))
        .unwrap();
    a.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    let offer = p.pc(true).create_offer(now).unwrap();
    p.pc(true)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let offer = offer.to_string();
    p.pc(false)
        .set_remote_description(SdpType::Offer, SessionDescription::parse(&offer).unwrap())
        .unwrap();
    // b answers with tracks of its own: add_track takes the transceivers the offer made.
    let b = p.pc(false);
    let tb = b
        .add_track(now, TrackKind::Video, LocalTrack::new("b-cam", &["bs"]))
        .unwrap();
    assert_eq!(
        b.transceivers().count(),
        2,
        "the offer's transceiver was reused"
    );
    assert_eq!(b.transceiver(tb).unwrap().direction(), Direction::SendRecv);
    let answer = p.pc(false).create_answer(now).unwrap();
    p.pc(false)
        .set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = answer.to_string();
    p.pc(true)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&answer).unwrap())
        .unwrap();
    assert!(p.run_until(10 * SEC, connected), "peers connect");
    (p, offer, answer)
}

#[test]
fn kaon_peers_negotiate_audio_and_video_and_carry_rtp_both_ways() {
    let (mut p, offer, answer) = av_pair(1);
    assert!(offer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111"));
    assert!(offer.contains("a=group:BUNDLE 0 1"));
    assert!(offer.contains("a=ssrc-group:FID"));
    assert!(
        !offer.contains("m=application"),
        "no channel, no data section"
    );
    assert!(answer.contains("m=video 9 UDP/TLS/RTP/SAVPF 96 97"));
    // Audio: b has no audio track, so it answers recvonly; video: both send.
    let a = p.pc_ref(true);
    let dirs: Vec<_> = a
        .transceivers()
        .map(|(_, t)| t.current_direction())
        .collect();
    assert_eq!(
        dirs,
        vec![Some(Direction::SendOnly), Some(Direction::SendRecv)]
    );

    for i in 0..30u16 {
        let now = p.now();
        let v = rtp(96, 1000 + i, 3000 * u32::from(i), &[i as u8; 900]);
        p.pc(true).write_rtp(now, "1", &v).unwrap();
        let o = rtp(111, 500 + i, 960 * u32::from(i), &[7; 80]);
        p.pc(true).write_rtp(now, "0", &o).unwrap();
        let back = rtp(96, 9000 + i, 3000 * u32::from(i), &[0xb0; 500]);
        p.pc(false).write_rtp(now, "1", &back).unwrap();
        p.run_for(33 * MS);
    }
    p.run_for(200 * MS);
    let video = received(&p, false, "1");
    assert_eq!(video.len(), 30, "every video packet arrived");
    assert_eq!(video[5], (1005, vec![5; 900]));
    assert_eq!(received(&p, false, "0").len(), 30);
    assert_eq!(received(&p, true, "1").len(), 30);
    let tracks: Vec<_> = p
        .log(false)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Track(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tracks.len(), 2);
    let video_track = tracks.iter().find(|t| t.kind == TrackKind::Video).unwrap();
    assert_eq!(video_track.codec.name, "VP8");
    assert_eq!(video_track.stream_ids, vec!["s".to_string()]);
    assert_eq!(video_track.track_id, "cam");
    // get_stats: the RTP entries count what crossed.
    let now = p.now();
    let rb = p.pc_ref(false).get_stats(now);
    let inbound: u64 = rb.rtp.inbound.iter().map(|i| i.packets_received).sum();
    assert_eq!(
        inbound, 60,
        "30 video + 30 audio packets in b's inbound-rtp"
    );
    let ra = p.pc_ref(true).get_stats(now);
    let video_out = ra
        .rtp
        .outbound
        .iter()
        .find(|o| o.kind == TrackKind::Video)
        .unwrap();
    assert_eq!(
        (video_out.packets_sent, video_out.bytes_sent),
        (30, 30 * 900)
    );
    assert!(ra.rtp.codecs.iter().any(|c| c.mime_type == "video/VP8"));
    let json = rb.to_json();
    assert!(
        json.contains("\"type\": \"inbound-rtp\"") && json.contains("\"mimeType\": \"audio/opus\"")
    );
    // b's audio is recvonly: writing on it is refused, not dropped silently.
    let now = p.now();
    assert!(matches!(
        p.pc(false).write_rtp(now, "0", &rtp(111, 1, 1, &[1])),
        Err(kaon::peer::Error::NotSending)
    ));
}

#[test]
fn a_keyframe_request_reaches_the_sender_once_per_interval() {
    let (mut p, _, _) = av_pair(2);
    let now = p.now();
    p.pc(true)
        .write_rtp(now, "1", &rtp(96, 1, 0, &[1; 100]))
        .unwrap();
    p.run_for(100 * MS);
    let now = p.now();
    p.pc(false).request_keyframe(now, "1").unwrap();
    p.pc(false).request_keyframe(now, "1").unwrap(); // throttled
    p.run_for(200 * MS);
    let asks: Vec<_> = p
        .log(true)
        .iter()
        .filter(|(_, e)| matches!(e, PeerEvent::KeyframeRequest { mid, kind: KeyframeKind::Pli } if *mid == "1"))
        .collect();
    assert_eq!(asks.len(), 1);
}

#[test]
fn renegotiation_adds_a_video_track_then_stops_it_and_recycles_its_line() {
    let mut p = Pair::lan(3, 5 * MS, 0.0);
    let now = p.now();
    p.pc(true)
        .create_data_channel(now, "chat", Default::default())
        .unwrap();
    p.negotiate();
    assert!(p.run_until(10 * SEC, connected));
    let now = p.now();
    let t = p
        .pc(true)
        .add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    let (offer, answer) = p.negotiate_from(true);
    assert!(offer.contains("m=application") && offer.contains("m=video"));
    assert!(answer.contains("a=recvonly"));
    let now = p.now();
    p.pc(true)
        .write_rtp(now, "1", &rtp(96, 7, 0, &[9; 50]))
        .unwrap();
    assert!(p.run_until(SEC, |p| received(p, false, "1").len() == 1));

    let now = p.now();
    p.pc(true).stop_transceiver(now, t).unwrap();
    let (offer, _) = p.negotiate_from(true);
    assert!(
        offer.contains("m=video 0 "),
        "stopped line offered rejected"
    );
    assert!(p.pc_ref(false).transceivers().all(|(_, t)| t.is_stopped()));
    // A new track recycles the rejected line with a new mid.
    let now = p.now();
    p.pc(true)
        .add_track(now, TrackKind::Audio, LocalTrack::new("mic", &[]))
        .unwrap();
    let (offer, _) = p.negotiate_from(true);
    let sdp = SessionDescription::parse(&offer).unwrap();
    assert_eq!(sdp.media.len(), 2);
    assert_eq!(sdp.media[1].mid(), Some("2"));
    assert!(!sdp.media[1].is_rejected());
    assert_eq!(p.state(true), ConnectionState::Connected);
}

/// Video over links that lose `loss` of the packets each way: how many of the packets sent
/// arrive, in the end, and how many of those came back through NACK and RTX.
fn video_through_loss(seed: u64, loss: f64) -> (usize, usize, u64) {
    let mut p = Pair::lan(seed, 20 * MS, 0.0);
    let now = p.now();
    p.pc(true)
        .add_track(now, TrackKind::Video, LocalTrack::new("cam", &["s"]))
        .unwrap();
    p.negotiate();
    assert!(p.run_until(10 * SEC, connected));
    // Loss, reordering and duplication from here on; the handshake ran on a clean link.
    let link = LinkConfig {
        loss,
        reorder: 0.02,
        reorder_delay: 15 * MS,
        duplicate: 0.01,
        ..LinkConfig::with_latency(20 * MS)
    };
    for iface in p.ifaces.clone() {
        p.sim.set_link(iface, SimDirection::Both, link);
    }
    let n = 600u16;
    for i in 0..n {
        let now = p.now();
        let v = rtp(
            96,
            40_000u16.wrapping_add(i),
            3000 * u32::from(i),
            &[i as u8; 1000],
        );
        p.pc(true).write_rtp(now, "0", &v).unwrap();
        p.run_for(10 * MS);
    }
    p.run_for(2 * SEC);
    let mut got: Vec<u16> = received(&p, false, "0")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    got.sort_unstable();
    got.dedup();
    let t = p.pc_ref(false).transceivers().next().unwrap().1;
    let stats = t.receiver_stats().next().unwrap().1;
    let rtx = p.pc_ref(false).media_counters().rtx_received;
    let sent = p
        .pc_ref(true)
        .transceivers()
        .next()
        .unwrap()
        .1
        .sender_stats()
        .unwrap();
    let rtt = sent
        .round_trip_time
        .expect("an RTT from the receiver's reports");
    // Each side's interface adds 20 ms each way: 40 ms one way, 80 ms round trip.
    println!("RTT from SR/RR: {rtt:?} (path: 80 ms round trip)");
    assert!(
        (Duration::from_millis(79)..Duration::from_millis(90)).contains(&rtt),
        "RTT {rtt:?} matches the 80 ms path"
    );
    assert!(sent.remote.reports_received > 0);
    println!(
        "{:.0}% loss: {} of {n} packets arrived, {} through RTX ({} NACKs sent, {} given up), \
         loss reported {}",
        loss * 100.0,
        got.len(),
        rtx,
        stats.nack_count,
        stats.nack_gave_up,
        stats.packets_lost
    );
    (got.len(), n as usize, rtx)
}

#[test]
fn nack_and_rtx_repair_video_at_5_percent_loss() {
    let (arrived, sent, rtx) = video_through_loss(7, 0.05);
    assert!(rtx > 0, "retransmissions happened");
    assert!(
        arrived * 1000 >= sent * 995,
        "{arrived} of {sent}: NACK/RTX repairs 5% loss"
    );
}

#[test]
fn nack_and_rtx_repair_most_of_20_percent_loss() {
    let (arrived, sent, rtx) = video_through_loss(8, 0.20);
    assert!(rtx > 0);
    assert!(
        arrived * 100 >= sent * 95,
        "{arrived} of {sent} through 20% loss"
    );
}

#[test]
fn a_packet_too_big_for_the_callers_buffer_waits_for_a_larger_one() {
    let (mut p, _, _) = av_pair(9);
    let now = p.now();
    let v = rtp(96, 4242, 0, &[0x42; 1100]);
    p.pc(true).write_rtp(now, "1", &v).unwrap();
    // A driver polls with a buffer too small for the packet: whatever fits may leave (and is
    // lost here, as on a bad link), but the video packet must not be dropped.
    let mut small = [0u8; 300];
    while kaon::Protocol::poll_transmit(p.pc(true), now, &mut small).is_some() {}
    p.run_for(200 * MS);
    let got = received(&p, false, "1");
    assert!(
        got.iter()
            .any(|(seq, data)| *seq == 4242 && data.len() == 1100),
        "the packet left once a large enough buffer came: {:?}",
        got.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    assert_eq!(p.pc_ref(true).media_counters().protect_failed, 0);
}
