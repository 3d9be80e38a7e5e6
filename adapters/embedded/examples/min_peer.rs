//! The smallest useful kaon peer: answers one data-channel offer and echoes every message,
//! on one thread over one UDP socket, with `kaon_embedded::Stepper`. Its release size is the
//! figure embedded users pick on:
//!
//! ```text
//! cargo build --profile embedded -p kaon-embedded --example min_peer
//! ls -l target/embedded/examples/min_peer
//! ```
//!
//! Usage: `min_peer ADDR < offer.sdp > answer.sdp`, with `ADDR` a local address such as
//! `127.0.0.1:0` or `[::1]:0`. The offer is read to the end of stdin; the answer is followed
//! by an empty line. It then echoes until killed.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_embedded::{Stepper, step_timeout};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::args().nth(1).unwrap_or("127.0.0.1:0".into());
    let socket = UdpSocket::bind(bind)?;
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    let mut offer = String::new();
    std::io::stdin().read_to_string(&mut offer)?;

    let mut pc = PeerConnection::new(PeerConfig::default())?;
    pc.add_local_address(local)?;
    pc.set_remote_description(SdpType::Offer, SessionDescription::parse(&offer)?)?;
    let answer = pc.create_answer(Instant::now())?;
    pc.set_local_description(SdpType::Answer, answer.clone())?;
    // The answer, then an empty line: a driving program can stop reading there.
    let mut out = std::io::stdout();
    let text = answer.to_string();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"\r\n")?;
    out.flush()?;

    let mut sockets = [socket];
    let mut stepper = Stepper::with_buffer_size(2048);
    let mut inbox = Vec::new();
    loop {
        let now = Instant::now();
        let next = stepper.step(&mut pc, &mut sockets, now, |e| {
            if let PeerEvent::Message { channel, data, .. } = e {
                inbox.push((channel, data));
            }
        });
        if !inbox.is_empty() {
            for (channel, data) in inbox.drain(..) {
                let _ = pc.send(now, channel, &data);
            }
            continue;
        }
        // Block in the kernel until a datagram arrives or the deadline passes.
        let wait = step_timeout(next, now).unwrap_or(Duration::from_secs(1));
        let s = &sockets[0];
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(wait.max(Duration::from_micros(100))))?;
        let _ = s.peek_from(&mut [0u8; 1]);
        s.set_nonblocking(true)?;
    }
}
