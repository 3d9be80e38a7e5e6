//! data-channels: kaon's data channels, two ways.
//!
//! ```text
//! cargo run --release --example data-channels [MEGABYTES]
//! cargo run --release --example data-channels -- --serve [ADDR]
//! ```
//!
//! **Default (headless):** two kaon PeerConnections in one process, each on its own UDP socket on
//! 127.0.0.1 and its own `kaon-std` driver thread. The offer and answer go across as strings, a
//! data channel opens, and a bulk transfer (64 MiB unless `MEGABYTES` says otherwise) measures
//! throughput. Prints the handshake timeline in ms since the offer was created (ICE connected,
//! DTLS connected, SCTP established, channel open) on each side, then the transfer rate.
//!
//! **`--serve [ADDR]`** (default `127.0.0.1:8080`, port 0 picks one): serves a small page and a
//! WHIP-like `POST /offer` endpoint over a tiny HTTP/1.1 server on `std::net::TcpListener`. Open
//! the printed URL in a browser on this machine: the page creates an `RTCPeerConnection` (no ICE
//! servers) and a channel, waits for its candidates, posts its offer SDP, sets kaon's answer and
//! chats; kaon greets each channel, prints what arrives and echoes it. Every POST gets a new
//! PeerConnection on a new UDP socket, so several tabs can connect at once.
//!
//! Browsers and loopback: Chromium and Firefox hide their host addresses behind mDNS names
//! (`<uuid>.local`) until the page has camera or microphone access, and kaon cannot resolve
//! `.local` names yet. The page therefore asks for the microphone (it stops the track at once)
//! and says so when it gets none; this program prints a hint when an offer has only `.local`
//! candidates. Such an offer still connects when the browser's checks reach kaon's 127.0.0.1
//! candidate: kaon learns the browser's address from them (a peer-reflexive candidate). Headless
//! Chromium 156 did exactly that on a machine with a non-loopback interface, without any media
//! flag; Firefox was not tried. Headless Chromium offers 127.0.0.1 itself with `--use-fake-ui-for-media-stream
//! --use-fake-device-for-media-stream --allow-loopback-in-peer-connection` and the page's
//! getUserMedia call, which is how `tests/example_data_channels.rs` runs it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::ice::IceState;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The page `--serve` hands out.
const PAGE: &str = include_str!("data-channels/index.html");
/// Size of each message of the bulk transfer.
const MESSAGE: usize = 64 * 1024;
/// Largest request head and body the HTTP server reads (an offer is a few KiB).
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve") => serve(args.get(1).map_or("127.0.0.1:8080", String::as_str)),
        Some("-h" | "--help") => {
            println!("usage: data-channels [MEGABYTES] | data-channels --serve [ADDR]");
            Ok(())
        }
        Some(n) => demo(n.parse().map_err(|_| format!("not a size in MiB: {n}"))?),
        None => demo(64),
    }
}

// ---- the headless demo: two kaon peers over loopback UDP ----

fn demo(megabytes: usize) -> Result<()> {
    // Each peer gets a socket; its address is its host candidate.
    let (sa, sb) = (
        UdpSocket::bind("127.0.0.1:0")?,
        UdpSocket::bind("127.0.0.1:0")?,
    );
    let mut a = PeerConnection::new(PeerConfig::default())?;
    let mut b = PeerConnection::new(PeerConfig::default())?;
    a.add_local_address(sa.local_addr()?)?;
    b.add_local_address(sb.local_addr()?)?;
    let bulk = a.create_data_channel(Instant::now(), "bulk", ChannelConfig::default())?;

    // Signalling, as strings.
    let t0 = Instant::now();
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1e3;
    let offer = a.create_offer()?;
    a.set_local_description(SdpType::Offer, offer.clone())?;
    b.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer.to_string())?,
    )?;
    let answer = b.create_answer()?;
    b.set_local_description(SdpType::Answer, answer.clone())?;
    a.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer.to_string())?,
    )?;
    println!("offer:\n{offer}");

    let da = Driver::spawn(a, vec![sa])?;
    let db = Driver::spawn(b, vec![sb])?;

    // The timeline, as each side reports it.
    let mut open = [false, false];
    let deadline = Instant::now() + Duration::from_secs(10);
    while open != [true, true] {
        if Instant::now() > deadline {
            return Err("the channel did not open within 10 s".into());
        }
        for (k, (name, d)) in [("offerer", &da), ("answerer", &db)]
            .into_iter()
            .enumerate()
        {
            let e = match d.events().recv_timeout(Duration::from_millis(1)) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(e) => return Err(e.into()),
            };
            let what = match &e {
                PeerEvent::IceConnectionStateChanged(IceState::Connected | IceState::Completed) => {
                    "ICE connected"
                }
                PeerEvent::DtlsConnected => "DTLS connected",
                PeerEvent::SctpConnected => "SCTP established",
                PeerEvent::DataChannelOpen { .. } => {
                    open[k] = true;
                    "channel open"
                }
                PeerEvent::DtlsFailed(_) => return Err(format!("{e:?}").into()),
                _ => continue,
            };
            println!("{name:>8}: {what:<17} {:7.2} ms", ms(Instant::now()));
        }
    }

    // Bulk: keep about 4 MiB queued at the sender, count bytes at the receiver.
    let total = megabytes * 1024 * 1024;
    let start = Instant::now();
    let (mut sent, mut received) = (0usize, 0usize);
    let block = bytes::Bytes::from(vec![0x5a; MESSAGE]);
    while received < total {
        while sent < total {
            let m = block.slice(..MESSAGE.min(total - sent));
            let len = m.len();
            let queued = da
                .call(move |pc, now| {
                    pc.buffered_amount(bulk) <= 4 << 20
                        && pc.send_message(now, bulk, m, true).is_ok()
                })
                .unwrap_or(false);
            if !queued {
                break;
            }
            sent += len;
        }
        match db.events().recv_timeout(Duration::from_millis(1)) {
            Ok(PeerEvent::Message { data, .. }) => received += data.len(),
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(e) => return Err(e.into()),
        }
        while let Ok(e) = db.events().try_recv() {
            if let PeerEvent::Message { data, .. } = e {
                received += data.len();
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err("transfer took more than 60 s".into());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "transfer: {megabytes} MiB in {secs:.3} s = {:.1} MiB/s ({:.0} Mbit/s) over loopback UDP",
        total as f64 / secs / (1 << 20) as f64,
        total as f64 * 8.0 / secs / 1e6
    );
    da.call(|pc, now| pc.close(now));
    let _ = da.shutdown();
    let _ = db.shutdown();
    Ok(())
}

// ---- --serve: a page and POST /offer for browsers ----

fn serve(addr: &str) -> Result<()> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    // kaon's UDP sockets go on the same address: ICE needs a real one, not 0.0.0.0.
    let udp_ip = match local.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    println!("open http://{local}/ in a browser on this machine (Ctrl-C to stop)");
    let peers = Arc::new(AtomicUsize::new(1));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let peers = peers.clone();
        // One thread per request keeps a slow client from stalling the others.
        std::thread::spawn(move || {
            if let Err(e) = handle(stream, udp_ip, &peers) {
                eprintln!("http: {e}");
            }
        });
    }
    Ok(())
}

/// Answers one HTTP/1.1 request and closes the connection.
fn handle(mut stream: TcpStream, udp_ip: IpAddr, peers: &AtomicUsize) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (status, kind, body) = match read_request(&mut stream) {
        Err(e) => ("400 Bad Request", "text/plain", format!("{e}\n")),
        Ok((method, path, body)) => match (method.as_str(), path.as_str()) {
            ("GET", "/" | "/index.html") => {
                ("200 OK", "text/html; charset=utf-8", PAGE.to_string())
            }
            ("POST", "/offer") => {
                match answer(&body, udp_ip, peers.fetch_add(1, Ordering::Relaxed)) {
                    Ok(sdp) => ("201 Created", "application/sdp", sdp),
                    Err(e) => ("400 Bad Request", "text/plain", format!("{e}\n")),
                }
            }
            _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
        },
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

/// The method, path and body of a request, with the head and body bounded in size.
fn read_request(stream: &mut TcpStream) -> Result<(String, String, String)> {
    let mut reader = BufReader::new(stream.take((MAX_HEAD + MAX_BODY) as u64));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let (mut head, mut length) = (line.len(), 0);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err("connection closed inside the request head".into());
        }
        head += line.len();
        if head > MAX_HEAD {
            return Err("request head too large".into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    if length > MAX_BODY {
        return Err("request body too large".into());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((method, path, String::from_utf8(body)?))
}

/// Builds a PeerConnection for a browser's offer, starts it on its own socket and thread, and
/// returns its answer.
fn answer(offer: &str, udp_ip: IpAddr, n: usize) -> Result<String> {
    let offer = SessionDescription::parse(offer)?;
    let socket = UdpSocket::bind((udp_ip, 0))?;
    let local = socket.local_addr()?;
    let text = offer.to_string();
    let hosts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .filter_map(|l| l.split(' ').nth(4))
        .collect();
    if hosts.is_empty() || hosts.iter().all(|h| h.ends_with(".local")) {
        println!(
            "peer {n}: hint: the offer has no host candidate kaon can use (only mDNS .local \
             names, which kaon cannot resolve yet). It can still connect if the browser's checks \
             reach {local}; if not, allow the page's microphone prompt (it makes the browser \
             show its addresses) and reload."
        );
    }

    let mut pc = PeerConnection::new(PeerConfig::default())?;
    pc.add_local_address(local)?;
    pc.set_remote_description(SdpType::Offer, offer)?;
    let answer = pc.create_answer()?;
    pc.set_local_description(SdpType::Answer, answer.clone())?;
    println!("peer {n}: answering from {local}");
    let driver = Driver::spawn(pc, vec![socket])?;
    std::thread::spawn(move || chat(n, driver));
    Ok(answer.to_string())
}

/// Greets each channel, prints what the browser says and echoes it, until the connection ends.
fn chat(n: usize, driver: Driver<PeerConnection>) {
    // Every refusal is reported: a reply over the peer's a=max-message-size (64 KiB for
    // several stacks), a closed channel, a full buffer.
    let reply = |id: ChannelId, text: String| {
        driver.post(move |pc, now| {
            if let Err(e) = pc.send_text(now, id, &text) {
                eprintln!(
                    "peer {n}: reply of {} bytes on channel {id} refused: {e}",
                    text.len()
                );
            }
        });
    };
    let mut labels = HashMap::new();
    for e in driver.events().iter() {
        match e {
            PeerEvent::DataChannelOpen { id, label, .. } => {
                println!("peer {n}: channel {label:?} open");
                reply(id, format!("hello from kaon, you are peer {n}"));
                labels.insert(id, label);
            }
            PeerEvent::Message {
                channel,
                data,
                binary,
            } => {
                let text = match binary {
                    false => String::from_utf8_lossy(&data).into_owned(),
                    true => format!("<{} bytes>", data.len()),
                };
                let label = labels.get(&channel).map_or("?", String::as_str);
                println!("peer {n} [{label}]: {text}");
                reply(channel, format!("echo: {text}"));
            }
            PeerEvent::ConnectionStateChanged(s) => {
                println!("peer {n}: {s:?}");
                if matches!(s, ConnectionState::Failed | ConnectionState::Closed) {
                    break;
                }
            }
            PeerEvent::DataChannelClosed(id) => {
                let label = labels.remove(&id).unwrap_or_default();
                println!("peer {n}: channel {label:?} closed");
            }
            // The browser closed the tab or the connection (its SCTP SHUTDOWN, or DTLS
            // close_notify): stop at once rather than wait for ICE consent to run out.
            PeerEvent::SctpClosed => {
                println!("peer {n}: the browser ended the association");
                break;
            }
            PeerEvent::DtlsClosed => {
                println!("peer {n}: the browser closed the connection");
                break;
            }
            PeerEvent::DtlsFailed(e) => {
                eprintln!("peer {n}: DTLS failed: {e}");
                break;
            }
            _ => {}
        }
    }
    driver.call(|pc, now| pc.close(now));
    let _ = driver.shutdown();
}
