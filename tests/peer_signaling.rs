//! Offer/answer rules of the PeerConnection: what a remote description must carry, the typed
//! errors for what it lacks, the signalling states and rollback.

use std::time::Instant;

use kaon::datachannel::ChannelConfig;
use kaon::peer::{
    Error, IceCandidate, PeerConfig, PeerConnection, RemoteSummary, SdpType, SignalingState,
};
use kaon::sdp::{SessionDescription, Setup};

fn peer(seed: u64) -> PeerConnection {
    let mut pc = PeerConnection::new(PeerConfig::with_seed(seed)).unwrap();
    pc.add_local_address(format!("192.0.2.{seed}:5000").parse().unwrap())
        .unwrap();
    pc
}

/// One offer for the whole file (certificates are random, so each offer differs).
fn offer_text() -> String {
    static OFFER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OFFER
        .get_or_init(|| peer(1).create_offer(Instant::now()).unwrap().to_string())
        .clone()
}

/// The offer with `from` replaced by `to` (line-wise, CRLF kept).
fn edited(from: &str, to: &str) -> SessionDescription {
    let text = offer_text();
    assert!(text.contains(from), "{from} not in {text}");
    SessionDescription::parse(&text.replace(from, to)).unwrap()
}

fn refused(sdp: SessionDescription) -> Error {
    let mut b = peer(2);
    let e = b.set_remote_description(SdpType::Offer, sdp).unwrap_err();
    // A refused description changes nothing.
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    assert!(b.remote_description().is_none());
    e
}

#[test]
fn our_offer_is_a_valid_data_only_offer() {
    let text = offer_text();
    let sdp = SessionDescription::parse(&text).unwrap();
    let s = RemoteSummary::from_sdp(&sdp).unwrap();
    assert_eq!(s.setup, Setup::ActPass);
    assert_eq!(s.sctp_port, 5000);
    assert_eq!(s.max_message_size, 262144);
    assert_eq!(s.mid.as_deref(), Some("0"));
    assert!(text.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    assert!(text.contains("a=group:BUNDLE 0\r\n"));
}

#[test]
fn missing_transport_pieces_are_typed_errors() {
    let line = |name: &str| {
        offer_text()
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
            + "\r\n"
    };
    assert_eq!(
        refused(edited(&line("a=fingerprint:"), "")),
        Error::NoFingerprint
    );
    assert_eq!(
        refused(edited(&line("a=ice-ufrag:"), "")),
        Error::NoIceCredentials
    );
    assert_eq!(refused(edited("a=setup:actpass\r\n", "")), Error::NoSetup);
    // A sha-1 fingerprint alone is not enough.
    let fp = line("a=fingerprint:");
    let sha1 =
        "a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\r\n";
    assert_eq!(refused(edited(&fp, sha1)), Error::NoFingerprint);
    // The old DTLS/SCTP form is accepted.
    let old = edited("UDP/DTLS/SCTP", "DTLS/SCTP");
    assert!(RemoteSummary::from_sdp(&old).unwrap().has_data());
    // Converts into the crate-wide error.
    let e: kaon::Error = Error::NoSetup.into();
    assert!(matches!(e, kaon::Error::Peer(Error::NoSetup)));
}

/// Answers `offer` with a fresh peer and returns the answer's text.
fn answer_to(offer: SessionDescription) -> String {
    let mut b = peer(2);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(Instant::now()).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    answer.to_string()
}

/// The `m=` lines of a description.
fn m_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("m=")).collect()
}

#[test]
fn sections_kaon_cannot_take_are_answered_rejected_never_refused() {
    // Media, and a data section over a protocol that is not SCTP: rejected in place.
    let answer = answer_to(edited("m=application 9", "m=audio 9"));
    assert_eq!(
        m_lines(&answer),
        ["m=audio 0 UDP/DTLS/SCTP webrtc-datachannel"]
    );
    assert!(!answer.contains("a=group:BUNDLE"));
    let answer = answer_to(edited("UDP/DTLS/SCTP", "UDP/TLS/RTP/SAVPF"));
    assert_eq!(
        m_lines(&answer),
        ["m=application 0 UDP/TLS/RTP/SAVPF webrtc-datachannel"]
    );
    // An offer without BUNDLE (a single transport) is taken, and answered without BUNDLE.
    let answer = answer_to(edited("a=group:BUNDLE 0\r\n", ""));
    assert_eq!(
        m_lines(&answer),
        ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel"]
    );
    assert!(!answer.contains("a=group:BUNDLE"));
}

/// Real browser and aiortc offers with audio and video: each m-line is answered in its place
/// with the same mid and taken: the media ones `recvonly` (kaon has no track to send) with
/// payload types from the offer, the data one as data, all in the BUNDLE group.
#[test]
fn audio_video_data_offers_from_real_peers_are_answered_line_for_line() {
    for (name, text) in [
        (
            "firefox",
            include_str!("fixtures/sdp/firefox_av_data_offer.sdp"),
        ),
        (
            "chromium",
            include_str!("fixtures/sdp/chromium_av_simulcast_offer.sdp"),
        ),
        ("aiortc", include_str!("fixtures/sdp/aiortc_av_offer.sdp")),
    ] {
        let offer = SessionDescription::parse(text).unwrap();
        let summary = RemoteSummary::from_sdp(&offer).unwrap();
        let answer = SessionDescription::parse(&answer_to(offer.clone())).unwrap();
        assert_eq!(answer.media.len(), offer.media.len(), "{name}");
        for (o, a) in offer.media.iter().zip(&answer.media) {
            assert_eq!(o.kind, a.kind, "{name}");
            assert_eq!(o.mid(), a.mid(), "{name}");
            assert_ne!(a.port, 0, "{name}: {:?} taken", a.kind);
            if o.kind != kaon::sdp::MediaKind::Application {
                assert_eq!(
                    a.direction(),
                    Some(kaon::sdp::Direction::RecvOnly),
                    "{name}"
                );
                assert!(
                    a.formats.iter().all(|f| o.formats.contains(f)),
                    "{name}: answered payload types come from the offer"
                );
            }
        }
        assert!(summary.mid.is_some(), "{name}");
        let mids: Vec<String> = offer
            .media
            .iter()
            .filter_map(|m| m.mid().map(str::to_string))
            .collect();
        assert_eq!(answer.bundle_group().unwrap(), &mids[..], "{name}");
    }
}

#[test]
fn an_answer_must_pick_a_dtls_role() {
    let mut a = peer(1);
    let offer = a.create_offer(Instant::now()).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let mut b = peer(2);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(Instant::now()).unwrap().to_string();
    assert!(answer.contains("a=setup:active\r\n"));
    let bad =
        SessionDescription::parse(&answer.replace("a=setup:active", "a=setup:actpass")).unwrap();
    assert_eq!(
        a.set_remote_description(SdpType::Answer, bad),
        Err(Error::BadSetup(Setup::ActPass))
    );
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    let good = SessionDescription::parse(&answer).unwrap();
    a.set_remote_description(SdpType::Answer, good).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn an_offer_that_says_active_makes_the_answerer_passive() {
    let offer = edited("a=setup:actpass", "a=setup:active");
    let mut b = peer(2);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(Instant::now()).unwrap();
    assert_eq!(
        RemoteSummary::from_sdp(&answer).unwrap().setup,
        Setup::Passive
    );
    b.set_local_description(SdpType::Answer, answer).unwrap();
    // Passive: the DTLS server, odd ids.
    let id = b
        .create_data_channel(Instant::now(), "x", ChannelConfig::default())
        .unwrap();
    assert_eq!(id % 2, 1);
}

#[test]
fn signalling_states_follow_jsep() {
    let mut a = peer(1);
    let mut b = peer(2);
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    assert!(matches!(
        b.create_answer(Instant::now()),
        Err(Error::InvalidState {
            operation: "create_answer",
            ..
        })
    ));
    let offer = a.create_offer(Instant::now()).unwrap();
    // An answer cannot be applied without an offer.
    assert!(matches!(
        b.set_remote_description(SdpType::Answer, offer.clone()),
        Err(Error::InvalidState { .. })
    ));
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::HaveRemoteOffer);
    assert!(matches!(
        b.create_offer(Instant::now()),
        Err(Error::InvalidState {
            operation: "create_offer",
            ..
        })
    ));
    let answer = b.create_answer(Instant::now()).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    // Candidates before any remote description have nowhere to go.
    assert_eq!(
        peer(3).add_ice_candidate(
            Instant::now(),
            &IceCandidate::from_line("candidate:1 1 udp 2130706431 192.0.2.9 5000 typ host")
        ),
        Err(Error::NoRemoteDescription)
    );
    // A malformed trickled candidate is an ICE error.
    assert!(matches!(
        a.add_ice_candidate(
            Instant::now(),
            &IceCandidate::from_line("candidate:garbage")
        ),
        Err(Error::Ice(_))
    ));
}

#[test]
fn rollback_undoes_a_local_or_a_remote_offer() {
    // Our own offer.
    let mut a = peer(1);
    let offer = a.create_offer(Instant::now()).unwrap();
    a.set_local_description(SdpType::Offer, offer).unwrap();
    a.rollback(Instant::now()).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    assert!(a.local_description().is_none());
    assert!(matches!(
        a.rollback(Instant::now()),
        Err(Error::InvalidState { .. })
    ));

    // The peer's offer, with a trickled candidate, rolled back through SdpType::Rollback;
    // then a fresh offer from the other direction works.
    let mut b = peer(2);
    let offer = peer(3).create_offer(Instant::now()).unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    b.add_ice_candidate(
        Instant::now(),
        &IceCandidate::from_line("candidate:1 1 udp 2130706431 192.0.2.3 5000 typ host"),
    )
    .unwrap();
    b.set_remote_description(
        SdpType::Rollback,
        SessionDescription::parse(&offer_text()).unwrap(),
    )
    .unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    assert!(b.remote_description().is_none());
    let mine = b.create_offer(Instant::now()).unwrap();
    b.set_local_description(SdpType::Offer, mine.clone())
        .unwrap();
    let mut c = peer(4);
    c.set_remote_description(SdpType::Offer, mine).unwrap();
    let answer = c.create_answer(Instant::now()).unwrap();
    b.set_remote_description(SdpType::Answer, answer).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
}

#[test]
fn messages_over_the_peers_limit_are_refused() {
    let mut a = peer(1);
    let now = Instant::now();
    let id = a
        .create_data_channel(now, "x", ChannelConfig::default())
        .unwrap();
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let mut b = peer(2);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap().to_string();
    let answer = answer.replace("a=max-message-size:262144", "a=max-message-size:1000");
    a.set_remote_description(SdpType::Answer, SessionDescription::parse(&answer).unwrap())
        .unwrap();
    assert_eq!(
        a.send(now, id, &[0; 1001]),
        Err(Error::MessageTooLarge {
            size: 1001,
            max: 1000
        })
    );
    assert!(a.send(now, id, &[0; 1000]).is_ok());
}

/// Found against Chromium: an answerer that adds its address, applies the offer and answers,
/// without any call having given it a time, must still list its host candidate. Nothing that
/// needs a time has happened yet, but the candidate is already known.
#[test]
fn offer_and_answer_list_host_candidates_before_any_time_is_given() {
    let mut a = peer(1);
    let offer = a.create_offer(Instant::now()).unwrap();
    assert!(
        offer.to_string().contains("192.0.2.1 5000 typ host"),
        "{offer}"
    );
    let mut b = peer(2);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(Instant::now()).unwrap().to_string();
    assert!(answer.contains("a=candidate:"), "{answer}");
    assert!(answer.contains("192.0.2.2 5000 typ host"), "{answer}");
}

/// W3C's current and pending descriptions follow the exchanges, and a rolled-back later offer
/// leaves the current ones as they were, on both sides.
#[test]
fn current_and_pending_descriptions_follow_the_exchanges_and_rollback() {
    let mut a = peer(1);
    let mut b = peer(2);
    let offer = a.create_offer(Instant::now()).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    assert_eq!(a.pending_local_description().unwrap().0, SdpType::Offer);
    assert_eq!(a.current_local_description(), None);
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    assert!(b.pending_remote_description().is_some());
    assert_eq!(b.current_remote_description(), None);
    let answer = b.create_answer(Instant::now()).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let first_offer = a.current_local_description().unwrap().1.to_string();
    assert_eq!(a.pending_local_description(), None);
    assert_eq!(a.current_remote_description().unwrap().0, SdpType::Answer);
    assert_eq!(b.current_remote_description().unwrap().1, first_offer);
    assert_eq!(b.pending_remote_description(), None);

    // A second offer, pending on both sides, then rolled back on both.
    let again = a.create_offer(Instant::now()).unwrap();
    a.set_local_description(SdpType::Offer, again.clone())
        .unwrap();
    assert_eq!(a.current_local_description().unwrap().1, first_offer);
    assert_ne!(a.pending_local_description().unwrap().1, first_offer);
    b.set_remote_description(SdpType::Offer, again).unwrap();
    assert_eq!(b.current_remote_description().unwrap().1, first_offer);
    a.set_local_description(
        SdpType::Rollback,
        SessionDescription::parse(&first_offer).unwrap(),
    )
    .unwrap();
    b.rollback(Instant::now()).unwrap();
    assert_eq!(a.local_description().unwrap().1, first_offer);
    assert_eq!(a.current_local_description().unwrap().1, first_offer);
    assert_eq!(b.remote_description().unwrap().1, first_offer);
    assert_eq!(b.current_remote_description().unwrap().1, first_offer);
    assert_eq!(b.pending_remote_description(), None);
}

#[test]
fn gathering_state_is_new_without_addresses_and_complete_once_announced() {
    use kaon::peer::IceGatheringState;
    let bare = PeerConnection::new(PeerConfig::with_seed(9)).unwrap();
    assert_eq!(bare.ice_gathering_state(), IceGatheringState::New);
    let mut pc = peer(3);
    let now = Instant::now();
    kaon::Protocol::handle_timeout(&mut pc, now);
    while kaon::Protocol::poll_event(&mut pc).is_some() {}
    // Host candidates only: nothing to wait for.
    assert_eq!(pc.ice_gathering_state(), IceGatheringState::Complete);
}

#[test]
fn the_first_data_channel_asks_for_negotiation_once() {
    use kaon::peer::PeerEvent;
    let mut a = peer(4);
    let now = Instant::now();
    let needed = |pc: &mut PeerConnection| {
        std::iter::from_fn(|| kaon::Protocol::poll_event(pc))
            .filter(|e| *e == PeerEvent::NegotiationNeeded)
            .count()
    };
    a.create_data_channel(now, "one", ChannelConfig::default())
        .unwrap();
    a.create_data_channel(now, "two", ChannelConfig::default())
        .unwrap();
    assert_eq!(needed(&mut a), 1);
    // Once the data section is negotiated, new channels need no exchange.
    let mut b = peer(5);
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    a.create_data_channel(now, "three", ChannelConfig::default())
        .unwrap();
    b.create_data_channel(now, "four", ChannelConfig::default())
        .unwrap();
    assert_eq!(needed(&mut a), 0);
    assert_eq!(needed(&mut b), 0);
}
