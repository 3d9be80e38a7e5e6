//! The `trickle-ice` example, server and client as two processes talking through the example's
//! own HTTP signalling: descriptions leave with no candidate, every candidate is trickled on its
//! own both ways, end-of-candidates is signalled both ways, and the connection comes up over
//! IPv4 and over IPv6 as the bind addresses say. Then the example's page in headless Chromium
//! does the client's part (it needs what `tests/example_data_channels.rs` needs, with the same
//! CI rule).

mod common;
mod example_support;

use std::process::Command;
use std::time::Duration;

use example_support::{example, run, session_server};

/// Runs the client against `url` with `--udp` addresses `udp`; returns its stdout.
fn client(url: &str, udp: &[&str]) -> String {
    let mut cmd = Command::new(example("trickle-ice"));
    cmd.args(["connect", url, "--messages", "2"]);
    for a in udp {
        cmd.args(["--udp", a]);
    }
    let out = run(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("client:\n{stdout}");
    assert!(
        out.status.success(),
        "the client failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn has(out: &str, prefix: &str) -> bool {
    out.lines().any(|l| l.starts_with(prefix))
}

#[test]
fn candidates_trickle_both_ways_with_end_of_candidates_over_ipv4() {
    let program = example("trickle-ice");
    let (mut server, http, udp) =
        session_server(&program, &["serve", "127.0.0.1:0", "--udp", "127.0.0.1:0"]);
    let out = client(&format!("http://{http}"), &["127.0.0.1:0"]);
    // The answer carried no candidate; the server's came one by one, then its end.
    assert!(has(&out, "answer with 0 candidates in it"), "{out}");
    assert!(
        has(&out, "remote candidate:")
            && out.contains(&format!(" {} {} typ host", udp.ip(), udp.port())),
        "the server's candidate was not trickled: {out}"
    );
    assert!(has(&out, "remote end-of-candidates"), "{out}");
    // Ours went the other way, and so did our end-of-candidates.
    assert!(
        has(&out, "local candidate:") && has(&out, "local end-of-candidates"),
        "{out}"
    );
    assert!(has(&out, "done: 2 messages echoed"), "{out}");
    server.line(
        "the client's end-of-candidates",
        Duration::from_secs(5),
        |l| l == "session 1: remote end-of-candidates",
    );
    // The server saw the offer without candidates too.
    assert!(
        server
            .seen
            .iter()
            .any(|l| l == "session 1: offer with 0 candidates in it"),
        "{:?}",
        server.seen
    );
}

#[test]
fn a_client_bound_to_ipv6_connects_over_ipv6_to_a_dual_stack_server() {
    let program = example("trickle-ice");
    let (_server, http, _) = session_server(
        &program,
        &[
            "serve",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            "--udp",
            "[::1]:0",
        ],
    );
    let url = format!("http://{http}");
    let out = client(&url, &["[::1]:0"]);
    let pair = out
        .lines()
        .find(|l| l.starts_with("selected pair "))
        .unwrap_or_else(|| panic!("no selected pair: {out}"));
    assert_eq!(pair.matches(" ::1 ").count(), 2, "not an IPv6 pair: {pair}");
    // Both of the server's candidates were trickled, IPv4 and IPv6.
    assert!(
        out.lines()
            .any(|l| l.starts_with("remote candidate:") && l.contains(" 127.0.0.1 ")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("remote candidate:") && l.contains(" ::1 ")),
        "{out}"
    );

    // And a client on IPv4 alone uses the IPv4 side of the same server.
    let out = client(&url, &["127.0.0.1:0"]);
    let pair = out
        .lines()
        .find(|l| l.starts_with("selected pair "))
        .unwrap_or_else(|| panic!("no selected pair: {out}"));
    assert_eq!(
        pair.matches(" 127.0.0.1 ").count(),
        2,
        "not an IPv4 pair: {pair}"
    );
}

#[test]
fn chromium_trickles_to_kaon_and_kaon_trickles_back() {
    const TEST: &str = "chromium_trickles_to_kaon_and_kaon_trickles_back";
    if let Some(what) = example_support::chromium_missing() {
        common::missing_peer(TEST, what);
        return;
    }
    let program = example("trickle-ice");
    let (mut server, http, udp) =
        session_server(&program, &["serve", "127.0.0.1:0", "--udp", "127.0.0.1:0"]);
    let report = example_support::open_page(&format!("http://{http}/"));
    println!("page: {report}");
    // The page counted candidates both ways and both ends-of-candidates (its `ok`), and
    // offered none in its offer.
    assert!(report.contains(r#""inOffer":0"#), "{report}");
    assert!(report.contains(r#""echoed":3"#), "{report}");
    assert!(
        report.contains(&format!(" {} {} typ host", udp.ip(), udp.port())),
        "kaon's candidate did not reach the page: {report}"
    );
    server.line(
        "the browser's end-of-candidates",
        Duration::from_secs(10),
        |l| l == "session 1: remote end-of-candidates",
    );
    assert!(
        server
            .seen
            .iter()
            .any(|l| l.starts_with("session 1: remote candidate:")),
        "no trickled browser candidate: {:?}",
        server.seen
    );
}
