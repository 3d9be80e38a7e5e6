//! The RTX history: the last packets sent, by sequence number, for retransmission.
//!
//! A fixed table of slots indexed by `seq % slots` says where each packet's bytes are in a
//! byte ring. Packets are written one after another around the ring; a queue of what was
//! written, in ring order, says which packets a write overwrites, so their slots are emptied.
//! The ring starts empty and grows (to at most its cap) only while it cannot hold a packet
//! per slot, so a stream of small audio packets does not hold a video stream's memory, and
//! once it has grown the steady state never allocates.
//!
//! A packet may be built in place ([`History::insert_with`]) and held there, *pending*, until
//! it is first sent from its slot: the history never evicts a pending packet to make room (it
//! refuses the newcomer instead), so a queue of handles into it loses nothing silently.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    live: bool,
    /// Queued for retransmission and not yet written out.
    queued: bool,
    /// Built in place and not yet sent for the first time: never evicted.
    pending: bool,
    seq: u16,
    at: u32,
    len: u32,
}

#[derive(Debug)]
pub(crate) struct History {
    slots: Vec<Slot>,
    ring: Vec<u8>,
    cap: usize,
    write: usize,
    /// Packets written, oldest first, as (sequence number, offset): their bytes lie in ring
    /// order from `write` on (the previous lap), then from 0 up to `write` (this lap).
    order: VecDeque<(u16, u32)>,
    live: usize,
}

impl History {
    /// `packets` slots (rounded up to a power of two) over at most `cap` bytes.
    pub(crate) fn new(packets: usize, cap: usize) -> Self {
        let n = if packets == 0 || cap == 0 {
            0
        } else {
            packets.min(1 << 16).next_power_of_two()
        };
        Self {
            slots: vec![Slot::default(); n],
            ring: Vec::new(),
            cap: if n == 0 {
                0
            } else {
                cap.min(u32::MAX as usize)
            },
            write: 0,
            order: VecDeque::with_capacity(2 * n),
            live: 0,
        }
    }

    fn index(&self, seq: u16) -> Option<usize> {
        (!self.slots.is_empty()).then(|| usize::from(seq) & (self.slots.len() - 1))
    }

    /// The slot of a written packet, if its slot still holds it.
    fn live_slot(&self, (seq, at): (u16, u32)) -> Option<usize> {
        let i = self.index(seq)?;
        let s = self.slots[i];
        (s.live && s.seq == seq && s.at == at).then_some(i)
    }

    /// Pops the oldest written packet, emptying its slot if it still held it; `false` (and
    /// nothing popped) when that packet is pending.
    fn pop_oldest(&mut self) -> bool {
        if let Some(&e) = self.order.front()
            && let Some(i) = self.live_slot(e)
        {
            if self.slots[i].pending {
                return false;
            }
            self.slots[i].live = false;
            self.live -= 1;
        }
        self.order.pop_front();
        true
    }

    /// Stores a copy of `packet` under `seq`; a packet larger than the ring's cap, or one
    /// that would evict a pending packet, is not kept.
    pub(crate) fn insert(&mut self, seq: u16, packet: &[u8]) {
        self.insert_with(seq, packet.len(), false, |slot| {
            slot.copy_from_slice(packet)
        });
    }

    /// Stores under `seq` the `len` bytes that `write` puts in the slot it is given, pending
    /// (see [`History::pending_mut`]) if `pending`. `false`, with nothing written, when the
    /// packet is empty or larger than the ring's cap, or making room would evict a pending
    /// packet.
    pub(crate) fn insert_with(
        &mut self,
        seq: u16,
        len: usize,
        pending: bool,
        write: impl FnOnce(&mut [u8]),
    ) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        if self.slots[i].live && self.slots[i].pending {
            return false;
        }
        if len == 0 || len > self.cap {
            // Not kept; what the slot held is replaced all the same.
            self.forget(i);
            return false;
        }
        // The packet in this slot, replaced, does not count against the room.
        let held = self.live - usize::from(self.slots[i].live);
        if self.write + len > self.ring.len() {
            if self.ring.len() < self.cap && held + 1 < self.slots.len() {
                // The ring holds fewer packets than there are slots: grow it rather than
                // overwrite live packets. Doubling bounds the number of reallocations.
                let want = (self.write + len).max(self.ring.len() * 2).min(self.cap);
                self.ring.reserve_exact(want - self.ring.len());
                self.ring.resize(want, 0);
            }
            if self.write + len > self.ring.len() {
                // Wrap. What lies past `write` is the previous lap's tail: dropped, so that
                // `order` stays in ring order.
                while self
                    .order
                    .front()
                    .is_some_and(|e| e.1 as usize >= self.write)
                {
                    if !self.pop_oldest() {
                        return false;
                    }
                }
                self.write = 0;
            }
        }
        let (at, end) = (self.write, self.write + len);
        // The previous lap's packets that start in the region written are overwritten.
        while self
            .order
            .front()
            .is_some_and(|e| (at..end).contains(&(e.1 as usize)))
        {
            if !self.pop_oldest() {
                return false;
            }
        }
        // Replaced packets at the front hold no slot: forget them now.
        while self
            .order
            .front()
            .is_some_and(|e| self.live_slot(*e).is_none())
        {
            self.order.pop_front();
        }
        // Out-of-order sequence numbers: stay bounded regardless.
        if self.order.len() == self.order.capacity() && !self.pop_oldest() {
            return false;
        }
        self.forget(i);
        write(&mut self.ring[at..end]);
        self.slots[i] = Slot {
            live: true,
            queued: false,
            pending,
            seq,
            at: at as u32,
            len: len as u32,
        };
        self.live += 1;
        self.order.push_back((seq, at as u32));
        self.write = end;
        true
    }

    /// Empties slot `i`: the bytes of what it held stay until overwritten, but nothing points
    /// at them.
    fn forget(&mut self, i: usize) {
        if self.slots[i].live {
            self.slots[i].live = false;
            self.live -= 1;
        }
    }

    /// The pending packet `seq`, to be stamped and sent from its slot; `None` when `seq` is
    /// not held or not pending.
    pub(crate) fn pending_mut(&mut self, seq: u16) -> Option<&mut [u8]> {
        let (_, s) = self.slot(seq)?;
        if !s.pending {
            return None;
        }
        self.ring.get_mut(s.at as usize..(s.at + s.len) as usize)
    }

    /// Marks the pending packet `seq` sent: from now on it may be evicted.
    pub(crate) fn sent(&mut self, seq: u16) {
        if let Some((i, _)) = self.slot(seq) {
            self.slots[i].pending = false;
        }
    }

    fn slot(&self, seq: u16) -> Option<(usize, Slot)> {
        let i = self.index(seq)?;
        let s = self.slots[i];
        (s.live && s.seq == seq).then_some((i, s))
    }

    /// The packet sent with `seq`, if still held.
    pub(crate) fn get(&self, seq: u16) -> Option<&[u8]> {
        let (_, s) = self.slot(seq)?;
        self.ring.get(s.at as usize..(s.at + s.len) as usize)
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
        self.live
    }

    /// Slots in the table.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Bytes the history holds on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.ring.capacity()
            + self.order.capacity() * std::mem::size_of::<(u16, u32)>()
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
        assert!(h.ring.capacity() <= 100);
    }

    #[test]
    fn the_ring_grows_only_to_hold_a_packet_per_slot() {
        let mut h = History::new(64, 1 << 20);
        for seq in 0..5000u16 {
            h.insert(seq, &[seq as u8; 100]);
            let held = h.len();
            assert!(held <= 64);
            if seq >= 64 {
                assert!(held >= 63, "{seq}: {held}");
                let old = seq - 63;
                assert_eq!(h.get(old), Some(&[old as u8; 100][..]), "{seq}");
            }
        }
        assert!(h.ring.capacity() <= 2 * 64 * 100, "{}", h.ring.capacity());
        assert!(h.order.len() <= 64);
    }

    #[test]
    fn out_of_order_and_varied_sizes_never_return_torn_packets() {
        let mut h = History::new(16, 3000);
        let mut x = 7u32;
        for n in 0..20_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let seq = (x >> 8) as u16 % 64;
            let len = 1 + (x >> 20) as usize % 700;
            h.insert(seq, &vec![seq as u8; len]);
            for s in 0..64u16 {
                if let Some(p) = h.get(s) {
                    assert!(p.iter().all(|b| *b == s as u8), "torn packet {s} at {n}");
                }
            }
            assert!(h.order.len() <= 32 && h.len() <= 16);
        }
        assert!(h.ring.capacity() <= 3000);
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
    fn pending_packets_are_never_evicted_and_newcomers_are_refused_instead() {
        // By slot: four slots, four pending packets; the fifth would take the first's slot.
        let mut h = History::new(4, 1000);
        for seq in 0..4u16 {
            assert!(h.insert_with(seq, 10, true, |b| b.fill(seq as u8)));
        }
        assert!(!h.insert_with(4, 10, true, |_| unreachable!()));
        h.insert(4, &[4; 10]);
        assert!(h.get(4).is_none());
        assert_eq!(h.pending_mut(0), Some(&mut [0u8; 10][..]));
        h.sent(0);
        assert!(h.pending_mut(0).is_none());
        assert!(h.insert_with(4, 10, true, |b| b.fill(4)));
        assert!(h.get(0).is_none());
        // By bytes: a 100-byte ring holds three 30-byte packets, all pending.
        let mut h = History::new(64, 100);
        for seq in 0..3u16 {
            assert!(h.insert_with(seq, 30, true, |b| b.fill(seq as u8)));
        }
        assert!(!h.insert_with(3, 30, true, |_| unreachable!()));
        for seq in 0..3u16 {
            assert_eq!(h.pending_mut(seq), Some(&mut [seq as u8; 30][..]));
        }
        h.sent(0);
        assert!(h.insert_with(3, 30, false, |b| b.fill(3)));
        assert_eq!(h.get(3), Some(&[3u8; 30][..]));
        assert_eq!(h.get(1), Some(&[1u8; 30][..]));
    }

    #[test]
    fn empty_history_holds_nothing() {
        let mut h = History::new(0, 1000);
        h.insert(1, b"abc");
        assert!(h.get(1).is_none());
        assert_eq!(h.len(), 0);
    }
}
