//! Any bytes as a compound RTCP packet: the walk and the validity check never panic, every
//! packet parses to a value or a typed error, and whatever parses writes back to bytes that
//! parse to the same value. Transport-wide feedback is also expanded to arrival times and
//! NACKs to sequence numbers, as the bandwidth estimator and the streams do.
#![no_main]
use kaon::rtp::rtcp::{Compound, RtcpPacket, check_compound, write_compound};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_compound(data);
    let mut parsed = Vec::new();
    for p in Compound::new(data).packets() {
        let Ok(p) = p else { continue };
        let mut buf = vec![0u8; p.len()];
        let n = p.write(&mut buf).expect("a parsed packet writes back");
        assert_eq!(n, buf.len());
        assert_eq!(RtcpPacket::parse(&buf).expect("and re-parses"), p);
        match &p {
            RtcpPacket::TransportCc(fb) => {
                assert_eq!(fb.arrivals().count(), fb.packets.len());
                let _ = fb.chunks();
            }
            RtcpPacket::Nack(n) => assert!(n.lost().count() >= n.pairs.len()),
            RtcpPacket::Remb(r) => {
                let _ = r.bitrate();
            }
            _ => {}
        }
        parsed.push(p);
    }
    let mut out = vec![0u8; parsed.iter().map(RtcpPacket::len).sum()];
    let n = write_compound(&parsed, &mut out).expect("the parsed packets write as a compound");
    let again: Vec<_> = Compound::new(&out[..n])
        .packets()
        .collect::<Result<_, _>>()
        .expect("all parse");
    assert_eq!(again, parsed);
});
