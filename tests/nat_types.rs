//! Every RFC 4787 NAT type, as observed by a STUN client running RFC 5780 behaviour discovery
//! in the simulator: what the client concludes must be what the NAT was configured to do.
#![cfg(feature = "sim")]

use kaon::sim::lab::{self, NatLab};
use kaon::sim::{Behavior, NatConfig};
use kaon::stun::NatReport;
use std::net::SocketAddr;
use std::time::Instant;

use Behavior::{AddressAndPortDependent as Apd, AddressDependent as Ad, EndpointIndependent as Ei};

fn observe(mapping: Behavior, filtering: Behavior) -> NatReport {
    let config = NatConfig {
        mapping,
        filtering,
        ..NatConfig::default()
    };
    let mut lab = NatLab::new(7, Instant::now(), Some(config));
    let report = lab.discover().expect("the simulation stalled");
    eprintln!(
        "{mapping:?}/{filtering:?}: {report:?} after {:?}",
        lab.sim.elapsed()
    );
    report
}

fn assert_observed(mapping: Behavior, filtering: Behavior) {
    let report = observe(mapping, filtering);
    assert_eq!(
        report.mapping,
        Some(mapping),
        "mapping of {mapping:?}/{filtering:?}"
    );
    assert_eq!(
        report.filtering,
        Some(filtering),
        "filtering of {mapping:?}/{filtering:?}"
    );
    let mapped = report.mapped.expect("test I answered");
    assert_eq!(
        mapped.ip(),
        lab::NAT_PUBLIC_IP,
        "the mapping is on the NAT's public IP"
    );
    assert_ne!(mapped, lab::CLIENT_ADDR, "the NAT rewrote the source");
}

#[test]
fn endpoint_independent_mapping_endpoint_independent_filtering_full_cone() {
    assert_observed(Ei, Ei);
}

#[test]
fn endpoint_independent_mapping_address_dependent_filtering_restricted_cone() {
    assert_observed(Ei, Ad);
}

#[test]
fn endpoint_independent_mapping_address_and_port_dependent_filtering_port_restricted_cone() {
    assert_observed(Ei, Apd);
}

#[test]
fn address_dependent_mapping_is_observed_with_each_filtering() {
    for filtering in [Ei, Ad, Apd] {
        assert_observed(Ad, filtering);
    }
}

#[test]
fn address_and_port_dependent_mapping_symmetric_nat() {
    assert_observed(Apd, Apd);
}

#[test]
fn address_and_port_dependent_mapping_with_looser_filtering() {
    assert_observed(Apd, Ei);
    assert_observed(Apd, Ad);
}

#[test]
fn mapped_addresses_show_how_each_mapping_reuses_ports() {
    let eim = observe(Ei, Apd);
    assert_eq!(
        eim.mapped, eim.mapped_via_other_ip,
        "EIM: one mapping for every destination"
    );
    assert_eq!(
        eim.mapped_via_other_address, None,
        "EIM needs no third test"
    );

    let adm = observe(Ad, Apd);
    assert_ne!(
        adm.mapped, adm.mapped_via_other_ip,
        "ADM: a new mapping per destination IP"
    );
    assert_eq!(
        adm.mapped_via_other_ip, adm.mapped_via_other_address,
        "ADM: same IP, same port"
    );

    let apdm = observe(Apd, Apd);
    let ports: Vec<SocketAddr> = [
        apdm.mapped,
        apdm.mapped_via_other_ip,
        apdm.mapped_via_other_address,
    ]
    .into_iter()
    .map(|m| m.expect("every mapping test answered"))
    .collect();
    assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
}

#[test]
fn filtering_tests_report_which_answers_got_through() {
    let eif = observe(Ei, Ei);
    assert_eq!(eif.reached_from_other_address, Some(true));
    assert_eq!(
        eif.reached_from_other_port, None,
        "not needed once the other address got in"
    );
    let adf = observe(Ei, Ad);
    assert_eq!(
        (adf.reached_from_other_address, adf.reached_from_other_port),
        (Some(false), Some(true))
    );
    let apdf = observe(Ei, Apd);
    assert_eq!(
        (
            apdf.reached_from_other_address,
            apdf.reached_from_other_port
        ),
        (Some(false), Some(false))
    );
}

#[test]
fn without_a_nat_the_client_sees_its_own_address_and_no_filtering() {
    let mut lab = NatLab::new(3, Instant::now(), None);
    let report = lab.discover().unwrap();
    assert_eq!(report.mapped, Some(lab::PUBLIC_CLIENT_ADDR));
    assert_eq!(report.behind_nat(lab.local), Some(false));
    assert_eq!(report.mapping, Some(Ei));
    assert_eq!(report.filtering, Some(Ei));
}

#[test]
fn discovery_ends_even_when_mappings_expire_between_tests() {
    // A mapping timeout shorter than the client's retransmission gaps: by the time the
    // answers to the later tests come back the mapping may be gone, but discovery still ends.
    let config = NatConfig {
        mapping_timeout: std::time::Duration::from_millis(1),
        ..NatConfig::symmetric()
    };
    let mut lab = NatLab::new(5, Instant::now(), Some(config));
    let report = lab.discover().unwrap();
    assert!(
        report.mapped.is_some(),
        "test I is answered within the same instant"
    );
    assert!(
        lab.sim
            .endpoint::<kaon::stun::NatDiscovery>(lab.client)
            .is_done()
    );
}

#[test]
fn discovery_is_deterministic_for_a_seed() {
    let run = |seed| {
        let mut lab = NatLab::new(
            seed,
            Instant::now(),
            Some(NatConfig::port_restricted_cone()),
        );
        let report = lab.discover().unwrap();
        let trace: Vec<_> = lab
            .sim
            .trace()
            .iter()
            .map(|e| (e.at, e.from, e.to, e.size, e.outcome))
            .collect();
        (report, trace)
    };
    assert_eq!(run(11), run(11));
}
