//! reflect: sends a browser's audio and video straight back to it, as Pion's example of that
//! name does. The browser offers (a camera and a microphone, say); kaon answers with one
//! outgoing track per incoming one on the same transceivers and writes every RTP packet it
//! receives back out (`write_rtp_bytes`: its own SSRC, the negotiated payload type and its
//! header extensions go on the packet, the payload is kept by reference, not copied; NACK/RTX,
//! SR/RR run underneath). A keyframe request from the browser is passed on to the browser's
//! own sender, whose frames are the ones reflected.
//!
//! Signalling is copy and paste: the offer comes on stdin (raw SDP, JSON
//! `{"type":"offer","sdp":..}`, or the base64 of that JSON, as Pion's pages print it) and the
//! answer goes to stdout in the same form.
//!
//! ```text
//! cargo run --example reflect -- --bind 192.168.1.20 < offer.txt
//! options: --bind IP[:PORT]   local address for media (default 127.0.0.1, any port)
//!          --offer FILE       read the offer from FILE instead of stdin
//!          --seconds N        stop after N seconds (default: when the peer leaves)
//! ```

#[path = "common/signal.rs"]
mod signal;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::peer::{ConnectionState, LocalTrack, PeerConfig, PeerEvent, SdpType, TrackKind};
use kaon::sdp::SessionDescription;

fn main() {
    if let Err(e) = run() {
        eprintln!("reflect: {e}");
        std::process::exit(1);
    }
}

struct Options {
    bind: SocketAddr,
    offer: String,
    seconds: Option<u64>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        bind: "127.0.0.1:0".parse().unwrap(),
        offer: "-".into(),
        seconds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--bind" => {
                let v = value()?;
                o.bind = v
                    .parse()
                    .or_else(|_| {
                        v.parse::<std::net::IpAddr>()
                            .map(|ip| SocketAddr::new(ip, 0))
                    })
                    .map_err(|_| format!("--bind {v}: not an IP address or IP:PORT"))?;
            }
            "--offer" => o.offer = value()?,
            "--seconds" => {
                let v = value()?;
                o.seconds = Some(
                    v.parse()
                        .map_err(|_| format!("--seconds {v}: not a number"))?,
                );
            }
            "-h" | "--help" => {
                println!("usage: reflect [--bind IP[:PORT]] [--offer FILE] [--seconds N] < offer");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a} (try --help)")),
        }
    }
    Ok(o)
}

fn run() -> Result<(), String> {
    let o = options()?;
    let socket = UdpSocket::bind(o.bind).map_err(|e| format!("binding {}: {e}", o.bind))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let (offer, form) = signal::read(&o.offer)?;
    let offer = SessionDescription::parse(&offer).map_err(|e| format!("the offer: {e}"))?;
    let pc = kaon_std::PeerConnection::new(PeerConfig::default(), vec![socket])
        .map_err(|e| format!("starting the connection: {e}"))?;
    let answer = pc
        .call(move |pc, now| {
            pc.set_remote_description(SdpType::Offer, offer)?;
            // One outgoing track per incoming one: add_track takes the transceivers the offer
            // made, so each is answered sendrecv.
            let kinds: Vec<TrackKind> = pc.transceivers().map(|(_, t)| t.kind()).collect();
            for (i, kind) in kinds.into_iter().enumerate() {
                let id = format!("reflect-{kind}-{i}");
                pc.add_track(now, kind, LocalTrack::new(&id, &["reflect"]))?;
            }
            let answer = pc.create_answer(now)?;
            pc.set_local_description(SdpType::Answer, answer.clone())?;
            Ok::<_, kaon::peer::Error>(answer.to_string())
        })
        .map_err(|e| format!("the driver stopped: {e}"))?
        .map_err(|e| format!("answering the offer: {e}"))?;
    println!("{}", signal::write("answer", &answer, form));
    eprintln!("reflect: answered from {local}; every packet received is sent back");

    let start = Instant::now();
    let mut last_report = start;
    let mut reflected: HashMap<String, u64> = HashMap::new();
    let mut kinds: HashMap<String, TrackKind> = HashMap::new();
    let (mut errors, mut keyframes) = (0u64, 0u64);
    loop {
        if o.seconds
            .is_some_and(|s| start.elapsed() >= Duration::from_secs(s))
        {
            eprintln!("reflect: {} s are up", o.seconds.unwrap_or_default());
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            let mut parts: Vec<String> = reflected
                .iter()
                .map(|(mid, n)| format!("mid {mid} ({}): {n}", kinds[mid]))
                .collect();
            parts.sort();
            eprintln!(
                "reflect: {:.0} s, packets sent back: {} (refused {errors}, keyframe requests \
                 passed on {keyframes})",
                start.elapsed().as_secs_f64(),
                if parts.is_empty() {
                    "none yet".into()
                } else {
                    parts.join(", ")
                }
            );
        }
        let e = match pc.next_event_timeout(Duration::from_millis(200)) {
            Ok(e) => e,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the connection's driver stopped".into());
            }
        };
        match e {
            PeerEvent::Track(t) => {
                eprintln!(
                    "reflect: incoming {} on mid {} (ssrc {:08x}, {}), streams {:?}",
                    t.kind,
                    t.mid,
                    t.ssrc,
                    t.codec.mime_type(),
                    t.stream_ids
                );
                kinds.insert(t.mid.to_string(), t.kind);
                reflected.entry(t.mid.to_string()).or_default();
            }
            PeerEvent::Rtp { mid, packet } => {
                let sent = pc
                    .call(move |pc, now| pc.write_rtp_bytes(now, mid.as_str(), packet))
                    .map_err(|e| format!("the driver stopped: {e}"))?;
                match sent {
                    Ok(()) => *reflected.entry(mid.to_string()).or_default() += 1,
                    Err(e) => {
                        errors += 1;
                        if errors <= 5 {
                            eprintln!("reflect: a packet on mid {mid} was refused: {e}");
                        }
                    }
                }
            }
            PeerEvent::KeyframeRequest { mid, kind } => {
                keyframes += 1;
                // The frames we send on `mid` are the browser's own: ask its sender.
                let asked = pc
                    .call(move |pc, now| pc.request_keyframe(now, mid.as_str()))
                    .map_err(|e| format!("the driver stopped: {e}"))?;
                if let Err(e) = asked {
                    eprintln!("reflect: passing on a {kind:?} for mid {mid}: {e}");
                }
            }
            PeerEvent::ConnectionStateChanged(s) => {
                eprintln!("reflect: connection {s:?}");
                if matches!(s, ConnectionState::Failed | ConnectionState::Closed) {
                    break;
                }
            }
            PeerEvent::DtlsFailed(e) => eprintln!("reflect: DTLS failed: {e}"),
            PeerEvent::TrackEnded { mid } => eprintln!("reflect: mid {mid} ended"),
            _ => {}
        }
    }
    let total: u64 = reflected.values().sum();
    eprintln!(
        "reflect: done after {:.1} s: {total} packets sent back, {errors} refused",
        start.elapsed().as_secs_f64()
    );
    if let Err(e) = pc.close() {
        eprintln!("reflect: closing: {e}");
    }
    Ok(())
}
