//! Trickled candidates as W3C `RTCIceCandidateInit`: what `LocalCandidate` carries, how
//! `add_ice_candidate` picks the section and the generation, and the JSON form (round trips
//! and "any text never panics").

use std::time::Instant;

use kaon::Protocol;
use kaon::peer::{Error, IceCandidate, PeerConfig, PeerConnection, PeerEvent, SdpType};
use proptest::prelude::*;

const LINE: &str = "candidate:1 1 udp 2130706431 192.0.2.9 5000 typ host";

fn peer(seed: u64) -> PeerConnection {
    let mut pc = PeerConnection::new(PeerConfig::with_seed(seed)).unwrap();
    pc.add_local_address(format!("192.0.2.{seed}:5000").parse().unwrap())
        .unwrap();
    pc
}

fn local_candidates(pc: &mut PeerConnection) -> Vec<IceCandidate> {
    std::iter::from_fn(|| pc.poll_event())
        .filter_map(|e| match e {
            PeerEvent::LocalCandidate(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// `b` holds `a`'s offer, not yet answered.
fn offered(now: Instant) -> (PeerConnection, PeerConnection) {
    let (mut a, mut b) = (peer(1), peer(2));
    let offer = a.create_offer(now).unwrap();
    a.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    b.set_remote_description(SdpType::Offer, offer).unwrap();
    (a, b)
}

fn remote_count(pc: &PeerConnection) -> usize {
    pc.ice().remote_candidates().count()
}

#[test]
fn local_candidates_name_the_first_bundled_section_and_our_ufrag() {
    let now = Instant::now();
    // Before any description there is no mid, but index 0 is always a section.
    let mut early = peer(3);
    let c = local_candidates(&mut early).pop().unwrap();
    assert_eq!((c.sdp_mid, c.sdp_mline_index), (None, Some(0)));
    assert_eq!(
        c.username_fragment.as_deref(),
        Some(early.ice().local_credentials().0)
    );

    let (mut a, mut b) = offered(now);
    let c = local_candidates(&mut a).pop().unwrap();
    assert_eq!(c.sdp_mid.as_deref(), Some("0"));
    assert_eq!(c.sdp_mline_index, Some(0));
    assert!(c.candidate.starts_with("candidate:"), "{c:?}");
    // The answerer names the offer's section and its own generation.
    let c = local_candidates(&mut b).pop().unwrap();
    assert_eq!(c.sdp_mid.as_deref(), Some("0"));
    assert_eq!(
        c.username_fragment.as_deref(),
        Some(b.ice().local_credentials().0)
    );
    // What b trickles, a takes once it has b's answer.
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    a.set_remote_description(SdpType::Answer, answer).unwrap();
    let before = remote_count(&a);
    let trickled = IceCandidate {
        candidate: LINE.into(),
        ..c
    };
    a.add_ice_candidate(now, &trickled).unwrap();
    assert_eq!(remote_count(&a), before + 1);
}

#[test]
fn a_candidate_of_another_generation_is_ignored() {
    let now = Instant::now();
    let (_a, mut b) = offered(now);
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer).unwrap();
    let current = b.ice().remote_credentials().unwrap().0.to_string();
    let before = (remote_count(&b), b.stats().candidates_ignored);
    let stale = IceCandidate {
        candidate: LINE.into(),
        username_fragment: Some(format!("{current}x")),
        ..IceCandidate::default()
    };
    assert_eq!(b.add_ice_candidate(now, &stale), Ok(()));
    assert_eq!(remote_count(&b), before.0);
    assert_eq!(b.stats().candidates_ignored, before.1 + 1);
    let fresh = IceCandidate {
        username_fragment: Some(current),
        ..stale
    };
    b.add_ice_candidate(now, &fresh).unwrap();
    assert_eq!(remote_count(&b), before.0 + 1);
}

#[test]
fn a_candidate_of_the_pending_offer_waits_for_the_answer() {
    let now = Instant::now();
    let (a, mut b) = offered(now);
    let ufrag = a.ice().local_credentials().0.to_string();
    let c = IceCandidate {
        candidate: LINE.into(),
        sdp_mid: Some("0".into()),
        username_fragment: Some(ufrag),
        ..IceCandidate::default()
    };
    b.add_ice_candidate(now, &c).unwrap();
    let before = remote_count(&b);
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer).unwrap();
    assert!(remote_count(&b) > before);
    assert!(
        b.ice()
            .remote_candidates()
            .any(|r| r.port == 5000 && r.address.to_string() == "192.0.2.9")
    );
}

#[test]
fn a_candidate_naming_no_section_is_refused() {
    let now = Instant::now();
    let (_a, mut b) = offered(now);
    let named = |mid: Option<&str>, index: Option<u16>| IceCandidate {
        candidate: LINE.into(),
        sdp_mid: mid.map(str::to_string),
        sdp_mline_index: index,
        username_fragment: None,
    };
    assert_eq!(
        b.add_ice_candidate(now, &named(Some("9"), None)),
        Err(Error::NoSuchSection)
    );
    assert_eq!(
        b.add_ice_candidate(now, &named(None, Some(1))),
        Err(Error::NoSuchSection)
    );
    // The mid wins over the index (W3C), and either alone is enough.
    b.add_ice_candidate(now, &named(Some("0"), Some(7)))
        .unwrap();
    b.add_ice_candidate(now, &named(None, Some(0))).unwrap();
    b.add_ice_candidate(now, &IceCandidate::from_line(LINE))
        .unwrap();
}

#[test]
fn an_empty_candidate_ends_the_named_generation_only() {
    let now = Instant::now();
    let (_a, mut b) = offered(now);
    let answer = b.create_answer(now).unwrap();
    b.set_local_description(SdpType::Answer, answer).unwrap();
    let ignored = b.stats().candidates_ignored;
    let stale_end = IceCandidate {
        username_fragment: Some("old-generation".into()),
        ..IceCandidate::end_of_candidates()
    };
    b.add_ice_candidate(now, &stale_end).unwrap();
    assert_eq!(b.stats().candidates_ignored, ignored + 1);
    b.add_ice_candidate(now, &IceCandidate::end_of_candidates())
        .unwrap();
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>())
}

proptest! {
    // PROPTEST_CASES wins; 256 when it is unset.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn candidate_json_round_trips(
        candidate in any::<String>(),
        sdp_mid in opt_text(),
        sdp_mline_index in proptest::option::of(any::<u16>()),
        username_fragment in opt_text(),
    ) {
        let c = IceCandidate { candidate, sdp_mid, sdp_mline_index, username_fragment };
        prop_assert_eq!(IceCandidate::from_json(&c.to_json()), Ok(c));
    }

    #[test]
    fn any_text_reads_as_a_candidate_or_a_typed_error(text in any::<String>()) {
        if let Ok(c) = IceCandidate::from_json(&text) {
            prop_assert_eq!(IceCandidate::from_json(&c.to_json()), Ok(c));
        }
        let _ = IceCandidate::from_line(&text).to_json();
    }

    #[test]
    fn json_like_text_never_panics(text in r#"[{}\[\]",:\\u0-9a-fnulltrue .eE+-]{0,64}"#) {
        let _ = IceCandidate::from_json(&text);
    }
}
