//! Asks a STUN server for this socket's reflexive address, over real UDP through the std
//! adapter.
//!
//! Run: `cargo run --example stun_client -- SERVER [LOCAL]` (LOCAL defaults to 127.0.0.1:0;
//! start `cargo run --example stun_server` first for a server on 127.0.0.1:3478).

use kaon::stun::{Client, ClientConfig, ClientEvent};
use std::net::{SocketAddr, UdpSocket};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:3478".into())
        .parse()
        .expect("a server address such as 127.0.0.1:3478");
    let local = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let socket = UdpSocket::bind(local)?;
    let local = socket.local_addr()?;
    let driver = kaon_std::Driver::spawn(Client::new(ClientConfig::default()), vec![socket])?;
    driver.call(move |client, now| client.binding_request(now, local, server));
    match driver.events().recv() {
        Ok(ClientEvent::Success {
            response,
            rtt,
            from,
            ..
        }) => {
            let mapped = response
                .mapped_address()
                .map_or("none".into(), |m| m.to_string());
            println!("{local} is seen by {from} as {mapped} (round trip {rtt:?})");
            if let Some(software) = response.software() {
                println!("server software: {software}");
            }
        }
        Ok(ClientEvent::ErrorResponse { code, reason, .. }) => println!("error {code}: {reason}"),
        Ok(ClientEvent::Timeout { .. }) => println!("no answer from {server} (39.5 s of retries)"),
        Ok(ClientEvent::Failed { error, .. }) => println!("failed: {error}"),
        Err(_) => println!("the driver stopped"),
    }
    Ok(())
}
