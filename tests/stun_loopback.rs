//! The STUN client and server over real loopback UDP through the std adapter, and the two
//! examples talking to each other as separate processes.

use kaon::stun::{Client, ClientConfig, ClientEvent, Server, ServerConfig, ServerEvent};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

#[test]
fn client_learns_its_address_from_a_server_over_loopback() {
    let server_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server_socket.local_addr().unwrap();
    let server = kaon_std::Driver::spawn(
        Server::new(ServerConfig::new(vec![server_addr])),
        vec![server_socket],
    )
    .unwrap();

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let client =
        kaon_std::Driver::spawn(Client::new(ClientConfig::default()), vec![socket]).unwrap();
    for _ in 0..3 {
        let id = client
            .call(move |c, now| c.binding_request(now, local, server_addr))
            .unwrap();
        match client
            .events()
            .recv_timeout(Duration::from_secs(5))
            .expect("no answer")
        {
            ClientEvent::Success {
                id: done,
                response,
                from,
                ..
            } => {
                assert_eq!(done, id);
                assert_eq!(from, server_addr);
                assert_eq!(response.mapped_address(), Some(local));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The server sends each response before it forwards the event, so wait for the events
    // rather than reading what has arrived so far.
    for _ in 0..3 {
        let event = server
            .events()
            .recv_timeout(Duration::from_secs(5))
            .expect("no event");
        assert!(
            matches!(event, ServerEvent::BindingServed { .. }),
            "{event:?}"
        );
    }
}

/// Runs an example: the binary `cargo test` already built next to this test when it exists,
/// otherwise through `cargo run`.
fn example(name: &str) -> Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples").join(name)))
        .filter(|path| path.is_file());
    match built {
        Some(path) => Command::new(path),
        None => {
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.args(["run", "--quiet", "--example", name, "--"]);
            cmd
        }
    }
}

#[test]
fn stun_client_example_talks_to_stun_server_example() {
    use std::io::{BufRead, BufReader};
    let mut server = example("stun_server")
        .args(["127.0.0.1:0", "--count", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the server printed nothing").unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .expect("a listening line")
        .to_string();

    let out = example("stun_client").arg(&addr).output().unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        answer.contains(&format!("is seen by {addr} as 127.0.0.1:")),
        "client said: {answer}"
    );
    assert!(
        answer.contains("kaon stun_server example"),
        "client said: {answer}"
    );
    let served = lines
        .next()
        .expect("the server reported the request")
        .unwrap();
    assert!(
        served.contains("told it its address"),
        "server said: {served}"
    );
    assert!(server.wait().unwrap().success());
}
