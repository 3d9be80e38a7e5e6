//! Demultiplexing of the datagrams that share one ICE 5-tuple (RFC 7983, RFC 5761).
//!
//! Everything WebRTC sends on a bundled transport arrives on the same socket; the first byte
//! tells which protocol a datagram belongs to (RFC 7983 §7).

use crate::stun::is_stun;

/// The protocol a datagram belongs to, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// STUN (first byte 0..=3, confirmed by the magic cookie and length): to ICE.
    Stun,
    /// ZRTP (16..=19): WebRTC does not use it; dropped.
    Zrtp,
    /// DTLS (20..=63).
    Dtls,
    /// TURN channel data (64..=79).
    TurnChannel,
    /// RTP (128..=191, payload type outside the RTCP range).
    Rtp,
    /// RTCP (128..=191, packet type 192..=223, RFC 5761 §4).
    Rtcp,
    /// Anything else, including an empty datagram and 0..=3 that is not valid STUN: dropped
    /// and counted.
    Unknown,
}

impl PacketKind {
    /// Classifies a datagram. Total: any byte string gives a kind, nothing panics.
    pub fn classify(datagram: &[u8]) -> Self {
        let Some(&first) = datagram.first() else {
            return Self::Unknown;
        };
        match first {
            // RFC 7983 §7: 0..=3 is STUN; the cookie check keeps junk out of ICE.
            0..=3 if is_stun(datagram) => Self::Stun,
            16..=19 => Self::Zrtp,
            20..=63 => Self::Dtls,
            64..=79 => Self::TurnChannel,
            // RFC 5761 §4: with the marker bit, RTCP packet types 192..=223 fill the second
            // byte; RTP payload types there are not allowed when RTP and RTCP are muxed.
            128..=191 => match datagram.get(1) {
                Some(192..=223) => Self::Rtcp,
                Some(_) => Self::Rtp,
                None => Self::Unknown,
            },
            _ => Self::Unknown,
        }
    }

    /// Whether [`classify`](Self::classify) says [`Rtp`](Self::Rtp), without the rest of
    /// its ranges: the in-place receive path's first question about every datagram.
    #[inline(always)]
    pub fn is_rtp(datagram: &[u8]) -> bool {
        matches!(datagram, [128..=191, second, ..] if !(192..=223).contains(second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun_binding() -> Vec<u8> {
        let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[7; 12]);
        m
    }

    #[test]
    fn first_byte_ranges_pick_the_protocol() {
        assert_eq!(PacketKind::classify(&stun_binding()), PacketKind::Stun);
        assert_eq!(PacketKind::classify(&[16, 0, 0]), PacketKind::Zrtp);
        assert_eq!(PacketKind::classify(&[19]), PacketKind::Zrtp);
        assert_eq!(PacketKind::classify(&[20, 0xfe, 0xfd]), PacketKind::Dtls);
        assert_eq!(PacketKind::classify(&[22, 0xfe, 0xfd]), PacketKind::Dtls);
        assert_eq!(PacketKind::classify(&[63]), PacketKind::Dtls);
        assert_eq!(
            PacketKind::classify(&[64, 0, 0, 4]),
            PacketKind::TurnChannel
        );
        assert_eq!(PacketKind::classify(&[79]), PacketKind::TurnChannel);
        assert_eq!(PacketKind::classify(&[0x80, 96, 0, 1]), PacketKind::Rtp);
        assert_eq!(PacketKind::classify(&[0x80, 96 | 0x80]), PacketKind::Rtp);
        assert_eq!(PacketKind::classify(&[0x80, 200, 0, 6]), PacketKind::Rtcp);
        assert_eq!(PacketKind::classify(&[0x81, 205]), PacketKind::Rtcp);
        assert_eq!(PacketKind::classify(&[0xbf, 223]), PacketKind::Rtcp);
    }

    #[test]
    fn junk_is_unknown() {
        assert_eq!(PacketKind::classify(&[]), PacketKind::Unknown);
        // 0..=3 without the STUN magic cookie is not STUN.
        assert_eq!(PacketKind::classify(&[0, 1, 0, 0]), PacketKind::Unknown);
        assert_eq!(PacketKind::classify(&[4]), PacketKind::Unknown);
        assert_eq!(PacketKind::classify(&[15]), PacketKind::Unknown);
        assert_eq!(PacketKind::classify(&[80]), PacketKind::Unknown);
        assert_eq!(PacketKind::classify(&[127]), PacketKind::Unknown);
        assert_eq!(PacketKind::classify(&[0x80]), PacketKind::Unknown);
        assert_eq!(PacketKind::classify(&[192, 200]), PacketKind::Unknown);
        assert_eq!(PacketKind::classify(&[255]), PacketKind::Unknown);
    }

    proptest::proptest! {
        #[test]
        fn is_rtp_agrees_with_classify(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..4)) {
            proptest::prop_assert_eq!(
                PacketKind::is_rtp(&bytes),
                PacketKind::classify(&bytes) == PacketKind::Rtp
            );
        }

        #[test]
        fn classify_is_total(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let k = PacketKind::classify(&bytes);
            if let Some(&b) = bytes.first() {
                if (20..=63).contains(&b) {
                    proptest::prop_assert_eq!(k, PacketKind::Dtls);
                }
            } else {
                proptest::prop_assert_eq!(k, PacketKind::Unknown);
            }
        }
    }
}
