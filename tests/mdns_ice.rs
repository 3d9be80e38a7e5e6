//! The ICE agent's mDNS seam: hiding host addresses behind `.local` names, and the names it
//! asks to have resolved.

use std::net::IpAddr;

use kaon::Protocol;
use kaon::ice::{Address, Agent, AgentConfig, Candidate, IceEvent, MdnsMode};

fn hiding(seed: u64) -> Agent {
    Agent::new(AgentConfig {
        seed: Some(seed),
        mdns_mode: MdnsMode::HideHostAddresses,
        ..AgentConfig::default()
    })
}

fn announced(agent: &mut Agent) -> Vec<Candidate> {
    std::iter::from_fn(|| agent.poll_event())
        .filter_map(|e| match e {
            IceEvent::LocalCandidate(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn hidden_host_candidates_carry_one_name_per_address() {
    let mut a = hiding(1);
    a.add_local_interface("10.0.0.1:5000".parse().unwrap())
        .unwrap();
    a.add_local_interface("10.0.0.1:5001".parse().unwrap())
        .unwrap();
    a.add_local_interface("[fd00::1]:5000".parse().unwrap())
        .unwrap();
    let cands = announced(&mut a);
    assert_eq!(cands.len(), 3);
    let names: Vec<String> = cands
        .iter()
        .map(|c| match &c.address {
            Address::Mdns(n) => n.clone(),
            other => panic!("address leaked: {other}"),
        })
        .collect();
    assert_eq!(names[0], names[1], "same IP, same name");
    assert_ne!(names[0], names[2]);
    // What to register with the responder: each name once, with its real address.
    let local: Vec<(String, IpAddr)> = a
        .local_mdns_names()
        .map(|(n, ip)| (n.to_owned(), ip))
        .collect();
    assert_eq!(
        local,
        [
            (names[0].clone(), "10.0.0.1".parse().unwrap()),
            (names[2].clone(), "fd00::1".parse().unwrap())
        ]
    );
    // The signalled list says the same as the events; the agent keeps real addresses.
    assert_eq!(a.signalled_candidates(), cands);
    assert!(
        a.local_candidates()
            .all(|c| matches!(c.address, Address::Ip(_)))
    );
    // Written as SDP, the name is the connection address.
    assert!(cands[0].to_string().contains(&names[0]));
}

#[test]
fn mdns_off_signals_addresses_and_names_nothing() {
    let mut a = Agent::new(AgentConfig::default().with_seed(2));
    a.add_local_interface("10.0.0.1:5000".parse().unwrap())
        .unwrap();
    let cands = announced(&mut a);
    assert_eq!(cands[0].address, Address::Ip("10.0.0.1".parse().unwrap()));
    assert_eq!(a.local_mdns_names().count(), 0);
}

#[test]
fn remote_names_wait_resolve_and_fail() {
    let mut a = Agent::new(AgentConfig::controlling().with_seed(3));
    a.set_remote_credentials("ufrag", "passwordpasswordpassword")
        .unwrap();
    let name = "0b4ec28b-8f4b-4cbe-a1b5-1bd4b79fae03.local";
    let other = "1f4712db-ea17-4bcf-a596-105139dfd8bf.local";
    for line in [
        format!("candidate:1 1 udp 2122260223 {name} 5000 typ host"),
        format!("candidate:2 1 udp 2122260222 {name} 5001 typ host"),
        format!("candidate:3 1 udp 2122260221 {other} 5000 typ host"),
        format!("candidate:4 1 tcp 1518280447 {other} 9 typ host tcptype active"),
    ] {
        a.add_remote_candidate_str(&line).unwrap();
    }
    // Each UDP name once, names compared ignoring case.
    assert_eq!(a.unresolved_remote_names(), [name, other]);
    assert_eq!(
        a.resolve_remote_name(&name.to_uppercase(), "10.0.0.2".parse().unwrap()),
        2
    );
    assert_eq!(a.unresolved_remote_names(), [other]);
    assert_eq!(
        a.remote_name_failed(other),
        2,
        "the UDP and the TCP candidate"
    );
    assert!(a.unresolved_remote_names().is_empty());
    assert_eq!(a.remote_name_failed(other), 0);
}
