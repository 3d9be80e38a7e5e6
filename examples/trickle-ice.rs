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

#[path = "common/token_sessions.rs"]
mod sessions;
#[path = "common/web.rs"]
mod web;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::datachannel::ChannelConfig;
use kaon::peer::{ConnectionState, IceCandidate, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::Driver;
use sessions::{Candidates, Mode};
use tokio::sync::watch;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The page: the client's part in a browser.
const PAGE: &str = include_str!("trickle-ice/index.html");

const USAGE: &str = "usage: trickle-ice serve [HTTP_ADDR] [--udp ADDR]... [--max-sessions N] \
                     [--connect-timeout SECS] [--max-connections N] [--header-timeout SECS]
       trickle-ice connect URL [--udp ADDR]... [--messages N]";

/// How long a long poll for candidates waits before answering with none.
const LONG_POLL: Duration = Duration::from_secs(10);

fn main() {
    if let Err(e) = run() {
        eprintln!("trickle-ice: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut messages = 3;
    let args = sessions::args(USAGE, |arg, value| {
        if arg != "--messages" {
            return Ok(false);
        }
        let v = value()?;
        messages = v.parse().map_err(|e| format!("{arg} {v:?}: {e}"))?;
        Ok(true)
    })?;
    let Some((mode, opts)) = args else {
        return Ok(()); // --help
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match mode {
        Mode::Serve(http) => runtime.block_on(sessions::serve(
            "trickle-ice",
            &http,
            opts,
            route,
            own_event,
        )),
        Mode::Connect(url) => runtime.block_on(connect(&url, &opts.udp, messages)),
    }
}

// ---- serve ----

/// The server's candidates of one session, as the event task finds them.
#[derive(Debug, Default)]
struct Found {
    candidates: Vec<String>,
    complete: bool,
}

/// What a session keeps for trickling: its candidates so far, and a signal for long polls.
struct Trickle {
    found: Mutex<Found>,
    /// Bumped whenever `found` grows, to wake long polls.
    changed: watch::Sender<u64>,
}

type Server = sessions::Server<Trickle>;
type Session = sessions::Session<Trickle>;

fn lock(t: &Mutex<Found>) -> MutexGuard<'_, Found> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

async fn route(server: Arc<Server>, req: Request<Bytes>) -> web::Reply {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), parts.as_slice()) {
        (&Method::GET, [""]) => web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        // The answer leaves at once, without candidates; they follow as they are found.
        (&Method::POST, ["session"]) => {
            let own = || Trickle {
                found: Mutex::default(),
                changed: watch::Sender::new(0),
            };
            server.offer(req.body(), Candidates::Trickled, own).await
        }
        (&Method::PATCH, ["session", token]) => match server.session(token) {
            Some(s) => remote_candidate(&server, &s, req.body()).await,
            None => sessions::no_session(),
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
            None => sessions::no_session(),
        },
        (&Method::DELETE, ["session", token]) => server.delete(token),
        _ => web::text(
            StatusCode::NOT_FOUND,
            "POST /session, PATCH or DELETE /session/<token>, GET /session/<token>/candidates",
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
        None => sessions::stopped(),
    }
}

/// `GET /session/<token>/candidates?from=K`: what is there from K on, or wait for it.
async fn local_candidates(s: &Session, from: usize) -> web::Reply {
    let mut changed = s.own.changed.subscribe();
    let end = tokio::time::Instant::now() + LONG_POLL;
    loop {
        {
            let t = lock(&s.own.found);
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

/// What trickling adds to a session's events: its candidates, kept for the long polls.
fn own_event(_: &Server, s: &Session, e: PeerEvent) -> Option<PeerEvent> {
    let n = s.n;
    match e {
        PeerEvent::LocalCandidate(c) => {
            println!("session {n}: local {c}");
            lock(&s.own.found).candidates.push(c.candidate);
            s.own.changed.send_modify(|v| *v += 1);
        }
        PeerEvent::GatheringComplete => {
            println!("session {n}: local end-of-candidates");
            lock(&s.own.found).complete = true;
            s.own.changed.send_modify(|v| *v += 1);
        }
        PeerEvent::NegotiationNeeded => {
            println!("session {n}: renegotiation needed, which this server does not do")
        }
        other => return Some(other),
    }
    None
}

// ---- connect ----

async fn connect(url: &str, udp: &[SocketAddr], messages: usize) -> Result<()> {
    let (sockets, locals) = sessions::bind(udp).await?;
    let t0 = Instant::now();
    // The offer leaves before any address is known to the connection: no candidate in it.
    let mut pc = PeerConnection::new(PeerConfig::default())?;
    let chat = pc.create_data_channel(t0, "chat", ChannelConfig::default())?;
    let offer = pc.create_offer(Instant::now())?;
    pc.set_local_description(SdpType::Offer, offer.clone())?;
    let url_session = format!("{url}/session");
    let r = sessions::post_offer(&url_session, offer.to_string(), StatusCode::CREATED).await?;
    let session = sessions::location(&r)?;
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
    sessions::delete(&session_url).await;
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
