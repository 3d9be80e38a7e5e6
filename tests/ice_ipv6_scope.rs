//! IPv6 address scopes in the ICE agent: link-local host addresses are not signalled by
//! default (as browsers do) and pair only with link-local candidates on the same link;
//! unique local (ULA) and global addresses pair with each other; priorities interleave the
//! two families (RFC 8421).

use std::net::SocketAddr;

use kaon::Protocol;
use kaon::ice::{Address, Agent, AgentConfig, Candidate, IceEvent};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn agent(signal_link_local: bool) -> Agent {
    let mut a = Agent::new(AgentConfig {
        seed: Some(1),
        signal_link_local,
        ..AgentConfig::default()
    });
    for l in [
        "[fe80::1%2]:5000",
        "[2001:db8::1]:5000",
        "[fd00::1]:5000",
        "192.0.2.1:5000",
    ] {
        a.add_local_interface(addr(l)).unwrap();
    }
    a.set_remote_credentials("ufrag", "passwordpasswordpassword")
        .unwrap();
    a
}

fn announced(a: &mut Agent) -> Vec<Candidate> {
    let mut out = Vec::new();
    while let Some(e) = a.poll_event() {
        if let IceEvent::LocalCandidate(c) = e {
            out.push(c);
        }
    }
    out
}

fn ips(cands: &[Candidate]) -> Vec<String> {
    cands
        .iter()
        .map(|c| match &c.address {
            Address::Ip(ip) => ip.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn link_local_host_addresses_are_not_signalled_by_default() {
    let mut a = agent(false);
    let sent = announced(&mut a);
    assert_eq!(ips(&sent), ["2001:db8::1", "fd00::1", "192.0.2.1"]);
    assert_eq!(ips(&a.signalled_candidates()), ips(&sent));
    // The agent still holds and uses it.
    assert_eq!(a.local_candidates().count(), 4);
}

#[test]
fn link_local_host_addresses_are_signalled_when_asked() {
    let mut a = agent(true);
    let sent = announced(&mut a);
    assert_eq!(
        ips(&sent),
        ["fe80::1", "2001:db8::1", "fd00::1", "192.0.2.1"]
    );
}

#[test]
fn link_local_pairs_only_with_link_local_and_ula_with_global() {
    let mut a = agent(false);
    for (i, r) in ["fe80::2", "2001:db8::2", "fd00::2", "192.0.2.2"]
        .iter()
        .enumerate()
    {
        let line = format!(
            "candidate:{i} 1 udp {} {r} 6000 typ host",
            2_000_000_000 - i
        );
        a.add_remote_candidate_str(&line).unwrap();
    }
    let mut pairs: Vec<(String, String)> = a
        .pairs()
        .map(|p| {
            (
                p.local_socket.ip().to_string(),
                p.remote_addr.ip().to_string(),
            )
        })
        .collect();
    pairs.sort();
    let want: Vec<(String, String)> = [
        ("192.0.2.1", "192.0.2.2"),
        ("2001:db8::1", "2001:db8::2"),
        ("2001:db8::1", "fd00::2"),
        ("fd00::1", "2001:db8::2"),
        ("fd00::1", "fd00::2"),
        ("fe80::1", "fe80::2"),
    ]
    .iter()
    .map(|(l, r)| (l.to_string(), r.to_string()))
    .collect();
    assert_eq!(pairs, want);
}

#[test]
fn host_priorities_interleave_ipv6_and_ipv4() {
    // RFC 8421 §4: the first IPv6 address, then the first IPv4 one, then the second IPv6...
    let mut a = Agent::new(AgentConfig {
        seed: Some(2),
        ..AgentConfig::default()
    });
    for l in [
        "[2001:db8::1]:5000",
        "[2001:db8::2]:5000",
        "192.0.2.1:5000",
        "198.51.100.1:5000",
    ] {
        a.add_local_interface(addr(l)).unwrap();
    }
    let mut by_priority: Vec<(u32, String)> = a
        .local_candidates()
        .map(|c| (c.priority, ips(std::slice::from_ref(c))[0].clone()))
        .collect();
    by_priority.sort_by_key(|x| std::cmp::Reverse(x.0));
    let order: Vec<&str> = by_priority.iter().map(|(_, ip)| ip.as_str()).collect();
    assert_eq!(
        order,
        ["2001:db8::1", "192.0.2.1", "2001:db8::2", "198.51.100.1"]
    );
}

/// Hands what `from` sends to `to` as a socket would: a link-local source gets the zone of the
/// receiving end's interface (`zone`), which no description carries, and so does the socket's
/// own address the datagram arrived on.
fn carry(from: &mut Agent, to: &mut Agent, now: std::time::Instant, zone: u32) {
    let mut buf = [0u8; 1500];
    while let Some(t) = from.poll_transmit(now, &mut buf) {
        let (mut source, mut destination) = (t.source, t.destination);
        for a in [&mut source, &mut destination] {
            if let SocketAddr::V6(v6) = a {
                v6.set_scope_id(zone);
            }
        }
        to.handle_datagram(
            now,
            kaon::Datagram {
                source,
                destination,
                contents: &buf[..t.len],
            },
        );
    }
}

#[test]
fn signalled_link_local_pair_is_selected_though_sockets_add_zones() {
    // Each end binds its link-local address on its own interface (zones 2 and 7); each learns
    // the other's candidate from a description, without a zone.
    let mut a = Agent::new(AgentConfig {
        signal_link_local: true,
        ..AgentConfig::controlling().with_seed(3)
    });
    let mut b = Agent::new(AgentConfig {
        signal_link_local: true,
        ..AgentConfig::default().with_seed(4)
    });
    a.add_local_interface(addr("[fe80::a%2]:5000")).unwrap();
    b.add_local_interface(addr("[fe80::b%7]:6000")).unwrap();
    let (ua, pa) = a.local_credentials();
    let (ua, pa) = (ua.to_owned(), pa.to_owned());
    let (ub, pb) = b.local_credentials();
    let (ub, pb) = (ub.to_owned(), pb.to_owned());
    a.set_remote_credentials(&ub, &pb).unwrap();
    b.set_remote_credentials(&ua, &pa).unwrap();
    let lines =
        |x: &mut Agent| -> Vec<String> { announced(x).iter().map(|c| c.to_string()).collect() };
    let (from_a, from_b) = (lines(&mut a), lines(&mut b));
    assert_eq!(from_a.len(), 1);
    // RFC 4007 §11.2: a zone is meaningful to one node only, and is not signalled.
    assert!(from_a[0].contains(" fe80::a 5000 ") && !from_a[0].contains('%'));
    for l in &from_a {
        b.add_remote_candidate_str(l).unwrap();
    }
    for l in &from_b {
        a.add_remote_candidate_str(l).unwrap();
    }
    let mut now = std::time::Instant::now();
    for _ in 0..200 {
        carry(&mut a, &mut b, now, 7);
        carry(&mut b, &mut a, now, 2);
        if a.selected_pair().is_some() && b.selected_pair().is_some() {
            break;
        }
        now += std::time::Duration::from_millis(10);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    let sa = a.selected_pair().expect("a selects a pair");
    let sb = b.selected_pair().expect("b selects a pair");
    // The signalled (zone-less) remote, not a peer-reflexive copy of it with a zone.
    assert_eq!(
        (sa.local, sa.remote),
        (addr("[fe80::a%2]:5000"), addr("[fe80::b]:6000"))
    );
    assert_eq!(
        (sb.local, sb.remote),
        (addr("[fe80::b%7]:6000"), addr("[fe80::a]:5000"))
    );
    for p in a.pairs() {
        assert_ne!(
            p.remote_addr,
            addr("[fe80::b%2]:6000"),
            "no peer-reflexive copy"
        );
    }
}
