// The driver shared by the `bwe_feedback` fuzz target and the `bwe_props` proptest: the
// congestion controller, the pacer and the feedback recorder fed arbitrary send sequences and
// arbitrary feedback (sequence numbers, losses, arrival times on any clock). It asserts that
// nothing panics and memory stays bounded.
//
// Input: a sequence of 8-byte records `[op][a: u8][b: u16][c: u32]`.

use kaon::bwe::{
    Class, Config, Controller, FeedbackRecorder, Paced, Pacer, PacerConfig, PacketKind,
    PacketResult, RecorderConfig,
};
use std::time::{Duration, Instant};

/// Runs one input through the controller, pacer and recorder.
pub fn drive(data: &[u8]) {
    let mut now = Instant::now();
    let mut bwe = Controller::new(Config::default());
    let mut pacer: Pacer<u32> = Pacer::new(PacerConfig {
        max_queue_packets: 256,
        ..PacerConfig::default()
    });
    let mut recorder = FeedbackRecorder::new(RecorderConfig {
        max_results: 128,
        ..RecorderConfig::default()
    });
    let mut seq = 0u64;
    let mut results: Vec<PacketResult> = Vec::new();
    for rec in data.chunks_exact(8) {
        let op = rec[0];
        let a = rec[1];
        let b = u16::from_be_bytes([rec[2], rec[3]]);
        let c = u32::from_be_bytes([rec[4], rec[5], rec[6], rec[7]]);
        match op % 9 {
            0 => now += Duration::from_micros(u64::from(c % 2_000_000)),
            1 => {
                // A sent packet, with a possibly jumping sequence number.
                seq = if a & 1 == 0 {
                    seq.wrapping_add(1)
                } else {
                    u64::from(c) << (a % 32)
                };
                let kind = match a % 5 {
                    0 => PacketKind::Audio,
                    1 => PacketKind::Video,
                    2 => PacketKind::Retransmission,
                    3 => PacketKind::Padding,
                    _ => PacketKind::Probe(kaon::bwe::ClusterId(u32::from(b % 8))),
                };
                bwe.on_packet_sent(now, seq, usize::from(b), kind);
            }
            2 => {
                // One feedback result; arrival anywhere on the remote clock.
                let arrival =
                    (a & 1 == 0).then(|| Duration::from_micros(u64::from(c) * u64::from(b)));
                let s = seq.wrapping_sub(u64::from(a % 64));
                if results.len() < 512 {
                    results.push(PacketResult { seq: s, arrival });
                }
            }
            3 => {
                bwe.on_feedback(now, &results);
                results.clear();
            }
            4 => bwe.on_remb(now, u64::from(c)),
            5 => bwe.request_probe(now, u64::from(c)),
            6 => {
                recorder.on_packet(now, b);
                if let Some(f) = recorder.poll_feedback(now) {
                    assert!(f.packets.len() <= 128);
                    assert!(f.packets.windows(2).all(|w| w[1].seq == w[0].seq + 1));
                    bwe.on_feedback(now, &f.packets);
                }
            }
            7 => {
                let class = [Class::Audio, Class::Retransmission, Class::Video][usize::from(a % 3)];
                pacer.enqueue(now, c, usize::from(b), class);
            }
            _ => {
                bwe.set_limits(now, u64::from(b) * 1000, u64::from(c));
            }
        }
        bwe.handle_timeout(now);
        while bwe.poll_event().is_some() {}
        while let Some(cluster) = bwe.poll_probe() {
            pacer.start_probe(cluster);
        }
        pacer.set_rates(bwe.pacing_rate(), bwe.padding_rate());
        let mut sent = 0;
        while let Some(p) = pacer.poll_send(now) {
            let (size, kind) = match p {
                Paced::Packet { size, kind, .. } | Paced::Padding { size, kind } => (size, kind),
            };
            seq = seq.wrapping_add(1);
            bwe.on_packet_sent(now, seq, size, kind);
            sent += 1;
            assert!(
                sent < 10_000,
                "the pacer must not send without bound at one instant"
            );
        }
        while pacer.poll_dropped().is_some() {}
        assert!(pacer.len() <= 256);
        assert!(bwe.history_len() <= 1 << 14);
        if let Some(t) = pacer.poll_timeout() {
            let _ = t;
        }
    }
}
