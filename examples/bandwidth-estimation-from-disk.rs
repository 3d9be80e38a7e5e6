//! bandwidth-estimation-from-disk: sends one of several renditions of a video (IVF files of the
//! same frames at rising bitrates) to a browser, and switches between them as kaon's bandwidth
//! estimate moves (Pion's example of that name).
//!
//! ```text
//! cargo run --example bandwidth-estimation-from-disk -- --video LOW.ivf --video MID.ivf
//!     --video HIGH.ivf [--seconds N] [--offer FILE] [--answer FILE] [--bind IP]
//! ```
//!
//! Give the renditions lowest bitrate first; each must have the same number of frames at the
//! same timestamps, with keyframes at the same frames (encode them from one source with one
//! keyframe interval). The files loop for `--seconds` (default: once through).
//!
//! Signalling as play-from-disk: the browser's offer comes in as base64 of
//! `{"type":"offer","sdp":"..."}` (on stdin, or in `--offer FILE`), the answer goes out the same
//! way (on stdout, or into `--answer FILE`); the offer should receive video. kaon listens on one
//! UDP socket on `--bind` (default 127.0.0.1).
//!
//! The rendition follows [`PeerEvent::BitrateEstimate`]: up one step when the estimate is 20%
//! above the next rendition's bitrate, down to the highest rendition the estimate covers when it
//! falls below 80% of the current one's, and only at a keyframe of the rendition switched to, so the
//! decoder never sees a frame whose reference it did not get. Each second it prints
//! `second N: estimate E bit/s, rendition R (B bit/s), sent S bytes`, and each estimate it is
//! told as `estimate E bit/s at T s: REASON`; then `done:` and a summary.

#[path = "play-from-disk/signal.rs"]
mod signal;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::media::codec::{Codec, frame_info};
use kaon::media::file::ivf::IvfReader;
use kaon::media::jitter::Sample;
use kaon::peer::{
    ConnectionState, LocalTrack, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind,
};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: bandwidth-estimation-from-disk --video LOW.ivf --video MID.ivf \
                     [--video ...] [--seconds N] [--offer FILE] [--answer FILE] [--bind IP]";
/// Up a rendition only when the estimate exceeds its bitrate by this factor.
const UP_MARGIN: f64 = 1.2;
/// Down only when the estimate falls below this share of the current rendition's bitrate:
/// GCC answers a single overuse with 85% of what got through, which should not cost a
/// rendition that still fits.
const DOWN_MARGIN: f64 = 0.8;

fn main() {
    if let Err(e) = run() {
        eprintln!("bandwidth-estimation-from-disk: {e}");
        std::process::exit(1);
    }
}

#[derive(Default)]
struct Args {
    videos: Vec<String>,
    seconds: Option<f64>,
    offer: Option<String>,
    answer: Option<String>,
    bind: Option<IpAddr>,
}

fn args() -> Result<Args> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--video" => a.videos.push(value()?),
            "--seconds" => {
                let s: f64 = value()?.parse()?;
                if !(s > 0.0 && s <= 86_400.0) {
                    return Err(format!("--seconds {s}: want 0 < s <= 86400").into());
                }
                a.seconds = Some(s);
            }
            "--offer" => a.offer = Some(value()?),
            "--answer" => a.answer = Some(value()?),
            "--bind" => a.bind = Some(value()?.parse()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}").into()),
        }
    }
    if a.videos.len() < 2 {
        return Err(format!("give at least two --video renditions\n{USAGE}").into());
    }
    Ok(a)
}

/// One frame of a rendition: its time from the file's start, data and whether it is a keyframe.
struct Frame {
    at: Duration,
    data: Bytes,
    keyframe: bool,
}

/// One rendition: its frames and mean bitrate.
struct Rendition {
    name: String,
    codec: Codec,
    frames: Vec<Frame>,
    bitrate: u64,
}

fn rendition(path: &str) -> Result<Rendition> {
    let file = Bytes::from(std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?);
    let reader = IvfReader::new(&file).map_err(|e| format!("{path}: {e}"))?;
    let h = *reader.header();
    let codec = h
        .codec()
        .ok_or_else(|| format!("{path}: not VP8, VP9 or AV1"))?;
    if h.timebase_den == 0 || h.timebase_num == 0 {
        return Err(format!("{path}: time base {}/{}", h.timebase_num, h.timebase_den).into());
    }
    let mut frames = Vec::new();
    for f in reader {
        let f = f.map_err(|e| format!("{path}: frame {}: {e}", frames.len()))?;
        let ticks = u128::from(f.pts) * u128::from(h.timebase_num);
        frames.push(Frame {
            at: Duration::from_nanos((ticks * 1_000_000_000 / u128::from(h.timebase_den)) as u64),
            keyframe: frame_info(codec, f.data).keyframe,
            data: file.slice_ref(f.data),
        });
    }
    if frames.len() < 2 {
        return Err(format!("{path}: fewer than two frames").into());
    }
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    let seconds = period(&frames).as_secs_f64();
    let name = std::path::Path::new(path)
        .file_stem()
        .map_or(path.to_string(), |s| s.to_string_lossy().into_owned());
    Ok(Rendition {
        name,
        codec,
        bitrate: (bytes as f64 * 8.0 / seconds) as u64,
        frames,
    })
}

/// How long a file plays: its last frame's time plus one frame interval.
fn period(frames: &[Frame]) -> Duration {
    let n = frames.len();
    frames[n - 1].at + (frames[n - 1].at - frames[0].at) / (n as u32 - 1)
}

/// The rendition the estimate asks for, from `current`: one step up with a margin, or down
/// to the highest the estimate covers.
fn wanted(renditions: &[Rendition], current: usize, estimate: u64) -> usize {
    let e = estimate as f64;
    if current + 1 < renditions.len() && e >= renditions[current + 1].bitrate as f64 * UP_MARGIN {
        return current + 1;
    }
    if e < renditions[current].bitrate as f64 * DOWN_MARGIN {
        return (0..current)
            .rev()
            .find(|&r| renditions[r].bitrate as f64 <= e)
            .unwrap_or(0);
    }
    current
}

fn run() -> Result<()> {
    let args = args()?;
    let renditions: Vec<Rendition> = args
        .videos
        .iter()
        .map(|p| rendition(p))
        .collect::<Result<_>>()?;
    let first = &renditions[0];
    for r in &renditions[1..] {
        if r.codec != first.codec || r.frames.len() != first.frames.len() {
            return Err(format!(
                "{} and {}: renditions must share the codec and the frame count",
                first.name, r.name
            )
            .into());
        }
    }
    for r in &renditions {
        println!(
            "rendition {}: {:?}, {} frames, {} bit/s",
            r.name,
            r.codec,
            r.frames.len(),
            r.bitrate
        );
    }
    let offer = signal::read_offer(args.offer.as_deref())?;

    let ip = args.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
    let local = socket.local_addr()?;
    let mut config = PeerConfig::default();
    // Start where the lowest rendition fits, and let the estimate grow from there.
    config.start_bitrate = first.bitrate.max(config.min_bitrate);
    let mut pc = PeerConnection::new(config)?;
    pc.add_local_address(local)?;
    pc.set_remote_description(SdpType::Offer, SessionDescription::parse(&offer)?)
        .map_err(|e| format!("the offer: {e}"))?;
    let id = pc.add_track(
        Instant::now(),
        TrackKind::Video,
        LocalTrack::new("kaon-video", &["kaon"]),
    )?;
    let mid = pc
        .transceiver(id)
        .and_then(|t| t.mid())
        .ok_or("the offer has no video line to send on")?
        .to_string();
    let answer = pc.create_answer(Instant::now())?;
    pc.set_local_description(SdpType::Answer, answer.clone())?;
    let mime = match first.codec {
        Codec::Vp8 => "video/VP8",
        Codec::Vp9 => "video/VP9",
        _ => "video/AV1",
    };
    pc.set_sample_codec(&mid, Some(mime))?;
    let name = pc
        .writer(&mid)?
        .codec()
        .map_err(|e| format!("the browser did not accept {mime}: {e}"))?;
    println!("video goes as {name} on mid {mid}");
    signal::write_answer(args.answer.as_deref(), &answer.to_string())?;
    println!("answer written; kaon listens on udp {local}");

    let driver = Driver::spawn(pc, vec![socket])?;
    let connect_by = Instant::now() + Duration::from_secs(30);
    loop {
        let left = connect_by.saturating_duration_since(Instant::now());
        match driver.events().recv_timeout(left) {
            Ok(PeerEvent::ConnectionStateChanged(s)) => {
                println!("connection {s:?}");
                match s {
                    ConnectionState::Connected => break,
                    ConnectionState::Failed | ConnectionState::Closed => {
                        return Err(format!("connection {s:?}").into());
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => return Err("not connected within 30 s".into()),
            Err(RecvTimeoutError::Disconnected) => return Err("the driver stopped".into()),
        }
    }

    let period = period(&first.frames);
    let total = args.seconds.map_or(period, Duration::from_secs_f64);
    let n = first.frames.len();
    let (mut current, mut estimate) = (0usize, 0u64);
    let (mut second_bytes, mut bytes, mut frames, mut switches) = (0usize, 0usize, 0usize, 0);
    let start = Instant::now();
    let mut report = 1u64;
    for k in 0u32.. {
        let i = k as usize % n;
        let at = period * (k / n as u32) + first.frames[i].at;
        if at >= total {
            break;
        }
        if let Some(wait) = (start + at).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        while let Ok(e) = driver.events().try_recv() {
            match e {
                PeerEvent::BitrateEstimate {
                    bitrate_bps,
                    reason,
                } => {
                    println!(
                        "estimate {bitrate_bps} bit/s at {:.2} s: {reason:?}",
                        start.elapsed().as_secs_f64()
                    );
                    estimate = bitrate_bps;
                }
                PeerEvent::ConnectionStateChanged(s)
                    if matches!(s, ConnectionState::Failed | ConnectionState::Closed) =>
                {
                    return Err(format!("connection {s:?} while playing").into());
                }
                _ => {}
            }
        }
        let want = if estimate == 0 {
            current
        } else {
            wanted(&renditions, current, estimate)
        };
        if want != current && renditions[want].frames[i].keyframe {
            println!(
                "switch at {:.1} s: {} -> {} (estimate {estimate} bit/s)",
                at.as_secs_f64(),
                renditions[current].name,
                renditions[want].name
            );
            current = want;
            switches += 1;
        }
        let frame = &renditions[current].frames[i];
        let rtp = (at.as_nanos() * 90_000 / 1_000_000_000) as u32;
        let sample = Sample::at(frame.data.clone(), rtp);
        let len = frame.data.len();
        let m = mid.clone();
        driver
            .call(move |pc, now| pc.writer(&m)?.write_sample(now, &sample))
            .ok_or("the driver stopped")?
            .map_err(|e| format!("write_sample: {e}"))?;
        second_bytes += len;
        bytes += len;
        frames += 1;
        if start.elapsed() >= Duration::from_secs(report) {
            let r = &renditions[current];
            println!(
                "second {report}: estimate {estimate} bit/s, rendition {} ({} bit/s), sent {second_bytes} bytes",
                r.name, r.bitrate
            );
            report += 1;
            second_bytes = 0;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "done: {frames} frames, {bytes} bytes, {switches} switches, last rendition {}, \
         estimate {estimate} bit/s, in {:.1} s",
        renditions[current].name,
        start.elapsed().as_secs_f64()
    );
    if let Some(Some(s)) = driver.call(move |pc, _| {
        pc.transceivers()
            .find_map(|(_, t)| t.sender_stats())
            .map(|s| {
                (
                    s.packets_sent,
                    s.bytes_sent,
                    s.nack_count,
                    s.round_trip_time,
                )
            })
    }) {
        println!(
            "video sender: {} packets, {} bytes, {} NACKs, round trip {:?}",
            s.0, s.1, s.2, s.3
        );
    }
    driver.call(|pc, now| pc.close(now));
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}
