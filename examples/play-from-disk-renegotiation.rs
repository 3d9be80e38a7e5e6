//! play-from-disk-renegotiation: video tracks added and removed at run time through
//! renegotiation, each playing an IVF file (Pion's example of that name).
//!
//! ```text
//! cargo run --example play-from-disk-renegotiation -- [--video FILE.ivf] [--bind IP[:PORT]]
//! ```
//!
//! Serves a page on `--bind` (default `127.0.0.1:8080`; port 0 picks one) with two buttons.
//! Every click is one offer/answer exchange on the live connection, the page offering and kaon
//! answering (`application/sdp` both ways):
//!
//! - `POST /connect`: the first offer (a data channel, so the connection lives on while no
//!   video plays). A new `/connect` replaces the session before it.
//! - `POST /add`: the page's re-offer carries one more receive-only video line; kaon puts a new
//!   track on it ([`PeerConnection::add_track`]), answers, and plays `--video` (default
//!   `output.ivf`: VP8, VP9 or AV1) on it from the start, frame by frame at the file's pace
//!   with [`PeerConnection::write_sample`], looping at the end.
//! - `POST /remove`: kaon stops the newest track ([`PeerConnection::remove_track`]: its line
//!   answers `inactive`) and its player, and answers the page's re-offer.
//!
//! Prints each track's progress every second (frames, keyframes, bytes), the keyframe requests
//! the browser sends (a file cannot make a keyframe on demand; they are counted), every event
//! and error; Ctrl-C closes the session.
//!
//! [`PeerConnection::add_track`]: kaon::peer::PeerConnection::add_track
//! [`PeerConnection::write_sample`]: kaon::peer::PeerConnection::write_sample
//! [`PeerConnection::remove_track`]: kaon::peer::PeerConnection::remove_track

#[path = "common/web.rs"]
mod web;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::media::codec::{Codec, frame_info};
use kaon::media::file::ivf::IvfReader;
use kaon::media::jitter::Sample;
use kaon::peer::{
    ConnectionState, LocalTrack, MediaEngine, PeerConfig, PeerConnection, PeerEvent, SdpType,
    TrackKind, TransceiverId,
};
use kaon::sdp::SessionDescription;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
type Driver = kaon_tokio::Driver<PeerConnection>;

const PAGE: &str = include_str!("play-from-disk-renegotiation/index.html");
const USAGE: &str = "usage: play-from-disk-renegotiation [--video FILE.ivf] [--bind IP[:PORT]]";
/// Tracks played at once, at most: each is a line of the session forever (JSEP never removes
/// an m-line), and a page adds them one click at a time.
const MAX_TRACKS: usize = 16;

fn main() {
    if let Err(e) = run() {
        eprintln!("play-from-disk-renegotiation: {e}");
        std::process::exit(1);
    }
}

struct Args {
    video: String,
    http: SocketAddr,
}

fn args() -> Result<Args> {
    let mut a = Args {
        video: "output.ivf".into(),
        http: SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--video" => a.video = value()?,
            "--bind" => {
                let v = value()?;
                a.http = match v.parse::<IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, a.http.port()),
                    Err(_) => v.parse().map_err(|e| format!("--bind {v:?}: {e}"))?,
                };
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg}\n{USAGE}").into()),
        }
    }
    Ok(a)
}

/// The video file, read once: its frames, how long each lasts in RTP ticks, its codec.
struct Video {
    mime: &'static str,
    frames: Vec<(Bytes, u32, bool)>,
    frame_time: Duration,
}

fn load(path: &str) -> Result<Video> {
    let file = Bytes::from(std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?);
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
    let mut pts = Vec::new();
    let mut frames = Vec::new();
    for f in reader {
        let f = f.map_err(|e| format!("{path}: frame {}: {e}", frames.len()))?;
        pts.push(f.pts);
        let key = frame_info(codec, f.data).keyframe;
        frames.push((file.slice_ref(f.data), 0, key));
    }
    if frames.is_empty() {
        return Err(format!("{path}: no frames").into());
    }
    // Each frame lasts until the next one's pts; the last as long as the one before it. The
    // RTP clock of video is 90 kHz.
    let ticks = |d: u64| {
        (u128::from(d) * u128::from(h.timebase_num) * 90_000 / u128::from(h.timebase_den)) as u32
    };
    let mut last = 3000;
    for i in 0..frames.len() {
        let d = match pts.get(i + 1) {
            Some(&next) => ticks(next.saturating_sub(pts[i])).max(1),
            None => last,
        };
        frames[i].1 = d;
        last = d;
    }
    let total: u64 = frames.iter().map(|f| u64::from(f.1)).sum();
    let frame_time = Duration::from_micros(total * 1_000_000 / 90_000 / frames.len() as u64);
    let mime = match codec {
        Codec::Vp8 => "video/VP8",
        Codec::Vp9 => "video/VP9",
        _ => "video/AV1",
    };
    println!(
        "video: {path}: {} {}x{}, {} frames ({} keyframes), {:.1} fps",
        String::from_utf8_lossy(&h.fourcc),
        h.width,
        h.height,
        frames.len(),
        frames.iter().filter(|f| f.2).count(),
        1.0 / frame_time.as_secs_f64().max(1e-6)
    );
    Ok(Video {
        mime,
        frames,
        frame_time,
    })
}

/// What a track's player shares with the rest: when to stop, when to skip to a keyframe, what
/// it sent.
#[derive(Debug, Default)]
struct Player {
    stop: AtomicBool,
    /// The browser asked for a keyframe: the player skips to the file's next one.
    keyframe_wanted: AtomicBool,
    frames: AtomicU64,
    keyframe_requests: AtomicU64,
}

/// One track kaon plays.
struct Track {
    id: TransceiverId,
    mid: String,
    player: Arc<Player>,
}

struct Session {
    n: u64,
    driver: Arc<Driver>,
    tracks: Vec<Track>,
}

struct Server {
    video: Arc<Video>,
    /// The IP browsers reach this server on: the sessions' UDP sockets go there.
    ip: IpAddr,
    /// One session at a time (the page's); its exchanges one at a time.
    session: tokio::sync::Mutex<Option<Session>>,
    next: AtomicU64,
    http_stats: Arc<web::Stats>,
}

fn run() -> Result<()> {
    let args = args()?;
    let video = Arc::new(load(&args.video)?);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve(args.http, video))
}

async fn serve(http: SocketAddr, video: Arc<Video>) -> Result<()> {
    let listener = web::listen(&http.to_string()).await?;
    let local = listener.local_addr()?;
    if local.ip().is_unspecified() {
        return Err(format!(
            "--bind {local}: give the address browsers reach, not an unspecified one: it \
             becomes the session's ICE candidate"
        )
        .into());
    }
    let server = Arc::new(Server {
        video,
        ip: local.ip(),
        session: tokio::sync::Mutex::new(None),
        next: AtomicU64::new(1),
        http_stats: Arc::default(),
    });
    println!("open http://{local}/ in a browser on this machine (Ctrl-C to stop)");
    let handler = {
        let server = server.clone();
        move |req| route(server.clone(), req)
    };
    let http = web::serve(
        listener,
        web::Limits::default(),
        server.http_stats.clone(),
        handler,
    );
    tokio::select! {
        () = http => Err("the HTTP server stopped".into()),
        r = tokio::signal::ctrl_c() => {
            r?;
            if let Some(s) = server.session.lock().await.take() {
                end(s).await;
            }
            Ok(())
        }
    }
}

async fn route(server: Arc<Server>, req: Request<Bytes>) -> web::Reply {
    let path = req.uri().path().to_string();
    let result = match (req.method(), path.as_str()) {
        (&Method::GET, "/" | "/index.html") => {
            return web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE);
        }
        (&Method::POST, "/connect") => connect(&server, req.body()).await,
        (&Method::POST, "/add") => renegotiate(&server, req.body(), true).await,
        (&Method::POST, "/remove") => renegotiate(&server, req.body(), false).await,
        (_, "/" | "/index.html" | "/connect" | "/add" | "/remove") => {
            return web::text(
                StatusCode::METHOD_NOT_ALLOWED,
                "GET /, or POST /connect, /add, /remove",
            );
        }
        _ => return web::text(StatusCode::NOT_FOUND, "not found"),
    };
    match result {
        Ok(answer) => web::reply(StatusCode::OK, "application/sdp", answer),
        Err((status, e)) => {
            eprintln!("POST {path}: refused ({status}): {e}");
            web::text(status, e)
        }
    }
}

type Reply = std::result::Result<String, (StatusCode, String)>;

fn bad(e: &dyn std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, e.to_string())
}

fn gone() -> (StatusCode, String) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the session's driver has stopped".to_string(),
    )
}

/// Closes a session: the players stop, the connection closes.
async fn end(s: Session) {
    for t in &s.tracks {
        t.player.stop.store(true, Ordering::Relaxed);
    }
    s.driver.call(|pc, now| pc.close(now)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!("session {}: closed", s.n);
}

/// `POST /connect`: a new session from the page's first offer.
async fn connect(server: &Arc<Server>, body: &[u8]) -> Reply {
    let text = std::str::from_utf8(body).map_err(|e| bad(&e))?;
    let offer = SessionDescription::parse(text).map_err(|e| bad(&e))?;
    let mut session = server.session.lock().await;
    if let Some(old) = session.take() {
        println!("session {}: replaced by a new one", old.n);
        end(old).await;
    }
    // Only the file's codec: the browser then answers nothing else for the video lines.
    let video = &server.video;
    let mut engine = MediaEngine::default();
    engine.codecs.retain(|c| {
        c.kind == TrackKind::Video && video.mime.ends_with(&c.name.to_ascii_uppercase())
    });
    let config = PeerConfig {
        media: Arc::new(engine),
        ..PeerConfig::default()
    };
    let internal = |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let mut pc = PeerConnection::new(config).map_err(|e| internal(&e))?;
    // Each session has a socket of its own on the HTTP address's IP.
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(server.ip, 0))
        .await
        .map_err(|e| internal(&e))?;
    let udp = socket.local_addr().map_err(|e| internal(&e))?;
    pc.add_local_address(udp).map_err(|e| internal(&e))?;
    pc.set_remote_description(SdpType::Offer, offer)
        .map_err(|e| bad(&e))?;
    let answer = pc.create_answer(Instant::now()).map_err(|e| bad(&e))?;
    pc.set_local_description(SdpType::Answer, answer.clone())
        .map_err(|e| bad(&e))?;
    let driver = Arc::new(Driver::spawn(pc, vec![socket]).map_err(|e| internal(&e))?);
    let n = server.next.fetch_add(1, Ordering::Relaxed);
    println!("session {n}: answering from udp {udp}");
    tokio::spawn(events(server.clone(), n, driver.clone()));
    *session = Some(Session {
        n,
        driver,
        tracks: Vec::new(),
    });
    Ok(answer.to_string())
}

/// `POST /add` and `POST /remove`: a track more or less, then the answer to the page's
/// re-offer.
async fn renegotiate(server: &Arc<Server>, body: &[u8], add: bool) -> Reply {
    let text = std::str::from_utf8(body).map_err(|e| bad(&e))?;
    let offer = SessionDescription::parse(text).map_err(|e| bad(&e))?;
    let mut guard = server.session.lock().await;
    let s = guard.as_mut().ok_or((
        StatusCode::CONFLICT,
        "no session: POST /connect first".to_string(),
    ))?;
    let n = s.n;
    if add && s.tracks.len() >= MAX_TRACKS {
        return Err((
            StatusCode::CONFLICT,
            format!("{MAX_TRACKS} tracks play already"),
        ));
    }
    let removed = if add { None } else { s.tracks.pop() };
    let removed_id = removed.as_ref().map(|t| t.id);
    // Its player stops first, so no frame races the removal and is refused.
    if let Some(t) = &removed {
        t.player.stop.store(true, Ordering::Relaxed);
    }
    let label = format!("video-{}", s.tracks.len() + 1);
    let result = s
        .driver
        .call(move |pc, now| {
            pc.set_remote_description(SdpType::Offer, offer)?;
            if let Some(id) = removed_id {
                pc.remove_track(now, id)?;
            }
            let added = if add {
                let id = pc.add_track(now, TrackKind::Video, LocalTrack::new(&label, &["kaon"]))?;
                Some(id)
            } else {
                None
            };
            let answer = pc.create_answer(now)?;
            pc.set_local_description(SdpType::Answer, answer.clone())?;
            let mid = added.and_then(|id| Some((id, pc.transceiver(id)?.mid()?.to_string())));
            Ok::<_, kaon::peer::Error>((answer.to_string(), mid))
        })
        .await
        .ok_or_else(gone)?;
    let (answer, added) = match result {
        Ok(r) => r,
        Err(e) => {
            // The exchange failed: the track we meant to remove plays on, with a new player.
            if let Some(mut t) = removed {
                t.player = Arc::default();
                tokio::spawn(play(
                    n,
                    t.mid.clone(),
                    server.video.clone(),
                    s.driver.handle(),
                    t.player.clone(),
                ));
                s.tracks.push(t);
            }
            return Err(bad(&e));
        }
    };
    if let Some(t) = removed {
        println!(
            "session {n}: removed the track on mid {} after {} frames ({} keyframe requests); \
             {} playing",
            t.mid,
            t.player.frames.load(Ordering::Relaxed),
            t.player.keyframe_requests.load(Ordering::Relaxed),
            s.tracks.len()
        );
    } else if !add {
        println!("session {n}: no track to remove; answered the offer as it is");
    }
    if add {
        let (id, mid) = added.ok_or_else(|| bad(&"the offer has no new video line to play on"))?;
        let name = s
            .driver
            .call({
                let (mid, mime) = (mid.clone(), server.video.mime);
                move |pc, _| {
                    pc.set_sample_codec(&mid, Some(mime))?;
                    pc.writer(&mid)?.codec()
                }
            })
            .await
            .ok_or_else(gone)?
            .map_err(|e| bad(&format!("the browser did not accept the file's codec: {e}")))?;
        let track = Track {
            id,
            mid: mid.clone(),
            player: Arc::default(),
        };
        tokio::spawn(play(
            n,
            mid.clone(),
            server.video.clone(),
            s.driver.handle(),
            track.player.clone(),
        ));
        s.tracks.push(track);
        println!(
            "session {n}: added a track on mid {mid} ({name}); {} playing",
            s.tracks.len()
        );
    }
    Ok(answer)
}

/// Plays the file on `mid` at its pace, looping, until told to stop or the session ends. When
/// the browser asks for a keyframe, it skips to the file's next one: the frames in between could
/// not be decoded anyway.
async fn play(
    n: u64,
    mid: String,
    video: Arc<Video>,
    driver: kaon_tokio::Handle<PeerConnection>,
    player: Arc<Player>,
) {
    let mut tick = tokio::time::interval(video.frame_time);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut keyframes, mut bytes, mut loops, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let mut report = Instant::now() + Duration::from_secs(1);
    let mut i = 0;
    loop {
        tick.tick().await;
        if player.stop.load(Ordering::Relaxed) {
            break;
        }
        if player.keyframe_wanted.swap(false, Ordering::Relaxed) && !video.frames[i].2 {
            let next = (i..video.frames.len()).find(|&k| video.frames[k].2);
            skipped += next.map_or(video.frames.len() - i, |k| k - i) as u64;
            // Past the last keyframe: the file's start (IVF files open with one).
            i = next.unwrap_or_else(|| {
                loops += 1;
                0
            });
        }
        let (data, duration, key) = &video.frames[i];
        let sample = Sample::with_duration(data.clone(), *duration);
        let m = mid.clone();
        match driver
            .call(move |pc, now| pc.write_sample(now, &m, &sample))
            .await
        {
            None => break,
            Some(Err(e)) => eprintln!("session {n}: mid {mid}: write_sample: {e}"),
            Some(Ok(())) => {
                player.frames.fetch_add(1, Ordering::Relaxed);
                keyframes += u64::from(*key);
                bytes += data.len() as u64;
            }
        }
        i += 1;
        if i == video.frames.len() {
            i = 0;
            loops += 1;
        }
        if Instant::now() >= report {
            report += Duration::from_secs(1);
            let m = mid.clone();
            let (nacks, resent) = driver
                .call(move |pc, _| {
                    let t = pc
                        .transceivers()
                        .find(|(_, t)| t.mid().is_some_and(|x| x == m.as_str()));
                    t.and_then(|(_, t)| t.sender_stats())
                        .map_or((0, 0), |x| (x.nack_count, x.retransmitted_packets_sent))
                })
                .await
                .unwrap_or_default();
            println!(
                "session {n}: mid {mid}: {} frames ({keyframes} keyframes, {bytes} bytes), \
                 {skipped} skipped to a keyframe, {loops} loops of the file; {nacks} NACKs \
                 answered with {resent} retransmissions",
                player.frames.load(Ordering::Relaxed)
            );
        }
    }
    println!(
        "session {n}: mid {mid}: stopped after {} frames ({keyframes} keyframes, {bytes} bytes, \
         {skipped} skipped to a keyframe)",
        player.frames.load(Ordering::Relaxed)
    );
}

/// Every event of a session, until its driver stops.
async fn events(server: Arc<Server>, n: u64, driver: Arc<Driver>) {
    while let Some(e) = driver.next_event().await {
        match e {
            PeerEvent::ConnectionStateChanged(s) => {
                println!("session {n}: connection {s:?}");
                if matches!(s, ConnectionState::Failed | ConnectionState::Closed) {
                    let mut guard = server.session.lock().await;
                    if guard.as_ref().is_some_and(|x| x.n == n)
                        && let Some(s) = guard.take()
                    {
                        for t in &s.tracks {
                            t.player.stop.store(true, Ordering::Relaxed);
                        }
                    }
                    break;
                }
            }
            PeerEvent::KeyframeRequest { mid, kind } => {
                println!(
                    "session {n}: the browser asks for a keyframe on mid {mid} ({kind:?}): \
                     skipping to the file's next one"
                );
                if let Some(s) = server.session.lock().await.as_ref().filter(|s| s.n == n)
                    && let Some(t) = s.tracks.iter().find(|t| t.mid == mid.as_str())
                {
                    t.player.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    t.player.keyframe_wanted.store(true, Ordering::Relaxed);
                }
            }
            PeerEvent::DataChannelOpen { label, .. } => {
                println!("session {n}: channel {label:?} open")
            }
            PeerEvent::DataChannelClosed(id) => println!("session {n}: channel {id} closed"),
            PeerEvent::Message { data, .. } => {
                println!("session {n}: a message of {} bytes (ignored)", data.len())
            }
            PeerEvent::DtlsClosed => {
                println!("session {n}: the browser closed the connection")
            }
            PeerEvent::DtlsFailed(e) => eprintln!("session {n}: DTLS failed: {e}"),
            PeerEvent::IceConnectionStateChanged(s) => println!("session {n}: ICE {s:?}"),
            PeerEvent::SelectedCandidatePairChanged { remote, .. } => {
                println!("session {n}: using the browser's candidate {remote}")
            }
            PeerEvent::TrackEnded { mid } => println!("session {n}: mid {mid} ended"),
            PeerEvent::BitrateEstimate { bitrate_bps, .. } => {
                println!(
                    "session {n}: estimated {} kbit/s available",
                    bitrate_bps / 1000
                )
            }
            // Tracks are added while answering, in the same call: the answer carries them.
            PeerEvent::NegotiationNeeded => {}
            // Nothing is sent on the channel.
            PeerEvent::BufferedAmountLow(_) => {}
            PeerEvent::LocalCandidate(_)
            | PeerEvent::GatheringComplete
            | PeerEvent::DtlsConnected
            | PeerEvent::SctpConnected => {}
            other => println!("session {n}: {other:?}"),
        }
    }
}
