//! RTP and RTCP wire hot paths: parsing an RTP packet and looking up its extensions (what a
//! receiver and an SFU do per packet), rewriting SSRC, sequence number and payload type in
//! place (what an SFU does per forwarded packet), parsing a typical compound RTCP packet, and
//! encoding and decoding a transport-wide feedback for 100 packets.
//!
//! `cargo bench --bench rtp -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kaon::rtp::rtcp::{
    Compound, Nack, RtcpPacket, Sdes, SenderReport, TransportCc, TwccBuilder, write_compound,
};
use kaon::rtp::{
    AbsSendTime, AudioLevel, ExtensionKind, ExtensionMap, ExtensionValue, RtpBuilder, RtpHeader,
    RtpPacket,
};

/// A browser-like video packet: mid, transport-wide sequence, abs-send-time, 1100-byte payload.
fn video_packet(map: &ExtensionMap) -> Vec<u8> {
    let exts = [
        (
            map.id(ExtensionKind::Mid).unwrap(),
            ExtensionValue::Mid("1"),
        ),
        (
            map.id(ExtensionKind::AbsSendTime).unwrap(),
            ExtensionValue::AbsSendTime(AbsSendTime(0x12_3456)),
        ),
        (
            map.id(ExtensionKind::TransportCc).unwrap(),
            ExtensionValue::TransportCc(4242),
        ),
        (
            map.id(ExtensionKind::AudioLevel).unwrap(),
            ExtensionValue::AudioLevel(AudioLevel::default()),
        ),
    ];
    let header = RtpHeader {
        marker: true,
        payload_type: 96,
        sequence_number: 17,
        timestamp: 90_000,
        ssrc: 0x1234_5678,
    };
    let b = RtpBuilder::new(header)
        .extensions(&exts)
        .payload(&[0x55; 1100]);
    let mut buf = vec![0; b.len()];
    b.write(&mut buf).unwrap();
    buf
}

/// 100 packets, every 10th lost, 5 ms apart with jitter: the shape of a video feedback.
fn feedback_100() -> TransportCc {
    let mut b = TwccBuilder::new(1, 2, 0);
    for i in 0..100u16 {
        if i % 10 != 9 {
            assert!(b.push(
                65_500u16.wrapping_add(i),
                1_000_000 + u64::from(i) * 5_000 + u64::from(i % 3) * 700
            ));
        }
    }
    b.finish()
}

fn benches(c: &mut Criterion) {
    let mut map = ExtensionMap::new();
    map.insert(1, ExtensionKind::AudioLevel);
    map.insert(2, ExtensionKind::AbsSendTime);
    map.insert(3, ExtensionKind::TransportCc);
    map.insert(4, ExtensionKind::Mid);
    let packet = video_packet(&map);

    let mut g = c.benchmark_group("rtp");
    g.bench_function("parse + mid + transport-cc lookup", |b| {
        b.iter(|| {
            let p = RtpPacket::new_checked(black_box(&packet[..])).unwrap();
            (
                p.mid(&map).map(str::len),
                p.transport_cc(&map),
                p.payload().len(),
            )
        })
    });
    let mut buf = packet.clone();
    g.bench_function("in-place SSRC + seq + PT rewrite", |b| {
        let mut seq = 0u16;
        b.iter(|| {
            let mut p = RtpPacket::new_checked(black_box(&mut buf[..])).unwrap();
            seq = seq.wrapping_add(1);
            p.set_ssrc(0xfeed_beef);
            p.set_sequence_number(seq);
            p.set_payload_type(100);
        })
    });
    g.bench_function("in-place rewrite incl. transport-cc", |b| {
        let mut seq = 0u16;
        b.iter(|| {
            let mut p = RtpPacket::new_checked(black_box(&mut buf[..])).unwrap();
            seq = seq.wrapping_add(1);
            p.set_ssrc(0xfeed_beef);
            p.set_sequence_number(seq);
            p.set_payload_type(100);
            p.set_extension_value(&map, &ExtensionValue::TransportCc(seq))
                .unwrap();
        })
    });
    g.finish();

    // A receiver's compound: SR with one report block, SDES CNAME, a NACK and a TWCC feedback.
    let sr = SenderReport {
        ssrc: 1,
        reports: smallvec::smallvec![Default::default()],
        ..Default::default()
    };
    let compound = [
        RtcpPacket::SenderReport(sr),
        RtcpPacket::Sdes(Sdes::cname(1, "4TOk42mSjXCkVIa6")),
        RtcpPacket::Nack(Nack::from_lost(1, 2, [10, 12, 13, 40])),
        RtcpPacket::TransportCc(feedback_100()),
    ];
    let mut wire = vec![0u8; compound.iter().map(RtcpPacket::len).sum()];
    write_compound(&compound, &mut wire).unwrap();
    let mut g = c.benchmark_group("rtcp");
    g.bench_function("compound parse (SR, SDES, NACK, TWCC x100)", |b| {
        b.iter(|| {
            Compound::new(black_box(&wire))
                .packets()
                .filter(Result::is_ok)
                .count()
        })
    });
    let fb = feedback_100();
    let mut out = vec![0u8; fb.len()];
    g.bench_function("twcc encode 100 packets", |b| {
        b.iter(|| black_box(&fb).write(&mut out).unwrap())
    });
    let n = fb.write(&mut out).unwrap();
    g.bench_function("twcc decode 100 packets + arrivals", |b| {
        b.iter(|| {
            let fb = TransportCc::parse(black_box(&out[..n])).unwrap();
            fb.arrivals().filter_map(|(_, t)| t).sum::<i64>()
        })
    });
    g.bench_function("twcc build 100 packets (builder)", |b| b.iter(feedback_100));
    g.finish();
}

criterion_group!(rtp, benches);
criterion_main!(rtp);
