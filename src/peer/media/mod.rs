//! Transceivers and the RTP level of a [`PeerConnection`]: JSEP's transceiver model
//! (RFC 8829 §3.4.1, §5.10; W3C `RTCRtpTransceiver`), the SSRC/MID/PT routing table, SRTP
//! (RFC 3711, RFC 7714) keyed from DTLS (RFC 5764), and RTCP routing (RFC 3550, RFC 4585,
//! RFC 5104).
//!
//! The application adds tracks or transceivers, negotiates, and then works at the RTP level:
//! received packets come out as [`PeerEvent::Rtp`](super::PeerEvent) (plaintext, RTX already
//! unwrapped into the original stream), a [`PeerEvent::Track`](super::PeerEvent) announces each
//! new incoming source, and [`write_rtp`](PeerConnection::write_rtp) sends a packet on a
//! transceiver with its SSRC, the negotiated payload type and our header extensions. An SFU
//! forwards a received packet with [`write_rtp_bytes`](PeerConnection::write_rtp_bytes)
//! instead: the same rewrite, with the payload kept by reference rather than copied into each
//! subscriber's queue and RTX history.
//!
//! ```
//! # use kaon::peer::{PeerConfig, PeerConnection, TrackKind, LocalTrack};
//! # let now = std::time::Instant::now();
//! let mut pc = PeerConnection::new(PeerConfig::with_seed(1))?;
//! let video = pc.add_track(now, TrackKind::Video, LocalTrack::new("cam", &["stream"]))?;
//! let offer = pc.create_offer(now)?;
//! assert!(offer.to_string().contains("m=video 9 UDP/TLS/RTP/SAVPF 96 97"));
//! // ... once negotiated and connected:
//! // pc.write_rtp(now, mid, &rtp_packet)?; while let Some(PeerEvent::Rtp { .. }) = pc.poll_event() {}
//! # let _ = video;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bwe;
mod negotiate;
mod recv;
mod rtp;
mod sample;
pub mod stats;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::BytesMut;
use smallvec::SmallVec;

use super::jsep::{Codec, MediaEngine, Mid, Negotiated, TrackKind};
use super::{Error, PeerConnection, PeerEvent};
pub use crate::media::stream::KeyframeKind;
use crate::media::stream::{RxStats, StreamRx, StreamTx, TxStats};
use crate::sdp::Direction;

pub(crate) use negotiate::PendingAssociation;
pub(crate) use negotiate::sections_of as negotiate_sections_of;
pub use sample::{SAMPLE_PACKET_SIZE, Writer};
pub use stats::{
    CodecStats, InboundRtpStats, OutboundRtpStats, RemoteInboundRtpStats, RemoteOutboundRtpStats,
    RtpStats,
};

/// A transceiver's index in the connection, stable for its life (W3C transceivers are never
/// removed from `getTransceivers()` until the connection closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransceiverId(pub u32);

/// What we send on a transceiver: the W3C `MediaStreamTrack` id and the stream ids its
/// `a=msid` carries (RFC 8830).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalTrack {
    /// The track id.
    pub id: String,
    /// The media stream ids (empty: `-`, no stream).
    pub stream_ids: Vec<String>,
}

impl LocalTrack {
    /// A track with an id and its streams.
    pub fn new(id: &str, stream_ids: &[&str]) -> Self {
        Self {
            id: id.to_string(),
            stream_ids: stream_ids.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// How a transceiver starts (W3C `RTCRtpTransceiverInit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransceiverInit {
    /// The direction we want (default `sendrecv`).
    pub direction: Direction,
    /// The track to send, if any.
    pub track: Option<LocalTrack>,
}

impl Default for TransceiverInit {
    fn default() -> Self {
        Self {
            direction: Direction::SendRecv,
            track: None,
        }
    }
}

/// A new incoming source on a transceiver (W3C `track` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackEvent {
    /// The transceiver.
    pub transceiver: TransceiverId,
    /// Its mid.
    pub mid: Mid,
    /// Audio or video.
    pub kind: TrackKind,
    /// The source's SSRC.
    pub ssrc: u32,
    /// Its RTP stream id, for a simulcast layer (RFC 8852).
    pub rid: Option<String>,
    /// The peer's stream ids for it (`a=msid`).
    pub stream_ids: Vec<String>,
    /// The peer's track id.
    pub track_id: String,
    /// The codec of its first packet.
    pub codec: Codec,
}

/// At most this many transceivers per connection.
pub const MAX_TRANSCEIVERS: usize = 64;
/// At most this many incoming sources per transceiver (simulcast layers and restarts).
const MAX_RECEIVERS: usize = 8;
/// Outgoing RTP and RTCP packets held until `poll_transmit`; past this `write_rtp` says
/// [`Error::MediaQueueFull`].
pub const MEDIA_QUEUE: usize = 1024;

/// One incoming source and its receive state machine (loss, jitter, NACK, RR, PLI/FIR).
#[derive(Debug)]
pub(crate) struct Receiver {
    pub rid: Option<String>,
    pub rx: StreamRx,
}

impl Receiver {
    pub fn ssrc(&self) -> u32 {
        self.rx.ssrc()
    }
}

/// A transceiver (W3C `RTCRtpTransceiver`): one m-line's sender and receiver.
#[derive(Debug)]
// Declared in this order (`repr(C)`): what every packet sent reads (SSRCs, mid, kind,
// direction, the send template) in the first lines of the 2.6 KiB struct.
#[repr(C)]
pub struct Transceiver {
    pub(crate) ssrc: u32,
    pub(crate) rtx_ssrc: u32,
    pub(crate) mid: Option<Mid>,
    pub(crate) kind: TrackKind,
    pub(crate) stopped: bool,
    pub(crate) direction: Direction,
    pub(crate) current_direction: Option<Direction>,
    /// Made by `add_track`: may take a remote offer's section (RFC 8829 §5.10).
    pub(crate) from_track: bool,
    /// Our header extensions for `write_rtp`, serialised with the first packet sent after
    /// each negotiation.
    pub(crate) template: Option<rtp::SendTemplate>,
    pub(crate) negotiated: Option<Negotiated>,
    /// The send state machine (RTX history, SR, NACK/PLI/FIR handling), made by the first
    /// packet sent.
    pub(crate) tx: Option<StreamTx>,
    pub(crate) track: Option<LocalTrack>,
    pub(crate) receivers: SmallVec<[Receiver; 1]>,
    /// Frames in and out (`write_sample`, `PeerEvent::Sample`).
    pub(crate) frames: sample::Frames,
}

impl Transceiver {
    /// Audio or video.
    pub fn kind(&self) -> TrackKind {
        self.kind
    }

    /// Its mid, once an offer or answer gave it one.
    pub fn mid(&self) -> Option<Mid> {
        self.mid
    }

    /// The direction we want.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The direction the last completed exchange settled on (W3C `currentDirection`).
    pub fn current_direction(&self) -> Option<Direction> {
        self.current_direction
    }

    /// Whether it was stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The track we send, if any.
    pub fn track(&self) -> Option<&LocalTrack> {
        self.track.as_ref()
    }

    /// Our SSRC on it (and our RTX SSRC, for video with RTX).
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The codecs both sides speak, in the answer's order (empty before negotiation).
    pub fn codecs(&self) -> impl Iterator<Item = &super::jsep::NegotiatedCodec> {
        self.negotiated.iter().flat_map(|n| n.codecs.iter())
    }

    /// The incoming sources seen so far, as SSRCs.
    pub fn remote_ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.receivers.iter().map(|r| r.ssrc())
    }

    /// The send side's counters (W3C outbound-rtp and remote-inbound-rtp), once it sent.
    pub fn sender_stats(&self) -> Option<TxStats> {
        self.tx.as_ref().map(StreamTx::stats)
    }

    /// Each incoming source's counters (W3C inbound-rtp and remote-outbound-rtp).
    pub fn receiver_stats(&self) -> impl Iterator<Item = (u32, RxStats)> + '_ {
        self.receivers.iter().map(|r| (r.ssrc(), r.rx.stats()))
    }

    fn sending(&self) -> bool {
        !self.stopped
            && self.negotiated.is_some()
            && self
                .current_direction
                .is_some_and(super::jsep::media::sends)
    }
}

/// Where an incoming SSRC goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub transceiver: usize,
    /// The primary SSRC it repairs, for an RTX source.
    pub repairs: Option<u32>,
    /// Where the SRTP receive context kept this SSRC last time (a hint it checks), so one
    /// lookup here serves both.
    pub srtp_slot: usize,
}

/// The routes of incoming SSRCs, with the last one looked up kept beside the map: media
/// comes in runs of one source, and its packets then find their route without hashing.
///
/// The kept copy is the route, except that its `srtp_slot` (a hint SRTP checks) may be
/// newer than the map's: it goes back to the map when another SSRC is looked up.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    map: HashMap<u32, Route, SsrcHash>,
    last: Option<(u32, Route)>,
}

impl Routes {
    /// The route of `ssrc`, to update its SRTP slot.
    #[inline(always)]
    pub fn get_mut(&mut self, ssrc: &u32) -> Option<&mut Route> {
        if self.last.is_some_and(|(s, _)| s == *ssrc) {
            return self.last.as_mut().map(|(_, r)| r);
        }
        self.switch(*ssrc)
    }

    /// [`get_mut`](Self::get_mut) for an SSRC other than the last: the last one's slot
    /// hint written back, this one's route kept instead.
    #[inline(never)]
    fn switch(&mut self, ssrc: u32) -> Option<&mut Route> {
        self.forget_last();
        let r = *self.map.get(&ssrc)?;
        self.last = Some((ssrc, r));
        self.last.as_mut().map(|(_, r)| r)
    }

    /// The route of `ssrc`.
    #[cfg(fuzzing)]
    pub fn get(&self, ssrc: &u32) -> Option<&Route> {
        match &self.last {
            Some((s, r)) if s == ssrc => Some(r),
            _ => self.map.get(ssrc),
        }
    }

    /// Adds or replaces the route of `ssrc`.
    pub fn insert(&mut self, ssrc: u32, route: Route) {
        self.forget_last();
        self.map.insert(ssrc, route);
    }

    /// Keeps only the routes `keep` says yes to.
    pub fn retain(&mut self, keep: impl FnMut(&u32, &mut Route) -> bool) {
        self.forget_last();
        self.map.retain(keep);
    }

    /// The kept route's slot hint back into the map, and nothing kept.
    fn forget_last(&mut self) {
        if let Some((s, r)) = self.last.take()
            && let Some(m) = self.map.get_mut(&s)
        {
            m.srtp_slot = r.srtp_slot;
        }
    }

    /// How many SSRCs have a route.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The SSRCs that have a route.
    #[cfg(fuzzing)]
    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.map.keys()
    }
}

/// An outgoing RTP packet in plaintext, and what it is to the pacer and the estimator
/// (audio, video or a retransmission).
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The packet, or, for one forwarded by reference, its header.
    pub data: Vec<u8>,
    /// The payload of a packet forwarded by reference (a slice of the packet received);
    /// empty otherwise.
    pub payload: bytes::Bytes,
    pub kind: crate::bwe::PacketKind,
    /// Where its times go, for a packet `write_rtp` made; `None` (a retransmission): found by
    /// extension id as it leaves.
    pub stamps: Option<Stamps>,
    /// For a packet kept by reference whose send stream's history waits for its payload:
    /// the transceiver, which takes the payload once it is sent.
    pub history: Option<usize>,
}

impl Outgoing {
    /// The packet's length in plaintext.
    pub fn len(&self) -> usize {
        self.data.len() + self.payload.len()
    }
}

/// The unpaced outgoing queue, first in first out, its first packet in a slot of its own. A
/// forwarder writes a packet and polls it out before it writes the next, so the queue holds
/// one packet at a time, in the slot: in and out without the ring's bookkeeping (a call each
/// way, and a ring walked through the cache as its head moves on).
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    /// The oldest packet, when `rest` was empty as it came; else `rest` holds the oldest.
    first: Option<Outgoing>,
    /// The packets after `first`.
    rest: VecDeque<Outgoing>,
}

impl OutQueue {
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub fn push_back(&mut self, o: Outgoing) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(o);
        } else {
            self.push_rest(o);
        }
    }

    /// `push_back` behind a packet already queued.
    #[inline(never)]
    fn push_rest(&mut self, o: Outgoing) {
        if self.rest.is_empty() {
            // Back to the ring's first slot: a queue that empties as fast as it fills then
            // writes one warm slot instead of walking its whole ring through the cache.
            self.rest.clear();
        }
        self.rest.push_back(o);
    }

    pub fn pop_front(&mut self) -> Option<Outgoing> {
        match self.first.take() {
            Some(o) => Some(o),
            None => self.rest.pop_front(),
        }
    }

    /// Puts `o` back first (a packet popped that must wait).
    pub fn push_front(&mut self, o: Outgoing) {
        if let Some(first) = self.first.replace(o) {
            self.rest.push_front(first);
        }
    }

    #[cfg(fuzzing)]
    pub fn iter(&self) -> impl Iterator<Item = &Outgoing> {
        self.first.iter().chain(&self.rest)
    }
}

/// Where in a packet its abs-send-time and transport-wide sequence number values are, when
/// it carries them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stamps {
    pub abs_send_time: Option<u16>,
    pub twcc: Option<u16>,
}

/// The media side of a connection, allocated when the first transceiver is: a data-only
/// connection pays one pointer for it.
#[derive(Debug)]
// `inner` first (`repr(C)`): the connection keeps it in its first lines.
#[repr(C)]
pub(crate) struct MediaSlot {
    inner: Option<Box<Media>>,
    engine: std::sync::Arc<MediaEngine>,
    seed: Option<u64>,
    epoch: Option<crate::media::stream::NtpEpoch>,
    bitrate: bwe::BitrateLimits,
}

impl MediaSlot {
    pub fn new(
        engine: std::sync::Arc<MediaEngine>,
        seed: Option<u64>,
        epoch: Option<crate::media::stream::NtpEpoch>,
        (start, min, max): (u64, u64, u64),
    ) -> Self {
        Self {
            inner: None,
            engine,
            seed,
            epoch,
            bitrate: bwe::BitrateLimits { start, min, max },
        }
    }

    pub fn get(&self) -> Option<&Media> {
        self.inner.as_deref()
    }

    pub fn get_mut(&mut self) -> Option<&mut Media> {
        self.inner.as_deref_mut()
    }

    /// The media state, made on first use.
    pub fn force(&mut self) -> &mut Media {
        let (engine, seed, epoch) = (&self.engine, self.seed, self.epoch);
        let bitrate = self.bitrate;
        self.inner.get_or_insert_with(|| {
            let mut m = Media::new(engine.clone(), seed);
            m.ntp_anchor = epoch.map(|e| (e.at, e.ntp));
            m.bwe = bwe::Bwe::new(bitrate);
            Box::new(m)
        })
    }

    pub fn engine(&self) -> &MediaEngine {
        &self.engine
    }

    pub fn transceivers(&self) -> &[Transceiver] {
        self.get().map_or(&[], |m| m.transceivers.as_slice())
    }

    pub fn by_mid(&self, mid: &str) -> Option<usize> {
        self.get()?.by_mid(mid)
    }
}

/// The media side of a connection.
/// Declared in this order (`repr(C)`) so what every packet sent reads sits together: the
/// transceivers, the spare buffers, the deadline, the clock anchor, the extension ids and the
/// queue in the first four lines, instead of scattered over the 4 KiB struct (a forwarder
/// sends each packet on many connections, and every line is a miss there).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Media {
    pub transceivers: Vec<Transceiver>,
    /// Emptied outgoing buffers, reused.
    pub spare: Vec<Vec<u8>>,
    /// When a stream next has RTCP or a retransmission to give (the earliest of theirs).
    pub due: Option<Instant>,
    /// The NTP time (RFC 3550 §4, 32.32) at `ntp_anchor`.
    pub ntp_anchor: Option<(Instant, u64)>,
    /// The abs-send-time value last stamped and the `now` it is for: a burst leaves at one
    /// `now`, and the NTP time of each packet's would be the same subtraction again.
    pub abs_send_at: Option<(Instant, [u8; 3])>,
    /// The transport-wide sequence number (transport-cc header extension).
    pub twcc_seq: u16,
    /// The extension id we write transport-wide sequence numbers with, once we did.
    pub twcc_send_id: Option<u8>,
    /// The extension id we write abs-send-time with, once we did.
    pub abs_send_id: Option<u8>,
    /// Whether SRTP is keyed and streams may run.
    pub keyed: bool,
    /// RTP waiting for `poll_transmit` when nothing paces it (no congestion control
    /// negotiated); with it, RTP waits in the pacer (`bwe`).
    pub out: OutQueue,
    pub counters: MediaCounters,
    pub srtp: Option<crate::srtp::Session>,
    /// RTCP waiting for `poll_transmit` (plaintext compound packets), ahead of all RTP.
    pub rtcp: VecDeque<Vec<u8>>,
    /// Congestion control: TWCC feedback both ways and the GCC estimate.
    pub bwe: bwe::Bwe,
    pub engine: std::sync::Arc<MediaEngine>,
    /// Incoming SSRCs, signalled or learned.
    pub routes: Routes,
    /// Received packets are decrypted here and handed out as `Bytes` sharing it.
    pub rx: BytesMut,
    /// Used receive chunks, taken back once their packets are dropped (`recv.rs`).
    pub rx_pool: Vec<BytesMut>,
    pub cname: String,
    pub rng: crate::Rng,
    /// The pending remote offer's associations, undone by a rollback.
    pub pending: Option<PendingAssociation>,
}

/// The routing table's hash: one multiply per lookup instead of SipHash, which cost more than
/// the rest of the lookup on every received packet. SSRCs are the peer's choice, but only
/// packets that authenticated reach the table and it holds at most
/// `MAX_TRANSCEIVERS * MAX_RECEIVERS * 2` entries, so colliding SSRCs slow only the
/// connection of the peer that picked them, and boundedly.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SsrcHash;

impl std::hash::BuildHasher for SsrcHash {
    type Hasher = SsrcHasher;
    fn build_hasher(&self) -> SsrcHasher {
        SsrcHasher(0)
    }
}

/// See [`SsrcHash`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SsrcHasher(u64);

impl std::hash::Hasher for SsrcHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Fibonacci hashing: the product's high half mixes every bit of the key; folding it
        // down feeds both the bucket index (low bits) and the control byte (high bits).
        let h = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Media counters, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    /// RTP packets handed to the application.
    pub rtp_received: u64,
    /// RTP packets dropped as duplicates of one already handed out.
    pub duplicates: u64,
    /// RTCP compound packets that authenticated.
    pub rtcp_received: u64,
    /// SRTP or SRTCP packets that did not authenticate or replayed.
    pub unprotect_failed: u64,
    /// RTP packets no transceiver takes (unknown SSRC, MID or payload type).
    pub unroutable: u64,
    /// RTP and RTCP that came before SRTP keys existed.
    pub before_keys: u64,
    /// RTX packets unwrapped into their original stream.
    pub rtx_received: u64,
    /// RTX padding-only packets (bandwidth probes), dropped.
    pub padding_received: u64,
    /// RTP packets sent.
    pub rtp_sent: u64,
    /// RTCP packets sent.
    pub rtcp_sent: u64,
    /// RTP and RTCP packets (first sends and retransmissions) that SRTP refused to protect
    /// (an exhausted index): dropped, and counted here so the loss is never silent.
    pub protect_failed: u64,
    /// RTP packets the pacer dropped: its queue was over its bounds (the oldest video goes
    /// first) or a packet waited past its time limit.
    pub pacer_dropped: u64,
}

impl Media {
    pub fn new(engine: std::sync::Arc<MediaEngine>, seed: Option<u64>) -> Self {
        let mut rng = crate::Rng::new(seed);
        let cname = format!("{:016x}", rng.u64());
        Self {
            engine,
            transceivers: Vec::new(),
            srtp: None,
            routes: Routes::default(),
            out: OutQueue::default(),
            rtcp: VecDeque::new(),
            spare: Vec::new(),
            rx: BytesMut::new(),
            rx_pool: Vec::new(),
            cname,
            twcc_seq: 0,
            bwe: bwe::Bwe::default(),
            twcc_send_id: None,
            abs_send_id: None,
            ntp_anchor: None,
            abs_send_at: None,
            due: None,
            keyed: false,
            rng,
            pending: None,
            counters: MediaCounters::default(),
        }
    }

    pub fn by_mid(&self, mid: &str) -> Option<usize> {
        self.transceivers
            .iter()
            // By reference: per packet written, the 33-byte `Mid` was copied out to compare.
            .position(|t| t.mid.as_ref().is_some_and(|m| *m == mid))
    }

    fn new_transceiver(
        &mut self,
        kind: TrackKind,
        direction: Direction,
        track: Option<LocalTrack>,
        from_track: bool,
    ) -> Result<usize, Error> {
        if self.transceivers.len() >= MAX_TRANSCEIVERS {
            return Err(Error::TooManyTransceivers);
        }
        let ssrc = self.fresh_ssrc();
        let rtx_ssrc = self.fresh_ssrc();
        self.transceivers.push(Transceiver {
            kind,
            mid: None,
            direction,
            current_direction: None,
            stopped: false,
            from_track,
            track,
            ssrc,
            rtx_ssrc,
            negotiated: None,
            template: None,
            tx: None,
            receivers: SmallVec::new(),
            frames: Default::default(),
        });
        Ok(self.transceivers.len() - 1)
    }

    /// A random SSRC none of ours uses (RFC 3550 §8.1).
    fn fresh_ssrc(&mut self) -> u32 {
        loop {
            let s = self.rng.u32();
            let taken = s == 0
                || self
                    .transceivers
                    .iter()
                    .any(|t| t.ssrc == s || t.rtx_ssrc == s);
            if !taken {
                return s;
            }
        }
    }

    /// Whether any transceiver has negotiated media.
    pub fn has_negotiated(&self) -> bool {
        self.transceivers.iter().any(|t| t.negotiated.is_some())
    }

    /// Whether any transceiver still needs an m-line or has one.
    pub fn has_transceivers(&self) -> bool {
        self.transceivers
            .iter()
            .any(|t| !t.stopped || t.mid.is_some())
    }

    /// The NTP epoch of our sender reports: the application's
    /// ([`PeerConfig::ntp_epoch`](crate::peer::PeerConfig::ntp_epoch)), or else the first
    /// `now` seen taken as [`NTP_START`] (RFC 3550 §4: a sender without a wall clock may use
    /// any consistent epoch).
    pub fn epoch(&mut self, now: Instant) -> crate::media::stream::NtpEpoch {
        let (at, ntp) = *self.ntp_anchor.get_or_insert((now, NTP_START));
        crate::media::stream::NtpEpoch { at, ntp }
    }
}

/// The NTP time kaon's RTCP clock starts from when the application gives none: 2026-01-01.
pub(crate) const NTP_START: u64 = 3_976_214_400 << 32;

impl PeerConnection {
    /// Adds a track to send (W3C `addTrack`): it takes a transceiver of its kind that has never
    /// sent and has no track (one a remote offer created, say), or a new `sendrecv` one.
    /// Raises [`PeerEvent::NegotiationNeeded`] when an exchange must follow.
    pub fn add_track(
        &mut self,
        now: Instant,
        kind: TrackKind,
        track: LocalTrack,
    ) -> Result<TransceiverId, Error> {
        self.unquiet();
        self.check_open()?;
        self.pump(Some(now));
        let media = self.media.force();
        let reuse = media
            .transceivers
            .iter()
            .position(|t| t.kind == kind && !t.stopped && t.track.is_none() && t.tx.is_none());
        let i = match reuse {
            Some(i) => {
                let t = &mut media.transceivers[i];
                t.track = Some(track);
                t.direction = match t.direction {
                    Direction::RecvOnly | Direction::SendRecv => Direction::SendRecv,
                    _ => Direction::SendOnly,
                };
                i
            }
            None => media.new_transceiver(kind, Direction::SendRecv, Some(track), true)?,
        };
        self.negotiation_needed();
        Ok(TransceiverId(i as u32))
    }

    /// Adds a transceiver (W3C `addTransceiver`), with or without a track.
    pub fn add_transceiver(
        &mut self,
        now: Instant,
        kind: TrackKind,
        init: TransceiverInit,
    ) -> Result<TransceiverId, Error> {
        self.unquiet();
        self.check_open()?;
        self.pump(Some(now));
        let i = self
            .media
            .force()
            .new_transceiver(kind, init.direction, init.track, false)?;
        self.negotiation_needed();
        Ok(TransceiverId(i as u32))
    }

    /// Stops sending a track (W3C `removeTrack`): the transceiver stays, no longer sending.
    pub fn remove_track(&mut self, now: Instant, id: TransceiverId) -> Result<(), Error> {
        self.unquiet();
        self.pump(Some(now));
        let t = self.transceiver_mut(id)?;
        if t.track.take().is_some() {
            t.direction = match t.direction {
                Direction::SendRecv | Direction::RecvOnly => Direction::RecvOnly,
                _ => Direction::Inactive,
            };
            self.negotiation_needed();
        }
        Ok(())
    }

    /// Swaps the track a transceiver sends without renegotiation (W3C `replaceTrack`): the
    /// SSRC, payload types and extensions stay; `None` sends nothing until a track is set.
    pub fn replace_track(
        &mut self,
        id: TransceiverId,
        track: Option<LocalTrack>,
    ) -> Result<(), Error> {
        self.unquiet();
        self.transceiver_mut(id)?.track = track;
        Ok(())
    }

    /// Sets the direction we want (W3C `direction`); takes effect with the next exchange.
    pub fn set_direction(
        &mut self,
        now: Instant,
        id: TransceiverId,
        direction: Direction,
    ) -> Result<(), Error> {
        self.unquiet();
        self.pump(Some(now));
        let t = self.transceiver_mut(id)?;
        if t.direction != direction {
            t.direction = direction;
            self.negotiation_needed();
        }
        Ok(())
    }

    /// Stops a transceiver (W3C `stop()`): it sends and receives nothing more, and the next
    /// offer rejects its m-line (port 0), which a later transceiver may recycle.
    pub fn stop_transceiver(&mut self, now: Instant, id: TransceiverId) -> Result<(), Error> {
        self.unquiet();
        self.pump(Some(now));
        let t = self.transceiver_mut(id)?;
        if !t.stopped {
            t.stopped = true;
            t.direction = Direction::Inactive;
            let mid = t.mid;
            self.negotiation_needed();
            if let Some(mid) = mid {
                self.events.push_back(PeerEvent::TrackEnded { mid });
            }
        }
        Ok(())
    }

    /// Sends an RTP packet on the transceiver of `mid` (the RTP level: an SFU forwarding, or an
    /// application with its own packetizer). The packet's sequence number, timestamp, marker and
    /// payload are kept; its SSRC becomes the transceiver's, its payload type the peer's number
    /// for the same codec (ours or the peer's number is accepted), and its header extensions
    /// ours (mid, abs-send-time, transport-wide sequence number, as negotiated). Errors: the
    /// transceiver does not send ([`Error::NotSending`]), the payload type is not negotiated,
    /// the packet is malformed, or the queue is full ([`Error::MediaQueueFull`]: drive
    /// `poll_transmit`).
    pub fn write_rtp(&mut self, now: Instant, mid: &str, packet: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let (media, t) = self.media_at(mid)?;
        media.write_rtp(now, t, packet)
    }

    /// Sends an RTP packet on the transceiver of `mid` without copying its payload: the SFU
    /// path, for a packet received as [`PeerEvent::Rtp`](super::PeerEvent) and forwarded to
    /// many subscribers. The header is rewritten as [`write_rtp`](Self::write_rtp) rewrites it
    /// (same rules, same errors), into a small buffer of this connection; the payload stays
    /// a slice of `packet`, in the send queue and in the RTX history, and is copied once, as
    /// it is sealed into the datagram. What goes on the wire, retransmissions included, is
    /// byte for byte what `write_rtp` of the same packet sends.
    ///
    /// Memory: the received buffer `packet` lies in stays alive while any subscriber's RTX
    /// history holds the packet (at most its slot count, 1024 for video, and at most three
    /// times the longer of 1 s and three round trips), shared by every subscriber instead of
    /// copied into each history.
    pub fn write_rtp_bytes(
        &mut self,
        now: Instant,
        mid: &str,
        packet: bytes::Bytes,
    ) -> Result<(), Error> {
        self.check_open()?;
        let (media, t) = self.media_at(mid)?;
        media.write_rtp_bytes(now, t, packet)
    }

    /// Asks the peer for a keyframe on the streams it sends on `mid` (RTCP PLI, RFC 4585
    /// §6.3.1), throttled per stream.
    pub fn request_keyframe(&mut self, now: Instant, mid: &str) -> Result<(), Error> {
        self.check_open()?;
        let (media, t) = self.media_at(mid)?;
        media.request_keyframe(now, t)
    }

    /// The media side ([`Error::NoSuchTransceiver`] before any transceiver), without an eager
    /// `ok_or` (see [`media_at`](Self::media_at)).
    pub(super) fn media_mut(&mut self) -> Result<&mut Media, Error> {
        match self.media.get_mut() {
            Some(media) => Ok(media),
            None => Err(Error::NoSuchTransceiver),
        }
    }

    /// The media side and the index of the transceiver of `mid`. Not `ok_or`: an error made
    /// eagerly is dropped on every packet written (a call, as `Error` has variants that own
    /// memory).
    pub(super) fn media_at(&mut self, mid: &str) -> Result<(&mut Media, usize), Error> {
        let media = self.media_mut()?;
        match media.by_mid(mid) {
            Some(t) => Ok((media, t)),
            None => Err(Error::NoSuchTransceiver),
        }
    }

    /// Keys SRTP once DTLS is up and media is negotiated (a data-only connection never pays
    /// for the SRTP contexts).
    pub(super) fn ensure_srtp(&mut self, now: Instant) {
        let Some(media) = self.media.get_mut() else {
            return;
        };
        if media.srtp.is_some() || !media.has_negotiated() {
            return;
        }
        if let Some(k) = &self.srtp
            && media.on_keys(now, k).is_err()
        {
            self.stats.dropped += 1;
        }
    }

    /// A transceiver.
    pub fn transceiver(&self, id: TransceiverId) -> Option<&Transceiver> {
        self.media.transceivers().get(id.0 as usize)
    }

    /// Every transceiver, in the order they were added (W3C `getTransceivers()`).
    pub fn transceivers(&self) -> impl Iterator<Item = (TransceiverId, &Transceiver)> {
        self.media
            .transceivers()
            .iter()
            .enumerate()
            .map(|(i, t)| (TransceiverId(i as u32), t))
    }

    /// The transceiver of a mid.
    pub fn transceiver_by_mid(&self, mid: &str) -> Option<TransceiverId> {
        self.media.by_mid(mid).map(|i| TransceiverId(i as u32))
    }

    /// The media engine: the codecs and header extensions offered and accepted.
    pub fn media_engine(&self) -> &MediaEngine {
        self.media.engine()
    }

    /// Media counters.
    pub fn media_counters(&self) -> MediaCounters {
        self.media.get().map(|m| m.counters).unwrap_or_default()
    }

    fn transceiver_mut(&mut self, id: TransceiverId) -> Result<&mut Transceiver, Error> {
        self.media
            .get_mut()
            .and_then(|m| m.transceivers.get_mut(id.0 as usize))
            .ok_or(Error::NoSuchTransceiver)
    }

    /// W3C "update the negotiation-needed flag": raised when stable (an exchange in flight
    /// carries the change when it is answered, or the next one will).
    pub(super) fn negotiation_needed(&mut self) {
        if !self
            .events
            .iter()
            .any(|e| matches!(e, PeerEvent::NegotiationNeeded))
        {
            self.events.push_back(PeerEvent::NegotiationNeeded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OutQueue, Outgoing, Route, Routes};
    use crate::bwe::PacketKind;
    use std::collections::VecDeque;

    fn route(transceiver: usize, repairs: Option<u32>) -> Route {
        Route {
            transceiver,
            repairs,
            srtp_slot: usize::MAX,
        }
    }

    #[test]
    fn routes_find_each_ssrc_across_switches_and_keep_slot_hints() {
        let mut routes = Routes::default();
        routes.insert(1, route(0, None));
        routes.insert(2, route(1, Some(1)));
        assert_eq!(routes.get_mut(&3), None);
        routes.get_mut(&1).expect("route of 1").srtp_slot = 7;
        assert_eq!(routes.get_mut(&1).map(|r| r.srtp_slot), Some(7));
        assert_eq!(routes.get_mut(&2).copied(), Some(route(1, Some(1))));
        // Back to 1: its hint went back to the map when 2 was looked up.
        assert_eq!(
            routes.get_mut(&1).map(|r| (r.transceiver, r.srtp_slot)),
            Some((0, 7))
        );
        assert_eq!(routes.len(), 2);
    }

    #[test]
    fn routes_forget_what_retain_drops_and_insert_replaces() {
        let mut routes = Routes::default();
        routes.insert(1, route(0, None));
        routes.get_mut(&1).expect("route of 1").srtp_slot = 3;
        routes.retain(|_, r| r.transceiver != 0);
        assert_eq!(routes.get_mut(&1), None);
        routes.insert(1, route(2, None));
        routes.get_mut(&1).expect("route of 1").srtp_slot = 4;
        routes.insert(1, route(5, None));
        assert_eq!(routes.get_mut(&1).copied(), Some(route(5, None)));
    }

    #[test]
    fn out_queue_keeps_first_in_first_out_through_pushes_back_and_front() {
        // Against a VecDeque, with every mix of the slot and the ring: a fixed walk through
        // pushes behind, pops and packets put back first.
        let packet = |n: u8| Outgoing {
            data: vec![n],
            payload: bytes::Bytes::new(),
            kind: PacketKind::Video,
            stamps: None,
            history: None,
        };
        let (mut q, mut model) = (OutQueue::default(), VecDeque::new());
        let mut next = 0u8;
        for step in 0..600u32 {
            match (step * 7 + step / 5) % 5 {
                0 | 1 => {
                    q.push_back(packet(next));
                    model.push_back(next);
                    next = next.wrapping_add(1);
                }
                2 => {
                    let got = q.pop_front().map(|o| o.data[0]);
                    assert_eq!(got, model.pop_front(), "step {step}");
                }
                3 => {
                    q.push_front(packet(next));
                    model.push_front(next);
                    next = next.wrapping_add(1);
                }
                _ => {
                    let got = q.pop_front().map(|o| o.data[0]);
                    assert_eq!(got, model.pop_front(), "step {step}");
                    let got = q.pop_front().map(|o| o.data[0]);
                    assert_eq!(got, model.pop_front(), "step {step}");
                }
            }
            assert_eq!(q.len(), model.len(), "step {step}");
        }
        while let Some(want) = model.pop_front() {
            assert_eq!(q.pop_front().map(|o| o.data[0]), Some(want));
        }
        assert!(q.pop_front().is_none());
    }
}
