//! Two PeerConnections that send each other audio and video, for the media tests that drive
//! a pair by hand (`media_peer_alloc.rs`, `media_in_place.rs`).
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;
use std::time::Instant;

use kaon::dtls::Identity;
use kaon::peer::{LocalTrack, MediaEngine, PeerConfig, PeerConnection, SdpType, TrackKind};
use kaon::rtp::{RtpBuilder, RtpHeader};
use kaon::sdp::SessionDescription;

/// A peer with certificate `id` on `addr`, sending a microphone and a camera track.
pub fn av_peer(
    seed: u64,
    id: &Identity,
    engine: &Arc<MediaEngine>,
    addr: &str,
    now: Instant,
) -> PeerConnection {
    let mut pc = PeerConnection::new(PeerConfig {
        identity: Some(id.clone()),
        media: engine.clone(),
        ..PeerConfig::with_seed(seed)
    })
    .unwrap();
    pc.add_local_address(addr.parse().unwrap()).unwrap();
    for (kind, name) in [(TrackKind::Audio, "mic"), (TrackKind::Video, "cam")] {
        pc.add_track(now, kind, LocalTrack::new(name, &["s"]))
            .unwrap();
    }
    pc
}

/// `a` offers, `b` answers, both descriptions applied.
pub fn negotiate(a: &mut PeerConnection, b: &mut PeerConnection, now: Instant) {
    let offer = a.create_offer(now).unwrap();
    exchange(a, b, SdpType::Offer, offer);
    let answer = b.create_answer(now).unwrap();
    exchange(b, a, SdpType::Answer, answer);
}

/// `from` applies `sdp` as its local description, `to` as its remote one.
fn exchange(
    from: &mut PeerConnection,
    to: &mut PeerConnection,
    kind: SdpType,
    sdp: SessionDescription,
) {
    from.set_local_description(kind, sdp.clone()).unwrap();
    to.set_remote_description(kind, sdp).unwrap();
}

/// An RTP packet (marker set, SSRC 1, payload type `pt`, `len` bytes of payload) written into
/// `buf`: its length.
pub fn packet(buf: &mut [u8], pt: u8, seq: u16, len: usize) -> usize {
    let payload = [0x5a; 1100];
    RtpBuilder::new(RtpHeader {
        marker: true,
        payload_type: pt,
        sequence_number: seq,
        timestamp: u32::from(seq) * 3000,
        ssrc: 1,
    })
    .payload(&payload[..len])
    .write(buf)
    .unwrap()
}
