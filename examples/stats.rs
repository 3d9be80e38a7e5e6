//! stats: what `get_stats` reports, as Pion's example of that name shows it.
//!
//! ```text
//! cargo run --example stats [-- --seconds N] [--rate MESSAGES_PER_SECOND] [--json] [--bind IP]
//! ```
//!
//! `--bind IP` (default 127.0.0.1) is the address both sockets bind. A refused send or a
//! connection that ends during the run stops it with an error.
//!
//! Two kaon PeerConnections in one process, each on its own UDP socket on 127.0.0.1 and its own
//! `kaon-std` driver thread, connect and exchange 1 KiB messages both ways (100 a second by
//! default) for `--seconds` (default 3). Every second it prints one line per side from the
//! W3C-named report (transport bytes, selected pair, round-trip time, channel messages); at
//! the end it prints the offerer's whole report as JSON keyed by stats id, as a browser's
//! `getStats()` gives it (`--json` prints that every second instead).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::datachannel::ChannelConfig;
use kaon::peer::{PeerConfig, SdpType, StatsReport};
use kaon_std::PeerConnection;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Args {
    seconds: u64,
    rate: u64,
    json: bool,
    bind: IpAddr,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 3,
        rate: 100,
        json: false,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            Ok(v.parse()
                .map_err(|_| format!("{name}: not a number: {v}"))?)
        };
        match a.as_str() {
            "--seconds" => args.seconds = value("--seconds")?,
            "--rate" => args.rate = value("--rate")?.max(1),
            "--json" => args.json = true,
            "--bind" => {
                let v = it.next().ok_or("--bind needs an IP address")?;
                args.bind = v.parse().map_err(|e| format!("--bind {v:?}: {e}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: stats [--seconds N] [--rate MESSAGES_PER_SECOND] [--json] [--bind IP]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other} (try --help)").into()),
        }
    }
    Ok(args)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("stats: {e}");
        std::process::exit(1);
    }
}

fn peer(name: &str, ip: IpAddr) -> Result<PeerConnection> {
    let socket = UdpSocket::bind((ip, 0)).map_err(|e| format!("bind a UDP socket on {ip}: {e}"))?;
    println!("{name} on udp {}", socket.local_addr()?);
    Ok(PeerConnection::new(PeerConfig::default(), vec![socket])?)
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let (a, b) = (peer("offerer", args.bind)?, peer("answerer", args.bind)?);
    let chat = a.create_data_channel("stats", ChannelConfig::default())?;
    let offer = a.create_offer()?;
    a.set_local_description(SdpType::Offer, offer.clone())?;
    b.set_remote_description(SdpType::Offer, offer)?;
    let answer = b.create_answer()?;
    b.set_local_description(SdpType::Answer, answer.clone())?;
    a.set_remote_description(SdpType::Answer, answer)?;
    let started = Instant::now();
    chat.wait_open_timeout(Duration::from_secs(10))?
        .then_some(())
        .ok_or("the channel did not open within 10 s")?;
    let remote = b
        .accept_data_channel_timeout(Duration::from_secs(5))
        .map_err(|e| format!("the answerer saw no channel: {e:?}"))?;
    println!(
        "channel open after {:.1} ms; sending {} messages/s of 1 KiB each way for {} s",
        started.elapsed().as_secs_f64() * 1e3,
        args.rate,
        args.seconds
    );
    let message = vec![0x5a; 1024];
    let gap = Duration::from_secs(1) / args.rate as u32;
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut next_report = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        chat.send(message.clone().into())?;
        remote.send(message.clone().into())?;
        // Drain what arrived so the inboxes stay small.
        while chat.recv_timeout(Duration::ZERO).is_ok() {}
        while remote.recv_timeout(Duration::ZERO).is_ok() {}
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
            for (name, pc) in [("offerer", &a), ("answerer", &b)] {
                let report = pc.get_stats()?;
                if args.json {
                    println!("{name}: {}", report.to_json());
                } else {
                    println!("{name:>8}: {}", summary(&report));
                }
            }
        }
        std::thread::sleep(gap);
    }
    println!(
        "\nthe offerer's whole report:\n{}",
        a.get_stats()?.to_json()
    );
    a.close()?;
    b.close()?;
    Ok(())
}

/// One line from a report.
fn summary(r: &StatsReport) -> String {
    let t = &r.transport;
    let pair = t
        .selected_candidate_pair_id
        .as_ref()
        .and_then(|id| r.candidate_pairs.iter().find(|p| p.id == *id));
    let rtt = pair
        .and_then(|p| p.current_round_trip_time)
        .map_or("-".into(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3));
    let dc = r.data_channels.first();
    format!(
        "ice {} dtls {} ({}), sent {} B in {} pkts, received {} B in {} pkts, rtt {rtt}, \
         messages sent {} received {}",
        t.ice_state,
        t.dtls_state,
        t.dtls_cipher.unwrap_or("-"),
        t.counters.bytes_sent,
        t.counters.packets_sent,
        t.counters.bytes_received,
        t.counters.packets_received,
        dc.map_or(0, |d| d.messages_sent),
        dc.map_or(0, |d| d.messages_received),
    )
}
