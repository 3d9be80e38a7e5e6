//! Data channels over `kaon::sim`, the shared deterministic simulator (feature `sim`): two
//! hosts on the internet, SCTP directly over UDP through [`kaon::sctp::Endpoint`].
//!
//! Full size in release (`cargo test --release --all-features --test sctp_sim`), scaled down
//! in debug builds.
#![cfg(feature = "sim")]

use kaon::datachannel::{ChannelConfig, Config, DataChannels, Event, Reliability, Role};
use kaon::sctp::Endpoint;
use kaon::sim::{LinkConfig, Sim, SimConfig};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

type Dc = Endpoint<DataChannels>;

struct World {
    sim: Sim,
    a: kaon::sim::EndpointId,
    b: kaon::sim::EndpointId,
}

/// Client and server on one network; all impairments sit on the client's link, which applies
/// them in both directions.
fn world(link: LinkConfig, seed: u64) -> World {
    let mut sim = Sim::with_config(
        seed,
        Instant::now(),
        SimConfig {
            max_steps: u64::MAX,
            trace: false,
        },
    );
    let net = sim.add_network("internet");
    let (ha, hb) = (sim.add_host("client"), sim.add_host("server"));
    sim.add_interface(ha, net, "192.0.2.1".parse().unwrap(), link);
    sim.add_interface(
        hb,
        net,
        "198.51.100.1".parse().unwrap(),
        LinkConfig::default(),
    );
    let (aa, ab): (SocketAddr, SocketAddr) = (
        "192.0.2.1:5000".parse().unwrap(),
        "198.51.100.1:5000".parse().unwrap(),
    );
    let cfg = |seed, role| {
        let mut c = Config::new(role);
        c.sctp.seed = Some(seed);
        c
    };
    let a = sim.add_endpoint(
        ha,
        &[aa],
        Endpoint::new(DataChannels::new(cfg(seed, Role::Client)), aa, ab),
    );
    let b = sim.add_endpoint(
        hb,
        &[ab],
        Endpoint::new(DataChannels::new(cfg(seed + 1, Role::Server)), ab, aa),
    );
    let now = sim.now();
    sim.endpoint_mut::<Dc>(a).get_mut().connect(now);
    sim.endpoint_mut::<Dc>(b).get_mut().connect(now);
    World { sim, a, b }
}

fn byte_at(offset: usize) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

#[test]
fn reliable_ordered_transfer_over_kaon_sim_with_5pct_loss_reordering_and_duplication() {
    let total = if cfg!(debug_assertions) {
        4 << 20
    } else {
        64 << 20
    };
    let link = LinkConfig {
        latency: Duration::from_millis(25),
        loss: 0.05,
        reorder: 0.02,
        reorder_delay: Duration::from_millis(5),
        duplicate: 0.01,
        rate: Some(100_000_000),
        queue_bytes: 1 << 20,
        ..LinkConfig::default()
    };
    let mut w = world(link, 21);
    let now = w.sim.now();
    let id = w
        .sim
        .endpoint_mut::<Dc>(w.a)
        .get_mut()
        .create_channel(now, ChannelConfig::labelled("bulk"))
        .unwrap();
    let (mut sent, mut received) = (0usize, 0usize);
    let limit = w.sim.now() + Duration::from_secs(3600);
    while received < total && w.sim.now() < limit {
        let now = w.sim.now();
        let a = w.sim.endpoint_mut::<Dc>(w.a).get_mut();
        while sent < total && a.buffered_amount(id) < 4 << 20 {
            let n = (64 << 10).min(total - sent);
            let data: Vec<u8> = (sent..sent + n).map(byte_at).collect();
            a.send(now, id, data, true).unwrap();
            sent += n;
        }
        w.sim.run_for(Duration::from_millis(50)).unwrap();
        for e in w.sim.take_events::<Dc>(w.b) {
            if let Event::Message { data, .. } = e {
                assert!(
                    data.iter()
                        .enumerate()
                        .all(|(i, &b)| b == byte_at(received + i)),
                    "corrupt at {received}"
                );
                received += data.len();
            }
        }
        w.sim.take_events::<Dc>(w.a);
    }
    assert_eq!(received, total);
    let secs = w.sim.elapsed().as_secs_f64();
    let s = w.sim.endpoint::<Dc>(w.a).get_ref().association().stats();
    eprintln!(
        "{} MiB over kaon::sim at 5% loss, 50 ms RTT: {secs:.1} s simulated, {} retransmissions, {} duplicates seen by b",
        total >> 20,
        s.retransmissions,
        w.sim
            .endpoint::<Dc>(w.b)
            .get_ref()
            .association()
            .stats()
            .duplicates_received
    );
}

#[test]
fn unreliable_channel_over_kaon_sim_never_stalls_at_10pct_loss() {
    let link = LinkConfig {
        latency: Duration::from_millis(25),
        loss: 0.1,
        ..LinkConfig::default()
    };
    let mut w = world(link, 22);
    let now = w.sim.now();
    let cfg = ChannelConfig {
        ordered: false,
        reliability: Reliability::MaxRetransmits(0),
        ..ChannelConfig::labelled("game")
    };
    let id = w
        .sim
        .endpoint_mut::<Dc>(w.a)
        .get_mut()
        .create_channel(now, cfg)
        .unwrap();
    w.sim.run_for(Duration::from_millis(200)).unwrap();
    let mut got = 0;
    let mut silent = Duration::ZERO;
    let mut worst = Duration::ZERO;
    for tick in 0..2000u32 {
        let now = w.sim.now();
        w.sim
            .endpoint_mut::<Dc>(w.a)
            .get_mut()
            .send(now, id, tick.to_be_bytes().to_vec(), true)
            .unwrap();
        w.sim.run_for(Duration::from_millis(5)).unwrap();
        let n = w
            .sim
            .take_events::<Dc>(w.b)
            .into_iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .count();
        got += n;
        silent = if n == 0 {
            silent + Duration::from_millis(5)
        } else {
            Duration::ZERO
        };
        worst = worst.max(silent);
    }
    let ratio = f64::from(got as u32) / 2000.0;
    eprintln!(
        "maxRetransmits=0 unordered over kaon::sim: {:.1}% delivered, longest silence {worst:?}",
        ratio * 100.0
    );
    assert!((0.86..=0.94).contains(&ratio), "{ratio}");
    assert!(worst < Duration::from_millis(100));
}
