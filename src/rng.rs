//! The per-instance random number generator.

use rand::rngs::StdRng;
use rand::{Rng as _, RngExt as _, SeedableRng as _};

/// A cryptographically secure random number generator, one per protocol instance.
///
/// Seeded from the operating system by default (through aws-lc-rs), or from a fixed seed for
/// reproducible runs: given the same seed, a simulation replays the same schedule of packets and
/// events. Transaction ids, ICE credentials, tie-breakers and jitter all come from here; long-term
/// key material (ECDHE, certificates) comes from aws-lc-rs directly.
#[derive(Debug)]
pub struct Rng(StdRng);

impl Rng {
    /// Seeded from `seed` when given, otherwise from the operating system.
    pub fn new(seed: Option<u64>) -> Self {
        match seed {
            Some(seed) => Self::from_seed(seed),
            None => Self::from_os(),
        }
    }

    /// A reproducible generator: the same seed gives the same sequence.
    pub fn from_seed(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }

    /// A generator seeded with 32 bytes from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// Only if the operating system cannot provide randomness at all, in which case no secure
    /// operation is possible.
    pub fn from_os() -> Self {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).expect("the OS random source failed");
        Self(StdRng::from_seed(seed))
    }

    /// A child generator seeded from this one, for a sub-component that needs its own stream.
    pub fn fork(&mut self) -> Self {
        let mut seed = [0u8; 32];
        self.fill(&mut seed);
        Self(StdRng::from_seed(seed))
    }

    /// A uniformly random `u32`.
    pub fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// A uniformly random `u64`.
    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Fills `dest` with random bytes.
    pub fn fill(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    /// A uniformly random value in `[low, high)`; returns `low` when the range is empty.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        self.0.random_range(low..high)
    }

    /// A uniformly random `f64` in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_sequence() {
        let mut a = Rng::from_seed(42);
        let mut b = Rng::from_seed(42);
        for _ in 0..100 {
            assert_eq!(a.u64(), b.u64());
        }
    }

    #[test]
    fn os_seeded_generators_differ() {
        assert_ne!(Rng::from_os().u64(), Rng::from_os().u64());
    }

    #[test]
    fn range_stays_in_bounds_and_tolerates_empty_ranges() {
        let mut r = Rng::from_seed(1);
        for _ in 0..1000 {
            let v = r.range(10, 20);
            assert!((10..20).contains(&v));
        }
        assert_eq!(r.range(5, 5), 5);
        assert_eq!(r.range(6, 5), 6);
    }
}
