//! What the browser harnesses share (Chromium in `chromium.rs`, Firefox in `firefox.rs`): the
//! node script that drives the browser, a [`Page`] that sends it JSON-line commands and waits
//! for its events, and the kaon-side driving the browser tests repeat (kaon answers an offer,
//! a channel opens on both sides, messages both ways, one offer-to-open run timed).
//!
//! `chromium::Browser` and `firefox::Firefox` dereference to their [`Page`], so a test calls
//! `send`, `wait` and `send_text` on either, and the functions here take either.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::json_lines::{Ev, json_str};
use super::kaon_peer::KaonPeer;
use kaon::datachannel::ChannelId;
use kaon::peer::{LocalTrack, PeerConfig, PeerConnection, PeerEvent, SdpType, TrackKind};
use kaon::sdp::SessionDescription;

/// Byte `i` of an `n`-byte test message, as the pages compute it.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + n) % 256) as u8).collect()
}

/// Whether `node` and the script folder's `node_modules/<module>` are here (or why the test
/// skips: [`super::missing_peer`]).
pub fn node_script_available(test: &str, dir: &Path, module: &str) -> bool {
    if super::which("node").is_none() {
        return super::missing_peer(test, "node");
    }
    if !dir.join("node_modules").join(module).is_dir() {
        let folder = dir.strip_prefix(super::repo_root()).unwrap_or(dir);
        return super::missing_peer(
            test,
            &format!("{}/node_modules (run npm ci there)", folder.display()),
        );
    }
    true
}

/// Starts `command` (`node peer.mjs ...`) in `dir` with piped stdio; its stderr is printed
/// line by line after `name`.
pub fn spawn_script(
    mut command: Command,
    dir: &Path,
    name: &'static str,
) -> Result<(Child, ChildStdin, ChildStdout), String> {
    let mut child = command
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start node peer.mjs: {e}"))?;
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{name}: {line}");
        }
    });
    Ok((child, stdin, stdout))
}

/// Hands each line of `stdout` to `line` on a thread of its own, until `line` says stop or
/// the script ends; then calls `end`.
pub fn read_lines(
    stdout: ChildStdout,
    mut line: impl FnMut(String) -> bool + Send + 'static,
    end: impl FnOnce() + Send + 'static,
) {
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !line(l) {
                break;
            }
        }
        end();
    });
}

/// Where a page's commands go: one JSON object, no newline.
type Out = Box<dyn FnMut(&str) -> std::io::Result<()> + Send>;

/// One browser peer as a test talks to it: commands out as JSON lines, events in.
pub struct Page {
    /// What failure messages call the browser ("chromium", "firefox").
    name: &'static str,
    out: Out,
    events: Receiver<String>,
    /// Events read while waiting for another one.
    pub seen: Vec<Ev>,
}

impl Page {
    /// A page whose commands go to `out` (one JSON object, no newline) and whose events come
    /// from `events` (one JSON line each).
    pub fn new(
        name: &'static str,
        out: impl FnMut(&str) -> std::io::Result<()> + Send + 'static,
        events: Receiver<String>,
    ) -> Self {
        Self {
            name,
            out: Box::new(out),
            events,
            seen: Vec::new(),
        }
    }

    /// Sends a command (a JSON object).
    pub fn send(&mut self, json: &str) {
        let name = self.name;
        self.try_send(json)
            .unwrap_or_else(|e| panic!("{name}: write to peer.mjs: {e}"));
    }

    /// Sends a command, saying whether the script took it (for teardown).
    pub fn try_send(&mut self, json: &str) -> std::io::Result<()> {
        (self.out)(json)
    }

    /// The raw event lines, for a teardown that reads past [`wait`](Self::wait)'s checks.
    pub fn lines(&self) -> &Receiver<String> {
        &self.events
    }

    /// Reads events until one matches (earlier unmatched ones are kept); panics on an
    /// `error` event, on the script ending, or after `limit`.
    pub fn wait(&mut self, what: &str, limit: Duration, pred: impl Fn(&Ev) -> bool) -> Ev {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let name = self.name;
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(line) => {
                    let ev = Ev::parse(&line)
                        .unwrap_or_else(|| panic!("peer.mjs printed a non-event: {line}"));
                    assert!(!ev.is("error"), "{name} error: {}", ev.get("what"));
                    if pred(&ev) {
                        return ev;
                    }
                    self.seen.push(ev);
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{name}: no {what} within {limit:?}; seen {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{name}: peer.mjs ended while waiting for {what}")
                }
            }
        }
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

    /// Waits for the page's `label` channel to open.
    pub fn opened(&mut self, label: &str, limit: Duration) {
        let l = label.to_string();
        self.wait(&format!("{label} open"), limit, move |e| {
            e.is("open") && e.get("label") == l
        });
    }

    /// Starts the next connection on the same page (`reset`) and waits until it has.
    pub fn reset(&mut self) {
        self.send(r#"{"cmd":"reset"}"#);
        self.wait("reset", Duration::from_secs(10), |e| e.is("reset"));
    }
}

/// Events a connection had before a driver took it over.
pub fn early_events(pc: &mut PeerConnection) -> Vec<PeerEvent> {
    std::iter::from_fn(|| kaon::Protocol::poll_event(pc)).collect()
}

/// kaon's answer to the browser's `offer` on a fresh PeerConnection with `socket`'s address as
/// its host candidate, `tracks` added first (one outgoing track per kind): the connection, its
/// early events, the answer.
pub fn kaon_answers(
    offer: &str,
    socket: &UdpSocket,
    config: PeerConfig,
    tracks: &[TrackKind],
) -> (PeerConnection, Vec<PeerEvent>, String) {
    let mut pc = PeerConnection::new(config).expect("peer");
    pc.add_local_address(socket.local_addr().unwrap()).unwrap();
    pc.set_remote_description(
        SdpType::Offer,
        SessionDescription::parse(offer).expect("kaon parses the browser's offer"),
    )
    .expect("kaon takes the browser's offer");
    let now = Instant::now();
    for &kind in tracks {
        pc.add_track(
            now,
            kind,
            LocalTrack::new(&format!("back-{kind}"), &["kaon"]),
        )
        .expect("add_track");
    }
    kaon::Protocol::handle_timeout(&mut pc, now);
    let early = early_events(&mut pc);
    let answer = pc.create_answer(now).expect("answer");
    pc.set_local_description(SdpType::Answer, answer.clone())
        .expect("kaon sets its answer");
    (pc, early, answer.to_string())
}

/// kaon, having set `offer` as its local description, sends it to the page and takes the
/// browser's answer: the connection's early events.
pub fn browser_answers(
    page: &mut Page,
    pc: &mut PeerConnection,
    offer: &SessionDescription,
) -> Vec<PeerEvent> {
    page.send(&format!(
        r#"{{"cmd":"remote-offer","sdp":{}}}"#,
        json_str(&offer.to_string())
    ));
    let answer = page.wait("answer", Duration::from_secs(15), |e| e.is("answer"));
    let answer = answer.get("sdp");
    eprintln!("browser answer:\n{answer}");
    pc.set_remote_description(
        SdpType::Answer,
        SessionDescription::parse(answer).expect("kaon parses the browser's answer"),
    )
    .expect("kaon takes the browser's answer");
    early_events(pc)
}

/// kaon's id of a `DataChannelOpen` event.
pub fn open_id(e: &PeerEvent) -> ChannelId {
    match e {
        PeerEvent::DataChannelOpen { id, .. } => *id,
        _ => unreachable!(),
    }
}

/// Waits for kaon's `label` channel (opened by the browser when `remote`) to open.
pub fn kaon_opened(kaon: &mut KaonPeer, label: &str, remote: bool, limit: Duration) -> ChannelId {
    let l = label.to_string();
    let e = kaon.wait(&format!("{label} open"), limit, move |e| {
        matches!(e, PeerEvent::DataChannelOpen { label, remote: r, .. } if *label == l && *r == remote)
    });
    open_id(&e)
}

/// Waits for `label` to open on both sides; kaon's id of it.
pub fn opened(page: &mut Page, kaon: &mut KaonPeer, label: &str, remote: bool) -> ChannelId {
    let id = kaon_opened(kaon, label, remote, Duration::from_secs(20));
    page.opened(label, Duration::from_secs(20));
    id
}

/// Messages both ways on one channel: the browser sends text and a binary message of each of
/// `sizes`, kaon checks them (as a set when the channel is unordered) and, with `echo`, sends
/// each back; then kaon sends its own text and sizes, and the browser checks every message it
/// gets back (the echoes too).
pub fn exchange(
    page: &mut Page,
    kaon: &mut KaonPeer,
    label: &str,
    id: ChannelId,
    ordered: bool,
    sizes: &[usize],
    echo: bool,
) {
    let greeting = format!("hello from {} on {label} ✓", page.name);
    page.send_text(label, &greeting);
    for &n in sizes {
        page.send_binary(label, n);
    }
    let mut got = Vec::new();
    for _ in 0..=sizes.len() {
        let (data, binary) = kaon.message(id);
        if echo {
            kaon.send(id, data.clone(), binary);
        }
        got.push((data, binary));
    }
    let mut want = vec![(greeting.clone().into_bytes(), false)];
    want.extend(sizes.iter().map(|&n| (pattern(n), true)));
    if !ordered {
        got.sort();
        want.sort();
    }
    assert!(
        got == want,
        "kaon received other messages on {label}: {:?}",
        got.iter().map(|(d, b)| (d.len(), *b)).collect::<Vec<_>>()
    );
    let reply = format!("hello from kaon on {label}");
    kaon.send(id, reply.clone().into_bytes(), false);
    for &n in sizes {
        kaon.send(id, pattern(n), true);
    }
    let texts = if echo {
        vec![greeting, reply]
    } else {
        vec![reply]
    };
    for text in texts {
        let l = label.to_string();
        page.wait(
            &format!("text {text:?} on {label}"),
            Duration::from_secs(10),
            move |e| {
                e.is("message")
                    && e.get("label") == l
                    && e.get("binary") == "false"
                    && e.get("text") == text
            },
        );
    }
    for &n in sizes {
        for _ in 0..1 + usize::from(echo) {
            let l = label.to_string();
            let e = page.wait(
                &format!("binary {n} on {label}"),
                Duration::from_secs(10),
                move |e| {
                    e.is("message")
                        && e.get("label") == l
                        && e.get("binary") == "true"
                        && e.get("len") == n.to_string()
                },
            );
            let name = page.name;
            assert_eq!(e.get("ok"), "true", "{name} got a corrupt {n}-byte message");
        }
    }
}

/// What one offer-to-open run took, from the offer in hand (`t0`) to the channel open on both
/// sides.
pub struct Run {
    /// To kaon's first selected pair, to DTLS connected at kaon, to open at kaon and at the
    /// browser.
    pub ice: Duration,
    pub dtls: Duration,
    pub kaon_open: Duration,
    pub browser_open: Duration,
    /// kaon's ICE check retransmissions over the run.
    pub ice_retransmissions: u64,
}

impl Run {
    /// Waits, up to `limit` each, for kaon's selected pair, DTLS, and `label` open at kaon
    /// and at the browser.
    pub fn measure(
        page: &mut Page,
        kaon: &mut KaonPeer,
        label: &str,
        remote: bool,
        t0: Instant,
        limit: Duration,
    ) -> Self {
        kaon.wait("a selected pair", limit, |e| {
            matches!(e, PeerEvent::SelectedCandidatePairChanged { .. })
        });
        let ice = t0.elapsed();
        kaon.wait("DTLS connected", limit, |e| {
            matches!(e, PeerEvent::DtlsConnected)
        });
        let dtls = t0.elapsed();
        kaon_opened(kaon, label, remote, limit);
        let kaon_open = t0.elapsed();
        page.opened(label, limit);
        let browser_open = t0.elapsed();
        let ice_retransmissions = kaon
            .driver
            .call(|pc, _| pc.ice().stats().retransmissions)
            .expect("driver alive");
        Self {
            ice,
            dtls,
            kaon_open,
            browser_open,
            ice_retransmissions,
        }
    }

    /// Open on both sides.
    pub fn open(&self) -> Duration {
        self.kaon_open.max(self.browser_open)
    }

    /// Prints the run's times after `what`, and `extra`.
    pub fn print(&self, what: &str, browser: &str, extra: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        eprintln!(
            "{what}: ICE {:.1} ms, DTLS {:.1} ms, open at kaon {:.1} ms, at {browser} {:.1} ms; ICE retransmissions {}{extra}",
            ms(self.ice),
            ms(self.dtls),
            ms(self.kaon_open),
            ms(self.browser_open),
            self.ice_retransmissions
        );
    }
}

/// Prints the spread of offer-to-open (both sides) over `runs`, with `extra` after it.
pub fn print_spread(what: &str, runs: &[Run], extra: &str) {
    let mut open: Vec<f64> = runs.iter().map(|r| r.open().as_secs_f64() * 1e3).collect();
    open.sort_by(f64::total_cmp);
    let n = open.len();
    eprintln!(
        "{what}: offer-to-open (both sides) over {n} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms{extra}",
        open[0],
        open[n / 2],
        open[n - 1],
    );
}
