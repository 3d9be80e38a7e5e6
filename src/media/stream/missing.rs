//! The receiver's list of missing packets and the generic NACKs that ask for them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::Writer;

/// RFC 4585 §6.2.1: RTPFB (205), FMT 1.
const PT_RTPFB: u8 = 205;
const FMT_NACK: u8 = 1;
/// NACK entries written in one packet at most (each covers 17 sequence numbers).
const MAX_PAIRS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Missing {
    /// Extended sequence number.
    ext: u64,
    /// When the gap was seen.
    since: Instant,
    /// When to ask (again).
    next_at: Instant,
    /// NACKs sent for it so far.
    tries: u8,
}

/// When to ask for a missing packet and when to stop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NackTiming {
    /// Wait between two requests for one packet (about one round-trip time).
    pub(crate) interval: Duration,
    /// Requests per packet before giving up.
    pub(crate) max_tries: u8,
    /// Give up on a packet missing this long.
    pub(crate) max_age: Duration,
}

/// What one [`MissingList::write_nack`] did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NackOutcome {
    /// Bytes written (0: nothing due).
    pub(crate) len: usize,
    /// Sequence numbers asked for.
    pub(crate) requested: u32,
    /// Entries given up (too many tries or too old).
    pub(crate) gave_up: u32,
}

/// Missing packets in ascending extended sequence order, at most `cap` of them.
#[derive(Debug)]
pub(crate) struct MissingList {
    list: VecDeque<Missing>,
    cap: usize,
}

impl MissingList {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            list: VecDeque::with_capacity(cap),
            cap,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.list.capacity() * std::mem::size_of::<Missing>()
    }

    /// Adds `ext` (above every entry). Returns whether an older entry was evicted to make room.
    pub(crate) fn push(&mut self, ext: u64, now: Instant, due: Instant) -> bool {
        if self.cap == 0 {
            return true;
        }
        let evicted = self.list.len() >= self.cap;
        if evicted {
            self.list.pop_front();
        }
        self.list.push_back(Missing {
            ext,
            since: now,
            next_at: due,
            tries: 0,
        });
        evicted
    }

    /// Adds `ext` in its place (it may be below the entries); false if it is listed already
    /// or there is no room.
    pub(crate) fn insert(&mut self, ext: u64, now: Instant, due: Instant) -> bool {
        match self.list.binary_search_by_key(&ext, |m| m.ext) {
            Err(i) if self.list.len() < self.cap => {
                let m = Missing {
                    ext,
                    since: now,
                    next_at: due,
                    tries: 0,
                };
                self.list.insert(i, m);
                true
            }
            _ => false,
        }
    }

    /// Removes `ext` if listed; returns how many NACKs had asked for it.
    pub(crate) fn remove(&mut self, ext: u64) -> Option<u8> {
        let i = self.list.binary_search_by_key(&ext, |m| m.ext).ok()?;
        self.list.remove(i).map(|m| m.tries)
    }

    /// Drops entries at or below `ext` (older than anything still worth asking for); returns
    /// how many.
    pub(crate) fn drop_up_to(&mut self, ext: u64) -> u32 {
        let mut n = 0;
        while self.list.front().is_some_and(|m| m.ext <= ext) {
            self.list.pop_front();
            n += 1;
        }
        n
    }

    /// The earliest time an entry is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.list.iter().map(|m| m.next_at).min()
    }

    /// Gives up on entries past their tries or age, then writes one generic NACK (RFC 4585
    /// §6.2.1) for the entries due at `now` into `buf`, rescheduling them.
    pub(crate) fn write_nack(
        &mut self,
        now: Instant,
        timing: NackTiming,
        sender_ssrc: u32,
        media_ssrc: u32,
        buf: &mut [u8],
    ) -> NackOutcome {
        let mut out = NackOutcome::default();
        let before = self.list.len();
        self.list.retain(|m| {
            m.tries < timing.max_tries && now.saturating_duration_since(m.since) < timing.max_age
        });
        out.gave_up = (before - self.list.len()) as u32;
        let room = buf.len().saturating_sub(12) / 4;
        let max_pairs = room.min(MAX_PAIRS);
        if max_pairs == 0 || !self.list.iter().any(|m| m.next_at <= now) {
            return out;
        }
        let mut w = Writer::new(buf);
        // Header and SSRCs: 12 bytes, room was checked above.
        let _ = w.u8(0x80 | FMT_NACK);
        let _ = w.u8(PT_RTPFB);
        let _ = w.u16(0);
        let _ = w.u32(sender_ssrc);
        let _ = w.u32(media_ssrc);
        let mut pairs = 0usize;
        // The open entry: its PID's extended number, and its bitmask.
        let mut open: Option<(u64, u16)> = None;
        for m in self.list.iter_mut().filter(|m| m.next_at <= now) {
            match open {
                // RFC 4585 §6.2.1: bit i of the BLP reports PID + i + 1 lost.
                Some((pid, ref mut blp)) if m.ext - pid <= 16 => *blp |= 1 << (m.ext - pid - 1),
                _ => {
                    if let Some((pid, blp)) = open.take() {
                        let _ = w.u16(pid as u16);
                        let _ = w.u16(blp);
                        pairs += 1;
                    }
                    if pairs == max_pairs {
                        break;
                    }
                    open = Some((m.ext, 0));
                }
            }
            m.tries = m.tries.saturating_add(1);
            m.next_at = now + timing.interval;
            out.requested += 1;
        }
        if let Some((pid, blp)) = open {
            let _ = w.u16(pid as u16);
            let _ = w.u16(blp);
            pairs += 1;
        }
        let len = 12 + 4 * pairs;
        // RFC 3550 §6.4.1: the length is in 32-bit words minus one.
        let _ = w.patch_u16(2, (len / 4 - 1) as u16);
        out.len = len;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::Nack;

    fn timing() -> NackTiming {
        NackTiming {
            interval: Duration::from_millis(100),
            max_tries: 3,
            max_age: Duration::from_secs(1),
        }
    }

    #[test]
    fn nack_packs_neighbours_into_one_entry_and_parses() {
        let t0 = crate::test_clock::t0();
        let mut l = MissingList::new(16);
        for ext in [65_534u64, 65_535, 65_536, 65_560] {
            l.push(ext, t0, t0);
        }
        let mut buf = [0u8; 100];
        let out = l.write_nack(t0, timing(), 1, 2, &mut buf);
        assert_eq!(out.requested, 4);
        let nack = Nack::parse(&buf[..out.len]).unwrap();
        assert_eq!(nack.pairs.len(), 2);
        assert_eq!(nack.lost().collect::<Vec<_>>(), vec![65_534, 65_535, 0, 24]);
        // Not due again until the interval passed.
        assert_eq!(l.write_nack(t0, timing(), 1, 2, &mut buf).len, 0);
        assert_eq!(l.next_due(), Some(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn entries_are_given_up_after_max_tries() {
        let t0 = crate::test_clock::t0();
        let mut l = MissingList::new(16);
        l.push(5, t0, t0);
        let mut buf = [0u8; 100];
        let mut sent = 0;
        for i in 0..10 {
            let out = l.write_nack(
                t0 + Duration::from_millis(100 * i),
                timing(),
                1,
                2,
                &mut buf,
            );
            sent += out.requested;
        }
        assert_eq!(sent, 3);
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn the_list_is_bounded_and_evicts_the_oldest() {
        let t0 = crate::test_clock::t0();
        let mut l = MissingList::new(4);
        let evicted = (0..10).filter(|e| l.push(*e, t0, t0)).count();
        assert_eq!((evicted, l.len()), (6, 4));
        assert_eq!(l.remove(9), Some(0));
        assert_eq!(l.remove(1), None);
    }
}
