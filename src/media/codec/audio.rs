//! Audio payloads: Opus (RFC 7587) and G.711/G.722 (RFC 3551).

use super::{Codec, CodecError, Payload, room};

#[derive(Debug)]
pub(super) struct Cursor<'a> {
    frame: &'a [u8],
    offset: usize,
    mtu: usize,
    /// Opus must go whole; G.711 and G.722 split at any byte (one byte per RTP clock tick).
    splittable: bool,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(codec: Codec, frame: &'a [u8], mtu: usize) -> Result<Self, CodecError> {
        if mtu == 0 {
            return Err(CodecError::MtuTooSmall(mtu));
        }
        let splittable = codec != Codec::Opus;
        // RFC 7587 §4.2: only one Opus packet may be carried in each RTP packet.
        if !splittable && frame.len() > mtu {
            return Err(CodecError::TooLarge {
                len: frame.len(),
                mtu,
            });
        }
        Ok(Self {
            frame,
            offset: 0,
            mtu,
            splittable,
        })
    }

    pub(super) fn next(&mut self, buf: &mut [u8]) -> Option<Result<Payload, CodecError>> {
        let rest = &self.frame[self.offset..];
        if rest.is_empty() {
            return None;
        }
        let space = room(buf, self.mtu);
        if space == 0 || (!self.splittable && rest.len() > space) {
            return Some(Err(CodecError::MtuTooSmall(space)));
        }
        // RFC 3551 §4.5.10/§4.5.14: G.711 and G.722 take one octet per sample period of the
        // 8 kHz RTP clock, so a split point anywhere keeps the timestamps exact.
        let n = rest.len().min(space);
        buf[..n].copy_from_slice(&rest[..n]);
        let payload = Payload {
            len: n,
            marker: false,
            timestamp_offset: self.offset as u32,
        };
        self.offset += n;
        Some(Ok(payload))
    }
}
