//! Two mDNS services on tokio share port 5353 and resolve each other's names over loopback
//! multicast.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use kaon::mdns::MdnsConfig;
use kaon_tokio::mdns::{MdnsService, bind_v4};

#[tokio::test]
async fn two_services_on_port_5353_resolve_each_other() {
    let sock = || bind_v4(Ipv4Addr::LOCALHOST, kaon::mdns::PORT);
    let (a, b) = match (sock(), sock()) {
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
    let a = MdnsService::start(MdnsConfig::new(Vec::new()).with_seed(3), vec![a]).unwrap();
    let b = MdnsService::start(MdnsConfig::new(Vec::new()).with_seed(4), vec![b]).unwrap();
    let ip: IpAddr = "192.0.2.79".parse().unwrap();
    let name = a.register(ip).await.unwrap();
    assert_eq!(b.resolve(&name, Duration::from_secs(4)).await, Some(ip));
    assert_eq!(
        b.resolve("nobody-here-either.local", Duration::from_millis(300))
            .await,
        None
    );
}
