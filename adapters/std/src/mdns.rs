//! mDNS sockets and one shared responder/resolver per process.
//!
//! The core's [`kaon::mdns::Mdns`] only parses and answers; this module gives it sockets:
//! UDP port 5353 shared with the host's other responders, joined to 224.0.0.251 or ff02::fb,
//! multicast loop on, IP TTL 255 (RFC 6762 §11, §15.1; the sockets and the hub are
//! `kaon-adapter-common`'s, shared with `kaon-tokio` in one process).
//!
//! - [`MdnsHub`]: the process's one mDNS socket per family, shared by every
//!   [`PeerConnection`](crate::PeerConnection) whose `PeerConfig::mdns` is enabled. Each
//!   connection runs its own responder and querier in the core (it answers only for its own
//!   names and takes only answers it asked for); the hub gives every subscribed connection each
//!   datagram that arrives and sends what each returns from the shared socket.
//! - [`MdnsService`]: one standalone `Mdns` on a [`Driver`] thread, for an ICE agent used
//!   without a PeerConnection.
//!
//! ```no_run
//! let mdns = kaon_std::mdns::MdnsService::shared()?;
//! let name = mdns.register("192.0.2.1".parse().unwrap()).unwrap();
//! // ... signal `name` in a host candidate; resolve the peer's names:
//! let ip = mdns.resolve("1f4712db-ea17-4bcf-a596-105139dfd8bf.local", std::time::Duration::from_secs(5));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{IpAddr, UdpSocket};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kaon::mdns::{Mdns, MdnsConfig};
pub use kaon_adapter_common::mdns_hub::{
    MdnsHub, MdnsSubscription, WithMdns, bind_default, bind_v4, bind_v6,
};

use crate::{Driver, Handle};

/// Subscribes the protocol behind `handle` (a PeerConnection's driver) to `hub`: every
/// datagram the hub receives is posted to it.
pub(crate) fn subscribe<P>(hub: &MdnsHub, handle: Handle<P>) -> MdnsSubscription
where
    P: kaon::Protocol + Send + 'static,
{
    hub.subscribe(move |from, local, bytes| {
        let bytes = bytes.to_vec();
        handle.post(move |p, now| {
            kaon_adapter_common::mdns_hub::datagram(p, now, from, local, &bytes)
        });
    })
}

/// One [`Mdns`] on its own driver thread over the given mDNS sockets.
pub struct MdnsService {
    driver: Mutex<Driver<Mdns>>,
}

impl MdnsService {
    /// Runs `Mdns` with `config` over `sockets` (from [`bind_v4`]/[`bind_v6`]); the sockets'
    /// addresses replace `config.sockets`.
    pub fn start(mut config: MdnsConfig, sockets: Vec<UdpSocket>) -> io::Result<Self> {
        config.sockets = sockets
            .iter()
            .map(UdpSocket::local_addr)
            .collect::<io::Result<_>>()?;
        let driver = Driver::spawn(Mdns::new(config), sockets)?;
        Ok(Self {
            driver: Mutex::new(driver),
        })
    }

    /// The process's shared instance: IPv4 on port 5353, joined on the kernel's default
    /// interface, and IPv6 too where the host has it. Started on first use.
    pub fn shared() -> io::Result<&'static MdnsService> {
        static SHARED: OnceLock<Result<MdnsService, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let sockets = bind_default().map_err(|e| e.to_string())?;
                MdnsService::start(MdnsConfig::new(Vec::new()), sockets).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))
    }

    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Mdns, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let driver = self.driver.lock().unwrap_or_else(|e| e.into_inner());
        // Results are read through the cache (`lookup`); the events need not pile up.
        while driver.events().try_recv().is_ok() {}
        driver.call(f)
    }

    /// Hides `ip` behind a fresh `<uuid>.local` name and answers for it (see
    /// [`Mdns::register`]).
    pub fn register(&self, ip: IpAddr) -> Option<String> {
        self.call(move |m, _| m.register(ip).ok()).flatten()
    }

    /// Answers queries for `name` with `ip` (a name an ICE agent made, for example).
    pub fn register_name(&self, name: &str, ip: IpAddr) -> bool {
        let name = name.to_owned();
        self.call(move |m, _| m.register_name(&name, ip).is_ok())
            .unwrap_or(false)
    }

    /// Stops answering for `name`.
    pub fn unregister(&self, name: &str) {
        let name = name.to_owned();
        self.call(move |m, _| m.unregister(&name));
    }

    /// Resolves `name`, blocking until an address is known or `timeout` passes. Queries follow
    /// the `Mdns` schedule; answers are cached, so asking again is cheap.
    pub fn resolve(&self, name: &str, timeout: Duration) -> Option<IpAddr> {
        let owned = name.to_owned();
        self.call(move |m, now| m.resolve(now, &owned))
            .and_then(Result::ok)?;
        let end = Instant::now() + timeout;
        loop {
            let owned = name.to_owned();
            let found = self.call(move |m, now| m.lookup(now, &owned))?;
            if let Some(&ip) = found.first() {
                return Some(ip);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `f` on the driver thread with the `Mdns` and the time, for anything else.
    pub fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Mdns, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        self.call(f)
    }
}
