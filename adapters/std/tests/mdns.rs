//! Two mDNS services in one process share port 5353 (SO_REUSEPORT, as a browser and kaon on
//! one host do) and resolve each other's names over real multicast with loopback on.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use kaon::mdns::MdnsConfig;
use kaon_std::mdns::{MdnsService, bind_v4};

/// Joined and sending on loopback only: test traffic never leaves the host.
fn socket() -> Result<std::net::UdpSocket, String> {
    bind_v4(Ipv4Addr::LOCALHOST, kaon::mdns::PORT).map_err(|e| e.to_string())
}

#[test]
fn two_services_on_port_5353_resolve_each_other() {
    let (a, b) = match (socket(), socket()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must allow multicast on port 5353: {e}"
            );
            println!("skipped: no mDNS socket here: {e}");
            return;
        }
    };
    let a = MdnsService::start(MdnsConfig::new(Vec::new()).with_seed(1), vec![a]).unwrap();
    let b = MdnsService::start(MdnsConfig::new(Vec::new()).with_seed(2), vec![b]).unwrap();
    let ip: IpAddr = "192.0.2.77".parse().unwrap();
    let name = a.register(ip).unwrap();
    let start = Instant::now();
    assert_eq!(b.resolve(&name, Duration::from_secs(4)), Some(ip));
    println!("resolved {name} in {:?}", start.elapsed());
    // The other way, with an ICE agent's kind of name.
    assert!(b.register_name("kaon-test-b.local", "192.0.2.78".parse().unwrap()));
    assert_eq!(
        a.resolve("kaon-test-b.local", Duration::from_secs(4)),
        Some("192.0.2.78".parse().unwrap())
    );
    // A name nobody holds stays unresolved.
    assert_eq!(
        b.resolve("nobody-here.local", Duration::from_millis(300)),
        None
    );
}
