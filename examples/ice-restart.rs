//! ice-restart: restart ICE on demand while a data channel keeps working (Pion's example of that
//! name, RFC 8445 §9, RFC 8839 §4.4.1.1.1).
//!
//! ```text
//! cargo run --example ice-restart -- serve [HTTP_ADDR] [--udp ADDR]... [limits]
//! cargo run --example ice-restart -- connect URL [--udp ADDR]... [--restarts N] [--interval-ms N]
//! ```
//!
//! An ICE restart gives a connection new ICE credentials and gathers and checks candidates
//! again, as an application does when the network changed (Wi-Fi to cellular, a VPN coming up).
//! DTLS and SCTP stay as they are: the old pair carries the data until the new checks select a
//! pair, so the channel and everything queued on it survive.
//!
//! **`serve`** (HTTP on `127.0.0.1:8080` unless given; `--udp` may be repeated, default
//! `127.0.0.1:0`) holds every session on one socket per address through a
//! [`kaon::peer::Router`], which follows a session to its new ufrag after a restart.
//! `GET /` is a page that does the client's part in a browser, with an "ICE restart" button.
//! `POST /session` with an offer answers it (`201`, `Location: /session/<token>`, a random
//! token that is the session's only credential); `POST /session/<token>` with a later offer (a
//! restart) answers that (`200`); `DELETE /session/<token>` closes the session. Sessions are
//! capped (`--max-sessions`, default 100, `503` with `Retry-After` past it), reclaimed if not
//! connected within `--connect-timeout SECS` (default 15), and removed when they fail or their
//! peer closes them. Each greets the client's channel and echoes what it says.
//!
//! **`connect URL`** is a kaon client: a channel "chat" that sends a numbered message every
//! `--interval-ms` (default 200) and checks each echo arrives, in order. It restarts ICE
//! `--restarts N` times, once every 5 messages, or, with `--restarts 0` (the default), whenever
//! a line `restart` is typed on standard input. Each restart prints the new ufrag, the ICE
//! states it goes through and the pair selected after it; at the end the client checks that no
//! message was lost, closes, and exits 0.

#[path = "common/web.rs"]
mod web;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::ice::IceState;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, PeerId, Router, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::Driver;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The page: the client's part in a browser.
const PAGE: &str = include_str!("ice-restart/index.html");

const USAGE: &str = "usage: ice-restart serve [HTTP_ADDR] [--udp ADDR]... [--max-sessions N] \
                     [--connect-timeout SECS] [--max-connections N] [--header-timeout SECS]
       ice-restart connect URL [--udp ADDR]... [--restarts N] [--interval-ms N]";

/// How long a closing session stays in the router for its SCTP SHUTDOWN and close_notify.
const CLOSE_GRACE: Duration = Duration::from_secs(4);
/// Messages between two automatic restarts.
const RESTART_EVERY: u64 = 5;

fn main() {
    if let Err(e) = run() {
        eprintln!("ice-restart: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or(USAGE)?;
    let mut target = None;
    let mut udp = Vec::new();
    let mut limits = web::Limits::default();
    let (mut max_sessions, mut connect_timeout) = (100, Duration::from_secs(15));
    let (mut restarts, mut interval) = (0u64, Duration::from_millis(200));
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        let bad = |v: &str, e: &dyn std::fmt::Display| format!("{arg} {v:?}: {e}");
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--udp" => {
                let v = value()?;
                udp.push(v.parse().map_err(|e| bad(&v, &e))?);
            }
            "--max-sessions" | "--max-connections" | "--restarts" | "--interval-ms" => {
                let v = value()?;
                let n: u64 = v.parse().map_err(|e| bad(&v, &e))?;
                match arg.as_str() {
                    "--max-sessions" => max_sessions = n as usize,
                    "--max-connections" => limits.max_connections = n as usize,
                    "--restarts" => restarts = n,
                    _ => interval = Duration::from_millis(n.max(1)),
                }
            }
            "--connect-timeout" | "--header-timeout" => {
                let v = value()?;
                let secs: f64 = v.parse().map_err(|e| bad(&v, &e))?;
                let d = Duration::try_from_secs_f64(secs).map_err(|e| bad(&v, &e))?;
                match arg.as_str() {
                    "--connect-timeout" => connect_timeout = d,
                    _ => limits.header_timeout = d,
                }
            }
            a if !a.starts_with('-') && target.is_none() => target = Some(a.to_string()),
            other => return Err(format!("unknown option {other}\n{USAGE}").into()),
        }
    }
    if udp.is_empty() {
        udp.push(SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    if let Some(a) = udp.iter().find(|a| a.ip().is_unspecified()) {
        return Err(format!(
            "--udp {a}: give an address the peer reaches, not an unspecified one (it becomes an \
             ICE candidate)"
        )
        .into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match mode.as_str() {
        "serve" => {
            let http = target.unwrap_or_else(|| "127.0.0.1:8080".into());
            let opts = ServeOptions {
                udp,
                max_sessions,
                connect_timeout,
                limits,
            };
            runtime.block_on(serve(&http, opts))
        }
        "connect" => {
            let url = target.ok_or(format!("connect needs a URL\n{USAGE}"))?;
            runtime.block_on(connect(url.trim_end_matches('/'), &udp, restarts, interval))
        }
        _ => Err(USAGE.into()),
    }
}

/// Binds one UDP socket per address.
async fn bind(addrs: &[SocketAddr]) -> Result<(Vec<tokio::net::UdpSocket>, Vec<SocketAddr>)> {
    let (mut sockets, mut locals) = (Vec::new(), Vec::new());
    for a in addrs {
        let s = tokio::net::UdpSocket::bind(a)
            .await
            .map_err(|e| format!("bind the UDP socket on {a}: {e}"))?;
        locals.push(s.local_addr()?);
        sockets.push(s);
    }
    Ok((sockets, locals))
}

/// The offer in a request body, checked to be SDP.
fn sdp(body: &[u8]) -> std::result::Result<SessionDescription, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    SessionDescription::parse(text).map_err(|e| e.to_string())
}

// ---- serve ----

struct ServeOptions {
    udp: Vec<SocketAddr>,
    max_sessions: usize,
    connect_timeout: Duration,
    limits: web::Limits,
}

struct Session {
    n: u64,
    id: PeerId,
    token: String,
    connected: AtomicBool,
    closing: AtomicBool,
}

#[derive(Default)]
struct Tables {
    by_token: HashMap<String, Arc<Session>>,
    by_peer: HashMap<PeerId, Arc<Session>>,
    /// (reclaim deadline, peer), in order: one constant timeout makes it sorted.
    connect_due: VecDeque<(Instant, PeerId)>,
    /// (removal time, peer) of closing sessions, in order.
    close_due: VecDeque<(Instant, PeerId)>,
    next: u64,
}

impl Tables {
    fn forget(&mut self, id: PeerId) -> Option<Arc<Session>> {
        let s = self.by_peer.remove(&id)?;
        self.by_token.remove(&s.token);
        Some(s)
    }
}

struct Server {
    driver: Driver<Router>,
    tables: Mutex<Tables>,
    locals: Vec<SocketAddr>,
    opts: ServeOptions,
    refused: AtomicU64,
    http_stats: Arc<web::Stats>,
}

impl Server {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn serve(http: &str, opts: ServeOptions) -> Result<()> {
    let listener = web::listen(http).await?;
    let (sockets, locals) = bind(&opts.udp).await?;
    let driver = Driver::spawn(Router::new(), sockets)?;
    println!(
        "ice-restart: signalling on http://{}",
        listener.local_addr()?
    );
    let shown: Vec<String> = locals.iter().map(ToString::to_string).collect();
    println!("every session on UDP {}", shown.join(", "));
    let server = Arc::new(Server {
        driver,
        tables: Mutex::default(),
        locals,
        opts,
        refused: AtomicU64::new(0),
        http_stats: Arc::default(),
    });
    tokio::spawn(events(server.clone()));
    tokio::spawn(janitor(server.clone()));
    let handler = {
        let server = server.clone();
        move |req| route(server.clone(), req)
    };
    let limits = server.opts.limits.clone();
    let http = web::serve(listener, limits, server.http_stats.clone(), handler);
    tokio::select! {
        () = http => Err("the HTTP server stopped".into()),
        r = tokio::signal::ctrl_c() => {
            r?;
            let ids: Vec<PeerId> = server.tables().by_peer.keys().copied().collect();
            println!("closing {} sessions", ids.len());
            server.driver.call(move |router, now| {
                for id in ids {
                    if let Some(mut pc) = router.get_mut(id) {
                        pc.close(now);
                    }
                }
            }).await;
            tokio::time::sleep(CLOSE_GRACE).await;
            Ok(())
        }
    }
}

async fn route(server: Arc<Server>, req: Request<Bytes>) -> web::Reply {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let session = |token: &str| server.tables().by_token.get(token).cloned();
    match (req.method(), parts.as_slice()) {
        (&Method::GET, [""]) => web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        (&Method::POST, ["session"]) => offer(&server, req.body()).await,
        (&Method::POST, ["session", token]) => match session(token) {
            Some(s) => reoffer(&server, &s, req.body()).await,
            None => web::text(StatusCode::NOT_FOUND, "no such session"),
        },
        (&Method::DELETE, ["session", token]) => match session(token) {
            Some(s) => {
                closing(&server, s.id, "the client deleted it");
                web::reply(StatusCode::NO_CONTENT, "text/plain", "")
            }
            None => web::text(StatusCode::NOT_FOUND, "no such session"),
        },
        _ => web::text(
            StatusCode::NOT_FOUND,
            "POST /session, POST or DELETE /session/<token>",
        ),
    }
}

/// A random token of 128 bits, in hex: the session's only credential.
fn token() -> Result<String> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| "no randomness from the system")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// `POST /session`: a new session for a first offer.
async fn offer(server: &Arc<Server>, body: &[u8]) -> web::Reply {
    let n = {
        let mut t = server.tables();
        if t.by_peer.len() >= server.opts.max_sessions {
            server.refused.fetch_add(1, Ordering::Relaxed);
            let wait = t.connect_due.front().map_or(1, |(due, _)| {
                due.saturating_duration_since(Instant::now()).as_secs() + 1
            });
            return web::busy(
                wait,
                format!("{} sessions; retry in {wait} s", t.by_peer.len()),
            );
        }
        t.next += 1;
        t.next
    };
    let made = (|| {
        let offer = sdp(body)?;
        let mut pc = PeerConnection::new(PeerConfig::default()).map_err(|e| e.to_string())?;
        for a in &server.locals {
            pc.add_local_address(*a).map_err(|e| format!("{a}: {e}"))?;
        }
        pc.set_remote_description(SdpType::Offer, offer)
            .map_err(|e| e.to_string())?;
        let answer = pc
            .create_answer(Instant::now())
            .map_err(|e| e.to_string())?;
        pc.set_local_description(SdpType::Answer, answer.clone())
            .map_err(|e| e.to_string())?;
        let token = token().map_err(|e| e.to_string())?;
        Ok::<_, String>((pc, answer.to_string(), token))
    })();
    let (pc, answer, token) = match made {
        Ok(x) => x,
        Err(e) => {
            eprintln!("session {n}: offer refused: {e}");
            return web::text(StatusCode::BAD_REQUEST, e);
        }
    };
    // In the router (and recorded, so its events find it) before the answer leaves.
    let (srv, tok) = (server.clone(), token.clone());
    let due = Instant::now() + server.opts.connect_timeout;
    let inserted = server
        .driver
        .call(move |router, _| {
            let id = router.insert(pc).map_err(|e| e.to_string())?;
            let mut t = srv.tables();
            let s = Arc::new(Session {
                n,
                id,
                token: tok.clone(),
                connected: false.into(),
                closing: false.into(),
            });
            t.by_token.insert(tok, s.clone());
            t.by_peer.insert(id, s);
            t.connect_due.push_back((due, id));
            Ok::<_, String>(id)
        })
        .await;
    match inserted {
        Some(Ok(_)) => {
            println!("session {n}: answered");
            let mut r = web::reply(StatusCode::CREATED, "application/sdp", answer);
            r.headers_mut().insert(
                hyper::header::LOCATION,
                format!("/session/{token}")
                    .parse()
                    .expect("hex is a valid header value"),
            );
            r
        }
        Some(Err(e)) => web::text(StatusCode::INTERNAL_SERVER_ERROR, e),
        None => web::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the UDP driver has stopped",
        ),
    }
}

/// `POST /session/<token>`: a later offer of the session (here, an ICE restart).
async fn reoffer(server: &Server, s: &Session, body: &[u8]) -> web::Reply {
    let offer = match sdp(body) {
        Ok(o) => o,
        Err(e) => return web::text(StatusCode::BAD_REQUEST, e),
    };
    let (id, n) = (s.id, s.n);
    let answered = server
        .driver
        .call(move |router, _| {
            let mut pc = router.get_mut(id).ok_or("the session has ended")?;
            let before = pc.ice().local_credentials().0.to_string();
            pc.set_remote_description(SdpType::Offer, offer)
                .map_err(|e| e.to_string())?;
            let answer = pc
                .create_answer(Instant::now())
                .map_err(|e| e.to_string())?;
            pc.set_local_description(SdpType::Answer, answer.clone())
                .map_err(|e| e.to_string())?;
            let after = pc.ice().local_credentials().0.to_string();
            Ok::<_, String>((answer.to_string(), before, after))
        })
        .await;
    match answered {
        Some(Ok((answer, before, after))) => {
            if before == after {
                println!("session {n}: answered a new offer (ICE unchanged, ufrag {after})");
            } else {
                println!("session {n}: ICE restart: ufrag {before} -> {after}");
            }
            web::reply(StatusCode::OK, "application/sdp", answer)
        }
        Some(Err(e)) => {
            eprintln!("session {n}: new offer refused: {e}");
            web::text(StatusCode::BAD_REQUEST, e)
        }
        None => web::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the UDP driver has stopped",
        ),
    }
}

async fn events(server: Arc<Server>) {
    while let Some((id, e)) = server.driver.next_event().await {
        let Some(s) = server.tables().by_peer.get(&id).cloned() else {
            continue; // reclaimed or removed already
        };
        let n = s.n;
        match e {
            PeerEvent::SelectedCandidatePairChanged { local, remote } => {
                println!("session {n}: selected pair {local} <-> {remote}");
            }
            PeerEvent::IceConnectionStateChanged(state) => println!("session {n}: ICE {state:?}"),
            PeerEvent::ConnectionStateChanged(state) => {
                println!("session {n}: {state:?}");
                match state {
                    ConnectionState::Connected => s.connected.store(true, Ordering::Relaxed),
                    ConnectionState::Failed => {
                        server.tables().forget(id);
                        server.driver.post(move |router, _| {
                            router.remove(id);
                        });
                    }
                    ConnectionState::Closed => closing(&server, id, "closed"),
                    _ => {}
                }
            }
            PeerEvent::DataChannelOpen { id: ch, label, .. } => {
                println!("session {n}: channel {label:?} open");
                send(&server, id, n, ch, format!("hello from kaon, session {n}"));
            }
            PeerEvent::Message { channel, data, .. } => {
                let text = String::from_utf8_lossy(&data).into_owned();
                println!("session {n}: {text}");
                send(&server, id, n, channel, format!("echo: {text}"));
            }
            PeerEvent::SctpClosed => closing(&server, id, "the peer ended the association"),
            PeerEvent::DtlsClosed => closing(&server, id, "the peer closed DTLS"),
            PeerEvent::DtlsFailed(e) => eprintln!("session {n}: DTLS failed: {e}"),
            PeerEvent::DataChannelClosed(ch) => println!("session {n}: channel {ch} closed"),
            // The server answers; it never offers, so a restart is the client's to start.
            PeerEvent::NegotiationNeeded => {
                println!("session {n}: negotiation needed; waiting for the client's offer")
            }
            // Candidates go in each answer (host candidates, known at once).
            PeerEvent::LocalCandidate(_) | PeerEvent::GatheringComplete => {}
            PeerEvent::DtlsConnected | PeerEvent::SctpConnected => println!("session {n}: {e:?}"),
            // No threshold is set: replies are small.
            PeerEvent::BufferedAmountLow(_) => {}
            other => println!("session {n}: {other:?}"),
        }
    }
    eprintln!("the UDP driver stopped");
}

fn send(server: &Server, id: PeerId, n: u64, channel: ChannelId, text: String) {
    server.driver.post(move |router, now| {
        if let Some(mut pc) = router.get_mut(id)
            && let Err(e) = pc.send_text(now, channel, &text)
        {
            eprintln!("session {n}: reply of {} bytes refused: {e}", text.len());
        }
    });
}

/// Closes a session once and schedules its removal from the router.
fn closing(server: &Server, id: PeerId, why: &str) {
    let mut t = server.tables();
    let Some(s) = t.by_peer.get(&id).cloned() else {
        return;
    };
    if s.closing.swap(true, Ordering::Relaxed) {
        return;
    }
    println!("session {}: {why}; closing", s.n);
    // Its token no longer works; the peer stays in `by_peer` until it is removed.
    t.by_token.remove(&s.token);
    t.close_due.push_back((Instant::now() + CLOSE_GRACE, id));
    server.driver.post(move |router, now| {
        if let Some(mut pc) = router.get_mut(id) {
            pc.close(now);
        }
    });
}

/// Once a second: reclaims sessions not connected in time, removes closed ones, reports
/// refusals.
async fn janitor(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut gone = Vec::new();
        {
            let mut t = server.tables();
            while let Some(&(due, id)) = t.connect_due.front() {
                if due > now {
                    break;
                }
                t.connect_due.pop_front();
                let pending = t.by_peer.get(&id).is_some_and(|s| {
                    !s.connected.load(Ordering::Relaxed) && !s.closing.load(Ordering::Relaxed)
                });
                if pending && let Some(s) = t.forget(id) {
                    println!(
                        "session {}: reclaimed: not connected within {:?}",
                        s.n, server.opts.connect_timeout
                    );
                    gone.push(id);
                }
            }
            while let Some(&(due, id)) = t.close_due.front() {
                if due > now {
                    break;
                }
                t.close_due.pop_front();
                if t.forget(id).is_some() {
                    gone.push(id);
                }
            }
        }
        let refused = server.refused.swap(0, Ordering::Relaxed);
        if refused > 0 {
            eprintln!("http: refused {refused} offers with 503 in the last second");
        }
        server.http_stats.report();
        if !gone.is_empty() {
            server.driver.post(move |router, _| {
                for id in gone {
                    router.remove(id);
                }
            });
        }
    }
}

// ---- connect ----

/// Posts an offer to `url` and returns the answer's text, checking the status.
async fn post_offer(url: &str, offer: String, expect: StatusCode) -> Result<web::Fetched> {
    let r = web::fetch(
        Method::POST,
        url,
        "application/sdp",
        offer,
        Duration::from_secs(10),
    )
    .await?;
    if r.status != expect {
        let why = String::from_utf8_lossy(&r.body);
        return Err(format!("POST {url}: {} {}", r.status, why.trim()).into());
    }
    Ok(r)
}

async fn connect(url: &str, udp: &[SocketAddr], restarts: u64, interval: Duration) -> Result<()> {
    let (sockets, locals) = bind(udp).await?;
    let t0 = Instant::now();
    let ms = || t0.elapsed().as_secs_f64() * 1e3;
    let mut pc = PeerConnection::new(PeerConfig::default())?;
    for a in locals {
        pc.add_local_address(a)?;
    }
    let chat = pc.create_data_channel(t0, "chat", ChannelConfig::default())?;
    let offer = pc.create_offer(Instant::now())?;
    pc.set_local_description(SdpType::Offer, offer.clone())?;
    let r = post_offer(
        &format!("{url}/session"),
        offer.to_string(),
        StatusCode::CREATED,
    )
    .await?;
    let session = r
        .headers
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("the answer came without a Location")?;
    let session_url = format!("{url}{session}");
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(std::str::from_utf8(&r.body)?)?,
    )?;
    println!(
        "session {session}; ufrag {}",
        pc.ice().local_credentials().0
    );
    let driver = Driver::spawn(pc, sockets)?;

    // `restart` typed on standard input, when restarts are on demand.
    let (typed_tx, mut typed) = tokio::sync::mpsc::unbounded_channel();
    if restarts == 0 {
        println!("type `restart` and Enter to restart ICE");
        std::thread::spawn(move || {
            for line in std::io::stdin().lines().map_while(|l| l.ok()) {
                if line.trim() == "restart" && typed_tx.send(()).is_err() {
                    break;
                }
            }
        });
    }

    let mut tick = tokio::time::interval(interval);
    let (mut open, mut sent, mut echoed, mut done_restarts) = (false, 0u64, 0u64, 0u64);
    // After a restart: waiting for ICE to select a pair on the new credentials.
    let mut restarting: Option<Instant> = None;
    let result: Result<()> = loop {
        tokio::select! {
            e = driver.next_event() => {
                let Some(e) = e else { break Err("the driver stopped".into()) };
                match e {
                    PeerEvent::DataChannelOpen { id, .. } if id == chat => {
                        println!("channel open after {:.1} ms", ms());
                        open = true;
                    }
                    PeerEvent::Message { data, .. } => {
                        let text = String::from_utf8_lossy(&data).into_owned();
                        if let Some(m) = text.strip_prefix("echo: message ") {
                            echoed += 1;
                            // Reliable and ordered: each echo is the next number.
                            if m != echoed.to_string() {
                                break Err(format!("echo {m} arrived when {echoed} was due").into());
                            }
                        } else {
                            println!("received: {text}");
                        }
                        if restarts > 0 && done_restarts == restarts && restarting.is_none() && echoed == sent && echoed >= (restarts + 1) * RESTART_EVERY {
                            break Ok(());
                        }
                    }
                    PeerEvent::IceConnectionStateChanged(s) => {
                        println!("ICE {s:?}");
                        if s == IceState::Failed {
                            break Err("ICE failed".into());
                        }
                    }
                    PeerEvent::SelectedCandidatePairChanged { local, remote } => {
                        println!("selected pair {local} <-> {remote}");
                        if let Some(t) = restarting.take() {
                            println!("restart {done_restarts}: a pair was selected on the new credentials in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
                        }
                    }
                    PeerEvent::ConnectionStateChanged(s) => {
                        println!("connection {s:?}");
                        if matches!(s, ConnectionState::Failed | ConnectionState::Closed) {
                            break Err(format!("the connection is {s:?}").into());
                        }
                    }
                    // restart_ice asks for it; the offer is made where the restart is.
                    PeerEvent::NegotiationNeeded => {}
                    PeerEvent::SctpClosed | PeerEvent::DtlsClosed => {
                        break Err(format!("the server closed the connection ({e:?})").into());
                    }
                    PeerEvent::DtlsFailed(e) => break Err(format!("DTLS failed: {e}").into()),
                    // Candidates are in each offer; channel flow needs no action here.
                    _ => {}
                }
            }
            _ = tick.tick(), if open => {
                let due_restart = restarts > 0 && done_restarts < restarts && sent > 0
                    && sent.is_multiple_of(RESTART_EVERY) && echoed == sent && restarting.is_none()
                    && sent / RESTART_EVERY > done_restarts;
                if due_restart {
                    done_restarts += 1;
                    restart(&driver, &session_url, done_restarts).await?;
                    restarting = Some(Instant::now());
                    continue;
                }
                let stop = restarts > 0 && sent >= (restarts + 1) * RESTART_EVERY;
                if !stop {
                    sent += 1;
                    let m = format!("message {sent}");
                    driver.call(move |pc, now| pc.send_text(now, chat, &m)).await.ok_or("the driver stopped")??;
                }
            }
            Some(()) = typed.recv() => {
                done_restarts += 1;
                restart(&driver, &session_url, done_restarts).await?;
                restarting = Some(Instant::now());
            }
        }
    };
    driver.call(|pc, now| pc.close(now)).await;
    if let Err(e) = web::fetch(
        Method::DELETE,
        &session_url,
        "text/plain",
        "",
        Duration::from_secs(5),
    )
    .await
    {
        eprintln!("DELETE {session_url}: {e}");
    }
    // Time for the SCTP SHUTDOWN and close_notify to leave.
    tokio::time::sleep(Duration::from_millis(300)).await;
    result?;
    println!("done: {done_restarts} ICE restarts, {echoed} messages echoed in order, none lost");
    Ok(())
}

/// Restarts ICE: new credentials, a new offer, the server's answer.
async fn restart(driver: &Driver<PeerConnection>, session_url: &str, k: u64) -> Result<()> {
    let (offer, ufrag) = driver
        .call(|pc, now| {
            pc.restart_ice(now)?;
            let offer = pc.create_offer(now)?;
            pc.set_local_description(SdpType::Offer, offer.clone())?;
            Ok::<_, kaon::peer::Error>((
                offer.to_string(),
                pc.ice().local_credentials().0.to_string(),
            ))
        })
        .await
        .ok_or("the driver stopped")??;
    println!("restart {k}: new ufrag {ufrag}");
    let r = post_offer(session_url, offer, StatusCode::OK).await?;
    let answer = SessionDescription::parse(std::str::from_utf8(&r.body)?)?;
    driver
        .call(move |pc, _| pc.set_remote_description(SdpType::Answer, answer))
        .await
        .ok_or("the driver stopped")??;
    println!("restart {k}: answer applied");
    Ok(())
}
