//! Messages accepted by `send` and not yet given TSNs: per-stream queues, round-robin
//! scheduling between streams, fragmentation, and buffered-amount accounting.
//!
//! Without I-DATA a message's fragments need consecutive TSNs (RFC 9260 §6.9), so a stream
//! keeps the scheduler until its current message is out. With I-DATA (RFC 8260) the scheduler
//! moves to the next stream after every fragment, so a large message does not hold up small
//! ones on other streams.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

/// How hard to try to deliver one message (RFC 3758 policies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Deliver without regard to order.
    pub unordered: bool,
    /// Give up after this many retransmissions (`Some(0)`: send once).
    pub max_retransmits: Option<u32>,
    /// Give up once this much time has passed since `send`.
    pub lifetime: Option<std::time::Duration>,
}

#[derive(Debug)]
struct OutMessage {
    data: Bytes,
    offset: usize,
    ppid: u32,
    unordered: bool,
    max_retransmits: Option<u32>,
    expires: Option<Instant>,
    /// SSN or MID, fixed when the first fragment goes out.
    seq: Option<u32>,
    fsn: u32,
    id: u64,
    /// Where the retransmission queue holds this message's bytes, once a fragment went out.
    slot: Option<u64>,
}

/// Where a stream stands in a reset (RFC 6525, RFC 8831 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetState {
    Open,
    /// Closing: no new messages; reset once the queue has drained.
    Closing,
    /// A reset request naming this stream is outstanding.
    Resetting,
}

#[derive(Debug)]
struct OutStream {
    queue: VecDeque<OutMessage>,
    next_ordered: u32,
    next_unordered: u32,
    buffered: usize,
    low_threshold: usize,
    state: ResetState,
    scheduled: bool,
}

impl Default for OutStream {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            next_ordered: 0,
            next_unordered: 0,
            buffered: 0,
            low_threshold: 0,
            state: ResetState::Open,
            scheduled: false,
        }
    }
}

impl OutStream {
    /// Like RTCDataChannel's bufferedamountlow: whether the amount buffered crossed from above
    /// the threshold (`before`) to at or below it.
    fn crosses_low(&self, before: usize) -> bool {
        before > self.low_threshold && self.buffered <= self.low_threshold
    }

    fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.next_ordered == 0
            && self.next_unordered == 0
            && self.low_threshold == 0
            && self.state == ResetState::Open
    }
}

/// One fragment ready for a TSN.
#[derive(Debug, Clone)]
pub(crate) struct Fragment {
    pub stream: u16,
    pub seq: u32,
    pub ppid: u32,
    pub fsn: u32,
    pub unordered: bool,
    pub begin: bool,
    pub end: bool,
    /// The message's bytes in the retransmission queue's table (see
    /// [`Inflight::hold`](super::inflight::Inflight::hold)), and the fragment's part of them.
    pub slot: u64,
    pub offset: usize,
    pub len: usize,
    pub msg: u64,
    pub max_retransmits: Option<u32>,
    pub expires: Option<Instant>,
}

/// A message dropped after some of its fragments were sent: those must be abandoned too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated {
    pub msg: u64,
}

#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    streams: BTreeMap<u16, OutStream>,
    active: VecDeque<u16>,
    /// Without I-DATA: the stream whose message is part-way out.
    current: Option<u16>,
    closing: BTreeSet<u16>,
    queued: usize,
    next_id: u64,
    /// Streams whose buffered amount fell to or below their threshold.
    pub(crate) low: Vec<u16>,
}

impl SendQueue {
    /// Bytes accepted and not yet given a TSN.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    pub(crate) fn buffered(&self, stream: u16) -> usize {
        self.streams.get(&stream).map_or(0, |s| s.buffered)
    }

    pub(crate) fn set_low_threshold(&mut self, stream: u16, bytes: usize) {
        self.streams.entry(stream).or_default().low_threshold = bytes;
        self.forget_if_idle(stream);
    }

    pub(crate) fn state(&self, stream: u16) -> ResetState {
        self.streams
            .get(&stream)
            .map_or(ResetState::Open, |s| s.state)
    }

    /// Queues a message. The caller has checked sizes and the stream's state.
    pub(crate) fn push(
        &mut self,
        now: Instant,
        stream: u16,
        ppid: u32,
        data: Bytes,
        o: SendOptions,
    ) {
        let s = self.streams.entry(stream).or_default();
        s.buffered += data.len();
        self.queued += data.len();
        s.queue.push_back(OutMessage {
            data,
            offset: 0,
            ppid,
            unordered: o.unordered,
            max_retransmits: o.max_retransmits,
            expires: o.lifetime.map(|l| now + l),
            seq: None,
            fsn: 0,
            id: self.next_id,
            slot: None,
        });
        self.next_id += 1;
        if !s.scheduled {
            s.scheduled = true;
            self.active.push_back(stream);
        }
    }

    /// The next fragment of at most `max_payload` bytes, in round-robin order between streams.
    /// Messages whose lifetime ran out before they went are dropped; one that ran out part-way
    /// is reported in `truncated` so its sent fragments can be abandoned.
    ///
    /// `hold(message id, bytes, last, slot)` keeps the message's bytes for as long as a
    /// fragment of it is in flight and returns where (given the slot its previous fragment
    /// got), so fragments refer to their message rather than each hold a handle of their own;
    /// with the last fragment it may take the bytes, which the queue lets go of then.
    pub(crate) fn next_fragment(
        &mut self,
        now: Instant,
        max_payload: usize,
        interleaved: bool,
        truncated: &mut Vec<Truncated>,
        hold: impl FnOnce(u64, &mut Bytes, bool, Option<u64>) -> u64,
    ) -> Option<Fragment> {
        loop {
            let id = match self.current {
                Some(id) => id,
                None => *self.active.front()?,
            };
            let Some(s) = self.streams.get_mut(&id) else {
                self.active.retain(|&x| x != id);
                self.current = None;
                continue;
            };
            let Some(m) = s.queue.front_mut() else {
                s.scheduled = false;
                self.active.retain(|&x| x != id);
                self.current = None;
                self.forget_if_idle(id);
                continue;
            };
            if m.expires.is_some_and(|e| e <= now) {
                let m = s.queue.pop_front()?;
                let left = m.data.len() - m.offset;
                let before = s.buffered;
                s.buffered -= left;
                self.queued -= left;
                if m.offset > 0 {
                    truncated.push(Truncated { msg: m.id });
                }
                self.current = None;
                self.note_drained(id, before);
                continue;
            }
            let seq = *m.seq.get_or_insert_with(|| {
                let counter = if m.unordered && interleaved {
                    &mut s.next_unordered
                } else if m.unordered {
                    // DATA ignores the SSN of unordered messages.
                    return 0;
                } else {
                    &mut s.next_ordered
                };
                let v = *counter;
                *counter = if interleaved {
                    v.wrapping_add(1)
                } else {
                    u32::from((v as u16).wrapping_add(1))
                };
                v
            });
            let begin = m.offset == 0;
            let take = (m.data.len() - m.offset).min(max_payload.max(1));
            let offset = m.offset;
            let end = offset + take == m.data.len();
            let slot = hold(m.id, &mut m.data, end, m.slot);
            m.slot = Some(slot);
            m.offset += take;
            let frag = Fragment {
                stream: id,
                seq,
                ppid: m.ppid,
                fsn: m.fsn,
                unordered: m.unordered,
                begin,
                end,
                slot,
                offset,
                len: take,
                msg: m.id,
                max_retransmits: m.max_retransmits,
                expires: m.expires,
            };
            m.fsn += 1;
            let before = s.buffered;
            s.buffered -= take;
            self.queued -= take;
            if end {
                s.queue.pop_front();
            }
            let more = !s.queue.is_empty();
            let done = interleaved || end;
            if done && !more {
                s.scheduled = false;
            }
            // Decided while the stream is at hand, which saves looking it up again per
            // fragment (as `note_drained` does).
            let low = s.crosses_low(before);
            if done {
                self.current = None;
                // Round robin: this stream goes to the back of the line.
                if self.active.front() == Some(&id) {
                    self.active.pop_front();
                }
                if more {
                    self.active.push_back(id);
                }
            } else {
                self.current = Some(id);
            }
            if low {
                self.push_low(id);
            }
            return Some(frag);
        }
    }

    /// Bytes left of the message the scheduler would fragment next.
    pub(crate) fn front_remaining(&self) -> Option<usize> {
        let id = self.current.or_else(|| self.active.front().copied())?;
        let m = self.streams.get(&id)?.queue.front()?;
        Some(m.data.len() - m.offset)
    }

    /// Drops the rest of message `msg` (abandoned after some fragments went out).
    pub(crate) fn discard(&mut self, stream: u16, msg: u64) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        if let Some(pos) = s.queue.iter().position(|m| m.id == msg) {
            let before = s.buffered;
            if let Some(m) = s.queue.remove(pos) {
                let left = m.data.len() - m.offset;
                s.buffered -= left;
                self.queued -= left;
            }
            if self.current == Some(stream) {
                self.current = None;
            }
            self.note_drained(stream, before);
        }
    }

    fn note_drained(&mut self, id: u16, before: usize) {
        let Some(s) = self.streams.get(&id) else {
            return;
        };
        if s.crosses_low(before) {
            self.push_low(id);
        }
    }

    /// Queues the buffered-amount-low event of stream `id`, once.
    fn push_low(&mut self, id: u16) {
        if !self.low.contains(&id) {
            self.low.push(id);
        }
    }

    /// RFC 8831 §6.7: no more messages on `stream`; it is reset once its queue drains.
    pub(crate) fn close(&mut self, stream: u16) {
        let s = self.streams.entry(stream).or_default();
        if s.state == ResetState::Open {
            s.state = ResetState::Closing;
            self.closing.insert(stream);
        }
    }

    /// Whether any stream waits to be reset.
    pub(crate) fn has_closing(&self) -> bool {
        !self.closing.is_empty()
    }

    /// Closing streams whose messages have all been given TSNs; they become `Resetting`.
    pub(crate) fn take_resettable(&mut self, max: usize) -> smallvec::SmallVec<[u16; 4]> {
        let mut out = smallvec::SmallVec::new();
        for &id in &self.closing {
            if out.len() >= max {
                break;
            }
            let drained = self.streams.get(&id).is_none_or(|s| s.queue.is_empty())
                && self.current != Some(id);
            if drained {
                out.push(id);
            }
        }
        for id in &out {
            self.closing.remove(id);
            if let Some(s) = self.streams.get_mut(id) {
                s.state = ResetState::Resetting;
            }
        }
        out
    }

    /// The reset of `streams` was performed: sequence numbers restart at 0 and the stream
    /// can be used again; its state is freed.
    pub(crate) fn reset_done(&mut self, streams: &[u16]) {
        for &id in streams {
            if let Some(s) = self.streams.get_mut(&id) {
                s.next_ordered = 0;
                s.next_unordered = 0;
                s.state = ResetState::Open;
                s.low_threshold = 0;
            }
            self.low.retain(|&x| x != id);
            self.forget_if_idle(id);
        }
    }

    /// The peer refused the reset: the streams stay usable with their sequence numbers.
    pub(crate) fn reset_failed(&mut self, streams: &[u16]) {
        for &id in streams {
            if let Some(s) = self.streams.get_mut(&id) {
                s.state = ResetState::Open;
            }
            self.forget_if_idle(id);
        }
    }

    fn forget_if_idle(&mut self, id: u16) {
        if self
            .streams
            .get(&id)
            .is_some_and(|s| s.is_idle() && !s.scheduled)
        {
            self.streams.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag_all(q: &mut SendQueue, now: Instant, max: usize, il: bool) -> Vec<Fragment> {
        let mut t = Vec::new();
        std::iter::from_fn(|| q.next_fragment(now, max, il, &mut t, |_, _, _, _| 0)).collect()
    }

    #[test]
    fn data_mode_keeps_a_message_contiguous_and_counts_ssns() {
        let now = crate::test_clock::t0();
        let mut q = SendQueue::default();
        q.push(now, 1, 53, Bytes::from(vec![1; 10]), SendOptions::default());
        q.push(now, 2, 53, Bytes::from(vec![2; 3]), SendOptions::default());
        q.push(now, 1, 53, Bytes::from(vec![3; 3]), SendOptions::default());
        assert_eq!(q.queued(), 16);
        let f = frag_all(&mut q, now, 4, false);
        let got: Vec<_> = f
            .iter()
            .map(|f| (f.stream, f.seq, f.begin, f.end))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0, true, false),
                (1, 0, false, false),
                (1, 0, false, true),
                (2, 0, true, true),
                (1, 1, true, true),
            ]
        );
        assert_eq!(q.queued(), 0);
        assert_eq!(q.stream_count(), 2, "sequence numbers are state to keep");
    }

    #[test]
    fn interleaving_alternates_streams_per_fragment() {
        let now = crate::test_clock::t0();
        let mut q = SendQueue::default();
        q.push(now, 1, 53, Bytes::from(vec![1; 12]), SendOptions::default());
        q.push(now, 2, 53, Bytes::from(vec![2; 3]), SendOptions::default());
        let f = frag_all(&mut q, now, 4, true);
        let got: Vec<_> = f.iter().map(|f| (f.stream, f.fsn)).collect();
        assert_eq!(got, vec![(1, 0), (2, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn expired_messages_are_dropped_and_partial_ones_reported() {
        let now = crate::test_clock::t0();
        let later = now + std::time::Duration::from_secs(2);
        let o = SendOptions {
            lifetime: Some(std::time::Duration::from_secs(1)),
            ..SendOptions::default()
        };
        let mut q = SendQueue::default();
        q.push(now, 1, 53, Bytes::from(vec![1; 8]), o);
        q.push(now, 1, 53, Bytes::from(vec![1; 8]), o);
        let mut t = Vec::new();
        assert!(
            q.next_fragment(now, 4, false, &mut t, |_, _, _, _| 0)
                .is_some()
        );
        assert!(
            q.next_fragment(later, 4, false, &mut t, |_, _, _, _| 0)
                .is_none()
        );
        assert_eq!(t, vec![Truncated { msg: 0 }]);
        assert_eq!(q.queued(), 0);
        assert_eq!(q.buffered(1), 0);
    }

    #[test]
    fn close_waits_for_the_queue_then_reset_frees_the_stream() {
        let now = crate::test_clock::t0();
        let mut q = SendQueue::default();
        q.push(now, 7, 53, Bytes::from(vec![1; 8]), SendOptions::default());
        q.close(7);
        assert_eq!(q.state(7), ResetState::Closing);
        assert!(q.take_resettable(8).is_empty());
        frag_all(&mut q, now, 100, false);
        assert_eq!(q.take_resettable(8).as_slice(), &[7]);
        assert_eq!(q.state(7), ResetState::Resetting);
        q.reset_done(&[7]);
        assert_eq!(q.stream_count(), 0);
    }

    #[test]
    fn buffered_low_fires_when_crossing_the_threshold() {
        let now = crate::test_clock::t0();
        let mut q = SendQueue::default();
        q.set_low_threshold(3, 5);
        q.push(now, 3, 53, Bytes::from(vec![1; 12]), SendOptions::default());
        let mut t = Vec::new();
        q.next_fragment(now, 4, false, &mut t, |_, _, _, _| 0);
        assert!(q.low.is_empty());
        q.next_fragment(now, 4, false, &mut t, |_, _, _, _| 0);
        assert_eq!(q.low, vec![3]);
    }
}
