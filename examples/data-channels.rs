//! data-channels: kaon's data channels, two ways.
//!
//! ```text
//! cargo run --release --example data-channels -- [MEGABYTES] [--bind IP]
//! cargo run --release --example data-channels -- --serve [HTTP_ADDR] [--udp ADDR] [limits]
//! ```
//!
//! **Default (headless):** two kaon PeerConnections in one process, each on its own UDP socket
//! on `IP` (127.0.0.1 unless `--bind` says otherwise) and its own `kaon-std` driver thread. The
//! offer and answer go across as strings, a data channel opens, and a bulk transfer (64 MiB
//! unless `MEGABYTES` says otherwise) measures throughput. Prints the handshake timeline in ms
//! since the offer was created (ICE connected, DTLS connected, SCTP established, channel open)
//! on each side, progress every second, then the transfer rate.
//!
//! **`--serve [HTTP_ADDR]`** (default `127.0.0.1:8080`, port 0 picks one) is a small server of
//! the WHIP kind: a page, and `POST /offer` that answers a browser's offer (`application/sdp`)
//! with `201 Created` and kaon's answer. Open the printed URL in a browser on this machine: the
//! page creates an `RTCPeerConnection` (no ICE servers) and a channel, waits for its
//! candidates, posts its offer, sets kaon's answer and chats; kaon greets each channel, prints
//! what arrives and echoes it (text as `echo: ...`, binary unchanged).
//!
//! It is built as a server that faces the public has to be:
//!
//! - Every session shares **one UDP socket** (`--udp ADDR`, default the HTTP address's IP with
//!   a port of its own; port 0 picks one), through [`kaon::peer::Router`] on one
//!   `kaon_tokio::Driver`: no socket, thread or task per session.
//! - At most `--max-pending N` sessions (default 100) may be waiting to connect. Past that an
//!   offer gets `503 Service Unavailable` with `Retry-After` (the seconds until the oldest
//!   pending session is due), costing the server no certificate and no peer.
//! - A session not connected within `--connect-timeout SECS` (default 15) is reclaimed; one
//!   whose peer ends it (SCTP SHUTDOWN, DTLS close_notify), that fails, or whose ICE stays
//!   disconnected is closed and removed.
//! - HTTP is hyper's HTTP/1.1 server on tokio (see `examples/common/web.rs`): at most
//!   `--max-connections N` (default 256) at once, a request head within `--header-timeout SECS`
//!   (default 5; also the idle limit of a kept-alive connection), a body within
//!   `--body-timeout SECS` (default 10), heads up to 16 KiB and bodies up to 64 KiB.
//! - Every refusal and error is reported: per session on stdout/stderr, and floods as one
//!   summary line a second. Ctrl-C closes every session (its peers see the channels close).
//!
//! Browsers and loopback: Chromium and Firefox hide their host addresses behind mDNS names
//! (`<uuid>.local`) until the page has camera or microphone access, and this server does not
//! resolve `.local` names. The page therefore asks for the microphone (it stops the track at
//! once) and says so when it gets none; the server prints a hint when an offer has only
//! `.local` candidates. Such an offer still connects when the browser's checks reach the
//! server's candidate: kaon learns the browser's address from them (a peer-reflexive
//! candidate). Headless Chromium offers 127.0.0.1 itself with `--use-fake-ui-for-media-stream
//! --use-fake-device-for-media-stream --allow-loopback-in-peer-connection` and the page's
//! getUserMedia call, which is how `tests/example_data_channels.rs` runs it.

#[path = "common/web.rs"]
mod web;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::ice::IceState;
use kaon::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, PeerId, Router, SdpType};
use kaon::sdp::SessionDescription;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The page `--serve` hands out.
const PAGE: &str = include_str!("data-channels/index.html");
/// Size of each message of the bulk transfer.
const MESSAGE: usize = 64 * 1024;

const USAGE: &str = "usage: data-channels [MEGABYTES] [--bind IP]
       data-channels --serve [HTTP_ADDR] [--udp ADDR] [--max-pending N] [--connect-timeout SECS]
                     [--max-connections N] [--header-timeout SECS] [--body-timeout SECS]";

fn main() {
    if let Err(e) = run() {
        eprintln!("data-channels: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let mut serve_at = None;
    let mut bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut megabytes = 64;
    let mut opts = ServeOptions::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--serve" => {
                serve_at = Some(match args.next_if(|a| !a.starts_with("--")) {
                    Some(a) => a,
                    None => "127.0.0.1:8080".to_string(),
                });
            }
            "--bind" => bind = parse(&arg, &value(&arg)?)?,
            "--udp" => opts.udp = Some(parse(&arg, &value(&arg)?)?),
            "--max-pending" => opts.max_pending = parse(&arg, &value(&arg)?)?,
            "--connect-timeout" => opts.connect_timeout = secs(&arg, &value(&arg)?)?,
            "--max-connections" => opts.http.max_connections = parse(&arg, &value(&arg)?)?,
            "--header-timeout" => opts.http.header_timeout = secs(&arg, &value(&arg)?)?,
            "--body-timeout" => opts.http.body_timeout = secs(&arg, &value(&arg)?)?,
            n if !n.starts_with('-') => megabytes = parse("MEGABYTES", n)?,
            other => return Err(format!("unknown option {other}\n{USAGE}").into()),
        }
    }
    match serve_at {
        Some(addr) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(addr, opts)),
        None => demo(megabytes, bind),
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| format!("{name} {value:?}: {e}\n{USAGE}").into())
}

fn secs(name: &str, value: &str) -> Result<Duration> {
    let s: f64 = parse(name, value)?;
    Duration::try_from_secs_f64(s).map_err(|e| format!("{name} {value:?}: {e}").into())
}

// ---- the headless demo: two kaon peers over UDP ----

fn demo(megabytes: usize, ip: IpAddr) -> Result<()> {
    use kaon_std::Driver;
    // Each peer gets a socket; its address is its host candidate.
    let bind = |what: &str| {
        UdpSocket::bind((ip, 0)).map_err(|e| format!("bind the {what}'s UDP socket on {ip}: {e}"))
    };
    let (sa, sb) = (bind("offerer")?, bind("answerer")?);
    let mut a = PeerConnection::new(PeerConfig::default())?;
    let mut b = PeerConnection::new(PeerConfig::default())?;
    a.add_local_address(sa.local_addr()?)?;
    b.add_local_address(sb.local_addr()?)?;
    let bulk = a.create_data_channel(Instant::now(), "bulk", ChannelConfig::default())?;

    // Signalling, as strings.
    let t0 = Instant::now();
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1e3;
    let offer = a.create_offer()?;
    a.set_local_description(SdpType::Offer, offer.clone())?;
    b.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer.to_string())?,
    )?;
    let answer = b.create_answer()?;
    b.set_local_description(SdpType::Answer, answer.clone())?;
    a.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(&answer.to_string())?,
    )?;
    println!("offer:\n{offer}");

    let da = Driver::spawn(a, vec![sa])?;
    let db = Driver::spawn(b, vec![sb])?;

    // The timeline, as each side reports it; anything that ends the connection ends the demo.
    let mut open = [false, false];
    let deadline = Instant::now() + Duration::from_secs(10);
    while open != [true, true] {
        if Instant::now() > deadline {
            return Err("the channel did not open within 10 s".into());
        }
        for (k, (name, d)) in [("offerer", &da), ("answerer", &db)]
            .into_iter()
            .enumerate()
        {
            let e = match d.events().recv_timeout(Duration::from_millis(1)) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(e) => return Err(format!("the {name}'s driver stopped: {e}").into()),
            };
            let what = match &e {
                PeerEvent::IceConnectionStateChanged(IceState::Connected | IceState::Completed) => {
                    "ICE connected"
                }
                PeerEvent::DtlsConnected => "DTLS connected",
                PeerEvent::SctpConnected => "SCTP established",
                PeerEvent::DataChannelOpen { .. } => {
                    open[k] = true;
                    "channel open"
                }
                PeerEvent::DtlsFailed(err) => {
                    return Err(format!("{name}: DTLS failed: {err}").into());
                }
                PeerEvent::ConnectionStateChanged(
                    s @ (ConnectionState::Failed | ConnectionState::Closed),
                ) => {
                    return Err(
                        format!("{name}: connection {s:?} before the channel opened").into(),
                    );
                }
                PeerEvent::SctpClosed | PeerEvent::DtlsClosed => {
                    return Err(format!("{name}: {e:?} before the channel opened").into());
                }
                _ => continue,
            };
            println!("{name:>8}: {what:<17} {:7.2} ms", ms(Instant::now()));
        }
    }

    // Bulk: keep about 4 MiB queued at the sender, count bytes at the receiver.
    let total = megabytes * 1024 * 1024;
    let start = Instant::now();
    let mut progress = start + Duration::from_secs(1);
    let (mut sent, mut received) = (0usize, 0usize);
    let block = Bytes::from(vec![0x5a; MESSAGE]);
    while received < total {
        while sent < total {
            let m = block.slice(..MESSAGE.min(total - sent));
            let len = m.len();
            // Ok(false): the queue is full for now; Err: the channel refused the message.
            let queued = da
                .call(move |pc, now| {
                    if pc.buffered_amount(bulk) > 4 << 20 {
                        return Ok(false);
                    }
                    pc.send_message(now, bulk, m, true).map(|()| true)
                })
                .ok_or("the offerer's driver stopped")?
                .map_err(|e| format!("send of {len} bytes refused: {e}"))?;
            if !queued {
                break;
            }
            sent += len;
        }
        let mut take = |e: PeerEvent| -> Result<()> {
            match e {
                PeerEvent::Message { data, .. } => received += data.len(),
                PeerEvent::SctpClosed | PeerEvent::DtlsClosed | PeerEvent::DtlsFailed(_) => {
                    return Err(format!("answerer: {e:?} during the transfer").into());
                }
                PeerEvent::ConnectionStateChanged(s) if s != ConnectionState::Connected => {
                    return Err(format!("answerer: connection {s:?} during the transfer").into());
                }
                _ => {}
            }
            Ok(())
        };
        match db.events().recv_timeout(Duration::from_millis(1)) {
            Ok(e) => take(e)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(e) => return Err(format!("the answerer's driver stopped: {e}").into()),
        }
        while let Ok(e) = db.events().try_recv() {
            take(e)?;
        }
        // The offerer's events: a failure there must not leave us waiting for a minute.
        while let Ok(e) = da.events().try_recv() {
            if let PeerEvent::ConnectionStateChanged(
                ConnectionState::Failed | ConnectionState::Closed,
            )
            | PeerEvent::SctpClosed
            | PeerEvent::DtlsFailed(_) = e
            {
                return Err(format!("offerer: {e:?} during the transfer").into());
            }
        }
        if Instant::now() >= progress {
            progress += Duration::from_secs(1);
            println!(
                "progress: {:.1} of {megabytes} MiB received",
                received as f64 / (1 << 20) as f64
            );
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err("transfer took more than 60 s".into());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "transfer: {megabytes} MiB in {secs:.3} s = {:.1} MiB/s ({:.0} Mbit/s) over UDP on {ip}",
        total as f64 / secs / (1 << 20) as f64,
        total as f64 * 8.0 / secs / 1e6
    );
    da.call(|pc, now| pc.close(now));
    let _ = da.shutdown();
    let _ = db.shutdown();
    Ok(())
}

// ---- --serve: a page and POST /offer for browsers, every session on one UDP socket ----

/// What `--serve` takes from the command line.
#[derive(Debug, Clone)]
struct ServeOptions {
    /// The UDP address every session shares; `None`: the HTTP address's IP, port 0.
    udp: Option<SocketAddr>,
    max_pending: usize,
    connect_timeout: Duration,
    http: web::Limits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            udp: None,
            max_pending: 100,
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
    phase: Phase,
    labels: HashMap<ChannelId, String>,
}

/// Every session, and the queues that say when to look at them again. Deadlines come from one
/// constant each, so each queue is in deadline order and the janitor only pops due entries.
#[derive(Debug, Default)]
struct Sessions {
    by_id: HashMap<PeerId, Session>,
    pending: usize,
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
        match old {
            Phase::Pending => self.pending -= 1,
            Phase::Connected => self.connected -= 1,
            Phase::Closing => {}
        }
        match phase {
            Phase::Pending => self.pending += 1,
            Phase::Connected => self.connected += 1,
            Phase::Closing => {}
        }
        Some((s.n, old))
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
    driver: kaon_tokio::Driver<Router>,
    sessions: Arc<Mutex<Sessions>>,
    opts: ServeOptions,
    udp: SocketAddr,
    /// Offers refused with 503 since the last report.
    refused: AtomicU64,
    http_stats: Arc<web::Stats>,
}

fn lock(sessions: &Mutex<Sessions>) -> MutexGuard<'_, Sessions> {
    // A panic elsewhere must not take the whole server down with a poisoned lock.
    sessions.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(http_addr: String, opts: ServeOptions) -> Result<()> {
    let listener = web::listen(&http_addr).await?;
    let local = listener.local_addr()?;
    // ICE needs a real address for its host candidate, not 0.0.0.0 or [::].
    let udp_addr = opts.udp.unwrap_or(SocketAddr::new(
        match local.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
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
        driver,
        sessions: Arc::default(),
        opts,
        udp,
        refused: AtomicU64::new(0),
        http_stats: Arc::default(),
    });
    println!("open http://{local}/ in a browser on this machine (Ctrl-C to stop)");
    println!(
        "every session on UDP {udp}; at most {} pending, each reclaimed after {:?}",
        server.opts.max_pending, server.opts.connect_timeout
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
            web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE)
        }
        (&Method::POST, "/offer") => offer(&server, req.body()).await,
        (_, "/" | "/index.html" | "/offer") => {
            web::text(StatusCode::METHOD_NOT_ALLOWED, "GET / or POST /offer")
        }
        _ => web::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// `POST /offer`: a pending slot, then a peer in the router, then its answer.
async fn offer(server: &Server, body: &[u8]) -> web::Reply {
    // The slot comes first, so an offer past the cap costs neither a certificate nor a peer.
    let n = {
        let mut s = lock(&server.sessions);
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
        s.pending += 1;
        s.next += 1;
        s.next
    };
    match admit(server, n, body).await {
        Ok(answer) => web::reply(StatusCode::CREATED, "application/sdp", answer),
        Err((status, e)) => {
            lock(&server.sessions).pending -= 1;
            eprintln!("peer {n}: offer refused ({status}): {e}");
            web::text(status, e)
        }
    }
}

/// Builds the session's PeerConnection, puts it in the router, and returns its answer.
async fn admit(
    server: &Server,
    n: u64,
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
    let answer = pc.create_answer().map_err(|e| bad(&e))?;
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
