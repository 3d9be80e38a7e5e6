//! The association: its state, the public API, and the dispatch of received chunks.

use super::chunk::{Chunk, Data};
use super::congestion::Congestion;
use super::cookie::{Caps, CookieKey};
use super::inflight::Inflight;
use super::packet::{self, Packet};
use super::param::StreamList;
use super::peer_error::PeerError;
use super::reassembly::{self, Reassembly};
use super::reconfig::Reconfig;
use super::recv::RecvTsns;
use super::rto::Rto;
use super::send_queue::{ResetState, SendQueue};
use super::timer::{Timer, Timers};
use super::{Config, Error, Message, SendOptions};
use crate::Rng;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Instant;

/// Where the association is in its life (RFC 9260 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started: `connect` sends an INIT, and an INIT from the peer is answered.
    Closed,
    /// INIT sent.
    CookieWait,
    /// COOKIE ECHO sent.
    CookieEchoed,
    /// Up.
    Established,
    /// `shutdown` called; waiting for outstanding data to be acknowledged.
    ShutdownPending,
    /// SHUTDOWN sent.
    ShutdownSent,
    /// SHUTDOWN received; finishing our outstanding data.
    ShutdownReceived,
    /// SHUTDOWN ACK sent.
    ShutdownAckSent,
    /// Over for good; see the [`Event::Closed`] reason.
    Terminated,
}

/// Why an association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The graceful SHUTDOWN sequence completed.
    Shutdown,
    /// We aborted (`abort`).
    Aborted,
    /// The peer sent ABORT; the first error cause code, if any.
    AbortedByPeer(Option<u16>),
    /// Too many consecutive retransmission timeouts: the peer is unreachable.
    PeerUnreachable,
    /// The handshake never completed.
    HandshakeFailed,
    /// The peer restarted the association (RFC 9260 §5.2.4 case A); start a new one.
    PeerRestarted,
    /// We aborted because the peer broke the protocol (for example a SACK acknowledging
    /// TSNs we never sent, or DATA without user data); the error cause code we sent.
    ProtocolViolation(u16),
    /// We aborted because the association stopped moving: the peer kept retransmitting data
    /// we had acknowledged, so it does not hear our SACKs or disagrees on the TSNs.
    Stalled,
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed.
    Connected,
    /// A whole message arrived.
    Message(Message),
    /// The stream's buffered amount fell to or below its threshold.
    BufferedAmountLow(u16),
    /// The peer reset these of its outgoing streams, our incoming ones (RFC 6525).
    IncomingStreamsReset(StreamList),
    /// Our reset of these outgoing streams completed; their ids can be used again.
    OutgoingStreamsReset(StreamList),
    /// The peer refused to reset these streams.
    OutgoingStreamsResetFailed(StreamList),
    /// The peer sent an ERROR chunk (RFC 9260 §3.3.10): one event per cause. Non-fatal: the
    /// association goes on (a Stale Cookie during setup restarts the handshake). At most 16
    /// wait unread; all are counted in [`Stats::errors_received`].
    PeerError(PeerError),
    /// The association ended.
    Closed(CloseReason),
}

/// Counters for tests, benchmarks and debugging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets handed to `handle_packet`.
    pub packets_received: u64,
    /// Packets returned by `poll_packet`.
    pub packets_sent: u64,
    /// Received packets dropped: malformed, bad checksum, wrong ports or tag.
    pub packets_dropped: u64,
    /// DATA chunks sent for the first time.
    pub data_chunks_sent: u64,
    /// DATA chunks retransmitted.
    pub retransmissions: u64,
    /// Fast-recovery episodes started.
    pub fast_recoveries: u64,
    /// T3-rtx expiries.
    pub timeouts: u64,
    /// Received DATA dropped for lack of buffer space.
    pub data_dropped: u64,
    /// Duplicate DATA chunks received.
    pub duplicates_received: u64,
    /// FORWARD-TSN chunks sent.
    pub forward_tsns_sent: u64,
    /// FORWARD-TSN chunks refused because they skipped further ahead than any DATA we
    /// would accept.
    pub forward_tsns_refused: u64,
    /// Error causes received in ERROR chunks (RFC 9260 §3.3.10).
    pub errors_received: u64,
}

/// Memory the association holds right now, in bytes (payload plus bookkeeping estimates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Accepted by `send`, not yet given a TSN.
    pub queued: usize,
    /// Chunks sent and not yet acknowledged cumulatively.
    pub inflight_chunks: usize,
    /// Their payload bytes, kept for retransmission.
    pub inflight_bytes: usize,
    /// Held for reassembly and ordering.
    pub reassembly: usize,
    /// Delivered as events the application has not polled yet.
    pub undelivered: usize,
    /// Streams with send-side state.
    pub send_streams: usize,
    /// Streams with receive-side ordering state.
    pub receive_streams: usize,
}

#[derive(Debug, Default)]
pub(super) struct AckState {
    /// Something was received that a SACK has not yet covered.
    pub pending: bool,
    /// Send the SACK in the next packet.
    pub immediate: bool,
    /// Packets with DATA since the last SACK.
    pub packets: u32,
    pub last_rwnd: usize,
    /// The packet being handled carried DATA with a new TSN.
    pub new_in_packet: bool,
    /// The packet being handled carried DATA we already had.
    pub duplicate_in_packet: bool,
    /// Packets in a row whose DATA was all duplicates (see `check_stall`).
    pub duplicate_run: u32,
    /// When the current run of duplicate-only packets started.
    pub duplicate_run_since: Option<std::time::Instant>,
}

/// An SCTP association (RFC 9260) for one peer, sans-IO.
///
/// See the [module documentation](super) for the driving contract.
#[derive(Debug)]
pub struct Association {
    pub(super) cfg: Config,
    pub(super) rng: Rng,
    pub(super) key: CookieKey,
    pub(super) epoch: Option<Instant>,
    pub(super) state: State,
    pub(super) local_tag: u32,
    pub(super) peer_tag: u32,
    pub(super) local_tsn: u32,
    pub(super) caps: Caps,
    pub(super) out_streams: u16,
    pub(super) in_streams: u16,
    pub(super) timers: Timers,
    pub(super) rto: Rto,
    pub(super) cc: Congestion,
    pub(super) peer_rwnd: usize,
    pub(super) queue: SendQueue,
    pub(super) inflight: Inflight,
    pub(super) recv: RecvTsns,
    pub(super) reasm: Reassembly,
    pub(super) events: VecDeque<Event>,
    pub(super) delivered: VecDeque<Message>,
    pub(super) undelivered: usize,
    /// Whole packets encoded ahead (handshake, ABORT, OOTB replies).
    pub(super) out_packets: VecDeque<Vec<u8>>,
    pub(super) ack: AckState,
    pub(super) reconfig: Reconfig,
    pub(super) echo_cookie: Vec<u8>,
    pub(super) errors: u32,
    pub(super) init_tries: u32,
    pub(super) fwd_due: bool,
    pub(super) fwd_sent_at: Option<Instant>,
    pub(super) fast_rtx_burst: bool,
    pub(super) shutdown_due: bool,
    pub(super) shutdown_ack_due: bool,
    pub(super) heartbeat_due: bool,
    pub(super) heartbeat_outstanding: Option<(u64, Instant)>,
    pub(super) heartbeat_acks: Vec<Vec<u8>>,
    pub(super) error_chunks: Vec<Vec<u8>>,
    /// `Event::PeerError`s queued and not yet polled.
    pub(super) unread_errors: usize,
    pub(super) last_data_sent: Option<Instant>,
    pub(super) scratch: Vec<u8>,
    pub(super) stats: Stats,
}

impl Association {
    /// A new association in state [`State::Closed`]. Call [`connect`](Self::connect) to start
    /// the handshake, or let the peer's INIT start it (WebRTC has both sides connect).
    pub fn new(cfg: Config) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        // RFC 9260 §5.3.1: tags are random and never zero.
        let local_tag = rng.u32().max(1);
        let local_tsn = rng.u32();
        let rto = Rto::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max);
        let cc = Congestion::new(cfg.mtu, cfg.initial_cwnd_mtus);
        Self {
            key: CookieKey::new(&secret),
            rng,
            epoch: None,
            state: State::Closed,
            local_tag,
            peer_tag: 0,
            local_tsn,
            caps: Caps::default(),
            out_streams: 0,
            in_streams: 0,
            timers: Timers::default(),
            rto,
            cc,
            peer_rwnd: 0,
            queue: SendQueue::default(),
            inflight: Inflight::new(local_tsn, false),
            recv: RecvTsns::new(0),
            reasm: Reassembly::new(false),
            events: VecDeque::new(),
            delivered: VecDeque::new(),
            undelivered: 0,
            out_packets: VecDeque::new(),
            ack: AckState::default(),
            reconfig: Reconfig::new(local_tsn, 0),
            echo_cookie: Vec::new(),
            errors: 0,
            init_tries: 0,
            fwd_due: false,
            fwd_sent_at: None,
            fast_rtx_burst: false,
            shutdown_due: false,
            shutdown_ack_due: false,
            heartbeat_due: false,
            heartbeat_outstanding: None,
            heartbeat_acks: Vec::new(),
            error_chunks: Vec::new(),
            unread_errors: 0,
            last_data_sent: None,
            scratch: Vec::new(),
            stats: Stats::default(),
            cfg,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether messages can flow (the handshake completed and no shutdown began).
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// What the association holds in memory right now.
    pub fn memory(&self) -> Memory {
        Memory {
            queued: self.queue.queued(),
            inflight_chunks: self.inflight.len(),
            inflight_bytes: self.inflight.retained(),
            reassembly: self.reasm.bytes(),
            undelivered: self.undelivered,
            send_streams: self.queue.stream_count(),
            receive_streams: self.reasm.stream_count(),
        }
    }

    /// Negotiated outbound and inbound stream counts (0 before the handshake).
    pub fn streams(&self) -> (u16, u16) {
        (self.out_streams, self.in_streams)
    }

    /// Whether I-DATA (RFC 8260) is in use.
    pub fn interleaving(&self) -> bool {
        self.caps.interleaving
    }

    /// Whether we send zero checksums (RFC 9653: both sides accepted them).
    pub fn zero_checksum(&self) -> bool {
        self.caps.zero_checksum && self.cfg.zero_checksum
    }

    /// Current congestion window, bytes in flight, and smoothed RTT.
    pub fn congestion(&self) -> (usize, usize, Option<std::time::Duration>) {
        (self.cc.cwnd(), self.inflight.flight(), self.rto.srtt())
    }

    /// Bytes accepted by `send` on `stream` and not yet sent (RTCDataChannel.bufferedAmount).
    pub fn buffered_amount(&self, stream: u16) -> usize {
        self.queue.buffered(stream)
    }

    /// Bytes queued on all streams.
    pub fn buffered_total(&self) -> usize {
        self.queue.queued()
    }

    /// Sets the threshold at or below which [`Event::BufferedAmountLow`] fires for `stream`.
    pub fn set_buffered_amount_low_threshold(&mut self, stream: u16, bytes: usize) {
        self.queue.set_low_threshold(stream, bytes);
    }

    /// Queues a message. It is sent once the handshake completes if it has not yet.
    ///
    /// Fails when the message is larger than [`Config::max_message_size`], the send buffer is
    /// full, the stream is closing or beyond the negotiated count, or the association is
    /// shutting down or closed.
    pub fn send(
        &mut self,
        now: Instant,
        stream: u16,
        ppid: u32,
        data: impl Into<Bytes>,
        opts: SendOptions,
    ) -> Result<(), Error> {
        let data = data.into();
        if !matches!(
            self.state,
            State::Closed | State::CookieWait | State::CookieEchoed | State::Established
        ) {
            return Err(Error::Closed);
        }
        if data.len() > self.cfg.max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.cfg.max_message_size,
            });
        }
        let queued = self.queue.queued();
        if queued + data.len() > self.cfg.send_buffer {
            return Err(Error::SendBufferFull {
                queued,
                limit: self.cfg.send_buffer,
            });
        }
        let beyond = self.state == State::Established && stream >= self.out_streams;
        if beyond || self.queue.state(stream) != ResetState::Open {
            return Err(Error::StreamNotWritable(stream));
        }
        self.epoch.get_or_insert(now);
        self.queue.push(now, stream, ppid, data, opts);
        Ok(())
    }

    /// Closes `stream` for sending: queued messages still go, then the stream is reset
    /// (RFC 6525) and [`Event::OutgoingStreamsReset`] reports it. RFC 8831 §6.7 closes a data
    /// channel this way from both sides.
    pub fn reset_stream(&mut self, stream: u16) {
        self.queue.close(stream);
    }

    /// Whether [`poll_event`](Self::poll_event) has an event to hand out.
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front()?;
        match &e {
            Event::Message(m) => {
                self.undelivered -= reassembly::OVERHEAD + m.data.len();
                self.maybe_window_update();
            }
            Event::PeerError(_) => self.unread_errors -= 1,
            _ => {}
        }
        Some(e)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Handles one received SCTP packet. Malformed packets are counted and dropped.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) {
        self.handle_packet_in(now, bytes, None);
    }

    /// Handles one received SCTP packet held in shared memory: a message that arrives in one
    /// chunk is handed on as a slice of `packet`, and a fragment held out of order keeps its
    /// slice too, rather than a copy. Otherwise as [`handle_packet`](Self::handle_packet).
    pub fn handle_packet_bytes(&mut self, now: Instant, packet: &Bytes) {
        self.handle_packet_in(now, packet, Some(packet));
    }

    /// `bytes` is the packet; `owner`, when given, is a buffer that contains it, from which
    /// payloads may be kept as slices (see [`Reassembly::insert`]).
    pub(crate) fn handle_packet_in(&mut self, now: Instant, bytes: &[u8], owner: Option<&Bytes>) {
        self.epoch.get_or_insert(now);
        self.stats.packets_received += 1;
        let Ok(pkt) = Packet::parse(bytes) else {
            self.stats.packets_dropped += 1;
            return;
        };
        // RFC 9653 §5.3: with the feature on, a zero checksum is accepted as is.
        let zero_ok = self.cfg.zero_checksum && pkt.checksum == 0;
        let ports_ok = pkt.header.dst_port == self.cfg.local_port
            && pkt.header.src_port == self.cfg.remote_port;
        if !ports_ok || !(zero_ok || packet::checksum_ok(bytes, &mut self.scratch)) {
            self.stats.packets_dropped += 1;
            return;
        }
        let vtag = pkt.header.vtag;
        let mut data_seen = false;
        for (i, chunk) in pkt.chunks().enumerate() {
            let Ok(chunk) = chunk else {
                self.stats.packets_dropped += 1;
                break;
            };
            if self.state == State::Terminated {
                break;
            }
            if !self.tag_ok(&chunk, vtag) {
                if i == 0 {
                    self.stats.packets_dropped += 1;
                }
                break;
            }
            match chunk {
                Chunk::Init(init) => {
                    // RFC 9260 §6.10: INIT is never bundled.
                    if i == 0 {
                        self.on_init(now, &init);
                    }
                    break;
                }
                Chunk::InitAck(init) => self.on_init_ack(now, &init),
                Chunk::CookieEcho(c) => self.on_cookie_echo(now, c, vtag),
                Chunk::CookieAck => self.on_cookie_ack(now),
                Chunk::Data(d) => data_seen |= self.on_data(now, &d, false, owner),
                Chunk::IData(d) => data_seen |= self.on_data(now, &d, true, owner),
                Chunk::Sack(s) => self.on_sack(now, &s),
                Chunk::ForwardTsn(f) => self.on_forward_tsn(now, &f, false),
                Chunk::IForwardTsn(f) => self.on_forward_tsn(now, &f, true),
                Chunk::Reconfig(params) => self.on_reconfig(now, params),
                Chunk::Heartbeat(info) => self.on_heartbeat(info),
                Chunk::HeartbeatAck(info) => self.on_heartbeat_ack(now, info),
                Chunk::Abort { causes, .. } => self.on_abort(causes),
                Chunk::Shutdown { cum_tsn } => self.on_shutdown(now, cum_tsn),
                Chunk::ShutdownAck => self.on_shutdown_ack(),
                Chunk::ShutdownComplete { .. } => self.on_shutdown_complete(),
                Chunk::Error(causes) => self.on_error_chunk(now, causes),
                Chunk::Unknown { kind, value, flags } => {
                    if !self.on_unknown_chunk(kind, flags, value) {
                        break;
                    }
                }
            }
        }
        if data_seen {
            self.after_data_packet(now);
        }
    }

    /// RFC 9260 §8.5 and §8.5.1: which verification tag each chunk must carry.
    fn tag_ok(&self, chunk: &Chunk<'_>, vtag: u32) -> bool {
        match chunk {
            Chunk::Init(_) => vtag == 0,
            // Checked against the tag inside the cookie.
            Chunk::CookieEcho(_) => true,
            Chunk::Abort { reflected, .. } | Chunk::ShutdownComplete { reflected } => {
                if *reflected {
                    self.peer_tag != 0 && vtag == self.peer_tag
                } else {
                    vtag == self.local_tag
                }
            }
            // §8.5.1 (E): a SHUTDOWN ACK for an association we do not know is answered below.
            _ => vtag == self.local_tag,
        }
    }

    /// RFC 9260 §3.2: the two high bits of an unknown type say whether to go on and whether
    /// to report it. Returns whether to go on with the packet.
    fn on_unknown_chunk(&mut self, kind: u8, flags: u8, value: &[u8]) -> bool {
        if kind & 0x40 != 0 && self.error_chunks.len() < 4 {
            let chunk = Chunk::Unknown { kind, flags, value };
            let mut cause = vec![0u8; chunk.encoded_len().min(1024)];
            let mut w = crate::wire::Writer::new(&mut cause);
            if chunk.write(&mut w).is_ok() {
                let info = w.written().to_vec();
                self.queue_error(super::chunk::cause::UNRECOGNIZED_CHUNK, &info);
            }
        }
        kind & 0x80 != 0
    }

    pub(super) fn queue_error(&mut self, code: u16, info: &[u8]) {
        let c = super::chunk::Cause { code, info };
        let mut buf = vec![0u8; c.encoded_len()];
        if c.write(&mut crate::wire::Writer::new(&mut buf)).is_ok() {
            self.error_chunks.push(buf);
        }
    }

    /// Acts on every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.epoch.get_or_insert(now);
        while let Some(t) = self.timers.pop_expired(now) {
            match t {
                Timer::Init | Timer::Cookie => self.on_handshake_timeout(now, t),
                Timer::Rtx => self.on_rtx_timeout(now),
                Timer::DelayedAck => {
                    if self.ack.pending {
                        self.ack.immediate = true;
                    }
                }
                Timer::Heartbeat => self.on_heartbeat_timer(now),
                Timer::Reconfig => self.on_reconfig_timeout(now),
                Timer::Shutdown => self.on_shutdown_timeout(now),
                Timer::ShutdownGuard => self.terminate(CloseReason::PeerUnreachable),
                Timer::Loss => self.on_loss_timer(now),
                Timer::Expiry => {
                    if let Some(next) = self.inflight.abandon_expired(now) {
                        self.timers.set(Timer::Expiry, next);
                    }
                    if self.inflight.abandoned_any {
                        self.fwd_due = true;
                    }
                }
            }
        }
    }

    /// Counts a consecutive error; past the limit the peer is unreachable (RFC 9260 §8.1).
    pub(super) fn count_error(&mut self) -> bool {
        self.errors += 1;
        if self.errors > self.cfg.max_retransmits {
            self.terminate(CloseReason::PeerUnreachable);
            return true;
        }
        false
    }

    /// Ends the association for good and frees everything it held.
    pub(super) fn terminate(&mut self, reason: CloseReason) {
        if self.state == State::Terminated {
            return;
        }
        self.state = State::Terminated;
        self.timers.stop_all();
        self.queue = SendQueue::default();
        self.inflight = Inflight::new(0, false);
        self.reasm = Reassembly::new(false);
        self.reconfig = Reconfig::new(0, 0);
        self.heartbeat_acks.clear();
        self.error_chunks.clear();
        self.events.push_back(Event::Closed(reason));
    }

    /// Our verification tag and the peer's cumulative TSN, for the fuzz harnesses.
    #[cfg(fuzzing)]
    pub(crate) fn fuzzing_tags(&self) -> (u32, u32) {
        (self.local_tag, self.recv.cum_tsn())
    }

    /// Rewrites the reason of the `Closed` event `terminate` just queued.
    pub(super) fn replace_close_reason(&mut self, reason: CloseReason) {
        if let Some(Event::Closed(r)) = self.events.back_mut() {
            *r = reason;
        }
    }

    /// Moves messages the reassembly finished into the event queue.
    pub(super) fn flush_delivered(&mut self) {
        while let Some(m) = self.delivered.pop_front() {
            self.undelivered += reassembly::OVERHEAD + m.data.len();
            self.events.push_back(Event::Message(m));
        }
    }

    /// The receive window we can advertise now.
    pub(super) fn a_rwnd(&self) -> usize {
        let held = self.reasm.bytes() + self.undelivered;
        self.cfg.receive_window.saturating_sub(held)
    }

    /// After the application drained messages: tell the peer the window reopened if it had
    /// closed far enough to slow it (RFC 9260 §6.2 window updates).
    fn maybe_window_update(&mut self) {
        let now_rwnd = self.a_rwnd();
        let w = self.cfg.receive_window;
        if self.ack.last_rwnd < w / 2 && now_rwnd >= self.ack.last_rwnd + w / 4 {
            self.ack.pending = true;
            self.ack.immediate = true;
        }
    }

    /// Whether a chunk of `d` with this payload can be held.
    pub(super) fn room_for(&self, tsn: u64, len: usize) -> bool {
        let held = self.reasm.bytes() + self.undelivered;
        let need = held + reassembly::OVERHEAD + len;
        if need <= self.cfg.receive_window {
            return true;
        }
        // RFC 9260 §6.2: with the window full, data that fills a hole may still be taken
        // (it lets held data go), within a hard cap.
        tsn <= self.recv.highest() && need <= self.cfg.receive_window.saturating_mul(2)
    }

    pub(super) fn now_ms(&self, now: Instant) -> u64 {
        self.epoch
            .map_or(0, |e| now.saturating_duration_since(e).as_millis() as u64)
    }

    pub(super) fn data_chunk<'a>(
        &self,
        tsn: u64,
        payload: &'a [u8],
        f: &super::send_queue::Fragment,
    ) -> Chunk<'a> {
        let d = Data {
            tsn: tsn as u32,
            stream: f.stream,
            ssn_or_mid: f.seq,
            ppid: f.ppid,
            fsn: f.fsn,
            unordered: f.unordered,
            begin: f.begin,
            end: f.end,
            immediate: false,
            payload,
        };
        if self.caps.interleaving {
            Chunk::IData(d)
        } else {
            Chunk::Data(d)
        }
    }
}
