//! An async [`PeerConnection`] and its [`DataChannel`]s: glue between the [`Driver`] task and
//! the application, no protocol logic.
//!
//! The driver task runs a [`kaon::peer::PeerConnection`] wrapped in a small dispatcher. Each event
//! the core produces is routed on that task: messages, opens, closes and buffered-amount-low go
//! to the channel they name; everything else (candidates, state changes) goes to
//! [`PeerConnection::next_event`].
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
//! The dispatcher is `kaon-adapter-common`'s, shared with `kaon-std`; this module supplies
//! the `watch`, `Notify` and channels it delivers through.

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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, Notify, mpsc, watch};

pub use kaon_adapter_common::{DEFAULT_HIGH_WATER_MARK, INBOX_LIMIT, Message};

/// What a channel handle and the dispatcher share.
struct Signals {
    state: watch::Sender<State>,
    /// `notify_one` keeps a permit when nobody waits, so a low event that fires between a
    /// sender's check and its wait is not lost.
    low: Notify,
}

/// The dispatcher's end of a channel.
struct Route {
    inbox: mpsc::UnboundedSender<Message>,
    signals: Arc<Signals>,
}

/// The application's end of a channel, before it becomes a [`DataChannel`].
struct Ends {
    inbox: mpsc::UnboundedReceiver<Message>,
    signals: Arc<Signals>,
}

fn route(state: State) -> (Route, Ends) {
    let (tx, rx) = mpsc::unbounded_channel();
    let signals = Arc::new(Signals {
        state: watch::Sender::new(state),
        low: Notify::new(),
    });
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

/// `watch`, `Notify` and tokio channels under the shared dispatcher.
struct TokioGlue {
    accepted: mpsc::UnboundedSender<Accepted>,
}

impl Glue for TokioGlue {
    type Route = Route;

    fn deliver(&self, route: &Route, message: Message) -> Result<(), Message> {
        route.inbox.send(message).map_err(|e| e.0)
    }

    fn set_state(&self, route: &Route, state: State) {
        route.signals.state.send_replace(state);
        if state == State::Closed {
            route.signals.low.notify_one();
        }
    }

    fn buffered_low(&self, route: &Route) {
        route.signals.low.notify_one();
    }

    fn accept(&mut self, id: ChannelId, label: String) -> Route {
        let (route, ends) = route(State::Open);
        let _ = self.accepted.send(Accepted { id, label, ends });
        route
    }
}

type Dispatch = kaon_adapter_common::Dispatch<TokioGlue>;

/// The dispatcher with TURN's TCP and TLS connections and ICE-TCP's beside it.
type WithTurn = kaon_adapter_common::WithStreams<TokioGlue, TurnStreams, IceTcp>;

/// The dispatcher as the driver runs it: TURN streams beside it, mDNS transmits through the
/// shared hub.
type Driven = crate::mdns::WithMdns<WithTurn>;

/// A WebRTC peer connection on a tokio task: see the [crate docs](crate).
pub struct PeerConnection {
    driver: Driver<Driven>,
    accepted: Mutex<mpsc::UnboundedReceiver<Accepted>>,
    budget: InboxBudget,
    _mdns: Option<crate::mdns::MdnsSubscription>,
}

impl PeerConnection {
    /// Starts a connection over `sockets` (bound to specific addresses, at least one); each
    /// socket's address becomes a host candidate. Must be called inside a tokio runtime.
    pub fn new(config: PeerConfig, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        Self::with_turn_tls(config, sockets, TurnTls::System)
    }

    /// Like [`new`](Self::new), with the roots a `turns:` server's certificate is checked
    /// against (TURN over TCP and TLS run in [`crate::turn_stream`]).
    pub fn with_turn_tls(
        #[allow(unused_mut)] mut config: PeerConfig,
        sockets: Vec<UdpSocket>,
        tls: TurnTls,
    ) -> io::Result<Self> {
        #[cfg(feature = "log")]
        if kaon_adapter_common::logging::wants_diagnostics() {
            config.diagnostics = true;
        }
        let streams = TurnStreams::from_ice_servers(&config.ice_servers, tls);
        let mdns = config.mdns.enabled();
        let ice_tcp = config.ice_tcp;
        let mut pc = kaon::peer::PeerConnection::new(config).map_err(io::Error::other)?;
        let mut ips = Vec::new();
        for socket in &sockets {
            ips.push(socket.local_addr()?.ip());
            pc.add_local_address(socket.local_addr()?)
                .map_err(io::Error::other)?;
        }
        let gathered = crate::ice_tcp::Gathered::bind(ice_tcp, &ips)?;
        let mdns = kaon_adapter_common::mdns_hub::attach(mdns, &mut pc);
        let (tx, accepted) = mpsc::unbounded_channel();
        let budget = InboxBudget::default();
        let dispatch = Dispatch::new(pc, TokioGlue { accepted: tx }, budget.clone());
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
            let d: &mut WithTurn = d;
            gathered.add(&mut d.inner.pc, &mut d.ice_tcp);
        });
        Ok(Self {
            _mdns: mdns.map(|hub| crate::mdns::subscribe(hub, driver.handle())),
            driver,
            accepted: Mutex::new(accepted),
            budget,
        })
    }

    /// Runs `f` on the driver task with the core connection (for anything not forwarded here:
    /// counters, the ICE agent, the SCTP association). `Err(Closed)` if the driver stopped.
    pub async fn call<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut kaon::peer::PeerConnection, Instant) -> R + Send + 'static,
    {
        self.driver
            .call(move |r, now| f(&mut r.pc, now))
            .await
            .ok_or(Error::Closed)
    }

    async fn try_call<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut kaon::peer::PeerConnection, Instant) -> Result<R, Error> + Send + 'static,
    {
        self.call(f).await?
    }

    /// Adds a passive ICE-TCP host candidate (RFC 6544) on `listener`, whose connections are
    /// accepted and read in tasks of this adapter ([`crate::ice_tcp`]); returns its address.
    /// Call it before creating the offer or answer that should carry the candidate.
    pub async fn add_tcp_listener(
        &self,
        listener: tokio::net::TcpListener,
    ) -> Result<std::net::SocketAddr, Error> {
        let addr = listener.local_addr().map_err(|_| Error::Closed)?;
        self.driver
            .call(move |d: &mut Driven, _| {
                d.pc.add_tcp_passive(addr)?;
                d.ice_tcp.listen(listener).map_err(|_| Error::Closed)
            })
            .await
            .ok_or(Error::Closed)?
    }

    /// Adds an active ICE-TCP host candidate on the interface `ip` (it connects to the peer's
    /// passive TCP candidates); returns its signalled address, `ip:9`.
    pub async fn add_tcp_active(
        &self,
        ip: std::net::IpAddr,
    ) -> Result<std::net::SocketAddr, Error> {
        self.driver
            .call(move |d: &mut Driven, _| {
                let addr = d.pc.add_tcp_active(ip)?;
                d.ice_tcp.add_active(addr);
                Ok(addr)
            })
            .await
            .ok_or(Error::Closed)?
    }

    /// [`kaon::peer::PeerConnection::create_offer`].
    pub async fn create_offer(&self) -> Result<SessionDescription, Error> {
        self.try_call(|pc, now| pc.create_offer(now)).await
    }

    /// [`kaon::peer::PeerConnection::create_answer`].
    pub async fn create_answer(&self) -> Result<SessionDescription, Error> {
        self.try_call(|pc, now| pc.create_answer(now)).await
    }

    /// [`kaon::peer::PeerConnection::set_local_description`].
    pub async fn set_local_description(
        &self,
        kind: SdpType,
        sdp: SessionDescription,
    ) -> Result<(), Error> {
        self.try_call(move |pc, _| pc.set_local_description(kind, sdp))
            .await
    }

    /// [`kaon::peer::PeerConnection::set_remote_description`].
    pub async fn set_remote_description(
        &self,
        kind: SdpType,
        sdp: SessionDescription,
    ) -> Result<(), Error> {
        self.try_call(move |pc, _| pc.set_remote_description(kind, sdp))
            .await
    }

    /// [`kaon::peer::PeerConnection::add_ice_candidate`] (a bare line converts with
    /// [`IceCandidate::from_line`](kaon::peer::IceCandidate::from_line)).
    pub async fn add_ice_candidate(
        &self,
        candidate: kaon::peer::IceCandidate,
    ) -> Result<(), Error> {
        self.try_call(move |pc, now| pc.add_ice_candidate(now, &candidate))
            .await
    }

    /// The local candidates found so far, as `candidate:...` lines.
    pub async fn local_candidates(&self) -> Result<Vec<String>, Error> {
        self.call(|pc, _| pc.local_candidates().to_vec()).await
    }

    /// The aggregate state (RTCPeerConnectionState).
    pub async fn connection_state(&self) -> Result<ConnectionState, Error> {
        self.call(|pc, _| pc.connection_state()).await
    }

    /// The offer/answer state (RTCSignalingState).
    pub async fn signaling_state(&self) -> Result<SignalingState, Error> {
        self.call(|pc, _| pc.signaling_state()).await
    }

    /// The core's counters.
    pub async fn stats(&self) -> Result<PeerStats, Error> {
        self.call(|pc, _| pc.stats()).await
    }

    /// The next connection-level event: candidates to trickle, gathering complete, ICE, DTLS,
    /// SCTP and aggregate state changes. Channel events go to the channels. `None` once the
    /// driver has stopped. Cancellation-safe.
    pub async fn next_event(&self) -> Option<PeerEvent> {
        self.driver.next_event().await
    }

    /// Creates a data channel. It can be used at once: [`DataChannel::send`] waits until it is
    /// open.
    pub async fn create_data_channel(
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
            .await
            .ok_or(Error::Closed)??;
        Ok(self.channel(id, label, ends))
    }

    /// The next channel the peer opened; `None` once the driver has stopped. Cancellation-safe.
    pub async fn accept_data_channel(&self) -> Option<DataChannel> {
        let a = self.accepted.lock().await.recv().await?;
        Some(self.channel(a.id, a.label, a.ends))
    }

    fn channel(&self, id: ChannelId, label: String, ends: Ends) -> DataChannel {
        DataChannel {
            id,
            label,
            handle: self.driver.handle(),
            inbox: Mutex::new(ends.inbox),
            state: ends.signals.state.subscribe(),
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
    pub async fn close(&self) -> Result<(), Error> {
        self.call(|pc, now| pc.close(now)).await
    }
}

/// One data channel: send with back-pressure, receive in order. See the [crate docs](crate).
pub struct DataChannel {
    id: ChannelId,
    label: String,
    handle: Handle<Driven>,
    inbox: Mutex<mpsc::UnboundedReceiver<Message>>,
    state: watch::Receiver<State>,
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

    /// The high-water mark `send` waits under.
    pub fn high_water_mark(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }

    /// Sets the high-water mark `send` waits under; sends resume when the buffered amount has
    /// fallen to half of it.
    pub async fn set_high_water_mark(&self, bytes: usize) -> Result<(), Error> {
        self.high_water.store(bytes, Ordering::Relaxed);
        let id = self.id;
        self.handle
            .call(move |r, _| r.pc.set_buffered_amount_low_threshold(id, bytes / 2))
            .await
            .ok_or(Error::Closed)
    }

    /// Waits until the channel is open. `Err(Closed)` if it closed first.
    pub async fn wait_open(&self) -> Result<(), Error> {
        let mut state = self.state.clone();
        match state.wait_for(|s| *s != State::Connecting).await {
            Ok(s) if *s == State::Open => Ok(()),
            _ => Err(Error::Closed),
        }
    }

    /// Sends a binary message: see [`send_message`](Self::send_message).
    pub async fn send(&self, data: Bytes) -> Result<(), Error> {
        self.send_message(data, true).await
    }

    /// Sends a text message: see [`send_message`](Self::send_message).
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send_message(Bytes::copy_from_slice(text.as_bytes()), false)
            .await
    }

    /// Queues a message once the channel is open and its buffered amount is at or below the
    /// high-water mark, so one sender never has more than the mark plus one message buffered.
    /// While waiting it sleeps until the core reports the amount fell to half the mark.
    ///
    /// Cancellation-safe while it waits: a cancelled send queued nothing unless it had already
    /// handed the message to the driver task (its last step).
    pub async fn send_message(&self, data: Bytes, binary: bool) -> Result<(), Error> {
        self.wait_open().await?;
        let high_water = self.high_water_mark();
        if self.last_buffered.load(Ordering::Relaxed) > high_water {
            self.wait_low(high_water).await?;
        }
        let id = self.id;
        let buffered = self
            .handle
            .call(move |r, now| {
                r.pc.send_message(now, id, data, binary)?;
                Ok::<_, Error>(r.pc.buffered_amount(id))
            })
            .await
            .ok_or(Error::Closed)??;
        self.last_buffered.store(buffered, Ordering::Relaxed);
        Ok(())
    }

    async fn wait_low(&self, high_water: usize) -> Result<(), Error> {
        loop {
            let buffered = self.buffered_amount().await?;
            if buffered <= high_water {
                self.last_buffered.store(buffered, Ordering::Relaxed);
                return Ok(());
            }
            if *self.signals.state.borrow() == State::Closed {
                return Err(Error::Closed);
            }
            // A permit left by an older low event only costs one more check.
            self.signals.low.notified().await;
        }
    }

    /// Bytes queued on the channel and not yet sent (RTCDataChannel.bufferedAmount).
    pub async fn buffered_amount(&self) -> Result<usize, Error> {
        let id = self.id;
        self.handle
            .call(move |r, _| r.pc.buffered_amount(id))
            .await
            .ok_or(Error::Closed)
    }

    /// The next message, in order; `None` once the channel is closed and every message was
    /// read. Cancellation-safe.
    pub async fn recv(&self) -> Option<Message> {
        let message = self.inbox.lock().await.recv().await?;
        if self.budget.release(message.data.len()) {
            // The dispatcher stopped taking events at the limit: wake the driver to resume.
            self.handle.post(|_, _| {});
        }
        Some(message)
    }

    /// Closes the channel (RFC 8831 §6.7): queued messages still go, then both sides' `recv`
    /// ends.
    pub async fn close(&self) -> Result<(), Error> {
        let id = self.id;
        self.handle
            .call(move |r, now| r.pc.close_channel(now, id))
            .await
            .ok_or(Error::Closed)
    }
}

impl Drop for DataChannel {
    fn drop(&mut self) {
        // Unread messages leave the connection's inbox budget, or the dispatcher would stall.
        let inbox = self.inbox.get_mut();
        inbox.close();
        let mut freed = 0;
        while let Ok(m) = inbox.try_recv() {
            freed += m.data.len();
        }
        if freed > 0 {
            self.budget.release(freed);
            self.handle.post(|_, _| {});
        }
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
