//! kaon's `pion-to-pion` example against Pion's own `pion-to-pion` programs (Pion webrtc 3.1.56
//! with pion/sctp 1.8.6, as Debian 12 ships it): kaon offering to Pion's answer, and Pion's
//! offer to kaon answering. Each pair signals over Pion's wire format (JSON descriptions POSTed
//! to `/sdp`, candidates as text to `/candidate`) with every address left at its default, so
//! the programs are drop-in for each other; then messages cross the data channel both ways
//! and are counted on both sides, and the offer-to-open time is printed.
//!
//! This Pion drops any INIT or INIT ACK carrying a parameter it does not know (kaon issue 11,
//! defect 4), so these tests also prove kaon's SCTP handshake with a pre-RFC 9653 peer.
//!
//! Pion's examples name a public STUN server and gather every interface, so both programs run
//! inside a network namespace of the test's own: loopback plus a veth pair (Pion gathers no
//! loopback candidates), and no route out. `.ci/run` installs Go and Pion's source
//! (`golang-go golang-github-pion-webrtc.v3-dev`); the programs are built in GOPATH mode once
//! per test run into `target/pion-interop/`. Without Go, Pion or the rights to make a
//! namespace, the tests fail in CI and are skipped with the reason elsewhere. Processes are
//! killed by PID and the namespace deleted when a test ends, whatever the outcome.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Messages each side sends before kaon's side exits. Pion sends one every 5 s.
const MESSAGES: usize = 2;
/// Pion's first message leaves 5 s after its channel opens, the second at 10 s.
const PATIENCE: Duration = Duration::from_secs(40);
/// Where Debian puts Pion's pion-to-pion example.
const PION_EXAMPLE: &str = "/usr/share/gocode/src/github.com/pion/webrtc/examples/pion-to-pion";

/// `target/` of the running test (`target/<profile>/deps/<test>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Builds the example with the cargo that runs this test, in the same profile.
fn kaon_example() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
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
            assert!(
                build.status().expect("run cargo build").success(),
                "building the example failed"
            );
            let binary = profile_dir
                .join("examples")
                .join(format!("pion-to-pion{}", std::env::consts::EXE_SUFFIX));
            assert!(binary.exists(), "no example at {}", binary.display());
            binary
        })
        .clone()
}

/// Pion's offer and answer programs, built once per run; `Err` says what is missing.
fn pion_programs() -> Result<(PathBuf, PathBuf), String> {
    static BUILT: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let go = common::which("go").ok_or("the Go toolchain (apt: golang-go)")?;
            if !Path::new(PION_EXAMPLE).is_dir() {
                return Err(format!(
                    "Pion's source at {PION_EXAMPLE} (apt: golang-github-pion-webrtc.v3-dev)"
                ));
            }
            let dir = target_dir().join("pion-interop");
            let mut out = Vec::new();
            for role in ["offer", "answer"] {
                let binary = dir.join("bin").join(role);
                // GOPATH mode: Debian ships no go.mod for Pion's test dependencies, and no
                // module proxy is needed. The example builds in place; Go's cache under
                // target/ makes every build after the first a link.
                let output = Command::new(&go)
                    .current_dir(Path::new(PION_EXAMPLE).join(role))
                    .env("GO111MODULE", "off")
                    .env(
                        "GOPATH",
                        format!("{}:/usr/share/gocode", dir.join("gopath").display()),
                    )
                    .env("GOCACHE", dir.join("gocache"))
                    .env("GOFLAGS", "")
                    .arg("build")
                    .arg("-o")
                    .arg(&binary)
                    .arg(".")
                    .output()
                    .map_err(|e| format!("go build: {e}"))?;
                if !output.status.success() {
                    // Go and Pion are there but do not build: a failure everywhere.
                    panic!(
                        "building Pion's {role} failed:\n{}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                out.push(binary);
            }
            Ok((out[0].clone(), out[1].clone()))
        })
        .clone()
}

/// A network namespace of our own: loopback for the signalling, and a veth pair with two
/// private addresses for Pion's candidates; no route out of it. Deleted on drop.
struct Netns {
    ip: PathBuf,
    name: String,
}

impl Netns {
    fn create(tag: &str) -> Result<Self, String> {
        let ip = common::which("ip")
            .or_else(|| Some(PathBuf::from("/usr/sbin/ip")).filter(|p| p.exists()))
            .ok_or("the ip command (apt: iproute2)")?;
        let name = format!("kaon-pion-{}-{tag}", std::process::id());
        let ns = Self { ip, name };
        let run = |args: &[&str]| -> Result<(), String> {
            let out = Command::new(&ns.ip)
                .args(args)
                .output()
                .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "a network namespace (ip {}: {})",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(&["netns", "add", &ns.name])?;
        let n = ns.name.as_str();
        run(&["-n", n, "link", "set", "lo", "up"])?;
        run(&[
            "-n", n, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ])?;
        run(&["-n", n, "addr", "add", "10.77.0.1/24", "dev", "v0"])?;
        run(&["-n", n, "addr", "add", "10.77.0.2/24", "dev", "v1"])?;
        run(&["-n", n, "link", "set", "v0", "up"])?;
        run(&["-n", n, "link", "set", "v1", "up"])?;
        Ok(ns)
    }

    /// A command that runs `program` inside the namespace.
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(&self.ip);
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(&self.ip)
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// A child process killed by PID when dropped, with its stdout lines on a channel.
struct Peer {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
    seen: Vec<String>,
}

impl Peer {
    fn spawn(name: &'static str, mut command: Command) -> Self {
        // `ip netns exec` execs the program: the child's PID is the program's.
        let mut child = command
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
            stderr: Some(stderr),
            seen: Vec::new(),
        }
    }

    /// Waits for a line for which `f` holds (already seen or new) and returns it.
    fn wait_for(&mut self, what: &str, deadline: Instant, f: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| f(l)) {
            return l.clone();
        }
        loop {
            let line = self.next_line(what, deadline);
            if f(&line) {
                return line;
            }
        }
    }

    /// Waits until `n` lines seen satisfy `f`.
    fn wait_count(&mut self, what: &str, n: usize, deadline: Instant, f: impl Fn(&str) -> bool) {
        while self.seen.iter().filter(|l| f(l)).count() < n {
            self.next_line(what, deadline);
        }
    }

    /// The next line printed; panics with everything seen and the stderr at the deadline.
    fn next_line(&mut self, what: &str, deadline: Instant) -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(_) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self
                    .stderr
                    .take()
                    .and_then(|h| h.join().ok())
                    .unwrap_or_default();
                panic!(
                    "{}: no line {what} within the deadline; saw {:#?}\nstderr:\n{stderr}",
                    self.name, self.seen
                );
            }
        }
    }

    /// Waits for the process to exit; panics with its stderr unless it succeeded.
    fn expect_success(mut self, deadline: Instant) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr = self
                    .stderr
                    .take()
                    .and_then(|h| h.join().ok())
                    .unwrap_or_default();
                assert!(
                    status.success(),
                    "{} exited with {status}: {stderr}",
                    self.name
                );
                return;
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

/// Pion, the namespace and kaon's example, or `None` when the test is skipped.
fn setup(test: &str, tag: &str) -> Option<(Netns, PathBuf, PathBuf, PathBuf)> {
    let (offer, answer) = match pion_programs() {
        Ok(p) => p,
        Err(what) => {
            common::missing_peer(test, &what);
            return None;
        }
    };
    let ns = match Netns::create(tag) {
        Ok(ns) => ns,
        Err(what) => {
            common::missing_peer(test, &what);
            return None;
        }
    };
    Some((ns, kaon_example(), offer, answer))
}

/// kaon's arguments for a run that exits after `MESSAGES` each way; addresses left at
/// Pion's defaults.
fn kaon_args(role: &str) -> [String; 5] {
    [
        role.to_string(),
        "--interval-ms".into(),
        "500".into(),
        "--messages".into(),
        MESSAGES.to_string(),
    ]
}

fn from_kaon(role: &'static str) -> impl Fn(&str) -> bool {
    move |l: &str| {
        l.starts_with("Message from DataChannel 'data': 'message ")
            && l.ends_with(&format!("from {role}'"))
    }
}

fn kaon_received(l: &str) -> bool {
    l.starts_with("Message from DataChannel 'data': '")
}

/// The milliseconds in kaon's "Data channel 'data' open after X ms" line.
fn open_ms(line: &str) -> f64 {
    line.split("open after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"))
}

#[test]
fn kaon_offer_opens_a_channel_with_pions_answer_and_messages_cross_both_ways() {
    let test = "kaon_offer_opens_a_channel_with_pions_answer";
    let Some((ns, kaon, _, pion_answer)) = setup(test, "ko") else {
        return;
    };
    let deadline = Instant::now() + PATIENCE;
    // Pion's answer listens on :60000 and posts its answer to localhost:50000; kaon's offer
    // listens on :50000 and posts to 127.0.0.1:60000, retrying until Pion listens.
    let mut pion = Peer::spawn("pion answer", ns.command(&pion_answer));
    let mut cmd = ns.command(&kaon);
    cmd.args(kaon_args("offer"));
    let started = Instant::now();
    let mut kaon = Peer::spawn("kaon offer", cmd);

    let open = kaon.wait_for("'open after'", deadline, |l| l.contains("open after"));
    let wall = started.elapsed();
    pion.wait_for("'New DataChannel data'", deadline, |l| {
        l.starts_with("New DataChannel data")
    });
    kaon.wait_for("'done:'", deadline, |l| l.starts_with("done:"));
    pion.wait_count("from kaon", MESSAGES, deadline, from_kaon("offer"));
    let to_pion = pion.seen.iter().filter(|l| from_kaon("offer")(l)).count();
    let to_kaon = kaon.seen.iter().filter(|l| kaon_received(l)).count();
    println!(
        "kaon offer -> Pion answer: offer-to-open {:.1} ms (kaon's count; {:.0} ms from process \
         start), messages kaon->Pion {to_pion}, Pion->kaon {to_kaon}",
        open_ms(&open),
        wall.as_secs_f64() * 1e3
    );
    assert_eq!(to_pion, MESSAGES);
    assert_eq!(to_kaon, MESSAGES);
    assert!(
        kaon.seen
            .iter()
            .any(|l| l == &format!("done: sent {MESSAGES} and received {MESSAGES} messages")),
        "{:#?}",
        kaon.seen
    );
    kaon.expect_success(deadline);
}

#[test]
fn pions_offer_opens_a_channel_with_kaon_answering_and_messages_cross_both_ways() {
    let test = "pions_offer_opens_a_channel_with_kaon_answering";
    let Some((ns, kaon, pion_offer, _)) = setup(test, "ka") else {
        return;
    };
    let deadline = Instant::now() + PATIENCE;
    // kaon's answer listens on :60000 and posts to localhost:50000, as Pion's answer does.
    let mut cmd = ns.command(&kaon);
    cmd.args(kaon_args("answer"));
    let mut kaon = Peer::spawn("kaon answer", cmd);
    kaon.wait_for("'signalling on'", deadline, |l| {
        l.starts_with("signalling on")
    });
    let started = Instant::now();
    let mut pion = Peer::spawn("pion offer", ns.command(&pion_offer));

    pion.wait_for("'Data channel ... open'", deadline, |l| {
        l.starts_with("Data channel 'data'") && l.contains("open")
    });
    let wall = started.elapsed();
    let open = kaon.wait_for("'open after'", deadline, |l| l.contains("open after"));
    assert!(
        kaon.seen
            .iter()
            .any(|l| l.starts_with("New DataChannel data")),
        "kaon did not accept Pion's channel: {:#?}",
        kaon.seen
    );
    kaon.wait_for("'done:'", deadline, |l| l.starts_with("done:"));
    pion.wait_count("from kaon", MESSAGES, deadline, from_kaon("answer"));
    let to_pion = pion.seen.iter().filter(|l| from_kaon("answer")(l)).count();
    let to_kaon = kaon.seen.iter().filter(|l| kaon_received(l)).count();
    println!(
        "Pion offer -> kaon answer: offer-to-open {:.0} ms (from starting Pion's offer to its \
         open line; kaon counts {:.1} ms from the offer's arrival), messages kaon->Pion \
         {to_pion}, Pion->kaon {to_kaon}",
        wall.as_secs_f64() * 1e3,
        open_ms(&open),
    );
    assert_eq!(to_pion, MESSAGES);
    assert_eq!(to_kaon, MESSAGES);
    kaon.expect_success(deadline);
}
