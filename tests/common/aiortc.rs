//! The aiortc side of an interop test: `tests/interop/peer_aiortc.py` (aiortc 1.16 in the venv
//! `.ci/run` makes) driven over JSON lines on its stdin/stdout, with the last lines of its
//! stderr kept for failure messages.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::json_lines::Ev;
use super::kaon_peer::KaonPeer as Kaon;

/// How long one message or event may take.
pub const STEP: Duration = Duration::from_secs(20);
/// How many lines of the script's stderr a failure shows.
pub const TAIL: usize = 40;

/// Byte `i` of an `n`-byte binary test message, as the script computes it.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + n) % 256) as u8).collect()
}

/// An `n`-byte text test message, as the script computes it.
pub fn text_pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + ((i * 7 + n) % 26) as u8).collect()
}

/// The last lines the script wrote to stderr, for failure messages.
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if t.len() == TAIL {
            t.pop_front();
        }
        t.push_back(line);
    }

    pub fn show(&self) -> String {
        let t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_empty() {
            return "(aiortc wrote nothing to stderr)".into();
        }
        format!(
            "last lines of aiortc's stderr:\n{}",
            t.iter().cloned().collect::<Vec<_>>().join("\n")
        )
    }
}

/// The Python script and its RTCPeerConnection. Dropping it closes the script's stdin (it
/// exits on EOF), then kills it by its pid if it has not exited within 5 s, and reaps it.
pub struct Aiortc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub events: Receiver<String>,
    pub stderr: StderrTail,
    /// Events read while waiting for another one.
    pub seen: Vec<Ev>,
}

impl Aiortc {
    pub fn start(python: &std::path::Path) -> Self {
        Self::start_on(python, "127.0.0.1")
    }

    /// Starts the script gathering `host` as its only address.
    pub fn start_on(python: &std::path::Path, host: &str) -> Self {
        Self::start_with(Command::new(python), host)
    }

    /// As [`start_on`](Self::start_on), inside the network namespace `netns` (`ip netns exec`,
    /// which execs Python: the child's pid is the script's).
    pub fn start_in(python: &std::path::Path, host: &str, netns: &str) -> Self {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns]).arg(python);
        Self::start_with(command, host)
    }

    /// Starts the script with `command` (the venv's Python, perhaps behind `ip netns exec`).
    fn start_with(mut command: Command, host: &str) -> Self {
        let mut child = command
            .arg(super::repo_root().join("tests/interop/peer_aiortc.py"))
            .arg(host)
            // Non-ASCII text crosses the pipes as UTF-8 whatever the locale.
            .env("PYTHONIOENCODING", "utf-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start peer_aiortc.py");
        let stdin = child.stdin.take();
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
        let tail = StderrTail::default();
        let t = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("peer_aiortc.py: {line}");
                t.push(line);
            }
        });
        let mut py = Self {
            child,
            stdin,
            events,
            stderr: tail,
            seen: Vec::new(),
        };
        py.wait("ready", Duration::from_secs(30), |e| e.is("ready"));
        py
    }

    pub fn send(&mut self, json: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        if let Err(e) = writeln!(stdin, "{json}").and_then(|()| stdin.flush()) {
            panic!(
                "aiortc: cannot write to the script: {e}\n{}",
                self.stderr.show()
            );
        }
    }

    /// Reads events until one matches (earlier unmatched ones are kept); panics on an `error`
    /// event, on the script ending, or after `limit`, with the script's stderr tail.
    pub fn wait(&mut self, what: &str, limit: Duration, pred: impl Fn(&Ev) -> bool) -> Ev {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(line) => {
                    let Some(ev) = Ev::parse(&line) else {
                        panic!("aiortc printed a non-event: {line}\n{}", self.stderr.show())
                    };
                    assert!(
                        !ev.is("error"),
                        "aiortc error while waiting for {what}: {}\n{}",
                        ev.get("what"),
                        self.stderr.show()
                    );
                    if pred(&ev) {
                        return ev;
                    }
                    self.seen.push(ev);
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "aiortc: no {what} within {limit:?}; seen {:?}\n{}",
                    self.seen,
                    self.stderr.show()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "aiortc: the script ended while waiting for {what}\n{}",
                    self.stderr.show()
                ),
            }
        }
    }

    pub fn wait_label(&mut self, ev: &str, label: &str) -> Ev {
        let (e, l) = (ev.to_string(), label.to_string());
        self.wait(&format!("{ev} on {label}"), STEP, move |x| {
            x.is(&e) && x.get("label") == l
        })
    }

    /// aiortc's view of the transport, checked against kaon's: aiortc's DTLS role, DTLS 1.2,
    /// a pair ending at kaon's socket, kaon's max-message-size and SCTP port, and the same
    /// DTLS-SRTP exporter output on both sides (RFC 5764 §4.2), which proves both derived one
    /// master secret.
    pub fn check_transport(&mut self, kaon: &Kaon, role: &str) {
        self.send(r#"{"cmd":"stats"}"#);
        let s = self.wait("stats", STEP, |e| e.is("stats"));
        println!(
            "aiortc transport: dtls {} {} {} role {}, srtp {}, remote max-message-size {}, sctp port {}, pair {} -> {}",
            s.get("dtlsState"),
            s.get("tlsVersion"),
            s.get("cipher"),
            s.get("dtlsRole"),
            s.get("srtpProfile"),
            s.get("remoteMaxMessageSize"),
            s.get("remotePort"),
            s.get("local"),
            s.get("remote"),
        );
        assert_eq!(s.get("dtlsState"), "connected");
        assert_eq!(s.get("dtlsRole"), role, "aiortc's DTLS role");
        assert_eq!(s.get("tlsVersion"), "DTLSv1.2");
        assert_eq!(
            s.get("remote"),
            kaon.local.to_string(),
            "the pair ends at kaon's socket"
        );
        assert_eq!(
            s.get("remoteMaxMessageSize"),
            "262144",
            "kaon's a=max-message-size"
        );
        assert_eq!(s.get("remotePort"), "5000", "kaon's a=sctp-port");
        let (profile, material) = kaon
            .driver
            .call(|pc, _| {
                pc.srtp_keying()
                    .map(|k| (format!("{:?}", k.profile), k.material.clone()))
            })
            .expect("driver alive")
            .expect("kaon has DTLS-SRTP keys");
        let hex: String = material.iter().map(|b| format!("{b:02x}")).collect();
        println!("kaon srtp profile {profile}");
        assert!(!hex.is_empty(), "kaon exported keying material");
        assert_eq!(
            s.get("keying"),
            hex,
            "aiortc ({}) and kaon ({profile}) export the same DTLS-SRTP keying material",
            s.get("srtpProfile")
        );
    }
}

impl Drop for Aiortc {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the script closes its connection and exits
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("aiortc: the script did not exit within 5 s of EOF; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv's Python with aiortc, or why the test skips (a failure in CI).
pub fn venv(test: &str) -> Option<std::path::PathBuf> {
    let python = super::venv_python("aiortc");
    if python.is_none() {
        super::missing_peer(test, "a Python venv with aiortc (.ci/venv or $KAON_VENV)");
    }
    python
}
