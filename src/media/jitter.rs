//! A sans-IO jitter buffer for one receive stream.
//!
//! Packets go in with their RTP sequence number, timestamp, marker and payload, and the time
//! they arrived. The buffer puts them back in order, finds frame boundaries (a new timestamp,
//! the marker bit, and the payload format's start flag where it has one), and hands out whole,
//! depacketized frames as [`Sample`]s in order.
//!
//! A missing packet is waited for until a deadline (a multiple of the round-trip time, see
//! [`JitterBuffer::set_rtt`]); meanwhile [`JitterBuffer::missing`] lists what a NACK should ask
//! for. When the deadline passes, the frame is given up, the next sample says `lost_before`,
//! and for video (where later frames depend on earlier ones) frames are dropped until a
//! keyframe, with a throttled [`JitterEvent::KeyframeRequest`] for PLI/FIR.
//!
//! Memory is bounded: a fixed ring of packet slots, a byte cap, and a bounded queue of ready
//! frames; what does not fit is dropped and counted. Each packet costs O(1) amortised; a
//! sequence jump past the ring (a sender restart) clears it in O(capacity / 64) by a bitmap.
//! `poll_timeout` returns a cached deadline.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use kaon::media::codec::Codec;
//! use kaon::media::jitter::{JitterBuffer, JitterConfig};
//! let mut jb = JitterBuffer::new(Codec::Opus, JitterConfig::default());
//! let now = Instant::now();
//! jb.insert(now, 10, 960, false, Bytes::from_static(&[0xfc, 1]));
//! jb.insert(now, 12, 2880, false, Bytes::from_static(&[0xfc, 3])); // 11 is late
//! assert_eq!(jb.poll_sample().unwrap().rtp_timestamp, 960);
//! assert_eq!(jb.missing().collect::<Vec<_>>(), vec![11]); // ask for it again (NACK)
//! let deadline = jb.poll_timeout().unwrap();
//! jb.handle_timeout(deadline); // never came: give up
//! let s = jb.poll_sample().unwrap();
//! assert!(s.lost_before && s.rtp_timestamp == 2880);
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::codec::{Codec, Depacketizer, PacketInfo, is_frame_start, is_keyframe};
use crate::wire::serial::Serial16;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Packet slots (rounded up to a power of two, 16..=32768). A frame larger than this can
    /// never complete.
    pub capacity: usize,
    /// Cap on buffered payload bytes.
    pub max_bytes: usize,
    /// Wait for a missing packet this many round-trip times (in percent: 150 = 1.5 RTT), to
    /// leave room for a NACK and its retransmission.
    pub wait_rtt_percent: u32,
    /// Never wait less than this for a missing packet.
    pub min_wait: Duration,
    /// Never wait more than this.
    pub max_wait: Duration,
    /// Round-trip time assumed until [`JitterBuffer::set_rtt`] is called.
    pub initial_rtt: Duration,
    /// At most one keyframe request per this interval (or per RTT, if longer), once the
    /// stream has decoded; before its first keyframe, requests repeat sooner (see
    /// [`JitterBuffer::keyframe_interval`]).
    pub keyframe_interval: Duration,
    /// Complete frames kept for [`JitterBuffer::poll_sample`]; beyond it the oldest is dropped.
    pub max_ready: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            capacity: 512,
            max_bytes: 4 << 20,
            wait_rtt_percent: 150,
            min_wait: Duration::from_millis(20),
            max_wait: Duration::from_secs(1),
            initial_rtt: Duration::from_millis(100),
            keyframe_interval: Duration::from_millis(500),
            max_ready: 64,
        }
    }
}

/// A complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The depacketized frame (see `media::codec` for each codec's form).
    pub data: Bytes,
    /// The frame's RTP timestamp.
    pub rtp_timestamp: u32,
    /// RTP ticks since the previous sample handed out (0 for the first).
    pub duration: u32,
    /// Decodable on its own (audio frames always are).
    pub keyframe: bool,
    /// First and last RTP sequence numbers of the frame (inclusive; may wrap).
    pub seq_range: (u16, u16),
    /// Media was lost between the previous sample and this one.
    pub lost_before: bool,
}

impl Sample {
    /// A frame to send that lasts `duration` RTP ticks (for `PeerConnection::write_sample`:
    /// the next frame's timestamp is this one's plus `duration`).
    pub fn with_duration(data: Bytes, duration: u32) -> Self {
        Self {
            data,
            rtp_timestamp: 0,
            duration,
            keyframe: false,
            seq_range: (0, 0),
            lost_before: false,
        }
    }

    /// A frame to send at the caller's RTP timestamp `rtp_timestamp` (duration 0).
    pub fn at(data: Bytes, rtp_timestamp: u32) -> Self {
        Self {
            rtp_timestamp,
            ..Self::with_duration(data, 0)
        }
    }
}

/// What the jitter buffer asks of the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JitterEvent {
    /// Ask the sender for a keyframe (RTCP PLI or FIR): frames are being dropped until one.
    KeyframeRequest,
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Packets inserted.
    pub packets: u64,
    /// Packets already buffered (same sequence number).
    pub duplicates: u64,
    /// Packets that came after their frame was handed out or given up.
    pub late: u64,
    /// Packets dropped because the byte cap was reached.
    pub overflow: u64,
    /// Frames handed out.
    pub frames: u64,
    /// Frames given up or dropped while waiting for a keyframe.
    pub frames_dropped: u64,
    /// Frames the depacketizer could not rebuild.
    pub malformed: u64,
    /// Ready frames dropped because nobody polled them.
    pub ready_overflow: u64,
    /// Keyframe requests emitted.
    pub keyframe_requests: u64,
    /// Times the buffer was cleared by a sequence number jump (sender restart).
    pub resets: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    ext: u64,
    timestamp: u32,
    marker: bool,
    start: Option<bool>,
    keyframe: bool,
    payload: Bytes,
}

/// Extended sequence numbers start here, so that going back never goes below zero.
const EPOCH: u64 = 1 << 40;

/// Until a video stream's first keyframe comes out, a keyframe request is repeated after this
/// long, or two round trips if longer, instead of the steady interval: nothing at all is shown
/// meanwhile, and one lost request (or lost answer) must not cost half a second of video.
/// libwebrtc re-requests every 200 ms while it waits for a keyframe (`kMaxWaitForKeyFrame`);
/// an answer needs one round trip plus up to a frame interval (33 ms at 30 fps) and the
/// keyframe's own transmission, which 100 ms covers on a LAN and two round trips beyond it.
const FIRST_KEYFRAME_REPEAT: Duration = Duration::from_millis(100);

/// The jitter buffer. Driving order: [`insert`](Self::insert) packets as they arrive, call
/// [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) says,
/// and drain [`poll_sample`](Self::poll_sample) and [`poll_event`](Self::poll_event) whenever
/// convenient; any call order is legal.
#[derive(Debug)]
pub struct JitterBuffer {
    codec: Codec,
    config: JitterConfig,
    rtt: Duration,
    slots: Vec<Option<Slot>>,
    occupied: Vec<u64>,
    mask: u64,
    started: bool,
    /// First sequence number not yet handed out or given up.
    head: u64,
    /// `head..scan` are present and belong to the frame starting at `head`.
    scan: u64,
    /// One past the highest sequence number seen.
    end: u64,
    frame_ts: u32,
    /// Timestamp of the last packet consumed (handed out or dropped).
    prev_ts: Option<u32>,
    /// After a loss: drop packets until one that starts a frame.
    discarding: bool,
    /// Something was handed out or dropped since the stream (re)started; before that, packets
    /// older than the first one seen are reordering at the start, not late.
    consumed: bool,
    need_keyframe: bool,
    /// A keyframe came out: the stream decodes, and keyframe requests keep the steady interval.
    decoding: bool,
    /// The packet before the stream's first one seen, when that one did not start a frame:
    /// reordering or a NACK of [`missing_before_first`](Self::missing_before_first) can bring
    /// it, within `min_wait` (not a repair's wait: the stream shows nothing meanwhile, and a
    /// keyframe request follows).
    start_gap: Option<u64>,
    lost_pending: bool,
    last_keyframe_request: Option<Instant>,
    keyframe_event: bool,
    last_out_ts: Option<u32>,
    /// Ranges of sequence numbers found missing, with when: `[start, end)`, in order.
    gaps: VecDeque<(u64, u64, Instant)>,
    deadline: Option<Instant>,
    bytes: usize,
    ready: VecDeque<Sample>,
    depacketizer: Depacketizer,
    scratch: Vec<u8>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for a stream of `codec`.
    pub fn new(codec: Codec, config: JitterConfig) -> Self {
        let capacity = config.capacity.clamp(16, 32_768).next_power_of_two();
        Self {
            codec,
            config: JitterConfig { capacity, ..config },
            rtt: config.initial_rtt,
            slots: vec![None; capacity],
            occupied: vec![0; capacity / 64 + 1],
            mask: capacity as u64 - 1,
            started: false,
            head: EPOCH,
            scan: EPOCH,
            end: EPOCH,
            frame_ts: 0,
            prev_ts: None,
            discarding: true,
            consumed: false,
            need_keyframe: false,
            decoding: false,
            start_gap: None,
            lost_pending: false,
            last_keyframe_request: None,
            keyframe_event: false,
            last_out_ts: None,
            gaps: VecDeque::new(),
            deadline: None,
            bytes: 0,
            ready: VecDeque::new(),
            depacketizer: Depacketizer::new(codec),
            scratch: Vec::new(),
            stats: JitterStats::default(),
        }
    }

    /// Updates the round-trip time the wait for missing packets follows.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
        self.update_deadline();
    }

    /// How long a missing packet is waited for.
    pub fn wait(&self) -> Duration {
        (self.rtt * self.config.wait_rtt_percent / 100)
            .clamp(self.config.min_wait, self.config.max_wait)
    }

    /// How long a keyframe request waits before it is repeated: the configured interval (or
    /// the round-trip time, if longer) once the stream has decoded a keyframe; before that,
    /// two round trips, at least 100 ms and at most the steady interval.
    pub fn keyframe_interval(&self) -> Duration {
        let steady = self.config.keyframe_interval.max(self.rtt);
        if self.decoding {
            steady
        } else {
            (self.rtt * 2).max(FIRST_KEYFRAME_REPEAT).min(steady)
        }
    }

    /// Counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Payload bytes buffered.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    fn index(&self, ext: u64) -> usize {
        (ext & self.mask) as usize
    }

    fn present(&self, ext: u64) -> bool {
        self.slots[self.index(ext)]
            .as_ref()
            .is_some_and(|s| s.ext == ext)
    }

    fn take(&mut self, ext: u64) -> Option<Slot> {
        let i = self.index(ext);
        if self.slots[i].as_ref().is_some_and(|s| s.ext == ext) {
            self.occupied[i / 64] &= !(1 << (i % 64));
            let s = self.slots[i].take()?;
            self.bytes -= s.payload.len();
            Some(s)
        } else {
            None
        }
    }

    /// Adds a packet that arrived at `now`.
    pub fn insert(&mut self, now: Instant, seq: u16, timestamp: u32, marker: bool, payload: Bytes) {
        self.stats.packets += 1;
        let ext = if !self.started {
            self.started = true;
            // A video stream decodes from a keyframe: until one comes, frames are dropped
            // and one is asked for (the stream's first packets may have been lost).
            self.need_keyframe = self.codec.is_video();
            self.restart(seq)
        } else {
            let last = self.end - 1;
            let ext = last.wrapping_add_signed(Serial16(seq).distance(Serial16(last as u16)));
            let cap = self.config.capacity as u64;
            if ext < self.head && !self.consumed && self.end - ext <= cap {
                // The stream's first packets came out of order: reach back for them; the ones
                // between are now waited for like any gap.
                if ext + 1 < self.head {
                    self.gaps.push_front((ext + 1, self.head, now));
                }
                self.head = ext;
                self.scan = ext;
            } else if ext < self.head && self.head - ext <= cap {
                self.stats.late += 1;
                return;
            }
            if ext < self.head || ext >= self.head + cap {
                // Too far either way to be reordering: the sender restarted (or we lost more
                // than the ring holds). Everything buffered is given up.
                self.stats.resets += 1;
                self.clear();
                self.lose(now);
                self.restart(seq)
            } else {
                ext
            }
        };
        if ext < self.end && self.present(ext) {
            self.stats.duplicates += 1;
            return;
        }
        if ext >= self.end {
            if ext > self.end {
                self.gaps.push_back((self.end, ext, now));
            }
            self.end = ext + 1;
        }
        if self.bytes + payload.len() > self.config.max_bytes {
            self.stats.overflow += 1;
            // Counted as missing, so the wait for it runs out like any loss.
            match self.gaps.back_mut() {
                Some(g) if g.1 == ext => g.1 = ext + 1,
                _ => self.gaps.push_back((ext, ext + 1, now)),
            }
            self.update_deadline();
            return;
        }
        let i = self.index(ext);
        // The window never spans more than the ring, so a slot holds at most one live packet;
        // release whatever is there anyway, to keep the byte count exact.
        if let Some(old) = self.slots[i].take() {
            self.bytes -= old.payload.len();
        }
        self.occupied[i / 64] |= 1 << (i % 64);
        self.bytes += payload.len();
        self.slots[i] = Some(Slot {
            ext,
            timestamp,
            marker,
            start: is_frame_start(self.codec, &payload),
            keyframe: is_keyframe(self.codec, &payload),
            payload,
        });
        self.advance(now);
        self.update_deadline();
    }

    fn restart(&mut self, seq: u16) -> u64 {
        let ext = EPOCH + u64::from(seq);
        self.head = ext;
        self.scan = ext;
        self.end = ext;
        self.prev_ts = None;
        self.discarding = true;
        self.consumed = false;
        self.gaps.clear();
        ext
    }

    /// Releases every buffered packet, using the occupancy bitmap.
    fn clear(&mut self) {
        for w in 0..self.occupied.len() {
            let mut bits = self.occupied[w];
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(s) = self.slots[w * 64 + b].take() {
                    self.bytes -= s.payload.len();
                }
            }
            self.occupied[w] = 0;
        }
        if self.head < self.scan {
            self.stats.frames_dropped += 1;
        }
    }

    /// Media was lost: mark the next sample, and for video drop frames until a keyframe.
    fn lose(&mut self, now: Instant) {
        self.lost_pending = true;
        self.discarding = true;
        if self.codec.is_video() {
            self.need_keyframe = true;
            self.request_keyframe(now);
        }
    }

    fn request_keyframe(&mut self, now: Instant) {
        let interval = self.keyframe_interval();
        if self
            .last_keyframe_request
            .is_some_and(|t| now < t + interval)
        {
            return;
        }
        self.last_keyframe_request = Some(now);
        // A keyframe whose packets are arriving is being repaired by NACK: another request
        // would only bring a second one (libwebrtc holds back while it receives a keyframe
        // too). The repeat waits one more interval.
        if !self.receiving_keyframe() {
            self.keyframe_event = true;
            self.stats.keyframe_requests += 1;
        }
    }

    /// The frame being assembled at the head is a keyframe.
    fn receiving_keyframe(&self) -> bool {
        self.slots[self.index(self.head)]
            .as_ref()
            .is_some_and(|s| s.ext == self.head && s.keyframe)
    }

    /// Walks forward from `scan` over present packets, handing out frames as they complete.
    fn advance(&mut self, now: Instant) {
        let audio = !self.codec.is_video();
        while self.scan < self.end {
            let i = self.index(self.scan);
            let Some(pkt) = self.slots[i].as_ref().filter(|s| s.ext == self.scan) else {
                break;
            };
            let (ts, marker, start, keyframe) =
                (pkt.timestamp, pkt.marker, pkt.start, pkt.keyframe);
            if self.scan == self.head {
                let starts = audio || start.unwrap_or(!self.discarding || self.prev_ts != Some(ts));
                if !starts
                    && !self.consumed
                    && start == Some(false)
                    && self.end - (self.head - 1) <= self.config.capacity as u64
                {
                    // The first packet seen does not start a frame: its predecessors are
                    // missing, wait for them (they may only be reordered).
                    self.gaps.push_front((self.head - 1, self.head, now));
                    self.head -= 1;
                    self.scan = self.head;
                    self.start_gap = Some(self.head);
                    break;
                }
                if !starts || (self.need_keyframe && !keyframe) {
                    if starts {
                        self.request_keyframe(now);
                    }
                    self.consumed = true;
                    // The rest of a frame given up, or a frame that depends on lost ones.
                    if starts {
                        self.stats.frames_dropped += 1;
                    }
                    self.take(self.scan);
                    self.prev_ts = Some(ts);
                    self.discarding = true;
                    self.lost_pending = true;
                    self.head += 1;
                    self.scan = self.head;
                    continue;
                }
                self.discarding = false;
                self.frame_ts = ts;
            } else if ts != self.frame_ts || start == Some(true) {
                // The frame ended without a marker (the marker packet may have been lost, or
                // the sender does not set it): what we have is the frame.
                self.emit(now, self.scan - 1);
                continue;
            }
            if audio || marker {
                self.emit(now, self.scan);
                continue;
            }
            self.scan += 1;
        }
    }

    /// Hands out the frame `head..=last`.
    fn emit(&mut self, now: Instant, last: u64) {
        let first = self.head;
        // Depacketized into a buffer kept across frames, then copied once into an exact-size
        // `Bytes`: one allocation per frame.
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        let mut ok = true;
        let mut keyframe = false;
        let mut ts = self.frame_ts;
        for e in first..=last {
            let Some(s) = self.take(e) else {
                ok = false;
                continue;
            };
            if e == first {
                keyframe = s.keyframe;
                ts = s.timestamp;
            }
            let info = PacketInfo {
                seq: e as u16,
                timestamp: s.timestamp,
                marker: s.marker,
            };
            if ok && self.depacketizer.push(&s.payload, info, &mut data).is_err() {
                ok = false;
            }
        }
        self.head = last + 1;
        self.scan = self.head;
        self.prev_ts = Some(ts);
        self.consumed = true;
        let bytes = if ok {
            Bytes::copy_from_slice(&data)
        } else {
            Bytes::new()
        };
        // Keep the scratch buffer unless a giant frame grew it past the byte cap.
        if data.capacity() <= self.config.max_bytes {
            self.scratch = data;
        }
        if !ok {
            self.stats.malformed += 1;
            self.stats.frames_dropped += 1;
            self.depacketizer.reset();
            self.lose(now);
            return;
        }
        if keyframe {
            self.need_keyframe = false;
            self.decoding = true;
        }
        let duration = self.last_out_ts.map_or(0, |t| ts.wrapping_sub(t));
        self.last_out_ts = Some(ts);
        self.stats.frames += 1;
        self.ready.push_back(Sample {
            data: bytes,
            rtp_timestamp: ts,
            duration,
            keyframe: keyframe || !self.codec.is_video(),
            seq_range: (first as u16, last as u16),
            lost_before: std::mem::take(&mut self.lost_pending),
        });
        if self.ready.len() > self.config.max_ready {
            self.ready.pop_front();
            self.stats.ready_overflow += 1;
        }
    }

    /// When the packet at `scan` was found missing, if it is.
    fn missing_since(&mut self) -> Option<Instant> {
        if self.scan >= self.end || self.present(self.scan) {
            return None;
        }
        while self.gaps.front().is_some_and(|g| g.1 <= self.scan) {
            self.gaps.pop_front();
        }
        self.gaps.front().map(|g| g.2)
    }

    fn update_deadline(&mut self) {
        let wait = if self.start_gap == Some(self.scan) && !self.consumed {
            self.config.min_wait
        } else {
            self.wait()
        };
        self.deadline = self.missing_since().map(|t| t + wait);
    }

    /// Gives up on what the deadline passed for, and repeats keyframe requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.deadline.is_some_and(|d| d <= now) {
            // The frame holding the missing packet is lost: drop what we have of it.
            for e in self.head..self.scan {
                if let Some(s) = self.take(e) {
                    self.prev_ts = Some(s.timestamp);
                }
            }
            if self.head < self.scan || !self.discarding {
                self.stats.frames_dropped += 1;
            }
            self.head = self.scan + 1;
            self.scan = self.head;
            self.consumed = true;
            self.lose(now);
            self.advance(now);
            self.update_deadline();
        }
        if self.need_keyframe {
            self.request_keyframe(now);
        }
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work: a missing packet's
    /// deadline, or a repeated keyframe request.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keyframe = if self.need_keyframe {
            self.last_keyframe_request
                .map(|t| t + self.keyframe_interval())
        } else {
            None
        };
        match (self.deadline, keyframe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next complete frame, in order.
    pub fn poll_sample(&mut self) -> Option<Sample> {
        self.ready.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<JitterEvent> {
        std::mem::take(&mut self.keyframe_event).then_some(JitterEvent::KeyframeRequest)
    }

    /// The packet before the first one seen, while it is waited for: that first packet
    /// continues a frame, so its predecessor is missing, though receive statistics (which
    /// start at the first packet) cannot know it. A NACK can still ask for it.
    pub fn missing_before_first(&self) -> Option<u16> {
        let gap = self.start_gap?;
        (gap == self.head && !self.consumed && !self.present(gap)).then_some(gap as u16)
    }

    /// Sequence numbers known missing and still waited for, oldest first (for NACK).
    pub fn missing(&self) -> impl Iterator<Item = u16> + '_ {
        let head = self.head;
        self.gaps
            .iter()
            .flat_map(move |g| g.0.max(head)..g.1)
            .filter(move |e| !self.present(*e))
            .map(|e| e as u16)
    }
}
