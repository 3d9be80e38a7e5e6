//! trickle-ice: candidates trickled both ways over HTTP (Pion's example of that name, RFC 8838).
//!
//! ```text
//! cargo run --example trickle-ice -- serve [HTTP_ADDR] [--udp ADDR]... [limits]
//! cargo run --example trickle-ice -- connect URL [--udp ADDR]... [--messages N]
//! ```
//!
//! Neither side waits for its candidates before sending its description: each description
//! leaves with no candidate at all, and every candidate follows on its own as it is found, then
//! end-of-candidates (RFC 8838 §4.1), so ICE can start checking as soon as the first pair
//! exists.
//!
//! **`serve`** (HTTP on `127.0.0.1:8080` unless given; `--udp` may be repeated, e.g.
//! `--udp 127.0.0.1:0 --udp [::1]:0` for IPv4 and IPv6, default `127.0.0.1:0`) holds one UDP
//! socket per address for every session, through a [`kaon::peer::Router`]. Its signalling:
//!
//! | request | what it does |
//! |---|---|
//! | `GET /` | a page that does the client's part in the browser |
//! | `POST /session` with an offer (`application/sdp`) | `201 Created`, the answer, and `Location: /session/<token>` (the token is random: it is the session's only credential) |
//! | `PATCH /session/<token>` with a `candidate:...` line, or `end-of-candidates` | gives the session a candidate of the client's (`204`) |
//! | `GET /session/<token>/candidates?from=K` | the server's candidates from the K-th on, one a line, then `end-of-candidates` once gathering is done; waits up to 10 s for one to appear (long poll) |
//! | `DELETE /session/<token>` | closes the session |
//!
//! Sessions are capped (`--max-sessions`, default 100; `503` with `Retry-After` past it),
//! reclaimed when not connected within `--connect-timeout SECS` (default 15), and removed when
//! they fail or their peer closes them. HTTP has the limits of `examples/common/web.rs`.
//! Each session greets the client's channel and echoes what it says.
//!
//! **`connect URL`** (`http://127.0.0.1:8080`) is a kaon client for it: its own sockets
//! (`--udp`, as above), a channel "chat", its offer posted at once, its candidates PATCHed as
//! they come and the server's fetched by long poll; it prints each candidate, the selected
//! pair, sends `--messages N` messages (default 3), checks their echoes, closes (DELETE) and
//! exits 0.

#[path = "common/web.rs"]
mod web;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::datachannel::ChannelConfig;
use kaon::peer::{
    ConnectionState, IceCandidate, PeerConfig, PeerConnection, PeerEvent, PeerId, Router, SdpType,
};
use kaon::sdp::SessionDescription;
use kaon_tokio::Driver;
use tokio::sync::watch;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The page: the client's part in a browser.
const PAGE: &str = include_str!("trickle-ice/index.html");

const USAGE: &str = "usage: trickle-ice serve [HTTP_ADDR] [--udp ADDR]... [--max-sessions N] \
                     [--connect-timeout SECS] [--max-connections N] [--header-timeout SECS]
       trickle-ice connect URL [--udp ADDR]... [--messages N]";

/// How long a long poll for candidates waits before answering with none.
const LONG_POLL: Duration = Duration::from_secs(10);
/// How long a closing session stays in the router for its SCTP SHUTDOWN and close_notify.
const CLOSE_GRACE: Duration = Duration::from_secs(4);

fn main() {
    if let Err(e) = run() {
        eprintln!("trickle-ice: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or(USAGE)?;
    let mut target = None;
    let mut udp = Vec::new();
    let mut limits = web::Limits::default();
    let (mut max_sessions, mut connect_timeout, mut messages) = (100, Duration::from_secs(15), 3);
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
            "--max-sessions" => {
                let v = value()?;
                max_sessions = v.parse().map_err(|e| bad(&v, &e))?;
            }
            "--messages" => {
                let v = value()?;
                messages = v.parse().map_err(|e| bad(&v, &e))?;
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
            "--max-connections" => {
                let v = value()?;
                limits.max_connections = v.parse().map_err(|e| bad(&v, &e))?;
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
            runtime.block_on(connect(url.trim_end_matches('/'), &udp, messages))
        }
        _ => Err(USAGE.into()),
    }
}

/// Binds one UDP socket per address.
async fn bind(addrs: &[SocketAddr]) -> Result<Vec<tokio::net::UdpSocket>> {
    let mut sockets = Vec::new();
    for a in addrs {
        let s = tokio::net::UdpSocket::bind(a)
            .await
            .map_err(|e| format!("bind the UDP socket on {a}: {e}"))?;
        sockets.push(s);
    }
    Ok(sockets)
}

// ---- serve ----

struct ServeOptions {
    udp: Vec<SocketAddr>,
    max_sessions: usize,
    connect_timeout: Duration,
    limits: web::Limits,
}

/// The server's candidates of one session, as the event task finds them.
#[derive(Debug, Default)]
struct Trickle {
    candidates: Vec<String>,
    complete: bool,
}

struct Session {
    n: u64,
    id: PeerId,
    token: String,
    trickle: Mutex<Trickle>,
    /// Bumped whenever `trickle` grows, to wake long polls.
    changed: watch::Sender<u64>,
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

    fn session(&self, token: &str) -> Option<Arc<Session>> {
        self.tables().by_token.get(token).cloned()
    }
}

fn lock(t: &Mutex<Trickle>) -> MutexGuard<'_, Trickle> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(http: &str, opts: ServeOptions) -> Result<()> {
    let listener = web::listen(http).await?;
    let sockets = bind(&opts.udp).await?;
    let locals = sockets
        .iter()
        .map(|s| s.local_addr())
        .collect::<std::io::Result<Vec<_>>>()?;
    let driver = Driver::spawn(Router::new(), sockets)?;
    println!(
        "trickle-ice: signalling on http://{}",
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
    match (req.method(), parts.as_slice()) {
        (&Method::GET, [""]) => web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        (&Method::POST, ["session"]) => offer(&server, req.body()).await,
        (&Method::PATCH, ["session", token]) => match server.session(token) {
            Some(s) => remote_candidate(&server, &s, req.body()).await,
            None => web::text(StatusCode::NOT_FOUND, "no such session"),
        },
        (&Method::GET, ["session", token, "candidates"]) => match server.session(token) {
            Some(s) => {
                let from = req
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("from=")))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                local_candidates(&s, from).await
            }
            None => web::text(StatusCode::NOT_FOUND, "no such session"),
        },
        (&Method::DELETE, ["session", token]) => match server.session(token) {
            Some(s) => {
                closing(&server, s.id, "the client deleted it");
                web::reply(StatusCode::NO_CONTENT, "text/plain", "")
            }
            None => web::text(StatusCode::NOT_FOUND, "no such session"),
        },
        _ => web::text(
            StatusCode::NOT_FOUND,
            "POST /session, PATCH or DELETE /session/<token>, GET /session/<token>/candidates",
        ),
    }
}

/// A random token of 128 bits, in hex: the session's only credential.
fn token() -> Result<String> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| "no randomness from the system")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// `POST /session`: answer at once, without candidates; they follow as they are found.
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
    let made = async {
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        let offer = SessionDescription::parse(text).map_err(|e| e.to_string())?;
        let given = text
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .count();
        println!("session {n}: offer with {given} candidates in it");
        let mut pc = PeerConnection::new(PeerConfig::default()).map_err(|e| e.to_string())?;
        pc.set_remote_description(SdpType::Offer, offer)
            .map_err(|e| e.to_string())?;
        let answer = pc
            .create_answer(Instant::now())
            .map_err(|e| e.to_string())?;
        pc.set_local_description(SdpType::Answer, answer.clone())
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((pc, answer.to_string()))
    };
    let (pc, answer) = match made.await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("session {n}: offer refused: {e}");
            return web::text(StatusCode::BAD_REQUEST, e);
        }
    };
    let token = match token() {
        Ok(t) => t,
        Err(e) => return web::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    // Into the router, recorded, and only then given its addresses: the candidates they make
    // come out as events, which find the session.
    let (srv, locals, tok) = (server.clone(), server.locals.clone(), token.clone());
    let due = Instant::now() + server.opts.connect_timeout;
    let inserted = server
        .driver
        .call(move |router, _| {
            let id = router.insert(pc).map_err(|e| e.to_string())?;
            let session = Arc::new(Session {
                n,
                id,
                token: tok.clone(),
                trickle: Mutex::default(),
                changed: watch::Sender::new(0),
                connected: false.into(),
                closing: false.into(),
            });
            {
                let mut t = srv.tables();
                t.by_token.insert(tok, session.clone());
                t.by_peer.insert(id, session);
                t.connect_due.push_back((due, id));
            }
            let mut pc = router.get_mut(id).ok_or("the peer vanished")?;
            for a in locals {
                pc.add_local_address(a).map_err(|e| format!("{a}: {e}"))?;
            }
            Ok::<_, String>(id)
        })
        .await;
    match inserted {
        Some(Ok(_)) => {
            println!("session {n}: answered; candidates follow");
            let mut r = web::reply(StatusCode::CREATED, "application/sdp", answer);
            let location = format!("/session/{token}");
            r.headers_mut().insert(
                hyper::header::LOCATION,
                location.parse().expect("hex is a valid header value"),
            );
            r
        }
        Some(Err(e)) => {
            eprintln!("session {n}: {e}");
            web::text(StatusCode::INTERNAL_SERVER_ERROR, e)
        }
        None => web::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the UDP driver has stopped",
        ),
    }
}

/// `PATCH /session/<token>`: one candidate of the client's, or its end-of-candidates.
async fn remote_candidate(server: &Server, s: &Session, body: &[u8]) -> web::Reply {
    let Ok(line) = std::str::from_utf8(body).map(|b| b.trim().to_string()) else {
        return web::text(StatusCode::BAD_REQUEST, "not UTF-8");
    };
    let (id, n, shown) = (s.id, s.n, line.clone());
    let added = server
        .driver
        .call(move |router, now| match router.get_mut(id) {
            Some(mut pc) => pc
                .add_ice_candidate(now, &IceCandidate::from_line(&line))
                .map_err(|e| e.to_string()),
            None => Err("the session has ended".to_string()),
        })
        .await;
    match added {
        Some(Ok(())) => {
            println!(
                "session {n}: remote {}",
                if shown.is_empty() {
                    "end-of-candidates"
                } else {
                    &shown
                }
            );
            web::reply(StatusCode::NO_CONTENT, "text/plain", "")
        }
        Some(Err(e)) => {
            eprintln!("session {n}: candidate {shown:?} refused: {e}");
            web::text(StatusCode::BAD_REQUEST, e)
        }
        None => web::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the UDP driver has stopped",
        ),
    }
}

/// `GET /session/<token>/candidates?from=K`: what is there from K on, or wait for it.
async fn local_candidates(s: &Session, from: usize) -> web::Reply {
    let mut changed = s.changed.subscribe();
    let end = tokio::time::Instant::now() + LONG_POLL;
    loop {
        {
            let t = lock(&s.trickle);
            let fresh = t.candidates.get(from..).unwrap_or_default();
            if !fresh.is_empty() || t.complete {
                let mut body: String = fresh.iter().map(|c| format!("{c}\r\n")).collect();
                if t.complete {
                    body.push_str("end-of-candidates\r\n");
                }
                return web::reply(StatusCode::OK, "text/plain", body);
            }
        }
        match tokio::time::timeout_at(end, changed.changed()).await {
            Ok(Ok(())) => {}
            // Nothing new in time (or the session is gone): an empty answer; poll again.
            _ => return web::reply(StatusCode::OK, "text/plain", ""),
        }
    }
}

async fn events(server: Arc<Server>) {
    while let Some((id, e)) = server.driver.next_event().await {
        let Some(s) = server.tables().by_peer.get(&id).cloned() else {
            continue; // reclaimed or removed already
        };
        let n = s.n;
        match e {
            PeerEvent::LocalCandidate(c) => {
                println!("session {n}: local {c}");
                lock(&s.trickle).candidates.push(c.candidate);
                s.changed.send_modify(|v| *v += 1);
            }
            PeerEvent::GatheringComplete => {
                println!("session {n}: local end-of-candidates");
                lock(&s.trickle).complete = true;
                s.changed.send_modify(|v| *v += 1);
            }
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
            PeerEvent::NegotiationNeeded => {
                println!("session {n}: renegotiation needed, which this server does not do")
            }
            PeerEvent::DtlsConnected | PeerEvent::SctpConnected => println!("session {n}: {e:?}"),
            // No threshold is set: replies are small.
            PeerEvent::BufferedAmountLow(_) => {}
            other => println!("session {n}: {other:?}"),
        }
    }
    eprintln!("the UDP driver stopped");
}

fn send(server: &Server, id: PeerId, n: u64, channel: kaon::datachannel::ChannelId, text: String) {
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

async fn connect(url: &str, udp: &[SocketAddr], messages: usize) -> Result<()> {
    let sockets = bind(udp).await?;
    let locals = sockets
        .iter()
        .map(|s| s.local_addr())
        .collect::<std::io::Result<Vec<_>>>()?;
    let t0 = Instant::now();
    // The offer leaves before any address is known to the connection: no candidate in it.
    let mut pc = PeerConnection::new(PeerConfig::default())?;
    let chat = pc.create_data_channel(t0, "chat", ChannelConfig::default())?;
    let offer = pc.create_offer(Instant::now())?;
    pc.set_local_description(SdpType::Offer, offer.clone())?;
    let limit = Duration::from_secs(10);
    let r = web::fetch(
        Method::POST,
        &format!("{url}/session"),
        "application/sdp",
        offer.to_string(),
        limit,
    )
    .await?;
    if r.status != StatusCode::CREATED {
        let why = String::from_utf8_lossy(&r.body);
        return Err(format!("POST {url}/session: {} {}", r.status, why.trim()).into());
    }
    let session = r
        .headers
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("the answer came without a Location")?
        .to_string();
    let session_url = format!("{url}{session}");
    let text = std::str::from_utf8(&r.body)?;
    let given = text
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .count();
    pc.set_remote_description(SdpType::Answer, SessionDescription::parse(text)?)?;
    println!(
        "answer with {given} candidates in it applied after {:.1} ms; session {session}",
        ms(t0)
    );

    let driver = Arc::new(Driver::spawn(pc, sockets)?);
    // Now the addresses: each becomes a LocalCandidate event, PATCHed below.
    driver
        .call(move |pc, _| {
            for a in locals {
                pc.add_local_address(a).map_err(|e| format!("{a}: {e}"))?;
            }
            Ok::<_, String>(())
        })
        .await
        .ok_or("the driver stopped")??;
    // The server's candidates, by long poll, until its end-of-candidates.
    let poll = tokio::spawn(fetch_candidates(session_url.clone(), driver.clone()));

    let (mut sent, mut echoed) = (0, 0);
    let mut opened = false;
    let result: Result<()> = loop {
        let Some(e) = driver.next_event().await else {
            break Err("the driver stopped".into());
        };
        match e {
            PeerEvent::LocalCandidate(c) => {
                println!("local {c}");
                patch(&session_url, c.candidate).await?;
            }
            PeerEvent::GatheringComplete => {
                println!("local end-of-candidates");
                patch(&session_url, "end-of-candidates".into()).await?;
            }
            PeerEvent::SelectedCandidatePairChanged { local, remote } => {
                println!("selected pair {local} <-> {remote}");
            }
            PeerEvent::IceConnectionStateChanged(s) => println!("ICE {s:?} at {:.1} ms", ms(t0)),
            PeerEvent::ConnectionStateChanged(s) => {
                println!("connection {s:?} at {:.1} ms", ms(t0));
                if matches!(s, ConnectionState::Failed | ConnectionState::Closed) {
                    break Err(format!("the connection is {s:?}").into());
                }
            }
            PeerEvent::DataChannelOpen { id, .. } if id == chat => {
                println!("channel open after {:.1} ms", ms(t0));
                opened = true;
            }
            PeerEvent::Message { data, .. } => {
                let text = String::from_utf8_lossy(&data).into_owned();
                println!("received: {text}");
                if text.starts_with("echo: ") {
                    echoed += 1;
                }
                if echoed >= messages && sent >= messages {
                    break Ok(());
                }
                if opened && sent < messages {
                    sent += 1;
                    let m = format!("message {sent} over trickled candidates");
                    driver
                        .call(move |pc, now| pc.send_text(now, chat, &m))
                        .await
                        .ok_or("the driver stopped")??;
                }
            }
            PeerEvent::SctpClosed | PeerEvent::DtlsClosed => {
                break Err(format!("the server closed the connection ({e:?})").into());
            }
            PeerEvent::DtlsFailed(e) => break Err(format!("DTLS failed: {e}").into()),
            _ => {}
        }
    };
    poll.abort();
    driver.call(|pc, now| pc.close(now)).await;
    let deleted = web::fetch(Method::DELETE, &session_url, "text/plain", "", limit).await;
    if let Err(e) = deleted {
        eprintln!("DELETE {session_url}: {e}");
    }
    // Time for the SCTP SHUTDOWN and close_notify to leave.
    tokio::time::sleep(Duration::from_millis(300)).await;
    result?;
    println!("done: {sent} messages echoed");
    Ok(())
}

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

/// Sends one of our candidates (or end-of-candidates) to the session.
async fn patch(session_url: &str, line: String) -> Result<()> {
    let r = web::fetch(
        Method::PATCH,
        session_url,
        "text/plain",
        line,
        Duration::from_secs(10),
    )
    .await?;
    if r.status != StatusCode::NO_CONTENT {
        let why = String::from_utf8_lossy(&r.body);
        return Err(format!("PATCH {session_url}: {} {}", r.status, why.trim()).into());
    }
    Ok(())
}

/// Long-polls the server's candidates and hands each to the connection.
async fn fetch_candidates(session_url: String, driver: Arc<Driver<PeerConnection>>) {
    let mut from = 0;
    loop {
        let url = format!("{session_url}/candidates?from={from}");
        let r = match web::fetch(Method::GET, &url, "text/plain", "", LONG_POLL * 2).await {
            Ok(r) if r.status == StatusCode::OK => r,
            Ok(r) => {
                eprintln!("GET {url}: {}", r.status);
                return;
            }
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        for line in String::from_utf8_lossy(&r.body)
            .lines()
            .filter(|l| !l.is_empty())
        {
            let end = line == "end-of-candidates";
            if !end {
                from += 1;
            }
            println!("remote {line}");
            let l = line.to_string();
            match driver
                .call(move |pc, now| pc.add_ice_candidate(now, &IceCandidate::from_line(&l)))
                .await
            {
                Some(Ok(())) => {}
                Some(Err(e)) => eprintln!("remote candidate {line:?} refused: {e}"),
                None => return,
            }
            if end {
                return;
            }
        }
    }
}
