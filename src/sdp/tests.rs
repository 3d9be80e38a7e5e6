//! Unit tests of attribute values; whole descriptions are tested in `tests/sdp_*.rs`.
