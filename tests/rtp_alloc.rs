//! Parsing an RTP packet, reading its extensions (raw and typed) and rewriting it in place do
//! not allocate, nor does writing one with the builder: the SFU forwarding path stays free of
//! heap traffic per packet.

use kaon::rtp::{ExtensionKind, ExtensionMap, ExtensionValue, RtpBuilder, RtpHeader, RtpPacket};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn rtp_parse_extension_lookup_and_in_place_rewrite_do_not_allocate() {
    let mut map = ExtensionMap::new();
    map.insert(1, ExtensionKind::Mid);
    map.insert(2, ExtensionKind::RtpStreamId);
    map.insert(3, ExtensionKind::TransportCc);
    map.insert(4, ExtensionKind::AbsSendTime);
    let exts = [
        (1, ExtensionValue::Mid("0")),
        (2, ExtensionValue::RtpStreamId("hi")),
        (3, ExtensionValue::TransportCc(1)),
        (4, ExtensionValue::AbsSendTime(kaon::rtp::AbsSendTime(5))),
    ];
    let payload = [7u8; 1100];
    let csrcs = [9u32, 10];
    let mut buf = [0u8; 1500];
    let mut sum = 0usize;

    let before = allocations();
    for seq in 0..2000u16 {
        let header = RtpHeader {
            payload_type: 96,
            sequence_number: seq,
            ssrc: 1,
            ..Default::default()
        };
        let n = RtpBuilder::new(header)
            .csrcs(&csrcs)
            .extensions(&exts)
            .payload(&payload)
            .write(&mut buf)
            .unwrap();
        let mut p = RtpPacket::new_checked(&mut buf[..n]).unwrap();
        sum += p.mid(&map).map_or(0, str::len) + p.rid(&map).map_or(0, str::len);
        sum += usize::from(p.transport_cc(&map).unwrap());
        sum += p.extensions().count() + p.extension_values(&map).count() + p.csrcs().count();
        p.set_ssrc(0xfeed);
        p.set_sequence_number(seq.wrapping_mul(3));
        p.set_payload_type(100);
        p.set_timestamp(u32::from(seq) * 90);
        p.set_marker(true);
        p.set_extension_value(&map, &ExtensionValue::TransportCc(seq))
            .unwrap();
        sum += p.payload().len();
    }
    assert_eq!(allocations() - before, 0, "the RTP path allocated");
    assert!(sum > 0);
}
