//! The `pion-to-pion` example as two real processes on loopback: the answer side starts first,
//! then the offer side; they signal over the example's HTTP/1.1 servers in Pion's wire format
//! (JSON descriptions to `/sdp`, text candidates to `/candidate`), connect, exchange messages
//! both ways and exit cleanly. `tests/peer_pion.rs` runs the example against Pion's own. The processes are killed by PID if the test fails.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const MESSAGES: usize = 3;
const PATIENCE: Duration = Duration::from_secs(60);

/// Builds the example with the cargo that runs this test, in the same profile, so the test
/// never runs a stale binary; returns its path.
fn example_binary() -> PathBuf {
    let test_exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<this test>
    let profile_dir = test_exe.parent().unwrap().parent().unwrap().to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let mut build = Command::new(cargo);
    build.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "--example",
        "pion-to-pion",
    ]);
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "building the example failed");
    let binary = profile_dir
        .join("examples")
        .join(format!("pion-to-pion{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "no example at {}", binary.display());
    binary
}

/// A free loopback TCP port (free when asked; the example binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed by PID when dropped, with its stdout lines on a channel.
struct Peer {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: thread::JoinHandle<String>,
}

impl Peer {
    fn spawn(binary: &PathBuf, name: &'static str, offer: u16, answer: u16) -> Self {
        let mut child = Command::new(binary)
            .args([
                name,
                // Go's flag forms, as Pion's programs take them, and kaon's long form.
                "-offer-address",
                &format!("127.0.0.1:{offer}"),
                &format!("--answer-address=127.0.0.1:{answer}"),
                "--interval-ms",
                "100",
                "--messages",
                &MESSAGES.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[{name}] {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s);
            s
        });
        Self {
            name,
            child,
            lines,
            stderr,
        }
    }

    /// Waits for a line containing `needle`; returns every line seen up to it.
    fn wait_for(&self, needle: &str, deadline: Instant) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!("{}: no line with {needle:?}; saw {seen:#?}", self.name),
            }
        }
    }

    /// Waits for the process to exit and returns whether it succeeded, and its stderr.
    fn finish(mut self, deadline: Instant) -> (bool, String) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr = std::mem::replace(&mut self.stderr, thread::spawn(String::new));
                return (status.success(), stderr.join().unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Only our own child, by its PID; harmless if it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pion_to_pion_processes_signal_over_http_and_exchange_messages() {
    let binary = example_binary();
    let (offer_port, answer_port) = (free_port(), free_port());
    let start = Instant::now();
    let deadline = start + PATIENCE;

    let answer = Peer::spawn(&binary, "answer", offer_port, answer_port);
    answer.wait_for("signalling on", deadline);
    let offer = Peer::spawn(&binary, "offer", offer_port, answer_port);

    let offer_lines = offer.wait_for("done:", deadline);
    let answer_lines = answer.wait_for("done:", deadline);
    println!("both sides done after {:?}", start.elapsed());

    for (lines, other) in [(&offer_lines, "answer"), (&answer_lines, "offer")] {
        for n in 1..=MESSAGES {
            let expected = format!("Message from DataChannel 'data': 'message {n} from {other}'");
            assert!(
                lines.iter().any(|l| l == &expected),
                "missing {expected:?} in {lines:#?}"
            );
        }
        let done = format!("done: sent {MESSAGES} and received {MESSAGES} messages");
        assert!(lines.iter().any(|l| l == &done), "{lines:#?}");
    }
    assert!(
        answer_lines.iter().any(|l| l == "New DataChannel data 1"),
        "the answerer did not accept the offerer's channel: {answer_lines:#?}"
    );
    for peer in [offer, answer] {
        let name = peer.name;
        let (ok, stderr) = peer.finish(deadline);
        assert!(ok, "{name} exited with an error: {stderr}");
    }
}

/// POSTs `body` to `http://127.0.0.1:{port}{path}` once the server listens; returns the
/// status line.
fn post(port: u16, path: &str, body: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).unwrap();
    status.trim_end().to_string()
}

#[test]
fn a_raw_sdp_offer_is_refused_with_the_reason_as_pion_speaks_json() {
    // kaon issue 11, defect 5: the example used to post raw SDP; Pion's programs post and
    // expect `{"type":"offer","sdp":"..."}`. A raw SDP is now an error the example reports.
    let binary = example_binary();
    let (offer_port, answer_port) = (free_port(), free_port());
    let deadline = Instant::now() + PATIENCE;
    let answer = Peer::spawn(&binary, "answer", offer_port, answer_port);
    answer.wait_for("signalling on", deadline);
    let raw = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    assert_eq!(post(answer_port, "/sdp", raw), "HTTP/1.1 200 OK");
    let (ok, stderr) = answer.finish(deadline);
    assert!(!ok, "a raw SDP was taken as an offer");
    assert!(
        stderr.contains("session description is not JSON"),
        "stderr: {stderr}"
    );
}
