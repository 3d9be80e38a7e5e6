//! A base `Instant` for the crate's unit tests.
//!
//! Unit tests of internal types (congestion control, queues) need an `Instant` to do
//! arithmetic from, and `std::time::Instant` has no constructor other than reading the clock.
//! The core never reads a clock, so this lives with the tests, not under `src/`: `src/lib.rs`
//! includes it with `#[cfg(test)] #[path = ...]`, so it exists only in `cargo test` builds of
//! the library. (Sub-folder of `tests/`, so Cargo does not build it as a test of its own.)

use std::time::Instant;

/// A base instant for a unit test.
pub(crate) fn t0() -> Instant {
    Instant::now()
}
