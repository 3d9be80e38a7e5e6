//! STUN codec tests: RFC 5769 vectors and properties. The client and server state machines
//! need `Instant`s, which code under `src/` may not create (CI forbids clock reads there), so
//! their tests live in `tests/stun_client.rs`, `tests/stun_server.rs` and `tests/stun_e2e.rs`.

mod codec;
mod vectors;
