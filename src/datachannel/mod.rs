//! WebRTC data channels (RFC 8831) and their establishment protocol, DCEP (RFC 8832), over
//! one [`sctp::Association`].
//!
//! A channel is one SCTP stream, both directions. [`DataChannels::create_channel`] picks a
//! free id of our parity (even for the DTLS client, odd for the server: RFC 8832 §6) and sends
//! DATA_CHANNEL_OPEN; the peer answers DATA_CHANNEL_ACK. Until the ACK arrives messages go
//! ordered, so the OPEN is delivered first. Negotiated channels (a pre-agreed id) skip DCEP.
//! Reliability per channel is reliable, `maxRetransmits` or `maxPacketLifeTime`
//! (RFC 3758 underneath); order is per channel. Messages are text (PPID 51) or binary (53);
//! empty ones go as one zero byte with PPID 56 or 57 (RFC 8831 §6.6). Closing resets the
//! stream in both directions (RFC 8831 §6.7) and frees everything the channel held; the id can
//! then be used again.
//!
//! Limits: messages larger than the peer's maximum message size (from SDP) are refused at
//! `send`; the number of channels and the size of labels are bounded, so a peer opening
//! channels without end is refused rather than allowed to grow our memory.
//!
//! # Driving contract
//!
//! The same as the association's: feed packets and timeouts, drain `poll_packet` and
//! `poll_event`, sleep until `poll_timeout`. [`DataChannels`] is a
//! [`PacketProtocol`](crate::PacketProtocol), so [`sctp::Endpoint`]
//! drives it over UDP, and the DTLS layer of a PeerConnection feeds it decrypted packets.
//!
//! ```
//! use kaon::datachannel::{ChannelConfig, Config, DataChannels, Event, Role};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let cfg = |seed, role| {
//!     let mut c = Config::new(role);
//!     c.sctp.seed = Some(seed);
//!     c
//! };
//! let mut client = DataChannels::new(cfg(1, Role::Client));
//! let mut server = DataChannels::new(cfg(2, Role::Server));
//! client.connect(now);
//! server.connect(now);
//! let id = client.create_channel(now, ChannelConfig::labelled("chat"))?;
//! assert_eq!(id % 2, 0); // the DTLS client takes even ids
//! client.send_text(now, id, "hello")?;
//!
//! let mut buf = [0u8; 1200];
//! let mut got = None;
//! for _ in 0..20 {
//!     while let Some(n) = client.poll_packet(now, &mut buf) {
//!         server.handle_packet(now, &buf[..n]);
//!     }
//!     while let Some(n) = server.poll_packet(now, &mut buf) {
//!         client.handle_packet(now, &buf[..n]);
//!     }
//!     while client.poll_event().is_some() {}
//!     while let Some(e) = server.poll_event() {
//!         if let Event::Message { data, binary: false, .. } = e {
//!             got = Some(data);
//!         }
//!     }
//! }
//! assert_eq!(got.as_deref(), Some(&b"hello"[..]));
//! assert_eq!(server.channel_config(id).unwrap().label, "chat");
//! # Ok::<(), kaon::datachannel::Error>(())
//! ```

mod channel;
mod channels;
pub mod dcep;

pub use channel::{ChannelConfig, ChannelId, ChannelState, Reliability};
pub use channels::{DataChannels, Memory, OpenRefusal};

use crate::sctp;

/// The DTLS role of this side, which picks the parity of the channel ids it chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// DTLS client: even ids.
    Client,
    /// DTLS server: odd ids.
    Server,
}

/// Configuration of [`DataChannels`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The association underneath; set `max_message_size` from the peer's SDP.
    pub sctp: sctp::Config,
    /// Our DTLS role.
    pub role: Role,
    /// Channels open at once, ours and the peer's; further OPENs are refused.
    pub max_channels: usize,
    /// Label plus protocol bytes per channel (the WebRTC API allows 65535 each; a peer could
    /// otherwise make us store 128 KiB per channel).
    pub max_label_bytes: usize,
}

impl Config {
    /// Defaults for `role`. WebRTC stacks zero-checksum over DTLS when both agree, so this
    /// layer turns it on.
    pub fn new(role: Role) -> Self {
        Self {
            sctp: sctp::Config {
                zero_checksum: true,
                ..sctp::Config::default()
            },
            role,
            max_channels: 4096,
            max_label_bytes: 4096,
        }
    }
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The association is up.
    Connected,
    /// A channel is usable: one we created (`remote: false`) once the association is up, or
    /// one the peer opened (`remote: true`; read its label with `channel_config`).
    ChannelOpen {
        /// The channel.
        id: ChannelId,
        /// Whether the peer opened it.
        remote: bool,
    },
    /// A message arrived.
    Message {
        /// The channel.
        id: ChannelId,
        /// The payload (empty for PPIDs 56 and 57).
        data: bytes::Bytes,
        /// Binary (PPIDs 53, 57) or text (51, 56).
        binary: bool,
    },
    /// The channel's buffered amount fell to or below its threshold.
    BufferedAmountLow(ChannelId),
    /// The channel is closed in both directions; its id is free.
    ChannelClosed(ChannelId),
    /// The peer sent an ERROR chunk (RFC 9260 §3.3.10), one event per cause: non-fatal,
    /// the association and its channels go on.
    PeerError(sctp::PeerError),
    /// The association ended; every channel is closed.
    Closed(sctp::CloseReason),
}

/// A data channel request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The association refused the message (too large, buffer full, closed).
    #[error(transparent)]
    Sctp(#[from] sctp::Error),
    /// No open channel has this id.
    #[error("no channel {0}")]
    NoSuchChannel(ChannelId),
    /// The channel is closing.
    #[error("channel {0} is closing")]
    ChannelClosing(ChannelId),
    /// A negotiated id is taken.
    #[error("channel id {0} is in use")]
    IdInUse(ChannelId),
    /// The channel limit is reached.
    #[error("too many channels")]
    TooManyChannels,
    /// Label plus protocol exceed the configured bound.
    #[error("label and protocol too long")]
    LabelTooLong,
}
