//! Two processes connect with ICE over loopback and send datagrams over the selected pair.
//!
//! ```text
//! cargo run --example ice_p2p -- --demo
//! ```
//!
//! starts two copies of itself, one controlling and one controlled, and pipes each one's
//! standard output into the other's standard input. Each copy writes its credentials and
//! candidates as lines (`ufrag ..`, `pwd ..`, `candidate:..`, `end`), reads the peer's, runs
//! the ICE agent over a real UDP socket with the `kaon-std` driver, then sends datagrams and
//! reports how long each step took on standard error.
//!
//! Run the two halves by hand in two terminals with `--role controlling` and
//! `--role controlled`, pasting each one's output into the other. `--bind IP` (default
//! 127.0.0.1, after `--demo` or the role) picks the address each peer binds and offers as its
//! host candidate, e.g. `--bind ::1` for IPv6. Every state change, the selected pair and every
//! refused send are reported; the run fails if ICE fails or a datagram is missing.

use std::io::{self, BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use kaon::ice::{Agent, AgentConfig, IceEvent, IceState};
use kaon_std::Driver;

const DATAGRAMS: u32 = 20;

/// `eprintln!` in one `write` call: the two demo peers share one standard error, and Rust's
/// unbuffered stderr would otherwise interleave their lines piece by piece.
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }};
}

const USAGE: &str = "usage: ice_p2p --demo [--bind IP] | --role controlling|controlled [--bind IP]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let ip: IpAddr = match args.iter().position(|a| a == "--bind") {
        Some(i) => {
            let v = args.get(i + 1).ok_or(USAGE)?;
            v.parse().map_err(|e| format!("--bind {v:?}: {e}"))?
        }
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    match args.get(1).map(String::as_str) {
        Some("--demo") => demo(&args[0], ip),
        Some("--role") => match args.get(2).map(String::as_str) {
            Some("controlling") => peer(true, ip),
            Some("controlled") => peer(false, ip),
            _ => Err(USAGE.into()),
        },
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Runs two peers and connects their standard streams.
fn demo(me: &str, ip: IpAddr) -> Result<(), Box<dyn std::error::Error>> {
    let spawn = |role: &str| {
        Command::new(me)
            .args(["--role", role, "--bind", &ip.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
    };
    let mut a = spawn("controlling")?;
    let mut b = spawn("controlled")?;
    let pipe = |from: std::process::ChildStdout, mut to: std::process::ChildStdin| {
        std::thread::spawn(move || {
            for line in io::BufReader::new(from).lines().map_while(Result::ok) {
                if writeln!(to, "{line}").and_then(|_| to.flush()).is_err() {
                    break;
                }
            }
        })
    };
    let ab = pipe(
        a.stdout.take().ok_or("stdout")?,
        b.stdin.take().ok_or("stdin")?,
    );
    let ba = pipe(
        b.stdout.take().ok_or("stdout")?,
        a.stdin.take().ok_or("stdin")?,
    );
    let (sa, sb) = (a.wait()?, b.wait()?);
    let _ = (ab.join(), ba.join());
    if !(sa.success() && sb.success()) {
        return Err("a peer failed".into());
    }
    Ok(())
}

/// One peer: signal, connect, exchange datagrams.
fn peer(controlling: bool, ip: IpAddr) -> Result<(), Box<dyn std::error::Error>> {
    let name = if controlling {
        "controlling"
    } else {
        "controlled"
    };
    let start = Instant::now();
    let socket = UdpSocket::bind((ip, 0)).map_err(|e| format!("bind a UDP socket on {ip}: {e}"))?;
    let mut agent = Agent::new(AgentConfig {
        controlling,
        ..AgentConfig::default()
    });
    agent.add_local_interface(socket.local_addr()?)?;

    // Signal our credentials and candidates, then read the peer's.
    let mut out = io::stdout().lock();
    let (ufrag, pwd) = agent.local_credentials();
    writeln!(out, "ufrag {ufrag}\npwd {pwd}")?;
    let mut sent_candidates = Vec::new();
    for c in agent.local_candidates() {
        writeln!(out, "{c}")?;
        sent_candidates.push(c.to_string());
    }
    writeln!(out, "end")?;
    out.flush()?;
    let (mut ufrag, mut pwd) = (String::new(), String::new());
    for line in io::stdin().lock().lines() {
        let line = line?;
        match line.split_once(' ') {
            Some(("ufrag", v)) => ufrag = v.to_owned(),
            Some(("pwd", v)) => pwd = v.to_owned(),
            _ if line == "end" => break,
            _ => agent.add_remote_candidate_str(&line)?,
        }
    }
    agent.set_remote_credentials(&ufrag, &pwd)?;
    agent.end_of_remote_candidates();
    let signalled = start.elapsed();

    let driver = Driver::spawn(agent, vec![socket])?;
    let events = driver.events();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut connected = None;
    let mut received = 0;
    let mut sent = 0;
    while received < DATAGRAMS && Instant::now() < deadline {
        match events.recv_timeout(Duration::from_millis(20)) {
            Ok(IceEvent::StateChanged(s @ (IceState::Connected | IceState::Completed))) => {
                if connected.is_none() {
                    connected = Some(start.elapsed() - signalled);
                    let pair = driver.call(|a: &mut Agent, _| a.selected_pair()).flatten();
                    say!(
                        "[{name}] {s:?} after {:?} of checks on {pair:?}",
                        connected.unwrap()
                    );
                }
            }
            Ok(IceEvent::StateChanged(IceState::Failed)) => return Err("ICE failed".into()),
            Ok(IceEvent::StateChanged(s)) => say!("[{name}] ICE {s:?}"),
            Ok(IceEvent::SelectedPairChanged { local, remote }) => {
                say!("[{name}] selected pair {local} <-> {remote}");
            }
            Ok(IceEvent::Data { contents, .. }) => {
                received += 1;
                if received == 1 || received == DATAGRAMS {
                    say!("[{name}] got {:?}", String::from_utf8_lossy(&contents));
                }
            }
            // Host candidates only: all of them went out before "end". A later one would need
            // another round of signalling, which this example does not have.
            Ok(IceEvent::LocalCandidate(c)) => {
                if !sent_candidates.contains(&c.to_string()) {
                    say!("[{name}] late candidate, not sent: {c}");
                }
            }
            Ok(IceEvent::GatheringComplete) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err("the driver stopped".into()),
        }
        if connected.is_some() && sent < DATAGRAMS {
            let msg = format!("datagram {sent} from the {name} side").into_bytes();
            match driver.call(move |a: &mut Agent, _| a.send(&msg)) {
                Some(Ok(_)) => sent += 1,
                Some(Err(e)) => say!("[{name}] send refused: {e}"),
                None => return Err("the driver stopped".into()),
            }
        }
    }
    let rtt = driver.call(|a: &mut Agent, _| a.selected_rtt()).flatten();
    say!(
        "[{name}] signalling {signalled:?}, sent {sent}, received {received}/{DATAGRAMS}, \
         check RTT {rtt:?}, total {:?}",
        start.elapsed()
    );
    // Keep answering the peer's last checks briefly before leaving.
    std::thread::sleep(Duration::from_millis(200));
    driver.shutdown();
    if received < DATAGRAMS {
        return Err("not every datagram arrived".into());
    }
    Ok(())
}
