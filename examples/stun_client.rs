//! Asks a STUN server for this socket's reflexive address, over real UDP through the std
//! adapter.
//!
//! Run: `cargo run --example stun_client -- SERVER [LOCAL]` (LOCAL defaults to 127.0.0.1:0;
//! start `cargo run --example stun_server` first for a server on 127.0.0.1:3478).

//!
//! Every outcome is printed; the exit status is 0 only when the server answered with an
//! address.

use kaon::stun::{Client, ClientConfig, ClientEvent};
use std::net::{SocketAddr, UdpSocket};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("stun_client: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let server = args.next().unwrap_or_else(|| "127.0.0.1:3478".into());
    let server: SocketAddr = server
        .parse()
        .map_err(|e| format!("SERVER {server:?}: {e} (an address such as 127.0.0.1:3478)"))?;
    let local = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let socket = UdpSocket::bind(&local).map_err(|e| format!("bind {local}: {e}"))?;
    let local = socket.local_addr()?;
    println!("asking {server} from {local} (retransmitting as RFC 8489 says until it answers)");
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
        Ok(ClientEvent::ErrorResponse { code, reason, .. }) => {
            return Err(format!("{server} answered with error {code}: {reason}").into());
        }
        Ok(ClientEvent::Timeout { .. }) => {
            return Err(format!("no answer from {server} (39.5 s of retries)").into());
        }
        Ok(ClientEvent::Failed { error, .. }) => return Err(format!("failed: {error}").into()),
        Err(_) => return Err("the driver stopped".into()),
    }
    Ok(())
}
