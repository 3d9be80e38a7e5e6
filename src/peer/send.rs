//! The order of what leaves a [`PeerConnection`] on its secure path (DTLS, SRTP and SCTP over
//! the selected pair), in one place:
//!
//! 1. DTLS flights (handshake, alerts, retransmitted flights): nothing else can go before the
//!    keys exist, and a lost flight stalls everything.
//! 2. RTCP (RFC 3550 reports, RFC 4585 NACK and PLI, RFC 5104 FIR, TWCC and RFC 8888
//!    feedback): small, and worthless once late.
//! 3. RTP. With congestion control negotiated (TWCC or RFC 8888), every RTP packet leaves
//!    through the pacer (`kaon::bwe::Pacer`): audio, then retransmissions, then video, then
//!    padding and probes, at 2.5 times the estimate's target (a probe cluster at its own
//!    rate), so a keyframe does not leave as one burst that fills the bottleneck's queue.
//!    Without it, RTP leaves as soon as it is written.
//! 4. SCTP (data channels), one packet at a time into a DTLS record.
//!
//! ICE checks, TURN refreshes and mDNS go before all of these (`poll_transmit`).
//!
//! How media and SCTP share the path: they are two congestion controllers on one 5-tuple.
//! SCTP keeps its own window (RFC 9260 §7: cwnd, slow start, fast recovery) and its bytes are
//! *not* paced; the media estimate (GCC over TWCC or RFC 8888 feedback) sees only RTP, so it
//! covers media alone. SCTP packets go after the RTP the pacer lets out at the same instant,
//! never ahead of it, but they do not wait for the pacer's next slot: a data channel that
//! fills the path shows up to the media estimator as queuing delay and loss, and its target
//! falls, while SCTP backs off on its own loss. This is what browsers do too (libwebrtc paces
//! only RTP; its SCTP has its own congestion control), and the estimate reported as
//! `availableOutgoingBitrate` is for media only.

use std::time::Instant;

use super::PeerConnection;
use super::connection::SCTP_MTU;
use crate::Protocol;

impl PeerConnection {
    /// The next datagram on the secure path, written into `buf`: its length. Assumes DTLS
    /// exists (the caller checked the pair it goes on).
    pub(super) fn poll_secure(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let dtls = self.dtls.as_mut()?;
        if let Some(t) = dtls.poll_transmit(now, buf) {
            return Some(t.len);
        }
        if !dtls.is_connected() {
            return None;
        }
        if !self.closed
            && let Some(m) = self.media.get_mut()
        {
            if let Some(n) = m.poll_rtcp_packet(now, buf) {
                return Some(n);
            }
            if let Some(n) = m.poll_media_packet(now, buf) {
                return Some(n);
            }
        }
        if self.sctp_started {
            // One SCTP packet at a time, so DTLS never holds more than a datagram's worth.
            // The packet is written into the caller's buffer where the record's content goes
            // and encrypted there, with no copy in between.
            if dtls.max_payload() >= SCTP_MTU {
                let channels = &mut self.channels;
                return match dtls.seal_with(buf, |plain| channels.poll_packet(now, plain))? {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.stats.sctp_packets_dropped += 1;
                        None
                    }
                };
            }
            // A path too narrow for a whole SCTP packet in one record (never with the MTU
            // kaon configures): through the caller's buffer and DTLS's queue, as `send`
            // refuses what does not fit.
            if let Some(n) = self.channels.poll_packet(now, buf) {
                if dtls.send(&buf[..n]).is_err() {
                    self.stats.sctp_packets_dropped += 1;
                }
                return dtls.poll_transmit(now, buf).map(|t| t.len);
            }
        }
        None
    }
}
