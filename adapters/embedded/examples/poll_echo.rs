//! A data-channel echo peer on one thread: a kaon `PeerConnection` driven by
//! `kaon_embedded::Stepper` from a mio (epoll/kqueue) loop over one non-blocking UDP socket.
//! No async runtime, no driver thread: the loop sleeps in `poll` until a datagram or the
//! connection's next deadline.
//!
//! Run it: `cargo run -p kaon-embedded --example poll_echo`. With no argument it connects to
//! a kaon-std peer in the same process (for a self-contained demo and the test) and echoes
//! what that peer sends. The serving side is [`serve`]: give it any offer.
//!
//! Address options: `--ipv6` binds `[::1]` instead of `127.0.0.1`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_embedded::{DatagramSocket, Stepper, step_timeout};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

/// mio's socket is already non-blocking.
struct MioSocket(UdpSocket, SocketAddr);

impl DatagramSocket for MioSocket {
    fn local_addr(&self) -> SocketAddr {
        self.1
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> std::io::Result<Option<(usize, SocketAddr)>> {
        match self.0.recv_from(buf) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn try_send(&mut self, data: &[u8], to: SocketAddr) -> std::io::Result<bool> {
        match self.0.send_to(data, to) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// What [`serve`] did.
#[derive(Debug, Default)]
#[allow(dead_code)] // read by the test
pub struct Served {
    /// Messages echoed.
    pub echoed: usize,
    /// Loop iterations (poll wake-ups).
    pub wakeups: usize,
    /// The pair ICE selected at the end: (local, remote).
    pub selected: Option<(SocketAddr, SocketAddr)>,
}

/// Answers `offer` with a peer on a fresh socket at `bind` (the answer goes to `send_answer`),
/// then echoes every message on every channel until `stop` returns true or `limit` passes.
pub fn serve(
    bind: SocketAddr,
    offer: &str,
    send_answer: impl FnOnce(String),
    mut stop: impl FnMut(&Served) -> bool,
    limit: Duration,
) -> std::io::Result<Served> {
    let mut socket = UdpSocket::bind(bind)?;
    let local = socket.local_addr()?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, Token(0), Interest::READABLE)?;
    let mut sockets = [MioSocket(socket, local)];

    let mut pc = PeerConnection::new(PeerConfig::default()).map_err(std::io::Error::other)?;
    pc.add_local_address(local).map_err(std::io::Error::other)?;
    let offer = SessionDescription::parse(offer).map_err(std::io::Error::other)?;
    pc.set_remote_description(SdpType::Offer, offer)
        .map_err(std::io::Error::other)?;
    let answer = pc
        .create_answer(Instant::now())
        .map_err(std::io::Error::other)?;
    pc.set_local_description(SdpType::Answer, answer.clone())
        .map_err(std::io::Error::other)?;
    send_answer(answer.to_string());

    let mut stepper = Stepper::new();
    let mut events = Events::with_capacity(16);
    let mut served = Served::default();
    let start = Instant::now();
    let mut inbox = Vec::new();
    loop {
        let now = Instant::now();
        let next = stepper.step(&mut pc, &mut sockets, now, |e| {
            if let PeerEvent::Message {
                channel,
                data,
                binary,
            } = e
            {
                inbox.push((channel, data, binary));
            }
        });
        if !inbox.is_empty() {
            for (channel, data, binary) in inbox.drain(..) {
                let _ = if binary {
                    pc.send(now, channel, &data)
                } else {
                    pc.send_text(now, channel, &String::from_utf8_lossy(&data))
                };
                served.echoed += 1;
            }
            // The echoes were only queued: one more round sends them.
            continue;
        }
        if stop(&served) || start.elapsed() >= limit {
            break;
        }
        let wait = step_timeout(next, now).unwrap_or(Duration::from_millis(200));
        poll.poll(&mut events, Some(wait))?;
        served.wakeups += 1;
    }
    served.selected = pc.ice().selected_pair().map(|p| (p.local, p.remote));
    Ok(served)
}

/// The demo: a kaon-std peer (on its own thread, as any application would use it) offers a
/// channel; the single-threaded loop answers and echoes `count` messages.
#[allow(dead_code)] // the test calls it with its own count
pub fn demo(ipv6: bool, count: usize) -> Result<Duration, Box<dyn std::error::Error>> {
    use kaon::datachannel::ChannelConfig;
    let bind: SocketAddr = if ipv6 { "[::1]:0" } else { "127.0.0.1:0" }.parse()?;
    let client = kaon_std::PeerConnection::new(
        PeerConfig::default(),
        vec![std::net::UdpSocket::bind(bind)?],
    )?;
    let channel = client.create_data_channel("echo", ChannelConfig::default())?;
    let offer = client.create_offer()?;
    client.set_local_description(SdpType::Offer, offer.clone())?;
    let (answer_tx, answer_rx) = std::sync::mpsc::channel();
    let offer_text = offer.to_string();
    let server = std::thread::spawn(move || {
        // The serving loop is single-threaded; it gets a thread here only because the demo
        // runs both peers in one process.
        serve(
            bind,
            &offer_text,
            |a| answer_tx.send(a).unwrap(),
            |s| s.echoed >= count,
            Duration::from_secs(30),
        )
    });
    let answer = SessionDescription::parse(&answer_rx.recv()?)?;
    let start = Instant::now();
    client.set_remote_description(SdpType::Answer, answer)?;
    if !channel.wait_open_timeout(Duration::from_secs(20))? {
        return Err("the channel never opened".into());
    }
    let opened = start.elapsed();
    for i in 0..count {
        let text = format!("message {i}");
        channel.send_text(&text)?;
        let back = channel.recv_timeout(Duration::from_secs(10))?;
        if back.data != text.as_bytes() {
            return Err(format!("echo {i} differs").into());
        }
    }
    let served = server.join().map_err(|_| "server panicked")??;
    println!(
        "channel open in {opened:?}; {} echoes in {} wake-ups",
        served.echoed, served.wakeups
    );
    Ok(opened)
}

#[allow(dead_code)] // not the entry point when the test includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ipv6 = std::env::args().any(|a| a == "--ipv6");
    demo(ipv6, 10)?;
    Ok(())
}
