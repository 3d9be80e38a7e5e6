//! Entry points for the fuzz targets only (built under `cfg(fuzzing)`, never in a release).
//!
//! Random datagrams cannot get past DTLS, so the SCTP and DCEP layers behind a connected
//! [`PeerConnection`] are reached here directly: [`inject_sctp`] hands bytes to the same call
//! a decrypted DTLS record takes, and [`sctp_header`] gives what a packet needs to be taken
//! for the peer's (ports and verification tag) plus the next TSN the association expects.
//! Likewise SRTP: [`inject_media`] hands plaintext RTP or RTCP to the media receive path.

use super::PeerConnection;
use std::time::Instant;

/// What a packet into the association needs to pass its header checks, and where its
/// receive window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpHeader {
    /// Source port of the peer's packets.
    pub src_port: u16,
    /// Destination port (ours).
    pub dst_port: u16,
    /// The verification tag our association expects.
    pub vtag: u32,
    /// The TSN a new DATA chunk from the peer would carry next.
    pub next_tsn: u32,
}

/// Feeds `packet` to `pc` as the plaintext of one DTLS application-data record.
pub fn inject_sctp(pc: &mut PeerConnection, now: Instant, packet: &[u8]) {
    // The call `pump` makes for a record from `dtls::Endpoint::poll_data`.
    pc.channels
        .handle_packet_bytes(now, &bytes::Bytes::copy_from_slice(packet));
}

/// Feeds `bytes` to `pc`'s media receive path as plaintext RTP (or RTCP), as SRTP hands a
/// packet over once it authenticated.
pub fn inject_media(pc: &mut PeerConnection, now: Instant, bytes: &[u8], rtcp: bool) {
    if let Some(m) = pc.media.get_mut() {
        m.receive_plain(now, bytes, rtcp, &mut pc.events);
    }
}

/// The SSRCs a packet needs to reach something: the peer's sources we route, and ours (which
/// RTCP feedback names).
pub fn media_ssrcs(pc: &PeerConnection) -> Vec<u32> {
    let Some(m) = pc.media.get() else {
        return Vec::new();
    };
    let mut v: Vec<u32> = m.routes.keys().copied().collect();
    v.sort_unstable();
    v.extend(m.transceivers.iter().map(|t| t.ssrc));
    v
}

/// Memory the media side holds that a peer's packets can grow: queued outgoing packets and
/// the streams' state.
pub fn media_memory(pc: &PeerConnection) -> usize {
    let Some(m) = pc.media.get() else { return 0 };
    let queued: usize = m.out.iter().map(|o| o.data.capacity()).sum();
    let streams: usize = m
        .transceivers
        .iter()
        .map(|t| {
            t.tx.as_ref().map_or(0, |tx| tx.heap_bytes())
                + t.receivers.iter().map(|r| r.rx.heap_bytes()).sum::<usize>()
        })
        .sum();
    queued + streams + m.routes.len() * 16 + m.rx.capacity()
}

/// See [`SctpHeader`].
pub fn sctp_header(pc: &PeerConnection) -> SctpHeader {
    let a = pc.channels.association();
    let (vtag, cum) = a.fuzzing_tags();
    SctpHeader {
        src_port: a.config().remote_port,
        dst_port: a.config().local_port,
        vtag,
        next_tsn: cum.wrapping_add(1),
    }
}
