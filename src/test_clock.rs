//! The one clock read under `src/`, and it is compiled only for unit tests.
//!
//! Unit tests of internal types (congestion control, queues) need a base `Instant` to do
//! arithmetic from, and `std::time::Instant` has no constructor other than reading the clock.
//! The core itself never reads a clock: `.ci/run`'s sans-IO check excludes exactly this file,
//! and this module does not exist outside `cfg(test)`.

use std::time::Instant;

/// A base instant for a unit test.
pub(crate) fn t0() -> Instant {
    Instant::now()
}
