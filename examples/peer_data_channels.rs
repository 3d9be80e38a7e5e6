//! Two kaon PeerConnections in one process, each on its own real UDP socket on loopback and
//! its own `kaon-std` driver thread: offer and answer go across as strings, a data channel
//! opens, and a bulk transfer measures throughput.
//!
//! ```text
//! cargo run --release --example peer_data_channels [megabytes]
//! ```
//!
//! Prints the handshake timeline in milliseconds since the offer was created (ICE connected,
//! DTLS connected, SCTP established, channel open) and the transfer rate.

use std::net::UdpSocket;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use kaon::Protocol;
use kaon::datachannel::ChannelConfig;
use kaon::ice::IceState;
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

const MESSAGE: usize = 64 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let megabytes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);

    // Each peer gets a socket; its address is its host candidate.
    let (sa, sb) = (
        UdpSocket::bind("127.0.0.1:0")?,
        UdpSocket::bind("127.0.0.1:0")?,
    );
    let mut a = PeerConnection::new(PeerConfig::default())?;
    let mut b = PeerConnection::new(PeerConfig::default())?;
    a.add_local_address(sa.local_addr()?)?;
    b.add_local_address(sb.local_addr()?)?;
    let chat = a.create_data_channel(Instant::now(), "bulk", ChannelConfig::default())?;

    // Signalling, as strings. Draining the events first puts the host candidates in the SDP.
    while a.poll_event().is_some() {}
    let t0 = Instant::now();
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1e3;
    let offer = a.create_offer()?;
    a.set_local_description(SdpType::Offer, offer.clone())?;
    b.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer.to_string())?,
    )?;
    while b.poll_event().is_some() {}
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
            match d.events().recv_timeout(Duration::from_millis(1)) {
                Ok(e) => {
                    let now = Instant::now();
                    let what = match &e {
                        PeerEvent::IceConnectionStateChanged(
                            IceState::Connected | IceState::Completed,
                        ) => Some("ICE connected"),
                        PeerEvent::DtlsConnected => Some("DTLS connected"),
                        PeerEvent::SctpConnected => Some("SCTP established"),
                        PeerEvent::DataChannelOpen { .. } => {
                            open[k] = true;
                            Some("channel open")
                        }
                        PeerEvent::DtlsFailed(_) => return Err(format!("{e:?}").into()),
                        _ => None,
                    };
                    if let Some(w) = what {
                        println!("{name:>8}: {w:<17} {:7.2} ms", ms(now));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    // Bulk: keep about 4 MiB queued at the sender, count bytes at the receiver.
    let total = megabytes * 1024 * 1024;
    let start = Instant::now();
    let (mut sent, mut received) = (0usize, 0usize);
    let block = bytes::Bytes::from(vec![0x5a; MESSAGE]);
    while received < total {
        while sent < total {
            let m = block.clone();
            let queued = da
                .call(move |pc, now| {
                    if pc.buffered_amount(chat) > 4 << 20 {
                        return false;
                    }
                    pc.send_message(now, chat, m, true).is_ok()
                })
                .unwrap_or(false);
            if !queued {
                break;
            }
            sent += MESSAGE;
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
