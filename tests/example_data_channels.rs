//! The `data-channels` example, run the way a user runs it: the headless demo prints its
//! handshake timeline and a transfer rate, and with `--serve` its page, opened in headless
//! Chromium (driven by `tests/interop/chromium/example.mjs`), chats with the kaon peer behind
//! `POST /offer`. The server is then treated as a server facing the public: offers past its
//! pending cap get 503 with Retry-After while legitimate sessions still connect, sessions that
//! never connect are reclaimed, and clients that send their request a byte at a time (slow
//! loris) or never send their body hold nothing for long.
//!
//! The test builds the example with the cargo that runs it (a no-op when it is up to date), in
//! the same profile. The browser test needs `/usr/bin/chromium`, `node` and
//! `tests/interop/chromium/node_modules` (`npm ci` there); it fails when they are missing under
//! `CI=true` and is skipped otherwise.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The example's binary, built once per test run.
fn example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build
                .args(["build", "--example", "data-channels"])
                .current_dir(common::repo_root());
            if !cfg!(debug_assertions) {
                build.arg("--release");
            }
            // The features this test was built with, so kaon is not built a second time.
            if cfg!(feature = "sim") {
                build.args(["--features", "sim"]);
            }
            let status = build.status().expect("run cargo build");
            assert!(
                status.success(),
                "cargo build --example data-channels failed"
            );
            // This test runs from target/<profile>/deps/; examples live in target/<profile>/examples/.
            let exe = std::env::current_exe().expect("test executable");
            let profile = exe.parent().and_then(|d| d.parent()).expect("target dir");
            profile.join("examples/data-channels")
        })
        .clone()
}

/// A child process killed (by its own pid) when dropped, with its stdout lines on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("example: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) for which `pred` holds.
    fn line(&mut self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "example: no {what} within {limit:?}; printed {:?}",
                    self.seen
                ),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let end = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} ran longer than {limit:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn the_demo_prints_a_handshake_timeline() {
    let out = run(Command::new(example()).arg("2"), Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "  offerer: ICE connected        7.16 ms": each side reports each step, with a time.
    for side in ["offerer", "answerer"] {
        for step in [
            "ICE connected",
            "DTLS connected",
            "SCTP established",
            "channel open",
        ] {
            let line = stdout
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{side}: {step}")))
                .unwrap_or_else(|| panic!("no {side:?} {step:?} in the timeline"));
            let ms: f64 = line
                .split_whitespace()
                .rev()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no time in {line:?}"));
            assert!((0.0..10_000.0).contains(&ms), "{line}");
        }
    }
    assert!(
        stdout.contains("transfer: 2 MiB in ") && stdout.contains(" MiB/s "),
        "no throughput figure"
    );
}

#[test]
fn the_browser_page_connects_to_the_example() {
    const TEST: &str = "the_browser_page_connects_to_the_example";
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

    let mut server = Running::start(Command::new(example()).args(["--serve", "127.0.0.1:0"]));
    let banner = server.line("URL", Duration::from_secs(30), |l| l.contains("http://"));
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback URL in {banner:?}"))
        .to_string();

    let text = "hello from chromium ✓";
    let t = Instant::now();
    let out = run(
        Command::new("node")
            .args(["example.mjs", &url, text])
            .current_dir(&scripts),
        Duration::from_secs(90),
    );
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && report.contains(r#""ev":"done""#),
        "the page did not chat with kaon: {report}"
    );
    println!(
        "page loaded, channel open, greeting and echo: {:.0} ms; page log: {report}",
        t.elapsed().as_secs_f64() * 1e3
    );
    // kaon's side of the conversation, as the example prints it.
    server.line("the browser's message", Duration::from_secs(10), |l| {
        l.ends_with(&format!("[chat]: {text}"))
    });
}

// ---- the server under load: kaon clients, raw HTTP ----

/// Starts `data-channels --serve 127.0.0.1:0` with `options` and returns it with its HTTP
/// address.
fn server(options: &[&str]) -> (Running, SocketAddr) {
    let mut server = Running::start(
        Command::new(example())
            .args(["--serve", "127.0.0.1:0"])
            .args(options),
    );
    let banner = server.line("URL", Duration::from_secs(30), |l| l.contains("http://"));
    let addr = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    (server, addr)
}

/// A response: status, headers (names lower case), body.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a connection of its own, read to the server's close.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect to the example");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/sdp\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the response");
    parse_response(&raw)
}

fn parse_response(raw: &str) -> Response {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A kaon client that offers a channel "chat"; its socket is bound but only read once the
/// client is started, so an offer that is never started never connects.
struct Client {
    pc: PeerConnection,
    socket: UdpSocket,
    channel: ChannelId,
    offer: String,
}

impl Client {
    fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut pc = PeerConnection::new(PeerConfig::default()).unwrap();
        pc.add_local_address(socket.local_addr().unwrap()).unwrap();
        let channel = pc
            .create_data_channel(Instant::now(), "chat", ChannelConfig::default())
            .unwrap();
        let offer = pc.create_offer().unwrap();
        pc.set_local_description(SdpType::Offer, offer.clone())
            .unwrap();
        Self {
            pc,
            socket,
            channel,
            offer: offer.to_string(),
        }
    }

    /// Applies the server's answer and drives the connection until kaon's greeting arrives.
    fn connect(mut self, answer: &str) -> Connected {
        self.pc
            .set_remote_description(
                SdpType::Answer,
                SessionDescription::parse(answer).expect("the answer parses"),
            )
            .expect("the answer applies");
        let driver = Driver::spawn(self.pc, vec![self.socket]).unwrap();
        let mut c = Connected {
            driver,
            channel: self.channel,
        };
        let greeting = c.next_text(Duration::from_secs(10));
        assert!(greeting.starts_with("hello from kaon"), "{greeting:?}");
        c
    }
}

struct Connected {
    driver: Driver<PeerConnection>,
    channel: ChannelId,
}

impl Connected {
    fn next_text(&mut self, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.driver.events().recv_timeout(left) {
                Ok(PeerEvent::Message { data, .. }) => {
                    return String::from_utf8(data.to_vec()).unwrap();
                }
                Ok(_) => {}
                Err(e) => panic!("no message from the server within {limit:?}: {e}"),
            }
        }
    }

    fn chat(&mut self, text: &str) {
        let (channel, t) = (self.channel, text.to_string());
        self.driver
            .call(move |pc, now| pc.send_text(now, channel, &t))
            .expect("driver running")
            .expect("send accepted");
        assert_eq!(
            self.next_text(Duration::from_secs(5)),
            format!("echo: {text}")
        );
    }
}

#[test]
fn offers_past_the_pending_cap_get_503_with_retry_after_and_legitimate_sessions_still_connect() {
    let (mut server, addr) = server(&["--max-pending", "4", "--connect-timeout", "3"]);

    // A legitimate session connects before the flood ...
    let early = Client::new();
    let r = http(addr, "POST", "/offer", &early.offer);
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/sdp"));
    let mut early = early.connect(&r.body);

    // ... then offers that never connect fill the pending slots, and the rest are refused.
    let duds: Vec<Client> = (0..4).map(|_| Client::new()).collect();
    for d in &duds {
        let r = http(addr, "POST", "/offer", &d.offer);
        assert_eq!(r.status, 201, "{r:?}");
    }
    let t = Instant::now();
    for _ in 0..40 {
        let r = http(addr, "POST", "/offer", &Client::new().offer);
        assert_eq!(r.status, 503, "{r:?}");
        let wait: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After in {r:?}"));
        assert!(
            (1..=4).contains(&wait),
            "Retry-After {wait} for a 3 s deadline"
        );
    }
    println!(
        "40 refused offers in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // The connected session is not disturbed by any of it.
    early.chat("still here");

    // A legitimate client that honours Retry-After gets in once the duds are reclaimed.
    let late = Client::new();
    let start = Instant::now();
    let answer = loop {
        let r = http(addr, "POST", "/offer", &late.offer);
        match r.status {
            201 => break r.body,
            503 => {
                let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!(start.elapsed() < Duration::from_secs(10), "still refused");
                std::thread::sleep(Duration::from_secs(wait));
            }
            _ => panic!("{r:?}"),
        }
    };
    println!(
        "the late client got in after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let mut late = late.connect(&answer);
    late.chat("made it");
    server.line("a reclaimed dud", Duration::from_secs(5), |l| {
        l.contains("reclaimed: not connected")
    });
    drop(duds);
}

#[test]
fn an_unconnected_session_is_reclaimed_and_its_slot_reused() {
    let (mut server, addr) = server(&["--max-pending", "1", "--connect-timeout", "1"]);
    let dud = Client::new();
    let r = http(addr, "POST", "/offer", &dud.offer);
    assert_eq!(r.status, 201, "{r:?}");
    let r = http(addr, "POST", "/offer", &Client::new().offer);
    assert_eq!(r.status, 503, "the one slot is taken: {r:?}");

    let line = server.line("the reclaim", Duration::from_secs(5), |l| {
        l.contains("reclaimed: not connected within 1s")
    });
    assert!(line.contains("(0 pending)"), "{line}");
    let fresh = Client::new();
    let r = http(addr, "POST", "/offer", &fresh.offer);
    assert_eq!(r.status, 201, "the slot is free again: {r:?}");
    fresh.connect(&r.body).chat("reused");
}

/// The example's thread count, from /proc (Linux).
fn threads(pid: u32) -> Option<usize> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn slow_loris_clients_hold_no_worker_and_are_cut_off_at_the_header_timeout() {
    const SLOW: usize = 24;
    let (server, addr) = server(&["--header-timeout", "1", "--max-connections", "32"]);
    let idle_threads = threads(server.child.id());

    // Slow clients: a request line, then one header byte every 200 ms, never the end.
    let start = Instant::now();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nx-slow: ").unwrap();
            s
        })
        .collect();
    // Past the connection cap of 32, a connection is told so at once; the 8 under it get
    // nothing yet (and are closed here, freeing their slots).
    let extra: Vec<TcpStream> = (0..12).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let busy = extra
        .into_iter()
        .filter(|s| {
            let mut s = s.try_clone().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut raw = [0u8; 64];
            matches!(s.read(&mut raw), Ok(n) if raw[..n].starts_with(b"HTTP/1.1 503"))
        })
        .count();
    assert_eq!(
        busy, 4,
        "the 4 connections past the cap of 32 were not refused"
    );

    let mut closed = vec![None; SLOW];
    let mut served_meanwhile = None;
    while closed.iter().any(Option::is_none) && start.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(200));
        for (i, s) in slow.iter_mut().enumerate() {
            if closed[i].is_none() && s.write_all(b"a").is_err() {
                closed[i] = Some(start.elapsed());
            }
        }
        // A legitimate request while they dribble.
        if served_meanwhile.is_none() && closed.iter().all(Option::is_none) {
            let t = Instant::now();
            let r = http(addr, "GET", "/", "");
            assert_eq!(r.status, 200, "{r:?}");
            served_meanwhile = Some(t.elapsed());
        }
    }
    // A write can still succeed into the socket buffer after the server closed; a read
    // tells for sure.
    for (i, s) in slow.iter_mut().enumerate() {
        if closed[i].is_none() {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut b = [0u8; 256];
            if matches!(s.read(&mut b), Ok(0) | Err(_)) && start.elapsed() < Duration::from_secs(6)
            {
                closed[i] = Some(start.elapsed());
            }
        }
    }
    let last = closed
        .iter()
        .map(|c| c.unwrap_or_else(|| panic!("a slow client still held its connection after 6 s")))
        .max()
        .unwrap();
    let served = served_meanwhile.expect("no request was served while the slow clients dribbled");
    println!(
        "{SLOW} slow clients cut off within {:.2} s (header timeout 1 s); a GET meanwhile took \
         {:.1} ms; threads {idle_threads:?} idle, {:?} after",
        last.as_secs_f64(),
        served.as_secs_f64() * 1e3,
        threads(server.child.id())
    );
    assert!(last < Duration::from_secs(3), "cut off only after {last:?}");
    assert!(served < Duration::from_secs(1), "a GET took {served:?}");
    if let (Some(a), Some(b)) = (idle_threads, threads(server.child.id())) {
        assert!(b <= a + 2, "threads grew from {a} to {b} with slow clients");
    }
}

#[test]
fn a_body_too_slow_gets_408_and_one_too_large_gets_413() {
    let (_server, addr) = server(&["--body-timeout", "1"]);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /offer HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nv=0\r\n")
        .unwrap();
    let t = Instant::now();
    let mut raw = vec![0u8; 4096];
    let n = s.read(&mut raw).expect("a response");
    let r = parse_response(&String::from_utf8_lossy(&raw[..n]));
    assert_eq!(r.status, 408, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3));

    let big = "a".repeat(65 * 1024);
    let r = http(addr, "POST", "/offer", &big);
    assert_eq!(r.status, 413, "{r:?}");
    let r = http(addr, "POST", "/offer", "not sdp");
    assert_eq!(r.status, 400, "{r:?}");
    let r = http(addr, "GET", "/nothing", "");
    assert_eq!(r.status, 404, "{r:?}");
}
