//! SCTP (RFC 9260) for WebRTC data channels: being built.

pub mod chunk;
mod error;
pub mod packet;
pub mod param;

pub use error::Error;

mod congestion;
mod cookie;
mod inflight;
mod send_queue;

pub use send_queue::SendOptions;
mod reassembly;
mod recv;
mod rto;
mod timer;

/// A message received on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The stream it arrived on.
    pub stream: u16,
    /// Its payload protocol identifier.
    pub ppid: u32,
    /// Whether it was sent unordered.
    pub unordered: bool,
    /// The payload.
    pub data: bytes::Bytes,
}
