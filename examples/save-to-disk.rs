//! save-to-disk: records what a browser sends, VP8 video to an IVF file and Opus audio to an
//! Ogg file, from whole frames (Pion's example of that name).
//!
//! ```text
//! cargo run --example save-to-disk -- [--video OUT.ivf] [--audio OUT.ogg] [--offer FILE]
//!                                     [--answer FILE] [--bind IP] [--duration SECS]
//! ```
//!
//! Like Pion's, it accepts only VP8 and Opus; `save-to-disk-vp9` and `save-to-disk-av1` are
//! the same program accepting only VP9 or AV1.
//!
//! Signalling as in Pion's examples: the browser's offer (base64 of
//! `{"type":"offer","sdp":"..."}`, on stdin or in `--offer FILE`) and kaon's answer (on stdout
//! or into `--answer FILE`). The answer receives every audio and video line of the offer.
//! kaon listens on one UDP socket on `--bind` (default 127.0.0.1).
//!
//! Frames come out of kaon's jitter buffer ([`PeerConnection::set_receive_frames`]): whole,
//! in order, repaired by NACK/RTX where possible; after a loss it cannot repair it asks for a
//! keyframe and resumes from it. Video frames go to `--video` (default `output.ivf`, with the
//! codec's fourcc), Opus packets to
//! `--audio` (default `output.ogg`). Recording stops when the browser closes the connection,
//! or after `--duration` seconds. Prints progress every second (frames, keyframes, bytes,
//! losses) and a summary; exits with status 1 on any error.

#[path = "play-from-disk/signal.rs"]
mod signal;

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use kaon::media::codec::{Codec, frame_info};
use kaon::media::file::ivf::{IvfHeader, write_frame};
use kaon::media::file::ogg::{OggOpusWriter, OpusHead, OpusTags};
use kaon::peer::{
    ConnectionState, MediaEngine, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind,
};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: save-to-disk [--video OUT.ivf] [--audio OUT.ogg] [--offer FILE] \
                     [--answer FILE] [--bind IP] [--duration SECS]";

fn main() {
    main_with("save-to-disk", "VP8");
}

/// Runs the example as `program`, accepting only `video` (VP8, VP9 or AV1) and Opus, as Pion's
/// save-to-disk examples register only their codec: the browser then sends that one.
pub fn main_with(program: &str, video: &str) {
    if let Err(e) = run(video) {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}

struct Args {
    video: String,
    audio: String,
    offer: Option<String>,
    answer: Option<String>,
    bind: IpAddr,
    duration: Option<Duration>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        video: "output.ivf".into(),
        audio: "output.ogg".into(),
        offer: None,
        answer: None,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        duration: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--video" => a.video = value()?,
            "--audio" => a.audio = value()?,
            "--offer" => a.offer = Some(value()?),
            "--answer" => a.answer = Some(value()?),
            "--bind" => a.bind = value()?.parse()?,
            "--duration" => a.duration = Some(Duration::from_secs_f64(value()?.parse()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}").into()),
        }
    }
    Ok(a)
}

/// An IVF file written as frames come; the header is rewritten at the end with the size and
/// frame count.
struct IvfOut {
    path: String,
    file: File,
    header: IvfHeader,
    codec: Codec,
    first_ts: Option<u32>,
    pts: u64,
    last_ts: u32,
    buf: Vec<u8>,
    frames: u64,
    keyframes: u64,
    bytes: u64,
    lost: u64,
}

impl IvfOut {
    fn create(path: &str, codec: Codec) -> Result<Self> {
        let fourcc = match codec {
            Codec::Vp8 => *b"VP80",
            Codec::Vp9 => *b"VP90",
            Codec::Av1 => *b"AV01",
            other => return Err(format!("{other:?} does not go in an IVF file").into()),
        };
        let header = IvfHeader {
            fourcc,
            width: 0,
            height: 0,
            // The RTP clock of video: frame timestamps are RTP ticks.
            timebase_den: 90_000,
            timebase_num: 1,
            frame_count: 0,
        };
        let mut file = File::create(path).map_err(|e| format!("create {path}: {e}"))?;
        let mut buf = Vec::new();
        header.write(&mut buf);
        file.write_all(&buf)?;
        Ok(Self {
            path: path.to_string(),
            file,
            header,
            codec,
            first_ts: None,
            pts: 0,
            last_ts: 0,
            buf,
            frames: 0,
            keyframes: 0,
            bytes: 0,
            lost: 0,
        })
    }

    fn write(&mut self, sample: &kaon::media::jitter::Sample) -> Result<()> {
        let info = frame_info(self.codec, &sample.data);
        if let Some((w, h)) = info.dimensions
            && self.header.width == 0
        {
            self.header.width = w as u16;
            self.header.height = h as u16;
        }
        match self.first_ts {
            None => self.first_ts = Some(sample.rtp_timestamp),
            Some(_) => self.pts += u64::from(sample.rtp_timestamp.wrapping_sub(self.last_ts)),
        }
        self.last_ts = sample.rtp_timestamp;
        self.buf.clear();
        write_frame(&mut self.buf, self.pts, &sample.data);
        self.file
            .write_all(&self.buf)
            .map_err(|e| format!("write {}: {e}", self.path))?;
        self.frames += 1;
        self.keyframes += u64::from(sample.keyframe);
        self.bytes += sample.data.len() as u64;
        self.lost += u64::from(sample.lost_before);
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.header.frame_count = self.frames as u32;
        self.buf.clear();
        self.header.write(&mut self.buf);
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&self.buf)?;
        self.file.sync_all()?;
        println!(
            "video: {} frames ({} keyframes, {} bytes, {}x{}, {} after a loss) in {}",
            self.frames,
            self.keyframes,
            self.bytes,
            self.header.width,
            self.header.height,
            self.lost,
            self.path
        );
        Ok(())
    }
}

fn run(video_codec: &str) -> Result<()> {
    let args = args()?;
    let offer = signal::read_offer(args.offer.as_deref())?;
    let socket = UdpSocket::bind(SocketAddr::new(args.bind, 0))
        .map_err(|e| format!("bind {}: {e}", args.bind))?;
    let local = socket.local_addr()?;
    let mut engine = MediaEngine::default();
    engine.codecs.retain(|c| {
        c.name.eq_ignore_ascii_case(if c.kind == TrackKind::Audio {
            "opus"
        } else {
            video_codec
        })
    });
    let config = PeerConfig {
        media: std::sync::Arc::new(engine),
        ..PeerConfig::default()
    };
    let mut pc = PeerConnection::new(config)?;
    pc.add_local_address(local)?;
    pc.set_remote_description(SdpType::Offer, SessionDescription::parse(&offer)?)
        .map_err(|e| format!("the offer: {e}"))?;
    let answer = pc.create_answer(Instant::now())?;
    pc.set_local_description(SdpType::Answer, answer.clone())?;
    let mids: Vec<(String, TrackKind)> = pc
        .transceivers()
        .filter_map(|(_, t)| Some((t.mid()?.to_string(), t.kind())))
        .collect();
    if mids.is_empty() {
        return Err("the offer has no audio or video line".into());
    }
    for (mid, kind) in &mids {
        pc.set_receive_frames(mid, true)?;
        println!("receiving {kind} frames on mid {mid}");
    }
    signal::write_answer(args.answer.as_deref(), &answer.to_string())?;
    println!("answer written; kaon listens on udp {local}");

    let driver = Driver::spawn(pc, vec![socket])?;
    let start = Instant::now();
    let end = args.duration.map(|d| start + d);
    let mut video: Option<IvfOut> = None;
    let mut audio: Option<(OggOpusWriter, u64, u64)> = None; // writer, packets, bytes
    let mut codecs: Vec<(String, String)> = Vec::new(); // mid, codec name
    let mut connected = false;
    let mut report = start + Duration::from_secs(1);
    let why = loop {
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break "the duration is over".to_string();
        }
        if !connected && now >= start + Duration::from_secs(30) {
            return Err("not connected within 30 s".into());
        }
        if now >= report {
            report += Duration::from_secs(1);
            let (v, k, l) = video
                .as_ref()
                .map_or((0, 0, 0), |v| (v.frames, v.keyframes, v.lost));
            let a = audio.as_ref().map_or(0, |a| a.1);
            println!(
                "progress: video {v} frames ({k} keyframes, {l} after a loss), audio {a} packets"
            );
        }
        let e = match driver.events().recv_timeout(Duration::from_millis(100)) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Err("the driver stopped".into()),
        };
        match e {
            PeerEvent::ConnectionStateChanged(s) => {
                println!("connection {s:?}");
                match s {
                    ConnectionState::Connected => connected = true,
                    ConnectionState::Failed | ConnectionState::Closed => {
                        break format!("the connection is {s:?}");
                    }
                    _ => {}
                }
            }
            PeerEvent::DtlsClosed => break "the browser closed the connection".to_string(),
            PeerEvent::Track(t) => {
                println!(
                    "track on mid {}: {} {} (ssrc {:#010x})",
                    t.mid, t.kind, t.codec.name, t.ssrc
                );
                codecs.push((t.mid.to_string(), t.codec.name.clone()));
            }
            PeerEvent::Sample { mid, sample, .. } => {
                let Some((_, name)) = codecs.iter().find(|(m, _)| *m == mid.as_str()) else {
                    continue;
                };
                if name.eq_ignore_ascii_case("opus") {
                    let (w, packets, bytes) = audio.get_or_insert_with(|| {
                        let head = OpusHead {
                            version: 1,
                            channels: 2,
                            // RFC 7845 §4.2: 3840 samples (80 ms) when the encoder's delay is
                            // not known.
                            pre_skip: 3840,
                            input_sample_rate: 48_000,
                            output_gain: 0,
                            mapping_family: 0,
                            mapping: None,
                        };
                        let tags = OpusTags {
                            vendor: "kaon".into(),
                            comments: Vec::new(),
                        };
                        (OggOpusWriter::new(&head, &tags, 0x6b616f6e), 0, 0)
                    });
                    w.write_packet(&sample.data);
                    *packets += 1;
                    *bytes += sample.data.len() as u64;
                } else {
                    if video.is_none() {
                        let codec = match name.to_ascii_uppercase().as_str() {
                            "VP8" => Codec::Vp8,
                            "VP9" => Codec::Vp9,
                            "AV1" => Codec::Av1,
                            _ => return Err(format!("{name} video does not go in IVF").into()),
                        };
                        video = Some(IvfOut::create(&args.video, codec)?);
                        println!("writing {name} video to {}", args.video);
                    }
                    if let Some(v) = &mut video {
                        v.write(&sample)?;
                    }
                }
            }
            _ => {}
        }
    };
    println!(
        "stopping: {why}, after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let stats = driver.call(|pc, _| {
        pc.transceivers()
            .flat_map(|(_, t)| t.receiver_stats().map(move |(_, s)| (t.kind(), s)))
            .collect::<Vec<_>>()
    });
    for (kind, s) in stats.unwrap_or_default() {
        println!(
            "{kind} receiver: {} packets, {} lost, {} repaired by retransmission, {} NACKs sent",
            s.packets_received, s.packets_lost, s.packets_repaired, s.nack_count
        );
    }
    match video {
        Some(v) => v.finish()?,
        None => println!("video: nothing received"),
    }
    match audio {
        Some((w, packets, bytes)) => {
            std::fs::write(&args.audio, w.finish())
                .map_err(|e| format!("write {}: {e}", args.audio))?;
            println!("audio: {packets} packets ({bytes} bytes) in {}", args.audio);
        }
        None => println!("audio: nothing received"),
    }
    driver.call(|pc, now| pc.close(now));
    Ok(())
}
