//! A session server whose sessions live at `/session/<token>`, shared by `trickle-ice` and
//! `ice-restart`: `POST /session` with a first offer answers it (`201 Created`, `Location:
//! /session/<token>`, a random token that is the session's only credential), `DELETE
//! /session/<token>` closes the session. Each example routes its own requests and takes each
//! session's events first ([`serve`]); what every session does is here:
//!
//! - Every session shares one UDP socket per `--udp` address through a [`kaon::peer::Router`]
//!   on one `kaon_tokio::Driver`.
//! - At most `--max-sessions` sessions (`503` with `Retry-After` past it); one not connected
//!   within `--connect-timeout` is reclaimed, one that fails is removed at once, one whose peer
//!   ends it is closed gracefully and removed [`CLOSE_GRACE`] later.
//! - Each session greets every channel the client opens and echoes what it says (`echo: ...`).
//! - HTTP is `web.rs` (hyper with connection, time and size limits). Ctrl-C closes every
//!   session gracefully.
//!
//! ```ignore
//! let server = token_sessions::serve("my-example", http, opts, route, own_event);
//! // route: (Arc<Server<X>>, Request) -> Reply, calling server.offer(..) for POST /session
//! // own_event: (&Server<X>, &Session<X>, PeerEvent) -> Option<PeerEvent>, None if handled
//! ```
#![allow(dead_code)] // each example uses its part

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Request, StatusCode};
use kaon::datachannel::ChannelId;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, PeerId, Router, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::Driver;

use crate::web;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How long a closing session stays in the router for its SCTP SHUTDOWN and close_notify.
pub const CLOSE_GRACE: Duration = Duration::from_secs(4);

/// The options both sides share (`--udp`) and the server's limits.
#[derive(Debug, Clone)]
pub struct Options {
    /// One UDP socket per address; `127.0.0.1:0` if none is given.
    pub udp: Vec<SocketAddr>,
    /// Sessions at once, at most.
    pub max_sessions: usize,
    /// How long a session may take to connect before it is reclaimed.
    pub connect_timeout: Duration,
    /// The HTTP server's limits.
    pub limits: web::Limits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            udp: Vec::new(),
            max_sessions: 100,
            connect_timeout: Duration::from_secs(15),
            limits: web::Limits::default(),
        }
    }
}

impl Options {
    /// Takes `arg` (and its value from `value`) if it is `--udp`, `--max-sessions`,
    /// `--connect-timeout`, `--max-connections` or `--header-timeout`; `Ok(false)` if not.
    pub fn take(
        &mut self,
        arg: &str,
        value: &mut dyn FnMut() -> std::result::Result<String, String>,
    ) -> std::result::Result<bool, String> {
        let bad = |v: &str, e: &dyn std::fmt::Display| format!("{arg} {v:?}: {e}");
        let number = |v: String| v.parse::<usize>().map_err(|e| bad(&v, &e));
        let secs = |v: String| {
            let s: f64 = v.parse().map_err(|e| bad(&v, &e))?;
            Duration::try_from_secs_f64(s).map_err(|e| bad(&v, &e))
        };
        match arg {
            "--udp" => {
                let v = value()?;
                self.udp.push(v.parse().map_err(|e| bad(&v, &e))?);
            }
            "--max-sessions" => self.max_sessions = number(value()?)?,
            "--max-connections" => self.limits.max_connections = number(value()?)?,
            "--connect-timeout" => self.connect_timeout = secs(value()?)?,
            "--header-timeout" => self.limits.header_timeout = secs(value()?)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Once every option is in: `127.0.0.1:0` if no `--udp` was given, and no unspecified
    /// address (each becomes an ICE candidate).
    pub fn check(&mut self) -> Result<()> {
        if self.udp.is_empty() {
            self.udp.push(SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        if let Some(a) = self.udp.iter().find(|a| a.ip().is_unspecified()) {
            return Err(format!(
                "--udp {a}: give an address the peer reaches, not an unspecified one (it becomes \
                 an ICE candidate)"
            )
            .into());
        }
        Ok(())
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `serve [HTTP_ADDR]`: the server, HTTP on this address.
    Serve(String),
    /// `connect URL`: the client, of the server at this URL (no trailing `/`).
    Connect(String),
}

/// Reads the command line: `serve [HTTP_ADDR]` or `connect URL`, then the [`Options`] and what
/// `own` takes (it gets each option and a way to its value, and says whether it took it).
/// `Ok(None)` after `--help`, which prints `usage`.
pub fn args(
    usage: &str,
    mut own: impl FnMut(
        &str,
        &mut dyn FnMut() -> std::result::Result<String, String>,
    ) -> std::result::Result<bool, String>,
) -> Result<Option<(Mode, Options)>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or(usage)?;
    let (mut target, mut opts) = (None, Options::default());
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{usage}"));
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(None);
            }
            a if !a.starts_with('-') && target.is_none() => target = Some(a.to_string()),
            other if opts.take(other, &mut value)? || own(other, &mut value)? => {}
            other => return Err(format!("unknown option {other}\n{usage}").into()),
        }
    }
    opts.check()?;
    let mode = match mode.as_str() {
        "serve" => Mode::Serve(target.unwrap_or_else(|| "127.0.0.1:8080".into())),
        "connect" => {
            let url = target.ok_or(format!("connect needs a URL\n{usage}"))?;
            Mode::Connect(url.trim_end_matches('/').to_string())
        }
        _ => return Err(usage.into()),
    };
    Ok(Some((mode, opts)))
}

/// Binds one UDP socket per address; returns them and their local addresses.
pub async fn bind(addrs: &[SocketAddr]) -> Result<(Vec<tokio::net::UdpSocket>, Vec<SocketAddr>)> {
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

/// When a session's connection learns the server's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidates {
    /// Before its answer, which carries them.
    InAnswer,
    /// Once it is in the router: the answer leaves with none, and each candidate comes out as a
    /// `PeerEvent::LocalCandidate` for the example to trickle.
    Trickled,
}

/// One session; `own` is what the example keeps of it.
pub struct Session<X> {
    /// A number for the log.
    pub n: u64,
    pub id: PeerId,
    token: String,
    connected: AtomicBool,
    closing: AtomicBool,
    pub own: X,
}

struct Tables<X> {
    by_token: HashMap<String, Arc<Session<X>>>,
    by_peer: HashMap<PeerId, Arc<Session<X>>>,
    /// (reclaim deadline, peer), in order: one constant timeout makes it sorted.
    connect_due: VecDeque<(Instant, PeerId)>,
    /// (removal time, peer) of closing sessions, in order.
    close_due: VecDeque<(Instant, PeerId)>,
    next: u64,
}

impl<X> Tables<X> {
    fn forget(&mut self, id: PeerId) -> Option<Arc<Session<X>>> {
        let s = self.by_peer.remove(&id)?;
        self.by_token.remove(&s.token);
        Some(s)
    }
}

/// The server: its driver, its sessions, its limits.
pub struct Server<X> {
    pub driver: Driver<Router>,
    tables: Mutex<Tables<X>>,
    /// The addresses of the UDP sockets.
    pub locals: Vec<SocketAddr>,
    opts: Options,
    /// Offers refused with 503 since the last report.
    refused: AtomicU64,
    http_stats: Arc<web::Stats>,
}

/// Serves until Ctrl-C: `route` answers every HTTP request, `own_event` sees each session's
/// events first and hands back (`Some`) those it leaves to the common handling.
pub async fn serve<X, R, F, E>(
    name: &str,
    http: &str,
    opts: Options,
    route: R,
    own_event: E,
) -> Result<()>
where
    X: Send + Sync + 'static,
    R: Fn(Arc<Server<X>>, Request<Bytes>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = web::Reply> + Send + 'static,
    E: Fn(&Server<X>, &Session<X>, PeerEvent) -> Option<PeerEvent> + Send + 'static,
{
    let listener = web::listen(http).await?;
    let (sockets, locals) = bind(&opts.udp).await?;
    let driver = Driver::spawn(Router::new(), sockets)?;
    println!("{name}: signalling on http://{}", listener.local_addr()?);
    let shown: Vec<String> = locals.iter().map(ToString::to_string).collect();
    println!("every session on UDP {}", shown.join(", "));
    let server = Arc::new(Server {
        driver,
        tables: Mutex::new(Tables {
            by_token: HashMap::new(),
            by_peer: HashMap::new(),
            connect_due: VecDeque::new(),
            close_due: VecDeque::new(),
            next: 0,
        }),
        locals,
        opts,
        refused: AtomicU64::new(0),
        http_stats: Arc::default(),
    });
    tokio::spawn(events(server.clone(), own_event));
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

/// A random token of 128 bits, in hex: the session's only credential.
fn token() -> Result<String> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| "no randomness from the system")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl<X: Send + Sync + 'static> Server<X> {
    fn tables(&self) -> MutexGuard<'_, Tables<X>> {
        // A panic elsewhere must not take the whole server down with a poisoned lock.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session with this token, if it is open.
    pub fn session(&self, token: &str) -> Option<Arc<Session<X>>> {
        self.tables().by_token.get(token).cloned()
    }

    /// `POST /session`: a new session (keeping `own`) for a first offer, and its answer.
    pub async fn offer(
        self: &Arc<Self>,
        body: &[u8],
        candidates: Candidates,
        own: impl FnOnce() -> X + Send + 'static,
    ) -> web::Reply {
        let n = {
            let mut t = self.tables();
            if t.by_peer.len() >= self.opts.max_sessions {
                self.refused.fetch_add(1, Ordering::Relaxed);
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
            let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
            let offer = SessionDescription::parse(text).map_err(|e| e.to_string())?;
            let mut pc = PeerConnection::new(PeerConfig::default()).map_err(|e| e.to_string())?;
            if candidates == Candidates::Trickled {
                let given = text
                    .lines()
                    .filter(|l| l.starts_with("a=candidate:"))
                    .count();
                println!("session {n}: offer with {given} candidates in it");
            } else {
                self.add_addresses(&mut pc)?;
            }
            let answer = answer(&mut pc, offer)?;
            Ok::<_, String>((pc, answer))
        })();
        let (pc, answer) = match made {
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
        // In the router and recorded before the answer leaves (the client's first checks may
        // beat it back), and only then, when trickled, given its addresses: the candidates
        // they make come out as events, which find the session.
        let (server, tok) = (self.clone(), token.clone());
        let due = Instant::now() + self.opts.connect_timeout;
        let inserted = self
            .driver
            .call(move |router, _| {
                let id = router.insert(pc).map_err(|e| e.to_string())?;
                let session = Arc::new(Session {
                    n,
                    id,
                    token: tok.clone(),
                    connected: false.into(),
                    closing: false.into(),
                    own: own(),
                });
                {
                    let mut t = server.tables();
                    t.by_token.insert(tok, session.clone());
                    t.by_peer.insert(id, session);
                    t.connect_due.push_back((due, id));
                }
                if candidates == Candidates::Trickled {
                    let mut pc = router.get_mut(id).ok_or("the peer vanished")?;
                    server.add_addresses(&mut pc)?;
                }
                Ok::<_, String>(id)
            })
            .await;
        match inserted {
            Some(Ok(_)) => {
                match candidates {
                    Candidates::Trickled => println!("session {n}: answered; candidates follow"),
                    Candidates::InAnswer => println!("session {n}: answered"),
                }
                let mut r = web::reply(StatusCode::CREATED, "application/sdp", answer);
                r.headers_mut().insert(
                    hyper::header::LOCATION,
                    format!("/session/{token}")
                        .parse()
                        .expect("hex is a valid header value"),
                );
                r
            }
            Some(Err(e)) => {
                eprintln!("session {n}: {e}");
                web::text(StatusCode::INTERNAL_SERVER_ERROR, e)
            }
            None => stopped(),
        }
    }

    fn add_addresses(&self, pc: &mut PeerConnection) -> std::result::Result<(), String> {
        for a in &self.locals {
            pc.add_local_address(*a).map_err(|e| format!("{a}: {e}"))?;
        }
        Ok(())
    }

    /// `DELETE /session/<token>`: closes the session.
    pub fn delete(&self, token: &str) -> web::Reply {
        match self.session(token) {
            Some(s) => {
                self.closing(s.id, "the client deleted it");
                web::reply(StatusCode::NO_CONTENT, "text/plain", "")
            }
            None => no_session(),
        }
    }

    /// Closes a session once and schedules its removal from the router.
    fn closing(&self, id: PeerId, why: &str) {
        let mut t = self.tables();
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
        self.driver.post(move |router, now| {
            if let Some(mut pc) = router.get_mut(id) {
                pc.close(now);
            }
        });
    }

    /// Queues a text message on the driver; a refusal is reported.
    fn send(&self, id: PeerId, n: u64, channel: ChannelId, text: String) {
        self.driver.post(move |router, now| {
            if let Some(mut pc) = router.get_mut(id)
                && let Err(e) = pc.send_text(now, channel, &text)
            {
                eprintln!("session {n}: reply of {} bytes refused: {e}", text.len());
            }
        });
    }

    /// What every session does with an event its example left to it.
    fn on_event(&self, s: &Session<X>, e: PeerEvent) {
        let (id, n) = (s.id, s.n);
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
                        self.tables().forget(id);
                        self.driver.post(move |router, _| {
                            router.remove(id);
                        });
                    }
                    ConnectionState::Closed => self.closing(id, "closed"),
                    _ => {}
                }
            }
            PeerEvent::DataChannelOpen { id: ch, label, .. } => {
                println!("session {n}: channel {label:?} open");
                self.send(id, n, ch, format!("hello from kaon, session {n}"));
            }
            PeerEvent::Message { channel, data, .. } => {
                let text = String::from_utf8_lossy(&data).into_owned();
                println!("session {n}: {text}");
                self.send(id, n, channel, format!("echo: {text}"));
            }
            PeerEvent::SctpClosed => self.closing(id, "the peer ended the association"),
            PeerEvent::DtlsClosed => self.closing(id, "the peer closed DTLS"),
            PeerEvent::DtlsFailed(e) => eprintln!("session {n}: DTLS failed: {e}"),
            PeerEvent::DataChannelClosed(ch) => println!("session {n}: channel {ch} closed"),
            PeerEvent::DtlsConnected | PeerEvent::SctpConnected => println!("session {n}: {e:?}"),
            // No threshold is set: replies are small.
            PeerEvent::BufferedAmountLow(_) => {}
            other => println!("session {n}: {other:?}"),
        }
    }
}

/// Takes `offer` and returns the answer, set as the local description.
pub fn answer(
    pc: &mut PeerConnection,
    offer: SessionDescription,
) -> std::result::Result<String, String> {
    pc.set_remote_description(SdpType::Offer, offer)
        .map_err(|e| e.to_string())?;
    let answer = pc
        .create_answer(Instant::now())
        .map_err(|e| e.to_string())?;
    pc.set_local_description(SdpType::Answer, answer.clone())
        .map_err(|e| e.to_string())?;
    Ok(answer.to_string())
}

/// `404` for a token that names no open session.
pub fn no_session() -> web::Reply {
    web::text(StatusCode::NOT_FOUND, "no such session")
}

/// `503`: the driver, and with it every session, has stopped.
pub fn stopped() -> web::Reply {
    web::text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the UDP driver has stopped",
    )
}

async fn events<X, E>(server: Arc<Server<X>>, own_event: E)
where
    X: Send + Sync + 'static,
    E: Fn(&Server<X>, &Session<X>, PeerEvent) -> Option<PeerEvent>,
{
    while let Some((id, e)) = server.driver.next_event().await {
        let Some(s) = server.tables().by_peer.get(&id).cloned() else {
            continue; // reclaimed or removed already
        };
        if let Some(e) = own_event(&server, &s, e) {
            server.on_event(&s, e);
        }
    }
    eprintln!("the UDP driver stopped");
}

/// Takes the peers due by `now` off the front of `queue` (which is in deadline order).
fn due(queue: &mut VecDeque<(Instant, PeerId)>, now: Instant) -> Vec<PeerId> {
    let mut ids = Vec::new();
    while let Some(&(at, id)) = queue.front()
        && at <= now
    {
        queue.pop_front();
        ids.push(id);
    }
    ids
}

/// Once a second: reclaims sessions not connected in time, removes closed ones, reports
/// refusals.
async fn janitor<X: Send + Sync + 'static>(server: Arc<Server<X>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut gone = Vec::new();
        {
            let mut t = server.tables();
            for id in due(&mut t.connect_due, now) {
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
            for id in due(&mut t.close_due, now) {
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

// ---- the client's side ----

/// Posts an offer to `url` and returns the reply, checking its status.
pub async fn post_offer(url: &str, offer: String, expect: StatusCode) -> Result<web::Fetched> {
    let r = web::fetch(
        hyper::Method::POST,
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

/// The session's path (`/session/<token>`) in the reply to `POST /session`.
pub fn location(r: &web::Fetched) -> Result<String> {
    Ok(r.headers
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("the answer came without a Location")?
        .to_string())
}

/// Ends the client's session: `DELETE` it, then give the SCTP SHUTDOWN and close_notify time
/// to leave.
pub async fn delete(session_url: &str) {
    let deleted = web::fetch(
        hyper::Method::DELETE,
        session_url,
        "text/plain",
        "",
        Duration::from_secs(5),
    )
    .await;
    if let Err(e) = deleted {
        eprintln!("DELETE {session_url}: {e}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}
