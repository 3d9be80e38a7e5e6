//! Association configuration and its defaults, with the reasons for them.

use std::time::Duration;

/// Configuration of one [`Association`](super::Association).
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed for the association's random numbers (tags, initial TSN, cookie secret); `None`
    /// seeds from the operating system. Give one for reproducible simulations.
    pub seed: Option<u64>,
    /// Our SCTP port (SDP `a=sctp-port`; 5000 in WebRTC).
    pub local_port: u16,
    /// The peer's SCTP port.
    pub remote_port: u16,
    /// Largest SCTP packet to send, common header included. WebRTC over DTLS over UDP uses
    /// about 1200 so the DTLS record fits any path.
    pub mtu: usize,
    /// Largest message `send` accepts: the peer's SDP `a=max-message-size` (RFC 8841). The
    /// default is 256 KiB; peers that announce 64 KiB (older Firefox) need it lowered.
    pub max_message_size: usize,
    /// Our receive buffer, advertised as a_rwnd. It bounds the bytes held for reassembly,
    /// reordering and not-yet-polled messages, so it is also the memory a peer can make us
    /// hold. 16 MiB lets one association fill 1 Gbit/s at about 130 ms of round trip.
    pub receive_window: usize,
    /// Bytes `send` may queue before refusing with `SendBufferFull` (Chromium uses 16 MiB).
    pub send_buffer: usize,
    /// Bytes sent and not yet acknowledged cumulatively that we keep for retransmission.
    /// An honest peer's window bounds this already; the cap stops a peer that gap-acks
    /// everything but never acknowledges it cumulatively from growing our memory. It must
    /// exceed the path's bandwidth-delay product for full speed: 32 MiB covers 1 Gbit/s at
    /// about 200 ms.
    pub max_inflight: usize,
    /// Streams we ask for in each direction; the association uses the smaller of ours and the
    /// peer's. WebRTC asks for the maximum, 65535.
    pub streams: u16,
    /// RTO before the first measurement. RFC 9260 says 1 s; 500 ms (as libwebrtc's dcsctp)
    /// speeds up recovery of a lost INIT on today's paths.
    pub rto_initial: Duration,
    /// Lower RTO bound. It must exceed the peer's delayed-ack time (200 ms) plus a round trip,
    /// or a lone message would time out before its SACK arrives: 400 ms (as dcsctp).
    pub rto_min: Duration,
    /// Upper RTO bound. RFC 9260 says 60 s; WebRTC detects dead paths with ICE consent
    /// (30 s), and a long backed-off RTO only delays recovery after an outage, so 10 s.
    pub rto_max: Duration,
    /// INIT and COOKIE ECHO attempts before giving up (RFC 9260 Max.Init.Retransmits).
    pub max_init_retransmits: u32,
    /// Consecutive timeouts before the peer is declared unreachable (Association.Max.Retrans).
    /// RFC 9260 suggests 10; at 30% loss each way a run of ten timeouts happens by chance
    /// within a long transfer, and WebRTC judges liveness with ICE consent (30 s) anyway, so
    /// 20 (about three minutes of silence with the 10 s RTO cap).
    pub max_retransmits: u32,
    /// How long a SACK may be delayed (RFC 9260 §6.2: should be 200 ms at most).
    pub delayed_ack: Duration,
    /// Idle time before a HEARTBEAT, `None` for none.
    pub heartbeat_interval: Option<Duration>,
    /// Valid.Cookie.Life.
    pub cookie_lifetime: Duration,
    /// Offer I-DATA (RFC 8260); used when the peer offers it too.
    pub interleaving: bool,
    /// Accept and, when the peer accepts it too, send packets with a zero checksum
    /// (RFC 9653). Only safe when a lower layer protects integrity: enable it over DTLS.
    pub zero_checksum: bool,
    /// Initial congestion window in MTUs. RFC 9260 allows about four; ten, as RFC 6928 allows
    /// TCP and dcsctp uses, saves round trips on the first messages of a WebRTC session.
    pub initial_cwnd_mtus: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: None,
            local_port: 5000,
            remote_port: 5000,
            mtu: 1200,
            max_message_size: 256 * 1024,
            receive_window: 16 * 1024 * 1024,
            send_buffer: 16 * 1024 * 1024,
            max_inflight: 32 * 1024 * 1024,
            streams: u16::MAX,
            rto_initial: Duration::from_millis(500),
            rto_min: Duration::from_millis(400),
            rto_max: Duration::from_secs(10),
            max_init_retransmits: 8,
            max_retransmits: 20,
            delayed_ack: Duration::from_millis(200),
            heartbeat_interval: Some(Duration::from_secs(30)),
            cookie_lifetime: Duration::from_secs(60),
            interleaving: true,
            zero_checksum: false,
            initial_cwnd_mtus: 10,
        }
    }
}
