//! Headless Chromium relay-only (`iceTransportPolicy: 'relay'`) with a relay-only kaon peer,
//! through kaon's TURN server (over UDP, TCP and TLS) and through coturn: the data channel
//! opens and carries messages both ways, and Chromium's selected pair is relay to relay.
//! Chromium checks a `turns:` server's certificate (a test-made CA needs
//! `--ignore-certificate-errors`). Chromium runs
//! `tests/turn_chromium.mjs` (playwright-core); needs `/usr/bin/chromium`, `node`, `openssl`,
//! `tests/interop/chromium/node_modules` and `turnserver` (`.ci/run` installs them).

#[path = "turn_support/certs.rs"]
mod certs;
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::json_lines::{Ev, json_str};
use kaon::ice::IceTransportPolicy;
use kaon::peer::{IceServer, PeerConfig, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon::turn::{Server, ServerConfig};
use kaon_std::turn_stream::{TcpServer, TurnTls};
use kaon_std::{Driver, PeerConnection};

const TEST: &str = "turn_chromium";
const CHROMIUM: &str = "/usr/bin/chromium";
const USER: &str = "test";
const PASSWORD: &str = "test123";
const REALM: &str = "example.test";

fn playwright() -> PathBuf {
    common::repo_root().join("tests/interop/chromium/node_modules/playwright-core")
}

fn peer_available() -> bool {
    if !PathBuf::from(CHROMIUM).is_file() {
        return common::missing_peer(TEST, CHROMIUM);
    }
    if common::which("node").is_none() {
        return common::missing_peer(TEST, "node");
    }
    if !playwright().join("index.mjs").is_file() {
        return common::missing_peer(TEST, "tests/interop/chromium/node_modules (npm ci there)");
    }
    true
}

/// `tests/turn_chromium.mjs` and its events.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<String>,
}

impl Browser {
    fn start(url: &str, chromium_args: &[&str]) -> Self {
        let servers = format!(
            "[{{\"urls\":{},\"username\":{},\"credential\":{}}}]",
            json_str(url),
            json_str(USER),
            json_str(PASSWORD)
        );
        let mut child = Command::new("node")
            .arg(common::repo_root().join("tests/turn_chromium.mjs"))
            .arg(playwright())
            .arg(servers)
            .arg(format!(
                "[{}]",
                chromium_args
                    .iter()
                    .map(|a| json_str(a))
                    .collect::<Vec<_>>()
                    .join(",")
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node turn_chromium.mjs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut b = Self {
            child,
            stdin,
            events,
        };
        b.wait("ready", Duration::from_secs(90));
        b
    }

    fn send(&mut self, json: &str) {
        writeln!(self.stdin, "{json}").expect("write to turn_chromium.mjs");
        self.stdin.flush().unwrap();
    }

    /// The next event named `ev` (others are printed); panics on an error event or time out.
    fn wait(&mut self, ev: &str, limit: Duration) -> Ev {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("browser: no {ev} within {limit:?}"));
            let e = Ev::parse(&line).unwrap_or_else(|| panic!("browser printed {line}"));
            if e.is("error") {
                panic!("browser: {}", e.get("what"));
            }
            if e.is(ev) {
                return e;
            }
            eprintln!("browser: {line}");
        }
    }

    /// Events that arrived so far, without waiting.
    fn poll(&mut self) -> Vec<Ev> {
        self.events
            .try_iter()
            .filter_map(|l| Ev::parse(&l))
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{{\"cmd\":\"quit\"}}");
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium offers a "chat" channel relay-only through `url`; a relay-only kaon peer answers
/// through the same server; messages go both ways.
fn chromium_and_kaon_through(url: &str) {
    chromium_and_kaon_through_with(url, TurnTls::System, &[]);
}

/// As [`chromium_and_kaon_through`], kaon trusting `tls` for `turns:`, Chromium run with
/// `chromium_args`.
fn chromium_and_kaon_through_with(url: &str, tls: TurnTls, chromium_args: &[&str]) {
    let mut browser = Browser::start(url, chromium_args);
    browser.send("{\"cmd\":\"offer\"}");
    let offer = browser.wait("offer", Duration::from_secs(30));
    let offer_sdp = offer.get("sdp").to_owned();
    assert!(
        offer_sdp.contains(" typ relay"),
        "no relay candidate in Chromium's offer:\n{offer_sdp}"
    );
    assert!(!offer_sdp.contains(" typ host"), "{offer_sdp}");

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = PeerConfig {
        ice_servers: vec![IceServer::turn(url, USER, PASSWORD)],
        ice_transport_policy: IceTransportPolicy::Relay,
        ..PeerConfig::default()
    };
    let kaon = PeerConnection::with_turn_tls(config, vec![socket], tls).unwrap();
    kaon.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(&offer_sdp).unwrap(),
    )
    .unwrap();
    let answer = kaon.create_answer().unwrap();
    kaon.set_local_description(SdpType::Answer, answer.clone())
        .unwrap();
    browser.send(&format!(
        "{{\"cmd\":\"answer\",\"sdp\":{}}}",
        json_str(&answer.to_string())
    ));
    browser.wait("answered", Duration::from_secs(10));

    // kaon's relayed candidates trickle to the page until both ends see the channel open.
    let end = Instant::now() + Duration::from_secs(30);
    let (mut browser_open, mut channel) = (false, None);
    while Instant::now() < end && !(browser_open && channel.is_some()) {
        while let Ok(e) = kaon.next_event_timeout(Duration::from_millis(10)) {
            if let PeerEvent::LocalCandidate(c) = e {
                assert!(c.candidate.contains(" typ relay"), "{c}");
                let line = c.candidate.as_str();
                browser.send(&format!(
                    "{{\"cmd\":\"candidate\",\"line\":{}}}",
                    json_str(line)
                ));
            }
        }
        for e in browser.poll() {
            if e.is("error") {
                panic!("browser: {}", e.get("what"));
            }
            if e.is("candidate-error") {
                eprintln!(
                    "browser: candidate error {} {}",
                    e.get("code"),
                    e.get("text")
                );
            }
            browser_open |= e.is("open");
        }
        if channel.is_none() {
            channel = kaon.accept_data_channel_timeout(Duration::ZERO).ok();
        }
    }
    assert!(browser_open, "{url}: Chromium's channel never opened");
    let channel = channel.unwrap_or_else(|| panic!("{url}: kaon saw no channel"));

    browser.send("{\"cmd\":\"send\",\"text\":\"hello from chromium\"}");
    let got = channel.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(&got.data[..], b"hello from chromium");
    channel.send_text("hello from kaon").unwrap();
    let got = browser.wait("message", Duration::from_secs(10));
    assert_eq!(got.get("text"), "hello from kaon");

    browser.send("{\"cmd\":\"stats\"}");
    let stats = browser.wait("stats", Duration::from_secs(10));
    assert!(stats.get("local").starts_with("relay"), "{stats:?}");
    if url.ends_with("transport=tcp") {
        assert_eq!(stats.get("local"), "relay tcp", "{stats:?}");
    }
    if url.starts_with("turns:") {
        assert_eq!(stats.get("local"), "relay tls", "{stats:?}");
    }
    assert!(stats.get("remote").starts_with("relay"), "{stats:?}");
    let relayed = kaon
        .call(|pc, _| pc.ice().selected_pair().map(|p| p.relayed))
        .unwrap();
    assert_eq!(relayed, Some(true));
    let _ = kaon.close();
}

/// kaon's TURN server on loopback UDP sockets (a listening one and eight relays), on a
/// kaon-std driver thread.
fn kaon_turn_server() -> (SocketAddr, Driver<Server>) {
    let sockets: Vec<UdpSocket> = (0..9)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut cfg = ServerConfig::new(REALM, vec![addrs[0]], addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let server = Server::new(cfg, Instant::now(), unix);
    (addrs[0], Driver::spawn(server, sockets).unwrap())
}

#[test]
fn chromium_and_kaon_connect_relay_only_through_kaons_turn_server() {
    if !peer_available() {
        return;
    }
    let (addr, server) = kaon_turn_server();
    chromium_and_kaon_through(&format!("turn:{addr}?transport=udp"));
    let stats = server.call(|s, _| s.stats().clone()).unwrap();
    assert!(stats.allocations >= 2, "{stats:?}");
}

/// kaon's TURN server listening on UDP and TCP at the same address (kaon-std's `TcpServer`
/// carries the TCP clients through the core's stream link), with UDP relays.
fn kaon_turn_server_with_tcp() -> (SocketAddr, Driver<TcpServer<Server>>) {
    let (listen, tcp) = loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(t) = std::net::TcpListener::bind(u.local_addr().unwrap()) {
            break (u, t);
        }
    };
    let mut sockets = vec![listen];
    sockets.extend((0..8).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()));
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut cfg = ServerConfig::new(REALM, vec![addrs[0]], addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let server = Server::new(cfg, Instant::now(), 1_700_000_000);
    let driver = Driver::spawn(TcpServer::new(server), sockets).unwrap();
    TcpServer::listen(&driver, tcp).unwrap();
    (addrs[0], driver)
}

#[test]
fn chromium_and_kaon_connect_relay_only_over_tcp_through_kaons_turn_server() {
    if !peer_available() {
        return;
    }
    let (addr, server) = kaon_turn_server_with_tcp();
    chromium_and_kaon_through(&format!("turn:{addr}?transport=tcp"));
    let (stats, link) = server
        .call(|s, _| (s.inner().stats().clone(), *s.link().stats()))
        .unwrap();
    assert!(stats.allocations >= 2, "{stats:?}");
    // Both clients came over TCP.
    assert!(link.opened >= 2 && link.received > 10, "{link:?}");
}

/// kaon's TURN server on kaon-tokio (its TLS listener is kaon-tokio's) with UDP relays,
/// listening on UDP and on TLS with the certificate in `dir`. Returns the TLS address, the
/// runtime it runs on and the driver.
fn kaon_turns_server(
    dir: &std::path::Path,
) -> (
    SocketAddr,
    tokio::runtime::Runtime,
    kaon_tokio::Driver<kaon_tokio::turn_server::TcpServer<Server>>,
) {
    use kaon_tokio::turn_server::{TcpServer as TokioTcpServer, tls_config_from_pem};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tls, driver) = rt.block_on(async {
        let mut sockets = Vec::new();
        for _ in 0..9 {
            sockets.push(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls = listener.local_addr().unwrap();
        let mut cfg = ServerConfig::new(REALM, vec![addrs[0], tls], addrs[1..].to_vec());
        cfg.users.push((USER.into(), PASSWORD.into()));
        let server = Server::new(cfg, Instant::now(), 1_700_000_000);
        let driver = kaon_tokio::Driver::spawn(TokioTcpServer::new(server), sockets).unwrap();
        let cert = std::fs::read(dir.join("server.pem")).unwrap();
        let key = std::fs::read(dir.join("server.key")).unwrap();
        let config = tls_config_from_pem(&cert, &key).unwrap();
        TokioTcpServer::listen_tls(&driver, listener, config).unwrap();
        (tls, driver)
    });
    (tls, rt, driver)
}

/// Chromium checks a `turns:` server's certificate: with a certificate from a CA it does not
/// know, it runs only with `--ignore-certificate-errors` (kaon's peer checks it against the
/// test's CA).
#[test]
fn chromium_and_kaon_connect_relay_only_over_turns_through_kaons_turn_server() {
    if !peer_available() {
        return;
    }
    if common::which("openssl").is_none() {
        common::missing_peer(TEST, "openssl");
        return;
    }
    let scratch = certs::Scratch::new("turn-chromium-tls");
    certs::make_certificates(&scratch.0);
    let (tls, rt, server) = kaon_turns_server(&scratch.0);
    let ca = std::fs::read(scratch.0.join("ca.pem")).unwrap();
    let url = format!("turns:127.0.0.1:{}", tls.port());
    chromium_and_kaon_through_with(
        &url,
        TurnTls::from_pem(&ca).unwrap(),
        &["--ignore-certificate-errors"],
    );
    let (stats, link) = rt
        .block_on(server.call(|s, _| (s.inner().stats().clone(), *s.link().stats())))
        .unwrap();
    assert!(stats.allocations >= 2, "{stats:?}");
    // Both clients came over TLS.
    assert!(link.opened >= 2 && link.received > 10, "{link:?}");
}

/// Without `--ignore-certificate-errors`, Chromium refuses the same server: its certificate
/// comes from a CA Chromium does not trust, so no relay candidate is gathered and no
/// allocation is made.
#[test]
fn chromium_checks_the_certificate_of_a_turns_server() {
    if !peer_available() {
        return;
    }
    if common::which("openssl").is_none() {
        common::missing_peer(TEST, "openssl");
        return;
    }
    let scratch = certs::Scratch::new("turn-chromium-untrusted");
    certs::make_certificates(&scratch.0);
    let (tls, rt, server) = kaon_turns_server(&scratch.0);
    let mut browser = Browser::start(&format!("turns:127.0.0.1:{}", tls.port()), &[]);
    browser.send("{\"cmd\":\"offer\"}");
    let offer = browser.wait("offer", Duration::from_secs(30));
    let sdp = offer.get("sdp");
    assert!(!sdp.contains(" typ relay"), "{sdp}");
    // (Chromium reports icecandidateerror 701, "Failed to establish connection", printed
    // above while waiting for the offer.)
    let allocations = rt
        .block_on(server.call(|s, _| s.inner().stats().allocations))
        .unwrap();
    assert_eq!(allocations, 0);
}

struct Coturn(Child, u16);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_coturn() -> Option<Coturn> {
    let Some(turnserver) = common::which("turnserver") else {
        common::missing_peer(TEST, "turnserver (Debian package coturn)");
        return None;
    };
    for attempt in 0..3u16 {
        let port = loop {
            let u = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = u.local_addr().unwrap().port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let min = 54_000 + ((std::process::id() as u16 % 300) + attempt * 300) % 900 * 10;
        let child = Command::new(&turnserver)
            .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={min}"))
            .arg(format!("--max-port={}", min + 9))
            .args(["--lt-cred-mech", &format!("--user={USER}:{PASSWORD}")])
            .arg(format!("--realm={REALM}"))
            .args([
                "--fingerprint",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--allow-loopback-peers",
                "--log-file=stdout",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn(child, port);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // The UDP listener comes up with the TCP one; give it a moment.
                std::thread::sleep(Duration::from_millis(200));
                return Some(coturn);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("coturn did not start");
}

#[test]
fn chromium_and_kaon_connect_relay_only_through_coturn_over_udp_and_tcp() {
    if !peer_available() {
        return;
    }
    let Some(coturn) = start_coturn() else {
        return;
    };
    chromium_and_kaon_through(&format!("turn:127.0.0.1:{}?transport=udp", coturn.1));
    // Both over TCP: Chromium's own TURN-TCP, and kaon's through kaon-std's stream link.
    chromium_and_kaon_through(&format!("turn:127.0.0.1:{}?transport=tcp", coturn.1));
}
