//! `get_stats`: the W3C report of a connected pair in the simulator.
#![cfg(feature = "sim")]

mod peer_support;

use peer_support::{Pair, SEC, connect};

#[test]
fn stats_count_what_crossed_and_name_the_transport_as_browsers_do() {
    let mut p = Pair::lan(60, 5 * peer_support::MS, 0.0);
    let id = connect(&mut p, "stats");
    let now = p.now();
    for i in 0..5 {
        p.pc(true).send(now, id, &vec![i; 1000]).unwrap();
    }
    p.pc(false).send_text(now, id, "pong").unwrap();
    assert!(p.run_until(2 * SEC, |p| p.messages(false, id).len() == 5
        && p.messages(true, id).len() == 1));
    // Let the last SACKs land so both sides have sent everything they will.
    p.run_for(SEC);
    let now = p.now();
    let a = p.pc_ref(true).get_stats(now);
    let b = p.pc_ref(false).get_stats(now);

    // A perfect link: what one side sent, the other received, datagram for datagram.
    assert_eq!(
        a.transport.counters.bytes_sent,
        b.transport.counters.bytes_received
    );
    assert_eq!(
        a.transport.counters.packets_sent,
        b.transport.counters.packets_received
    );
    assert_eq!(
        b.transport.counters.bytes_sent,
        a.transport.counters.bytes_received
    );
    assert!(a.transport.counters.bytes_sent > 5000);

    for (s, role, ice_role) in [(&a, "server", "controlling"), (&b, "client", "controlled")] {
        let t = &s.transport;
        assert_eq!(t.dtls_state, "connected");
        assert_eq!(t.dtls_role, role);
        assert_eq!(t.ice_role, ice_role);
        // Two kaon peers settle on DTLS 1.3, the default.
        assert_eq!(t.tls_version, Some("FEFC"));
        assert_eq!(t.dtls_cipher, Some("TLS_AES_128_GCM_SHA256"));
        assert!(t.srtp_cipher.is_some());
        assert_eq!(t.selected_candidate_pair_changes, 1);
        let selected = t
            .selected_candidate_pair_id
            .as_ref()
            .expect("a selected pair");
        let pair = s
            .candidate_pairs
            .iter()
            .find(|c| c.id == *selected)
            .unwrap();
        assert!(pair.selected && pair.nominated && pair.state == "succeeded");
        // Every byte went over the one pair.
        assert_eq!(pair.counters, t.counters);
        assert!(
            s.local_candidates
                .iter()
                .any(|c| c.id == pair.local_candidate_id)
        );
        assert!(
            s.remote_candidates
                .iter()
                .any(|c| c.id == pair.remote_candidate_id)
        );
        assert_eq!(s.certificates.len(), 2);
        assert_eq!(s.peer_connection.data_channels_opened, 1);
    }
    // Each side's certificate is the one the other saw.
    let fp = |s: &kaon::peer::StatsReport, id: &str| {
        s.certificates
            .iter()
            .find(|c| c.id == id)
            .unwrap()
            .fingerprint
            .clone()
    };
    assert_eq!(
        fp(&a, &a.transport.local_certificate_id),
        fp(&b, b.transport.remote_certificate_id.as_ref().unwrap())
    );

    let (da, db) = (&a.data_channels[0], &b.data_channels[0]);
    assert_eq!((da.messages_sent, da.bytes_sent), (5, 5000));
    assert_eq!((db.messages_received, db.bytes_received), (5, 5000));
    assert_eq!((db.messages_sent, da.messages_received), (1, 1));
    assert_eq!((da.state, da.label.as_str()), ("open", "chat"));

    // The JSON form is valid JSON keyed by id, with W3C's field names.
    let json: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
    assert_eq!(json["T01"]["type"], "transport");
    assert_eq!(json["T01"]["dtlsState"], "connected");
    assert_eq!(json[&format!("D{id}")]["messagesSent"], 5);
}

#[test]
fn a_fresh_connection_reports_new_states_and_valid_json() {
    let pc = kaon::peer::PeerConnection::new(kaon::peer::PeerConfig::with_seed(1)).unwrap();
    let s = pc.get_stats(std::time::Instant::now());
    assert_eq!(s.transport.dtls_state, "new");
    assert_eq!(s.transport.ice_state, "new");
    assert!(s.candidate_pairs.is_empty());
    let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(json["P"]["type"], "peer-connection");
}
