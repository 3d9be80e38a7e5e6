//! mDNS sockets and one shared responder/resolver per process, on tokio.
//!
//! The same sockets as kaon-std's `mdns` module: UDP port 5353 with `SO_REUSEADDR` and
//! `SO_REUSEPORT` (RFC 6762 §15.1: a browser or avahi on the host holds the port too), joined
//! to 224.0.0.251 or ff02::fb, multicast loop on, IP TTL 255 (RFC 6762 §11).
//!
//! - [`MdnsHub`]: the process's one mDNS socket per family, shared by every
//!   [`PeerConnection`](crate::PeerConnection) whose `PeerConfig::mdns` is enabled. Each
//!   connection runs its own responder and querier in the core; the hub gives every subscribed
//!   connection each datagram that arrives and sends what each returns. Its sockets are read
//!   by a plain thread, so one hub serves connections on any runtime (tests start several).
//! - [`MdnsService`]: one standalone [`kaon::mdns::Mdns`] on a [`Driver`] task, for an ICE
//!   agent used without a PeerConnection.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use kaon::{Datagram, Transmit};

use kaon::mdns::{GROUP_V4, GROUP_V6, Mdns, MdnsConfig, PORT};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::OnceCell;

use crate::{Driver, Handle};

fn reuse(s: &Socket) -> io::Result<()> {
    s.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)
}

/// An IPv4 mDNS socket on `0.0.0.0:port` joined to 224.0.0.251 on the interface with address
/// `interface` (`0.0.0.0`: the kernel's choice). Must be called inside a tokio runtime.
pub fn bind_v4(interface: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    reuse(&s)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    s.join_multicast_v4(&GROUP_V4, &interface)?;
    s.set_multicast_if_v4(&interface)?;
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(255)?;
    UdpSocket::from_std(s.into())
}

/// An IPv6 mDNS socket on `[::]:port` joined to ff02::fb on interface index `interface`.
/// Must be called inside a tokio runtime.
pub fn bind_v6(interface: u32, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    reuse(&s)?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    s.join_multicast_v6(&GROUP_V6, interface)?;
    s.set_multicast_if_v6(interface)?;
    s.set_multicast_loop_v6(true)?;
    s.set_multicast_hops_v6(255)?;
    UdpSocket::from_std(s.into())
}

/// One [`Mdns`] on its own driver task over the given mDNS sockets.
pub struct MdnsService {
    driver: Arc<Driver<Mdns>>,
}

impl MdnsService {
    /// Runs `Mdns` with `config` over `sockets` (from [`bind_v4`]/[`bind_v6`]); the sockets'
    /// addresses replace `config.sockets`.
    pub fn start(mut config: MdnsConfig, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        config.sockets = sockets
            .iter()
            .map(UdpSocket::local_addr)
            .collect::<io::Result<_>>()?;
        let driver = Arc::new(Driver::spawn(Mdns::new(config), sockets)?);
        // Results are read through the cache (`lookup`); the events need not pile up.
        let drain = Arc::downgrade(&driver);
        tokio::spawn(async move {
            // Holds the driver only for a second at a time, so dropping the service ends it.
            while let Some(d) = drain.upgrade() {
                let wait = tokio::time::timeout(Duration::from_secs(1), d.next_event());
                if let Ok(None) = wait.await {
                    break;
                }
            }
        });
        Ok(Self { driver })
    }

    /// The process's shared instance: IPv4 on port 5353 joined on the kernel's default
    /// interface, and IPv6 too where the host has it. Started on first use.
    pub async fn shared() -> io::Result<&'static MdnsService> {
        static SHARED: OnceCell<MdnsService> = OnceCell::const_new();
        SHARED
            .get_or_try_init(|| async {
                let mut sockets = vec![bind_v4(Ipv4Addr::UNSPECIFIED, PORT)?];
                if let Ok(v6) = bind_v6(0, PORT) {
                    sockets.push(v6);
                }
                MdnsService::start(MdnsConfig::new(Vec::new()), sockets)
            })
            .await
    }

    /// Hides `ip` behind a fresh `<uuid>.local` name and answers for it.
    pub async fn register(&self, ip: IpAddr) -> Option<String> {
        self.driver
            .call(move |m, _| m.register(ip).ok())
            .await
            .flatten()
    }

    /// Answers queries for `name` with `ip`.
    pub async fn register_name(&self, name: &str, ip: IpAddr) -> bool {
        let name = name.to_owned();
        self.driver
            .call(move |m, _| m.register_name(&name, ip).is_ok())
            .await
            .unwrap_or(false)
    }

    /// Resolves `name`, waiting until an address is known or `timeout` passes.
    pub async fn resolve(&self, name: &str, timeout: Duration) -> Option<IpAddr> {
        let owned = name.to_owned();
        self.driver
            .call(move |m, now| m.resolve(now, &owned))
            .await
            .and_then(Result::ok)?;
        let end = Instant::now() + timeout;
        loop {
            let owned = name.to_owned();
            let found = self
                .driver
                .call(move |m, now| m.lookup(now, &owned))
                .await?;
            if let Some(&ip) = found.first() {
                return Some(ip);
            }
            if Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs `f` on the driver task with the `Mdns` and the time, for anything else.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Mdns, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        self.driver.call(f).await
    }
}

type Sink = Box<dyn Fn(SocketAddr, SocketAddr, &[u8]) + Send + Sync>;

struct HubInner {
    /// Each socket with its local address (the `destination` subscribers see and the
    /// `source` they send from).
    sockets: Vec<(SocketAddr, std::net::UdpSocket)>,
    subscribers: Mutex<Vec<(u64, Sink)>>,
    next_id: AtomicU64,
}

/// The process's shared mDNS sockets: see the [module docs](self).
pub struct MdnsHub {
    inner: Arc<HubInner>,
}

impl MdnsHub {
    /// Shares `sockets` (from [`bind_v4`]/[`bind_v6`], taken off their runtime); a reader
    /// thread per socket runs until the hub is dropped.
    pub fn start(sockets: Vec<UdpSocket>) -> io::Result<Self> {
        let mut pairs = Vec::with_capacity(sockets.len());
        let mut readers = Vec::with_capacity(sockets.len());
        for s in sockets {
            let s = s.into_std()?;
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

    /// The process's hub: IPv4 on port 5353 joined on the kernel's default interface, and
    /// IPv6 too where the host has it. Made on first use (inside a tokio runtime); an error
    /// (no multicast here) is kept and returned to every later caller.
    pub fn shared() -> io::Result<&'static MdnsHub> {
        static SHARED: OnceLock<Result<MdnsHub, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let mut sockets =
                    vec![bind_v4(Ipv4Addr::UNSPECIFIED, PORT).map_err(|e| e.to_string())?];
                if let Ok(v6) = bind_v6(0, PORT) {
                    sockets.push(v6);
                }
                MdnsHub::start(sockets).map_err(|e| e.to_string())
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

    /// Delivers every datagram the hub receives to the protocol behind `handle` (a
    /// PeerConnection's driver) until the subscription is dropped.
    pub fn subscribe<P>(&self, handle: Handle<P>) -> MdnsSubscription
    where
        P: kaon::Protocol + Send + 'static,
    {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let sink: Sink = Box::new(move |from, local, bytes| {
            let bytes = bytes.to_vec();
            handle.post(move |p, now| {
                p.handle_datagram(
                    now,
                    Datagram {
                        source: from,
                        destination: local,
                        contents: &bytes,
                    },
                )
            });
        });
        lock(&self.inner.subscribers).push((id, sink));
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

fn hub_reader(local: SocketAddr, socket: std::net::UdpSocket, hub: Weak<HubInner>) {
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

/// For [`PeerConnection::new`](crate::PeerConnection::new): the shared hub when the
/// connection's `PeerConfig::mdns` is `enabled` and the hub can be had, its sockets named to
/// `pc`. Without one the connection runs as if nobody answered (the peer then learns our
/// hidden addresses from our checks, as peer-reflexive candidates).
pub(crate) fn attach(
    enabled: bool,
    pc: &mut kaon::peer::PeerConnection,
) -> Option<&'static MdnsHub> {
    if !enabled {
        return None;
    }
    let hub = MdnsHub::shared().ok()?;
    for a in hub.local_addrs() {
        pc.add_mdns_socket(a);
    }
    Some(hub)
}
