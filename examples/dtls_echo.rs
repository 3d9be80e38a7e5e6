//! A DTLS 1.2 client and server over real loopback UDP, each driven on its own thread by
//! `kaon-std`: they authenticate each other by certificate fingerprint, print the SRTP keys
//! they agree on, and the server echoes what the client sends.
//!
//! `cargo run --example dtls_echo`

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use kaon::dtls::{Config, Endpoint, Event, HashAlgorithm, Identity, Role};
use kaon_std::Driver;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client_socket = UdpSocket::bind("127.0.0.1:0")?;
    let server_socket = UdpSocket::bind("127.0.0.1:0")?;
    let (client_addr, server_addr) = (client_socket.local_addr()?, server_socket.local_addr()?);

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
                    server.call(move |ep: &mut Endpoint, _| ep.send(&data).ok());
                }
                Event::Closed => break,
                Event::Failed(e) => {
                    println!("server failed: {e}");
                    break;
                }
            }
        }
    });

    client.call(|ep: &mut Endpoint, _| ep.send(b"hello over DTLS"));
    loop {
        match client.events().recv_timeout(Duration::from_secs(5))? {
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
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    client.call(|ep: &mut Endpoint, _| ep.close());
    let _ = echo.join();
    Ok(())
}
