//! rtp-to-webrtc: takes RTP from a local UDP port (ffmpeg, GStreamer, a camera) and sends it
//! to a browser as a WebRTC video track, as Pion's example of that name does. For instance:
//!
//! ```text
//! ffmpeg -re -f lavfi -i testsrc=size=640x480:rate=30 -c:v libvpx -deadline realtime \
//!        -b:v 1M -g 30 -f rtp 'rtp://127.0.0.1:5004?pkt_size=1200'
//! cargo run --example rtp-to-webrtc -- --bind 192.168.1.20 < offer.txt
//! ```
//!
//! By default the browser offers (a `recvonly` video transceiver is enough) and kaon answers;
//! with `--kaon-offers` kaon writes the offer (one `sendonly` video section) and reads the
//! browser's answer. Signalling as in `reflect`: descriptions on stdin and stdout, as SDP, JSON
//! or Pion's base64. The incoming packets keep their sequence numbers and timestamps; kaon puts
//! its SSRC, the payload type the browser gave the codec, and its header extensions on them.
//!
//! ```text
//! options: --bind IP[:PORT]    local address for WebRTC (default 127.0.0.1, any port)
//!          --rtp IP:PORT       where the RTP comes in (default 127.0.0.1:5004)
//!          --codec NAME        its codec: VP8 (default), VP9, H264, AV1
//!          --kaon-offers       kaon offers instead of answering
//!          --offer FILE        read the browser's description from FILE, not stdin
//!          --seconds N         stop after N seconds (default: when the peer leaves)
//! ```

#[path = "common/signal.rs"]
mod signal;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::peer::{
    ConnectionState, Direction, LocalTrack, PeerConfig, PeerEvent, SdpType, TrackKind,
    TransceiverInit,
};
use kaon::rtp::RtpPacket;
use kaon::sdp::SessionDescription;

fn main() {
    if let Err(e) = run() {
        eprintln!("rtp-to-webrtc: {e}");
        std::process::exit(1);
    }
}

struct Options {
    bind: SocketAddr,
    rtp: SocketAddr,
    codec: String,
    kaon_offers: bool,
    offer: String,
    seconds: Option<u64>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        bind: "127.0.0.1:0".parse().unwrap(),
        rtp: "127.0.0.1:5004".parse().unwrap(),
        codec: "VP8".into(),
        kaon_offers: false,
        offer: "-".into(),
        seconds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!(
                    "usage: rtp-to-webrtc [--bind IP[:PORT]] [--rtp IP:PORT] [--codec NAME] \
                     [--kaon-offers] [--offer FILE] [--seconds N]"
                );
                std::process::exit(0);
            }
            "--kaon-offers" => {
                o.kaon_offers = true;
                continue;
            }
            _ => {}
        }
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        let bad = |what: &str| format!("{a} {v}: not {what}");
        match a.as_str() {
            "--bind" => {
                o.bind = v
                    .parse()
                    .or_else(|_| v.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
                    .map_err(|_| bad("an IP address or IP:PORT"))?;
            }
            "--rtp" => o.rtp = v.parse().map_err(|_| bad("IP:PORT"))?,
            "--codec" => o.codec = v.to_ascii_uppercase(),
            "--offer" => o.offer = v,
            "--seconds" => o.seconds = Some(v.parse().map_err(|_| bad("a number"))?),
            _ => return Err(format!("unknown argument {a} (try --help)")),
        }
    }
    Ok(o)
}

fn run() -> Result<(), String> {
    let o = options()?;
    let socket = UdpSocket::bind(o.bind).map_err(|e| format!("binding {}: {e}", o.bind))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let input = UdpSocket::bind(o.rtp).map_err(|e| format!("binding {}: {e}", o.rtp))?;
    input
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let pc = kaon_std::PeerConnection::new(PeerConfig::default(), vec![socket])
        .map_err(|e| format!("starting the connection: {e}"))?;
    let track = LocalTrack::new("rtp-to-webrtc", &["kaon"]);
    if o.kaon_offers {
        let offer = pc
            .call(move |pc, now| {
                let init = TransceiverInit {
                    direction: Direction::SendOnly,
                    track: Some(track),
                };
                pc.add_transceiver(now, TrackKind::Video, init)?;
                let offer = pc.create_offer(now)?;
                pc.set_local_description(SdpType::Offer, offer.clone())?;
                Ok::<_, kaon::peer::Error>(offer.to_string())
            })
            .map_err(|e| format!("the driver stopped: {e}"))?
            .map_err(|e| format!("offering: {e}"))?;
        println!("{}", signal::write("offer", &offer, signal::Form::Json));
        eprintln!("rtp-to-webrtc: offered from {local}; waiting for the answer on stdin");
        let (answer, _) = signal::read(&o.offer)?;
        let answer = SessionDescription::parse(&answer).map_err(|e| format!("the answer: {e}"))?;
        pc.set_remote_description(SdpType::Answer, answer)
            .map_err(|e| format!("applying the answer: {e}"))?;
    } else {
        let (offer, form) = signal::read(&o.offer)?;
        let offer = SessionDescription::parse(&offer).map_err(|e| format!("the offer: {e}"))?;
        let answer = pc
            .call(move |pc, now| {
                pc.set_remote_description(SdpType::Offer, offer)?;
                pc.add_track(now, TrackKind::Video, track)?;
                let answer = pc.create_answer(now)?;
                pc.set_local_description(SdpType::Answer, answer.clone())?;
                Ok::<_, kaon::peer::Error>(answer.to_string())
            })
            .map_err(|e| format!("the driver stopped: {e}"))?
            .map_err(|e| format!("answering: {e}"))?;
        println!("{}", signal::write("answer", &answer, form));
        eprintln!("rtp-to-webrtc: answered from {local}");
    }
    // The video transceiver and the payload type the browser takes our codec on.
    let codec = o.codec.clone();
    let (mid, pt) = pc
        .call(move |pc, _| {
            pc.transceivers().find_map(|(_, t)| {
                let c = t
                    .codecs()
                    .find(|c| c.codec.name.eq_ignore_ascii_case(&codec))?;
                Some((t.mid()?.to_string(), c.send_pt))
            })
        })
        .map_err(|e| format!("the driver stopped: {e}"))?
        .ok_or(format!("the browser did not accept {} video", o.codec))?;
    eprintln!(
        "rtp-to-webrtc: forwarding {} RTP from {} to mid {mid} (payload type {pt})",
        o.codec, o.rtp
    );

    let start = Instant::now();
    let mut last_report = start;
    let (mut forwarded, mut refused, mut malformed) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 1600];
    let mut connected = false;
    loop {
        if o.seconds
            .is_some_and(|s| start.elapsed() >= Duration::from_secs(s))
        {
            eprintln!("rtp-to-webrtc: {} s are up", o.seconds.unwrap_or_default());
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "rtp-to-webrtc: {:.0} s, {forwarded} packets sent ({refused} refused, \
                 {malformed} malformed)",
                start.elapsed().as_secs_f64()
            );
        }
        let mut stop = false;
        while let Ok(e) = pc.next_event_timeout(Duration::ZERO) {
            match e {
                PeerEvent::ConnectionStateChanged(s) => {
                    eprintln!("rtp-to-webrtc: connection {s:?}");
                    connected = s == ConnectionState::Connected;
                    stop |= matches!(s, ConnectionState::Failed | ConnectionState::Closed);
                }
                PeerEvent::KeyframeRequest { kind, .. } => eprintln!(
                    "rtp-to-webrtc: the browser asks for a keyframe ({kind:?}); the source \
                     must send one (ffmpeg: -g sets the keyframe interval)"
                ),
                PeerEvent::DtlsFailed(e) => eprintln!("rtp-to-webrtc: DTLS failed: {e}"),
                _ => {}
            }
        }
        if stop {
            break;
        }
        let n = match input.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(format!("reading {}: {e}", o.rtp)),
        };
        if !connected {
            continue;
        }
        let mut packet = buf[..n].to_vec();
        match RtpPacket::new_checked(&mut packet[..]) {
            Ok(mut p) => p.set_payload_type(pt),
            Err(_) => {
                malformed += 1;
                continue;
            }
        }
        let mid = mid.clone();
        match pc.call(move |pc, now| pc.write_rtp(now, &mid, &packet)) {
            Ok(Ok(())) => forwarded += 1,
            Ok(Err(e)) => {
                refused += 1;
                if refused <= 5 {
                    eprintln!("rtp-to-webrtc: a packet was refused: {e}");
                }
            }
            Err(e) => return Err(format!("the driver stopped: {e}")),
        }
    }
    eprintln!(
        "rtp-to-webrtc: done after {:.1} s: {forwarded} packets sent, {refused} refused",
        start.elapsed().as_secs_f64()
    );
    if let Err(e) = pc.close() {
        eprintln!("rtp-to-webrtc: closing: {e}");
    }
    Ok(())
}
