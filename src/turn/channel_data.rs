//! ChannelData messages (RFC 8656 §12.4): a 4-byte header (channel number, length) and the
//! application data, the compact alternative to Send and Data indications once a channel is
//! bound.

use super::Error;

/// The ChannelData header: channel number and length, 16 bits each.
pub const HEADER_LEN: usize = 4;
/// The first channel number a client may bind (RFC 8656 §12).
pub const MIN_CHANNEL: u16 = 0x4000;
/// The last channel number a client may bind (RFC 8656 §12).
pub const MAX_CHANNEL: u16 = 0x4fff;
/// The last channel number RFC 5766 allowed. RFC 8656 §12 reserved 0x5000..=0x7FFF, but
/// clients written to RFC 5766 (coturn's own `turnutils_uclient` among them) still bind
/// there, so ChannelData framing and kaon's server accept them; kaon's client binds only
/// 0x4000..=0x4FFF.
pub const MAX_RFC5766_CHANNEL: u16 = 0x7fff;

const LENGTH_OFFSET: usize = 2;

/// Whether `n` is a channel number a client may bind: RFC 8656 §12, 0x4000 through 0x4FFF.
pub fn is_valid_channel(n: u16) -> bool {
    (MIN_CHANNEL..=MAX_CHANNEL).contains(&n)
}

/// Whether `n` is a channel number of RFC 5766's wider range, 0x4000 through 0x7FFF (see
/// [`MAX_RFC5766_CHANNEL`]).
pub fn is_rfc5766_channel(n: u16) -> bool {
    (MIN_CHANNEL..=MAX_RFC5766_CHANNEL).contains(&n)
}

/// Whether a datagram looks like ChannelData rather than STUN: RFC 8656 §12 (and RFC 7983),
/// the first two bits are 0b01, where STUN has 0b00.
pub fn is_channel_data(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b >> 6 == 0b01)
}

/// A ChannelData message, borrowing its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel number, 0x4000..=0x4FFF.
    pub channel: u16,
    /// The application data.
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Parses a ChannelData message from a datagram. Bytes after the announced length (the
    /// padding, or anything else) are ignored.
    ///
    /// RFC 8656 §12.4: a message whose datagram is shorter than its length field claims MUST
    /// be discarded. Channel numbers of RFC 5766's range (0x4000..=0x7FFF) are accepted.
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        let header = buf.first_chunk::<HEADER_LEN>().ok_or(Error::Truncated)?;
        let channel = u16::from_be_bytes([header[0], header[1]]);
        if !is_rfc5766_channel(channel) {
            return Err(Error::BadChannel(channel));
        }
        let len = usize::from(u16::from_be_bytes([
            header[LENGTH_OFFSET],
            header[LENGTH_OFFSET + 1],
        ]));
        let data = buf
            .get(HEADER_LEN..HEADER_LEN + len)
            .ok_or(Error::Truncated)?;
        Ok(Self { channel, data })
    }

    /// The length [`write`](Self::write) produces: without padding when `padded` is false (UDP,
    /// RFC 8656 §12.4 lets it be left out), else rounded up to a multiple of 4 (TCP and TLS,
    /// where it MUST be present).
    pub fn len(&self, padded: bool) -> usize {
        let len = HEADER_LEN + self.data.len();
        if padded { len.next_multiple_of(4) } else { len }
    }

    /// Whether the data is empty (a valid ChannelData message still has its header).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Writes the message into `buf` and returns its length; `padded` as for
    /// [`len`](Self::len). Allocates nothing.
    pub fn write(&self, buf: &mut [u8], padded: bool) -> Result<usize, Error> {
        let total = write_header(buf, self.channel, self.data.len(), padded)?;
        buf[HEADER_LEN..HEADER_LEN + self.data.len()].copy_from_slice(self.data);
        Ok(total)
    }
}

/// Writes a ChannelData header for `len` bytes of data (and the zero padding after them when
/// `padded`) into `buf`, for callers that put the data in place themselves. Returns the whole
/// message's length.
pub fn write_header(
    buf: &mut [u8],
    channel: u16,
    len: usize,
    padded: bool,
) -> Result<usize, Error> {
    if !is_rfc5766_channel(channel) {
        return Err(Error::BadChannel(channel));
    }
    let len16 = u16::try_from(len).map_err(|_| Error::TooLong)?;
    let body = HEADER_LEN + len;
    let total = if padded {
        body.next_multiple_of(4)
    } else {
        body
    };
    let out = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    out[..2].copy_from_slice(&channel.to_be_bytes());
    out[LENGTH_OFFSET..HEADER_LEN].copy_from_slice(&len16.to_be_bytes());
    out[body..].fill(0);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn udp_message_needs_no_padding_and_tcp_message_is_padded() {
        let m = ChannelData {
            channel: 0x4001,
            data: b"hello",
        };
        let mut buf = [0xaau8; 16];
        assert_eq!(m.write(&mut buf, false), Ok(9));
        assert_eq!(&buf[..9], b"\x40\x01\x00\x05hello");
        assert_eq!(m.write(&mut buf, true), Ok(12));
        assert_eq!(&buf[9..12], &[0, 0, 0]);
        assert_eq!(ChannelData::parse(&buf[..12]), Ok(m));
    }

    #[test]
    fn channel_numbers_outside_rfc_5766s_range_are_refused() {
        assert_eq!(
            ChannelData::parse(b"\x80\x00\x00\x00"),
            Err(Error::BadChannel(0x8000))
        );
        assert!(ChannelData::parse(b"\x6a\xe9\x00\x00").is_ok());
        assert_eq!(
            ChannelData::parse(b"\x3f\xff\x00\x00"),
            Err(Error::BadChannel(0x3fff))
        );
        let m = ChannelData {
            channel: 0x8000,
            data: b"",
        };
        assert_eq!(m.write(&mut [0; 8], false), Err(Error::BadChannel(0x8000)));
    }

    #[test]
    fn datagram_shorter_than_the_length_is_discarded() {
        assert_eq!(
            ChannelData::parse(b"\x40\x00\x00\x05abcd"),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn small_buffer_is_an_error_not_a_panic() {
        let m = ChannelData {
            channel: 0x4000,
            data: b"abcdef",
        };
        assert_eq!(m.write(&mut [0; 9], false), Err(Error::BufferTooSmall));
    }

    proptest! {
        #[test]
        fn parse_write_round_trips(
            channel in MIN_CHANNEL..=MAX_CHANNEL,
            data in proptest::collection::vec(any::<u8>(), 0..300),
            padded: bool,
        ) {
            let m = ChannelData { channel, data: &data };
            let mut buf = vec![0u8; 400];
            let n = m.write(&mut buf, padded).unwrap();
            prop_assert_eq!(n, m.len(padded));
            prop_assert_eq!(ChannelData::parse(&buf[..n]).unwrap(), m);
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(m) = ChannelData::parse(&bytes) {
                prop_assert!(is_rfc5766_channel(m.channel));
                prop_assert!(m.data.len() + HEADER_LEN <= bytes.len());
            }
        }
    }
}
