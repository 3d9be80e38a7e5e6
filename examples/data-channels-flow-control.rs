//! Data channel throughput with buffered-amount back-pressure, after the shape of Pion's
//! `data-channels-flow-control`: two `kaon_tokio` peer connections in one process, each on its
//! own loopback UDP socket. The offerer sends as fast as its channel takes messages: `send`
//! waits while the buffered amount is above the 1 MiB high-water mark and resumes when it falls
//! to 512 KiB (the core's BufferedAmountLow event). The answerer counts what arrives and prints
//! the rate every second, then the average.
//!
//! ```text
//! cargo run --release --example data-channels-flow-control -- [--seconds N] [--message-size B] [--unreliable] [--bind IP]
//! ```
//!
//! `--bind IP` (default 127.0.0.1) is the address both peers' sockets bind. Connection state
//! changes are printed as they happen; a refused send, or a connection that fails or closes
//! during the run, ends it with an error.
//!
//! Messages are 1024 bytes by default, as in Pion's, and it runs for 10 seconds (0: until
//! interrupted). The channel is reliable and ordered; `--unreliable` gives Pion's exact options
//! (unordered, no retransmissions), where messages lost on the way are simply gone.
//!
//! On loopback the kernel drops datagrams when a socket's receive buffer (212 KiB by default on
//! Linux) overflows: the run ends with the host's count of such drops, to tell loss from a slow
//! engine. A larger `SO_RCVBUF` on the sockets (set before handing them over) avoids it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::datachannel::{ChannelConfig, Reliability};
use kaon::peer::{ConnectionState, PeerConfig, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::PeerConnection;
use tokio::net::UdpSocket;

const HIGH_WATER_MARK: usize = 1024 * 1024;

struct Args {
    seconds: u64,
    message_size: usize,
    unreliable: bool,
    bind: IpAddr,
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args {
        seconds: 10,
        message_size: 1024,
        unreliable: false,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => parsed.seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--message-size" => {
                parsed.message_size = value()?.parse().map_err(|e| format!("{e}"))?
            }
            "--unreliable" => parsed.unreliable = true,
            "--bind" => parsed.bind = value()?.parse().map_err(|e| format!("--bind: {e}"))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(parsed)
}

async fn peer(ip: IpAddr) -> Result<PeerConnection, Box<dyn std::error::Error>> {
    let socket = UdpSocket::bind((ip, 0))
        .await
        .map_err(|e| format!("bind a UDP socket on {ip}: {e}"))?;
    Ok(PeerConnection::new(PeerConfig::default(), vec![socket])?)
}

/// Prints a connection event worth a line; `Err` for one that ends the run.
fn watch(name: &str, e: Option<PeerEvent>) -> Result<(), String> {
    match e {
        None => Err(format!("{name}: the driver stopped")),
        Some(PeerEvent::ConnectionStateChanged(
            s @ (ConnectionState::Failed | ConnectionState::Closed),
        )) => Err(format!("{name}: connection {s:?} during the run")),
        Some(PeerEvent::SctpClosed | PeerEvent::DtlsClosed) => {
            Err(format!("{name}: the peer closed the connection"))
        }
        Some(PeerEvent::DtlsFailed(e)) => Err(format!("{name}: DTLS failed: {e}")),
        Some(PeerEvent::ConnectionStateChanged(s)) => {
            println!("{name}: connection {s:?}");
            Ok(())
        }
        Some(PeerEvent::IceConnectionStateChanged(s)) => {
            println!("{name}: ICE {s:?}");
            Ok(())
        }
        // Candidates are in the descriptions, which cross in process.
        Some(_) => Ok(()),
    }
}

/// The kernel's count of UDP datagrams dropped for a full receive buffer (Linux; every socket
/// on the host), to tell loopback overflow from a slow engine.
fn udp_receive_buffer_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

fn rate(bytes: u64, elapsed: Duration) -> String {
    let per_second = bytes as f64 / elapsed.as_secs_f64();
    format!(
        "{:.1} MB/s ({:.1} Mbit/s)",
        per_second / 1e6,
        per_second * 8.0 / 1e6
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let offerer = peer(args.bind).await?;
    let answerer = peer(args.bind).await?;

    let options = ChannelConfig {
        ordered: !args.unreliable,
        reliability: if args.unreliable {
            Reliability::MaxRetransmits(0)
        } else {
            Reliability::Reliable
        },
        ..ChannelConfig::default()
    };
    let sender = offerer.create_data_channel("data", options).await?;
    // Resumes at half the mark: Pion's bufferedAmountLowThreshold of 512 KiB.
    sender.set_high_water_mark(HIGH_WATER_MARK).await?;

    // Offer and answer cross as text, as they would over a signalling channel.
    let offer = offerer.create_offer().await?;
    offerer
        .set_local_description(SdpType::Offer, offer.clone())
        .await?;
    answerer
        .set_remote_description(
            SdpType::Offer,
            SessionDescription::parse(&offer.to_string())?,
        )
        .await?;
    let answer = answerer.create_answer().await?;
    answerer
        .set_local_description(SdpType::Answer, answer.clone())
        .await?;
    offerer
        .set_remote_description(
            SdpType::Answer,
            SessionDescription::parse(&answer.to_string())?,
        )
        .await?;

    let receiver = answerer
        .accept_data_channel()
        .await
        .ok_or("the answerer stopped")?;
    sender.wait_open().await?;
    println!(
        "channel '{}' open; sending {}-byte messages ({}), high-water mark {} KiB",
        sender.label(),
        args.message_size,
        if args.unreliable {
            "unordered, no retransmissions"
        } else {
            "reliable, ordered"
        },
        HIGH_WATER_MARK / 1024
    );

    let message = Bytes::from(vec![0u8; args.message_size]);
    // Runs until a send is refused, and returns why.
    let mut send_loop = tokio::spawn(async move {
        loop {
            if let Err(e) = sender.send(message.clone()).await {
                return e;
            }
        }
    });

    let drops_before = udp_receive_buffer_errors();
    let start = Instant::now();
    let end = (args.seconds > 0).then(|| start + Duration::from_secs(args.seconds));
    let mut report = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let (mut total, mut last_total, mut last) = (0u64, 0u64, start);
    loop {
        tokio::select! {
            m = receiver.recv() => match m {
                Some(m) => total += m.data.len() as u64,
                None => return Err("the receiving channel closed".into()),
            },
            e = offerer.next_event() => watch("offerer", e)?,
            e = answerer.next_event() => watch("answerer", e)?,
            refused = &mut send_loop => {
                return Err(format!("send refused: {}", refused.map_or_else(|e| e.to_string(), |e| e.to_string())).into());
            }
            _ = report.tick() => {
                let now = Instant::now();
                println!("Throughput: {}", rate(total - last_total, now - last));
                (last_total, last) = (total, now);
                if end.is_some_and(|end| now >= end) {
                    break;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    send_loop.abort();
    println!(
        "average over {:.1} s: {} ({} MiB received)",
        elapsed.as_secs_f64(),
        rate(total, elapsed),
        total >> 20
    );
    let stats = answerer.stats().await?;
    println!(
        "answerer: {} datagrams received, {} dropped",
        stats.datagrams_received, stats.dropped
    );
    if let (Some(before), Some(after)) = (drops_before, udp_receive_buffer_errors()) {
        println!(
            "kernel UDP receive-buffer drops during the run (whole host): {}",
            after - before
        );
    }
    offerer.close().await?;
    Ok(())
}
