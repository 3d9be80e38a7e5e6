//! A TURN server (RFC 8656) over UDP on kaon-tokio: kaon's `turn::Server` on one listening
//! socket and a pool of relay sockets, like Pion's turn/examples/turn-server/simple.
//!
//! Run: `cargo run --example turn-server -- --public-ip 127.0.0.1 --port 3478
//! --users alice=secret,bob=hunter2 --realm example.org [--relays 16] [--relay-port 49152]
//! [--secret SHARED] [--stats-every 10]`
//!
//! `--public-ip` is the address both the listening socket and the relay sockets bind and
//! advertise (the core reports the relay sockets' own addresses). `--secret` enables the
//! shared-secret REST credentials coturn users rely on (username `"<expiry>:<name>"`,
//! password base64(HMAC-SHA1(secret, username))). Each allocation is printed as it comes and
//! goes, and a line of counters every `--stats-every` seconds. It runs until killed.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kaon::turn::{Server, ServerConfig, ServerEvent};
use tokio::net::UdpSocket;

struct Args {
    ip: IpAddr,
    port: u16,
    users: Vec<(String, String)>,
    realm: String,
    relays: u16,
    relay_port: u16,
    secret: Option<String>,
    stats_every: u64,
}

const USAGE: &str = "usage: turn-server --public-ip IP [--port 3478] --users USER=PASS[,USER=PASS...] \
[--realm REALM] [--relays N] [--relay-port FIRST] [--secret SHARED] [--stats-every SECONDS]";

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
    if a.relays == 0 || u32::from(a.relay_port) + u32::from(a.relays) > 65_536 {
        return Err("the relay ports must fit below 65536 and be at least one".into());
    }
    Ok(a)
}

#[tokio::main]
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
    let mut sockets = vec![
        UdpSocket::bind(listen)
            .await
            .map_err(|e| format!("cannot bind {listen}: {e}"))?,
    ];
    let mut relays = Vec::new();
    for i in 0..args.relays {
        let at = SocketAddr::new(args.ip, args.relay_port + i);
        let s = UdpSocket::bind(at)
            .await
            .map_err(|e| format!("cannot bind relay {at}: {e}"))?;
        relays.push(s.local_addr().map_err(|e| e.to_string())?);
        sockets.push(s);
    }
    let listen = sockets[0].local_addr().map_err(|e| e.to_string())?;
    let mut config = ServerConfig::new(&args.realm, vec![listen], relays.clone());
    config.users = args.users;
    config.shared_secret = args.secret;
    config.software = Some("kaon turn-server example".into());
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("the system clock is before 1970: {e}"))?
        .as_secs();
    let server = Server::new(config, std::time::Instant::now(), unix);
    let driver = kaon_tokio::Driver::spawn(server, sockets).map_err(|e| e.to_string())?;
    println!(
        "TURN server on {listen} (realm {}), {} relay addresses from {}",
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
                let Some((n, s)) = driver.call(|s: &mut Server, _| (s.allocations(), s.stats().clone())).await else {
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
