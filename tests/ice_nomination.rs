//! How a controlled agent follows nominations, against a scripted controlling peer:
//! regular, renomination (highest NOMINATION wins), aggressive (USE-CANDIDATE on every check).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kaon::ice::{Agent, AgentConfig, Candidate};
use kaon::stun::{Attribute, Class, Key, Message, Method, TransactionId};
use kaon::{Datagram, Protocol, Rng};

const L1: &str = "192.0.2.1:5000";
const L2: &str = "192.0.2.2:5000";
const PEER: &str = "198.51.100.7:7000";
const PEER_UFRAG: &str = "peer";
const PEER_PWD: &str = "peerpasswordpeerpassword";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Our controlled agent on L1 and L2, and a scripted controlling peer at PEER.
struct Script {
    agent: Agent,
    rng: Rng,
    now: Instant,
    buf: Vec<u8>,
}

impl Script {
    fn new() -> Self {
        let mut agent = Agent::new(AgentConfig::controlled().with_seed(5));
        agent.add_local_interface(addr(L1)).unwrap();
        agent.add_local_interface(addr(L2)).unwrap();
        agent.set_remote_credentials(PEER_UFRAG, PEER_PWD).unwrap();
        agent
            .add_remote_candidate(Candidate::host(addr(PEER), 65535))
            .unwrap();
        Self {
            agent,
            rng: Rng::from_seed(6),
            now: Instant::now(),
            buf: vec![0; 1500],
        }
    }

    /// The peer sends a check to `to`, optionally nominating; returns our answer's class.
    fn check(&mut self, to: &str, use_candidate: bool, nomination: Option<u32>) {
        let lfrag = self.agent.local_credentials().0.to_owned();
        let lpwd = self.agent.local_credentials().1.to_owned();
        let mut m = Message::new(
            Class::Request,
            Method::Binding,
            TransactionId::random(&mut self.rng),
        )
        .with(Attribute::Username(format!("{lfrag}:{PEER_UFRAG}").into()))
        .with(Attribute::Priority(1_862_270_975))
        .with(Attribute::IceControlling(u64::MAX));
        if use_candidate {
            m.add(Attribute::UseCandidate);
        }
        if let Some(n) = nomination {
            m.add(Attribute::Nomination(n));
        }
        let n = m
            .write(&mut self.buf, Some(&Key::short_term(&lpwd)), true)
            .unwrap();
        let bytes = self.buf[..n].to_vec();
        self.agent.handle_datagram(
            self.now,
            Datagram {
                source: addr(PEER),
                destination: addr(to),
                contents: &bytes,
            },
        );
        self.settle();
    }

    /// Answers every check our agent sends (as a symmetric, signed success) for 300 ms,
    /// advancing time 10 ms per round.
    fn settle(&mut self) {
        for _ in 0..30 {
            let mut answers = Vec::new();
            while let Some(t) = self.agent.poll_transmit(self.now, &mut self.buf) {
                let m = Message::parse(&self.buf[..t.len]).unwrap();
                if m.class() != Class::Request {
                    continue;
                }
                let r = Message::new(Class::SuccessResponse, Method::Binding, m.transaction_id())
                    .with(Attribute::XorMappedAddress(t.source));
                let mut out = vec![0u8; 512];
                let n = r
                    .write(&mut out, Some(&Key::short_term(PEER_PWD)), true)
                    .unwrap();
                out.truncate(n);
                answers.push((t.destination, t.source, out));
            }
            self.now += Duration::from_millis(10);
            for (source, destination, bytes) in &answers {
                self.agent.handle_datagram(
                    self.now,
                    Datagram {
                        source: *source,
                        destination: *destination,
                        contents: bytes,
                    },
                );
            }
            self.agent.handle_timeout(self.now);
        }
        while self.agent.poll_event().is_some() {}
    }

    fn selected_local(&self) -> Option<SocketAddr> {
        self.agent.selected_pair().map(|p| p.local)
    }
}

#[test]
fn controlled_agent_follows_the_highest_nomination() {
    let mut s = Script::new();
    s.check(L1, true, Some(5));
    assert_eq!(s.selected_local(), Some(addr(L1)));
    // A lower value is stale (reordered or retransmitted): ignored.
    s.check(L2, true, Some(3));
    assert_eq!(s.selected_local(), Some(addr(L1)));
    // A higher one moves the selection, even to a lower-priority pair.
    s.check(L2, true, Some(7));
    assert_eq!(s.selected_local(), Some(addr(L2)));
    s.check(L1, true, Some(8));
    assert_eq!(s.selected_local(), Some(addr(L1)));
}

#[test]
fn aggressive_nomination_keeps_the_best_pair_until_it_goes_quiet() {
    let mut s = Script::new();
    // USE-CANDIDATE on every check, no NOMINATION: RFC 5245 aggressive nomination.
    s.check(L1, true, None);
    assert_eq!(s.selected_local(), Some(addr(L1)));
    s.check(L2, true, None);
    assert_eq!(
        s.selected_local(),
        Some(addr(L1)),
        "L1 has the higher priority"
    );
    // L1 goes quiet (nothing from the peer on it for a while): a nomination elsewhere is a
    // failover by a peer without renomination, and is followed.
    s.now += Duration::from_millis(1500);
    s.agent.handle_timeout(s.now);
    s.check(L2, true, None);
    assert_eq!(s.selected_local(), Some(addr(L2)));
}

#[test]
fn use_candidate_before_our_check_succeeds_nominates_on_success() {
    let mut s = Script::new();
    // The nominating check arrives before our own check of that pair; the pair is nominated
    // when our triggered check succeeds, and stays selected although our checks also find the
    // higher-priority L1 pair working.
    s.check(L2, true, None);
    assert_eq!(s.selected_local(), Some(addr(L2)));
    s.settle();
    assert_eq!(s.selected_local(), Some(addr(L2)));
}

#[test]
fn before_any_nomination_data_goes_over_the_best_valid_pair() {
    let mut s = Script::new();
    s.check(L2, false, None);
    // Our own checks validated both pairs; L1 has the higher priority.
    assert_eq!(s.selected_local(), Some(addr(L1)));
}
