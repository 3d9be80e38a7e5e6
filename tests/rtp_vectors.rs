//! RTP and RTCP against the layouts and examples of their RFCs, byte for byte: RFC 3550
//! headers, the RFC 8285 §4.2/§4.3 extension examples, RFC 4585 NACK bitmasks, the TWCC
//! draft's example chunks, and hand-built packets of every RTCP type checked against the RFC
//! field diagrams.

use kaon::rtp::rtcp::{
    App, Bye, CcfbArrival, CcfbBlock, Compound, CompoundKind, CongestionControlFeedback, DlrrItem,
    ExtendedReport, Fir, FirEntry, Nack, NackPair, PacketChunk, Pli, RawPacket, ReceiverReport,
    ReferenceTimeUnwrapper, Remb, ReportBlock, RtcpPacket, Sdes, SenderReport, TransportCc,
    TwccBuilder, XrBlock, check_compound, write_compound,
};
use kaon::rtp::{
    AbsSendTime, AudioLevel, Error, Extension, ExtensionForm, ExtensionKind, ExtensionMap,
    ExtensionValue, RtpBuilder, RtpHeader, RtpPacket,
};
use smallvec::smallvec;

/// RFC 3550 §5.1 fixed header: V=2 P=1 X=1 CC=2, M=1 PT=96, seq 0x1234, ts 0xdeadbeef,
/// SSRC 0x11223344, two CSRCs, the RFC 8285 §4.2 example block, payload, 3 bytes of padding.
const RFC8285_ONE_BYTE: [u8; 16] = [
    0xbe, 0xde, 0x00, 0x03, // "defined by profile" 0xBEDE, length 3 words
    0x10, 0xaa, // ID 1, L=0: one byte of data
    0x21, 0xbb, 0xbb, // ID 2, L=1: two bytes
    0x00, 0x00, // two padding bytes
    0x33, 0xcc, 0xcc, 0xcc, 0xcc, // ID 3, L=3: four bytes
];

fn packet_with(block: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0xb2, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44,
    ];
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    p.extend_from_slice(block);
    p.extend_from_slice(b"payload");
    p.extend_from_slice(&[0, 0, 3]);
    p
}

#[test]
fn rfc3550_header_fields_csrcs_and_padding_read_back() {
    let bytes = packet_with(&RFC8285_ONE_BYTE);
    let p = RtpPacket::new_checked(&bytes[..]).unwrap();
    assert!(p.has_padding() && p.has_extension() && p.marker());
    assert_eq!(p.payload_type(), 96);
    assert_eq!(p.sequence_number(), 0x1234);
    assert_eq!(p.timestamp(), 0xdead_beef);
    assert_eq!(p.ssrc(), 0x1122_3344);
    assert_eq!(p.csrcs().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(p.header_len(), 12 + 8 + 16);
    assert_eq!(p.payload(), b"payload", "the payload excludes the padding");
    assert_eq!(p.padding_len(), 3);
}

#[test]
fn rfc8285_one_byte_example_iterates_three_elements() {
    let bytes = packet_with(&RFC8285_ONE_BYTE);
    let p = RtpPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.extension_form(), Some(ExtensionForm::OneByte));
    let got: Vec<_> = p.extensions().collect();
    assert_eq!(
        got,
        [
            Extension {
                id: 1,
                data: &[0xaa]
            },
            Extension {
                id: 2,
                data: &[0xbb, 0xbb]
            },
            Extension {
                id: 3,
                data: &[0xcc; 4]
            },
        ]
    );
    assert_eq!(p.extension(3), Some(&[0xcc; 4][..]));
    assert_eq!(p.extension(4), None);
}

#[test]
fn rfc8285_two_byte_example_iterates_three_elements() {
    let block = [
        0x10, 0x00, 0x00, 0x03, // 0x100 + appbits 0, length 3 words
        0x01, 0x00, // ID 1, L=0: no data
        0x02, 0x01, 0xbb, // ID 2, L=1
        0x00, // padding
        0x03, 0x04, 0xcc, 0xcc, 0xcc, 0xcc, // ID 3, L=4
    ];
    let bytes = packet_with(&block);
    let p = RtpPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        p.extension_form(),
        Some(ExtensionForm::TwoByte { appbits: 0 })
    );
    let got: Vec<_> = p.extensions().collect();
    assert_eq!(
        got,
        [
            Extension { id: 1, data: &[] },
            Extension {
                id: 2,
                data: &[0xbb]
            },
            Extension {
                id: 3,
                data: &[0xcc; 4]
            },
        ]
    );
}

#[test]
fn builder_writes_the_rfc8285_one_byte_elements_with_padding_at_the_end() {
    let exts = [
        (1, ExtensionValue::Raw(&[0xaa])),
        (2, ExtensionValue::Raw(&[0xbb, 0xbb])),
        (3, ExtensionValue::Raw(&[0xcc; 4])),
    ];
    let header = RtpHeader {
        marker: true,
        payload_type: 96,
        sequence_number: 0x1234,
        timestamp: 0xdead_beef,
        ssrc: 0x1122_3344,
    };
    let b = RtpBuilder::new(header)
        .csrcs(&[1, 2])
        .extensions(&exts)
        .payload(b"payload")
        .padding(3);
    let mut buf = [0u8; 64];
    let n = b.write(&mut buf).unwrap();
    assert_eq!(n, b.len());
    // The same elements, packed, then the block padded to a word (RFC 3550 §5.3.1).
    let block = [
        0xbe, 0xde, 0x00, 0x03, 0x10, 0xaa, 0x21, 0xbb, 0xbb, 0x33, 0xcc, 0xcc, 0xcc, 0xcc, 0, 0,
    ];
    assert_eq!(&buf[..n], &packet_with(&block)[..]);
    // An element that does not fit the one-byte form switches the block to two-byte headers.
    let exts = [
        (1, ExtensionValue::Raw(&[])),
        (20, ExtensionValue::Raw(&[9])),
    ];
    let n = RtpBuilder::new(header)
        .extensions(&exts)
        .write(&mut buf)
        .unwrap();
    assert_eq!(&buf[12..n], &[0x10, 0x00, 0, 2, 1, 0, 20, 1, 9, 0, 0, 0]);
}

#[test]
fn typed_extensions_read_through_the_map_and_rewrite_in_place() {
    let mut map = ExtensionMap::new();
    map.insert(1, ExtensionKind::Mid);
    map.insert(3, ExtensionKind::TransportCc);
    map.insert(4, ExtensionKind::AbsSendTime);
    map.insert(5, ExtensionKind::AudioLevel);
    let exts = [
        (1, ExtensionValue::Mid("video")),
        (3, ExtensionValue::TransportCc(0xfffe)),
        (4, ExtensionValue::AbsSendTime(AbsSendTime(0x12_3456))),
        (
            5,
            ExtensionValue::AudioLevel(AudioLevel {
                voice: true,
                level: 30,
            }),
        ),
        (9, ExtensionValue::Raw(b"xy")),
    ];
    let mut buf = [0u8; 128];
    let n = RtpBuilder::new(RtpHeader {
        payload_type: 100,
        ssrc: 7,
        ..Default::default()
    })
    .extensions(&exts)
    .payload(&[1, 2, 3])
    .write(&mut buf)
    .unwrap();
    let before = buf;
    let mut p = RtpPacket::new_checked(&mut buf[..n]).unwrap();
    assert_eq!(p.mid(&map), Some("video"));
    assert_eq!(p.transport_cc(&map), Some(0xfffe));
    assert_eq!(p.abs_send_time(&map), Some(AbsSendTime(0x12_3456)));
    assert_eq!(
        p.audio_level(&map),
        Some(AudioLevel {
            voice: true,
            level: 30
        })
    );
    assert_eq!(p.rid(&map), None, "not mapped");
    let values: Vec<_> = p.extension_values(&map).map(|(id, _)| id).collect();
    assert_eq!(values, [1, 3, 4, 5, 9]);

    // An SFU rewrites the transport-wide sequence number, SSRC, sequence number and PT.
    p.set_extension_value(&map, &ExtensionValue::TransportCc(77))
        .unwrap();
    p.set_ssrc(0xabcd);
    p.set_sequence_number(9);
    p.set_payload_type(101);
    assert_eq!(p.transport_cc(&map), Some(77));
    assert_eq!(p.payload(), &[1, 2, 3]);
    assert_eq!(
        p.set_extension_value(&map, &ExtensionValue::Mid("audio!")),
        Err(Error::LengthMismatch { have: 5, want: 6 }),
        "a value of another length cannot be written in place"
    );
    assert_eq!(p.set_extension(12, &[0]), Err(Error::NoSuchExtension(12)));
    let changed: Vec<usize> = (0..n).filter(|&i| buf[i] != before[i]).collect();
    // Bytes 1 (PT), 3 (seq low byte), 10-11 (SSRC low bytes), and the two TWCC bytes (after
    // the block header at 12, the MID element at 16..22 and the TWCC element header at 22).
    assert_eq!(changed, [1, 3, 10, 11, 23, 24]);
}

#[test]
fn malformed_rtp_is_a_typed_error() {
    assert_eq!(
        RtpPacket::new_checked(&[0x80; 11][..]),
        Err(Error::TooShort)
    );
    assert_eq!(
        RtpPacket::new_checked(&[0x40; 12][..]).unwrap_err(),
        Error::BadVersion(1)
    );
    // CC=15 but no CSRCs.
    assert_eq!(
        RtpPacket::new_checked(&[0x8f; 12][..]).unwrap_err(),
        Error::TooShort
    );
    // X=1 with an extension longer than the packet.
    let mut p = [
        0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 2, 0, 0, 0, 0,
    ];
    assert_eq!(RtpPacket::new_checked(&p[..]).unwrap_err(), Error::TooShort);
    p[15] = 1;
    assert!(RtpPacket::new_checked(&p[..]).is_ok());
    // Padding count of zero, or past the header.
    let mut q = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    assert_eq!(
        RtpPacket::new_checked(&q[..]).unwrap_err(),
        Error::BadPadding
    );
    q[13] = 3;
    assert_eq!(
        RtpPacket::new_checked(&q[..]).unwrap_err(),
        Error::BadPadding
    );
    q[13] = 2;
    assert_eq!(RtpPacket::new_checked(&q[..]).unwrap().payload(), &[]);
}

#[test]
fn rfc4585_nack_blp_bit_i_reports_pid_plus_i_plus_1() {
    let pair = NackPair {
        pid: 100,
        blp: 0b1000_0000_0000_0101,
    };
    assert_eq!(pair.lost().collect::<Vec<_>>(), [100, 101, 103, 116]);
    // Across the wrap.
    let pair = NackPair { pid: 65535, blp: 1 };
    assert_eq!(pair.lost().collect::<Vec<_>>(), [65535, 0]);
    let nack = Nack::from_lost(1, 2, [65535, 0, 2, 16, 17, 40]);
    assert_eq!(
        nack.pairs.as_slice(),
        [
            NackPair {
                pid: 65535,
                blp: 0b101
            }, // 65535, 0, 2
            NackPair { pid: 16, blp: 1 }, // 16 is 17 after 65535: a new entry; 17
            NackPair { pid: 40, blp: 0 },
        ]
    );
    assert_eq!(nack.lost().collect::<Vec<_>>(), [65535, 0, 2, 16, 17, 40]);
    // RFC 4585 §6.2.1 layout: RTPFB (205), FMT 1, sender, media, PID, BLP.
    let mut buf = [0u8; 32];
    let n = Nack::from_lost(0x0102_0304, 0x0506_0708, [100, 101, 103])
        .write(&mut buf)
        .unwrap();
    assert_eq!(
        &buf[..n],
        &[0x81, 205, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 0, 100, 0, 0b101]
    );
}

#[test]
#[allow(clippy::unusual_byte_groupings)] // grouped as the draft's diagrams: T, S, symbols
fn twcc_draft_example_chunks_decode_as_the_draft_says() {
    // §3.1.3 example 1: a run of 221 "packet not received".
    assert_eq!(
        PacketChunk::parse(0b0_00_0000011011101),
        PacketChunk::RunLength {
            symbol: 0,
            run: 221
        }
    );
    // §3.1.3 example 2: a run of 24 with symbol 11.
    assert_eq!(
        PacketChunk::parse(0b0_11_0000000011000),
        PacketChunk::RunLength { symbol: 3, run: 24 }
    );
    // §3.1.4 example 1: 1 not received, 5 received, 3 not, 3 received, 2 not.
    let one = PacketChunk::parse(0b1_0_01111100011100);
    assert_eq!(
        one,
        PacketChunk::OneBit([0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0])
    );
    // §3.1.4 example 2: not received, (reserved 11), 3 received small, 2 not received.
    let two = PacketChunk::parse(0b1_1_00110101010000);
    assert_eq!(two, PacketChunk::TwoBit([0, 3, 1, 1, 1, 0, 0]));
    for c in [0x00dd, 0x6018, 0x9f1c, 0xcd50] {
        assert_eq!(PacketChunk::parse(c).to_u16(), c);
    }
}

/// A TWCC feedback built by hand from §3.1: 5 packets from 10, one lost, one negative delta.
const TWCC: [u8; 28] = [
    0xaf, 205, 0, 6, // V=2 P=1 FMT=15, RTPFB, 6 words follow
    0, 0, 0, 1, 0, 0, 0, 2, // sender, media SSRC
    0, 10, 0, 5, // base sequence 10, 5 statuses
    0, 0, 0x10, 7, // reference time 16 (x 64 ms), feedback count 7
    0xd2, 0x50, // 2-bit vector: small, lost, large, small, small, (pad, pad)
    4, 0xff, 0xfc, 0xff, 0, // deltas: 1 ms, -1 ms, 63.75 ms, 0
    1, // one byte of padding
];

#[test]
fn twcc_hand_built_packet_parses_and_is_rewritten_identically() {
    let fb = TransportCc::parse(&TWCC).unwrap();
    assert_eq!((fb.base_seq, fb.reference_time, fb.fb_count), (10, 16, 7));
    assert_eq!(fb.packets, [Some(4), None, Some(-4), Some(255), Some(0)]);
    let arrivals: Vec<_> = fb.arrivals().collect();
    assert_eq!(
        arrivals,
        [
            (10, Some(1_025_000)),
            (11, None),
            (12, Some(1_024_000)),
            (13, Some(1_087_750)),
            (14, Some(1_087_750))
        ]
    );
    let mut buf = [0u8; 64];
    let n = fb.write(&mut buf).unwrap();
    assert_eq!(&buf[..n], &TWCC);
    assert_eq!(
        RtcpPacket::parse(&TWCC).unwrap(),
        RtcpPacket::TransportCc(fb)
    );
}

#[test]
fn twcc_encoder_picks_run_length_for_runs_and_vectors_for_mixes() {
    let mut fb = TransportCc {
        packets: vec![Some(1); 100],
        ..Default::default()
    };
    assert_eq!(
        fb.chunks(),
        [PacketChunk::RunLength {
            symbol: 1,
            run: 100
        }]
    );
    fb.packets.extend([None, Some(1), None, Some(1)]);
    fb.packets.extend(vec![None; 30]);
    assert_eq!(
        fb.chunks(),
        [
            PacketChunk::RunLength {
                symbol: 1,
                run: 100
            },
            PacketChunk::OneBit([0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            PacketChunk::RunLength { symbol: 0, run: 20 },
        ]
    );
    // A large delta needs the 2-bit vector; the last chunk is padded past the count only.
    let fb = TransportCc {
        packets: vec![Some(1), Some(-1), None],
        ..Default::default()
    };
    assert_eq!(fb.chunks(), [PacketChunk::TwoBit([1, 2, 0, 0, 0, 0, 0])]);
    let mut buf = [0u8; 64];
    let n = fb.write(&mut buf).unwrap();
    assert_eq!(TransportCc::parse(&buf[..n]).unwrap(), fb);
    // Runs longer than 13 bits split.
    let fb = TransportCc {
        packets: vec![None; 9000],
        ..Default::default()
    };
    assert_eq!(
        fb.chunks(),
        [
            PacketChunk::RunLength {
                symbol: 0,
                run: 8191
            },
            PacketChunk::RunLength {
                symbol: 0,
                run: 809
            }
        ]
    );
}

#[test]
fn twcc_builder_reports_gaps_lost_and_handles_both_wraps() {
    // Arrival times just before the 24-bit reference time wraps (2^24 x 64 ms).
    let wrap_us: u64 = (1 << 24) * 64_000;
    let start = wrap_us - 100_000;
    let mut b = TwccBuilder::new(1, 2, 0);
    assert!(b.push(65534, start));
    assert!(b.push(65535, start + 1_000));
    assert!(b.push(1, start + 70_000)); // 0 lost; delta 276 ticks: large
    assert!(!b.push(1, start + 80_000), "a duplicate does not fit");
    assert!(
        !b.push(2, start + 70_000 + 8_200_000),
        "a delta past 8191.75 ms does not fit"
    );
    assert!(b.push(2, start + 69_000), "a negative delta does");
    let fb = b.finish();
    assert_eq!(fb.base_seq, 65534);
    assert_eq!(fb.reference_time, (((start / 64_000) as u32) & 0xff_ffff));
    let mut unwrap = ReferenceTimeUnwrapper::default();
    let base = unwrap.unwrap_micros(fb.reference_time);
    let got: Vec<_> = fb.arrivals_from(base).collect();
    let at = |us: u64| Some(us as i64);
    assert_eq!(
        got,
        [
            (65534, at(start)),
            (65535, at(start + 1_000)),
            (0, None),
            (1, at(start + 70_000)),
            (2, at(start + 69_000))
        ]
    );
    // The next feedback's reference time has wrapped to a small value; unwrapped, it follows.
    let mut b = TwccBuilder::new(1, 2, 1);
    assert!(b.push(3, wrap_us + 10_000));
    let next = b.finish();
    assert_eq!(next.reference_time, 0);
    assert_eq!(unwrap.unwrap_micros(next.reference_time), wrap_us as i64);
    assert_eq!(
        next.arrivals_from(wrap_us as i64).next(),
        Some((3, at(wrap_us + 10_000)))
    );
}

#[test]
fn remb_bitrate_is_mantissa_shifted_by_exponent() {
    let remb = Remb::new(0x0a0b_0c0d, 1_000_000, &[0x1122_3344]);
    assert_eq!((remb.exponent, remb.mantissa), (2, 250_000));
    assert_eq!(remb.bitrate(), 1_000_000);
    let mut buf = [0u8; 32];
    let n = remb.write(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[
            0x8f, 206, 0, 5, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 0x0b,
            0xd0, 0x90, 0x11, 0x22, 0x33, 0x44
        ]
    );
    assert_eq!(
        RtcpPacket::parse(&buf[..n]).unwrap(),
        RtcpPacket::Remb(remb)
    );
    // Rounded down to 18 significant bits.
    let big = Remb::new(0, (1 << 40) + 12345, &[]);
    assert_eq!(big.bitrate(), 1 << 40);
}

#[test]
fn sender_report_layout_matches_rfc3550_6_4_1() {
    let sr = SenderReport {
        ssrc: 1,
        ntp_time: 0x0102_0304_0506_0708,
        rtp_time: 9,
        packet_count: 10,
        octet_count: 11,
        reports: smallvec![ReportBlock {
            ssrc: 2,
            fraction_lost: 0x40,
            cumulative_lost: -2,
            extended_highest_sequence: 0x0001_0005,
            jitter: 12,
            last_sr: 13,
            delay_since_last_sr: 14,
        }],
        profile_extension: vec![],
    };
    let mut buf = [0u8; 64];
    let n = sr.write(&mut buf).unwrap();
    #[rustfmt::skip]
    let want = [
        0x81, 200, 0, 12, 0, 0, 0, 1,
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9, 0, 0, 0, 10, 0, 0, 0, 11,
        0, 0, 0, 2, 0x40, 0xff, 0xff, 0xfe, 0, 1, 0, 5, 0, 0, 0, 12, 0, 0, 0, 13, 0, 0, 0, 14,
    ];
    assert_eq!(&buf[..n], &want);
    assert_eq!(SenderReport::parse(&want).unwrap(), sr);
    let rr = ReceiverReport {
        ssrc: 5,
        reports: sr.reports.clone(),
        profile_extension: vec![],
    };
    let n = rr.write(&mut buf).unwrap();
    assert_eq!(&buf[..8], &[0x81, 201, 0, 7, 0, 0, 0, 5]);
    assert_eq!(ReceiverReport::parse(&buf[..n]).unwrap(), rr);
}

#[test]
fn sdes_bye_and_app_pad_to_words_as_rfc3550_says() {
    let sdes = Sdes::cname(0x0102_0304, "ab");
    let mut buf = [0u8; 64];
    let n = sdes.write(&mut buf).unwrap();
    // Chunk: SSRC, CNAME item (type 1, length 2, "ab"), then the null item and padding to
    // the word: 4 + 4 = 8 bytes (§6.5).
    assert_eq!(
        &buf[..n],
        &[0x81, 202, 0, 3, 1, 2, 3, 4, 1, 2, b'a', b'b', 0, 0, 0, 0]
    );
    assert_eq!(
        Sdes::parse(&buf[..n]).unwrap().chunks[0].cname(),
        Some(&b"ab"[..])
    );

    let bye = Bye {
        sources: smallvec![7],
        reason: Some(b"done".to_vec()),
    };
    let n = bye.write(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[
            0x81, 203, 0, 3, 0, 0, 0, 7, 4, b'd', b'o', b'n', b'e', 0, 0, 0
        ]
    );
    assert_eq!(Bye::parse(&buf[..n]).unwrap(), bye);

    let app = App {
        subtype: 3,
        ssrc: 1,
        name: *b"kaon",
        data: vec![1, 2, 3, 4],
    };
    let n = app.write(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[
            0x83, 204, 0, 3, 0, 0, 0, 1, b'k', b'a', b'o', b'n', 1, 2, 3, 4
        ]
    );
    assert_eq!(App::parse(&buf[..n]).unwrap(), app);
}

#[test]
fn pli_and_fir_layouts_match_rfc4585_and_rfc5104() {
    let mut buf = [0u8; 32];
    let n = Pli {
        sender_ssrc: 1,
        media_ssrc: 2,
    }
    .write(&mut buf)
    .unwrap();
    assert_eq!(&buf[..n], &[0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
    let fir = Fir {
        sender_ssrc: 1,
        entries: smallvec![FirEntry {
            ssrc: 9,
            sequence: 5
        }],
    };
    let n = fir.write(&mut buf).unwrap();
    // RFC 5104 §4.3.1: media SSRC 0, then SSRC + seq nr + 24 reserved bits.
    assert_eq!(
        &buf[..n],
        &[
            0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 5, 0, 0, 0
        ]
    );
    assert_eq!(Fir::parse(&buf[..n]).unwrap(), fir);
}

#[test]
fn rfc8888_feedback_layout_with_odd_report_count_padding() {
    #[rustfmt::skip]
    let bytes = [
        0x8b, 205, 0, 6, // FMT 11, 6 words follow
        0, 0, 0, 1, // sender
        0, 0, 0, 9, 0, 5, 0, 3, // SSRC 9, begin_seq 5, 3 reports
        0xc0, 0x10, // R=1 ECN=10 ATO=16
        0, 0, // not received
        0x9f, 0xff, // R=1 ECN=00 ATO=0x1fff (unavailable)
        0, 0, // padding after an odd count
        0xaa, 0xbb, 0xcc, 0xdd, // report timestamp
    ];
    let fb = CongestionControlFeedback::parse(&bytes).unwrap();
    assert_eq!(
        fb,
        CongestionControlFeedback {
            sender_ssrc: 1,
            blocks: smallvec![CcfbBlock {
                ssrc: 9,
                begin_seq: 5,
                reports: vec![
                    Some(CcfbArrival { ecn: 2, ato: 16 }),
                    None,
                    Some(CcfbArrival {
                        ecn: 0,
                        ato: kaon::rtp::rtcp::ATO_UNAVAILABLE
                    }),
                ],
            }],
            report_timestamp: 0xaabb_ccdd,
        }
    );
    let mut buf = [0u8; 64];
    let n = fb.write(&mut buf).unwrap();
    assert_eq!(&buf[..n], &bytes);
    // RFC 8888 §3.1: ATO 512 is exactly half a second; past 8189/1024 s is over-range.
    assert_eq!(
        CcfbArrival { ecn: 0, ato: 512 }.offset_micros(),
        Some(500_000)
    );
    assert_eq!(CcfbArrival::from_offset_micros(1, Some(500_000)).ato, 512);
    assert_eq!(
        CcfbArrival::from_offset_micros(1, Some(9_000_000)).ato,
        kaon::rtp::rtcp::ATO_OVER_RANGE
    );
    assert_eq!(
        CcfbArrival::from_offset_micros(1, None).offset_micros(),
        None
    );
}

#[test]
fn xr_rrtr_and_dlrr_blocks_match_rfc3611() {
    let xr = ExtendedReport {
        ssrc: 1,
        blocks: smallvec![
            XrBlock::ReceiverReferenceTime {
                ntp_time: 0x1122_3344_5566_7788
            },
            XrBlock::Dlrr(smallvec![DlrrItem {
                ssrc: 2,
                last_rr: 3,
                delay_since_last_rr: 4
            }]),
        ],
    };
    let mut buf = [0u8; 64];
    let n = xr.write(&mut buf).unwrap();
    #[rustfmt::skip]
    let want = [
        0x80, 207, 0, 8, 0, 0, 0, 1,
        4, 0, 0, 2, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // RRTR, BT=4, 2 words
        5, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, // DLRR, BT=5, 3 words
    ];
    assert_eq!(&buf[..n], &want);
    assert_eq!(ExtendedReport::parse(&want).unwrap(), xr);
}

#[test]
fn compound_checks_follow_rfc3550_a2_and_rfc5506() {
    let packets = [
        RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 1,
            ..Default::default()
        }),
        RtcpPacket::Sdes(Sdes::cname(1, "x")),
        RtcpPacket::Raw(RawPacket {
            packet_type: kaon::rtp::rtcp::PacketType::Unknown(210),
            count: 2,
            body: vec![1, 2, 3, 4],
        }),
    ];
    let mut buf = [0u8; 128];
    let n = write_compound(&packets, &mut buf).unwrap();
    assert_eq!(check_compound(&buf[..n]), Ok(CompoundKind::Full));
    let parsed: Vec<_> = Compound::new(&buf[..n])
        .packets()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(parsed, packets);

    // RFC 5506: a lone PLI is a legal reduced-size packet.
    let n = Pli {
        sender_ssrc: 1,
        media_ssrc: 2,
    }
    .write(&mut buf)
    .unwrap();
    assert_eq!(check_compound(&buf[..n]), Ok(CompoundKind::ReducedSize));

    // Padding on a packet that is not the last is refused; a length past the end too.
    let mut two = [0u8; 64];
    let a = Pli {
        sender_ssrc: 1,
        media_ssrc: 2,
    }
    .write(&mut two)
    .unwrap();
    let b = Pli {
        sender_ssrc: 3,
        media_ssrc: 4,
    }
    .write(&mut two[a..])
    .unwrap();
    assert_eq!(check_compound(&two[..a + b - 1]), Err(Error::TooShort));
    let walked: Vec<_> = Compound::new(&two[..a + b - 1]).collect();
    assert_eq!(walked.len(), 2);
    assert!(walked[1].is_err());
    two[0] |= 0x20;
    assert_eq!(check_compound(&two[..a + b]), Err(Error::BadPadding));
}

#[test]
fn fixture_packets_parse_whole() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rtp");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Single packets only: the `.krtp` captures are whole streams (tests/media_fixtures.rs).
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("rtp-") {
            let p = RtpPacket::new_checked(&bytes[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(p.extensions().count() >= 3, "{name}");
        } else {
            assert!(check_compound(&bytes).is_ok(), "{name}");
            for p in Compound::new(&bytes).packets() {
                assert!(
                    !matches!(p, Err(_) | Ok(RtcpPacket::Raw(_))),
                    "{name}: {p:?}"
                );
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 6);
}
