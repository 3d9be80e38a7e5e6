//! Properties that hold for any link and NAT configuration.
#![cfg(feature = "sim")]

mod sim_support;

use std::time::{Duration, Instant};

use kaon::sim::{Behavior, GilbertElliott, LinkConfig, NatConfig, Sim, TraceEntry};
use proptest::prelude::*;
use sim_support::{Peer, Recv, addr, ip};

fn behavior() -> impl Strategy<Value = Behavior> {
    prop_oneof![
        Just(Behavior::EndpointIndependent),
        Just(Behavior::AddressDependent),
        Just(Behavior::AddressAndPortDependent),
    ]
}

fn link() -> impl Strategy<Value = LinkConfig> {
    (
        (0u64..50, 0u64..20, 0.0..0.3f64, 0.0..0.3f64, 0.0..0.3f64),
        (
            proptest::option::of((0.0..0.2f64, 0.1..1.0f64)),
            proptest::option::of(100_000u64..10_000_000),
            500usize..50_000,
            100usize..1500,
        ),
    )
        .prop_map(
            |((latency, jitter, loss, duplicate, reorder), (burst, rate, queue_bytes, mtu))| {
                LinkConfig {
                    latency: Duration::from_millis(latency),
                    jitter: Duration::from_millis(jitter),
                    loss,
                    burst_loss: burst.map(|(g2b, b2g)| GilbertElliott::gilbert(g2b, b2g)),
                    duplicate,
                    reorder,
                    rate,
                    queue_bytes,
                    mtu,
                    ..LinkConfig::default()
                }
            },
        )
}

/// A client behind a NAT and a server, both echoing, with arbitrary links; the client sends
/// `count` datagrams of assorted sizes. Returns the trace and the client's events.
fn run(
    seed: u64,
    t0: Instant,
    links: (LinkConfig, LinkConfig),
    nat: NatConfig,
    count: u32,
) -> (Sim, Vec<TraceEntry>, Vec<Recv>) {
    let mut sim = Sim::new(seed, t0);
    let internet = sim.add_network("internet");
    let home = sim.add_network("home");
    sim.add_nat("router", home, internet, &[ip("203.0.113.1")], nat);
    let laptop = sim.add_host("laptop");
    sim.add_interface(laptop, home, ip("192.168.1.2"), links.0);
    let server = sim.add_host("server");
    sim.add_interface(server, internet, ip("198.51.100.1"), links.1);
    let (c, s) = (addr("192.168.1.2:5000"), addr("198.51.100.1:7"));
    let mut client = Peer::silent();
    for n in 0..count {
        let size = 4 + (n as usize * 97) % 1400;
        client.send_at(
            t0 + Duration::from_millis(u64::from(n) * 3),
            c,
            s,
            &sim_support::numbered(n, size),
        );
    }
    let client = sim.add_endpoint(laptop, &[c], client);
    sim.add_endpoint(server, &[s], Peer::echo());
    sim.run_until_idle().unwrap();
    let trace = sim.trace().to_vec();
    let events = sim.take_events::<Peer>(client);
    (sim, trace, events)
}

proptest! {
    // PROPTEST_CASES wins; 48 when it is unset.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
    ))]

    #[test]
    fn every_datagram_ends_exactly_once_and_replays_identically(
        seed in any::<u64>(),
        up in link(),
        down in link(),
        mapping in behavior(),
        filtering in behavior(),
        count in 1u32..300,
    ) {
        let t0 = Instant::now();
        let nat = NatConfig { mapping, filtering, ..NatConfig::default() };
        // The Peer endpoints panic if time ever goes backwards.
        let (sim, trace, events) = run(seed, t0, (up, down), nat, count);
        let s = sim.stats();
        prop_assert_eq!(s.sent + s.duplicated, s.delivered + s.dropped_total());
        prop_assert!(trace.windows(2).all(|w| w[0].at <= w[1].at));
        prop_assert!(events.iter().all(|r| r.contents.len() >= 4 && r.seq() < count));
        prop_assert_eq!(sim.in_flight(), 0);

        let (_, trace2, events2) = run(seed, t0, (up, down), nat, count);
        prop_assert_eq!(trace, trace2);
        prop_assert_eq!(events, events2);
    }
}
