//! Entry points for the fuzz targets only (built under `cfg(fuzzing)`, never in a release).
//!
//! Random datagrams cannot get past DTLS, so the SCTP and DCEP layers behind a connected
//! [`PeerConnection`] are reached here directly: [`inject_sctp`] hands bytes to the same call
//! a decrypted DTLS record takes, and [`sctp_header`] gives what a packet needs to be taken
//! for the peer's (ports and verification tag) plus the next TSN the association expects.

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
    // The call `pump` makes for `dtls::Event::Data`.
    pc.channels.handle_packet(now, packet);
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
