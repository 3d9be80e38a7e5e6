//! A browser-facing session server of the WHIP kind, shared by the examples that serve pages
//! (`data-channels --serve`, `ice-single-port`): a page, and `POST /offer` that answers a
//! browser's offer (`application/sdp`) with `201 Created` and kaon's answer. Each session
//! greets every channel the browser opens, prints what arrives and echoes it (text as
//! `echo: ...`, binary unchanged).
//!
//! - Every session shares **one UDP socket** through [`kaon::peer::Router`] on one
//!   `kaon_tokio::Driver`: no socket, thread or task per session.
//! - At most [`ServeOptions::max_pending`] sessions may be waiting to connect; past that an
//!   offer gets `503` with `Retry-After` (the seconds until the oldest pending session is due),
//!   costing the server no certificate and no peer. One client IP may hold at most
//!   [`ServeOptions::max_pending_per_ip`] of them (past that, `429` with `Retry-After`), so one
//!   client cannot lock everyone else out. A session not connected within
//!   [`ServeOptions::connect_timeout`] is reclaimed; one whose peer ends it, or that fails, is
//!   closed and removed.
//! - HTTP is `web.rs` (hyper with connection, time and size limits).
//! - Every refusal and error is reported; floods as one summary line a second. Ctrl-C closes
//!   every session gracefully.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::datachannel::ChannelId;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, PeerId, Router, SdpType};
use kaon::sdp::SessionDescription;

use crate::web;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The options after the HTTP address, as the usage line of each example lists them.
pub const OPTIONS: &str = "[--udp ADDR] [--max-pending N] [--max-pending-per-ip N] \
                           [--connect-timeout SECS] [--max-connections N] \
                           [--max-connections-per-ip N] [--header-timeout SECS] \
                           [--body-timeout SECS]";

/// What `--serve` takes from the command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The UDP address every session shares; `None`: the HTTP address's IP, port 0.
    pub udp: Option<SocketAddr>,
    /// Sessions answered and not yet connected, at most.
    pub max_pending: usize,
    /// Of those, at most this many for one client IP address.
    pub max_pending_per_ip: usize,
    /// How long a session may take to connect before it is reclaimed.
    pub connect_timeout: Duration,
    /// The HTTP server's limits.
    pub http: web::Limits,
}

impl ServeOptions {
    /// Takes `arg` (and its value from `next`) if it is one of [`OPTIONS`]; `Ok(false)` if
    /// it is not.
    pub fn take(&mut self, arg: &str, next: &mut dyn FnMut() -> Option<String>) -> Result<bool> {
        let mut value = || next().ok_or_else(|| format!("{arg} needs a value"));
        let number = |v: String| -> Result<usize> {
            v.parse().map_err(|e| format!("{arg} {v:?}: {e}").into())
        };
        let secs = |v: String| -> Result<Duration> {
            v.parse::<f64>()
                .map_err(|e| e.to_string())
                .and_then(|s| Duration::try_from_secs_f64(s).map_err(|e| e.to_string()))
                .map_err(|e| format!("{arg} {v:?}: {e}").into())
        };
        match arg {
            "--udp" => {
                let v = value()?;
                // A bare IP (`::1`, `[::1]`, `127.0.0.1`) takes a port of the system's choosing.
                let bare = v.strip_prefix('[').and_then(|b| b.strip_suffix(']'));
                self.udp = Some(match bare.unwrap_or(&v).parse::<IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, 0),
                    Err(_) => v.parse().map_err(|e| {
                        format!("--udp {v:?}: {e} (IP, IP:PORT or [IPv6]:PORT, e.g. [::1]:8443)")
                    })?,
                });
            }
            "--max-pending" => self.max_pending = number(value()?)?,
            "--max-pending-per-ip" => self.max_pending_per_ip = number(value()?)?,
            "--max-connections-per-ip" => self.http.max_connections_per_ip = number(value()?)?,
            "--connect-timeout" => self.connect_timeout = secs(value()?)?,
            "--max-connections" => self.http.max_connections = number(value()?)?,
            "--header-timeout" => self.http.header_timeout = secs(value()?)?,
            "--body-timeout" => self.http.body_timeout = secs(value()?)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            udp: None,
            max_pending: 100,
            max_pending_per_ip: 10,
            connect_timeout: Duration::from_secs(15),
            http: web::Limits::default(),
        }
    }
}

/// Where a session stands, as far as the server's bookkeeping goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Answered, not connected yet: counts against `max_pending`.
    Pending,
    Connected,
    /// Closing gracefully; removed from the router once the close had time to finish.
    Closing,
}

#[derive(Debug)]
struct Session {
    /// A number for the log.
    n: u64,
    /// The client that POSTed the offer.
    ip: IpAddr,
    phase: Phase,
    labels: HashMap<ChannelId, String>,
}

/// Every session, and the queues that say when to look at them again. Deadlines come from one
/// constant each, so each queue is in deadline order and the janitor only pops due entries.
#[derive(Debug, Default)]
struct Sessions {
    by_id: HashMap<PeerId, Session>,
    pending: usize,
    /// Pending sessions per client IP (only addresses with one or more).
    pending_by_ip: HashMap<IpAddr, usize>,
    connected: usize,
    /// (reclaim deadline, peer) of sessions answered, in order.
    connect_due: VecDeque<(Instant, PeerId)>,
    /// (removal time, peer) of closing sessions, in order.
    close_due: VecDeque<(Instant, PeerId)>,
    next: u64,
}

impl Sessions {
    fn set_phase(&mut self, id: PeerId, phase: Phase) -> Option<(u64, Phase)> {
        let s = self.by_id.get_mut(&id)?;
        let old = std::mem::replace(&mut s.phase, phase);
        let (n, ip) = (s.n, s.ip);
        match old {
            Phase::Pending => self.unreserve(ip),
            Phase::Connected => self.connected -= 1,
            Phase::Closing => {}
        }
        match phase {
            Phase::Pending => self.reserve(ip),
            Phase::Connected => self.connected += 1,
            Phase::Closing => {}
        }
        Some((n, old))
    }

    /// Counts one more pending session from `ip`.
    fn reserve(&mut self, ip: IpAddr) {
        self.pending += 1;
        *self.pending_by_ip.entry(ip).or_insert(0) += 1;
    }

    /// One pending session from `ip` is no longer pending.
    fn unreserve(&mut self, ip: IpAddr) {
        self.pending -= 1;
        if let Some(n) = self.pending_by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.pending_by_ip.remove(&ip);
            }
        }
    }

    fn forget(&mut self, id: PeerId) -> Option<Session> {
        self.set_phase(id, Phase::Closing)?;
        self.by_id.remove(&id)
    }
}

/// How long a closing session stays in the router: `PeerConfig::close_timeout` (3 s by
/// default) for the SCTP SHUTDOWN, and a little for DTLS close_notify to leave.
const CLOSE_GRACE: Duration = Duration::from_secs(4);

struct Server {
    page: &'static str,
    driver: kaon_tokio::Driver<Router>,
    sessions: Arc<Mutex<Sessions>>,
    opts: ServeOptions,
    udp: SocketAddr,
    /// Offers refused with 503 since the last report.
    refused: AtomicU64,
    /// Offers refused with 429 (per-IP cap) since the last report.
    refused_per_ip: AtomicU64,
    http_stats: Arc<web::Stats>,
}

fn lock(sessions: &Mutex<Sessions>) -> MutexGuard<'_, Sessions> {
    // A panic elsewhere must not take the whole server down with a poisoned lock.
    sessions.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves `page` at `/` and sessions at `POST /offer` on `http_addr` until Ctrl-C.
pub async fn serve(http_addr: &str, opts: ServeOptions, page: &'static str) -> Result<()> {
    let listener = web::listen(http_addr).await?;
    let local = listener.local_addr()?;
    // ICE needs a real address for its host candidate, not 0.0.0.0 or [::].
    let udp_addr = opts.udp.unwrap_or(SocketAddr::new(
        // An HTTP server on every interface offers loopback of its family.
        match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        },
        0,
    ));
    if udp_addr.ip().is_unspecified() {
        return Err(format!(
            "--udp {udp_addr}: give the address browsers reach, not an unspecified one \
             (it becomes the sessions' ICE candidate)"
        )
        .into());
    }
    let socket = tokio::net::UdpSocket::bind(udp_addr)
        .await
        .map_err(|e| format!("bind the UDP socket on {udp_addr}: {e}"))?;
    let udp = socket.local_addr()?;
    let driver = kaon_tokio::Driver::spawn(Router::new(), vec![socket])?;
    let server = Arc::new(Server {
        page,
        driver,
        sessions: Arc::default(),
        opts,
        udp,
        refused: AtomicU64::new(0),
        refused_per_ip: AtomicU64::new(0),
        http_stats: Arc::default(),
    });
    println!("open http://{local}/ in a browser on this machine (Ctrl-C to stop)");
    println!(
        "every session on UDP {udp}; at most {} pending ({} per client IP), each reclaimed \
         after {:?}",
        server.opts.max_pending, server.opts.max_pending_per_ip, server.opts.connect_timeout
    );

    tokio::spawn(events(server.clone()));
    tokio::spawn(janitor(server.clone()));
    let handler = {
        let server = server.clone();
        move |req| route(server.clone(), req)
    };
    let http = web::serve(
        listener,
        server.opts.http.clone(),
        server.http_stats.clone(),
        handler,
    );
    tokio::select! {
        () = http => Err("the HTTP server stopped".into()),
        r = tokio::signal::ctrl_c() => {
            r?;
            shut_down(&server).await;
            Ok(())
        }
    }
}

/// Closes every session gracefully (peers see their channels close) and waits for it.
async fn shut_down(server: &Server) {
    let ids: Vec<PeerId> = lock(&server.sessions).by_id.keys().copied().collect();
    println!("closing {} sessions", ids.len());
    let busy = server
        .driver
        .call(move |router, now| {
            for id in ids {
                if let Some(mut pc) = router.get_mut(id) {
                    pc.close(now);
                }
            }
            router.len()
        })
        .await;
    if busy.is_some_and(|n| n > 0) {
        tokio::time::sleep(CLOSE_GRACE).await;
    }
}

async fn route(server: Arc<Server>, req: Request<Bytes>) -> web::Reply {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/" | "/index.html") => {
            web::reply(StatusCode::OK, "text/html; charset=utf-8", server.page)
        }
        (&Method::POST, "/offer") => {
            let ip = req
                .extensions()
                .get::<web::ClientAddr>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
                    c.0.ip().to_canonical()
                });
            offer(&server, ip, req.body()).await
        }
        (_, "/" | "/index.html" | "/offer") => {
            web::text(StatusCode::METHOD_NOT_ALLOWED, "GET / or POST /offer")
        }
        _ => web::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// `POST /offer`: a pending slot, then a peer in the router, then its answer.
async fn offer(server: &Server, ip: IpAddr, body: &[u8]) -> web::Reply {
    // The slot comes first, so an offer past the cap costs neither a certificate nor a peer.
    let n = {
        let mut s = lock(&server.sessions);
        let mine = s.pending_by_ip.get(&ip).copied().unwrap_or(0);
        if mine >= server.opts.max_pending_per_ip {
            server.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            // The client's oldest pending session is the next of its slots to free.
            let now = Instant::now();
            let wait = s
                .connect_due
                .iter()
                .find(|(_, id)| {
                    s.by_id
                        .get(id)
                        .is_some_and(|x| x.phase == Phase::Pending && x.ip == ip)
                })
                .map_or(1, |(due, _)| {
                    due.saturating_duration_since(now).as_secs() + 1
                });
            return web::too_many(
                wait,
                format!("{mine} of your sessions are waiting to connect; retry in {wait} s"),
            );
        }
        if s.pending >= server.opts.max_pending {
            server.refused.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            // The oldest pending session is the next to be reclaimed (if it does not connect).
            let wait = s
                .connect_due
                .iter()
                .find(|(_, id)| s.by_id.get(id).is_some_and(|x| x.phase == Phase::Pending))
                .map_or(1, |(due, _)| {
                    due.saturating_duration_since(now).as_secs() + 1
                });
            return web::busy(
                wait,
                format!(
                    "{} sessions are waiting to connect; retry in {wait} s",
                    s.pending
                ),
            );
        }
        s.reserve(ip);
        s.next += 1;
        s.next
    };
    match admit(server, n, ip, body).await {
        Ok(answer) => web::reply(StatusCode::CREATED, "application/sdp", answer),
        Err((status, e)) => {
            lock(&server.sessions).unreserve(ip);
            eprintln!("peer {n}: offer refused ({status}): {e}");
            web::text(status, e)
        }
    }
}

/// Builds the session's PeerConnection, puts it in the router, and returns its answer.
async fn admit(
    server: &Server,
    n: u64,
    ip: IpAddr,
    body: &[u8],
) -> std::result::Result<String, (StatusCode, String)> {
    let bad = |e: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, format!("{e}"));
    let text = std::str::from_utf8(body).map_err(|e| bad(&e))?;
    let offer = SessionDescription::parse(text).map_err(|e| bad(&e))?;
    let hosts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .filter_map(|l| l.split(' ').nth(4))
        .collect();
    if hosts.is_empty() || hosts.iter().all(|h| h.ends_with(".local")) {
        println!(
            "peer {n}: hint: the offer has no host candidate this server can use (only mDNS \
             .local names, which it does not resolve). It can still connect if the browser's \
             checks reach {}; if not, allow the page's microphone prompt (it makes the browser \
             show its addresses) and reload.",
            server.udp
        );
    }

    let mut pc = PeerConnection::new(PeerConfig::default())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    pc.add_local_address(server.udp)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    pc.set_remote_description(SdpType::Offer, offer)
        .map_err(|e| bad(&e))?;
    let answer = pc.create_answer(Instant::now()).map_err(|e| bad(&e))?;
    pc.set_local_description(SdpType::Answer, answer.clone())
        .map_err(|e| bad(&e))?;

    // In the router before the answer leaves: the browser's first checks may beat it back.
    // The session is recorded in the same call, so its events always find it.
    let sessions = server.sessions.clone();
    let due = Instant::now() + server.opts.connect_timeout;
    let inserted = server
        .driver
        .call(move |router, _| {
            let id = router.insert(pc).map_err(|e| e.to_string())?;
            let mut s = lock(&sessions);
            s.by_id.insert(
                id,
                Session {
                    n,
                    ip,
                    phase: Phase::Pending,
                    labels: HashMap::new(),
                },
            );
            s.connect_due.push_back((due, id));
            Ok::<_, String>(id)
        })
        .await;
    match inserted {
        Some(Ok(_)) => {
            println!("peer {n}: answering from {}", server.udp);
            Ok(answer.to_string())
        }
        Some(Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, e)),
        None => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "the UDP driver has stopped".to_string(),
        )),
    }
}

/// Reacts to every session's events.
async fn events(server: Arc<Server>) {
    while let Some((id, e)) = server.driver.next_event().await {
        on_event(&server, id, e);
    }
    eprintln!("the UDP driver stopped: no more sessions");
}

fn on_event(server: &Server, id: PeerId, e: PeerEvent) {
    let mut s = lock(&server.sessions);
    // Events of a session already removed (reclaimed, failed) have nobody to go to.
    let Some(session) = s.by_id.get_mut(&id) else {
        return;
    };
    let n = session.n;
    match e {
        PeerEvent::DataChannelOpen { id: ch, label, .. } => {
            println!("peer {n}: channel {label:?} open");
            session.labels.insert(ch, label);
            send(
                server,
                id,
                n,
                ch,
                format!("hello from kaon, you are peer {n}").into(),
                false,
            );
        }
        PeerEvent::Message {
            channel,
            data,
            binary,
        } => {
            let label = session.labels.get(&channel).map_or("?", String::as_str);
            if binary {
                println!("peer {n} [{label}]: <{} bytes>", data.len());
                send(server, id, n, channel, data, true);
            } else {
                let text = String::from_utf8_lossy(&data);
                println!("peer {n} [{label}]: {text}");
                send(
                    server,
                    id,
                    n,
                    channel,
                    format!("echo: {text}").into(),
                    false,
                );
            }
        }
        PeerEvent::DataChannelClosed(ch) => {
            let label = session.labels.remove(&ch).unwrap_or_default();
            println!("peer {n}: channel {label:?} closed");
        }
        PeerEvent::ConnectionStateChanged(state) => {
            match state {
                ConnectionState::Connected => {
                    s.set_phase(id, Phase::Connected);
                    println!(
                        "peer {n}: connected ({} connected, {} pending)",
                        s.connected, s.pending
                    );
                }
                ConnectionState::Disconnected => println!(
                    "peer {n}: disconnected (nothing heard for a while; it fails if consent \
                     runs out)"
                ),
                ConnectionState::Failed => {
                    // Final: nothing to close gracefully. Out of the router at once.
                    s.forget(id);
                    println!("peer {n}: failed; removed ({} connected)", s.connected);
                    server.driver.post(move |router, _| {
                        router.remove(id);
                    });
                }
                ConnectionState::Closed => closing(server, &mut s, id, n, None),
                ConnectionState::New | ConnectionState::Connecting => {
                    println!("peer {n}: {state:?}")
                }
            }
        }
        // The browser closed the tab or the connection: its SCTP SHUTDOWN or DTLS
        // close_notify. Close at once rather than wait for ICE consent to run out.
        PeerEvent::SctpClosed => closing(
            server,
            &mut s,
            id,
            n,
            Some("the peer ended the association"),
        ),
        PeerEvent::DtlsClosed => closing(server, &mut s, id, n, Some("the peer closed DTLS")),
        PeerEvent::DtlsFailed(e) => eprintln!("peer {n}: DTLS failed: {e}"),
        PeerEvent::IceConnectionStateChanged(state) => println!("peer {n}: ICE {state:?}"),
        PeerEvent::SelectedCandidatePairChanged { remote, .. } => {
            println!("peer {n}: using the browser's candidate {remote}")
        }
        PeerEvent::DtlsConnected => println!("peer {n}: DTLS connected"),
        PeerEvent::SctpConnected => println!("peer {n}: SCTP established"),
        PeerEvent::NegotiationNeeded => println!(
            "peer {n}: renegotiation needed, which this server does not do (one POST per \
             session)"
        ),
        // The answer carries the one host candidate this server has; nothing to trickle.
        PeerEvent::LocalCandidate(_) | PeerEvent::GatheringComplete => {}
        // No threshold is set: replies are small and sent as they come.
        PeerEvent::BufferedAmountLow(_) => {}
        other => println!("peer {n}: {other:?}"),
    }
}

/// Starts closing a session (once) and schedules its removal from the router.
fn closing(server: &Server, s: &mut Sessions, id: PeerId, n: u64, why: Option<&str>) {
    let Some((_, old)) = s.set_phase(id, Phase::Closing) else {
        return;
    };
    if old == Phase::Closing {
        return;
    }
    match why {
        Some(why) => println!("peer {n}: {why}; closing"),
        None => println!("peer {n}: closed"),
    }
    s.close_due.push_back((Instant::now() + CLOSE_GRACE, id));
    server.driver.post(move |router, now| {
        if let Some(mut pc) = router.get_mut(id) {
            pc.close(now);
        }
    });
}

/// Queues a message on the driver; a refusal is reported, and one over the peer's
/// `a=max-message-size` is explained to the peer in a message that fits.
fn send(server: &Server, id: PeerId, n: u64, channel: ChannelId, data: Bytes, binary: bool) {
    server.driver.post(move |router, now| {
        let Some(mut pc) = router.get_mut(id) else {
            return;
        };
        let len = data.len();
        if let Err(e) = pc.send_message(now, channel, data, binary) {
            eprintln!("peer {n}: reply of {len} bytes on channel {channel} refused: {e}");
            if let kaon::peer::Error::MessageTooLarge { .. } = e {
                let note = format!("kaon could not send its {len}-byte reply: {e}");
                if let Err(e) = pc.send_text(now, channel, &note) {
                    eprintln!("peer {n}: and the note saying so was refused too: {e}");
                }
            }
        }
    });
}

/// Once a second: reclaims sessions that did not connect in time, removes closed ones from the
/// router, and reports what HTTP refused.
async fn janitor(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut gone = Vec::new();
        {
            let mut s = lock(&server.sessions);
            while let Some(&(due, id)) = s.connect_due.front() {
                if due > now {
                    break;
                }
                s.connect_due.pop_front();
                if s.by_id.get(&id).is_some_and(|x| x.phase == Phase::Pending) {
                    let n = s.forget(id).map_or(0, |x| x.n);
                    println!(
                        "peer {n}: reclaimed: not connected within {:?} ({} pending)",
                        server.opts.connect_timeout, s.pending
                    );
                    gone.push(id);
                }
            }
            while let Some(&(due, id)) = s.close_due.front() {
                if due > now {
                    break;
                }
                s.close_due.pop_front();
                if s.forget(id).is_some() {
                    gone.push(id);
                }
            }
            let per_ip = server.refused_per_ip.swap(0, Ordering::Relaxed);
            if per_ip > 0 {
                eprintln!(
                    "http: refused {per_ip} offers with 429 in the last second (a client over \
                     {} pending sessions)",
                    server.opts.max_pending_per_ip
                );
            }
            let refused = server.refused.swap(0, Ordering::Relaxed);
            if refused > 0 {
                eprintln!(
                    "http: refused {refused} offers with 503 in the last second ({} of {} \
                     pending)",
                    s.pending, server.opts.max_pending
                );
            }
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
