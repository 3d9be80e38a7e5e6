//! kaon's TURN server beside coturn on this machine, in one run: how many ChannelData packets
//! each relays per CPU-second of its own.
//!
//! Run: `cargo run --release --example turn-relay-bench -- [--seconds 3] [--size 100]`
//!
//! For each server a client allocates (kaon's `turn::Client`), binds a channel to a peer
//! socket, then sends ChannelData of `--size` bytes as fast as it can for `--seconds`; the peer
//! counts what the server relayed. The server's CPU time over the blast comes from
//! `/proc` (kaon's server runs on a thread of this process with a plain blocking loop,
//! coturn is Debian's `turnserver` in its own process, skipped when absent). Both see the same
//! offered load, so the figure that matters is packets relayed per CPU-second.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kaon::turn::{Client, ClientConfig, ClientEvent, Server, ServerConfig};
use kaon::{Datagram, Protocol};

const USER: &str = "bench";
const PASSWORD: &str = "bench123";

/// Clock ticks of a thread or process in `/proc/.../stat` (utime + stime).
fn ticks(stat_path: &str) -> u64 {
    let text = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// kaon's server on a thread: a listening socket and eight relays on 127.0.0.1. The thread
/// publishes its `/proc` stat path.
fn spawn_kaon(stop: Arc<AtomicBool>) -> (SocketAddr, Arc<std::sync::Mutex<String>>) {
    let sockets: Vec<UdpSocket> = (0..9)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut cfg = ServerConfig::new("bench.test", vec![addrs[0]], addrs[1..].to_vec());
    cfg.users.push((USER.into(), PASSWORD.into()));
    let stat = Arc::new(std::sync::Mutex::new(String::new()));
    let stat_out = stat.clone();
    let listen = addrs[0];
    sockets[0]
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    for s in &sockets[1..] {
        s.set_nonblocking(true).unwrap();
    }
    thread::spawn(move || {
        let tid = std::fs::read_link("/proc/thread-self")
            .map(|p| format!("{}/stat", p.display()))
            .unwrap_or_default();
        *stat_out.lock().unwrap() = format!("/proc/{tid}");
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut server = Server::new(cfg, Instant::now(), unix);
        let mut buf = vec![0u8; 65_536];
        let mut out = vec![0u8; 65_536];
        let mut round = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            round = round.wrapping_add(1);
            // The relay sockets (peers' traffic back) are looked at every 8th round: an empty
            // non-blocking read is a wasted system call per socket.
            let polled = if round.is_multiple_of(8) {
                sockets.len()
            } else {
                1
            };
            for (i, s) in sockets.iter().enumerate().take(polled) {
                // Up to a batch per socket per round; the listening socket blocks briefly
                // when idle.
                for _ in 0..64 {
                    match s.recv_from(&mut buf) {
                        Ok((n, source)) => server.handle_datagram(
                            now,
                            Datagram {
                                source,
                                destination: addrs[i],
                                contents: &buf[..n],
                            },
                        ),
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            if server.poll_timeout().is_some_and(|t| t <= now) {
                server.handle_timeout(now);
            }
            while let Some(t) = server.poll_transmit(now, &mut out) {
                if let Some(i) = addrs.iter().position(|a| *a == t.source) {
                    let _ = sockets[i].send_to(&out[..t.len], t.destination);
                }
            }
            while server.poll_event().is_some() {}
        }
    });
    (listen, stat)
}

struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_coturn() -> Option<(SocketAddr, Coturn)> {
    let port = UdpSocket::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("turnserver")
        .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
        .arg(format!("--listening-port={port}"))
        .args(["--min-port=56000", "--max-port=56100"])
        .args(["--lt-cred-mech", &format!("--user={USER}:{PASSWORD}")])
        .args(["--realm=bench.test", "--no-tls", "--no-dtls", "--no-tcp"])
        .args(["--no-cli", "--allow-loopback-peers", "--log-file=stdout"])
        // One relay thread: packets per CPU-second is what is compared, not parallelism.
        .args(["--relay-threads=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    thread::sleep(Duration::from_millis(500));
    Some((format!("127.0.0.1:{port}").parse().unwrap(), Coturn(child)))
}

/// Allocates on `server`, binds a channel to a peer socket, blasts ChannelData for `secs`.
/// Returns (sent, relayed) packet counts, and runs `mark` at the start and end of the blast.
fn blast(
    server: SocketAddr,
    secs: f64,
    size: usize,
    mut mark: impl FnMut(),
) -> Result<(u64, u64), String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let mut client = Client::new(ClientConfig {
        seed: Some(1),
        ..ClientConfig::new(local, server, USER, PASSWORD)
    });
    let start = Instant::now();
    client.allocate(start);
    client.permit(start, peer_addr);
    let mut buf = [0u8; 2048];
    let mut channel = None;
    while channel.is_none() && start.elapsed() < Duration::from_secs(5) {
        let now = Instant::now();
        client.handle_timeout(now);
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let _ = sock.send_to(&buf[..t.len], t.destination);
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            client.handle_datagram(
                Instant::now(),
                Datagram {
                    source: from,
                    destination: local,
                    contents: &buf[..n],
                },
            );
        }
        while let Some(e) = client.poll_event() {
            match e {
                ClientEvent::ChannelBound { channel: c, .. } => channel = Some(c),
                ClientEvent::Failed(e) => return Err(e.to_string()),
                _ => {}
            }
        }
    }
    let channel = channel.ok_or("no channel bound within 5 s")?;
    let relayed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let counter = {
        let (relayed, done) = (relayed.clone(), done.clone());
        peer.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        thread::spawn(move || {
            let mut b = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if peer.recv_from(&mut b).is_ok() {
                    relayed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let payload = vec![0x5au8; size];
    let mut packet = vec![0u8; 4 + size + 3];
    let n = kaon::turn::ChannelData {
        channel,
        data: &payload,
    }
    .write(&mut packet, false)
    .unwrap();
    mark();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    while Instant::now() < end {
        for _ in 0..64 {
            if sock.send_to(&packet[..n], server).is_ok() {
                sent += 1;
            }
        }
    }
    // Let the queues drain before the CPU time is read.
    thread::sleep(Duration::from_millis(200));
    mark();
    done.store(true, Ordering::Relaxed);
    let _ = counter.join();
    Ok((sent, relayed.load(Ordering::Relaxed)))
}

fn main() {
    let mut secs = 3.0;
    let mut size = 100;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--size" => size = args.next().and_then(|v| v.parse().ok()).unwrap_or(size),
            _ => {
                eprintln!("usage: turn-relay-bench [--seconds S] [--size BYTES]");
                std::process::exit(2);
            }
        }
    }
    let hz = clock_ticks_per_second();
    let stop = Arc::new(AtomicBool::new(false));
    let (kaon_addr, kaon_stat) = spawn_kaon(stop.clone());
    thread::sleep(Duration::from_millis(100));
    let coturn = spawn_coturn();
    if coturn.is_none() {
        eprintln!("coturn (turnserver) not found: measuring kaon alone");
    }
    let mut results = Vec::new();
    let mut servers = vec![("kaon", kaon_addr, kaon_stat.lock().unwrap().clone())];
    if let Some((addr, c)) = &coturn {
        servers.push(("coturn", *addr, format!("/proc/{}/stat", c.0.id())));
    }
    for (name, addr, stat) in servers {
        let mut marks = Vec::new();
        match blast(addr, secs, size, || marks.push(ticks(&stat))) {
            Ok((sent, relayed)) => {
                let cpu = (marks[1].saturating_sub(marks[0])) as f64 / hz;
                let per_cpu = if cpu > 0.0 {
                    relayed as f64 / cpu
                } else {
                    f64::NAN
                };
                println!(
                    "{name:>7}: sent {sent} relayed {relayed} ({:.0}/s) in {secs} s, server CPU {cpu:.2} s, {per_cpu:.0} packets per CPU-second",
                    relayed as f64 / secs
                );
                results.push((name, per_cpu));
            }
            Err(e) => println!("{name:>7}: failed: {e}"),
        }
    }
    if let [(_, kaon), (_, coturn)] = results[..] {
        println!(
            "kaon / coturn, packets per CPU-second: {:.2}x",
            kaon / coturn
        );
    }
    stop.store(true, Ordering::Relaxed);
}
