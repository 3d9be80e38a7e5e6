//! A DTLS client and server (1.3, the default) over real loopback UDP, each driven on its own
//! thread by `kaon-std`: they authenticate each other by certificate fingerprint, print the SRTP
//! keys they agree on, and the server echoes what the client sends.
//!
//! `cargo run --example dtls_echo [-- --bind IP]` (default 127.0.0.1; `--bind ::1` for IPv6).
//! A refused send, a failed handshake or an echo that does not come back within 5 s ends the
//! run with an error.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use kaon::dtls::{Config, Endpoint, Event, HashAlgorithm, Identity, Role};
use kaon_std::Driver;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("dtls_echo: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => {
                let v = args.next().ok_or("--bind needs an IP address")?;
                ip = v.parse().map_err(|e| format!("--bind {v:?}: {e}"))?;
            }
            other => {
                return Err(format!("unknown option {other}; usage: dtls_echo [--bind IP]").into());
            }
        }
    }
    let bind = || UdpSocket::bind((ip, 0)).map_err(|e| format!("bind a UDP socket on {ip}: {e}"));
    let client_socket = bind()?;
    let server_socket = bind()?;
    let (client_addr, server_addr) = (client_socket.local_addr()?, server_socket.local_addr()?);
    println!("client on {client_addr}, server on {server_addr}");

    // In WebRTC these fingerprints travel in the SDP offer and answer.
    let client_id = Identity::generate()?;
    let server_id = Identity::generate()?;
    println!(
        "client a=fingerprint:{}",
        client_id.fingerprint(HashAlgorithm::Sha256)
    );
    println!(
        "server a=fingerprint:{}",
        server_id.fingerprint(HashAlgorithm::Sha256)
    );

    let now = Instant::now();
    let server = Endpoint::new(
        Config {
            role: Role::Server,
            local_addr: Some(server_addr),
            remote_fingerprints: vec![client_id.fingerprint(HashAlgorithm::Sha256)],
            ..Config::default()
        },
        server_id.clone(),
        now,
    )?;
    let client = Endpoint::new(
        Config {
            role: Role::Client,
            local_addr: Some(client_addr),
            remote_addr: Some(server_addr),
            remote_fingerprints: vec![server_id.fingerprint(HashAlgorithm::Sha256)],
            ..Config::default()
        },
        client_id,
        now,
    )?;
    let server = Driver::spawn(server, vec![server_socket])?;
    let client = Driver::spawn(client, vec![client_socket])?;

    // The server echoes every record it receives.
    let echo = std::thread::spawn(move || {
        while let Ok(event) = server.events().recv_timeout(Duration::from_secs(5)) {
            match event {
                Event::Connected(c) => println!("server: connected with {}", c.cipher_suite),
                Event::Data(data) => {
                    let len = data.len();
                    match server.call(move |ep: &mut Endpoint, _| ep.send(&data)) {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => println!("server: echo of {len} bytes refused: {e}"),
                        None => break,
                    }
                }
                Event::Closed => {
                    println!("server: the client closed the connection");
                    break;
                }
                Event::Failed(e) => {
                    println!("server failed: {e}");
                    break;
                }
            }
        }
    });

    // Queued until the handshake completes.
    client
        .call(|ep: &mut Endpoint, _| ep.send(b"hello over DTLS"))
        .ok_or("the client's driver stopped")?
        .map_err(|e| format!("client: send refused: {e}"))?;
    loop {
        let event = client
            .events()
            .recv_timeout(Duration::from_secs(5))
            .map_err(|e| format!("client: no handshake or echo within 5 s ({e})"))?;
        match event {
            Event::Connected(c) => {
                println!("client: connected with {}", c.cipher_suite);
                if let Some(srtp) = c.srtp {
                    let (key, salt) = srtp.local();
                    println!(
                        "client: SRTP {:?}, our key {} bytes, salt {} bytes",
                        srtp.profile,
                        key.len(),
                        salt.len()
                    );
                }
            }
            Event::Data(data) => {
                println!("client: echoed back: {}", String::from_utf8_lossy(&data));
                break;
            }
            Event::Failed(e) => return Err(format!("client: DTLS failed: {e}").into()),
            Event::Closed => return Err("client: the server closed the connection first".into()),
        }
    }
    client.call(|ep: &mut Endpoint, _| ep.close());
    echo.join().map_err(|_| "the server's thread panicked")?;
    Ok(())
}
