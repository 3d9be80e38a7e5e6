//! broadcast: one browser publishes its camera, any number of browsers watch it (Pion's example
//! of that name).
//!
//! ```text
//! cargo run --example broadcast -- [--bind IP[:PORT]] [--udp ADDR] [--connect-timeout SECS]
//! ```
//!
//! Serves a page on `--bind` (default `127.0.0.1:8080`; port 0 picks one) with two buttons:
//! **Publish** sends the tab's camera to kaon (`POST /publish`, the offer as `application/sdp`,
//! the answer back), **Join** receives the broadcast (`POST /view`); `?role=publish` or
//! `?role=view` starts without a click. Every session shares one UDP socket (`--udp`, default
//! the HTTP address's IP, any port) through a [`kaon::peer::Router`] on one `kaon_tokio`
//! driver. Both take IPv6 as well: `--bind ::1` serves `http://[::1]:8080/` and holds the
//! sessions on `[::1]` (`examples/common/args.rs`).
//!
//! kaon forwards at the RTP level: each packet the publisher sends (after SRTP, NACK repair and
//! RTX unwrapping) goes to every connected viewer with [`PeerConnection::write_rtp`], which puts
//! the viewer's SSRC and header extensions on it; the example sets the viewer's payload type
//! for the codec and keeps sequence numbers and timestamps continuous across publishers
//! (`broadcast/rewrite.rs`). Each viewer's own NACK, RTX, reports and congestion feedback run
//! inside its connection. A viewer gets nothing until a keyframe starts, and when one joins
//! (or asks for a keyframe itself) kaon sends a PLI upstream to the publisher, at most one a
//! second: a late joiner starts within a round trip instead of waiting for the encoder's next
//! periodic keyframe.
//!
//! Prints every session's progress and, each second something changed, a summary: publishers,
//! viewers, packets and bytes forwarded, keyframe requests sent upstream. Ctrl-C closes every
//! session.
//!
//! [`PeerConnection::write_rtp`]: kaon::peer::PeerConnection::write_rtp

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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::media::codec::Codec;
use kaon::peer::{
    Codec as SdpCodec, ConnectionState, LocalTrack, MediaEngine, PeerConfig, PeerConnection,
    PeerEvent, PeerId, Router, SdpType, TrackKind,
};
use kaon::sdp::SessionDescription;
use rewrite::{Rewriter, codec_of, opens_keyframe};
use router_server::lock;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PAGE: &str = include_str!("broadcast/index.html");
const USAGE: &str = "usage: broadcast [--bind IP[:PORT]] [--udp ADDR] [--connect-timeout SECS]";
/// At most one keyframe request upstream this often, however many viewers join or ask: one
/// keyframe serves them all.
const KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);
/// How long a closing session stays in the router: DTLS close_notify has to leave.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Errors printed one by one before they are only counted.
const ERRORS_SHOWN: u64 = 5;

fn main() {
    if let Err(e) = run() {
        eprintln!("broadcast: {e}");
        std::process::exit(1);
    }
}

struct Args {
    server: args::ServerArgs,
    connect_timeout: Duration,
}

fn args() -> Result<Args> {
    let (server, timeout) = args::ServerArgs::parse_seconds(USAGE, "--connect-timeout")?;
    Ok(Args {
        server,
        connect_timeout: timeout.unwrap_or(Duration::from_secs(15)),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publisher,
    Viewer,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        })
    }
}

#[derive(Debug)]
struct Session {
    /// A number for the log.
    n: u64,
    role: Role,
    /// The video mid: the publisher's incoming one, or the viewer's outgoing one.
    mid: String,
    /// The viewer's payload type for the broadcast's codec.
    pt: u8,
    connected: bool,
    /// When it is reclaimed if not connected by then.
    connect_by: Instant,
    /// When a closing session leaves the router.
    remove_at: Option<Instant>,
}

/// A connected viewer, as the forwarding sees it.
#[derive(Debug)]
struct Viewer {
    id: PeerId,
    n: u64,
    mid: String,
    pt: u8,
    /// It has had the start of a keyframe: deltas before that would be undecodable.
    started: bool,
    /// When it joined or last waited in vain for a keyframe.
    since: Instant,
}

/// The broadcast's codec, as the publisher's answer negotiated it.
#[derive(Debug, Clone)]
struct BroadcastCodec {
    name: String,
    /// As negotiated with the publisher: viewers get the same bitstream (name, profile,
    /// packetization mode).
    codec: SdpCodec,
}

/// What the forwarding owns; locked per forwarded packet on the driver task.
#[derive(Debug)]
struct Forward {
    viewers: Vec<Viewer>,
    rewriter: Rewriter,
    codec: Option<Codec>,
    /// The timestamp of the publisher's previous packet (a new frame starts at a new one).
    prev_ts: Option<u32>,
    packets: u64,
    bytes: u64,
    errors: u64,
    /// Packets a viewer did not get because it waits for a keyframe.
    held: u64,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<PeerId, Session>,
    publisher: Option<PeerId>,
    codec: Option<BroadcastCodec>,
    next: u64,
    /// Keyframe requests sent upstream, and when the last one went.
    keyframe_requests: u64,
    last_request: Option<Instant>,
    /// A request is owed (a viewer joined within the interval of the last one).
    request_owed: bool,
    /// The summary and repair lines last printed, so an idle server stays quiet.
    last_summary: String,
    last_repairs: String,
}

struct Server {
    driver: kaon_tokio::Driver<Router>,
    state: Mutex<State>,
    forward: Arc<Mutex<Forward>>,
    udp: SocketAddr,
    connect_timeout: Duration,
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
        state: Mutex::default(),
        forward: Arc::new(Mutex::new(Forward {
            viewers: Vec::new(),
            rewriter: Rewriter::new(90_000),
            codec: None,
            prev_ts: None,
            packets: 0,
            bytes: 0,
            errors: 0,
            held: 0,
        })),
        udp,
        connect_timeout: args.connect_timeout,
        http_stats: Arc::default(),
    });
    println!("every session on UDP {udp}");

    tokio::spawn(events(server.clone()));
    tokio::spawn(janitor(server.clone()));
    let (stats, driver) = (server.http_stats.clone(), &server.driver);
    router_server::serve_until_ctrl_c(frame.listener, stats, server.clone(), route, driver).await?;
    summary(&server, true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

async fn route(server: Arc<Server>, req: Request<Bytes>) -> web::Reply {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/" | "/index.html") => {
            web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE)
        }
        (&Method::POST, "/publish") => offer(&server, Role::Publisher, req.body()).await,
        (&Method::POST, "/view") => offer(&server, Role::Viewer, req.body()).await,
        (_, "/" | "/index.html" | "/publish" | "/view") => web::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET /, POST /publish or POST /view",
        ),
        _ => web::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// `POST /publish` or `POST /view`: a session for the offer, and its answer.
async fn offer(server: &Server, role: Role, body: &[u8]) -> web::Reply {
    let n = {
        let mut s = lock(&server.state);
        s.next += 1;
        s.next
    };
    match admit(server, n, role, body).await {
        Ok(answer) => web::reply(StatusCode::CREATED, "application/sdp", answer),
        Err((status, e)) => {
            eprintln!("{role} {n}: offer refused ({status}): {e}");
            web::text(status, e)
        }
    }
}

type Refusal = (StatusCode, String);

/// The engine of a session: the publisher may send any video codec kaon knows; a viewer gets
/// exactly the publisher's, since packets go to it unchanged.
fn engine(codec: Option<&BroadcastCodec>) -> MediaEngine {
    let mut engine = MediaEngine::default();
    engine.codecs.retain(|c| match codec {
        None => c.kind == TrackKind::Video && codec_of(&c.name).is_some(),
        Some(b) => c.matches(&b.codec),
    });
    engine
}

/// Builds the session's PeerConnection, puts it in the router, and returns its answer.
async fn admit(
    server: &Server,
    n: u64,
    role: Role,
    body: &[u8],
) -> std::result::Result<String, Refusal> {
    let bad = |e: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, e.to_string());
    let conflict = |e: &str| (StatusCode::CONFLICT, e.to_string());
    let text = std::str::from_utf8(body).map_err(|e| bad(&e))?;
    let offer = SessionDescription::parse(text).map_err(|e| bad(&e))?;
    let codec = {
        let s = lock(&server.state);
        match role {
            Role::Publisher if s.publisher.is_some() => {
                return Err(conflict("a broadcast is already being published"));
            }
            Role::Viewer if s.codec.is_none() => {
                return Err(conflict("nothing is being broadcast yet: publish first"));
            }
            _ => s.codec.clone(),
        }
    };
    let config = PeerConfig {
        media: Arc::new(engine(codec.as_ref().filter(|_| role == Role::Viewer))),
        ..PeerConfig::default()
    };
    let internal = |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let mut pc = PeerConnection::new(config).map_err(|e| internal(&e))?;
    pc.add_local_address(server.udp).map_err(|e| internal(&e))?;
    pc.set_remote_description(SdpType::Offer, offer)
        .map_err(|e| bad(&e))?;
    let now = Instant::now();
    if role == Role::Viewer {
        let track = LocalTrack::new("broadcast", &["kaon-broadcast"]);
        pc.add_track(now, TrackKind::Video, track)
            .map_err(|e| bad(&e))?;
    }
    let answer = pc.create_answer(now).map_err(|e| bad(&e))?;
    pc.set_local_description(SdpType::Answer, answer.clone())
        .map_err(|e| bad(&e))?;
    // The video line, and the codec on it: the first the answer lists, which the publisher
    // sends with; for a viewer, the broadcast's.
    let video = pc
        .transceivers()
        .find(|(_, t)| t.kind() == TrackKind::Video && t.mid().is_some())
        .and_then(|(_, t)| Some((t.mid()?.to_string(), t.codecs().next()?.clone())));
    let Some((mid, negotiated)) = video else {
        return Err(bad(&format!(
            "the offer has no video line kaon can take{}",
            codec
                .as_ref()
                .filter(|_| role == Role::Viewer)
                .map_or(String::new(), |c| format!(
                    " with {} (the broadcast's codec)",
                    c.name
                ))
        )));
    };
    let Some(format) = codec_of(&negotiated.codec.name) else {
        return Err(bad(&format!(
            "{} is no codec kaon forwards",
            negotiated.codec.name
        )));
    };

    let session = Session {
        n,
        role,
        mid: mid.clone(),
        pt: negotiated.send_pt,
        connected: false,
        connect_by: now + server.connect_timeout,
        remove_at: None,
    };
    let id = router_server::insert(&server.driver, pc).await?;
    {
        let mut s = lock(&server.state);
        if role == Role::Publisher {
            if s.publisher.is_some() {
                // Another publisher won the race while this one was being built.
                drop(s);
                server.driver.post(move |router, _| {
                    router.remove(id);
                });
                return Err(conflict("a broadcast is already being published"));
            }
            s.publisher = Some(id);
            s.codec = Some(BroadcastCodec {
                name: negotiated.codec.name.clone(),
                codec: negotiated.codec.clone(),
            });
            lock(&server.forward).codec = Some(format);
        }
        s.sessions.insert(id, session);
    }
    println!(
        "{role} {n}: answering from {} ({} on mid {mid})",
        server.udp, negotiated.codec.name
    );
    Ok(answer.to_string())
}

/// Reacts to every session's events.
async fn events(server: Arc<Server>) {
    while let Some((id, e)) = server.driver.next_event().await {
        on_event(&server, id, e);
    }
    eprintln!("the UDP driver stopped: no more sessions");
}

fn on_event(server: &Server, id: PeerId, e: PeerEvent) {
    // The packets of the broadcast: the hot path, without the session table's lock.
    if let PeerEvent::Rtp { packet, .. } = e {
        forward(server, id, packet);
        return;
    }
    let mut s = lock(&server.state);
    let Some(session) = s.sessions.get_mut(&id) else {
        return;
    };
    let (n, role) = (session.n, session.role);
    match e {
        PeerEvent::ConnectionStateChanged(state) => match state {
            ConnectionState::Connected => {
                session.connected = true;
                let mid = session.mid.clone();
                let pt = session.pt;
                if role == Role::Viewer {
                    let viewers = {
                        let mut f = lock(&server.forward);
                        f.viewers.push(Viewer {
                            id,
                            n,
                            mid,
                            pt,
                            started: false,
                            since: Instant::now(),
                        });
                        f.viewers.len()
                    };
                    println!("viewer {n}: connected ({viewers} watching); asking for a keyframe");
                    request_keyframe(server, &mut s);
                } else {
                    println!("publisher {n}: connected");
                }
            }
            ConnectionState::Failed | ConnectionState::Closed => {
                println!("{role} {n}: connection {state:?}");
                closing(server, &mut s, id);
            }
            ConnectionState::Disconnected => println!(
                "{role} {n}: disconnected (nothing heard for a while; it fails if consent runs \
                 out)"
            ),
            ConnectionState::New | ConnectionState::Connecting => println!("{role} {n}: {state:?}"),
        },
        PeerEvent::Track(t) => {
            println!(
                "{role} {n}: incoming {} on mid {} (ssrc {:#010x}, {})",
                t.kind,
                t.mid,
                t.ssrc,
                t.codec.mime_type()
            );
            if role == Role::Viewer {
                println!("{role} {n}: a viewer's media is not forwarded");
            }
        }
        PeerEvent::KeyframeRequest { mid, kind } => {
            if role == Role::Viewer {
                println!("viewer {n}: asks for a keyframe ({kind:?} on mid {mid})");
                request_keyframe(server, &mut s);
            }
        }
        PeerEvent::TrackEnded { mid } => println!("{role} {n}: mid {mid} ended"),
        PeerEvent::DtlsConnected => println!("{role} {n}: DTLS connected"),
        PeerEvent::DtlsFailed(e) => eprintln!("{role} {n}: DTLS failed: {e}"),
        PeerEvent::DtlsClosed => {
            println!("{role} {n}: the browser closed the connection");
            closing(server, &mut s, id);
        }
        PeerEvent::IceConnectionStateChanged(state) => println!("{role} {n}: ICE {state:?}"),
        PeerEvent::SelectedCandidatePairChanged { remote, .. } => {
            println!("{role} {n}: using the browser's candidate {remote}")
        }
        // A viewer's add_track raises it while answering; the answer already carries the track,
        // and sessions are never renegotiated (one offer each).
        PeerEvent::NegotiationNeeded => {}
        PeerEvent::BitrateEstimate { bitrate_bps, .. } => {
            if role == Role::Viewer {
                println!(
                    "viewer {n}: estimated {} kbit/s available",
                    bitrate_bps / 1000
                );
            }
        }
        // The answer carries the one host candidate this server has; nothing to trickle.
        PeerEvent::LocalCandidate(_) | PeerEvent::GatheringComplete => {}
        other => println!("{role} {n}: {other:?}"),
    }
}

/// One packet of the publisher to every viewer that has had a keyframe. Runs on the driver
/// task: one copy of the packet, rewritten in place for each viewer.
fn forward(server: &Server, from: PeerId, packet: Bytes) {
    if lock(&server.state).publisher != Some(from) {
        return;
    }
    let forward = server.forward.clone();
    server.driver.post(move |router, now| {
        let mut f = lock(&forward);
        let mut buf = packet.to_vec();
        if !f.rewriter.rewrite(now, &mut buf) {
            return;
        }
        let Some(codec) = f.codec else { return };
        let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let key = opens_keyframe(codec, &buf, f.prev_ts);
        f.prev_ts = Some(ts);
        let Forward {
            viewers,
            packets,
            bytes,
            errors,
            held,
            ..
        } = &mut *f;
        for v in viewers.iter_mut() {
            if !v.started {
                if !key {
                    *held += 1;
                    continue;
                }
                v.started = true;
                println!(
                    "viewer {}: starts at a keyframe, {} ms after joining",
                    v.n,
                    now.saturating_duration_since(v.since).as_millis()
                );
            }
            let Some(mut pc) = router.get_mut(v.id) else {
                continue;
            };
            // The viewer's number for the codec: browsers agree on most, not all.
            buf[1] = (buf[1] & 0x80) | (v.pt & 0x7f);
            match pc.write_rtp(now, &v.mid, &buf) {
                Ok(()) => {
                    *packets += 1;
                    *bytes += buf.len() as u64;
                }
                Err(e) => {
                    *errors += 1;
                    if *errors <= ERRORS_SHOWN {
                        eprintln!("viewer {}: a packet was refused: {e}", v.n);
                    }
                }
            }
        }
    });
}

/// Asks the publisher for a keyframe now, or owes it one if the last request was too recent.
fn request_keyframe(server: &Server, s: &mut State) {
    let now = Instant::now();
    if s.last_request
        .is_some_and(|at| now.duration_since(at) < KEYFRAME_INTERVAL)
    {
        s.request_owed = true;
        return;
    }
    let Some(id) = s.publisher else { return };
    let Some(mid) = s.sessions.get(&id).map(|p| p.mid.clone()) else {
        return;
    };
    s.last_request = Some(now);
    s.request_owed = false;
    s.keyframe_requests += 1;
    server.driver.post(move |router, now| {
        if let Some(mut pc) = router.get_mut(id)
            && let Err(e) = pc.request_keyframe(now, &mid)
        {
            eprintln!("asking the publisher for a keyframe: {e}");
        }
    });
}

/// Starts closing a session (once) and schedules its removal from the router.
fn closing(server: &Server, s: &mut State, id: PeerId) {
    let Some(session) = s.sessions.get_mut(&id) else {
        return;
    };
    if session.remove_at.is_some() {
        return;
    }
    session.remove_at = Some(Instant::now() + CLOSE_GRACE);
    let (n, role) = (session.n, session.role);
    match role {
        Role::Viewer => {
            let mut f = lock(&server.forward);
            f.viewers.retain(|v| v.id != id);
            println!("viewer {n}: left ({} watching)", f.viewers.len());
        }
        Role::Publisher => {
            s.publisher = None;
            println!(
                "publisher {n}: left; viewers stay and get the next publisher's video (same \
                 codec)"
            );
        }
    }
    server.driver.post(move |router, now| {
        if let Some(mut pc) = router.get_mut(id) {
            pc.close(now);
        }
    });
}

/// A line with the totals; printed when they changed (or always, with `force`).
fn summary(server: &Server, force: bool) {
    let mut s = lock(&server.state);
    let (viewers, waiting, packets, bytes, errors, held, splices) = {
        let f = lock(&server.forward);
        (
            f.viewers.len(),
            f.viewers.iter().filter(|v| !v.started).count(),
            f.packets,
            f.bytes,
            f.errors,
            f.held,
            f.rewriter.splices,
        )
    };
    let line = format!(
        "broadcast: {} publisher, {viewers} viewers ({waiting} waiting for a keyframe), \
         forwarded {packets} packets ({bytes} bytes), {} keyframe requests upstream, {held} \
         packets held back, {splices} publisher changes, {errors} errors",
        usize::from(s.publisher.is_some()),
        s.keyframe_requests
    );
    if force || line != s.last_summary {
        println!("{line}");
        s.last_summary = line;
    }
}

/// Losses and their repair, printed when they changed: what the publisher's stream lost on
/// its way in and how much NACK/RTX got back, and what viewers asked to have sent again.
async fn repairs(server: &Server) {
    let (publisher, viewers) = {
        let s = lock(&server.state);
        let viewers: Vec<PeerId> = lock(&server.forward).viewers.iter().map(|v| v.id).collect();
        (s.publisher, viewers)
    };
    let Some(totals) = server
        .driver
        .call(move |router, _| {
            let (mut lost, mut repaired, mut nacks_sent) = (0i64, 0u64, 0u64);
            if let Some(pc) = publisher.and_then(|id| router.get(id)) {
                for (_, t) in pc.transceivers() {
                    for (_, r) in t.receiver_stats() {
                        lost += r.packets_lost;
                        repaired += r.packets_repaired;
                        nacks_sent += r.nack_count;
                    }
                }
            }
            let (mut nacks, mut resent) = (0u64, 0u64);
            for id in viewers {
                let Some(pc) = router.get(id) else { continue };
                for x in pc.transceivers().filter_map(|(_, t)| t.sender_stats()) {
                    nacks += x.nack_count;
                    resent += x.retransmitted_packets_sent;
                }
            }
            (lost, repaired, nacks_sent, nacks, resent)
        })
        .await
    else {
        return;
    };
    let (lost, repaired, nacks_sent, nacks, resent) = totals;
    let line = format!(
        "repairs: from the publisher {lost} packets lost, {repaired} repaired by retransmission \
         ({nacks_sent} NACKs sent); to the viewers {nacks} NACKs answered with {resent} \
         retransmissions"
    );
    let mut s = lock(&server.state);
    if line != s.last_repairs {
        println!("{line}");
        s.last_repairs = line;
    }
}

/// Four times a second: pays owed keyframe requests, asks again for viewers still waiting for
/// one, reclaims sessions that did not connect, removes closed ones; prints the summary each
/// second.
async fn janitor(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        ticks += 1;
        let now = Instant::now();
        let mut gone = Vec::new();
        {
            let mut s = lock(&server.state);
            // A viewer whose keyframe request was lost (or whose keyframe was) asks again.
            let stuck = lock(&server.forward)
                .viewers
                .iter()
                .any(|v| !v.started && now.duration_since(v.since) > KEYFRAME_INTERVAL);
            if s.request_owed || stuck {
                request_keyframe(&server, &mut s);
            }
            let mut late = Vec::new();
            for (&id, session) in &s.sessions {
                match session.remove_at {
                    Some(at) if at <= now => gone.push(id),
                    None if !session.connected && session.connect_by <= now => late.push(id),
                    _ => {}
                }
            }
            for id in late {
                if let Some(x) = s.sessions.get(&id) {
                    println!(
                        "{} {}: reclaimed: not connected within {:?}",
                        x.role, x.n, server.connect_timeout
                    );
                }
                closing(&server, &mut s, id);
            }
            for id in &gone {
                s.sessions.remove(id);
            }
        }
        router_server::remove(&server.driver, gone);
        if ticks.is_multiple_of(4) {
            summary(&server, false);
            repairs(&server).await;
            server.http_stats.report();
        }
    }
}
