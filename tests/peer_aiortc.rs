//! kaon's PeerConnection against aiortc's whole stack (aioice, its OpenSSL DTLS 1.2, its pure
//! Python SCTP), driven by `tests/interop/peer_aiortc.py` over JSON lines on its stdin/stdout.
//!
//! kaon runs on one real UDP socket on 127.0.0.1 driven by `kaon_std::Driver`; aiortc gathers
//! 127.0.0.1 only (the script replaces aioice's host-address function) and no STUN server.
//! aiortc does not trickle: its candidates are in its SDP with `a=end-of-candidates`.
//!
//! - aiortc offers (`actpass`, four channels: reliable ordered, unordered, unordered with
//!   `maxRetransmits=0`, ordered with `maxPacketLifeTime`), kaon answers `active`: kaon is the
//!   DTLS client, aiortc the server, and aiortc's channels take odd ids (RFC 8832 §6). kaon
//!   opens a channel of its own (even id); both sides close one channel at once; aiortc opens
//!   a new channel on an id that just closed.
//! - kaon offers (`actpass`, three channels: one with a subprotocol, one unordered with
//!   `maxRetransmits=0`, one negotiated out of band on stream 42), aiortc answers `active`:
//!   aiortc is the DTLS client, kaon the server. aiortc opens two channels of its own (even
//!   ids) once the connection is up.
//! - aiortc offers 1000 channels at once; kaon opens them all and sends a message on each.
//! - kaon offers over IPv6 loopback (`::1` on both sides; skipped on a host without it).
//! - aiortc offers inside a network namespace of the test's own that drops 5% of UDP
//!   datagrams: reliable channels still deliver everything (needs root, `ip` and `nft`;
//!   skipped without them).
//!
//! In each, text and binary messages of 0, 1, 1200, 16 KiB, 64 KiB and 256 KiB bytes go both
//! ways and are compared exactly (256 KiB is the `a=max-message-size` both announce, and kaon
//! refuses one byte more; an empty message travels as PPID 56/57 with one zero byte, RFC 8831
//! §6.6, and both stacks deliver it empty). Partially reliable channels carry up to 16 KiB
//! only, so that no loopback buffer overflow can make SCTP give a message up. An ordered burst
//! of 1000 messages goes each way (and, when kaon offers, 4 MiB of 64 KiB messages). aiortc
//! reports its DTLS role, DTLS 1.2 and the DTLS-SRTP exporter output, which must equal kaon's
//! (RFC 5764 §4.2). Each side closes a channel and the other sees it close (stream reset,
//! RFC 8831 §6.7); then one side closes the connection and the other sees its association,
//! channels and DTLS end. Offer-to-open times, burst times and bulk rates are printed; nothing
//! asserts on times.
//!
//! Needs a Python with aiortc: `.ci/venv` (made by `.ci/run`) or `$KAON_VENV`. Skipped with a
//! message outside CI when missing; a failure in CI.

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::aiortc::{Aiortc, STEP, pattern, text_pattern, venv};
use common::json_lines::json_str;
use common::kaon_peer::{KaonPeer as Kaon, Reflected, bind, m_lines};
use kaon::datachannel::{ChannelConfig, ChannelId, Reliability};
use kaon::peer::{LocalTrack, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind};
use kaon::sdp::SessionDescription;

/// Message sizes on reliable channels: empty, one byte, one datagram, several, the classic
/// 64 KiB, and the largest both sides announce.
const SIZES: [usize; 6] = [0, 1, 1200, 16 * 1024, 64 * 1024, 256 * 1024];
/// Sizes on partially reliable channels: a message given up by SCTP would fail the test, and
/// only a burst large enough to overflow a loopback receive buffer loses datagrams.
const SMALL_SIZES: [usize; 4] = [0, 1, 1200, 16 * 1024];
/// The kaon side, with what only these tests ask of it.
trait KaonExt {
    fn open(&mut self, label: &str, remote: bool) -> ChannelId;
    fn closed(&mut self, id: ChannelId);
    fn config(&self, id: ChannelId) -> ChannelConfig;
}

impl KaonExt for Kaon {
    fn open(&mut self, label: &str, remote: bool) -> ChannelId {
        let l = label.to_string();
        match self.wait(&format!("{label} open"), STEP, move |e| {
            matches!(e, PeerEvent::DataChannelOpen { label, remote: r, .. } if *label == l && *r == remote)
        }) {
            PeerEvent::DataChannelOpen { id, .. } => id,
            _ => unreachable!(),
        }
    }

    fn closed(&mut self, id: ChannelId) {
        self.wait(
            &format!("channel {id} closed"),
            STEP,
            move |e| matches!(e, PeerEvent::DataChannelClosed(c) if *c == id),
        );
    }

    fn config(&self, id: ChannelId) -> ChannelConfig {
        self.driver
            .call(move |pc, _| pc.channel_config(id).cloned())
            .expect("driver alive")
            .unwrap_or_else(|| panic!("kaon knows channel {id}"))
    }
}

/// Drives `pc` over `socket`; a failure shows aiortc's last stderr lines.
fn spawn_kaon(pc: PeerConnection, socket: UdpSocket, early: Vec<PeerEvent>, py: &Aiortc) -> Kaon {
    let stderr = py.stderr.clone();
    Kaon::spawn(pc, socket, early, STEP, move || stderr.show())
}

/// Messages both ways on one channel. aiortc sends a non-ASCII greeting, then a text and a
/// binary message of each size; kaon compares each with what was sent, byte for byte, and
/// echoes it; aiortc checks every echo against the same pattern.
fn exchange(
    py: &mut Aiortc,
    kaon: &mut Kaon,
    label: &str,
    id: ChannelId,
    ordered: bool,
    sizes: &[usize],
) {
    let greeting = format!("hello from aiortc on {label} ✓ 🦀");
    py.send(&format!(
        r#"{{"cmd":"send","label":{},"text":{}}}"#,
        json_str(label),
        json_str(&greeting)
    ));
    let mut want = vec![(greeting.clone().into_bytes(), false)];
    for &n in sizes {
        py.send(&format!(
            r#"{{"cmd":"send","label":{},"textlen":{n}}}"#,
            json_str(label)
        ));
        py.send(&format!(
            r#"{{"cmd":"send","label":{},"binary":{n}}}"#,
            json_str(label)
        ));
        want.push((text_pattern(n), false));
        want.push((pattern(n), true));
    }
    let mut got = Vec::new();
    for _ in 0..want.len() {
        let (data, binary) = kaon.message(id);
        kaon.send(id, data.clone(), binary);
        got.push((data, binary));
    }
    if !ordered {
        got.sort();
        want.sort();
    }
    assert!(
        got == want,
        "kaon received other messages on {label} (ordered {ordered}): got {:?}, want {:?}",
        got.iter().map(|(d, b)| (d.len(), *b)).collect::<Vec<_>>(),
        want.iter().map(|(d, b)| (d.len(), *b)).collect::<Vec<_>>()
    );

    let g = greeting.clone();
    let l = label.to_string();
    py.wait(&format!("the greeting echoed on {label}"), STEP, move |e| {
        e.is("message") && e.get("label") == l && e.get("text") == g
    });
    for &n in sizes {
        for binary in [false, true] {
            let l = label.to_string();
            let b = binary.to_string();
            let e = py.wait(
                &format!("{n}-byte echo (binary {binary}) on {label}"),
                STEP,
                move |e| {
                    e.is("message")
                        && e.get("label") == l
                        && e.get("binary") == b
                        && e.get("len") == n.to_string()
                },
            );
            assert_eq!(
                e.get("ok"),
                "true",
                "aiortc got a corrupt {n}-byte message (binary {binary}) on {label}"
            );
        }
    }
}

/// A burst of small ordered text messages each way: every one arrives, in order.
fn burst(py: &mut Aiortc, kaon: &mut Kaon, label: &str, id: ChannelId, n: usize) {
    let t = Instant::now();
    py.send(&format!(
        r#"{{"cmd":"burst","label":{},"n":{n}}}"#,
        json_str(label)
    ));
    for i in 0..n {
        let (data, binary) = kaon.message(id);
        assert_eq!(
            (String::from_utf8_lossy(&data).as_ref(), binary),
            (format!("burst {i}/{n}").as_str(), false),
            "kaon: burst message {i} on {label}"
        );
    }
    println!(
        "{n} messages aiortc -> kaon on {label}: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    // One driver call queues the whole burst, as an application loop would between two
    // polls, so SCTP can bundle messages into packets.
    kaon.driver
        .call(move |pc, now| {
            (0..n).try_for_each(|i| {
                pc.send_message(now, id, format!("burst {i}/{n}").into_bytes().into(), false)
            })
        })
        .expect("driver alive")
        .expect("kaon sends the burst");
    let e = py.wait_label("burst", label);
    assert_eq!(
        e.get("inOrder"),
        "true",
        "aiortc: burst on {label} out of order"
    );
    println!(
        "{n} messages kaon -> aiortc on {label}: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// `n` binary messages of `size` bytes each way, checked byte for byte; prints the rate.
fn bulk(py: &mut Aiortc, kaon: &mut Kaon, label: &str, id: ChannelId, n: usize, size: usize) {
    let mib = (n * size) as f64 / (1024.0 * 1024.0);
    let t = Instant::now();
    py.send(&format!(
        r#"{{"cmd":"bulk","label":{},"n":{n},"size":{size}}}"#,
        json_str(label)
    ));
    let want = pattern(size);
    for i in 0..n {
        let (data, binary) = kaon.message(id);
        assert!(
            binary && data == want,
            "kaon: bulk message {i} on {label} differs ({} bytes, binary {binary})",
            data.len()
        );
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "bulk aiortc -> kaon on {label}: {mib:.1} MiB in {:.0} ms, {:.1} MiB/s",
        s * 1e3,
        mib / s
    );
    let t = Instant::now();
    let message = bytes::Bytes::from(want);
    kaon.driver
        .call(move |pc, now| {
            (0..n).try_for_each(|_| pc.send_message(now, id, message.clone(), true))
        })
        .expect("driver alive")
        .expect("kaon queues the bulk messages");
    for i in 0..n {
        let l = label.to_string();
        let e = py.wait(&format!("bulk message {i} on {label}"), STEP, move |e| {
            e.is("message") && e.get("label") == l && e.get("len") == size.to_string()
        });
        assert_eq!(
            e.get("ok"),
            "true",
            "aiortc: bulk message {i} on {label} differs"
        );
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "bulk kaon -> aiortc on {label}: {mib:.1} MiB in {:.0} ms, {:.1} MiB/s",
        s * 1e3,
        mib / s
    );
}

#[test]
fn aiortc_offers_kaon_answers() {
    let Some(python) = venv("aiortc_offers_kaon_answers") else {
        return;
    };
    let mut py = Aiortc::start(&python);
    py.send(concat!(
        r#"{"cmd":"offer","channels":["#,
        r#"{"label":"chat"},"#,
        r#"{"label":"loose","ordered":false},"#,
        r#"{"label":"lossy","ordered":false,"maxRetransmits":0},"#,
        r#"{"label":"timed","maxPacketLifeTime":5000}]}"#
    ));
    let offer = py.wait("offer", STEP, |e| e.is("offer"));
    let t0 = Instant::now();
    let offer = offer.get("sdp").to_string();
    eprintln!("aiortc offer:\n{offer}");
    assert!(
        offer.contains(" 127.0.0.1 ") && offer.contains("a=setup:actpass"),
        "no loopback candidate or no actpass in aiortc's offer"
    );

    let socket = bind();
    let local = socket.local_addr().unwrap();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(local).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses aiortc's offer"),
    )
    .expect("kaon takes aiortc's offer");
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let answer = pc.create_answer(Instant::now()).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = answer.to_string();
    eprintln!("kaon answer:\n{answer}");
    assert!(answer.contains("a=setup:active"), "kaon answers active");
    assert!(
        answer.contains(&format!(" 127.0.0.1 {} typ host", local.port())),
        "kaon's answer carries its host candidate"
    );
    let mut kaon = spawn_kaon(pc, socket, early, &py);
    py.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));

    let labels = ["chat", "loose", "lossy", "timed"];
    let mut ids = HashMap::new();
    for label in labels {
        ids.insert(label, kaon.open(label, true));
        let e = py.wait_label("open", label);
        assert_eq!(
            e.get("id"),
            ids[label].to_string(),
            "both agree on {label}'s id"
        );
    }
    println!(
        "aiortc offer -> {} channels open on both sides: {:.1} ms",
        labels.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    // kaon answered active: it is the DTLS client, aiortc the server, whose channels take odd
    // stream ids (RFC 8832 §6).
    py.check_transport(&kaon, "server");
    assert!(ids.values().all(|id| id % 2 == 1), "stream ids {ids:?}");

    // DCEP carried each channel's reliability (RFC 8832 §5.1).
    let expect = [
        ("chat", true, Reliability::Reliable),
        ("loose", false, Reliability::Reliable),
        ("lossy", false, Reliability::MaxRetransmits(0)),
        (
            "timed",
            true,
            Reliability::MaxPacketLifetime(Duration::from_millis(5000)),
        ),
    ];
    for (label, ordered, reliability) in expect {
        let c = kaon.config(ids[label]);
        assert_eq!(
            (c.label.as_str(), c.ordered, c.reliability),
            (label, ordered, reliability),
            "kaon's view of {label}"
        );
    }

    // aiortc announced 262144 bytes: kaon refuses one more (RFC 8841 §6.1) and the channel
    // stays usable.
    let chat = ids["chat"];
    let refused = kaon
        .driver
        .call(move |pc, now| pc.send(now, chat, &vec![0; 262_145]))
        .expect("driver alive");
    assert!(
        matches!(
            refused,
            Err(kaon::peer::Error::MessageTooLarge {
                size: 262_145,
                max: 262_144
            })
        ),
        "kaon refuses a message over aiortc's max-message-size: {refused:?}"
    );

    let t = Instant::now();
    exchange(&mut py, &mut kaon, "chat", ids["chat"], true, &SIZES);
    burst(&mut py, &mut kaon, "chat", ids["chat"], 1000);
    exchange(&mut py, &mut kaon, "loose", ids["loose"], false, &SIZES);
    exchange(
        &mut py,
        &mut kaon,
        "lossy",
        ids["lossy"],
        false,
        &SMALL_SIZES,
    );
    exchange(
        &mut py,
        &mut kaon,
        "timed",
        ids["timed"],
        true,
        &SMALL_SIZES,
    );
    println!(
        "messages on four channels: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // The answering side opens a channel too: kaon, the DTLS client, takes an even id.
    let mine = kaon
        .driver
        .call(|pc, now| pc.create_data_channel(now, "from-kaon", ChannelConfig::default()))
        .expect("driver alive")
        .expect("kaon's channel");
    assert_eq!(mine % 2, 0, "the DTLS client's channel id is even");
    let e = py.wait_label("open", "from-kaon");
    assert_eq!(e.get("id"), mine.to_string());
    kaon.open("from-kaon", false);
    exchange(&mut py, &mut kaon, "from-kaon", mine, true, &SMALL_SIZES);

    // aiortc closes one of its channels, kaon another of aiortc's; each side sees both close.
    py.send(r#"{"cmd":"close","label":"loose"}"#);
    kaon.closed(ids["loose"]);
    py.wait_label("closed", "loose");
    let chat = ids["chat"];
    kaon.driver.call(move |pc, now| pc.close_channel(now, chat));
    kaon.closed(chat);
    py.wait_label("closed", "chat");
    // Both close the same channel at once: the two outgoing stream resets cross (RFC 8831
    // §6.7), and each side still sees the channel close.
    let timed = ids["timed"];
    py.send(r#"{"cmd":"close","label":"timed"}"#);
    kaon.driver
        .call(move |pc, now| pc.close_channel(now, timed));
    kaon.closed(timed);
    py.wait_label("closed", "timed");

    // Closed ids are free again: aiortc takes the lowest free odd id for a new channel, one
    // that just closed, and kaon opens it as new (its label and subprotocol, not the old
    // channel's).
    py.send(r#"{"cmd":"create","label":"reborn","protocol":"chat/2"}"#);
    let reborn = kaon.open("reborn", true);
    py.wait_label("open", "reborn");
    assert!(
        [chat, ids["loose"], timed].contains(&reborn),
        "aiortc reuses a closed id, got {reborn}"
    );
    println!("aiortc's new channel took id {reborn} again");
    let c = kaon.config(reborn);
    assert_eq!(
        (c.label.as_str(), c.protocol.as_str()),
        ("reborn", "chat/2")
    );
    exchange(&mut py, &mut kaon, "reborn", reborn, true, &SMALL_SIZES);

    // aiortc closes the connection: kaon sees the association end, the other channels close
    // and DTLS's close_notify.
    py.send(r#"{"cmd":"close-pc"}"#);
    py.wait("pc-closed", STEP, |e| e.is("pc-closed"));
    kaon.wait("the association closed", STEP, |e| {
        matches!(e, PeerEvent::SctpClosed)
    });
    kaon.closed(ids["lossy"]);
    kaon.closed(reborn);
    kaon.closed(mine);
    kaon.wait("DTLS closed (close_notify)", STEP, |e| {
        matches!(e, PeerEvent::DtlsClosed)
    });
    kaon.finish();
}

#[test]
fn kaon_offers_aiortc_answers() {
    let Some(python) = venv("kaon_offers_aiortc_answers") else {
        return;
    };
    let mut py = Aiortc::start(&python);

    let socket = bind();
    let local = socket.local_addr().unwrap();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(local).unwrap();
    let now = Instant::now();
    let chat = pc
        .create_data_channel(
            now,
            "kaon-chat",
            ChannelConfig {
                protocol: "chat/1".into(),
                ..ChannelConfig::default()
            },
        )
        .expect("channel");
    let lossy = pc
        .create_data_channel(
            now,
            "kaon-lossy",
            ChannelConfig {
                ordered: false,
                reliability: Reliability::MaxRetransmits(0),
                ..ChannelConfig::default()
            },
        )
        .expect("channel");
    // Negotiated out of band (no DCEP): both create stream 42 before the handshake.
    let agreed = pc
        .create_data_channel(
            now,
            "agreed",
            ChannelConfig {
                negotiated: Some(42),
                ..ChannelConfig::default()
            },
        )
        .expect("channel");
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let t0 = Instant::now();
    let offer = pc.create_offer(now).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    let offer = offer.to_string();
    eprintln!("kaon offer:\n{offer}");
    py.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{},"channels":[{{"label":"agreed","negotiated":true,"id":42}}]}}"#,
        json_str(&offer)
    ));
    let answer = py.wait("answer", STEP, |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    eprintln!("aiortc answer:\n{answer}");
    assert!(
        answer.contains("a=setup:active"),
        "aiortc answers active (it becomes the DTLS client)"
    );
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer).expect("kaon parses aiortc's answer"),
    )
    .expect("kaon takes aiortc's answer");
    let mut kaon = spawn_kaon(pc, socket, early, &py);

    // aiortc learns each channel's reliability and subprotocol from DCEP (RFC 8832 §5.1); the
    // negotiated one opens on both sides without it.
    for (label, id, ordered, retransmits, protocol, negotiated) in [
        ("kaon-chat", chat, "true", "null", "chat/1", "false"),
        ("kaon-lossy", lossy, "false", "0", "", "false"),
        ("agreed", agreed, "true", "null", "", "true"),
    ] {
        assert_eq!(kaon.open(label, false), id);
        let e = py.wait_label("open", label);
        assert_eq!(
            (
                e.get("id"),
                e.get("ordered"),
                e.get("maxRetransmits"),
                e.get("protocol"),
                e.get("negotiated")
            ),
            (
                id.to_string().as_str(),
                ordered,
                retransmits,
                protocol,
                negotiated
            ),
            "aiortc's view of {label}"
        );
    }
    println!(
        "kaon offer -> 3 channels open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    // aiortc answered active: it is the DTLS client and kaon the server, whose ids are odd.
    py.check_transport(&kaon, "client");
    assert!(chat % 2 == 1 && lossy % 2 == 1, "ids {chat} {lossy}");

    exchange(&mut py, &mut kaon, "kaon-chat", chat, true, &SIZES);
    burst(&mut py, &mut kaon, "kaon-chat", chat, 1000);
    bulk(&mut py, &mut kaon, "kaon-chat", chat, 64, 64 * 1024);
    exchange(&mut py, &mut kaon, "kaon-lossy", lossy, false, &SMALL_SIZES);
    exchange(&mut py, &mut kaon, "agreed", agreed, true, &SMALL_SIZES);

    // The answering side opens channels on the live association: aiortc, the DTLS client,
    // takes even ids.
    py.send(r#"{"cmd":"create","label":"aiortc-late"}"#);
    py.send(r#"{"cmd":"create","label":"aiortc-loose","ordered":false}"#);
    let late = kaon.open("aiortc-late", true);
    let loose = kaon.open("aiortc-loose", true);
    py.wait_label("open", "aiortc-late");
    py.wait_label("open", "aiortc-loose");
    assert!(
        late.is_multiple_of(2) && loose.is_multiple_of(2),
        "ids {late} {loose}"
    );
    assert!(!kaon.config(loose).ordered, "aiortc-loose is unordered");
    exchange(&mut py, &mut kaon, "aiortc-late", late, true, &SIZES);
    exchange(&mut py, &mut kaon, "aiortc-loose", loose, false, &SIZES);

    // kaon closes one of its channels and one of aiortc's, aiortc closes one of kaon's;
    // each side sees all three close.
    kaon.driver.call(move |pc, _| pc.close_channel(now, chat));
    kaon.closed(chat);
    py.wait_label("closed", "kaon-chat");
    kaon.driver.call(move |pc, _| pc.close_channel(now, late));
    kaon.closed(late);
    py.wait_label("closed", "aiortc-late");
    py.send(r#"{"cmd":"close","label":"kaon-lossy"}"#);
    kaon.closed(lossy);
    py.wait_label("closed", "kaon-lossy");

    // kaon closes the connection: aiortc sees its remaining channels close, then DTLS's
    // close_notify, on which it closes its connection.
    kaon.driver.call(|pc, now| pc.close(now));
    py.wait_label("closed", "agreed");
    py.wait_label("closed", "aiortc-loose");
    py.wait("aiortc's connection closed", STEP, |e| {
        e.is("state") && e.get("state") == "closed"
    });
    kaon.finish();
}

/// Answers an offer from aiortc on a fresh kaon PeerConnection and starts its driver.
fn answer_aiortc(py: &mut Aiortc, offer_cmd: &str) -> Kaon {
    py.send(offer_cmd);
    let offer = py.wait("offer", STEP, |e| e.is("offer"));
    let socket = bind();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(offer.get("sdp")).expect("kaon parses aiortc's offer"),
    )
    .expect("kaon takes aiortc's offer");
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let answer = pc.create_answer(Instant::now()).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let kaon = spawn_kaon(pc, socket, early, py);
    py.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer.to_string())
    ));
    kaon
}

/// aiortc puts 1000 channels in its offer: their DCEP OPENs reach kaon in one rush right after
/// the association comes up, and kaon opens every one and carries a message on each.
#[test]
fn aiortc_opens_many_channels_at_once() {
    const N: usize = 1000;
    let Some(python) = venv("aiortc_opens_many_channels_at_once") else {
        return;
    };
    let mut py = Aiortc::start(&python);
    let specs: Vec<String> = (0..N).map(|i| format!(r#"{{"label":"ch{i}"}}"#)).collect();
    let t0 = Instant::now();
    let mut kaon = answer_aiortc(
        &mut py,
        &format!(r#"{{"cmd":"offer","channels":[{}]}}"#, specs.join(",")),
    );
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(kaon.open(&format!("ch{i}"), true));
    }
    println!(
        "aiortc offer -> {N} channels open at kaon: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    for i in 0..N {
        py.wait_label("open", &format!("ch{i}"));
    }
    for (i, &id) in ids.iter().enumerate() {
        kaon.send(id, format!("to ch{i}").into_bytes(), false);
    }
    for i in 0..N {
        let want = format!("to ch{i}");
        let l = format!("ch{i}");
        py.wait(&format!("the message on ch{i}"), STEP, move |e| {
            e.is("message") && e.get("label") == l && e.get("text") == want
        });
    }
    kaon.finish();
}

/// The same over IPv6 loopback: kaon on `[::1]`, aiortc gathering `::1` only; the channel
/// opens and messages of every size go both ways. Skipped with a printed reason on a host
/// without `::1`.
#[test]
fn kaon_offers_aiortc_answers_over_ipv6_loopback() {
    let Some(python) = venv("kaon_offers_aiortc_answers_over_ipv6_loopback") else {
        return;
    };
    let socket = match UdpSocket::bind("[::1]:0") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping kaon_offers_aiortc_answers_over_ipv6_loopback: no ::1 here ({e})");
            return;
        }
    };
    let mut py = Aiortc::start_on(&python, "::1");
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    let chat = pc
        .create_data_channel(Instant::now(), "v6", ChannelConfig::default())
        .expect("channel");
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let t0 = Instant::now();
    let offer = pc.create_offer(Instant::now()).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    py.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer.to_string())
    ));
    let answer = py.wait("answer", STEP, |e| e.is("answer"));
    let answer = answer.get("sdp");
    assert!(answer.contains(" ::1 "), "aiortc gathered ::1:\n{answer}");
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(answer).expect("kaon parses aiortc's answer"),
    )
    .expect("kaon takes aiortc's answer");
    let mut kaon = spawn_kaon(pc, socket, early, &py);
    kaon.open("v6", false);
    py.wait_label("open", "v6");
    println!(
        "kaon offer -> channel open over ::1: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    py.check_transport(&kaon, "client");
    exchange(&mut py, &mut kaon, "v6", chat, true, &SIZES);
    kaon.finish();
}

/// Set in the copy of this test binary that runs inside the lossy namespace.
const LOSS_INNER: &str = "KAON_AIORTC_LOSS_INNER";
/// Percent of UDP datagrams the namespace drops, each way.
const LOSS_PERCENT: u32 = 5;

/// Reliable channels against aiortc when 5% of datagrams are lost each way: the handshakes
/// (ICE, DTLS flights, SCTP INIT, DCEP) recover, and every message of every size arrives
/// intact and, on the ordered channel, in order, through both stacks' retransmissions.
///
/// Both peers run on `lo` inside a network namespace of the test's own, whose nftables drop a
/// random 5% of UDP datagrams; the test runs a copy of itself there (`ip netns exec`). Needs
/// root, `ip` and `nft`; skipped with a printed reason without them.
#[test]
fn reliable_channels_survive_5pct_loss_against_aiortc() {
    const TEST: &str = "reliable_channels_survive_5pct_loss_against_aiortc";
    let Some(python) = venv(TEST) else {
        return;
    };
    if std::env::var_os(LOSS_INNER).is_some() {
        return lossy_session(&python);
    }
    let ns = match common::netns::Netns::create("aiortc").and_then(|ns| {
        ns.drop_udp(LOSS_PERCENT)?;
        Ok(ns)
    }) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("skipping {TEST}: cannot make a lossy network namespace ({why})");
            return;
        }
    };
    let exe = std::env::current_exe().expect("test binary");
    let mut inner = ns
        .command(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(LOSS_INNER, "1")
        .spawn()
        .expect("run the test inside the namespace");
    let end = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = inner.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > end {
            let _ = inner.kill();
            let _ = inner.wait();
            panic!("the lossy session did not end within 300 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The counter proves the loss happened.
    if let Ok(out) = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "nft", "list", "chain", "inet", "loss", "out",
        ])
        .output()
    {
        let rules = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = rules.lines().find(|l| l.contains("counter")) {
            println!("namespace drop rule: {}", line.trim());
        }
    }
    assert!(status.success(), "the lossy session failed: {status}");
}

/// The part of `reliable_channels_survive_5pct_loss_against_aiortc` that runs in the lossy
/// namespace.
fn lossy_session(python: &std::path::Path) {
    let mut py = Aiortc::start(python);
    let t0 = Instant::now();
    let mut kaon = answer_aiortc(
        &mut py,
        r#"{"cmd":"offer","channels":[{"label":"chat"},{"label":"loose","ordered":false}]}"#,
    );
    let chat = kaon.open("chat", true);
    let loose = kaon.open("loose", true);
    py.wait_label("open", "chat");
    py.wait_label("open", "loose");
    println!(
        "{LOSS_PERCENT}% loss: aiortc offer -> 2 channels open: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let mine = kaon
        .driver
        .call(|pc, now| pc.create_data_channel(now, "from-kaon", ChannelConfig::default()))
        .expect("driver alive")
        .expect("kaon's channel");
    kaon.open("from-kaon", false);
    py.wait_label("open", "from-kaon");

    let t = Instant::now();
    exchange(&mut py, &mut kaon, "chat", chat, true, &SIZES);
    exchange(&mut py, &mut kaon, "loose", loose, false, &SIZES);
    exchange(&mut py, &mut kaon, "from-kaon", mine, true, &SIZES);
    burst(&mut py, &mut kaon, "chat", chat, 1000);
    println!(
        "{LOSS_PERCENT}% loss: every message on three channels: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    kaon.driver.call(move |pc, now| pc.close_channel(now, chat));
    kaon.closed(chat);
    py.wait_label("closed", "chat");
    kaon.finish();
}

// ---- kaon issue 11: many m-lines and renegotiation ----

/// A short text each way on `label`, checked on arrival.
fn chat(py: &mut Aiortc, kaon: &mut Kaon, label: &str, id: ChannelId) {
    let from_aiortc = format!("aiortc on {label}");
    py.send(&format!(
        r#"{{"cmd":"send","label":{},"text":{}}}"#,
        json_str(label),
        json_str(&from_aiortc)
    ));
    assert_eq!(
        kaon.message(id),
        (from_aiortc.into_bytes(), false),
        "kaon: text on {label}"
    );
    let from_kaon = format!("kaon on {label}");
    kaon.send(id, from_kaon.clone().into_bytes(), false);
    let l = label.to_string();
    py.wait(&format!("kaon's text on {label}"), STEP, move |e| {
        e.is("message") && e.get("label") == l && e.get("text") == from_kaon
    });
}

/// Exchange 1 of the renegotiation tests: kaon offers a data section with channel `first`,
/// aiortc answers, the channel opens and carries a message each way.
fn kaon_offers_first(py: &mut Aiortc) -> (Kaon, ChannelId) {
    let socket = bind();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    let first = pc
        .create_data_channel(Instant::now(), "first", ChannelConfig::default())
        .expect("channel");
    let offer = pc.create_offer(Instant::now()).expect("offer");
    pc.set_local_description(SdpType::Offer, offer.clone())
        .unwrap();
    py.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer.to_string())
    ));
    let answer = py.wait("answer", STEP, |e| e.is("answer"));
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(answer.get("sdp")).expect("kaon parses aiortc's answer"),
    )
    .expect("kaon takes aiortc's answer");
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let mut kaon = spawn_kaon(pc, socket, early, py);
    assert_eq!(kaon.open("first", false), first);
    py.wait_label("open", "first");
    chat(py, &mut kaon, "first", first);
    (kaon, first)
}

/// aiortc offers synthetic audio and video tracks (Opus and VP8) and a data channel; kaon
/// answers every line `sendrecv` with a track of its own on each media line, sends each RTP
/// packet it receives straight back (Pion's `reflect`), and chats on the channel. aiortc
/// accepts the answer and decodes the returned audio and video (its tracks hand out frames),
/// kaon announces both incoming sources with their codecs.
#[test]
fn aiortc_offers_audio_video_data_and_kaon_reflects_the_media() {
    let Some(python) = venv("aiortc_offers_audio_video_data_and_kaon_reflects_the_media") else {
        return;
    };
    let mut py = Aiortc::start(&python);
    py.send(r#"{"cmd":"offer","channels":[{"label":"chat"}],"media":["audio","video"]}"#);
    let offer = py.wait("offer", STEP, |e| e.is("offer"));
    let t0 = Instant::now();
    let offer = offer.get("sdp").to_string();
    eprintln!("aiortc offer:\n{offer}");
    let offered = m_lines(&offer);
    let kinds: Vec<&str> = offered.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["audio", "video", "application"], "aiortc's m-lines");

    let socket = bind();
    let mut pc = PeerConnection::new(PeerConfig::default()).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer).expect("kaon parses aiortc's offer"),
    )
    .expect("kaon takes aiortc's offer");
    let now = Instant::now();
    for kind in [TrackKind::Audio, TrackKind::Video] {
        pc.add_track(
            now,
            kind,
            LocalTrack::new(&format!("back-{kind}"), &["kaon"]),
        )
        .expect("add_track");
    }
    let mut early = Vec::new();
    while let Some(e) = kaon::Protocol::poll_event(&mut pc) {
        early.push(e);
    }
    let answer = pc.create_answer(now).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    let answer = answer.to_string();
    eprintln!("kaon answer:\n{answer}");
    let answered = m_lines(&answer);
    assert_eq!(
        answered.len(),
        offered.len(),
        "one answer line per offer line"
    );
    for ((kind, _, mid), (a_kind, a_port, a_mid)) in offered.iter().zip(&answered) {
        assert_eq!(
            (a_kind, a_mid),
            (kind, mid),
            "the answer keeps kind and mid"
        );
        assert_ne!(*a_port, 0, "kaon takes every line: {answered:?}");
    }
    let mut kaon = spawn_kaon(pc, socket, early, &py);
    py.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    py.wait("aiortc accepts the answer", STEP, |e| e.is("answered"));
    let chat_id = kaon.open("chat", true);
    py.wait_label("open", "chat");
    println!(
        "aiortc audio+video+data offer -> channel open on both sides: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    chat(&mut py, &mut kaon, "chat", chat_id);
    let mut r = Reflected::default();
    kaon.reflect(Duration::from_secs(4), &mut r);
    let codecs: Vec<(TrackKind, String)> = r
        .tracks
        .iter()
        .map(|t| (t.kind, t.codec.name.to_ascii_lowercase()))
        .collect();
    println!("kaon reflected {} packets; incoming {codecs:?}", r.packets);
    assert!(
        codecs.contains(&(TrackKind::Audio, "opus".into())),
        "{codecs:?}"
    );
    assert!(
        codecs.contains(&(TrackKind::Video, "vp8".into())),
        "{codecs:?}"
    );
    py.send(r#"{"cmd":"media-stats"}"#);
    let e = py.wait("media-stats", STEP, |e| e.is("media-stats"));
    let (audio, video) = (
        e.get("audio").parse::<u64>().unwrap_or(0),
        e.get("video").parse::<u64>().unwrap_or(0),
    );
    println!("aiortc decoded kaon's reflection: {audio} audio frames, {video} video frames");
    assert!(audio > 20, "aiortc decodes the returned audio");
    assert!(video > 5, "aiortc decodes the returned video");
    assert_eq!(r.errors(), 0);
    chat(&mut py, &mut kaon, "chat", chat_id);
    kaon.finish();
}

/// Two renegotiations on a live connection with aiortc: kaon offers data and aiortc answers;
/// aiortc adds a video track and re-offers, kaon takes the video section (`recvonly`: it has no
/// video of its own) and receives aiortc's VP8; kaon opens a second channel and re-offers,
/// keeping the video line in place, and aiortc answers. aiortc accepts every description of
/// kaon's and both channels carry messages both ways after the last exchange.
#[test]
fn kaon_and_aiortc_renegotiate_adding_a_channel_and_a_video_section() {
    let Some(python) = venv("kaon_and_aiortc_renegotiate_adding_a_channel_and_a_video_section")
    else {
        return;
    };
    let mut py = Aiortc::start(&python);
    let (mut kaon, first) = kaon_offers_first(&mut py);

    // Exchange 2: aiortc adds a video track and re-offers; kaon takes it, receive-only.
    py.send(r#"{"cmd":"offer","media":["video"]}"#);
    let offer = py.wait("re-offer", STEP, |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    eprintln!("aiortc re-offer:\n{offer}");
    let offered = m_lines(&offer);
    let answer = kaon.answer_reoffer(&offer, "aiortc");
    eprintln!("kaon answer to the re-offer:\n{answer}");
    let answered = m_lines(&answer);
    assert_eq!(
        offered.iter().map(|(k, _, m)| (k, m)).collect::<Vec<_>>(),
        answered.iter().map(|(k, _, m)| (k, m)).collect::<Vec<_>>(),
        "the answer matches the re-offer line for line"
    );
    let video = offered
        .iter()
        .position(|(k, _, _)| k == "video")
        .expect("aiortc's re-offer has a video section");
    assert!(
        answered.iter().all(|(_, port, _)| *port != 0),
        "every line taken: {answered:?}"
    );
    assert!(answer.contains("a=recvonly"), "kaon only receives video");
    py.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    py.wait("aiortc accepts the answer", STEP, |e| e.is("answered"));
    let track = kaon.wait("aiortc's video", STEP, |e| matches!(e, PeerEvent::Track(_)));
    println!("kaon receives aiortc's video: {track:?}");
    chat(&mut py, &mut kaon, "first", first);

    // Exchange 3: kaon opens a channel and re-offers; the video line stays in place.
    let (second, offer) = kaon
        .driver
        .call(|pc, now| {
            let id = pc.create_data_channel(now, "second", ChannelConfig::default())?;
            let offer = pc.create_offer(now)?;
            pc.set_local_description(SdpType::Offer, offer.clone())?;
            Ok::<_, kaon::peer::Error>((id, offer.to_string()))
        })
        .expect("driver alive")
        .expect("kaon re-offers");
    eprintln!("kaon re-offer:\n{offer}");
    let reoffered = m_lines(&offer);
    assert_eq!(
        reoffered.iter().map(|(k, _, m)| (k, m)).collect::<Vec<_>>(),
        offered.iter().map(|(k, _, m)| (k, m)).collect::<Vec<_>>(),
        "kaon's re-offer keeps every line in place"
    );
    assert_ne!(reoffered[video].1, 0, "the video line stays live");
    py.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = py.wait("answer", STEP, |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    eprintln!("aiortc answer to kaon's re-offer:\n{answer}");
    kaon.driver
        .call(move |pc, _| {
            pc.set_remote_description(
                SdpType::Answer,
                SessionDescription::parse(&answer).expect("kaon parses aiortc's answer"),
            )
        })
        .expect("driver alive")
        .expect("kaon takes aiortc's answer to its re-offer");
    assert_eq!(kaon.open("second", false), second);
    py.wait_label("open", "second");
    chat(&mut py, &mut kaon, "second", second);
    chat(&mut py, &mut kaon, "first", first);
    kaon.finish();
}

/// Two renegotiations with aiortc on a data-only session, each adding a channel: kaon opens
/// `second` and re-offers (aiortc accepts kaon's re-offer and answers), then aiortc opens
/// `third` and re-offers (kaon answers, aiortc accepts it). The session keeps one data line
/// with its mid, and all three channels carry messages both ways afterwards.
#[test]
fn kaon_and_aiortc_renegotiate_twice_on_a_data_session() {
    let Some(python) = venv("kaon_and_aiortc_renegotiate_twice_on_a_data_session") else {
        return;
    };
    let mut py = Aiortc::start(&python);
    let (mut kaon, first) = kaon_offers_first(&mut py);

    // Exchange 2: kaon opens a channel and re-offers.
    let (second, offer) = kaon
        .driver
        .call(|pc, now| {
            let id = pc.create_data_channel(now, "second", ChannelConfig::default())?;
            let offer = pc.create_offer(now)?;
            pc.set_local_description(SdpType::Offer, offer.clone())?;
            Ok::<_, kaon::peer::Error>((id, offer.to_string()))
        })
        .expect("driver alive")
        .expect("kaon re-offers");
    eprintln!("kaon re-offer:\n{offer}");
    py.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer)
    ));
    let answer = py.wait("answer", STEP, |e| e.is("answer"));
    let answer = answer.get("sdp").to_string();
    eprintln!("aiortc answer to kaon's re-offer:\n{answer}");
    let kinds_and_mids = |sdp: &str| {
        m_lines(sdp)
            .into_iter()
            .map(|(k, _, m)| (k, m))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds_and_mids(&answer),
        kinds_and_mids(&offer),
        "aiortc answers kaon's re-offer line for line"
    );
    kaon.driver
        .call(move |pc, _| {
            pc.set_remote_description(
                SdpType::Answer,
                SessionDescription::parse(&answer).expect("kaon parses aiortc's answer"),
            )
        })
        .expect("driver alive")
        .expect("kaon takes aiortc's answer to its re-offer");
    assert_eq!(kaon.open("second", false), second);
    py.wait_label("open", "second");
    chat(&mut py, &mut kaon, "second", second);

    // Exchange 3: aiortc opens a channel and re-offers; kaon answers.
    py.send(r#"{"cmd":"create","label":"third"}"#);
    py.send(r#"{"cmd":"offer"}"#);
    let offer = py.wait("re-offer", STEP, |e| e.is("offer"));
    let offer = offer.get("sdp").to_string();
    eprintln!("aiortc re-offer:\n{offer}");
    let answer = kaon.answer_reoffer(&offer, "aiortc");
    eprintln!("kaon answer to aiortc's re-offer:\n{answer}");
    py.send(&format!(
        r#"{{"cmd":"answer","sdp":{}}}"#,
        json_str(&answer)
    ));
    py.wait("aiortc accepts the answer", STEP, |e| e.is("answered"));
    let third = kaon.open("third", true);
    py.wait_label("open", "third");
    chat(&mut py, &mut kaon, "third", third);
    chat(&mut py, &mut kaon, "second", second);
    chat(&mut py, &mut kaon, "first", first);
    kaon.finish();
}
