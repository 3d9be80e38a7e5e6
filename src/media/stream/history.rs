//! The RTX history: the last packets sent, by sequence number, for retransmission.
//!
//! A fixed table of slots indexed by `seq % slots` says where each packet's bytes are in a
//! byte ring. Bytes are written at a monotonically rising absolute offset (wrapping to the
//! ring's start when a packet would straddle its end), so a packet is still whole exactly when
//! the write head has not passed its start plus the ring's size: no list of what was
//! overwritten is needed. The ring grows to its cap as packets arrive and never beyond, so a
//! stream of small audio packets does not hold a video stream's worth of memory.

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Absolute offset of the packet's first byte, plus one (0: empty).
    start: u64,
    len: u32,
    seq: u16,
    /// Queued for retransmission and not yet written out.
    queued: bool,
}

#[derive(Debug)]
pub(crate) struct History {
    slots: Vec<Slot>,
    ring: Vec<u8>,
    cap: usize,
    head: u64,
}

impl History {
    /// `packets` slots (rounded up to a power of two, at least 1 when `cap > 0`) over at most
    /// `cap` bytes.
    pub(crate) fn new(packets: usize, cap: usize) -> Self {
        let n = if packets == 0 || cap == 0 {
            0
        } else {
            packets.min(1 << 16).next_power_of_two()
        };
        Self {
            slots: vec![Slot::default(); n],
            ring: Vec::new(),
            cap: if n == 0 { 0 } else { cap },
            head: 0,
        }
    }

    fn index(&self, seq: u16) -> Option<usize> {
        (!self.slots.is_empty()).then(|| usize::from(seq) & (self.slots.len() - 1))
    }

    /// Stores a copy of `packet` under `seq`; a packet larger than the ring is not kept.
    pub(crate) fn insert(&mut self, seq: u16, packet: &[u8]) {
        let Some(i) = self.index(seq) else { return };
        let len = packet.len();
        if len == 0 || len > self.cap {
            self.slots[i] = Slot::default();
            return;
        }
        let cap = self.cap as u64;
        if self.head % cap + len as u64 > cap {
            self.head += cap - self.head % cap;
        }
        let at = (self.head % cap) as usize;
        if self.ring.len() < at + len {
            // Grows once, to at most the cap; the steady state never reallocates.
            let want = (at + len).max(self.ring.len() * 2).min(self.cap);
            self.ring.reserve_exact(want - self.ring.len());
            self.ring.resize(want, 0);
        }
        self.ring[at..at + len].copy_from_slice(packet);
        self.slots[i] = Slot {
            start: self.head + 1,
            len: len as u32,
            seq,
            queued: false,
        };
        self.head += len as u64;
    }

    fn slot(&self, seq: u16) -> Option<(usize, Slot)> {
        let i = self.index(seq)?;
        let s = self.slots[i];
        // Whole while the head has not lapped the packet's first byte.
        let whole = s.start != 0 && s.seq == seq && self.head <= s.start - 1 + self.cap as u64;
        whole.then_some((i, s))
    }

    /// The packet sent with `seq`, if still held.
    pub(crate) fn get(&self, seq: u16) -> Option<&[u8]> {
        let (_, s) = self.slot(seq)?;
        let at = ((s.start - 1) % self.cap as u64) as usize;
        self.ring.get(at..at + s.len as usize)
    }

    /// Marks `seq` queued for retransmission: `Some(true)` when newly queued, `Some(false)`
    /// when it already was, `None` when the packet is not held.
    pub(crate) fn mark_queued(&mut self, seq: u16) -> Option<bool> {
        let (i, s) = self.slot(seq)?;
        self.slots[i].queued = true;
        Some(!s.queued)
    }

    /// Clears the queued mark of `seq`.
    pub(crate) fn unmark(&mut self, seq: u16) {
        if let Some((i, _)) = self.slot(seq) {
            self.slots[i].queued = false;
        }
    }

    /// Packets held.
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| self.slot(s.seq).is_some_and(|(_, x)| x.start == s.start))
            .count()
    }

    /// Slots in the table.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Bytes the history holds on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.ring.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_last_slots_packets_only() {
        let mut h = History::new(4, 1000);
        for seq in 0..10u16 {
            h.insert(seq, &[seq as u8; 10]);
        }
        assert_eq!(h.len(), 4);
        assert!(h.get(5).is_none());
        assert_eq!(h.get(9), Some(&[9u8; 10][..]));
        assert_eq!(h.get(6), Some(&[6u8; 10][..]));
    }

    #[test]
    fn bytes_overwritten_by_the_ring_are_gone() {
        let mut h = History::new(64, 100);
        for seq in 0..5u16 {
            h.insert(seq, &[seq as u8; 30]);
        }
        // 100 bytes hold three 30-byte packets; the oldest were overwritten.
        assert!(h.get(0).is_none() && h.get(1).is_none());
        assert_eq!(h.get(4), Some(&[4u8; 30][..]));
        assert_eq!(h.get(3), Some(&[3u8; 30][..]));
        assert!(h.heap_bytes() <= 64 * 24 + 100);
    }

    #[test]
    fn queued_mark_is_set_once() {
        let mut h = History::new(8, 1000);
        h.insert(7, b"abc");
        assert_eq!(h.mark_queued(7), Some(true));
        assert_eq!(h.mark_queued(7), Some(false));
        h.unmark(7);
        assert_eq!(h.mark_queued(7), Some(true));
        assert_eq!(h.mark_queued(8), None);
    }

    #[test]
    fn empty_history_holds_nothing() {
        let mut h = History::new(0, 1000);
        h.insert(1, b"abc");
        assert!(h.get(1).is_none());
        assert_eq!(h.len(), 0);
    }
}
