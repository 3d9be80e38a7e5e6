//! The RTX history: the last packets sent, by sequence number, for retransmission.
//!
//! A fixed table of slots indexed by `seq % slots` says where each packet's bytes are in a
//! byte ring. Packets are written one after another around the ring, each after a short
//! record header (its sequence number and length), so the ring itself says, in order, which
//! packets a write overwrites and which is the oldest, and their slots are emptied: an insert
//! reads the record it is about to overwrite, in the cache lines it writes anyway, instead of
//! a separate queue.
//! The ring starts empty and grows (to at most its cap) only while it cannot hold a packet
//! per slot, so a stream of small audio packets does not hold a video stream's memory, and
//! once it has grown the steady state never allocates.
//!
//! Packets also age out (as libwebrtc's `RtpPacketHistory` culls them): [`History::expire`]
//! drops those sent longer ago than the retention its caller gives, so a slow stream holds
//! only its recent packets and the ring stops growing once it holds them; a history left
//! empty (a muted or stopped sender) gives back its ring and its tables, which are made
//! again with the next packet.
//!
//! A forwarded packet is kept by reference ([`History::insert_shared`]): its rewritten header
//! goes in the ring and its payload stays a [`Bytes`] slice of the packet received, held in
//! the slot. Such payloads are bounded as the ring is, by the slot count and the age-out;
//! while any history holds one, it keeps the receive buffer it lies in alive (memory shared
//! by every subscriber's history instead of copied into each), and a slot emptied for any
//! reason lets go of it at once.
//!
//! A forwarder that sends the packet soon after can also hand the payload over once it is
//! sent ([`History::insert_header`], then [`History::fill`]): the reference its queue held
//! moves into the slot, instead of one taken for the history as the packet is queued and
//! one given back as it leaves (two atomic counts per packet per subscriber, which cost as
//! much as the rest of the insert). Until then the slot holds nothing a NACK can be
//! answered with.

use bytes::Bytes;

use std::time::{Duration, Instant};

/// A record's header in the ring: the packet's sequence number (2 bytes) and length (4).
const RECORD: usize = 6;

/// What a slot holds (one byte, so a slot stays 16).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    Empty,
    /// Its header is written and its payload, kept by reference, not given yet
    /// ([`History::fill`]): not held until it is.
    Pending,
    Held,
    /// Held, and queued for retransmission and not yet written out.
    Queued,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    state: State,
    seq: u16,
    at: u32,
    len: u32,
    /// When it was sent: milliseconds since the history's origin (wrapping).
    sent: u32,
}

/// What follows a packet's bytes in the ring.
enum Tail {
    /// Nothing: the ring holds the whole packet.
    None,
    /// Its payload, by reference.
    Shared(Bytes),
    /// Its payload, this long, given later ([`History::fill`]).
    Later(usize),
}

impl Tail {
    fn len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::Shared(b) => b.len(),
            Self::Later(n) => *n,
        }
    }
}

#[derive(Debug)]
pub(crate) struct History {
    /// `n` slots while anything was sent since the history last emptied; none otherwise.
    slots: Vec<Slot>,
    n: usize,
    ring: Vec<u8>,
    cap: usize,
    /// Records lie oldest first in `prev` (what is left of the previous lap, at or past
    /// `write`), then from `first` up to `write` (this lap); `write` is where the next goes.
    write: usize,
    first: usize,
    prev: std::ops::Range<usize>,
    live: usize,
    /// The time the slots' send times count from: the first packet's.
    origin: Option<Instant>,
    /// The last time converted by `millis`, and what it gave: packets handled in one batch
    /// (a burst of datagrams read at one wakeup, a frame's packets) share a `now`, and an
    /// `Instant` subtraction is some fifty instructions, paid per packet on every stream a
    /// forwarder writes to.
    last_millis: Option<(Instant, u32)>,
    /// The payloads of packets kept by reference, by slot; allocated with the first such
    /// packet, so a history that only copies never pays for it.
    shared: Vec<Option<Bytes>>,
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
            slots: Vec::new(),
            n,
            ring: Vec::new(),
            cap: if n == 0 {
                0
            } else {
                cap.min(u32::MAX as usize)
            },
            write: 0,
            first: 0,
            prev: 0..0,
            live: 0,
            origin: None,
            last_millis: None,
            shared: Vec::new(),
        }
    }

    /// `now` in milliseconds since the origin, wrapping (ages are taken with wrapping
    /// subtraction, and `expire` runs far more often than every 49 days).
    fn millis(&mut self, now: Instant) -> u32 {
        if let Some((at, ms)) = self.last_millis
            && at == now
        {
            return ms;
        }
        let origin = *self.origin.get_or_insert(now);
        let ms = now.saturating_duration_since(origin).as_millis() as u32;
        self.last_millis = Some((now, ms));
        ms
    }

    /// Where the oldest record starts, if any.
    fn front(&self) -> Option<usize> {
        if !self.prev.is_empty() {
            Some(self.prev.start)
        } else {
            (self.first < self.write).then_some(self.first)
        }
    }

    /// The record at `at`: its sequence number and where its packet's bytes are.
    fn record(&self, at: usize) -> (u16, std::ops::Range<usize>) {
        let r = &self.ring[at..at + RECORD];
        let seq = u16::from_le_bytes([r[0], r[1]]);
        let len = u32::from_le_bytes([r[2], r[3], r[4], r[5]]) as usize;
        (seq, at + RECORD..at + RECORD + len)
    }

    /// The oldest record: where it ends, and the slot that still holds its packet, if one
    /// does.
    fn oldest(&self) -> Option<(usize, Option<usize>)> {
        let at = self.front()?;
        let (seq, bytes) = self.record(at);
        Some((bytes.end, self.live_slot(seq, bytes.start)))
    }

    /// Forgets, from the front of the order, packets whose slot no longer holds them.
    fn drop_dead_front(&mut self) {
        while let Some((end, None)) = self.oldest() {
            self.pass_front(end);
        }
    }

    /// Drops the packets sent more than `keep` before `now`, oldest first; once nothing is
    /// held, the ring and the tables are given back (made again with the next packet).
    pub(crate) fn expire(&mut self, now: Instant, keep: Duration) {
        if self.origin.is_none() {
            return;
        }
        let now = self.millis(now);
        let keep = u32::try_from(keep.as_millis()).unwrap_or(u32::MAX);
        loop {
            self.drop_dead_front();
            let Some((_, Some(i))) = self.oldest() else {
                break;
            };
            if now.wrapping_sub(self.slots[i].sent) <= keep {
                break;
            }
            self.pop_oldest();
        }
        if self.live == 0 && !self.slots.is_empty() {
            self.ring = Vec::new();
            self.slots = Vec::new();
            self.shared = Vec::new();
            (self.write, self.first, self.prev) = (0, 0, 0..0);
        }
    }

    fn index(&self, seq: u16) -> Option<usize> {
        (!self.slots.is_empty()).then(|| usize::from(seq) & (self.slots.len() - 1))
    }

    /// The slot of the packet written with `seq` at `at`, if its slot still holds it.
    fn live_slot(&self, seq: u16, at: usize) -> Option<usize> {
        let i = self.index(seq)?;
        let s = self.slots[i];
        (s.state != State::Empty && s.seq == seq && s.at as usize == at).then_some(i)
    }

    /// Pops the oldest written packet, emptying its slot if it still held it.
    fn pop_oldest(&mut self) {
        let Some((end, slot)) = self.oldest() else {
            return;
        };
        if let Some(i) = slot {
            self.kill(i);
        }
        self.pass_front(end);
    }

    /// Moves the front of the order past the oldest record, which ends at `end`.
    fn pass_front(&mut self, end: usize) {
        if self.prev.is_empty() {
            self.first = end;
        } else {
            self.prev.start = end;
        }
    }

    /// Empties live slot `i`, letting go of a payload it held by reference.
    fn kill(&mut self, i: usize) {
        self.slots[i].state = State::Empty;
        self.live -= 1;
        if let Some(p) = self.shared.get_mut(i) {
            *p = None;
        }
    }

    /// Stores a copy of `packet`, sent at `now`, under `seq`; a packet larger than the ring's
    /// cap is not kept.
    pub(crate) fn insert(&mut self, now: Instant, seq: u16, packet: &[u8]) {
        self.insert_parts(now, seq, packet, Tail::None);
    }

    /// Stores the packet `head` then `payload`, sent at `now`, under `seq`: a copy of `head`
    /// (its header) in the ring, and `payload` by reference, not copied. A packet larger
    /// than the ring's cap is not kept.
    pub(crate) fn insert_shared(&mut self, now: Instant, seq: u16, head: &[u8], payload: Bytes) {
        self.insert_parts(now, seq, head, Tail::Shared(payload));
    }

    /// Stores the header `head` of a packet sent at `now` under `seq` whose payload, `len`
    /// bytes kept by reference, comes with [`fill`](Self::fill) once the packet has left.
    /// Until then the packet is not held (no NACK is answered with half of it).
    pub(crate) fn insert_header(&mut self, now: Instant, seq: u16, head: &[u8], len: usize) {
        self.insert_parts(now, seq, head, Tail::Later(len));
    }

    /// Gives the payload of the packet [`insert_header`](Self::insert_header) stored under
    /// `seq`; handed back when its slot no longer waits for it (replaced, expired, or never
    /// kept).
    #[inline]
    pub(crate) fn fill(&mut self, seq: u16, payload: Bytes) -> Option<Bytes> {
        let Some(i) = self.index(seq) else {
            return Some(payload);
        };
        let s = &mut self.slots[i];
        if !(s.state == State::Pending && s.seq == seq) {
            return Some(payload);
        }
        s.state = State::Held;
        match self.shared.get_mut(i) {
            Some(p) => *p = Some(payload),
            None => return Some(payload),
        }
        None
    }

    fn insert_parts(&mut self, now: Instant, seq: u16, packet: &[u8], tail: Tail) {
        if self.shared.is_empty() && self.n > 0 && !matches!(tail, Tail::None) {
            self.shared = vec![None; self.n];
        }
        if self.slots.is_empty() && self.n > 0 {
            // The first packet since the history emptied (or ever).
            self.slots = vec![Slot::default(); self.n];
        }
        let Some(i) = self.index(seq) else { return };
        let sent = self.millis(now);
        let old = self.slots[i];
        if old.state != State::Empty {
            // Replaced: its bytes stay until overwritten, but nothing points at them.
            self.kill(i);
            if self.front() == Some(old.at as usize - RECORD) {
                // It was the oldest (packets in order): passed without reading its record
                // from the ring, a cold line the write below need not wait for.
                self.pass_front(old.at as usize + old.len as usize);
            }
        }
        let len = packet.len();
        let whole = len + tail.len();
        // The record's header counts against the cap too.
        let rec = RECORD + len;
        if len == 0 || whole > self.cap || rec > self.cap {
            return;
        }
        if self.write + rec > self.ring.len() {
            self.make_room(rec);
        }
        let (at, end) = (self.write, self.write + rec);
        // The previous lap's packets that start in the region written are overwritten.
        while !self.prev.is_empty() && self.prev.start < end {
            self.pop_oldest();
        }
        let record = &mut self.ring[at..end];
        record[..2].copy_from_slice(&seq.to_le_bytes());
        record[2..RECORD].copy_from_slice(&(len as u32).to_le_bytes());
        record[RECORD..].copy_from_slice(packet);
        self.slots[i] = Slot {
            state: match tail {
                Tail::Later(_) => State::Pending,
                Tail::None | Tail::Shared(_) => State::Held,
            },
            seq,
            at: (at + RECORD) as u32,
            len: len as u32,
            sent,
        };
        if let Some(p) = self.shared.get_mut(i) {
            *p = match tail {
                Tail::Shared(b) => Some(b),
                Tail::None | Tail::Later(_) => None,
            };
        }
        self.live += 1;
        self.write = end;
    }

    /// Where a record of `rec` bytes that does not fit after `write` goes: the ring grows,
    /// or the write wraps to its start (once a lap: apart from the insert, whose every other
    /// packet skips it).
    #[inline(never)]
    fn make_room(&mut self, rec: usize) {
        self.drop_dead_front();
        // A wrap loses a held packet when one is left of the previous lap (at or past
        // `write`) or this lap's oldest starts where the packet would go.
        let wrap_loses = !self.prev.is_empty() || (self.first < self.write && self.first < rec);
        let too_small = rec > self.ring.len();
        if self.ring.len() < self.cap
            && (too_small || (self.live + 1 < self.slots.len() && wrap_loses))
        {
            // The ring holds fewer packets than there are slots: grow it rather than
            // overwrite live packets. Doubling bounds the number of reallocations.
            let want = (self.write + rec).max(self.ring.len() * 2).min(self.cap);
            self.ring.reserve_exact(want - self.ring.len());
            self.ring.resize(want, 0);
        }
        if self.write + rec > self.ring.len() {
            // Wrap. What lies past `write` is the previous lap's tail: dropped, and this
            // lap becomes the previous one.
            while !self.prev.is_empty() {
                self.pop_oldest();
            }
            self.prev = self.first..self.write;
            (self.first, self.write) = (0, 0);
        }
    }

    fn slot(&self, seq: u16) -> Option<(usize, Slot)> {
        let i = self.index(seq)?;
        let s = self.slots[i];
        let held = matches!(s.state, State::Held | State::Queued);
        (held && s.seq == seq).then_some((i, s))
    }

    /// The packet sent with `seq`, if still held, in two parts: the bytes in the ring (the
    /// whole packet, or the header of one kept by reference) and the payload kept by
    /// reference (empty for a copied packet).
    pub(crate) fn parts(&self, seq: u16) -> Option<(&[u8], &[u8])> {
        let (i, s) = self.slot(seq)?;
        let head = self.ring.get(s.at as usize..(s.at + s.len) as usize)?;
        let tail = self.shared.get(i).and_then(Option::as_deref).unwrap_or(&[]);
        Some((head, tail))
    }

    /// The packet sent with `seq`, if still held and copied whole into the ring.
    #[cfg(test)]
    fn get(&self, seq: u16) -> Option<&[u8]> {
        self.parts(seq).map(|(head, _)| head)
    }

    /// Marks `seq` queued for retransmission: `Some(true)` when newly queued, `Some(false)`
    /// when it already was, `None` when the packet is not held.
    pub(crate) fn mark_queued(&mut self, seq: u16) -> Option<bool> {
        let (i, s) = self.slot(seq)?;
        self.slots[i].state = State::Queued;
        Some(s.state != State::Queued)
    }

    /// Clears the queued mark of `seq`.
    pub(crate) fn unmark(&mut self, seq: u16) {
        if let Some((i, _)) = self.slot(seq) {
            self.slots[i].state = State::Held;
        }
    }

    /// Packets held.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Slots in the table.
    pub(crate) fn slots(&self) -> usize {
        self.n
    }

    /// Bytes the history holds on the heap; payloads kept by reference are not counted
    /// (see [`shared_bytes`](Self::shared_bytes)).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.ring.capacity()
            + self.shared.capacity() * std::mem::size_of::<Option<Bytes>>()
    }

    /// Payload bytes held by reference (the buffers they lie in may be larger, and are shared
    /// with whoever else holds them).
    pub(crate) fn shared_bytes(&self) -> usize {
        self.shared.iter().flatten().map(Bytes::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_last_slots_packets_only() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(4, 1000);
        for seq in 0..10u16 {
            h.insert(t0, seq, &[seq as u8; 10]);
        }
        assert_eq!(h.len(), 4);
        assert!(h.get(5).is_none());
        assert_eq!(h.get(9), Some(&[9u8; 10][..]));
        assert_eq!(h.get(6), Some(&[6u8; 10][..]));
    }

    #[test]
    fn bytes_overwritten_by_the_ring_are_gone() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(64, 100);
        for seq in 0..5u16 {
            h.insert(t0, seq, &[seq as u8; 30]);
        }
        // 100 bytes hold three 30-byte packets; the oldest were overwritten.
        assert!(h.get(0).is_none() && h.get(1).is_none());
        assert_eq!(h.get(4), Some(&[4u8; 30][..]));
        assert_eq!(h.get(3), Some(&[3u8; 30][..]));
        assert!(h.ring.capacity() <= 100);
    }

    #[test]
    fn the_ring_grows_only_to_hold_a_packet_per_slot() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(64, 1 << 20);
        for seq in 0..5000u16 {
            h.insert(t0, seq, &[seq as u8; 100]);
            let held = h.len();
            assert!(held <= 64);
            if seq >= 64 {
                assert!(held >= 63, "{seq}: {held}");
                let old = seq - 63;
                assert_eq!(h.get(old), Some(&[old as u8; 100][..]), "{seq}");
            }
        }
        assert!(
            h.ring.capacity() <= 2 * 64 * (100 + RECORD),
            "{}",
            h.ring.capacity()
        );
    }

    #[test]
    fn out_of_order_and_varied_sizes_never_return_torn_packets() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(16, 3000);
        let mut x = 7u32;
        for n in 0..20_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let seq = (x >> 8) as u16 % 64;
            let len = 1 + (x >> 20) as usize % 700;
            h.insert(t0, seq, &vec![seq as u8; len]);
            for s in 0..64u16 {
                if let Some(p) = h.get(s) {
                    assert!(p.iter().all(|b| *b == s as u8), "torn packet {s} at {n}");
                }
            }
            assert!(h.len() <= 16);
        }
        assert!(h.ring.capacity() <= 3000);
    }

    #[test]
    fn mixed_copies_references_and_expiry_only_ever_return_the_last_packet_of_a_seq() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(32, 4000);
        let received = Bytes::from(vec![0xAB; 1000]);
        let mut last: Vec<Option<(Vec<u8>, usize, u64)>> = vec![None; 96];
        let (mut x, mut ms) = (11u32, 0u64);
        for n in 0..50_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ms += u64::from(x >> 29);
            let now = t0 + Duration::from_millis(ms);
            let seq = (x >> 9) as u16 % 96;
            let len = 1 + (x >> 17) as usize % 300;
            let head = vec![(n % 251) as u8; len];
            if x & 1 == 0 {
                h.insert(now, seq, &head);
                last[usize::from(seq)] = Some((head, 0, ms));
            } else {
                let tail = 1 + len % 500;
                h.insert_shared(now, seq, &head, received.slice(..tail));
                last[usize::from(seq)] = Some((head, tail, ms));
            }
            assert!(
                h.parts(seq).is_some(),
                "the packet just written is held ({n})"
            );
            if n % 7 == 0 {
                h.expire(now, Duration::from_millis(300));
            }
            for s in 0..96u16 {
                let Some((head, tail)) = h.parts(s) else {
                    continue;
                };
                let (want, want_tail, at) = last[usize::from(s)].as_ref().unwrap();
                assert_eq!(
                    (head, tail.len()),
                    (&want[..], *want_tail),
                    "seq {s} at {n}"
                );
                if n % 7 == 0 {
                    assert!(ms - at <= 300, "seq {s} expired at {n}");
                }
            }
            assert!(h.len() <= 32 && h.ring.capacity() <= 4000);
        }
        h.expire(
            t0 + Duration::from_millis(ms + 301),
            Duration::from_millis(300),
        );
        assert_eq!((h.len(), h.heap_bytes()), (0, 0));
    }

    #[test]
    fn shared_payloads_are_held_by_reference_and_let_go_with_their_slot() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(8, 1000);
        let received = Bytes::from(vec![7u8; 100]);
        for seq in 0..4u16 {
            h.insert_shared(t0, seq, &[seq as u8; 12], received.slice(10..60));
        }
        let (head, tail) = h.parts(3).unwrap();
        assert_eq!((head, tail), (&[3u8; 12][..], &[7u8; 50][..]));
        // The payload is the received buffer itself, not a copy of it.
        assert_eq!(tail.as_ptr(), received[10..].as_ptr());
        assert_eq!(h.shared_bytes(), 4 * 50);
        // The ring holds the headers only.
        assert!(h.ring.len() <= 4 * (12 + RECORD) * 2, "{}", h.ring.len());
        // Replaced by a copied packet in the same slot: the reference goes.
        h.insert(t0, 8, &[8; 30]);
        assert!(h.parts(0).is_none());
        assert_eq!(h.parts(8), Some((&[8u8; 30][..], &[][..])));
        assert_eq!(h.parts(1).unwrap().1, &[7u8; 50][..]);
        assert_eq!(h.shared_bytes(), 3 * 50);
        // Aged out: every reference goes, and the table with them.
        h.expire(t0 + Duration::from_secs(5), Duration::from_secs(3));
        assert_eq!(h.shared_bytes(), 0);
        assert_eq!(h.heap_bytes(), 0);
        assert!(received.is_unique());
    }

    #[test]
    fn a_payload_given_after_the_send_is_held_from_then_on_and_handed_back_if_too_late() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(4, 1000);
        let received = Bytes::from(vec![5u8; 100]);
        h.insert_header(t0, 1, &[1; 12], 40);
        // Not sent yet: no NACK is answered with the header alone.
        assert!(h.parts(1).is_none());
        assert_eq!(h.mark_queued(1), None);
        assert!(h.fill(1, received.slice(..40)).is_none());
        assert_eq!(h.parts(1), Some((&[1u8; 12][..], &[5u8; 40][..])));
        assert_eq!(h.mark_queued(1), Some(true));
        // A second payload for a slot that has one, or one for a slot since replaced, comes
        // back to the caller.
        assert!(h.fill(1, received.slice(..10)).is_some());
        h.insert_header(t0, 2, &[2; 12], 40);
        h.insert(t0, 6, &[6; 30]);
        assert!(h.fill(2, received.slice(..40)).is_some());
        assert!(h.fill(3, received.slice(..40)).is_some());
        assert_eq!(h.shared_bytes(), 40);
        h.expire(t0 + Duration::from_secs(5), Duration::from_secs(3));
        assert!(received.is_unique());
    }

    #[test]
    fn queued_mark_is_set_once() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(8, 1000);
        h.insert(t0, 7, b"abc");
        assert_eq!(h.mark_queued(7), Some(true));
        assert_eq!(h.mark_queued(7), Some(false));
        h.unmark(7);
        assert_eq!(h.mark_queued(7), Some(true));
        assert_eq!(h.mark_queued(8), None);
    }

    #[test]
    fn a_slot_takes_16_bytes() {
        // 1024 of them per video stream, on every subscriber a forwarder sends to.
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn empty_history_holds_nothing() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(0, 1000);
        h.insert(t0, 1, b"abc");
        assert!(h.get(1).is_none());
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn packets_older_than_the_retention_expire_and_younger_ones_stay() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(64, 100_000);
        for seq in 0..10u16 {
            h.insert(
                t0 + Duration::from_millis(100 * u64::from(seq)),
                seq,
                &[seq as u8; 50],
            );
        }
        // At 1.45 s with 1 s kept: sent at 0..=400 ms are gone, 500 ms on stay.
        h.expire(t0 + Duration::from_millis(1450), Duration::from_secs(1));
        assert_eq!(h.len(), 5);
        assert!((0..5).all(|s| h.get(s).is_none()));
        assert!((5..10).all(|s| h.get(s) == Some(&[s as u8; 50][..])));
    }

    #[test]
    fn a_slow_stream_reuses_its_ring_instead_of_growing_it() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(1024, 1 << 20);
        // 10 packets a second, a second kept: about ten held at a time, never 1024.
        for n in 0..3000u32 {
            let now = t0 + Duration::from_millis(100 * u64::from(n));
            h.expire(now, Duration::from_secs(1));
            h.insert(now, n as u16, &[n as u8; 1000]);
            assert_eq!(h.get(n as u16), Some(&[n as u8; 1000][..]));
            if n >= 10 {
                let old = (n - 10) as u16;
                assert_eq!(h.get(old), Some(&[old as u8; 1000][..]), "{n}");
            }
        }
        assert!(h.len() <= 11, "{}", h.len());
        assert!(h.ring.capacity() <= 32 * 1000, "{}", h.ring.capacity());
    }

    #[test]
    fn an_expired_history_gives_its_ring_back_and_grows_again() {
        let t0 = crate::test_clock::t0();
        let mut h = History::new(64, 100_000);
        for seq in 0..40u16 {
            h.insert(t0, seq, &[1; 1000]);
        }
        assert!(h.heap_bytes() > 40_000);
        h.expire(t0 + Duration::from_secs(5), Duration::from_secs(3));
        assert_eq!(h.len(), 0);
        assert_eq!(h.heap_bytes(), 0);
        let later = t0 + Duration::from_secs(6);
        h.insert(later, 40, &[2; 1000]);
        h.insert(later, 41, &[3; 1000]);
        assert_eq!(h.get(40), Some(&[2; 1000][..]));
        assert_eq!(h.get(41), Some(&[3; 1000][..]));
    }
}
