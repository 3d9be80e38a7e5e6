//! Which of the peer's TSNs have arrived: the cumulative TSN, the gaps above it, duplicates,
//! and from them the next SACK (RFC 9260 §6.2, §6.7).
//!
//! TSNs are extended to 64 bits relative to the cumulative TSN, so nothing here wraps. The
//! received ranges above the cumulative TSN live in an ordered map: an arrival costs
//! O(log ranges), and their number is capped.

use super::chunk::{DupTsns, GapBlock, GapBlocks, Sack};
use crate::wire::serial::Serial32;
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// TSNs further than this above the cumulative TSN are dropped: a gap block offset is 16 bits.
const MAX_AHEAD: u64 = u16::MAX as u64;
/// A peer cannot make us track more holes than this; it just retransmits.
const MAX_RANGES: usize = 1024;
/// Duplicate TSNs reported per SACK.
const MAX_DUPS: usize = 16;

/// What happened to an arriving TSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// New, and now recorded.
    New,
    /// Already received (reported in the next SACK).
    Duplicate,
    /// Too far ahead, or too many holes: dropped without record.
    Dropped,
}

/// What a FORWARD-TSN did to the cumulative TSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forward {
    /// It moved forward.
    Moved,
    /// At or behind the cumulative TSN: out of date, ignored.
    Stale,
    /// Further ahead than any DATA we would accept: refused.
    TooFar,
}

#[derive(Debug, Clone)]
pub(crate) struct RecvTsns {
    cum: u64,
    ranges: BTreeMap<u64, u64>,
    highest: u64,
    dups: DupTsns,
    /// Where the rotating part of a truncated SACK starts (see `sack`).
    rotate: usize,
    /// TSNs that arrived above the cumulative TSN since the last SACK.
    recent: SmallVec<[u64; 8]>,
}

impl RecvTsns {
    /// Tracking for a peer whose first TSN is `initial_tsn`.
    pub(crate) fn new(initial_tsn: u32) -> Self {
        // Start the 64-bit space at 2^32 so that "one before the first TSN" never underflows.
        let cum = (1u64 << 32) + u64::from(initial_tsn) - 1;
        Self {
            cum,
            ranges: BTreeMap::new(),
            highest: cum,
            dups: DupTsns::new(),
            rotate: 0,
            recent: SmallVec::new(),
        }
    }

    /// Extends a wire TSN relative to the cumulative TSN.
    pub(crate) fn unwrap(&self, tsn: u32) -> u64 {
        let d = Serial32(tsn).distance(Serial32(self.cum as u32));
        self.cum.saturating_add_signed(d)
    }

    pub(crate) fn cum(&self) -> u64 {
        self.cum
    }

    pub(crate) fn cum_tsn(&self) -> u32 {
        self.cum as u32
    }

    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }

    pub(crate) fn has_gaps(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// Whether `tsn` was already received.
    pub(crate) fn contains(&self, tsn: u64) -> bool {
        tsn <= self.cum
            || (!self.ranges.is_empty()
                && self
                    .ranges
                    .range(..=tsn)
                    .next_back()
                    .is_some_and(|(_, &end)| end >= tsn))
    }

    /// Whether a new `tsn` would be accepted (not a duplicate, not too far ahead).
    pub(crate) fn acceptable(&self, tsn: u64) -> bool {
        tsn > self.cum
            && tsn - self.cum <= MAX_AHEAD
            && !self.contains(tsn)
            && (self.ranges.len() < MAX_RANGES || self.touches_range(tsn))
    }

    fn touches_range(&self, tsn: u64) -> bool {
        tsn == self.cum + 1
            || self.ranges.contains_key(&(tsn + 1))
            || self
                .ranges
                .range(..tsn)
                .next_back()
                .is_some_and(|(_, &e)| e + 1 == tsn)
    }

    /// Records an arriving TSN.
    pub(crate) fn arrive(&mut self, tsn: u64) -> Arrival {
        // The common case, in order with nothing held above: new, and acceptable.
        if tsn == self.cum + 1 && self.ranges.is_empty() {
            self.cum = tsn;
            self.highest = self.highest.max(tsn);
            return Arrival::New;
        }
        if self.contains(tsn) {
            if self.dups.len() < MAX_DUPS {
                self.dups.push(tsn as u32);
            }
            return Arrival::Duplicate;
        }
        if !self.acceptable(tsn) {
            return Arrival::Dropped;
        }
        self.highest = self.highest.max(tsn);
        if tsn == self.cum + 1 {
            self.cum = tsn;
            self.absorb();
            return Arrival::New;
        }
        let prev = self
            .ranges
            .range(..tsn)
            .next_back()
            .map(|(&s, &e)| (s, e))
            .filter(|&(_, e)| e + 1 == tsn);
        let next_end = self.ranges.get(&(tsn + 1)).copied();
        if next_end.is_some() {
            self.ranges.remove(&(tsn + 1));
        }
        let end = next_end.unwrap_or(tsn);
        if self.recent.len() < self.recent.inline_size() {
            self.recent.push(tsn);
        }
        match prev {
            Some((s, _)) => self.ranges.insert(s, end),
            None => self.ranges.insert(tsn, end),
        };
        Arrival::New
    }

    /// Moves the cumulative TSN forward to `new_cum` (FORWARD-TSN, RFC 3758 §3.6).
    pub(crate) fn forward(&mut self, new_cum: u64) -> Forward {
        // RFC 3758 §3.6: a New Cumulative TSN at or behind ours is out of date and MUST NOT
        // update the cumulative TSN.
        if new_cum <= self.cum {
            return Forward::Stale;
        }
        // The peer cannot have sent DATA we would accept beyond MAX_AHEAD (`acceptable`
        // drops it), so it cannot have abandoned it either. Taking such a jump would turn
        // every TSN it sends next into a "duplicate" and freeze the association for good.
        if new_cum - self.cum > MAX_AHEAD {
            return Forward::TooFar;
        }
        self.cum = new_cum;
        self.highest = self.highest.max(new_cum);
        self.absorb();
        Forward::Moved
    }

    /// Folds ranges that now touch or sit below the cumulative TSN into it.
    fn absorb(&mut self) {
        while let Some((&s, &e)) = self.ranges.first_key_value() {
            if s > self.cum + 1 {
                break;
            }
            self.ranges.pop_first();
            self.cum = self.cum.max(e);
        }
    }

    /// The SACK describing what has arrived, with at most `max_gaps` gap blocks; duplicates
    /// are reported once.
    ///
    /// After a burst of loss there can be more ranges than one packet holds (about 270 at
    /// 1200 bytes). Reporting only the lowest would hide everything above them: the sender
    /// could not free its window and would stall until T3. So a truncated SACK carries, like
    /// TCP's SACK option (RFC 2018 §4), the ranges that changed since the last SACK, so the
    /// sender hears of every arrival; then the highest range, the lowest ones (the holes to
    /// repair first), and a slice of the rest that rotates from one SACK to the next. The
    /// sender keeps gap-acks across SACKs, so together they cover every range.
    pub(crate) fn sack(&mut self, a_rwnd: u32, max_gaps: usize) -> Sack {
        let recent = std::mem::take(&mut self.recent);
        let block = |s: u64, e: u64| GapBlock {
            start: (s - self.cum) as u16,
            end: (e - self.cum) as u16,
        };
        let n = self.ranges.len();
        let gaps: GapBlocks = if n <= max_gaps || max_gaps < 8 {
            self.ranges
                .iter()
                .take(max_gaps)
                .map(|(&s, &e)| block(s, e))
                .collect()
        } else {
            let mut picked: SmallVec<[(u64, u64); 64]> = SmallVec::new();
            let containing = |t: u64| self.ranges.range(..=t).next_back().map(|(&s, &e)| (s, e));
            picked.extend(recent.iter().filter_map(|&t| containing(t)));
            picked.extend(self.ranges.iter().next_back().map(|(&s, &e)| (s, e)));
            picked.extend(self.ranges.iter().take(max_gaps / 2).map(|(&s, &e)| (s, e)));
            picked.sort_unstable();
            picked.dedup();
            let room = max_gaps.saturating_sub(picked.len());
            if self.rotate >= n {
                self.rotate = 0;
            }
            let fixed = picked.len();
            // The rotating slice, wrapping around once.
            let order = self
                .ranges
                .iter()
                .skip(self.rotate)
                .chain(self.ranges.iter().take(self.rotate));
            for (&s, &e) in order {
                if picked.len() - fixed >= room {
                    break;
                }
                if picked[..fixed].binary_search(&(s, e)).is_err() {
                    picked.push((s, e));
                }
                self.rotate = (self.rotate + 1) % n;
            }
            picked.sort_unstable();
            picked.truncate(max_gaps);
            picked.into_iter().map(|(s, e)| block(s, e)).collect()
        };
        Sack {
            cum_tsn: self.cum as u32,
            a_rwnd,
            gaps,
            dups: std::mem::take(&mut self.dups),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gaps_fill_and_fold_into_the_cumulative_tsn() {
        let mut r = RecvTsns::new(u32::MAX - 1); // wraps during the test
        let t = |r: &RecvTsns, x: u32| r.unwrap(x);
        let a = t(&r, u32::MAX - 1);
        assert_eq!(r.arrive(a), Arrival::New);
        assert_eq!(r.arrive(t(&r, 1)), Arrival::New);
        assert_eq!(r.arrive(t(&r, 2)), Arrival::New);
        assert_eq!(r.arrive(t(&r, 2)), Arrival::Duplicate);
        let s = r.sack(1000, 16);
        assert_eq!(s.cum_tsn, u32::MAX - 1);
        assert_eq!(s.gaps.as_slice(), &[GapBlock { start: 3, end: 4 }]);
        assert_eq!(s.dups.as_slice(), &[2]);
        assert_eq!(r.arrive(t(&r, u32::MAX)), Arrival::New);
        assert_eq!(r.arrive(t(&r, 0)), Arrival::New);
        assert_eq!(r.cum_tsn(), 2);
        assert!(!r.has_gaps());
    }

    #[test]
    fn forward_tsn_skips_and_absorbs_ranges() {
        let mut r = RecvTsns::new(10);
        let c = r.cum();
        r.arrive(c + 5);
        r.arrive(c + 6);
        r.arrive(c + 9);
        assert_eq!(r.forward(c + 4), Forward::Moved);
        assert_eq!(r.cum(), c + 6);
        assert_eq!(r.forward(c + 2), Forward::Stale);
        assert_eq!(
            r.sack(0, 16).gaps.as_slice(),
            &[GapBlock { start: 3, end: 3 }]
        );
    }

    #[test]
    fn truncated_sacks_rotate_through_every_range() {
        let mut r = RecvTsns::new(0);
        let c = r.cum();
        for i in 0..100 {
            r.arrive(c + 2 + 2 * i);
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..30 {
            let s = r.sack(0, 10);
            assert_eq!(s.gaps.len(), 10);
            assert!(
                s.gaps.windows(2).all(|w| w[0].end < w[1].start),
                "ascending"
            );
            assert_eq!(s.gaps[9].start, 200, "the highest range is always there");
            seen.extend(s.gaps.iter().map(|g| g.start));
        }
        assert_eq!(seen.len(), 100);
        // A new arrival in the middle is reported in the very next SACK.
        r.arrive(c + 101);
        let s = r.sack(0, 10);
        assert!(
            s.gaps.iter().any(|g| g.start <= 101 && 101 <= g.end),
            "{:?}",
            s.gaps
        );
    }

    #[test]
    fn far_ahead_tsns_are_dropped() {
        let mut r = RecvTsns::new(0);
        let c = r.cum();
        assert_eq!(r.arrive(c + MAX_AHEAD + 1), Arrival::Dropped);
        assert_eq!(r.arrive(c + MAX_AHEAD), Arrival::New);
    }

    #[test]
    fn forged_forward_tsn_far_ahead_is_refused() {
        let mut r = RecvTsns::new(7);
        let c = r.cum();
        assert_eq!(r.forward(c + MAX_AHEAD + 1), Forward::TooFar);
        assert_eq!(r.forward(c + (1 << 31) - 1), Forward::TooFar);
        assert_eq!(
            r.cum(),
            c,
            "a refused FORWARD-TSN leaves the cumulative TSN alone"
        );
        // The next TSN still arrives as new data, not as a duplicate.
        assert_eq!(r.arrive(c + 1), Arrival::New);
        assert_eq!(r.forward(c + 1 + MAX_AHEAD), Forward::Moved);
    }

    proptest! {
        #[test]
        fn sack_matches_a_naive_set(initial: u32, arrivals in proptest::collection::vec(1u64..200, 0..300)) {
            let mut r = RecvTsns::new(initial);
            let base = r.cum();
            let mut set = std::collections::BTreeSet::new();
            for a in arrivals {
                let outcome = r.arrive(base + a);
                prop_assert_eq!(outcome == Arrival::Duplicate, set.contains(&a));
                set.insert(a);
            }
            let mut cum = 0;
            while set.contains(&(cum + 1)) {
                cum += 1;
            }
            prop_assert_eq!(r.cum(), base + cum);
            let sack = r.sack(0, usize::MAX);
            let mut from_sack = std::collections::BTreeSet::new();
            for g in sack.gaps {
                prop_assert!(g.start <= g.end && g.start >= 2);
                for o in g.start..=g.end {
                    from_sack.insert(cum + u64::from(o));
                }
            }
            let above: std::collections::BTreeSet<_> = set.into_iter().filter(|&t| t > cum).collect();
            prop_assert_eq!(from_sack, above);
        }
    }
}
