//! Offer/answer after the first exchange: ICE restarts from either side keep the data channel
//! open, an unchanged re-offer changes nothing, and what would need a new DTLS association
//! (another certificate, a flipped DTLS role) is refused without touching the session.
#![cfg(feature = "sim")]

mod peer_support;

use kaon::peer::{ConnectionState, Error, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use peer_support::{MS, Pair, SEC, connect};

fn ufrags(p: &mut Pair, a_side: bool) -> (String, Option<String>) {
    let ice = p.pc(a_side).ice();
    (
        ice.local_credentials().0.to_string(),
        ice.remote_credentials().map(|(u, _)| u.to_string()),
    )
}

/// Sends `text` from `a_side` and runs until the other side has it.
fn round_trip(p: &mut Pair, a_side: bool, id: u16, text: &str) {
    let now = p.now();
    p.pc(a_side).send_text(now, id, text).unwrap();
    assert!(
        p.run_until(5 * SEC, |p| p
            .messages(!a_side, id)
            .iter()
            .any(|(m, _)| m == text.as_bytes())),
        "{text:?} did not arrive"
    );
}

fn no_channel_closed(p: &Pair) -> bool {
    [true, false].into_iter().all(|side| {
        !p.log(side)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::DataChannelClosed(_)))
    })
}

/// Runs until both agents hold each other's current credentials and both selected a pair
/// after `since` (checks with the new credentials succeeded).
fn reconnected(p: &mut Pair, since: std::time::Duration) -> bool {
    let selected_again = |p: &Pair, side| {
        p.log(side).iter().any(|(t, e)| {
            *t >= since && matches!(e, PeerEvent::SelectedCandidatePairChanged { .. })
        })
    };
    p.run_until(10 * SEC, |p| {
        let (a, b) = (p.pc_ref(true).ice(), p.pc_ref(false).ice());
        a.remote_credentials().map(|c| c.0) == Some(b.local_credentials().0)
            && b.remote_credentials().map(|c| c.0) == Some(a.local_credentials().0)
            && selected_again(p, true)
            && selected_again(p, false)
            && p.state(true) == ConnectionState::Connected
            && p.state(false) == ConnectionState::Connected
    })
}

#[test]
fn the_offerer_restarts_ice_and_the_channel_stays_open() {
    let mut p = Pair::lan(11, 5 * MS, 0.0);
    let id = connect(&mut p, "before restart");
    let (a_before, _) = ufrags(&mut p, true);
    let (b_before, _) = ufrags(&mut p, false);
    let now = p.now();
    p.pc(true).restart_ice(now).unwrap();
    p.run_for(MS);
    assert!(
        p.log(true)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::NegotiationNeeded))
    );
    let restart_at = p.now() - p.t0;
    let (offer, answer) = p.negotiate_from(true);
    // The roles of the first exchange stay: the offerer was the DTLS server.
    assert!(offer.contains("a=setup:passive"), "{offer}");
    assert!(answer.contains("a=setup:active"), "{answer}");
    assert!(
        reconnected(&mut p, restart_at),
        "a: {:?}\nb: {:?}",
        p.log_a,
        p.log_b
    );
    println!(
        "ICE restart by the offerer: a pair on the new credentials {:.1} ms after the offer",
        (p.now() - p.t0 - restart_at).as_secs_f64() * 1e3
    );
    let (a_after, _) = ufrags(&mut p, true);
    let (b_after, _) = ufrags(&mut p, false);
    assert_ne!(a_before, a_after);
    // RFC 8445 §9: the answerer restarts as well.
    assert_ne!(b_before, b_after);
    round_trip(&mut p, true, id, "after the restart");
    round_trip(&mut p, false, id, "and back");
    assert!(no_channel_closed(&p));
}

#[test]
fn the_answerer_restarts_ice_and_offers_keeping_the_dtls_roles() {
    let mut p = Pair::lan(12, 5 * MS, 0.0);
    let id = connect(&mut p, "before restart");
    let (a_before, _) = ufrags(&mut p, true);
    let now = p.now();
    let restart_at = now - p.t0;
    p.pc(false).restart_ice(now).unwrap();
    let (offer, answer) = p.negotiate_from(false);
    // b answered the first offer as DTLS client and keeps that role as offerer.
    assert!(offer.contains("a=setup:active"), "{offer}");
    assert!(answer.contains("a=setup:passive"), "{answer}");
    assert!(
        reconnected(&mut p, restart_at),
        "a: {:?}\nb: {:?}",
        p.log_a,
        p.log_b
    );
    assert_ne!(a_before, ufrags(&mut p, true).0);
    round_trip(&mut p, false, id, "from the restarted side");
    round_trip(&mut p, true, id, "and back");
    assert!(no_channel_closed(&p));
}

#[test]
fn an_unchanged_reoffer_keeps_the_credentials_and_the_channel() {
    let mut p = Pair::lan(13, 5 * MS, 0.0);
    let id = connect(&mut p, "first exchange");
    let before = (ufrags(&mut p, true), ufrags(&mut p, false));
    p.negotiate_from(true);
    p.negotiate_from(false);
    p.run_for(100 * MS);
    assert_eq!(before, (ufrags(&mut p, true), ufrags(&mut p, false)));
    round_trip(&mut p, true, id, "still here");
    assert!(no_channel_closed(&p));
}

#[test]
fn a_reoffer_with_another_certificate_is_refused_and_changes_nothing() {
    let mut p = Pair::lan(14, 5 * MS, 0.0);
    let id = connect(&mut p, "first exchange");
    // Another peer's offer: same mid, other ICE credentials, other certificate.
    let mut stranger = PeerConnection::new(PeerConfig::with_seed(99)).unwrap();
    stranger
        .add_local_address("10.0.0.9:5000".parse().unwrap())
        .unwrap();
    let offer = stranger.create_offer(std::time::Instant::now()).unwrap();
    let before = ufrags(&mut p, false);
    assert_eq!(
        p.pc(false).set_remote_description(SdpType::Offer, offer),
        Err(Error::Renegotiation("certificate"))
    );
    assert_eq!(
        p.pc(false).signaling_state(),
        kaon::peer::SignalingState::Stable
    );
    assert_eq!(before, ufrags(&mut p, false));
    round_trip(&mut p, true, id, "unaffected");
}

#[test]
fn a_reoffer_that_flips_the_dtls_role_is_refused() {
    let mut p = Pair::lan(15, 5 * MS, 0.0);
    let id = connect(&mut p, "first exchange");
    let now = p.now();
    let offer = p.pc(true).create_offer(now).unwrap().to_string();
    // a is the DTLS server; an offer where it wants to be the client needs a new association.
    assert!(offer.contains("a=setup:passive"));
    let flipped = offer.replace("a=setup:passive", "a=setup:active");
    let flipped = SessionDescription::parse(&flipped).unwrap();
    assert_eq!(
        p.pc(false).set_remote_description(SdpType::Offer, flipped),
        Err(Error::Renegotiation("DTLS role"))
    );
    round_trip(&mut p, false, id, "unaffected");
}

#[test]
fn a_rolled_back_reoffer_keeps_the_session() {
    let mut p = Pair::lan(16, 5 * MS, 0.0);
    let id = connect(&mut p, "first exchange");
    let now = p.now();
    let offer = p.pc(true).create_offer(now).unwrap();
    p.pc(false)
        .set_remote_description(SdpType::Offer, offer)
        .unwrap();
    let now = p.now();
    p.pc(false).rollback(now).unwrap();
    assert!(p.pc(false).remote_description().is_some());
    round_trip(&mut p, true, id, "after rollback");
    assert!(no_channel_closed(&p));
}

/// The m-lines of a description, as `kind port mid`.
fn m_lines(text: &str) -> Vec<String> {
    let sdp = SessionDescription::parse(text).unwrap();
    sdp.media
        .iter()
        .map(|m| format!("{} {} {}", m.kind, m.port, m.mid().unwrap_or("-")))
        .collect()
}

/// Two renegotiations: the offerer adds an audio section with a codec kaon does not have (so
/// kaon rejects it in place), then
/// the other side re-offers with a new channel already open; the rejected line keeps its index
/// and mid in every later description (RFC 8829 §5.2.2) and the channels keep working.
#[test]
fn an_added_media_section_is_rejected_in_place_and_kept_by_later_offers() {
    let mut p = Pair::lan(30, 5 * MS, 0.0);
    let id = connect(&mut p, "m-lines");
    // Exchange 2: a's offer grows an audio section (as a browser's would after addTrack).
    let now = p.now();
    let offer = p.pc(true).create_offer(now).unwrap().to_string();
    let audio = "m=audio 9 UDP/TLS/RTP/SAVPF 97\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
                 a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:97 iLBC/8000\r\n";
    let offer = offer.replace("a=group:BUNDLE 0\r\n", "a=group:BUNDLE 0 1\r\n") + audio;
    let offer = SessionDescription::parse(&offer).unwrap();
    p.pc(true)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    p.pc(false)
        .set_remote_description(SdpType::Offer, offer)
        .unwrap();
    let now = p.now();
    let answer = p.pc(false).create_answer(now).unwrap();
    p.pc(false)
        .set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer_text = answer.to_string();
    assert_eq!(m_lines(&answer_text), ["application 9 0", "audio 0 1"]);
    assert!(answer_text.contains("a=group:BUNDLE 0\r\n"));
    p.pc(true)
        .set_remote_description(SdpType::Answer, answer)
        .unwrap();
    round_trip(&mut p, true, id, "after the audio section");
    // Exchange 3, from b, with a channel created meanwhile: the rejected line stays.
    let now = p.now();
    let second = p
        .pc(false)
        .create_data_channel(now, "second", kaon::datachannel::ChannelConfig::default())
        .unwrap();
    let (offer, answer) = p.negotiate_from(false);
    assert_eq!(m_lines(&offer), ["application 9 0", "audio 0 1"]);
    assert_eq!(m_lines(&answer), ["application 9 0", "audio 0 1"]);
    assert!(p.run_until(5 * SEC, |p| p.opened(true, second)));
    round_trip(&mut p, false, second, "on the second channel");
    round_trip(&mut p, true, id, "still on the first");
    assert!(no_channel_closed(&p));
}

/// An answer whose m-lines do not match the offer's is refused and changes nothing.
#[test]
fn an_answer_that_drops_an_m_line_is_refused() {
    let mut p = Pair::lan(31, 5 * MS, 0.0);
    let now = p.now();
    let offer = p.pc(true).create_offer(now).unwrap();
    p.pc(true)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    p.pc(false)
        .set_remote_description(SdpType::Offer, offer)
        .unwrap();
    let now = p.now();
    let answer = p.pc(false).create_answer(now).unwrap().to_string();
    let extra = answer + "m=audio 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:9\r\n";
    assert_eq!(
        p.pc(true)
            .set_remote_description(SdpType::Answer, SessionDescription::parse(&extra).unwrap()),
        Err(Error::SectionMismatch)
    );
    assert_eq!(
        p.pc(true).signaling_state(),
        kaon::peer::SignalingState::HaveLocalOffer
    );
}
