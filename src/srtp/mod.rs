//! SRTP and SRTCP: protecting RTP and RTCP packets in place (RFC 3711, RFC 7714), keyed from
//! DTLS-SRTP (RFC 5764).
//!
//! SRTP is a pure transform, not a [`Protocol`](crate::Protocol): no timers, no datagrams of
//! its own. A [`Context`] holds one direction's session keys, derived from a master key and
//! salt (RFC 3711 §4.3), and per SSRC the rollover counter, the SRTCP index and the replay
//! windows. A [`Session`] is the pair a DTLS-SRTP association needs, split out of the DTLS
//! exporter output for our [`Role`].
//!
//! - Profiles ([`Profile`]): `SRTP_AES128_CM_HMAC_SHA1_80` and `_32` (RFC 3711, RFC 5764),
//!   `SRTP_AEAD_AES_128_GCM` and `SRTP_AEAD_AES_256_GCM` (RFC 7714).
//! - RTP: the index is estimated from the sequence number and the highest authenticated index
//!   (RFC 3711 §3.3.1, Appendix A), so reordering across the 65535 → 0 wrap is handled. The
//!   header, CSRCs and header extension stay in the clear; the payload and any padding are
//!   encrypted.
//! - SRTCP: the 31-bit SRTCP index and E flag (RFC 3711 §3.4); all of a compound packet after
//!   the first 8 bytes is encrypted.
//! - Every receive path checks the replay window, then the tag, then decrypts, and only then
//!   moves the window and the rollover counter. Failures are typed [`Error`]s; nothing panics.
//! - In place and allocation-free per packet: protect writes the tag into room the caller's
//!   buffer has; unprotect returns the plaintext length. A new SSRC allocates its state once.
//!
//! Not implemented: MKI, key derivation rates other than zero (DTLS-SRTP uses neither),
//! encrypted header extensions (RFC 6904), the AES-f8 and NULL-cipher transforms.
//!
//! ```
//! use kaon::srtp::{Config, Context, Error, Profile};
//! use kaon::wire::Replay;
//! let (key, salt) = ([7u8; 16], [9u8; 14]);
//! let profile = Profile::Aes128CmSha1_80;
//! let mut sender = Context::new(profile, &key, &salt, &Config::default())?;
//! let mut receiver = Context::new(profile, &key, &salt, &Config::default())?;
//!
//! // An RTP packet: V=2, PT 96, seq 1, timestamp 0, SSRC 0x1234, then the payload.
//! let rtp = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x34, b'h', b'i'];
//! let mut buf = [0u8; 1500];
//! buf[..rtp.len()].copy_from_slice(&rtp);
//! let n = sender.protect_rtp(&mut buf, rtp.len())?; // the tag goes into buf[rtp.len()..n]
//! assert_eq!(n, rtp.len() + profile.rtp_overhead());
//! let srtp = buf;
//!
//! let m = receiver.unprotect_rtp(&mut buf[..n])?;
//! assert_eq!(&buf[..m], &rtp);
//! // The same packet again is a replay.
//! let mut again = srtp;
//! assert_eq!(receiver.unprotect_rtp(&mut again[..n]), Err(Error::Replayed(Replay::Duplicate)));
//! // A flipped bit fails authentication (the window is checked first, so use a new receiver).
//! let mut other = Context::new(profile, &key, &salt, &Config::default())?;
//! let mut forged = srtp;
//! forged[12] ^= 1;
//! assert_eq!(other.unprotect_rtp(&mut forged[..n]), Err(Error::AuthenticationFailed));
//! # Ok::<(), kaon::srtp::Error>(())
//! ```

mod context;
mod crypto;
mod header;
mod kdf;
mod profile;

pub(crate) use context::Unprotected;
pub use context::{Config, Context, Session};
pub use profile::{EXPORTER_LABEL, Profile, Role};

use crate::wire::Replay;

/// Why a packet could not be protected or unprotected, or a context not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tag did not verify: the packet was forged, corrupted or keyed differently.
    #[error("SRTP authentication failed")]
    AuthenticationFailed,
    /// The packet index was already received or is older than the replay window.
    #[error("SRTP replay: {0}")]
    Replayed(#[from] Replay),
    /// The packet is shorter than its header plus the tag and trailer.
    #[error("packet too short for SRTP")]
    TooShort,
    /// The packet is longer than a UDP datagram can be (65535 bytes).
    #[error("packet too long for SRTP")]
    TooLong,
    /// Not RTP/RTCP version 2, or the CSRC list or header extension runs past the packet.
    #[error("malformed RTP or RTCP header")]
    BadHeader,
    /// The buffer has no room for the tag (protect) or does not hold `len` bytes.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A packet for a new SSRC arrived when the context already holds
    /// [`Config::max_ssrcs`] of them.
    #[error("SRTP context holds the maximum number of SSRCs")]
    SsrcLimit,
    /// The profile is not one of the four implemented.
    #[error("unsupported SRTP protection profile {0:#06x}")]
    UnsupportedProfile(u16),
    /// The master key, salt or keying material has the wrong length for the profile.
    #[error("wrong key material length: expected {expected} bytes, got {got}")]
    BadKeyLength {
        /// Bytes the profile needs.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The 2^48 SRTP or 2^31 SRTCP packets one master key may protect are used up
    /// (RFC 3711 §9.2); the stream must be rekeyed.
    #[error("SRTP master key exhausted; rekey")]
    KeyExhausted,
    /// The crypto library refused an operation that cannot fail with valid arguments.
    #[error("cipher failure")]
    CipherFailure,
}

#[cfg(test)]
pub(crate) mod tests;
