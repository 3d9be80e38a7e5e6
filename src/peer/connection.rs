//! [`PeerConnection`]: ICE, DTLS, SCTP and data channels behind one driving contract.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::demux::PacketKind;
use super::jsep::{DEFAULT_MAX_MESSAGE_SIZE, MLine, RemoteSummary, SCTP_PORT, SdpType, Session};
use super::stats::Traffic;
use super::{
    ConnectionState, Error, IceCandidate, IceGatheringState, PeerConfig, PeerEvent, PeerStats,
    SignalingState,
};
use crate::datachannel::{self, ChannelConfig, ChannelId, DataChannels};
use crate::dtls::{self, Fingerprint, HashAlgorithm, Identity, SrtpKeying};
use crate::ice::{Agent, AgentConfig, IceEvent, IceState, Received};
use crate::{Datagram, Protocol, Rng, Transmit};

/// The largest SCTP packet we hand DTLS: the DTLS record (13 bytes of header, 8 of explicit
/// nonce and 16 of tag for AES-GCM, more for CBC-less suites never) must fit in the 1200-byte
/// datagram WebRTC stacks assume.
pub(super) const SCTP_MTU: usize = 1200 - 64;

/// How long a DTLS client waits for the peer's first check before sending its ClientHello
/// anyway (see `ensure_dtls`).
const CLIENT_HELLO_HOLD: std::time::Duration = std::time::Duration::from_millis(500);
/// Early DTLS datagrams kept until our role is known: a ClientHello, even a post-quantum one in
/// two fragments, and a retransmission.
const MAX_EARLY_DTLS: usize = 4;
const MAX_EARLY_DTLS_BYTES: usize = 8 * 1024;

const UNSPECIFIED: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// A WebRTC peer connection for data channels: see the [module documentation](super).
#[derive(Debug)]
// Declared in this order (`repr(C)`): what every packet sent reads (the quiet state, the
// closed flags, the media's pointer) in its first two lines, the rest by alignment.
#[repr(C)]
pub struct PeerConnection {
    /// Nothing ahead of the records to send until a deadline (see `send.rs`); cleared by
    /// every entry point but those that write media, send on a channel or poll.
    pub(super) quiet: Option<super::send::Quiet>,
    pub(super) closed: bool,
    pub(super) sctp_started: bool,
    /// Transceivers, SRTP and the RTP level.
    pub(super) media: super::media::MediaSlot,
    /// The agent's configuration, until the first remote description settles our ICE role
    /// (an answerer rebuilds its agent from it); boxed and then dropped, as a connected peer
    /// never reads it again.
    pub(super) cfg_ice: Option<Box<AgentConfig>>,
    pub(super) ice: Agent,
    pub(super) identity: Identity,
    pub(super) fingerprint: Fingerprint,
    pub(super) dtls: Option<dtls::Endpoint>,
    /// The addresses the DTLS endpoint was created with; datagrams are handed to it as if
    /// between them, whichever pair ICE uses at the moment.
    pub(super) dtls_addrs: (SocketAddr, SocketAddr),
    pub(super) remote_fingerprints: Vec<Fingerprint>,
    pub(super) channels: DataChannels,
    pub(super) sctp_seed: Option<u64>,
    pub(super) local_max_message_size: usize,
    pub(super) remote_max_message_size: usize,
    pub(super) local_addrs: Vec<SocketAddr>,
    pub(super) local_candidates: Vec<String>,
    /// The remote offer, applied when we set our answer (so a rollback has nothing to undo).
    /// Boxed: an idle connection holds none.
    pub(super) pending_remote: Option<Box<RemoteSummary>>,
    /// Candidates trickled in before the remote description they belong to was applied, as
    /// (the fragment they named or "", the line or "" for end-of-candidates).
    pub(super) pending_candidates: Vec<(String, String)>,
    /// Our ICE username fragment as of the last completed exchange: if the agent still has
    /// it when the peer restarts ICE, we restart too (RFC 8445 §9).
    pub(super) signalled_ufrag: Option<String>,
    /// Our last offer or answer, and whether it was an offer.
    /// Kept as text: a parsed description is several times larger, and a server holds one
    /// per peer.
    pub(super) local_description: Option<(SdpType, String)>,
    pub(super) remote_description: Option<(SdpType, String)>,
    /// While an offer is pending: the description it replaced, still the current one.
    pub(super) previous_local: Option<(SdpType, String)>,
    pub(super) previous_remote: Option<(SdpType, String)>,
    /// The session's m-lines as of the last completed exchange (RFC 8829).
    pub(super) jsep: Session,
    /// The m-lines of our pending offer, until its answer settles them.
    pub(super) local_offer_lines: Option<Vec<MLine>>,
    pub(super) session_id: u64,
    pub(super) session_version: u64,
    /// After a graceful `close`: until when SCTP may finish delivering and shutting down
    /// before DTLS says close_notify.
    pub(super) closing_until: Option<Instant>,
    /// DTLS datagrams that came over a valid pair before we knew our DTLS role (the peer
    /// applied our offer's answer before we got it): replayed once the role is known.
    /// Each with when it arrived: the replay is due from then on.
    pub(super) early_dtls: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    /// As DTLS client: when to send the ClientHello even though the peer has not checked us.
    pub(super) client_hello_at: Option<Instant>,
    pub(super) close_timeout: std::time::Duration,
    pub(super) srtp: Option<SrtpKeying>,
    pub(super) events: VecDeque<PeerEvent>,
    pub(super) stats: PeerStats,
    /// What `get_stats` reports.
    pub(super) traffic: Traffic,
    /// Our pending offer's media sections, as set, until its answer settles them.
    pub(super) local_offer_media: Option<Vec<Option<super::jsep::SectionMedia>>>,
    /// mDNS names and resolution (see `mdns.rs`); empty unless enabled.
    pub(super) mdns: super::mdns::PeerMdns,
    /// Diagnostics, when on (see `diag.rs`).
    pub(super) diag: Option<Box<super::diag::Tracker>>,
    pub(super) bundle_policy: super::BundlePolicy,
    pub(super) dtls_role: Option<dtls::Role>,
    pub(super) remote_sctp_port: u16,
    pub(super) gathering_complete: bool,
    pub(super) signaling: SignalingState,
    pub(super) remote_applied: bool,
    /// `NegotiationNeeded` was raised for the first data channel.
    pub(super) data_negotiation_asked: bool,
    /// Whether `previous_*` holds what a pending offer replaced (it may be `None`: the first
    /// offer replaced nothing).
    pub(super) previous_local_kept: bool,
    pub(super) previous_remote_kept: bool,
    pub(super) ice_state: IceState,
    pub(super) state: ConnectionState,
    pub(super) dtls_connected: bool,
    pub(super) dtls_failed: bool,
    pub(super) dtls_versions: dtls::VersionPolicy,
}

impl PeerConnection {
    /// A new connection. Generates a certificate unless `config.identity` has one.
    pub fn new(config: PeerConfig) -> Result<Self, Error> {
        let mut rng = Rng::new(config.seed);
        let identity = match (config.certificates.first(), config.identity) {
            (Some(cert), _) => {
                // W3C RTCPeerConnection(): an expired certificate is refused.
                let now = config.created_at.ok_or(Error::NoWallClock)?;
                if cert.is_expired(now) {
                    return Err(Error::CertificateExpired {
                        expires: cert.expires(),
                    });
                }
                cert.identity().clone()
            }
            (None, Some(id)) => id,
            (None, None) => Identity::generate()?,
        };
        let fingerprint = identity.fingerprint(HashAlgorithm::Sha256);
        let mut cfg_ice = config.ice;
        apply_ice_servers(&mut cfg_ice, &config.ice_servers)?;
        cfg_ice.transport_policy = match config.ice_transport_policy {
            crate::ice::IceTransportPolicy::All => cfg_ice.transport_policy,
            relay => relay,
        };
        if cfg_ice.seed.is_none() {
            cfg_ice.seed = config.seed.map(|s| s ^ 0x1ce);
        }
        if config.mdns.hide_host_addresses {
            cfg_ice.mdns_mode = crate::ice::MdnsMode::HideHostAddresses;
        }
        let mdns = super::mdns::PeerMdns::new(&config.mdns, config.seed);
        // JSEP §5.2.1 / RFC 8445 §6.1.1: the offerer controls. Until we know which side we are
        // we assume offerer; applying a remote offer rebuilds the agent as controlled.
        cfg_ice.controlling = !cfg_ice.lite;
        let ice = Agent::new(cfg_ice.clone());
        let sctp_seed = config.seed.map(|s| s ^ 0x5c79);
        let local_max_message_size = config.max_message_size;
        let media = super::media::MediaSlot::new(
            config.media,
            config.seed.map(|s| s ^ 0x3d1a),
            config.ntp_epoch,
            (config.start_bitrate, config.min_bitrate, config.max_bitrate),
        );
        Ok(Self {
            media,
            local_offer_media: None,
            quiet: None,
            cfg_ice: Some(Box::new(cfg_ice)),
            bundle_policy: config.bundle_policy,
            ice,
            identity,
            fingerprint,
            dtls: None,
            dtls_addrs: (UNSPECIFIED, UNSPECIFIED),
            dtls_role: None,
            remote_fingerprints: Vec::new(),
            channels: DataChannels::new(channels_config(
                sctp_seed,
                datachannel::Role::Server,
                SCTP_PORT,
                local_max_message_size,
            )),
            sctp_seed,
            sctp_started: false,
            local_max_message_size,
            remote_max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            remote_sctp_port: SCTP_PORT,
            local_addrs: Vec::new(),
            local_candidates: Vec::new(),
            gathering_complete: false,
            signaling: SignalingState::Stable,
            pending_remote: None,
            pending_candidates: Vec::new(),
            remote_applied: false,
            signalled_ufrag: None,
            local_description: None,
            remote_description: None,
            previous_local: None,
            previous_remote: None,
            previous_local_kept: false,
            data_negotiation_asked: false,
            previous_remote_kept: false,
            jsep: Session::default(),
            local_offer_lines: None,
            session_id: rng.u64() >> 2,
            session_version: 1,
            ice_state: IceState::New,
            state: ConnectionState::New,
            dtls_connected: false,
            dtls_failed: false,
            closed: false,
            closing_until: None,
            early_dtls: Vec::new(),
            client_hello_at: None,
            close_timeout: config.close_timeout,
            dtls_versions: config.dtls_versions,
            srtp: None,
            events: VecDeque::new(),
            stats: PeerStats::default(),
            traffic: Traffic::default(),
            mdns,
            diag: config.diagnostics.then(Box::default),
        })
    }

    // ---- local addresses and candidates ----

    /// Adds a local socket address as a host candidate (the application owns the socket and
    /// feeds what arrives on it to [`handle_datagram`](Protocol::handle_datagram)).
    pub fn add_local_address(&mut self, addr: SocketAddr) -> Result<(), Error> {
        self.unquiet();
        self.ice.add_local_interface(addr)?;
        self.local_addrs.push(addr);
        Ok(())
    }

    /// Adds a passive ICE-TCP host candidate (RFC 6544) on a listening TCP socket the driver
    /// owns; see [`Agent::add_tcp_passive`] and [`crate::ice::IceTcpLink`], through which the
    /// driver must pass every datagram this connection sends and the frames it receives.
    pub fn add_tcp_passive(&mut self, listener: SocketAddr) -> Result<(), Error> {
        self.unquiet();
        Ok(self.ice.add_tcp_passive(listener)?)
    }

    /// Adds an active ICE-TCP host candidate on the interface `ip`; returns its address
    /// (`ip:9`) for the driver's [`crate::ice::IceTcpLink`]. See [`Agent::add_tcp_active`].
    pub fn add_tcp_active(&mut self, ip: std::net::IpAddr) -> Result<SocketAddr, Error> {
        self.unquiet();
        Ok(self.ice.add_tcp_active(ip)?)
    }

    /// The driver's ICE-TCP connection between `local` and `remote` closed or failed to open
    /// (from [`crate::ice::IceTcpLink::handle_closed`]): its pair fails
    /// ([`Agent::tcp_stream_closed`]).
    pub fn ice_tcp_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        self.unquiet();
        self.ice.tcp_stream_closed(now, local, remote);
    }

    /// The local candidates found so far, as `candidate:...` lines.
    pub fn local_candidates(&self) -> &[String] {
        &self.local_candidates
    }

    /// The offer/answer state (RTCSignalingState).
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }

    /// The ICE agent's state (RTCIceConnectionState).
    pub fn ice_connection_state(&self) -> IceState {
        self.ice_state
    }

    /// The aggregate state (RTCPeerConnectionState).
    pub fn connection_state(&self) -> ConnectionState {
        self.state
    }

    /// Our last local description: its type and SDP text, like W3C `localDescription`.
    /// [`SessionDescription::parse`](crate::sdp::SessionDescription::parse) gives the typed
    /// form back.
    pub fn local_description(&self) -> Option<(SdpType, &str)> {
        self.local_description
            .as_ref()
            .map(|(t, s)| (*t, s.as_str()))
    }

    /// The peer's last description: its type and SDP text, like W3C `remoteDescription`.
    pub fn remote_description(&self) -> Option<(SdpType, &str)> {
        self.remote_description
            .as_ref()
            .map(|(t, s)| (*t, s.as_str()))
    }

    /// W3C `currentLocalDescription`: ours from the last completed offer/answer exchange.
    pub fn current_local_description(&self) -> Option<(SdpType, &str)> {
        let d = match self.signaling {
            SignalingState::HaveLocalOffer => &self.previous_local,
            _ => &self.local_description,
        };
        d.as_ref().map(|(t, s)| (*t, s.as_str()))
    }

    /// W3C `pendingLocalDescription`: our offer while it waits for its answer.
    pub fn pending_local_description(&self) -> Option<(SdpType, &str)> {
        match self.signaling {
            SignalingState::HaveLocalOffer => self.local_description(),
            _ => None,
        }
    }

    /// W3C `currentRemoteDescription`: the peer's from the last completed exchange.
    pub fn current_remote_description(&self) -> Option<(SdpType, &str)> {
        let d = match self.signaling {
            SignalingState::HaveRemoteOffer => &self.previous_remote,
            _ => &self.remote_description,
        };
        d.as_ref().map(|(t, s)| (*t, s.as_str()))
    }

    /// W3C `pendingRemoteDescription`: the peer's offer while we owe the answer.
    pub fn pending_remote_description(&self) -> Option<(SdpType, &str)> {
        match self.signaling {
            SignalingState::HaveRemoteOffer => self.remote_description(),
            _ => None,
        }
    }

    /// W3C `iceGatheringState`: `New` before any local address, `Gathering` while
    /// server-reflexive or relayed candidates are still being sought, `Complete` once every
    /// local candidate is announced ([`PeerEvent::GatheringComplete`](super::PeerEvent)).
    pub fn ice_gathering_state(&self) -> IceGatheringState {
        if self.gathering_complete {
            IceGatheringState::Complete
        } else if self.local_addrs.is_empty() {
            IceGatheringState::New
        } else {
            IceGatheringState::Gathering
        }
    }

    /// Our certificate's sha-256 fingerprint, as the offer and answer carry it.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The DTLS-SRTP keying material once DTLS is connected (for media, later).
    pub fn srtp_keying(&self) -> Option<&SrtpKeying> {
        self.srtp.as_ref()
    }

    /// The ICE agent (selected pair, candidates, counters).
    pub fn ice(&self) -> &Agent {
        &self.ice
    }

    /// The driver's TCP or TLS connection from `local` to the TURN server `server` closed
    /// (see [`crate::turn::StreamLink`]): the relay over it fails at once
    /// ([`Agent::relay_stream_closed`]).
    pub fn turn_stream_closed(&mut self, now: Instant, local: SocketAddr, server: SocketAddr) {
        self.unquiet();
        self.ice.relay_stream_closed(now, local, server);
    }

    /// The data channels and the SCTP association under them (counters, memory).
    pub fn data_channels(&self) -> &DataChannels {
        &self.channels
    }

    /// Counters.
    pub fn stats(&self) -> PeerStats {
        let mut s = self.stats;
        s.datagrams_sent += self.quiet_pending(None).packets_sent;
        s
    }

    // ---- data channels ----

    /// Creates a data channel; [`PeerEvent::DataChannelOpen`] says when it is usable. Its id
    /// follows RFC 8832 §6's parity for the DTLS role we have or, before the answer, the one
    /// we expect (odd for an offerer, as browsers answer `active`).
    pub fn create_data_channel(
        &mut self,
        now: Instant,
        label: &str,
        options: ChannelConfig,
    ) -> Result<ChannelId, Error> {
        self.unquiet();
        self.check_open()?;
        let config = ChannelConfig {
            label: label.to_string(),
            ..options
        };
        let id = self.channels.create_channel(now, config)?;
        // W3C webrtc-pc §6.2 (createDataChannel): the first channel of a session that has
        // negotiated no data section needs an offer/answer exchange; say so once.
        if self.jsep.data_mid().is_none() && !self.data_negotiation_asked {
            self.data_negotiation_asked = true;
            self.events.push_back(PeerEvent::NegotiationNeeded);
        }
        Ok(id)
    }

    /// Sends a text message.
    pub fn send_text(&mut self, now: Instant, channel: ChannelId, text: &str) -> Result<(), Error> {
        self.send_message(now, channel, Bytes::copy_from_slice(text.as_bytes()), false)
    }

    /// Sends a binary message.
    pub fn send(&mut self, now: Instant, channel: ChannelId, data: &[u8]) -> Result<(), Error> {
        self.send_message(now, channel, Bytes::copy_from_slice(data), true)
    }

    /// Sends a message without copying it: `binary` picks binary or text.
    pub fn send_message(
        &mut self,
        now: Instant,
        channel: ChannelId,
        data: Bytes,
        binary: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        // RFC 8841 §6: never more than the peer said it takes.
        if data.len() > self.remote_max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.remote_max_message_size,
            });
        }
        let len = data.len() as u64;
        self.channels.send(now, channel, data, binary)?;
        let c = self.traffic.channels.entry(channel).or_default();
        c.messages_sent += 1;
        c.bytes_sent += len;
        Ok(())
    }

    /// Bytes queued on a channel and not yet sent.
    pub fn buffered_amount(&self, channel: ChannelId) -> usize {
        self.channels.buffered_amount(channel)
    }

    /// Sets the buffered amount at or below which [`PeerEvent::BufferedAmountLow`] fires for a
    /// channel (RTCDataChannel.bufferedAmountLowThreshold; 0 by default). The event fires when
    /// the amount crosses from above the threshold to at or below it; an unknown channel is
    /// ignored.
    pub fn set_buffered_amount_low_threshold(&mut self, channel: ChannelId, bytes: usize) {
        self.channels
            .set_buffered_amount_low_threshold(channel, bytes);
    }

    /// A channel's label, protocol and reliability.
    pub fn channel_config(&self, channel: ChannelId) -> Option<&ChannelConfig> {
        self.channels.channel_config(channel)
    }

    /// Closes a channel (RFC 8831 §6.7): its stream reset leaves at the next
    /// `poll_transmit`, and [`PeerEvent::DataChannelClosed`] follows on both sides.
    pub fn close_channel(&mut self, now: Instant, channel: ChannelId) {
        self.channels.close(channel);
        self.pump(Some(now));
    }

    /// Restarts ICE (W3C `restartIce()`, RFC 8445 §9): new local credentials, candidates
    /// gathered and announced again, and a [`PeerEvent::NegotiationNeeded`]; the next offer
    /// carries the new credentials. The current pair keeps carrying data until checks on the
    /// new credentials select one, so channels survive a move to another network.
    pub fn restart_ice(&mut self, now: Instant) -> Result<(), Error> {
        self.unquiet();
        self.check_open()?;
        self.restart_local_ice();
        self.events.push_back(PeerEvent::NegotiationNeeded);
        self.pump(Some(now));
        Ok(())
    }

    /// Our side of an ICE restart: the agent's, and our record of the candidates it had.
    pub(super) fn restart_local_ice(&mut self) {
        self.ice.restart();
        self.local_candidates.clear();
        self.gathering_complete = false;
    }

    /// Closes the connection gracefully (W3C `close()`): the state is
    /// [`Closed`](ConnectionState::Closed) at once and nothing more can be sent, but what the
    /// channels already hold is still delivered, then the SCTP SHUTDOWN runs (RFC 9260 §9.2),
    /// then DTLS sends close_notify and ICE stops. The peer therefore sees every channel close
    /// even if it ignores close_notify. If the SHUTDOWN has not completed within
    /// [`PeerConfig::close_timeout`](super::PeerConfig::close_timeout) the association is
    /// aborted. Keep driving the connection (`poll_transmit`, `poll_timeout`) until
    /// `poll_timeout` returns `None` for the final datagrams to leave.
    pub fn close(&mut self, now: Instant) {
        self.unquiet();
        if self.closed {
            return;
        }
        self.closed = true;
        self.set_state(ConnectionState::Closed);
        if self.sctp_started && self.dtls.as_ref().is_some_and(|d| d.is_connected()) {
            self.channels.shutdown(now);
            self.closing_until = Some(now + self.close_timeout);
            self.progress_close(now);
        } else {
            self.finish_close(now);
        }
        self.pump(Some(now));
    }

    /// Closes the connection abruptly: SCTP ABORT (RFC 9260 §9.1) drops whatever is queued and
    /// tells the peer at once, then DTLS close_notify. Also what a graceful
    /// [`close`](Self::close) ends in when the SHUTDOWN does not complete in time.
    pub fn abort(&mut self, now: Instant) {
        self.unquiet();
        if !self.closed {
            self.closed = true;
            self.set_state(ConnectionState::Closed);
        }
        self.finish_close(now);
        self.pump(Some(now));
    }

    /// Moves a graceful close on: once the association is over (or the wait ran out), DTLS
    /// closes behind the last SCTP packets.
    fn progress_close(&mut self, now: Instant) {
        let Some(until) = self.closing_until else {
            return;
        };
        let terminated = self.channels.association().state() == crate::sctp::State::Terminated;
        if terminated || now >= until {
            self.finish_close(now);
        } else {
            self.flush_sctp(now);
        }
    }

    fn finish_close(&mut self, now: Instant) {
        self.closing_until = None;
        self.traffic.dtls_closed = self.dtls.is_some();
        if self.sctp_started {
            // A no-op once the association has terminated.
            self.channels.abort(now);
            self.flush_sctp(now);
            // Nothing can reach the association any more: its timers stop here.
            self.sctp_started = false;
        }
        if self.dtls.as_ref().is_some_and(|d| d.is_connected()) {
            self.diagnose(|_| super::Diagnostic::DtlsAlertSent {
                level: dtls::AlertLevel::Warning,
                description: dtls::AlertDescription::CloseNotify,
            });
        }
        match &mut self.dtls {
            Some(d) => d.close(),
            None => self.ice.close(),
        }
    }

    pub(super) fn check_open(&self) -> Result<(), Error> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    // ---- plumbing between the layers ----

    /// Creates the DTLS endpoint once we know our role and ICE has a pair to carry it: the
    /// selected one, or `via`, the valid pair a peer's first DTLS datagram came over (the
    /// controlled side may hear the ClientHello before the nomination).
    pub(super) fn ensure_dtls(&mut self, now: Instant, via: Option<(SocketAddr, SocketAddr)>) {
        if self.dtls.is_some() || self.closed {
            return;
        }
        let Some(role) = self.dtls_role else { return };
        let Some((local, remote)) = self
            .ice
            .selected_pair()
            .map(|p| (p.local, p.remote))
            .or(via)
        else {
            return;
        };
        if role == dtls::Role::Client && via.is_none() && !self.ice.peer_has_checked() {
            // Our check succeeded, but the peer may not have our answer yet (it answers checks
            // with its own password alone): a ClientHello now would be dropped and cost a
            // retransmission timeout. Its first check to us proves it is ready; if none comes,
            // go anyway after a short wait.
            let at = *self.client_hello_at.get_or_insert(now + CLIENT_HELLO_HOLD);
            if now < at {
                return;
            }
        }
        let cfg = dtls::Config {
            role,
            local_addr: Some(local),
            remote_addr: Some(remote),
            remote_fingerprints: self.remote_fingerprints.clone(),
            mtu: 1200,
            // ICE has already proven the peer answers at this address (RFC 8445 §7.2.5),
            // and only datagrams from pairs it vouches for reach DTLS: the cookie exchange
            // would only cost a round trip.
            hello_verify: false,
            seed: self.sctp_seed.map(|s| s ^ 0xd715),
            versions: self.dtls_versions,
            ..dtls::Config::default()
        };
        match dtls::Endpoint::new(cfg, self.identity.clone(), now) {
            Ok(mut d) => {
                // Records come out as shared buffers, so a message that fills one SCTP chunk
                // reaches the application as a slice of its record, not a copy.
                d.share_received_data();
                self.dtls_addrs = (local, remote);
                self.dtls = Some(d);
                self.client_hello_at = None;
                self.update_state();
            }
            Err(e) => self.dtls_fail(e),
        }
    }

    /// Feeds the DTLS datagrams that came before our role was known, once it is.
    pub(super) fn replay_early_dtls(&mut self, now: Instant) {
        if self.early_dtls.is_empty() || self.dtls_role.is_none() {
            return;
        }
        for (_, local, remote, bytes) in std::mem::take(&mut self.early_dtls) {
            let d = Datagram {
                source: remote,
                destination: local,
                contents: &bytes,
            };
            self.on_data(now, d, &bytes, PacketKind::Dtls);
        }
    }

    fn dtls_fail(&mut self, e: dtls::Error) {
        self.diagnose_dtls_failure(&e);
        self.dtls_failed = true;
        self.events.push_back(PeerEvent::DtlsFailed(e));
        self.update_state();
    }

    /// Handles what ICE and DTLS said; data channel events wait for `poll_event`.
    /// Moves the layers' events up. `now` is `None` before any call gave us a time: the ICE
    /// agent already announces host candidates then (added by `add_local_address`), and nothing
    /// that needs a time (a selected pair, DTLS) can have happened yet.
    pub(super) fn pump(&mut self, now: Option<Instant>) {
        // What moves may be due ahead of the records: the next poll walks them all.
        self.unquiet();
        self.observe_diagnostics();
        // `has_events` is exact (queued events or a gathering round to close): once per
        // received datagram, the agent has nothing.
        while self.ice.has_events()
            && let Some(e) = self.ice.poll_event()
        {
            match e {
                IceEvent::LocalCandidate(c) => {
                    let line = c.to_string();
                    // A rebuilt (controlled) agent announces the same candidates again.
                    if !self.local_candidates.contains(&line) {
                        self.local_candidates.push(line.clone());
                        self.diagnose(|_| super::Diagnostic::CandidateGathered {
                            candidate: line.clone(),
                        });
                        let ufrag = self.ice.local_credentials().0.to_string();
                        self.events
                            .push_back(PeerEvent::LocalCandidate(IceCandidate {
                                candidate: line,
                                username_fragment: Some(ufrag),
                                ..IceCandidate::default()
                            }));
                    }
                }
                IceEvent::GatheringComplete => {
                    if !self.gathering_complete {
                        self.gathering_complete = true;
                        self.events.push_back(PeerEvent::GatheringComplete);
                    }
                }
                IceEvent::StateChanged(s) => {
                    self.ice_state = s;
                    self.events
                        .push_back(PeerEvent::IceConnectionStateChanged(s));
                    self.update_state();
                }
                IceEvent::SelectedPairChanged { local, remote } => {
                    self.traffic.selected_pair_changes += 1;
                    self.diagnose(|_| super::Diagnostic::SelectedPairChanged {
                        local: local.to_string(),
                        remote: remote.to_string(),
                    });
                    self.events
                        .push_back(PeerEvent::SelectedCandidatePairChanged {
                            local: local.to_string(),
                            remote: remote.to_string(),
                        });
                    if let Some(now) = now {
                        self.ensure_dtls(now, None);
                    }
                }
                IceEvent::Data { .. } => {}
            }
        }
        let (Some(now), Some(dtls)) = (now, &mut self.dtls) else {
            return;
        };
        let mut failures = Vec::new();
        while let Some(e) = dtls.poll_event() {
            match e {
                dtls::Event::Connected(c) => {
                    self.traffic.dtls_cipher = Some(c.cipher_suite);
                    self.traffic.srtp_profile = c.srtp.as_ref().map(|k| k.profile);
                    self.traffic.remote_certificate =
                        Some(Fingerprint::of(HashAlgorithm::Sha256, &c.peer_certificate));
                    self.srtp = c.srtp;
                    self.dtls_connected = true;
                    self.events.push_back(PeerEvent::DtlsConnected);
                    if !self.sctp_started && !self.closed && self.jsep.data_mid().is_some() {
                        self.sctp_started = true;
                        self.channels.connect(now);
                    }
                }
                // Only shared records (`poll_data`, below) once `share_received_data` was called.
                dtls::Event::Data(packet) => {
                    self.channels.handle_packet(now, &packet);
                    dtls.recycle(packet);
                }
                dtls::Event::Closed => {
                    self.traffic.dtls_closed = true;
                    // Nothing can reach the association any more: without this its timers
                    // (and a DCEP answer it still owes) keep `poll_timeout` at `now` for ever,
                    // since `poll_transmit` no longer takes its packets.
                    self.sctp_started = false;
                    if self.diag.is_some() {
                        failures.push(None);
                    }
                    // W3C webrtc-pc §4.3.3 counts a closed DTLS transport with the connected
                    // ones: the aggregate state does not fall back to connecting.
                    self.events.push_back(PeerEvent::DtlsClosed);
                }
                dtls::Event::Failed(e) => {
                    self.dtls_failed = true;
                    if self.diag.is_some() {
                        failures.push(Some(e.clone()));
                    }
                    self.events.push_back(PeerEvent::DtlsFailed(e));
                }
            }
        }
        // After the events: `Connected` starts the association before its first packet.
        while let Some(packet) = dtls.poll_data() {
            self.channels.handle_packet_bytes(now, &packet);
        }
        for f in failures {
            match f {
                Some(e) => self.diagnose_dtls_failure(&e),
                None => self.diagnose(|_| super::Diagnostic::DtlsAlertReceived {
                    level: dtls::AlertLevel::Warning,
                    description: dtls::AlertDescription::CloseNotify,
                }),
            }
        }
        if self.dtls_connected {
            self.ensure_srtp(now);
        }
        self.update_state();
    }

    /// Whether `pump(Some(now))` could do anything. Every entry point that takes a time ends
    /// with one, so what can be left for the next is only what a layer queued since (ICE
    /// announcements from calls without a time, DTLS events and records from its own
    /// `poll_transmit`), diagnostics to observe, or keys for media negotiated after DTLS
    /// connected. `update_state` needs no pump: everything that changes its inputs outside
    /// the pump calls it. On the steady-state send path none of these holds, and each
    /// datagram goes straight to the secure path.
    #[inline]
    pub(super) fn pump_due(&self) -> bool {
        self.diag.is_some()
            || self.ice.has_events()
            || self.dtls.as_ref().is_some_and(|d| d.has_output())
            || (self.dtls_connected
                && self.srtp.is_some()
                && self
                    .media
                    .get()
                    .is_some_and(|m| m.srtp.is_none() && m.has_negotiated()))
    }

    /// Moves SCTP packets into DTLS records.
    fn flush_sctp(&mut self, now: Instant) {
        let Some(dtls) = &mut self.dtls else { return };
        if !dtls.is_connected() {
            return;
        }
        // Only while closing: a buffer for these last packets, rather than one kept per peer.
        let mut scratch = vec![0; SCTP_MTU];
        while let Some(n) = self.channels.poll_packet(now, &mut scratch) {
            if dtls.send(&scratch[..n]).is_err() {
                self.stats.sctp_packets_dropped += 1;
            }
        }
    }

    fn update_state(&mut self) {
        // RTCPeerConnectionState (W3C webrtc-pc §4.3.3), from ICE and DTLS.
        let s = if self.closed {
            ConnectionState::Closed
        } else if self.dtls_failed || self.ice_state == IceState::Failed {
            ConnectionState::Failed
        } else if self.ice_state == IceState::Disconnected {
            ConnectionState::Disconnected
        } else if self.dtls_connected
            && matches!(self.ice_state, IceState::Connected | IceState::Completed)
        {
            ConnectionState::Connected
        } else if self.ice_state == IceState::New && self.dtls.is_none() {
            ConnectionState::New
        } else {
            ConnectionState::Connecting
        };
        self.set_state(s);
    }

    fn set_state(&mut self, s: ConnectionState) {
        if s != self.state {
            self.state = s;
            self.events.push_back(PeerEvent::ConnectionStateChanged(s));
        }
    }

    /// Data from a working pair (`bytes`, of `kind`): DTLS goes to the endpoint, RTP and RTCP
    /// to the media side, anything else is dropped. Returns whether it was media with SRTP
    /// keyed: no layer under the pump heard anything, and the pump has no keys to set up.
    fn on_data(&mut self, now: Instant, d: Datagram<'_>, bytes: &[u8], kind: PacketKind) -> bool {
        self.traffic.received(d.destination, d.source, bytes.len());
        match kind {
            PacketKind::Dtls => {}
            kind @ (PacketKind::Rtp | PacketKind::Rtcp) if !self.closed => {
                let Some(m) = self.media.get_mut() else {
                    self.stats.dropped += 1;
                    return false;
                };
                m.receive(now, bytes, kind == PacketKind::Rtcp, &mut self.events);
                return m.srtp.is_some();
            }
            _ => {
                self.stats.dropped += 1;
                return false;
            }
        }
        if self.dtls.is_none() {
            self.pump(Some(now));
            self.ensure_dtls(now, Some((d.destination, d.source)));
        }
        let Some(dtls) = &mut self.dtls else {
            // The peer started DTLS before its answer reached us (we offered; it checked us
            // with the credentials of our offer): keep its first flight until we know our
            // role, as libwebrtc does, instead of waiting for its retransmission.
            let held: usize = self.early_dtls.iter().map(|e| e.3.len()).sum();
            if self.dtls_role.is_none()
                && !self.closed
                && self.early_dtls.len() < MAX_EARLY_DTLS
                && held + bytes.len() <= MAX_EARLY_DTLS_BYTES
            {
                self.early_dtls
                    .push((now, d.destination, d.source, bytes.to_vec()));
            } else {
                self.stats.dropped += 1;
            }
            return false;
        };
        let (local, remote) = self.dtls_addrs;
        dtls.handle_datagram(
            now,
            Datagram {
                source: remote,
                destination: local,
                contents: bytes,
            },
        );
        false
    }

    /// What a data-channel event becomes for the application; `None` for what only
    /// diagnostics report.
    fn channel_event(&mut self, e: datachannel::Event) -> Option<PeerEvent> {
        Some(match e {
            datachannel::Event::Connected => PeerEvent::SctpConnected,
            datachannel::Event::ChannelOpen { id, remote } => {
                self.traffic.channels_opened += 1;
                let label = self
                    .channels
                    .channel_config(id)
                    .map(|c| c.label.clone())
                    .unwrap_or_default();
                PeerEvent::DataChannelOpen { id, label, remote }
            }
            datachannel::Event::Message { id, data, binary } => {
                let c = self.traffic.channels.entry(id).or_default();
                c.messages_received += 1;
                c.bytes_received += data.len() as u64;
                PeerEvent::Message {
                    channel: id,
                    data,
                    binary,
                }
            }
            datachannel::Event::BufferedAmountLow(id) => PeerEvent::BufferedAmountLow(id),
            datachannel::Event::ChannelClosed(id) => {
                // The id may be reused by a new channel, which starts from zero.
                self.traffic.channels_closed += 1;
                self.traffic.channels.remove(&id);
                PeerEvent::DataChannelClosed(id)
            }
            datachannel::Event::Closed(reason) => {
                self.diagnose(|_| super::Diagnostic::SctpClosed(reason));
                PeerEvent::SctpClosed
            }
            datachannel::Event::PeerError(e) => {
                // Counted by the association (`Stats::errors_received`) whether or not
                // diagnostics are on.
                let total = self.channels.association().stats().errors_received;
                self.diagnose(|_| super::Diagnostic::SctpErrorReceived {
                    cause: e.cause,
                    info: e.info,
                    total,
                });
                return None;
            }
        })
    }
}

impl PeerConnection {
    /// What ICE made of a datagram of `kind` (`None`: not for ICE), taken on: data to
    /// DTLS or media, then the layers pumped.
    pub(super) fn after_ice(
        &mut self,
        now: Instant,
        d: Datagram<'_>,
        kind: PacketKind,
        received: Option<Received<'_>>,
    ) {
        match received {
            Some(Received::Stun) => {}
            Some(Received::Data(bytes)) => {
                // The datagram itself keeps its kind; only what a relay unwrapped is
                // classified again.
                let kind = if std::ptr::eq(bytes, d.contents) {
                    kind
                } else {
                    PacketKind::classify(bytes)
                };
                // Media touched neither DTLS nor SCTP, so the pump has nothing to move
                // unless ICE spoke (a disconnected pair that heard from the peer again)
                // or a close is in progress: the common case skips both pumps.
                if self.on_data(now, d, bytes, kind) && !self.pump_due_after_media() {
                    return;
                }
            }
            Some(Received::Rejected) | None => self.stats.dropped += 1,
        }
        self.pump_after_datagram(now);
    }

    /// Whether a media datagram, which touched neither DTLS nor SCTP, still leaves the pump
    /// something to move: ICE spoke (a disconnected pair heard from the peer again), a close
    /// is in progress, or diagnostics watch.
    pub(super) fn pump_due_after_media(&self) -> bool {
        !self.ice.events.is_empty() || self.closing_until.is_some() || self.diag.is_some()
    }

    /// The pumps that end a received datagram.
    pub(super) fn pump_after_datagram(&mut self, now: Instant) {
        self.pump(Some(now));
        // The second pump moves only what closing queued: per datagram, not again for
        // nothing.
        if self.closing_until.is_some() {
            self.progress_close(now);
            self.pump(Some(now));
        }
    }
}

/// Adds `servers` (W3C `iceServers`) to the agent's STUN and TURN servers.
fn apply_ice_servers(cfg: &mut AgentConfig, servers: &[super::IceServer]) -> Result<(), Error> {
    use crate::turn::{Scheme, ServerUrl};
    for server in servers {
        for url in &server.urls {
            let refuse = |reason| Error::UnsupportedIceServer {
                url: url.clone(),
                reason,
            };
            let parsed: ServerUrl = url.parse().map_err(|_| refuse("not a STUN or TURN URL"))?;
            let addr = parsed
                .socket_addr()
                .ok_or_else(|| refuse("names a host: resolve it to an IP address first"))?;
            match parsed.scheme {
                Scheme::Stun => cfg.stun_servers.push(addr),
                Scheme::Turn | Scheme::Turns => {
                    // Over TCP and TLS the driver carries the relay's datagrams on a
                    // connection (kaon::turn::StreamLink; kaon-std and kaon-tokio do it).
                    let turn = crate::ice::TurnServer::from_url(
                        &parsed,
                        &server.username,
                        &server.credential,
                    )
                    .ok_or_else(|| refuse("TURN over DTLS is not supported"))?;
                    cfg.turn_servers.push(turn);
                }
                Scheme::Stuns => return Err(refuse("stuns: (STUN over TLS) is not supported")),
            }
        }
    }
    Ok(())
}

pub(super) fn channels_config(
    seed: Option<u64>,
    role: datachannel::Role,
    remote_port: u16,
    max_message_size: usize,
) -> datachannel::Config {
    let mut c = datachannel::Config::new(role);
    c.sctp.seed = seed;
    c.sctp.remote_port = remote_port;
    c.sctp.mtu = SCTP_MTU;
    // The peer's limit is enforced in `send_message`; this one only has to let it through.
    c.sctp.max_message_size = max_message_size.max(DEFAULT_MAX_MESSAGE_SIZE);
    c
}

impl Protocol for PeerConnection {
    type Event = PeerEvent;

    fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        let kind = PacketKind::classify(d.contents);
        if matches!(kind, PacketKind::Rtp | PacketKind::Rtcp)
            && self.quiet_media(now, &d, kind == PacketKind::Rtcp)
        {
            return;
        }
        self.unquiet();
        if self.mdns_handle_datagram(now, &d) {
            return;
        }
        self.stats.datagrams_received += 1;
        let received = match kind {
            // STUN, and whatever a TURN server relays (Data indications are STUN, ChannelData
            // 64..=79): the agent consumes checks and unwraps relayed payloads. DTLS: RFC 8445
            // §11, only data from a pair ICE vouches for goes further.
            //
            // RTP and RTCP from a working pair count for ICE liveness and the transport's
            // counters like everything else, then are dropped: no media is negotiated yet.
            PacketKind::Stun
            | PacketKind::TurnChannel
            | PacketKind::Dtls
            | PacketKind::Rtp
            | PacketKind::Rtcp => Some(self.ice.receive(now, d)),
            PacketKind::Zrtp | PacketKind::Unknown => None,
        };
        self.after_ice(now, d, kind, received);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.unquiet();
        self.mdns_handle_timeout(now);
        self.ice.handle_timeout(now);
        if let Some(d) = &mut self.dtls {
            d.handle_timeout(now);
        }
        if self.sctp_started {
            self.channels.handle_timeout(now);
        }
        if self.dtls_connected
            && !self.closed
            && let Some(m) = self.media.get_mut()
        {
            m.handle_timeout(now, &mut self.events);
        }
        self.pump(Some(now));
        self.replay_early_dtls(now);
        self.ensure_dtls(now, None);
        self.progress_close(now);
        self.pump(Some(now));
    }

    #[inline]
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.transmit(now, buf)
    }

    fn poll_event(&mut self) -> Option<PeerEvent> {
        // Every entry point that takes `now` leaves the layers' events pumped; what is left
        // is ICE's announcements of addresses added since (no time needed). Without those
        // or diagnostics to observe, the pump has nothing to move (per received packet, the
        // common case).
        if self.diag.is_some() || self.ice.has_events() {
            self.pump(None);
        }
        // Looked at in place first: an event that needs no rewriting (every received packet's)
        // moves out of the queue once, straight into the caller's slot.
        match self.events.front() {
            Some(PeerEvent::LocalCandidate(_)) => {
                if let Some(PeerEvent::LocalCandidate(c)) = self.events.pop_front() {
                    return Some(PeerEvent::LocalCandidate(self.with_section(c)));
                }
            }
            Some(_) => return self.events.pop_front(),
            // Nothing in the channels either (per received packet, the common case): no
            // call into them.
            None if !self.channels.has_events() => return None,
            None => {}
        }
        // Taken one at a time so the association's receive window holds unread messages
        // (flow control); DCEP answers and resets it queues make the channels' poll_timeout
        // due at once, so they go out on the next poll.
        loop {
            let e = self.channels.poll_event()?;
            if let Some(e) = self.channel_event(e) {
                return Some(e);
            }
            // A diagnostic it queued goes out first.
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.ice.poll_timeout();
        let mut merge = |d: Option<Instant>| {
            t = match (t, d) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        merge(self.dtls.as_ref().and_then(|d| d.poll_timeout()));
        if self.sctp_started {
            merge(self.channels.poll_timeout());
        }
        merge(self.closing_until);
        if self.dtls_connected && !self.closed {
            merge(self.media.get().and_then(|m| m.poll_timeout()));
        }
        merge(self.mdns_poll_timeout());
        if self.dtls.is_none() {
            merge(self.client_hello_at);
            if self.dtls_role.is_some() {
                // A description set since gave us our role: the replay has been due since
                // the first held datagram arrived, so at once.
                merge(self.early_dtls.first().map(|e| e.0));
            }
        }
        t
    }
}
