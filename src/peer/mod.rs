//! The PeerConnection: JSEP offer/answer and data channels over ICE, DTLS and SCTP.
//!
//! [`PeerConnection`] composes the layers of a data-only WebRTC session behind the crate's
//! [`Protocol`](crate::Protocol) contract:
//!
//! - **Signalling** (RFC 8829, JSEP): [`create_offer`](PeerConnection::create_offer),
//!   [`create_answer`](PeerConnection::create_answer),
//!   [`set_local_description`](PeerConnection::set_local_description),
//!   [`set_remote_description`](PeerConnection::set_remote_description) and rollback, over a
//!   session of ordered m-lines ([`jsep`]) whose bundled `application` m-section
//!   (`UDP/DTLS/SCTP`, RFC 8841) carries the data channels. A remote description is
//!   checked by [`RemoteSummary::from_sdp`] before anything is applied, and refused with a
//!   typed [`Error`]. The offerer says `a=setup:actpass`; the answerer takes `active` and
//!   becomes the DTLS client (what browsers do), or honours an offer's `active`/`passive`
//!   (RFC 8842). Trickled candidates go in with
//!   [`add_ice_candidate`](PeerConnection::add_ice_candidate) (RFC 8839, RFC 8838).
//! - **Demultiplexing** (RFC 7983, [`PacketKind`]): STUN goes to the ICE agent; DTLS only
//!   when it comes over a pair ICE vouches for; RTP, RTCP, ZRTP and junk are counted and
//!   dropped (no media in this release).
//! - **Transport**: one [`ice::Agent`](crate::ice::Agent) (controlling on the offerer side), one
//!   [`dtls::Endpoint`](crate::dtls::Endpoint) created once the DTLS role is known and ICE has
//!   a pair, whose datagrams always go over ICE's selected pair; DTLS application data is SCTP
//!   (RFC 8261), carried to one association and its [data channels](crate::datachannel)
//!   (RFC 8831, DCEP RFC 8832). The DTLS-SRTP keys are kept for media
//!   ([`srtp_keying`](PeerConnection::srtp_keying)).
//!
//! The application owns the sockets: it names each local address with
//! [`add_local_address`](PeerConnection::add_local_address), feeds what arrives to
//! `handle_datagram`, and sends each `Transmit` from `source` to `destination`. Mutators only
//! queue and take `now` like every entry point; any call order is legal. A server holding many
//! peers on one socket puts them in a [`Router`], which routes each datagram to its peer in O(1)
//! (by ICE ufrag, then by 5-tuple) and drives them all as one `Protocol`.
//!
//! # Example
//!
//! Two peers exchange an offer and an answer as strings; a driver (a socket loop,
//! `kaon_std::Driver`, or the simulator) would then carry their datagrams.
//!
//! ```
//! use kaon::peer::{PeerConfig, PeerConnection, SdpType, SignalingState};
//! use kaon::datachannel::ChannelConfig;
//! use kaon::sdp::SessionDescription;
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut alice = PeerConnection::new(PeerConfig::with_seed(1))?;
//! let mut bob = PeerConnection::new(PeerConfig::with_seed(2))?;
//! alice.add_local_address("192.0.2.1:5000".parse()?)?;
//! bob.add_local_address("192.0.2.2:5000".parse()?)?;
//! let chat = alice.create_data_channel(now, "chat", ChannelConfig::default())?;
//!
//! let offer = alice.create_offer(now)?;
//! alice.set_local_description(SdpType::Offer, offer.clone())?;
//! let text = offer.to_string(); // to bob over the signalling channel
//! bob.set_remote_description(SdpType::Offer, SessionDescription::parse(&text)?)?;
//! let answer = bob.create_answer(now)?;
//! bob.set_local_description(SdpType::Answer, answer.clone())?;
//! alice.set_remote_description(SdpType::Answer, SessionDescription::parse(&answer.to_string())?)?;
//!
//! assert_eq!(alice.signaling_state(), SignalingState::Stable);
//! assert!(text.contains("a=setup:actpass") && answer.to_string().contains("a=setup:active"));
//! assert_eq!(chat % 2, 1); // alice will be the DTLS server: odd ids (RFC 8832 §6)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limits of this release
//!
//! - Data only: an offer's audio, video and other sections are answered rejected in their
//!   places (port 0, RFC 8829 §5.3.1; the [`jsep`] model keeps every m-line at its index), and
//!   RTP and RTCP datagrams are counted and dropped. The DTLS-SRTP keys are kept for later.
//! - Later offer/answer exchanges may restart ICE (ours with
//!   [`restart_ice`](PeerConnection::restart_ice), or the peer's: new credentials in its
//!   offer) and bring candidates; they may not change the certificate, DTLS role, mid or SCTP
//!   port ([`Error::Renegotiation`]). Max-bundle only (one transport).
//! - A channel created before the answer takes the id parity of the role we expect (odd for
//!   an offerer); if the answer says `passive` it keeps that id (ids created afterwards follow
//!   the real role).
//! - The peer's SCTP port must be 5000 once channels exist ([`Error::SctpPort`]).
//! - No TURN relays through [`PeerConfig`] yet (the agent has the seam).
//!
//! RFCs: 8829 (JSEP), 7983 (demultiplexing), 8831 and 8832 (data channels, DCEP), 8842 (DTLS in
//! SDP), 8841 (SCTP in SDP), 8839 (ICE in SDP), 8445 (ICE), 6347 (DTLS 1.2), 9260 (SCTP).

mod candidate;
mod certificate;
mod connection;
mod demux;
mod diag;
#[cfg(fuzzing)]
pub mod fuzzing;
mod in_place;
pub mod jsep;
mod mdns;
pub mod media;
pub mod router;
mod send;
mod signaling;
pub mod stats;
mod trickle;

pub use crate::sdp::Direction;
pub use candidate::{CandidateJsonError, IceCandidate, MAX_CANDIDATE_JSON_LEN};
pub use certificate::Certificate;
pub use connection::PeerConnection;
pub use demux::PacketKind;
pub use diag::Diagnostic;
pub use in_place::InPlaceRtp;
pub use jsep::{
    Codec, DEFAULT_MAX_MESSAGE_SIZE, MLine, MediaEngine, Mid, NegotiatedCodec, RemoteSummary,
    SCTP_PORT, SdpType, TrackKind,
};
pub use mdns::MdnsOptions;
pub use media::{
    KeyframeKind, LocalTrack, MediaCounters, SAMPLE_PACKET_SIZE, TrackEvent, Transceiver,
    TransceiverId, TransceiverInit, Writer,
};
pub use router::{InsertError, MAX_ROUTES_PER_PEER, PeerId, PeerMut, Router, RouterStats};
pub use stats::StatsReport;

use crate::datachannel::ChannelId;
use crate::dtls::Identity;
use crate::ice::{AgentConfig, IceState};
use crate::sdp::Setup;

/// How to build a [`PeerConnection`].
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Seed for every random number of the connection's layers (ICE credentials, SCTP tags,
    /// DTLS randoms); `None` seeds from the operating system. Key pairs always come from
    /// aws-lc-rs.
    pub seed: Option<u64>,
    /// The ICE agent's configuration (STUN servers, timers, limits); its `controlling` flag is
    /// set from the offer/answer roles.
    pub ice: AgentConfig,
    /// The DTLS certificate, when [`certificates`](Self::certificates) is empty; `None` (and
    /// no certificates) generates one.
    pub identity: Option<Identity>,
    /// W3C `certificates`: the first is used (its expiry is checked against
    /// [`created_at`](Self::created_at)); empty falls back to [`identity`](Self::identity).
    pub certificates: Vec<Certificate>,
    /// The wall-clock time the connection is made, which the core cannot read: needed when
    /// [`certificates`](Self::certificates) are given, to refuse an expired one
    /// ([`Error::CertificateExpired`]; without it, [`Error::NoWallClock`]).
    pub created_at: Option<std::time::SystemTime>,
    /// The largest message we accept, announced as `a=max-message-size`.
    pub max_message_size: usize,
    /// STUN and TURN servers, as W3C `RTCConfiguration.iceServers` gives them: `stun:` URLs
    /// (RFC 7064) become server-reflexive gathering, `turn:` and `turns:` URLs (RFC 7065) relay
    /// allocations with the entry's username and credential. The core resolves no names: a
    /// URL must carry an IP address. `?transport=tcp` and `turns:` relays need a driver that
    /// carries their datagrams on a connection ([`crate::turn::StreamLink`]), as `kaon-std`
    /// and `kaon-tokio` do; `stuns:` is refused with [`Error::UnsupportedIceServer`].
    pub ice_servers: Vec<IceServer>,
    /// W3C `iceTransportPolicy`: `Relay` pairs only relayed candidates (the peer then never
    /// learns a host or reflexive address of ours).
    pub ice_transport_policy: crate::ice::IceTransportPolicy,
    /// How long [`PeerConnection::close`] lets the SCTP association deliver what was queued
    /// and finish its SHUTDOWN before it aborts it and sends DTLS close_notify anyway.
    pub close_timeout: std::time::Duration,
    /// The codecs and RTP header extensions offered and accepted (Chromium's usual set by
    /// default); shared by every connection made from clones of this config.
    pub media: std::sync::Arc<MediaEngine>,
    /// The wall-clock time our RTCP sender reports count from (RFC 3550 §4): the NTP time at
    /// an `Instant` the application read once. `None` takes the first `now` the connection
    /// sees as 2026-01-01 00:00 UTC, which keeps round-trip times and lip sync right but makes
    /// the absolute times meaningless to the peer.
    pub ntp_epoch: Option<crate::media::stream::NtpEpoch>,
    /// mDNS (draft-ietf-mmusic-mdns-ice-candidates): hide host addresses behind `.local`
    /// names, resolve the peer's. Off by default; see [`MdnsOptions`].
    pub mdns: MdnsOptions,
    /// Which DTLS versions to speak ([`crate::dtls::VersionPolicy`]). By default
    /// `Dtls13OrDtls12`: DTLS 1.3 with peers that offer it (Chromium 156 settles on it in both
    /// roles, with an X25519MLKEM768 key share), 1.2 with the rest (aiortc, Pion). `Dtls12`
    /// or `Dtls13` pins one version.
    pub dtls_versions: crate::dtls::VersionPolicy,
    /// W3C `bundlePolicy`; see [`BundlePolicy`] for what each value does in kaon.
    pub bundle_policy: BundlePolicy,
    /// The congestion controller's estimate before any feedback, in bits per second
    /// ([`PeerEvent::BitrateEstimate`] starts here).
    pub start_bitrate: u64,
    /// The estimate never goes below this, in bits per second.
    pub min_bitrate: u64,
    /// The estimate never goes above this, in bits per second.
    pub max_bitrate: u64,
    /// Report what the layers do as [`PeerEvent::Diagnostic`] events (pairs tried and why
    /// their checks failed, DTLS alerts, why SCTP ended...; see [`Diagnostic`]). Off by
    /// default, and then free.
    pub diagnostics: bool,
    /// ICE-TCP host candidates (RFC 6544) for a driver to gather by itself on the address of
    /// each UDP socket it is given (`kaon-std` and `kaon-tokio` do): see [`IceTcpCandidates`].
    /// Off by default. The core opens no socket; driving the core yourself, add them with
    /// [`PeerConnection::add_tcp_passive`] and [`PeerConnection::add_tcp_active`].
    pub ice_tcp: IceTcpCandidates,
}

/// Which ICE-TCP candidates (RFC 6544 §4.5) a driver gathers on each of its UDP sockets'
/// addresses ([`PeerConfig::ice_tcp`]).
///
/// Browsers gather only active TCP candidates (Chromium's, on port 9, once a page may use the
/// microphone or camera), so a server that must be reachable when UDP is blocked offers a
/// passive one: [`Passive`](Self::Passive). Two kaon peers over TCP need one side passive
/// and the other active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IceTcpCandidates {
    /// No TCP candidate (the default): ICE runs over UDP only.
    #[default]
    Off,
    /// A passive candidate: a listening socket on a port of the system's choosing, which the
    /// peer's active candidates connect to.
    Passive,
    /// An active candidate (`ip:9`, RFC 6544 §4.5): connections to the peer's passive
    /// candidates.
    Active,
    /// Both.
    PassiveAndActive,
}

impl IceTcpCandidates {
    /// Whether a passive candidate is gathered.
    pub fn passive(self) -> bool {
        matches!(self, Self::Passive | Self::PassiveAndActive)
    }

    /// Whether an active candidate is gathered.
    pub fn active(self) -> bool {
        matches!(self, Self::Active | Self::PassiveAndActive)
    }
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            seed: None,
            ice: AgentConfig::default(),
            identity: None,
            certificates: Vec::new(),
            created_at: None,
            max_message_size: 256 * 1024,
            close_timeout: std::time::Duration::from_secs(3),
            ice_servers: Vec::new(),
            ice_transport_policy: crate::ice::IceTransportPolicy::All,
            media: jsep::codec::default_engine(),
            ntp_epoch: None,
            mdns: MdnsOptions::default(),
            dtls_versions: crate::dtls::VersionPolicy::Dtls13OrDtls12,
            bundle_policy: BundlePolicy::MaxBundle,
            start_bitrate: 300_000,
            min_bitrate: 30_000,
            max_bitrate: 10_000_000,
            diagnostics: false,
            ice_tcp: IceTcpCandidates::Off,
        }
    }
}

impl PeerConfig {
    /// The defaults with a seed, for reproducible runs.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed: Some(seed),
            ..Self::default()
        }
    }
}

/// W3C `RTCBundlePolicy` (RFC 8829 §4.1.1): how an offer asks the peer to bundle.
///
/// kaon runs one transport (ICE, DTLS) for the whole session whatever the policy: the
/// policies differ only in what our offers say, and so in what a peer that does not
/// bundle may take.
///
/// - [`MaxBundle`](Self::MaxBundle) (the default): the offer groups every live section with
///   `a=group:BUNDLE`, and each section new in that offer other than the session's first is
///   `a=bundle-only` with port 0 (RFC 8843 §6, RFC 8829 §5.2.1): a peer that does not bundle
///   rejects those sections, and keeps the first.
/// - [`Balanced`](Self::Balanced) and [`MaxCompat`](Self::MaxCompat): the offer groups the
///   sections with BUNDLE but marks none bundle-only, so a peer that does not bundle may
///   accept each on a transport of its own. kaon opens no second transport: only the section
///   carrying the transport (the data section, or the first live one) keeps working, and
///   the transceiver of a media section the answer takes outside the bundle is stopped as
///   if rejected ([`Transceiver::is_stopped`], no `current_direction`; writing to it fails
///   with [`Error::NotSending`] or [`Error::NoSuchTransceiver`]). The two differ in browsers
///   (a transport per kind, or per section), not here.
///
/// In answers the peer's offer decides (RFC 8843 §7.3): sections it does not bundle, other
/// than the one carrying the transport, are answered rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BundlePolicy {
    /// W3C `balanced`.
    Balanced,
    /// W3C `max-compat`.
    MaxCompat,
    /// W3C `max-bundle` (kaon's default: it runs one transport).
    #[default]
    MaxBundle,
}

/// One entry of [`PeerConfig::ice_servers`] (W3C `RTCIceServer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:` or `turn:` URLs of the same server.
    pub urls: Vec<String>,
    /// The TURN username.
    pub username: String,
    /// The TURN password.
    pub credential: String,
}

impl IceServer {
    /// A server with one URL and no credentials (a STUN server).
    pub fn url(url: &str) -> Self {
        Self {
            urls: vec![url.to_string()],
            ..Self::default()
        }
    }

    /// A TURN server with long-term credentials.
    pub fn turn(url: &str, username: &str, credential: &str) -> Self {
        Self {
            urls: vec![url.to_string()],
            username: username.to_string(),
            credential: credential.to_string(),
        }
    }
}

/// Where offer/answer stands (RTCSignalingState, RFC 8829 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalingState {
    /// No offer pending.
    Stable,
    /// We set an offer and wait for the answer.
    HaveLocalOffer,
    /// The peer's offer is set; we owe an answer.
    HaveRemoteOffer,
}

/// Where candidate gathering stands (W3C `RTCIceGatheringState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceGatheringState {
    /// No local address yet.
    New,
    /// Candidates are still being gathered (STUN and TURN servers asked).
    Gathering,
    /// Every local candidate has been announced.
    Complete,
}

/// The connection's aggregate state (RTCPeerConnectionState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Nothing started.
    New,
    /// ICE checks or the DTLS handshake are under way.
    Connecting,
    /// ICE has a pair and DTLS is up.
    Connected,
    /// ICE lost its pair for now.
    Disconnected,
    /// ICE or DTLS failed (a wrong certificate fingerprint, no working pair): final.
    Failed,
    /// [`PeerConnection::close`] was called.
    Closed,
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A local candidate to trickle to the peer: its `candidate:...` line, the first
    /// bundled section of the session as known when the event is polled (`sdp_mid` and
    /// `sdp_mline_index`; only `sdp_mline_index: 0` before any description names one) and our
    /// ICE username fragment. Send [`IceCandidate::to_json`] to a browser.
    LocalCandidate(IceCandidate),
    /// Every local candidate has been announced: send `a=end-of-candidates`.
    GatheringComplete,
    /// The ICE state changed.
    IceConnectionStateChanged(IceState),
    /// The aggregate state changed.
    ConnectionStateChanged(ConnectionState),
    /// ICE selected a (new) candidate pair (W3C `selectedcandidatepairchange`): after the
    /// first connect, after an ICE restart, or on failover to a backup pair.
    SelectedCandidatePairChanged {
        /// Our candidate (`candidate:...`).
        local: String,
        /// The peer's candidate.
        remote: String,
    },
    /// DTLS is connected (the peer's certificate matched its fingerprint).
    DtlsConnected,
    /// DTLS failed; the connection is failed.
    DtlsFailed(crate::dtls::Error),
    /// The peer closed DTLS.
    DtlsClosed,
    /// The SCTP association is up.
    SctpConnected,
    /// The SCTP association ended; every channel is closed.
    SctpClosed,
    /// A channel is open: one we created (`remote: false`) or one the peer opened.
    DataChannelOpen {
        /// The channel (its SCTP stream id).
        id: ChannelId,
        /// Its label.
        label: String,
        /// Whether the peer opened it.
        remote: bool,
    },
    /// A message arrived.
    Message {
        /// The channel.
        channel: ChannelId,
        /// The payload. A message that arrived in one chunk is a slice of the buffer its
        /// record was decrypted into, which it keeps alive with the records around it (about
        /// 16 KiB): copy it (`Bytes::copy_from_slice`) to keep a small message for long.
        data: bytes::Bytes,
        /// Binary or text.
        binary: bool,
    },
    /// A channel's buffered amount fell to its threshold.
    BufferedAmountLow(ChannelId),
    /// A channel is closed in both directions.
    DataChannelClosed(ChannelId),
    /// The session needs a new offer/answer exchange (W3C `negotiationneeded`): after
    /// [`restart_ice`](PeerConnection::restart_ice), when the first data channel is
    /// created before any data section was negotiated, or when a track or transceiver is added,
    /// removed, stopped or changes direction. Call `create_offer` when stable.
    NegotiationNeeded,
    /// A new incoming media source (W3C `track`): its first packet arrived. Boxed: it is rare
    /// and large, and every queued event is as large as the largest variant.
    Track(Box<TrackEvent>),
    /// An RTP packet arrived on a transceiver: plaintext, whole (header and payload), RTX
    /// already unwrapped into the original stream.
    Rtp {
        /// The transceiver's mid.
        mid: Mid,
        /// The packet; parse it with [`RtpPacket`](crate::rtp::RtpPacket).
        packet: bytes::Bytes,
    },
    /// A whole frame arrived on a transceiver whose frames are on
    /// ([`set_receive_frames`](PeerConnection::set_receive_frames)): depacketized, in order,
    /// with its keyframe flag and whether anything was lost before it.
    Sample {
        /// The transceiver's mid.
        mid: Mid,
        /// The SSRC of the source the frame came from: a transceiver receiving several sources
        /// (simulcast layers, a sender that restarted) hands out each one's frames apart.
        ssrc: u32,
        /// The source's RTP stream id (RFC 8852), when it has one (a simulcast layer).
        rid: Option<std::sync::Arc<str>>,
        /// The frame.
        sample: crate::media::jitter::Sample,
    },
    /// The peer asked for a keyframe on what we send on `mid` (RTCP PLI or FIR).
    KeyframeRequest {
        /// The transceiver's mid.
        mid: Mid,
        /// PLI or FIR.
        kind: KeyframeKind,
    },
    /// A transceiver stopped (ours, or the peer rejected its m-line): no more media on it.
    TrackEnded {
        /// The transceiver's mid.
        mid: Mid,
    },
    /// The congestion controller's target for what we send changed meaningfully (the first
    /// value, a move of 5% or more, or a fall on overuse or loss): the encoders together should
    /// produce this many bits per second. Raised once packets go out with transport-wide
    /// sequence numbers (the `transport-cc` extension is negotiated) and feedback arrives.
    BitrateEstimate {
        /// The target, in bits per second (W3C `availableOutgoingBitrate`).
        bitrate_bps: u64,
        /// What changed it.
        reason: crate::bwe::Reason,
    },
    /// What the stack did and why, when [`PeerConfig::diagnostics`] is on.
    Diagnostic(Diagnostic),
}

/// Counters, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Datagrams given to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams dropped: unknown first byte (RFC 7983), media, ZRTP, DTLS from a pair ICE
    /// does not vouch for or before DTLS exists.
    pub dropped: u64,
    /// DTLS datagrams written by `poll_transmit`.
    pub datagrams_sent: u64,
    /// SCTP packets DTLS refused (closed or failed).
    pub sctp_packets_dropped: u64,
    /// Remote candidates ignored: lines of a description that did not parse, trickled ones
    /// of another ICE generation, and ones held for a pending restart answer that named
    /// another ufrag (or past the bound of that wait).
    pub candidates_ignored: u64,
}

/// Why a PeerConnection operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An answer whose m-lines do not match our offer's line for line (RFC 8829 §5.3.1: the
    /// same count, kinds and mids, in order).
    #[error("the answer's m-lines do not match the offer's")]
    SectionMismatch,
    /// No `a=ice-ufrag` / `a=ice-pwd`.
    #[error("the description lacks ICE credentials")]
    NoIceCredentials,
    /// No sha-256 `a=fingerprint`.
    #[error("the description lacks a sha-256 fingerprint")]
    NoFingerprint,
    /// No `a=setup`.
    #[error("the description lacks a=setup")]
    NoSetup,
    /// An `a=setup` value not allowed here (an answer must say `active` or `passive`).
    #[error("a=setup:{} is not allowed here", .0.as_str())]
    BadSetup(Setup),
    /// The peer's SCTP port differs from 5000 after channels were created.
    #[error("unsupported remote SCTP port {0}")]
    SctpPort(u16),
    /// The operation is not allowed in this signalling state.
    #[error("{operation} is not allowed in signalling state {state:?}")]
    InvalidState {
        /// What was attempted.
        operation: &'static str,
        /// The state.
        state: SignalingState,
    },
    /// A candidate came before any remote description.
    #[error("no remote description")]
    NoRemoteDescription,
    /// A trickled candidate names a section (`sdp_mid` or `sdp_mline_index`) that neither
    /// description has (W3C `addIceCandidate`: OperationError).
    #[error("the candidate names no section of the session")]
    NoSuchSection,
    /// A later offer or answer changes what must stay for the life of the connection in this
    /// release: the certificate, the DTLS role, the mid or the SCTP port (any of these means a
    /// new DTLS association, RFC 8842 §5.5). ICE restarts and new candidates are fine.
    #[error("renegotiation cannot change the {0}")]
    Renegotiation(&'static str),
    /// A message larger than the peer's `a=max-message-size`.
    #[error("message of {size} bytes exceeds the peer's limit of {max}")]
    MessageTooLarge {
        /// The message size.
        size: usize,
        /// The peer's limit.
        max: usize,
    },
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// The certificate of [`PeerConfig::certificates`] expired (W3C: InvalidAccessError).
    #[error("the certificate expired")]
    CertificateExpired {
        /// When it expired.
        expires: std::time::SystemTime,
    },
    /// [`PeerConfig::certificates`] were given without [`PeerConfig::created_at`]: their
    /// expiry cannot be checked.
    #[error("certificates need PeerConfig::created_at to check their expiry")]
    NoWallClock,
    /// An `ice_servers` URL that does not parse, names a host instead of an IP address (the
    /// core does no DNS), or asks for a transport not supported (`stuns:`).
    #[error("ICE server {url}: {reason}")]
    UnsupportedIceServer {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No transceiver with that id or mid.
    #[error("no such transceiver")]
    NoSuchTransceiver,
    /// More than [`media::MAX_TRANSCEIVERS`] transceivers.
    #[error("too many transceivers")]
    TooManyTransceivers,
    /// The transceiver does not send: not negotiated yet, stopped, or its current direction
    /// is `recvonly` or `inactive`.
    #[error("the transceiver does not send")]
    NotSending,
    /// An RTP packet whose payload type is no codec negotiated on its transceiver.
    #[error("payload type {0} is not negotiated")]
    UnknownPayloadType(u8),
    /// The outgoing media queue is full: drive `poll_transmit`.
    #[error("the media queue is full")]
    MediaQueueFull,
    /// No negotiated codec of the transceiver (or none of the chosen mime type) has a payload
    /// format kaon can packetize.
    #[error("no negotiated codec to packetize ({0})")]
    UnsupportedCodec(String),
    /// The frame could not be packetized (empty, or a unit too large for the mode).
    #[error(transparent)]
    Codec(crate::media::codec::CodecError),
    /// A malformed RTP packet.
    #[error(transparent)]
    Rtp(crate::rtp::Error),
    /// The ICE agent refused (a malformed candidate, bad credentials, too many addresses).
    #[error(transparent)]
    Ice(#[from] crate::ice::Error),
    /// A certificate could not be generated.
    #[error(transparent)]
    Dtls(#[from] crate::dtls::Error),
    /// The data channel layer refused (no such channel, too many, buffer full).
    #[error(transparent)]
    DataChannel(#[from] crate::datachannel::Error),
    /// The description did not parse.
    #[error(transparent)]
    Sdp(#[from] crate::sdp::Error),
}
