//! Property tests for the RTP and RTCP wire layer: every packet type round-trips
//! (`parse(write(x)) == x`), any bytes parse to a value or a typed error without panicking
//! (and whatever parses writes back to the same value), and the in-place setters change only
//! the field they set. Case counts follow `PROPTEST_CASES`.

use kaon::rtp::rtcp::{
    App, Bye, CcfbArrival, CcfbBlock, Compound, CongestionControlFeedback, DlrrItem,
    ExtendedReport, Fir, FirEntry, Nack, NackPair, PacketType, Pli, RawPacket, ReceiverReport,
    Remb, ReportBlock, RtcpPacket, Sdes, SdesChunk, SdesItem, SdesType, SenderReport, TransportCc,
    XrBlock, check_compound, write_compound,
};
use kaon::rtp::{
    AbsSendTime, AudioLevel, ExtensionKind, ExtensionMap, ExtensionValue, PlayoutDelay, Rotation,
    RtpBuilder, RtpHeader, RtpPacket, VideoOrientation,
};
use proptest::collection::vec;
use proptest::prelude::*;
use smallvec::SmallVec;

fn header() -> impl Strategy<Value = RtpHeader> {
    (
        any::<bool>(),
        0u8..128,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(marker, payload_type, sequence_number, timestamp, ssrc)| RtpHeader {
                marker,
                payload_type,
                sequence_number,
                timestamp,
                ssrc,
            },
        )
}

/// Extension elements that fit the one-byte form, or any two-byte ones.
fn elements() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    prop_oneof![
        vec((1u8..=14, vec(any::<u8>(), 1..=16)), 0..6),
        vec((1u8..=255, vec(any::<u8>(), 0..40)), 1..6),
    ]
}

#[derive(Debug, Clone)]
struct Rtp {
    header: RtpHeader,
    csrcs: Vec<u32>,
    elements: Vec<(u8, Vec<u8>)>,
    payload: Vec<u8>,
    padding: u8,
}

fn rtp() -> impl Strategy<Value = Rtp> {
    (
        header(),
        vec(any::<u32>(), 0..=15),
        elements(),
        vec(any::<u8>(), 0..200),
        any::<u8>(),
    )
        .prop_map(|(header, csrcs, elements, payload, padding)| Rtp {
            header,
            csrcs,
            elements,
            payload,
            padding,
        })
}

impl Rtp {
    fn write(&self) -> Vec<u8> {
        let exts: Vec<_> = self
            .elements
            .iter()
            .map(|(id, d)| (*id, ExtensionValue::Raw(d)))
            .collect();
        let b = RtpBuilder::new(self.header)
            .csrcs(&self.csrcs)
            .extensions(&exts)
            .payload(&self.payload)
            .padding(self.padding);
        let mut buf = vec![0; b.len()];
        assert_eq!(b.write(&mut buf).unwrap(), buf.len());
        buf
    }
}

fn full_map() -> ExtensionMap {
    let mut map = ExtensionMap::new();
    for (i, kind) in ExtensionKind::ALL.into_iter().enumerate() {
        map.insert(i as u8 + 1, kind);
    }
    map
}

fn exercise_getters<T: AsRef<[u8]>>(p: &RtpPacket<T>, map: &ExtensionMap) -> usize {
    let mut n = p.csrcs().count() + p.payload().len() + p.padding_len() + p.header_len();
    n += usize::from(p.marker()) + usize::from(p.payload_type()) + p.sequence_number() as usize;
    n += (p.timestamp() ^ p.ssrc()) as usize % 7;
    n += p.extensions().map(|e| e.data.len()).sum::<usize>();
    n += p.extension_values(map).count();
    n += p.mid(map).map_or(0, str::len) + p.rid(map).map_or(0, str::len);
    n += p.repaired_rid(map).map_or(0, str::len);
    n += p.abs_send_time(map).map_or(0, |t| t.0 as usize);
    n += p.transport_cc(map).map_or(0, usize::from);
    n += p.audio_level(map).map_or(0, |a| usize::from(a.level));
    n += p.video_orientation(map).map_or(0, |v| usize::from(v.flip));
    n += p.playout_delay(map).map_or(0, |d| usize::from(d.max));
    n + p.extension(1).map_or(0, <[u8]>::len)
}

fn report_block() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        -(1i32 << 23)..(1 << 23),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(ssrc, fraction_lost, cumulative_lost, ext, jitter, last_sr, dlsr)| ReportBlock {
                ssrc,
                fraction_lost,
                cumulative_lost,
                extended_highest_sequence: ext,
                jitter,
                last_sr,
                delay_since_last_sr: dlsr,
            },
        )
}

fn blocks() -> impl Strategy<Value = SmallVec<[ReportBlock; 2]>> {
    vec(report_block(), 0..=31).prop_map(SmallVec::from_vec)
}

fn sdes() -> impl Strategy<Value = Sdes> {
    let item = (1u8..=255, vec(any::<u8>(), 0..30)).prop_map(|(k, value)| SdesItem {
        kind: SdesType::from_u8(k),
        value,
    });
    let chunk = (any::<u32>(), vec(item, 0..4)).prop_map(|(ssrc, items)| SdesChunk {
        ssrc,
        items: SmallVec::from_vec(items),
    });
    vec(chunk, 0..4).prop_map(|c| Sdes {
        chunks: SmallVec::from_vec(c),
    })
}

fn twcc() -> impl Strategy<Value = TransportCc> {
    let runs = vec(
        (prop::option::weighted(0.7, any::<i16>()), 1usize..40),
        0..20,
    );
    (
        any::<u32>(),
        any::<u32>(),
        any::<u16>(),
        0u32..1 << 24,
        any::<u8>(),
        runs,
    )
        .prop_map(
            |(sender_ssrc, media_ssrc, base_seq, reference_time, fb_count, runs)| TransportCc {
                sender_ssrc,
                media_ssrc,
                base_seq,
                reference_time,
                fb_count,
                packets: runs
                    .into_iter()
                    .flat_map(|(p, n)| std::iter::repeat_n(p, n))
                    .collect(),
            },
        )
}

fn ccfb() -> impl Strategy<Value = CongestionControlFeedback> {
    let arrival = (0u8..4, 0u16..0x2000).prop_map(|(ecn, ato)| CcfbArrival { ecn, ato });
    let block = (
        any::<u32>(),
        any::<u16>(),
        vec(prop::option::of(arrival), 0..20),
    )
        .prop_map(|(ssrc, begin_seq, reports)| CcfbBlock {
            ssrc,
            begin_seq,
            reports,
        });
    (any::<u32>(), vec(block, 0..4), any::<u32>()).prop_map(
        |(sender_ssrc, blocks, report_timestamp)| CongestionControlFeedback {
            sender_ssrc,
            blocks: SmallVec::from_vec(blocks),
            report_timestamp,
        },
    )
}

fn xr() -> impl Strategy<Value = ExtendedReport> {
    let dlrr = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(ssrc, last_rr, d)| DlrrItem {
        ssrc,
        last_rr,
        delay_since_last_rr: d,
    });
    let block = prop_oneof![
        any::<u64>().prop_map(|ntp_time| XrBlock::ReceiverReferenceTime { ntp_time }),
        vec(dlrr, 0..4).prop_map(|i| XrBlock::Dlrr(SmallVec::from_vec(i))),
        (
            any::<u8>().prop_filter("known type", |t| *t != 4 && *t != 5),
            any::<u8>(),
            vec(any::<u32>(), 0..5)
        )
            .prop_map(|(block_type, type_specific, words)| XrBlock::Unknown {
                block_type,
                type_specific,
                data: words.iter().flat_map(|w| w.to_be_bytes()).collect(),
            }),
    ];
    (any::<u32>(), vec(block, 0..4)).prop_map(|(ssrc, b)| ExtendedReport {
        ssrc,
        blocks: SmallVec::from_vec(b),
    })
}

fn raw() -> impl Strategy<Value = RawPacket> {
    let kind = prop_oneof![
        any::<u8>()
            .prop_filter("interpreted type", |t| !(200..=207).contains(t))
            .prop_map(|t| (t, None)),
        (
            Just(205u8),
            (0u8..32).prop_filter("interpreted FMT", |f| ![1, 11, 15].contains(f))
        )
            .prop_map(|(t, f)| (t, Some(f))),
        (
            Just(206u8),
            (0u8..32).prop_filter("interpreted FMT", |f| ![1, 4, 15].contains(f))
        )
            .prop_map(|(t, f)| (t, Some(f))),
    ];
    (kind, 0u8..32, vec(any::<u8>(), 0..40)).prop_map(|((t, fmt), count, body)| RawPacket {
        packet_type: PacketType::from_u8(t),
        count: fmt.unwrap_or(count),
        body,
    })
}

fn rtcp() -> impl Strategy<Value = RtcpPacket> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            blocks(),
            vec(any::<u8>(), 0..12)
        )
            .prop_map(
                |(
                    ssrc,
                    ntp_time,
                    rtp_time,
                    packet_count,
                    octet_count,
                    reports,
                    profile_extension,
                )| {
                    RtcpPacket::SenderReport(SenderReport {
                        ssrc,
                        ntp_time,
                        rtp_time,
                        packet_count,
                        octet_count,
                        reports,
                        profile_extension,
                    })
                }
            ),
        (any::<u32>(), blocks(), vec(any::<u8>(), 0..12)).prop_map(
            |(ssrc, reports, profile_extension)| {
                RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc,
                    reports,
                    profile_extension,
                })
            }
        ),
        sdes().prop_map(RtcpPacket::Sdes),
        (
            vec(any::<u32>(), 0..=31),
            prop::option::of(vec(any::<u8>(), 0..=255))
        )
            .prop_map(|(s, reason)| RtcpPacket::Bye(Bye {
                sources: SmallVec::from_vec(s),
                reason
            })),
        (
            0u8..32,
            any::<u32>(),
            any::<[u8; 4]>(),
            vec(any::<u8>(), 0..40)
        )
            .prop_map(|(subtype, ssrc, name, data)| RtcpPacket::App(App {
                subtype,
                ssrc,
                name,
                data
            })),
        (any::<u32>(), any::<u32>(), vec(any::<(u16, u16)>(), 1..10)).prop_map(|(s, m, p)| {
            RtcpPacket::Nack(Nack {
                sender_ssrc: s,
                media_ssrc: m,
                pairs: p
                    .into_iter()
                    .map(|(pid, blp)| NackPair { pid, blp })
                    .collect(),
            })
        }),
        any::<(u32, u32)>().prop_map(|(s, m)| RtcpPacket::Pli(Pli {
            sender_ssrc: s,
            media_ssrc: m
        })),
        (any::<u32>(), vec(any::<(u32, u8)>(), 1..5)).prop_map(|(s, e)| {
            RtcpPacket::Fir(Fir {
                sender_ssrc: s,
                entries: e
                    .into_iter()
                    .map(|(ssrc, sequence)| FirEntry { ssrc, sequence })
                    .collect(),
            })
        }),
        (
            any::<u32>(),
            0u8..64,
            0u32..1 << 18,
            vec(any::<u32>(), 0..10)
        )
            .prop_map(|(s, exponent, mantissa, ssrcs)| {
                RtcpPacket::Remb(Remb {
                    sender_ssrc: s,
                    exponent,
                    mantissa,
                    ssrcs: SmallVec::from_vec(ssrcs),
                })
            }),
        twcc().prop_map(RtcpPacket::TransportCc),
        ccfb().prop_map(RtcpPacket::CongestionControl),
        xr().prop_map(RtcpPacket::ExtendedReport),
        raw().prop_map(RtcpPacket::Raw),
    ]
}

fn value() -> impl Strategy<Value = (ExtensionKind, Vec<u8>)> {
    // Written through ExtensionValue, so the strategy yields the kind and the written bytes.
    let s = "[a-zA-Z0-9_-]{1,16}";
    prop_oneof![
        s.prop_map(|m| (ExtensionKind::Mid, m.into_bytes())),
        s.prop_map(|m| (ExtensionKind::RtpStreamId, m.into_bytes())),
        s.prop_map(|m| (ExtensionKind::RepairedRtpStreamId, m.into_bytes())),
        (0u32..1 << 24).prop_map(|t| (
            ExtensionKind::AbsSendTime,
            write(ExtensionValue::AbsSendTime(AbsSendTime(t)))
        )),
        any::<u16>().prop_map(|s| (
            ExtensionKind::TransportCc,
            write(ExtensionValue::TransportCc(s))
        )),
        (any::<bool>(), 0u8..128).prop_map(|(voice, level)| {
            (
                ExtensionKind::AudioLevel,
                write(ExtensionValue::AudioLevel(AudioLevel { voice, level })),
            )
        }),
        (any::<bool>(), any::<bool>(), 0u8..4).prop_map(|(back_camera, flip, r)| {
            let rotation = [
                Rotation::Deg0,
                Rotation::Deg90,
                Rotation::Deg180,
                Rotation::Deg270,
            ][usize::from(r)];
            let v = VideoOrientation {
                back_camera,
                flip,
                rotation,
            };
            (
                ExtensionKind::VideoOrientation,
                write(ExtensionValue::VideoOrientation(v)),
            )
        }),
        (0u16..4096, 0u16..4096).prop_map(|(min, max)| {
            (
                ExtensionKind::PlayoutDelay,
                write(ExtensionValue::PlayoutDelay(PlayoutDelay { min, max })),
            )
        }),
    ]
}

fn write(v: ExtensionValue<'_>) -> Vec<u8> {
    let mut out = vec![0; v.len()];
    v.write(&mut out).unwrap();
    out
}

proptest! {
    #[test]
    fn rtp_packets_round_trip(x in rtp()) {
        let bytes = x.write();
        let p = RtpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(p.header(), x.header);
        prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), x.csrcs.clone());
        let got: Vec<(u8, Vec<u8>)> = p.extensions().map(|e| (e.id, e.data.to_vec())).collect();
        prop_assert_eq!(got, x.elements.clone());
        prop_assert_eq!(p.payload(), &x.payload[..]);
        prop_assert_eq!(p.padding_len(), usize::from(x.padding));
        prop_assert_eq!(p.has_extension(), !x.elements.is_empty());
    }

    #[test]
    fn typed_extension_values_round_trip((kind, bytes) in value()) {
        let v = ExtensionValue::parse(Some(kind), &bytes).unwrap();
        prop_assert_eq!(v.kind(), Some(kind));
        prop_assert_eq!(write(v), bytes);
    }

    #[test]
    fn in_place_setters_change_only_their_field(
        x in rtp(),
        new in header(),
        csrc in any::<(usize, u32)>(),
        fill in any::<u8>(),
    ) {
        let mut bytes = x.write();
        let mut p = RtpPacket::new_checked(&mut bytes[..]).unwrap();
        p.set_marker(new.marker);
        p.set_payload_type(new.payload_type);
        p.set_sequence_number(new.sequence_number);
        p.set_timestamp(new.timestamp);
        p.set_ssrc(new.ssrc);
        let mut expected = x.clone();
        expected.header = new;
        if p.set_csrc(csrc.0 % 16, csrc.1) {
            expected.csrcs[csrc.0 % 16] = csrc.1;
        }
        // Rewrite the first element with that id, keeping its length.
        if let Some((id, data)) = x.elements.first() {
            let value = vec![fill; data.len()];
            p.set_extension(*id, &value).unwrap();
            let first = expected.elements.iter_mut().find(|(i, _)| i == id).unwrap();
            first.1 = value;
        }
        p.payload_mut().iter_mut().for_each(|b| *b = b.wrapping_add(1));
        expected.payload.iter_mut().for_each(|b| *b = b.wrapping_add(1));
        prop_assert_eq!(bytes, expected.write());
    }

    #[test]
    fn any_bytes_as_rtp_never_panic(mut data in vec(any::<u8>(), 0..300), id in any::<u8>()) {
        let map = full_map();
        if let Ok(p) = RtpPacket::new_checked(&data[..]) {
            exercise_getters(&p, &map);
            prop_assert!(p.header_len() + p.payload().len() + p.padding_len() == data.len());
        }
        if let Ok(mut p) = RtpPacket::new_checked(&mut data[..]) {
            p.set_ssrc(1);
            p.set_payload_type(0xff);
            let _ = p.set_extension_value(&map, &ExtensionValue::TransportCc(5));
            let _ = p.set_extension_value(&map, &ExtensionValue::Mid("m"));
            if let Some(e) = p.extension_mut(id) {
                e.fill(0);
            }
        }
    }

    #[test]
    fn rtcp_packets_round_trip(x in rtcp()) {
        let mut buf = vec![0; x.len()];
        prop_assert_eq!(x.write(&mut buf).unwrap(), buf.len());
        prop_assert_eq!(buf.len() % 4, 0);
        prop_assert!(x.write(&mut vec![0; x.len() - 1]).is_err(), "a short buffer is an error");
        prop_assert_eq!(RtcpPacket::parse(&buf).unwrap(), x);
    }

    #[test]
    fn rtcp_compounds_round_trip(xs in vec(rtcp(), 1..5)) {
        let mut buf = vec![0; xs.iter().map(RtcpPacket::len).sum()];
        let n = write_compound(&xs, &mut buf).unwrap();
        prop_assert_eq!(n, buf.len());
        let parsed: Vec<_> = Compound::new(&buf).packets().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed, xs);
    }

    #[test]
    fn any_bytes_as_rtcp_never_panic_and_what_parses_rewrites(data in vec(any::<u8>(), 0..300)) {
        let _ = check_compound(&data);
        for p in Compound::new(&data).packets() {
            let Ok(p) = p else { continue };
            let mut buf = vec![0; p.len()];
            p.write(&mut buf).unwrap();
            prop_assert_eq!(RtcpPacket::parse(&buf).unwrap(), p);
        }
        let _ = SenderReport::parse(&data);
        let _ = ReceiverReport::parse(&data);
        let _ = Sdes::parse(&data);
        let _ = Bye::parse(&data);
        let _ = App::parse(&data);
        let _ = Nack::parse(&data);
        let _ = Pli::parse(&data);
        let _ = Fir::parse(&data);
        let _ = Remb::parse(&data);
        let _ = TransportCc::parse(&data);
        let _ = CongestionControlFeedback::parse(&data);
        let _ = ExtendedReport::parse(&data);
        let _ = RawPacket::parse(&data);
    }

    #[test]
    fn rtcp_shaped_bytes_never_panic(
        first in 0x80u8..0xc0,
        pt in prop_oneof![200u8..=207, any::<u8>()],
        body in vec(any::<u8>(), 0..200),
    ) {
        // Random bodies behind a well-formed header reach the type parsers, not just framing.
        let words = body.len() / 4;
        let mut data = vec![first, pt, (words >> 8) as u8, words as u8];
        data.extend_from_slice(&body[..words * 4]);
        if let Ok(p) = RtcpPacket::parse(&data) {
            let mut buf = vec![0; p.len()];
            p.write(&mut buf).unwrap();
            prop_assert_eq!(RtcpPacket::parse(&buf).unwrap(), p);
        }
    }

    #[test]
    fn nack_lists_expand_to_what_built_them(mut lost in vec(any::<u16>(), 0..60), start in any::<u16>()) {
        // Ascending serial order within a window, as a receiver's loss list is.
        lost.iter_mut().for_each(|s| *s = start.wrapping_add(*s % 2000));
        lost.sort_by_key(|s| s.wrapping_sub(start));
        lost.dedup();
        let nack = Nack::from_lost(1, 2, lost.iter().copied());
        prop_assert_eq!(nack.lost().collect::<Vec<_>>(), lost);
    }
}
