//! The little of the RTP and RTCP headers SRTP needs: where the header ends (the rest is
//! encrypted), the sequence number and the SSRC. The full RTP layer lives elsewhere.

use super::Error;
use crate::wire::Reader;

/// RFC 3550 §5.1: the fixed RTP header is 12 bytes.
pub(crate) const RTP_FIXED_HEADER: usize = 12;
/// RFC 3550 §6.4.1: V/P/RC, PT, length and the sender's SSRC; SRTCP encrypts what follows.
pub(crate) const RTCP_HEADER: usize = 8;

const VERSION: u8 = 2;
const CSRC_COUNT_MASK: u8 = 0x0f;
const EXTENSION_BIT: u8 = 0x10;

/// The fields of an RTP header that SRTP uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpHeader {
    pub(crate) seq: u16,
    pub(crate) ssrc: u32,
    /// Bytes of header: the fixed part, the CSRC list and any header extension. RFC 3711 §3.1:
    /// all of it stays in the clear; padding belongs to the encrypted payload.
    pub(crate) len: usize,
}

/// Reads the RTP header at the start of `packet`. Indexed directly once the fixed header is
/// known to be there: this runs for every packet protected or unprotected.
pub(crate) fn parse_rtp(packet: &[u8]) -> Result<RtpHeader, Error> {
    let Some(fixed) = packet.first_chunk::<RTP_FIXED_HEADER>() else {
        return Err(Error::TooShort);
    };
    let first = fixed[0];
    if first >> 6 != VERSION {
        return Err(Error::BadHeader);
    }
    let seq = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ssrc = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    let mut len = RTP_FIXED_HEADER + 4 * usize::from(first & CSRC_COUNT_MASK);
    if first & EXTENSION_BIT != 0 {
        // RFC 3550 §5.3.1: 16 profile-defined bits, then the length in 32-bit words.
        let Some(&[_, _, hi, lo]) = packet.get(len..len + 4) else {
            return Err(Error::BadHeader);
        };
        len += 4 + 4 * usize::from(u16::from_be_bytes([hi, lo]));
    }
    if len > packet.len() {
        return Err(Error::BadHeader);
    }
    Ok(RtpHeader { seq, ssrc, len })
}

/// Reads the sender SSRC of the first RTCP packet in `packet` (a compound packet is protected
/// as one unit, RFC 3711 §3.4).
pub(crate) fn parse_rtcp(packet: &[u8]) -> Result<u32, Error> {
    if packet.len() < RTCP_HEADER {
        return Err(Error::TooShort);
    }
    let mut r = Reader::new(packet);
    let bad = |_| Error::BadHeader;
    if r.u8().map_err(bad)? >> 6 != VERSION {
        return Err(Error::BadHeader);
    }
    r.skip(3).map_err(bad)?;
    r.u32().map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrcs_and_extension_stay_in_the_header() {
        let mut p = vec![
            0x80 | EXTENSION_BIT | 2,
            96,
            0x12,
            0x34,
            0,
            0,
            0,
            1,
            0xde,
            0xad,
            0xbe,
            0xef,
        ];
        p.extend_from_slice(&[0; 8]); // two CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]); // one-byte extension, 1 word
        p.extend_from_slice(b"payload");
        let h = parse_rtp(&p).unwrap();
        assert_eq!(h.seq, 0x1234);
        assert_eq!(h.ssrc, 0xdead_beef);
        assert_eq!(h.len, 12 + 8 + 8);
    }

    #[test]
    fn truncated_or_wrong_version_headers_are_typed_errors() {
        assert_eq!(parse_rtp(&[0x80; 11]), Err(Error::TooShort));
        assert_eq!(parse_rtp(&[0x40; 12]), Err(Error::BadHeader));
        // CC = 15 needs 60 more bytes.
        assert_eq!(parse_rtp(&[0x8f; 20]), Err(Error::BadHeader));
        // X set but no room for the extension header.
        assert_eq!(parse_rtp(&[0x90; 12]), Err(Error::BadHeader));
        assert_eq!(parse_rtcp(&[0x80; 7]), Err(Error::TooShort));
        assert_eq!(parse_rtcp(&[0xc0; 8]), Err(Error::BadHeader));
        assert_eq!(parse_rtcp(&[0x80, 200, 0, 1, 1, 2, 3, 4]), Ok(0x0102_0304));
    }
}
