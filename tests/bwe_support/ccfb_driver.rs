// The driver shared by the `bwe_ccfb` fuzz target and the `media_bwe_ccfb_props` proptest: the
// RFC 8888 glue on both sides fed arbitrary bytes. The sender numbers whatever (SSRC, sequence)
// it is told it sent and takes any RTCP as feedback into the controller; the receiver records
// arbitrary arrivals, builds its reports and parses them back. Nothing may panic, every built
// feedback must parse back equal and fit its budget, and memory stays bounded.
//
// Input: a 2-byte count N of 5-byte send/arrival records `[ssrc: u8][seq: u16][gap_us: u16]`
// (a record whose gap is odd is lost on the way), then the rest as one RTCP compound packet.

use kaon::bwe::{CcfbRecorder, CcfbSender, Config, Controller, PacketKind};
use kaon::rtp::rtcp::{Compound, CongestionControlFeedback, RtcpPacket};
use std::time::{Duration, Instant};

/// The largest feedback packet the driver asks for.
const MAX_LEN: usize = 1100;

/// Runs one input through both sides of RFC 8888 feedback.
pub fn drive_ccfb(data: &[u8]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut bwe = Controller::new(Config::default());
    let mut sender = CcfbSender::default();
    let mut recorder = CcfbRecorder::default();
    let n = data
        .get(..2)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let records = data.get(2..).unwrap_or_default();
    let split = (n * 5).min(records.len() / 5 * 5);
    let (records, rtcp) = records.split_at(split);
    let mut results = Vec::new();
    for r in records.chunks_exact(5) {
        let ssrc = u32::from(r[0]);
        let seq = u16::from_be_bytes([r[1], r[2]]);
        let gap = u16::from_be_bytes([r[3], r[4]]);
        now += Duration::from_micros(u64::from(gap) * 8);
        bwe.on_packet_sent(now, sender.on_sent(ssrc, seq), 1200, PacketKind::Video);
        if gap % 2 == 0 {
            recorder.on_packet(now, ssrc, seq);
        }
        if recorder.poll_timeout().is_some_and(|d| d <= now) {
            recorder.poll_feedback(now, 1, MAX_LEN, |fb| {
                let mut buf = vec![0; fb.len()];
                let len = fb.write(&mut buf).expect("a built feedback writes");
                assert!(len <= MAX_LEN, "a feedback packet fits its budget: {len}");
                let back =
                    CongestionControlFeedback::parse(&buf[..len]).expect("a built feedback parses");
                assert_eq!(back, fb);
                results.clear();
                sender.results(&back, &mut results);
                let reports: usize = back.blocks.iter().map(|b| b.reports.len()).sum();
                assert!(results.len() <= reports);
                bwe.on_feedback(now, &results);
            });
        }
    }
    for p in Compound::new(rtcp).packets() {
        let Ok(p) = p else { break };
        if let RtcpPacket::CongestionControl(fb) = p {
            results.clear();
            sender.results(&fb, &mut results);
            let reports: usize = fb.blocks.iter().map(|b| b.reports.len()).sum();
            assert!(results.len() <= reports);
            bwe.on_feedback(now, &results);
        }
    }
    bwe.handle_timeout(now + Duration::from_secs(1));
    assert!(bwe.history_len() <= 1 << 16);
}
