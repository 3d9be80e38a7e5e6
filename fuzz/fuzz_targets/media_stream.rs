//! Arbitrary RTP and RTCP fed to a send and a receive stream, interleaved with polls and
//! time steps: nothing panics, the history and the missing list stay within their bounds,
//! and whatever the streams write parses as RTP or RTCP.
#![no_main]
use std::time::{Duration, Instant};

use kaon::media::{
    KeyframeKind, NtpEpoch, Rtx, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig,
};
use kaon::rtp::RtpPacket;
use kaon::rtp::rtcp::{Compound, check_compound};
use libfuzzer_sys::fuzz_target;

const SSRC: u32 = 0x0102_0304;
const RTX: Rtx = Rtx {
    ssrc: 0x0506_0708,
    payload_type: 97,
    associated_payload_type: 96,
};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut now = t0;
    let mut txc = StreamTxConfig::new(SSRC, 90_000, NtpEpoch { at: t0, ntp: 1 << 40 });
    txc.rtx = Some(RTX);
    txc.history = 16;
    txc.history_bytes = 8192;
    txc.seed = Some(1);
    let mut tx = StreamTx::new(txc);
    let mut rxc = StreamRxConfig::new(SSRC, 90_000);
    rxc.rtx = Some(RTX);
    rxc.max_missing = 32;
    rxc.probation = u16::from(data.first().copied().unwrap_or(0) % 3);
    rxc.keyframe_request = if data.len() % 2 == 0 { KeyframeKind::Pli } else { KeyframeKind::Fir };
    rxc.seed = Some(2);
    let mut rx = StreamRx::new(rxc);
    let mut out = [0u8; 1500];
    let mut rest = data;
    // Each record: an op byte, a length byte, then that many bytes.
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from(op >> 3));
        let mut body = body.to_vec();
        // The first bytes of a body may be steered to the streams' SSRCs, to reach deep paths.
        if op & 4 != 0 && body.len() >= 12 {
            let ssrc = if op & 2 != 0 { RTX.ssrc } else { SSRC };
            body[8..12].copy_from_slice(&ssrc.to_be_bytes());
            body[0] = 0x80 | (body[0] & 0x3f);
        }
        match op & 3 {
            0 => tx.on_send(now, &body),
            1 => {
                let len = body.len();
                if rx.unwrap_rtx(now, &mut body, len).is_none() {
                    rx.on_packet(now, &body);
                }
            }
            2 => {
                for p in Compound::new(&body).packets().flatten() {
                    tx.handle_rtcp(now, &p);
                    rx.handle_rtcp(now, &p);
                }
            }
            _ => {
                if op & 4 != 0 {
                    rx.request_keyframe(now);
                }
                while let Some(n) = tx.poll_retransmit(now, &mut out) {
                    assert!(RtpPacket::new_checked(&out[..n]).is_ok());
                }
                if let Some(n) = tx.poll_rtcp(now, &mut out) {
                    assert!(check_compound(&out[..n]).is_ok());
                }
                if let Some(n) = rx.poll_rtcp(now, 9, &mut out) {
                    assert!(check_compound(&out[..n]).is_ok());
                    assert!(Compound::new(&out[..n]).packets().all(|p| p.is_ok()));
                }
                while tx.poll_event().is_some() {}
                let _ = rx.report_block(now);
            }
        }
        assert!(tx.history_len() <= 16);
        assert!(rx.missing_len() <= 32);
        let _ = (tx.stats(), rx.stats(), tx.poll_timeout(), rx.poll_timeout());
    }
});
