//! The SCTP layer's error type.

/// An SCTP error: malformed input on the receive path, or a refused request on the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field ran past the end of its packet, chunk or parameter.
    #[error(transparent)]
    Wire(#[from] crate::wire::Error),
    /// A length field is smaller than its header or not what the type requires.
    #[error("{what} has an invalid length {len}")]
    BadLength {
        /// Which structure.
        what: &'static str,
        /// The length found.
        len: usize,
    },
    /// The packet's CRC32c does not match its contents.
    #[error("checksum mismatch")]
    BadChecksum,
    /// A message larger than the negotiated maximum message size was offered to `send`.
    #[error("message of {size} bytes exceeds the maximum message size of {max}")]
    MessageTooLarge {
        /// The message size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The send buffer is full; wait for a buffered-amount-low event.
    #[error("send buffer full: {queued} bytes queued, limit {limit}")]
    SendBufferFull {
        /// Bytes already queued.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The stream id is not usable: beyond the negotiated count, or being reset.
    #[error("stream {0} is not open for sending")]
    StreamNotWritable(u16),
    /// The association is shutting down, closed or failed.
    #[error("the association is closed")]
    Closed,
}
