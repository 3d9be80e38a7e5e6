//! kaon over smoltcp: a data-channel echo peer whose only network stack is smoltcp's, on an
//! in-memory IP device, as on a microcontroller with no kernel. A small bridge stands in for
//! the wire: it takes the IPv4/UDP packets smoltcp emits and sends their payloads from a
//! loopback socket, and wraps what that socket receives into packets for smoltcp. The other
//! peer is an ordinary kaon-std peer in the same process.
//!
//! Run it: `cargo run -p kaon-embedded --example smoltcp_bridge`.
//!
//! ```text
//! kaon PeerConnection ── Stepper ── smoltcp udp::Socket ── Interface (127.0.0.2, Medium::Ip)
//!        ── in-memory device ── bridge (IPv4/UDP <-> 127.0.0.1:B) ── kernel ── kaon-std peer
//! ```
//!
//! The smoltcp side has address 127.0.0.2 so that whatever the kaon-std peer sends straight to
//! the signalled candidate stays on loopback (nothing listens there; the peer learns the
//! bridge's address as a peer-reflexive candidate from the checks and uses that).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_embedded::{DatagramSocket, Stepper, step_timeout};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Checksum, Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::udp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

/// The smoltcp side's address and port.
const EMBEDDED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 5000);
const MTU: usize = 1500;

/// An IP-level device that is two packet queues.
#[derive(Default)]
struct Wire {
    /// Packets for smoltcp to receive.
    rx: VecDeque<Vec<u8>>,
    /// Packets smoltcp sent.
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0; len];
        let r = f(&mut packet);
        self.0.push_back(packet);
        r
    }
}

impl Device for Wire {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((Rx(packet), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        // The bridge neither checks nor fills checksums: loopback does not corrupt.
        caps.checksum.ipv4 = Checksum::None;
        caps.checksum.udp = Checksum::None;
        caps
    }
}

/// An IPv4 + UDP packet carrying `payload` (checksums left zero: RFC 768 allows it for UDP
/// over IPv4, and the device tells smoltcp not to check the IPv4 one).
fn wrap(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        return None;
    };
    let total = 20 + 8 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    let udp_len = 8 + payload.len();
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&[(udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    p.extend_from_slice(payload);
    Some(p)
}

/// The destination and payload of an IPv4 + UDP packet.
fn unwrap(p: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let ihl = usize::from(*p.first()? & 0x0f) * 4;
    if p.first()? >> 4 != 4 || *p.get(9)? != 17 || p.len() < ihl + 8 {
        return None;
    }
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let udp = &p[ihl..];
    let port = u16::from_be_bytes([udp[2], udp[3]]);
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let payload = udp.get(8..len)?;
    Some((SocketAddr::new(IpAddr::V4(dst), port), payload))
}

/// A smoltcp UDP socket as a `kaon_embedded::DatagramSocket`.
struct SmolUdp<'a, 'b> {
    set: &'a mut SocketSet<'b>,
    handle: SocketHandle,
}

impl DatagramSocket for SmolUdp<'_, '_> {
    fn local_addr(&self) -> SocketAddr {
        EMBEDDED
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> std::io::Result<Option<(usize, SocketAddr)>> {
        let s = self.set.get_mut::<udp::Socket>(self.handle);
        match s.recv_slice(buf) {
            Ok((n, meta)) => {
                let IpAddress::Ipv4(ip) = meta.endpoint.addr;
                Ok(Some((
                    n,
                    SocketAddr::new(IpAddr::V4(ip), meta.endpoint.port),
                )))
            }
            Err(udp::RecvError::Exhausted) => Ok(None),
            Err(e) => Err(std::io::Error::other(format!("{e:?}"))),
        }
    }

    fn try_send(&mut self, data: &[u8], to: SocketAddr) -> std::io::Result<bool> {
        let IpAddr::V4(v4) = to.ip() else {
            return Ok(false); // this interface is IPv4 only
        };
        let to = IpEndpoint::new(IpAddress::Ipv4(v4), to.port());
        let s = self.set.get_mut::<udp::Socket>(self.handle);
        match s.send_slice(data, to) {
            Ok(()) => Ok(true),
            Err(udp::SendError::BufferFull) => Ok(false),
            Err(e) => Err(std::io::Error::other(format!("{e:?}"))),
        }
    }
}

/// What [`serve`] did.
#[derive(Debug, Default)]
#[allow(dead_code)] // read by the test
pub struct Served {
    /// Messages echoed.
    pub echoed: usize,
    /// Packets the bridge carried into and out of smoltcp.
    pub bridged: (usize, usize),
}

/// Answers `offer` with a kaon peer on smoltcp and echoes messages until `stop` or `limit`.
pub fn serve(
    offer: &str,
    send_answer: impl FnOnce(String),
    mut stop: impl FnMut(&Served) -> bool,
    limit: Duration,
) -> Result<Served, Box<dyn std::error::Error + Send + Sync>> {
    // The bridge's kernel socket: the only real socket, standing in for the wire.
    let bridge = UdpSocket::bind("127.0.0.1:0")?;
    bridge.set_nonblocking(true)?;

    let mut wire = Wire::default();
    let start = Instant::now();
    let stamp =
        |now: Instant| smoltcp::time::Instant::from_micros((now - start).as_micros() as i64);
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut wire, stamp(start));
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(127, 0, 0, 2), 8));
    });
    let buffer =
        || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 64 * 1024]);
    let mut socket = udp::Socket::new(buffer(), buffer());
    socket.bind(EMBEDDED.port())?;
    let mut set = SocketSet::new(Vec::new());
    let handle = set.add(socket);

    let mut pc = PeerConnection::new(PeerConfig::default())?;
    pc.add_local_address(EMBEDDED)?;
    pc.set_remote_description(SdpType::Offer, SessionDescription::parse(offer)?)?;
    let answer = pc.create_answer(Instant::now())?;
    pc.set_local_description(SdpType::Answer, answer.clone())?;
    send_answer(answer.to_string());

    let mut stepper = Stepper::with_buffer_size(2048);
    let mut served = Served::default();
    let mut inbox = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let now = Instant::now();
        // Wire to smoltcp: what the kernel socket got, as packets to our address.
        while let Ok((n, from)) = bridge.recv_from(&mut buf) {
            if let Some(p) = wrap(from, EMBEDDED, &buf[..n]) {
                wire.rx.push_back(p);
                served.bridged.0 += 1;
            }
        }
        iface.poll(stamp(now), &mut wire, &mut set);
        let next = {
            let mut sockets = [SmolUdp {
                set: &mut set,
                handle,
            }];
            stepper.step(&mut pc, &mut sockets, now, |e| {
                if let PeerEvent::Message { channel, data, .. } = e {
                    inbox.push((channel, data));
                }
            })
        };
        let queued = !inbox.is_empty();
        for (channel, data) in inbox.drain(..) {
            let _ = pc.send(now, channel, &data);
            served.echoed += 1;
        }
        if queued {
            // Queued echoes leave on the next round.
            let mut sockets = [SmolUdp {
                set: &mut set,
                handle,
            }];
            stepper.step(&mut pc, &mut sockets, now, |_| {});
        }
        iface.poll(stamp(now), &mut wire, &mut set);
        // smoltcp to wire.
        while let Some(p) = wire.tx.pop_front() {
            if let Some((to, payload)) = unwrap(&p) {
                let _ = bridge.send_to(payload, to);
                served.bridged.1 += 1;
            }
        }
        if stop(&served) || start.elapsed() >= limit {
            return Ok(served);
        }
        // No kernel to sleep in for smoltcp's device: a real board would wait for its NIC
        // interrupt or the deadline; here wait at most 1 ms.
        let wait = step_timeout(next, now)
            .unwrap_or(Duration::from_millis(1))
            .min(Duration::from_millis(1));
        std::thread::sleep(wait);
    }
}

/// The demo: a kaon-std peer offers a channel; the smoltcp-based peer answers and echoes
/// `count` messages. Returns the time to the open channel.
#[allow(dead_code)] // the test calls it with its own count
pub fn demo(count: usize) -> Result<Duration, Box<dyn std::error::Error + Send + Sync>> {
    use kaon::datachannel::ChannelConfig;
    let client = kaon_std::PeerConnection::new(
        PeerConfig::default(),
        vec![UdpSocket::bind("127.0.0.1:0")?],
    )?;
    let channel = client.create_data_channel("echo", ChannelConfig::default())?;
    let offer = client.create_offer()?;
    client.set_local_description(SdpType::Offer, offer.clone())?;
    let (answer_tx, answer_rx) = std::sync::mpsc::channel();
    let offer_text = offer.to_string();
    let server = std::thread::spawn(move || {
        // The smoltcp loop is single-threaded; it has a thread here only because the demo
        // runs both peers in one process.
        serve(
            &offer_text,
            |a| answer_tx.send(a).unwrap(),
            |s| s.echoed >= count,
            Duration::from_secs(30),
        )
    });
    let answer = SessionDescription::parse(&answer_rx.recv()?)?;
    let start = Instant::now();
    client.set_remote_description(SdpType::Answer, answer)?;
    if !client_open(&channel)? {
        return Err("the channel never opened".into());
    }
    let opened = start.elapsed();
    for i in 0..count {
        let text = format!("over smoltcp {i}");
        channel.send_text(&text)?;
        let back = channel.recv_timeout(Duration::from_secs(10))?;
        if back.data != text.as_bytes() {
            return Err(format!("echo {i} differs").into());
        }
    }
    let served = server.join().map_err(|_| "server panicked")??;
    println!(
        "channel open in {opened:?}; {} echoes; bridge carried {} packets in, {} out",
        served.echoed, served.bridged.0, served.bridged.1
    );
    Ok(opened)
}

fn client_open(
    channel: &kaon_std::DataChannel,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    Ok(channel.wait_open_timeout(Duration::from_secs(20))?)
}

#[allow(dead_code)] // not the entry point when the test includes this file
fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    demo(10)?;
    Ok(())
}
