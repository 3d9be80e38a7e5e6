//! A STUN binding server over real UDP, through the std adapter.
//!
//! Run: `cargo run --example stun_server -- [ADDRESS ...] [--count N]`
//! (default 127.0.0.1:3478). Give two IPs times two ports, e.g. `127.0.0.1:3478 127.0.0.1:3479
//! 127.0.0.2:3478 127.0.0.2:3479`, and it also answers RFC 5780 CHANGE-REQUEST and advertises
//! OTHER-ADDRESS. With `--count N` it exits after answering N requests.

use kaon::stun::{Server, ServerConfig, ServerEvent};
use std::net::{SocketAddr, UdpSocket};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("stun_server: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let mut count: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--count" {
            let n = args.next().ok_or("--count needs a number")?;
            count = Some(n.parse().map_err(|e| format!("--count {n:?}: {e}"))?);
        } else {
            addrs.push(
                arg.parse()
                    .map_err(|e| format!("{arg:?}: {e} (an address such as 127.0.0.1:3478)"))?,
            );
        }
    }
    if addrs.is_empty() {
        addrs.push(SocketAddr::from(([127, 0, 0, 1], 3478)));
    }
    let sockets = addrs
        .iter()
        .map(|a| UdpSocket::bind(a).map_err(|e| format!("bind {a}: {e}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let addrs = sockets
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<std::result::Result<Vec<_>, _>>()?;
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
            Err(_) => return Err("the driver stopped".into()),
        }
    }
    Ok(())
}
