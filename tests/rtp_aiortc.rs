//! Real peer: aiortc's RTP and RTCP codec (`aiortc.rtp`, an independent implementation).
//! Packets kaon writes parse in aiortc to the same fields, and packets aiortc writes parse in
//! kaon to the fields aiortc was given: RTP with CSRCs, padding and one- and two-byte header
//! extensions (mid, rid, repaired-rid, abs-send-time, audio level, transport-wide sequence),
//! and a compound RTCP packet with SR, RR, SDES, BYE, NACK, PLI and REMB.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use kaon::rtp::rtcp::{
    Bye, Compound, Nack, Pli, ReceiverReport, Remb, ReportBlock, RtcpPacket, Sdes, SenderReport,
};
use kaon::rtp::{
    AbsSendTime, AudioLevel, ExtensionForm, ExtensionKind, ExtensionMap, ExtensionValue,
    RtpBuilder, RtpHeader, RtpPacket,
};
use smallvec::smallvec;

const TEST: &str = "rtp_aiortc";

/// Reads `rtp HEX` / `rtcp HEX` lines, answers each with the fields aiortc parsed, then
/// writes the packets aiortc makes itself.
const SCRIPT: &str = r#"
import sys
from aiortc.rtcrtpparameters import RTCRtpParameters, RTCRtpHeaderExtensionParameters
from aiortc.rtp import (HeaderExtensionsMap, RtpPacket, RtcpPacket, RtcpSrPacket, RtcpRrPacket,
    RtcpSdesPacket, RtcpByePacket, RtcpRtpfbPacket, RtcpPsfbPacket, RtcpSenderInfo,
    RtcpReceiverInfo, RtcpSourceInfo, pack_remb_fci, unpack_remb_fci)

URIS = {
    1: "urn:ietf:params:rtp-hdrext:sdes:mid",
    2: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    3: "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    4: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    5: "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    6: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
}
m = HeaderExtensionsMap()
m.configure(RTCRtpParameters(headerExtensions=[
    RTCRtpHeaderExtensionParameters(id=i, uri=u) for i, u in URIS.items()]))

def reports(rs):
    return ";".join(f"{r.ssrc},{r.fraction_lost},{r.packets_lost},{r.highest_sequence},"
                    f"{r.jitter},{r.lsr},{r.dlsr}" for r in rs) or "-"

def describe(p):
    if isinstance(p, RtcpSrPacket):
        s = p.sender_info
        return (f"sr {p.ssrc} {s.ntp_timestamp} {s.rtp_timestamp} {s.packet_count} "
                f"{s.octet_count} {reports(p.reports)}")
    if isinstance(p, RtcpRrPacket):
        return f"rr {p.ssrc} {reports(p.reports)}"
    if isinstance(p, RtcpSdesPacket):
        return "sdes " + ";".join(f"{c.ssrc}:" + ",".join(f"{t}={v.decode()}" for t, v in c.items)
                                  for c in p.chunks)
    if isinstance(p, RtcpByePacket):
        return "bye " + ",".join(map(str, p.sources))
    if isinstance(p, RtcpRtpfbPacket):
        return f"rtpfb {p.fmt} {p.ssrc} {p.media_ssrc} " + ",".join(map(str, p.lost))
    if isinstance(p, RtcpPsfbPacket):
        if p.fmt == 15:
            bitrate, ssrcs = unpack_remb_fci(p.fci)
            return f"remb {p.ssrc} {bitrate} " + ",".join(map(str, ssrcs))
        return f"psfb {p.fmt} {p.ssrc} {p.media_ssrc} {p.fci.hex() or '-'}"
    return "other " + type(p).__name__

for line in sys.stdin:
    kind, data = line.split()
    data = bytes.fromhex(data)
    if kind == "rtp":
        p = RtpPacket.parse(data, m)
        e = p.extensions
        a = e.audio_level
        level = f"{int(a[0])} {a[1]}" if a else "None None"
        print("rtp", p.marker, p.payload_type, p.sequence_number, p.timestamp, p.ssrc,
              ",".join(map(str, p.csrc)) or "-", e.mid, e.rtp_stream_id,
              e.repaired_rtp_stream_id, e.abs_send_time, level, e.transport_sequence_number,
              p.payload.hex(), p.padding_size)
    else:
        for p in RtcpPacket.parse(data):
            print("rtcp", describe(p))
    sys.stdout.flush()

p = RtpPacket(payload_type=111, marker=1, sequence_number=65535, timestamp=123456,
              ssrc=0xdeadbeef, payload=b"opus")
p.csrc = [7, 8]
p.extensions.mid = "0"
p.extensions.rtp_stream_id = "hi"
p.extensions.abs_send_time = 0x123456
p.extensions.audio_level = (True, 42)
p.extensions.transport_sequence_number = 999
p.padding_size = 4
print("made-rtp", p.serialize(m).hex())
p = RtpPacket(payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"vp8")
p.extensions.mid = "a-very-long-mid-value"
p.extensions.transport_sequence_number = 4
print("made-rtp2", p.serialize(m).hex())
sr = RtcpSrPacket(ssrc=1, sender_info=RtcpSenderInfo(ntp_timestamp=0x0102030405060708,
    rtp_timestamp=9, packet_count=10, octet_count=11),
    reports=[RtcpReceiverInfo(ssrc=2, fraction_lost=10, packets_lost=-3,
    highest_sequence=70000, jitter=5, lsr=6, dlsr=7)])
rr = RtcpRrPacket(ssrc=4, reports=[RtcpReceiverInfo(ssrc=5, fraction_lost=0, packets_lost=100,
    highest_sequence=1, jitter=2, lsr=3, dlsr=4)])
sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=1, items=[(1, b"cname@aiortc")])])
nack = RtcpRtpfbPacket(fmt=1, ssrc=1, media_ssrc=2, lost=[10, 11, 13, 40])
pli = RtcpPsfbPacket(fmt=1, ssrc=1, media_ssrc=2)
remb = RtcpPsfbPacket(fmt=15, ssrc=1, media_ssrc=0, fci=pack_remb_fci(1500000, [2, 3]))
bye = RtcpByePacket(sources=[1, 2])
print("made-rtcp", b"".join(bytes(x) for x in [sr, rr, sdes, nack, pli, remb, bye]).hex())
"#;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn map() -> ExtensionMap {
    let mut map = ExtensionMap::new();
    for (id, kind) in [
        (1, ExtensionKind::Mid),
        (2, ExtensionKind::RtpStreamId),
        (3, ExtensionKind::RepairedRtpStreamId),
        (4, ExtensionKind::AbsSendTime),
        (5, ExtensionKind::AudioLevel),
        (6, ExtensionKind::TransportCc),
    ] {
        map.insert(id, kind);
    }
    map
}

fn kaon_rtp() -> Vec<u8> {
    let exts = [
        (1, ExtensionValue::Mid("audio")),
        (3, ExtensionValue::RepairedRtpStreamId("r0")),
        (4, ExtensionValue::AbsSendTime(AbsSendTime(0xab_cdef))),
        (
            5,
            ExtensionValue::AudioLevel(AudioLevel {
                voice: true,
                level: 42,
            }),
        ),
        (6, ExtensionValue::TransportCc(65_000)),
    ];
    let header = RtpHeader {
        marker: true,
        payload_type: 111,
        sequence_number: 65_535,
        timestamp: 123_456,
        ssrc: 0xdead_beef,
    };
    let b = RtpBuilder::new(header)
        .csrcs(&[1, 2])
        .extensions(&exts)
        .payload(b"opus")
        .padding(4);
    let mut buf = vec![0; b.len()];
    b.write(&mut buf).unwrap();
    buf
}

fn kaon_rtcp() -> Vec<RtcpPacket> {
    let block = ReportBlock {
        ssrc: 2,
        fraction_lost: 10,
        cumulative_lost: -3,
        extended_highest_sequence: 70_000,
        jitter: 5,
        last_sr: 6,
        delay_since_last_sr: 7,
    };
    vec![
        RtcpPacket::SenderReport(SenderReport {
            ssrc: 1,
            ntp_time: 0x0102_0304_0506_0708,
            rtp_time: 9,
            packet_count: 10,
            octet_count: 11,
            reports: smallvec![block],
            profile_extension: vec![],
        }),
        RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 4,
            reports: smallvec![ReportBlock {
                ssrc: 5,
                cumulative_lost: 100,
                ..block
            }],
            profile_extension: vec![],
        }),
        RtcpPacket::Sdes(Sdes::cname(1, "cname@kaon")),
        RtcpPacket::Nack(Nack::from_lost(1, 2, [10, 11, 13, 40])),
        RtcpPacket::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 2,
        }),
        RtcpPacket::Remb(Remb::new(1, 1_500_000, &[2, 3])),
        RtcpPacket::Bye(Bye {
            sources: smallvec![1, 2],
            reason: None,
        }),
    ]
}

/// What aiortc must say about `kaon_rtcp()`, line by line.
const RTCP_SEEN_BY_AIORTC: [&str; 7] = [
    "rtcp sr 1 72623859790382856 9 10 11 2,10,-3,70000,5,6,7",
    "rtcp rr 4 5,10,100,70000,5,6,7",
    "rtcp sdes 1:1=cname@kaon",
    "rtcp rtpfb 1 1 2 10,11,13,40",
    "rtcp psfb 1 1 2 -",
    "rtcp remb 1 1500000 2,3",
    "rtcp bye 1,2",
];

#[test]
fn rtp_and_rtcp_interoperate_with_aiortc() {
    let Some(python) = common::venv_python("aiortc") else {
        common::missing_peer(TEST, "a Python venv with aiortc");
        return;
    };
    let rtcp = kaon_rtcp();
    let mut compound = vec![0; rtcp.iter().map(RtcpPacket::len).sum()];
    kaon::rtp::rtcp::write_compound(&rtcp, &mut compound).unwrap();
    let input = format!("rtp {}\nrtcp {}\n", hex(&kaon_rtp()), hex(&compound));

    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the aiortc helper");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the aiortc helper failed");
    let out = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();

    // kaon -> aiortc.
    assert_eq!(
        lines[0],
        "rtp 1 111 65535 123456 3735928559 1,2 audio None r0 11259375 1 42 65000 6f707573 4"
    );
    assert_eq!(&lines[1..8], &RTCP_SEEN_BY_AIORTC);

    // aiortc -> kaon: RTP with a one-byte block.
    let map = map();
    let made = unhex(lines[8].strip_prefix("made-rtp ").unwrap());
    let p = RtpPacket::new_checked(&made[..]).unwrap();
    assert_eq!(
        p.header(),
        RtpHeader {
            marker: true,
            payload_type: 111,
            sequence_number: 65_535,
            timestamp: 123_456,
            ssrc: 0xdead_beef
        }
    );
    assert_eq!(p.csrcs().collect::<Vec<_>>(), [7, 8]);
    assert_eq!(p.extension_form(), Some(ExtensionForm::OneByte));
    assert_eq!(p.mid(&map), Some("0"));
    assert_eq!(p.rid(&map), Some("hi"));
    assert_eq!(p.repaired_rid(&map), None);
    assert_eq!(p.abs_send_time(&map), Some(AbsSendTime(0x12_3456)));
    assert_eq!(
        p.audio_level(&map),
        Some(AudioLevel {
            voice: true,
            level: 42
        })
    );
    assert_eq!(p.transport_cc(&map), Some(999));
    assert_eq!((p.payload(), p.padding_len()), (&b"opus"[..], 4));

    // A value longer than 16 bytes makes aiortc use the two-byte form.
    let made = unhex(lines[9].strip_prefix("made-rtp2 ").unwrap());
    let p = RtpPacket::new_checked(&made[..]).unwrap();
    assert_eq!(
        p.extension_form(),
        Some(ExtensionForm::TwoByte { appbits: 0 })
    );
    assert_eq!(p.mid(&map), Some("a-very-long-mid-value"));
    assert_eq!(p.transport_cc(&map), Some(4));
    assert_eq!(p.payload(), b"vp8");

    // aiortc -> kaon: the compound RTCP packet.
    let made = unhex(lines[10].strip_prefix("made-rtcp ").unwrap());
    assert_eq!(
        kaon::rtp::rtcp::check_compound(&made),
        Ok(kaon::rtp::rtcp::CompoundKind::Full)
    );
    let parsed: Vec<RtcpPacket> = Compound::new(&made)
        .packets()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut want = kaon_rtcp();
    want[1] = match &want[1] {
        RtcpPacket::ReceiverReport(rr) => RtcpPacket::ReceiverReport(ReceiverReport {
            reports: smallvec![ReportBlock {
                ssrc: 5,
                fraction_lost: 0,
                cumulative_lost: 100,
                extended_highest_sequence: 1,
                jitter: 2,
                last_sr: 3,
                delay_since_last_sr: 4,
            }],
            ..rr.clone()
        }),
        _ => unreachable!(),
    };
    want[2] = RtcpPacket::Sdes(Sdes::cname(1, "cname@aiortc"));
    assert_eq!(parsed, want);
    assert_eq!(lines.len(), 11);
}
