//! The process's shared mDNS sockets (RFC 6762), for every adapter.
//!
//! UDP port 5353 with `SO_REUSEADDR` and `SO_REUSEPORT` (a browser or avahi on the same host
//! holds the port too, RFC 6762 §15.1), joined to 224.0.0.251 or ff02::fb, multicast loop on
//! (so other processes on this host hear us) and IP TTL 255 (RFC 6762 §11).
//!
//! [`MdnsHub`] holds one such socket per family for the whole process, whatever runtime its
//! connections run on: a plain reader thread per socket hands each datagram to every
//! subscriber, and [`WithMdns`] sends what a connection addresses from a hub socket through
//! the hub. Each connection runs its own responder and querier in the core
//! ([`kaon::mdns::Mdns`] inside the PeerConnection: it answers only for its own names and
//! takes only answers it asked for).
//!
//! ```ignore
//! let hub = attach(config.mdns.enabled(), &mut pc);       // names the hub's sockets to pc
//! let driven = WithMdns::new(pc, hub);                    // hub sockets' transmits go out here
//! let _sub = hub.map(|h| h.subscribe(move |from, local, bytes| post(from, local, bytes)));
//! ```
//!
//! This module, unlike the rest of the crate, owns sockets and a thread: the hub is one per
//! process, so both adapters must share it rather than each bind its own.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use kaon::mdns::{GROUP_V4, GROUP_V6, PORT};
use kaon::{Datagram, Transmit};
use socket2::{Domain, Protocol, Socket, Type};

fn reuse(s: &Socket) -> io::Result<()> {
    // RFC 6762 §15.1: several responders on one host share the port.
    s.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    s.set_reuse_port(true)?;
    Ok(())
}

/// An IPv4 mDNS socket on `0.0.0.0:port` (5353 in real use), joined to 224.0.0.251 on the
/// interface with address `interface` (`0.0.0.0`: the kernel's choice), sending through it.
/// Blocking; an async adapter makes it non-blocking.
pub fn bind_v4(interface: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    reuse(&s)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    s.join_multicast_v4(&GROUP_V4, &interface)?;
    s.set_multicast_if_v4(&interface)?;
    s.set_multicast_loop_v4(true)?;
    // RFC 6762 §11: sent with IP TTL 255, so a receiver can tell it came from the link.
    s.set_multicast_ttl_v4(255)?;
    Ok(s.into())
}

/// An IPv6 mDNS socket on `[::]:port`, joined to ff02::fb on interface index `interface`
/// (0: the kernel's choice), sending through it. Blocking, as [`bind_v4`].
pub fn bind_v6(interface: u32, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    reuse(&s)?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    s.join_multicast_v6(&GROUP_V6, interface)?;
    s.set_multicast_if_v6(interface)?;
    s.set_multicast_loop_v6(true)?;
    s.set_multicast_hops_v6(255)?;
    Ok(s.into())
}

/// The process's default mDNS sockets: IPv4 on port 5353 joined on the kernel's default
/// interface, and IPv6 too where the host has it.
pub fn bind_default() -> io::Result<Vec<UdpSocket>> {
    let mut sockets = vec![bind_v4(Ipv4Addr::UNSPECIFIED, PORT)?];
    if let Ok(v6) = bind_v6(0, PORT) {
        sockets.push(v6);
    }
    Ok(sockets)
}

type Sink = Box<dyn Fn(SocketAddr, SocketAddr, &[u8]) + Send + Sync>;

struct HubInner {
    /// Each socket with its local address (the `destination` subscribers see and the
    /// `source` they send from).
    sockets: Vec<(SocketAddr, UdpSocket)>,
    subscribers: Mutex<Vec<(u64, Sink)>>,
    next_id: AtomicU64,
}

/// The process's shared mDNS sockets: see the [module docs](self).
pub struct MdnsHub {
    inner: Arc<HubInner>,
}

impl MdnsHub {
    /// Shares `sockets` (from [`bind_v4`]/[`bind_v6`]; made blocking here); a reader thread
    /// per socket runs until the hub is dropped.
    pub fn start(sockets: Vec<UdpSocket>) -> io::Result<Self> {
        let mut pairs = Vec::with_capacity(sockets.len());
        let mut readers = Vec::with_capacity(sockets.len());
        for s in sockets {
            s.set_nonblocking(false)?;
            s.set_read_timeout(Some(Duration::from_millis(100)))?;
            let local = s.local_addr()?;
            readers.push((local, s.try_clone()?));
            pairs.push((local, s));
        }
        let inner = Arc::new(HubInner {
            sockets: pairs,
            subscribers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        });
        for (local, socket) in readers {
            let weak = Arc::downgrade(&inner);
            std::thread::spawn(move || hub_reader(local, socket, weak));
        }
        Ok(Self { inner })
    }

    /// The process's hub over [`bind_default`]'s sockets, one for every adapter in the
    /// process. Made on first use; an error (no multicast here) is kept and returned to
    /// every later caller.
    pub fn shared() -> io::Result<&'static MdnsHub> {
        static SHARED: OnceLock<Result<MdnsHub, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                bind_default()
                    .and_then(MdnsHub::start)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))
    }

    /// The shared sockets' local addresses: give each to
    /// [`kaon::peer::PeerConnection::add_mdns_socket`].
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner.sockets.iter().map(|(a, _)| *a).collect()
    }

    /// Sends `buf[..t.len]` if `t.source` is one of the hub's sockets; `false` leaves the
    /// transmit to the caller. A UDP send does not block.
    pub fn send(&self, t: &Transmit, buf: &[u8]) -> bool {
        let Some((_, socket)) = self.inner.sockets.iter().find(|(a, _)| *a == t.source) else {
            return false;
        };
        // mDNS is best effort: a lost query is asked again on the schedule.
        let _ = socket.send_to(&buf[..t.len], t.destination);
        true
    }

    /// Calls `deliver(from, local, bytes)` on the hub's reader thread for every datagram the
    /// hub receives, until the subscription is dropped. An adapter posts it to the
    /// connection's driver ([`datagram`] builds what the protocol takes); `deliver` must not
    /// block.
    pub fn subscribe(
        &self,
        deliver: impl Fn(SocketAddr, SocketAddr, &[u8]) + Send + Sync + 'static,
    ) -> MdnsSubscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.subscribers).push((id, Box::new(deliver)));
        MdnsSubscription {
            hub: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// How many connections are subscribed.
    pub fn subscribers(&self) -> usize {
        lock(&self.inner.subscribers).len()
    }
}

/// Hands a datagram the hub received (`from` → `local`) to `p`.
pub fn datagram<P: kaon::Protocol>(
    p: &mut P,
    now: Instant,
    from: SocketAddr,
    local: SocketAddr,
    bytes: &[u8],
) {
    p.handle_datagram(
        now,
        Datagram {
            source: from,
            destination: local,
            contents: bytes,
        },
    );
}

/// A connection's place on an [`MdnsHub`]; dropping it unsubscribes.
pub struct MdnsSubscription {
    hub: Weak<HubInner>,
    id: u64,
}

impl Drop for MdnsSubscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            lock(&hub.subscribers).retain(|(id, _)| *id != self.id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn hub_reader(local: SocketAddr, socket: UdpSocket, hub: Weak<HubInner>) {
    let mut buf = vec![0u8; 9000];
    loop {
        let got = socket.recv_from(&mut buf);
        let Some(hub) = hub.upgrade() else { return };
        if let Ok((n, from)) = got {
            for (_, sink) in lock(&hub.subscribers).iter() {
                sink(from, local, &buf[..n]);
            }
        }
    }
}

/// `P` (a PeerConnection's dispatcher) with its transmits from the hub's sockets sent through
/// the hub; everything else passes through. Derefs to `P`.
pub struct WithMdns<P> {
    inner: P,
    hub: Option<&'static MdnsHub>,
}

impl<P> WithMdns<P> {
    /// Wraps `inner`; with no hub it is `inner` unchanged.
    pub fn new(inner: P, hub: Option<&'static MdnsHub>) -> Self {
        Self { inner, hub }
    }
}

impl<P> std::ops::Deref for WithMdns<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.inner
    }
}

impl<P> std::ops::DerefMut for WithMdns<P> {
    fn deref_mut(&mut self) -> &mut P {
        &mut self.inner
    }
}

impl<P: kaon::Protocol> kaon::Protocol for WithMdns<P> {
    type Event = P::Event;

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.inner.handle_datagram(now, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let t = self.inner.poll_transmit(now, buf)?;
            if !self.hub.is_some_and(|hub| hub.send(&t, buf)) {
                return Some(t);
            }
        }
    }

    fn poll_event(&mut self) -> Option<P::Event> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

/// For an adapter's `PeerConnection::new`: the shared hub when the connection's
/// `PeerConfig::mdns` is `enabled` and the hub can be had, its sockets named to `pc`. Without
/// one the connection runs as if nobody answered (the peer then learns our hidden addresses
/// from our checks, as peer-reflexive candidates).
pub fn attach(enabled: bool, pc: &mut kaon::peer::PeerConnection) -> Option<&'static MdnsHub> {
    if !enabled {
        return None;
    }
    let hub = MdnsHub::shared().ok()?;
    for a in hub.local_addrs() {
        pc.add_mdns_socket(a);
    }
    Some(hub)
}
