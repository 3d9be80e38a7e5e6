//! The examples over IPv6 loopback, run as a user runs them: every address option takes an
//! IPv6 address (`::1`, `[::1]:PORT`), the programs print IPv6 addresses in brackets
//! (`http://[::1]:8080/`), and peers connect over `::1` end to end: the small two-peer demos,
//! a STUN client and server, two `pion-to-pion` processes signalling over HTTP on `[::1]`, a
//! session server with a kaon client, and the browser-facing servers serving their page.
//!
//! Skipped with a printed reason on a host without `::1`.

mod example_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use example_support::{Client, Running, example, http, run, session_server};
use kaon::peer::PeerConfig;

fn ipv6_here(test: &str) -> bool {
    match UdpSocket::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipping {test}: no ::1 on this host ({e})");
            false
        }
    }
}

/// Runs example `name` to its end; its stdout and stderr together.
fn ok(name: &str, args: &[&str]) -> String {
    let out = run(
        Command::new(example(name)).args(args),
        Duration::from_secs(60),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} {args:?} failed:\n{text}");
    text
}

/// A port free on `[::1]` right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_peer_demos_connect_over_ipv6_loopback() {
    if !ipv6_here("two_peer_demos_connect_over_ipv6_loopback") {
        return;
    }
    let out = ok("data-channels", &["1", "--bind", "::1"]);
    assert!(out.contains("over UDP on ::1"), "{out}");
    let out = ok("sctp_udp_chat", &["--bind", "::1"]);
    assert!(out.contains("b: association closed"), "{out}");
    let out = ok("stats", &["--bind", "::1", "--seconds", "1"]);
    assert!(out.contains("::1"), "{out}");
    let out = ok(
        "data-channels-flow-control",
        &["--bind", "::1", "--seconds", "1"],
    );
    assert!(out.contains("average over"), "{out}");
}

#[test]
fn stun_client_learns_its_ipv6_address_from_stun_server() {
    if !ipv6_here("stun_client_learns_its_ipv6_address_from_stun_server") {
        return;
    }
    let server_addr = format!("[::1]:{}", {
        // A UDP port free now (the server binds it right after).
        UdpSocket::bind("[::1]:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    let mut server = Running::start(Command::new(example("stun_server")).args([
        server_addr.as_str(),
        "--count",
        "1",
    ]));
    server.line("listening", Duration::from_secs(30), |l| {
        l.starts_with("listening on [::1]:")
    });
    let out = ok("stun_client", &[&server_addr, "[::1]:0"]);
    assert!(
        out.contains(&format!("is seen by {server_addr} as [::1]:")),
        "{out}"
    );
}

#[test]
fn pion_to_pion_processes_signal_and_connect_over_ipv6() {
    if !ipv6_here("pion_to_pion_processes_signal_and_connect_over_ipv6") {
        return;
    }
    let binary = example("pion-to-pion");
    let (offer, answer) = (
        format!("[::1]:{}", free_port()),
        format!("[::1]:{}", free_port()),
    );
    let side = |role: &str| {
        Running::start(Command::new(&binary).args([
            role,
            "-offer-address",
            &offer,
            "-answer-address",
            &answer,
            "--udp",
            "[::1]:0",
            "--interval-ms",
            "100",
            "--messages",
            "2",
        ]))
    };
    let mut answerer = side("answer");
    answerer.line("signalling", Duration::from_secs(30), |l| {
        l == format!("signalling on http://{answer}")
    });
    let mut offerer = side("offer");
    for (peer, other) in [(&mut offerer, "answer"), (&mut answerer, "offer")] {
        peer.line("the peer's message", Duration::from_secs(30), |l| {
            l == format!("Message from DataChannel 'data': 'message 1 from {other}'")
        });
        peer.line("the end", Duration::from_secs(30), |l| {
            l.starts_with("done: sent 2 and received 2")
        });
        assert!(
            peer.seen
                .iter()
                .any(|l| l.starts_with("media on udp://[::1]:")),
            "{:?}",
            peer.seen
        );
    }
}

#[test]
fn session_server_on_ipv6_answers_a_kaon_client_over_ipv6() {
    if !ipv6_here("session_server_on_ipv6_answers_a_kaon_client_over_ipv6") {
        return;
    }
    let (_server, http_addr, udp) = session_server(
        &example("data-channels"),
        &["--serve", "[::1]:0", "--udp", "::1"],
    );
    assert!(http_addr.is_ipv6() && udp.is_ipv6(), "{http_addr} {udp}");
    let client = Client::bound(PeerConfig::default(), "[::1]:0");
    let reply = http(http_addr, "POST", "/offer", &client.offer);
    assert!(
        (200..300).contains(&reply.status),
        "{}: {}",
        reply.status,
        reply.body
    );
    // Its answer's candidate is the IPv6 socket every session shares.
    assert!(
        reply
            .body
            .contains(&format!(" ::1 {} typ host", udp.port())),
        "{}",
        reply.body
    );
    let mut connected = client.connect(&reply.body);
    assert_eq!(connected.say("over ipv6"), "echo: over ipv6");
    connected.close();
}

#[test]
fn browser_facing_servers_serve_their_page_on_ipv6() {
    if !ipv6_here("browser_facing_servers_serve_their_page_on_ipv6") {
        return;
    }
    for (name, args) in [
        ("broadcast", &["--bind", "[::1]:0"][..]),
        ("swap-tracks", &["--bind", "[::1]:0", "--udp", "::1"][..]),
        ("ice-single-port", &["[::1]:0", "--udp", "[::1]:0"][..]),
        ("ice-tcp", &["[::1]:0"][..]),
    ] {
        let mut server = Running::start(Command::new(example(name)).args(args));
        let banner = server.line("URL", Duration::from_secs(30), |l| l.contains("http://"));
        let addr: SocketAddr = banner
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|w| w.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("{name}: no address in {banner:?}"));
        assert!(addr.is_ipv6(), "{name}: {banner}");
        let page = http(addr, "GET", "/", "");
        assert_eq!(page.status, 200, "{name}: GET / on {addr}");
        assert!(page.body.contains("<"), "{name}: a page");
    }
}
