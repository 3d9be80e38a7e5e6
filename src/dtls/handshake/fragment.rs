//! Handshake fragmentation and reassembly (RFC 6347 §4.2.3).
//!
//! Fragments may arrive in any order, duplicated, overlapping and spread over many datagrams;
//! a message is handed on only once every byte of it has arrived, and messages are handed on
//! strictly in `message_seq` order. Memory is bounded: one message may hold at most
//! [`MAX_MESSAGE_LEN`] bytes, all partial messages together [`MAX_BUFFERED`], and only the next
//! [`MAX_AHEAD`] sequence numbers are buffered. Fragments beyond the limits are dropped; the
//! peer retransmits them.

use super::{HandshakeHeader, HandshakeType};

/// The largest handshake message we reassemble. A WebRTC peer's largest message is its
/// Certificate (well under 4 KiB); a post-quantum ClientHello is about 1.5 KiB.
pub(crate) const MAX_MESSAGE_LEN: usize = 32 * 1024;
/// The most bytes all partial messages may hold together.
pub(crate) const MAX_BUFFERED: usize = 64 * 1024;
/// How far past the next expected `message_seq` fragments are kept (a flight has at most six
/// messages).
pub(crate) const MAX_AHEAD: u16 = 16;

/// What became of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insert {
    /// Kept (possibly completing a message).
    Buffered,
    /// From a message already handed on: the peer is retransmitting an old flight.
    Old,
    /// Outside the limits or inconsistent with earlier fragments of its message.
    Dropped,
}

/// A fully reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Complete {
    pub(crate) msg_type: HandshakeType,
    pub(crate) message_seq: u16,
    /// The epoch its fragments arrived in (all of them: mixing epochs is dropped).
    pub(crate) epoch: u16,
    pub(crate) body: Vec<u8>,
}

#[derive(Debug)]
struct Partial {
    message_seq: u16,
    msg_type: HandshakeType,
    epoch: u16,
    body: Vec<u8>,
    /// Received byte ranges, sorted, disjoint and not touching.
    have: Vec<(usize, usize)>,
    seen: bool,
}

impl Partial {
    fn complete(&self) -> bool {
        self.seen && (self.body.is_empty() || self.have == [(0, self.body.len())])
    }

    fn add(&mut self, start: usize, end: usize) {
        self.seen = true;
        if start == end {
            return;
        }
        let mut merged = (start, end);
        self.have.retain(|&(s, e)| {
            if e < merged.0 || s > merged.1 {
                true
            } else {
                merged = (merged.0.min(s), merged.1.max(e));
                false
            }
        });
        let at = self.have.partition_point(|&(s, _)| s < merged.0);
        self.have.insert(at, merged);
    }
}

/// Reassembles one peer's handshake messages.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    next_seq: u16,
    partial: Vec<Partial>,
    buffered: usize,
}

impl Reassembler {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The `message_seq` of the next message to hand on.
    pub(crate) fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Forgets every partial message and expects `seq` next. A server waiting for a
    /// ClientHello uses this: it cannot know which `message_seq` the client is at.
    pub(crate) fn resync(&mut self, seq: u16) {
        self.partial.clear();
        self.buffered = 0;
        self.next_seq = seq;
    }

    /// Gives back the memory of the partial-message list when nothing is pending (a
    /// connected endpoint keeps its reassembler only for the rare post-handshake message).
    pub(crate) fn shrink(&mut self) {
        if self.partial.is_empty() {
            self.partial = Vec::new();
        }
    }

    /// Offers one fragment.
    pub(crate) fn insert(&mut self, epoch: u16, header: &HandshakeHeader, data: &[u8]) -> Insert {
        let seq = header.message_seq;
        if seq < self.next_seq {
            return Insert::Old;
        }
        let length = header.length as usize;
        let start = header.fragment_offset as usize;
        let end = start + data.len();
        if seq - self.next_seq >= MAX_AHEAD
            || length > MAX_MESSAGE_LEN
            || end > length
            || data.len() != header.fragment_length as usize
        {
            return Insert::Dropped;
        }
        let index = match self.partial.iter().position(|p| p.message_seq == seq) {
            Some(i) => {
                let p = &self.partial[i];
                if p.msg_type != header.msg_type || p.body.len() != length || p.epoch != epoch {
                    return Insert::Dropped;
                }
                i
            }
            None => {
                if self.buffered + length > MAX_BUFFERED {
                    return Insert::Dropped;
                }
                self.buffered += length;
                self.partial.push(Partial {
                    message_seq: seq,
                    msg_type: header.msg_type,
                    epoch,
                    body: vec![0; length],
                    have: Vec::new(),
                    seen: false,
                });
                self.partial.len() - 1
            }
        };
        let p = &mut self.partial[index];
        p.body[start..end].copy_from_slice(data);
        p.add(start, end);
        Insert::Buffered
    }

    /// The next message in sequence, once complete.
    pub(crate) fn pop(&mut self) -> Option<Complete> {
        let i = self
            .partial
            .iter()
            .position(|p| p.message_seq == self.next_seq && p.complete())?;
        let p = self.partial.swap_remove(i);
        self.buffered -= p.body.len();
        self.next_seq = self.next_seq.wrapping_add(1);
        Some(Complete {
            msg_type: p.msg_type,
            message_seq: p.message_seq,
            epoch: p.epoch,
            body: p.body,
        })
    }

    /// Bytes held by partial messages.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frag(seq: u16, body: &[u8], off: usize, len: usize) -> (HandshakeHeader, Vec<u8>) {
        let h = HandshakeHeader {
            msg_type: HandshakeType::Certificate,
            length: body.len() as u32,
            message_seq: seq,
            fragment_offset: off as u32,
            fragment_length: len as u32,
        };
        (h, body[off..off + len].to_vec())
    }

    #[test]
    fn messages_come_out_in_sequence_only() {
        let mut r = Reassembler::new();
        let (h1, d1) = frag(1, b"second", 0, 6);
        assert_eq!(r.insert(0, &h1, &d1), Insert::Buffered);
        assert!(r.pop().is_none());
        let (h0, d0) = frag(0, b"first", 0, 5);
        assert_eq!(r.insert(0, &h0, &d0), Insert::Buffered);
        assert_eq!(r.pop().unwrap().body, b"first");
        assert_eq!(r.pop().unwrap().body, b"second");
        assert_eq!(r.insert(0, &h0, &d0), Insert::Old);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn limits_are_enforced() {
        let mut r = Reassembler::new();
        let big = vec![0u8; MAX_MESSAGE_LEN + 1];
        let (h, d) = frag(0, &big, 0, 10);
        assert_eq!(r.insert(0, &h, &d), Insert::Dropped);
        let (h, d) = frag(MAX_AHEAD, b"far", 0, 3);
        assert_eq!(r.insert(0, &h, &d), Insert::Dropped);
        // Fill the budget with partial messages, then one more is refused.
        let body = vec![0u8; MAX_MESSAGE_LEN];
        for seq in 0..(MAX_BUFFERED / MAX_MESSAGE_LEN) as u16 {
            let (h, d) = frag(seq, &body, 0, 1);
            assert_eq!(r.insert(0, &h, &d), Insert::Buffered);
        }
        let (h, d) = frag(5, b"x", 0, 1);
        assert_eq!(r.insert(0, &h, &d), Insert::Dropped);
        assert!(r.buffered() <= MAX_BUFFERED);
    }

    #[test]
    fn inconsistent_fragments_are_dropped() {
        let mut r = Reassembler::new();
        let (h, d) = frag(0, b"abcdef", 0, 3);
        assert_eq!(r.insert(0, &h, &d), Insert::Buffered);
        let mut other = h;
        other.length = 7;
        assert_eq!(r.insert(0, &other, b"def"), Insert::Dropped);
        let (h2, d2) = frag(0, b"abcdef", 3, 3);
        assert_eq!(r.insert(1, &h2, &d2), Insert::Dropped);
        let mut lying = h2;
        lying.fragment_length = 2;
        assert_eq!(r.insert(0, &lying, &d2), Insert::Dropped);
        assert_eq!(r.insert(0, &h2, &d2), Insert::Buffered);
        assert_eq!(r.pop().unwrap().body, b"abcdef");
    }

    proptest! {
        /// Any cover of a message by (possibly overlapping) fragments, delivered in any order
        /// with duplicates, reassembles to the message exactly once.
        #[test]
        fn any_permutation_with_duplicates_reassembles(
            body in prop::collection::vec(any::<u8>(), 0..3000),
            cuts in prop::collection::vec(0usize..3000, 0..12),
            extra in prop::collection::vec((0usize..3000, 0usize..600), 0..6),
            order in any::<prop::sample::Index>(),
            seed: u64,
        ) {
            let len = body.len();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (len + 1)).collect();
            points.push(0);
            points.push(len);
            points.sort_unstable();
            points.dedup();
            let mut pieces: Vec<(usize, usize)> =
                points.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
            if len == 0 {
                pieces.push((0, 0));
            }
            for (o, l) in extra {
                let o = o % (len + 1);
                pieces.push((o, l.min(len - o)));
            }
            // Duplicate a few and shuffle deterministically.
            let dup = pieces[order.index(pieces.len())];
            pieces.push(dup);
            let mut state = seed | 1;
            for i in (1..pieces.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                pieces.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let mut r = Reassembler::new();
            let mut out = Vec::new();
            for (o, l) in pieces {
                let (h, d) = frag(0, &body, o, l);
                prop_assert_ne!(r.insert(0, &h, &d), Insert::Dropped);
                while let Some(m) = r.pop() {
                    out.push(m);
                }
            }
            prop_assert_eq!(out.len(), 1);
            prop_assert_eq!(&out[0].body, &body);
            prop_assert_eq!(r.buffered(), 0);
        }

        #[test]
        fn arbitrary_headers_never_panic(fields in prop::collection::vec((any::<u16>(), any::<u32>(), any::<u32>(), 0usize..100), 0..20)) {
            let mut r = Reassembler::new();
            for (seq, length, off, n) in fields {
                let h = HandshakeHeader {
                    msg_type: HandshakeType::Finished,
                    length: length & 0xffff,
                    message_seq: seq % 20,
                    fragment_offset: off & 0xffff,
                    fragment_length: n as u32,
                };
                let _ = r.insert(0, &h, &vec![0; n]);
                while r.pop().is_some() {}
                prop_assert!(r.buffered() <= MAX_BUFFERED);
            }
        }
    }
}
