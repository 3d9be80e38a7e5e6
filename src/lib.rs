//! # kaon: a WebRTC engine with a sans-IO core
//!
//! Every protocol layer in kaon is a synchronous state machine. It takes datagrams and
//! timestamps, and hands back datagrams to send, typed events and its next deadline. It never
//! opens a socket, starts a thread or reads a clock: the caller owns all three. The same code
//! therefore runs behind a UDP socket, inside the deterministic network simulator
//! (`sim`, feature `sim`) and under a fuzzer.
//!
//! Every layer implements one trait, [`Protocol`]; its documentation states the driving contract
//! and the legal call order. Layers available today:
//!
//! - [`wire`]: bounds-checked byte reader and writer, RFC 1982 serial arithmetic, CRC32 and
//!   CRC32c, a replay window and MD5, shared by every protocol.
//! - [`stun`]: STUN messages, integrity, the client transaction and a binding server
//!   (RFC 8489, RFC 5389, RFC 5769 vectors).
//! - [`turn`]: a TURN client allocation that is the ICE agent's relay, and a TURN server
//!   (RFC 8656), with ChannelData and stream framing and `turn:` URLs.
//! - [`ice`]: the ICE agent (RFC 8445): candidates, checks, nomination and renomination,
//!   consent, restart and failover; usable alone for UDP hole punching.
//! - [`mdns`]: a multicast DNS querier and responder for ICE's `.local` host names (RFC 6762,
//!   draft-ietf-mmusic-mdns-ice-candidates).
//! - [`sctp`] and [`datachannel`]: the SCTP association (RFC 9260, PR-SCTP, stream reset,
//!   I-DATA, zero checksum) and WebRTC data channels (RFC 8831, RFC 8832).
//! - [`peer`]: the `PeerConnection`: JSEP offer/answer over SDP, RFC 7983 demultiplexing, and
//!   ICE, DTLS, SCTP and data channels composed behind one `Protocol`.
//! - [`dtls`]: DTLS 1.2 client and server with WebRTC's certificate fingerprints and the SRTP
//!   exporter (RFC 6347, RFC 5764).
//! - [`sdp`]: session descriptions (RFC 8866) with the attributes WebRTC uses: a total parser
//!   and a writer that round-trips what Chromium, Firefox, aiortc and Pion send.
//! - [`srtp`]: SRTP and SRTCP protection for the four WebRTC profiles (RFC 3711, RFC 7714).
//! - [`bwe`]: congestion control for media: GCC with probing, the pacer and the receive-side
//!   feedback recorder (draft-ietf-rmcat-gcc-02, RFC 8888 feedback semantics).
//! - [`rtp`]: RTP packet views with in-place setters, RFC 8285 header extensions, and RTCP
//!   (SR/RR/SDES/BYE/APP, NACK, PLI, FIR, REMB, transport-wide and RFC 8888 feedback, XR).
//! - `sim` (feature `sim`): the network simulator with links, loss models and RFC 4787 NATs.
//!
//! The roadmap (media streams and codecs on the PeerConnection, DTLS 1.3, TURN over TCP) is in
//! the README.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod protocol;
mod rng;
#[cfg(test)]
#[path = "../tests/support/test_clock.rs"]
mod test_clock;

pub mod bwe;
pub mod datachannel;
pub mod dtls;
pub mod ice;
pub mod mdns;
pub mod media;
pub mod peer;
pub mod rtp;
pub mod sctp;
pub mod sdp;
#[cfg(feature = "sim")]
pub mod sim;
pub mod srtp;
pub mod stun;
pub mod turn;
pub mod wire;

pub use error::Error;
pub use protocol::{Datagram, Ecn, PacketProtocol, Protocol, Transmit};
pub use rng::Rng;
