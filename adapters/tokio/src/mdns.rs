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
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaon::mdns::{Mdns, MdnsConfig};
use kaon_adapter_common::mdns_hub as hub;
pub use kaon_adapter_common::mdns_hub::{MdnsHub, MdnsSubscription, WithMdns};
use tokio::net::UdpSocket;
use tokio::sync::OnceCell;

use crate::{Driver, Handle};

/// [`bind_v4`](kaon_adapter_common::mdns_hub::bind_v4) as a tokio socket. Must be called
/// inside a tokio runtime.
pub fn bind_v4(interface: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    on_tokio(hub::bind_v4(interface, port)?)
}

/// [`bind_v6`](kaon_adapter_common::mdns_hub::bind_v6) as a tokio socket. Must be called
/// inside a tokio runtime.
pub fn bind_v6(interface: u32, port: u16) -> io::Result<UdpSocket> {
    on_tokio(hub::bind_v6(interface, port)?)
}

fn on_tokio(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s)
}

/// Subscribes the protocol behind `handle` (a PeerConnection's driver) to `hub`: every
/// datagram the hub receives is posted to it.
pub(crate) fn subscribe<P>(hub: &MdnsHub, handle: Handle<P>) -> MdnsSubscription
where
    P: kaon::Protocol + Send + 'static,
{
    hub.subscribe(move |from, local, bytes| {
        let bytes = bytes.to_vec();
        handle.post(move |p, now| hub::datagram(p, now, from, local, &bytes));
    })
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
                let sockets = hub::bind_default()?
                    .into_iter()
                    .map(on_tokio)
                    .collect::<io::Result<_>>()?;
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
