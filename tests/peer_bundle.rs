//! `PeerConfig::bundle_policy` in the simulator: what each policy puts in an offer, that each
//! connects and carries data, and what happens when the answer declines BUNDLE.
#![cfg(feature = "sim")]

mod peer_support;

use std::time::Duration;

use kaon::datachannel::ChannelConfig;
use kaon::peer::{
    BundlePolicy, ConnectionState, LocalTrack, PeerConfig, PeerConnection, SdpType, TrackKind,
};
use kaon::sdp::SessionDescription;
use peer_support::Pair;

const SEC: Duration = Duration::from_secs(1);

/// A pair whose offerer uses `policy` and offers an audio track and a data channel (in that
/// order: the audio section is the first). Returns the pair, the channel and the offer text.
fn offer_with(policy: BundlePolicy, seed: u64) -> (Pair, u16, String) {
    let mut p = Pair::lan(seed, Duration::from_millis(10), 0.0);
    let now = p.now();
    let mut a = PeerConnection::new(PeerConfig {
        bundle_policy: policy,
        ..PeerConfig::with_seed(100)
    })
    .unwrap();
    a.add_local_address("10.0.0.1:5000".parse().unwrap())
        .unwrap();
    *p.pc(true) = a;
    p.pc(true)
        .add_track(now, TrackKind::Audio, LocalTrack::new("mic", &["s"]))
        .unwrap();
    let chat = p
        .pc(true)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    let offer = p.pc(true).create_offer(now).unwrap();
    p.pc(true)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    (p, chat, offer.to_string())
}

/// The peer answers `offer`; the answer goes back through `edit`.
fn answer(p: &mut Pair, offer: &str, edit: impl Fn(&str) -> String) {
    let now = p.now();
    p.pc(false)
        .set_remote_description(SdpType::Offer, SessionDescription::parse(offer).unwrap())
        .unwrap();
    let answer = p.pc(false).create_answer(now).unwrap();
    p.pc(false)
        .set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let text = edit(&answer.to_string());
    p.pc(true)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&text).unwrap())
        .unwrap();
}

/// Connects and has the offerer's channel greet the peer.
fn chat_works(p: &mut Pair, chat: u16) -> bool {
    let connected = |p: &Pair| {
        p.state(true) == ConnectionState::Connected && p.state(false) == ConnectionState::Connected
    };
    if !p.run_until(10 * SEC, |p| connected(p) && p.opened(true, chat)) {
        return false;
    }
    let now = p.now();
    p.pc(true).send_text(now, chat, "hello").unwrap();
    p.run_until(5 * SEC, |p| {
        p.messages(false, chat)
            .iter()
            .any(|(m, _)| m.as_slice() == b"hello")
    })
}

fn section<'a>(sdp: &'a str, kind: &str) -> &'a str {
    let start = sdp.find(&format!("m={kind} ")).unwrap();
    let rest = &sdp[start..];
    let end = rest[2..].find("m=").map_or(rest.len(), |e| e + 2);
    &rest[..end]
}

#[test]
fn max_bundle_offers_later_sections_bundle_only_and_connects() {
    let (mut p, chat, offer) = offer_with(BundlePolicy::MaxBundle, 1);
    assert!(offer.contains("a=group:BUNDLE 0 1"), "{offer}");
    // RFC 8843 §6: the first section carries the transport; the others are bundle-only.
    assert!(
        section(&offer, "audio").starts_with("m=audio 9 "),
        "{offer}"
    );
    assert!(!section(&offer, "audio").contains("a=bundle-only"));
    let data = section(&offer, "application");
    assert!(data.starts_with("m=application 0 UDP/DTLS/SCTP"), "{offer}");
    assert!(data.contains("a=bundle-only"), "{offer}");
    answer(&mut p, &offer, str::to_string);
    // A bundle-only section is not rejected: the answer takes both.
    let answer = p.pc_ref(false).local_description().unwrap().1.to_string();
    assert!(answer.contains("m=application 9 "), "{answer}");
    assert!(answer.contains("m=audio 9 "), "{answer}");
    assert!(chat_works(&mut p, chat));
    // A later offer keeps the negotiated sections as they are: nothing is bundle-only again.
    let now = p.now();
    let again = p.pc(true).create_offer(now).unwrap().to_string();
    assert!(!again.contains("a=bundle-only"), "{again}");
}

#[test]
fn balanced_and_max_compat_offer_bundle_without_bundle_only_and_connect() {
    for (policy, seed) in [(BundlePolicy::Balanced, 2), (BundlePolicy::MaxCompat, 3)] {
        let (mut p, chat, offer) = offer_with(policy, seed);
        assert!(offer.contains("a=group:BUNDLE 0 1"), "{policy:?}: {offer}");
        assert!(!offer.contains("a=bundle-only"), "{policy:?}: {offer}");
        assert!(offer.contains("m=application 9 "), "{policy:?}: {offer}");
        answer(&mut p, &offer, str::to_string);
        assert!(chat_works(&mut p, chat), "{policy:?}");
    }
}

#[test]
fn an_answer_that_declines_bundle_keeps_the_data_section_and_stops_the_media_one() {
    let (mut p, chat, offer) = offer_with(BundlePolicy::Balanced, 4);
    // A peer that does not bundle answers without the group: each section on its own.
    answer(&mut p, &offer, |a| {
        a.lines()
            .filter(|l| !l.starts_with("a=group:BUNDLE"))
            .map(|l| format!("{l}\r\n"))
            .collect()
    });
    assert!(chat_works(&mut p, chat));
    // kaon opens no second transport: the audio section the answer took outside the bundle
    // is stopped on ours (no direction), so nothing is sent on it.
    let (_, t) = p.pc_ref(true).transceivers().next().unwrap();
    assert!(t.is_stopped());
    assert_eq!(t.current_direction(), None);
    let now = p.now();
    assert!(
        p.pc(true)
            .write_rtp(now, "0", &[0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1])
            .is_err()
    );
}
