//! The in-place receive path of [`PeerConnection`]: SRTP (RFC 3711 §3.3) decrypted in the
//! caller's buffer and RTP of a known source (demultiplexed per RFC 8843 §9.2, RTX unwrapped per
//! RFC 4588 §4) handed back borrowed, everything else handled as `handle_datagram` handles it.
//!
//! ```text
//! let n = socket.recv_from(&mut buf)?;            // the driver's own buffer
//! if let Some(rtp) = pc.handle_datagram_in_place(now, from, local, &mut buf[..n]) {
//!     forward(rtp.mid, rtp.packet);                // borrowed from buf, no event queued
//! }
//! while let Some(e) = pc.poll_event() { /* everything else */ }
//! ```

use std::net::SocketAddr;
use std::time::Instant;

use super::demux::PacketKind;
use super::{Mid, PeerConnection};
use crate::ice::Received;
use crate::{Datagram, Protocol};

impl PeerConnection {
    /// [`handle_datagram`](Protocol::handle_datagram) for a receiver that can lend its
    /// receive buffer: an SRTP packet is decrypted in place in `contents`, and when it is
    /// RTP of a receive stream already announced, it is handed back borrowed from
    /// `contents` ([`InPlaceRtp`]) instead of copied into the connection's receive chunk and
    /// queued as a [`PeerEvent::Rtp`](super::PeerEvent::Rtp). No event is queued for a packet returned here.
    ///
    /// Every datagram may go through here instead of `handle_datagram` (from the same
    /// socket loop; the two may be mixed freely). Everything but the packet's delivery is
    /// exactly as there: ICE liveness and the pair's counters, the SRTP replay window and
    /// rollover counter, routing (RFC 8843 §9.2), RTX unwrapping (RFC 4588 §4, in
    /// `contents`), the receive stream's loss, jitter, NACK and report state, the bandwidth
    /// estimator, [`stats`](Self::stats), `get_stats` and
    /// [`poll_timeout`](Protocol::poll_timeout). It returns `None`, and the datagram is
    /// handled as `handle_datagram` would (events through [`poll_event`](Protocol::poll_event)),
    /// for everything else: STUN, DTLS, RTCP, data a TURN relay wrapped, media before SRTP
    /// keys, a packet that fails authentication or routing (counted in
    /// [`media_counters`](Self::media_counters)), the first packet of a new source (it follows
    /// its [`PeerEvent::Track`](super::PeerEvent::Track) as an event), and packets of a transceiver with frames on
    /// ([`set_receive_frames`](Self::set_receive_frames) assembles frames from owned packets).
    ///
    /// Ordering: a packet returned in place is never ahead of an event that precedes it on
    /// the queued path. It is returned only when no event was waiting at the call (the
    /// application has drained [`poll_event`](Protocol::poll_event)); with events waiting, it
    /// is queued behind them as a [`PeerEvent::Rtp`](super::PeerEvent::Rtp). Events the packet itself raises (an
    /// estimate from the bandwidth estimator, a state change of ICE hearing from the peer
    /// again) follow it, as they follow its `Rtp` event on the queued path.
    ///
    /// After the call, the contents of `contents` are unspecified whatever it returns: it
    /// may hold the plaintext, the ciphertext, or a mixture (a packet that fails
    /// authentication may have been partly decrypted before the tag was checked); only the
    /// returned slice is a packet.
    pub fn handle_datagram_in_place<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &'a mut [u8],
    ) -> Option<InPlaceRtp<'a>> {
        let keyed = self.events.is_empty() && self.media_keyed();
        let quiet = keyed
            && PacketKind::is_rtp(contents)
            && self.quiet_receive(now, &source, &destination, contents.len());
        if !quiet && !self.receive_loud(now, source, destination, contents, keyed) {
            return None;
        }
        let m = self.media.get_mut()?;
        let got = m.receive_in_place(now, contents, &mut self.events);
        if self.pump_due_after_media() {
            self.pump_after_datagram(now);
        }
        let (mid, len) = got?;
        Some(InPlaceRtp {
            mid,
            packet: &contents[..len],
        })
    }

    /// Open, with SRTP keyed for media: where SRTP and SRTCP may go straight to media.
    #[inline]
    fn media_keyed(&self) -> bool {
        !self.closed && self.media.get().is_some_and(|m| m.srtp.is_some())
    }

    /// [`handle_datagram_in_place`](Self::handle_datagram_in_place) for a datagram the quiet
    /// state does not take: whether it is SRTP for keyed media (`keyed`) that ICE took on a
    /// pair it vouches for, accounted and left to decrypt in place; else it went the way of
    /// [`handle_datagram`](Protocol::handle_datagram) and `false`.
    #[inline(never)]
    fn receive_loud(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
        keyed: bool,
    ) -> bool {
        let d = Datagram {
            source,
            destination,
            contents,
        };
        if !keyed || !PacketKind::is_rtp(contents) {
            self.handle_datagram(now, d);
            return false;
        }
        self.unquiet();
        if self.mdns_handle_datagram(now, &d) {
            return false;
        }
        self.stats.datagrams_received += 1;
        if !self
            .ice
            .receive_selected(now, &source, &destination, contents)
        {
            let received = self.ice.receive(now, d);
            if !matches!(received, Received::Data(b) if std::ptr::eq(b, contents)) {
                self.after_ice(now, d, PacketKind::Rtp, Some(received));
                return false;
            }
        }
        self.traffic.received(destination, source, contents.len());
        true
    }

    /// `handle_datagram`'s shortcut for SRTP (`rtcp` false) or SRTCP arriving on the quiet
    /// pair of an open connection with keyed media (see `quiet_receive`): straight to media,
    /// the quiet state kept. `false`, with nothing done: the full path takes it.
    #[inline]
    pub(super) fn quiet_media(&mut self, now: Instant, d: &Datagram<'_>, rtcp: bool) -> bool {
        if self.quiet.is_none()
            || !self.media_keyed()
            || !self.quiet_receive(now, &d.source, &d.destination, d.contents.len())
        {
            return false;
        }
        if let Some(m) = self.media.get_mut() {
            m.receive(now, d.contents, rtcp, &mut self.events);
        }
        if self.pump_due_after_media() {
            self.pump_after_datagram(now);
        }
        true
    }
}

/// An RTP packet [`PeerConnection::handle_datagram_in_place`] decrypted and handed back in
/// the caller's buffer: what a [`PeerEvent::Rtp`](super::PeerEvent::Rtp) would have carried, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPlaceRtp<'a> {
    /// The media section (transceiver) it arrived on.
    pub mid: Mid,
    /// The plaintext RTP packet (RTX already unwrapped into its original stream), a slice of
    /// the buffer passed in; [`RtpPacket::new_checked`](crate::rtp::RtpPacket::new_checked)
    /// views it.
    pub packet: &'a [u8],
}
