//! ice-tcp: a data channel over ICE-TCP (RFC 6544), as Pion's example of that name.
//!
//! ```text
//! cargo run --release --example ice-tcp -- [HTTP_ADDR] [--tcp IP]
//! ```
//!
//! Serves a page on `HTTP_ADDR` (default `127.0.0.1:8080`; port 0 picks one) that offers a data
//! channel to this server (`POST /offer`). Each offer gets its own kaon PeerConnection
//! (`kaon_std`) whose only ICE candidate is a passive TCP host candidate on a fresh
//! `TcpListener` on `--tcp` (default: the HTTP address's IP): no UDP candidate is offered, so
//! the browser's active TCP candidate connects to it and ICE, DTLS and SCTP run over RFC 4571
//! frames. The server greets the channel and echoes what it hears. Addresses may be IPv6:
//! `[::1]:8080` or `::1` (port 8080) for HTTP, `--tcp ::1` for the candidate.
//!
//! Browsers gather TCP candidates once the page may use the microphone (the page asks, and
//! stops the track at once). Pion's example shares one TCP port among all sessions (a TCP
//! mux keyed by the ICE username); here each session listens on a port of its own.

#[path = "common/web.rs"]
mod web;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use kaon::peer::{PeerConfig, SdpType};
use kaon::sdp::SessionDescription;

/// The page: one PeerConnection, one channel, pings.
const PAGE: &str = include_str!("ice-tcp/index.html");
/// How long a session waits for the browser's channel before it is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn usage() -> &'static str {
    "usage: ice-tcp [HTTP_ADDR] [--tcp IP]"
}

fn main() {
    if let Err(e) = run() {
        eprintln!("ice-tcp: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut http = "127.0.0.1:8080".to_string();
    let mut tcp_ip: Option<IpAddr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            "--tcp" => {
                let v = args.next().ok_or("--tcp needs an IP address")?;
                tcp_ip = Some(v.parse().map_err(|e| format!("--tcp {v}: {e}"))?);
            }
            a if !a.starts_with('-') => http = a.to_string(),
            other => return Err(format!("unknown option {other}\n{}", usage()).into()),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(&http, tcp_ip))
}

async fn serve(http: &str, tcp_ip: Option<IpAddr>) -> Result<()> {
    let listener = web::listen(http).await?;
    let local = listener.local_addr()?;
    // ICE needs a real address for its candidate, not 0.0.0.0 or [::].
    // An HTTP server on every interface (`0.0.0.0`, `[::]`) offers loopback of its family.
    let ip = tcp_ip.unwrap_or(match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    });
    if ip.is_unspecified() {
        return Err("--tcp: give the address browsers reach, not an unspecified one".into());
    }
    println!("open http://{local}/ in a browser on this machine (Ctrl-C to stop)");
    println!("each session listens for ICE-TCP on {ip}, port of the system's choosing");
    let handler = move |req: Request<Bytes>| async move { route(ip, req).await };
    let stats = Arc::new(web::Stats::default());
    tokio::select! {
        () = web::serve(listener, web::Limits::default(), stats, handler) => {
            Err("the HTTP server stopped".into())
        }
        r = tokio::signal::ctrl_c() => Ok(r?),
    }
}

async fn route(ip: IpAddr, req: Request<Bytes>) -> web::Reply {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/" | "/index.html") => {
            web::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE)
        }
        (&Method::POST, "/offer") => {
            let body = req.into_body();
            match tokio::task::spawn_blocking(move || answer(ip, &body)).await {
                Ok(Ok(answer)) => web::reply(StatusCode::CREATED, "application/sdp", answer),
                Ok(Err(e)) => web::text(StatusCode::BAD_REQUEST, e.to_string()),
                Err(e) => web::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (_, "/" | "/index.html" | "/offer") => {
            web::text(StatusCode::METHOD_NOT_ALLOWED, "GET / or POST /offer")
        }
        _ => web::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// A PeerConnection whose only candidate is a passive TCP one answers `body`; a thread serves
/// its channel.
fn answer(ip: IpAddr, body: &[u8]) -> Result<String> {
    let offer = SessionDescription::parse(std::str::from_utf8(body)?)?;
    let listener = TcpListener::bind((ip, 0))?;
    let tcp = listener.local_addr()?;
    let pc = kaon_std::PeerConnection::with_tcp_listeners(PeerConfig::default(), vec![listener])?;
    pc.set_remote_description(SdpType::Offer, offer)?;
    let answer = pc.create_answer()?;
    pc.set_local_description(SdpType::Answer, answer.clone())?;
    println!("session: answering with the passive TCP candidate {tcp}");
    std::thread::spawn(move || session(pc));
    Ok(answer.to_string())
}

/// Greets the browser's channel and echoes it until it closes.
fn session(pc: kaon_std::PeerConnection) {
    let Ok(channel) = pc.accept_data_channel_timeout(CONNECT_TIMEOUT) else {
        println!("session: no channel within {CONNECT_TIMEOUT:?}; dropped");
        return;
    };
    if let Ok(Some((local, remote))) = pc.call(|pc, _| pc.ice().selected_candidates()) {
        println!(
            "session: channel '{}' open over {local} <- {remote}",
            channel.label()
        );
    }
    let _ = channel.send_text("hello from kaon, over TCP");
    while let Ok(m) = channel.recv_timeout(Duration::from_secs(60)) {
        let text = String::from_utf8_lossy(&m.data);
        if channel.send_text(&format!("echo: {text}")).is_err() {
            break;
        }
    }
    println!("session: channel closed");
    let _ = pc.close();
}
