//! The `ice-single-port` example: many PeerConnections reach one kaon server through one UDP
//! port. Kaon clients (each on a port of its own, as browsers are) all connect and chat through
//! the example's own signalling; and several Chromium PeerConnections in one page do the same,
//! the page reporting that each selected candidate pair ends at the server's one address.
//!
//! The browser test needs `/usr/bin/chromium`, `node` and `tests/interop/chromium/node_modules`
//! (`npm ci` there); it fails when they are missing under `CI=true` and is skipped otherwise.

mod common;
mod example_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use example_support::{CHROMIUM, Client, example, http, run, session_server};

fn server() -> (
    example_support::Running,
    std::net::SocketAddr,
    std::net::SocketAddr,
) {
    // Port 0 for both: tests run in parallel, and 8443 may be taken.
    session_server(
        &example("ice-single-port"),
        &["127.0.0.1:0", "--udp", "127.0.0.1:0"],
    )
}

#[test]
fn eight_kaon_clients_connect_and_chat_through_one_server_port() {
    let (mut server, http_addr, udp) = server();
    let t = Instant::now();
    let clients: Vec<Client> = (0..8).map(|_| Client::new()).collect();
    let mut answers = Vec::new();
    for c in &clients {
        let r = http(http_addr, "POST", "/offer", &c.offer);
        assert_eq!(r.status, 201, "{r:?}");
        // Every answer names the one shared address as its only candidate.
        let candidates: Vec<&str> = r
            .body
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .collect();
        assert_eq!(candidates.len(), 1, "{candidates:?}");
        assert!(
            candidates[0].contains(&format!(" {} {} typ host", udp.ip(), udp.port())),
            "{candidates:?} does not name {udp}"
        );
        answers.push(r.body);
    }
    let mut connected: Vec<_> = clients
        .into_iter()
        .zip(&answers)
        .map(|(c, a)| c.connect(a))
        .collect();
    for (i, c) in connected.iter_mut().enumerate() {
        c.chat(&format!("hello from client {i}"));
    }
    println!(
        "8 clients connected and chatted through {udp} in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    server.line("the eighth connection", Duration::from_secs(5), |l| {
        l.contains("(8 connected, 0 pending)")
    });
}

#[test]
fn chromium_peer_connections_in_one_page_share_the_server_port() {
    const TEST: &str = "chromium_peer_connections_in_one_page_share_the_server_port";
    let scripts = common::repo_root().join("tests/interop/chromium");
    if !PathBuf::from(CHROMIUM).is_file() {
        common::missing_peer(TEST, CHROMIUM);
        return;
    }
    if common::which("node").is_none() {
        common::missing_peer(TEST, "node");
        return;
    }
    if !scripts.join("node_modules/playwright-core").is_dir() {
        common::missing_peer(
            TEST,
            "tests/interop/chromium/node_modules (run npm ci there)",
        );
        return;
    }
    let (mut server, http_addr, udp) = server();
    let url = format!("http://{http_addr}/?n=4");
    let t = Instant::now();
    let out = run(
        Command::new("node")
            .args(["example_page.mjs", &url])
            .current_dir(&scripts),
        Duration::from_secs(90),
    );
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && report.contains(r#""ev":"done""#),
        "the page's connections did not all chat with kaon: {report}"
    );
    // Each of the four rows names the server's one UDP address as its pair's far end.
    let server_at = format!(r#""server":"{udp}""#);
    assert_eq!(
        report.matches(&server_at).count(),
        4,
        "not every connection used {udp}: {report}"
    );
    println!(
        "4 Chromium connections through {udp} in {:.0} ms: {report}",
        t.elapsed().as_secs_f64() * 1e3
    );
    server.line("the fourth connection", Duration::from_secs(5), |l| {
        l.contains("(4 connected, 0 pending)")
    });
}
