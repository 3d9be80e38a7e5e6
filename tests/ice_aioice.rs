//! Interop with aioice (the ICE agent of aiortc) over loopback UDP, in both roles.
//!
//! `tests/interop/ice_aioice.py` runs an aioice `Connection`; credentials and candidates go
//! both ways as lines on its stdin and stdout; then datagrams flow both ways over the selected
//! pair. Needs the venv `.ci/run` creates (`pip install aioice`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use kaon::ice::{Agent, AgentConfig, Candidate, IceEvent, IceState};
use kaon_std::Driver;

/// Waits for an event matching `f`, up to `timeout`.
fn wait_for(
    events: &Receiver<IceEvent>,
    timeout: Duration,
    mut f: impl FnMut(&IceEvent) -> bool,
) -> Option<IceEvent> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match events.recv_timeout(left) {
            Ok(e) if f(&e) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

struct Peer {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Peer {
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.out.read_line(&mut s).expect("aioice output");
        assert!(!s.is_empty(), "aioice exited early");
        s.trim().to_owned()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(test: &str, we_control: bool) {
    let Some(python) = common::venv_python("aioice") else {
        common::missing_peer(test, "python venv with aioice");
        return;
    };
    let script = common::repo_root().join("tests/interop/ice_aioice.py");
    let role = if we_control {
        "controlled"
    } else {
        "controlling"
    };
    let mut child = Command::new(python)
        .arg(script)
        .arg(role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start aioice");
    let mut peer = Peer {
        out: BufReader::new(child.stdout.take().expect("piped")),
        child,
    };

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let config = AgentConfig {
        controlling: we_control,
        ..AgentConfig::default()
    };
    let mut agent = Agent::new(config);
    agent.add_local_interface(local).unwrap();

    // Their credentials and candidates.
    let (mut ufrag, mut pwd, mut cands) = (String::new(), String::new(), Vec::new());
    loop {
        let line = peer.line();
        match line.split_once(' ') {
            Some(("ufrag", v)) => ufrag = v.to_owned(),
            Some(("pwd", v)) => pwd = v.to_owned(),
            Some(("cand", v)) => cands.push(Candidate::parse(v).expect("aioice candidate parses")),
            _ if line == "end" => break,
            _ => panic!("unexpected line from aioice: {line}"),
        }
    }
    assert!(!cands.is_empty());
    agent.set_remote_credentials(&ufrag, &pwd).unwrap();
    // Ours, in aioice's format (no "candidate:" prefix).
    let mut stdin = peer.child.stdin.take().unwrap();
    let (u, p) = agent.local_credentials();
    writeln!(stdin, "ufrag {u}\npwd {p}").unwrap();
    for c in agent.local_candidates() {
        let sdp = c.to_string();
        writeln!(stdin, "cand {}", sdp.trim_start_matches("candidate:")).unwrap();
    }
    writeln!(stdin, "end").unwrap();
    stdin.flush().unwrap();
    for c in cands {
        agent.add_remote_candidate(c).unwrap();
    }
    agent.end_of_remote_candidates();

    let started = Instant::now();
    let driver = Driver::spawn(agent, vec![socket]).unwrap();
    let events = driver.events();
    let connected = wait_for(events, Duration::from_secs(10), |e| {
        matches!(
            e,
            IceEvent::StateChanged(IceState::Connected | IceState::Completed)
        )
    });
    assert!(connected.is_some(), "{test}: our agent did not connect");
    let line = peer.line();
    assert!(line.starts_with("connected "), "{test}: aioice said {line}");
    eprintln!(
        "{test}: connected to aioice in {:?} ({line})",
        started.elapsed()
    );

    // aioice greets, then echoes what we send.
    let hello = wait_for(events, Duration::from_secs(5), |e| {
        matches!(e, IceEvent::Data { .. })
    });
    assert!(
        matches!(&hello, Some(IceEvent::Data { contents, .. }) if contents == b"hello from aioice"),
        "{hello:?}"
    );
    for n in 0..5u8 {
        let msg = format!("ping {n}").into_bytes();
        driver
            .call(move |a: &mut Agent, _| a.send(&msg))
            .unwrap()
            .unwrap();
        let want = format!("echo:ping {n}").into_bytes();
        let echo = wait_for(
            events,
            Duration::from_secs(5),
            |e| matches!(e, IceEvent::Data { contents, .. } if *contents == want),
        );
        assert!(echo.is_some(), "{test}: no echo for ping {n}");
    }
    driver
        .call(|a: &mut Agent, _| a.send(b"bye"))
        .unwrap()
        .unwrap();
    assert_eq!(peer.line(), "done");
    let agent = driver.shutdown().unwrap();
    assert!(agent.stats().unauthenticated == 0);
}

#[test]
fn aioice_controlled_against_our_controlling_agent() {
    run("aioice_controlled_against_our_controlling_agent", true);
}

#[test]
fn aioice_controlling_against_our_controlled_agent() {
    run("aioice_controlling_against_our_controlled_agent", false);
}
