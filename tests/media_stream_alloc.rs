//! The media streams do not allocate per packet once warmed up: recording a packet sent,
//! accounting one received, NACKs written and answered, RTX wrapped and unwrapped, sender and
//! receiver reports written and read, keyframe requests, report blocks and stats.

use std::time::{Duration, Instant};

use kaon::media::{NtpEpoch, Rtx, StreamRx, StreamRxConfig, StreamTx, StreamTxConfig};
use kaon::rtp::rtcp::{Compound, Header, PacketType, RtcpPacket};
use kaon::rtp::{RtpBuilder, RtpHeader};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

const SSRC: u32 = 0x5eed;
const RTX: Rtx = Rtx {
    ssrc: 0x5eee,
    payload_type: 97,
    associated_payload_type: 96,
};

struct Pair {
    tx: StreamTx,
    rx: StreamRx,
    now: Instant,
    seq: u16,
    work: usize,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        let mut txc = StreamTxConfig::new(
            SSRC,
            90_000,
            NtpEpoch {
                at: now,
                ntp: 1 << 62,
            },
        );
        txc.rtx = Some(RTX);
        txc.cname = "alloc-test".into();
        txc.seed = Some(1);
        let mut rxc = StreamRxConfig::new(SSRC, 90_000);
        rxc.rtx = Some(RTX);
        rxc.cname = "alloc-test-rx".into();
        rxc.seed = Some(2);
        Self {
            tx: StreamTx::new(txc),
            rx: StreamRx::new(rxc),
            now,
            seq: 65_000,
            work: 0,
        }
    }

    /// Feeds an RTCP datagram to both streams, parsing only the packet types they consume
    /// (parsing an SDES allocates its items, in the RTCP layer, and the streams ignore it).
    fn rtcp(&mut self, datagram: &[u8]) {
        for raw in Compound::new(datagram).flatten() {
            let kind = Header::parse(raw).map(|h| h.packet_type);
            if kind == Ok(PacketType::SourceDescription) {
                continue;
            }
            let Ok(p) = RtcpPacket::parse(raw) else {
                continue;
            };
            self.tx.handle_rtcp(self.now, &p);
            self.rx.handle_rtcp(self.now, &p);
        }
    }

    fn step(&mut self, i: usize) {
        let mut buf = [0u8; 1500];
        let mut fb = [0u8; 1500];
        self.now += Duration::from_millis(5);
        let header = RtpHeader {
            payload_type: 96,
            sequence_number: self.seq,
            timestamp: 450 * i as u32,
            ssrc: SSRC,
            ..Default::default()
        };
        self.seq = self.seq.wrapping_add(1);
        let n = RtpBuilder::new(header)
            .payload(&[i as u8; 1100])
            .write(&mut buf)
            .unwrap();
        self.tx.on_send(self.now, &buf[..n]);
        if !i.is_multiple_of(37) {
            self.rx.on_packet(self.now, &buf[..n]);
        }
        if i.is_multiple_of(100) {
            self.rx.request_keyframe(self.now);
        }
        while let Some(m) = self.rx.poll_rtcp(self.now, 0x1234, &mut fb) {
            let copy = fb;
            self.rtcp(&copy[..m]);
        }
        while let Some(m) = self.tx.poll_rtcp(self.now, &mut fb) {
            let copy = fb;
            self.rtcp(&copy[..m]);
        }
        while let Some(m) = self.tx.poll_retransmit(self.now, &mut buf) {
            if let Some((m, _)) = self.rx.unwrap_rtx(self.now, &mut buf, m) {
                self.work += m;
            }
        }
        while self.tx.poll_event().is_some() {
            self.work += 1;
        }
        self.work += self.rx.stats().packets_received as usize
            + self.tx.stats().packets_sent as usize
            + usize::from(self.tx.poll_timeout().is_some())
            + usize::from(self.rx.poll_timeout().is_some());
    }
}

#[test]
fn streams_do_not_allocate_per_packet_in_the_steady_state() {
    let mut p = Pair::new();
    for i in 0..3000 {
        p.step(i);
    }
    let before = allocations();
    let live = live_bytes();
    for i in 3000..23_000 {
        p.step(i);
    }
    assert_eq!(allocations() - before, 0, "the stream path allocated");
    assert_eq!(live_bytes(), live);
    let (tx, rx) = (p.tx.stats(), p.rx.stats());
    assert!(tx.retransmitted_packets_sent > 400, "{tx:?}");
    assert!(rx.packets_repaired > 400 && rx.nack_count > 400, "{rx:?}");
    assert!(tx.reports_sent > 50 && rx.reports_sent > 50);
    assert!(tx.round_trip_time.is_some() && tx.pli_count > 100);
    assert!(p.work > 0);
}
