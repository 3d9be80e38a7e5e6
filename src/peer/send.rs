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
//! ICE checks, TURN refreshes and mDNS go before all of these (`poll_transmit`). When a full
//! walk finds all of those idle on a direct selected pair, the connection is *quiet* until
//! their first deadline ([`Quiet`]): polls go straight to 2.–4. (a forwarder polls once per
//! packet per subscriber, a receiver after every datagram), and any entry point that could
//! give them something to send ends it (SRTP and SRTCP arriving on the pair cannot).
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

use std::net::SocketAddr;
use std::time::Instant;

use super::PeerConnection;
use super::connection::SCTP_MTU;
use super::stats::Counters;
use crate::ice::same_addr;
use crate::{Protocol, Transmit};

/// What a full walk of `poll_transmit` found ahead of the secure path's records: no pump
/// due, ICE (with no TURN relay), mDNS and DTLS with nothing to write before `until`, DTLS
/// connected, the connection open, and the selected pair `local` -> `remote` (not relayed).
///
/// Until `until`, or until anything but writing media, sending on a data channel, polling or
/// media arriving on the pair changes the connection (each such entry point clears it, and so
/// does every other datagram and every timeout), `poll_transmit` goes straight to RTCP, RTP
/// and SCTP. A forwarder polls once per packet per subscriber, and the checks it skips read
/// some twenty cache lines spread over the connection: with more subscribers than a core's
/// L1 holds, most of them missed.
///
/// SRTP and SRTCP arriving on the pair keep it (see
/// [`quiet_receive`](PeerConnection::quiet_receive)): media touches nothing ahead of the
/// records, so a receiver that polls after every datagram stays on the short path too. What
/// goes either way while quiet is counted here and added to the pair's and the connection's
/// counters when the quiet ends (their readers add it meanwhile): two more cache lines a
/// packet saved.
#[derive(Clone, Copy, Debug)]
pub(super) struct Quiet {
    until: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    /// Datagrams sent and received while quiet, and their bytes.
    pending: Counters,
}

impl PeerConnection {
    /// `Protocol::poll_transmit`: the records straight away while the connection is quiet
    /// (see [`Quiet`]), else the whole walk.
    #[inline]
    pub(super) fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(q) = self.quiet
            && now < q.until
        {
            debug_assert!(
                self.ahead_idle(now, &q),
                "quiet, yet something ahead of RTP is due"
            );
            let n = self.poll_records(now, buf)?;
            if let Some(q) = &mut self.quiet {
                q.pending.packets_sent += 1;
                q.pending.bytes_sent += n as u64;
            }
            return Some(Transmit::new(q.local, q.remote, n));
        }
        self.transmit_walk(now, buf)
    }

    /// Takes a datagram of `len` bytes from `source` to `destination` that the caller found
    /// to be SRTP or SRTCP for keyed media (the connection open) without ending the quiet
    /// state, when it arrived on the quiet pair and no mDNS socket claims it: ICE's liveness
    /// and the counters are kept as the full path keeps them; the caller hands it to media.
    /// `false`, with nothing done: the full path (which ends the quiet state) takes it.
    #[inline(always)]
    pub(super) fn quiet_receive(
        &mut self,
        now: Instant,
        source: &SocketAddr,
        destination: &SocketAddr,
        len: usize,
    ) -> bool {
        let Some(q) = &self.quiet else {
            return false;
        };
        if !(same_addr(&q.remote, source) && same_addr(&q.local, destination))
            || self.mdns_takes(*destination)
            || !self.ice.receive_on_selected(now)
        {
            return false;
        }
        debug_assert!(
            (self.ice.selected_pair())
                .is_some_and(|p| !p.relayed && (p.local, p.remote) == (*destination, *source)),
            "quiet on a pair ICE has not selected"
        );
        self.stats.datagrams_received += 1;
        if let Some(q) = &mut self.quiet {
            q.pending.packets_received += 1;
            q.pending.bytes_received += len as u64;
        }
        true
    }

    /// What the quiet state sent and received that the counters do not hold yet: in all
    /// (`on` `None`), or on the pair `on`.
    pub(super) fn quiet_pending(&self, on: Option<(SocketAddr, SocketAddr)>) -> Counters {
        match self.quiet {
            Some(q) if on.is_none_or(|pair| pair == (q.local, q.remote)) => q.pending,
            _ => Counters::default(),
        }
    }

    /// Ends the quiet state (see [`Quiet`]): what it sent and received is counted where every
    /// other datagram is. Every entry point but writing media, channel sends, polling and media
    /// arriving on the quiet pair calls it (per received datagram: inline, and a load when not
    /// quiet).
    #[inline]
    pub(super) fn unquiet(&mut self) {
        if self.quiet.is_some() {
            self.end_quiet();
        }
    }

    /// [`unquiet`](Self::unquiet) when quiet.
    #[inline(never)]
    fn end_quiet(&mut self) {
        if let Some(q) = self.quiet.take()
            && q.pending != Counters::default()
        {
            self.traffic.add(q.local, q.remote, q.pending);
            self.stats.datagrams_sent += q.pending.packets_sent;
        }
    }

    /// Everything `poll_transmit` may send, in order: the pump, mDNS, ICE, held DTLS, then the
    /// secure path.
    #[inline(never)]
    fn transmit_walk(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.unquiet();
        if self.pump_due() {
            self.pump(Some(now));
        }
        if let Some(t) = self.mdns_poll_transmit(now, buf) {
            return Some(t);
        }
        if let Some(t) = self.ice.poll_transmit(now, buf) {
            return Some(t);
        }
        if !self.early_dtls.is_empty() {
            self.replay_early_dtls(now);
        }
        if self.dtls.is_none() {
            self.ensure_dtls(now, None);
            self.dtls.as_ref()?;
        }
        let (local, remote, relayed, selected) = match self.ice.selected_pair() {
            Some(p) => (p.local, p.remote, p.relayed, true),
            // Not selected yet, but the pair DTLS started on is valid: answer on it.
            None if self.ice.accepts(self.dtls_addrs.1, self.dtls_addrs.0) => {
                (self.dtls_addrs.0, self.dtls_addrs.1, false, false)
            }
            None => return None,
        };
        let quiet = (selected && !relayed).then_some((local, remote));
        let Some(t) = self.poll_secure(now, buf, quiet) else {
            if self.closed && self.closing_until.is_none() {
                // close_notify is out: now ICE may stop too.
                self.ice.close();
            }
            return None;
        };
        if relayed {
            self.traffic.sent_many(local, remote, 1, t as u64);
            // The agent wraps it for the relay.
            if self.ice.send(&buf[..t]).is_err() {
                self.stats.dropped += 1;
                return None;
            }
            return self.ice.poll_transmit(now, buf);
        }
        Some(self.count_sent(local, remote, t))
    }

    /// Counts a datagram of `n` bytes leaving from `local` to `remote`.
    #[inline]
    fn count_sent(&mut self, local: SocketAddr, remote: SocketAddr, n: usize) -> Transmit {
        self.traffic.sent_many(local, remote, 1, n as u64);
        self.stats.datagrams_sent += 1;
        Transmit::new(local, remote, n)
    }

    /// The next datagram on the secure path, written into `buf`: its length. Assumes DTLS
    /// exists (the caller checked the pair it goes on). With `quiet` (the selected pair, not
    /// relayed), the connection is marked quiet once DTLS has nothing to write.
    fn poll_secure(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        quiet: Option<(SocketAddr, SocketAddr)>,
    ) -> Option<usize> {
        let dtls = self.dtls.as_mut()?;
        if let Some(t) = dtls.poll_transmit(now, buf) {
            return Some(t.len);
        }
        if !dtls.is_connected() {
            return None;
        }
        if let Some((local, remote)) = quiet {
            self.mark_quiet(now, local, remote);
        }
        self.poll_records(now, buf)
    }

    /// What goes in DTLS's records and SRTP's packets, once DTLS has nothing of its own to
    /// write: RTCP, RTP, then SCTP.
    #[inline]
    fn poll_records(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
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
            return self.poll_sctp(now, buf);
        }
        None
    }

    /// The next SCTP packet in a DTLS record.
    fn poll_sctp(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let dtls = self.dtls.as_mut()?;
        // One SCTP packet at a time, so DTLS never holds more than a datagram's worth. The
        // packet is written into the caller's buffer where the record's content goes and
        // encrypted there, with no copy in between.
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
        // A path too narrow for a whole SCTP packet in one record (never with the MTU kaon
        // configures): through the caller's buffer and DTLS's queue, as `send` refuses what
        // does not fit.
        let n = self.channels.poll_packet(now, buf)?;
        if dtls.send(&buf[..n]).is_err() {
            self.stats.sctp_packets_dropped += 1;
        }
        dtls.poll_transmit(now, buf).map(|t| t.len)
    }

    /// Marks the connection quiet (see [`Quiet`]) on `local` -> `remote` until the first
    /// deadline of what goes ahead of the records, if nothing there is due.
    fn mark_quiet(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        if !self.open_and_idle(now) {
            return;
        }
        let dtls = self.dtls.as_ref().and_then(|d| d.poll_timeout());
        let ahead = [self.ice.poll_timeout(), dtls, self.mdns_poll_timeout()];
        // Without any deadline ahead (an agent always has one while connected), not marked.
        if let Some(until) = ahead.into_iter().flatten().min().filter(|&u| now < u) {
            self.quiet = Some(Quiet {
                until,
                local,
                remote,
                pending: Counters::default(),
            });
        }
    }

    /// What the whole walk would find ahead of the records at `now`: nothing (debug builds
    /// check every quiet answer against it).
    fn ahead_idle(&self, now: Instant, q: &Quiet) -> bool {
        let pair = self.ice.selected_pair();
        self.open_and_idle(now)
            && self.mdns_poll_timeout().is_none_or(|t| now < t)
            && (self.dtls.as_ref()).is_some_and(|d| d.is_connected() && d.transmit_idle(now))
            && pair.is_some_and(|p| !p.relayed && (p.local, p.remote) == (q.local, q.remote))
    }

    /// Open, with no held DTLS, no pump due and ICE idle at `now`: what a walk that reached
    /// the records leaves to check for a quiet state (mDNS and DTLS it found idle itself).
    fn open_and_idle(&self, now: Instant) -> bool {
        !self.closed
            && self.early_dtls.is_empty()
            && !self.pump_due()
            && self.ice.transmit_idle(now)
    }
}
