//! Headless Chromium driven by `tests/interop/chromium/peer.mjs` (playwright-core) over JSON
//! lines on its stdin/stdout: start it, send commands, wait for events.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use super::json_lines::{Ev, json_str};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub fn script_dir() -> PathBuf {
    super::repo_root().join("tests/interop/chromium")
}

/// Whether Chromium, node and the script's node_modules are here (or why the test skips).
pub fn peer_available(test: &str) -> bool {
    if !PathBuf::from(CHROMIUM).is_file() {
        return super::missing_peer(test, CHROMIUM);
    }
    if super::which("node").is_none() {
        return super::missing_peer(test, "node");
    }
    if !script_dir().join("node_modules/playwright-core").is_dir() {
        return super::missing_peer(
            test,
            "tests/interop/chromium/node_modules (run npm ci there)",
        );
    }
    true
}

/// Byte `i` of an `n`-byte test message, as the page computes it.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + n) % 256) as u8).collect()
}

/// The node script and the browser it drives; killed (by its own pid) when dropped.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<String>,
    /// Events read while waiting for another one.
    pub seen: Vec<Ev>,
}

impl Browser {
    pub fn start() -> Self {
        let mut node = Command::new("node");
        node.arg("peer.mjs");
        Self::start_with(node)
    }

    /// Starts the script with `command` (`node peer.mjs ...`, perhaps inside a namespace).
    pub fn start_with(mut command: Command) -> Self {
        let t0 = Instant::now();
        let mut child = command
            .current_dir(script_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node peer.mjs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("peer.mjs: {line}");
            }
        });
        let mut b = Self {
            child,
            stdin,
            events,
            seen: Vec::new(),
        };
        // A browser's first start on a fresh machine (caches, fonts) can take a while.
        let ready = b.wait("ready", Duration::from_secs(90), |e| e.is("ready"));
        eprintln!("browser: {} ready in {:?}", ready.get("ua"), t0.elapsed());
        b
    }

    pub fn send(&mut self, json: &str) {
        writeln!(self.stdin, "{json}").expect("write to peer.mjs");
        self.stdin.flush().expect("flush peer.mjs");
    }

    /// Reads events until one matches (earlier unmatched ones are kept); panics on an
    /// `error` event, on the script ending, or after `limit`.
    pub fn wait(&mut self, what: &str, limit: Duration, pred: impl Fn(&Ev) -> bool) -> Ev {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(line) => {
                    let ev = Ev::parse(&line)
                        .unwrap_or_else(|| panic!("peer.mjs printed a non-event: {line}"));
                    assert!(!ev.is("error"), "browser error: {}", ev.get("what"));
                    if pred(&ev) {
                        return ev;
                    }
                    self.seen.push(ev);
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("browser: no {what} within {limit:?}; seen {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("browser: peer.mjs ended while waiting for {what}")
                }
            }
        }
    }

    /// Chromium's view of the transport (getStats): checks its DTLS role and that DTLS 1.2
    /// (`FEFD`) was negotiated over a loopback UDP pair, and prints it.
    pub fn check_transport(&mut self, role: &str, kaon: std::net::SocketAddr) {
        self.send(r#"{"cmd":"stats"}"#);
        let s = self.wait("stats", Duration::from_secs(10), |e| e.is("stats"));
        eprintln!(
            "chromium transport: dtls {} {} role {} ({}), pair {} -> {}",
            s.get("dtlsState"),
            s.get("tlsVersion"),
            s.get("dtlsRole"),
            s.get("dtlsCipher"),
            s.get("local"),
            s.get("remote")
        );
        assert_eq!(s.get("dtlsState"), "connected");
        assert_eq!(s.get("dtlsRole"), role, "Chromium's DTLS role");
        // DTLS 1.2 (FEFD) with kaon's default; 1.3 (FEFC) when kaon is configured for it.
        assert!(
            matches!(s.get("tlsVersion"), "FEFC" | "FEFD"),
            "a DTLS version negotiated"
        );
        // A remote candidate Chromium learned from a check (kaon's check can beat the answer
        // to the page) is peer-reflexive, and getStats hides its address.
        let remote = s.get("remote").to_string();
        assert!(
            remote == format!("udp {kaon}") || remote == format!("udp :{}", kaon.port()),
            "the pair ends at kaon's socket {kaon}"
        );
    }

    pub fn send_text(&mut self, label: &str, text: &str) {
        self.send(&format!(
            r#"{{"cmd":"send","label":{},"text":{}}}"#,
            json_str(label),
            json_str(text)
        ));
    }

    pub fn send_binary(&mut self, label: &str, n: usize) {
        self.send(&format!(
            r#"{{"cmd":"send","label":{},"binary":{n}}}"#,
            json_str(label)
        ));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, r#"{{"cmd":"quit"}}"#);
        let _ = self.stdin.flush();
        // Give it a moment to close the browser cleanly, then kill it by its pid.
        let start = Instant::now();
        let end = start + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                eprintln!("browser closed in {:?}", start.elapsed());
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("browser: peer.mjs did not exit within 5 s of quit; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
