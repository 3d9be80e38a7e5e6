//! What the `example_*` tests share: building an example, running it with its output on a
//! channel, a raw HTTP/1.1 client, and a kaon client that offers a channel to a session server.
#![allow(dead_code)] // each test uses its part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use kaon::datachannel::{ChannelConfig, ChannelId};
use kaon::peer::{PeerConfig, PeerConnection, PeerEvent, SdpType};
use kaon::sdp::SessionDescription;
use kaon_std::Driver;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Builds example `name` with the cargo that runs the test (a no-op when it is up to date), in
/// the same profile and features, and returns its path.
pub fn example(name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    // The features this test was built with, so kaon is not built a second time.
    if cfg!(feature = "sim") {
        build.args(["--features", "sim"]);
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    // This test runs from target/<profile>/deps/; examples live in target/<profile>/examples/.
    let exe = std::env::current_exe().expect("test executable");
    let profile = exe.parent().and_then(|d| d.parent()).expect("target dir");
    profile.join("examples").join(name)
}

pub struct Running {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn start(cmd: &mut Command) -> Self {
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
    pub fn line(&mut self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
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
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
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

/// Starts a session server (`args`, which must bind HTTP on `127.0.0.1:0`) and returns it with
/// its HTTP address and the UDP address every session shares.
pub fn session_server(
    program: &std::path::Path,
    args: &[&str],
) -> (Running, SocketAddr, SocketAddr) {
    let mut server = Running::start(Command::new(program).args(args));
    let banner = server.line("URL", Duration::from_secs(30), |l| l.contains("http://"));
    let http = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    let line = server.line("UDP address", Duration::from_secs(5), |l| {
        l.starts_with("every session on UDP ")
    });
    let udp = line
        .trim_start_matches("every session on UDP ")
        .split([';', ','])
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no UDP address in {line:?}"));
    (server, http, udp)
}

/// A response: status, headers (names lower case), body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a connection of its own, read to the server's close.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    try_http(addr, method, path, body).expect("an HTTP exchange with the example")
}

/// [`http`], with I/O errors (a reset, say) returned.
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/sdp\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    Ok(parse_response(&raw))
}

pub fn parse_response(raw: &str) -> Response {
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
pub struct Client {
    pub pc: PeerConnection,
    pub socket: UdpSocket,
    pub channel: ChannelId,
    pub offer: String,
}

impl Client {
    pub fn new() -> Self {
        Self::with_config(PeerConfig::default())
    }

    /// A client with its own configuration (a smaller `max_message_size`, say).
    pub fn with_config(config: PeerConfig) -> Self {
        Self::bound(config, "127.0.0.1:0")
    }

    /// A client on its own socket at `bind` (`[::1]:0` for IPv6).
    pub fn bound(config: PeerConfig, bind: &str) -> Self {
        let socket = UdpSocket::bind(bind).unwrap();
        let mut pc = PeerConnection::new(config).unwrap();
        pc.add_local_address(socket.local_addr().unwrap()).unwrap();
        let channel = pc
            .create_data_channel(Instant::now(), "chat", ChannelConfig::default())
            .unwrap();
        let offer = pc.create_offer(Instant::now()).unwrap();
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
    pub fn connect(mut self, answer: &str) -> Connected {
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

pub struct Connected {
    pub driver: Driver<PeerConnection>,
    pub channel: ChannelId,
}

impl Connected {
    pub fn next_text(&mut self, limit: Duration) -> String {
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

    /// Sends `text` and returns the next message that comes back, whatever it says.
    pub fn say(&mut self, text: &str) -> String {
        let (channel, t) = (self.channel, text.to_string());
        self.driver
            .call(move |pc, now| pc.send_text(now, channel, &t))
            .expect("driver running")
            .expect("send accepted");
        self.next_text(Duration::from_secs(5))
    }

    /// Closes the connection (SCTP SHUTDOWN, then close_notify) and gives it time to leave.
    pub fn close(self) {
        self.driver.call(|pc, now| pc.close(now));
        std::thread::sleep(Duration::from_millis(300));
    }

    pub fn chat(&mut self, text: &str) {
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

pub fn threads(pid: u32) -> Option<usize> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What the browser tests need and is missing: `/usr/bin/chromium`, `node`, or
/// `tests/interop/chromium/node_modules` (`npm ci` there).
pub fn chromium_missing() -> Option<&'static str> {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/chromium");
    let node = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("node").is_file()));
    if !PathBuf::from(CHROMIUM).is_file() {
        Some(CHROMIUM)
    } else if !node {
        Some("node")
    } else if !scripts.join("node_modules/playwright-core").is_dir() {
        Some("tests/interop/chromium/node_modules (run npm ci there)")
    } else {
        None
    }
}

/// Opens `url` in headless Chromium (`tests/interop/chromium/example_page.mjs`) and returns
/// the page's `window.kaonResult` as a JSON line, after checking it says `"ev":"done"`.
pub fn open_page(url: &str) -> String {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/chromium");
    let out = run(
        Command::new("node")
            .args(["example_page.mjs", url])
            .current_dir(&scripts),
        Duration::from_secs(90),
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && report.contains(r#""ev":"done""#),
        "the page at {url} did not finish: {report}"
    );
    report
}
