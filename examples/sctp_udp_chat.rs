//! Two data-channel endpoints talking SCTP directly over UDP on loopback (RFC 6951 style,
//! without DTLS), each driven on its own thread by kaon-std.
//!
//! `cargo run --example sctp_udp_chat`

use kaon::datachannel::{ChannelConfig, Config, DataChannels, Event, Role};
use kaon::sctp::Endpoint;
use std::net::UdpSocket;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let (sa, sb) = (
        UdpSocket::bind("127.0.0.1:0")?,
        UdpSocket::bind("127.0.0.1:0")?,
    );
    let (aa, ab) = (sa.local_addr()?, sb.local_addr()?);
    let mut cfg_b = Config::new(Role::Server);
    // SCTP over plain UDP has no DTLS to check integrity: keep the CRC32c.
    cfg_b.sctp.zero_checksum = false;
    let mut cfg_a = Config::new(Role::Client);
    cfg_a.sctp.zero_checksum = false;
    let a = kaon_std::Driver::spawn(Endpoint::new(DataChannels::new(cfg_a), aa, ab), vec![sa])?;
    let b = kaon_std::Driver::spawn(Endpoint::new(DataChannels::new(cfg_b), ab, aa), vec![sb])?;
    a.call(|e, now| e.get_mut().connect(now));
    b.call(|e, now| e.get_mut().connect(now));
    let id = a
        .call(|e, now| {
            e.get_mut()
                .create_channel(now, ChannelConfig::labelled("chat"))
        })
        .expect("driver running")
        .expect("channel created");
    for line in ["hello", "over plain UDP", "bye"] {
        a.post(move |e, now| {
            let _ = e.get_mut().send_text(now, id, line);
        });
    }
    let mut got = 0;
    while got < 3 {
        match b.events().recv_timeout(Duration::from_secs(5)) {
            Ok(Event::ChannelOpen { id, remote: true }) => println!("b: channel {id} opened by a"),
            Ok(Event::Message { data, .. }) => {
                println!("b: {}", String::from_utf8_lossy(&data));
                got += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("no message: {e}"),
        }
    }
    a.call(|e, now| e.get_mut().shutdown(now));
    std::thread::sleep(Duration::from_millis(100));
    Ok(())
}
