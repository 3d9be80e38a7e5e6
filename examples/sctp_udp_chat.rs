//! Two data-channel endpoints talking SCTP directly over UDP (RFC 6951 style, without DTLS),
//! each driven on its own thread by kaon-std.
//!
//! `cargo run --example sctp_udp_chat [-- --bind IP]` (default 127.0.0.1; `--bind ::1` runs it
//! over IPv6). Each step is printed; a refused send, a channel or association that closes
//! early, or a message that does not arrive within 5 s ends the run with an error.

use kaon::datachannel::{ChannelConfig, Config, DataChannels, Event, Role};
use kaon::sctp::Endpoint;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const LINES: [&str; 3] = ["hello", "over plain UDP", "bye"];

fn main() {
    if let Err(e) = run() {
        eprintln!("sctp_udp_chat: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => {
                let v = args.next().ok_or("--bind needs an IP address")?;
                ip = v.parse().map_err(|e| format!("--bind {v:?}: {e}"))?;
            }
            "-h" | "--help" => {
                println!("usage: sctp_udp_chat [--bind IP]");
                return Ok(());
            }
            other => {
                return Err(
                    format!("unknown option {other}; usage: sctp_udp_chat [--bind IP]").into(),
                );
            }
        }
    }
    let bind = || UdpSocket::bind((ip, 0)).map_err(|e| format!("bind a UDP socket on {ip}: {e}"));
    let (sa, sb) = (bind()?, bind()?);
    let (aa, ab) = (sa.local_addr()?, sb.local_addr()?);
    println!("a on {aa}, b on {ab}");
    let mut cfg_b = Config::new(Role::Server);
    // SCTP over plain UDP has no DTLS to check integrity: keep the CRC32c.
    cfg_b.sctp.zero_checksum = false;
    let mut cfg_a = Config::new(Role::Client);
    cfg_a.sctp.zero_checksum = false;
    let a = kaon_std::Driver::spawn(Endpoint::new(DataChannels::new(cfg_a), aa, ab), vec![sa])?;
    let b = kaon_std::Driver::spawn(Endpoint::new(DataChannels::new(cfg_b), ab, aa), vec![sb])?;
    a.call(|e, now| e.get_mut().connect(now));
    b.call(|e, now| e.get_mut().connect(now));
    let id = a
        .call(|e, now| {
            e.get_mut()
                .create_channel(now, ChannelConfig::labelled("chat"))
        })
        .ok_or("a's driver stopped")?
        .map_err(|e| format!("a: creating the channel: {e}"))?;
    for line in LINES {
        a.call(move |e, now| e.get_mut().send_text(now, id, line))
            .ok_or("a's driver stopped")?
            .map_err(|e| format!("a: sending {line:?}: {e}"))?;
    }
    let mut got = 0;
    while got < LINES.len() {
        match b.events().recv_timeout(Duration::from_secs(5)) {
            Ok(Event::Connected) => println!("b: association up"),
            Ok(Event::ChannelOpen { id, remote }) => {
                println!(
                    "b: channel {id} opened by {}",
                    if remote { "a" } else { "b" }
                );
            }
            Ok(Event::Message { data, .. }) => {
                println!("b: {}", String::from_utf8_lossy(&data));
                got += 1;
            }
            Ok(Event::ChannelClosed(id)) => {
                return Err(format!("b: channel {id} closed after {got} messages").into());
            }
            Ok(Event::Closed(why)) => {
                return Err(format!("b: association closed after {got} messages: {why:?}").into());
            }
            // Fires when b's own queue empties (threshold 0): b sends nothing here.
            Ok(Event::BufferedAmountLow(_)) => {}
            Ok(other) => println!("b: {other:?}"),
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!("b: {got} of {} messages within 5 s", LINES.len()).into());
            }
            Err(RecvTimeoutError::Disconnected) => return Err("b's driver stopped".into()),
        }
    }
    // What a saw meanwhile: anything but progress is worth a line.
    while let Ok(e) = a.events().try_recv() {
        match e {
            // Everything a queued has been sent.
            Event::BufferedAmountLow(_) => println!("a: all sent"),
            e => println!("a: {e:?}"),
        }
    }
    a.call(|e, now| e.get_mut().shutdown(now));
    // b sees the SHUTDOWN end the association.
    loop {
        match b.events().recv_timeout(Duration::from_secs(2)) {
            Ok(Event::Closed(why)) => {
                println!("b: association closed ({why:?})");
                return Ok(());
            }
            Ok(Event::BufferedAmountLow(_)) => {}
            Ok(e) => println!("b: {e:?}"),
            Err(_) => return Err("b: no SHUTDOWN seen within 2 s".into()),
        }
    }
}
