//! Two kaon PeerConnections connect in the simulator and use data channels.
#![cfg(feature = "sim")]

mod peer_support;

use kaon::datachannel::ChannelConfig;
use kaon::peer::{ConnectionState, IceCandidate, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use peer_support::{MS, Pair, SEC, connect};

#[test]
fn same_lan_peers_open_a_channel_and_exchange_messages() {
    let mut p = Pair::lan(1, 5 * MS, 0.0);
    let id = connect(&mut p, "same LAN, 10 ms RTT");
    let now = p.now();
    p.pc(true).send_text(now, id, "hello").unwrap();
    p.pc(false).send(now, id, &[1, 2, 3]).unwrap();
    assert!(p.run_until(2 * SEC, |p| !p.messages(false, id).is_empty()
        && !p.messages(true, id).is_empty()));
    assert_eq!(p.messages(false, id), vec![(b"hello".to_vec(), false)]);
    assert_eq!(p.messages(true, id), vec![(vec![1, 2, 3], true)]);
    let open = p.first(false, |e| matches!(e, PeerEvent::DataChannelOpen { .. }));
    assert!(open.unwrap() < 500 * MS, "{open:?}");
}

const SIZES: [usize; 5] = [0, 1, 1200, 65535, 262144];

fn payload(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect()
}

/// Sends every size as binary and as text from both sides on `id`, and checks what arrives.
fn exchange_all_sizes(p: &mut Pair, id: u16) {
    let now = p.now();
    for (a_side, salt) in [(true, 1u8), (false, 2u8)] {
        for &n in &SIZES {
            p.pc(a_side).send(now, id, &payload(n, salt)).unwrap();
            let text = "x".repeat(n);
            p.pc(a_side).send_text(now, id, &text).unwrap();
        }
    }
    let want = 2 * SIZES.len();
    assert!(
        p.run_until(30 * SEC, |p| p.messages(true, id).len() >= want
            && p.messages(false, id).len() >= want),
        "a got {}, b got {}",
        p.messages(true, id).len(),
        p.messages(false, id).len()
    );
    for (a_side, salt) in [(false, 1u8), (true, 2u8)] {
        let mut expected: Vec<(Vec<u8>, bool)> = Vec::new();
        for &n in &SIZES {
            expected.push((payload(n, salt), true));
            expected.push((vec![b'x'; n], false));
        }
        let mut got = p.messages(a_side, id);
        if !p.pc_ref(a_side).channel_config(id).unwrap().ordered {
            got.sort();
            expected.sort();
        }
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "payloads differ on side a={a_side}");
    }
}

#[test]
fn all_message_sizes_cross_both_ways_on_an_ordered_channel() {
    let mut p = Pair::lan(2, 5 * MS, 0.0);
    let id = connect(&mut p, "sizes");
    exchange_all_sizes(&mut p, id);
}

#[test]
fn all_message_sizes_cross_both_ways_on_an_unordered_channel() {
    let mut p = Pair::lan(3, 5 * MS, 0.0);
    let now = p.now();
    let id = p
        .pc(true)
        .create_data_channel(
            now,
            "unordered",
            ChannelConfig {
                ordered: false,
                ..ChannelConfig::default()
            },
        )
        .unwrap();
    p.negotiate();
    assert!(p.run_until(10 * SEC, |p| p.opened(true, id) && p.opened(false, id)));
    assert!(!p.pc_ref(false).channel_config(id).unwrap().ordered);
    exchange_all_sizes(&mut p, id);
}

#[test]
fn peers_behind_eim_nats_connect_and_exchange() {
    let mut p = Pair::natted(4);
    let id = connect(&mut p, "both behind EIM NATs, 80 ms RTT");
    exchange_all_sizes(&mut p, id);
}

#[test]
fn five_percent_loss_still_connects_and_delivers_everything() {
    let mut p = Pair::lan(5, 10 * MS, 0.05);
    let id = connect(&mut p, "5% loss, 20 ms RTT");
    exchange_all_sizes(&mut p, id);
}

#[test]
fn three_channels_from_both_sides_then_closed_from_either_side() {
    let mut p = Pair::lan(6, 5 * MS, 0.0);
    let first = connect(&mut p, "three channels");
    let now = p.now();
    // After the answer, each side's ids have its DTLS role's parity (RFC 8832 §6).
    let from_b = p
        .pc(false)
        .create_data_channel(now, "from-b", ChannelConfig::default())
        .unwrap();
    let from_a = p
        .pc(true)
        .create_data_channel(now, "from-a", ChannelConfig::default())
        .unwrap();
    assert_eq!(from_b % 2, 0, "the answerer is the DTLS client");
    assert_eq!(from_a % 2, 1);
    let ids = [first, from_a, from_b];
    assert!(p.run_until(5 * SEC, |p| {
        ids.iter().all(|&i| p.opened(true, i) && p.opened(false, i))
    }));
    let label = |p: &Pair, side: bool, id: u16| {
        p.log(side).iter().find_map(|(_, e)| match e {
            PeerEvent::DataChannelOpen { id: i, label, .. } if *i == id => Some(label.clone()),
            _ => None,
        })
    };
    assert_eq!(label(&p, true, from_b).as_deref(), Some("from-b"));
    assert_eq!(label(&p, false, from_a).as_deref(), Some("from-a"));

    let now = p.now();
    for (k, &id) in ids.iter().enumerate() {
        p.pc(true).send_text(now, id, &format!("a{k}")).unwrap();
        p.pc(false).send_text(now, id, &format!("b{k}")).unwrap();
    }
    assert!(
        p.run_until(5 * SEC, |p| ids.iter().all(|&i| p.messages(true, i).len()
            == 1
            && p.messages(false, i).len() == 1))
    );
    for (k, &id) in ids.iter().enumerate() {
        assert_eq!(p.messages(false, id)[0].0, format!("a{k}").into_bytes());
        assert_eq!(p.messages(true, id)[0].0, format!("b{k}").into_bytes());
    }

    // The offerer closes one, the answerer another; both sides see both closed.
    p.pc(true).close_channel(now, from_b);
    p.pc(false).close_channel(now, first);
    let closed = |p: &Pair, side: bool, id: u16| {
        p.log(side)
            .iter()
            .any(|(_, e)| *e == PeerEvent::DataChannelClosed(id))
    };
    assert!(
        p.run_until(5 * SEC, |p| [true, false].iter().all(|&s| closed(
            p, s, from_b
        ) && closed(
            p, s, first
        )))
    );
    // The third still works.
    let now = p.now();
    p.pc(false).send_text(now, from_a, "still here").unwrap();
    assert!(p.run_until(2 * SEC, |p| p.messages(true, from_a).len() == 2));
    assert!(p.pc(true).send_text(now, first, "gone").is_err());
}

#[test]
fn close_tells_the_peer_and_ends_in_closed() {
    let mut p = Pair::lan(7, 5 * MS, 0.0);
    connect(&mut p, "close");
    let now = p.now();
    p.pc(true).close(now);
    assert_eq!(p.state(true), ConnectionState::Closed);
    assert!(p.run_until(5 * SEC, |p| {
        p.log(false)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::SctpClosed | PeerEvent::DtlsClosed))
    }));
}

/// kaon, like several stacks, takes close_notify as the end of DTLS only: its channels close
/// when the SCTP SHUTDOWN arrives. So everything queued before `close`, then the SHUTDOWN, must
/// leave before close_notify, even when far more is queued than one round trip carries.
#[test]
fn close_delivers_what_was_queued_then_shuts_sctp_down_before_close_notify() {
    let mut p = Pair::lan(9, 20 * MS, 0.0);
    let id = connect(&mut p, "close with a full queue");
    let now = p.now();
    let chunk = vec![7u8; 60 * 1024];
    for _ in 0..16 {
        p.pc(true).send(now, id, &chunk).unwrap();
    }
    p.pc(true).send_text(now, id, "last words").unwrap();
    p.pc(true).close(now);
    assert!(p.pc(true).send_text(now, id, "too late").is_err());
    assert!(
        p.run_until(10 * SEC, |p| p
            .log(false)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::SctpClosed))),
        "the answerer never saw the SCTP shutdown: {:?}",
        p.log(false)
            .iter()
            .map(|(_, e)| e)
            .filter(|e| !matches!(e, PeerEvent::Message { .. }))
            .collect::<Vec<_>>()
    );
    let got = p.messages(false, id);
    assert_eq!(got.len(), 17, "messages lost at close");
    assert_eq!(got.last().unwrap(), &(b"last words".to_vec(), false));
    assert!(
        p.log(false)
            .iter()
            .any(|(_, e)| *e == PeerEvent::DataChannelClosed(id))
    );
    // close_notify followed the shutdown.
    assert!(p.run_until(2 * SEC, |p| {
        p.log(false)
            .iter()
            .any(|(_, e)| *e == PeerEvent::DtlsClosed)
    }));
}

/// `abort` (an abrupt close) sends SCTP ABORT, drops what is queued, and still tells the peer.
#[test]
fn abort_tells_the_peer_at_once_and_drops_the_queue() {
    let mut p = Pair::lan(10, 20 * MS, 0.0);
    let id = connect(&mut p, "abort");
    let now = p.now();
    let chunk = vec![7u8; 60 * 1024];
    for _ in 0..16 {
        p.pc(true).send(now, id, &chunk).unwrap();
    }
    p.pc(true).abort(now);
    assert_eq!(p.state(true), ConnectionState::Closed);
    assert!(p.run_until(2 * SEC, |p| {
        p.log(false)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::SctpClosed))
    }));
    let closed_at = p
        .first(false, |e| matches!(e, PeerEvent::SctpClosed))
        .unwrap();
    assert!(p.messages(false, id).len() < 16);
    assert!(closed_at < p.now() - p.t0 + SEC);
}

#[test]
fn a_wrong_fingerprint_in_the_answer_fails_the_connection() {
    use kaon::dtls::{HashAlgorithm, Identity};
    use kaon::peer::SdpType;
    use kaon::sdp::SessionDescription;
    let mut p = Pair::lan(8, 5 * MS, 0.0);
    let now = p.now();
    let offer = p.pc(true).create_offer(now).unwrap();
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
    // Someone in the signalling path swaps the certificate fingerprint.
    let real = p.pc_ref(false).fingerprint().to_string();
    let fake = Identity::generate()
        .unwrap()
        .fingerprint(HashAlgorithm::Sha256)
        .to_string();
    let text = answer.to_string().replace(&real, &fake);
    assert_ne!(text, answer.to_string());
    p.pc(true)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&text).unwrap())
        .unwrap();
    assert!(
        p.run_until(30 * SEC, |p| p.state(true) == ConnectionState::Failed),
        "{:?}",
        p.log_a
    );
    assert!(
        p.log(true)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::DtlsFailed(_)))
    );
    assert!(
        !p.log(true)
            .iter()
            .any(|(_, e)| matches!(e, PeerEvent::DataChannelOpen { .. }))
    );
    p.run_for(5 * SEC);
    // The answerer hears the alert (or never completes); it never opens a channel.
    assert_ne!(p.state(false), ConnectionState::Connected);
}

#[test]
fn five_percent_loss_across_seeds() {
    for seed in 20..30 {
        let mut p = Pair::lan(seed, 10 * MS, 0.05);
        let id = connect(&mut p, &format!("5% loss, seed {seed}"));
        let now = p.now();
        for k in 0..20u8 {
            p.pc(true).send(now, id, &[k; 3000]).unwrap();
        }
        assert!(
            p.run_until(30 * SEC, |p| p.messages(false, id).len() == 20),
            "seed {seed}: {} of 20",
            p.messages(false, id).len()
        );
        let got: Vec<u8> = p.messages(false, id).iter().map(|(m, _)| m[0]).collect();
        assert_eq!(got, (0..20).collect::<Vec<u8>>(), "seed {seed}: order");
    }
}

#[test]
fn an_outage_shows_as_disconnected_and_recovers() {
    let mut p = Pair::lan(9, 5 * MS, 0.0);
    let id = connect(&mut p, "outage");
    let iface = p.ifaces[1];
    p.sim.cut_interface(iface);
    assert!(p.run_until(10 * SEC, |p| p.state(true) == ConnectionState::Disconnected));
    p.sim.restore_interface(iface);
    assert!(p.run_until(15 * SEC, |p| p.state(true) == ConnectionState::Connected));
    let now = p.now();
    p.pc(true).send_text(now, id, "back").unwrap();
    assert!(p.run_until(5 * SEC, |p| {
        p.messages(false, id).iter().any(|(m, _)| m == b"back")
    }));
}

/// Firefox's and Chromium's default: every host candidate hidden behind a `.local` name, and
/// (Firefox) `a=end-of-candidates` in the offer. The answerer cannot resolve the names (no mDNS
/// here), so its only way in is the peer-reflexive pair the offerer's checks create.
#[test]
fn an_offer_of_only_mdns_names_with_end_of_candidates_connects_through_prflx() {
    let mut p = Pair::lan(40, 5 * MS, 0.0);
    p.trickle = false;
    let now = p.now();
    let id = p
        .pc(true)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    let offer = p.pc(true).create_offer(now).unwrap();
    p.pc(true)
        .set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let mut hidden: String = offer
        .to_string()
        .lines()
        .filter(|l| *l != "a=end-of-candidates")
        .map(|l| {
            let l = if l.starts_with("a=candidate:") {
                l.replace(" 10.0.0.1 ", " 1f0e7a52-9b9c-4c61-a9a4-0c7d9c1b4e21.local ")
            } else {
                l.to_string()
            };
            l + "\r\n"
        })
        .collect();
    assert!(hidden.contains(".local"), "{hidden}");
    hidden.push_str("a=end-of-candidates\r\n");
    p.pc(false)
        .set_remote_description(SdpType::Offer, SessionDescription::parse(&hidden).unwrap())
        .unwrap();
    let answer = p.pc(false).create_answer(now).unwrap();
    p.pc(false)
        .set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    p.pc(true)
        .set_remote_description(SdpType::Answer, answer)
        .unwrap();
    assert!(
        p.run_until(5 * SEC, |p| p.opened(true, id) && p.opened(false, id)),
        "no channel: answerer {:?}",
        p.log(false)
    );
    assert_ne!(p.state(false), ConnectionState::Failed);
}

/// The other side of the same rule: names that never resolve and checks that never come
/// still end in failure, once the peer has been quiet for the end-of-candidates timeout.
#[test]
fn unresolvable_mdns_names_and_no_checks_fail_after_the_quiet_timeout() {
    let mut p = Pair::lan(41, 5 * MS, 0.0);
    p.trickle = false;
    let now = p.now();
    p.pc(true)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
    let offer = p.pc(true).create_offer(now).unwrap().to_string();
    let hidden: String = offer
        .lines()
        .map(|l| {
            if l.starts_with("a=candidate:") {
                l.replace(" 10.0.0.1 ", " 0b8e4c1d-1111-4222-8333-944455556666.local ")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\r\n")
        .collect();
    // Only the answerer is told anything: the offerer never checks, so no prflx pair appears.
    p.pc(false)
        .set_remote_description(SdpType::Offer, SessionDescription::parse(&hidden).unwrap())
        .unwrap();
    let now = p.now();
    p.pc(false)
        .add_ice_candidate(now, &IceCandidate::end_of_candidates())
        .unwrap();
    let answer = p.pc(false).create_answer(now).unwrap();
    p.pc(false)
        .set_local_description(SdpType::Answer, answer)
        .unwrap();
    assert!(p.run_until(30 * SEC, |p| p.state(false) == ConnectionState::Failed));
    let failed = p
        .first(false, |e| {
            matches!(
                e,
                PeerEvent::ConnectionStateChanged(ConnectionState::Failed)
            )
        })
        .unwrap();
    assert!(failed >= 10 * SEC, "failed too early: {failed:?}");
    assert!(failed < 12 * SEC, "failed too late: {failed:?}");
}

/// Offer from `a`, answer from `b` at once, but the answer reaches `a` only after `delay`:
/// returns when `a` saw DTLS connected, since the answer was applied.
fn dtls_after_a_late_answer(seed: u64, delay: std::time::Duration) -> std::time::Duration {
    let mut p = Pair::lan(seed, 5 * MS, 0.0);
    let now = p.now();
    let id = p
        .pc(true)
        .create_data_channel(now, "chat", ChannelConfig::default())
        .unwrap();
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
    p.run_for(delay);
    p.pc(true)
        .set_remote_description(SdpType::Answer, answer)
        .unwrap();
    let applied = p.sim.now() - p.t0;
    assert!(p.run_until(10 * SEC, |p| p.opened(true, id) && p.opened(false, id)));
    let dtls = p
        .first(true, |e| matches!(e, PeerEvent::DtlsConnected))
        .unwrap();
    println!("answer applied at {applied:?}; offerer's DTLS connected at {dtls:?}");
    dtls - applied
}

/// The answerer (DTLS client) waits for the offerer's first check, which proves the offerer
/// holds the answer, before its ClientHello: nothing is dropped, nothing waits for a
/// retransmission timeout.
#[test]
fn client_hello_waits_until_the_offerer_has_the_answer() {
    let after = dtls_after_a_late_answer(42, 150 * MS);
    // Check, ClientHello, server flight, client Finished: about three 10 ms round trips.
    assert!(after < 60 * MS, "DTLS took {after:?} after the answer");
}

/// A ClientHello that arrives before the offerer knows its DTLS role (a peer that does not
/// wait, or kaon's own fallback after half a second) is kept and answered as soon as the
/// answer is applied.
#[test]
fn an_early_client_hello_is_kept_until_the_answer_gives_the_role() {
    let after = dtls_after_a_late_answer(43, 2100 * MS);
    assert!(after < 60 * MS, "DTLS took {after:?} after the answer");
}
