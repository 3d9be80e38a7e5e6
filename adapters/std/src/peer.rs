//! A blocking [`PeerConnection`] and its [`DataChannel`]s: glue between the [`Driver`] thread
//! and the application, no protocol logic.
//!
//! The driver thread runs a [`kaon::peer::PeerConnection`] wrapped in a small dispatcher. Each
//! event the core produces is routed on that thread: messages, opens, closes and
//! buffered-amount-low go to the channel they name; everything else (candidates, state changes)
//! goes to [`PeerConnection::next_event`].
//!
//! Buffering: received messages wait in their channel's inbox until [`DataChannel::recv`]
//! takes them. All inboxes of a connection together hold at most [`INBOX_LIMIT`] bytes (plus
//! one message); past that the dispatcher stops taking events from the core, so further messages
//! stay in the SCTP association and count against its receive window, and the peer's sender
//! slows down. Connection events wait behind them too: a connection whose application never
//! reads its channels stalls as a whole. Messages for a [`DataChannel`] that was dropped are
//! discarded. Connection events are few (candidates and state changes) and are kept until
//! read. Received datagrams wait in the driver's bounded inbox: see
//! [`PeerConnection::inbox_stats`].
//!
//! The dispatcher is `kaon-adapter-common`'s, shared with `kaon-tokio`; this module supplies
//! the condvars and channels it delivers through.

use crate::ice_tcp::IceTcp;
use crate::turn_stream::{TurnStreams, TurnTls};
use crate::{Driver, Handle, InboxStats};
use bytes::Bytes;
use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::peer::{
    ConnectionState, Error, PeerConfig, PeerEvent, PeerStats, SdpType, SignalingState,
};
use kaon::sdp::SessionDescription;

use kaon_adapter_common::{ChannelState as State, Glue, InboxBudget};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use kaon_adapter_common::{DEFAULT_HIGH_WATER_MARK, INBOX_LIMIT, Message};

struct Flags {
    state: State,
    /// Set by a low event and taken by a waiting sender, so an event that fires between a
    /// sender's check and its wait is not lost.
    low: bool,
}

/// What a channel handle and the dispatcher share.
struct Signals {
    flags: Mutex<Flags>,
    changed: Condvar,
}

impl Signals {
    fn new(state: State) -> Arc<Self> {
        Arc::new(Self {
            flags: Mutex::new(Flags { state, low: false }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Flags> {
        // A panic elsewhere while holding this lock cannot leave the two flags inconsistent.
        self.flags.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Flags)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

/// The dispatcher's end of a channel.
struct Route {
    inbox: Sender<Message>,
    signals: Arc<Signals>,
}

/// The application's end of a channel, before it becomes a [`DataChannel`].
struct Ends {
    inbox: Receiver<Message>,
    signals: Arc<Signals>,
}

fn route(state: State) -> (Route, Ends) {
    let (tx, rx) = mpsc::channel();
    let signals = Signals::new(state);
    (
        Route {
            inbox: tx,
            signals: signals.clone(),
        },
        Ends { inbox: rx, signals },
    )
}

/// The parts of a channel the peer opened, handed to [`PeerConnection::accept_data_channel`].
struct Accepted {
    id: ChannelId,
    label: String,
    ends: Ends,
}

/// Condvars and std channels under the shared dispatcher.
struct StdGlue {
    accepted: Sender<Accepted>,
}

impl Glue for StdGlue {
    type Route = Route;

    fn deliver(&self, route: &Route, message: Message) -> Result<(), Message> {
        route.inbox.send(message).map_err(|e| e.0)
    }

    fn set_state(&self, route: &Route, state: State) {
        route.signals.update(|f| f.state = state);
    }

    fn buffered_low(&self, route: &Route) {
        route.signals.update(|f| f.low = true);
    }

    fn accept(&mut self, id: ChannelId, label: String) -> Route {
        let (route, ends) = route(State::Open);
        let _ = self.accepted.send(Accepted { id, label, ends });
        route
    }
}

type Dispatch = kaon_adapter_common::Dispatch<StdGlue>;

/// The dispatcher with TURN's TCP and TLS connections and ICE-TCP's beside it.
type WithTurn = kaon_adapter_common::WithStreams<StdGlue, TurnStreams, IceTcp>;

/// The dispatcher as the driver runs it: TURN streams beside it, mDNS transmits through the
/// shared hub.
type Driven = crate::mdns::WithMdns<WithTurn>;

/// A WebRTC peer connection on its own thread: see the [crate docs](crate).
pub struct PeerConnection {
    driver: Driver<Driven>,
    accepted: Receiver<Accepted>,
    budget: InboxBudget,
    _mdns: Option<crate::mdns::MdnsSubscription>,
}

impl PeerConnection {
    /// Starts a connection over `sockets` (bound to specific addresses, at least one); each
    /// socket's address becomes a host candidate.
    pub fn new(config: PeerConfig, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        Self::with_turn_tls(config, sockets, TurnTls::System)
    }

    /// Like [`new`](Self::new), with the roots a `turns:` server's certificate is checked
    /// against (TURN over TCP and TLS run in [`crate::turn_stream`]).
    pub fn with_turn_tls(
        config: PeerConfig,
        sockets: Vec<UdpSocket>,
        tls: TurnTls,
    ) -> io::Result<Self> {
        Self::start(config, sockets, tls, true)
    }

    /// A connection reachable over ICE-TCP only (RFC 6544; Pion's TCP-only network types):
    /// a passive host candidate on each listener and no UDP host candidate. The driver still
    /// holds one UDP socket (on the first listener's IP, a port of the system's choosing),
    /// which is no candidate: it only carries what the configured STUN or TURN servers need.
    pub fn with_tcp_listeners(
        config: PeerConfig,
        listeners: Vec<std::net::TcpListener>,
    ) -> io::Result<Self> {
        let first = listeners
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no listener"))?
            .local_addr()?;
        let socket = UdpSocket::bind(SocketAddr::new(first.ip(), 0))?;
        let pc = Self::start(config, vec![socket], TurnTls::System, false)?;
        for listener in listeners {
            pc.add_tcp_listener(listener).map_err(io::Error::other)?;
        }
        Ok(pc)
    }

    fn start(
        #[allow(unused_mut)] mut config: PeerConfig,
        sockets: Vec<UdpSocket>,
        tls: TurnTls,
        udp_candidates: bool,
    ) -> io::Result<Self> {
        #[cfg(feature = "log")]
        if kaon_adapter_common::logging::wants_diagnostics() {
            config.diagnostics = true;
        }
        let streams = TurnStreams::from_ice_servers(&config.ice_servers, tls);
        let mdns = config.mdns.enabled();
        let (ice_tcp, mut tcp_ips) = (config.ice_tcp, Vec::new());
        let mut pc = kaon::peer::PeerConnection::new(config).map_err(io::Error::other)?;
        for socket in sockets.iter().filter(|_| udp_candidates) {
            tcp_ips.push(socket.local_addr()?.ip());
            pc.add_local_address(socket.local_addr()?)
                .map_err(io::Error::other)?;
        }
        let mdns = kaon_adapter_common::mdns_hub::attach(mdns, &mut pc);
        let (tx, accepted) = mpsc::channel();
        let budget = InboxBudget::default();
        let dispatch = Dispatch::new(pc, StdGlue { accepted: tx }, budget.clone());
        let turn = WithTurn {
            inner: dispatch,
            streams,
            ice_tcp: IceTcp::new(),
        };
        let driver = Driver::spawn(crate::mdns::WithMdns::new(turn, mdns), sockets)?;
        let handle = driver.handle();
        let handle_tcp = driver.handle();
        driver.post(move |d, _| {
            d.streams.set_notify(Arc::new(move |input| {
                handle.post(move |d: &mut Driven, now| {
                    let d: &mut WithTurn = d;
                    d.turn_input(now, input);
                })
            }));
            let handle = handle_tcp;
            d.ice_tcp.set_notify(Arc::new(move |input| {
                handle.post(move |d: &mut Driven, now| {
                    let d: &mut WithTurn = d;
                    d.ice_tcp_input(now, input);
                })
            }));
        });
        let pc = Self {
            _mdns: mdns.map(|hub| crate::mdns::subscribe(hub, driver.handle())),
            driver,
            accepted,
            budget,
        };
        crate::ice_tcp::gather(&pc, ice_tcp, &tcp_ips)?;
        Ok(pc)
    }

    /// Runs `f` on the driver thread with the core connection (for anything not forwarded
    /// here: counters, the ICE agent, the SCTP association). `Err(Closed)` if the driver
    /// stopped.
    pub fn call<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut kaon::peer::PeerConnection, Instant) -> R + Send + 'static,
    {
        self.driver
            .call(move |r, now| f(&mut r.pc, now))
            .ok_or(Error::Closed)
    }

    fn try_call<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut kaon::peer::PeerConnection, Instant) -> Result<R, Error> + Send + 'static,
    {
        self.call(f)?
    }

    /// Adds a passive ICE-TCP host candidate (RFC 6544) on `listener`, whose connections are
    /// accepted and read on threads of this adapter ([`crate::ice_tcp`]); returns its address.
    /// Call it before creating the offer or answer that should carry the candidate. Peers
    /// that cannot reach our UDP sockets (UDP blocked) can still connect over TCP.
    pub fn add_tcp_listener(&self, listener: std::net::TcpListener) -> Result<SocketAddr, Error> {
        let addr = listener.local_addr().map_err(|_| Error::Closed)?;
        self.driver
            .call(move |d: &mut Driven, _| {
                d.pc.add_tcp_passive(addr)?;
                d.ice_tcp.listen(listener).map_err(|_| Error::Closed)
            })
            .ok_or(Error::Closed)?
    }

    /// Adds an active ICE-TCP host candidate on the interface `ip` (it connects to the peer's
    /// passive TCP candidates); returns its signalled address, `ip:9`.
    pub fn add_tcp_active(&self, ip: std::net::IpAddr) -> Result<SocketAddr, Error> {
        self.driver
            .call(move |d: &mut Driven, _| {
                let addr = d.pc.add_tcp_active(ip)?;
                d.ice_tcp.add_active(addr);
                Ok(addr)
            })
            .ok_or(Error::Closed)?
    }

    /// [`kaon::peer::PeerConnection::create_offer`].
    pub fn create_offer(&self) -> Result<SessionDescription, Error> {
        self.try_call(|pc, now| pc.create_offer(now))
    }

    /// [`kaon::peer::PeerConnection::create_answer`].
    pub fn create_answer(&self) -> Result<SessionDescription, Error> {
        self.try_call(|pc, now| pc.create_answer(now))
    }

    /// [`kaon::peer::PeerConnection::set_local_description`].
    pub fn set_local_description(
        &self,
        kind: SdpType,
        sdp: SessionDescription,
    ) -> Result<(), Error> {
        self.try_call(move |pc, _| pc.set_local_description(kind, sdp))
    }

    /// [`kaon::peer::PeerConnection::set_remote_description`].
    pub fn set_remote_description(
        &self,
        kind: SdpType,
        sdp: SessionDescription,
    ) -> Result<(), Error> {
        self.try_call(move |pc, _| pc.set_remote_description(kind, sdp))
    }

    /// [`kaon::peer::PeerConnection::add_ice_candidate`] (a bare line converts with
    /// [`IceCandidate::from_line`](kaon::peer::IceCandidate::from_line)).
    pub fn add_ice_candidate(&self, candidate: kaon::peer::IceCandidate) -> Result<(), Error> {
        self.try_call(move |pc, now| pc.add_ice_candidate(now, &candidate))
    }

    /// [`kaon::peer::PeerConnection::get_stats`], taken on the driver thread now.
    pub fn get_stats(&self) -> Result<kaon::peer::StatsReport, Error> {
        self.call(|pc, now| pc.get_stats(now))
    }

    /// The local candidates found so far, as `candidate:...` lines.
    pub fn local_candidates(&self) -> Result<Vec<String>, Error> {
        self.call(|pc, _| pc.local_candidates().to_vec())
    }

    /// The aggregate state (RTCPeerConnectionState).
    pub fn connection_state(&self) -> Result<ConnectionState, Error> {
        self.call(|pc, _| pc.connection_state())
    }

    /// The offer/answer state (RTCSignalingState).
    pub fn signaling_state(&self) -> Result<SignalingState, Error> {
        self.call(|pc, _| pc.signaling_state())
    }

    /// The core's counters.
    pub fn stats(&self) -> Result<PeerStats, Error> {
        self.call(|pc, _| pc.stats())
    }

    /// The next connection-level event, blocking: candidates to trickle, gathering complete,
    /// ICE, DTLS, SCTP and aggregate state changes. Channel events go to the channels. `None`
    /// once the driver has stopped.
    pub fn next_event(&self) -> Option<PeerEvent> {
        self.driver.events().recv().ok()
    }

    /// Like [`next_event`](Self::next_event), giving up after `timeout`.
    pub fn next_event_timeout(&self, timeout: Duration) -> Result<PeerEvent, RecvTimeoutError> {
        self.driver.events().recv_timeout(timeout)
    }

    /// Creates a data channel. It can be used at once: [`DataChannel::send`] blocks until it
    /// is open.
    pub fn create_data_channel(
        &self,
        label: &str,
        config: ChannelConfig,
    ) -> Result<DataChannel, Error> {
        let label = label.to_string();
        let name = label.clone();
        let (id, ends) = self
            .driver
            .call(move |r, now| {
                let id = r.pc.create_data_channel(now, &name, config)?;
                let (route, ends) = route(State::Connecting);
                r.add_route(id, route);
                Ok::<_, Error>((id, ends))
            })
            .ok_or(Error::Closed)??;
        Ok(self.channel(id, label, ends))
    }

    /// The next channel the peer opened, blocking; `None` once the driver has stopped.
    pub fn accept_data_channel(&self) -> Option<DataChannel> {
        let a = self.accepted.recv().ok()?;
        Some(self.channel(a.id, a.label, a.ends))
    }

    /// Like [`accept_data_channel`](Self::accept_data_channel), giving up after `timeout`.
    pub fn accept_data_channel_timeout(
        &self,
        timeout: Duration,
    ) -> Result<DataChannel, RecvTimeoutError> {
        let a = self.accepted.recv_timeout(timeout)?;
        Ok(self.channel(a.id, a.label, a.ends))
    }

    fn channel(&self, id: ChannelId, label: String, ends: Ends) -> DataChannel {
        DataChannel {
            id,
            label,
            handle: self.driver.handle(),
            inbox: Mutex::new(ends.inbox),
            signals: ends.signals,
            budget: self.budget.clone(),
            high_water: AtomicUsize::new(DEFAULT_HIGH_WATER_MARK),
            last_buffered: AtomicUsize::new(0),
        }
    }

    /// Counters of the driver's datagram inbox: how many datagrams arrived, how many were
    /// dropped because the connection could not keep up (a flood), the most that waited.
    pub fn inbox_stats(&self) -> InboxStats {
        self.driver.inbox_stats()
    }

    /// Closes the connection (SCTP shutdown, DTLS close_notify); every channel's `recv` ends.
    pub fn close(&self) -> Result<(), Error> {
        self.call(|pc, now| pc.close(now))
    }
}

/// One data channel: send with back-pressure, receive in order. See the [crate docs](crate).
pub struct DataChannel {
    id: ChannelId,
    label: String,
    handle: Handle<Driven>,
    inbox: Mutex<Receiver<Message>>,
    signals: Arc<Signals>,
    budget: InboxBudget,
    high_water: AtomicUsize,
    /// The buffered amount the last `send` left behind: the next one waits if it is above the
    /// high-water mark, without asking the driver again.
    last_buffered: AtomicUsize,
}

impl DataChannel {
    /// The channel's id (its SCTP stream).
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The channel's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The high-water mark `send` blocks under.
    pub fn high_water_mark(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }

    /// Sets the high-water mark `send` blocks under; sends resume when the buffered amount has
    /// fallen to half of it.
    pub fn set_high_water_mark(&self, bytes: usize) -> Result<(), Error> {
        self.high_water.store(bytes, Ordering::Relaxed);
        let id = self.id;
        self.handle
            .call(move |r, _| r.pc.set_buffered_amount_low_threshold(id, bytes / 2))
            .ok_or(Error::Closed)
    }

    /// Blocks until the channel is open. `Err(Closed)` if it closed first.
    pub fn wait_open(&self) -> Result<(), Error> {
        let flags = self.signals.lock();
        let flags = self
            .signals
            .changed
            .wait_while(flags, |f| f.state == State::Connecting)
            .unwrap_or_else(|e| e.into_inner());
        match flags.state {
            State::Open => Ok(()),
            _ => Err(Error::Closed),
        }
    }

    /// Like [`wait_open`](Self::wait_open), giving up with `Ok(false)` after `timeout`.
    pub fn wait_open_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        let flags = self.signals.lock();
        let (flags, _) = self
            .signals
            .changed
            .wait_timeout_while(flags, timeout, |f| f.state == State::Connecting)
            .unwrap_or_else(|e| e.into_inner());
        match flags.state {
            State::Open => Ok(true),
            State::Connecting => Ok(false),
            State::Closed => Err(Error::Closed),
        }
    }

    /// Sends a binary message: see [`send_message`](Self::send_message).
    pub fn send(&self, data: Bytes) -> Result<(), Error> {
        self.send_message(data, true)
    }

    /// Sends a text message: see [`send_message`](Self::send_message).
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send_message(Bytes::copy_from_slice(text.as_bytes()), false)
    }

    /// Queues a message once the channel is open and its buffered amount is at or below the
    /// high-water mark, so one sender never has more than the mark plus one message buffered.
    /// While waiting it blocks until the core reports the amount fell to half the mark.
    pub fn send_message(&self, data: Bytes, binary: bool) -> Result<(), Error> {
        self.wait_open()?;
        let high_water = self.high_water_mark();
        if self.last_buffered.load(Ordering::Relaxed) > high_water {
            self.wait_low(high_water)?;
        }
        let id = self.id;
        let buffered = self
            .handle
            .call(move |r, now| {
                r.pc.send_message(now, id, data, binary)?;
                Ok::<_, Error>(r.pc.buffered_amount(id))
            })
            .ok_or(Error::Closed)??;
        self.last_buffered.store(buffered, Ordering::Relaxed);
        Ok(())
    }

    fn wait_low(&self, high_water: usize) -> Result<(), Error> {
        loop {
            // Cleared before the check: a low event after it sets the flag again.
            self.signals.lock().low = false;
            let buffered = self.buffered_amount()?;
            if buffered <= high_water {
                self.last_buffered.store(buffered, Ordering::Relaxed);
                return Ok(());
            }
            let flags = self.signals.lock();
            let flags = self
                .signals
                .changed
                .wait_while(flags, |f| !f.low && f.state != State::Closed)
                .unwrap_or_else(|e| e.into_inner());
            if flags.state == State::Closed {
                return Err(Error::Closed);
            }
        }
    }

    /// Bytes queued on the channel and not yet sent (RTCDataChannel.bufferedAmount).
    pub fn buffered_amount(&self) -> Result<usize, Error> {
        let id = self.id;
        self.handle
            .call(move |r, _| r.pc.buffered_amount(id))
            .ok_or(Error::Closed)
    }

    /// The next message, in order, blocking; `None` once the channel is closed and every
    /// message was read.
    pub fn recv(&self) -> Option<Message> {
        let message = self.lock_inbox().recv().ok()?;
        Some(self.taken(message))
    }

    /// Like [`recv`](Self::recv), giving up after `timeout`; `Disconnected` once the channel is
    /// closed and every message was read.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvTimeoutError> {
        let message = self.lock_inbox().recv_timeout(timeout)?;
        Ok(self.taken(message))
    }

    fn lock_inbox(&self) -> MutexGuard<'_, Receiver<Message>> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn taken(&self, message: Message) -> Message {
        if self.budget.release(message.data.len()) {
            // The dispatcher stopped taking events at the limit: wake the driver to resume.
            self.handle.post(|_, _| {});
        }
        message
    }

    /// Closes the channel (RFC 8831 §6.7): queued messages still go, then both sides' `recv`
    /// ends.
    pub fn close(&self) -> Result<(), Error> {
        let id = self.id;
        self.handle
            .call(move |r, now| r.pc.close_channel(now, id))
            .ok_or(Error::Closed)
    }
}

impl Drop for DataChannel {
    fn drop(&mut self) {
        // Unread messages must leave the connection's inbox budget, or the dispatcher would stall.
        // Drained on the driver thread, where nothing is routed meanwhile: once the receiver is
        // gone there, later messages fail to send and are never counted.
        let (_, placeholder) = mpsc::channel();
        let inbox = std::mem::replace(
            self.inbox.get_mut().unwrap_or_else(|e| e.into_inner()),
            placeholder,
        );
        self.handle.post(move |r, _| {
            let freed: usize = inbox.try_iter().map(|m| m.data.len()).sum();
            r.budget().release(freed);
        });
    }
}

impl std::fmt::Debug for DataChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataChannel")
            .field("id", &self.id)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}
