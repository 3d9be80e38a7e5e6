//! A connection that fails says why: with `PeerConfig::diagnostics` on, the simulated failures
//! a user meets most (a wrong fingerprint, no route between the peers) yield the diagnostics
//! that explain them, in the order things happened.
#![cfg(feature = "sim")]

mod peer_support;

use kaon::dtls::{AlertDescription, AlertLevel, HashAlgorithm, Identity};
use kaon::ice::{CheckFailure, PairCheckState};
use kaon::peer::{ConnectionState, Diagnostic, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use peer_support::{MS, Pair, SEC};

/// Two peers on a LAN with diagnostics on from the start (before any candidate is reported).
fn lan(seed: u64, loss: f64) -> Pair {
    let mut p = Pair::lan(seed, 5 * MS, loss);
    p.pc(true).set_diagnostics(true);
    p.pc(false).set_diagnostics(true);
    p
}

fn diagnostics(p: &Pair, a_side: bool) -> Vec<Diagnostic> {
    p.log(a_side)
        .iter()
        .filter_map(|(_, e)| match e {
            PeerEvent::Diagnostic(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// The index of the first diagnostic at or after `from` matching `f`; panics with the whole
/// list when there is none, so a failure shows what was reported instead.
fn find(ds: &[Diagnostic], from: usize, what: &str, f: impl Fn(&Diagnostic) -> bool) -> usize {
    match ds.iter().skip(from).position(f) {
        Some(i) => from + i,
        None => panic!("no {what} after #{from} in:\n{}", lines(ds)),
    }
}

fn lines(ds: &[Diagnostic]) -> String {
    ds.iter()
        .enumerate()
        .map(|(i, d)| format!("  #{i} {d}\n"))
        .collect()
}

#[test]
fn a_wrong_fingerprint_is_reported_with_both_fingerprints_and_the_alert() {
    let mut p = lan(21, 0.0);
    let now = p.now();
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
    // Someone in the signalling path swaps the answerer's certificate fingerprint.
    let real = p.pc_ref(false).fingerprint().clone();
    let fake = Identity::generate()
        .unwrap()
        .fingerprint(HashAlgorithm::Sha256);
    let text = answer
        .to_string()
        .replace(&real.to_string(), &fake.to_string());
    p.pc(true)
        .set_remote_description(SdpType::Answer, SessionDescription::parse(&text).unwrap())
        .unwrap();
    assert!(p.run_until(30 * SEC, |p| p.state(true) == ConnectionState::Failed));
    p.run_for(2 * SEC);

    // The offerer is the DTLS server here: it checks the client's certificate.
    let a = diagnostics(&p, true);
    println!("offerer:\n{}", lines(&a));
    let gathered = find(
        &a,
        0,
        "gathered candidate",
        |d| matches!(d, Diagnostic::CandidateGathered { candidate } if candidate.contains("10.0.0.1")),
    );
    let remote = find(
        &a,
        0,
        "remote candidate",
        |d| matches!(d, Diagnostic::RemoteCandidateAdded { candidate } if candidate.contains("10.0.0.2")),
    );
    let succeeded = find(&a, remote, "succeeded pair", |d| {
        matches!(
            d,
            Diagnostic::PairStateChanged { state: PairCheckState::Succeeded, remote, .. }
                if remote.to_string() == "10.0.0.2:5000"
        )
    });
    let selected = find(&a, succeeded, "selected pair", |d| {
        matches!(d, Diagnostic::SelectedPairChanged { .. })
    });
    let mismatch = find(&a, selected, "fingerprint mismatch", |d| {
        matches!(d, Diagnostic::FingerprintMismatch { .. })
    });
    let sent = find(&a, mismatch, "bad_certificate sent", |d| {
        *d == Diagnostic::DtlsAlertSent {
            level: AlertLevel::Fatal,
            description: AlertDescription::BadCertificate,
        }
    });
    assert!(gathered < succeeded && sent > mismatch);
    let Diagnostic::FingerprintMismatch {
        expected,
        presented,
    } = &a[mismatch]
    else {
        unreachable!()
    };
    assert_eq!(expected, &vec![fake.clone()]);
    assert_eq!(presented.as_ref(), Some(&real));
    let printed = a[mismatch].to_string();
    assert!(
        printed.contains(&fake.to_string()) && printed.contains(&real.to_string()),
        "{printed}"
    );

    // The answerer hears the alert.
    let b = diagnostics(&p, false);
    println!("answerer:\n{}", lines(&b));
    find(&b, 0, "bad_certificate received", |d| {
        *d == Diagnostic::DtlsAlertReceived {
            level: AlertLevel::Fatal,
            description: AlertDescription::BadCertificate,
        }
    });
    assert!(
        !b.iter()
            .any(|d| matches!(d, Diagnostic::FingerprintMismatch { .. }))
    );
}

#[test]
fn with_no_route_every_pair_is_reported_failed_by_timeout() {
    // Every datagram is lost both ways: signalling works, the network does not.
    let mut p = lan(22, 1.0);
    p.negotiate();
    assert!(
        p.run_until(60 * SEC, |p| p.state(true) == ConnectionState::Failed
            && p.state(false) == ConnectionState::Failed)
    );
    for a_side in [true, false] {
        let ds = diagnostics(&p, a_side);
        println!(
            "{}:\n{}",
            if a_side { "offerer" } else { "answerer" },
            lines(&ds)
        );
        let (us, them) = if a_side {
            ("10.0.0.1", "10.0.0.2:5000")
        } else {
            ("10.0.0.2", "10.0.0.1:5000")
        };
        let gathered = find(
            &ds,
            0,
            "gathered candidate",
            |d| matches!(d, Diagnostic::CandidateGathered { candidate } if candidate.contains(us)),
        );
        let tried = find(&ds, gathered, "pair in progress", |d| {
            matches!(
                d,
                Diagnostic::PairStateChanged { state: PairCheckState::InProgress, remote, .. }
                    if remote.to_string() == them
            )
        });
        let failed = find(&ds, tried, "pair failed by timeout", |d| {
            matches!(
                d,
                Diagnostic::PairStateChanged {
                    state: PairCheckState::Failed,
                    failure: Some(CheckFailure::Timeout),
                    ..
                }
            )
        });
        assert!(
            ds[failed].to_string().ends_with("failed (timeout)"),
            "{}",
            ds[failed]
        );
        // Nothing got further than ICE.
        assert!(!ds.iter().any(|d| matches!(
            d,
            Diagnostic::SelectedPairChanged { .. }
                | Diagnostic::DtlsAlertSent { .. }
                | Diagnostic::DtlsAlertReceived { .. }
        )));
        // Every pair ended failed.
        assert!(
            p.pc_ref(a_side)
                .ice()
                .pairs()
                .all(|r| r.state == PairCheckState::Failed
                    && r.failure == Some(CheckFailure::Timeout))
        );
    }
}

#[test]
fn a_refused_candidate_says_why() {
    let mut p = lan(23, 0.0);
    p.negotiate();
    let line = "candidate:1 1 udp 2130706431 10.0.0.9 5000 typ bogus";
    let now = p.now();
    let candidate = kaon::peer::IceCandidate::from_line(line);
    assert!(p.pc(true).add_ice_candidate(now, &candidate).is_err());
    p.run_for(10 * MS);
    let ds = diagnostics(&p, true);
    find(
        &ds,
        0,
        "refused candidate",
        |d| matches!(d, Diagnostic::RemoteCandidateRefused { candidate, .. } if candidate == line),
    );
}

#[test]
fn diagnostics_are_off_by_default() {
    let mut p = Pair::lan(24, 5 * MS, 0.0);
    let id = peer_support::connect(&mut p, "no diagnostics");
    let now = p.now();
    p.pc(true).send_text(now, id, "hi").unwrap();
    p.pc(true).close(now);
    p.run_for(5 * SEC);
    assert!(!p.pc_ref(true).diagnostics());
    assert!(diagnostics(&p, true).is_empty() && diagnostics(&p, false).is_empty());
}

#[test]
fn a_clean_close_reports_close_notify_and_the_sctp_shutdown() {
    let mut p = lan(25, 0.0);
    let id = peer_support::connect(&mut p, "close");
    let now = p.now();
    p.pc(true).send_text(now, id, "bye").unwrap();
    p.pc(true).close(now);
    p.run_for(5 * SEC);
    let a = diagnostics(&p, true);
    let b = diagnostics(&p, false);
    println!("closer:\n{}\npeer:\n{}", lines(&a), lines(&b));
    find(&a, 0, "close_notify sent", |d| {
        *d == Diagnostic::DtlsAlertSent {
            level: AlertLevel::Warning,
            description: AlertDescription::CloseNotify,
        }
    });
    let sctp = find(&b, 0, "sctp closed", |d| {
        matches!(d, Diagnostic::SctpClosed(kaon::sctp::CloseReason::Shutdown))
    });
    find(&b, 0, "close_notify received", |d| {
        *d == Diagnostic::DtlsAlertReceived {
            level: AlertLevel::Warning,
            description: AlertDescription::CloseNotify,
        }
    });
    assert!(sctp < b.len());
}
