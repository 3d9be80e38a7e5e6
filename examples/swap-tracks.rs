//! swap-tracks: a browser sends two (or more) video tracks; kaon sends one track back that
//! switches between them every few seconds (Pion's example of that name).
//!
//! ```text
//! cargo run --example swap-tracks -- [--bind IP[:PORT]] [--udp ADDR] [--interval SECS]
//! ```
//!
//! Serves a page on `--bind` (default `127.0.0.1:8080`; port 0 picks one) that draws two
//! canvases, sends them as two video tracks (`POST /offer`, the offer as `application/sdp`, the
//! answer back) and plays what comes back. Sessions share one UDP socket (`--udp`, default the
//! HTTP address's IP, any port) through a [`kaon::peer::Router`] on one `kaon_tokio` driver.
//! Both take IPv6 as well: `--bind ::1` serves `http://[::1]:8080/` and holds the sessions on
//! `[::1]` (`examples/common/args.rs`).
//!
//! kaon answers with a track of its own on the first video line and forwards, at the RTP level,
//! one incoming track at a time to it. Every `--interval` seconds (default 3) it picks the next
//! incoming track, asks the browser for a keyframe of it (PLI), keeps forwarding the current one
//! until that keyframe starts, and then switches: from there the new track's packets go out,
//! their sequence numbers and timestamps rewritten to continue the outgoing stream
//! (`broadcast/rewrite.rs`), their SSRC, payload type and header extensions set by
//! [`write_rtp`]. The browser sees one stream whose picture changes at a keyframe.
//!
//! Prints each session's switches (and how long each keyframe took to come), what it forwarded,
//! and every error; Ctrl-C closes every session.
//!
//! [`write_rtp`]: kaon::peer::PeerConnection::write_rtp

#[path = "common/args.rs"]
mod args;
#[path = "broadcast/rewrite.rs"]
mod rewrite;
#[path = "common/router_server.rs"]
mod router_server;
#[path = "common/web.rs"]
mod web;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::media::codec::Codec;
use kaon::peer::{
    ConnectionState, LocalTrack, MediaEngine, PeerConfig, PeerConnection, PeerEvent, PeerId,
    Router, SdpType, TrackKind,
};
use kaon::sdp::SessionDescription;
use rewrite::{Rewriter, opens_keyframe};
use router_server::lock;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PAGE: &str = include_str!("swap-tracks/index.html");
const USAGE: &str = "usage: swap-tracks [--bind IP[:PORT]] [--udp ADDR] [--interval SECS]";
/// A switch waiting this long for its keyframe asks again (the PLI or the keyframe was lost).
const KEYFRAME_RETRY: Duration = Duration::from_millis(500);
/// A session not connected by then is reclaimed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a closing session stays in the router: DTLS close_notify has to leave.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

fn main() {
    if let Err(e) = run() {
        eprintln!("swap-tracks: {e}");
        std::process::exit(1);
    }
}

struct Args {
    server: args::ServerArgs,
    interval: Duration,
}

fn args() -> Result<Args> {
    let (server, interval) = args::ServerArgs::parse_seconds(USAGE, "--interval")?;
    let interval = interval.unwrap_or(Duration::from_secs(3));
    if !(0.5..=3600.0).contains(&interval.as_secs_f64()) {
        let s = interval.as_secs_f64();
        return Err(format!("--interval {s}: want 0.5 to 3600 seconds").into());
    }
    Ok(Args { server, interval })
}

/// One browser's session: its incoming tracks and the one going back.
#[derive(Debug)]
struct Session {
    n: u64,
    codec: Codec,
    /// The incoming video mids, in the offer's order.
    sources: Vec<String>,
    /// The timestamp of each source's previous packet (a new frame starts at a new one).
    prev_ts: Vec<Option<u32>>,
    /// The source being forwarded; `None` until its first keyframe.
    active: Option<usize>,
    /// The source to switch to at its next keyframe, when its keyframe was first asked for,
    /// and when last.
    pending: Option<(usize, Instant, Instant)>,
    out_mid: String,
    out_pt: u8,
    rewriter: Rewriter,
    connected: bool,
    connect_by: Instant,
    next_switch: Instant,
    remove_at: Option<Instant>,
    switches: u64,
    forwarded: u64,
    bytes: u64,
    keyframe_requests: u64,
}

struct Server {
    driver: kaon_tokio::Driver<Router>,
    sessions: Mutex<HashMap<PeerId, Session>>,
    next: AtomicU64,
    /// Packets `write_rtp` refused, over all sessions.
    errors: Arc<AtomicU64>,
    udp: SocketAddr,
    interval: Duration,
    http_stats: Arc<web::Stats>,
}

fn run() -> Result<()> {
    router_server::block_on(serve(args()?))
}

async fn serve(args: Args) -> Result<()> {
    let frame = router_server::start(&args.server).await?;
    let udp = frame.udp;
    let server = Arc::new(Server {
        driver: frame.driver,
        sessions: Mutex::default(),
        next: AtomicU64::new(1),
        errors: Arc::default(),
        udp,
        interval: args.interval,
        http_stats: Arc::default(),
    });
    println!(
        "every session on UDP {udp}; tracks swap every {:?}",
        args.interval
    );
    tokio::spawn(events(server.clone()));
    tokio::spawn(janitor(server.clone()));
    let (stats, driver) = (server.http_stats.clone(), &server.driver);
    router_server::serve_until_ctrl_c(frame.listener, stats, server.clone(), route, driver).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

async fn route(server: Arc<Server>, req: Request<Bytes>) -> web::Reply {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/" | "/index.html") => {
            web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE)
        }
        (&Method::POST, "/offer") => {
            let n = server.next.fetch_add(1, Ordering::Relaxed);
            match admit(&server, n, req.body()).await {
                Ok(answer) => web::reply(StatusCode::CREATED, "application/sdp", answer),
                Err((status, e)) => {
                    eprintln!("session {n}: offer refused ({status}): {e}");
                    web::text(status, e)
                }
            }
        }
        (_, "/" | "/index.html" | "/offer") => {
            web::text(StatusCode::METHOD_NOT_ALLOWED, "GET / or POST /offer")
        }
        _ => web::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Builds the session's PeerConnection, puts it in the router, and returns its answer.
async fn admit(
    server: &Server,
    n: u64,
    body: &[u8],
) -> std::result::Result<String, (StatusCode, String)> {
    let bad = |e: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, e.to_string());
    let internal = |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let text = std::str::from_utf8(body).map_err(|e| bad(&e))?;
    let offer = SessionDescription::parse(text).map_err(|e| bad(&e))?;
    // One video codec for every line: packets go back out unchanged, so what comes in on any
    // line must be what the outgoing line sends.
    let mut engine = MediaEngine::default();
    engine
        .codecs
        .retain(|c| c.kind == TrackKind::Video && c.name.eq_ignore_ascii_case("VP8"));
    let config = PeerConfig {
        media: Arc::new(engine),
        ..PeerConfig::default()
    };
    let mut pc = PeerConnection::new(config).map_err(|e| internal(&e))?;
    pc.add_local_address(server.udp).map_err(|e| internal(&e))?;
    pc.set_remote_description(SdpType::Offer, offer)
        .map_err(|e| bad(&e))?;
    let now = Instant::now();
    // add_track takes the first video line that can carry a track back (a sendrecv one).
    let out = pc
        .add_track(
            now,
            TrackKind::Video,
            LocalTrack::new("swapped", &["kaon-swap-tracks"]),
        )
        .map_err(|e| bad(&e))?;
    let answer = pc.create_answer(now).map_err(|e| bad(&e))?;
    pc.set_local_description(SdpType::Answer, answer.clone())
        .map_err(|e| bad(&e))?;
    let sources: Vec<String> = pc
        .transceivers()
        .filter(|(_, t)| t.kind() == TrackKind::Video && t.codecs().next().is_some())
        .filter_map(|(_, t)| Some(t.mid()?.to_string()))
        .collect();
    let (out_mid, out_pt) = pc
        .transceiver(out)
        .and_then(|t| Some((t.mid()?.to_string(), t.codecs().next()?.send_pt)))
        .ok_or_else(|| bad(&"the offer has no VP8 video line kaon can send on"))?;
    if sources.len() < 2 {
        return Err(bad(&format!(
            "the offer sends {} VP8 video track(s); swapping needs two or more",
            sources.len()
        )));
    }
    let id = router_server::insert(&server.driver, pc).await?;
    println!(
        "session {n}: answering from {}: incoming video on mids {}, swapped track out on mid \
         {out_mid}",
        server.udp,
        sources.join(", ")
    );
    lock(&server.sessions).insert(
        id,
        Session {
            n,
            codec: Codec::Vp8,
            prev_ts: vec![None; sources.len()],
            sources,
            active: None,
            pending: None,
            out_mid,
            out_pt,
            rewriter: Rewriter::new(90_000),
            connected: false,
            connect_by: now + CONNECT_TIMEOUT,
            next_switch: now,
            remove_at: None,
            switches: 0,
            forwarded: 0,
            bytes: 0,
            keyframe_requests: 0,
        },
    );
    Ok(answer.to_string())
}

async fn events(server: Arc<Server>) {
    while let Some((id, e)) = server.driver.next_event().await {
        on_event(&server, id, e);
    }
    eprintln!("the UDP driver stopped: no more sessions");
}

fn on_event(server: &Server, id: PeerId, e: PeerEvent) {
    let mut sessions = lock(&server.sessions);
    let Some(s) = sessions.get_mut(&id) else {
        return;
    };
    let n = s.n;
    match e {
        PeerEvent::Rtp { mid, packet } => forward(server, id, s, mid.as_str(), &packet),
        PeerEvent::ConnectionStateChanged(state) => {
            println!("session {n}: connection {state:?}");
            match state {
                ConnectionState::Connected => {
                    s.connected = true;
                    // The first source starts at its first keyframe.
                    s.next_switch = Instant::now() + server.interval;
                    switch_to(server, id, s, 0);
                }
                ConnectionState::Failed | ConnectionState::Closed => closing(server, id, s),
                _ => {}
            }
        }
        PeerEvent::Track(t) => println!(
            "session {n}: incoming {} on mid {} (ssrc {:#010x}, {})",
            t.kind,
            t.mid,
            t.ssrc,
            t.codec.mime_type()
        ),
        PeerEvent::KeyframeRequest { mid, kind } => {
            // The browser lost something of what we send: its source is the active one.
            println!("session {n}: the browser asks for a keyframe ({kind:?} on mid {mid})");
            if let Some(i) = s.active {
                ask_keyframe(server, id, s, i);
            }
        }
        PeerEvent::DtlsClosed => {
            println!("session {n}: the browser closed the connection");
            closing(server, id, s);
        }
        PeerEvent::DtlsFailed(e) => eprintln!("session {n}: DTLS failed: {e}"),
        PeerEvent::IceConnectionStateChanged(state) => println!("session {n}: ICE {state:?}"),
        PeerEvent::SelectedCandidatePairChanged { remote, .. } => {
            println!("session {n}: using the browser's candidate {remote}")
        }
        PeerEvent::TrackEnded { mid } => println!("session {n}: mid {mid} ended"),
        // add_track raises it while answering; the answer already carries the track.
        PeerEvent::NegotiationNeeded => {}
        PeerEvent::BitrateEstimate { bitrate_bps, .. } => {
            println!(
                "session {n}: estimated {} kbit/s available",
                bitrate_bps / 1000
            )
        }
        PeerEvent::LocalCandidate(_) | PeerEvent::GatheringComplete | PeerEvent::DtlsConnected => {}
        other => println!("session {n}: {other:?}"),
    }
}

/// One incoming packet: a pending switch happens at its source's keyframe; the active source's
/// packets go out rewritten.
fn forward(server: &Server, id: PeerId, s: &mut Session, mid: &str, packet: &[u8]) {
    let Some(i) = s.sources.iter().position(|m| m == mid) else {
        return;
    };
    let key = opens_keyframe(s.codec, packet, s.prev_ts[i]);
    if packet.len() >= 8 {
        s.prev_ts[i] = Some(u32::from_be_bytes([
            packet[4], packet[5], packet[6], packet[7],
        ]));
    }
    if key && let Some((to, asked, _)) = s.pending.filter(|(to, _, _)| *to == i) {
        let from = s
            .active
            .map_or("nothing".to_string(), |a| format!("mid {}", s.sources[a]));
        s.active = Some(to);
        s.pending = None;
        if from != "nothing" {
            s.switches += 1;
        }
        println!(
            "session {}: switched from {from} to mid {} at its keyframe, {} ms after asking \
             ({} switches)",
            s.n,
            s.sources[to],
            asked.elapsed().as_millis(),
            s.switches
        );
    }
    if s.active != Some(i) {
        return;
    }
    let mut buf = packet.to_vec();
    if !s.rewriter.rewrite(Instant::now(), &mut buf) {
        return;
    }
    buf[1] = (buf[1] & 0x80) | (s.out_pt & 0x7f);
    s.forwarded += 1;
    s.bytes += buf.len() as u64;
    let (out, n, errors) = (s.out_mid.clone(), s.n, server.errors.clone());
    server.driver.post(move |router, now| {
        let Some(mut pc) = router.get_mut(id) else {
            return;
        };
        if let Err(e) = pc.write_rtp(now, &out, &buf)
            && errors.fetch_add(1, Ordering::Relaxed) < 5
        {
            eprintln!("session {n}: a packet was refused: {e}");
        }
    });
}

/// Starts a switch to source `to`: asks for its keyframe; the switch happens when it comes.
fn switch_to(server: &Server, id: PeerId, s: &mut Session, to: usize) {
    let now = Instant::now();
    s.pending = Some((to, now, now));
    ask_keyframe(server, id, s, to);
}

fn ask_keyframe(server: &Server, id: PeerId, s: &mut Session, source: usize) {
    s.keyframe_requests += 1;
    let (mid, n) = (s.sources[source].clone(), s.n);
    server.driver.post(move |router, now| {
        if let Some(mut pc) = router.get_mut(id)
            && let Err(e) = pc.request_keyframe(now, &mid)
        {
            eprintln!("session {n}: asking for a keyframe on mid {mid}: {e}");
        }
    });
}

fn closing(server: &Server, id: PeerId, s: &mut Session) {
    if s.remove_at.is_some() {
        return;
    }
    s.remove_at = Some(Instant::now() + CLOSE_GRACE);
    println!(
        "session {}: closing after {} switches: forwarded {} packets ({} bytes), {} keyframe \
         requests",
        s.n, s.switches, s.forwarded, s.bytes, s.keyframe_requests
    );
    server.driver.post(move |router, now| {
        if let Some(mut pc) = router.get_mut(id) {
            pc.close(now);
        }
    });
}

/// Each connected session's losses and their repair: what its incoming tracks lost and NACK/RTX
/// got back, what the browser asked to have sent again on the swapped track.
async fn repairs(server: &Server) {
    let ids: Vec<(PeerId, u64)> = lock(&server.sessions)
        .iter()
        .filter(|(_, s)| s.connected && s.remove_at.is_none())
        .map(|(id, s)| (*id, s.n))
        .collect();
    let lines = server
        .driver
        .call(move |router, _| {
            let mut lines = Vec::new();
            for (id, n) in ids {
                let Some(pc) = router.get(id) else { continue };
                let (mut lost, mut repaired, mut nacks, mut resent) = (0i64, 0u64, 0u64, 0u64);
                for (_, t) in pc.transceivers() {
                    for (_, r) in t.receiver_stats() {
                        lost += r.packets_lost;
                        repaired += r.packets_repaired;
                    }
                    if let Some(x) = t.sender_stats() {
                        nacks += x.nack_count;
                        resent += x.retransmitted_packets_sent;
                    }
                }
                lines.push(format!(
                    "session {n}: repairs: incoming {lost} packets lost, {repaired} repaired by \
                     retransmission; outgoing {nacks} NACKs answered with {resent} \
                     retransmissions"
                ));
            }
            lines
        })
        .await
        .unwrap_or_default();
    for l in lines {
        println!("{l}");
    }
}

/// Four times a second: starts due switches, asks again for keyframes that did not come,
/// reclaims sessions that did not connect and removes closed ones; a progress line a second.
async fn janitor(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        ticks += 1;
        let now = Instant::now();
        let mut gone = Vec::new();
        {
            let mut sessions = lock(&server.sessions);
            for (&id, s) in sessions.iter_mut() {
                if s.remove_at.is_some_and(|at| at <= now) {
                    gone.push(id);
                    continue;
                }
                if s.remove_at.is_some() {
                    continue;
                }
                if !s.connected {
                    if s.connect_by <= now {
                        println!("session {}: reclaimed: not connected in time", s.n);
                        closing(&server, id, s);
                    }
                    continue;
                }
                match s.pending {
                    Some((to, first, last)) if now.duration_since(last) >= KEYFRAME_RETRY => {
                        s.pending = Some((to, first, now));
                        ask_keyframe(&server, id, s, to);
                    }
                    Some(_) => {}
                    None if now >= s.next_switch => {
                        s.next_switch = now + server.interval;
                        let to = s.active.map_or(0, |a| (a + 1) % s.sources.len());
                        switch_to(&server, id, s, to);
                    }
                    None => {}
                }
                if ticks.is_multiple_of(4) {
                    println!(
                        "session {}: on mid {}, {} switches, forwarded {} packets ({} bytes), \
                         {} keyframe requests, {} refused",
                        s.n,
                        s.active.map_or("-", |a| s.sources[a].as_str()),
                        s.switches,
                        s.forwarded,
                        s.bytes,
                        s.keyframe_requests,
                        server.errors.load(Ordering::Relaxed)
                    );
                }
            }
            for id in &gone {
                sessions.remove(id);
            }
        }
        router_server::remove(&server.driver, gone);
        if ticks.is_multiple_of(4) {
            repairs(&server).await;
            server.http_stats.report();
        }
    }
}
