//! mDNS sockets and one shared responder/resolver per process, on tokio.
//!
//! The same sockets as kaon-std's `mdns` module: UDP port 5353 with `SO_REUSEADDR` and
//! `SO_REUSEPORT` (RFC 6762 §15.1: a browser or avahi on the host holds the port too), joined
//! to 224.0.0.251 or ff02::fb, multicast loop on, IP TTL 255 (RFC 6762 §11). [`MdnsService`]
//! runs one [`kaon::mdns::Mdns`] on a [`Driver`] task; [`MdnsService::shared`] is the one
//! every PeerConnection of the process uses.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaon::mdns::{GROUP_V4, GROUP_V6, Mdns, MdnsConfig, PORT};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::OnceCell;

use crate::Driver;

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
