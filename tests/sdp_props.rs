//! Properties over generated input: every typed attribute and whole descriptions survive a
//! write and a parse unchanged; any string, and any mutation of a real description, parses to
//! a value or a typed error, and whatever parses writes back to the same value.

use kaon::sdp::{
    Attribute, Bandwidth, Connection, Direction, Extmap, Fingerprint, Fmtp, MediaDescription,
    MediaKind, MsidSemantic, Origin, Rid, RidDirection, Rtcp, RtcpFb, Rtpmap, Sctpmap,
    SessionDescription, Setup, Simulcast, SimulcastRid, Ssrc, SsrcGroup, Timing,
};
use proptest::prelude::*;
use proptest::{collection::vec, option::of, sample::select};

/// A token: no spaces and none of the separators the typed values split on.
fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.+#*-]{1,10}"
}

/// Text with inner spaces but none at either end (typed values trim them).
fn phrase() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9=;,/_.-]{1,8}( [a-zA-Z0-9=;,/_.-]{1,8}){0,3}"
}

/// Free text as kept verbatim: any printable ASCII, spaces anywhere.
fn free_text() -> impl Strategy<Value = String> {
    "[ -~]{0,30}"
}

fn connection() -> impl Strategy<Value = Connection> {
    (select(vec!["IP4", "IP6"]), token()).prop_map(|(addr_type, address)| Connection {
        net_type: "IN".into(),
        addr_type: addr_type.into(),
        address,
    })
}

fn direction() -> impl Strategy<Value = Direction> {
    select(Direction::ALL.to_vec())
}

fn simulcast_streams() -> impl Strategy<Value = Vec<Vec<SimulcastRid>>> {
    let rid =
        ("[a-zA-Z0-9_-]{1,6}", any::<bool>()).prop_map(|(id, paused)| SimulcastRid { id, paused });
    vec(vec(rid, 1..3), 0..4)
}

fn typed_attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (token(), vec(token(), 0..5))
            .prop_map(|(semantics, mids)| Attribute::Group { semantics, mids }),
        (token(), vec(token(), 0..3), any::<bool>()).prop_map(|(semantic, streams, space)| {
            Attribute::MsidSemantic(MsidSemantic {
                semantic,
                streams,
                space_after_colon: space,
            })
        }),
        token().prop_map(Attribute::Mid),
        token().prop_map(Attribute::IceUfrag),
        token().prop_map(Attribute::IcePwd),
        vec(token(), 1..4).prop_map(Attribute::IceOptions),
        Just(Attribute::IceLite),
        (token(), vec(any::<u8>(), 1..64)).prop_map(|(algorithm, value)| Attribute::Fingerprint(
            Fingerprint { algorithm, value }
        )),
        select(Setup::ALL.to_vec()).prop_map(Attribute::Setup),
        free_text().prop_map(Attribute::Candidate),
        Just(Attribute::EndOfCandidates),
        any::<u16>().prop_map(Attribute::SctpPort),
        any::<u64>().prop_map(Attribute::MaxMessageSize),
        (any::<u16>(), token(), of(any::<u32>())).prop_map(|(port, protocol, streams)| {
            Attribute::Sctpmap(Sctpmap {
                port,
                protocol,
                streams,
            })
        }),
        Just(Attribute::RtcpMux),
        Just(Attribute::RtcpMuxOnly),
        Just(Attribute::RtcpRsize),
        (any::<u16>(), of(connection()))
            .prop_map(|(port, connection)| Attribute::Rtcp(Rtcp { port, connection })),
        (
            any::<u8>(),
            "[a-zA-Z0-9_.-]{1,10}",
            any::<u32>(),
            of(any::<u16>())
        )
            .prop_map(|(payload_type, encoding, clock_rate, channels)| {
                Attribute::Rtpmap(Rtpmap {
                    payload_type,
                    encoding,
                    clock_rate,
                    channels,
                })
            }),
        (token(), prop_oneof![Just(String::new()), phrase()])
            .prop_map(|(format, params)| Attribute::Fmtp(Fmtp { format, params })),
        (of(any::<u8>()), token(), of(phrase())).prop_map(|(payload_type, kind, param)| {
            Attribute::RtcpFb(RtcpFb {
                payload_type,
                kind,
                param,
            })
        }),
        (any::<u16>(), of(direction()), token(), of(phrase())).prop_map(
            |(id, direction, uri, extensions)| Attribute::Extmap(Extmap {
                id,
                direction,
                uri,
                extensions
            })
        ),
        Just(Attribute::ExtmapAllowMixed),
        (
            any::<u32>(),
            "[a-zA-Z0-9_.-]{1,10}",
            of(free_text()
                .prop_filter("no end space", |v| !v.ends_with(' ') && !v.ends_with('\t')))
        )
            .prop_map(|(ssrc, attribute, value)| Attribute::Ssrc(Ssrc {
                ssrc,
                attribute,
                value
            })),
        (token(), vec(any::<u32>(), 0..4))
            .prop_map(|(semantics, ssrcs)| Attribute::SsrcGroup(SsrcGroup { semantics, ssrcs })),
        (token(), of(token())).prop_map(|(stream, track)| Attribute::Msid { stream, track }),
        (token(), select(RidDirection::ALL.to_vec()), of(phrase())).prop_map(
            |(id, direction, params)| Attribute::Rid(Rid {
                id,
                direction,
                params
            })
        ),
        (simulcast_streams(), simulcast_streams())
            .prop_filter("one direction at least", |(s, r)| !s.is_empty()
                || !r.is_empty())
            .prop_map(|(send, recv)| Attribute::Simulcast(Simulcast { send, recv })),
        direction().prop_map(Attribute::Direction),
    ]
}

fn unknown_attribute() -> impl Strategy<Value = Attribute> {
    ("x-[a-zA-Z0-9!#$%&'*+.^_`{|}~-]{0,12}", of(free_text()))
        .prop_map(|(name, value)| Attribute::Unknown { name, value })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![4 => typed_attribute(), 1 => unknown_attribute()]
}

fn bandwidths() -> impl Strategy<Value = Vec<Bandwidth>> {
    vec(
        (token(), any::<u64>()).prop_map(|(kind, value)| Bandwidth { kind, value }),
        0..2,
    )
}

fn media() -> impl Strategy<Value = MediaDescription> {
    let kind = prop_oneof![
        Just(MediaKind::Audio),
        Just(MediaKind::Video),
        Just(MediaKind::Application),
        Just(MediaKind::Unknown("text".into())),
    ];
    (
        (
            kind,
            any::<u16>(),
            of(any::<u16>()),
            token(),
            vec(token(), 0..4),
        ),
        (
            of(free_text()),
            of(connection()),
            bandwidths(),
            of(free_text()),
        ),
        vec(attribute(), 0..12),
    )
        .prop_map(
            |((kind, port, port_count, protocol, formats), (info, conn, bws, key), attributes)| {
                MediaDescription {
                    kind,
                    port,
                    port_count,
                    protocol,
                    formats,
                    information: info,
                    connection: conn,
                    bandwidths: bws,
                    encryption_key: key,
                    attributes,
                }
            },
        )
}

fn session() -> impl Strategy<Value = SessionDescription> {
    let origin =
        (token(), any::<u64>(), any::<u64>(), connection()).prop_map(|(u, id, v, c)| Origin {
            username: u,
            session_id: id,
            session_version: v,
            net_type: c.net_type,
            addr_type: c.addr_type,
            address: c.address,
        });
    let timing =
        (any::<u64>(), any::<u64>(), vec(phrase(), 0..2)).prop_map(|(start, stop, repeats)| {
            Timing {
                start,
                stop,
                repeats,
            }
        });
    (
        (origin, free_text(), of(free_text()), of(free_text())),
        (
            vec(free_text(), 0..2),
            vec(free_text(), 0..2),
            of(connection()),
            bandwidths(),
        ),
        (vec(timing, 1..3), of(free_text()), of(free_text())),
        vec(attribute(), 0..8),
        vec(media(), 0..4),
    )
        .prop_map(
            |(
                (origin, name, info, uri),
                (emails, phones, conn, bws),
                (times, zones, key),
                attributes,
                media,
            )| {
                SessionDescription {
                    version: 0,
                    origin,
                    session_name: name,
                    information: info,
                    uri,
                    emails,
                    phones,
                    connection: conn,
                    bandwidths: bws,
                    times,
                    time_zones: zones,
                    encryption_key: key,
                    attributes,
                    media,
                }
            },
        )
}

fn fixtures() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdp");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.retain(|p| p.extension().is_some_and(|e| e == "sdp"));
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Parses, and when that succeeds checks that writing and re-parsing gives the same value.
fn check_round_trip(text: &str) {
    if let Ok(sdp) = SessionDescription::parse(text) {
        let written = sdp.to_string();
        let again = SessionDescription::parse(&written)
            .unwrap_or_else(|e| panic!("what we write parses: {e}\n{written}"));
        assert_eq!(again, sdp);
        assert_eq!(again.to_string(), written, "writing is deterministic");
    }
}

proptest! {
    // PROPTEST_CASES wins; 512 when it is unset.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn every_attribute_round_trips(a in attribute()) {
        let text = a.to_string();
        prop_assert_eq!(Attribute::parse(&text).unwrap(), a);
    }

    #[test]
    fn whole_descriptions_round_trip(sdp in session()) {
        let text = sdp.to_string();
        let parsed = SessionDescription::parse(&text);
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed, text);
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed, &sdp);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn any_string_parses_or_errs(text in any::<String>()) {
        check_round_trip(&text);
    }

    #[test]
    fn sdp_shaped_noise_parses_or_errs(
        lines in vec((select(vec!["v=0", "o=- 1 1 IN IP4 ::1", "s=-", "t=0 0", "m=audio 9 RTP/AVP 0",
                                  "a=", "a=group:", "a=rtpmap:", "a=simulcast:", "a=fmtp:", "c=", "b=", "r=", ""]),
                      "[ -~]{0,16}"), 0..20)
    ) {
        let text: String = lines.iter().map(|(head, tail)| format!("{head}{tail}\r\n")).collect();
        check_round_trip(&text);
    }

    #[test]
    fn mutated_real_descriptions_parse_or_err(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        cut in 0usize..40,
        insert in "[ -~\r\n]{0,12}",
    ) {
        let all = fixtures();
        let text = &all[which.index(all.len())];
        let mut at = at.index(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        let end = (at + cut).min(text.len());
        let mutated = format!("{}{}{}", &text[..at], insert, &text[end..]);
        check_round_trip(&mutated);
    }
}
