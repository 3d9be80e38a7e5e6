//! [`DataChannels`]: the channels of one SCTP association.

use super::channel::{Channel, ChannelConfig, ChannelId, ChannelState};
use super::dcep::{self, Dcep};
use super::{Config, Error, Event, Role};
use crate::sctp::{self, Association, SendOptions};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

/// Data channels (RFC 8831) over one SCTP association, opened with DCEP (RFC 8832) or
/// negotiated out of band. Sans-IO, with the same driving contract as the association it
/// wraps: see the [module documentation](super).
#[derive(Debug)]
pub struct DataChannels {
    assoc: Association,
    role: Role,
    max_channels: usize,
    max_label_bytes: usize,
    channels: BTreeMap<ChannelId, Channel>,
    events: VecDeque<Event>,
    /// Where the search for a free id starts.
    next_id: u16,
    /// The latest time any entry point was given (DCEP answers are sent from `poll_event`).
    now: Option<Instant>,
    /// `poll_event` took something from the association, which may have queued a packet (a
    /// DCEP ACK, a stream reset, a window update): `poll_timeout` says "now" until
    /// `poll_packet` has drained it, so a driver that follows the contract sends it at once.
    output_due: bool,
    /// DCEP OPENs refused, and the last one (for diagnostics).
    refused: u64,
    last_refusal: Option<(ChannelId, OpenRefusal)>,
}

/// Why a peer's DATA_CHANNEL_OPEN was refused (its stream is reset, RFC 8832 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenRefusal {
    /// A channel with that id exists already (both sides picked it: a role or id-parity
    /// mistake).
    IdInUse,
    /// [`Config::max_channels`](super::Config) channels are open.
    TooManyChannels,
    /// The label and protocol together exceed [`Config::max_label_bytes`](super::Config).
    LabelTooLong,
    /// The DCEP message did not parse.
    Malformed,
}

/// Memory held, for tests that check it returns to its baseline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Channels not yet fully closed.
    pub channels: usize,
    /// The association's own accounting.
    pub sctp: sctp::Memory,
}

impl DataChannels {
    /// Channels over a new association.
    pub fn new(config: Config) -> Self {
        Self {
            assoc: Association::new(config.sctp),
            role: config.role,
            max_channels: config.max_channels,
            max_label_bytes: config.max_label_bytes,
            channels: BTreeMap::new(),
            events: VecDeque::new(),
            next_id: 0,
            now: None,
            output_due: false,
            refused: 0,
            last_refusal: None,
        }
    }

    /// How many of the peer's DATA_CHANNEL_OPENs were refused, and the last one.
    pub fn refused_opens(&self) -> (u64, Option<(ChannelId, OpenRefusal)>) {
        (self.refused, self.last_refusal)
    }

    /// Starts the association (WebRTC: both sides do).
    pub fn connect(&mut self, now: Instant) {
        self.now = Some(now);
        self.assoc.connect(now);
    }

    /// The association underneath (counters, state, congestion).
    pub fn association(&self) -> &Association {
        &self.assoc
    }

    /// Sets the DTLS role once known: it picks the parity of the ids we choose (RFC 8832 §6).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    /// A channel's state, or `None` once it is closed (or never existed).
    pub fn state(&self, id: ChannelId) -> Option<ChannelState> {
        self.channels.get(&id).map(|c| c.state)
    }

    /// A channel's configuration.
    pub fn channel_config(&self, id: ChannelId) -> Option<&ChannelConfig> {
        self.channels.get(&id).map(|c| &c.config)
    }

    /// Ids of the channels not yet closed.
    pub fn ids(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels.keys().copied()
    }

    /// Memory held now.
    pub fn memory(&self) -> Memory {
        Memory {
            channels: self.channels.len(),
            sctp: self.assoc.memory(),
        }
    }

    /// Creates a channel and returns its id. With DCEP, the OPEN goes once the association is
    /// up; either way [`Event::ChannelOpen`] says when it is usable.
    pub fn create_channel(
        &mut self,
        now: Instant,
        config: ChannelConfig,
    ) -> Result<ChannelId, Error> {
        self.now = Some(now);
        if self.channels.len() >= self.max_channels {
            return Err(Error::TooManyChannels);
        }
        if config.label.len() + config.protocol.len() > self.max_label_bytes {
            return Err(Error::LabelTooLong);
        }
        let id = match config.negotiated {
            Some(id) if self.channels.contains_key(&id) || id == u16::MAX => {
                return Err(Error::IdInUse(id));
            }
            Some(id) => id,
            None => self.free_id().ok_or(Error::TooManyChannels)?,
        };
        let mut ch = Channel::new(config, false);
        if ch.config.negotiated.is_none() {
            let open = Dcep::Open(ch.config.open_message()).to_vec();
            self.assoc
                .send(now, id, dcep::PPID_DCEP, open, SendOptions::default())?;
            ch.awaiting_ack = true;
        }
        self.channels.insert(id, ch);
        if self.assoc.is_established() {
            self.opened(id, false);
        }
        Ok(id)
    }

    /// The lowest free id of our parity, searching on from the last one handed out.
    fn free_id(&mut self) -> Option<ChannelId> {
        let (out, inn) = self.assoc.streams();
        let limit = if self.assoc.is_established() {
            u32::from(out.min(inn))
        } else {
            u32::from(u16::MAX)
        };
        let parity = match self.role {
            Role::Client => 0,
            Role::Server => 1,
        };
        let count = limit / 2 + 1;
        let start = u32::from(self.next_id) & !1;
        (0..count)
            .map(|k| ((start + 2 * k) % (limit.max(2) & !1)) | parity)
            .filter(|&id| id < limit)
            .map(|id| id as u16)
            .find(|id| !self.channels.contains_key(id))
            .inspect(|&id| self.next_id = id.wrapping_add(2))
    }

    /// Sends a text message (PPID 51; empty ones as 56).
    pub fn send_text(&mut self, now: Instant, id: ChannelId, text: &str) -> Result<(), Error> {
        self.send(now, id, Bytes::copy_from_slice(text.as_bytes()), false)
    }

    /// Sends a message: `binary` picks PPID 53 (or 57 when empty) over 51 (56).
    ///
    /// A message larger than the peer's maximum message size is
    /// [`sctp::Error::MessageTooLarge`].
    pub fn send(
        &mut self,
        now: Instant,
        id: ChannelId,
        data: impl Into<Bytes>,
        binary: bool,
    ) -> Result<(), Error> {
        self.now = Some(now);
        let data = data.into();
        let ch = self.channels.get(&id).ok_or(Error::NoSuchChannel(id))?;
        if ch.state == ChannelState::Closing {
            return Err(Error::ChannelClosing(id));
        }
        // RFC 8831 §6.6: an empty message goes as one byte with the "empty" PPID.
        let (ppid, data) = match (binary, data.is_empty()) {
            (true, false) => (dcep::PPID_BINARY, data),
            (false, false) => (dcep::PPID_STRING, data),
            (true, true) => (dcep::PPID_BINARY_EMPTY, Bytes::from_static(&[0])),
            (false, true) => (dcep::PPID_STRING_EMPTY, Bytes::from_static(&[0])),
        };
        let opts = ch.send_options();
        self.assoc.send(now, id, ppid, data, opts)?;
        Ok(())
    }

    /// Bytes queued on the channel and not yet sent (RTCDataChannel.bufferedAmount).
    pub fn buffered_amount(&self, id: ChannelId) -> usize {
        self.assoc.buffered_amount(id)
    }

    /// Sets the threshold for [`Event::BufferedAmountLow`].
    pub fn set_buffered_amount_low_threshold(&mut self, id: ChannelId, bytes: usize) {
        if self.channels.contains_key(&id) {
            self.assoc.set_buffered_amount_low_threshold(id, bytes);
        }
    }

    /// Closes a channel (RFC 8831 §6.7): queued messages go, then both directions of its
    /// stream are reset, then [`Event::ChannelClosed`] fires and the id is free again.
    pub fn close(&mut self, id: ChannelId) {
        if let Some(ch) = self.channels.get_mut(&id) {
            ch.state = ChannelState::Closing;
            if !ch.reset_requested {
                ch.reset_requested = true;
                self.assoc.reset_stream(id);
            }
        }
    }

    /// Starts a graceful shutdown of the association and every channel.
    pub fn shutdown(&mut self, now: Instant) {
        self.assoc.shutdown(now);
    }

    /// Aborts the association at once (RFC 9260 §9.1): the peer gets an ABORT, everything
    /// queued is dropped, every channel closes. Does nothing once the association is over.
    pub fn abort(&mut self, now: Instant) {
        self.assoc.abort(now);
    }

    /// Handles a received SCTP packet.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.now = Some(now);
        self.assoc.handle_packet(now, packet);
    }

    /// Handles a received SCTP packet held in shared memory: messages may arrive as slices of
    /// it rather than copies (see [`sctp::Association::handle_packet_bytes`]).
    pub fn handle_packet_bytes(&mut self, now: Instant, packet: &Bytes) {
        self.now = Some(now);
        self.assoc.handle_packet_bytes(now, packet);
    }

    /// Writes the next SCTP packet to send.
    pub fn poll_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.now = Some(now);
        let packet = self.assoc.poll_packet(now, buf);
        if packet.is_none() {
            self.output_due = false;
        }
        packet
    }

    /// Acts on deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        self.assoc.handle_timeout(now);
    }

    /// When `handle_timeout` must next be called: at once while an answer queued by
    /// [`poll_event`](Self::poll_event) waits to be sent.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let due = self.now.filter(|_| self.output_due);
        match (self.assoc.poll_timeout(), due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether [`poll_event`](Self::poll_event) may have an event to hand out (one of its
    /// own or one of the association's).
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty() || self.assoc.has_events()
    }

    /// The next event.
    ///
    /// Association events are taken one at a time, as the application asks: a message stays
    /// in the association, counted against its receive window, until it is returned here, so
    /// a peer that sends faster than the application reads is flow-controlled. DCEP and
    /// stream resets are answered here too (the driving contract has the driver poll events
    /// after every call; a packet to send may follow).
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            let e = self.assoc.poll_event()?;
            self.output_due = true;
            self.on_sctp_event(e);
        }
    }

    fn on_sctp_event(&mut self, e: sctp::Event) {
        match e {
            sctp::Event::Connected => {
                self.events.push_back(Event::Connected);
                let ids: Vec<_> = self.channels.keys().copied().collect();
                for id in ids {
                    self.opened(id, false);
                }
            }
            sctp::Event::Message(m) => self.on_message(m),
            sctp::Event::BufferedAmountLow(id) => {
                if self.channels.contains_key(&id) {
                    self.events.push_back(Event::BufferedAmountLow(id));
                }
            }
            sctp::Event::IncomingStreamsReset(ids) => {
                for id in ids {
                    if let Some(ch) = self.channels.get_mut(&id) {
                        ch.in_reset = true;
                    }
                    // The peer closed: close our side too (RFC 8831 §6.7).
                    self.close(id);
                    self.maybe_closed(id);
                }
            }
            sctp::Event::OutgoingStreamsReset(ids)
            | sctp::Event::OutgoingStreamsResetFailed(ids) => {
                for id in ids {
                    if let Some(ch) = self.channels.get_mut(&id) {
                        ch.out_reset = true;
                    }
                    self.maybe_closed(id);
                }
            }
            sctp::Event::PeerError(e) => self.events.push_back(Event::PeerError(e)),
            sctp::Event::Closed(reason) => {
                for id in std::mem::take(&mut self.channels).into_keys() {
                    self.events.push_back(Event::ChannelClosed(id));
                }
                self.events.push_back(Event::Closed(reason));
            }
        }
    }

    fn opened(&mut self, id: ChannelId, remote: bool) {
        if let Some(ch) = self.channels.get_mut(&id)
            && ch.state == ChannelState::Connecting
        {
            ch.state = ChannelState::Open;
            self.events.push_back(Event::ChannelOpen { id, remote });
        }
    }

    fn maybe_closed(&mut self, id: ChannelId) {
        if self
            .channels
            .get(&id)
            .is_some_and(|c| c.in_reset && c.out_reset)
        {
            self.channels.remove(&id);
            self.events.push_back(Event::ChannelClosed(id));
        }
    }

    fn on_message(&mut self, m: sctp::Message) {
        let id = m.stream;
        let (binary, data) = match m.ppid {
            dcep::PPID_DCEP => return self.on_dcep(id, &m.data),
            dcep::PPID_STRING | dcep::PPID_STRING_PARTIAL => (false, m.data),
            dcep::PPID_STRING_EMPTY => (false, Bytes::new()),
            dcep::PPID_BINARY_EMPTY => (true, Bytes::new()),
            _ => (true, m.data),
        };
        if self
            .channels
            .get(&id)
            .is_some_and(|c| c.state == ChannelState::Open)
        {
            self.events.push_back(Event::Message { id, data, binary });
        }
    }

    fn on_dcep(&mut self, id: ChannelId, bytes: &[u8]) {
        match Dcep::parse(bytes) {
            Ok(Dcep::Ack) => {
                if let Some(ch) = self.channels.get_mut(&id) {
                    ch.awaiting_ack = false;
                }
            }
            Ok(Dcep::Open(o)) => {
                let Some(now) = self.now else {
                    return;
                };
                let refuse = if self.channels.contains_key(&id) {
                    Some(OpenRefusal::IdInUse)
                } else if self.channels.len() >= self.max_channels {
                    Some(OpenRefusal::TooManyChannels)
                } else if o.label.len() + o.protocol.len() > self.max_label_bytes {
                    Some(OpenRefusal::LabelTooLong)
                } else {
                    None
                };
                if let Some(why) = refuse {
                    self.refused += 1;
                    self.last_refusal = Some((id, why));
                    // RFC 8832 §6: a stream we cannot take is reset rather than left hanging.
                    if !self.channels.contains_key(&id) {
                        self.assoc.reset_stream(id);
                    }
                    return;
                }
                let ack = Dcep::Ack.to_vec();
                if self
                    .assoc
                    .send(now, id, dcep::PPID_DCEP, ack, SendOptions::default())
                    .is_err()
                {
                    return;
                }
                let config = ChannelConfig::from_open(&o);
                self.channels.insert(id, Channel::new(config, false));
                self.opened(id, true);
            }
            Err(_) => {
                self.refused += 1;
                self.last_refusal = Some((id, OpenRefusal::Malformed));
            }
        }
    }
}

impl crate::PacketProtocol for DataChannels {
    type Event = Event;
    fn handle_datagram(&mut self, now: Instant, packet: &[u8]) {
        DataChannels::handle_packet(self, now, packet);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        DataChannels::poll_packet(self, now, buf)
    }
    fn handle_timeout(&mut self, now: Instant) {
        DataChannels::handle_timeout(self, now);
    }
    fn poll_event(&mut self) -> Option<Event> {
        DataChannels::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        DataChannels::poll_timeout(self)
    }
}
