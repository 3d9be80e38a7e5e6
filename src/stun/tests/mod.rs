//! STUN tests: RFC 5769 vectors, codec properties, the client and server state machines.

mod client;
mod codec;
mod server;
mod vectors;
