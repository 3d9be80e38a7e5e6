//! data-channels: kaon's data channels, two ways.
//!
//! ```text
//! cargo run --release --example data-channels -- [MEGABYTES] [--bind IP]
//! cargo run --release --example data-channels -- --serve [HTTP_ADDR] [--udp ADDR] [limits]
//! ```
//!
//! **Default (headless):** two kaon PeerConnections in one process, each on its own UDP socket
//! on `IP` (127.0.0.1 unless `--bind` says otherwise) and its own `kaon-std` driver thread. The
//! offer and answer go across as strings, a data channel opens, and a bulk transfer (64 MiB
//! unless `MEGABYTES` says otherwise) measures throughput. Prints the handshake timeline in ms
//! since the offer was created (ICE connected, DTLS connected, SCTP established, channel open)
//! on each side, progress every second, then the transfer rate.
//!
//! **`--serve [HTTP_ADDR]`** (default `127.0.0.1:8080`, port 0 picks one) is a small server of
//! the WHIP kind: a page, and `POST /offer` that answers a browser's offer (`application/sdp`)
//! with `201 Created` and kaon's answer. Open the printed URL in a browser on this machine: the
//! page creates an `RTCPeerConnection` (no ICE servers) and a channel, waits for its
//! candidates, posts its offer, sets kaon's answer and chats; kaon greets each channel, prints
//! what arrives and echoes it (text as `echo: ...`, binary unchanged).
//!
//! It is built as a server that faces the public has to be:
//!
//! - Every session shares **one UDP socket** (`--udp ADDR`, default the HTTP address's IP with
//!   a port of its own; port 0 picks one), through [`kaon::peer::Router`] on one
//!   `kaon_tokio::Driver`: no socket, thread or task per session. Addresses may be IPv6:
//!   `--serve [::1]:8080` (or `::1`), `--udp [::1]:0` (or `::1`); `--bind ::1` for the demo.
//! - At most `--max-pending N` sessions (default 100) may be waiting to connect. Past that an
//!   offer gets `503 Service Unavailable` with `Retry-After` (the seconds until the oldest
//!   pending session is due), costing the server no certificate and no peer.
//! - A session not connected within `--connect-timeout SECS` (default 15) is reclaimed; one
//!   whose peer ends it (SCTP SHUTDOWN, DTLS close_notify), that fails, or whose ICE stays
//!   disconnected is closed and removed.
//! - HTTP is hyper's HTTP/1.1 server on tokio (`examples/common/web.rs`; the session server is
//!   `examples/common/sessions.rs`): at most
//!   `--max-connections N` (default 256) at once, a request head within `--header-timeout SECS`
//!   (default 5; also the idle limit of a kept-alive connection), a body within
//!   `--body-timeout SECS` (default 10), heads up to 16 KiB and bodies up to 64 KiB.
//! - Every refusal and error is reported: per session on stdout/stderr, and floods as one
//!   summary line a second. Ctrl-C closes every session (its peers see the channels close).
//!
//! Browsers and loopback: Chromium and Firefox hide their host addresses behind mDNS names
//! (`<uuid>.local`) until the page has camera or microphone access, and this server does not
//! resolve `.local` names. The page therefore asks for the microphone (it stops the track at
//! once) and says so when it gets none; the server prints a hint when an offer has only
//! `.local` candidates. Such an offer still connects when the browser's checks reach the
//! server's candidate: kaon learns the browser's address from them (a peer-reflexive
//! candidate). Headless Chromium offers 127.0.0.1 itself with `--use-fake-ui-for-media-stream
//! --use-fake-device-for-media-stream --allow-loopback-in-peer-connection` and the page's
//! getUserMedia call, which is how `tests/example_data_channels.rs` runs it.

#[path = "common/sessions.rs"]
mod sessions;
#[path = "common/web.rs"]
mod web;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::datachannel::ChannelConfig;
use kaon::ice::IceState;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The page `--serve` hands out.
const PAGE: &str = include_str!("data-channels/index.html");
/// Size of each message of the bulk transfer.
const MESSAGE: usize = 64 * 1024;

fn usage() -> String {
    format!(
        "usage: data-channels [MEGABYTES] [--bind IP]\n       data-channels --serve [HTTP_ADDR] {}",
        sessions::OPTIONS
    )
}

fn main() {
    if let Err(e) = run() {
        eprintln!("data-channels: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let mut serve_at = None;
    let mut bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut megabytes = 64;
    let mut opts = sessions::ServeOptions::default();
    while let Some(arg) = args.next() {
        if opts.take(&arg, &mut || args.next())? {
            continue;
        }
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            "--serve" => {
                serve_at = Some(match args.next_if(|a| !a.starts_with("--")) {
                    Some(a) => a,
                    None => "127.0.0.1:8080".to_string(),
                });
            }
            "--bind" => bind = parse(&arg, &value(&arg)?)?,
            n if !n.starts_with('-') => megabytes = parse("MEGABYTES", n)?,
            other => return Err(format!("unknown option {other}\n{}", usage()).into()),
        }
    }
    match serve_at {
        Some(addr) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(sessions::serve(&addr, opts, PAGE)),
        None => demo(megabytes, bind),
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| format!("{name} {value:?}: {e}\n{}", usage()).into())
}

// ---- the headless demo: two kaon peers over UDP ----

fn demo(megabytes: usize, ip: IpAddr) -> Result<()> {
    use kaon_std::Driver;
    // Each peer gets a socket; its address is its host candidate.
    let bind = |what: &str| {
        UdpSocket::bind((ip, 0)).map_err(|e| format!("bind the {what}'s UDP socket on {ip}: {e}"))
    };
    let (sa, sb) = (bind("offerer")?, bind("answerer")?);
    let mut a = PeerConnection::new(PeerConfig::default())?;
    let mut b = PeerConnection::new(PeerConfig::default())?;
    a.add_local_address(sa.local_addr()?)?;
    b.add_local_address(sb.local_addr()?)?;
    let bulk = a.create_data_channel(Instant::now(), "bulk", ChannelConfig::default())?;

    // Signalling, as strings.
    let t0 = Instant::now();
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1e3;
    let offer = a.create_offer(Instant::now())?;
    a.set_local_description(SdpType::Offer, offer.clone())?;
    b.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer.to_string())?,
    )?;
    let answer = b.create_answer(Instant::now())?;
    b.set_local_description(SdpType::Answer, answer.clone())?;
    a.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer.to_string())?,
    )?;
    println!("offer:\n{offer}");

    let da = Driver::spawn(a, vec![sa])?;
    let db = Driver::spawn(b, vec![sb])?;

    // The timeline, as each side reports it; anything that ends the connection ends the demo.
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
                Err(e) => return Err(format!("the {name}'s driver stopped: {e}").into()),
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
                PeerEvent::DtlsFailed(err) => {
                    return Err(format!("{name}: DTLS failed: {err}").into());
                }
                PeerEvent::ConnectionStateChanged(
                    s @ (ConnectionState::Failed | ConnectionState::Closed),
                ) => {
                    return Err(
                        format!("{name}: connection {s:?} before the channel opened").into(),
                    );
                }
                PeerEvent::SctpClosed | PeerEvent::DtlsClosed => {
                    return Err(format!("{name}: {e:?} before the channel opened").into());
                }
                _ => continue,
            };
            println!("{name:>8}: {what:<17} {:7.2} ms", ms(Instant::now()));
        }
    }

    // Bulk: keep about 4 MiB queued at the sender, count bytes at the receiver.
    let total = megabytes * 1024 * 1024;
    let start = Instant::now();
    let mut progress = start + Duration::from_secs(1);
    let (mut sent, mut received) = (0usize, 0usize);
    let block = Bytes::from(vec![0x5a; MESSAGE]);
    while received < total {
        while sent < total {
            let m = block.slice(..MESSAGE.min(total - sent));
            let len = m.len();
            // Ok(false): the queue is full for now; Err: the channel refused the message.
            let queued = da
                .call(move |pc, now| {
                    if pc.buffered_amount(bulk) > 4 << 20 {
                        return Ok(false);
                    }
                    pc.send_message(now, bulk, m, true).map(|()| true)
                })
                .ok_or("the offerer's driver stopped")?
                .map_err(|e| format!("send of {len} bytes refused: {e}"))?;
            if !queued {
                break;
            }
            sent += len;
        }
        let mut take = |e: PeerEvent| -> Result<()> {
            match e {
                PeerEvent::Message { data, .. } => received += data.len(),
                PeerEvent::SctpClosed | PeerEvent::DtlsClosed | PeerEvent::DtlsFailed(_) => {
                    return Err(format!("answerer: {e:?} during the transfer").into());
                }
                PeerEvent::ConnectionStateChanged(s) if s != ConnectionState::Connected => {
                    return Err(format!("answerer: connection {s:?} during the transfer").into());
                }
                _ => {}
            }
            Ok(())
        };
        match db.events().recv_timeout(Duration::from_millis(1)) {
            Ok(e) => take(e)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(e) => return Err(format!("the answerer's driver stopped: {e}").into()),
        }
        while let Ok(e) = db.events().try_recv() {
            take(e)?;
        }
        // The offerer's events: a failure there must not leave us waiting for a minute.
        while let Ok(e) = da.events().try_recv() {
            if let PeerEvent::ConnectionStateChanged(
                ConnectionState::Failed | ConnectionState::Closed,
            )
            | PeerEvent::SctpClosed
            | PeerEvent::DtlsFailed(_) = e
            {
                return Err(format!("offerer: {e:?} during the transfer").into());
            }
        }
        if Instant::now() >= progress {
            progress += Duration::from_secs(1);
            println!(
                "progress: {:.1} of {megabytes} MiB received",
                received as f64 / (1 << 20) as f64
            );
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err("transfer took more than 60 s".into());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "transfer: {megabytes} MiB in {secs:.3} s = {:.1} MiB/s ({:.0} Mbit/s) over UDP on {ip}",
        total as f64 / secs / (1 << 20) as f64,
        total as f64 * 8.0 / secs / 1e6
    );
    da.call(|pc, now| pc.close(now));
    let _ = da.shutdown();
    let _ = db.shutdown();
    Ok(())
}
