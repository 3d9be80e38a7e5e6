//! A tour of RFC 4787 NAT behaviours, in the deterministic simulator.
//!
//! A STUN client sits behind a NAT of each type. It runs RFC 5780 behaviour discovery against
//! a STUN server with two IPs and two ports: where does each server address see it (mapping),
//! and which answers from addresses it never contacted get through (filtering)? The table
//! shows what each NAT did and what the client concluded.
//!
//! Run: `cargo run --release --features sim --example nat_tour`

use kaon::sim::lab::{self, NatLab};
use kaon::sim::{Behavior, NatConfig};
use kaon::stun::NatReport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn short(b: Option<Behavior>) -> &'static str {
    match b {
        Some(Behavior::EndpointIndependent) => "EI",
        Some(Behavior::AddressDependent) => "AD",
        Some(Behavior::AddressAndPortDependent) => "APD",
        None => "?",
    }
}

fn port(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(|| "-".into(), |a| format!(":{}", a.port()))
}

fn got_in(reached: Option<bool>) -> &'static str {
    match reached {
        Some(true) => "in",
        Some(false) => "blocked",
        None => "-",
    }
}

fn classic_name(mapping: Behavior, filtering: Behavior) -> &'static str {
    use Behavior::*;
    match (mapping, filtering) {
        (EndpointIndependent, EndpointIndependent) => "full cone",
        (EndpointIndependent, AddressDependent) => "restricted cone",
        (EndpointIndependent, AddressAndPortDependent) => "port-restricted cone",
        (AddressAndPortDependent, AddressAndPortDependent) => "symmetric",
        _ => "",
    }
}

fn row(name: &str, configured: &str, report: &NatReport, took: Duration) {
    println!(
        "{name:<21} {configured:<9} {:>7} {:>7} {:>7}   {:<8} {:<8}  {:>3} / {:<3}  {:>5.1} s",
        port(report.mapped),
        port(report.mapped_via_other_ip),
        port(report.mapped_via_other_address),
        got_in(report.reached_from_other_address),
        got_in(report.reached_from_other_port),
        short(report.mapping),
        short(report.filtering),
        took.as_secs_f64(),
    );
}

/// Runs one discovery; a simulation that stalls is reported and ends the tour.
fn discover(lab: &mut NatLab) -> NatReport {
    lab.discover().unwrap_or_else(|e| {
        eprintln!("nat_tour: the simulation stalled: {e}");
        std::process::exit(1)
    })
}

fn main() {
    use Behavior::*;
    let wall = Instant::now();
    let [ip1, ip2] = lab::SERVER_IPS;
    let [p1, p2] = lab::SERVER_PORTS;
    println!(
        "kaon nat_tour: a STUN client at {} behind each kind of NAT (public IP {}) asks an\n\
         RFC 5780 STUN server on S1 = {ip1} and S2 = {ip2}, ports {p1} and {p2}.\n",
        lab::CLIENT_ADDR,
        lab::NAT_PUBLIC_IP
    );
    println!(
        "                      NAT        port seen at server       answer from       client     simulated"
    );
    println!(
        "NAT type              map/filt  S1:{p1} S2:{p1} S2:{p2}   S2:{p2}  S1:{p2}   map / filt  time"
    );
    println!("{}", "-".repeat(100));

    let mut lab = NatLab::new(1, wall, None);
    let report = discover(&mut lab);
    row("no NAT", "-", &report, lab.sim.elapsed());
    let mut simulated = lab.sim.elapsed();

    let kinds = [
        EndpointIndependent,
        AddressDependent,
        AddressAndPortDependent,
    ];
    let mut all_match = true;
    for mapping in kinds {
        for filtering in kinds {
            let config = NatConfig {
                mapping,
                filtering,
                ..NatConfig::default()
            };
            let mut lab = NatLab::new(1, wall, Some(config));
            let report = discover(&mut lab);
            all_match &= report.mapping == Some(mapping) && report.filtering == Some(filtering);
            let configured = format!("{}/{}", short(Some(mapping)), short(Some(filtering)));
            row(
                classic_name(mapping, filtering),
                &configured,
                &report,
                lab.sim.elapsed(),
            );
            simulated += lab.sim.elapsed();
        }
    }
    println!("{}", "-".repeat(100));
    println!(
        "EI endpoint-independent, AD address-dependent, APD address-and-port-dependent (RFC 4787 §4.1, §5).\n\
         Mapping: an EI NAT keeps one public port for every destination, so the address a STUN server\n\
         reports is the one any peer can reach: ICE's server-reflexive candidates work and hole punching\n\
         succeeds. An APD (\"symmetric\") NAT opens a new port per destination: the peer learns it only\n\
         from the checks themselves (peer-reflexive), and two symmetric NATs need a TURN relay.\n\
         Filtering: EI lets anyone in through an open mapping; AD only IPs the client sent to; APD only\n\
         the exact addresses. Filtered answers cost the client its full STUN timeout, hence the time.\n\
         {} NAT types classified as configured: {:.0} s simulated in {:.0?} of wall time.",
        if all_match { "All" } else { "NOT all" },
        simulated.as_secs_f64(),
        wall.elapsed(),
    );
    if !all_match {
        std::process::exit(1);
    }
}
