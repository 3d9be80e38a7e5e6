//! Congestion control for media: the send-side bandwidth estimator (GCC), probing, the pacer
//! and the receive-side feedback recorder.
//!
//! This layer knows packets, sizes and times, not codecs, SDP or wire formats. The RTP layer
//! encodes what [`FeedbackRecorder`] collects as transport-wide congestion control feedback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01) or RFC 8888 congestion control
//! feedback, and hands what it parses back to [`Controller::on_feedback`] as neutral
//! [`PacketResult`]s; [`TwccSender`] and [`build_twcc`] are that glue for TWCC, both ways,
//! and [`CcfbSender`] and [`CcfbRecorder`] for RFC 8888.
//!
//! - [`Controller`]: Google Congestion Control as draft-ietf-rmcat-gcc-02 describes it and as
//!   libwebrtc runs it today. Arrival-time groups (5 ms bursts), a trendline filter over the
//!   one-way delay gradient, an adaptive overuse threshold, AIMD rate control, loss-based
//!   control, an acknowledged-bitrate estimate, application-limited (ALR) detection, and
//!   exponential **probing** at start, after ALR and on demand, so the estimate reaches the
//!   link rate in about a second instead of climbing 8% per second. It says what the encoder
//!   should produce as [`Event::BitrateEstimate`] with a [`Reason`], and how fast to pace.
//! - [`Pacer`]: owns the send order (audio, then retransmissions, then video, then padding and
//!   probes). A leaky bucket at a multiple of the target rate (2.5x by default), probe clusters
//!   at their own rate, a bounded queue with a time limit whose drops are counted and handed
//!   back, never silent. It holds opaque handles (`T`), not bytes.
//! - [`FeedbackRecorder`]: the receive side. It records the arrival time of every packet with a
//!   transport-wide sequence number and decides when to report (every 50 ms by default, or on
//!   demand), as a list of [`PacketResult`]s.
//! - [`RemoteEstimator`]: the receive side for a peer that only negotiated REMB: the same
//!   delay-based estimate run on abs-send-time at the receiver, sent back as a bitrate.
//!
//! Arrival times are on the *receiver's* clock: a [`PacketResult::arrival`] is a `Duration`
//! from any epoch the receiver chose (TWCC's reference time, or RFC 8888's report timestamp
//! minus the arrival time offset). The estimator only uses differences of arrival times, and
//! send times from the sender's own clock, so the two clocks never need to agree.
//!
//! # Sharing a path with SCTP
//!
//! Data channels run over SCTP, which keeps its own window-based congestion control (RFC 9260
//! §7) and is not paced here. Both share the same 5-tuple and bottleneck. SCTP is loss-based: it
//! fills the bottleneck queue until it drops, which GCC sees as a rising delay gradient and
//! answers by backing off, like any media flow beside TCP (RFC 8867 §5.6). Two things keep the
//! share sane: once GCC's backoffs leave the queue standing and that queue has dropped packets,
//! it answers one overuse per queue epoch (until the queue drains), as the loss-based flow
//! answers one loss per sawtooth, instead of starving; and an application that sends bulk data
//! beside media can cap SCTP's rate itself. SCTP packets do not carry transport-wide sequence
//! numbers, so they are not in the feedback; they appear to GCC only as cross traffic.
//!
//! # Driving contract
//!
//! Time comes in as `now`; nothing here reads a clock. The sender reports every packet it puts
//! on the wire with [`Controller::on_packet_sent`], feeds parsed feedback to
//! [`Controller::on_feedback`], calls [`Controller::handle_timeout`] at
//! [`Controller::poll_timeout`], drains [`Controller::poll_event`] (the target for the encoder)
//! and [`Controller::poll_probe`] (clusters for the pacer), and sets the pacer's rates.
//!
//! ```
//! use kaon::bwe::{Class, Config, Controller, FeedbackRecorder, Paced, Pacer, PacerConfig};
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let mut bwe = Controller::new(Config::default());
//! let mut pacer: Pacer<u32> = Pacer::new(PacerConfig::default());
//! let mut receiver = FeedbackRecorder::default();
//! pacer.set_rates(bwe.pacing_rate(), bwe.padding_rate());
//!
//! // The media layer queues a video packet (its handle is 7) of 1200 bytes.
//! pacer.enqueue(start, 7, 1200, Class::Video);
//! let mut seq = 0u64;
//! let mut now = start;
//! for _ in 0..200 {
//!     while let Some(cluster) = bwe.poll_probe() {
//!         pacer.start_probe(cluster);
//!     }
//!     while let Some(out) = pacer.poll_send(now) {
//!         let (size, kind) = match out {
//!             Paced::Packet { size, kind, .. } => (size, kind),
//!             Paced::Padding { size, kind } => (size, kind),
//!         };
//!         bwe.on_packet_sent(now, seq, size, kind);
//!         receiver.on_packet(now + Duration::from_millis(20), seq as u16); // a perfect path
//!         seq += 1;
//!     }
//!     if let Some(report) = receiver.poll_feedback(now + Duration::from_millis(20)) {
//!         bwe.on_feedback(now + Duration::from_millis(40), &report.packets);
//!     }
//!     bwe.handle_timeout(now);
//!     while let Some(event) = bwe.poll_event() {
//!         // Tell the encoder: event.bitrate() bits per second.
//!         let _ = event;
//!     }
//!     pacer.set_rates(bwe.pacing_rate(), bwe.padding_rate());
//!     now += Duration::from_millis(5);
//! }
//! assert!(bwe.target_bitrate() > Config::default().start_bitrate);
//! ```

mod acked;
mod aimd;
mod alr;
mod arrival;
mod ccfb;
mod controller;
mod detector;
mod history;
mod loss;
mod pacer;
mod probe;
mod recorder;
mod remote;
mod trendline;
mod twcc;

pub use ccfb::{CcfbConfig, CcfbRecorder, CcfbSender, MAX_STREAMS};
pub use controller::{Config, Controller, Stats};
pub use detector::Usage;
pub use pacer::{Class, Paced, Pacer, PacerConfig, PacerStats};
pub use probe::ProbeCluster;
pub use recorder::{Feedback, FeedbackRecorder, RecorderConfig};
pub use remote::{MAX_REMB_SSRCS, RembConfig, RembReport, RemoteEstimator};
pub use twcc::{TwccSender, build_twcc};

use std::time::Duration;

/// Identifies one probe cluster: the packets sent at one probing rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(pub u32);

/// What a sent packet carried, as [`Controller::on_packet_sent`] is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// Audio media.
    Audio,
    /// Video media.
    Video,
    /// A retransmission (RTX or a plain resend).
    Retransmission,
    /// Padding sent to keep the rate up, not part of a probe.
    Padding,
    /// Any packet (media or padding) sent as part of a probe cluster.
    Probe(ClusterId),
}

/// What the receiver reported about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketResult {
    /// The transport-wide sequence number, unwrapped to 64 bits.
    pub seq: u64,
    /// When it arrived, on the receiver's clock (any epoch), or `None` if reported lost.
    pub arrival: Option<Duration>,
}

/// Why the target bitrate changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The configured start bitrate, before any feedback.
    Initial,
    /// A probe cluster measured a higher rate.
    Probe,
    /// The delay-based controller increased the rate (no overuse seen).
    DelayIncrease,
    /// The delay gradient showed the bottleneck queue growing.
    Overuse,
    /// Loss above 10% cut the rate.
    Loss,
    /// Loss fell below 2% and the loss-based limit grew again.
    LossRecovery,
    /// The receiver's REMB capped the rate.
    Remb,
    /// The configured minimum or maximum bitrate, or a change to them.
    Limits,
}

/// What the controller tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The encoder should produce this many bits per second (the W3C stats call it
    /// `availableOutgoingBitrate`).
    BitrateEstimate {
        /// Target bitrate in bits per second.
        bitrate: u64,
        /// What changed it.
        reason: Reason,
    },
}

impl Event {
    /// The target bitrate this event carries, in bits per second.
    pub fn bitrate(&self) -> u64 {
        match self {
            Event::BitrateEstimate { bitrate, .. } => *bitrate,
        }
    }
}
