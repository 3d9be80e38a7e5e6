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
//! (default 0: run until interrupted).
//!
//! The signalling HTTP is written with `std::net` on a thread of its own; the peer connection
//! is `kaon_tokio::PeerConnection`. Every error is printed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use kaon::datachannel::ChannelConfig;
use kaon::peer::{ConnectionState, PeerConfig, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_tokio::{DataChannel, Message, PeerConnection};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The largest request body the signalling server reads (an SDP is a few kilobytes).
const MAX_BODY: usize = 64 * 1024;
/// The longest request line or header line it reads.
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
}

const USAGE: &str = "usage: pion-to-pion offer|answer [-offer-address ADDR] [-answer-address ADDR] \
                     [--interval-ms N] [--messages N]";

fn parse_args() -> Result<Args, String> {
    let mut role = None;
    let (mut offer_address, mut answer_address) = (None, None);
    let mut interval = Duration::from_secs(5);
    let mut messages = 0;
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
    })
}

/// Go's `host:port` as a socket address; an empty host (`:50000`) means every interface.
fn listen_address(address: &str) -> io::Result<SocketAddr> {
    let full = match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_string(),
    };
    full.to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid(&format!("{address} names no address")))
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

/// Accepts one connection at a time, answers 200 to a well-formed POST and hands it on.
fn serve(listener: TcpListener, requests: mpsc::UnboundedSender<Request>) {
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("signalling: accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let (status, request) = match read_request(&mut stream) {
            Ok(r) => ("200 OK", Some(r)),
            Err(e) => {
                eprintln!("signalling: bad request: {e}");
                ("400 Bad Request", None)
            }
        };
        // One write: `write!` would issue one per piece, and Nagle holds the later ones back
        // until the peer's delayed ACK (40 ms on Linux).
        let response =
            format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(response.as_bytes());
        if let Some(r) = request
            && requests.send(r).is_err()
        {
            return;
        }
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

/// RFC 9112 in miniature: `POST /path HTTP/1.1`, headers, a body of `Content-Length` bytes.
fn read_request(stream: &mut TcpStream) -> io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let request_line = read_line(&mut reader)?;
    let mut parts = request_line.split(' ');
    let (Some("POST"), Some(path), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a POST"));
    };
    let path = path.to_string();
    let mut length = 0;
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| invalid("bad length"))?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(invalid(
                    "chunked bodies are not supported; send Content-Length",
                ));
            }
        }
    }
    if length > MAX_BODY {
        return Err(invalid("body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8(body).map_err(|_| invalid("body is not UTF-8"))?;
    Ok(Request { path, body })
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
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("listen on {listen} for signalling: {e}"))?;
    println!("signalling on http://{}", listener.local_addr()?);
    let (request_tx, mut requests) = mpsc::unbounded_channel();
    std::thread::spawn(move || serve(listener, request_tx));

    let socket = UdpSocket::bind("127.0.0.1:0").await?;
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
    let done = |sent: usize, received: usize| {
        args.messages > 0 && sent >= args.messages && received >= args.messages
    };
    while !done(sent, received) {
        tokio::select! {
            Some(request) = requests.recv() => match request.path.as_str() {
                "/candidate" => {
                    println!("Received candidate {}", request.body.trim());
                    if let Err(e) = pc.add_ice_candidate(request.body.trim()).await {
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
                        && !sent_sdp.contains(&c)
                    {
                        println!("Posting candidate {c}");
                        post_async(peer.clone(), "/candidate", c).await?;
                    }
                }
                PeerEvent::ConnectionStateChanged(state) => {
                    println!("Peer Connection State has changed: {state:?}");
                    if state == ConnectionState::Failed {
                        return Err("the peer connection failed".into());
                    }
                }
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

    // Let the last message leave before closing: SCTP's shutdown delivers what is in flight.
    if let Some(c) = &channel {
        while c.buffered_amount().await? > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    pc.close().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("done: sent {sent} and received {received} messages");
    Ok(())
}
