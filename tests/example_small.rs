//! The small examples, run the way a user runs them: each finishes on its own, reports what
//! it did, takes the bind address it is given (IPv6 included), and a wrong argument is an error
//! message and a non-zero exit, not a panic.

mod example_support;

use std::process::{Command, Output};
use std::time::Duration;

use example_support::{example, run};

fn ok(name: &str, args: &[&str]) -> String {
    let out = run(
        Command::new(example(name)).args(args),
        Duration::from_secs(60),
    );
    let (stdout, stderr) = texts(&out);
    println!("{name} {args:?}:\n{stdout}{stderr}");
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\n{stdout}{stderr}"
    );
    format!("{stdout}{stderr}")
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A bad argument: a message naming it, exit status non-zero, no panic.
fn refused(name: &str, args: &[&str], names: &str) {
    let out = run(
        Command::new(example(name)).args(args),
        Duration::from_secs(30),
    );
    let (stdout, stderr) = texts(&out);
    assert!(
        !out.status.success(),
        "{name} {args:?} accepted a bad argument"
    );
    assert!(
        !stderr.contains("panicked"),
        "{name} {args:?} panicked:\n{stderr}"
    );
    assert!(
        stderr.contains(names) || stdout.contains(names),
        "{name} {args:?} did not say what was wrong:\n{stdout}{stderr}"
    );
}

#[test]
fn dtls_echo_echoes_over_ipv6_when_bound_there() {
    let out = ok("dtls_echo", &["--bind", "::1"]);
    assert!(out.contains("client on [::1]:"), "{out}");
    assert!(
        out.contains("client: echoed back: hello over DTLS"),
        "{out}"
    );
    assert!(
        out.contains("server: the client closed the connection"),
        "{out}"
    );
    refused("dtls_echo", &["--bind", "not-an-ip"], "not-an-ip");
}

#[test]
fn sctp_udp_chat_delivers_its_lines_and_sees_the_shutdown() {
    let out = ok("sctp_udp_chat", &["--bind", "127.0.0.1"]);
    for line in [
        "b: hello",
        "b: over plain UDP",
        "b: bye",
        "b: association closed",
    ] {
        assert!(out.contains(line), "no {line:?} in {out}");
    }
    refused("sctp_udp_chat", &["--frobnicate"], "--frobnicate");
}

#[test]
fn ice_p2p_demo_connects_two_processes_over_ipv6() {
    let out = ok("ice_p2p", &["--demo", "--bind", "::1"]);
    assert!(out.contains("received 20/20"), "{out}");
    assert!(
        out.contains("selected pair") && out.contains(" ::1 "),
        "{out}"
    );
    refused("ice_p2p", &["--role", "sideways"], "usage");
}

#[test]
fn stun_client_learns_its_address_from_stun_server() {
    let server = example("stun_server");
    let mut child = std::process::Command::new(&server)
        .args(["127.0.0.1:0", "--count", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start stun_server");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ));
    let first = lines.next().expect("a line").expect("text");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected {first:?}"))
        .to_string();
    let out = ok("stun_client", &[&addr]);
    assert!(
        out.contains("is seen by") && out.contains("as 127.0.0.1:"),
        "{out}"
    );
    let status = child.wait().expect("stun_server exits after --count 1");
    assert!(status.success());
    refused("stun_client", &["nonsense"], "nonsense");
    refused("stun_server", &["--count", "many"], "--count");
}

#[test]
fn flow_control_and_stats_run_briefly_and_report() {
    let out = ok(
        "data-channels-flow-control",
        &["--seconds", "1", "--bind", "127.0.0.1"],
    );
    assert!(out.contains("average over "), "{out}");
    let out = ok("stats", &["--seconds", "1", "--bind", "127.0.0.1"]);
    assert!(out.contains("the offerer's whole report"), "{out}");
    refused("stats", &["--bind"], "--bind");
}
