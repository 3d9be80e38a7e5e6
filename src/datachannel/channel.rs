//! One data channel's configuration and state.

use super::dcep::{ChannelType, Open};
use crate::sctp::SendOptions;
use std::time::Duration;

/// A channel's id: its SCTP stream identifier.
pub type ChannelId = u16;

/// How hard a channel tries to deliver (RTCDataChannelInit's maxRetransmits and
/// maxPacketLifeTime; RFC 8831 §6.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reliability {
    /// Every message arrives.
    #[default]
    Reliable,
    /// A message is retransmitted at most this many times.
    MaxRetransmits(u32),
    /// A message is (re)transmitted only within this time of being sent.
    MaxPacketLifetime(Duration),
}

/// What to create a channel with (RTCDataChannelInit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The label.
    pub label: String,
    /// The subprotocol.
    pub protocol: String,
    /// Whether messages arrive in order.
    pub ordered: bool,
    /// The reliability policy.
    pub reliability: Reliability,
    /// `Some(id)`: negotiated out of band on this stream id, no DCEP (RFC 8832 §6's
    /// alternative); both sides create it with the same id.
    pub negotiated: Option<ChannelId>,
    /// DCEP priority (RFC 8831 §6.4: 128 below normal, 256 normal, 512 high, 1024 extra high).
    pub priority: u16,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            label: String::new(),
            protocol: String::new(),
            ordered: true,
            reliability: Reliability::Reliable,
            negotiated: None,
            priority: 256,
        }
    }
}

impl ChannelConfig {
    /// A reliable ordered channel with this label.
    pub fn labelled(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            ..Self::default()
        }
    }

    pub(crate) fn open_message(&self) -> Open<'_> {
        let (kind, reliability) = match self.reliability {
            Reliability::Reliable => (ChannelType::Reliable, 0),
            Reliability::MaxRetransmits(n) => (ChannelType::Rexmit, n),
            Reliability::MaxPacketLifetime(d) => (
                ChannelType::Timed,
                u32::try_from(d.as_millis()).unwrap_or(u32::MAX),
            ),
        };
        let unordered = if self.ordered { 0 } else { 0x80 };
        Open {
            channel_type: ChannelType::from_u8(kind.to_u8() | unordered),
            priority: self.priority,
            reliability,
            label: &self.label,
            protocol: &self.protocol,
        }
    }

    pub(crate) fn from_open(o: &Open<'_>) -> Self {
        let t = o.channel_type.to_u8();
        let reliability = match t & 0x7f {
            0x01 => Reliability::MaxRetransmits(o.reliability),
            0x02 => Reliability::MaxPacketLifetime(Duration::from_millis(u64::from(o.reliability))),
            _ => Reliability::Reliable,
        };
        Self {
            label: o.label.to_owned(),
            protocol: o.protocol.to_owned(),
            ordered: t & 0x80 == 0,
            reliability,
            negotiated: None,
            priority: o.priority,
        }
    }
}

/// Where a channel is in its life (RTCDataChannelState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// Created; waiting for the association.
    Connecting,
    /// Usable.
    Open,
    /// Closing: its streams are being reset.
    Closing,
}

#[derive(Debug)]
pub(crate) struct Channel {
    pub config: ChannelConfig,
    pub state: ChannelState,
    /// We opened it with DCEP and no ACK came yet: send ordered (RFC 8832 §6).
    pub awaiting_ack: bool,
    /// Our outgoing stream was reset.
    pub out_reset: bool,
    /// The peer's outgoing stream (our incoming) was reset.
    pub in_reset: bool,
    /// We asked to reset our outgoing stream.
    pub reset_requested: bool,
}

impl Channel {
    pub(crate) fn new(config: ChannelConfig, awaiting_ack: bool) -> Self {
        Self {
            config,
            state: ChannelState::Connecting,
            awaiting_ack,
            out_reset: false,
            in_reset: false,
            reset_requested: false,
        }
    }

    /// The SCTP options for one user message on this channel.
    pub(crate) fn send_options(&self) -> SendOptions {
        let (max_retransmits, lifetime) = match self.config.reliability {
            Reliability::Reliable => (None, None),
            Reliability::MaxRetransmits(n) => (Some(n), None),
            Reliability::MaxPacketLifetime(d) => (None, Some(d)),
        };
        SendOptions {
            unordered: !self.config.ordered && !self.awaiting_ack,
            max_retransmits,
            lifetime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_survives_the_open_message() {
        for reliability in [
            Reliability::Reliable,
            Reliability::MaxRetransmits(0),
            Reliability::MaxPacketLifetime(Duration::from_millis(1500)),
        ] {
            for ordered in [true, false] {
                let c = ChannelConfig {
                    label: "l".into(),
                    protocol: "p".into(),
                    ordered,
                    reliability,
                    negotiated: None,
                    priority: 512,
                };
                assert_eq!(ChannelConfig::from_open(&c.open_message()), c);
            }
        }
    }
}
