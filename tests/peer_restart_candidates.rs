//! Our ICE restart, with the peer's candidates of the new generation trickled ahead of its
//! answer (RFC 8838 §4: the answerer may trickle as soon as it has the offer): they wait
//! until the answer names their username fragment and are then added; waiting ones the answer
//! does not name are dropped and counted.
#![cfg(feature = "sim")]

mod peer_support;

use kaon::Protocol;
use kaon::ice::CandidateKind;
use kaon::peer::{IceCandidate, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use peer_support::{MS, Pair, SEC, connect};

/// `a` restarts ICE and offers; `b` answers. Returns the answer without its candidate lines
/// (as browsers answer: candidates come by trickle) and `b`'s trickled candidates of the new
/// generation, taken before `a` sees any of them.
fn restart_offer_and_answer(p: &mut Pair) -> (String, Vec<IceCandidate>) {
    let now = p.now();
    p.pc(true).restart_ice(now).unwrap();
    let offer = p.pc(true).create_offer(now).unwrap();
    p.pc(true)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    p.pc(false)
        .set_remote_description(SdpType::Offer, offer)
        .unwrap();
    let answer = p.pc(false).create_answer(now).unwrap();
    p.pc(false)
        .set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let trickled: Vec<IceCandidate> = std::iter::from_fn(|| p.pc(false).poll_event())
        .filter_map(|e| match e {
            PeerEvent::LocalCandidate(c) => Some(c),
            _ => None,
        })
        .collect();
    let bare: String = answer
        .to_string()
        .lines()
        .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    (bare, trickled)
}

fn remote_hosts(pc: &PeerConnection) -> usize {
    pc.ice()
        .remote_candidates()
        .filter(|c| c.kind == CandidateKind::Host)
        .count()
}

fn connected_again(p: &mut Pair) -> bool {
    let restarted_at = p.now() - p.t0;
    p.run_until(5 * SEC, |p| {
        p.log(true).iter().any(|(t, e)| {
            *t >= restarted_at
                && matches!(
                    e,
                    PeerEvent::IceConnectionStateChanged(
                        kaon::ice::IceState::Connected | kaon::ice::IceState::Completed
                    )
                )
        })
    })
}

#[test]
fn restart_candidates_trickled_before_the_answer_are_added_when_it_names_their_ufrag() {
    let mut p = Pair::lan(21, 5 * MS, 0.0);
    let id = connect(&mut p, "before restart");
    // The harness would forward candidates as they come; this test carries them by hand.
    p.trickle = false;
    let (answer, trickled) = restart_offer_and_answer(&mut p);
    assert!(!trickled.is_empty(), "b gathered no candidate to trickle");
    let new_ufrag = p.pc(false).ice().local_credentials().0.to_string();
    assert!(
        trickled
            .iter()
            .all(|c| c.username_fragment.as_deref() == Some(new_ufrag.as_str()))
    );

    let now = p.now();
    let ignored = p.pc(true).stats().candidates_ignored;
    for c in &trickled {
        // The answer is not here yet: the candidate waits instead of being taken as stale.
        p.pc(true).add_ice_candidate(now, c).unwrap();
    }
    assert_eq!(p.pc(true).stats().candidates_ignored, ignored);
    assert_eq!(remote_hosts(p.pc_ref(true)), 0, "taken before the answer");

    p.pc(true)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&answer).unwrap())
        .unwrap();
    // The answer carries no candidate: the host ones a knows now came by trickle.
    assert_eq!(remote_hosts(p.pc_ref(true)), trickled.len());
    assert_eq!(p.pc(true).stats().candidates_ignored, ignored);
    assert_eq!(
        p.pc(true).ice().remote_credentials().map(|(u, _)| u),
        Some(new_ufrag.as_str())
    );
    p.trickle = true;
    assert!(connected_again(&mut p), "a: {:?}", p.log_a);
    let now = p.now();
    p.pc(true).send_text(now, id, "after").unwrap();
    assert!(p.run_until(5 * SEC, |p| {
        p.messages(false, id).iter().any(|(m, _)| m == b"after")
    }));
}

#[test]
fn restart_candidates_of_a_ufrag_the_answer_does_not_name_are_dropped_and_counted() {
    let mut p = Pair::lan(22, 5 * MS, 0.0);
    connect(&mut p, "before restart");
    p.trickle = false;
    let (answer, trickled) = restart_offer_and_answer(&mut p);
    let now = p.now();
    let ignored = p.pc(true).stats().candidates_ignored;
    // Candidates of a generation the answer will not name (a glare, a buggy peer).
    let other = IceCandidate {
        username_fragment: Some("neverused".into()),
        ..trickled[0].clone()
    };
    p.pc(true).add_ice_candidate(now, &other).unwrap();
    p.pc(true)
        .add_ice_candidate(
            now,
            &IceCandidate {
                username_fragment: Some("neverused".into()),
                ..IceCandidate::end_of_candidates()
            },
        )
        .unwrap();
    assert_eq!(p.pc(true).stats().candidates_ignored, ignored);
    p.pc(true)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&answer).unwrap())
        .unwrap();
    // One candidate line dropped and counted; its end-of-candidates ended nothing.
    assert_eq!(p.pc(true).stats().candidates_ignored, ignored + 1);
    assert_eq!(remote_hosts(p.pc_ref(true)), 0);
    // The real ones, trickled after the answer, still connect.
    let now = p.now();
    for c in &trickled {
        p.pc(true).add_ice_candidate(now, c).unwrap();
    }
    assert_eq!(remote_hosts(p.pc_ref(true)), trickled.len());
    p.trickle = true;
    assert!(connected_again(&mut p), "a: {:?}", p.log_a);
}

#[test]
fn restart_candidates_waiting_for_an_answer_are_bounded() {
    let mut p = Pair::lan(23, 5 * MS, 0.0);
    connect(&mut p, "before restart");
    p.trickle = false;
    let (_answer, trickled) = restart_offer_and_answer(&mut p);
    let now = p.now();
    let ignored = p.pc(true).stats().candidates_ignored;
    for _ in 0..1000 {
        p.pc(true).add_ice_candidate(now, &trickled[0]).unwrap();
    }
    // At most 64 wait; the rest are dropped at once.
    assert_eq!(p.pc(true).stats().candidates_ignored, ignored + 1000 - 64);
    // A rollback of the restart drops the waiting ones too.
    p.pc(true).rollback(now).unwrap();
    assert_eq!(p.pc(true).stats().candidates_ignored, ignored + 1000);
}
