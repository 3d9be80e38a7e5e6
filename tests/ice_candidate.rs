//! The SDP candidate attribute: round trips and totality, by property.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use kaon::ice::{Address, Candidate, CandidateKind, TcpType, Transport};
use proptest::prelude::*;

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        4 => ip().prop_map(Address::Ip),
        1 => "[a-f0-9]{8}-[a-f0-9]{4}\\.local".prop_map(Address::Mdns),
        1 => "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}"
            .prop_filter("not mDNS", |s| !s.ends_with(".local"))
            .prop_map(Address::Fqdn),
    ]
}

fn kind() -> impl Strategy<Value = CandidateKind> {
    prop_oneof![
        Just(CandidateKind::Host),
        Just(CandidateKind::ServerReflexive),
        Just(CandidateKind::PeerReflexive),
        Just(CandidateKind::Relayed),
    ]
}

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        Just(Transport::Udp),
        Just(Transport::Tcp),
        "[a-z]{1,8}"
            .prop_filter("not a known transport", |s| s != "udp" && s != "tcp")
            .prop_map(Transport::Other),
    ]
}

fn tcp_type() -> impl Strategy<Value = TcpType> {
    prop_oneof![
        Just(TcpType::Active),
        Just(TcpType::Passive),
        Just(TcpType::SimultaneousOpen),
    ]
}

prop_compose! {
    fn candidate()(
        foundation in "[A-Za-z0-9+/]{1,32}",
        component in any::<u16>(),
        transport in transport(),
        priority in any::<u32>(),
        address in address(),
        port in any::<u16>(),
        kind in kind(),
        related_address in proptest::option::of(address()),
        related_port in any::<Option<u16>>(),
        tcp_type in proptest::option::of(tcp_type()),
        generation in any::<Option<u32>>(),
        ufrag in proptest::option::of("[A-Za-z0-9+/]{1,16}"),
        network_id in any::<Option<u32>>(),
        network_cost in any::<Option<u32>>(),
        extensions in proptest::collection::vec(("x-[a-z]{1,8}", "[!-~]{1,10}"), 0..4),
    ) -> Candidate {
        Candidate {
            foundation, component, transport, priority, address, port, kind, related_address,
            related_port, tcp_type, generation, ufrag, network_id, network_cost, extensions,
        }
    }
}

proptest! {
    #[test]
    fn candidate_attribute_round_trips(c in candidate()) {
        let line = c.to_string();
        prop_assert_eq!(Candidate::parse(&line), Ok(c.clone()));
        // With the SDP prefix and a line ending too.
        prop_assert_eq!(Candidate::parse(&format!("a={line}\r\n")), Ok(c));
    }

    #[test]
    fn any_string_parses_or_fails_without_panicking(s in "\\PC{0,200}") {
        let _ = Candidate::parse(&s);
    }

    #[test]
    fn near_miss_lines_parse_or_fail_and_reparse_identically(
        c in candidate(),
        cut in any::<prop::sample::Index>(),
        junk in "[ -~]{0,8}",
    ) {
        // Corrupt a valid line: whatever parses must write back to something that parses to
        // the same candidate.
        let line = c.to_string();
        let at = cut.index(line.len() + 1);
        let mutated = format!("{}{junk}{}", &line[..at], &line[at..]);
        if let Ok(parsed) = Candidate::parse(&mutated) {
            prop_assert_eq!(Candidate::parse(&parsed.to_string()), Ok(parsed));
        }
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Candidate::parse(&String::from_utf8_lossy(&bytes));
    }
}

/// Found by the ice_candidate fuzzer: a bare value just under the line limit was accepted, but
/// its written form (`candidate:` + value) was then refused as too long.
#[test]
fn a_bare_value_is_accepted_only_if_its_written_form_parses_too() {
    let pad = "x".repeat(kaon::ice::Candidate::MAX_LEN - 60);
    let bare = format!("1 1 udp 2130706431 192.0.2.1 5000 typ host ext {pad}");
    match kaon::ice::Candidate::parse(&bare) {
        Ok(c) => assert_eq!(kaon::ice::Candidate::parse(&c.to_string()), Ok(c)),
        Err(e) => assert!(
            matches!(e, kaon::ice::Error::CandidateTooLong { .. }),
            "{e:?}"
        ),
    }
}
