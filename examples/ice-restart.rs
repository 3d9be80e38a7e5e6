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

#[path = "common/token_sessions.rs"]
mod sessions;
#[path = "common/web.rs"]
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::datachannel::ChannelConfig;
use kaon::ice::IceState;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::Driver;
use sessions::{Candidates, Mode};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The page: the client's part in a browser.
const PAGE: &str = include_str!("ice-restart/index.html");

const USAGE: &str = "usage: ice-restart serve [HTTP_ADDR] [--udp ADDR]... [--max-sessions N] \
                     [--connect-timeout SECS] [--max-connections N] [--header-timeout SECS]
       ice-restart connect URL [--udp ADDR]... [--restarts N] [--interval-ms N]";

/// Messages between two automatic restarts.
const RESTART_EVERY: u64 = 5;

fn main() {
    if let Err(e) = run() {
        eprintln!("ice-restart: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let (mut restarts, mut interval) = (0u64, Duration::from_millis(200));
    let args = sessions::args(USAGE, |arg, value| {
        if arg != "--restarts" && arg != "--interval-ms" {
            return Ok(false);
        }
        let v = value()?;
        let n: u64 = v.parse().map_err(|e| format!("{arg} {v:?}: {e}"))?;
        match arg {
            "--restarts" => restarts = n,
            _ => interval = Duration::from_millis(n.max(1)),
        }
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
            "ice-restart",
            &http,
            opts,
            route,
            own_event,
        )),
        Mode::Connect(url) => runtime.block_on(connect(&url, &opts.udp, restarts, interval)),
    }
}

/// The offer in a request body, checked to be SDP.
fn sdp(body: &[u8]) -> std::result::Result<SessionDescription, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    SessionDescription::parse(text).map_err(|e| e.to_string())
}

// ---- serve ----

type Server = sessions::Server<()>;
type Session = sessions::Session<()>;

async fn route(server: Arc<Server>, req: Request<Bytes>) -> web::Reply {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), parts.as_slice()) {
        (&Method::GET, [""]) => web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        // The answer carries the server's host candidates, known at once.
        (&Method::POST, ["session"]) => server.offer(req.body(), Candidates::InAnswer, || ()).await,
        (&Method::POST, ["session", token]) => match server.session(token) {
            Some(s) => reoffer(&server, &s, req.body()).await,
            None => sessions::no_session(),
        },
        (&Method::DELETE, ["session", token]) => server.delete(token),
        _ => web::text(
            StatusCode::NOT_FOUND,
            "POST /session, POST or DELETE /session/<token>",
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
            let answer = sessions::answer(&mut pc, offer)?;
            let after = pc.ice().local_credentials().0.to_string();
            Ok::<_, String>((answer, before, after))
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
        None => sessions::stopped(),
    }
}

/// The events a restarting session handles its own way.
fn own_event(_: &Server, s: &Session, e: PeerEvent) -> Option<PeerEvent> {
    let n = s.n;
    match e {
        // The server answers; it never offers, so a restart is the client's to start.
        PeerEvent::NegotiationNeeded => {
            println!("session {n}: negotiation needed; waiting for the client's offer")
        }
        // Candidates go in each answer (host candidates, known at once).
        PeerEvent::LocalCandidate(_) | PeerEvent::GatheringComplete => {}
        other => return Some(other),
    }
    None
}

// ---- connect ----

async fn connect(url: &str, udp: &[SocketAddr], restarts: u64, interval: Duration) -> Result<()> {
    let (sockets, locals) = sessions::bind(udp).await?;
    let t0 = Instant::now();
    let ms = || t0.elapsed().as_secs_f64() * 1e3;
    let mut pc = PeerConnection::new(PeerConfig::default())?;
    for a in locals {
        pc.add_local_address(a)?;
    }
    let chat = pc.create_data_channel(t0, "chat", ChannelConfig::default())?;
    let offer = pc.create_offer(Instant::now())?;
    pc.set_local_description(SdpType::Offer, offer.clone())?;
    let url_session = format!("{url}/session");
    let r = sessions::post_offer(&url_session, offer.to_string(), StatusCode::CREATED).await?;
    let session = sessions::location(&r)?;
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
                // Done once every restart has found its pair and every message is echoed, in
                // whichever order the last echo and the last selection come.
                if restarts > 0 && done_restarts == restarts && restarting.is_none() && echoed == sent && echoed >= (restarts + 1) * RESTART_EVERY {
                    break Ok(());
                }
            }
            _ = tick.tick(), if open => {
                // A restart is owed after every RESTART_EVERY messages; it waits (sending
                // nothing more) until they are all echoed and the last restart found its pair,
                // so a slow echo cannot push it past the last message.
                let owed = restarts > 0 && done_restarts < restarts && sent > 0
                    && sent.is_multiple_of(RESTART_EVERY) && sent / RESTART_EVERY > done_restarts;
                if owed {
                    if echoed == sent && restarting.is_none() {
                        done_restarts += 1;
                        restart(&driver, &session_url, done_restarts).await?;
                        restarting = Some(Instant::now());
                    }
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
    sessions::delete(&session_url).await;
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
    let r = sessions::post_offer(session_url, offer, StatusCode::OK).await?;
    let answer = SessionDescription::parse(std::str::from_utf8(&r.body)?)?;
    driver
        .call(move |pc, _| pc.set_remote_description(SdpType::Answer, answer))
        .await
        .ok_or("the driver stopped")??;
    println!("restart {k}: answer applied");
    Ok(())
}
