//! Two peers talk over a data channel in the shape of Pion's `pion-to-pion` example, on its
//! wire format, so either kaon side can stand in for either Pion program: an answer process
//! and an offer process, each with a tiny HTTP/1.1 signalling server. The offerer POSTs its
//! offer as JSON `{"type":"offer","sdp":"..."}` to the answerer's `/sdp`; the answerer POSTs
//! `{"type":"answer","sdp":"..."}` back to the offerer's `/sdp`; candidates found after a
//! description was sent are POSTed as plain text (`candidate:...`) to the peer's `/candidate`.
//! Then both sides send a message every interval and print what they receive.
//!
//! ```text
//! cargo run --example pion-to-pion -- answer      # first, in one terminal
//! cargo run --example pion-to-pion -- offer       # then, in another
//! ```
//!
//! Pion's programs work in either place (`go run .` in Pion's `examples/pion-to-pion/answer`
//! or `offer`).
//!
//! Options, as Pion's: `-offer-address ADDR` and `-answer-address ADDR` name the two
//! signalling servers, with Pion's defaults per role: the offer side listens on `:50000` and
//! posts to `127.0.0.1:60000`; the answer side listens on `:60000` and posts to
//! `localhost:50000` (`:PORT` listens on every interface). As in Go, a flag takes one or two
//! dashes and its value after a space or `=`. kaon's own: `--interval-ms N` (default 5000)
//! paces the messages; `--messages N` exits cleanly after sending and receiving N messages
//! (default 0: run until interrupted); `--udp ADDR` is the peer connection's socket (default
//! `127.0.0.1:0`; its address is the host candidate, so give one the peer can reach).
//!
//! The signalling server is hyper's HTTP/1.1 server with the limits of
//! `examples/common/web.rs` (connections, header and body time and size); the POSTs it makes
//! are one-shot requests on `std::net`. The peer connection is `kaon_tokio::PeerConnection`.
//! Every error is printed, candidates found after a description left are trickled, and so is
//! end-of-candidates (an empty `/candidate` body, which Pion takes as such) when the
//! description did not carry it. A peer that ends the connection before the messages are done
//! is an error; after, a clean exit.

#[path = "common/web.rs"]
mod web;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};

use kaon::datachannel::ChannelConfig;
use kaon::peer::{ConnectionState, IceCandidate, PeerConfig, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::{DataChannel, Message, PeerConnection};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The longest response line `post` reads.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Offer,
    Answer,
}

struct Args {
    role: Role,
    /// As given: `host:port`, or `:port` for every interface.
    offer_address: String,
    answer_address: String,
    interval: Duration,
    messages: usize,
    /// The peer connection's UDP socket.
    udp: SocketAddr,
}

const USAGE: &str = "usage: pion-to-pion offer|answer [-offer-address ADDR] [-answer-address ADDR] \
                     [--interval-ms N] [--messages N] [--udp ADDR]";

fn parse_args() -> Result<Args, String> {
    let mut role = None;
    let (mut offer_address, mut answer_address) = (None, None);
    let mut interval = Duration::from_secs(5);
    let mut messages = 0;
    let mut udp = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // Go's flag package: `-name`, `--name`, each with `=value` or the next argument.
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            role = match arg.as_str() {
                "offer" => Some(Role::Offer),
                "answer" => Some(Role::Answer),
                other => return Err(format!("unknown role {other:?}; {USAGE}")),
            };
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                let v = args
                    .next()
                    .ok_or(format!("-{flag} needs a value; {USAGE}"))?;
                (flag.to_string(), v)
            }
        };
        let bad = |e: &dyn std::fmt::Display| format!("-{name} {value}: {e}");
        match name.as_str() {
            "offer-address" => offer_address = Some(value.clone()),
            "answer-address" => answer_address = Some(value.clone()),
            "interval-ms" => interval = Duration::from_millis(value.parse().map_err(|e| bad(&e))?),
            "messages" => messages = value.parse().map_err(|e| bad(&e))?,
            "udp" => udp = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option -{name}; {USAGE}")),
        }
    }
    let role = role.ok_or(USAGE)?;
    // Pion's defaults: each program listens on every interface and posts to loopback.
    let (offer_default, answer_default) = match role {
        Role::Offer => (":50000", "127.0.0.1:60000"),
        Role::Answer => ("localhost:50000", ":60000"),
    };
    Ok(Args {
        role,
        offer_address: offer_address.unwrap_or_else(|| offer_default.into()),
        answer_address: answer_address.unwrap_or_else(|| answer_default.into()),
        interval,
        messages,
        udp,
    })
}

/// Go's `host:port` as the addresses to listen on: an empty host (`:50000`) means every
/// interface, IPv6 and IPv4 as Go's `net.Listen` does (`web::listen_addrs`).
fn listen_address(address: &str) -> io::Result<Vec<SocketAddr>> {
    web::listen_addrs(address)
}

/// A session description on Pion's wire: `{"type":"offer"|"answer","sdp":"..."}` (the JSON
/// of the W3C RTCSessionDescriptionInit, as Go's `json.Marshal` writes it).
fn description_json(kind: &str, sdp: &str) -> String {
    serde_json::json!({ "type": kind, "sdp": sdp }).to_string()
}

/// Reads a JSON session description and checks its type is `expected`.
fn parse_description(body: &str, expected: &str) -> Result<SessionDescription, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("session description is not JSON: {e}"))?;
    let kind = value.get("type").and_then(|t| t.as_str());
    if kind != Some(expected) {
        return Err(format!("expected an {expected}, got type {kind:?}"));
    }
    let sdp = value
        .get("sdp")
        .and_then(|s| s.as_str())
        .ok_or("session description without an \"sdp\" string")?;
    SessionDescription::parse(sdp).map_err(|e| format!("bad SDP in the {expected}: {e}"))
}

/// A POST the signalling server received: its path and body.
struct Request {
    path: String,
    body: String,
}

/// Answers 200 to a well-formed POST to `/sdp` or `/candidate` and hands it on; what goes
/// wrong is answered with its status and reported.
async fn signalling(
    req: hyper::Request<Bytes>,
    requests: mpsc::UnboundedSender<Request>,
) -> web::Reply {
    let path = req.uri().path().to_string();
    let refuse = |status: StatusCode, why: String| {
        eprintln!("signalling: {} {path}: {status}: {why}", req.method());
        web::text(status, why)
    };
    if path != "/sdp" && path != "/candidate" {
        return refuse(StatusCode::NOT_FOUND, "POST /sdp or /candidate".into());
    }
    if req.method() != Method::POST {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "POST only".into());
    }
    let body = match String::from_utf8(req.body().to_vec()) {
        Ok(b) => b,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("body is not UTF-8: {e}")),
    };
    match requests.send(Request { path, body }) {
        Ok(()) => web::reply(StatusCode::OK, "text/plain", ""),
        Err(_) => web::text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one line of at most `MAX_LINE` bytes, without its CRLF.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    reader.take(MAX_LINE as u64).read_line(&mut line)?;
    if !line.ends_with('\n') {
        return Err(invalid("line too long or cut short"));
    }
    Ok(line.trim_end().to_string())
}

/// POSTs `body` to `http://{to}{path}`, retrying for a while if the peer is not up yet.
/// `to` is Go's `host:port`; every address the host name resolves to is tried.
fn post(to: &str, path: &str, content_type: &str, body: &str) -> io::Result<()> {
    let addresses: Vec<SocketAddr> = to.to_socket_addrs()?.collect();
    let mut attempts = 0;
    let mut stream = loop {
        match TcpStream::connect(&addresses[..]) {
            Ok(s) => break s,
            Err(_) if attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("connect to {to}: {e}"))),
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    // One write, for the reason `serve` gives.
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {to}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let status = read_line(&mut BufReader::new(&mut stream))
        .map_err(|e| invalid(&format!("http://{to}{path} gave no answer: {e}")))?;
    if status.split(' ').nth(1) != Some("200") {
        return Err(invalid(&format!("http://{to}{path} answered {status}")));
    }
    Ok(())
}

/// The content type Pion puts on both of its POSTs: the session description is JSON; the
/// candidate, labelled the same, is the bare `candidate:...` line.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

async fn post_async(to: String, path: &'static str, body: String) -> io::Result<()> {
    tokio::task::spawn_blocking(move || post(&to, path, CONTENT_TYPE, &body))
        .await
        .map_err(io::Error::other)?
}

/// The channel's next message, or never if there is no channel yet.
async fn next_message(channel: &Option<DataChannel>) -> Option<Message> {
    match channel {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves once the channel is open (errors if it closed first), or never without a channel.
async fn opened(channel: &Option<DataChannel>) -> Result<(), kaon::peer::Error> {
    match channel {
        Some(c) => c.wait_open().await,
        None => std::future::pending().await,
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let (listen, peer) = match args.role {
        Role::Offer => (&args.offer_address, args.answer_address.clone()),
        Role::Answer => (&args.answer_address, args.offer_address.clone()),
    };
    let name = match args.role {
        Role::Offer => "offer",
        Role::Answer => "answer",
    };

    let listen = listen_address(listen).map_err(|e| format!("signalling address {listen}: {e}"))?;
    let listener = tokio::net::TcpListener::bind(&listen[..])
        .await
        .map_err(|e| format!("listen on {listen:?} for signalling: {e}"))?;
    println!("signalling on http://{}", listener.local_addr()?);
    let (request_tx, mut requests) = mpsc::unbounded_channel();
    let http_stats = Arc::new(web::Stats::default());
    tokio::spawn(web::serve(
        listener,
        web::Limits::default(),
        http_stats.clone(),
        move |req| signalling(req, request_tx.clone()),
    ));
    // What the signalling server refused, once a second when anything was.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            http_stats.report();
        }
    });

    let socket = UdpSocket::bind(args.udp)
        .await
        .map_err(|e| format!("bind the UDP socket on {}: {e}", args.udp))?;
    println!("media on udp://{}", socket.local_addr()?);
    let pc = PeerConnection::new(PeerConfig::default(), vec![socket])?;

    // From our offer, or from the peer's offer arriving: to the open channel.
    let mut started = std::time::Instant::now();
    // The description we sent: candidates in it need no trickling.
    let mut described: Option<String> = None;
    let mut channel = None;
    if args.role == Role::Offer {
        started = std::time::Instant::now();
        channel = Some(
            pc.create_data_channel("data", ChannelConfig::default())
                .await?,
        );
        let offer = pc.create_offer().await?;
        pc.set_local_description(SdpType::Offer, offer.clone())
            .await?;
        let text = offer.to_string();
        described = Some(text.clone());
        println!("Posting the offer to http://{peer}/sdp");
        post_async(peer.clone(), "/sdp", description_json("offer", &text)).await?;
    }

    let mut ticker = tokio::time::interval(args.interval);
    let (mut open, mut sent, mut received) = (false, 0, 0);
    let mut peer_closed = false;
    let done = |sent: usize, received: usize| {
        args.messages > 0 && sent >= args.messages && received >= args.messages
    };
    while !done(sent, received) {
        tokio::select! {
            Some(request) = requests.recv() => match request.path.as_str() {
                "/candidate" => {
                    println!("Received candidate {}", request.body.trim());
                    if let Err(e) = pc.add_ice_candidate(IceCandidate::from_line(&request.body)).await {
                        eprintln!("bad candidate {:?}: {e}", request.body);
                    }
                }
                "/sdp" => match args.role {
                    Role::Offer => {
                        let sdp = parse_description(&request.body, "answer")?;
                        println!("Received the answer");
                        pc.set_remote_description(SdpType::Answer, sdp).await?;
                    }
                    Role::Answer => {
                        let sdp = parse_description(&request.body, "offer")?;
                        println!("Received the offer");
                        started = std::time::Instant::now();
                        pc.set_remote_description(SdpType::Offer, sdp).await?;
                        let answer = pc.create_answer().await?;
                        pc.set_local_description(SdpType::Answer, answer.clone())
                            .await?;
                        let text = answer.to_string();
                        described = Some(text.clone());
                        println!("Posting the answer to http://{peer}/sdp");
                        post_async(peer.clone(), "/sdp", description_json("answer", &text)).await?;
                    }
                },
                other => eprintln!("unknown signalling path {other}"),
            },
            Some(event) = pc.next_event() => match event {
                PeerEvent::LocalCandidate(c) => {
                    if let Some(sent_sdp) = &described
                        && !sent_sdp.contains(&c.candidate)
                    {
                        // Pion's example posts the bare candidate line.
                        println!("Posting candidate {c}");
                        post_async(peer.clone(), "/candidate", c.candidate).await?;
                    }
                }
                // RFC 8838 §4.1: say when the last candidate has gone, unless the description
                // already said so. A peer waiting for it (some gateways do) otherwise never
                // decides its pairs have failed.
                PeerEvent::GatheringComplete => {
                    if let Some(sent_sdp) = &described
                        && !sent_sdp.contains("a=end-of-candidates")
                    {
                        println!("Posting end-of-candidates");
                        post_async(peer.clone(), "/candidate", String::new()).await?;
                    }
                }
                PeerEvent::ConnectionStateChanged(state) => {
                    println!("Peer Connection State has changed: {state:?}");
                    match state {
                        ConnectionState::Failed => {
                            return Err("the peer connection failed".into());
                        }
                        ConnectionState::Disconnected => println!(
                            "(nothing heard from the peer for a while; ICE fails if consent \
                             runs out)"
                        ),
                        _ => {}
                    }
                }
                PeerEvent::IceConnectionStateChanged(state) => {
                    println!("ICE Connection State has changed: {state:?}");
                }
                PeerEvent::SelectedCandidatePairChanged { local, remote } => {
                    println!("Selected candidate pair: {local} <-> {remote}");
                }
                PeerEvent::DtlsFailed(e) => eprintln!("DTLS failed: {e}"),
                // The peer closed: fine once the messages are done, an error before.
                PeerEvent::SctpClosed | PeerEvent::DtlsClosed => {
                    if args.messages > 0 && received >= args.messages {
                        println!("The peer closed the connection");
                        peer_closed = true;
                        break;
                    }
                    return Err(format!(
                        "the peer closed the connection ({event:?}) after {received} messages"
                    )
                    .into());
                }
                PeerEvent::NegotiationNeeded => {
                    println!("Negotiation needed: this example negotiates once and ignores it");
                }
                // DTLS and SCTP progress, channel events (the DataChannel handle reports
                // those): nothing to do here.
                _ => {}
            },
            Some(accepted) = pc.accept_data_channel(), if channel.is_none() => {
                println!("New DataChannel {} {}", accepted.label(), accepted.id());
                channel = Some(accepted);
            }
            result = opened(&channel), if !open => {
                result?;
                open = true;
                let label = channel.as_ref().map_or("", |c| c.label());
                println!(
                    "Data channel '{label}' open after {:.1} ms. Messages will now be sent every {:?}",
                    started.elapsed().as_secs_f64() * 1e3,
                    args.interval
                );
                ticker.reset_immediately();
            }
            _ = ticker.tick(), if open && (args.messages == 0 || sent < args.messages) => {
                sent += 1;
                let text = format!("message {sent} from {name}");
                println!("Sending '{text}'");
                if let Some(c) = &channel {
                    c.send_text(&text).await?;
                }
            }
            message = next_message(&channel), if open => match message {
                Some(m) => {
                    received += 1;
                    let label = channel.as_ref().map_or("", |c| c.label());
                    println!(
                        "Message from DataChannel '{label}': '{}'",
                        String::from_utf8_lossy(&m.data)
                    );
                }
                None => return Err("the data channel closed".into()),
            },
        }
    }

    if !peer_closed {
        // Let the last message leave before closing: SCTP's shutdown delivers what is in
        // flight.
        if let Some(c) = &channel {
            while c.buffered_amount().await? > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        pc.close().await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("done: sent {sent} and received {received} messages");
    Ok(())
}
