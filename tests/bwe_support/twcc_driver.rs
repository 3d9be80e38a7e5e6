// The driver shared by the `bwe_twcc` fuzz target and the `bwe_twcc_props` proptest: the TWCC
// glue on both sides fed arbitrary bytes. The sender extends whatever transport-wide numbers it
// is told it sent and takes any RTCP as feedback into the controller; the receiver records
// arbitrary arrivals, encodes its reports and parses them back. Nothing may panic, every
// encoded feedback must parse and fit a datagram, and memory stays bounded.
//
// Input: a 2-byte count N of 4-byte send/arrival records `[seq: u16][gap_us: u16]`, then the
// rest as one RTCP compound packet.

use kaon::bwe::{Config, Controller, FeedbackRecorder, PacketKind, TwccSender, build_twcc};
use kaon::rtp::rtcp::{Compound, RtcpPacket, TransportCc};
use std::time::{Duration, Instant};

/// Runs one input through both sides of TWCC.
pub fn drive_twcc(data: &[u8]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut bwe = Controller::new(Config::default());
    let mut sender = TwccSender::default();
    let mut recorder = FeedbackRecorder::default();
    let n = data
        .get(..2)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let records = data.get(2..).unwrap_or_default();
    let split = (n * 4).min(records.len() / 4 * 4);
    let (records, rtcp) = records.split_at(split);
    let mut results = Vec::new();
    for r in records.chunks_exact(4) {
        let seq = u16::from_be_bytes([r[0], r[1]]);
        now += Duration::from_micros(u64::from(u16::from_be_bytes([r[2], r[3]])) * 8);
        bwe.on_packet_sent(now, sender.on_sent(seq), 1200, PacketKind::Video);
        recorder.on_packet(now, seq);
        if let Some(report) = recorder.poll_feedback(now) {
            build_twcc(&report, 1, 2, 400, |fb: TransportCc| {
                let mut buf = vec![0; fb.len()];
                let len = fb.write(&mut buf).expect("a built feedback writes");
                assert!(len <= 1200, "a feedback packet fits a datagram: {len}");
                let back = TransportCc::parse(&buf[..len]).expect("a built feedback parses");
                assert_eq!(back, fb);
                results.clear();
                sender.results(&back, &mut results);
                assert!(results.len() <= fb.packets.len());
                bwe.on_feedback(now, &results);
            });
        }
    }
    for p in Compound::new(rtcp).packets() {
        let Ok(p) = p else { break };
        if let RtcpPacket::TransportCc(fb) = p {
            results.clear();
            sender.results(&fb, &mut results);
            assert!(results.len() <= fb.packets.len());
            bwe.on_feedback(now, &results);
        }
    }
    bwe.handle_timeout(now + Duration::from_secs(1));
    assert!(bwe.history_len() <= 1 << 16);
}
