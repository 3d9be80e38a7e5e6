//! RFC 1982 serial-number arithmetic for 16- and 32-bit counters.
//!
//! Counters that wrap (RTP sequence numbers, SCTP TSNs and SSNs, TWCC sequence numbers) compare
//! by distance, not by value: `65535 < 0` as serial numbers. RFC 1982 §3.2 leaves the order of
//! two numbers exactly half the space apart undefined; [`Serial16`] and [`Serial32`] return
//! `None` from `partial_cmp` there.
//!
//! [`Unwrapper16`] and [`Unwrapper32`] extend a wrapping counter to 64 bits, choosing for each
//! new value the extension closest to the last one seen, so reordering across a wrap is handled
//! (RFC 3711 Appendix A does the same for SRTP's rollover counter).
//!
//! ```
//! use kaon::wire::serial::{Serial16, Unwrapper16};
//! assert!(Serial16(65535) < Serial16(0));
//! assert_eq!(Serial16(65535) + 2, Serial16(1));
//! let mut u = Unwrapper16::default();
//! assert_eq!(u.unwrap(65535), 65535);
//! assert_eq!(u.unwrap(1), 65537); // wrapped forward
//! assert_eq!(u.unwrap(65534), 65534); // a late packet from before the wrap
//! ```

use std::cmp::Ordering;

macro_rules! serial {
    ($name:ident, $unwrapper:ident, $t:ty, $signed:ty, $bits:expr) => {
        #[doc = concat!("A ", stringify!($bits), "-bit serial number (RFC 1982).")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $t);

        impl $name {
            /// Signed distance from `other` to `self`: positive when `self` is after `other`.
            /// Exactly half the space apart counts as the negative half.
            pub fn distance(self, other: Self) -> i64 {
                i64::from(self.0.wrapping_sub(other.0) as $signed)
            }

            /// Whether `self` comes strictly after `other`.
            pub fn is_after(self, other: Self) -> bool {
                self.partial_cmp(&other) == Some(Ordering::Greater)
            }

            /// Whether `self` comes strictly before `other`.
            pub fn is_before(self, other: Self) -> bool {
                self.partial_cmp(&other) == Some(Ordering::Less)
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                // RFC 1982 §3.2: i1 < i2 iff the forward distance from i1 to i2 is below half
                // the space; exactly half is undefined.
                const HALF: $t = 1 << ($bits - 1);
                let forward = other.0.wrapping_sub(self.0);
                match forward {
                    0 => Some(Ordering::Equal),
                    HALF => None,
                    d if d < HALF => Some(Ordering::Less),
                    _ => Some(Ordering::Greater),
                }
            }
        }

        impl std::ops::Add<$t> for $name {
            type Output = Self;
            /// RFC 1982 §3.1 addition (wrapping).
            fn add(self, rhs: $t) -> Self {
                Self(self.0.wrapping_add(rhs))
            }
        }

        impl std::ops::AddAssign<$t> for $name {
            fn add_assign(&mut self, rhs: $t) {
                self.0 = self.0.wrapping_add(rhs);
            }
        }

        #[doc = concat!("Extends a wrapping ", stringify!($bits), "-bit counter to 64 bits.")]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $unwrapper {
            last: Option<u64>,
        }

        impl $unwrapper {
            /// The extended value closest to the last one seen; the reference point advances
            /// only forward, so a late packet does not drag it back.
            pub fn unwrap(&mut self, value: $t) -> u64 {
                let extended = self.peek(value);
                if self.last.is_none_or(|last| extended > last) {
                    self.last = Some(extended);
                }
                extended
            }

            /// What [`unwrap`](Self::unwrap) would return, without updating the state.
            pub fn peek(&self, value: $t) -> u64 {
                let Some(last) = self.last else {
                    return u64::from(value);
                };
                let delta = $name(value).distance($name(last as $t));
                // Never go below zero: a value "before" the first one seen stays in epoch 0.
                last.checked_add_signed(delta).unwrap_or(u64::from(value))
            }

            /// The highest extended value seen so far.
            pub fn last(&self) -> Option<u64> {
                self.last
            }
        }
    };
}

serial!(Serial16, Unwrapper16, u16, i16, 16);
serial!(Serial32, Unwrapper32, u32, i32, 32);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1982_examples_hold() {
        // RFC 1982 §5.2 uses SERIAL_BITS = 8; the same relations hold scaled to 16 bits.
        assert!(Serial16(0) < Serial16(1));
        assert!(Serial16(0) < Serial16(32767));
        assert!(Serial16(65535) < Serial16(0));
        assert!(Serial16(32768) < Serial16(65535));
        assert_eq!(Serial16(0).partial_cmp(&Serial16(32768)), None);
        assert!(Serial32(u32::MAX) < Serial32(5));
        assert_eq!(Serial32(0).partial_cmp(&Serial32(1 << 31)), None);
        assert_eq!(Serial32(3).distance(Serial32(u32::MAX)), 4);
    }

    #[test]
    fn unwrapper_handles_reordering_across_the_wrap() {
        let mut u = Unwrapper16::default();
        assert_eq!(u.unwrap(65530), 65530);
        assert_eq!(u.unwrap(2), 65538);
        assert_eq!(u.unwrap(65533), 65533);
        assert_eq!(u.unwrap(3), 65539);
        assert_eq!(u.last(), Some(65539));
        let mut u = Unwrapper16::default();
        assert_eq!(u.unwrap(3), 3);
        assert_eq!(
            u.unwrap(65534),
            65534,
            "before the first value stays in epoch 0"
        );
    }

    proptest! {
        #[test]
        fn adding_less_than_half_moves_forward(a: u32, n in 1u32..(1 << 31)) {
            prop_assert!(Serial32(a) < Serial32(a) + n);
            prop_assert!(Serial32(a).is_before(Serial32(a) + n));
        }

        #[test]
        fn order_is_antisymmetric(a: u16, b: u16) {
            let ab = Serial16(a).partial_cmp(&Serial16(b));
            let ba = Serial16(b).partial_cmp(&Serial16(a));
            prop_assert_eq!(ab, ba.map(Ordering::reverse));
        }

        #[test]
        fn unwrap_tracks_a_monotonic_counter(start: u32, steps in proptest::collection::vec(0u64..30_000, 1..50)) {
            let mut u = Unwrapper16::default();
            let mut truth = u64::from(start as u16);
            prop_assert_eq!(u.unwrap(truth as u16), truth);
            for s in steps {
                truth += s;
                prop_assert_eq!(u.unwrap(truth as u16), truth);
            }
        }
    }
}
