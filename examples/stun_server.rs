//! A STUN binding server over real UDP, through the std adapter.
//!
//! Run: `cargo run --example stun_server -- [ADDRESS ...] [--count N]`
//! (default 127.0.0.1:3478). Give two IPs times two ports, e.g. `127.0.0.1:3478 127.0.0.1:3479
//! 127.0.0.2:3478 127.0.0.2:3479`, and it also answers RFC 5780 CHANGE-REQUEST and advertises
//! OTHER-ADDRESS. With `--count N` it exits after answering N requests.

use kaon::stun::{Server, ServerConfig, ServerEvent};
use std::net::{SocketAddr, UdpSocket};

fn main() -> std::io::Result<()> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let mut count: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--count" {
            count = args.next().and_then(|n| n.parse().ok());
        } else {
            addrs.push(arg.parse().expect("an address such as 127.0.0.1:3478"));
        }
    }
    if addrs.is_empty() {
        addrs.push("127.0.0.1:3478".parse().expect("valid address"));
    }
    let sockets = addrs
        .iter()
        .map(UdpSocket::bind)
        .collect::<Result<Vec<_>, _>>()?;
    let addrs = sockets
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = ServerConfig::new(addrs.clone());
    config.software = Some("kaon stun_server example".into());
    let driver = kaon_std::Driver::spawn(Server::new(config), sockets)?;
    for a in &addrs {
        println!("listening on {a}");
    }
    let mut answered = 0;
    while count.is_none_or(|n| answered < n) {
        match driver.events().recv() {
            Ok(ServerEvent::BindingServed { from, to, via }) => {
                answered += 1;
                println!("{from} asked {to}: told it its address (answered from {via})");
            }
            Ok(ServerEvent::Rejected { from, code, .. }) => {
                println!("{from}: rejected with {code}")
            }
            Err(_) => break,
        }
    }
    Ok(())
}
