//! TURN over a byte stream (RFC 8656 §3.1, §12.5): over TCP and TLS, STUN messages and
//! ChannelData messages follow each other back to back with no other framing. Each one's
//! length is in its header, and ChannelData is padded to a multiple of 4 so the next message
//! starts aligned.

use super::Error;
use super::channel_data::{self, ChannelData};

/// A STUN header (RFC 8489 §5).
const STUN_HEADER_LEN: usize = 20;
/// The longest message a stream can carry: a STUN header and a 16-bit length of body (the
/// padded ChannelData maximum, 4 + 65536, is shorter).
pub const MAX_FRAME_LEN: usize = STUN_HEADER_LEN + u16::MAX as usize;

/// One whole message cut out of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A STUN message (still to be parsed with [`Message::parse`](crate::stun::Message::parse)).
    Stun(&'a [u8]),
    /// A ChannelData message, parsed.
    ChannelData(ChannelData<'a>),
}

/// Cuts a TURN byte stream into whole messages with a bounded buffer.
///
/// Feed received bytes with [`push`](Self::push), which takes only what fits (at most
/// [`MAX_FRAME_LEN`] bytes are buffered), then take messages with
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`, and push the rest.
/// A first byte that starts neither STUN (0b00) nor ChannelData (0b01) means the stream has
/// lost its framing: that error is sticky, and the connection should be closed.
///
/// ```
/// use kaon::turn::{Frame, StreamFramer};
/// let mut framer = StreamFramer::new();
/// // Two ChannelData messages, the first padded, arriving in odd pieces.
/// let stream = b"\x40\x00\x00\x03abc\x00\x40\x01\x00\x01z\x00\x00\x00";
/// assert_eq!(framer.push(&stream[..5]), 5);
/// assert_eq!(framer.next_frame(), Ok(None));
/// assert_eq!(framer.push(&stream[5..]), stream.len() - 5);
/// let Ok(Some(Frame::ChannelData(first))) = framer.next_frame() else { panic!() };
/// assert_eq!((first.channel, first.data), (0x4000, &b"abc"[..]));
/// let Ok(Some(Frame::ChannelData(second))) = framer.next_frame() else { panic!() };
/// assert_eq!(second.data, b"z");
/// assert_eq!(framer.next_frame(), Ok(None));
/// ```
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Bytes before this are consumed frames, dropped at the next push.
    start: usize,
    broken: bool,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes received and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends received bytes, as many as fit under [`MAX_FRAME_LEN`] buffered, and returns
    /// how many were taken. Take frames out before pushing the rest.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let take = bytes.len().min(MAX_FRAME_LEN - self.buf.len());
        self.buf.extend_from_slice(&bytes[..take]);
        take
    }

    /// The next whole message, `Ok(None)` when more bytes are needed, or
    /// [`Error::BadFraming`] (sticky) when the stream cannot be a TURN stream.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        let Some(raw) = self.next_message()? else {
            return Ok(None);
        };
        if raw[0] >> 6 == 0b00 {
            return Ok(Some(Frame::Stun(raw)));
        }
        // A bad channel number in a well-framed message is an error for this message only:
        // the next one still starts where the length says.
        ChannelData::parse(raw).map(|m| Some(Frame::ChannelData(m)))
    }

    /// The next whole message as the bytes a datagram would carry: a STUN message, or a
    /// ChannelData message without its stream padding (its channel number unchecked).
    /// `Ok(None)` when more bytes are needed; [`Error::BadFraming`] (sticky) as for
    /// [`next_frame`](Self::next_frame).
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, Error> {
        if self.broken {
            return Err(Error::BadFraming);
        }
        let rest = &self.buf[self.start..];
        let Some(header) = rest.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let (body, total) = match header[0] >> 6 {
            0b00 => (STUN_HEADER_LEN + len, STUN_HEADER_LEN + len),
            // RFC 8656 §12.5: over TCP and TLS, ChannelData MUST be padded to a multiple of 4.
            0b01 => {
                let body = channel_data::HEADER_LEN + len;
                (body, body.next_multiple_of(4))
            }
            _ => {
                self.broken = true;
                return Err(Error::BadFraming);
            }
        };
        if rest.len() < total {
            return Ok(None);
        }
        let at = self.start;
        self.start += total;
        Ok(Some(&self.buf[at..at + body]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stun_and_channel_data_interleave_in_one_stream() {
        let mut stream = Vec::new();
        let stun = crate::stun::Message::new(
            crate::stun::Class::Request,
            crate::stun::Method::Binding,
            crate::stun::TransactionId([7; 12]),
        );
        let mut b = [0u8; 64];
        let n = stun.write(&mut b, None, true).unwrap();
        stream.extend_from_slice(&b[..n]);
        let cd = ChannelData {
            channel: 0x4abc,
            data: b"12345",
        };
        let m = cd.write(&mut b, true).unwrap();
        stream.extend_from_slice(&b[..m]);
        stream.extend_from_slice(&b[..n.min(3)]); // the start of a third message

        let mut f = StreamFramer::new();
        assert_eq!(f.push(&stream), stream.len());
        assert_eq!(f.next_frame().unwrap().unwrap(), Frame::Stun(&stream[..n]));
        assert_eq!(f.next_frame().unwrap().unwrap(), Frame::ChannelData(cd));
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.buffered(), 3);
    }

    #[test]
    fn lost_framing_is_a_sticky_error() {
        let mut f = StreamFramer::new();
        f.push(b"\x80\x00\x00\x00");
        assert_eq!(f.next_frame(), Err(Error::BadFraming));
        f.push(b"\x40\x00\x00\x00");
        assert_eq!(f.next_frame(), Err(Error::BadFraming));
    }

    #[test]
    fn buffer_never_grows_past_one_maximal_frame() {
        let mut f = StreamFramer::new();
        let junk = vec![0u8; 100_000]; // a STUN header claiming length 0, then more zeros
        let mut taken = f.push(&junk);
        assert!(f.buffered() <= MAX_FRAME_LEN);
        while taken < junk.len() {
            while let Ok(Some(_)) = f.next_frame() {}
            let n = f.push(&junk[taken..]);
            assert!(f.buffered() <= MAX_FRAME_LEN);
            taken += n;
        }
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_gives_the_same_frames(
            msgs in proptest::collection::vec(
                (channel_data::MIN_CHANNEL..=channel_data::MAX_CHANNEL,
                 proptest::collection::vec(any::<u8>(), 0..40)), 1..8),
            cut in 0usize..400,
        ) {
            let mut stream = Vec::new();
            for (ch, data) in &msgs {
                let mut b = vec![0u8; 64];
                let n = ChannelData { channel: *ch, data }.write(&mut b, true).unwrap();
                stream.extend_from_slice(&b[..n]);
            }
            let cut = cut.min(stream.len());
            let mut f = StreamFramer::new();
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                f.push(part);
                while let Some(Frame::ChannelData(m)) = f.next_frame().unwrap() {
                    got.push((m.channel, m.data.to_vec()));
                }
            }
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut f = StreamFramer::new();
            f.push(&bytes);
            for _ in 0..100 {
                match f.next_frame() {
                    Ok(Some(_)) | Err(Error::BadChannel(_)) => {}
                    _ => break,
                }
            }
        }
    }
}
