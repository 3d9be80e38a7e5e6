//! SCTP (RFC 9260) for WebRTC data channels: being built.

pub mod chunk;
mod error;
pub mod packet;
pub mod param;

pub use error::Error;
