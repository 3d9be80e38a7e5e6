//! The embedded adapter in-process: the single-threaded poll-loop example serves a data
//! channel to a kaon-std peer over loopback UDP (IPv4 and IPv6), and `Stepper` on its own
//! drives a bare protocol over two sockets.

#[path = "../examples/poll_echo.rs"]
mod poll_echo;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use kaon::stun::{Client, ClientConfig, ClientEvent, Server, ServerConfig};
use kaon_embedded::{Stepper, step_timeout};

#[test]
fn poll_loop_serves_a_data_channel_to_a_kaon_std_peer() {
    let opened = poll_echo::demo(false, 20).expect("echoes");
    println!("IPv4: channel open in {opened:?}");
}

#[test]
fn poll_loop_serves_over_ipv6_loopback() {
    if UdpSocket::bind("[::1]:0").is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI has no IPv6 loopback"
        );
        println!("skipped: no IPv6 loopback here");
        return;
    }
    let opened = poll_echo::demo(true, 5).expect("echoes");
    println!("IPv6: channel open in {opened:?}");
}

/// Two protocols, two non-blocking sockets, one thread: a STUN client and server reach each
/// other through `Stepper::step` rounds alone, and the client's answer says where it was
/// seen from.
#[test]
fn stepper_drives_a_client_and_server_in_one_loop() {
    let cs = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ss = UdpSocket::bind("127.0.0.1:0").unwrap();
    cs.set_nonblocking(true).unwrap();
    ss.set_nonblocking(true).unwrap();
    let (caddr, saddr) = (cs.local_addr().unwrap(), ss.local_addr().unwrap());
    let mut client_socks = [cs];
    let mut server_socks = [ss];
    let mut client = Client::new(ClientConfig {
        seed: Some(1),
        ..ClientConfig::default()
    });
    let mut server = Server::new(ServerConfig::new(vec![saddr]));
    client.binding_request(Instant::now(), caddr, saddr);
    let (mut cstep, mut sstep) = (Stepper::with_buffer_size(2048), Stepper::new());
    let start = Instant::now();
    let mut mapped = None;
    while mapped.is_none() && start.elapsed() < Duration::from_secs(5) {
        let now = Instant::now();
        let next = cstep.step(&mut client, &mut client_socks, now, |e| {
            if let ClientEvent::Success { response, .. } = e {
                mapped = response.xor_mapped_address();
            }
        });
        sstep.step(&mut server, &mut server_socks, now, |_| {});
        let wait = step_timeout(next, now).unwrap_or(Duration::from_millis(5));
        std::thread::sleep(wait.min(Duration::from_millis(5)));
    }
    assert_eq!(mapped, Some(caddr));
    assert_eq!(cstep.stats().sent, 1);
    assert_eq!(cstep.stats().received, 1);
    assert_eq!(sstep.stats().received, 1);
    assert_eq!(sstep.stats().send_dropped, 0);
}
