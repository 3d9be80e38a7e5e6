//! rtp-forwarder: receives a browser's audio and video and forwards the RTP packets to local
//! UDP ports, where ffmpeg, ffplay or GStreamer can play or record them, as Pion's example of
//! that name does. It writes an SDP file describing the forwarded streams with the negotiated
//! codecs and payload types (`ffplay -protocol_whitelist file,udp,rtp -i rtp-forwarder.sdp`),
//! and asks the browser for a keyframe every few seconds so a player that starts late gets a
//! picture.
//!
//! Signalling as in `reflect`: the offer on stdin (SDP, JSON or Pion's base64), the answer on
//! stdout in the same form.
//!
//! ```text
//! cargo run --example rtp-forwarder -- --bind 192.168.1.20 < offer.txt
//! options: --bind IP[:PORT]     local address for WebRTC (default 127.0.0.1, any port)
//!          --offer FILE         read the offer from FILE instead of stdin
//!          --to IP              where to forward (default 127.0.0.1)
//!          --audio-port N       audio goes to this port (default 4000)
//!          --video-port N       video goes to this port (default 4002)
//!          --sdp FILE           the SDP file for players (default rtp-forwarder.sdp)
//!          --keyframe-every S   ask for a keyframe every S seconds (default 3, 0: never)
//!          --seconds N          stop after N seconds (default: when the peer leaves)
//! ```

#[path = "common/signal.rs"]
mod signal;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::peer::{Codec, ConnectionState, PeerConfig, PeerEvent, SdpType, TrackKind};
use kaon::sdp::SessionDescription;

fn main() {
    if let Err(e) = run() {
        eprintln!("rtp-forwarder: {e}");
        std::process::exit(1);
    }
}

struct Options {
    bind: SocketAddr,
    offer: String,
    to: IpAddr,
    audio_port: u16,
    video_port: u16,
    sdp: String,
    keyframe_every: u64,
    seconds: Option<u64>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        bind: "127.0.0.1:0".parse().unwrap(),
        offer: "-".into(),
        to: "127.0.0.1".parse().unwrap(),
        audio_port: 4000,
        video_port: 4002,
        sdp: "rtp-forwarder.sdp".into(),
        keyframe_every: 3,
        seconds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = match a.as_str() {
            "-h" | "--help" => {
                println!(
                    "usage: rtp-forwarder [--bind IP[:PORT]] [--offer FILE] [--to IP] \
                     [--audio-port N] [--video-port N] [--sdp FILE] [--keyframe-every S] \
                     [--seconds N] < offer"
                );
                std::process::exit(0);
            }
            _ => args.next().ok_or(format!("{a} needs a value"))?,
        };
        let bad = |what: &str| format!("{a} {v}: not {what}");
        match a.as_str() {
            "--bind" => {
                o.bind = v
                    .parse()
                    .or_else(|_| v.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
                    .map_err(|_| bad("an IP address or IP:PORT"))?;
            }
            "--offer" => o.offer = v,
            "--to" => o.to = v.parse().map_err(|_| bad("an IP address"))?,
            "--audio-port" => o.audio_port = v.parse().map_err(|_| bad("a port"))?,
            "--video-port" => o.video_port = v.parse().map_err(|_| bad("a port"))?,
            "--sdp" => o.sdp = v,
            "--keyframe-every" => o.keyframe_every = v.parse().map_err(|_| bad("a number"))?,
            "--seconds" => o.seconds = Some(v.parse().map_err(|_| bad("a number"))?),
            _ => return Err(format!("unknown argument {a} (try --help)")),
        }
    }
    Ok(o)
}

/// The SDP a player reads to receive the forwarded streams.
fn player_sdp(to: IpAddr, tracks: &[(TrackKind, u16, Codec)]) -> String {
    let family = if to.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = format!(
        "v=0\r\no=- 0 0 IN {family} {to}\r\ns=kaon rtp-forwarder\r\nc=IN {family} {to}\r\nt=0 0\r\n"
    );
    for (kind, port, c) in tracks {
        s.push_str(&format!(
            "m={kind} {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {}/{}{}\r\n",
            c.name,
            c.clock_rate,
            c.channels.map(|n| format!("/{n}")).unwrap_or_default(),
            pt = c.payload_type,
        ));
        if !c.fmtp.is_empty() {
            s.push_str(&format!("a=fmtp:{} {}\r\n", c.payload_type, c.fmtp));
        }
    }
    s
}

fn run() -> Result<(), String> {
    let o = options()?;
    let socket = UdpSocket::bind(o.bind).map_err(|e| format!("binding {}: {e}", o.bind))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let out = UdpSocket::bind(SocketAddr::new(
        if o.to.is_ipv4() {
            "0.0.0.0".parse().unwrap()
        } else {
            "::".parse().unwrap()
        },
        0,
    ))
    .map_err(|e| format!("binding the forwarding socket: {e}"))?;
    let (offer, form) = signal::read(&o.offer)?;
    let offer = SessionDescription::parse(&offer).map_err(|e| format!("the offer: {e}"))?;
    let pc = kaon_std::PeerConnection::new(PeerConfig::default(), vec![socket])
        .map_err(|e| format!("starting the connection: {e}"))?;
    let answer = pc
        .call(move |pc, _| {
            pc.set_remote_description(SdpType::Offer, offer)?;
            let answer = pc.create_answer(Instant::now())?;
            pc.set_local_description(SdpType::Answer, answer.clone())?;
            Ok::<_, kaon::peer::Error>(answer.to_string())
        })
        .map_err(|e| format!("the driver stopped: {e}"))?
        .map_err(|e| format!("answering the offer: {e}"))?;
    println!("{}", signal::write("answer", &answer, form));
    eprintln!(
        "rtp-forwarder: answered from {local}; audio goes to {}:{}, video to {}:{}",
        o.to, o.audio_port, o.to, o.video_port
    );

    let start = Instant::now();
    let (mut last_report, mut last_keyframe) = (start, start);
    let mut tracks: Vec<(TrackKind, u16, Codec)> = Vec::new();
    let mut mids: HashMap<String, SocketAddr> = HashMap::new();
    let (mut forwarded, mut failed) = (0u64, 0u64);
    loop {
        if o.seconds
            .is_some_and(|s| start.elapsed() >= Duration::from_secs(s))
        {
            eprintln!("rtp-forwarder: {} s are up", o.seconds.unwrap_or_default());
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "rtp-forwarder: {:.0} s, {forwarded} packets forwarded ({failed} failed)",
                start.elapsed().as_secs_f64()
            );
        }
        if o.keyframe_every > 0 && last_keyframe.elapsed() >= Duration::from_secs(o.keyframe_every)
        {
            last_keyframe = Instant::now();
            for (mid, _) in mids.iter().filter(|(_, a)| a.port() == o.video_port) {
                let mid = mid.clone();
                let _ = pc.call(move |pc, now| pc.request_keyframe(now, &mid));
            }
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
                let port = match t.kind {
                    TrackKind::Audio => o.audio_port,
                    TrackKind::Video => o.video_port,
                };
                if tracks.iter().any(|(k, _, _)| *k == t.kind) {
                    eprintln!(
                        "rtp-forwarder: a second {} source (mid {}) is not forwarded",
                        t.kind, t.mid
                    );
                    continue;
                }
                mids.insert(t.mid.to_string(), SocketAddr::new(o.to, port));
                tracks.push((t.kind, port, t.codec.clone()));
                std::fs::write(&o.sdp, player_sdp(o.to, &tracks))
                    .map_err(|e| format!("writing {}: {e}", o.sdp))?;
                eprintln!(
                    "rtp-forwarder: {} ({}) on mid {} -> {}:{port}; {} written",
                    t.kind,
                    t.codec.mime_type(),
                    t.mid,
                    o.to,
                    o.sdp
                );
            }
            PeerEvent::Rtp { mid, packet } => {
                let Some(to) = mids.get(mid.as_str()) else {
                    continue;
                };
                match out.send_to(&packet, to) {
                    Ok(_) => forwarded += 1,
                    Err(e) => {
                        failed += 1;
                        if failed <= 5 {
                            eprintln!("rtp-forwarder: sending to {to}: {e}");
                        }
                    }
                }
            }
            PeerEvent::ConnectionStateChanged(s) => {
                eprintln!("rtp-forwarder: connection {s:?}");
                if matches!(s, ConnectionState::Failed | ConnectionState::Closed) {
                    break;
                }
            }
            PeerEvent::DtlsFailed(e) => eprintln!("rtp-forwarder: DTLS failed: {e}"),
            PeerEvent::TrackEnded { mid } => eprintln!("rtp-forwarder: mid {mid} ended"),
            _ => {}
        }
    }
    eprintln!(
        "rtp-forwarder: done after {:.1} s: {forwarded} packets forwarded, {failed} failed",
        start.elapsed().as_secs_f64()
    );
    if let Err(e) = pc.close() {
        eprintln!("rtp-forwarder: closing: {e}");
    }
    Ok(())
}
