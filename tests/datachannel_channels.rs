//! Data channels (RFC 8831, RFC 8832) between two endpoints over the simulated link.

#[path = "sctp_link/mod.rs"]
mod sctp_link;

use kaon::datachannel::{
    ChannelConfig, ChannelId, Config, DataChannels, Error, Event, Reliability, Role,
};
use sctp_link::{LinkConfig, Pair};
use std::time::Duration;

type Dc = Pair<DataChannels, DataChannels>;

fn cfg(seed: u64, role: Role) -> Config {
    let mut c = Config::new(role);
    c.sctp.seed = Some(seed);
    c
}

fn connected_with(a: Config, b: Config, link: LinkConfig, seed: u64) -> Dc {
    let mut p = Pair::new(
        DataChannels::new(a),
        DataChannels::new(b),
        link.clone(),
        link,
        seed,
    );
    let now = p.now;
    p.a.connect(now);
    p.b.connect(now);
    let (mut ca, mut cb) = (false, false);
    assert!(p.run(Duration::from_secs(30), |p| {
        while let Some(e) = p.a.poll_event() {
            ca |= e == Event::Connected;
        }
        while let Some(e) = p.b.poll_event() {
            cb |= e == Event::Connected;
        }
        ca && cb
    }));
    p
}

fn connected(link: LinkConfig, seed: u64) -> Dc {
    connected_with(
        cfg(seed, Role::Client),
        cfg(seed + 1, Role::Server),
        link,
        seed,
    )
}

fn drain(x: &mut DataChannels) -> Vec<Event> {
    std::iter::from_fn(|| x.poll_event()).collect()
}

/// Runs until `want` events have been collected on b (and returns them); a's events are
/// collected into the second vector.
fn collect(
    p: &mut Dc,
    limit: Duration,
    mut done: impl FnMut(&[Event], &[Event]) -> bool,
) -> (Vec<Event>, Vec<Event>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    let ok = p.run(limit, |p| {
        ea.extend(drain(&mut p.a));
        eb.extend(drain(&mut p.b));
        done(&ea, &eb)
    });
    assert!(ok, "timed out; a: {ea:?}\nb: {eb:?}");
    (ea, eb)
}

#[test]
fn dcep_opens_channels_in_both_directions_with_role_parity() {
    let mut p = connected(LinkConfig::rtt(Duration::from_millis(20)), 1);
    let now = p.now;
    let mut chat = ChannelConfig::labelled("chat");
    chat.protocol = "json".into();
    let a_id = p.a.create_channel(now, chat).unwrap();
    let b_id =
        p.b.create_channel(
            now,
            ChannelConfig {
                ordered: false,
                ..ChannelConfig::labelled("srv")
            },
        )
        .unwrap();
    assert_eq!((a_id % 2, b_id % 2), (0, 1), "client even, server odd");
    p.a.send_text(now, a_id, "from a").unwrap();
    p.b.send(now, b_id, &b"\x00\x01"[..], true).unwrap();
    let (ea, eb) = collect(&mut p, Duration::from_secs(5), |ea, eb| {
        ea.iter().any(|e| matches!(e, Event::Message { .. }))
            && eb.iter().any(|e| matches!(e, Event::Message { .. }))
    });
    assert!(ea.contains(&Event::ChannelOpen {
        id: a_id,
        remote: false
    }));
    assert!(ea.contains(&Event::ChannelOpen {
        id: b_id,
        remote: true
    }));
    assert!(eb.contains(&Event::ChannelOpen {
        id: a_id,
        remote: true
    }));
    assert!(eb.contains(&Event::Message {
        id: a_id,
        data: "from a".into(),
        binary: false
    }));
    assert!(ea.contains(&Event::Message {
        id: b_id,
        data: vec![0u8, 1].into(),
        binary: true
    }));
    let remote = p.b.channel_config(a_id).unwrap();
    assert_eq!(
        (
            remote.label.as_str(),
            remote.protocol.as_str(),
            remote.ordered
        ),
        ("chat", "json", true)
    );
    let remote = p.a.channel_config(b_id).unwrap();
    assert_eq!((remote.label.as_str(), remote.ordered), ("srv", false));
}

#[test]
fn negotiated_channels_skip_dcep() {
    let mut p = connected(LinkConfig::rtt(Duration::from_millis(20)), 2);
    let now = p.now;
    let neg = ChannelConfig {
        negotiated: Some(7),
        ..ChannelConfig::labelled("n")
    };
    assert_eq!(p.a.create_channel(now, neg.clone()).unwrap(), 7);
    assert_eq!(p.b.create_channel(now, neg.clone()).unwrap(), 7);
    assert_eq!(p.a.create_channel(now, neg), Err(Error::IdInUse(7)));
    p.a.send_text(now, 7, "hi").unwrap();
    let (_, eb) = collect(&mut p, Duration::from_secs(5), |_, eb| {
        eb.iter().any(|e| matches!(e, Event::Message { .. }))
    });
    assert_eq!(
        eb,
        vec![
            Event::ChannelOpen {
                id: 7,
                remote: false
            },
            Event::Message {
                id: 7,
                data: "hi".into(),
                binary: false
            }
        ]
    );
}

#[test]
fn empty_messages_use_ppids_56_and_57() {
    let mut p = connected(LinkConfig::default(), 3);
    let now = p.now;
    let id =
        p.a.create_channel(now, ChannelConfig::labelled("e"))
            .unwrap();
    p.a.send_text(now, id, "").unwrap();
    p.a.send(now, id, bytes::Bytes::new(), true).unwrap();
    let (_, eb) = collect(&mut p, Duration::from_secs(5), |_, eb| {
        eb.iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .count()
            == 2
    });
    let msgs: Vec<_> = eb
        .into_iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .collect();
    assert_eq!(
        msgs,
        vec![
            Event::Message {
                id,
                data: bytes::Bytes::new(),
                binary: false
            },
            Event::Message {
                id,
                data: bytes::Bytes::new(),
                binary: true
            }
        ]
    );
}

#[test]
fn messages_of_every_size_up_to_the_limit_and_one_over() {
    for limit in [256 * 1024, 64 * 1024] {
        let mut a = cfg(4, Role::Client);
        a.sctp.max_message_size = limit;
        let link = LinkConfig {
            loss: 0.02,
            ..LinkConfig::rtt(Duration::from_millis(30))
        };
        let mut p = connected_with(a, cfg(5, Role::Server), link, 4);
        let now = p.now;
        let id =
            p.a.create_channel(now, ChannelConfig::labelled("sizes"))
                .unwrap();
        let sizes: Vec<usize> = [0, 1, 1199, 1200, 65535, 262_144]
            .into_iter()
            .filter(|&n| n <= limit)
            .collect();
        for &n in &sizes {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            p.a.send(now, id, data, true).unwrap();
        }
        let over = p.a.send(now, id, vec![0u8; limit + 1], true);
        assert!(
            matches!(
                over,
                Err(Error::Sctp(kaon::sctp::Error::MessageTooLarge { .. }))
            ),
            "{over:?}"
        );
        let (_, eb) = collect(&mut p, Duration::from_secs(30), |_, eb| {
            eb.iter()
                .filter(|e| matches!(e, Event::Message { .. }))
                .count()
                == sizes.len()
        });
        let got: Vec<_> = eb
            .into_iter()
            .filter_map(|e| match e {
                Event::Message { data, .. } => Some(data),
                _ => None,
            })
            .collect();
        for (d, &n) in got.iter().zip(&sizes) {
            assert_eq!(d.len(), n);
            assert!(d.iter().enumerate().all(|(i, &b)| b == (i * 7 + n) as u8));
        }
    }
}

#[test]
fn a_thousand_channels_open_carry_data_close_and_memory_returns_to_baseline() {
    let link = LinkConfig {
        loss: 0.01,
        ..LinkConfig::rtt(Duration::from_millis(10))
    };
    let mut p = connected(link, 6);
    let baseline = (p.a.memory(), p.b.memory());
    for round in 0..4 {
        let now = p.now;
        // 250 at a time, from both sides, so ids are reused across rounds.
        let mut ids: Vec<(bool, ChannelId)> = Vec::new();
        for i in 0..125 {
            let rel = if i % 3 == 0 {
                Reliability::MaxRetransmits(2)
            } else {
                Reliability::Reliable
            };
            let c = ChannelConfig {
                reliability: rel,
                ordered: i % 2 == 0,
                ..ChannelConfig::labelled(format!("a{round}-{i}"))
            };
            ids.push((true, p.a.create_channel(now, c).unwrap()));
            ids.push((
                false,
                p.b.create_channel(now, ChannelConfig::labelled(format!("b{i}")))
                    .unwrap(),
            ));
        }
        for &(from_a, id) in &ids {
            let side = if from_a { &mut p.a } else { &mut p.b };
            side.send(now, id, vec![id as u8; 3000], true).unwrap();
        }
        // Everything delivered, then everything closed (from the side that opened it).
        let mut delivered = 0;
        let mut closed_a = 0;
        let mut closed_b = 0;
        let mut closing = false;
        assert!(
            p.run(Duration::from_secs(120), |p| {
                for e in drain(&mut p.a).into_iter().chain(drain(&mut p.b)) {
                    match e {
                        Event::Message { id, data, .. } => {
                            assert!(data.iter().all(|&b| b == id as u8));
                            delivered += 1;
                        }
                        Event::ChannelClosed(_) => {}
                        _ => {}
                    }
                }
                if delivered == ids.len() && !closing {
                    closing = true;
                    for &(from_a, id) in &ids {
                        if from_a { p.a.close(id) } else { p.b.close(id) }
                    }
                }
                closed_a = p.a.ids().count();
                closed_b = p.b.ids().count();
                closing && closed_a == 0 && closed_b == 0
            }),
            "round {round}: delivered {delivered}, open a {closed_a} b {closed_b}"
        );
        // Let the last SACKs land.
        p.run(Duration::from_secs(2), |_| false);
        drain(&mut p.a);
        drain(&mut p.b);
        assert_eq!((p.a.memory(), p.b.memory()), baseline, "round {round}");
    }
}

#[test]
fn buffered_amount_drains_and_the_low_event_fires() {
    let link = LinkConfig {
        bandwidth: Some(20_000_000),
        ..LinkConfig::rtt(Duration::from_millis(40))
    };
    let mut p = connected(link, 8);
    let now = p.now;
    let id =
        p.a.create_channel(now, ChannelConfig::labelled("bulk"))
            .unwrap();
    p.a.set_buffered_amount_low_threshold(id, 64 * 1024);
    for _ in 0..64 {
        p.a.send(now, id, vec![0u8; 16 * 1024], true).unwrap();
    }
    assert!(
        p.a.buffered_amount(id) >= 1 << 20,
        "{}",
        p.a.buffered_amount(id)
    );
    let (ea, _) = collect(&mut p, Duration::from_secs(20), |ea, _| {
        ea.contains(&Event::BufferedAmountLow(id))
    });
    assert_eq!(
        ea.iter()
            .filter(|e| **e == Event::BufferedAmountLow(id))
            .count(),
        1
    );
    assert!(p.a.buffered_amount(id) <= 64 * 1024);
}

#[test]
fn the_peer_closing_a_channel_closes_it_here_and_frees_the_id() {
    let mut p = connected(LinkConfig::rtt(Duration::from_millis(20)), 9);
    let now = p.now;
    let id =
        p.a.create_channel(now, ChannelConfig::labelled("x"))
            .unwrap();
    collect(&mut p, Duration::from_secs(5), |_, eb| {
        eb.contains(&Event::ChannelOpen { id, remote: true })
    });
    let now = p.now;
    p.b.close(id);
    assert!(p.b.send_text(now, id, "late").is_err());
    let (ea, eb) = collect(&mut p, Duration::from_secs(5), |ea, eb| {
        ea.contains(&Event::ChannelClosed(id)) && eb.contains(&Event::ChannelClosed(id))
    });
    assert!(!ea.iter().any(|e| matches!(e, Event::Message { .. })));
    assert!(!eb.iter().any(|e| matches!(e, Event::Message { .. })));
    let now = p.now;
    // The id is free again on both sides.
    assert_eq!(
        p.a.create_channel(
            now,
            ChannelConfig {
                negotiated: Some(id),
                ..Default::default()
            }
        ),
        Ok(id)
    );
}

#[test]
fn a_slow_reader_flow_controls_a_fast_sender() {
    let mut b = cfg(11, Role::Server);
    b.sctp.receive_window = 1 << 20;
    let mut a = cfg(10, Role::Client);
    a.sctp.send_buffer = 4 << 20;
    let mut p = connected_with(a, b, LinkConfig::rtt(Duration::from_millis(10)), 10);
    let now = p.now;
    let id =
        p.a.create_channel(now, ChannelConfig::labelled("flood"))
            .unwrap();
    let mut refused = false;
    let mut peak = 0;
    let mut sent = 0;
    // b does not read for two minutes: a fills b's window and its own buffer, then is
    // refused; zero-window probes going unanswered do not count as the peer being gone.
    p.run(Duration::from_secs(120), |p| {
        while !refused {
            match p.a.send(p.now, id, vec![1u8; 60_000], true) {
                Ok(()) => sent += 60_000,
                Err(Error::Sctp(kaon::sctp::Error::SendBufferFull { .. })) => refused = true,
                Err(e) => panic!("{e}"),
            }
        }
        let m = p.b.memory().sctp;
        peak = peak.max(m.reassembly + m.undelivered);
        false
    });
    assert!(refused);
    assert!(
        peak <= 2 << 20,
        "receiver held {peak} bytes for a 1 MiB window"
    );
    // Reading resumes the flow.
    let mut got = 0;
    p.run(Duration::from_secs(30), |p| {
        while let Some(e) = p.b.poll_event() {
            if let Event::Message { data, .. } = e {
                got += data.len();
            }
        }
        p.a.buffered_amount(id) == 0 && p.a.association().memory().inflight_chunks == 0
    });
    assert_eq!(got, sent);
    assert!(sent > 4_000_000);
}

#[test]
fn a_peer_opening_too_many_channels_is_refused() {
    let mut b = cfg(13, Role::Server);
    b.max_channels = 10;
    let mut p = connected_with(cfg(12, Role::Client), b, LinkConfig::default(), 12);
    let now = p.now;
    for i in 0..20 {
        p.a.create_channel(now, ChannelConfig::labelled(format!("{i}")))
            .unwrap();
    }
    p.run(Duration::from_secs(5), |p| {
        drain(&mut p.a);
        drain(&mut p.b);
        false
    });
    assert_eq!(p.b.ids().count(), 10);
    // The refused ones were reset, so they close on the opener's side.
    assert_eq!(p.a.ids().count(), 10);
}

/// The driving contract says a driver sends what `poll_transmit` has, then reads events, then
/// sleeps until `poll_timeout`. A DCEP ACK is queued while the application reads the peer's
/// OPEN through `poll_event`, so `poll_timeout` must then be due at once, or the ACK would
/// wait for the next unrelated deadline.
#[test]
fn dcep_ack_queued_by_poll_event_makes_poll_timeout_due_at_once() {
    let mut p = connected(LinkConfig::default(), 41);
    let now = p.now;
    let id = p.a.create_channel(now, ChannelConfig::default()).unwrap();
    let mut buf = vec![0u8; 2048];
    while let Some(n) = p.a.poll_packet(now, &mut buf) {
        p.b.handle_packet(now, &buf[..n]);
    }
    while p.b.poll_packet(now, &mut buf).is_some() {}
    let opened = drain(&mut p.b);
    assert!(
        opened.contains(&Event::ChannelOpen { id, remote: true }),
        "{opened:?}"
    );
    assert!(
        p.b.poll_timeout().is_some_and(|t| t <= now),
        "the ACK must be due now, not at {:?}",
        p.b.poll_timeout().map(|t| t - now)
    );
    let n = p.b.poll_packet(now, &mut buf).expect("the DCEP ACK");
    p.a.handle_packet(now, &buf[..n]);
    while p.b.poll_packet(now, &mut buf).is_some() {}
    assert!(
        p.b.poll_timeout().is_none_or(|t| t > now),
        "nothing left that is due now"
    );
}
