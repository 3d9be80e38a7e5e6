//! ice-single-port: many PeerConnections on one UDP port (Pion's example of that name).
//!
//! ```text
//! cargo run --release --example ice-single-port -- [HTTP_ADDR] [--udp ADDR] [limits]
//! ```
//!
//! Serves a page on `HTTP_ADDR` (default `127.0.0.1:8080`; port 0 picks one) that opens several
//! `RTCPeerConnection`s at once (`?n=5` by default) to this server. Every one of them, from any
//! number of tabs, reaches kaon on the same UDP address (`--udp`, default `127.0.0.1:8443` as in
//! Pion's example): the server holds one socket and puts every session's `PeerConnection` in a
//! [`kaon::peer::Router`], which routes each datagram to its session by the ICE ufrag of a
//! connectivity check and, after that, by the 5-tuple. The page shows, for each connection, the
//! server address its selected candidate pair uses. Both addresses take IPv6: `[::1]:8080` or
//! `::1` for HTTP, `--udp [::1]:8443` (or `--udp ::1` for any port).
//!
//! Each session opens the browser's channel, greets it, and echoes what it says. The server is
//! the one `data-channels --serve` runs (`examples/common/sessions.rs`): pending sessions capped
//! (`--max-pending`, 503 with Retry-After past it) and reclaimed after `--connect-timeout`,
//! HTTP through hyper with connection, time and size limits, every error reported.
//!
//! The server gathers host candidates only, on purpose: every session shares the socket, and a
//! STUN or TURN server reached from it by several sessions would be one 5-tuple claimed by all
//! of them (see the Router's documentation).

#[path = "common/sessions.rs"]
mod sessions;
#[path = "common/web.rs"]
mod web;

use std::net::SocketAddr;

/// The page: several PeerConnections from one tab.
const PAGE: &str = include_str!("ice-single-port/index.html");

fn usage() -> String {
    format!("usage: ice-single-port [HTTP_ADDR] {}", sessions::OPTIONS)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("ice-single-port: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut http = "127.0.0.1:8080".to_string();
    let mut opts = sessions::ServeOptions {
        udp: Some(SocketAddr::from(([127, 0, 0, 1], 8443))),
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if opts.take(&arg, &mut || args.next())? {
            continue;
        }
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            a if !a.starts_with('-') => http = a.to_string(),
            other => return Err(format!("unknown option {other}\n{}", usage()).into()),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(sessions::serve(&http, opts, PAGE))
}
