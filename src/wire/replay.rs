//! The sliding anti-replay window (RFC 6347 §4.1.2.6 for DTLS, RFC 3711 §3.3.2 for SRTP).

/// Why a sequence number was refused by a [`ReplayWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Replay {
    /// The number was already accepted.
    #[error("replayed packet")]
    Duplicate,
    /// The number is older than the window reaches.
    #[error("packet older than the replay window")]
    TooOld,
}

/// A sliding window of recently accepted 64-bit sequence numbers.
///
/// The two steps are separate on purpose: [`check`](Self::check) before authenticating a packet
/// (cheap rejection of replays), [`accept`](Self::accept) only after it authenticated, so a
/// forged packet can never move the window (RFC 3711 §3.3.2, RFC 6347 §4.1.2.6).
///
/// ```
/// use kaon::wire::{Replay, ReplayWindow};
/// let mut w = ReplayWindow::new(64);
/// assert!(w.check(100).is_ok());
/// w.accept(100);
/// assert_eq!(w.check(100), Err(Replay::Duplicate));
/// assert!(w.check(99).is_ok()); // late but inside the window
/// assert_eq!(w.check(20), Err(Replay::TooOld));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// The highest accepted number, if any.
    top: Option<u64>,
    /// A ring of bits: bit `n & mask` is set when `n` (within the window) was accepted.
    bits: Box<[u64]>,
    /// `size() - 1`; the size is a power of two so the per-packet index is a mask, not a
    /// division.
    mask: u64,
}

impl ReplayWindow {
    /// A window remembering at least `size` numbers (rounded up to a power of two, at least
    /// 64).
    pub fn new(size: usize) -> Self {
        let words = size.div_ceil(64).max(1).next_power_of_two();
        let mask = words as u64 * 64 - 1;
        Self {
            top: None,
            bits: vec![0; words].into_boxed_slice(),
            mask,
        }
    }

    /// How many numbers the window spans.
    pub fn size(&self) -> u64 {
        self.mask + 1
    }

    /// The highest accepted number.
    pub fn top(&self) -> Option<u64> {
        self.top
    }

    fn bit(&self, seq: u64) -> (usize, u64) {
        let i = seq & self.mask;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Whether `seq` would be accepted. Changes nothing.
    #[inline]
    pub fn check(&self, seq: u64) -> Result<(), Replay> {
        let Some(top) = self.top else { return Ok(()) };
        if seq > top {
            return Ok(());
        }
        if top - seq >= self.size() {
            return Err(Replay::TooOld);
        }
        let (word, mask) = self.bit(seq);
        if self.bits[word] & mask != 0 {
            Err(Replay::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `seq` as received. Call only after the packet authenticated and only when
    /// [`check`](Self::check) passed; a number outside the window is ignored.
    #[inline]
    pub fn accept(&mut self, seq: u64) {
        match self.top {
            Some(top) if seq > top => {
                let advance = seq - top;
                if advance >= self.size() {
                    self.bits.fill(0);
                } else {
                    // Forget the numbers that slide out: they share bits with top+1 ..= seq.
                    for n in top + 1..seq {
                        let (word, mask) = self.bit(n);
                        self.bits[word] &= !mask;
                    }
                }
                self.top = Some(seq);
            }
            Some(top) if top - seq >= self.size() => return,
            Some(_) => {}
            None => self.top = Some(seq),
        }
        let (word, mask) = self.bit(seq);
        self.bits[word] |= mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn sliding_forward_forgets_old_numbers() {
        let mut w = ReplayWindow::new(64);
        for n in 0..64 {
            w.accept(n);
        }
        w.accept(127);
        assert_eq!(w.check(63), Err(Replay::TooOld));
        assert!(w.check(64).is_ok());
        assert!(w.check(100).is_ok());
        assert_eq!(w.check(127), Err(Replay::Duplicate));
        w.accept(10_000);
        assert!(w.check(9_990).is_ok());
    }

    #[test]
    fn size_rounds_up_to_a_power_of_two() {
        assert_eq!(ReplayWindow::new(0).size(), 64);
        assert_eq!(ReplayWindow::new(65).size(), 128);
        assert_eq!(ReplayWindow::new(129).size(), 256);
        assert_eq!(ReplayWindow::new(1024).size(), 1024);
    }

    proptest! {
        #[test]
        fn matches_a_set_model(size in 1usize..300, seqs in proptest::collection::vec(0u64..2_000, 0..400)) {
            let mut w = ReplayWindow::new(size);
            let span = w.size();
            let mut seen = BTreeSet::new();
            let mut top: Option<u64> = None;
            for s in seqs {
                let expected = match top {
                    Some(t) if s <= t && t - s >= span => Err(Replay::TooOld),
                    _ if seen.contains(&s) => Err(Replay::Duplicate),
                    _ => Ok(()),
                };
                prop_assert_eq!(w.check(s), expected);
                if expected.is_ok() {
                    w.accept(s);
                    seen.insert(s);
                    top = top.max(Some(s));
                }
            }
        }
    }
}
