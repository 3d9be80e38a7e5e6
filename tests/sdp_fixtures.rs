//! Real session descriptions (captured from Chromium and aiortc, hand-written in the shapes of
//! Firefox and Pion; see `tests/fixtures/sdp/README.md`) parse, write back byte for byte where
//! the input is canonical, and answer the getters the way those stacks meant.

use std::path::PathBuf;

use kaon::sdp::{
    Attribute, Direction, MediaKind, RidDirection, SessionDescription, Setup, SimulcastRid,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdp")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse(name: &str) -> SessionDescription {
    SessionDescription::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Fixtures that are not byte-identical after a round trip, and why.
const NORMALIZED: &[(&str, &str)] = &[
    (
        "pion_video_answer.sdp",
        "Pion's trailing space after rtcp-fb types is dropped",
    ),
    (
        "rfc8866_example_lf.sdp",
        "LF line endings are written as CRLF",
    ),
];

#[test]
fn every_fixture_round_trips() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sdp"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures missing: {names:?}");
    for name in &names {
        let text = fixture(name);
        let parsed = parse(name);
        let written = parsed.to_string();
        let again = SessionDescription::parse(&written).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, parsed, "{name}: parse(write(parse(x))) != parse(x)");
        if NORMALIZED.iter().all(|(n, _)| n != name) {
            assert_eq!(written, text, "{name}: write(parse(x)) != x");
        } else {
            assert_ne!(
                written, text,
                "{name} is listed as normalized but is byte-identical"
            );
        }
    }
}

#[test]
fn chromium_data_offer_says_what_a_data_channel_needs() {
    let sdp = parse("chromium_data_offer.sdp");
    assert_eq!(sdp.bundle_group(), Some(&["0".to_string()][..]));
    let semantic = sdp.msid_semantic().unwrap();
    assert_eq!(
        (semantic.semantic.as_str(), semantic.space_after_colon),
        ("WMS", true)
    );
    assert_eq!(sdp.media.len(), 1);
    let data = &sdp.media[0];
    assert!(data.is_data_channel() && !data.is_rejected());
    assert_eq!(data.kind, MediaKind::Application);
    assert_eq!(data.protocol, "UDP/DTLS/SCTP");
    assert_eq!(data.formats, ["webrtc-datachannel"]);
    assert_eq!(data.mid(), Some("0"));
    let ice = data.ice_credentials().unwrap();
    assert_eq!((ice.ufrag, ice.pwd), ("uoqx", "imM5K9dQKHMVyTcTVlEeG9Ss"));
    assert_eq!(data.ice_options().collect::<Vec<_>>(), ["trickle"]);
    let fingerprints: Vec<_> = sdp.fingerprints_for(data).collect();
    assert_eq!(fingerprints.len(), 1);
    assert_eq!(fingerprints[0].algorithm, "sha-256");
    assert_eq!(fingerprints[0].value.len(), 32);
    assert_eq!(fingerprints[0].value[..2], [0xBB, 0xF0]);
    assert_eq!(data.setup(), Some(Setup::ActPass));
    assert_eq!(data.sctp_port(), Some(5000));
    assert_eq!(data.max_message_size(), Some(262_144));
    assert_eq!(sdp.direction_for(data), Direction::SendRecv);
    let candidates: Vec<_> = data.candidates().collect();
    assert_eq!(candidates.len(), 4);
    assert!(candidates[0].starts_with("1437271176 1 udp 2122194687 192.0.2.2 50664 typ host"));
    assert!(!data.end_of_candidates(), "Chromium trickles");
    assert_eq!(
        data.connection.as_ref().unwrap().ip(),
        Some([192, 0, 2, 2].into())
    );
}

#[test]
fn chromium_answer_takes_the_active_role() {
    let sdp = parse("chromium_data_answer.sdp");
    assert_eq!(sdp.media[0].setup(), Some(Setup::Active));
}

#[test]
fn chromium_av_offer_describes_codecs_and_simulcast() {
    let sdp = parse("chromium_av_simulcast_offer.sdp");
    let mids: Vec<_> = sdp.media.iter().map(|m| m.mid().unwrap()).collect();
    assert_eq!(mids, ["0", "1", "2"]);
    assert_eq!(sdp.bundle_group().unwrap(), mids);
    let (audio, video) = (&sdp.media[0], sdp.media_by_mid("1").unwrap());
    assert_eq!(
        (&audio.kind, &video.kind),
        (&MediaKind::Audio, &MediaKind::Video)
    );
    let opus = audio.rtpmap(111).unwrap();
    assert_eq!(
        (opus.encoding.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(audio.fmtp("111").unwrap().param("useinbandfec"), Some("1"));
    assert!(audio.rtcp_mux());
    assert_eq!(audio.direction(), Some(Direction::SendRecv));
    assert_eq!(video.direction(), Some(Direction::SendOnly));
    assert_eq!(video.rtpmap(96).unwrap().encoding, "VP8");
    assert!(
        video
            .rtcp_fbs()
            .any(|fb| fb.kind == "nack" && fb.param.as_deref() == Some("pli"))
    );
    assert!(
        video
            .extmaps()
            .any(|e| e.uri == "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")
    );
    let rids: Vec<_> = video.rids().map(|r| (r.id.as_str(), r.direction)).collect();
    let send = RidDirection::Send;
    assert_eq!(rids, [("h", send), ("m", send), ("l", send)]);
    let simulcast = video.simulcast().unwrap();
    let rid = |id: &str| {
        vec![SimulcastRid {
            id: id.to_string(),
            paused: false,
        }]
    };
    assert_eq!(simulcast.send, [rid("h"), rid("m"), rid("l")]);
    assert!(simulcast.recv.is_empty());
    let (stream, track) = video.msids().next().unwrap();
    assert_eq!(stream, "f50f3332-c8a3-4b0b-8395-538c6a39cf7d");
    assert!(track.is_some());
    assert!(audio.ssrcs().any(|s| s.attribute == "cname"));
    // rtcp-xr is not a typed attribute: kept as written.
    assert!(audio.attributes.contains(&Attribute::Unknown {
        name: "rtcp-xr".into(),
        value: Some("rcvr-rtt=all".into()),
    }));
}

#[test]
fn aiortc_offer_gathers_fully_with_three_fingerprints() {
    let sdp = parse("aiortc_av_offer.sdp");
    let video = &sdp.media[1];
    let algorithms: Vec<_> = video.fingerprints().map(|f| f.algorithm.as_str()).collect();
    assert_eq!(algorithms, ["sha-256", "sha-384", "sha-512"]);
    assert!(video.end_of_candidates());
    let fid = video.ssrc_groups().next().unwrap();
    assert_eq!((fid.semantics.as_str(), fid.ssrcs.len()), ("FID", 2));
    assert_eq!(sdp.msid_semantic().unwrap().streams, ["*"]);
    let answer = parse("aiortc_data_answer.sdp");
    assert_eq!(answer.media[0].setup(), Some(Setup::Active));
}

#[test]
fn firefox_offer_uses_session_level_fallbacks() {
    let sdp = parse("firefox_av_data_offer.sdp");
    assert!(sdp.origin.username.starts_with("mozilla...THIS_IS_SDPARTA"));
    let data = sdp.media_by_mid("2").unwrap();
    assert!(data.fingerprints().next().is_none());
    assert_eq!(sdp.fingerprints_for(data).count(), 1);
    assert_eq!(data.max_message_size(), Some(1_073_741_823));
    let video = &sdp.media[1];
    let playout = video.extmaps().find(|e| e.id == 6).unwrap();
    assert_eq!(playout.direction, Some(Direction::RecvOnly));
    let m = video.rids().find(|r| r.id == "m").unwrap();
    assert_eq!(
        m.params().collect::<Vec<_>>(),
        [("max-width", Some("640")), ("max-height", Some("360"))]
    );
}

#[test]
fn pion_answer_is_ice_lite_and_tolerates_trailing_spaces() {
    let sdp = parse("pion_video_answer.sdp");
    assert!(sdp.ice_lite());
    assert_eq!(sdp.msid_semantic().unwrap().semantic, "WMS*");
    let audio = &sdp.media[0];
    assert_eq!(audio.ice_credentials(), sdp.ice_credentials_for(audio));
    let fb = audio.rtcp_fbs().next().unwrap();
    assert_eq!(
        (fb.kind.as_str(), fb.param.as_deref()),
        ("transport-cc", None)
    );
    assert_eq!(sdp.direction_for(&sdp.media[1]), Direction::RecvOnly);
    let offer = parse("pion_data_offer.sdp");
    assert_eq!(offer.setup_for(&offer.media[0]), Some(Setup::ActPass));
    assert_eq!(offer.fingerprints_for(&offer.media[0]).count(), 1);
}

#[test]
fn rfc_example_keeps_every_line_type() {
    let sdp = parse("rfc8866_example_lf.sdp");
    assert_eq!(sdp.session_name, "Call to John Smith");
    assert_eq!(sdp.emails, ["Jane Doe <jane@jdoe.example.com>"]);
    assert_eq!(sdp.times[0].repeats, ["7d 1h 0 25h"]);
    assert_eq!(
        sdp.time_zones.as_deref(),
        Some("3730928400 -1h 3749680800 0")
    );
    assert_eq!(sdp.direction_for(&sdp.media[0]), Direction::RecvOnly);
    assert_eq!(sdp.media[1].port_count, Some(2));
    assert_eq!(sdp.media[1].bandwidths[0].value, 64);
    assert_eq!(sdp.media[2].connection.as_ref().unwrap().addr_type, "IP6");
}
