//! A TURN server (RFC 8656) on kaon-tokio: kaon's `turn::Server` listening on UDP and TCP at
//! one address (and on TLS with `--tls-cert`/`--tls-key`), with a pool of UDP relay sockets,
//! like Pion's turn/examples/turn-server/simple.
//!
//! Run: `cargo run --example turn-server -- --public-ip 127.0.0.1 --port 3478
//! --users alice=secret,bob=hunter2 --realm example.org [--relays 16] [--relay-port 49152]
//! [--secret SHARED] [--stats-every 10] [--tls-cert cert.pem --tls-key key.pem [--tls-port 5349]]`
//!
//! Clients reach it as `turn:IP:PORT` (UDP), `turn:IP:PORT?transport=tcp`, and with a
//! certificate `turns:IP:TLS_PORT` (RFC 8656 §3.1; the relays are UDP either way). An
//! allocation made over TCP or TLS ends when its connection closes.
//!
//! `--public-ip` is the address both the listening socket and the relay sockets bind and
//! advertise (the core reports the relay sockets' own addresses). `--secret` enables the
//! shared-secret REST credentials coturn users rely on (username `"<expiry>:<name>"`,
//! password base64(HMAC-SHA1(secret, username))). Each allocation is printed as it comes and
//! goes, and a line of counters every `--stats-every` seconds. It runs until killed.
//!
//! The server runs on `Driver::spawn_inline` on a current-thread runtime: one task reads its
//! UDP sockets itself (batches of `recvmmsg` until they would block), relays each batch and
//! sends it at once (GSO), and sleeps only when every socket is empty. A relay's cost is
//! nearly all the kernel's UDP path, so what a server adds is wake-ups and hand-offs between
//! threads: reader tasks handing datagrams to a driver task, or a multi-threaded runtime's
//! workers stealing the task back and forth, cost more CPU per relayed packet than the
//! relaying itself (see `examples/turn-relay-bench.rs`, whose `driver` mode runs the server
//! this way beside coturn). To use more cores, run one such server per core.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kaon::turn::{Server, ServerConfig, ServerEvent};
use kaon_tokio::turn_server::{TcpServer, tls_config_from_pem};
use tokio::net::{TcpListener, UdpSocket};

struct Args {
    ip: IpAddr,
    port: u16,
    users: Vec<(String, String)>,
    realm: String,
    relays: u16,
    relay_port: u16,
    secret: Option<String>,
    stats_every: u64,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    tls_port: u16,
}

const USAGE: &str = "usage: turn-server --public-ip IP [--port 3478] --users USER=PASS[,USER=PASS...] \
[--realm REALM] [--relays N] [--relay-port FIRST] [--secret SHARED] [--stats-every SECONDS] \
[--tls-cert CERT.pem --tls-key KEY.pem [--tls-port 5349]]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        ip: IpAddr::from([127, 0, 0, 1]),
        port: 3478,
        users: Vec::new(),
        realm: "kaon.example".into(),
        relays: 16,
        relay_port: 49152,
        secret: None,
        stats_every: 10,
        tls_cert: None,
        tls_key: None,
        tls_port: 5349,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let bad = |what: &str| format!("bad {what} for {flag}");
        match flag.as_str() {
            "--public-ip" => a.ip = value()?.parse().map_err(|_| bad("IP address"))?,
            "--port" => a.port = value()?.parse().map_err(|_| bad("port"))?,
            "--realm" => a.realm = value()?,
            "--relays" => a.relays = value()?.parse().map_err(|_| bad("count"))?,
            "--relay-port" => a.relay_port = value()?.parse().map_err(|_| bad("port"))?,
            "--secret" => a.secret = Some(value()?),
            "--stats-every" => a.stats_every = value()?.parse().map_err(|_| bad("seconds"))?,
            "--tls-cert" => a.tls_cert = Some(value()?),
            "--tls-key" => a.tls_key = Some(value()?),
            "--tls-port" => a.tls_port = value()?.parse().map_err(|_| bad("port"))?,
            "--users" => {
                for pair in value()?.split(',').filter(|p| !p.is_empty()) {
                    let (u, p) = pair.split_once('=').ok_or(bad("USER=PASS list"))?;
                    a.users.push((u.into(), p.into()));
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.users.is_empty() && a.secret.is_none() {
        return Err(
            "give --users or --secret: a TURN server without credentials is an open relay".into(),
        );
    }
    if a.tls_cert.is_some() != a.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    if a.relays == 0 || u32::from(a.relay_port) + u32::from(a.relays) > 65_536 {
        return Err("the relay ports must fit below 65536 and be at least one".into());
    }
    Ok(a)
}

// One thread: see the module docs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("turn-server: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("turn-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let listen = SocketAddr::new(args.ip, args.port);
    let udp = UdpSocket::bind(listen)
        .await
        .map_err(|e| format!("cannot bind {listen}: {e}"))?;
    let listen = udp.local_addr().map_err(|e| e.to_string())?;
    // TCP on the same address as UDP (RFC 8656 §3.1: one port for both).
    let tcp = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on TCP {listen}: {e}"))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |p: &str| std::fs::read(p).map_err(|e| format!("cannot read {p}: {e}"));
            let config = tls_config_from_pem(&read(cert)?, &read(key)?)
                .map_err(|e| format!("bad certificate or key: {e}"))?;
            let at = SocketAddr::new(args.ip, args.tls_port);
            let listener = TcpListener::bind(at)
                .await
                .map_err(|e| format!("cannot listen on TLS {at}: {e}"))?;
            Some((listener, config))
        }
        _ => None,
    };
    let mut sockets = vec![udp];
    let mut relays = Vec::new();
    for i in 0..args.relays {
        let at = SocketAddr::new(args.ip, args.relay_port + i);
        let s = UdpSocket::bind(at)
            .await
            .map_err(|e| format!("cannot bind relay {at}: {e}"))?;
        relays.push(s.local_addr().map_err(|e| e.to_string())?);
        sockets.push(s);
    }
    let mut listening = vec![listen];
    if let Some((l, _)) = &tls {
        listening.push(l.local_addr().map_err(|e| e.to_string())?);
    }
    let mut config = ServerConfig::new(&args.realm, listening.clone(), relays.clone());
    config.users = args.users;
    config.shared_secret = args.secret;
    config.software = Some("kaon turn-server example".into());
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("the system clock is before 1970: {e}"))?
        .as_secs();
    let server = TcpServer::new(Server::new(config, std::time::Instant::now(), unix));
    let driver = kaon_tokio::Driver::spawn_inline(server, sockets).map_err(|e| e.to_string())?;
    TcpServer::listen(&driver, tcp).map_err(|e| e.to_string())?;
    if let Some((listener, config)) = tls {
        TcpServer::listen_tls(&driver, listener, config).map_err(|e| e.to_string())?;
    }
    println!(
        "TURN server on {listen} (UDP, TCP){} (realm {}), {} relay addresses from {}",
        listening
            .get(1)
            .map_or(String::new(), |t| format!(" and {t} (TLS)")),
        args.realm,
        relays.len(),
        relays[0]
    );
    let mut tick = tokio::time::interval(Duration::from_secs(args.stats_every.max(1)));
    tick.tick().await;
    loop {
        tokio::select! {
            event = driver.next_event() => match event {
                Some(ServerEvent::Allocated { client, username, relayed }) => {
                    println!("allocated {relayed:?} for {username} at {client}");
                }
                Some(ServerEvent::Released { client, relayed, expired }) => {
                    let how = if expired { "expired" } else { "released" };
                    println!("{how} {relayed:?} of {client}");
                }
                None => return Err("the driver stopped".into()),
            },
            _ = tick.tick() => {
                let Some((n, s)) = driver.call(|s: &mut TcpServer<Server>, _| {
                    (s.inner().allocations(), s.inner().stats().clone())
                }).await else {
                    return Err("the driver stopped".into());
                };
                println!(
                    "allocations {n}, requests {}, 401 {}, 438 {}, to peers {}, to clients {}, no permission {}, dropped {}",
                    s.requests, s.unauthenticated, s.stale_nonces, s.to_peers, s.to_clients, s.no_permission, s.dropped
                );
            }
        }
    }
}
