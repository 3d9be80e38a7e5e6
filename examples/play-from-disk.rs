//! play-from-disk: sends a video file (IVF: VP8, VP9 or AV1; or H.264 Annex B) and an audio
//! file (Ogg Opus) to a browser, frame by frame at the files' pace (Pion's example of that
//! name; `play-h264-from-disk` is the same program taking only H.264).
//!
//! ```text
//! cargo run --example play-from-disk -- [--video FILE.ivf|FILE.h264] [--audio FILE.ogg]
//!                                       [--fps N] [--offer FILE] [--answer FILE] [--bind IP]
//! ```
//!
//! An IVF file carries its frames' timestamps; an H.264 Annex B stream (a file that does not
//! start with IVF's `DKIF`) does not, so its access units go out at `--fps` (default 30).
//!
//! Signalling as in Pion's examples: the browser's offer comes in as base64 of
//! `{"type":"offer","sdp":"..."}` (on stdin, or in `--offer FILE`; the JSON itself or a bare SDP
//! also do), and the answer goes out the same way (on stdout, or into `--answer FILE`). The
//! browser's offer should have a receiving audio and video line (`addTransceiver('video',
//! {direction: 'recvonly'})`). kaon listens on one UDP socket on `--bind` (default 127.0.0.1).
//!
//! Once connected, each IVF frame goes out with [`PeerConnection::write_sample`] at its
//! timestamp (time base from the IVF header) and each Opus packet with its duration; the
//! codec is the file's (picked among the negotiated ones with `set_sample_codec`). Prints
//! progress every second (frames, keyframes, bytes, audio packets), the keyframe requests the
//! browser sends, and a summary with the sender's statistics; exits with status 1 on any
//! error.

#[path = "play-from-disk/signal.rs"]
mod signal;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kaon::media::codec::{Codec, frame_info};
use kaon::media::file::annexb::AnnexBReader;
use kaon::media::file::ivf::IvfReader;
use kaon::media::file::ogg::{OggOpusReader, opus_packet_samples};
use kaon::media::jitter::Sample;
use kaon::peer::{
    ConnectionState, LocalTrack, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind,
};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: play-from-disk [--video FILE.ivf|FILE.h264] [--audio FILE.ogg] \
                     [--fps N] [--offer FILE] [--answer FILE] [--bind IP]";

fn main() {
    main_with("play-from-disk", None);
}

/// Runs the example as `program`; with `only`, the video file must be of that codec.
pub fn main_with(program: &str, only: Option<Codec>) {
    if let Err(e) = run(only) {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}

#[derive(Default)]
struct Args {
    video: Option<String>,
    audio: Option<String>,
    offer: Option<String>,
    answer: Option<String>,
    bind: Option<IpAddr>,
    fps: Option<f64>,
}

fn args() -> Result<Args> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--video" => a.video = Some(value()?),
            "--audio" => a.audio = Some(value()?),
            "--offer" => a.offer = Some(value()?),
            "--answer" => a.answer = Some(value()?),
            "--bind" => a.bind = Some(value()?.parse()?),
            "--fps" => {
                let fps: f64 = value()?.parse()?;
                if !(fps > 0.0 && fps <= 1000.0) {
                    return Err(format!("--fps {fps}: want 0 < fps <= 1000").into());
                }
                a.fps = Some(fps);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}").into()),
        }
    }
    if a.video.is_none() && a.audio.is_none() {
        return Err(format!("give --video, --audio or both\n{USAGE}").into());
    }
    Ok(a)
}

/// One frame to send at `at` after the start.
struct Item {
    at: Duration,
    video: bool,
    sample: Sample,
    keyframe: bool,
}

fn read(path: &str) -> Result<Bytes> {
    Ok(Bytes::from(
        std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?,
    ))
}

/// The video file's frames, at their timestamps; its codec.
fn video_items(path: &str, fps: f64) -> Result<(Codec, Vec<Item>)> {
    let file = read(path)?;
    if !file.starts_with(b"DKIF") {
        return h264_items(path, &file, fps);
    }
    let reader = IvfReader::new(&file).map_err(|e| format!("{path}: {e}"))?;
    let h = *reader.header();
    let codec = h.codec().ok_or_else(|| {
        format!(
            "{path}: fourcc {:?} is not VP8, VP9 or AV1",
            String::from_utf8_lossy(&h.fourcc)
        )
    })?;
    if h.timebase_den == 0 || h.timebase_num == 0 {
        return Err(format!("{path}: time base {}/{}", h.timebase_num, h.timebase_den).into());
    }
    let mut items = Vec::new();
    for f in reader {
        let f = f.map_err(|e| format!("{path}: frame {}: {e}", items.len()))?;
        // Seconds = pts * num / den; the RTP clock of video is 90 kHz.
        let ticks = u128::from(f.pts) * u128::from(h.timebase_num);
        let at = Duration::from_nanos((ticks * 1_000_000_000 / u128::from(h.timebase_den)) as u64);
        let rtp = (ticks * 90_000 / u128::from(h.timebase_den)) as u32;
        items.push(Item {
            at,
            video: true,
            keyframe: frame_info(codec, f.data).keyframe,
            sample: Sample::at(file.slice_ref(f.data), rtp),
        });
    }
    println!(
        "video: {path}: {} {}x{}, {} frames, {} keyframes",
        String::from_utf8_lossy(&h.fourcc),
        h.width,
        h.height,
        items.len(),
        items.iter().filter(|i| i.keyframe).count()
    );
    Ok((codec, items))
}

/// An H.264 Annex B stream's access units, `fps` a second.
fn h264_items(path: &str, file: &Bytes, fps: f64) -> Result<(Codec, Vec<Item>)> {
    let mut items = Vec::new();
    for (i, unit) in AnnexBReader::new(file, false).enumerate() {
        let seconds = i as f64 / fps;
        items.push(Item {
            at: Duration::from_secs_f64(seconds),
            video: true,
            keyframe: frame_info(Codec::H264, unit).keyframe,
            sample: Sample::at(file.slice_ref(unit), (seconds * 90_000.0).round() as u32),
        });
    }
    if items.is_empty() {
        return Err(format!("{path}: neither IVF nor an H.264 Annex B stream").into());
    }
    println!(
        "video: {path}: H.264 Annex B, {} frames at {fps} fps, {} keyframes",
        items.len(),
        items.iter().filter(|i| i.keyframe).count()
    );
    Ok((Codec::H264, items))
}

/// The Ogg file's Opus packets, each lasting what its TOC says.
fn audio_items(path: &str) -> Result<Vec<Item>> {
    let file = read(path)?;
    let reader = OggOpusReader::new(&file).map_err(|e| format!("{path}: {e}"))?;
    let mut items = Vec::new();
    let mut samples = 0u64;
    for p in reader {
        let p = p.map_err(|e| format!("{path}: packet {}: {e}", items.len()))?;
        let n = opus_packet_samples(&p.data)
            .ok_or_else(|| format!("{path}: packet {} is no Opus packet", items.len()))?;
        items.push(Item {
            at: Duration::from_micros(samples * 1_000_000 / 48_000),
            video: false,
            keyframe: true,
            sample: Sample::with_duration(Bytes::from(p.data), n),
        });
        samples += u64::from(n);
    }
    println!(
        "audio: {path}: Opus, {} packets, {:.1} s",
        items.len(),
        samples as f64 / 48_000.0
    );
    Ok(items)
}

fn run(only: Option<Codec>) -> Result<()> {
    let args = args()?;
    let (codec, mut items) = match &args.video {
        Some(p) => {
            let (c, v) = video_items(p, args.fps.unwrap_or(30.0))?;
            if only.is_some_and(|o| o != c) {
                return Err(format!("{p} is {c:?}, this example plays {:?}", only.unwrap()).into());
            }
            (Some(c), v)
        }
        None => (None, Vec::new()),
    };
    if let Some(p) = &args.audio {
        items.extend(audio_items(p)?);
    }
    items.sort_by_key(|i| i.at);
    let offer = signal::read_offer(args.offer.as_deref())?;

    let ip = args.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
    let local = socket.local_addr()?;
    let mut pc = PeerConnection::new(PeerConfig::default())?;
    pc.add_local_address(local)?;
    pc.set_remote_description(SdpType::Offer, SessionDescription::parse(&offer)?)
        .map_err(|e| format!("the offer: {e}"))?;
    let now = Instant::now();
    let mut mids = [None, None]; // audio, video
    for (i, (kind, wanted)) in [
        (TrackKind::Audio, args.audio.is_some()),
        (TrackKind::Video, args.video.is_some()),
    ]
    .into_iter()
    .enumerate()
    {
        if !wanted {
            continue;
        }
        let id = pc.add_track(
            now,
            kind,
            LocalTrack::new(&format!("kaon-{kind}"), &["kaon"]),
        )?;
        mids[i] = pc.transceiver(id).and_then(|t| t.mid());
        if mids[i].is_none() {
            return Err(format!("the offer has no {kind} line to send on").into());
        }
    }
    let answer = pc.create_answer(now)?;
    pc.set_local_description(SdpType::Answer, answer.clone())?;
    let [audio_mid, video_mid] = mids.map(|m| m.map(|m| m.to_string()));
    if let (Some(mid), Some(codec)) = (&video_mid, codec) {
        let mime = match codec {
            Codec::Vp8 => "video/VP8",
            Codec::Vp9 => "video/VP9",
            Codec::H264 => "video/H264",
            _ => "video/AV1",
        };
        pc.set_sample_codec(mid, Some(mime))?;
        let name = pc
            .writer(mid)?
            .codec()
            .map_err(|e| format!("the browser did not accept {mime} on the video line: {e}"))?;
        println!("video goes as {name} on mid {mid}");
    }
    if let Some(mid) = &audio_mid {
        let name = pc.writer(mid)?.codec()?;
        println!("audio goes as {name} on mid {mid}");
    }
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

    let total_video = items.iter().filter(|i| i.video).count();
    let (mut sent_video, mut keyframes, mut bytes, mut sent_audio) = (0usize, 0usize, 0usize, 0);
    let mut keyframe_requests = 0;
    let start = Instant::now();
    let mut report = start + Duration::from_secs(1);
    for item in items {
        let due = start + item.at;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        while let Ok(e) = driver.events().try_recv() {
            match e {
                PeerEvent::KeyframeRequest { mid, kind } => {
                    keyframe_requests += 1;
                    println!("the browser asks for a keyframe on mid {mid} ({kind:?})");
                }
                PeerEvent::ConnectionStateChanged(s) => {
                    println!("connection {s:?}");
                    if matches!(s, ConnectionState::Failed | ConnectionState::Closed) {
                        return Err(format!("connection {s:?} while playing").into());
                    }
                }
                _ => {}
            }
        }
        let mid = if item.video { &video_mid } else { &audio_mid };
        let Some(mid) = mid.clone() else { continue };
        let len = item.sample.data.len();
        let sample = item.sample;
        driver
            .call(move |pc, now| pc.write_sample(now, &mid, &sample))
            .ok_or("the driver stopped")?
            .map_err(|e| format!("write_sample: {e}"))?;
        if item.video {
            sent_video += 1;
            keyframes += usize::from(item.keyframe);
            bytes += len;
        } else {
            sent_audio += 1;
        }
        if Instant::now() >= report {
            report += Duration::from_secs(1);
            println!(
                "progress: video {sent_video}/{total_video} frames ({keyframes} keyframes, \
                 {bytes} bytes), audio {sent_audio} packets"
            );
        }
    }
    // Let the last packets, retransmissions and reports go.
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "done: video {sent_video} frames ({keyframes} keyframes, {bytes} bytes), audio \
         {sent_audio} packets, {keyframe_requests} keyframe requests, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let stats = driver.call(|pc, _| {
        pc.transceivers()
            .filter_map(|(_, t)| Some((t.kind(), t.sender_stats()?)))
            .collect::<Vec<_>>()
    });
    for (kind, s) in stats.unwrap_or_default() {
        println!(
            "{kind} sender: {} packets, {} bytes, {} NACKs answered with {} retransmissions, \
             round trip {:?}",
            s.packets_sent,
            s.bytes_sent,
            s.nack_count,
            s.retransmitted_packets_sent,
            s.round_trip_time
        );
    }
    driver.call(|pc, now| pc.close(now));
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}
