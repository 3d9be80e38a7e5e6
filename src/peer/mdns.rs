//! mDNS for the PeerConnection: see [`MdnsOptions`].

use std::net::SocketAddr;
use std::time::Instant;

use super::PeerConnection;
use crate::mdns::{Mdns, MdnsConfig, MdnsEvent};
use crate::{Datagram, Protocol, Transmit};

/// mDNS for the PeerConnection (draft-ietf-mmusic-mdns-ice-candidates, RFC 6762): hiding our
/// host addresses behind `<uuid>.local` names and resolving the peer's.
///
/// This, as [`PeerConfig::mdns`](super::PeerConfig::mdns), switches the two halves on:
///
/// - `hide_host_addresses` signals every host candidate as a random `<uuid>.local` name (as
///   browsers do by default; off by default here, as a server wants its addresses seen), and
///   the connection's responder answers A/AAAA queries for those names;
/// - `resolve_remote_names` resolves the peer's `.local` candidates with QM queries for A and
///   AAAA records (retries on `resolver.query_schedule`, failure after
///   `resolver.resolve_timeout`); a resolved candidate is paired like any other, a name that
///   never resolves is dropped so it no longer holds ICE back.
///
/// Neither happens without an mDNS socket: the application (or an adapter) owns a UDP socket
/// on port 5353 that joined 224.0.0.251 or ff02::fb and names its local address with
/// [`PeerConnection::add_mdns_socket`]. Datagrams that arrive on it go to `handle_datagram`
/// like any other (they are told apart by their destination: that socket's address, or the
/// group); `poll_transmit` returns the queries and answers with that address as `source`. One
/// socket can serve every connection of a process: give each connection every datagram it
/// receives (each answers only for its own names and takes only answers it asked for) and
/// send what each returns from it. The kaon-std and kaon-tokio `PeerConnection`s do so through
/// their `mdns::MdnsHub` whenever these options are [`enabled`](Self::enabled).
///
/// ```
/// use kaon::peer::{MdnsOptions, PeerConfig, PeerConnection};
///
/// let mut pc = PeerConnection::new(PeerConfig {
///     mdns: MdnsOptions::browser_like(),
///     ..PeerConfig::with_seed(1)
/// })?;
/// pc.add_local_address("192.0.2.1:5000".parse()?)?;
/// pc.add_mdns_socket("192.0.2.1:5353".parse()?);
/// // The offer's host candidate names no address.
/// let offer = pc.create_offer(std::time::Instant::now())?.to_string();
/// assert!(offer.contains(".local 5000 typ host"));
/// assert!(!offer.contains("192.0.2.1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsOptions {
    /// Signal host candidates as `<uuid>.local` names and answer queries for them. Default
    /// off.
    pub hide_host_addresses: bool,
    /// Resolve the peer's `.local` candidates over mDNS. Default off (a server off the
    /// browser's link could not resolve them anyway; the browser's checks still reach it).
    pub resolve_remote_names: bool,
    /// The querier's and responder's settings: query schedule, timeout, TTL, limits. Its
    /// `sockets` are ignored ([`PeerConnection::add_mdns_socket`] names them) and a `seed` of
    /// `None` is derived from the connection's.
    pub resolver: MdnsConfig,
}

impl Default for MdnsOptions {
    fn default() -> Self {
        Self {
            hide_host_addresses: false,
            resolve_remote_names: false,
            resolver: MdnsConfig::new(Vec::new()),
        }
    }
}

impl MdnsOptions {
    /// What a browser does by default: hide host addresses and resolve the peer's names.
    pub fn browser_like() -> Self {
        Self {
            hide_host_addresses: true,
            resolve_remote_names: true,
            ..Self::default()
        }
    }

    /// Whether either half is on (an adapter then gives the connection an mDNS socket).
    pub fn enabled(&self) -> bool {
        self.hide_host_addresses || self.resolve_remote_names
    }
}

/// The connection's mDNS state: nothing but a null pointer unless mDNS is on.
#[derive(Debug, Default)]
pub(super) struct PeerMdns(Option<Box<State>>);

#[derive(Debug)]
struct State {
    resolve: bool,
    /// The settings until the first socket makes the responder.
    config: Option<MdnsConfig>,
    mdns: Option<Mdns>,
    /// The agent's [`mdns_digest`](crate::ice::Agent) at the last sync.
    digest: Option<u64>,
    /// The time of the last sync: a deadline of "at once" when names changed since (any
    /// instant not after the caller's next `now` is due then).
    synced_at: Option<Instant>,
}

impl PeerMdns {
    pub(super) fn new(options: &MdnsOptions, seed: Option<u64>) -> Self {
        if !options.enabled() {
            return Self(None);
        }
        let mut config = options.resolver.clone();
        config.sockets.clear();
        if config.seed.is_none() {
            config.seed = seed.map(|s| s ^ 0x3d45);
        }
        Self(Some(Box::new(State {
            resolve: options.resolve_remote_names,
            config: Some(config),
            mdns: None,
            digest: None,
            synced_at: None,
        })))
    }
}

impl PeerConnection {
    /// Names the local address of an mDNS socket (UDP port 5353, group joined) the
    /// application feeds to [`handle_datagram`](Protocol::handle_datagram) and sends from: see
    /// [`MdnsOptions`]. Does nothing unless [`PeerConfig::mdns`](super::PeerConfig::mdns)
    /// enables mDNS.
    pub fn add_mdns_socket(&mut self, socket: SocketAddr) {
        self.unquiet();
        let Some(state) = self.mdns.0.as_deref_mut() else {
            return;
        };
        match &mut state.mdns {
            Some(m) => m.add_socket(socket),
            None => {
                let mut config = state
                    .config
                    .take()
                    .unwrap_or_else(|| MdnsConfig::new(vec![]));
                config.sockets.push(socket);
                state.mdns = Some(Mdns::new(config));
            }
        }
        // Names made before the socket existed are registered at the next sync.
        state.digest = None;
    }

    /// The connection's mDNS responder and querier, once it has a socket: its names and
    /// counters.
    pub fn mdns(&self) -> Option<&Mdns> {
        self.mdns.0.as_ref()?.mdns.as_ref()
    }

    /// Takes `d` if it arrived on an mDNS socket or for the group; `false` leaves it to ICE.
    pub(super) fn mdns_handle_datagram(&mut self, now: Instant, d: &Datagram<'_>) -> bool {
        if !self.mdns_takes(d.destination) {
            return false;
        }
        if let Some(mdns) = self.mdns.0.as_deref_mut().and_then(|s| s.mdns.as_mut()) {
            mdns.handle_datagram(now, *d);
        }
        self.mdns_sync(now);
        true
    }

    /// Whether a datagram to `destination` is mDNS's: a responder runs and it arrived on one
    /// of its sockets or for the group (without one, the common case, a load).
    #[inline]
    pub(super) fn mdns_takes(&self, destination: SocketAddr) -> bool {
        let Some(mdns) = self.mdns.0.as_deref().and_then(|s| s.mdns.as_ref()) else {
            return false;
        };
        let to_group =
            crate::mdns::is_group(destination.ip()) && destination.port() == crate::mdns::PORT;
        to_group || mdns.config().sockets.contains(&destination)
    }

    pub(super) fn mdns_handle_timeout(&mut self, now: Instant) {
        if let Some(mdns) = self.mdns.0.as_deref_mut().and_then(|s| s.mdns.as_mut())
            && mdns.poll_timeout().is_some_and(|t| t <= now)
        {
            mdns.handle_timeout(now);
        }
        self.mdns_sync(now);
    }

    #[inline]
    pub(super) fn mdns_poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        // Without a responder (the common case) `mdns_sync` has nothing to do: no call.
        self.mdns.0.as_deref()?.mdns.as_ref()?;
        self.mdns_sync(now);
        self.mdns
            .0
            .as_deref_mut()?
            .mdns
            .as_mut()?
            .poll_transmit(now, buf)
    }

    pub(super) fn mdns_poll_timeout(&self) -> Option<Instant> {
        let state = self.mdns.0.as_deref()?;
        let mdns = state.mdns.as_ref()?;
        if state.digest != Some(self.ice.mdns_digest()) {
            // Names to register or resolve since the last sync: at the next call.
            return state.synced_at.or(mdns.poll_timeout());
        }
        mdns.poll_timeout()
    }

    /// Passes names between the agent and the responder, and answers back to the agent.
    fn mdns_sync(&mut self, now: Instant) {
        let Some(state) = self.mdns.0.as_deref_mut() else {
            return;
        };
        let Some(mdns) = state.mdns.as_mut() else {
            return;
        };
        state.synced_at = Some(now);
        loop {
            while let Some(e) = mdns.poll_event() {
                match e {
                    MdnsEvent::Resolved { name, ip } => {
                        self.ice.resolve_remote_name(&name, ip);
                    }
                    MdnsEvent::Failed { name } => {
                        // The name never resolved: its candidates stop counting as pending, so
                        // ICE can conclude (draft-ietf-mmusic-mdns-ice-candidates §3.2.1: a
                        // candidate that cannot be resolved is discarded).
                        self.ice.remote_name_failed(&name);
                    }
                }
            }
            let digest = self.ice.mdns_digest();
            if state.digest == Some(digest) {
                return;
            }
            state.digest = Some(digest);
            for (name, ip) in self.ice.local_mdns_names() {
                // Fails only past the configured limit of names; the name then goes
                // unanswered and the peer learns the address from our checks instead.
                let _ = mdns.register_name(name, ip);
            }
            if state.resolve {
                for name in self.ice.unresolved_remote_names() {
                    // A name over the limit stays unresolved, as without mDNS.
                    let _ = mdns.resolve(now, &name);
                }
            }
            // A cached name resolves at once: take its event in the next round.
        }
    }
}
